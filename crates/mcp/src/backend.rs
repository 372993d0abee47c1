//! The seam between MCP tools and where the work happens: an in-process
//! [`Engine`](jiragate_engine::Engine) ([`crate::LocalBackend`]) or a running jiragate server
//! reached over its HTTP API ([`crate::RemoteBackend`]).

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

/// One connection as the agent sees it: enough to choose it and to know whether it works.
#[derive(Clone, Serialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub workspace: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub site_url: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// As the backend reports it (RFC 3339 text when it comes from the HTTP API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<Value>,
}

impl ConnectionInfo {
    /// `workspace/name`, the form a person types.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.workspace, self.name)
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("id", &self.id)
            .field("workspace", &self.workspace)
            .field("name", &self.name)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// One catalog action to run.
#[derive(Debug, Clone)]
pub struct ActionCall {
    pub entity: String,
    pub action: String,
    pub params: Value,
    /// Refuse write actions (the engine checks it too; remote mode relies on our own check).
    pub read_only: bool,
}

/// What an action returned, before it is shaped for a model.
#[derive(Debug, Clone)]
pub struct ActionOutput {
    pub data: Value,
    pub next_page_token: Option<String>,
}

/// A failure the agent should read: a stable kind plus a message that says what to do next.
/// Always turned into a tool result with `isError: true`, never a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ToolError {
    /// Stable, machine-readable: "needs_reauth", "missing_scope", "rate_limited", "not_found",
    /// "validation", "unknown_action", "read_only", "upstream_error", "unavailable", ...
    pub kind: String,
    pub message: String,
}

impl ToolError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ToolError {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The text the agent gets, with the fix spelled out for the kinds that have one.
    /// Bounded: inputs are quoted with [`jiragate_engine::quote`] where messages are built, and
    /// a message that is still longer than [`MAX_ERROR_CHARS`] is cut here.
    pub fn agent_text(&self) -> String {
        let count = self.message.chars().count();
        if count <= MAX_ERROR_CHARS {
            return format!("error ({}): {}", self.kind, self.message);
        }
        let head: String = self.message.chars().take(MAX_ERROR_CHARS).collect();
        format!(
            "error ({}): {head}… (message cut, {count} characters)",
            self.kind
        )
    }
}

/// Longest error message (characters) a tool result carries.
pub const MAX_ERROR_CHARS: usize = 4_000;

/// Hints appended to failures, shared by both backends so the agent reads the same advice.
pub(crate) mod hints {
    pub const REAUTH: &str = "Fix: run `jiragate connect` to re-consent (OAuth), or re-create the \
         connection with a fresh API token (`jiragate connectors create`), then retry.";
    pub const PATH: &str = "An input that goes into the Jira URL (an issue key, id or \
         name) is not valid there; check that argument and retry with a real key or id.";
    pub const DESCRIBE: &str =
        "Call jira_describe with this entity and action to get the params schema.";

    pub fn missing_scope(scope: &str) -> String {
        format!(
            "Fix: reconnect granting the scope `{scope}` (`jiragate connect --scopes ...`), or \
             use a connection that has it."
        )
    }

    pub fn rate_limited(secs: u64) -> String {
        format!("Jira rate limit reached; retry in {secs} s (do not retry sooner).")
    }
}

/// Where tool calls go. One backend serves one organization.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every connection of the organization, with its stored status (no upstream call).
    async fn list_connections(&self) -> Result<Vec<ConnectionInfo>, ToolError>;

    /// Resolve a connection argument: an id, `workspace/name`, or `name` (workspace `default`,
    /// else the only connection with that name).
    async fn resolve(&self, selector: &str) -> Result<ConnectionInfo, ToolError> {
        select_connection(self.list_connections().await?, selector)
    }

    /// Run a health check now and return its outcome (status, reason, latency).
    async fn check(&self, connection: &ConnectionInfo) -> Result<Value, ToolError>;

    /// The catalog as this connection sees it (entities, actions, params schemas, scopes).
    async fn describe(&self, connection: &ConnectionInfo) -> Result<Value, ToolError>;

    /// Run one catalog action.
    async fn execute(
        &self,
        connection: &ConnectionInfo,
        call: ActionCall,
    ) -> Result<ActionOutput, ToolError>;

    /// The most recent Jira webhook events received for a connection, newest first, at most
    /// `limit`: `{id, webhook_identifier, event, issue_key, received_at, payload}` each.
    async fn recent_events(
        &self,
        _connection: &ConnectionInfo,
        _limit: u32,
    ) -> Result<Vec<Value>, ToolError> {
        Err(ToolError::new(
            "unsupported",
            "this MCP server does not keep webhook events",
        ))
    }

    /// Notices of webhook events stored from now on, when this backend hears of them (the
    /// in-process backend of a server that receives Jira's webhooks); `None` otherwise. They
    /// name connections of every organization: filter them by the connections this backend
    /// may see.
    fn event_notices(&self) -> Option<EventNotices> {
        None
    }
}

