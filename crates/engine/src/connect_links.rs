//! The embeddable connect flow: an app's backend creates a connect link for one end user; the
//! end user opens it once, connects Jira (API token or Connect with Atlassian), and returns to
//! the app with the connection id. The page never sees a jiragate API key: the flow acts with
//! the authority of the key that created the link, checked again at every step.

use jiragate_auth::StartConnect;
use jiragate_store::{
    ApiKeyRecord, ApiType, ConnectLink, ConnectLinkId, ConnectSettings, Connection, NewConnectLink,
    OAuthClientRecordId, OrgId, Owner,
};
use rand::RngCore;
use secrecy::SecretString;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{Actor, ApiScope, Engine, EngineError, NewConnection, check_name, keys};

/// How long a link may wait to be opened, and then to be finished.
pub const CONNECT_LINK_TTL: Duration = Duration::minutes(30);

/// The auth kinds a link may offer.
pub const AUTH_CHOICES: [&str; 2] = ["api_token", "oauth"];

const TOKEN_PREFIX: &str = "jgc_";

/// What an app asks for.
#[derive(Debug, Clone)]
pub struct ConnectLinkRequest {
    pub workspace: String,
    /// The connection's name.
    pub name: String,
    pub owner: Owner,
    pub allowed_auth: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub oauth_client_id: Option<OAuthClientRecordId>,
    pub api_type: ApiType,
    pub return_url: String,
}

/// A link just created; the token leaves the engine only inside a `SecretString`.
pub struct NewLink {
    pub link: ConnectLink,
    pub token: SecretString,
}

/// Why a link cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Expired,
    AlreadyUsed,
}

fn random_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!(
        "{prefix}{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
    )
}

/// `scheme://host[:port]` of a URL, or `None` when it is not an absolute http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

fn is_loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin).ok().is_some_and(|u| {
        matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || u.host_str() == Some("localhost")
    })
}

/// An allowed return origin: https, or plain http on loopback (local development).
fn check_origin(field: &str, origin: &str) -> Result<String, EngineError> {
    let normal = origin_of(origin).ok_or_else(|| {
        EngineError::validation(
            field,
            format!(
                "{} is not an http(s) origin such as https://app.example.com",
                crate::quote(origin)
            ),
        )
    })?;
    if normal.starts_with("http://") && !is_loopback_origin(&normal) {
        return Err(EngineError::validation(
            field,
            format!("{normal} must use https (plain http is allowed on loopback only)"),
        ));
    }
    Ok(normal)
}

