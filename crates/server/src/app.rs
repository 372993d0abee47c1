//! Building and running one server instance.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::routing::{any, get, post};
use jiragate_engine::{Bootstrap, Engine, EngineConfig};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;
use crate::metrics::prometheus_handle;
use crate::middleware::{PanicToProblem, per_route};
use crate::ratelimit::KeyRateLimiter;
use crate::routes::{admin, connectors, credentials, oauth, ops, proxy, records, webhooks};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound, ready-to-serve jiragate HTTP server.
pub struct App {
    /// The bound address (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    /// What the engine created on first start (admin key file path, master key created).
    pub bootstrap: Bootstrap,
    listener: TcpListener,
    router: Router,
    state: AppState,
    background: Option<tokio::task::JoinHandle<()>>,
    drain_delay: std::time::Duration,
    shutdown_timeout: std::time::Duration,
    idle_timeout: std::time::Duration,
    /// On SQLite: the exclusive lock that keeps a second `serve` off this database (released
    /// when the server stops).
    _serve_lock: Option<crate::serve_lock::ServeLock>,
    /// The master-key reports (stopped when the server is dropped or stops).
    _key_reports: AbortOnDrop,
    /// The webhook delivery worker and refresh job; stopped with the server.
    _webhook_workers: Vec<AbortOnDrop>,
    /// Folds latency samples into the histograms between scrapes (see `metrics::spawn_upkeep`).
    _metrics_upkeep: AbortOnDrop,
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The SQLite database file this server will open, if it uses SQLite.
fn sqlite_file(cfg: &ServerConfig) -> Option<std::path::PathBuf> {
    let url = cfg.database_url.trim();
    if url.is_empty() {
        return Some(cfg.data_dir.join("jiragate.db"));
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

impl App {
    /// Bind the listener, open the engine (migrations, key check, default organization and
    /// admin key on first start) and assemble the router.
    pub async fn build(cfg: ServerConfig) -> anyhow::Result<App> {
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let public_url = cfg
            .public_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let database_url = (!cfg.database_url.trim().is_empty()).then(|| cfg.database_url.clone());
        let serve_lock = match sqlite_file(&cfg) {
            Some(db) => Some(crate::serve_lock::ServeLock::acquire(&db, addr)?),
            None => None,
        };
        let (engine, bootstrap) = Engine::open(EngineConfig {
            data_dir: cfg.data_dir.clone(),
            database_url,
            master_key: cfg.master_key.clone(),
            public_url: public_url.clone(),
            endpoints: cfg.endpoints.clone(),
            allowed_upstream_hosts: cfg.allowed_upstream_hosts.clone(),
            instance_id: cfg.instance_id.clone(),
            migrate: cfg.migrate,
            // The server owns the background task so graceful shutdown can stop it.
            background: false,
            bootstrap_admin_key: true,
            admission: cfg.admission,
        })
        .await?;
        let background = cfg.background.then(|| engine.spawn_background());
        // Say which master key this instance holds, now and every 30 s: `master-key retire`
        // waits for instances still on the previous one.
        if let Err(e) = engine.report_master_key().await {
            tracing::warn!(error = %e, "could not report the master key in use");
        }
        let key_reports = engine.spawn_master_key_reports();
        let state = AppState::new(
            engine,
            prometheus_handle(),
            cfg.rate_limit_per_key.map(KeyRateLimiter::new),
            public_url,
            cfg.endpoints.api_url.clone(),
            cfg.mcp_auth.clone(),
            (
                cfg.webhooks.clone(),
                cfg.webhook_rate_limit.map(KeyRateLimiter::new),
            ),
        );
        // The outbox worker and the registration refresh job (see jiragate_engine::webhooks).
        let mut webhook_workers = state.webhooks().spawn_workers();
        // Prunes old deliveries and events and keeps the pending gauge current.
        webhook_workers.extend(state.webhooks().spawn_upkeep(cfg.webhook_retention));
        let router = build_router(state.clone(), &cfg)?;
        let metrics_upkeep =
            crate::metrics::spawn_upkeep(state.inner.metrics.clone(), cfg.metrics_upkeep_interval);
        Ok(App {
            addr,
            bootstrap,
            listener,
            router,
            state,
            background,
            drain_delay: cfg.drain_delay,
            shutdown_timeout: cfg.shutdown_timeout,
            idle_timeout: cfg.idle_timeout,
            _serve_lock: serve_lock,
            _key_reports: AbortOnDrop(key_reports),
            _webhook_workers: webhook_workers.into_iter().map(AbortOnDrop).collect(),
            _metrics_upkeep: AbortOnDrop(metrics_upkeep),
        })
    }

    /// The full router (for in-process tests with `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The engine behind this server.
    pub fn engine(&self) -> &Engine {
        self.state.engine()
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve until `shutdown` completes; then `/readyz` answers 503 at once while the server
    /// keeps serving for the drain delay (a load balancer sees it and stops routing here), then
    /// it stops accepting and lets in-flight requests finish, up to the shutdown timeout.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, "jiragate listening");
        let token = self.state.shutdown_token().clone();
        let state = self.state.clone();
        let (drain, timeout) = (self.drain_delay, self.shutdown_timeout);
        let signal = async move {
            shutdown.await;
            state.start_draining();
            tracing::info!(
                drain_ms = drain.as_millis() as u64,
                "shutdown requested: /readyz answers 503; still serving for the drain delay"
            );
            tokio::time::sleep(drain).await;
            tracing::info!("no longer accepting; finishing in-flight requests");
            token.cancel();
        };
        // No Nagle on accepted sockets (replies written in several pieces, a streamed proxy
        // body or MCP's event stream, must not wait for the client's delayed ACK), and hyper's
        // own 414/431 answers get problem+json bodies.
        let listener = crate::head_errors::ProblemListener(self.listener);
        let connections =
            crate::listen::accept_until(listener, self.router, self.idle_timeout, signal).await;
        tokio::select! {
            () = connections.shutdown() => {}
            () = tokio::time::sleep(timeout) => {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "in-flight requests did not finish within the shutdown timeout; stopping anyway"
                );
            }
        }
        if let Some(bg) = self.background {
            bg.abort();
        }
        self._key_reports.0.abort();
        self.state.engine().withdraw_master_key_report().await;
        tracing::info!("jiragate stopped");
        Ok(())
    }
}

/// The routes of the API, without layers.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/integrations/connectors",
            post(connectors::create_connector).get(connectors::list_connectors),
        )
        .route(
            "/api/v1/integrations/connectors/{id}",
            get(connectors::get_connector)
                .patch(connectors::update_connector)
                .delete(connectors::delete_connector),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/describe",
            get(connectors::describe_connector),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/execute",
            post(connectors::execute),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/check",
            post(connectors::check),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/proxy/{*path}",
            any(proxy::proxy),
        )
        .route(
            "/api/v1/oauth/clients",
            post(oauth::create_client).get(oauth::list_clients),
        )
        .route(
            "/api/v1/oauth/clients/{id}",
            get(oauth::get_client)
                .patch(oauth::update_client)
                .delete(oauth::delete_client),
        )
        .route("/api/v1/connect/sessions", post(oauth::create_session))
        .route(
            "/api/v1/connect/settings",
            get(oauth::get_connect_settings).put(oauth::put_connect_settings),
        )
        .route("/api/v1/connect/sessions/{id}", get(oauth::get_session))
        .route(
            "/api/v1/connect/sessions/{id}/site",
            post(oauth::choose_site),
        )
        .route("/oauth/callback", get(oauth::callback))
        .route("/oauth/callback/site", post(oauth::callback_site))
        .route("/api/v1/credentials/token", post(credentials::token))
        .route(
            "/api/v1/organizations",
            post(admin::create_organization).get(admin::list_organizations),
        )
        .route(
            "/api/v1/workspaces",
            get(admin::list_workspaces).post(admin::create_workspace),
        )
        .route(
            "/api/v1/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route(
            "/api/v1/keys/{id}",
            axum::routing::delete(admin::revoke_key),
        )
        .route(
            "/hooks/jira/{id}",
            post(webhooks::receive).layer(DefaultBodyLimit::max(
                jiragate_engine::webhooks::WebhookConfig::default().max_body_bytes,
            )),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/webhooks/subscriptions",
            post(webhooks::create_subscription).get(webhooks::list_subscriptions),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/webhooks/subscriptions/{sub}",
            axum::routing::delete(webhooks::delete_subscription),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/webhooks/events",
            get(webhooks::list_events),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/webhooks/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/api/v1/integrations/connectors/{id}/webhooks/deliveries/{delivery}/replay",
            post(webhooks::replay_delivery),
        )
        .route("/api/v1/audit", get(records::list_audit))
        .route("/api/v1/scopes", get(records::list_scopes))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/openapi.json", get(ops::openapi_json))
        .route("/docs", get(ops::docs))
}

