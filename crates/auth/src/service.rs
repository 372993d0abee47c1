//! [`AuthService`]: creating, verifying and re-verifying connections (API token and OAuth 3LO),
//! the OAuth connect flow, fresh access tokens, and health checks.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use jiragate_jira::{
    JiraAuth, JiraClient, JiraError, JiraRequest, StaticTokenSource, Target, TokenSource,
};
use jiragate_store::{
    ApiType, AuthKind, ConnectSession, ConnectSessionId, ConnectSessionPatch, Connection,
    ConnectionId, ConnectionPatch, ConnectionStatus, HealthCheck, NewAuditEvent, NewConnectSession,
    NewConnection, NewCredential, NewOAuthClient, OAuthClientRecord, OAuthClientRecordId, OrgId,
    Owner, SessionPurpose, SessionStatus, Store, StoreError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::keyring::{Keyring, fields};
use crate::oauth::{
    self, AccessibleResource, OAuthHttp, TokenEndpointError, TokenSet, scopes_with_offline_access,
};
use crate::sites::{SiteChoice, SiteDecision, SiteRef, decide_site, subdomain_of_url};
use crate::tokens::{ConnectionTokenSource, Need, TokenManager};
use jiragate_jira::{UpstreamError, UpstreamPolicy};

/// Request to create a connection from an Atlassian API token.
pub struct NewApiTokenConnection {
    pub workspace: String,
    pub name: String,
    pub site: SiteRef,
    pub email: String,
    pub token: SecretString,
    /// `Some(true)`: a scoped API token (gateway + cloudId); `Some(false)`: classic (site URL);
    /// `None`: detect (the site refuses a scoped token with 401, the gateway accepts it).
    pub scoped: Option<bool>,
    pub api_type: ApiType,
    pub owner: Owner,
}

impl fmt::Debug for NewApiTokenConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiTokenConnection")
            .field("workspace", &self.workspace)
            .field("name", &self.name)
            .field("site", &self.site)
            .field("email", &self.email)
            .field("token", &"[redacted]")
            .field("scoped", &self.scoped)
            .finish()
    }
}

impl NewApiTokenConnection {
    /// The usual environment convention: `JIRA_BASE_URL`, `JIRA_USER_EMAIL`, `JIRA_API_TOKEN`.
    /// `None` when any of them is unset.
    pub fn from_env(workspace: &str, name: &str) -> Option<Self> {
        let base = std::env::var("JIRA_BASE_URL")
            .ok()
            .filter(|s| !s.is_empty())?;
        let email = std::env::var("JIRA_USER_EMAIL")
            .ok()
            .filter(|s| !s.is_empty())?;
        let token = std::env::var("JIRA_API_TOKEN")
            .ok()
            .filter(|s| !s.is_empty())?;
        Some(NewApiTokenConnection {
            workspace: workspace.to_owned(),
            name: name.to_owned(),
            site: SiteRef::BaseUrl(base),
            email,
            token: SecretString::from(token),
            scoped: None,
            api_type: ApiType::Platform,
            owner: Owner::Installation,
        })
    }
}

/// The workspace of the user connections that MCP Atlassian sign-in creates (one per person,
/// named by their Atlassian account id).
pub const MCP_SIGN_IN_WORKSPACE: &str = "mcp-users";

/// Request to start an OAuth 2.0 (3LO) connect session.
#[derive(Debug, Clone)]
pub struct StartConnect {
    pub oauth_client_id: OAuthClientRecordId,
    pub workspace: String,
    pub name: String,
    /// Defaults to the OAuth client's scopes; `offline_access` is always added.
    pub scopes: Option<Vec<String>>,
    pub subdomain: Option<String>,
    pub owner: Owner,
    pub api_type: ApiType,
}

/// Where to send the user's browser.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectStart {
    pub session_id: ConnectSessionId,
    pub authorize_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The result of the OAuth callback.
// Built once per consent flow: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CallbackOutcome {
    Connected(Connection),
    /// The grant covers several sites and none was asked for: [`AuthService::choose_site`].
    ChooseSite {
        session_id: ConnectSessionId,
        sites: Vec<SiteChoice>,
    },
}

/// Bring-your-own OAuth tokens (obtained elsewhere).
pub struct NewOAuthTokens {
    pub workspace: String,
    pub name: String,
    pub refresh_token: SecretString,
    pub access_token: Option<SecretString>,
    pub client_id: String,
    /// Needed unless an OAuth client with this client id is registered in the organization.
    pub client_secret: Option<SecretString>,
    pub subdomain: Option<String>,
    pub api_type: ApiType,
    pub owner: Owner,
    /// Whether an unregistered `client_id` (with its secret) may be registered as an OAuth
    /// client of the organization on the way (admin keys only). Without it, an unknown client
    /// is refused and nothing is stored.
    pub may_register_client: bool,
}

impl fmt::Debug for NewOAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOAuthTokens")
            .field("workspace", &self.workspace)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("subdomain", &self.subdomain)
            .finish_non_exhaustive()
    }
}

/// Replacement credentials (never merged with the old ones).
pub enum Credentials {
    ApiToken {
        /// Keeps the current email when `None`.
        email: Option<String>,
        token: SecretString,
    },
    OAuthTokens {
        refresh_token: SecretString,
        access_token: Option<SecretString>,
        /// Keeps the connection's OAuth client when `None`.
        client_id: Option<String>,
        client_secret: Option<SecretString>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiToken { email, .. } => f
                .debug_struct("ApiToken")
                .field("email", email)
                .finish_non_exhaustive(),
            Credentials::OAuthTokens { client_id, .. } => f
                .debug_struct("OAuthTokens")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// Which credential of a workspace to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFor {
    Installation,
    User,
}

/// Tokens parked in a session while the user chooses a site.
#[derive(Serialize, Deserialize)]
struct PendingTokens {
    access_token: String,
    refresh_token: String,
    #[serde(with = "time::serde::rfc3339")]
    access_expires_at: OffsetDateTime,
    scopes: Vec<String>,
}

/// Tokens of a connection about to be created.
struct OAuthGrant {
    access_token: SecretString,
    refresh_token: SecretString,
    access_expires_at: OffsetDateTime,
    granted_scopes: Vec<String>,
}

/// See the module documentation. Cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    store: Store,
    keyring: Keyring,
    jira: JiraClient,
    cfg: Arc<AuthConfig>,
    tokens: TokenManager,
    policy: Arc<UpstreamPolicy>,
}

