//! Organizations, workspaces and API keys.

use sqlx::types::Json;
use time::OffsetDateTime;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_unique_violation};
use crate::ids::{ApiKeyId, OrgId, WorkspaceId};
use crate::model::{ApiKeyRecord, NewApiKey, Organization, Workspace};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    name: String,
    created_at: DbTime,
}

impl From<OrgRow> for Organization {
    fn from(r: OrgRow) -> Self {
        Organization {
            id: OrgId::from_db(r.id),
            name: r.name,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: String,
    org_id: String,
    name: String,
}

impl From<WorkspaceRow> for Workspace {
    fn from(r: WorkspaceRow) -> Self {
        Workspace {
            id: WorkspaceId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            name: r.name,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    org_id: String,
    name: String,
    prefix: String,
    scopes: Json<Vec<String>>,
    platform: bool,
    created_at: DbTime,
    revoked_at: Option<DbTime>,
    last_used_at: Option<DbTime>,
}

impl From<ApiKeyRow> for ApiKeyRecord {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyRecord {
            id: ApiKeyId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes.0,
            platform: r.platform,
            created_at: r.created_at.into(),
            revoked_at: time_col::unopt(r.revoked_at),
            last_used_at: time_col::unopt(r.last_used_at),
        }
    }
}

/// `SELECT <api key columns> FROM api_keys <tail>` as a `&'static str`.
macro_rules! select_api_key {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, name, prefix, scopes, platform, created_at, revoked_at, last_used_at \
             FROM api_keys ",
            $tail
        )
    };
}

impl Store {
    /// Creates an organization; names are unique.
    pub async fn create_organization(&self, name: &str) -> Result<Organization, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                field: "name",
                message: "organization name must not be empty".into(),
            });
        }
        let org = Organization {
            id: OrgId::new(),
            name: name.to_owned(),
            created_at: time_col::now(),
        };
        let res = with_pool!(self, pool => {
            sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(org.id.as_str())
                .bind(&org.name)
                .bind(DbTime::from(org.created_at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(org),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "organization",
                key: name.to_owned(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_organization",
                source: e,
            }),
        }
    }

    pub async fn get_organization(&self, id: &OrgId) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrgRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_organization")?
        });
        Ok(row.map(Into::into))
    }

    pub async fn get_organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrgRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .op("get_organization_by_name")?
        });
        Ok(row.map(Into::into))
    }

    /// All organizations, oldest first (bootstrap, platform keys, background jobs).
    pub async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let rows: Vec<OrgRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, created_at FROM organizations ORDER BY created_at, id")
                .fetch_all(pool)
                .await
                .op("list_organizations")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Returns the workspace `name` of `org`, creating it if needed (idempotent, race-safe).
    pub async fn ensure_workspace(&self, org: &OrgId, name: &str) -> Result<Workspace, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::InvalidInput {
                field: "workspace",
                message: "workspace name must not be empty".into(),
            });
        }
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO workspaces (id, org_id, name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, name) DO NOTHING",
            )
            .bind(WorkspaceId::new().as_str())
            .bind(org.as_str())
            .bind(name)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => {}
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(StoreError::NotFound {
                    what: "organization",
                    id: org.to_string(),
                });
            }
            Err(e) => {
                return Err(StoreError::Database {
                    op: "ensure_workspace",
                    source: e,
                });
            }
        }
        let row: WorkspaceRow = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, org_id, name FROM workspaces WHERE org_id = $1 AND name = $2")
                .bind(org.as_str())
                .bind(name)
                .fetch_one(pool)
                .await
                .op("ensure_workspace")?
        });
        Ok(row.into())
    }

    pub async fn list_workspaces(&self, org: &OrgId) -> Result<Vec<Workspace>, StoreError> {
        let rows: Vec<WorkspaceRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, org_id, name FROM workspaces WHERE org_id = $1 ORDER BY name")
                .bind(org.as_str())
                .fetch_all(pool)
                .await
                .op("list_workspaces")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Stores an API key's hash and metadata. Hashes are unique across all organizations.
    pub async fn create_api_key(
        &self,
        org: &OrgId,
        key: NewApiKey,
    ) -> Result<ApiKeyRecord, StoreError> {
        let rec = ApiKeyRecord {
            id: ApiKeyId::new(),
            org_id: org.clone(),
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            platform: key.platform,
            created_at: time_col::now(),
            revoked_at: None,
            last_used_at: None,
        };
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, org_id, name, prefix, key_hash, scopes, platform, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(rec.id.as_str())
            .bind(org.as_str())
            .bind(&rec.name)
            .bind(&rec.prefix)
            .bind(&key.key_hash)
            .bind(Json(&rec.scopes))
            .bind(rec.platform)
            .bind(DbTime::from(rec.created_at))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(rec),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "API key",
                key: rec.prefix,
            }),
            Err(e) if crate::error::is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_api_key",
                source: e,
            }),
        }
    }

    /// Global lookup by key hash (authentication happens before the organization is known).
    /// Revoked keys are returned too, with `revoked_at` set, so the caller can say why.
    pub async fn find_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(select_api_key!("WHERE key_hash = $1"))
                .bind(key_hash)
                .fetch_optional(pool)
                .await
                .op("find_api_key_by_hash")?
        });
        Ok(row.map(Into::into))
    }

    pub async fn list_api_keys(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(select_api_key!("WHERE org_id = $1 ORDER BY created_at, id"))
                .bind(org.as_str())
                .fetch_all(pool)
                .await
                .op("list_api_keys")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn get_api_key(
        &self,
        org: &OrgId,
        id: &ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(select_api_key!("WHERE org_id = $1 AND id = $2"))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_api_key")?
        });
        Ok(row.map(Into::into))
    }

    /// Marks a key revoked (idempotent: an already revoked key keeps its first revocation time).
    pub async fn revoke_api_key(
        &self,
        org: &OrgId,
        id: &ApiKeyId,
    ) -> Result<ApiKeyRecord, StoreError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE org_id = $1 AND id = $2 \
                 RETURNING id, org_id, name, prefix, scopes, platform, created_at, revoked_at, last_used_at",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(DbTime::now())
            .fetch_optional(pool)
            .await
            .op("revoke_api_key")?
        });
        row.map(Into::into).ok_or_else(|| StoreError::NotFound {
            what: "API key",
            id: id.to_string(),
        })
    }

    /// Revokes a key unless it is the last active platform key: `Ok(None)` means refused, so an
    /// installation can never lose organization management. The check and the update run in
    /// one write transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the active platform keys
    /// are locked first), so two concurrent revocations cannot both pass.
    pub async fn revoke_api_key_keeping_platform(
        &self,
        org: &OrgId,
        id: &ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        use crate::db::BeginWrite;
        let lock = matches!(&*self.pool, crate::db::Pool::Postgres(_))
            .then_some("SELECT id FROM api_keys WHERE platform AND revoked_at IS NULL FOR UPDATE");
        let op = "revoke_api_key";
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op(op)?;
            if let Some(sql) = lock {
                sqlx::query(sql).execute(&mut *tx).await.op(op)?;
            }
            let target: Option<ApiKeyRow> =
                sqlx::query_as(select_api_key!("WHERE org_id = $1 AND id = $2"))
                    .bind(org.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .op(op)?;
            let Some(target) = target else {
                return Err(StoreError::NotFound {
                    what: "API key",
                    id: id.to_string(),
                });
            };
            if target.platform && target.revoked_at.is_none() {
                let others: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM api_keys WHERE platform AND revoked_at IS NULL AND id <> $1",
                )
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .op(op)?;
                if others == 0 {
                    return Ok(None);
                }
            }
            let row: Option<ApiKeyRow> = sqlx::query_as(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE org_id = $1 AND id = $2 \
                 RETURNING id, org_id, name, prefix, scopes, platform, created_at, revoked_at, last_used_at",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(DbTime::now())
            .fetch_optional(&mut *tx)
            .await
            .op(op)?;
            tx.commit().await.op(op)?;
            row
        });
        Ok(row.map(Into::into))
    }

    /// Records that a key was just used.
    pub async fn touch_api_key(&self, org: &OrgId, id: &ApiKeyId) -> Result<(), StoreError> {
        self.touch_api_key_at(org, id, OffsetDateTime::now_utc())
            .await
    }

    pub async fn touch_api_key_at(
        &self,
        org: &OrgId,
        id: &ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .bind(DbTime::from(at))
                .execute(pool)
                .await
                .op("touch_api_key")?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "API key",
                id: id.to_string(),
            });
        }
        Ok(())
    }
}