fn cors_layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let layer = if origins.iter().any(|o| o == "*") {
        CorsLayer::new().allow_origin(tower_http::cors::Any)
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).with_context(|| format!("invalid CORS origin {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        CorsLayer::new().allow_origin(AllowOrigin::list(values))
    };
    Ok(Some(
        layer
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("x-organization-id"),
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

/// Assemble routes and layers. Outermost first: panic guard, request id, trace, CORS, then on
/// each route one layer for metrics, problem normalisation and timeout (`per_route`), then the
/// body limit.
pub(crate) fn build_router(state: AppState, cfg: &ServerConfig) -> anyhow::Result<Router> {
    let timeout = cfg.request_timeout;
    let console = jiragate_console::router(
        state.engine().clone(),
        jiragate_console::ConsoleConfig {
            public_url: state.inner.public_url.clone(),
            webhooks: Some(state.webhooks().clone()),
        },
    );
    let mut router = api_routes()
        .merge(crate::mcp::mcp_routes(
            &state,
            cfg.mcp_max_sessions_per_caller,
        ))
        .merge(crate::mcp_oauth::routes())
        .merge(console)
        .fallback(ops::fallback)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(move |req, next| {
                    per_route(timeout, req, next)
                }))
                .layer(DefaultBodyLimit::max(cfg.body_limit))
                .layer(RequestBodyLimitLayer::new(cfg.body_limit)),
        )
        .with_state(state);
    if let Some(cors) = cors_layer(&cfg.cors_origins)? {
        router = router.layer(cors);
    }
    let router = router.layer(
        ServiceBuilder::new()
            .layer(CatchPanicLayer::custom(PanicToProblem))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %loggable_path(req.uri().path()))
                }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    );
    // Outermost, so it sees every answer, the CORS layer's and the panic handler's included.
    let router = router.layer(axum::middleware::from_fn(
        crate::middleware::close_if_body_unread,
    ));
    Ok(router)
}

/// The request path as the access log records it: a connect link's single-use token
/// (`/connect/<token>`) is a secret until used, so it is replaced by `[token]`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/connect/") {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with("s/") && !rest.starts_with("assets/") =>
        {
            std::borrow::Cow::Borrowed("/connect/[token]")
        }
        _ => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod loggable_path_tests {
    use super::loggable_path;

    #[test]
    fn connect_tokens_never_reach_the_access_log() {
        assert_eq!(loggable_path("/connect/jgc_secret123"), "/connect/[token]");
        assert_eq!(
            loggable_path("/connect/s/0190-id/done"),
            "/connect/s/0190-id/done"
        );
        assert_eq!(
            loggable_path("/connect/assets/connect-done.js"),
            "/connect/assets/connect-done.js"
        );
        assert_eq!(loggable_path("/connect.js"), "/connect.js");
        assert_eq!(
            loggable_path("/api/v1/integrations/connectors"),
            "/api/v1/integrations/connectors"
        );
    }
}