impl Engine {
    /// The organization's connect settings (`connectors:write`).
    pub async fn connect_settings(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
    ) -> Result<ConnectSettings, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        Ok(self.store.get_connect_settings(org).await?)
    }

    /// Replaces the organization's connect settings (`admin`): the return origins links may
    /// use, and the app name the connect page shows.
    pub async fn put_connect_settings(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        return_origins: &[String],
        app_name: Option<&str>,
    ) -> Result<ConnectSettings, EngineError> {
        actor.require(ApiScope::Admin)?;
        let mut origins: Vec<String> = Vec::new();
        for o in return_origins {
            let o = check_origin("return_origins", o)?;
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        let app_name = app_name.map(|n| check_name("app_name", n)).transpose()?;
        let settings = ConnectSettings {
            return_origins: origins,
            app_name,
        };
        self.store.put_connect_settings(org, &settings).await?;
        self.append_audit(
            actor,
            org,
            "connect_settings.update",
            org.as_ref(),
            json!({"return_origins": settings.return_origins, "app_name": settings.app_name}),
        )
        .await;
        Ok(settings)
    }

    /// Creates a connect link (`connectors:write`, API keys only: the flow acts with the key).
    pub async fn create_connect_link(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        req: ConnectLinkRequest,
    ) -> Result<NewLink, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let Actor::Key(key) = actor else {
            return Err(EngineError::NotAllowed {
                message:
                    "connect links are created with an API key (the flow acts with its authority)"
                        .into(),
            });
        };
        let settings = self.store.get_connect_settings(org).await?;
        let origin = check_origin("return_url", &req.return_url)?;
        if !settings.return_origins.contains(&origin) {
            return Err(EngineError::validation(
                "return_url",
                format!(
                    "{origin} is not on this organization's allow-list of return origins; an admin adds it with PUT /api/v1/connect/settings {{\"return_origins\": [\"{origin}\"]}}"
                ),
            ));
        }
        let mut allowed: Vec<String> = Vec::new();
        for a in &req.allowed_auth {
            let a = a.trim();
            if !AUTH_CHOICES.contains(&a) {
                return Err(EngineError::validation(
                    "allowed_auth_types",
                    format!("{} is not one of api_token, oauth", crate::quote(a)),
                ));
            }
            if !allowed.iter().any(|x| x == a) {
                allowed.push(a.to_owned());
            }
        }
        let clients = self.store.list_oauth_clients(org).await?;
        let oauth_client_id = match &req.oauth_client_id {
            Some(id) => {
                if !clients.iter().any(|c| &c.id == id) {
                    return Err(EngineError::NotFound {
                        what: "OAuth client",
                        id: id.to_string(),
                    });
                }
                Some(id.clone())
            }
            None if clients.len() == 1 => Some(clients[0].id.clone()),
            None => None,
        };
        if allowed.is_empty() {
            allowed.push("api_token".into());
            if oauth_client_id.is_some() {
                allowed.push("oauth".into());
            }
        }
        if allowed.iter().any(|a| a == "oauth") && oauth_client_id.is_none() {
            return Err(EngineError::validation(
                "oauth_client_id",
                "oauth needs an OAuth client: name one (the organization has none, or several)",
            ));
        }
        let workspace = check_name("workspace_name", &req.workspace)?;
        let token = random_token(TOKEN_PREFIX);
        let name = check_name("name", &req.name)?;
        let app_name = match settings.app_name {
            Some(n) => n,
            None => self
                .store
                .get_organization(org)
                .await?
                .map(|o| o.name)
                .unwrap_or_else(|| "jiragate".into()),
        };
        let link = self
            .store
            .create_connect_link(
                org,
                NewConnectLink {
                    token_hash: keys::hash(&token),
                    created_by_key: key.id.clone(),
                    workspace,
                    name,
                    owner: req.owner,
                    allowed_auth: allowed,
                    scopes: req.scopes,
                    oauth_client_id,
                    api_type: req.api_type,
                    return_url: req.return_url.trim().to_owned(),
                    app_name,
                    expires_at: OffsetDateTime::now_utc() + CONNECT_LINK_TTL,
                },
            )
            .await?;
        self.append_audit(
            actor,
            org,
            "connect_link.create",
            link.id.as_ref(),
            json!({"workspace": link.workspace, "name": link.name, "return_url": link.return_url}),
        )
        .await;
        Ok(NewLink {
            link,
            token: SecretString::from(token),
        })
    }

    /// Opens a link once. Returns it with the page secret the browser keeps for the flow.
    pub async fn open_connect_link(
        &self,
        token: &str,
        popup: bool,
    ) -> Result<(ConnectLink, SecretString), LinkRefusal> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(LinkRefusal::Unknown);
        }
        let hash = keys::hash(token);
        let secret = random_token("");
        let now = OffsetDateTime::now_utc();
        let mode = if popup { "popup" } else { "redirect" };
        match self
            .store
            .open_connect_link(&hash, &keys::hash(&secret), mode, now)
            .await
        {
            Ok(Some(link)) => Ok((link, SecretString::from(secret))),
            Ok(None) => match self.store.find_connect_link_by_token(&hash).await {
                Ok(Some(l)) if l.opened_at.is_some() => Err(LinkRefusal::AlreadyUsed),
                Ok(Some(_)) => Err(LinkRefusal::Expired),
                _ => Err(LinkRefusal::Unknown),
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not open a connect link");
                Err(LinkRefusal::Unknown)
            }
        }
    }

    /// The link a page secret belongs to, while it is open, unexpired and unfinished.
    pub async fn connect_link_for_page(
        &self,
        id: &ConnectLinkId,
        page_secret: &str,
    ) -> Result<ConnectLink, EngineError> {
        let link = self
            .store
            .get_connect_link(id)
            .await?
            .ok_or(EngineError::Unauthorized)?;
        let ok = link
            .page_secret_hash
            .as_deref()
            .is_some_and(|h| keys::hashes_equal(h, &keys::hash(page_secret)));
        if !ok || link.expires_at <= OffsetDateTime::now_utc() || link.completed_at.is_some() {
            return Err(EngineError::Unauthorized);
        }
        Ok(link)
    }

    /// A link by id, for the finishing page (which reveals only what the app gets anyway).
    pub async fn connect_link(&self, id: &ConnectLinkId) -> Result<ConnectLink, EngineError> {
        self.store
            .get_connect_link(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "connect link",
                id: id.to_string(),
            })
    }

    /// The creator's key, still active, as the actor of the flow.
    async fn link_key(&self, link: &ConnectLink) -> Result<ApiKeyRecord, EngineError> {
        let key = self
            .store
            .get_api_key(&link.org_id, &link.created_by_key)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| EngineError::NotAllowed {
                message: "the API key that created this connect link was revoked; ask the app for a new link".into(),
            })?;
        Ok(key)
    }

    fn require_choice(link: &ConnectLink, choice: &str) -> Result<(), EngineError> {
        if link.allowed_auth.iter().any(|a| a == choice) {
            Ok(())
        } else {
            Err(EngineError::NotAllowed {
                message: format!("this connect link does not offer {choice}"),
            })
        }
    }

    /// Finishes a link with an Atlassian API token (verified with Jira before it is saved).
    pub async fn connect_link_api_token(
        &self,
        link: &ConnectLink,
        site: jiragate_auth::SiteRef,
        email: String,
        token: SecretString,
        scoped: bool,
    ) -> Result<Connection, EngineError> {
        Self::require_choice(link, "api_token")?;
        let key = self.link_key(link).await?;
        let conn = self
            .create_connection(
                Actor::Key(&key),
                &link.org_id,
                NewConnection::ApiToken(jiragate_auth::NewApiTokenConnection {
                    workspace: link.workspace.clone(),
                    name: link.name.clone(),
                    site,
                    email,
                    token,
                    scoped: Some(scoped),
                    api_type: link.api_type,
                    owner: link.owner.clone(),
                }),
            )
            .await?;
        self.store.complete_connect_link(&link.id, &conn.id).await?;
        Ok(conn)
    }

    /// Starts Connect with Atlassian for a link: the URL to send the browser to.
    pub async fn connect_link_oauth(
        &self,
        link: &ConnectLink,
        subdomain: Option<String>,
    ) -> Result<String, EngineError> {
        Self::require_choice(link, "oauth")?;
        let key = self.link_key(link).await?;
        let client = link.oauth_client_id.clone().ok_or_else(|| {
            EngineError::validation("oauth_client_id", "this link has no OAuth client")
        })?;
        let started = self
            .start_connect(
                Actor::Key(&key),
                &link.org_id,
                StartConnect {
                    oauth_client_id: client,
                    workspace: link.workspace.clone(),
                    name: link.name.clone(),
                    scopes: link.scopes.clone(),
                    subdomain,
                    owner: link.owner.clone(),
                    api_type: link.api_type,
                },
            )
            .await?;
        self.store
            .set_connect_link_session(&link.id, &started.session_id)
            .await?;
        Ok(started.authorize_url)
    }

    /// After an OAuth callback made `conn`: the link that started it, completed now, if there
    /// is one.
    pub async fn finish_connect_link_for(&self, conn: &Connection) -> Option<ConnectLink> {
        match self.store.find_connect_link_by_connection(&conn.id).await {
            Ok(Some(link)) => {
                if let Err(e) = self.store.complete_connect_link(&link.id, &conn.id).await {
                    tracing::warn!(error = %e, "could not complete a connect link");
                }
                self.store.get_connect_link(&link.id).await.ok().flatten()
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the connect link of a session");
                None
            }
        }
    }
}
