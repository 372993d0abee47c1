//! Per-connection concurrency limit and request shapes (multipart, query, headers).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use futures::future::join_all;
use jiragate_jira::{Bytes, JiraClient, JiraRequest, StaticTokenSource, Target};

use crate::support::*;

/// Tracks the highest number of requests in flight at once.
fn gauge_server(in_flight: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/{*rest}",
        any(move || {
            let in_flight = in_flight.clone();
            let peak = peak.clone();
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(60)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                "{}"
            }
        }),
    )
}

#[tokio::test]
async fn limits_concurrency_per_connection() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (base, log) = serve(gauge_server(in_flight, peak.clone())).await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        per_connection_concurrency: 2,
        ..fast_config()
    });
    let src = StaticTokenSource(basic_target(&base));
    let calls = (0..8).map(|_| client.send(&src, JiraRequest::get("/x")));
    let results = within(10, join_all(calls)).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(log.count(), 8);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "never more than 2 in flight"
    );
    assert_eq!(
        client.busy_connections(),
        0,
        "idle connections are forgotten"
    );
}

/// Overload: one slot, two may wait; the rest are shed at once with `Overloaded` and never
/// reach Jira, instead of queueing until the deadline.
#[tokio::test]
async fn excess_requests_are_shed_before_they_reach_jira() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (base, log) = serve(gauge_server(in_flight, peak.clone())).await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        per_connection_concurrency: 1,
        max_queued_per_connection: 2,
        ..fast_config()
    });
    let src = StaticTokenSource(basic_target(&base));
    let calls = (0..10).map(|_| client.send(&src, JiraRequest::get("/x")));
    let results = within(10, join_all(calls)).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let shed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 3, "one in flight and two waiting are served");
    assert_eq!(shed.len(), 7);
    for e in &shed {
        assert_eq!(e.kind(), "overloaded", "{e}");
        assert!(e.to_string().contains("nothing was sent to Jira"), "{e}");
    }
    assert_eq!(log.count(), 3, "shed requests never reach Jira");

    // A wait for a slot is bounded in time as well.
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        per_connection_concurrency: 1,
        max_queued_per_connection: 100,
        max_queue_wait: Duration::from_millis(20),
        ..fast_config()
    });
    let calls = (0..4).map(|_| client.send(&src, JiraRequest::get("/x")));
    let results = within(10, join_all(calls)).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.kind() == "overloaded")
    );
}

#[tokio::test]
async fn different_connections_do_not_share_a_limit() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (base, _log) = serve(gauge_server(in_flight, peak.clone())).await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        per_connection_concurrency: 1,
        ..fast_config()
    });
    let sources: Vec<StaticTokenSource> = (0..4)
        .map(|i| {
            let mut t: Target = basic_target(&base);
            t.connection_key = format!("conn-{i}");
            StaticTokenSource(t)
        })
        .collect();
    let calls = sources
        .iter()
        .map(|s| client.send(s, JiraRequest::get("/x")));
    let results = within(10, join_all(calls)).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(
        peak.load(Ordering::SeqCst) >= 2,
        "connections run in parallel"
    );
}

#[tokio::test]
async fn sends_query_headers_json_and_multipart() {
    let (base, log) = serve(Router::new().route("/{*rest}", any(|| async { "{}" }))).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    client
        .send(
            &src,
            JiraRequest::get("/rest/api/3/issue/A-1")
                .query("fields", "summary,status")
                .query("expand", "names")
                .header("x-extra", "1"),
        )
        .await
        .unwrap();
    client
        .send(
            &src,
            JiraRequest::new(http::Method::POST, "/rest/api/3/issue/A-1/attachments").multipart(
                "file",
                "notes.txt",
                "text/plain",
                Bytes::from_static(b"hello attachment"),
            ),
        )
        .await
        .unwrap();
    let seen = log.all();
    assert_eq!(
        seen[0].query.as_deref(),
        Some("fields=summary%2Cstatus&expand=names")
    );
    assert_eq!(seen[0].headers["x-extra"], "1");
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert!(
        seen[0].headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(seen[1].headers["x-atlassian-token"], "no-check");
    let ct = seen[1].headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = String::from_utf8_lossy(&seen[1].body);
    assert!(
        body.contains("name=\"file\"; filename=\"notes.txt\""),
        "{body}"
    );
    assert!(body.contains("hello attachment"));
}
