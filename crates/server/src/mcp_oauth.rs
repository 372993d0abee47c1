//! MCP authorization over HTTP: discovery documents (RFC 9728, RFC 8414), dynamic client
//! registration (RFC 7591), the authorization endpoint and its consent page (signed-in console
//! session), the token endpoint, revocation (RFC 7009), and the grants API. The decisions are
//! the engine's ([`McpAuthority`]); this module parses and renders, in the RFCs' formats
//! (`{"error", "error_description"}` JSON, error redirects with `error`, `state`, `iss`).

use std::collections::HashMap;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use jiragate_engine::ConnRef;
use jiragate_engine::mcp_auth::{
    AuthorizeOutcome, McpAuthority, McpSettings, OAuthError, SIGNED_IN_CONSENT_PATH, SignInMode,
    SignInStep,
};
use jiragate_engine::model::{GrantPrincipal, OAuthClientRecordId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::html::escape;
use crate::problem::Problem;
use crate::state::AppState;

/// Marks a JSON error answer that follows the OAuth RFCs rather than problem+json, so the
/// problem normaliser leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct OAuthAnswer;

/// The consent page's path (under `/console`, so the console's sign-in returns here).
pub const CONSENT_PATH: &str = "/console/mcp/consent";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/oauth/mcp/register", post(register))
        .route("/oauth/mcp/authorize", get(authorize))
        .route("/oauth/mcp/token", post(token))
        .route("/oauth/mcp/revoke", post(revoke))
        .route(CONSENT_PATH, get(consent_page).post(consent_submit))
        .route("/oauth/mcp/sign-in", get(sign_in))
        .route(
            SIGNED_IN_CONSENT_PATH,
            get(signed_in_consent_page).post(signed_in_consent_submit),
        )
        .route("/api/v1/mcp/settings", get(get_settings).put(put_settings))
        .route("/api/v1/mcp/grants", get(list_grants))
        .route("/api/v1/mcp/grants/{id}", delete(revoke_grant))
}

fn authority(state: &AppState) -> &McpAuthority {
    &state.inner.mcp_auth
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.extensions_mut().insert(OAuthAnswer);
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_answer(status, e.body())
}

fn bad_body(what: &str) -> Response {
    json_answer(
        StatusCode::BAD_REQUEST,
        json!({ "error": "invalid_request", "error_description": what }),
    )
}

async fn protected_resource(State(state): State<AppState>) -> Response {
    json_answer(
        StatusCode::OK,
        authority(&state).protected_resource_metadata(),
    )
}

async fn authorization_server(State(state): State<AppState>) -> Response {
    json_answer(
        StatusCode::OK,
        authority(&state).authorization_server_metadata(),
    )
}

async fn register(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_client_metadata", "error_description": "the body must be a JSON object" }),
        );
    };
    match authority(&state).register(&body).await {
        Ok(v) => json_answer(StatusCode::CREATED, v),
        Err(e) => oauth_error(&e),
    }
}

async fn token(
    State(state): State<AppState>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_body("send application/x-www-form-urlencoded parameters");
    };
    match authority(&state).token(&form).await {
        Ok(v) => json_answer(StatusCode::OK, v),
        Err(e) => oauth_error(&e),
    }
}

async fn revoke(
    State(state): State<AppState>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_body("send application/x-www-form-urlencoded parameters");
    };
    match authority(&state).revoke(&form).await {
        Ok(()) => json_answer(StatusCode::OK, json!({})),
        Err(e) => oauth_error(&e),
    }
}

