//! jiragate-auth: Jira Cloud connections — Atlassian API tokens (classic and scoped) and
//! OAuth 2.0 (3LO) with PKCE — and the token manager that keeps them valid.
//!
//! * [`Keyring`]: master key + per-organization data keys; seals every secret.
//! * [`AuthService`]: create/verify connections, the OAuth connect flow, health checks.
//! * [`TokenManager`]: valid credentials on demand; one refresh per connection at a time
//!   across tasks and instances; rotated refresh tokens committed before use.

// AuthError carries JiraError by value (the interface names `Upstream(JiraError)`); errors are
// the cold path, so the larger Result is not worth boxing every variant.
#![allow(clippy::result_large_err)]

mod background;
mod config;
mod error;
mod keyring;
pub mod oauth;
mod service;
pub mod sites;
mod tokens;

pub use config::{AtlassianEndpoints, AuthConfig, BackgroundConfig, Clock};
pub use error::AuthError;
pub use keyring::{KEY_REPORT_INTERVAL, Keyring, RetireReport, RotationReport, fields};
pub use service::{
    AuthService, CallbackOutcome, ConnectStart, CredentialFor, Credentials, MCP_SIGN_IN_WORKSPACE,
    NewApiTokenConnection, NewOAuthTokens, StartConnect,
};
pub use sites::{SiteChoice, SiteRef};
pub use tokens::{ConnectionTokenSource, TokenManager, TokenStats, connection_base_url};

impl AuthService {
    /// Starts the background task (proactive refresh, keep-alive, scheduled health checks).
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        background::spawn(self.clone())
    }

    /// One pass of the background work, now (for operators' tools and tests).
    pub async fn run_background_pass(&self) {
        let mut scheduler = background::Scheduler::default();
        background::run_once(self, &mut scheduler).await;
    }
}
