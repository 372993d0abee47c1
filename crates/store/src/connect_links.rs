//! Embeddable connect links and each organization's connect settings.
//!
//! A link is created by an app's backend and opened once by its end user: the token is stored
//! as a hash and opening it is an atomic, single-use transition that also records the hash of
//! the page secret the browser keeps for the rest of the flow.

use serde::Serialize;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_foreign_key_violation};
use crate::ids::{
    ApiKeyId, ConnectLinkId, ConnectSessionId, ConnectionId, OAuthClientRecordId, OrgId,
};
use crate::model::{ApiType, Owner, parse_enum};
use crate::time_col::{self, DbTime};

/// A connect link as stored (hashes are never serialized).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectLink {
    pub id: ConnectLinkId,
    pub org_id: OrgId,
    #[serde(skip_serializing)]
    pub token_hash: String,
    /// The API key that created the link: the flow acts with its authority.
    pub created_by_key: ApiKeyId,
    pub workspace: String,
    pub name: String,
    pub owner: Owner,
    /// `api_token`, `oauth`.
    pub allowed_auth: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub oauth_client_id: Option<OAuthClientRecordId>,
    pub api_type: ApiType,
    pub return_url: String,
    pub app_name: String,
    /// `popup` or `redirect`, chosen when the link is opened.
    pub mode: Option<String>,
    #[serde(skip_serializing)]
    pub page_secret_hash: Option<String>,
    pub connect_session_id: Option<ConnectSessionId>,
    pub connection_id: Option<ConnectionId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub opened_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// Input of [`Store::create_connect_link`].
#[derive(Debug, Clone)]
pub struct NewConnectLink {
    pub token_hash: String,
    pub created_by_key: ApiKeyId,
    pub workspace: String,
    pub name: String,
    pub owner: Owner,
    pub allowed_auth: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub oauth_client_id: Option<OAuthClientRecordId>,
    pub api_type: ApiType,
    pub return_url: String,
    pub app_name: String,
    pub expires_at: OffsetDateTime,
}

/// Where an organization's connect links may return to, and the name its pages show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectSettings {
    /// Origins (`https://app.example.com`) a `return_url` must belong to.
    pub return_origins: Vec<String>,
    pub app_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: String,
    org_id: String,
    token_hash: String,
    created_by_key: String,
    workspace: String,
    name: String,
    owner: String,
    allowed_auth: Json<Vec<String>>,
    scopes: Option<Json<Vec<String>>>,
    oauth_client_id: Option<String>,
    api_type: String,
    return_url: String,
    app_name: String,
    mode: Option<String>,
    page_secret_hash: Option<String>,
    connect_session_id: Option<String>,
    connection_id: Option<String>,
    created_at: DbTime,
    expires_at: DbTime,
    opened_at: Option<DbTime>,
    completed_at: Option<DbTime>,
}

impl TryFrom<LinkRow> for ConnectLink {
    type Error = StoreError;
    fn try_from(r: LinkRow) -> Result<Self, StoreError> {
        Ok(ConnectLink {
            id: ConnectLinkId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            token_hash: r.token_hash,
            created_by_key: ApiKeyId::from_db(r.created_by_key),
            workspace: r.workspace,
            name: r.name,
            owner: parse_enum("connect link owner", &r.owner)?,
            allowed_auth: r.allowed_auth.0,
            scopes: r.scopes.map(|j| j.0),
            oauth_client_id: r.oauth_client_id.map(OAuthClientRecordId::from_db),
            api_type: parse_enum("connect link api_type", &r.api_type)?,
            return_url: r.return_url,
            app_name: r.app_name,
            mode: r.mode,
            page_secret_hash: r.page_secret_hash,
            connect_session_id: r.connect_session_id.map(ConnectSessionId::from_db),
            connection_id: r.connection_id.map(ConnectionId::from_db),
            created_at: r.created_at.into(),
            expires_at: r.expires_at.into(),
            opened_at: time_col::unopt(r.opened_at),
            completed_at: time_col::unopt(r.completed_at),
        })
    }
}

macro_rules! link_cols {
    () => {
        "id, org_id, token_hash, created_by_key, workspace, name, owner, allowed_auth, scopes, \
         oauth_client_id, api_type, return_url, app_name, mode, page_secret_hash, \
         connect_session_id, connection_id, created_at, expires_at, opened_at, completed_at"
    };
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    return_origins: Json<Vec<String>>,
    app_name: Option<String>,
}

