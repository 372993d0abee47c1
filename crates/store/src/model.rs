//! Records returned by the store and the inputs that create or change them.
//!
//! Sealed fields are opaque text produced by `jiragate-vault`; they are skipped when a record
//! is serialized, so a record can be logged or returned without even its ciphertext.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::*;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::InvalidInput {
                        field: stringify!($name),
                        message: format!("unknown value {other:?}; expected one of: {}",
                            [$($text),+].join(", ")),
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// Which Jira API family a connection targets.
    ApiType { Platform => "platform", ServiceManagement => "service_management" });
text_enum!(
    /// How a connection authenticates to Atlassian.
    AuthKind { ApiToken => "api_token", OAuth2 => "oauth2", ScopedApiToken => "scoped_api_token" });
text_enum!(
    /// Health of a connection.
    ConnectionStatus { Healthy => "healthy", NeedsReauth => "needs_reauth", Revoked => "revoked", Error => "error" });
text_enum!(
    /// Progress of an OAuth connect session.
    SessionStatus { Pending => "pending", ChooseSite => "choose_site", Connected => "connected", Failed => "failed" });
text_enum!(
    /// What a connect session is for: an ordinary connect (or Reconnect), or an MCP client's
    /// Atlassian sign-in, whose callback creates or reuses the person's own user connection.
    SessionPurpose { Connect => "connect", McpSignIn => "mcp_sign_in" });

/// Who a connection belongs to. Stored and serialized as `installation` or `user:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Owner {
    #[default]
    Installation,
    User(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Installation => f.write_str("installation"),
            Owner::User(id) => write!(f, "user:{id}"),
        }
    }
}

impl FromStr for Owner {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "installation" => Ok(Owner::Installation),
            _ => match s.strip_prefix("user:") {
                Some(id) if !id.is_empty() => Ok(Owner::User(id.to_owned())),
                _ => Err(StoreError::InvalidInput {
                    field: "owner",
                    message: format!("expected \"installation\" or \"user:<id>\", got {s:?}"),
                }),
            },
        }
    }
}

impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub org_id: OrgId,
    pub name: String,
}

/// Input for [`crate::Store::create_api_key`]. `key_hash` is a hash of the key (the caller
/// chooses the hash); the key itself never reaches the store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    /// Non-secret leading characters shown in listings, e.g. `jg_ab12`.
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<String>,
    /// A platform key may act on any organization (`X-Organization-Id`).
    pub platform: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub platform: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A stored (wrapped) organization data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    pub org_id: OrgId,
    pub version: u32,
    pub wrapped: jiragate_vault::WrappedDataKey,
    /// The same data key wrapped by the previous master key, kept after a rotation until
    /// `master-key retire` so instances still on that key keep working.
    pub previous: Option<jiragate_vault::WrappedDataKey>,
    pub created_at: OffsetDateTime,
}

/// The record proving which master key this database belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheckRecord {
    pub master_key_id: String,
    pub record: Vec<u8>,
    pub updated_at: OffsetDateTime,
    /// The master key a rotation replaced, still accepted until `master-key retire`.
    pub previous_master_key_id: Option<String>,
    pub previous_record: Option<Vec<u8>>,
}

/// A running instance and the master key it uses (reported while it serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyUser {
    pub instance_id: String,
    pub master_key_id: String,
    pub seen_at: OffsetDateTime,
}

