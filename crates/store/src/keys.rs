//! Wrapped data keys, the key-check record, and the admin operations master-key rotation
//! needs (list every wrapped key, replace them all atomically).

use jiragate_vault::WrappedDataKey;

use crate::db::{Backend, BeginWrite, Store, with_pool};
use crate::error::{OpContext, StoreError, is_unique_violation};
use crate::ids::OrgId;
use crate::model::{DataKeyRecord, KeyCheckRecord};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct DataKeyRow {
    org_id: String,
    version: i64,
    master_key_id: String,
    wrapped: Vec<u8>,
    prev_master_key_id: Option<String>,
    prev_wrapped: Option<Vec<u8>>,
    created_at: DbTime,
}

impl TryFrom<DataKeyRow> for DataKeyRecord {
    type Error = StoreError;
    fn try_from(r: DataKeyRow) -> Result<Self, StoreError> {
        Ok(DataKeyRecord {
            org_id: OrgId::from_db(r.org_id),
            version: u32::try_from(r.version).map_err(|_| StoreError::Corrupt {
                what: "data key version",
                message: format!("{} is out of range", r.version),
            })?,
            wrapped: WrappedDataKey {
                master_key_id: r.master_key_id,
                bytes: r.wrapped,
            },
            previous: match (r.prev_master_key_id, r.prev_wrapped) {
                (Some(master_key_id), Some(bytes)) => Some(WrappedDataKey {
                    master_key_id,
                    bytes,
                }),
                _ => None,
            },
            created_at: r.created_at.into(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyCheckRow {
    master_key_id: String,
    record: Vec<u8>,
    updated_at: DbTime,
    prev_master_key_id: Option<String>,
    prev_record: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct KeyUserRow {
    instance_id: String,
    master_key_id: String,
    seen_at: DbTime,
}

macro_rules! select_data_key {
    ($tail:literal) => {
        concat!(
            "SELECT org_id, version, master_key_id, wrapped, prev_master_key_id, prev_wrapped, \
             created_at FROM data_keys ",
            $tail
        )
    };
}

impl Store {
    /// The key-check record, if the database has been initialised with a master key.
    pub async fn get_key_check(&self) -> Result<Option<KeyCheckRecord>, StoreError> {
        let row: Option<KeyCheckRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT master_key_id, record, updated_at, prev_master_key_id, prev_record \
                 FROM key_check WHERE id = 1",
            )
                .fetch_optional(pool)
                .await
                .op("get_key_check")?
        });
        Ok(row.map(|r| KeyCheckRecord {
            master_key_id: r.master_key_id,
            record: r.record,
            updated_at: r.updated_at.into(),
            previous_master_key_id: r.prev_master_key_id,
            previous_record: r.prev_record,
        }))
    }

    /// Stores the key-check record unless one exists. Returns `true` if this call stored it;
    /// on `false` the caller must read and verify the existing one (another instance won).
    pub async fn put_key_check(
        &self,
        master_key_id: &str,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO key_check (id, master_key_id, record, updated_at) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(master_key_id)
            .bind(record)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .op("put_key_check")?
            .rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Stores a new wrapped data key version for `org`. Fails with `AlreadyExists` if that
    /// version exists (another instance created it first: re-read), and with
    /// `MasterKeyChanged` if it was wrapped by a master key other than the database's.
    pub async fn put_data_key(
        &self,
        org: &OrgId,
        version: u32,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKeyRecord, StoreError> {
        self.put_data_key_with_previous(org, version, wrapped, None)
            .await
    }

    /// [`Store::put_data_key`], also keeping the data key wrapped by the previous master key
    /// (a version added while a rotation's grace period runs).
    pub async fn put_data_key_with_previous(
        &self,
        org: &OrgId,
        version: u32,
        wrapped: &WrappedDataKey,
        previous: Option<&WrappedDataKey>,
    ) -> Result<DataKeyRecord, StoreError> {
        let rec = DataKeyRecord {
            org_id: org.clone(),
            version,
            wrapped: wrapped.clone(),
            previous: previous.cloned(),
            created_at: time_col::now(),
        };
        // Reading the key-check row under a share lock (PostgreSQL) or inside the single
        // SQLite writer serialises this insert against a concurrent master-key rotation, so
        // no data key wrapped by the old master key can appear after a rotation commits.
        let lock_sql = match self.backend() {
            Backend::Sqlite => "SELECT master_key_id FROM key_check WHERE id = 1",
            Backend::Postgres => "SELECT master_key_id FROM key_check WHERE id = 1 FOR SHARE",
        };
        let res: Result<(), StoreError> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op("put_data_key")?;
            let current: Option<String> = sqlx::query_scalar(lock_sql)
                .fetch_optional(&mut *tx)
                .await
                .op("put_data_key")?;
            if let Some(current) = current
                && current != wrapped.master_key_id
            {
                return Err(StoreError::MasterKeyChanged {
                    attempted: wrapped.master_key_id.clone(),
                    current,
                });
            }
            let ins = sqlx::query(
                "INSERT INTO data_keys (org_id, version, master_key_id, wrapped, prev_master_key_id, \
                 prev_wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(org.as_str())
            .bind(i64::from(version))
            .bind(&wrapped.master_key_id)
            .bind(&wrapped.bytes)
            .bind(previous.map(|p| p.master_key_id.clone()))
            .bind(previous.map(|p| p.bytes.clone()))
            .bind(DbTime::from(rec.created_at))
            .execute(&mut *tx)
            .await;
            match ins {
                Ok(_) => tx.commit().await.op("put_data_key"),
                Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                    what: "data key",
                    key: format!("{org} version {version}"),
                }),
                Err(e) if crate::error::is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                    what: "organization",
                    id: org.to_string(),
                }),
                Err(e) => Err(StoreError::Database { op: "put_data_key", source: e }),
            }
        });
        res.map(|()| rec)
    }

