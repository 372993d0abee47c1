//! 429 waits, 5xx backoff, idempotency rules, deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use jiragate_jira::{JiraClient, JiraError, JiraRequest, StaticTokenSource};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::support::*;

/// Answers the first `failures` requests with `status` (+ headers), then 200 `{"ok":true}`.
fn flaky(status: StatusCode, failures: usize, headers: Vec<(&'static str, String)>) -> Router {
    let hits = Arc::new(AtomicUsize::new(0));
    Router::new().route(
        "/{*rest}",
        any(move || {
            let hits = hits.clone();
            let headers = headers.clone();
            async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                if n < failures {
                    let mut h = HeaderMap::new();
                    for (k, v) in &headers {
                        h.insert(*k, v.parse().unwrap());
                    }
                    (status, h, r#"{"errorMessages":["try later"]}"#).into_response()
                } else {
                    (StatusCode::OK, r#"{"ok":true}"#).into_response()
                }
            }
        }),
    )
}

#[tokio::test]
async fn waits_at_least_retry_after_then_succeeds() {
    let (base, log) = serve(flaky(
        StatusCode::TOO_MANY_REQUESTS,
        1,
        vec![("retry-after", "1".into())],
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let started = Instant::now();
    let resp = within(
        10,
        client.send(&src, JiraRequest::get("/rest/api/3/myself")),
    )
    .await
    .unwrap();
    assert_eq!(resp.value().unwrap(), json!({"ok": true}));
    let seen = log.all();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn waits_until_x_ratelimit_reset() {
    let reset = (OffsetDateTime::now_utc() + time::Duration::milliseconds(1500))
        .format(&Rfc3339)
        .unwrap();
    let (base, log) = serve(flaky(
        StatusCode::TOO_MANY_REQUESTS,
        1,
        vec![("x-ratelimit-reset", reset)],
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap();
    let seen = log.all();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(1400));
}

#[tokio::test]
async fn post_is_retried_after_429() {
    let (base, log) = serve(flaky(
        StatusCode::TOO_MANY_REQUESTS,
        1,
        vec![("retry-after", "0".into())],
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    within(
        10,
        client.send(
            &src,
            JiraRequest::post("/rest/api/3/issue", json!({"fields": {}})),
        ),
    )
    .await
    .unwrap();
    let seen = log.all();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same body is sent again");
}

#[tokio::test]
async fn rate_limit_longer_than_deadline_fails_fast() {
    let (base, log) = serve(flaky(
        StatusCode::TOO_MANY_REQUESTS,
        100,
        vec![("retry-after", "30".into())],
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let started = Instant::now();
    let err = within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap_err();
    match &err {
        JiraError::RateLimited {
            retry_after,
            connection,
        } => {
            assert!(*retry_after >= Duration::from_secs(30));
            assert_eq!(connection, "conn-test");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(err.kind(), "rate_limited");
    assert_eq!(log.count(), 1, "never retried before Retry-After");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn rate_limit_retries_are_bounded() {
    let (base, log) = serve(flaky(
        StatusCode::TOO_MANY_REQUESTS,
        100,
        vec![("retry-after", "0".into())],
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let err = within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "rate_limited");
    assert_eq!(log.count(), 4, "1 attempt + max_retries (3)");
}

#[tokio::test]
async fn get_is_retried_with_backoff_on_5xx() {
    let (base, log) = serve(flaky(StatusCode::SERVICE_UNAVAILABLE, 2, vec![])).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap();
    let seen = log.all();
    assert_eq!(seen.len(), 3);
    // base 20ms, jittered in [d/2, d]: first gap >= 10ms, second >= 20ms.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(10));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(20));
}

#[tokio::test]
async fn put_and_delete_are_retried_on_5xx() {
    for req in [
        JiraRequest::put("/rest/api/3/issue/A-1", json!({"fields": {}})),
        JiraRequest::delete("/rest/api/3/issue/A-1"),
    ] {
        let (base, log) = serve(flaky(StatusCode::BAD_GATEWAY, 1, vec![])).await;
        let client = JiraClient::new(fast_config());
        let src = StaticTokenSource(basic_target(&base));
        within(10, client.send(&src, req)).await.unwrap();
        assert_eq!(log.count(), 2);
    }
}

#[tokio::test]
async fn post_and_patch_are_never_retried_on_5xx() {
    for req in [
        JiraRequest::post("/rest/api/3/issue", json!({"fields": {}})),
        JiraRequest::new(http::Method::PATCH, "/rest/x").json(json!({})),
    ] {
        let (base, log) = serve(flaky(StatusCode::INTERNAL_SERVER_ERROR, 1, vec![])).await;
        let client = JiraClient::new(fast_config());
        let src = StaticTokenSource(basic_target(&base));
        let err = within(10, client.send(&src, req)).await.unwrap_err();
        assert_eq!(err.status(), Some(500));
        assert_eq!(
            log.count(),
            1,
            "a POST may have created an issue; never repeat it"
        );
    }
}

#[tokio::test]
async fn reads_sent_as_post_are_retried_like_gets() {
    let (base, log) = serve(flaky(StatusCode::SERVICE_UNAVAILABLE, 2, vec![])).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let search =
        JiraRequest::post("/rest/api/3/search/jql", json!({"jql": "project = ENG"})).read_only();
    within(10, client.send(&src, search)).await.unwrap();
    assert_eq!(log.count(), 3, "a search is a read: retried after each 503");
}

#[tokio::test]
async fn server_error_retries_are_bounded() {
    let (base, log) = serve(flaky(StatusCode::INTERNAL_SERVER_ERROR, 100, vec![])).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let err = within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap_err();
    match err {
        JiraError::Upstream {
            status, messages, ..
        } => {
            assert_eq!(status, 500);
            assert_eq!(messages, vec!["try later"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.count(), 4);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&format!("http://{addr}")));
    let started = Instant::now();
    let err = within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "transport", "{err:?}");
    // Three backoffs of at least 10, 20, 40 ms happened.
    assert!(started.elapsed() >= Duration::from_millis(70));
    assert!(!err.to_string().contains(SECRET_TOKEN));
}

#[tokio::test]
async fn deadline_bounds_the_whole_call() {
    let router = Router::new().route(
        "/slow",
        any(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let (base, _log) = serve(router).await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        deadline: Duration::from_millis(300),
        ..fast_config()
    });
    let src = StaticTokenSource(basic_target(&base));
    let started = Instant::now();
    let err = within(10, client.send(&src, JiraRequest::get("/slow")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JiraError::Timeout { ref connection } if connection == "conn-test"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn backoff_stops_at_the_deadline() {
    let (base, log) = serve(flaky(
        StatusCode::SERVICE_UNAVAILABLE,
        100,
        vec![("retry-after", "1".into())],
    ))
    .await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        deadline: Duration::from_millis(500),
        max_retries: 10,
        ..fast_config()
    });
    let src = StaticTokenSource(basic_target(&base));
    let started = Instant::now();
    let err = within(10, client.send(&src, JiraRequest::get("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(log.count(), 1, "waiting 1s would pass the 500ms deadline");
    assert!(started.elapsed() < Duration::from_millis(500));
}
