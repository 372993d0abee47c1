//! OAuth connect sessions. The OAuth `state` is stored only as a hash; consuming it is an
//! atomic, single-use transition.

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_foreign_key_violation, is_unique_violation};
use crate::ids::{ConnectSessionId, ConnectionId, OAuthClientRecordId, OrgId};
use crate::model::{
    ConnectSession, ConnectSessionPatch, NewConnectSession, SessionStatus, parse_enum,
};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    org_id: String,
    oauth_client_id: String,
    workspace: String,
    name: String,
    owner: String,
    scopes: Json<Vec<String>>,
    subdomain: Option<String>,
    api_type: String,
    state_hash: String,
    sealed_pkce_verifier: String,
    status: String,
    sites_json: Option<Json<serde_json::Value>>,
    sealed_pending_tokens: Option<String>,
    connection_id: Option<String>,
    error: Option<String>,
    expires_at: DbTime,
    created_at: DbTime,
    consumed_at: Option<DbTime>,
    reconnect_connection_id: Option<String>,
    purpose: String,
}

impl TryFrom<SessionRow> for ConnectSession {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(ConnectSession {
            id: ConnectSessionId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            oauth_client_id: OAuthClientRecordId::from_db(r.oauth_client_id),
            workspace: r.workspace,
            name: r.name,
            owner: parse_enum("session owner", &r.owner)?,
            scopes: r.scopes.0,
            subdomain: r.subdomain,
            api_type: parse_enum("session api_type", &r.api_type)?,
            state_hash: r.state_hash,
            sealed_pkce_verifier: r.sealed_pkce_verifier,
            status: parse_enum("session status", &r.status)?,
            sites_json: r.sites_json.map(|j| j.0),
            sealed_pending_tokens: r.sealed_pending_tokens,
            connection_id: r.connection_id.map(ConnectionId::from_db),
            error: r.error,
            expires_at: r.expires_at.into(),
            created_at: r.created_at.into(),
            consumed_at: time_col::unopt(r.consumed_at),
            reconnect_connection_id: r.reconnect_connection_id.map(ConnectionId::from_db),
            purpose: parse_enum("session purpose", &r.purpose)?,
        })
    }
}

macro_rules! session_cols {
    () => {
        "id, org_id, oauth_client_id, workspace, name, owner, scopes, subdomain, api_type, \
         state_hash, sealed_pkce_verifier, status, sites_json, sealed_pending_tokens, \
         connection_id, error, expires_at, created_at, consumed_at, reconnect_connection_id, purpose"
    };
}

fn session_not_found(id: &ConnectSessionId) -> StoreError {
    StoreError::NotFound {
        what: "connect session",
        id: id.to_string(),
    }
}

