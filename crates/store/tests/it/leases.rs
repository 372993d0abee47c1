//! Leases: mutual exclusion across two independent pools, strictly increasing fencing
//! tokens, and expiry decided by the database clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

both_backends!(
    lease_is_exclusive_across_two_pools,
    lease_expiry_renew_release
);

#[derive(Debug, Clone, Copy)]
struct Holding {
    token: i64,
    acquired: Instant,
    released: Instant,
}

async fn lease_is_exclusive_across_two_pools(db: &TestDb) {
    let pools = [db.store.clone(), db.second_store().await];
    let log: Arc<Mutex<Vec<Holding>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for task in 0..12 {
        let store = pools[task % 2].clone();
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = 0;
            let mut attempt = 0u32;
            while mine < 4 && Instant::now() < deadline {
                attempt += 1;
                let holder = format!("task-{task}-attempt-{attempt}");
                let lease = store
                    .acquire_lease("refresh:conn-1", &holder, Duration::from_secs(30))
                    .await
                    .expect("acquire");
                let Some(lease) = lease else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let acquired = Instant::now();
                assert_eq!(lease.holder, holder);
                // Hold it for a moment, doing "work" that must not overlap another holder.
                tokio::time::sleep(Duration::from_millis(3)).await;
                assert!(store.lease_is_held(&lease).await.unwrap());
                let released = Instant::now();
                assert!(
                    store.release_lease(&lease).await.unwrap(),
                    "release of a held lease"
                );
                log.lock().unwrap().push(Holding {
                    token: lease.fencing_token,
                    acquired,
                    released,
                });
                mine += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut log = log.lock().unwrap().clone();
    assert!(
        log.len() >= 12,
        "too few acquisitions to prove anything: {}",
        log.len()
    );
    log.sort_by_key(|h| h.token);
    for pair in log.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            b.token > a.token,
            "fencing tokens must strictly increase: {a:?} {b:?}"
        );
        assert!(
            b.acquired >= a.released,
            "holding intervals overlap: token {} held until {:?}, token {} acquired at {:?}",
            a.token,
            a.released,
            b.token,
            b.acquired
        );
    }
    // Token order equals time order.
    let mut by_time = log.clone();
    by_time.sort_by_key(|h| h.acquired);
    assert!(by_time.iter().zip(&log).all(|(x, y)| x.token == y.token));
}

async fn lease_expiry_renew_release(db: &TestDb) {
    let s = &db.store;
    let a = s
        .acquire_lease("job", "a", Duration::from_millis(300))
        .await
        .unwrap()
        .expect("free");
    assert!(
        s.acquire_lease("job", "b", Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "held"
    );
    assert!(
        s.acquire_lease("job", "a", Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "not re-entrant"
    );
    let renewed = s
        .renew_lease(&a, Duration::from_millis(300))
        .await
        .unwrap()
        .expect("renew while held");
    assert_eq!(renewed.fencing_token, a.fencing_token);
    assert!(renewed.expires_at >= a.expires_at);
    // Let it lapse (database clock), then someone else takes it with a higher token.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(!s.lease_is_held(&renewed).await.unwrap());
    let b = s
        .acquire_lease("job", "b", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("expired");
    assert!(b.fencing_token > a.fencing_token);
    assert!(
        s.renew_lease(&renewed, Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "lost lease"
    );
    assert!(
        !s.release_lease(&renewed).await.unwrap(),
        "stale release is a no-op"
    );
    assert!(
        s.lease_is_held(&b).await.unwrap(),
        "stale release did not free b's lease"
    );
    assert!(s.release_lease(&b).await.unwrap());
    let c = s
        .acquire_lease("job", "c", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("released");
    assert_eq!(c.fencing_token, b.fencing_token + 1);
    // Other names are independent.
    let other = s
        .acquire_lease("other", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.fencing_token, 1);
    assert!(
        s.acquire_lease("x", "h", Duration::ZERO)
            .await
            .unwrap_err()
            .kind()
            == "invalid_input"
    );
}