impl Store {
    pub async fn create_connect_link(
        &self,
        org: &OrgId,
        new: NewConnectLink,
    ) -> Result<ConnectLink, StoreError> {
        let link = ConnectLink {
            id: ConnectLinkId::new(),
            org_id: org.clone(),
            token_hash: new.token_hash,
            created_by_key: new.created_by_key,
            workspace: new.workspace,
            name: new.name,
            owner: new.owner,
            allowed_auth: new.allowed_auth,
            scopes: new.scopes,
            oauth_client_id: new.oauth_client_id,
            api_type: new.api_type,
            return_url: new.return_url,
            app_name: new.app_name,
            mode: None,
            page_secret_hash: None,
            connect_session_id: None,
            connection_id: None,
            created_at: time_col::now(),
            expires_at: time_col::truncate(new.expires_at),
            opened_at: None,
            completed_at: None,
        };
        let res = with_pool!(self, pool => {
            sqlx::query(concat!(
                "INSERT INTO connect_links (", link_cols!(), ") VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, NULL, NULL, $14, $15, NULL, NULL)"
            ))
            .bind(link.id.as_str())
            .bind(org.as_str())
            .bind(&link.token_hash)
            .bind(link.created_by_key.as_str())
            .bind(&link.workspace)
            .bind(&link.name)
            .bind(link.owner.to_string())
            .bind(Json(&link.allowed_auth))
            .bind(link.scopes.as_ref().map(Json))
            .bind(link.oauth_client_id.as_ref().map(|c| c.as_str().to_owned()))
            .bind(link.api_type.as_str())
            .bind(&link.return_url)
            .bind(&link.app_name)
            .bind(DbTime::from(link.created_at))
            .bind(DbTime::from(link.expires_at))
            .execute(pool)
            .await
            .map(|_| ())
        });
        match res {
            Ok(()) => Ok(link),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "create_connect_link",
                source: e,
            }),
        }
    }

    /// Opens a link by its token hash, once: succeeds for exactly one caller while the link is
    /// unopened and unexpired, recording the page secret's hash and the mode.
    pub async fn open_connect_link(
        &self,
        token_hash: &str,
        page_secret_hash: &str,
        mode: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ConnectLink>, StoreError> {
        let row: Option<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE connect_links SET opened_at = $2, page_secret_hash = $3, mode = $4 \
                 WHERE token_hash = $1 AND opened_at IS NULL AND expires_at > $2 \
                 RETURNING ", link_cols!()
            ))
            .bind(token_hash)
            .bind(DbTime::from(now))
            .bind(page_secret_hash)
            .bind(mode)
            .fetch_optional(pool)
            .await
            .op("open_connect_link")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Read-only lookup by token hash, to explain a refused open (unknown, expired, used).
    pub async fn find_connect_link_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConnectLink>, StoreError> {
        let row: Option<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", link_cols!(), " FROM connect_links WHERE token_hash = $1"))
                .bind(token_hash)
                .fetch_optional(pool)
                .await
                .op("find_connect_link_by_token")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Global lookup by id (the page knows the link, not the organization).
    pub async fn get_connect_link(
        &self,
        id: &ConnectLinkId,
    ) -> Result<Option<ConnectLink>, StoreError> {
        let row: Option<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", link_cols!(), " FROM connect_links WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_connect_link")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// The link whose OAuth connect session made `connection`, if any.
    pub async fn find_connect_link_by_connection(
        &self,
        connection: &ConnectionId,
    ) -> Result<Option<ConnectLink>, StoreError> {
        let row: Option<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", link_cols!(), " FROM connect_links WHERE connect_session_id IN \
                (SELECT id FROM connect_sessions WHERE connection_id = $1)"))
                .bind(connection.as_str())
                .fetch_optional(pool)
                .await
                .op("find_connect_link_by_connection")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Records the OAuth connect session a link started.
    pub async fn set_connect_link_session(
        &self,
        id: &ConnectLinkId,
        session: &ConnectSessionId,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE connect_links SET connect_session_id = $2 WHERE id = $1 AND completed_at IS NULL")
                .bind(id.as_str())
                .bind(session.as_str())
                .execute(pool)
                .await
                .op("set_connect_link_session")?;
        });
        Ok(())
    }

    /// Marks a link completed with its connection, once. `false` when it was already completed.
    pub async fn complete_connect_link(
        &self,
        id: &ConnectLinkId,
        connection: &ConnectionId,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("UPDATE connect_links SET connection_id = $2, completed_at = $3 WHERE id = $1 AND completed_at IS NULL")
                .bind(id.as_str())
                .bind(connection.as_str())
                .bind(DbTime::now())
                .execute(pool)
                .await
                .op("complete_connect_link")?
                .rows_affected()
        });
        Ok(n == 1)
    }

    pub async fn get_connect_settings(&self, org: &OrgId) -> Result<ConnectSettings, StoreError> {
        let row: Option<SettingsRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT return_origins, app_name FROM connect_settings WHERE org_id = $1")
                .bind(org.as_str())
                .fetch_optional(pool)
                .await
                .op("get_connect_settings")?
        });
        Ok(row
            .map(|r| ConnectSettings {
                return_origins: r.return_origins.0,
                app_name: r.app_name,
            })
            .unwrap_or_default())
    }

    pub async fn put_connect_settings(
        &self,
        org: &OrgId,
        settings: &ConnectSettings,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO connect_settings (org_id, return_origins, app_name, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id) DO UPDATE SET return_origins = excluded.return_origins, \
                 app_name = excluded.app_name, updated_at = excluded.updated_at",
            )
            .bind(org.as_str())
            .bind(Json(&settings.return_origins))
            .bind(&settings.app_name)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .op("put_connect_settings")?;
        });
        Ok(())
    }
}