impl Store {
    /// Stores a new session in `Pending`.
    pub async fn create_connect_session(
        &self,
        org: &OrgId,
        new: NewConnectSession,
    ) -> Result<ConnectSession, StoreError> {
        let session = ConnectSession {
            id: new.id,
            org_id: org.clone(),
            oauth_client_id: new.oauth_client_id,
            workspace: new.workspace,
            name: new.name,
            owner: new.owner,
            scopes: new.scopes,
            subdomain: new.subdomain,
            api_type: new.api_type,
            state_hash: new.state_hash,
            sealed_pkce_verifier: new.sealed_pkce_verifier,
            status: SessionStatus::Pending,
            sites_json: None,
            sealed_pending_tokens: None,
            connection_id: None,
            error: None,
            expires_at: time_col::truncate(new.expires_at),
            created_at: time_col::now(),
            consumed_at: None,
            reconnect_connection_id: new.reconnect_connection_id,
            purpose: new.purpose,
        };
        // The client must belong to the same organization: checked in the INSERT itself.
        let res = with_pool!(self, pool => {
            sqlx::query(concat!(
                "INSERT INTO connect_sessions (", session_cols!(), ") \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, NULL, NULL, $13, $14, NULL, $15, $16 \
                 WHERE EXISTS (SELECT 1 FROM oauth_clients WHERE org_id = $2 AND id = $3)"
            ))
            .bind(session.id.as_str())
            .bind(org.as_str())
            .bind(session.oauth_client_id.as_str())
            .bind(&session.workspace)
            .bind(&session.name)
            .bind(session.owner.to_string())
            .bind(Json(&session.scopes))
            .bind(&session.subdomain)
            .bind(session.api_type.as_str())
            .bind(&session.state_hash)
            .bind(&session.sealed_pkce_verifier)
            .bind(session.status.as_str())
            .bind(DbTime::from(session.expires_at))
            .bind(DbTime::from(session.created_at))
            .bind(session.reconnect_connection_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(session.purpose.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(1) => Ok(session),
            Ok(_) => Err(StoreError::NotFound {
                what: "OAuth client",
                id: session.oauth_client_id.to_string(),
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "connect session (id or state)",
                key: session.id.to_string(),
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_connect_session",
                source: e,
            }),
        }
    }

    pub async fn get_connect_session(
        &self,
        org: &OrgId,
        id: &ConnectSessionId,
    ) -> Result<Option<ConnectSession>, StoreError> {
        let row: Option<SessionRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", session_cols!(), " FROM connect_sessions WHERE org_id = $1 AND id = $2"
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .op("get_connect_session")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Global, read-only lookup by state hash, to explain a failed consumption (unknown,
    /// expired or replayed). Never use it to authorize a callback.
    pub async fn find_session_by_state_hash(
        &self,
        state_hash: &str,
    ) -> Result<Option<ConnectSession>, StoreError> {
        let row: Option<SessionRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", session_cols!(), " FROM connect_sessions WHERE state_hash = $1"
            ))
            .bind(state_hash)
            .fetch_optional(pool)
            .await
            .op("find_session_by_state_hash")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Atomically consumes a callback `state`: succeeds for exactly one caller, and only
    /// while the session is `Pending`, unexpired and unconsumed. Global by nature (the
    /// callback does not know the organization).
    pub async fn consume_session_state(
        &self,
        state_hash: &str,
    ) -> Result<Option<ConnectSession>, StoreError> {
        self.consume_session_state_at(state_hash, OffsetDateTime::now_utc())
            .await
    }

    /// [`Store::consume_session_state`] with an explicit current time.
    pub async fn consume_session_state_at(
        &self,
        state_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ConnectSession>, StoreError> {
        let row: Option<SessionRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE connect_sessions SET consumed_at = $2 \
                 WHERE state_hash = $1 AND status = 'pending' AND consumed_at IS NULL AND expires_at > $2 \
                 RETURNING ", session_cols!()
            ))
            .bind(state_hash)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await
            .op("consume_session_state")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Applies `patch` to a session of `org`.
    pub async fn update_connect_session(
        &self,
        org: &OrgId,
        id: &ConnectSessionId,
        patch: ConnectSessionPatch,
    ) -> Result<ConnectSession, StoreError> {
        // A session may only point at a connection of its own organization.
        if let Some(Some(conn)) = &patch.connection_id
            && self.get_connection(org, conn).await?.is_none()
        {
            return Err(StoreError::NotFound {
                what: "connection",
                id: conn.to_string(),
            });
        }
        let res: Result<Option<SessionRow>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE connect_sessions SET \
                 status = COALESCE($3, status), \
                 sites_json = CASE WHEN $4 THEN $5 ELSE sites_json END, \
                 sealed_pending_tokens = CASE WHEN $6 THEN $7 ELSE sealed_pending_tokens END, \
                 connection_id = CASE WHEN $8 THEN $9 ELSE connection_id END, \
                 error = CASE WHEN $10 THEN $11 ELSE error END \
                 WHERE org_id = $1 AND id = $2 RETURNING ", session_cols!()
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(patch.status.map(|s| s.as_str()))
            .bind(patch.sites_json.is_some())
            .bind(patch.sites_json.clone().flatten().map(Json))
            .bind(patch.sealed_pending_tokens.is_some())
            .bind(patch.sealed_pending_tokens.clone().flatten())
            .bind(patch.connection_id.is_some())
            .bind(patch.connection_id.clone().flatten().map(String::from))
            .bind(patch.error.is_some())
            .bind(patch.error.clone().flatten())
            .fetch_optional(pool)
            .await
        });
        match res {
            Ok(Some(row)) => row.try_into(),
            Ok(None) => Err(session_not_found(id)),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "connection",
                id: patch
                    .connection_id
                    .flatten()
                    .map(String::from)
                    .unwrap_or_default(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "update_connect_session",
                source: e,
            }),
        }
    }

    /// Housekeeping (all organizations): deletes sessions that expired before `before`,
    /// with their sealed verifier and pending tokens. Returns how many were deleted.
    pub async fn delete_expired_connect_sessions(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
                .bind(DbTime::from(before))
                .execute(pool)
                .await
                .op("delete_expired_connect_sessions")?
                .rows_affected()
        });
        Ok(n)
    }
}
