//! `/mcp`: the MCP streamable HTTP endpoint.
//!
//! The MCP service lives in crates/mcp (`jiragate_mcp::streamable_http_service`). Until it is
//! wired here, `mcp_routes` mounts nothing and `/mcp` answers a `not_found` problem.

use axum::Router;

use crate::state::AppState;

/// Routes of the MCP endpoint, merged into the main router by `App::build`.
pub fn mcp_routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
