//! Connections and their sealed credentials.

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::db::{BeginWrite, Store, with_pool};
use crate::error::{OpContext, StoreError, is_foreign_key_violation, is_unique_violation};
use crate::ids::{ConnectionId, OAuthClientRecordId, OrgId};
use crate::model::{
    Connection, ConnectionPatch, ConnectionStatus, Credential, NewConnection, NewCredential,
    OrgCredential, RefreshDue, RefreshedCredential, parse_enum,
};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    org_id: String,
    workspace: String,
    name: String,
    api_type: String,
    auth_kind: String,
    site_url: String,
    subdomain: Option<String>,
    cloud_id: Option<String>,
    account_id: Option<String>,
    account_name: Option<String>,
    email: Option<String>,
    oauth_client_id: Option<String>,
    scopes: Json<Vec<String>>,
    owner: String,
    status: String,
    status_reason: Option<String>,
    last_checked_at: Option<DbTime>,
    version: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        Ok(Connection {
            id: ConnectionId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            workspace: r.workspace,
            name: r.name,
            api_type: parse_enum("connection api_type", &r.api_type)?,
            auth_kind: parse_enum("connection auth_kind", &r.auth_kind)?,
            site_url: r.site_url,
            subdomain: r.subdomain,
            cloud_id: r.cloud_id,
            account_id: r.account_id,
            account_name: r.account_name,
            email: r.email,
            oauth_client_id: r.oauth_client_id.map(OAuthClientRecordId::from_db),
            scopes: r.scopes.0,
            owner: parse_enum("connection owner", &r.owner)?,
            status: parse_enum("connection status", &r.status)?,
            status_reason: r.status_reason,
            last_checked_at: time_col::unopt(r.last_checked_at),
            version: r.version,
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    connection_id: String,
    generation: i64,
    sealed_api_token: Option<String>,
    sealed_access_token: Option<String>,
    sealed_refresh_token: Option<String>,
    access_expires_at: Option<DbTime>,
    refresh_issued_at: Option<DbTime>,
    updated_at: DbTime,
}

impl From<CredentialRow> for Credential {
    fn from(r: CredentialRow) -> Self {
        Credential {
            connection_id: ConnectionId::from_db(r.connection_id),
            generation: r.generation,
            sealed_api_token: r.sealed_api_token,
            sealed_access_token: r.sealed_access_token,
            sealed_refresh_token: r.sealed_refresh_token,
            access_expires_at: time_col::unopt(r.access_expires_at),
            refresh_issued_at: time_col::unopt(r.refresh_issued_at),
            updated_at: r.updated_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct OrgCredentialRow {
    org_id: String,
    #[sqlx(flatten)]
    credential: CredentialRow,
}

macro_rules! connection_cols {
    () => {
        "id, org_id, workspace, name, api_type, auth_kind, site_url, subdomain, cloud_id, \
         account_id, account_name, email, oauth_client_id, scopes, owner, status, status_reason, \
         last_checked_at, version, created_at, updated_at"
    };
}

macro_rules! select_connection {
    ($tail:literal) => {
        concat!("SELECT ", connection_cols!(), " FROM connections ", $tail)
    };
}

macro_rules! credential_cols {
    () => {
        "connection_id, generation, sealed_api_token, sealed_access_token, sealed_refresh_token, \
         access_expires_at, refresh_issued_at, updated_at"
    };
}

fn not_found(id: &ConnectionId) -> StoreError {
    StoreError::NotFound {
        what: "connection",
        id: id.to_string(),
    }
}

impl Store {
    /// Creates a connection, its workspace (if new) and its initial credential in one
    /// transaction. The credential starts at generation 1.
    pub async fn create_connection(
        &self,
        org: &OrgId,
        new: NewConnection,
        credential: NewCredential,
    ) -> Result<Connection, StoreError> {
        let now = time_col::now();
        let conn = Connection {
            id: new.id,
            org_id: org.clone(),
            workspace: new.workspace,
            name: new.name,
            api_type: new.api_type,
            auth_kind: new.auth_kind,
            site_url: new.site_url,
            subdomain: new.subdomain,
            cloud_id: new.cloud_id,
            account_id: new.account_id,
            account_name: new.account_name,
            email: new.email,
            oauth_client_id: new.oauth_client_id,
            scopes: new.scopes,
            owner: new.owner,
            status: new.status,
            status_reason: new.status_reason,
            last_checked_at: new.last_checked_at.map(time_col::truncate),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        if conn.workspace.trim().is_empty() || conn.name.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                field: "workspace/name",
                message: "workspace and connection name must not be empty".into(),
            });
        }
        let res: Result<(), sqlx::Error> = with_pool!(self, pool => {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(
                    "INSERT INTO workspaces (id, org_id, name, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, name) DO NOTHING",
                )
                .bind(crate::ids::WorkspaceId::new().as_str())
                .bind(org.as_str())
                .bind(&conn.workspace)
                .bind(DbTime::from(now))
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO connections (", connection_cols!(), ") VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                ))
                .bind(conn.id.as_str())
                .bind(org.as_str())
                .bind(&conn.workspace)
                .bind(&conn.name)
                .bind(conn.api_type.as_str())
                .bind(conn.auth_kind.as_str())
                .bind(&conn.site_url)
                .bind(&conn.subdomain)
                .bind(&conn.cloud_id)
                .bind(&conn.account_id)
                .bind(&conn.account_name)
                .bind(&conn.email)
                .bind(conn.oauth_client_id.as_ref().map(|c| c.as_str()))
                .bind(Json(&conn.scopes))
                .bind(conn.owner.to_string())
                .bind(conn.status.as_str())
                .bind(&conn.status_reason)
                .bind(time_col::opt(conn.last_checked_at))
                .bind(conn.version)
                .bind(DbTime::from(now))
                .bind(DbTime::from(now))
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO credentials (org_id, ", credential_cols!(), ") VALUES \
                     ($1, $2, 1, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(org.as_str())
                .bind(conn.id.as_str())
                .bind(&credential.sealed_api_token)
                .bind(&credential.sealed_access_token)
                .bind(&credential.sealed_refresh_token)
                .bind(time_col::opt(credential.access_expires_at))
                .bind(time_col::opt(credential.refresh_issued_at))
                .bind(DbTime::from(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        });
        match res {
            Ok(()) => Ok(conn),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "connection",
                key: format!("{}/{}", conn.workspace, conn.name),
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization or OAuth client",
                id: format!(
                    "{org} / {}",
                    conn.oauth_client_id.as_ref().map_or("-", |c| c.as_str())
                ),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_connection",
                source: e,
            }),
        }
    }

    pub async fn get_connection(
        &self,
        org: &OrgId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        let row: Option<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(select_connection!("WHERE org_id = $1 AND id = $2"))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_connection")?
        });
        row.map(TryInto::try_into).transpose()
    }

    pub async fn find_connection(
        &self,
        org: &OrgId,
        workspace: &str,
        name: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let row: Option<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(select_connection!("WHERE org_id = $1 AND workspace = $2 AND name = $3"))
                .bind(org.as_str())
                .bind(workspace)
                .bind(name)
                .fetch_optional(pool)
                .await
                .op("find_connection")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Connections of `org`, optionally only those of one workspace, ordered by workspace
    /// and name.
    pub async fn list_connections(
        &self,
        org: &OrgId,
        workspace: Option<&str>,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows: Vec<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(select_connection!(
                "WHERE org_id = $1 AND ($2 IS NULL OR workspace = $2) ORDER BY workspace, name, id"
            ))
            .bind(org.as_str())
            .bind(workspace)
            .fetch_all(pool)
            .await
            .op("list_connections")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Applies `patch` if the stored version is still `expected_version`; bumps the version.
    /// Only patched columns are written, so concurrent status updates are not overwritten.
    pub async fn update_connection(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        expected_version: i64,
        patch: ConnectionPatch,
    ) -> Result<Connection, StoreError> {
        if let Some(ws) = &patch.workspace {
            self.ensure_workspace(org, ws).await?;
        }
        let res: Result<Option<ConnectionRow>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE connections SET \
                 workspace = COALESCE($4, workspace), \
                 name = COALESCE($5, name), \
                 api_type = COALESCE($6, api_type), \
                 auth_kind = COALESCE($7, auth_kind), \
                 site_url = COALESCE($8, site_url), \
                 subdomain = CASE WHEN $9 THEN $10 ELSE subdomain END, \
                 cloud_id = CASE WHEN $11 THEN $12 ELSE cloud_id END, \
                 account_id = CASE WHEN $13 THEN $14 ELSE account_id END, \
                 account_name = CASE WHEN $15 THEN $16 ELSE account_name END, \
                 email = CASE WHEN $17 THEN $18 ELSE email END, \
                 oauth_client_id = CASE WHEN $19 THEN $20 ELSE oauth_client_id END, \
                 scopes = COALESCE($21, scopes), \
                 owner = COALESCE($22, owner), \
                 status = COALESCE($23, status), \
                 status_reason = CASE WHEN $24 THEN $25 ELSE status_reason END, \
                 version = version + 1, \
                 updated_at = $26 \
                 WHERE org_id = $1 AND id = $2 AND version = $3 \
                 RETURNING ", connection_cols!()
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(expected_version)
            .bind(&patch.workspace)
            .bind(&patch.name)
            .bind(patch.api_type.map(|v| v.as_str()))
            .bind(patch.auth_kind.map(|v| v.as_str()))
            .bind(&patch.site_url)
            .bind(patch.subdomain.is_some())
            .bind(patch.subdomain.clone().flatten())
            .bind(patch.cloud_id.is_some())
            .bind(patch.cloud_id.clone().flatten())
            .bind(patch.account_id.is_some())
            .bind(patch.account_id.clone().flatten())
            .bind(patch.account_name.is_some())
            .bind(patch.account_name.clone().flatten())
            .bind(patch.email.is_some())
            .bind(patch.email.clone().flatten())
            .bind(patch.oauth_client_id.is_some())
            .bind(patch.oauth_client_id.clone().flatten().map(String::from))
            .bind(patch.scopes.as_ref().map(Json))
            .bind(patch.owner.as_ref().map(|o| o.to_string()))
            .bind(patch.status.map(|v| v.as_str()))
            .bind(patch.status_reason.is_some())
            .bind(patch.status_reason.clone().flatten())
            .bind(DbTime::now())
            .fetch_optional(pool)
            .await
        });
        match res {
            Ok(Some(row)) => row.try_into(),
            Ok(None) => {
                let actual: Option<i64> = with_pool!(self, pool => {
                    sqlx::query_scalar("SELECT version FROM connections WHERE org_id = $1 AND id = $2")
                        .bind(org.as_str())
                        .bind(id.as_str())
                        .fetch_optional(pool)
                        .await
                        .op("update_connection")?
                });
                match actual {
                    None => Err(not_found(id)),
                    Some(actual) => Err(StoreError::Conflict {
                        what: "connection",
                        id: id.to_string(),
                        field: "version",
                        expected: expected_version,
                        actual,
                    }),
                }
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "connection",
                key: format!(
                    "{}/{}",
                    patch.workspace.as_deref().unwrap_or("(same workspace)"),
                    patch.name.as_deref().unwrap_or("(same name)")
                ),
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "OAuth client",
                id: patch
                    .oauth_client_id
                    .flatten()
                    .map(String::from)
                    .unwrap_or_default(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "update_connection",
                source: e,
            }),
        }
    }

    /// Records a health outcome. Does not bump the version: background checks must not
    /// make a user's concurrent edit fail.
    pub async fn set_connection_status(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        status: ConnectionStatus,
        reason: Option<&str>,
        checked_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET status = $3, status_reason = $4, last_checked_at = $5, updated_at = $6 \
                 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(reason)
            .bind(DbTime::from(checked_at))
            .bind(DbTime::now())
            .execute(pool)
            .await
            .op("set_connection_status")?
            .rows_affected()
        });
        if n == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Deletes a connection together with its credential rows (and health history). The
    /// sealed secrets are deleted, not flagged; on SQLite `secure_delete` also overwrites
    /// the freed pages.
    pub async fn delete_connection(
        &self,
        org: &OrgId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        let deleted = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op("delete_connection")?;
            sqlx::query("DELETE FROM credentials WHERE org_id = $1 AND connection_id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .op("delete_connection")?;
            sqlx::query("UPDATE connect_sessions SET sealed_pending_tokens = NULL WHERE org_id = $1 AND connection_id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .op("delete_connection")?;
            let n = sqlx::query("DELETE FROM connections WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .op("delete_connection")?
                .rows_affected();
            tx.commit().await.op("delete_connection")?;
            n
        });
        if deleted > 0
            && let crate::db::Pool::Sqlite(pool) = &*self.pool
        {
            // secure_delete zeroes the freed pages, but the WAL still holds the old page
            // images until a checkpoint; fold them into the database file and truncate the
            // WAL now so the erased ciphertext does not linger on disk.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint after connection delete failed");
            }
        }
        if deleted == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    pub async fn get_credential(
        &self,
        org: &OrgId,
        id: &ConnectionId,
    ) -> Result<Option<Credential>, StoreError> {
        let row: Option<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ", credential_cols!(), " FROM credentials WHERE org_id = $1 AND connection_id = $2"
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .op("get_credential")?
        });
        Ok(row.map(Into::into))
    }

    /// Replaces every sealed field (never merges) and bumps the generation.
    pub async fn replace_credential(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        credential: NewCredential,
    ) -> Result<Credential, StoreError> {
        let row: Option<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE credentials SET generation = generation + 1, sealed_api_token = $3, \
                 sealed_access_token = $4, sealed_refresh_token = $5, access_expires_at = $6, \
                 refresh_issued_at = $7, updated_at = $8 \
                 WHERE org_id = $1 AND connection_id = $2 RETURNING ", credential_cols!()
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(&credential.sealed_api_token)
            .bind(&credential.sealed_access_token)
            .bind(&credential.sealed_refresh_token)
            .bind(time_col::opt(credential.access_expires_at))
            .bind(time_col::opt(credential.refresh_issued_at))
            .bind(DbTime::now())
            .fetch_optional(pool)
            .await
            .op("replace_credential")?
        });
        row.map(Into::into).ok_or_else(|| not_found(id))
    }

    /// Commits the result of a token refresh if nobody else committed one since
    /// `expected_generation` was read; otherwise `Conflict` (re-read the credential: the
    /// other writer's tokens are the current ones).
    pub async fn commit_refreshed_credential(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        expected_generation: i64,
        refreshed: RefreshedCredential,
    ) -> Result<Credential, StoreError> {
        let row: Option<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE credentials SET generation = generation + 1, sealed_access_token = $4, \
                 sealed_refresh_token = COALESCE($5, sealed_refresh_token), access_expires_at = $6, \
                 refresh_issued_at = COALESCE($7, refresh_issued_at), updated_at = $8 \
                 WHERE org_id = $1 AND connection_id = $2 AND generation = $3 RETURNING ", credential_cols!()
            ))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(expected_generation)
            .bind(&refreshed.sealed_access_token)
            .bind(&refreshed.sealed_refresh_token)
            .bind(time_col::opt(refreshed.access_expires_at))
            .bind(time_col::opt(refreshed.refresh_issued_at))
            .bind(DbTime::now())
            .fetch_optional(pool)
            .await
            .op("commit_refreshed_credential")?
        });
        if let Some(row) = row {
            return Ok(row.into());
        }
        match self.get_credential(org, id).await? {
            None => Err(not_found(id)),
            Some(current) => Err(StoreError::Conflict {
                what: "credential",
                id: id.to_string(),
                field: "generation",
                expected: expected_generation,
                actual: current.generation,
            }),
        }
    }

    /// Background refresh: OAuth credentials (any organization) whose access token expires
    /// before `before`, soonest first, skipping connections that need re-consent.
    pub async fn refresh_due(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<RefreshDue>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            org_id: String,
            connection_id: String,
            generation: i64,
            access_expires_at: Option<DbTime>,
        }
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT c.org_id, c.connection_id, c.generation, c.access_expires_at \
                 FROM credentials c JOIN connections k ON k.id = c.connection_id AND k.org_id = c.org_id \
                 WHERE c.sealed_refresh_token IS NOT NULL \
                   AND (c.access_expires_at IS NULL OR c.access_expires_at < $1) \
                   AND k.status IN ('healthy', 'error') \
                 ORDER BY c.access_expires_at, c.connection_id LIMIT $2",
            )
            .bind(DbTime::from(before))
            .bind(limit)
            .fetch_all(pool)
            .await
            .op("refresh_due")?
        });
        Ok(rows
            .into_iter()
            .map(|r| RefreshDue {
                org_id: OrgId::from_db(r.org_id),
                connection_id: ConnectionId::from_db(r.connection_id),
                generation: r.generation,
                access_expires_at: time_col::unopt(r.access_expires_at),
            })
            .collect())
    }

    /// ADMIN (re-encryption): every credential of every organization.
    pub async fn admin_list_all_credentials(&self) -> Result<Vec<OrgCredential>, StoreError> {
        let rows: Vec<OrgCredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT org_id, ", credential_cols!(), " FROM credentials ORDER BY org_id, connection_id"
            ))
            .fetch_all(pool)
            .await
            .op("admin_list_all_credentials")?
        });
        Ok(rows
            .into_iter()
            .map(|r| OrgCredential {
                org_id: OrgId::from_db(r.org_id),
                credential: r.credential.into(),
            })
            .collect())
    }

    /// ADMIN (re-encryption): rewrites the sealed fields of one credential with the same
    /// secrets sealed under a newer data key, if it is still at `expected_generation`.
    /// Does NOT bump the generation (the secrets did not change), so an in-flight refresh
    /// still commits; returns `false` when a refresh got there first (re-read and retry).
    pub async fn admin_reseal_credential(
        &self,
        org: &OrgId,
        id: &ConnectionId,
        expected_generation: i64,
        sealed_api_token: Option<&str>,
        sealed_access_token: Option<&str>,
        sealed_refresh_token: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE credentials SET sealed_api_token = $4, sealed_access_token = $5, sealed_refresh_token = $6 \
                 WHERE org_id = $1 AND connection_id = $2 AND generation = $3",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(expected_generation)
            .bind(sealed_api_token)
            .bind(sealed_access_token)
            .bind(sealed_refresh_token)
            .execute(pool)
            .await
            .op("admin_reseal_credential")?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
