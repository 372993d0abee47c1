//! `/mcp`: the MCP streamable HTTP endpoint of crates/mcp, behind this server's API-key
//! authentication (same problem documents, same per-key rate limit as `/api/v1`).
//!
//! The caller is authenticated here and the MCP service receives a [`RequestBackend`] for the
//! caller's organization in the request extensions (for an MCP access token: the grant's
//! connection only, with the grant's mode), so the MCP crate's own resolver is only a
//! fallback. Open SSE streams end when the server shuts down (cancellation token), so graceful
//! shutdown is not held up by idle MCP clients.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiragate_engine::mcp_auth::McpPrincipal;
use jiragate_mcp::{EngineKeyResolver, LocalBackend, McpOptions, RequestBackend};
use rmcp::transport::StreamableHttpServerConfig;

use crate::caller::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Routes of the MCP endpoint, merged into the main router by `App::build`; each caller holds
/// at most `max_sessions_per_caller` sessions.
pub fn mcp_routes(state: &AppState, max_sessions_per_caller: usize) -> Router<AppState> {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.shutdown_token().child_token())
        .disable_allowed_hosts();
    let resolver = Arc::new(EngineKeyResolver::new(state.engine().clone()));
    match jiragate_mcp::streamable_http_service_with_session_cap(
        resolver,
        McpOptions::default(),
        config,
        max_sessions_per_caller,
    ) {
        Ok(service) => Router::new().route_service("/mcp", service).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), authenticate),
        ),
        Err(err) => {
            tracing::error!(error = %err, "MCP endpoint disabled: invalid MCP options");
            Router::new()
        }
    }
}

/// The `WWW-Authenticate` challenge of `/mcp` (RFC 6750 §3, RFC 9728 §5.1): where the
/// protected resource metadata is, and the error when a token was presented and refused.
fn challenge(state: &AppState, error: Option<&str>) -> HeaderValue {
    let meta = state.inner.mcp_auth.resource_metadata_url();
    let quoted = |s: &str| s.replace(['"', '\\'], "'");
    let value = match error {
        Some(description) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{}\"",
            quoted(description),
            quoted(&meta)
        ),
        None => format!(
            "Bearer resource_metadata=\"{}\", scope=\"{}\"",
            quoted(&meta),
            jiragate_engine::mcp_auth::SCOPE_READ
        ),
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"jiragate\""))
}

fn unauthorized(state: &AppState, detail: &str, error: Option<&str>) -> Response {
    let mut resp = Problem::unauthorized(detail.to_owned()).into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge(state, error));
    resp
}

/// Who calls `/mcp`: a jiragate-issued MCP access token (acts on its grant's connection with
/// its mode), or an API key as before; anything else is a 401 that points to the metadata.
async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = presented else {
        return unauthorized(
            &state,
            "authorize with OAuth (see the resource metadata) or send `Authorization: Bearer <api key>`",
            None,
        );
    };
    if token.starts_with(jiragate_engine::mcp_auth::ACCESS_TOKEN_PREFIX) {
        return match state.inner.mcp_auth.authenticate(&token).await {
            Ok(access) => {
                // A key grant acts with the approving key's rights and spends its request
                // budget; a signed-in person's grant has a budget of its own.
                let budget = match &access.principal {
                    McpPrincipal::Key(key) => key.id.to_string(),
                    McpPrincipal::AtlassianUser { .. } => format!("mcp_grant:{}", access.grant_id),
                };
                if let Some(limiter) = &state.inner.limiter
                    && let Err(wait) = limiter.check(&budget)
                {
                    metrics::counter!(crate::metrics::KEY_RATE_LIMITED).increment(1);
                    return Problem::rate_limited(
                        wait,
                        "this authorization sent too many requests; retry after the given delay",
                    )
                    .into_response();
                }
                // A write on a read-only grant is refused before it runs, the way the MCP
                // authorization spec (2026-07-28, "Runtime Insufficient Scope Errors") asks:
                // 403 with an insufficient_scope challenge naming jira:write, so the client
                // can ask the person for more (step-up).
                let req = if access.read_only {
                    match writes_in(req).await {
                        Ok((req, false)) => req,
                        Ok((_, true)) => return insufficient_scope(&state),
                        Err(resp) => return resp,
                    }
                } else {
                    req
                };
                let backend = match access.principal {
                    McpPrincipal::Key(key) => LocalBackend::for_grant(
                        state.engine().clone(),
                        key,
                        access.org,
                        access.connection,
                        access.read_only,
                    ),
                    McpPrincipal::AtlassianUser { account_id } => LocalBackend::for_atlassian_user(
                        state.engine().clone(),
                        account_id,
                        access.org,
                        access.connection,
                        access.read_only,
                    ),
                };
                let mut req = req;
                req.extensions_mut()
                    .insert(RequestBackend(Arc::new(backend)));
                next.run(req).await
            }
            Err(description) => unauthorized(&state, &description, Some(&description)),
        };
    }
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(c) => c,
        Err(problem) => {
            let mut resp = problem.into_response();
            if resp.status() == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    challenge(&state, Some("the API key or token is not valid")),
                );
            }
            return resp;
        }
    };
    if let Err(e) = state.engine().authorize_mcp(caller.actor()) {
        return Problem::from(e).into_response();
    }
    let backend = LocalBackend::for_key(
        state.engine().clone(),
        jiragate_engine::model::ApiKeyRecord::clone(&caller.key),
        caller.org.clone(),
    );
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut()
        .insert(RequestBackend(Arc::new(backend)));
    next.run(req).await
}

/// Largest `/mcp` request body read to look for a write on a read-only grant (the server's
/// own body limit applies before this one).
const MAX_INSPECTED_BODY: usize = 16 * 1024 * 1024;

/// Reads the body of a POST and says whether it is a JSON-RPC `tools/call` (or a batch holding
/// one) that writes; the request is rebuilt with the same bytes.
async fn writes_in(req: Request) -> Result<(Request, bool), Response> {
    if req.method() != axum::http::Method::POST {
        return Ok((req, false));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_INSPECTED_BODY)
        .await
        .map_err(|_| {
            Problem::new(
                crate::problem::ProblemKind::PayloadTooLarge,
                "the MCP request body is too large or could not be read",
            )
            .into_response()
        })?;
    let writes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Array(batch)) => batch.iter().any(call_writes),
        Ok(one) => call_writes(&one),
        Err(_) => false,
    };
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        writes,
    ))
}

fn call_writes(message: &serde_json::Value) -> bool {
    message.get("method").and_then(serde_json::Value::as_str) == Some("tools/call")
        && message
            .pointer("/params/name")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|name| {
                jiragate_mcp::tool_call_writes(name, message.pointer("/params/arguments"))
            })
}

/// 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="jira:write", …`.
fn insufficient_scope(state: &AppState) -> Response {
    let description = "this authorization is read-only; writing to Jira needs the jira:write scope";
    let mut resp = Problem::forbidden(description).into_response();
    let value = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", error_description=\"{}\"",
        jiragate_engine::mcp_auth::SCOPE_WRITE,
        state
            .inner
            .mcp_auth
            .resource_metadata_url()
            .replace(['"', '\\'], "'"),
        description
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}
