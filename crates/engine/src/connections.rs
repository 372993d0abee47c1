//! Connection operations: create (API token or bring-your-own OAuth tokens), list, get,
//! replace credentials, delete, describe, execute, stream, check, and hand out an access
//! token. Each checks the actor's scope first, then resolves the connection in `org`, and
//! writes the audit event of any change.

use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use jiragate_auth::{CredentialFor, Credentials, NewApiTokenConnection, NewOAuthTokens};
use jiragate_catalog::{ExecContext, ExecuteJson, ExecuteOutput};
use jiragate_store::{ApiType, AuthKind, Connection, HealthCheck, OrgId, Owner};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{Actor, ApiScope, ConnRef, Engine, EngineError, not_found_as_none};

/// A connection to create.
pub enum NewConnection {
    /// An Atlassian API token (verified with `/myself` before anything is saved).
    ApiToken(NewApiTokenConnection),
    /// Tokens the caller already holds from an OAuth 2.0 app.
    OAuthTokens(OAuthTokensInput),
}

/// Bring-your-own OAuth tokens. Without `client_id` they belong to the organization's only
/// registered OAuth client; an unregistered `client_id` with its secret registers that client,
/// which only an admin may do.
pub struct OAuthTokensInput {
    pub workspace: String,
    pub name: String,
    pub refresh_token: SecretString,
    pub access_token: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// A subdomain or a base URL; `None` when the grant reaches exactly one site.
    pub subdomain: Option<String>,
    pub api_type: ApiType,
    pub owner: Owner,
}

/// One catalog action to run on a connection.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub entity: String,
    pub action: String,
    pub params: Value,
    /// Refuse actions that write.
    pub read_only: bool,
}

/// Which connection's access token a caller wants.
pub enum TokenFor {
    Connection(ConnRef),
    /// The connection of a workspace that belongs to a user or to the installation.
    Owner {
        workspace: String,
        user_id: Option<String>,
        credential_for: CredentialFor,
    },
}

/// A live access token, for callers that must talk to Jira themselves.
pub struct TokenGrant {
    pub connection: Connection,
    pub access_token: SecretString,
    pub expires_at: OffsetDateTime,
    /// Where the token is valid: the gateway URL of the site's cloud id, or the site URL.
    pub base_url: String,
}

impl Engine {
    /// Resolves a connection by id or `workspace/name` in `org` (no scope needed: every key of
    /// the organization may read its connections).
    pub async fn resolve(&self, org: &OrgId, r: &ConnRef) -> Result<Connection, EngineError> {
        self.resolve_shared(org, r).await.map(Arc::unwrap_or_clone)
    }

