//! Load shedding through the HTTP API: a connection's slots busy and its wait queue full, the
//! rest of a burst is refused at once with 503 `overloaded` and `Retry-After`, and Jira never
//! sees those requests.

use std::time::Duration;

use atlassian_sim::SimConfig;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_a_connections_capacity_is_shed_with_503_overloaded() {
    let mut sim_cfg = SimConfig::default();
    sim_cfg.faults.latency = Duration::from_millis(400);
    let env = Env::start_with(Db::Sqlite, sim_cfg, |cfg| {
        cfg.admission = jiragate_engine::AdmissionLimits {
            max_queued_per_connection: 2,
            max_queue_wait: Duration::from_secs(10),
        };
    })
    .await;
    let conn = env.seed_connector("jira").await;
    let url = env.url(&format!("/api/v1/integrations/connectors/{conn}/execute"));
    let before = env.sim.request_log().len();
    let body = json!({"entity": "issues", "action": "get", "params": {"issue": "ENG-1"}});
    // 8 slots + 2 waiting are admitted; the other 10 are refused without waiting.
    let calls = (0..20).map(|_| env.client.post(&url, Some(env.key()), &body));
    let replies = join_all(calls).await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let shed: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(
        ok,
        10,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(shed.len(), 10);
    for r in shed {
        let p = r.assert_problem(503, "overloaded");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("nothing was sent to Jira"),
            "{p}"
        );
        assert_eq!(r.headers["retry-after"], "1");
    }
    let upstream = env.sim.request_log().len() - before;
    assert_eq!(upstream, 10, "Jira saw only the admitted requests");
}
