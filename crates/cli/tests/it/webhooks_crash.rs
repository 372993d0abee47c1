//! SIGKILL during delivery loses nothing (issue 19): the real `jiragate serve` delivers the
//! simulator's events to a slow loopback subscriber, is killed with SIGKILL twice while
//! deliveries are in flight, and restarts on the same database each time (the data dir's
//! SQLite file, and a PostgreSQL database). In the end every
//! event was acknowledged by the subscriber, each issue's events in order, and the only
//! duplicates are the deliveries whose answer the kill cut off.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Env, create_postgres_database, drop_postgres_database};
use crate::webhooks::{Hooked, Receipt, edit_issue, eventually, issue_keys, json_answer};

/// How long the subscriber takes to answer: deliveries are in flight most of the time.
const SLOW: Duration = Duration::from_millis(400);
const ISSUES: usize = 6;
const ROUNDS: usize = 10;

async fn api(base: &str, key: &str, path: &str) -> Value {
    json_answer(
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .bearer_auth(key),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_delivery_loses_nothing() {
    killed_twice_while_delivering(Env::new().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_delivery_loses_nothing_on_postgres() {
    let mut env = Env::new().await;
    let (url, name) = create_postgres_database().await;
    env.database_url = Some(url);
    killed_twice_while_delivering(env).await;
    drop_postgres_database(&name).await;
}

async fn killed_twice_while_delivering(env: Env) {
    tokio::time::timeout(Duration::from_secs(240), async {
        let hooked = Hooked::new(env, SLOW).await;
        hooked.register().await;
        let (env, project, base, sub) = (&hooked.env, &hooked.project, &hooked.base, &hooked.sub);
        // A stable instance id: each restart takes over the deliveries its killed
        // predecessor had leased at once (otherwise they wait for the 60 s lease).
        let stable = [("JIRAGATE_INSTANCE_ID", "crash-test")];
        let mut served = hooked.serve(&stable).await;
        let conn = api(base, &served.key, "/api/v1/integrations/connectors").await["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let hooks = format!("/api/v1/integrations/connectors/{conn}/webhooks");

        let issues = issue_keys(env, project, ISSUES).await;
        assert_eq!(issues.len(), ISSUES);
        for round in 0..ROUNDS {
            for key in &issues {
                edit_issue(env, key, &format!("round {round}")).await;
            }
        }
        let total = ISSUES * ROUNDS;
        eventually(60, "every change stored by jiragate", || async {
            api(base, &served.key, &format!("{hooks}/events?limit=500")).await["data"]
                .as_array()
                .map_or(0, Vec::len)
                == total
        })
        .await;

        // Two kills in the middle of deliveries, each followed by a restart on the same file.
        let mut cut_off = 0;
        for acked in [total / 5, total / 2] {
            assert!(sub.log.lock().unwrap().acked() < total, "still delivering");
            let in_flight = sub
                .kill(&mut served, acked, Duration::from_millis(150))
                .await;
            assert!(in_flight > 0);
            cut_off += in_flight;
            served = hooked.serve(&stable).await;
        }
        // Lease take-over makes this quick; lapsed leases alone would take 60 s.
        eventually(30, "every event acknowledged", || async {
            let receipts = sub.receipts();
            let mut acked: Vec<&str> = receipts
                .iter()
                .filter(|r| r.acked.is_some())
                .map(|r| r.msg_id.as_str())
                .collect();
            acked.sort_unstable();
            acked.dedup();
            acked.len() >= total
        })
        .await;
        // Let a wrongly repeated delivery arrive, if there were one.
        tokio::time::sleep(SLOW * 3).await;

        let deliveries = api(base, &served.key, &format!("{hooks}/deliveries?limit=500")).await;
        let mut outbox: Vec<(i64, String)> = deliveries["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["status"], "delivered", "{d}");
                (
                    d["id"].as_i64().unwrap(),
                    format!("msg_{}", d["event_id"].as_str().unwrap()),
                )
            })
            .collect();
        outbox.sort();
        assert_eq!(outbox.len(), total, "one delivery per event");
        let receipts: Vec<Receipt> = sub.receipts();

        // Nothing lost: every event was acknowledged by the subscriber at least once.
        let mut by_msg: HashMap<&str, Vec<&Receipt>> = HashMap::new();
        for r in &receipts {
            by_msg.entry(r.msg_id.as_str()).or_default().push(r);
        }
        for (_, msg) in &outbox {
            let got = by_msg.get(msg.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            assert!(
                got.iter().any(|r| r.acked.is_some()),
                "{msg} never acknowledged: {got:?}"
            );
        }
        // Duplicates only within the contract: exactly the deliveries the kills cut off were
        // sent again (each once more), and nothing else twice.
        let unacked: Vec<&Receipt> = receipts.iter().filter(|r| r.acked.is_none()).collect();
        assert_eq!(unacked.len(), cut_off, "{unacked:?}");
        assert_eq!(
            receipts.len(),
            total + cut_off,
            "duplicates beyond the cut-off deliveries: {receipts:?}"
        );
        for r in &unacked {
            let again = &by_msg[r.msg_id.as_str()];
            assert!(
                again.iter().any(|a| a.arrived > r.arrived
                    && a.acked.is_some()
                    && a.delivery_id == r.delivery_id),
                "{r:?} was not sent again (the same outbox row)"
            );
        }
        // In order per issue: a receipt of an issue's event arrives only after every earlier
        // event of that issue (outbox order) was acknowledged.
        let issue_of: HashMap<&str, &str> = receipts
            .iter()
            .map(|r| (r.msg_id.as_str(), r.issue.as_str()))
            .collect();
        let mut per_issue: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (_, msg) in &outbox {
            per_issue
                .entry(issue_of[msg.as_str()])
                .or_default()
                .push(msg);
        }
        assert_eq!(per_issue.len(), ISSUES);
        for (issue, msgs) in &per_issue {
            assert_eq!(msgs.len(), ROUNDS, "{issue}");
            for (i, msg) in msgs.iter().enumerate() {
                for r in &by_msg[msg] {
                    for earlier in &msgs[..i] {
                        assert!(
                            by_msg[earlier]
                                .iter()
                                .any(|e| e.acked.is_some_and(|at| at < r.arrived)),
                            "{issue}: {msg} arrived before {earlier} was acknowledged"
                        );
                    }
                }
            }
        }
        // The backlog gauge agrees: nothing pending.
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("jiragate_webhooks_pending_deliveries 0"),
            "{metrics}"
        );
        drop(served);
    })
    .await
    .expect("finished in time");
}