    /// Every data key version of `org`, oldest first (the last is the current one).
    pub async fn get_data_keys(&self, org: &OrgId) -> Result<Vec<DataKeyRecord>, StoreError> {
        let rows: Vec<DataKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(select_data_key!("WHERE org_id = $1 ORDER BY version"))
            .bind(org.as_str())
            .fetch_all(pool)
            .await
            .op("get_data_keys")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// ADMIN (master-key rotation): every wrapped data key of every organization.
    pub async fn admin_list_all_data_keys(&self) -> Result<Vec<DataKeyRecord>, StoreError> {
        let rows: Vec<DataKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(select_data_key!("ORDER BY org_id, version"))
            .fetch_all(pool)
            .await
            .op("admin_list_all_data_keys")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// ADMIN (master-key rotation): in ONE transaction, replace the key-check record and
    /// every wrapped data key. `rewrapped` must hold every data key currently wrapped by
    /// `old_master_key_id`, each now wrapped by `new_master_key_id`; otherwise nothing
    /// changes and `Conflict` is returned (e.g. a key was added meanwhile: list and retry).
    /// Readers keep working throughout: before commit they see the old wrapping, after it
    /// the new one.
    pub async fn admin_replace_master_key(
        &self,
        old_master_key_id: &str,
        new_master_key_id: &str,
        new_key_check: &[u8],
        rewrapped: &[DataKeyRecord],
    ) -> Result<(), StoreError> {
        if let Some(bad) = rewrapped
            .iter()
            .find(|r| r.wrapped.master_key_id != new_master_key_id)
        {
            return Err(StoreError::InvalidInput {
                field: "rewrapped",
                message: format!(
                    "data key {} version {} is wrapped by {}, not the new master key {new_master_key_id}",
                    bad.org_id, bad.version, bad.wrapped.master_key_id
                ),
            });
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op("admin_replace_master_key")?;
            // Writing the key-check row first takes the lock that put_data_key waits on.
            // The replaced key stays readable (previous columns) until `retire`; a database
            // still holding a previous key is not rotated again.
            let switched = sqlx::query(
                "UPDATE key_check SET prev_master_key_id = master_key_id, prev_record = record, \
                 master_key_id = $2, record = $3, updated_at = $4 \
                 WHERE id = 1 AND master_key_id = $1 AND prev_master_key_id IS NULL",
            )
            .bind(old_master_key_id)
            .bind(new_master_key_id)
            .bind(new_key_check)
            .bind(DbTime::now())
            .execute(&mut *tx)
            .await
            .op("admin_replace_master_key")?
            .rows_affected();
            if switched != 1 {
                let current: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT master_key_id, prev_master_key_id FROM key_check WHERE id = 1",
                )
                .fetch_optional(&mut *tx)
                .await
                .op("admin_replace_master_key")?;
                if let Some((cur, Some(prev))) = &current
                    && cur == old_master_key_id
                {
                    return Err(StoreError::InvalidInput {
                        field: "master key",
                        message: format!(
                            "the master key {prev} replaced by the last rotation is not retired yet; once every instance runs with {cur}, run `jiragate master-key retire`, then rotate again"
                        ),
                    });
                }
                let current = current.map(|(c, _)| c);
                return Err(StoreError::MasterKeyChanged {
                    attempted: old_master_key_id.to_owned(),
                    current: current.unwrap_or_else(|| "(none: database not initialised)".into()),
                });
            }
            for rec in rewrapped {
                let n = sqlx::query(
                    "UPDATE data_keys SET prev_master_key_id = master_key_id, prev_wrapped = wrapped, \
                     master_key_id = $4, wrapped = $5 \
                     WHERE org_id = $1 AND version = $2 AND master_key_id = $3",
                )
                .bind(rec.org_id.as_str())
                .bind(i64::from(rec.version))
                .bind(old_master_key_id)
                .bind(new_master_key_id)
                .bind(&rec.wrapped.bytes)
                .execute(&mut *tx)
                .await
                .op("admin_replace_master_key")?
                .rows_affected();
                if n != 1 {
                    return Err(StoreError::Conflict {
                        what: "data key",
                        id: format!("{} version {}", rec.org_id, rec.version),
                        field: "rows matching the old master key",
                        expected: 1,
                        actual: n as i64,
                    });
                }
            }
            let left: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM data_keys WHERE master_key_id <> $1")
                    .bind(new_master_key_id)
                    .fetch_one(&mut *tx)
                    .await
                    .op("admin_replace_master_key")?;
            if left != 0 {
                return Err(StoreError::Conflict {
                    what: "data keys",
                    id: "not rewrapped".into(),
                    field: "count",
                    expected: 0,
                    actual: left,
                });
            }
            tx.commit().await.op("admin_replace_master_key")?;
        });
        Ok(())
    }

