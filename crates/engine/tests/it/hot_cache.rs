//! The hot-path cache never serves a revoked key or a deleted connection: at once on the
//! instance that made the change, and within `HOT_CACHE_TTL` on another instance sharing the
//! PostgreSQL database.

use std::time::{Duration, Instant};

use jiragate_engine::{Actor, ApiScope, ConnRef, EngineError, HOT_CACHE_TTL};
use secrecy::ExposeSecret;

use crate::support::*;

/// Polls `check` until it holds; returns how long it took, or panics after `limit`.
async fn until<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_and_deleted_connections_are_never_served_past_the_bound() {
    let TwoInstances {
        sim,
        a,
        b,
        db: name,
        dirs: _dirs,
    } = two_instances().await;
    let org = a.default_org.clone();

    // A key both instances have cached.
    let (rec, key) = a
        .create_api_key_as(Actor::Operator, &org, "cached", &[ApiScope::Execute], false)
        .await
        .unwrap();
    let key = key.expose_secret().to_owned();
    a.authenticate(&key).await.unwrap();
    b.authenticate(&key).await.unwrap();
    a.revoke_api_key(Actor::Operator, &org, &rec.id)
        .await
        .unwrap();
    assert!(
        matches!(a.authenticate(&key).await, Err(EngineError::Unauthorized)),
        "the revoking instance refuses the key at once"
    );
    let waited = until(HOT_CACHE_TTL * 3, || async {
        matches!(b.authenticate(&key).await, Err(EngineError::Unauthorized))
    })
    .await;
    assert!(
        waited <= HOT_CACHE_TTL + Duration::from_secs(2),
        "{waited:?}"
    );

    // A connection both instances have resolved (by name and by id).
    let conn = api_token_connection(&a, &sim, "cached").await;
    let (by_name, by_id) = (ConnRef::parse("w/cached"), ConnRef::Id(conn.id.clone()));
    for e in [&a, &b] {
        e.resolve(&org, &by_name).await.unwrap();
        e.resolve(&org, &by_id).await.unwrap();
    }
    a.delete_connection(Actor::Operator, &org, &by_id)
        .await
        .unwrap();
    for r in [&by_name, &by_id] {
        assert!(
            matches!(a.resolve(&org, r).await, Err(EngineError::NotFound { .. })),
            "the deleting instance forgets {r} at once"
        );
    }
    let waited = until(HOT_CACHE_TTL * 3, || async {
        matches!(
            b.resolve(&org, &by_name).await,
            Err(EngineError::NotFound { .. })
        ) && matches!(
            b.resolve(&org, &by_id).await,
            Err(EngineError::NotFound { .. })
        )
    })
    .await;
    assert!(
        waited <= HOT_CACHE_TTL + Duration::from_secs(2),
        "{waited:?}"
    );
    drop((a, b));
    drop_pg_database(&name).await;
}
