//! MCP authorization: registered MCP clients (RFC 7591), grants (a person's consent for one
//! client on one connection) and the tokens of the flow (pending requests, codes, access and
//! refresh tokens), which are stored only as hashes. Lookups by token hash and by client id
//! are global by nature (the caller presents nothing else); listing and revoking grants are
//! scoped by organization.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_unique_violation};
use crate::ids::{ApiKeyId, ConnectionId, OrgId};
use crate::time_col::{self, DbTime};

/// A client registered through dynamic client registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpClientRecord {
    pub client_id: String,
    pub client_name: String,
    /// JSON array of exact redirect URIs.
    pub redirect_uris: String,
    pub created_at: OffsetDateTime,
}

/// Who a grant acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantPrincipal {
    /// Console mode: the API key of the console session that approved it (the grant never
    /// exceeds that key's rights, and ends with it).
    ApiKey { api_key_id: ApiKeyId },
    /// Atlassian sign-in mode: the Atlassian account that signed in; the grant acts on that
    /// person's own user connection.
    AtlassianUser { account_id: String },
}

/// One consent: `client_id` may act on `connection_id` with `scope`, as `principal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpGrantRecord {
    pub id: String,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub principal: GrantPrincipal,
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub resource: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A stored token (by hash): its kind, grant, JSON data and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpTokenRecord {
    pub kind: String,
    pub grant_id: Option<String>,
    pub data: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    client_name: String,
    redirect_uris: String,
    created_at: DbTime,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    org_id: String,
    connection_id: String,
    api_key_id: Option<String>,
    atlassian_account_id: Option<String>,
    client_id: String,
    client_name: String,
    scope: String,
    resource: String,
    created_at: DbTime,
    revoked_at: Option<DbTime>,
}

impl TryFrom<GrantRow> for McpGrantRecord {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let principal = match (r.api_key_id, r.atlassian_account_id) {
            (Some(k), None) => GrantPrincipal::ApiKey {
                api_key_id: ApiKeyId::from_db(k),
            },
            (None, Some(account_id)) => GrantPrincipal::AtlassianUser { account_id },
            _ => {
                return Err(StoreError::InvalidInput {
                    field: "mcp_grants.principal",
                    message: format!("grant {} has not exactly one principal", r.id),
                });
            }
        };
        Ok(McpGrantRecord {
            id: r.id,
            org_id: OrgId::from_db(r.org_id),
            connection_id: ConnectionId::from_db(r.connection_id),
            principal,
            client_id: r.client_id,
            client_name: r.client_name,
            scope: r.scope,
            resource: r.resource,
            created_at: r.created_at.into(),
            revoked_at: time_col::unopt(r.revoked_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    kind: String,
    grant_id: Option<String>,
    data: String,
    expires_at: DbTime,
    used_at: Option<DbTime>,
}

impl From<TokenRow> for McpTokenRecord {
    fn from(r: TokenRow) -> Self {
        McpTokenRecord {
            kind: r.kind,
            grant_id: r.grant_id,
            data: r.data,
            expires_at: r.expires_at.into(),
            used_at: time_col::unopt(r.used_at),
        }
    }
}

macro_rules! grant_columns {
    () => {
        "id, org_id, connection_id, api_key_id, atlassian_account_id, client_id, client_name, \
         scope, resource, created_at, revoked_at"
    };
}

impl Store {
    /// Stores a dynamically registered client.
    pub async fn insert_mcp_client(
        &self,
        client_id: &str,
        client_name: &str,
        redirect_uris_json: &str,
    ) -> Result<(), StoreError> {
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO mcp_clients (client_id, client_name, redirect_uris, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(client_id)
            .bind(client_name)
            .bind(redirect_uris_json)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match res {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "MCP client",
                key: client_id.into(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "insert_mcp_client",
                source: e,
            }),
        }
    }

    /// A dynamically registered client, if any.
    pub async fn find_mcp_client(
        &self,
        client_id: &str,
    ) -> Result<Option<McpClientRecord>, StoreError> {
        let row: Option<ClientRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT client_id, client_name, redirect_uris, created_at FROM mcp_clients \
                 WHERE client_id = $1",
            )
            .bind(client_id)
            .fetch_optional(pool)
            .await
            .op("find_mcp_client")?
        });
        Ok(row.map(|r| McpClientRecord {
            client_id: r.client_id,
            client_name: r.client_name,
            redirect_uris: r.redirect_uris,
            created_at: r.created_at.into(),
        }))
    }