/// A stream of [`jiragate_engine::webhooks::WebhookEventNotice`]s.
pub type EventNotices =
    tokio::sync::broadcast::Receiver<jiragate_engine::webhooks::WebhookEventNotice>;

/// Pick the connection a selector names from a list (rules on [`Backend::resolve`]).
pub fn select_connection(
    connections: Vec<ConnectionInfo>,
    selector: &str,
) -> Result<ConnectionInfo, ToolError> {
    let selector = selector.trim();
    if selector.is_empty() {
        return Err(ToolError::new(
            "validation",
            "the connection argument is empty; pass an id, workspace/name or name (see jira_list_connections)",
        ));
    }
    let available = || {
        let refs: Vec<String> = connections.iter().map(ConnectionInfo::reference).collect();
        if refs.is_empty() {
            "there are no connections yet; create one with `jiragate connectors create`".to_owned()
        } else {
            format!("available: {}", refs.join(", "))
        }
    };
    if let Some(found) = connections.iter().find(|c| c.id == selector) {
        return Ok(found.clone());
    }
    if let Some((workspace, name)) = selector.split_once('/') {
        return connections
            .iter()
            .find(|c| c.workspace == workspace && c.name == name)
            .cloned()
            .ok_or_else(|| {
                ToolError::new(
                    "not_found",
                    format!(
                        "no connection {}; {}",
                        jiragate_engine::quote(selector),
                        available()
                    ),
                )
            });
    }
    let named: Vec<&ConnectionInfo> = connections.iter().filter(|c| c.name == selector).collect();
    if let Some(default) = named.iter().find(|c| c.workspace == "default") {
        return Ok((*default).clone());
    }
    match named.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(ToolError::new(
            "not_found",
            format!(
                "no connection named {}; {}",
                jiragate_engine::quote(selector),
                available()
            ),
        )),
        several => Err(ToolError::new(
            "validation",
            format!(
                "{} names {} connections; pass one of: {}",
                jiragate_engine::quote(selector),
                several.len(),
                several
                    .iter()
                    .map(|c| c.reference())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: &str, workspace: &str, name: &str) -> ConnectionInfo {
        ConnectionInfo {
            id: id.to_owned(),
            workspace: workspace.to_owned(),
            name: name.to_owned(),
            api_type: "platform".to_owned(),
            auth_kind: "api_token".to_owned(),
            site_url: String::new(),
            status: "healthy".to_owned(),
            status_reason: None,
            last_checked_at: None,
        }
    }

    fn sample() -> Vec<ConnectionInfo> {
        vec![
            conn("1", "default", "jira"),
            conn("2", "w", "jira"),
            conn("3", "w", "only"),
            conn("4", "a", "twice"),
            conn("5", "b", "twice"),
        ]
    }

    #[test]
    fn selects_by_id_workspace_name_and_name() {
        assert_eq!(select_connection(sample(), "3").unwrap().id, "3");
        assert_eq!(select_connection(sample(), "w/jira").unwrap().id, "2");
        assert_eq!(select_connection(sample(), "jira").unwrap().id, "1");
        assert_eq!(select_connection(sample(), "only").unwrap().id, "3");
    }

    #[test]
    fn ambiguous_and_missing_names_say_what_exists() {
        let err = select_connection(sample(), "twice").unwrap_err();
        assert_eq!(err.kind, "validation");
        assert!(err.message.contains("a/twice") && err.message.contains("b/twice"));
        let err = select_connection(sample(), "nope").unwrap_err();
        assert_eq!(err.kind, "not_found");
        assert!(err.message.contains("w/only"));
        let err = select_connection(Vec::new(), "x/y").unwrap_err();
        assert!(err.message.contains("jiragate connectors create"));
    }
}