/// A page of its own: no script at all, inline style only, never framed, never cached. Its
/// referrer policy is `same-origin`: under `no-referrer` a browser sends `Origin: null` with
/// the consent form's POST, which [`origin_ok`] must refuse.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · jiragate</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#172b4d}}
h1{{font-size:1.4rem}} .bad{{color:#ae2e24}} code{{background:#f1f2f4;padding:0 .25rem}}
label{{display:block;padding:.6rem;border:1px solid #dcdfe4;border-radius:6px;margin:.4rem 0}}
button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;border:0;border-radius:4px;background:#0c66e4;color:#fff;font-size:1rem}}
button.deny{{background:#626f86}}
</style></head><body>
{body}
</body></html>"#,
        title = escape(title),
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Authorization failed",
        &format!(
            r#"<h1 class="bad">This authorization request cannot continue</h1><p>{}</p>"#,
            escape(message)
        ),
    )
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            resp.headers_mut().insert(header::LOCATION, v);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "the redirect URI is not valid"),
    }
}

async fn authorize(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match authority(&state).authorize(&q).await {
        AuthorizeOutcome::Consent { request } => {
            // With some organization on Atlassian sign-in, the request first finds out which
            // organization it is for; otherwise it is the console's consent page, as always.
            match authority(&state).needs_organization().await {
                Ok(true) => see_other(&format!("/oauth/mcp/sign-in?request={request}")),
                Ok(false) => see_other(&format!("{CONSENT_PATH}?request={request}")),
                Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        AuthorizeOutcome::ErrorPage { message } => error_page(StatusCode::BAD_REQUEST, &message),
        AuthorizeOutcome::ErrorRedirect { location } => see_other(&location),
    }
}

fn secure(state: &AppState) -> bool {
    state.public_url().starts_with("https://")
}

fn request_param_ok(r: &str) -> bool {
    r.starts_with("jgmq_")
        && r.len() < 100
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct ConsentQuery {
    request: Option<String>,
}

async fn consent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConsentQuery>,
) -> Response {
    let Some(request) = q.request.filter(|r| request_param_ok(r)) else {
        return error_page(StatusCode::BAD_REQUEST, "The link has no valid request.");
    };
    let engine = state.engine();
    let Some(key) = jiragate_console::signed_in_key(engine, &headers, secure(&state)).await else {
        let next = format!("{CONSENT_PATH}?request={request}");
        let next: String =
            percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        return see_other(&format!("/console/sign-in?next={next}"));
    };
    let Some(csrf) = jiragate_console::session_csrf(&headers, secure(&state)) else {
        return error_page(StatusCode::UNAUTHORIZED, "Sign in to the console first.");
    };
    let pending = match authority(&state).pending(&request).await {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let connections = match engine
        .list_connections(jiragate_engine::Actor::Key(&key), &key.org_id, None)
        .await
    {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if connections.is_empty() {
        return error_page(
            StatusCode::CONFLICT,
            "This organization has no Jira connection yet: create one in the console first.",
        );
    }
    let mut options = String::new();
    for (i, c) in connections.iter().enumerate() {
        options.push_str(&format!(
            r#"<label><input type="radio" name="connection" value="{id}"{checked}> <strong>{ws}/{name}</strong> <code>{site}</code></label>"#,
            id = escape(c.id.as_str()),
            checked = if i == 0 { " checked" } else { "" },
            ws = escape(&c.workspace),
            name = escape(&c.name),
            site = escape(&c.site_url),
        ));
    }
    let mode = if pending.writes {
        "read and write Jira data (create, edit, transition, comment) — <code>jira:read jira:write</code>"
    } else {
        "read Jira data only — <code>jira:read</code>"
    };
    let body = format!(
        r#"<h1>Allow <strong>{client}</strong> to use jiragate?</h1>
<p>Client id <code>{client_id}</code><br>It will receive tokens at <strong>{host}</strong>.</p>
<p>It asks to {mode}, through one connection, as <strong>{key_name}</strong> (the API key you signed in with).</p>
<form method="post" action="{path}">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="request" value="{request}">
<fieldset><legend>Connection</legend>{options}</fieldset>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button>
</form>"#,
        client = escape(&pending.client_name),
        client_id = escape(&pending.client_id),
        host = escape(&pending.redirect_host),
        key_name = escape(&key.name),
        path = CONSENT_PATH,
        csrf = escape(&csrf),
        request = escape(&request),
    );
    page(StatusCode::OK, "Authorize an MCP client", &body)
}

/// A browser-sent `Origin` must be this server.
pub(crate) fn origin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin == state.public_url() {
        return true;
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        })
}

async fn consent_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !origin_ok(&state, &headers) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form was sent from another site.",
        );
    }
    let engine = state.engine();
    let Some(key) = jiragate_console::signed_in_key(engine, &headers, secure(&state)).await else {
        return error_page(StatusCode::UNAUTHORIZED, "Sign in to the console first.");
    };
    let expected = jiragate_console::session_csrf(&headers, secure(&state)).unwrap_or_default();
    let presented = form.get("csrf").map(String::as_str).unwrap_or_default();
    if expected.is_empty() || !jiragate_engine::keys::hashes_equal(&expected, presented) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or does not belong to this session.",
        );
    }
    let Some(request) = form.get("request").filter(|r| request_param_ok(r)) else {
        return error_page(StatusCode::BAD_REQUEST, "The form has no valid request.");
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    };
    let connection = form.get("connection").map(String::as_str);
    if approve && connection.is_none_or(str::is_empty) {
        return error_page(StatusCode::BAD_REQUEST, "Choose a connection.");
    }
    match authority(&state)
        .decide(&key, request, connection, approve)
        .await
    {
        Ok(location) => see_other(&location),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct SignInQuery {
    request: Option<String>,
    organization: Option<String>,
}

/// Which organization an authorization request is for, then its way of signing in: the
/// console consent page, or Atlassian.
async fn sign_in(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let Some(request) = q.request.filter(|r| request_param_ok(r)) else {
        return error_page(StatusCode::BAD_REQUEST, "The link has no valid request.");
    };
    match authority(&state)
        .sign_in_step(&request, q.organization.as_deref())
        .await
    {
        Ok(SignInStep::Console { location }) => see_other(&location),
        Ok(SignInStep::Atlassian { authorize_url }) => see_other(&authorize_url),
        Ok(SignInStep::AskOrganization) => page(
            StatusCode::OK,
            "Sign in",
            &format!(
                r#"<h1>Sign in to jiragate</h1>
<p>An MCP client asks for access to Jira through jiragate. Which organization are you in?</p>
<form method="get" action="/oauth/mcp/sign-in">
<input type="hidden" name="request" value="{request}">
<label>Organization <input name="organization" required autofocus></label>
<button type="submit">Continue</button>
</form>"#,
                request = escape(&request),
            ),
        ),
        Err(e) => {
            let p = Problem::from(e);
            error_page(p.status, &p.detail)
        }
    }
}

fn ticket_param_ok(t: &str) -> bool {
    t.starts_with("jgms_")
        && t.len() < 100
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

/// The consent page of a person who signed in with Atlassian: the single-use ticket in the
/// link (from the OAuth callback) stands for that sign-in.
async fn signed_in_consent_page(
    State(state): State<AppState>,
    Query(q): Query<TicketQuery>,
) -> Response {
    let Some(ticket) = q.ticket.filter(|t| ticket_param_ok(t)) else {
        return error_page(StatusCode::BAD_REQUEST, "The link has no valid sign-in.");
    };
    let c = match authority(&state).signed_in_consent(&ticket).await {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let mode = if c.pending.writes {
        "read and write Jira data (create, edit, transition, comment) — <code>jira:read jira:write</code>"
    } else {
        "read Jira data only — <code>jira:read</code>"
    };
    let who = c
        .account_name
        .as_deref()
        .map(|n| format!("{} (<code>{}</code>)", escape(n), escape(&c.account_id)))
        .unwrap_or_else(|| format!("<code>{}</code>", escape(&c.account_id)));
    let body = format!(
        r#"<h1>Allow <strong>{client}</strong> to act as you in Jira?</h1>
<p>Client id <code>{client_id}</code><br>It will receive tokens at <strong>{host}</strong>.</p>
<p>You signed in with Atlassian as {who} on <code>{site}</code>. The client asks to {mode}, as you: Jira's own permissions apply.</p>
<form method="post" action="{path}">
<input type="hidden" name="ticket" value="{ticket}">
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button>
</form>"#,
        client = escape(&c.pending.client_name),
        client_id = escape(&c.pending.client_id),
        host = escape(&c.pending.redirect_host),
        site = escape(&c.site_url),
        path = SIGNED_IN_CONSENT_PATH,
        ticket = escape(&ticket),
    );
    page(StatusCode::OK, "Authorize an MCP client", &body)
}

async fn signed_in_consent_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !origin_ok(&state, &headers) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form was sent from another site.",
        );
    }
    let Some(ticket) = form.get("ticket").filter(|t| ticket_param_ok(t)) else {
        return error_page(StatusCode::BAD_REQUEST, "The form has no valid sign-in.");
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    };
    match authority(&state).decide_signed_in(ticket, approve).await {
        Ok(location) => see_other(&location),
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// An organization's MCP authorization settings.
#[derive(serde::Serialize, Deserialize, utoipa::ToSchema)]
pub struct McpSettingsView {
    /// `console` (default): a console session approves for a shared connection;
    /// `atlassian`: each person signs in with Atlassian and acts as themselves on their own
    /// user connection.
    pub sign_in: String,
    /// The OAuth client Atlassian sign-in uses (absent: the organization's only one).
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    /// The site sign-in connects to (absent: a person with access to several sites picks one).
    #[serde(default)]
    pub subdomain: Option<String>,
}

fn settings_view(s: McpSettings) -> McpSettingsView {
    McpSettingsView {
        sign_in: s.sign_in.as_str().to_owned(),
        oauth_client_id: s.oauth_client_id.map(|c| c.to_string()),
        subdomain: s.subdomain,
    }
}

/// The organization's MCP authorization settings (admin).
#[utoipa::path(get, path = "/api/v1/mcp/settings", tag = "mcp",
    responses((status = 200, description = "The settings", body = McpSettingsView)),
    security(("api_key" = ["admin"])))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<McpSettingsView>, Problem> {
    let s = state
        .engine()
        .mcp_settings(caller.actor(), &caller.org)
        .await?;
    Ok(Json(settings_view(s)))
}

/// Sets how the organization identifies people behind MCP authorizations (admin).
#[utoipa::path(put, path = "/api/v1/mcp/settings", tag = "mcp",
    request_body = McpSettingsView,
    responses((status = 200, description = "The settings now", body = McpSettingsView),
        (status = 422, description = "Invalid settings", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such OAuth client", body = crate::problem::ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<McpSettingsView>, JsonRejection>,
) -> Result<Json<McpSettingsView>, Problem> {
    let Json(body) = body.map_err(|e| {
        Problem::from(jiragate_engine::EngineError::validation(
            "body",
            e.body_text(),
        ))
    })?;
    let sign_in = SignInMode::parse(&body.sign_in).ok_or_else(|| {
        Problem::from(jiragate_engine::EngineError::validation(
            "sign_in",
            "must be console or atlassian",
        ))
    })?;
    let oauth_client_id = match body.oauth_client_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(id.parse::<OAuthClientRecordId>().map_err(|_| {
            Problem::from(jiragate_engine::EngineError::validation(
                "oauth_client_id",
                "not a valid OAuth client id",
            ))
        })?),
    };
    let s = state
        .engine()
        .set_mcp_settings(
            caller.actor(),
            &caller.org,
            McpSettings {
                sign_in,
                oauth_client_id,
                subdomain: body.subdomain,
            },
        )
        .await?;
    Ok(Json(settings_view(s)))
}

/// Query of `GET /api/v1/mcp/grants`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// Only grants of this connection (id or `workspace/name`).
    connection: Option<String>,
}

