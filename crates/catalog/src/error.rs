//! The one error type of the catalog.

use jiragate_jira::JiraError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("unknown entity '{entity}'; known entities: {}", known.join(", "))]
    UnknownEntity { entity: String, known: Vec<String> },
    #[error("entity '{entity}' has no action '{action}'; its actions: {}", known.join(", "))]
    UnknownAction {
        entity: String,
        action: String,
        known: Vec<String>,
    },
    #[error("invalid params: {field}: {message}")]
    InvalidParams { field: String, message: String },
    #[error(
        "action {action} needs OAuth scope {scope}, which this connection was not granted; re-authorize it with that scope"
    )]
    MissingScope { scope: String, action: String },
    #[error("action {action} writes to Jira, and this connection is used read-only")]
    ReadOnly { action: String },
    #[error(transparent)]
    Jira(#[from] JiraError),
}

impl CatalogError {
    /// Stable, machine-readable name of the error (problem `type`s, MCP errors, CLI exit).
    pub fn kind(&self) -> &'static str {
        match self {
            CatalogError::UnknownEntity { .. } => "unknown_entity",
            CatalogError::UnknownAction { .. } => "unknown_action",
            CatalogError::InvalidParams { .. } => "invalid_params",
            CatalogError::MissingScope { .. } => "missing_scope",
            CatalogError::ReadOnly { .. } => "read_only",
            CatalogError::Jira(e) => e.kind(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CatalogError::InvalidParams {
            field: field.into(),
            message: message.into(),
        }
    }
}