    /// [`Engine::resolve`] without a copy: the hot paths (execute, proxy) only read it.
    pub(crate) async fn resolve_shared(
        &self,
        org: &OrgId,
        r: &ConnRef,
    ) -> Result<Arc<Connection>, EngineError> {
        let reference: std::borrow::Cow<'_, str> = match r {
            ConnRef::Id(id) => std::borrow::Cow::Borrowed(id.as_ref()),
            ConnRef::Name { .. } => std::borrow::Cow::Owned(r.to_string()),
        };
        if let Some(conn) = self.hot.connection(org, &reference) {
            return Ok(conn);
        }
        let found = match r {
            ConnRef::Id(id) => self
                .store
                .get_connection(org, id)
                .await
                .or_else(not_found_as_none)?,
            ConnRef::Name { workspace, name } => {
                self.store.find_connection(org, workspace, name).await?
            }
        };
        let conn = Arc::new(found.ok_or_else(|| EngineError::NotFound {
            what: "connection",
            id: reference.to_string(),
        })?);
        self.hot
            .put_connection(org, reference.into_owned(), conn.clone());
        Ok(conn)
    }

    /// Creates a connection (`connectors:write`).
    pub async fn create_connection(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        new: NewConnection,
    ) -> Result<Connection, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let conn = match new {
            NewConnection::ApiToken(req) => self.auth.create_api_token_connection(org, req).await?,
            NewConnection::OAuthTokens(t) => {
                let client_id = match t.client_id.filter(|c| !c.trim().is_empty()) {
                    Some(c) => c,
                    None => self.sole_oauth_client_id(org).await?,
                };
                let req = NewOAuthTokens {
                    workspace: t.workspace,
                    name: t.name,
                    refresh_token: t.refresh_token,
                    access_token: t.access_token,
                    client_id,
                    client_secret: t.client_secret,
                    subdomain: t.subdomain,
                    api_type: t.api_type,
                    owner: t.owner,
                    // Registering an OAuth client is an admin operation, also on the way.
                    may_register_client: actor.may(ApiScope::Admin),
                };
                self.auth.create_byo_oauth_connection(org, req).await?
            }
        };
        self.append_audit(
            actor,
            org,
            "connector.create",
            conn.id.as_ref(),
            json!({"name": conn.name, "workspace": conn.workspace}),
        )
        .await;
        Ok(conn)
    }

    async fn sole_oauth_client_id(&self, org: &OrgId) -> Result<String, EngineError> {
        match self.store.list_oauth_clients(org).await?.as_slice() {
            [one] => Ok(one.client_id.clone()),
            _ => Err(EngineError::validation(
                "credentials.client_id",
                "OAuth tokens need the client_id of the app that issued them (and client_secret unless that app is registered)",
            )),
        }
    }

    /// The connections of `org`, optionally of one workspace.
    pub async fn list_connections(
        &self,
        _actor: Actor<'_>,
        org: &OrgId,
        workspace: Option<&str>,
    ) -> Result<Vec<Connection>, EngineError> {
        Ok(self.store.list_connections(org, workspace).await?)
    }

    /// One connection (never its secrets).
    pub async fn get_connection(
        &self,
        _actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
    ) -> Result<Connection, EngineError> {
        self.resolve(org, r).await
    }

    /// Replaces a connection's credential, re-entered whole and verified again
    /// (`connectors:write`).
    pub async fn update_credentials(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        creds: Credentials,
    ) -> Result<Connection, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let conn = self.resolve(org, r).await?;
        let updated = self.auth.replace_credentials(org, &conn.id, creds).await;
        self.hot.forget_connection(&conn.id);
        let updated = updated?;
        self.append_audit(
            actor,
            org,
            "connector.credentials.replace",
            conn.id.as_ref(),
            json!({}),
        )
        .await;
        Ok(updated)
    }

    /// Deletes a connection and erases its secrets (`connectors:write`); returns what was
    /// deleted.
    pub async fn delete_connection(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
    ) -> Result<Connection, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let conn = self.resolve(org, r).await?;
        self.store.delete_connection(org, &conn.id).await?;
        self.hot.forget_connection(&conn.id);
        self.auth.forget_connection(&conn.id);
        self.append_audit(
            actor,
            org,
            "connector.delete",
            conn.id.as_ref(),
            json!({"name": conn.name}),
        )
        .await;
        Ok(conn)
    }

    /// Entities, actions, JSON Schemas of their params and the scopes they need.
    pub async fn describe(
        &self,
        _actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        filter: Option<&str>,
    ) -> Result<Value, EngineError> {
        let conn = self.resolve(org, r).await?;
        Ok(self.describe_connection(&conn, filter))
    }

    /// The catalog as seen by one connection (the same for every connection: one Jira Cloud
    /// credential reaches the platform, agile and service-management APIs of its site, so every
    /// action is listed; each entity says which API it belongs to).
    pub fn describe_connection(&self, conn: &Connection, filter: Option<&str>) -> Value {
        let api = match conn.api_type {
            ApiType::ServiceManagement => "service_management",
            _ => "platform",
        };
        let mut d = self.catalog.describe(None, filter);
        if let Value::Object(o) = &mut d {
            o.insert("connector_id".into(), Value::String(conn.id.to_string()));
            o.insert("name".into(), Value::String(conn.name.clone()));
            o.insert("api_type".into(), Value::String(api.into()));
        }
        d
    }

    fn exec_context(conn: &Connection, read_only: bool) -> ExecContext {
        ExecContext {
            // API tokens carry the user's permissions, not OAuth scopes: nothing to compare.
            granted_scopes: match conn.auth_kind {
                AuthKind::OAuth2 => Some(conn.scopes.clone()),
                _ => None,
            },
            api_type: conn.api_type.as_str().to_string(),
            read_only,
        }
    }

    /// The latest `limit` health checks of a connection, newest first.
    pub async fn health_history(
        &self,
        _actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        limit: u32,
    ) -> Result<Vec<jiragate_store::HealthCheck>, EngineError> {
        let conn = self.resolve(org, r).await?;
        Ok(self
            .store
            .health_history(org, &conn.id, limit.clamp(1, 500))
            .await?)
    }

    /// Runs one catalog action (`execute`).
    pub async fn execute(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        call: ActionRequest,
    ) -> Result<ExecuteOutput, EngineError> {
        actor.require(ApiScope::Execute)?;
        let conn = self.resolve_shared(org, r).await?;
        let src = self.auth.token_source(org, &conn);
        let ctx = Self::exec_context(&conn, call.read_only);
        Ok(self
            .catalog
            .execute(
                &self.jira,
                src,
                &ctx,
                &call.entity,
                &call.action,
                call.params,
            )
            .await?)
    }

    /// [`Engine::execute`] answering `data` as JSON text, for front ends that write it out as
    /// JSON (the same JSON; Jira's answer is not parsed into values and serialized again).
    pub async fn execute_json(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        call: ActionRequest,
    ) -> Result<ExecuteJson, EngineError> {
        actor.require(ApiScope::Execute)?;
        let conn = self.resolve_shared(org, r).await?;
        let src = self.auth.token_source(org, &conn);
        let ctx = Self::exec_context(&conn, call.read_only);
        Ok(self
            .catalog
            .execute_json(
                &self.jira,
                src,
                &ctx,
                &call.entity,
                &call.action,
                call.params,
            )
            .await?)
    }

    /// Every item of every page, one at a time in constant memory (`execute`).
    pub async fn execute_stream(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
        call: ActionRequest,
    ) -> Result<BoxStream<'static, Result<Value, EngineError>>, EngineError> {
        actor.require(ApiScope::Execute)?;
        let conn = self.resolve_shared(org, r).await?;
        let src = self.auth.token_source(org, &conn);
        let ctx = Self::exec_context(&conn, call.read_only);
        let s = self.catalog.execute_stream(
            &self.jira,
            src,
            &ctx,
            &call.entity,
            &call.action,
            call.params,
        )?;
        Ok(s.map(|r| r.map_err(EngineError::from)).boxed())
    }

    /// Health-checks a connection now (`GET /rest/api/3/myself`; `execute`).
    pub async fn check(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &ConnRef,
    ) -> Result<(Connection, HealthCheck), EngineError> {
        actor.require(ApiScope::Execute)?;
        let conn = self.resolve(org, r).await?;
        let health = self.auth.check(org, &conn.id).await;
        // The check may have changed the connection's status.
        self.hot.forget_connection(&conn.id);
        Ok((conn, health?))
    }

    /// A fresh access token of an OAuth connection (`credentials:read`, never implied by
    /// `admin`). The auth service audits the token; this adds who asked.
    pub async fn access_token(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        target: TokenFor,
    ) -> Result<TokenGrant, EngineError> {
        actor.require(ApiScope::CredentialsRead)?;
        let conn = match target {
            TokenFor::Connection(r) => self.resolve(org, &r).await?,
            TokenFor::Owner {
                workspace,
                user_id,
                credential_for,
            } => {
                self.auth
                    .resolve_connection(org, &workspace, user_id.as_deref(), credential_for)
                    .await?
            }
        };
        if !matches!(conn.auth_kind, AuthKind::OAuth2) {
            return Err(EngineError::validation(
                "connector_id",
                "only OAuth connectors have access tokens; API-token connectors are used through execute or proxy",
            ));
        }
        let (access_token, expires_at) = self.auth.access_token(org, &conn.id).await?;
        let expires = expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.append_audit(
            actor,
            org,
            "credentials.token.requested",
            conn.id.as_ref(),
            json!({"expires_at": expires}),
        )
        .await;
        let base_url = match &conn.cloud_id {
            Some(cloud) => jiragate_jira::urls::ex_jira(&self.api_url, cloud),
            None => conn.site_url.clone(),
        };
        Ok(TokenGrant {
            connection: conn,
            access_token,
            expires_at,
            base_url,
        })
    }
}