/// Input for [`crate::Store::create_oauth_client`]. The id is chosen by the caller because
/// the secret is sealed with the record id in its AAD before the row exists.
#[derive(Debug, Clone)]
pub struct NewOAuthClient {
    pub id: OAuthClientRecordId,
    pub client_id: String,
    pub sealed_client_secret: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthClientRecord {
    pub id: OAuthClientRecordId,
    pub org_id: OrgId,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub sealed_client_secret: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Input for [`crate::Store::create_connection`]. The id is chosen by the caller (sealed
/// credential fields are bound to it).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub id: ConnectionId,
    pub workspace: String,
    pub name: String,
    pub api_type: ApiType,
    pub auth_kind: AuthKind,
    pub site_url: String,
    pub subdomain: Option<String>,
    pub cloud_id: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub oauth_client_id: Option<OAuthClientRecordId>,
    pub scopes: Vec<String>,
    pub owner: Owner,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub last_checked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub workspace: String,
    pub name: String,
    pub api_type: ApiType,
    pub auth_kind: AuthKind,
    pub site_url: String,
    pub subdomain: Option<String>,
    pub cloud_id: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub oauth_client_id: Option<OAuthClientRecordId>,
    pub scopes: Vec<String>,
    pub owner: Owner,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_checked_at: Option<OffsetDateTime>,
    /// Optimistic-concurrency version; bumped by every [`crate::Store::update_connection`].
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Changes for [`crate::Store::update_connection`]: `None` leaves a column as it is; for
/// nullable columns `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPatch {
    pub workspace: Option<String>,
    pub name: Option<String>,
    pub api_type: Option<ApiType>,
    pub auth_kind: Option<AuthKind>,
    pub site_url: Option<String>,
    pub subdomain: Option<Option<String>>,
    pub cloud_id: Option<Option<String>>,
    pub account_id: Option<Option<String>>,
    pub account_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub oauth_client_id: Option<Option<OAuthClientRecordId>>,
    pub scopes: Option<Vec<String>>,
    pub owner: Option<Owner>,
    pub status: Option<ConnectionStatus>,
    pub status_reason: Option<Option<String>>,
}

/// Sealed secret fields of a credential, as written by a caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCredential {
    pub sealed_api_token: Option<String>,
    pub sealed_access_token: Option<String>,
    pub sealed_refresh_token: Option<String>,
    pub access_expires_at: Option<OffsetDateTime>,
    pub refresh_issued_at: Option<OffsetDateTime>,
}

/// The secret part of a connection (sealed). `generation` increases by one on every
/// replacement or refresh and guards concurrent refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub connection_id: ConnectionId,
    pub generation: i64,
    #[serde(skip_serializing)]
    pub sealed_api_token: Option<String>,
    #[serde(skip_serializing)]
    pub sealed_access_token: Option<String>,
    #[serde(skip_serializing)]
    pub sealed_refresh_token: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub access_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refresh_issued_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Result of one OAuth refresh, committed with [`crate::Store::commit_refreshed_credential`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedCredential {
    pub sealed_access_token: String,
    /// The rotated refresh token; `None` keeps the stored one.
    pub sealed_refresh_token: Option<String>,
    pub access_expires_at: Option<OffsetDateTime>,
    /// When the refresh token was issued; `None` keeps the stored value.
    pub refresh_issued_at: Option<OffsetDateTime>,
}

/// An OAuth credential whose access token expires before a given instant (background refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshDue {
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub generation: i64,
    pub access_expires_at: Option<OffsetDateTime>,
}

/// A credential together with its organization, for re-encryption after key rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCredential {
    pub org_id: OrgId,
    pub credential: Credential,
}

/// Input for [`crate::Store::create_connect_session`]. `state_hash` is a hash of the OAuth
/// `state` value (the state itself is never stored).
#[derive(Debug, Clone)]
pub struct NewConnectSession {
    pub id: ConnectSessionId,
    pub oauth_client_id: OAuthClientRecordId,
    pub workspace: String,
    pub name: String,
    pub owner: Owner,
    pub scopes: Vec<String>,
    pub subdomain: Option<String>,
    pub api_type: ApiType,
    pub state_hash: String,
    pub sealed_pkce_verifier: String,
    pub expires_at: OffsetDateTime,
    /// Re-authorize this existing connection instead of creating one (Reconnect).
    pub reconnect_connection_id: Option<ConnectionId>,
    pub purpose: SessionPurpose,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectSession {
    pub id: ConnectSessionId,
    pub org_id: OrgId,
    pub oauth_client_id: OAuthClientRecordId,
    pub workspace: String,
    pub name: String,
    pub owner: Owner,
    pub scopes: Vec<String>,
    pub subdomain: Option<String>,
    pub api_type: ApiType,
    #[serde(skip_serializing)]
    pub state_hash: String,
    #[serde(skip_serializing)]
    pub sealed_pkce_verifier: String,
    pub status: SessionStatus,
    pub sites_json: Option<serde_json::Value>,
    #[serde(skip_serializing)]
    pub sealed_pending_tokens: Option<String>,
    pub connection_id: Option<ConnectionId>,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set once, atomically, when the callback consumed the state.
    #[serde(with = "time::serde::rfc3339::option")]
    pub consumed_at: Option<OffsetDateTime>,
    /// The connection this session re-authorizes in place, if it is a Reconnect.
    pub reconnect_connection_id: Option<ConnectionId>,
    pub purpose: SessionPurpose,
}

/// Changes for [`crate::Store::update_connect_session`] (`Some(None)` clears a column).
#[derive(Debug, Clone, Default)]
pub struct ConnectSessionPatch {
    pub status: Option<SessionStatus>,
    pub sites_json: Option<Option<serde_json::Value>>,
    pub sealed_pending_tokens: Option<Option<String>>,
    pub connection_id: Option<Option<ConnectionId>>,
    pub error: Option<Option<String>>,
}

/// A held lease. `fencing_token` strictly increases for each new holder of a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub fencing_token: i64,
    /// Database time at which the lease lapses unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// Filters of [`crate::Store::query_audit`]; every field is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Events whose target is exactly this (e.g. a connection id).
    pub target: Option<String>,
    /// Events whose action starts with this (`connector.`, `oauth_client.update`).
    pub action_prefix: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// Keyset cursor: events strictly older than this `(at, id)` (the last event of the
    /// previous page).
    pub before: Option<(OffsetDateTime, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub org_id: OrgId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub connection_id: ConnectionId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub status: ConnectionStatus,
    pub reason: Option<String>,
    pub latency_ms: i64,
}

pub(crate) fn parse_enum<T: FromStr<Err = StoreError>>(
    what: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    s.parse().map_err(|e: StoreError| StoreError::Corrupt {
        what,
        message: e.to_string(),
    })
}
