//! The webhook outbox: deduplication by Jira's identifier, in-order claims per subscription
//! and issue, exclusive leases across two pools, and lapsed leases taken over (nothing lost
//! when a worker dies).

use std::collections::HashSet;
use std::time::Duration;

use jiragate_store::{
    ConnectionId, DeliveryOutcome, DeliveryStatus, NewCredential, NewWebhookEvent,
    NewWebhookSubscription, OrgId, PruneCounts, WebhookSecretKind, WebhookSubscriptionId,
};
use time::OffsetDateTime;

use crate::common::*;

both_backends!(
    events_are_deduplicated_and_fanned_out,
    claims_keep_each_issue_in_order,
    two_pools_never_claim_the_same_delivery,
    a_lapsed_lease_is_taken_over,
    finished_deliveries_and_their_events_are_pruned_after_retention,
    a_restarted_instance_releases_its_predecessors_leases,
    webhook_secrets_are_listed_and_resealed_with_compare_and_swap
);

async fn setup(db: &TestDb, subs: usize) -> (OrgId, ConnectionId, Vec<WebhookSubscriptionId>) {
    let s = &db.store;
    let org = org(s, "o").await;
    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..subs {
        let sub = s
            .create_webhook_subscription(&NewWebhookSubscription {
                id: WebhookSubscriptionId::new(),
                org_id: org.clone(),
                connection_id: conn.id.clone(),
                events: vec!["jira:issue_updated".into()],
                jql_filter: "project = A".into(),
                field_ids: None,
                url: format!("https://subscriber.example/{i}"),
                sealed_secret: "jgv1.sealed".into(),
            })
            .await
            .unwrap();
        ids.push(sub.id);
    }
    (org, conn.id, ids)
}

fn event(org: &OrgId, conn: &ConnectionId, ident: &str, issue: &str) -> NewWebhookEvent {
    NewWebhookEvent {
        org_id: org.clone(),
        connection_id: conn.clone(),
        webhook_identifier: ident.into(),
        event: "jira:issue_updated".into(),
        issue_key: Some(issue.into()),
        body: format!("{{\"id\":\"{ident}\"}}"),
    }
}

fn later() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::from_secs(86_400)
}

async fn events_are_deduplicated_and_fanned_out(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 2).await;
    let first = s
        .record_webhook_event(&event(&org, &conn, "w-1", "A-1"), &subs, later())
        .await
        .unwrap();
    assert!(first.is_some());
    let again = s
        .record_webhook_event(&event(&org, &conn, "w-1", "A-1"), &subs, later())
        .await
        .unwrap();
    assert!(again.is_none(), "the same identifier is a duplicate");
    assert_eq!(
        s.list_webhook_events(&org, &conn, 10).await.unwrap().len(),
        1
    );
    let ds = s
        .list_webhook_deliveries(&org, &conn, None, 10)
        .await
        .unwrap();
    assert_eq!(
        ds.len(),
        2,
        "one delivery per subscription, none for the duplicate"
    );
    assert!(ds.iter().all(|d| d.status == DeliveryStatus::Pending));
}

