//! Web console sessions. The cookie's token is stored only as a hash; a session belongs to the
//! API key that signed in and ends with it (revoking or deleting the key ends the session).

use time::OffsetDateTime;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_unique_violation};
use crate::ids::{ApiKeyId, OrgId};
use crate::model::ApiKeyRecord;
use crate::orgs::ApiKeyRow;
use crate::time_col::{self, DbTime};

impl Store {
    /// Stores a session for `key`, identified by the hash of its cookie token.
    pub async fn create_console_session(
        &self,
        org: &OrgId,
        key: &ApiKeyId,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO console_sessions (token_hash, org_id, api_key_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(org.as_str())
            .bind(key.as_str())
            .bind(DbTime::now())
            .bind(DbTime::from(time_col::truncate(expires_at)))
            .execute(pool)
            .await
            .map(|_| ())
        });
        match res {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "console session",
                key: "token hash".into(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_console_session",
                source: e,
            }),
        }
    }

    /// The API key behind an unexpired session (revoked keys are returned with `revoked_at`
    /// set, so the caller can refuse them), or `None`.
    pub async fn find_console_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT k.id, k.org_id, k.name, k.prefix, k.scopes, k.platform, k.created_at, \
                        k.revoked_at, k.last_used_at \
                 FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id AND k.org_id = s.org_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(token_hash)
            .bind(DbTime::from(now))
            .fetch_optional(pool)
            .await
            .op("find_console_session")?
        });
        Ok(row.map(Into::into))
    }

    /// Ends a session (sign-out). Returns whether one existed.
    pub async fn delete_console_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await
                .op("delete_console_session")?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Ends every session of a key (when the key is revoked).
    pub async fn delete_console_sessions_of_key(
        &self,
        org: &OrgId,
        key: &ApiKeyId,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE org_id = $1 AND api_key_id = $2")
                .bind(org.as_str())
                .bind(key.as_str())
                .execute(pool)
                .await
                .op("delete_console_sessions_of_key")?
                .rows_affected()
        }))
    }

    /// Removes sessions that expired before `now`.
    pub async fn purge_expired_console_sessions(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(DbTime::from(now))
                .execute(pool)
                .await
                .op("purge_expired_console_sessions")?
                .rows_affected()
        }))
    }
}
