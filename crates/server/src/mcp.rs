//! `/mcp`: the MCP streamable HTTP endpoint of crates/mcp, behind this server's API-key
//! authentication (same problem documents, same per-key rate limit as `/api/v1`).
//!
//! The caller is authenticated here and the MCP service receives a [`RequestBackend`] for the
//! caller's organization in the request extensions, so the MCP crate's own resolver is only a
//! fallback. Open SSE streams end when the server shuts down (cancellation token), so graceful
//! shutdown is not held up by idle MCP clients.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jiragate_mcp::{EngineKeyResolver, LocalBackend, McpOptions, RequestBackend};
use rmcp::transport::StreamableHttpServerConfig;

use crate::caller::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Routes of the MCP endpoint, merged into the main router by `App::build`.
pub fn mcp_routes(state: &AppState) -> Router<AppState> {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.shutdown_token().child_token())
        .disable_allowed_hosts();
    let resolver = Arc::new(EngineKeyResolver::new(state.engine().clone()));
    match jiragate_mcp::streamable_http_service_with_config(resolver, McpOptions::default(), config)
    {
        Ok(service) => Router::new().route_service("/mcp", service).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), authenticate),
        ),
        Err(err) => {
            tracing::error!(error = %err, "MCP endpoint disabled: invalid MCP options");
            Router::new()
        }
    }
}

async fn authenticate(
    State(state): State<AppState>,
    caller: Caller,
    mut req: Request,
    next: Next,
) -> Result<Response, Problem> {
    state.engine().authorize_mcp(caller.actor())?;
    let backend = LocalBackend::for_key(
        state.engine().clone(),
        caller.key.clone(),
        caller.org.clone(),
    );
    req.extensions_mut()
        .insert(RequestBackend(Arc::new(backend)));
    Ok(next.run(req).await)
}