    /// ADMIN (`master-key retire`): forgets every wrapping by `previous_master_key_id` (the
    /// key a rotation replaced) and the previous key-check record, in one transaction.
    /// Returns how many data keys dropped their previous wrapping.
    pub async fn admin_retire_previous_master_key(
        &self,
        previous_master_key_id: &str,
    ) -> Result<u64, StoreError> {
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op("admin_retire_previous_master_key")?;
            let n = sqlx::query(
                "UPDATE key_check SET prev_master_key_id = NULL, prev_record = NULL \
                 WHERE id = 1 AND prev_master_key_id = $1",
            )
            .bind(previous_master_key_id)
            .execute(&mut *tx)
            .await
            .op("admin_retire_previous_master_key")?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::NotFound {
                    what: "previous master key",
                    id: previous_master_key_id.to_owned(),
                });
            }
            let keys = sqlx::query(
                "UPDATE data_keys SET prev_master_key_id = NULL, prev_wrapped = NULL \
                 WHERE prev_master_key_id = $1",
            )
            .bind(previous_master_key_id)
            .execute(&mut *tx)
            .await
            .op("admin_retire_previous_master_key")?
            .rows_affected();
            tx.commit().await.op("admin_retire_previous_master_key")?;
            keys
        });
        Ok(n)
    }

    /// A running instance reports the master key it uses (upsert, stamped now).
    pub async fn touch_master_key_user(
        &self,
        instance_id: &str,
        master_key_id: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO master_key_users (instance_id, master_key_id, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance_id) DO UPDATE SET master_key_id = excluded.master_key_id, \
                 seen_at = excluded.seen_at",
            )
            .bind(instance_id)
            .bind(master_key_id)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .op("touch_master_key_user")?;
            // Reports of instances gone for a day (crashed, never withdrawn) are history.
            sqlx::query("DELETE FROM master_key_users WHERE seen_at < $1")
                .bind(DbTime::from(time_col::now() - time::Duration::days(1)))
                .execute(pool)
                .await
                .op("touch_master_key_user")?;
        });
        Ok(())
    }

    /// A stopping instance withdraws its report.
    pub async fn remove_master_key_user(&self, instance_id: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM master_key_users WHERE instance_id = $1")
                .bind(instance_id)
                .execute(pool)
                .await
                .op("remove_master_key_user")?;
        });
        Ok(())
    }

    /// Instances that reported using `master_key_id` since `since`.
    pub async fn master_key_users(
        &self,
        master_key_id: &str,
        since: time::OffsetDateTime,
    ) -> Result<Vec<crate::model::MasterKeyUser>, StoreError> {
        let rows: Vec<KeyUserRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT instance_id, master_key_id, seen_at FROM master_key_users \
                 WHERE master_key_id = $1 AND seen_at >= $2 ORDER BY instance_id",
            )
            .bind(master_key_id)
            .bind(DbTime::from(since))
            .fetch_all(pool)
            .await
            .op("master_key_users")?
        });
        Ok(rows
            .into_iter()
            .map(|r| crate::model::MasterKeyUser {
                instance_id: r.instance_id,
                master_key_id: r.master_key_id,
                seen_at: r.seen_at.into(),
            })
            .collect())
    }
}
