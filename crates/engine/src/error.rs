//! One error for every front end (HTTP, MCP, CLI): a stable `kind`, the HTTP status and the exit
//! code all derive from the variant, so the three interfaces never disagree.

use jiragate_auth::AuthError;
use jiragate_catalog::CatalogError;
use jiragate_jira::JiraError;
use jiragate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{what} {} not found", jiragate_jira::quote(id))]
    NotFound { what: &'static str, id: String },
    #[error("invalid {field}: {message}")]
    Validation { field: String, message: String },
    #[error("missing or unknown API key; send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("this API key lacks the '{needed}' scope")]
    Forbidden { needed: String },
    /// The actor's API key does not carry the scope an operation needs.
    #[error("this API key lacks the `{scope}` scope")]
    KeyScope { scope: &'static str },
    /// The actor may not do this at all (another organization, platform-only operations).
    #[error("{message}")]
    NotAllowed { message: String },
    #[error("{message}")]
    Conflict { message: String },
    /// Bring-your-own OAuth tokens were refreshed but the request named no site the grant
    /// covers: the new tokens wait in connect session `session_id` for a site choice
    /// (`POST /api/v1/connect/sessions/{id}/site`, `jiragate connect --session`).
    #[error("{message}")]
    SiteChoiceRequired {
        session_id: String,
        sites: Vec<jiragate_auth::SiteChoice>,
        expires_at: time::OffsetDateTime,
        message: String,
    },
    #[error(
        "connection {connection} needs to be re-authorized ({reason}); run `jiragate connect` again or replace its credentials"
    )]
    NeedsReauth { connection: String, reason: String },
    #[error(
        "the connection was not granted the '{scope}' scope needed by {action}; re-authorize with that scope"
    )]
    MissingScope { scope: String, action: String },
    #[error("Jira is rate limiting this connection; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// jiragate shed the request before calling Jira: the connection is at capacity.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
    /// Jira answered with an error status. Its kind says whose fault it is: a 404 is
    /// `not_found`, a 403 `forbidden`, any other 4xx `upstream_rejected` (the caller's input:
    /// invalid JQL, a bad page token …, with Jira's status), a 5xx `upstream_error`.
    #[error("Jira answered {status}: {}{}", messages.join("; "), hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Upstream {
        status: u16,
        messages: Vec<String>,
        request_id: Option<String>,
        hint: Option<String>,
    },
    /// Jira could not be reached (connection refused, DNS, TLS, dropped connection).
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// Jira did not answer within the deadline.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// jiragate's own key or credential handling failed (vault, master key, stored secret);
    /// Jira was not called.
    #[error("{message}; {hint}")]
    CredentialUnavailable { message: String, hint: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("master key does not match this database")]
    WrongMasterKey,
    /// The operator's configuration is wrong (a data dir that cannot be created, an unreadable
    /// or malformed master key, a file that cannot be written): fix the setting and start again.
    #[error("configuration problem: {message}")]
    Config { message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Stable machine-readable kind; the problem `type` and the CLI exit code derive from it.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NotFound { .. } => "not_found",
            EngineError::Validation { .. } => "validation",
            EngineError::Unauthorized => "unauthorized",
            EngineError::Forbidden { .. }
            | EngineError::KeyScope { .. }
            | EngineError::NotAllowed { .. } => "forbidden",
            EngineError::Conflict { .. } => "conflict",
            EngineError::SiteChoiceRequired { .. } => "site_choice_required",
            EngineError::NeedsReauth { .. } => "needs_reauth",
            EngineError::MissingScope { .. } => "missing_scope",
            EngineError::RateLimited { .. } => "rate_limited",
            EngineError::Overloaded { .. } => "overloaded",
            EngineError::Upstream { status: 404, .. } => "not_found",
            EngineError::Upstream { status: 403, .. } => "forbidden",
            EngineError::Upstream { status, .. } if (400..500).contains(status) => {
                "upstream_rejected"
            }
            EngineError::Upstream { .. } => "upstream_error",
            EngineError::UpstreamUnavailable(_) => "upstream_unavailable",
            EngineError::UpstreamTimeout(_) => "upstream_timeout",
            EngineError::CredentialUnavailable { .. } => "credential_unavailable",
            EngineError::Unavailable(_) => "unavailable",
            EngineError::WrongMasterKey => "wrong_master_key",
            EngineError::Config { .. } => "config",
            EngineError::Internal(_) => "internal",
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            EngineError::NotFound { .. } => 404,
            EngineError::Validation { .. } | EngineError::SiteChoiceRequired { .. } => 422,
            EngineError::Unauthorized => 401,
            EngineError::Forbidden { .. }
            | EngineError::KeyScope { .. }
            | EngineError::NotAllowed { .. }
            | EngineError::MissingScope { .. } => 403,
            EngineError::Conflict { .. } => 409,
            EngineError::NeedsReauth { .. } => 409,
            EngineError::RateLimited { .. } => 429,
            EngineError::Overloaded { .. } => 503,
            // The caller's request was at fault: keep Jira's status (401 and 429 never get
            // here; they become needs_reauth and rate_limited).
            EngineError::Upstream { status, .. } if (400..500).contains(status) => *status,
            EngineError::Upstream { .. } => 502,
            EngineError::UpstreamUnavailable(_) | EngineError::Unavailable(_) => 503,
            EngineError::UpstreamTimeout(_) => 504,
            EngineError::CredentialUnavailable { .. }
            | EngineError::WrongMasterKey
            | EngineError::Config { .. }
            | EngineError::Internal(_) => 500,
        }
    }

    /// CLI exit codes: 2 usage, 3 not found, 4 needs re-auth or forbidden, 5 upstream,
    /// 78 the operator's configuration (`EX_CONFIG` of sysexits.h).
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Config { .. } => 78,
            EngineError::Validation { .. }
            | EngineError::Conflict { .. }
            | EngineError::SiteChoiceRequired { .. } => 2,
            EngineError::NotFound { .. } | EngineError::Upstream { status: 404, .. } => 3,
            EngineError::Upstream { status: 403, .. } => 4,
            EngineError::Upstream { status, .. } if (400..500).contains(status) => 2,
            EngineError::Unauthorized
            | EngineError::Forbidden { .. }
            | EngineError::KeyScope { .. }
            | EngineError::NotAllowed { .. }
            | EngineError::NeedsReauth { .. }
            | EngineError::MissingScope { .. } => 4,
            EngineError::RateLimited { .. }
            | EngineError::Overloaded { .. }
            | EngineError::Upstream { .. }
            | EngineError::UpstreamUnavailable(_)
            | EngineError::UpstreamTimeout(_)
            | EngineError::Unavailable(_) => 5,
            EngineError::CredentialUnavailable { .. }
            | EngineError::WrongMasterKey
            | EngineError::Internal(_) => 1,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        EngineError::Config {
            message: message.into(),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<JiraError> for EngineError {
    fn from(e: JiraError) -> Self {
        match e {
            JiraError::Upstream {
                status,
                messages,
                field_errors,
                request_id,
                hint,
                ..
            } => {
                let mut messages = messages;
                messages.extend(field_errors.into_iter().map(|(k, v)| format!("{k}: {v}")));
                EngineError::Upstream {
                    status,
                    messages,
                    request_id,
                    hint,
                }
            }
            JiraError::NeedsReauth { connection, reason } => {
                EngineError::NeedsReauth { connection, reason }
            }
            JiraError::Unauthorized { connection, hint } => EngineError::NeedsReauth {
                connection,
                reason: format!("Jira refused the credential (401): {hint}"),
            },
            JiraError::MissingScope { scope, .. } => EngineError::MissingScope {
                scope,
                action: "this call".into(),
            },
            JiraError::RateLimited { retry_after, .. } => EngineError::RateLimited {
                retry_after_secs: retry_after.as_secs().max(1),
            },
            JiraError::InvalidRequest { field, message } => {
                EngineError::Validation { field, message }
            }
            other @ JiraError::Timeout { .. } => EngineError::UpstreamTimeout(other.to_string()),
            ref other @ JiraError::Overloaded { retry_after, .. } => EngineError::Overloaded {
                message: other.to_string(),
                retry_after_secs: retry_after.as_secs().max(1),
            },
            other @ JiraError::Transport { .. } => {
                EngineError::UpstreamUnavailable(other.to_string())
            }
            JiraError::Credential { message } => EngineError::CredentialUnavailable {
                message,
                hint: CREDENTIAL_HINT.to_owned(),
            },
            other => EngineError::Upstream {
                status: 502,
                messages: vec![other.to_string()],
                request_id: None,
                hint: None,
            },
        }
    }
}

/// What an operator can do about a credential jiragate could not use.
const CREDENTIAL_HINT: &str = "Jira was not called; check that this instance uses the current master key (`jiragate doctor`; after `master-key rotate`, restart or wait for instances to pick it up) and replace the connection's credentials if it persists";

impl From<CatalogError> for EngineError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Jira(j) => j.into(),
            CatalogError::InvalidParams { field, message } => {
                EngineError::Validation { field, message }
            }
            CatalogError::MissingScope { scope, action } => {
                EngineError::MissingScope { scope, action }
            }
            CatalogError::ReadOnly { .. } => EngineError::Forbidden {
                needed: format!("write access ({e})"),
            },
            e @ CatalogError::UnknownEntity { .. } => EngineError::Validation {
                field: "entity".into(),
                message: e.to_string(),
            },
            e @ CatalogError::UnknownAction { .. } => EngineError::Validation {
                field: "action".into(),
                message: e.to_string(),
            },
        }
    }
}

