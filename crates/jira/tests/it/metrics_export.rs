//! Upstream metrics are recorded (rendered through the Prometheus exporter).

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::any;
use jiragate_jira::{JiraClient, JiraRequest, StaticTokenSource};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;

#[test]
fn records_requests_rate_limits_and_remaining_quota() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // A thread-local recorder on a current-thread runtime sees every metric of this test only.
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let hits = Arc::new(AtomicUsize::new(0));
            let router = Router::new().route(
                "/{*rest}",
                any(move || {
                    let hits = hits.clone();
                    async move {
                        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                            (
                                StatusCode::TOO_MANY_REQUESTS,
                                [("retry-after", "0"), ("x-ratelimit-remaining", "0")],
                                "",
                            )
                                .into_response()
                        } else {
                            (StatusCode::OK, [("x-ratelimit-remaining", "41")], "{}")
                                .into_response()
                        }
                    }
                }),
            );
            let (base, _log) = serve(router).await;
            let client = JiraClient::new(fast_config());
            let src = StaticTokenSource(basic_target(&base));
            within(10, client.send(&src, JiraRequest::get("/x")))
                .await
                .unwrap();
        });
    });
    let text = handle.render();
    assert!(
        text.contains(r#"jiragate_upstream_requests_total{status="429"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"jiragate_upstream_requests_total{status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("jiragate_upstream_rate_limited_total 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"jiragate_upstream_ratelimit_remaining{connection="conn-test"} 41"#),
        "{text}"
    );
    assert!(
        text.contains("jiragate_upstream_request_duration_seconds"),
        "{text}"
    );
}
