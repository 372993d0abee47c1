//! Two instances (separate pools, separate token managers) on one PostgreSQL database.

use std::collections::HashSet;

use jiragate_auth::{AuthService, Clock, Keyring};
use jiragate_jira::JiraAuth;
use jiragate_store::Store;
use jiragate_vault::MasterKey;
use secrecy::ExposeSecret;

use crate::common::{PgDb, auth_config, jira_client, register_client, start_sim, within};

async fn instance(
    url: &str,
    master: &MasterKey,
    sim: &atlassian_sim::SimHandle,
    clock: &Clock,
) -> AuthService {
    let store = Store::connect(url).await.expect("postgres store");
    store.migrate().await.expect("migrate");
    let keyring = Keyring::open_or_init(store.clone(), master.clone())
        .await
        .expect("keyring");
    AuthService::new(store, keyring, jira_client(), auth_config(sim, clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_storm_across_two_instances_makes_exactly_one_token_request() {
    let db = PgDb::create().await;
    let sim = start_sim(|_| {}).await;
    let master = MasterKey::generate();
    let (clock_a, clock_b) = (Clock::system(), Clock::system());
    let a = instance(&db.url, &master, &sim, &clock_a).await;
    let b = instance(&db.url, &master, &sim, &clock_b).await;
    let org = a.store().create_organization("default").await.unwrap().id;
    let client = register_client(&a, &org, &sim).await;
    let conn = match crate::common::connect_via(&a, &org, &client, "shared", Some("acme"))
        .await
        .unwrap()
    {
        jiragate_auth::CallbackOutcome::Connected(c) => c,
        other => panic!("{other:?}"),
    };
    // Both instances have the token cached, then it expires everywhere.
    a.tokens().get_valid_token(&org, &conn.id).await.unwrap();
    b.tokens().get_valid_token(&org, &conn.id).await.unwrap();
    sim.advance_clock(3700);
    clock_a.advance(std::time::Duration::from_secs(3700));
    clock_b.advance(std::time::Duration::from_secs(3700));
    let before = sim.stats().await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let svc = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (org, id) = (org.clone(), conn.id.clone());
        tasks.push(tokio::spawn(async move {
            svc.tokens().get_valid_token(&org, &id).await
        }));
    }
    let mut tokens = HashSet::new();
    for r in within(90, futures::future::join_all(tasks)).await {
        let t = r.unwrap().unwrap();
        let JiraAuth::Bearer(s) = t.auth else {
            panic!()
        };
        tokens.insert(s.expose_secret().to_owned());
    }
    let after = sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "two instances must share one refresh"
    );
    assert_eq!(after.refresh_token_reuse, 0);
    assert_eq!(
        tokens.len(),
        1,
        "the second instance used the first one's token"
    );
    assert_eq!(
        a.tokens().stats().refreshes + b.tokens().stats().refreshes,
        1
    );
    a.store().close().await;
    b.store().close().await;
    db.drop_db().await;
}

async fn instance_named(
    url: &str,
    master: &MasterKey,
    sim: &atlassian_sim::SimHandle,
    clock: &Clock,
    instance_id: &str,
) -> AuthService {
    let store = Store::connect(url).await.expect("postgres store");
    store.migrate().await.expect("migrate");
    let keyring = Keyring::open_or_init(store.clone(), master.clone())
        .await
        .expect("keyring");
    let mut cfg = auth_config(sim, clock);
    cfg.instance_id = instance_id.to_owned();
    AuthService::new(store, keyring, jira_client(), cfg)
}

/// A holder that died inside a refresh (its lease is never renewed nor released) blocks the
/// other instances for at most one lease TTL; and a restarted instance with a stable id does
/// not wait for its own predecessor's lease at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lease_holder_blocks_briefly_and_a_restart_takes_over() {
    let db = PgDb::create().await;
    let sim = start_sim(|_| {}).await;
    let master = MasterKey::generate();
    let clock = Clock::system();
    let a = instance_named(&db.url, &master, &sim, &clock, "node-a").await;
    let org = a.store().create_organization("default").await.unwrap().id;
    let client = register_client(&a, &org, &sim).await;
    let conn = match crate::common::connect_via(&a, &org, &client, "leased", Some("acme"))
        .await
        .unwrap()
    {
        jiragate_auth::CallbackOutcome::Connected(c) => c,
        other => panic!("{other:?}"),
    };
    let lease_name = format!("refresh:{}", conn.id);
    let ttl = a.config().lease_ttl;
    assert!(ttl <= std::time::Duration::from_secs(5), "{ttl:?}");

    // Another instance died holding the lease (taken as it would be, never renewed).
    let expire_everywhere = |secs: u64| {
        sim.advance_clock(secs);
        clock.advance(std::time::Duration::from_secs(secs));
    };
    expire_everywhere(3700);
    let dead = a
        .store()
        .acquire_lease_taking_over(&lease_name, "node-dead", "boot-1", ttl)
        .await
        .unwrap()
        .expect("the dead holder had the lease");
    let b = instance_named(&db.url, &master, &sim, &clock, "node-b").await;
    let started = std::time::Instant::now();
    within(30, b.tokens().get_valid_token(&org, &conn.id))
        .await
        .expect("the survivor refreshes once the dead lease lapses");
    let waited = started.elapsed();
    assert!(
        waited <= ttl + std::time::Duration::from_secs(3),
        "a dead holder blocked the survivor for {waited:?} (lease TTL {ttl:?})"
    );
    assert!(!a.store().lease_is_held(&dead).await.unwrap());

    // node-a "crashes" holding a long lease; its restart (same id, new boot) takes it over.
    expire_everywhere(3700);
    a.store()
        .acquire_lease_taking_over(
            &lease_name,
            "node-a",
            "boot-before-crash",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap()
        .expect("the predecessor held the lease");
    let restarted = instance_named(&db.url, &master, &sim, &clock, "node-a").await;
    let before = sim.stats().await;
    within(5, restarted.tokens().get_valid_token(&org, &conn.id))
        .await
        .expect("a restart does not wait for its own predecessor's lease");
    let after = sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1
    );
    // A different instance never takes over a live lease.
    expire_everywhere(3700);
    let live = restarted
        .store()
        .acquire_lease_taking_over(
            &lease_name,
            "node-c",
            "boot-1",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap()
        .expect("free after the refresh released it");
    assert!(
        b.store()
            .acquire_lease_taking_over(&lease_name, "node-b", "boot-2", ttl)
            .await
            .unwrap()
            .is_none(),
        "another instance took a live lease"
    );
    assert!(a.store().lease_is_held(&live).await.unwrap());
    for s in [a, b, restarted] {
        s.store().close().await;
    }
    db.drop_db().await;
}
