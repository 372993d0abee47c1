//! Registered OAuth 2.0 (3LO) clients.

use sqlx::types::Json;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_foreign_key_violation};
use crate::ids::{OAuthClientRecordId, OrgId};
use crate::model::{NewOAuthClient, OAuthClientRecord};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct OAuthClientRow {
    id: String,
    org_id: String,
    client_id: String,
    sealed_client_secret: String,
    redirect_uri: String,
    scopes: Json<Vec<String>>,
    created_at: DbTime,
}

impl From<OAuthClientRow> for OAuthClientRecord {
    fn from(r: OAuthClientRow) -> Self {
        OAuthClientRecord {
            id: OAuthClientRecordId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            client_id: r.client_id,
            sealed_client_secret: r.sealed_client_secret,
            redirect_uri: r.redirect_uri,
            scopes: r.scopes.0,
            created_at: r.created_at.into(),
        }
    }
}

macro_rules! select_oauth_client {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, client_id, sealed_client_secret, redirect_uri, scopes, created_at \
             FROM oauth_clients ",
            $tail
        )
    };
}

impl Store {
    pub async fn create_oauth_client(
        &self,
        org: &OrgId,
        new: NewOAuthClient,
    ) -> Result<OAuthClientRecord, StoreError> {
        let rec = OAuthClientRecord {
            id: new.id,
            org_id: org.clone(),
            client_id: new.client_id,
            sealed_client_secret: new.sealed_client_secret,
            redirect_uri: new.redirect_uri,
            scopes: new.scopes,
            created_at: time_col::now(),
        };
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO oauth_clients (id, org_id, client_id, sealed_client_secret, redirect_uri, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(rec.id.as_str())
            .bind(org.as_str())
            .bind(&rec.client_id)
            .bind(&rec.sealed_client_secret)
            .bind(&rec.redirect_uri)
            .bind(Json(&rec.scopes))
            .bind(DbTime::from(rec.created_at))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(rec),
            Err(e) if crate::error::is_unique_violation(&e) => {
                // The id is fresh, so it is the client_id that is already registered.
                let existing = self
                    .find_oauth_client_by_client_id(org, &rec.client_id)
                    .await?
                    .map(|c| c.id.to_string())
                    .unwrap_or_default();
                Err(StoreError::AlreadyExists {
                    what: "OAuth client",
                    key: format!("client_id {:?} (registered as {existing})", rec.client_id),
                })
            }
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_oauth_client",
                source: e,
            }),
        }
    }

    pub async fn get_oauth_client(
        &self,
        org: &OrgId,
        id: &OAuthClientRecordId,
    ) -> Result<Option<OAuthClientRecord>, StoreError> {
        let row: Option<OAuthClientRow> = with_pool!(self, pool => {
            sqlx::query_as(select_oauth_client!("WHERE org_id = $1 AND id = $2"))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_oauth_client")?
        });
        Ok(row.map(Into::into))
    }

    /// Looks a client up by its Atlassian client id within `org` (newest first if repeated).
    pub async fn find_oauth_client_by_client_id(
        &self,
        org: &OrgId,
        client_id: &str,
    ) -> Result<Option<OAuthClientRecord>, StoreError> {
        let row: Option<OAuthClientRow> = with_pool!(self, pool => {
            sqlx::query_as(select_oauth_client!(
                "WHERE org_id = $1 AND client_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
            ))
            .bind(org.as_str())
            .bind(client_id)
            .fetch_optional(pool)
            .await
            .op("find_oauth_client_by_client_id")?
        });
        Ok(row.map(Into::into))
    }

    pub async fn list_oauth_clients(
        &self,
        org: &OrgId,
    ) -> Result<Vec<OAuthClientRecord>, StoreError> {
        let rows: Vec<OAuthClientRow> = with_pool!(self, pool => {
            sqlx::query_as(select_oauth_client!("WHERE org_id = $1 ORDER BY created_at, id"))
                .bind(org.as_str())
                .fetch_all(pool)
                .await
                .op("list_oauth_clients")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes a client (and its pending connect sessions). Refused with `InUse` while
    /// connections still use it.
    pub async fn delete_oauth_client(
        &self,
        org: &OrgId,
        id: &OAuthClientRecordId,
    ) -> Result<(), StoreError> {
        let res = with_pool!(self, pool => {
            sqlx::query("DELETE FROM oauth_clients WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        });
        match res {
            Ok(1) => Ok(()),
            Ok(_) => Err(StoreError::NotFound {
                what: "OAuth client",
                id: id.to_string(),
            }),
            Err(e) if is_foreign_key_violation(&e) => {
                let users: Vec<String> = with_pool!(self, pool => {
                    sqlx::query_scalar(
                        "SELECT name FROM connections WHERE org_id = $1 AND oauth_client_id = $2 ORDER BY name",
                    )
                    .bind(org.as_str())
                    .bind(id.as_str())
                    .fetch_all(pool)
                    .await
                    .op("delete_oauth_client")?
                });
                Err(StoreError::InUse {
                    what: "OAuth client",
                    id: id.to_string(),
                    users: format!("connections: {}", users.join(", ")),
                })
            }
            Err(e) => Err(StoreError::Database {
                op: "delete_oauth_client",
                source: e,
            }),
        }
    }

    /// Replaces the sealed secret and/or the default scopes of a client of `org` (`None` keeps
    /// the stored value) and returns the record as it is now.
    pub async fn update_oauth_client(
        &self,
        org: &OrgId,
        id: &OAuthClientRecordId,
        sealed_client_secret: Option<&str>,
        scopes: Option<&[String]>,
    ) -> Result<OAuthClientRecord, StoreError> {
        let row: Option<OAuthClientRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE oauth_clients SET \
                 sealed_client_secret = COALESCE($3, sealed_client_secret), \
                 scopes = CASE WHEN $4 THEN $5 ELSE scopes END \
                 WHERE org_id = $1 AND id = $2 \
                 RETURNING id, org_id, client_id, sealed_client_secret, redirect_uri, scopes, created_at",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(sealed_client_secret)
            .bind(scopes.is_some())
            .bind(Json(scopes.unwrap_or_default()))
            .fetch_optional(pool)
            .await
            .op("update_oauth_client")?
        });
        row.map(Into::into).ok_or_else(|| StoreError::NotFound {
            what: "OAuth client",
            id: id.to_string(),
        })
    }

    /// ADMIN (re-encryption): every OAuth client of every organization.
    pub async fn admin_list_all_oauth_clients(&self) -> Result<Vec<OAuthClientRecord>, StoreError> {
        let rows: Vec<OAuthClientRow> = with_pool!(self, pool => {
            sqlx::query_as(select_oauth_client!("ORDER BY org_id, created_at, id"))
                .fetch_all(pool)
                .await
                .op("admin_list_all_oauth_clients")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// ADMIN (re-encryption): compare-and-swap the sealed secret of one client. Returns
    /// `false` (nothing written) if the stored value is no longer `expected_sealed`.
    pub async fn admin_reseal_oauth_client_secret(
        &self,
        org: &OrgId,
        id: &OAuthClientRecordId,
        expected_sealed: &str,
        new_sealed: &str,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE oauth_clients SET sealed_client_secret = $4 \
                 WHERE org_id = $1 AND id = $2 AND sealed_client_secret = $3",
            )
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(expected_sealed)
            .bind(new_sealed)
            .execute(pool)
            .await
            .op("admin_reseal_oauth_client_secret")?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