    /// Stores a token by its hash.
    pub async fn insert_mcp_token(
        &self,
        token_hash: &str,
        kind: &str,
        grant_id: Option<&str>,
        data: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO mcp_tokens (token_hash, kind, grant_id, data, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(kind)
            .bind(grant_id)
            .bind(data)
            .bind(DbTime::now())
            .bind(DbTime::from(expires_at))
            .execute(pool)
            .await
            .op("insert_mcp_token")?;
        });
        Ok(())
    }

    /// A token of `kind` by hash (used or not, expired or not: the caller decides).
    pub async fn find_mcp_token(
        &self,
        token_hash: &str,
        kind: &str,
    ) -> Result<Option<McpTokenRecord>, StoreError> {
        let row: Option<TokenRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, grant_id, data, expires_at, used_at FROM mcp_tokens \
                 WHERE token_hash = $1 AND kind = $2",
            )
            .bind(token_hash)
            .bind(kind)
            .fetch_optional(pool)
            .await
            .op("find_mcp_token")?
        });
        Ok(row.map(Into::into))
    }

    /// Marks a single-use token used, atomically: `Some` for the one caller that won, `None`
    /// when it is unknown or was already used.
    pub async fn consume_mcp_token(
        &self,
        token_hash: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<McpTokenRecord>, StoreError> {
        let row: Option<TokenRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE mcp_tokens SET used_at = $3 \
                 WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL \
                 RETURNING kind, grant_id, data, expires_at, used_at",
            )
            .bind(token_hash)
            .bind(kind)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await
            .op("consume_mcp_token")?
        });
        Ok(row.map(Into::into))
    }

    /// Deletes one token (revocation of a single access token). Returns its grant, if any.
    pub async fn delete_mcp_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM mcp_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await
                .op("delete_mcp_token")?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Removes tokens that expired before `now` (used refresh tokens stay until they expire, so
    /// a reuse is still recognised while the token could have been valid).
    pub async fn purge_expired_mcp_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM mcp_tokens WHERE expires_at <= $1")
                .bind(DbTime::from(now))
                .execute(pool)
                .await
                .op("purge_expired_mcp_tokens")?
                .rows_affected()
        }))
    }

    /// Stores a new grant.
    pub async fn insert_mcp_grant(&self, g: &McpGrantRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO mcp_grants (id, org_id, connection_id, api_key_id, \
                 atlassian_account_id, client_id, client_name, scope, resource, created_at, \
                 revoked_at) VALUES ($1, $2, $3, $4, $10, $5, $6, $7, $8, $9, NULL)",
            )
            .bind(&g.id)
            .bind(g.org_id.as_str())
            .bind(g.connection_id.as_str())
            .bind(match &g.principal {
                GrantPrincipal::ApiKey { api_key_id } => Some(api_key_id.as_str().to_owned()),
                GrantPrincipal::AtlassianUser { .. } => None,
            })
            .bind(&g.client_id)
            .bind(&g.client_name)
            .bind(&g.scope)
            .bind(&g.resource)
            .bind(DbTime::from(g.created_at))
            .bind(match &g.principal {
                GrantPrincipal::AtlassianUser { account_id } => Some(account_id.clone()),
                GrantPrincipal::ApiKey { .. } => None,
            })
            .execute(pool)
            .await
            .op("insert_mcp_grant")?;
        });
        Ok(())
    }

    /// A grant by id, in any organization (the id comes from a verified token's row).
    pub async fn find_mcp_grant(&self, id: &str) -> Result<Option<McpGrantRecord>, StoreError> {
        let row: Option<GrantRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", grant_columns!(), " FROM mcp_grants WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .op("find_mcp_grant")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// The grants of an organization, optionally of one connection, newest first.
    pub async fn list_mcp_grants(
        &self,
        org: &OrgId,
        connection: Option<&ConnectionId>,
    ) -> Result<Vec<McpGrantRecord>, StoreError> {
        let rows: Vec<GrantRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                grant_columns!(),
                " FROM mcp_grants WHERE org_id = $1 \
                 AND (CAST($2 AS TEXT) IS NULL OR connection_id = CAST($2 AS TEXT)) \
                 ORDER BY created_at DESC, id DESC"
            ))
                .bind(org.as_str())
                .bind(connection.map(ConnectionId::as_str))
                .fetch_all(pool)
                .await
                .op("list_mcp_grants")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Revokes a grant of `org` and deletes every token it issued. Returns whether the grant
    /// exists in `org` (revoking twice is not an error).
    pub async fn revoke_mcp_grant(
        &self,
        org: &OrgId,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let found = with_pool!(self, pool => {
            let n = sqlx::query(
                "UPDATE mcp_grants SET revoked_at = COALESCE(revoked_at, $3) \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.as_str())
            .bind(id)
            .bind(DbTime::from(now))
            .execute(pool)
            .await
            .op("revoke_mcp_grant")?
            .rows_affected();
            if n > 0 {
                sqlx::query("DELETE FROM mcp_tokens WHERE grant_id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .op("revoke_mcp_grant")?;
            }
            n > 0
        });
        Ok(found)
    }
}

/// How an organization identifies the person behind an MCP authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpSettingsRecord {
    /// `console` or `atlassian` (the engine's enum; stored as text).
    pub sign_in: String,
    /// The OAuth client Atlassian sign-in goes through (`None`: the organization's only one).
    pub oauth_client_id: Option<crate::ids::OAuthClientRecordId>,
    /// The site sign-in connects to when a person's grant covers several.
    pub subdomain: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    sign_in: String,
    oauth_client_id: Option<String>,
    subdomain: Option<String>,
    updated_at: DbTime,
}

