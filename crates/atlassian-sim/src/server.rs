//! The listener: an axum router served connection by connection with hyper, so a fault can
//! close a connection without answering.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::faults::DropConnection;
use crate::state::SimState;
use crate::{api, auth, controls, webhooks};

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(
            "/authorize",
            get(auth::authorize::get_authorize).post(auth::authorize::post_authorize),
        )
        .route("/oauth/token", post(auth::token::token))
        .route(
            "/oauth/token/accessible-resources",
            get(auth::token::accessible_resources),
        )
        .route(
            "/site/{subdomain}/_edge/tenant_info",
            get(controls::tenant_info),
        )
        .route(
            "/site/{subdomain}/rest/webhooks/1.0/webhook",
            get(webhooks::admin::list).post(webhooks::admin::create),
        )
        .route(
            "/site/{subdomain}/rest/webhooks/1.0/webhook/{id}",
            get(webhooks::admin::get_one).delete(webhooks::admin::delete_one),
        )
        .route(
            "/__sim/webhooks/duplicate-rate",
            post(controls::webhook_duplicate_rate),
        )
        .route(
            "/__sim/webhooks/deliveries",
            get(controls::webhook_deliveries).delete(controls::clear_webhook_deliveries),
        )
        .route("/__sim/clock/advance", post(controls::advance_clock))
        .route("/__sim/revoke", post(controls::revoke))
        .route("/__sim/rate-limit", post(controls::rate_limit))
        .route("/__sim/redirect-uri", post(controls::add_redirect_uri))
        .route("/__sim/stats", get(controls::stats))
        .route("/__sim/requests", get(controls::requests))
        .fallback(api::dispatch)
        .layer(middleware::from_fn_with_state(state.clone(), request_id))
        .with_state(state)
}

/// Every answer carries `X-AREQUESTID`, as Jira's do.
/// Also records every request in the request log.
async fn request_id(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    state.log_request(req.method().as_str(), &pq);
    let mut resp = next.run(req).await;
    if let Ok(v) = state.next_request_id().parse() {
        resp.headers_mut().insert("x-arequestid", v);
    }
    // `Date` in the simulated clock, like every other instant it sends (`X-RateLimit-Reset`,
    // token expiries): a client reading absolute instants against it sees no skew.
    if let Ok(v) = crate::clock::http_date(state.clock.now_secs()).parse() {
        resp.headers_mut().insert(http::header::DATE, v);
    }
    resp
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by injected fault")
    }
}

impl std::error::Error for Dropped {}

pub async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => {
                    // Transient accept errors (e.g. too many open files): back off briefly.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let resp = match app.oneshot(req.map(axum::body::Body::new)).await {
                            Ok(r) => r,
                            Err(e) => match e {},
                        };
                        if resp.extensions().get::<DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok::<_, Dropped>(resp)
                    }
                });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}
