//! jiragate-store: persistence for jiragate on SQLite (embedded default) or PostgreSQL.
//!
//! One [`Store`] type; the backend is chosen by the URL given to [`Store::connect`].
//! Every read and write of tenant data takes an [`OrgId`] and filters by it in SQL, so one
//! organization can never see or change another's rows through this API. The only global
//! lookups are those that are global by nature: [`Store::find_api_key_by_hash`],
//! [`Store::consume_session_state`] / [`Store::find_session_by_state_hash`], leases, and the
//! `admin_*` methods used by master-key rotation and background jobs.
//!
//! The store never sees a plaintext secret: sealed fields are opaque `String`s produced by
//! `jiragate-vault`.

mod audit;
mod connect_links;
mod connections;
mod console_sessions;
mod db;
mod error;
mod event_notices;
mod ids;
mod keys;
mod leases;
mod mcp_auth;
mod model;
mod oauth;
mod orgs;
mod rate_holds;
mod sessions;
mod time_col;
mod webhooks;

pub use connect_links::{ConnectLink, ConnectSettings, NewConnectLink};
pub use db::{Backend, Store, StoreOptions};
pub use error::StoreError;
pub use event_notices::{EventNoticeListener, SharedEventNotice, WEBHOOK_EVENT_CHANNEL};
pub use ids::{
    ApiKeyId, AuditEventId, ConnectLinkId, ConnectSessionId, ConnectionId, IdParseError,
    OAuthClientRecordId, OrgId, WebhookEventId, WebhookSubscriptionId, WorkspaceId,
};
pub use mcp_auth::{
    GrantPrincipal, McpClientRecord, McpGrantRecord, McpSettingsRecord, McpTokenRecord,
};
pub use model::*;
pub use rate_holds::{RATE_HOLD_CHANNEL, RateHold, RateHoldListener};
pub use webhooks::{
    ClaimedDelivery, DeliveryOutcome, DeliveryStatus, NewWebhookEvent, NewWebhookSubscription,
    PruneCounts, SealedWebhookSecret, WebhookDelivery, WebhookDeliveryId, WebhookEvent,
    WebhookSecretKind, WebhookSubscription,
};
