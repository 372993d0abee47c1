//! The web console and the embeddable connect flow.
//!
//! Server-rendered HTML (minijinja templates compiled into the binary) with one small script of
//! our own for progressive enhancement; nothing is fetched from elsewhere. Every page action is
//! one engine operation taken with the signed-in key as the [`Actor`](jiragate_engine::Actor):
//! the console adds no second way to change state.
//!
//! Security: a session cookie (HttpOnly, SameSite=Strict, Secure on https) whose token is
//! stored hashed by the engine; every POST carries a CSRF token derived from the session
//! (checked in one layer, [`csrf::guard`], before any handler runs); a Content-Security-Policy
//! without inline script and with `frame-ancestors 'none'` on every page ([`headers`]).

mod csrf;
mod headers;
mod pages;
mod render;
mod session;
mod table;

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Redirect;
use axum::routing::{get, post};
use jiragate_engine::Engine;

/// What the console needs to know about the server it runs in.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// The server's public base URL (`JIRAGATE_PUBLIC_URL`): links, snippets, and whether
    /// cookies are `Secure`.
    pub public_url: String,
    /// The server's webhook service (the webhooks page and its Replay buttons); `None`: the
    /// page says the server runs none.
    pub webhooks: Option<jiragate_engine::webhooks::Webhooks>,
}

/// Shared by every console handler.
#[derive(Clone)]
pub(crate) struct Console {
    pub engine: Engine,
    pub public_url: String,
    /// Cookies are `Secure` (and use the `__Host-` prefix) when the public URL is https.
    pub secure: bool,
    pub templates: Arc<render::Templates>,
    pub webhooks: Option<jiragate_engine::webhooks::Webhooks>,
}

/// The console's routes, state applied, ready to merge into the server's router.
pub fn router<S: Clone + Send + Sync + 'static>(engine: Engine, cfg: ConsoleConfig) -> Router<S> {
    let public_url = cfg.public_url.trim_end_matches('/').to_owned();
    let state = Console {
        engine,
        secure: public_url.starts_with("https://"),
        public_url,
        templates: Arc::new(render::Templates::new()),
        webhooks: cfg.webhooks,
    };
    use pages::{
        audit, connect, connections, keys, mcp_grants, mcp_settings, oauth_clients, orgs, sign_in,
        webhooks,
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(connections::list))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route(
            "/console/connections/new",
            get(connections::new_form).post(connections::create),
        )
        .route("/console/connections/{id}", get(connections::detail))
        .route("/console/connections/{id}/check", post(connections::check))
        .route("/console/connections/{id}/run", post(connections::run))
        .route(
            "/console/connections/{id}/delete",
            post(connections::delete),
        )
        .route(
            "/console/connections/{id}/token",
            post(connections::replace_token),
        )
        .route(
            "/console/connections/{id}/reconnect",
            post(connections::reconnect),
        )
        .route(
            "/console/oauth-clients",
            get(oauth_clients::list).post(oauth_clients::create),
        )
        .route(
            "/console/oauth-clients/{id}",
            get(oauth_clients::edit).post(oauth_clients::update),
        )
        .route(
            "/console/oauth-clients/{id}/delete",
            post(oauth_clients::delete),
        )
        .route("/console/connections/{id}/webhooks", get(webhooks::list))
        .route(
            "/console/connections/{id}/webhooks/deliveries/{delivery}/replay",
            post(webhooks::replay),
        )
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/{id}/revoke", post(keys::revoke))
        .route("/console/audit", get(audit::list))
        .route("/console/mcp-grants", get(mcp_grants::list))
        .route("/console/mcp-grants/{id}/revoke", post(mcp_grants::revoke))
        .route(
            "/console/mcp-settings",
            get(mcp_settings::show).post(mcp_settings::save),
        )
        .route("/console/orgs", get(orgs::list).post(orgs::create))
        .route("/console/assets/{file}", get(render::asset))
        .route("/connect.js", get(connect::connect_js))
        .route("/connect/assets/{file}", get(connect::script))
        .route("/connect/{token}", get(connect::open))
        .route("/connect/s/{id}", get(connect::page))
        .route("/connect/s/{id}/api-token", post(connect::api_token))
        .route("/connect/s/{id}/oauth", post(connect::oauth))
        .route("/connect/s/{id}/done", get(connect::done))
        .layer(from_fn_with_state(state.clone(), csrf::guard))
        .layer(from_fn(headers::security_headers))
        .with_state(state)
}

/// The API key of the browser's console session, if it has a live one: for other browser
/// pages of the server (e.g. an authorization consent page) that act for the signed-in person.
/// `secure` must match the console's (`true` when the public URL is https).
pub async fn signed_in_key(
    engine: &Engine,
    headers: &axum::http::HeaderMap,
    secure: bool,
) -> Option<jiragate_engine::model::ApiKeyRecord> {
    let token = session::cookie_value(headers, session::session_cookie_name(secure))?;
    engine.console_session(&token).await.ok()
}

/// The console's CSRF token for the browser's session (to embed in forms of other pages that
/// post back to the server on behalf of a console session).
pub fn session_csrf(headers: &axum::http::HeaderMap, secure: bool) -> Option<String> {
    session::cookie_value(headers, session::session_cookie_name(secure))
        .map(|t| session::csrf_for(&t))
}
