//! The domain types front ends name: records, ids and request shapes, re-exported from the
//! crates below the engine so that `cli`, `server` and `mcp` depend on `jiragate_engine` only.
//! Records carry no plaintext secrets (the store holds sealed strings; secrets in requests are
//! `SecretString`s).

pub use jiragate_auth::{
    AtlassianEndpoints, ConnectStart, CredentialFor, Credentials, NewApiTokenConnection,
    RetireReport, RotationReport, SiteChoice, SiteRef, StartConnect, TokenStats,
};
pub use jiragate_catalog::{ActionDef, Catalog, ExecuteOutput};
pub use jiragate_store::{
    ApiKeyId, ApiKeyRecord, ApiType, AuditEvent, AuthKind, ConnectLink, ConnectLinkId,
    ConnectSession, ConnectSessionId, ConnectSettings, Connection, ConnectionId, ConnectionStatus,
    DeliveryStatus, GrantPrincipal, HealthCheck, OAuthClientRecord, OAuthClientRecordId, OrgId,
    Organization, Owner, SessionStatus, WebhookDelivery, WebhookDeliveryId, WebhookEvent,
    WebhookEventId, WebhookSubscription, WebhookSubscriptionId, Workspace,
};

/// Atlassian Document Format ↔ Markdown (for rendering Jira text to people and models).
pub mod adf {
    pub use jiragate_jira::adf::*;
}

/// `https://api.atlassian.com/ex/jira/{cloudId}`-style URLs.
pub mod urls {
    pub use jiragate_jira::urls::*;
}
