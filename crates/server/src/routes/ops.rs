//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document and its docs page.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiragate_engine::admin::Readiness;

use crate::metrics::{CONNECTIONS, RUNTIME_WORKERS, TOKEN_CACHE_HITS, TOKEN_FLIGHTS};
use crate::problem::Problem;
use crate::state::AppState;
use crate::views::{HealthResponse, status_name};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthResponse)))]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok",
        detail: None,
    })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready to serve: database reachable, migrations applied", body = HealthResponse), (status = 503, description = "Not ready (or draining after SIGTERM)", body = HealthResponse)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |detail: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthResponse {
                status: "unavailable",
                detail: Some(detail),
            }),
        )
            .into_response()
    };
    if state.is_draining() {
        return not_ready("shutting down: draining in-flight requests".to_owned());
    }
    match state.engine().readiness().await {
        Readiness::Ready => Json(HealthResponse {
            status: "ready",
            detail: None,
        })
        .into_response(),
        Readiness::DatabaseUnreachable(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            not_ready("database unreachable".to_owned())
        }
        Readiness::MigrationsPending => {
            not_ready("database migrations are pending; run `jiragate migrate`".to_owned())
        }
        Readiness::MigrationStateUnknown(e) => {
            tracing::warn!(error = %e, "readiness: migration state unknown");
            not_ready("migration state unknown".to_owned())
        }
    }
}

/// Refresh the connection-health gauge from the database (cheap: one list per organization).
async fn update_connection_gauge(state: &AppState) {
    let Ok(statuses) = state.engine().connection_statuses().await else {
        return;
    };
    let mut counts: BTreeMap<&'static str, u64> = ["healthy", "needs_reauth", "revoked", "error"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for status in &statuses {
        *counts.entry(status_name(status)).or_default() += 1;
    }
    for (status, n) in counts {
        metrics::gauge!(CONNECTIONS, "status" => status).set(n as f64);
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    update_connection_gauge(&state).await;
    state.webhooks().update_pending_gauge().await;
    // The token manager counts in memory; expose its totals (this instance's).
    let tokens = state.engine().token_stats();
    metrics::counter!(TOKEN_CACHE_HITS).absolute(tokens.cache_hits);
    metrics::counter!(TOKEN_FLIGHTS).absolute(tokens.flights);
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    metrics::gauge!(RUNTIME_WORKERS).set(workers as f64);
    state.inner.metrics.run_upkeep();
    let body = state.inner.metrics.render();
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    let mut resp = Json(crate::openapi::document()).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

const DOCS_HTML: &str = include_str!("../../assets/docs.html");

/// Human-readable API reference (renders /openapi.json in the browser).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn docs() -> Html<&'static str> {
    Html(DOCS_HTML)
}

/// Unknown routes are problems too.
pub async fn fallback(uri: axum::http::Uri) -> Problem {
    Problem::not_found("route", uri.path())
}