async fn claims_keep_each_issue_in_order(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 1).await;
    for (i, issue) in ["A-1", "A-1", "A-2", "A-1"].iter().enumerate() {
        s.record_webhook_event(
            &event(&org, &conn, &format!("w-{i}"), issue),
            &subs,
            later(),
        )
        .await
        .unwrap();
    }
    let now = OffsetDateTime::now_utc();
    let lease = now + Duration::from_secs(60);
    let c = s
        .claim_webhook_deliveries("w", now, lease, 10)
        .await
        .unwrap();
    let bodies: Vec<&str> = c.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(
        bodies,
        vec!["{\"id\":\"w-0\"}", "{\"id\":\"w-2\"}"],
        "the head of each issue"
    );
    // A failed head keeps the rest of its issue waiting.
    let retry_at = now + Duration::from_secs(3600);
    assert!(
        s.finish_webhook_delivery(
            c[0].id,
            "w",
            &DeliveryOutcome::Retry {
                status: Some(503),
                error: "down".into(),
                next_attempt_at: retry_at
            }
        )
        .await
        .unwrap()
    );
    assert!(
        s.finish_webhook_delivery(c[1].id, "w", &DeliveryOutcome::Delivered { status: 204 })
            .await
            .unwrap()
    );
    let c2 = s
        .claim_webhook_deliveries("w", now, lease, 10)
        .await
        .unwrap();
    assert!(c2.is_empty(), "w-1 waits for w-0: {c2:?}");
    // Once delivered, the next of the issue is due.
    let c3 = s
        .claim_webhook_deliveries("w", retry_at, retry_at + Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(c3.len(), 1);
    assert_eq!(c3[0].attempts, 1);
    s.finish_webhook_delivery(c3[0].id, "w", &DeliveryOutcome::Delivered { status: 200 })
        .await
        .unwrap();
    let c4 = s
        .claim_webhook_deliveries("w", now, lease, 10)
        .await
        .unwrap();
    assert_eq!(
        c4.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        vec!["{\"id\":\"w-1\"}"]
    );
    // Dead-lettered, then replayed.
    assert!(
        s.finish_webhook_delivery(
            c4[0].id,
            "w",
            &DeliveryOutcome::Dead {
                status: Some(500),
                error: "gave up".into()
            }
        )
        .await
        .unwrap()
    );
    let dead = s
        .list_webhook_deliveries(&org, &conn, Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    let replayed = s
        .replay_webhook_delivery(&org, dead[0].id, later())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    assert_eq!(replayed.attempts, 0);
}

async fn two_pools_never_claim_the_same_delivery(db: &TestDb) {
    let (org, conn, subs) = setup(db, 1).await;
    let s = db.store.clone();
    for i in 0..60 {
        s.record_webhook_event(
            &event(&org, &conn, &format!("w-{i}"), &format!("A-{i}")),
            &subs,
            later(),
        )
        .await
        .unwrap();
    }
    let pools = [db.store.clone(), db.second_store().await];
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = pools[w % 2].clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            for _ in 0..40 {
                let now = OffsetDateTime::now_utc();
                let c = store
                    .claim_webhook_deliveries(&owner, now, now + Duration::from_secs(60), 4)
                    .await
                    .unwrap();
                if c.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                for d in c {
                    assert!(
                        store
                            .finish_webhook_delivery(
                                d.id,
                                &owner,
                                &DeliveryOutcome::Delivered { status: 200 }
                            )
                            .await
                            .unwrap()
                    );
                    mine.push(d.id);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60, "every delivery claimed");
    assert_eq!(distinct.len(), 60, "none claimed twice");
}

async fn a_lapsed_lease_is_taken_over(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 1).await;
    s.record_webhook_event(&event(&org, &conn, "w-0", "A-1"), &subs, later())
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let c = s
        .claim_webhook_deliveries("dead-worker", now, now + Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert!(
        s.claim_webhook_deliveries("other", now, now + Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // The first worker died; after its lease lapses another takes the delivery.
    let after = now + Duration::from_secs(31);
    let c2 = s
        .claim_webhook_deliveries("other", after, after + Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c2.len(), 1);
    assert!(
        !s.finish_webhook_delivery(
            c[0].id,
            "dead-worker",
            &DeliveryOutcome::Delivered { status: 200 }
        )
        .await
        .unwrap(),
        "the old holder no longer owns it"
    );
    assert!(
        s.finish_webhook_delivery(
            c2[0].id,
            "other",
            &DeliveryOutcome::Delivered { status: 200 }
        )
        .await
        .unwrap()
    );
}

/// Records one event per issue, identified `w-<from>`, `w-<from + 1>` …, for `subs`.
async fn record_per_issue(
    s: &jiragate_store::Store,
    (org, conn, subs): (&OrgId, &ConnectionId, &[WebhookSubscriptionId]),
    from: usize,
    issues: &[&str],
) {
    for (i, issue) in issues.iter().enumerate() {
        let new = event(org, conn, &format!("w-{}", from + i), issue);
        let stored = s.record_webhook_event(&new, subs, later()).await.unwrap();
        assert!(stored.is_some(), "{new:?}");
    }
}

/// Claims every due delivery as `owner`, oldest first.
async fn claim_all(s: &jiragate_store::Store, owner: &str) -> Vec<jiragate_store::ClaimedDelivery> {
    let now = OffsetDateTime::now_utc();
    s.claim_webhook_deliveries(owner, now, now + Duration::from_secs(60), 100)
        .await
        .unwrap()
}

async fn finished_deliveries_and_their_events_are_pruned_after_retention(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 1).await;
    // Four issues: delivered, dead-lettered, dead-lettered then replayed, still pending;
    // and one event no subscription wanted.
    record_per_issue(s, (&org, &conn, &subs), 0, &["A-1", "A-2", "A-3", "A-4"]).await;
    s.record_webhook_event(&event(&org, &conn, "w-none", "A-5"), &[], later())
        .await
        .unwrap();
    let c = claim_all(s, "w").await;
    assert_eq!(c.len(), 4);
    let dead = || DeliveryOutcome::Dead {
        status: Some(500),
        error: "gave up".into(),
    };
    let outcomes = [
        DeliveryOutcome::Delivered { status: 204 },
        dead(),
        dead(),
        DeliveryOutcome::Retry {
            status: Some(503),
            error: "down".into(),
            next_attempt_at: later(),
        },
    ];
    for (d, outcome) in c.iter().zip(&outcomes) {
        assert!(s.finish_webhook_delivery(d.id, "w", outcome).await.unwrap());
    }
    s.replay_webhook_delivery(&org, c[2].id, later())
        .await
        .unwrap()
        .unwrap();

    // Nothing is older than a cutoff an hour ago.
    let hour = Duration::from_secs(3600);
    let none = s
        .prune_webhook_outbox(OffsetDateTime::now_utc() - hour, 2)
        .await
        .unwrap();
    assert_eq!(none, PruneCounts::default());
    // Everything finished is older than a cutoff in an hour (batches of 1: the loop goes on).
    let pruned = s
        .prune_webhook_outbox(OffsetDateTime::now_utc() + hour, 1)
        .await
        .unwrap();
    assert_eq!(
        pruned,
        PruneCounts {
            deliveries: 2,
            events: 3
        },
        "delivered and dead-lettered go, with their events and the one nobody wanted"
    );
    let left: Vec<i64> = s
        .list_webhook_deliveries(&org, &conn, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id.0)
        .collect();
    assert_eq!(
        left,
        vec![c[3].id.0, c[2].id.0],
        "pending and replayed stay"
    );
    let mut events: Vec<String> = s
        .list_webhook_events(&org, &conn, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.webhook_identifier)
        .collect();
    events.sort();
    assert_eq!(events, vec!["w-2", "w-3"]);
    // A pruned identifier is no longer known: Jira's retries end long before retention.
    let again = s
        .record_webhook_event(&event(&org, &conn, "w-0", "A-1"), &subs, later())
        .await
        .unwrap();
    assert!(again.is_some());
}

async fn a_restarted_instance_releases_its_predecessors_leases(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 1).await;
    for (i, owner) in ["pod-1#boot-a", "pod-1#boot-b", "pod-10#boot-a", "other#x"]
        .iter()
        .enumerate()
    {
        record_per_issue(s, (&org, &conn, &subs), i, &[&format!("A-{i}")]).await;
        assert_eq!(claim_all(s, owner).await.len(), 1);
    }
    assert!(claim_all(s, "pod-1#boot-c").await.is_empty(), "all leased");
    // pod-1 restarted as boot-c: the leases of its earlier boots go, nobody else's.
    let released = s
        .release_webhook_leases_of_predecessors("pod-1#", "pod-1#boot-c")
        .await
        .unwrap();
    assert_eq!(released, 2);
    let mine = claim_all(s, "pod-1#boot-c").await;
    let bodies: Vec<&str> = mine.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, vec!["{\"id\":\"w-0\"}", "{\"id\":\"w-1\"}"]);
    // Its own leases are kept.
    assert_eq!(
        s.release_webhook_leases_of_predecessors("pod-1#", "pod-1#boot-c")
            .await
            .unwrap(),
        0
    );
}

async fn webhook_secrets_are_listed_and_resealed_with_compare_and_swap(db: &TestDb) {
    let s = &db.store;
    let (org, conn, subs) = setup(db, 1).await;
    s.ensure_webhook_receiver_secret(&org, &conn, "jgv1.receiver")
        .await
        .unwrap();
    let other_org = crate::common::org(s, "other").await;
    assert!(
        s.admin_list_webhook_secrets(&other_org)
            .await
            .unwrap()
            .is_empty()
    );
    let mut listed = s.admin_list_webhook_secrets(&org).await.unwrap();
    listed.sort_by_key(|h| h.kind == WebhookSecretKind::Receiver);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].kind, WebhookSecretKind::Subscription);
    assert_eq!(listed[0].record_id, subs[0].to_string());
    assert_eq!(listed[0].sealed, "jgv1.sealed");
    assert_eq!(listed[1].kind, WebhookSecretKind::Receiver);
    assert_eq!(listed[1].record_id, conn.to_string());

    for h in &listed {
        let mut stale = h.clone();
        stale.sealed = "jgv1.changed-meanwhile".into();
        assert!(
            !s.admin_reseal_webhook_secret(&org, &stale, "jgv1.new")
                .await
                .unwrap()
        );
        assert!(
            !s.admin_reseal_webhook_secret(&other_org, h, "jgv1.new")
                .await
                .unwrap(),
            "scoped by organization"
        );
        assert!(
            s.admin_reseal_webhook_secret(&org, h, "jgv1.new")
                .await
                .unwrap()
        );
    }
    let sub = s
        .get_webhook_subscription(&org, &subs[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.sealed_secret, "jgv1.new");
    assert_eq!(
        s.webhook_receiver_secret(&org, &conn)
            .await
            .unwrap()
            .as_deref(),
        Some("jgv1.new")
    );
}
