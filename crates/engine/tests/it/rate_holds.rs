//! A 429 seen by one instance holds the connection back on the other instances sharing the
//! PostgreSQL database (issue 20), counted by the simulator's own Retry-After violation counter.

use std::time::Duration;

use jiragate_engine::{ActionRequest, Actor, ConnRef};
use serde_json::json;

use crate::support::*;

fn myself() -> ActionRequest {
    ActionRequest {
        entity: "myself".into(),
        action: "get".into(),
        params: json!({}),
        read_only: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_one_instance_holds_the_connection_on_the_other() {
    let TwoInstances {
        sim,
        a,
        b,
        db: name,
        dirs: _dirs,
    } = two_instances().await;
    let (bg_a, bg_b) = (a.spawn_background(), b.spawn_background());
    let org = a.default_org.clone();
    let conn = api_token_connection(&a, &sim, "shared").await;
    let r = ConnRef::Id(conn.id.clone());
    // Both instances work normally first.
    a.execute(Actor::Operator, &org, &r, myself())
        .await
        .unwrap();
    b.execute(Actor::Operator, &org, &r, myself())
        .await
        .unwrap();

    // The credential's budget is spent for the rest of this (freshly started) minute: Jira
    // answers instance A with a 429 that says to wait about a minute. A waits it out.
    // A rate-limit window that starts now lasts about 60 s: the test must not straddle a reset.
    sim.start_rate_window();
    sim.set_rate_limit(Some(0));
    let waiting_a = {
        let (a, org, r) = (a.clone(), org.clone(), r.clone());
        tokio::spawn(async move { a.execute(Actor::Operator, &org, &r, myself()).await })
    };
    let started = std::time::Instant::now();
    while sim.stats().await.rate_limited == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never got its 429"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the simulator's in-flight grace (250 ms): from here a request is a violation.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = sim.stats().await;

    // B never saw a 429, yet does not call Jira inside A's window: it waits (or is told to).
    let b_call = tokio::time::timeout(
        Duration::from_secs(2),
        b.execute(Actor::Operator, &org, &r, myself()),
    )
    .await;
    let after = sim.stats().await;
    assert_eq!(
        after.retry_after_violations, 0,
        "instance B called Jira inside the Retry-After window A was given; B: {b_call:?}; {after:?}"
    );
    assert_eq!(
        after.rate_limited, before.rate_limited,
        "B's call reached Jira: {after:?}"
    );
    waiting_a.abort();
    bg_a.abort();
    bg_b.abort();
    sim.set_rate_limit(None);
    drop((a, b));
    drop_pg_database(&name).await;
}