impl fmt::Debug for AuthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("instance_id", &self.cfg.instance_id)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    pub fn new(store: Store, keyring: Keyring, jira: JiraClient, cfg: AuthConfig) -> Self {
        let tokens = TokenManager::new(
            store.clone(),
            keyring.clone(),
            jira.http().clone(),
            cfg.clone(),
        );
        // The engine validates the configuration first; a library user with a broken template
        // gets the strictest policy (Atlassian Cloud only) rather than none.
        let policy = cfg.upstream_policy().unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid upstream configuration; only Atlassian Cloud is allowed");
            UpstreamPolicy::atlassian_cloud()
        });
        AuthService {
            store,
            keyring,
            jira,
            cfg: Arc::new(cfg),
            tokens,
            policy: Arc::new(policy),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn jira(&self) -> &JiraClient {
        &self.jira
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// Which sites and gateways credentials may be sent to.
    pub fn upstream_policy(&self) -> &UpstreamPolicy {
        &self.policy
    }

    fn oauth(&self) -> &OAuthHttp {
        self.tokens.oauth()
    }

    fn now(&self) -> OffsetDateTime {
        self.cfg.clock.now()
    }

    async fn audit(
        &self,
        org: &OrgId,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) {
        let event = NewAuditEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(org, event).await {
            tracing::error!(action, target, error = %e, "could not write audit event");
        }
    }

    // ----- API tokens -------------------------------------------------------------------

    /// Verifies the token with `GET /rest/api/3/myself` and only then saves the connection.
    pub async fn create_api_token_connection(
        &self,
        org: &OrgId,
        req: NewApiTokenConnection,
    ) -> Result<Connection, AuthError> {
        validate_names(&req.workspace, &req.name)?;
        if req.email.trim().is_empty() {
            return Err(AuthError::invalid(
                "email",
                "the Atlassian account email is required with an API token",
            ));
        }
        let template = &self.cfg.endpoints.site_url_template;
        let site_url = req.site.base_url(&self.policy).map_err(site_error)?;
        let verified = self
            .verify_api_token(&site_url, req.email.trim(), &req.token, req.scoped)
            .await?;
        let id = ConnectionId::new();
        let sealed = self
            .keyring
            .seal_str(org, id.as_ref(), fields::API_TOKEN, &req.token)
            .await?;
        let now = self.now();
        let conn = self
            .store
            .create_connection(
                org,
                NewConnection {
                    id: id.clone(),
                    workspace: req.workspace.clone(),
                    name: req.name.clone(),
                    api_type: req.api_type,
                    auth_kind: verified.kind,
                    site_url: site_url.clone(),
                    subdomain: req.site.subdomain(template),
                    cloud_id: verified.cloud_id.clone(),
                    account_id: verified.account_id.clone(),
                    account_name: verified.display_name.clone(),
                    email: Some(req.email.trim().to_owned()),
                    oauth_client_id: None,
                    scopes: Vec::new(),
                    owner: req.owner.clone(),
                    status: ConnectionStatus::Healthy,
                    status_reason: None,
                    last_checked_at: Some(now),
                },
                NewCredential {
                    sealed_api_token: Some(sealed),
                    ..Default::default()
                },
            )
            .await?;
        self.audit(
            org,
            "auth",
            "connection.create",
            conn.id.as_ref(),
            serde_json::json!({
                "auth_kind": auth_kind_name(verified.kind),
                "site": site_url,
                "scoped_api_token_detected": verified.detected_scoped,
            }),
        )
        .await;
        if verified.detected_scoped {
            tracing::info!(connection = %conn.id, "the API token is a scoped token: calls go through the API gateway with the site's cloudId");
        }
        Ok(conn)
    }

    async fn verify_api_token(
        &self,
        site_url: &str,
        email: &str,
        token: &SecretString,
        scoped: Option<bool>,
    ) -> Result<VerifiedApiToken, AuthError> {
        let basic = || JiraAuth::Basic {
            email: email.to_owned(),
            token: token.clone(),
        };
        if scoped == Some(true) {
            return self.verify_scoped(site_url, basic(), false).await;
        }
        match self
            .myself(Target::new(site_url, basic(), "verification"))
            .await
        {
            Ok(me) => Ok(VerifiedApiToken {
                kind: AuthKind::ApiToken,
                cloud_id: None,
                account_id: me.account_id,
                display_name: me.display_name,
                detected_scoped: false,
            }),
            Err(JiraError::Unauthorized { .. }) if scoped.is_none() => {
                // Scoped API tokens are refused on the site URL but accepted by the gateway.
                self.verify_scoped(site_url, basic(), true).await.map_err(|e| match e {
                    AuthError::Verification { .. } => AuthError::Verification {
                        site: site_url.to_owned(),
                        message: "Atlassian refused the email/API token (401) on the site and, as a scoped token, on the API gateway; check the email and create a new token at id.atlassian.com".to_owned(),
                    },
                    other => other,
                })
            }
            Err(e) => Err(verification_error(site_url, e)),
        }
    }

    async fn verify_scoped(
        &self,
        site_url: &str,
        auth: JiraAuth,
        detected: bool,
    ) -> Result<VerifiedApiToken, AuthError> {
        let cloud_id = self.tenant_cloud_id(site_url).await?;
        let base = self.policy.gateway_base(&cloud_id).map_err(site_error)?;
        let me = self
            .myself(Target::new(base, auth, "verification"))
            .await
            .map_err(|e| verification_error(site_url, e))?;
        Ok(VerifiedApiToken {
            kind: AuthKind::ScopedApiToken,
            cloud_id: Some(cloud_id),
            account_id: me.account_id,
            display_name: me.display_name,
            detected_scoped: detected,
        })
    }

    /// `<site>/_edge/tenant_info` → cloudId.
    pub async fn tenant_cloud_id(&self, site_url: &str) -> Result<String, AuthError> {
        #[derive(Deserialize)]
        struct TenantInfo {
            #[serde(rename = "cloudId")]
            cloud_id: String,
        }
        let site = self.policy.check_site_url(site_url).map_err(site_error)?;
        let url = jiragate_jira::upstream_url(&site, "/_edge/tenant_info").map_err(site_error)?;
        let resp = self
            .jira
            .http()
            .get(url)
            .timeout(self.cfg.token_call_timeout)
            .send()
            .await
            .map_err(|e| AuthError::Verification {
                site: site_url.to_owned(),
                message: format!("could not reach the site: {}", e.without_url()),
            })?;
        if !resp.status().is_success() {
            return Err(AuthError::Verification {
                site: site_url.to_owned(),
                message: format!(
                    "no Jira Cloud site answers there (tenant_info answered {}); check the subdomain or base URL",
                    resp.status().as_u16()
                ),
            });
        }
        let info: TenantInfo = resp.json().await.map_err(|e| AuthError::Verification {
            site: site_url.to_owned(),
            message: format!(
                "tenant_info is not what Jira Cloud sends: {}",
                e.without_url()
            ),
        })?;
        Ok(info.cloud_id)
    }

    /// `GET /rest/api/3/myself`, accepted only when it is what Jira sends: a JSON object with
    /// an `accountId`. Any other 2xx (an internal service, a login page) is refused.
    async fn myself(&self, target: Target) -> Result<Myself, JiraError> {
        let src = StaticTokenSource(target);
        let resp = self
            .jira
            .send(&src, JiraRequest::get("/rest/api/3/myself"))
            .await?;
        let me = resp.json::<Myself>().map_err(|_| JiraError::InvalidResponse {
            message: "/rest/api/3/myself did not answer with Jira's JSON; this is not a Jira Cloud site".to_owned(),
        })?;
        if me.account_id.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(JiraError::InvalidResponse {
                message: "/rest/api/3/myself answered without an accountId; this is not a Jira Cloud site".to_owned(),
            });
        }
        Ok(me)
    }

    // ----- OAuth clients ------------------------------------------------------------------

    /// Registers an Atlassian OAuth 2.0 (3LO) app. The secret is sealed and never returned.
    pub async fn create_oauth_client(
        &self,
        org: &OrgId,
        client_id: &str,
        client_secret: SecretString,
        scopes: Vec<String>,
    ) -> Result<OAuthClientRecord, AuthError> {
        let client_id = client_id.trim();
        if client_id.is_empty() {
            return Err(AuthError::invalid("client_id", "must not be empty"));
        }
        if client_secret.expose_secret().is_empty() {
            return Err(AuthError::invalid("client_secret", "must not be empty"));
        }
        let id = OAuthClientRecordId::new();
        let sealed = self
            .keyring
            .seal_str(org, id.as_ref(), fields::CLIENT_SECRET, &client_secret)
            .await?;
        let scopes: Vec<String> = scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect();
        let rec = self
            .store
            .create_oauth_client(
                org,
                NewOAuthClient {
                    id: id.clone(),
                    client_id: client_id.to_owned(),
                    sealed_client_secret: sealed,
                    redirect_uri: self.cfg.redirect_uri(),
                    scopes,
                },
            )
            .await?;
        self.audit(
            org,
            "auth",
            "oauth_client.create",
            rec.id.as_ref(),
            serde_json::json!({"client_id": rec.client_id}),
        )
        .await;
        Ok(rec)
    }

    // ----- OAuth connect flow -------------------------------------------------------------

    /// Creates a connect session and the authorize URL to send the browser to.
    pub async fn start_connect(
        &self,
        org: &OrgId,
        req: StartConnect,
    ) -> Result<ConnectStart, AuthError> {
        self.start_session(org, req, None, SessionPurpose::Connect)
            .await
    }

    /// Starts an MCP client's Atlassian sign-in through the organization's OAuth client: a
    /// connect session whose callback creates or reuses the signed-in person's own user
    /// connection ([`MCP_SIGN_IN_WORKSPACE`], named by their Atlassian account id) instead of
    /// a named one. `subdomain` picks the site when the person's grant covers several.
    pub async fn start_mcp_sign_in(
        &self,
        org: &OrgId,
        oauth_client_id: &OAuthClientRecordId,
        subdomain: Option<String>,
    ) -> Result<ConnectStart, AuthError> {
        let req = StartConnect {
            oauth_client_id: oauth_client_id.clone(),
            workspace: MCP_SIGN_IN_WORKSPACE.to_owned(),
            // Decided on the callback, from who signed in.
            name: "sign-in".to_owned(),
            scopes: None,
            subdomain,
            owner: Owner::Installation,
            api_type: ApiType::Platform,
        };
        self.start_session(org, req, None, SessionPurpose::McpSignIn)
            .await
    }

    /// Re-authorizes an existing OAuth connection in place (Reconnect): a connect session whose
    /// callback replaces the connection's tokens, on the same site, instead of creating one.
    pub async fn start_reconnect(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
    ) -> Result<ConnectStart, AuthError> {
        let conn = self.connection(org, conn_id).await?;
        if conn.auth_kind != AuthKind::OAuth2 {
            return Err(AuthError::invalid(
                "connection",
                "only OAuth 2.0 connections are re-authorized with Atlassian; replace an API token instead",
            ));
        }
        let client = conn.oauth_client_id.clone().ok_or_else(|| {
            AuthError::invalid(
                "connection",
                "the connection has no registered OAuth client to re-authorize with",
            )
        })?;
        let scopes: Vec<String> = conn
            .scopes
            .iter()
            .filter(|s| *s != "offline_access")
            .cloned()
            .collect();
        let req = StartConnect {
            oauth_client_id: client,
            workspace: conn.workspace.clone(),
            name: conn.name.clone(),
            scopes: (!scopes.is_empty()).then_some(scopes),
            subdomain: None,
            owner: conn.owner.clone(),
            api_type: conn.api_type,
        };
        self.start_session(org, req, Some(conn.id.clone()), SessionPurpose::Connect)
            .await
    }

    async fn start_session(
        &self,
        org: &OrgId,
        req: StartConnect,
        reconnect: Option<ConnectionId>,
        purpose: SessionPurpose,
    ) -> Result<ConnectStart, AuthError> {
        validate_names(&req.workspace, &req.name)?;
        let subdomain = match req.subdomain.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(self.requested_subdomain(s)?),
        };
        let client = self
            .store
            .get_oauth_client(org, &req.oauth_client_id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "oauth client",
                id: req.oauth_client_id.to_string(),
            })?;
        if reconnect.is_none()
            && purpose == SessionPurpose::Connect
            && self
                .store
                .find_connection(org, &req.workspace, &req.name)
                .await?
                .is_some()
        {
            return Err(AuthError::invalid(
                "name",
                format!(
                    "a connection named {:?} already exists in workspace {:?}",
                    req.name, req.workspace
                ),
            ));
        }
        let scopes = scopes_with_offline_access(req.scopes.as_deref().unwrap_or(&client.scopes));
        let redirect = if client.redirect_uri.is_empty() {
            self.cfg.redirect_uri()
        } else {
            client.redirect_uri.clone()
        };
        let authz = oauth::build_authorize_url(
            &self.cfg.endpoints.authorize_url(),
            &client.client_id,
            &redirect,
            &scopes,
        )
        .map_err(|m| AuthError::invalid("endpoints", m))?;
        let id = ConnectSessionId::new();
        let sealed_verifier = self
            .keyring
            .seal_str(
                org,
                id.as_ref(),
                fields::PKCE_VERIFIER,
                &authz.pkce_verifier,
            )
            .await?;
        let expires_at = self.now() + self.cfg.connect_session_ttl;
        let session = self
            .store
            .create_connect_session(
                org,
                NewConnectSession {
                    id: id.clone(),
                    oauth_client_id: client.id.clone(),
                    workspace: req.workspace,
                    name: req.name,
                    owner: req.owner,
                    scopes,
                    subdomain,
                    api_type: req.api_type,
                    state_hash: oauth::hash_state(authz.state.expose_secret()),
                    sealed_pkce_verifier: sealed_verifier,
                    expires_at,
                    reconnect_connection_id: reconnect,
                    purpose,
                },
            )
            .await?;
        Ok(ConnectStart {
            session_id: session.id,
            authorize_url: authz.url,
            expires_at,
        })
    }

    /// The OAuth redirect target: validates the single-use state, exchanges the code (with
    /// the PKCE verifier) and picks the site.
    pub async fn handle_callback(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
    ) -> Result<CallbackOutcome, AuthError> {
        if state.is_empty() {
            return Err(AuthError::State { reason: "missing" });
        }
        let hash = oauth::hash_state(state);
        let Some(session) = self
            .store
            .consume_session_state_at(&hash, self.now())
            .await?
        else {
            let reason = match self.store.find_session_by_state_hash(&hash).await? {
                None => "unknown",
                Some(s) if s.expires_at <= self.now() && s.status == SessionStatus::Pending => {
                    "expired"
                }
                Some(_) => "replayed",
            };
            return Err(AuthError::State { reason });
        };
        if session.expires_at <= self.now() {
            self.fail_session(&session, "the session expired before the callback arrived")
                .await;
            return Err(AuthError::State { reason: "expired" });
        }
        if let Some(err) = error {
            let message = format!(
                "Atlassian returned error {err:?} (the user denied consent or the request was invalid)"
            );
            self.fail_session(&session, &message).await;
            return Err(AuthError::OAuth { message });
        }
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            let message = "the callback carries no authorization code".to_owned();
            self.fail_session(&session, &message).await;
            return Err(AuthError::OAuth { message });
        };
        match self.complete_session(&session, code).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                self.fail_session(&session, &e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn complete_session(
        &self,
        session: &ConnectSession,
        code: &str,
    ) -> Result<CallbackOutcome, AuthError> {
        let org = &session.org_id;
        let client = self.oauth_client(org, &session.oauth_client_id).await?;
        let secret = self.client_secret(org, &client).await?;
        let verifier = self
            .keyring
            .open_str(
                org,
                session.id.as_ref(),
                fields::PKCE_VERIFIER,
                &session.sealed_pkce_verifier,
            )
            .await?;
        let redirect = if client.redirect_uri.is_empty() {
            self.cfg.redirect_uri()
        } else {
            client.redirect_uri.clone()
        };
        let tokens = self
            .oauth()
            .exchange_code(&client.client_id, &secret, code, &redirect, &verifier)
            .await
            .map_err(|e| AuthError::OAuth {
                message: format!("code exchange failed: {e}"),
            })?;
        let grant = self.grant_from(tokens, &session.scopes)?;
        self.warn_on_reduced_scopes(org, session, &grant.granted_scopes)
            .await;
        let resources = self
            .oauth()
            .accessible_resources(&grant.access_token)
            .await
            .map_err(|e| AuthError::OAuth {
                message: format!("accessible-resources failed: {e}"),
            })?;
        if let Some(conn_id) = &session.reconnect_connection_id {
            let conn = self
                .reauthorize_from_session(session, conn_id, &client, &resources, grant)
                .await?;
            return Ok(CallbackOutcome::Connected(conn));
        }
        match decide_site(
            &resources,
            session.subdomain.as_deref(),
            &self.cfg.endpoints.site_url_template,
        ) {
            SiteDecision::Chosen(resource) => {
                let conn = self
                    .connect_on_site(session, &client, &resource, &resources, &grant)
                    .await?;
                Ok(CallbackOutcome::Connected(conn))
            }
            SiteDecision::AskUser(choices) => {
                self.park_tokens(org, &session.id, &grant, &choices).await?;
                Ok(CallbackOutcome::ChooseSite {
                    session_id: session.id.clone(),
                    sites: choices,
                })
            }
            SiteDecision::NotFound {
                requested,
                available,
            } => Err(AuthError::SiteNotFound {
                requested,
                available,
            }),
            SiteDecision::NoSites => Err(AuthError::OAuth {
                message: "the grant covers no Jira site (the user may have no access to any site)"
                    .to_owned(),
            }),
        }
    }

    /// Keeps a grant's tokens (sealed) in a session that waits for a site choice.
    async fn park_tokens(
        &self,
        org: &OrgId,
        session: &ConnectSessionId,
        grant: &OAuthGrant,
        choices: &[SiteChoice],
    ) -> Result<(), AuthError> {
        let pending = PendingTokens {
            access_token: grant.access_token.expose_secret().to_owned(),
            refresh_token: grant.refresh_token.expose_secret().to_owned(),
            access_expires_at: grant.access_expires_at,
            scopes: grant.granted_scopes.clone(),
        };
        let pending_json =
            SecretString::from(
                serde_json::to_string(&pending).map_err(|e| AuthError::OAuth {
                    message: format!("could not park the tokens: {e}"),
                })?,
            );
        drop(pending);
        let sealed = self
            .keyring
            .seal_str(org, session.as_ref(), fields::PENDING_TOKENS, &pending_json)
            .await?;
        self.store
            .update_connect_session(
                org,
                session,
                ConnectSessionPatch {
                    status: Some(SessionStatus::ChooseSite),
                    sites_json: Some(Some(serde_json::to_value(choices).unwrap_or_default())),
                    sealed_pending_tokens: Some(Some(sealed)),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Bring-your-own tokens were refreshed (the caller's refresh token is spent) but the site
    /// is not decided: the new tokens wait, sealed, in a connect session that the caller
    /// finishes with [`AuthService::choose_site`]. The session lives as long as the refreshed
    /// access token (the connection is verified with it).
    async fn park_byo_grant(
        &self,
        org: &OrgId,
        parts: &OAuthConnectionParts,
        grant: OAuthGrant,
        mut choices: Vec<SiteChoice>,
        reason: String,
    ) -> Result<AuthError, AuthError> {
        choices.sort_by(|a, b| a.name.cmp(&b.name).then(a.url.cmp(&b.url)));
        let id = ConnectSessionId::new();
        // The session is never reached through a callback: its state and verifier are random
        // values nobody holds.
        let never_given = oauth::generate_state();
        let sealed_verifier = self
            .keyring
            .seal_str(
                org,
                id.as_ref(),
                fields::PKCE_VERIFIER,
                &oauth::generate_state(),
            )
            .await?;
        let expires_at = grant.access_expires_at - self.cfg.expiry_skew;
        let session = self
            .store
            .create_connect_session(
                org,
                NewConnectSession {
                    id: id.clone(),
                    oauth_client_id: parts.client_record.clone(),
                    workspace: parts.workspace.clone(),
                    name: parts.name.clone(),
                    owner: parts.owner.clone(),
                    scopes: grant.granted_scopes.clone(),
                    subdomain: None,
                    api_type: parts.api_type,
                    state_hash: oauth::hash_state(never_given.expose_secret()),
                    sealed_pkce_verifier: sealed_verifier,
                    expires_at,
                    reconnect_connection_id: None,
                    purpose: SessionPurpose::Connect,
                },
            )
            .await?;
        self.park_tokens(org, &session.id, &grant, &choices).await?;
        self.audit(
            org,
            "auth",
            "connect_session.tokens_parked",
            session.id.as_ref(),
            serde_json::json!({"reason": reason, "sites": choices.iter().map(|c| &c.url).collect::<Vec<_>>()}),
        )
        .await;
        Ok(AuthError::SiteChoiceRequired {
            session_id: session.id.to_string(),
            sites: choices,
            reason,
            expires_at: session.expires_at,
        })
    }

    fn grant_from(&self, tokens: TokenSet, requested: &[String]) -> Result<OAuthGrant, AuthError> {
        let granted = {
            let s = tokens.scopes();
            if s.is_empty() { requested.to_vec() } else { s }
        };
        let refresh_token = tokens.refresh_token.ok_or_else(|| AuthError::OAuth {
            message: "Atlassian issued no refresh token (offline_access was not granted); the connection could not stay valid".to_owned(),
        })?;
        Ok(OAuthGrant {
            access_token: tokens.access_token,
            refresh_token,
            access_expires_at: self.now() + std::time::Duration::from_secs(tokens.expires_in),
            granted_scopes: granted,
        })
    }

    async fn warn_on_reduced_scopes(
        &self,
        org: &OrgId,
        session: &ConnectSession,
        granted: &[String],
    ) {
        let missing: Vec<&String> = session
            .scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .collect();
        if missing.is_empty() {
            return;
        }
        let warning = format!(
            "Atlassian granted fewer scopes than requested; missing: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        tracing::warn!(session = %session.id, "{warning}");
        self.audit(
            org,
            "auth",
            "connect_session.scopes_reduced",
            session.id.as_ref(),
            serde_json::json!({"requested": session.scopes, "granted": granted, "missing": missing}),
        )
        .await;
        if let Err(e) = self
            .store
            .update_connect_session(
                org,
                &session.id,
                ConnectSessionPatch {
                    // The session has one free-text field; a connected session with text there is a
                    // warning, not a failure.
                    error: Some(Some(format!("warning: {warning}"))),
                    ..Default::default()
                },
            )
            .await
        {
            tracing::warn!(session = %session.id, error = %e, "could not record the scope warning on the session");
        }
    }

    async fn fail_session(&self, session: &ConnectSession, message: &str) {
        if let Err(e) = self
            .store
            .update_connect_session(
                &session.org_id,
                &session.id,
                ConnectSessionPatch {
                    status: Some(SessionStatus::Failed),
                    error: Some(Some(message.to_owned())),
                    sealed_pending_tokens: Some(None),
                    ..Default::default()
                },
            )
            .await
        {
            tracing::warn!(session = %session.id, error = %e, "could not mark the session failed");
        }
    }

    /// Completes a session that waits for a site choice.
    pub async fn choose_site(
        &self,
        org: &OrgId,
        session_id: &ConnectSessionId,
        cloud_id: &str,
    ) -> Result<Connection, AuthError> {
        let session = self
            .store
            .get_connect_session(org, session_id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "connect session",
                id: session_id.to_string(),
            })?;
        if session.status != SessionStatus::ChooseSite {
            return Err(AuthError::SessionState {
                session: session_id.to_string(),
                message: format!(
                    "the session is {}, not waiting for a site choice",
                    session_status_name(session.status)
                ),
            });
        }
        let choices: Vec<SiteChoice> = session
            .sites_json
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        // The cloud id, or the site's URL or subdomain (what a caller knows).
        let wanted = cloud_id.trim().trim_end_matches('/');
        let template = &self.cfg.endpoints.site_url_template;
        let Some(choice) = choices.iter().find(|c| {
            c.cloud_id == wanted
                || c.url.trim_end_matches('/') == wanted
                || subdomain_of_url(&c.url, template).as_deref() == Some(wanted)
        }) else {
            return Err(AuthError::SiteNotFound {
                requested: cloud_id.to_owned(),
                available: choices
                    .iter()
                    .map(|c| format!("{} ({}, cloud id {})", c.name, c.url, c.cloud_id))
                    .collect(),
            });
        };
        let sealed =
            session
                .sealed_pending_tokens
                .as_deref()
                .ok_or_else(|| AuthError::SessionState {
                    session: session_id.to_string(),
                    message: "the session holds no tokens any more; start the connection again"
                        .to_owned(),
                })?;
        let pending_json = self
            .keyring
            .open_str(org, session.id.as_ref(), fields::PENDING_TOKENS, sealed)
            .await?;
        let pending: PendingTokens =
            serde_json::from_str(pending_json.expose_secret()).map_err(|_| {
                AuthError::SessionState {
                    session: session_id.to_string(),
                    message: "the parked tokens are unreadable; start the connection again"
                        .to_owned(),
                }
            })?;
        let grant = OAuthGrant {
            access_token: SecretString::from(pending.access_token),
            refresh_token: SecretString::from(pending.refresh_token),
            access_expires_at: pending.access_expires_at,
            granted_scopes: pending.scopes,
        };
        let client = self.oauth_client(org, &session.oauth_client_id).await?;
        let resource = AccessibleResource {
            id: choice.cloud_id.clone(),
            url: choice.url.clone(),
            name: choice.name.clone(),
            scopes: Vec::new(),
        };
        match self
            .connect_on_site(
                &session,
                &client,
                &resource,
                std::slice::from_ref(&resource),
                &grant,
            )
            .await
        {
            Ok(c) => Ok(c),
            Err(e) => {
                self.fail_session(&session, &e.to_string()).await;
                Err(e)
            }
        }
    }

    /// A session whose grant reaches the chosen site ends in its connection: an MCP sign-in's
    /// the person's own, any other the named one it creates. `resources` are the sites the
    /// grant covers (a reused connection must be on one of them).
    async fn connect_on_site(
        &self,
        session: &ConnectSession,
        client: &OAuthClientRecord,
        resource: &AccessibleResource,
        resources: &[AccessibleResource],
        grant: &OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let conn = if session.purpose == SessionPurpose::McpSignIn {
            self.sign_in_connection(session, client, resource, resources, grant)
                .await?
        } else {
            self.create_oauth_connection(
                &session.org_id,
                OAuthConnectionParts {
                    workspace: session.workspace.clone(),
                    name: session.name.clone(),
                    api_type: session.api_type,
                    owner: session.owner.clone(),
                    client_record: client.id.clone(),
                },
                resource,
                grant,
            )
            .await?
        };
        self.mark_session_connected(session, &conn).await?;
        Ok(conn)
    }

    /// A session that ended in a connection: connected to it, with no tokens left parked.
    async fn mark_session_connected(
        &self,
        session: &ConnectSession,
        conn: &Connection,
    ) -> Result<(), AuthError> {
        self.store
            .update_connect_session(
                &session.org_id,
                &session.id,
                ConnectSessionPatch {
                    status: Some(SessionStatus::Connected),
                    connection_id: Some(Some(conn.id.clone())),
                    sealed_pending_tokens: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Gives an existing connection a new OAuth grant: it must reach the connection's own
    /// site; the tokens are sealed, then committed, and the connection is healthy again.
    async fn install_oauth_grant(
        &self,
        org: &OrgId,
        conn: &Connection,
        client: &OAuthClientRecord,
        resources: &[AccessibleResource],
        grant: &OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let (credential, patch) = self
            .oauth_replacement(org, conn, client, resources, grant)
            .await?;
        self.install_credential(org, conn, credential, patch).await
    }

    /// Reconnect: the new grant must reach the connection's own site; its tokens replace the
    /// connection's (sealed first, then committed), and the connection is healthy again.
    async fn reauthorize_from_session(
        &self,
        session: &ConnectSession,
        conn_id: &ConnectionId,
        client: &OAuthClientRecord,
        resources: &[AccessibleResource],
        grant: OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let org = &session.org_id;
        let conn = self.connection(org, conn_id).await?;
        let updated = self
            .install_oauth_grant(org, &conn, client, resources, &grant)
            .await?;
        self.mark_session_connected(session, &updated).await?;
        Ok(updated)
    }

    /// An MCP sign-in's grant on the chosen site: the person's own user connection (owner
    /// `user:<account id>`, named by the account id in [`MCP_SIGN_IN_WORKSPACE`]), created on
    /// their first sign-in and given the fresh tokens on every later one. Two first sign-ins
    /// of the same person may race: the one whose insert meets the other's connection (the
    /// unique workspace/name) installs its tokens on that connection instead.
    async fn sign_in_connection(
        &self,
        session: &ConnectSession,
        client: &OAuthClientRecord,
        resource: &AccessibleResource,
        resources: &[AccessibleResource],
        grant: &OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let org = &session.org_id;
        let base = jiragate_jira::urls::ex_jira(&self.cfg.endpoints.api_url, &resource.id);
        let me = self
            .myself(Target::new(
                base,
                JiraAuth::Bearer(grant.access_token.clone()),
                "verification",
            ))
            .await
            .map_err(|e| AuthError::Verification {
                site: resource.url.clone(),
                message: format!(
                    "who signed in could not be read (/myself, needs read:jira-user): {e}"
                ),
            })?;
        let account_id = me
            .account_id
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| AuthError::Verification {
                site: resource.url.clone(),
                message: "Jira did not say who signed in (no accountId)".to_owned(),
            })?;
        let name = account_id.trim().to_owned();
        validate_names(MCP_SIGN_IN_WORKSPACE, &name)?;
        if self
            .store
            .find_connection(org, MCP_SIGN_IN_WORKSPACE, &name)
            .await?
            .is_some()
        {
            return self
                .reuse_sign_in_connection(org, &name, client, resources, grant)
                .await;
        }
        let created = self
            .create_oauth_connection(
                org,
                OAuthConnectionParts {
                    workspace: MCP_SIGN_IN_WORKSPACE.to_owned(),
                    name: name.clone(),
                    api_type: ApiType::Platform,
                    owner: Owner::User(account_id),
                    client_record: client.id.clone(),
                },
                resource,
                grant,
            )
            .await;
        match created {
            // Created by a concurrent first sign-in of the same person since the look-up.
            Err(AuthError::Store(StoreError::AlreadyExists { .. })) => {
                self.reuse_sign_in_connection(org, &name, client, resources, grant)
                    .await
            }
            other => other,
        }
    }

    /// Installs a sign-in's tokens on the person's existing connection (re-read on every
    /// attempt: a concurrent sign-in may have just changed it).
    async fn reuse_sign_in_connection(
        &self,
        org: &OrgId,
        name: &str,
        client: &OAuthClientRecord,
        resources: &[AccessibleResource],
        grant: &OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self
                .store
                .find_connection(org, MCP_SIGN_IN_WORKSPACE, name)
                .await?
                .ok_or_else(|| AuthError::NotFound {
                    what: "connection",
                    id: format!("{MCP_SIGN_IN_WORKSPACE}/{name}"),
                })?;
            match self
                .install_oauth_grant(org, &conn, client, resources, grant)
                .await
            {
                Ok(updated) => {
                    self.audit(
                        org,
                        "auth",
                        "connection.sign_in",
                        conn.id.as_ref(),
                        serde_json::json!({"account_id": name, "reused": true}),
                    )
                    .await;
                    return Ok(updated);
                }
                Err(AuthError::Store(e)) if e.is_conflict() && attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn create_oauth_connection(
        &self,
        org: &OrgId,
        parts: OAuthConnectionParts,
        resource: &AccessibleResource,
        grant: &OAuthGrant,
    ) -> Result<Connection, AuthError> {
        let base = jiragate_jira::urls::ex_jira(&self.cfg.endpoints.api_url, &resource.id);
        // Who the grant acts as; a grant without read:jira-user still connects.
        let me = self
            .myself(Target::new(
                base,
                JiraAuth::Bearer(grant.access_token.clone()),
                "verification",
            ))
            .await;
        let (account_id, account_name) = match me {
            Ok(me) => (me.account_id, me.display_name),
            Err(JiraError::MissingScope { .. }) => (None, None),
            Err(e) => {
                return Err(AuthError::Verification {
                    site: resource.url.clone(),
                    message: format!("the new token does not work on the site: {e}"),
                });
            }
        };
        let id = ConnectionId::new();
        let sealed_access = self
            .keyring
            .seal_str(org, id.as_ref(), fields::ACCESS_TOKEN, &grant.access_token)
            .await?;
        let sealed_refresh = self
            .keyring
            .seal_str(
                org,
                id.as_ref(),
                fields::REFRESH_TOKEN,
                &grant.refresh_token,
            )
            .await?;
        let now = self.now();
        let site_url = resource.url.trim_end_matches('/').to_owned();
        let conn = self
            .store
            .create_connection(
                org,
                NewConnection {
                    id: id.clone(),
                    workspace: parts.workspace,
                    name: parts.name,
                    api_type: parts.api_type,
                    auth_kind: AuthKind::OAuth2,
                    subdomain: subdomain_of_url(&site_url, &self.cfg.endpoints.site_url_template),
                    site_url,
                    cloud_id: Some(resource.id.clone()),
                    account_id,
                    account_name,
                    email: None,
                    oauth_client_id: Some(parts.client_record),
                    scopes: grant.granted_scopes.clone(),
                    owner: parts.owner,
                    status: ConnectionStatus::Healthy,
                    status_reason: None,
                    last_checked_at: Some(now),
                },
                NewCredential {
                    sealed_api_token: None,
                    sealed_access_token: Some(sealed_access),
                    sealed_refresh_token: Some(sealed_refresh),
                    access_expires_at: Some(grant.access_expires_at),
                    refresh_issued_at: Some(now),
                },
            )
            .await?;
        self.audit(
            org,
            "auth",
            "connection.create",
            conn.id.as_ref(),
            serde_json::json!({"auth_kind": "oauth2", "cloud_id": resource.id, "site": conn.site_url, "scopes": grant.granted_scopes}),
        )
        .await;
        Ok(conn)
    }

    async fn oauth_client(
        &self,
        org: &OrgId,
        id: &OAuthClientRecordId,
    ) -> Result<OAuthClientRecord, AuthError> {
        self.store
            .get_oauth_client(org, id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "oauth client",
                id: id.to_string(),
            })
    }

    async fn client_secret(
        &self,
        org: &OrgId,
        client: &OAuthClientRecord,
    ) -> Result<SecretString, AuthError> {
        self.keyring
            .open_str(
                org,
                client.id.as_ref(),
                fields::CLIENT_SECRET,
                &client.sealed_client_secret,
            )
            .await
    }

    /// Finds the organization's record of `client_id`, registering it when a secret is given.
    async fn ensure_oauth_client(
        &self,
        org: &OrgId,
        client_id: &str,
        client_secret: Option<SecretString>,
        may_register: bool,
    ) -> Result<(OAuthClientRecord, SecretString, bool), AuthError> {
        let existing = self
            .store
            .list_oauth_clients(org)
            .await?
            .into_iter()
            .find(|c| c.client_id == client_id);
        match (existing, client_secret) {
            (Some(rec), Some(secret)) => Ok((rec, secret, false)),
            (Some(rec), None) => {
                let secret = self.client_secret(org, &rec).await?;
                Ok((rec, secret, false))
            }
            (None, Some(_)) if !may_register => Err(AuthError::invalid(
                "client_id",
                format!(
                    "no OAuth client with client_id {} is registered in this organization; an admin key must register it first (POST /api/v1/oauth-clients or `jiragate oauth-clients add`)",
                    jiragate_jira::quote(client_id)
                ),
            )),
            (None, Some(secret)) => {
                let rec = self
                    .create_oauth_client(org, client_id, secret.clone(), Vec::new())
                    .await?;
                Ok((rec, secret, true))
            }
            (None, None) => Err(AuthError::invalid(
                "client_secret",
                format!(
                    "no OAuth client with client_id {} is registered; give its client_secret",
                    jiragate_jira::quote(client_id)
                ),
            )),
        }
    }

    /// Validates by one refresh (which rotates the refresh token), then resolves the site.
    async fn validate_oauth_tokens(
        &self,
        client: &OAuthClientRecord,
        secret: &SecretString,
        refresh_token: &SecretString,
    ) -> Result<(OAuthGrant, Vec<AccessibleResource>), AuthError> {
        let tokens = self
            .oauth()
            .refresh(&client.client_id, Some(secret), refresh_token)
            .await
            .map_err(|e| match e {
                TokenEndpointError::InvalidGrant { description } => AuthError::Verification {
                    site: self.cfg.endpoints.auth_url.clone(),
                    message: format!("Atlassian refused the refresh token (invalid_grant: {description}); it is expired, revoked or already used"),
                },
                other => AuthError::Verification {
                    site: self.cfg.endpoints.auth_url.clone(),
                    message: other.to_string(),
                },
            })?;
        let mut grant = self.grant_from(tokens, &[])?;
        if grant.granted_scopes.is_empty() {
            grant.granted_scopes = client.scopes.clone();
        }
        let resources = self
            .oauth()
            .accessible_resources(&grant.access_token)
            .await
            .map_err(|e| AuthError::OAuth {
                message: format!("accessible-resources failed: {e}"),
            })?;
        Ok((grant, resources))
    }

    /// Creates an OAuth connection from tokens obtained elsewhere.
    pub async fn create_byo_oauth_connection(
        &self,
        org: &OrgId,
        req: NewOAuthTokens,
    ) -> Result<Connection, AuthError> {
        validate_names(&req.workspace, &req.name)?;
        if self
            .store
            .find_connection(org, &req.workspace, &req.name)
            .await?
            .is_some()
        {
            return Err(AuthError::invalid(
                "name",
                format!(
                    "a connection named {:?} already exists in workspace {:?}",
                    req.name, req.workspace
                ),
            ));
        }
        let requested = match req.subdomain.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(self.requested_subdomain(s)?),
        };
        // When the caller also gave an access token, decide the site with it first: a refused
        // request must not spend (rotate) the caller's refresh token.
        if let Some(access) = &req.access_token
            && let Ok(resources) = self.oauth().accessible_resources(access).await
            && !resources.is_empty()
        {
            pick_site(
                &resources,
                requested.as_deref(),
                &self.cfg.endpoints.site_url_template,
            )?;
        }
        let (client, secret, registered_now) = self
            .ensure_oauth_client(
                org,
                req.client_id.trim(),
                req.client_secret,
                req.may_register_client,
            )
            .await?;
        let parts = OAuthConnectionParts {
            workspace: req.workspace,
            name: req.name,
            api_type: req.api_type,
            owner: req.owner,
            client_record: client.id.clone(),
        };
        let result = async {
            let (grant, resources) = self
                .validate_oauth_tokens(&client, &secret, &req.refresh_token)
                .await?;
            // From here on the caller's refresh token is spent: a refusal keeps the new tokens.
            let all = || resources.iter().map(SiteChoice::from).collect::<Vec<_>>();
            let resource = match decide_site(
                &resources,
                requested.as_deref(),
                &self.cfg.endpoints.site_url_template,
            ) {
                SiteDecision::Chosen(r) => r,
                SiteDecision::AskUser(choices) => {
                    let reason = format!(
                        "the grant covers several sites ({}) and the request named none",
                        site_urls(&choices)
                    );
                    return Err(self
                        .park_byo_grant(org, &parts, grant, choices, reason)
                        .await?);
                }
                SiteDecision::NotFound { requested, .. } => {
                    let choices = all();
                    let reason = format!(
                        "site {} is not among the sites this grant covers ({})",
                        jiragate_jira::quote(&requested),
                        site_urls(&choices)
                    );
                    return Err(self
                        .park_byo_grant(org, &parts, grant, choices, reason)
                        .await?);
                }
                SiteDecision::NoSites => {
                    return Err(AuthError::OAuth {
                        message: "the grant covers no Jira site".to_owned(),
                    });
                }
            };
            self.create_oauth_connection(
                org,
                OAuthConnectionParts {
                    workspace: parts.workspace.clone(),
                    name: parts.name.clone(),
                    api_type: parts.api_type,
                    owner: parts.owner.clone(),
                    client_record: parts.client_record.clone(),
                },
                &resource,
                &grant,
            )
            .await
        }
        .await;
        // A parked session refers to the client it registered: keep that client.
        let parked = matches!(result, Err(AuthError::SiteChoiceRequired { .. }));
        if result.is_err() && registered_now && !parked {
            // A refused request leaves nothing behind, not even the client it registered.
            if let Err(e) = self.store.delete_oauth_client(org, &client.id).await {
                tracing::warn!(error = %e, "could not remove the OAuth client registered by a refused request");
            }
        }
        result
    }

    /// A requested site as a subdomain: a name, or a site URL admitted by the upstream policy
    /// and read back through the site template.
    fn requested_subdomain(&self, s: &str) -> Result<String, AuthError> {
        if s.contains("://") {
            let url = self.policy.check_site_url(s).map_err(site_error)?;
            return subdomain_of_url(&url, &self.cfg.endpoints.site_url_template).ok_or_else(
                || {
                    AuthError::invalid(
                        "base_url",
                        format!(
                            "{} is not a site of this grant's form; give its subdomain",
                            jiragate_jira::quote(s)
                        ),
                    )
                },
            );
        }
        self.policy.subdomain(s).map_err(site_error)
    }

    /// Replaces a connection's credentials after verifying the new ones (never merged).
    pub async fn replace_credentials(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
        creds: Credentials,
    ) -> Result<Connection, AuthError> {
        let conn = self.connection(org, conn_id).await?;
        let (credential, patch) = match (conn.auth_kind, creds) {
            (
                AuthKind::ApiToken | AuthKind::ScopedApiToken,
                Credentials::ApiToken { email, token },
            ) => {
                let email = email.or(conn.email.clone()).unwrap_or_default();
                let scoped = Some(conn.auth_kind == AuthKind::ScopedApiToken);
                let verified = self
                    .verify_api_token(&conn.site_url, email.trim(), &token, scoped)
                    .await?;
                let sealed = self
                    .keyring
                    .seal_str(org, conn.id.as_ref(), fields::API_TOKEN, &token)
                    .await?;
                (
                    NewCredential {
                        sealed_api_token: Some(sealed),
                        ..Default::default()
                    },
                    ConnectionPatch {
                        email: Some(Some(email.trim().to_owned())),
                        account_id: Some(verified.account_id),
                        account_name: Some(verified.display_name),
                        status: Some(ConnectionStatus::Healthy),
                        status_reason: Some(None),
                        ..Default::default()
                    },
                )
            }
            (
                AuthKind::OAuth2,
                Credentials::OAuthTokens {
                    refresh_token,
                    access_token: _,
                    client_id,
                    client_secret,
                },
            ) => {
                let (client, secret) = match client_id {
                    Some(cid) => {
                        // Replacing credentials never registers a client on the way.
                        let (rec, secret, _) = self
                            .ensure_oauth_client(org, cid.trim(), client_secret, false)
                            .await?;
                        (rec, secret)
                    }
                    None => {
                        let id = conn.oauth_client_id.clone().ok_or_else(|| {
                            AuthError::invalid(
                                "client_id",
                                "the connection has no OAuth client; give client_id",
                            )
                        })?;
                        let rec = self.oauth_client(org, &id).await?;
                        let secret = match client_secret {
                            Some(s) => s,
                            None => self.client_secret(org, &rec).await?,
                        };
                        (rec, secret)
                    }
                };
                let (grant, resources) = self
                    .validate_oauth_tokens(&client, &secret, &refresh_token)
                    .await?;
                self.oauth_replacement(org, &conn, &client, &resources, &grant)
                    .await?
            }
            (kind, _) => {
                return Err(AuthError::invalid(
                    "credentials",
                    format!(
                        "a {} connection takes {} credentials",
                        auth_kind_name(kind),
                        if kind == AuthKind::OAuth2 {
                            "OAuth token"
                        } else {
                            "API token (username/password)"
                        }
                    ),
                ));
            }
        };
        let updated = self
            .install_credential(org, &conn, credential, patch)
            .await?;
        self.audit(
            org,
            "auth",
            "connection.credentials_replaced",
            conn.id.as_ref(),
            serde_json::json!({}),
        )
        .await;
        Ok(updated)
    }

    /// A new grant for `conn`'s own site, as the sealed credential and the connection changes
    /// that install it (`SiteNotFound` when the grant does not reach that site).
    async fn oauth_replacement(
        &self,
        org: &OrgId,
        conn: &Connection,
        client: &OAuthClientRecord,
        resources: &[AccessibleResource],
        grant: &OAuthGrant,
    ) -> Result<(NewCredential, ConnectionPatch), AuthError> {
        let cloud = conn.cloud_id.clone().unwrap_or_default();
        if !resources.iter().any(|r| r.id == cloud) {
            return Err(AuthError::SiteNotFound {
                requested: conn.site_url.clone(),
                available: resources.iter().map(|r| r.url.clone()).collect(),
            });
        }
        let sealed_access = self
            .keyring
            .seal_str(
                org,
                conn.id.as_ref(),
                fields::ACCESS_TOKEN,
                &grant.access_token,
            )
            .await?;
        let sealed_refresh = self
            .keyring
            .seal_str(
                org,
                conn.id.as_ref(),
                fields::REFRESH_TOKEN,
                &grant.refresh_token,
            )
            .await?;
        Ok((
            NewCredential {
                sealed_api_token: None,
                sealed_access_token: Some(sealed_access),
                sealed_refresh_token: Some(sealed_refresh),
                access_expires_at: Some(grant.access_expires_at),
                refresh_issued_at: Some(self.now()),
            },
            ConnectionPatch {
                oauth_client_id: Some(Some(client.id.clone())),
                scopes: Some(grant.granted_scopes.clone()),
                status: Some(ConnectionStatus::Healthy),
                status_reason: Some(None),
                ..Default::default()
            },
        ))
    }

    /// Commits a replaced credential, forgets cached tokens, then updates the connection.
    async fn install_credential(
        &self,
        org: &OrgId,
        conn: &Connection,
        credential: NewCredential,
        patch: ConnectionPatch,
    ) -> Result<Connection, AuthError> {
        self.store
            .replace_credential(org, &conn.id, credential)
            .await?;
        self.tokens.invalidate(&conn.id);
        Ok(self
            .store
            .update_connection(org, &conn.id, conn.version, patch)
            .await?)
    }

    async fn connection(&self, org: &OrgId, id: &ConnectionId) -> Result<Connection, AuthError> {
        self.store
            .get_connection(org, id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "connection",
                id: id.to_string(),
            })
    }

    /// Finds the connection of a workspace for the installation or for one user.
    pub async fn resolve_connection(
        &self,
        org: &OrgId,
        workspace: &str,
        user_id: Option<&str>,
        credential_for: CredentialFor,
    ) -> Result<Connection, AuthError> {
        let wanted = match (credential_for, user_id) {
            (CredentialFor::Installation, _) => Owner::Installation,
            (CredentialFor::User, Some(u)) if !u.is_empty() => Owner::User(u.to_owned()),
            (CredentialFor::User, _) => {
                return Err(AuthError::invalid(
                    "user_id",
                    "required with credential_for=user",
                ));
            }
        };
        let mut found: Vec<Connection> = self
            .store
            .list_connections(org, Some(workspace))
            .await?
            .into_iter()
            .filter(|c| c.owner == wanted)
            .collect();
        match found.len() {
            0 => Err(AuthError::NotFound {
                what: "connection for",
                id: format!("workspace {workspace:?}, {}", owner_label(&wanted)),
            }),
            1 => Ok(found.remove(0)),
            n => Err(AuthError::invalid(
                "connector_id",
                format!(
                    "{n} connections in workspace {workspace:?} belong to {}; name one by id",
                    owner_label(&wanted)
                ),
            )),
        }
    }

    /// A [`TokenSource`] for Jira calls on this connection.
    pub fn token_source(&self, org: &OrgId, conn: &Connection) -> Arc<dyn TokenSource> {
        Arc::new(ConnectionTokenSource {
            tokens: self.tokens.clone(),
            org: org.clone(),
            connection: conn.id.clone(),
        })
    }

    /// A fresh access token (OAuth connections only), audited.
    pub async fn access_token(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
    ) -> Result<(SecretString, OffsetDateTime), AuthError> {
        let conn = self.connection(org, conn_id).await?;
        if conn.auth_kind != AuthKind::OAuth2 {
            return Err(AuthError::invalid(
                "connector_id",
                "API-token connections have no access token to hand out; the API token itself is never returned",
            ));
        }
        let t = self
            .tokens
            .token_with_expiry(org, conn_id, Need::Fresh)
            .await?;
        let JiraAuth::Bearer(token) = t.target.auth else {
            return Err(AuthError::invalid(
                "connector_id",
                "the connection has no OAuth access token",
            ));
        };
        self.audit(
            org,
            "credentials-api",
            "credential.access_token",
            conn_id.as_ref(),
            serde_json::json!({"expires_at": t.access_expires_at.map(|e| e.unix_timestamp())}),
        )
        .await;
        Ok((token, t.access_expires_at.unwrap_or(t.cache_until)))
    }

    /// Health check now: `GET /rest/api/3/myself` with the connection's credential.
    pub async fn check(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
    ) -> Result<HealthCheck, AuthError> {
        let conn = self.connection(org, conn_id).await?;
        let started = Instant::now();
        let src = self.token_source(org, &conn);
        let result = self
            .jira
            .send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
            .await;
        let latency_ms = started.elapsed().as_millis() as i64;
        // jiragate could not use its own stored credential (e.g. a master key this instance
        // does not hold yet): Jira was not asked, so the connection's health is unknown, not
        // `error`. Report it to the caller and leave the recorded status alone.
        let result = match result {
            Err(JiraError::Credential { message }) => {
                return Err(AuthError::Upstream(JiraError::Credential { message }));
            }
            other => other,
        };
        let (status, reason) = health_from(&conn, result);
        let now = self.now();
        self.store
            .set_connection_status(org, &conn.id, status, reason.as_deref(), now)
            .await?;
        let check = HealthCheck {
            connection_id: conn.id.clone(),
            at: now,
            status,
            reason,
            latency_ms,
        };
        self.store.record_health_check(org, &check).await?;
        if status != conn.status {
            self.audit(
                org,
                "health-check",
                "connection.status_changed",
                conn.id.as_ref(),
                serde_json::json!({"from": status_name(conn.status), "to": status_name(status), "reason": check.reason}),
            )
            .await;
        }
        metrics::counter!("jiragate_health_checks_total", "status" => status_name(status))
            .increment(1);
        Ok(check)
    }

    /// Forgets what memory holds about a deleted connection.
    pub fn forget_connection(&self, conn: &ConnectionId) {
        self.tokens.forget(conn);
    }
}

fn health_from(
    conn: &Connection,
    result: Result<jiragate_jira::JiraResponse, JiraError>,
) -> (ConnectionStatus, Option<String>) {
    match result {
        Ok(_) => (ConnectionStatus::Healthy, None),
        Err(JiraError::NeedsReauth { reason, .. }) => (ConnectionStatus::NeedsReauth, Some(reason)),
        Err(JiraError::Unauthorized { .. }) if conn.auth_kind == AuthKind::OAuth2 => (
            ConnectionStatus::NeedsReauth,
            Some("Atlassian refused the access token even after a refresh; authorize the connection again".to_owned()),
        ),
        Err(JiraError::Unauthorized { .. }) => (
            ConnectionStatus::Revoked,
            Some("Atlassian refused the API token (401): it was revoked or has expired; replace the credentials".to_owned()),
        ),
        Err(JiraError::MissingScope { scope, .. }) => (
            ConnectionStatus::Healthy,
            Some(format!("the credential works, but /myself needs scope {scope}")),
        ),
        Err(e @ JiraError::Upstream { status: 403, .. }) => (
            ConnectionStatus::Revoked,
            Some(format!("the account has no access to the site any more: {e}")),
        ),
        Err(e) => (ConnectionStatus::Error, Some(e.to_string())),
    }
}

struct VerifiedApiToken {
    kind: AuthKind,
    cloud_id: Option<String>,
    account_id: Option<String>,
    display_name: Option<String>,
    detected_scoped: bool,
}

#[derive(Deserialize)]
struct Myself {
    #[serde(rename = "accountId", default)]
    account_id: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
}

struct OAuthConnectionParts {
    workspace: String,
    name: String,
    api_type: ApiType,
    owner: Owner,
    client_record: OAuthClientRecordId,
}

fn verification_error(site: &str, e: JiraError) -> AuthError {
    let message = match &e {
        JiraError::Unauthorized { .. } => {
            "Atlassian refused the email/API token (401); check the email and the token".to_owned()
        }
        JiraError::Upstream { status: 404, .. } => {
            "no Jira site answers at this address (404); check the subdomain or base URL".to_owned()
        }
        JiraError::Upstream { status: 403, .. } => {
            format!("the account has no access to this site (403): {e}")
        }
        JiraError::Transport { message, .. } => {
            format!("could not reach the site ({message}); check the subdomain or base URL")
        }
        other => other.to_string(),
    };
    AuthError::Verification {
        site: site.to_owned(),
        message,
    }
}

fn validate_names(workspace: &str, name: &str) -> Result<(), AuthError> {
    jiragate_jira::check_name("workspace", workspace)
        .map_err(|e| AuthError::invalid("workspace", e.message))?;
    jiragate_jira::check_name("name", name).map_err(|e| AuthError::invalid("name", e.message))?;
    Ok(())
}

/// The site of a grant, or the error that tells the caller how to name one.
fn pick_site(
    resources: &[AccessibleResource],
    requested: Option<&str>,
    template: &str,
) -> Result<AccessibleResource, AuthError> {
    match decide_site(resources, requested, template) {
        SiteDecision::Chosen(r) => Ok(r),
        SiteDecision::AskUser(choices) => Err(AuthError::invalid(
            "subdomain",
            format!(
                "the grant covers several sites ({}); name one with subdomain",
                choices
                    .iter()
                    .map(|c| c.url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        SiteDecision::NotFound {
            requested,
            available,
        } => Err(AuthError::SiteNotFound {
            requested,
            available,
        }),
        SiteDecision::NoSites => Err(AuthError::OAuth {
            message: "the grant covers no Jira site".to_owned(),
        }),
    }
}

fn site_urls(choices: &[SiteChoice]) -> String {
    choices
        .iter()
        .map(|c| c.url.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A refused site reference, named by the field the caller gave.
fn site_error(e: UpstreamError) -> AuthError {
    let field = match e.field {
        "subdomain" => "subdomain",
        "cloud_id" => "cloud_id",
        _ => "base_url",
    };
    AuthError::invalid(field, e.message)
}

fn owner_label(o: &Owner) -> String {
    match o {
        Owner::Installation => "the installation".to_owned(),
        Owner::User(u) => format!("user {u:?}"),
    }
}

pub(crate) fn auth_kind_name(k: AuthKind) -> &'static str {
    match k {
        AuthKind::ApiToken => "api_token",
        AuthKind::ScopedApiToken => "scoped_api_token",
        AuthKind::OAuth2 => "oauth2",
    }
}

pub(crate) fn status_name(s: ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Healthy => "healthy",
        ConnectionStatus::NeedsReauth => "needs_reauth",
        ConnectionStatus::Revoked => "revoked",
        ConnectionStatus::Error => "error",
    }
}

fn session_status_name(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Pending => "pending",
        SessionStatus::ChooseSite => "choose_site",
        SessionStatus::Connected => "connected",
        SessionStatus::Failed => "failed",
    }
}
