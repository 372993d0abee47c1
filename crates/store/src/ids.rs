use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that is not a valid id of the expected kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {kind} id: expected a UUID")]
pub struct IdParseError {
    pub kind: &'static str,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered (UUID v7) id.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from the database (already validated on the way in).
            pub(crate) fn from_db(s: String) -> Self {
                $name(s)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(|u| $name(u.hyphenated().to_string()))
                    .map_err(|_| IdParseError { kind: $kind })
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// An organization (tenant).
    OrgId, "organization");
id_type!(
    /// A workspace inside an organization.
    WorkspaceId, "workspace");
id_type!(
    /// A Jira connection.
    ConnectionId, "connection");
id_type!(
    /// An API key record (the key itself is never stored, only its hash).
    ApiKeyId, "API key");
id_type!(
    /// A registered OAuth 2.0 (3LO) client.
    OAuthClientRecordId, "OAuth client");
id_type!(
    /// An OAuth connect session.
    ConnectSessionId, "connect session");
id_type!(
    /// An audit event.
    AuditEventId, "audit event");
id_type!(
    /// An embeddable connect link (the page an app sends its end user to).
    ConnectLinkId, "connect link");
id_type!(
    /// A webhook subscription (a subscriber URL for some of a connection's Jira events).
    WebhookSubscriptionId, "webhook subscription");
id_type!(
    /// A webhook event received from Jira.
    WebhookEventId, "webhook event");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_normalise() {
        let id = ConnectionId::new();
        let parsed: ConnectionId = id.as_str().to_uppercase().parse().unwrap();
        assert_eq!(parsed, id);
        assert!("nope".parse::<OrgId>().is_err());
    }
}