impl From<AuthError> for EngineError {
    fn from(e: AuthError) -> Self {
        if let AuthError::SiteChoiceRequired {
            session_id,
            sites,
            expires_at,
            ..
        } = &e
        {
            return EngineError::SiteChoiceRequired {
                session_id: session_id.clone(),
                sites: sites.clone(),
                expires_at: *expires_at,
                message: e.to_string(),
            };
        }
        match e {
            AuthError::NotFound { what, id } => EngineError::NotFound { what, id },
            AuthError::InvalidInput { field, message } => EngineError::Validation {
                field: field.into(),
                message,
            },
            AuthError::NeedsReauth { connection, reason } => {
                EngineError::NeedsReauth { connection, reason }
            }
            AuthError::Upstream(j) => j.into(),
            AuthError::WrongMasterKey => EngineError::WrongMasterKey,
            AuthError::Store(s) => s.into(),
            e @ (AuthError::Verification { .. }
            | AuthError::SiteNotFound { .. }
            | AuthError::State { .. }
            | AuthError::SessionState { .. }
            | AuthError::SiteChoiceRequired { .. }) => EngineError::Validation {
                field: e.kind().to_string(),
                message: e.to_string(),
            },
            e @ (AuthError::OAuth { .. }
            | AuthError::TokenEndpoint(_)
            | AuthError::Refresh { .. }) => EngineError::Upstream {
                status: 502,
                messages: vec![e.to_string()],
                request_id: None,
                hint: None,
            },
            e @ AuthError::RefreshBusy { .. } => EngineError::Unavailable(e.to_string()),
            e @ AuthError::Vault(_) => EngineError::CredentialUnavailable {
                message: e.to_string(),
                hint: CREDENTIAL_HINT.to_owned(),
            },
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => EngineError::NotFound { what, id },
            StoreError::Conflict { .. }
            | StoreError::AlreadyExists { .. }
            | StoreError::InUse { .. } => EngineError::Conflict {
                message: e.to_string(),
            },
            StoreError::InvalidInput { field, message } => EngineError::Validation {
                field: field.into(),
                message,
            },
            other => EngineError::Internal(other.to_string()),
        }
    }
}