impl Store {
    /// The organization's MCP settings, if it ever set any.
    pub async fn get_mcp_settings(
        &self,
        org: &OrgId,
    ) -> Result<Option<McpSettingsRecord>, StoreError> {
        let row: Option<SettingsRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT sign_in, oauth_client_id, subdomain, updated_at FROM mcp_settings \
                 WHERE org_id = $1",
            )
            .bind(org.as_str())
            .fetch_optional(pool)
            .await
            .op("get_mcp_settings")?
        });
        Ok(row.map(|r| McpSettingsRecord {
            sign_in: r.sign_in,
            oauth_client_id: r
                .oauth_client_id
                .map(crate::ids::OAuthClientRecordId::from_db),
            subdomain: r.subdomain,
            updated_at: r.updated_at.into(),
        }))
    }

    /// Stores (replaces) the organization's MCP settings.
    pub async fn put_mcp_settings(
        &self,
        org: &OrgId,
        s: &McpSettingsRecord,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO mcp_settings (org_id, sign_in, oauth_client_id, subdomain, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO UPDATE SET \
                 sign_in = excluded.sign_in, oauth_client_id = excluded.oauth_client_id, \
                 subdomain = excluded.subdomain, updated_at = excluded.updated_at",
            )
            .bind(org.as_str())
            .bind(&s.sign_in)
            .bind(s.oauth_client_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(&s.subdomain)
            .bind(DbTime::from(s.updated_at))
            .execute(pool)
            .await
            .op("put_mcp_settings")?;
        });
        Ok(())
    }

    /// Whether any organization identifies MCP users by Atlassian sign-in (the authorization
    /// endpoint then asks which organization before choosing the way to sign in).
    pub async fn any_mcp_atlassian_sign_in(&self) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM mcp_settings WHERE sign_in = 'atlassian'")
                .fetch_one(pool)
                .await
                .op("any_mcp_atlassian_sign_in")?
        });
        Ok(n > 0)
    }
}
