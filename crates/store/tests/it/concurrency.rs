//! Optimistic concurrency, refresh-generation conflicts and single-use session state,
//! under real concurrency (two pools on one database).

use std::time::Duration;

use jiragate_store::*;

use crate::common::*;

both_backends!(
    stale_connection_version_conflicts,
    concurrent_updates_exactly_one_wins,
    concurrent_refresh_commits_exactly_one_wins,
    session_state_is_single_use_under_concurrency,
);

async fn stale_connection_version_conflicts(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let rename = |n: &str| ConnectionPatch {
        name: Some(n.into()),
        ..ConnectionPatch::default()
    };
    s.update_connection(&org, &conn.id, 1, rename("one"))
        .await
        .unwrap();
    let err = s
        .update_connection(&org, &conn.id, 1, rename("two"))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            expected,
            actual,
            field,
            ..
        } => {
            assert_eq!((expected, actual, field), (1, 2, "version"));
        }
        other => panic!("expected conflict, got {other}"),
    }
    assert_eq!(
        s.get_connection(&org, &conn.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "one"
    );
    let missing = s
        .update_connection(&org, &ConnectionId::new(), 1, rename("x"))
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    // Renaming onto an existing name is a clean error, not a database error.
    s.create_connection(&org, new_connection("taken"), NewCredential::default())
        .await
        .unwrap();
    let clash = s
        .update_connection(&org, &conn.id, 2, rename("taken"))
        .await
        .unwrap_err();
    assert_eq!(clash.kind(), "already_exists");
}

async fn concurrent_updates_exactly_one_wins(db: &TestDb) {
    let s1 = db.store.clone();
    let s2 = db.second_store().await;
    let org = org(&s1, "o").await;
    let conn = s1
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        let (org, id) = (org.clone(), conn.id.clone());
        tasks.push(tokio::spawn(async move {
            let patch = ConnectionPatch {
                name: Some(format!("writer-{i}")),
                ..ConnectionPatch::default()
            };
            s.update_connection(&org, &id, 1, patch).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => {
                wins += 1;
                assert_eq!(c.version, 2);
            }
            Err(e) => assert!(e.is_conflict(), "unexpected error: {e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        s2.get_connection(&org, &conn.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

async fn concurrent_refresh_commits_exactly_one_wins(db: &TestDb) {
    let s1 = db.store.clone();
    let s2 = db.second_store().await;
    let org = org(&s1, "o").await;
    let initial = NewCredential {
        sealed_access_token: Some("at0".into()),
        sealed_refresh_token: Some("rt0".into()),
        ..NewCredential::default()
    };
    let conn = s1
        .create_connection(&org, new_connection("c"), initial)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        let (org, id) = (org.clone(), conn.id.clone());
        tasks.push(tokio::spawn(async move {
            let r = RefreshedCredential {
                sealed_access_token: format!("at-{i}"),
                sealed_refresh_token: Some(format!("rt-{i}")),
                access_expires_at: Some(
                    time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
                ),
                refresh_issued_at: Some(time::OffsetDateTime::now_utc()),
            };
            (i, s.commit_refreshed_credential(&org, &id, 1, r).await)
        }));
    }
    let mut winner = None;
    for t in tasks {
        let (i, res) = t.await.unwrap();
        match res {
            Ok(c) => {
                assert!(winner.replace(i).is_none(), "two refreshes committed");
                assert_eq!(c.generation, 2);
            }
            Err(StoreError::Conflict {
                expected: 1,
                actual: 2,
                ..
            }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let i = winner.expect("one refresh committed");
    let stored = s1.get_credential(&org, &conn.id).await.unwrap().unwrap();
    assert_eq!(
        stored.sealed_refresh_token,
        Some(format!("rt-{i}")),
        "winner's rotated token persisted"
    );
    assert_eq!(stored.sealed_access_token, Some(format!("at-{i}")));
}

async fn session_state_is_single_use_under_concurrency(db: &TestDb) {
    let s1 = db.store.clone();
    let s2 = db.second_store().await;
    let org = org(&s1, "o").await;
    let client = s1
        .create_oauth_client(&org, new_oauth_client("cl"))
        .await
        .unwrap();
    for round in 0..3 {
        let hash = format!("state-hash-{round}");
        s1.create_connect_session(
            &org,
            new_session(&client.id, &hash, Duration::from_secs(600)),
        )
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
            let hash = hash.clone();
            tasks.push(tokio::spawn(
                async move { s.consume_session_state(&hash).await },
            ));
        }
        let mut consumed = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                consumed += 1;
            }
        }
        assert_eq!(
            consumed, 1,
            "round {round}: state consumed {consumed} times"
        );
    }
}
