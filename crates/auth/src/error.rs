//! The one error type of the auth crate. Messages say what to do next and never carry a
//! secret (tokens only ever live in `SecretString`).

use jiragate_jira::JiraError;
use jiragate_store::StoreError;
use jiragate_vault::VaultError;

use crate::oauth::TokenEndpointError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("invalid {field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// The credential could not be verified against Atlassian; nothing was saved.
    #[error("could not verify the credential for {site}: {message}")]
    Verification { site: String, message: String },
    #[error("connection {connection} needs to be re-authorized: {reason}")]
    NeedsReauth { connection: String, reason: String },
    #[error("site {requested:?} is not among the sites this grant covers ({}); pick one of them", available.join(", "))]
    SiteNotFound {
        requested: String,
        available: Vec<String>,
    },
    /// The OAuth `state` on a callback is not usable.
    #[error("{}", state_message(reason))]
    State { reason: &'static str },
    /// The OAuth flow itself failed (consent denied, code refused, no site).
    #[error("OAuth authorization failed: {message}")]
    OAuth { message: String },
    /// The session waits for something else than what was asked (e.g. choose_site on a
    /// session that is already connected).
    #[error("connect session {session}: {message}")]
    SessionState { session: String, message: String },
    /// Bring-your-own tokens were refreshed (the caller's refresh token is spent) but the site
    /// is ambiguous or unknown: the new tokens wait, sealed, in a connect session.
    #[error(
        "{reason}; the refreshed tokens are kept in connect session {session_id} until {} — finish it by choosing the site: POST /api/v1/connect/sessions/{session_id}/site with {{\"cloud_id\": \"<cloud id, subdomain or site URL>\"}}, or `jiragate connect --session {session_id} --site <subdomain>`; sites: {}; do not retry with the old refresh token (it is spent)",
        expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        sites.iter().map(|s| format!("{} ({}, cloud id {})", s.name, s.url, s.cloud_id)).collect::<Vec<_>>().join(", ")
    )]
    SiteChoiceRequired {
        session_id: String,
        sites: Vec<crate::sites::SiteChoice>,
        reason: String,
        expires_at: time::OffsetDateTime,
    },
    /// A refresh could not be completed (transient); the previous credential stays in place.
    #[error("connection {connection}: token refresh failed: {message}")]
    Refresh { connection: String, message: String },
    /// Another instance holds the refresh lease for too long.
    #[error(
        "connection {connection}: another instance is refreshing the token and did not finish in time; retry"
    )]
    RefreshBusy { connection: String },
    #[error(transparent)]
    Upstream(#[from] JiraError),
    #[error(transparent)]
    TokenEndpoint(#[from] TokenEndpointError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("encryption: {0}")]
    Vault(#[from] VaultError),
    #[error("master key does not match this database")]
    WrongMasterKey,
}

fn state_message(reason: &str) -> String {
    match reason {
        "unknown" => "unknown OAuth state: this callback does not belong to a connect session of this server; start the connection again".to_owned(),
        "expired" => "the OAuth connect session expired (sessions last 10 minutes); start the connection again".to_owned(),
        "replayed" => "this OAuth callback was already used (state is single-use); start the connection again".to_owned(),
        "missing" => "the OAuth callback carries no state parameter".to_owned(),
        other => format!("invalid OAuth state ({other}); start the connection again"),
    }
}

impl AuthError {
    /// A stable machine-readable name of the variant (for problem+json `type`, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::NotFound { .. } => "not_found",
            AuthError::InvalidInput { .. } => "invalid_input",
            AuthError::Verification { .. } => "verification_failed",
            AuthError::NeedsReauth { .. } => "needs_reauth",
            AuthError::SiteNotFound { .. } => "site_not_found",
            AuthError::SiteChoiceRequired { .. } => "site_choice_required",
            AuthError::State { .. } => "invalid_state",
            AuthError::OAuth { .. } => "oauth_failed",
            AuthError::SessionState { .. } => "session_state",
            AuthError::Refresh { .. } => "refresh_failed",
            AuthError::RefreshBusy { .. } => "refresh_busy",
            AuthError::Upstream(e) => e.kind(),
            AuthError::TokenEndpoint(_) => "token_endpoint",
            AuthError::Store(_) => "store",
            AuthError::Vault(_) => "vault",
            AuthError::WrongMasterKey => "wrong_master_key",
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AuthError::InvalidInput {
            field,
            message: message.into(),
        }
    }

    /// What a `jira::TokenSource` reports for this error.
    pub fn into_jira(self, connection: &str) -> JiraError {
        match self {
            AuthError::NeedsReauth { connection, reason } => {
                JiraError::NeedsReauth { connection, reason }
            }
            AuthError::Upstream(e) => e,
            other => JiraError::Credential {
                message: format!("connection {connection}: {other}"),
            },
        }
    }
}