/// One MCP grant: an MCP client allowed to act on one connection.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct McpGrantView {
    pub id: String,
    pub org_id: String,
    pub connection_id: String,
    /// Console mode: the API key (console session) that approved it; the grant never exceeds
    /// its rights.
    pub api_key_id: Option<String>,
    /// Atlassian sign-in mode: the Atlassian account the grant acts as (on their own
    /// connection).
    pub atlassian_account_id: Option<String>,
    pub client_id: String,
    pub client_name: String,
    /// `jira:read`, or `jira:read jira:write`.
    pub scope: String,
    /// The audience its tokens are bound to (`<public URL>/mcp`).
    pub resource: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; present once revoked.
    pub revoked_at: Option<String>,
}

/// Answer of `GET /api/v1/mcp/grants`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct McpGrantList {
    pub data: Vec<McpGrantView>,
}

/// The MCP grants of the organization (admin).
#[utoipa::path(get, path = "/api/v1/mcp/grants", tag = "mcp",
    params(GrantsQuery),
    responses((status = 200, description = "The grants, newest first", body = McpGrantList),
        (status = 404, description = "No such connection", body = crate::problem::ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GrantsQuery>,
) -> Result<Json<McpGrantList>, Problem> {
    let reference = q.connection.as_deref().map(ConnRef::parse);
    let grants = state
        .engine()
        .list_mcp_grants(caller.actor(), &caller.org, reference.as_ref())
        .await?;
    let ts = |t: time::OffsetDateTime| crate::views::ts(t);
    Ok(Json(McpGrantList {
        data: grants
            .into_iter()
            .map(|g| McpGrantView {
                id: g.id,
                org_id: g.org_id.to_string(),
                connection_id: g.connection_id.to_string(),
                api_key_id: match &g.principal {
                    GrantPrincipal::ApiKey { api_key_id } => Some(api_key_id.to_string()),
                    GrantPrincipal::AtlassianUser { .. } => None,
                },
                atlassian_account_id: match &g.principal {
                    GrantPrincipal::AtlassianUser { account_id } => Some(account_id.clone()),
                    GrantPrincipal::ApiKey { .. } => None,
                },
                client_id: g.client_id,
                client_name: g.client_name,
                scope: g.scope,
                resource: g.resource,
                created_at: ts(g.created_at),
                revoked_at: g.revoked_at.map(ts),
            })
            .collect(),
    }))
}

/// Revokes an MCP grant and every token it issued (admin).
#[utoipa::path(delete, path = "/api/v1/mcp/grants/{id}", tag = "mcp",
    params(("id" = String, Path, description = "MCP grant id")),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such grant in this organization", body = crate::problem::ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .engine()
        .revoke_mcp_grant(caller.actor(), &caller.org, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
