//! jiragate-mcp: an MCP server for AI agents over the jiragate catalog.
//!
//! A short tool list (three generic tools that reach every catalog action, plus first-class
//! tools for the most used ones) served over stdio ([`serve_stdio`]) or streamable HTTP
//! ([`streamable_http_service`]). Work goes to a [`Backend`]: in process on an
//! [`Engine`](jiragate_engine::Engine) ([`LocalBackend`]) or to a jiragate server's HTTP API
//! ([`RemoteBackend`]). Every failure of a tool is a tool result with `isError: true` and a
//! message that says what to do; protocol errors are kept for malformed requests.

mod backend;
mod http_service;
mod local;
mod remote;
mod render;
mod schema;
mod server;
mod stdio;
mod tools;

use std::sync::Arc;

use rmcp::ServiceExt;

pub use backend::{
    ActionCall, ActionOutput, Backend, ConnectionInfo, EventNotices, ToolError, select_connection,
};
pub use http_service::{
    BackendResolver, HttpRejection, MAX_SESSIONS_PER_CALLER, McpHttpService, resolver_fn,
    streamable_http_service, streamable_http_service_with_config,
    streamable_http_service_with_session_cap,
};
pub use local::{EngineKeyResolver, LocalBackend};
pub use remote::RemoteBackend;
pub use render::MAX_RESULT_CHARS;
pub use server::{JiragateMcp, RequestBackend};
pub use stdio::StrictLineTransport;
pub use tools::{OptionsError, TOOLSETS, known_tool_names, tool_call_writes};

/// What the server exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpOptions {
    /// List no write tool and refuse every write action through `jira_execute`.
    pub read_only: bool,
    /// Allow-list of tool names (`jira_search_issues` or `search_issues`) and toolsets
    /// (`core`, `issues`, `agile`, `all`); entries may be comma-separated. `None`: every tool.
    pub tools: Option<Vec<String>>,
    /// Connection used when a call omits `connection` (id, `workspace/name` or name).
    pub default_connection: Option<String>,
}

impl McpOptions {
    /// Check the options without starting anything (unknown tool names, empty allow-list).
    pub fn validate(&self) -> Result<(), OptionsError> {
        JiragateMcp::new(Arc::new(NoBackend), self.clone()).map(|_| ())
    }
}

/// Why [`serve_stdio`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("MCP client did not complete the handshake: {0}")]
    Handshake(String),
    #[error("MCP stdio session ended abnormally: {0}")]
    Session(String),
}

/// Serve MCP on stdin/stdout until the client disconnects. Only protocol messages go to
/// stdout; diagnostics go through `tracing` (the caller installs a stderr subscriber).
/// A line that is not JSON is answered with a JSON-RPC parse error ([`StrictLineTransport`]).
pub async fn serve_stdio(backend: Arc<dyn Backend>, opts: McpOptions) -> Result<(), ServeError> {
    let server = JiragateMcp::new(backend, opts)?;
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let running = server
        .serve(StrictLineTransport::new(stdin, stdout))
        .await
        .map_err(|e| ServeError::Handshake(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| ServeError::Session(e.to_string()))?;
    Ok(())
}

/// A backend with no connections, used only to validate options.
struct NoBackend;

#[async_trait::async_trait]
impl Backend for NoBackend {
    async fn list_connections(&self) -> Result<Vec<ConnectionInfo>, ToolError> {
        Ok(Vec::new())
    }
    async fn check(&self, _: &ConnectionInfo) -> Result<serde_json::Value, ToolError> {
        Err(ToolError::new("not_found", "no connections"))
    }
    async fn describe(&self, _: &ConnectionInfo) -> Result<serde_json::Value, ToolError> {
        Err(ToolError::new("not_found", "no connections"))
    }
    async fn execute(&self, _: &ConnectionInfo, _: ActionCall) -> Result<ActionOutput, ToolError> {
        Err(ToolError::new("not_found", "no connections"))
    }
}
