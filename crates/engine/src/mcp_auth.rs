//! MCP authorization: jiragate as the OAuth 2.1 authorization server of its own MCP resource
//! (`<public>/mcp`), per the MCP authorization specification (RFC 9728 discovery, RFC 8414
//! metadata, RFC 7591 registration, client ID metadata documents, PKCE S256, RFC 8707
//! resource indicators, RFC 9207 `iss`, RFC 7009 revocation).
//!
//! A *grant* is one person's consent: one client may act on one connection, read-only or
//! read-write, with the rights of the API key of the console session that approved it (so a
//! grant never exceeds that key, and ends with it). Every token handed out here — pending
//! authorization requests, codes, access and refresh tokens — is random, opaque, and stored
//! only as its SHA-256 hash. These tokens are never sent to Atlassian, and no Atlassian token
//! ever leaves through this flow: the MCP client only ever holds jiragate's own tokens.

use crate::net_guard::ResolveError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiragate_store::{
    ApiKeyRecord, ConnectSessionId, ConnectionId, GrantPrincipal, McpGrantRecord,
    McpSettingsRecord, OAuthClientRecordId, OrgId, Owner, SessionPurpose,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::{Actor, ApiScope, ConnRef, Engine, EngineError, keys};

/// Scope of a read-only grant.
pub const SCOPE_READ: &str = "jira:read";
/// Scope that also allows write actions.
pub const SCOPE_WRITE: &str = "jira:write";

/// How jiragate's MCP access tokens begin (they are never API keys, never Atlassian tokens).
pub const ACCESS_TOKEN_PREFIX: &str = "jgma_";

const REQUEST_TTL: Duration = Duration::minutes(10);
const CODE_TTL: Duration = Duration::minutes(1);
const REFRESH_TTL: Duration = Duration::days(30);
const CIMD_MAX_BYTES: usize = 64 * 1024;
const CIMD_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const CIMD_CACHE_TTL: StdDuration = StdDuration::from_secs(300);

/// Operator switches (`serve --mcp-…`, `JIRAGATE_MCP_…`).
#[derive(Debug, Clone)]
pub struct McpAuthConfig {
    /// Accept dynamic client registration (RFC 7591).
    pub dcr: bool,
    /// Accept client ID metadata documents (https client ids fetched by jiragate).
    pub cimd: bool,
    /// Let metadata documents live on loopback/private addresses, over http too (tests,
    /// closed networks). Off by default: the fetch is then https to public addresses only.
    pub cimd_allow_private: bool,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
}

impl Default for McpAuthConfig {
    fn default() -> Self {
        McpAuthConfig {
            dcr: true,
            cimd: true,
            cimd_allow_private: false,
            access_ttl: Duration::hours(1),
        }
    }
}

/// An OAuth error as RFC 6749 §5.2 / RFC 7591 §3.2.2 / RFC 6750 name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
    fn grant(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", d)
    }
    fn request(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", d)
    }
    /// `{"error": …, "error_description": …}`.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

impl From<EngineError> for OAuthError {
    fn from(e: EngineError) -> Self {
        tracing::warn!(error = %e, "MCP authorization: internal failure");
        OAuthError::new(
            500,
            "server_error",
            "the server could not complete the request",
        )
    }
}

impl From<jiragate_store::StoreError> for OAuthError {
    fn from(e: jiragate_store::StoreError) -> Self {
        EngineError::from(e).into()
    }
}

/// What the authorization endpoint decided.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Valid: the person consents on the page for this pending request.
    Consent { request: String },
    /// The client or redirect URI cannot be trusted: show an error, redirect nowhere.
    ErrorPage { message: String },
    /// Redirect back to the client with an error (`error`, `state`, `iss`).
    ErrorRedirect { location: String },
}

/// A registered or fetched client, as the flow needs it.
#[derive(Debug, Clone)]
pub struct McpClient {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
}

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub client_name: String,
    pub redirect_host: String,
    pub scope: String,
    pub writes: bool,
}

/// What a consent page shows of a stored request.
fn pending_of(d: RequestData) -> PendingAuthorization {
    PendingAuthorization {
        redirect_host: host_of(&d.redirect_uri),
        writes: d.scope.split_whitespace().any(|s| s == SCOPE_WRITE),
        client_id: d.client_id,
        client_name: d.client_name,
        scope: d.scope,
    }
}

/// Who a verified access token acts as.
#[derive(Debug, Clone)]
pub enum McpPrincipal {
    /// Console mode: the (still valid) API key that approved the grant.
    Key(ApiKeyRecord),
    /// Atlassian sign-in mode: the person who signed in, by Atlassian account id.
    AtlassianUser { account_id: String },
}

/// A verified access token: act as `principal` in `org`, on `connection` only.
#[derive(Debug, Clone)]
pub struct McpAccess {
    pub grant_id: String,
    pub principal: McpPrincipal,
    pub org: OrgId,
    pub connection: ConnectionId,
    pub read_only: bool,
}

/// How an organization identifies the person behind an MCP authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignInMode {
    /// Someone signed in to the console (with an API key) approves, for a shared connection.
    #[default]
    Console,
    /// The person signs in with Atlassian through the organization's OAuth client; the grant
    /// acts as them, on their own user connection.
    Atlassian,
}

impl SignInMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMode::Console => "console",
            SignInMode::Atlassian => "atlassian",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "console" => Some(SignInMode::Console),
            "atlassian" => Some(SignInMode::Atlassian),
            _ => None,
        }
    }
}

/// An organization's MCP authorization settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct McpSettings {
    pub sign_in: SignInMode,
    /// The OAuth client Atlassian sign-in uses (`None`: the organization's only one).
    pub oauth_client_id: Option<OAuthClientRecordId>,
    /// The site Atlassian sign-in connects to (`None`: a person whose access covers several
    /// sites picks one).
    pub subdomain: Option<String>,
}

/// The next step of an authorization request once it is known which organization it is for.
#[derive(Debug)]
pub enum SignInStep {
    /// Several organizations: ask the person which one.
    AskOrganization,
    /// Console mode: the console consent page (console sign-in first).
    Console { location: String },
    /// Atlassian sign-in mode: send the browser to Atlassian.
    Atlassian { authorize_url: String },
}

/// What the consent page of a signed-in person shows.
#[derive(Debug, Clone)]
pub struct SignedInConsent {
    pub pending: PendingAuthorization,
    pub account_id: String,
    pub account_name: Option<String>,
    pub site_url: String,
}

#[derive(Serialize, Deserialize)]
struct RequestData {
    client_id: String,
    client_name: String,
    redirect_uri: String,
    code_challenge: String,
    state: Option<String>,
    resource: String,
    scope: String,
}

#[derive(Serialize, Deserialize)]
struct CodeData {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    resource: String,
}

/// Links an Atlassian sign-in (its connect session) to the authorization request it serves.
#[derive(Serialize, Deserialize)]
struct SignInData {
    request_hash: String,
    org_id: String,
}

/// What a signed-in person's consent ticket stands for.
#[derive(Serialize, Deserialize)]
struct SignedInData {
    request_hash: String,
    org_id: String,
    connection_id: String,
    account_id: String,
}

#[derive(Serialize, Deserialize)]
struct TokenData {
    client_id: String,
    resource: String,
}

/// The authorization server of one jiragate instance (`issuer` = its public URL).
#[derive(Clone)]
pub struct McpAuthority {
    engine: Engine,
    issuer: String,
    resource: String,
    cfg: McpAuthConfig,
    cimd_cache: Arc<Mutex<HashMap<String, (Instant, McpClient)>>>,
    /// When this instance last removed expired tokens.
    last_purge: Arc<Mutex<Option<Instant>>>,
}

fn random_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw))
}

fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_pkce_text(s: &str, min: usize) -> bool {
    (min..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// RFC 8252 §7.3 / OAuth 2.1 §8.4.2: a loopback redirect matches on any port; everything else
/// matches exactly.
fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (
        reqwest::Url::parse(registered),
        reqwest::Url::parse(presented),
    ) else {
        return false;
    };
    r.scheme() == "http"
        && p.scheme() == "http"
        && r.host_str().is_some_and(is_loopback_host)
        && r.host_str() == p.host_str()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && r.username().is_empty()
        && p.username().is_empty()
        && p.password().is_none()
}

/// A redirect URI a client may register: https, http on a loopback host, or a private-use
/// scheme (native apps); never with a fragment.
fn redirect_uri_acceptable(uri: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(uri) else {
        return false;
    };
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return false;
    }
    match u.scheme() {
        "https" => u.host_str().is_some(),
        "http" => u.host_str().is_some_and(is_loopback_host),
        "javascript" | "data" | "file" | "vbscript" | "blob" => false,
        other => other.contains('.'),
    }
}

fn host_of(uri: &str) -> String {
    reqwest::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| uri.chars().take(60).collect())
}

fn append_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match reqwest::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.into()
}

fn scope_of(requested: Option<&str>) -> Result<String, ()> {
    let requested = requested.unwrap_or("").trim();
    let mut write = false;
    for s in requested.split_whitespace() {
        match s {
            SCOPE_READ => {}
            SCOPE_WRITE => write = true,
            _ => return Err(()),
        }
    }
    Ok(if write {
        format!("{SCOPE_READ} {SCOPE_WRITE}")
    } else {
        SCOPE_READ.to_owned()
    })
}

impl McpAuthority {
    /// `public_url` is the server's base (the issuer); the protected resource is `<public>/mcp`.
    pub fn new(engine: Engine, public_url: &str, cfg: McpAuthConfig) -> Self {
        let issuer = public_url.trim_end_matches('/').to_owned();
        McpAuthority {
            engine,
            resource: format!("{issuer}/mcp"),
            issuer,
            cfg,
            cimd_cache: Arc::new(Mutex::new(HashMap::new())),
            last_purge: Arc::new(Mutex::new(None)),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The MCP resource URL: every token is bound to it.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where the protected resource's metadata lives (the `WWW-Authenticate` pointer).
    pub fn resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.issuer)
    }

    /// RFC 9728 protected resource metadata.
    pub fn protected_resource_metadata(&self) -> Value {
        json!({
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
            "bearer_methods_supported": ["header"],
            "resource_name": "jiragate MCP",
        })
    }

    /// RFC 8414 authorization server metadata.
    pub fn authorization_server_metadata(&self) -> Value {
        let i = &self.issuer;
        let mut m = json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/oauth/mcp/authorize"),
            "token_endpoint": format!("{i}/oauth/mcp/token"),
            "revocation_endpoint": format!("{i}/oauth/mcp/revoke"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": self.cfg.cimd,
        });
        if self.cfg.dcr {
            m["registration_endpoint"] = json!(format!("{i}/oauth/mcp/register"));
        }
        m
    }

    /// RFC 7591 dynamic client registration (public clients only).
    pub async fn register(&self, body: &Value) -> Result<Value, OAuthError> {
        if !self.cfg.dcr {
            return Err(OAuthError::new(
                403,
                "access_denied",
                "dynamic client registration is turned off on this server",
            ));
        }
        let meta = |d: &str| OAuthError::new(400, "invalid_client_metadata", d);
        let uris: Vec<String> = body
            .get("redirect_uris")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                OAuthError::new(400, "invalid_redirect_uri", "redirect_uris is required")
            })?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                OAuthError::new(400, "invalid_redirect_uri", "redirect_uris must be strings")
            })?;
        if uris.is_empty() || uris.len() > 10 || !uris.iter().all(|u| redirect_uri_acceptable(u)) {
            return Err(OAuthError::new(
                400,
                "invalid_redirect_uri",
                "redirect URIs must be 1-10 https URLs, http loopback URLs or private-use schemes, without fragments",
            ));
        }
        if let Some(g) = body.get("grant_types").and_then(Value::as_array)
            && !g
                .iter()
                .all(|g| matches!(g.as_str(), Some("authorization_code" | "refresh_token")))
        {
            return Err(meta(
                "only authorization_code and refresh_token are supported",
            ));
        }
        if let Some(r) = body.get("response_types").and_then(Value::as_array)
            && !r.iter().all(|r| r.as_str() == Some("code"))
        {
            return Err(meta("only the code response type is supported"));
        }
        let name = body
            .get("client_name")
            .and_then(Value::as_str)
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect::<String>()
            })
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| host_of(&uris[0]));
        let client_id = random_token("jgmc_");
        let uris_json = serde_json::to_string(&uris).unwrap_or_else(|_| "[]".into());
        self.engine
            .store
            .insert_mcp_client(&client_id, &name, &uris_json)
            .await?;
        Ok(json!({
            "client_id": client_id,
            "client_id_issued_at": OffsetDateTime::now_utc().unix_timestamp(),
            "client_name": name,
            "redirect_uris": uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
    }

    /// The client behind `client_id`: registered (DCR) or a metadata document (https URL).
    pub async fn client(&self, client_id: &str) -> Result<McpClient, String> {
        if client_id.starts_with("https://") || client_id.starts_with("http://") {
            if !self.cfg.cimd {
                return Err("client ID metadata documents are turned off on this server".into());
            }
            return self.fetch_metadata_document(client_id).await;
        }
        if !self.cfg.dcr {
            return Err("unknown client".into());
        }
        let rec = self
            .engine
            .store
            .find_mcp_client(client_id)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "MCP client lookup failed");
                "the client could not be looked up".to_string()
            })?
            .ok_or_else(|| "unknown client".to_string())?;
        Ok(McpClient {
            client_id: rec.client_id,
            client_name: rec.client_name,
            redirect_uris: serde_json::from_str(&rec.redirect_uris).unwrap_or_default(),
        })
    }

    /// Fetches and checks a client ID metadata document: https only (http too with the
    /// operator's allowance), every resolved address public unless allowed, connection pinned
    /// to the checked address, no redirects, 5 s, 64 KiB, `client_id` equal to the URL.
    async fn fetch_metadata_document(&self, url: &str) -> Result<McpClient, String> {
        if let Ok(cache) = self.cimd_cache.lock()
            && let Some((at, c)) = cache.get(url)
            && at.elapsed() < CIMD_CACHE_TTL
        {
            return Ok(c.clone());
        }
        let parsed = reqwest::Url::parse(url).map_err(|_| "the client id is not a valid URL")?;
        let allow = self.cfg.cimd_allow_private;
        if parsed.scheme() != "https" && !(allow && parsed.scheme() == "http") {
            return Err("a client id URL must use https".into());
        }
        if parsed.path() == "/" || parsed.fragment().is_some() || !parsed.username().is_empty() {
            return Err("a client id URL needs a path and no fragment or credentials".into());
        }
        let host = parsed
            .host_str()
            .ok_or("the client id URL has no host")?
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let first = crate::net_guard::resolve_checked(&bare, port, CIMD_TIMEOUT, allow)
            .await
            .map_err(|e| match e {
                ResolveError::Timeout => "resolving the client id host timed out",
                ResolveError::NoAddress => "the client id host does not resolve",
                ResolveError::NotPublic => "the client id URL points to a private, loopback or link-local address, which this server does not fetch",
            })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(CIMD_TIMEOUT)
            .resolve(&bare, first)
            .build()
            .map_err(|_| "the metadata document could not be fetched")?;
        let mut resp = http
            .get(parsed.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|_| "the metadata document could not be fetched")?;
        if !resp.status().is_success() {
            return Err(format!(
                "fetching the metadata document answered HTTP {}",
                resp.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|_| "the metadata document could not be read")?
        {
            if body.len() + chunk.len() > CIMD_MAX_BYTES {
                return Err("the metadata document is larger than 64 KiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        let doc: Value =
            serde_json::from_slice(&body).map_err(|_| "the metadata document is not JSON")?;
        if doc.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err("the metadata document's client_id differs from its URL".into());
        }
        if let Some(m) = doc
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            && m != "none"
        {
            return Err(format!(
                "token_endpoint_auth_method {m:?} is not supported (public clients only)"
            ));
        }
        let uris: Vec<String> = doc
            .get("redirect_uris")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if uris.is_empty() || !uris.iter().all(|u| redirect_uri_acceptable(u)) {
            return Err("the metadata document lists no acceptable redirect_uris".into());
        }
        let client = McpClient {
            client_id: url.to_owned(),
            client_name: doc
                .get("client_name")
                .and_then(Value::as_str)
                .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect())
                .filter(|n: &String| !n.trim().is_empty())
                .unwrap_or_else(|| host.clone()),
            redirect_uris: uris,
        };
        if let Ok(mut cache) = self.cimd_cache.lock() {
            if cache.len() > 1000 {
                cache.clear();
            }
            cache.insert(url.to_owned(), (Instant::now(), client.clone()));
        }
        Ok(client)
    }

    /// The authorization endpoint: checks the request and stores it for the consent page.
    pub async fn authorize(&self, q: &HashMap<String, String>) -> AuthorizeOutcome {
        let page = |m: &str| AuthorizeOutcome::ErrorPage {
            message: m.to_owned(),
        };
        let Some(client_id) = q.get("client_id") else {
            return page("The request has no client_id.");
        };
        let client = match self.client(client_id).await {
            Ok(c) => c,
            Err(m) => return page(&format!("The client could not be verified: {m}.")),
        };
        let Some(redirect_uri) = q.get("redirect_uri") else {
            return page("The request has no redirect_uri.");
        };
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, redirect_uri))
        {
            return page("The redirect_uri is not one the client registered.");
        }
        let state = q.get("state").cloned();
        let fail = |error: &str, description: &str| {
            let state = state.clone();
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(s) = &state {
                pairs.push(("state", s));
            }
            pairs.push(("iss", &self.issuer));
            AuthorizeOutcome::ErrorRedirect {
                location: append_query(redirect_uri, &pairs),
            }
        };
        if q.get("response_type").map(String::as_str) != Some("code") {
            return fail("unsupported_response_type", "response_type must be code");
        }
        let Some(challenge) = q.get("code_challenge") else {
            return fail("invalid_request", "PKCE is required: send code_challenge");
        };
        if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return fail("invalid_request", "code_challenge_method must be S256");
        }
        if challenge.len() != 43 || !is_pkce_text(challenge, 43) {
            return fail("invalid_request", "code_challenge is not an S256 challenge");
        }
        match q.get("resource") {
            None => return fail("invalid_target", "the resource parameter is required"),
            Some(r) if r.trim_end_matches('/') != self.resource => {
                return fail(
                    "invalid_target",
                    "the resource is not this server's MCP endpoint",
                );
            }
            Some(_) => {}
        }
        let Ok(scope) = scope_of(q.get("scope").map(String::as_str)) else {
            return fail("invalid_scope", "scopes are jira:read and jira:write");
        };
        let data = RequestData {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge.clone(),
            state: state.clone(),
            resource: self.resource.clone(),
            scope,
        };
        let request = random_token("jgmq_");
        let stored = self
            .engine
            .store
            .insert_mcp_token(
                &keys::hash(&request),
                "request",
                None,
                &serde_json::to_string(&data).unwrap_or_default(),
                OffsetDateTime::now_utc() + REQUEST_TTL,
            )
            .await;
        match stored {
            Ok(()) => AuthorizeOutcome::Consent { request },
            Err(e) => {
                tracing::warn!(error = %e, "could not store an MCP authorization request");
                fail("server_error", "the request could not be stored")
            }
        }
    }

    /// The data of a stored, still unused and unexpired record (a request or a sign-in
    /// ticket) found by its hash.
    async fn unused_record<T: serde::de::DeserializeOwned>(
        &self,
        hash: &str,
        kind: &str,
        what: &'static str,
    ) -> Result<T, EngineError> {
        let rec = self
            .engine
            .store
            .find_mcp_token(hash, kind)
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > OffsetDateTime::now_utc())
            .ok_or_else(|| EngineError::NotFound {
                what,
                id: String::new(),
            })?;
        serde_json::from_str(&rec.data).map_err(|e| EngineError::Internal(e.to_string()))
    }

    async fn request_data_by_hash(&self, hash: &str) -> Result<RequestData, EngineError> {
        self.unused_record(
            hash,
            "request",
            "authorization request (answered already, or expired)",
        )
        .await
    }

    async fn request_data(&self, request: &str) -> Result<RequestData, EngineError> {
        self.request_data_by_hash(&keys::hash(request)).await
    }

    /// What the consent page shows for a pending request.
    pub async fn pending(&self, request: &str) -> Result<PendingAuthorization, EngineError> {
        Ok(pending_of(self.request_data(request).await?))
    }

    /// The person's answer on the consent page. The request is consumed first (a replayed
    /// consent finds nothing); approval creates the grant and a code. Returns where to send
    /// the browser.
    pub async fn decide(
        &self,
        key: &ApiKeyRecord,
        request: &str,
        connection: Option<&str>,
        approve: bool,
    ) -> Result<String, EngineError> {
        let request_hash = keys::hash(request);
        let d = self.consume_request(&request_hash).await?;
        if !approve {
            return Ok(self.declined(&d));
        }
        Actor::Key(key).require(ApiScope::Execute)?;
        self.check_chosen_organization(&request_hash, &key.org_id)
            .await?;
        if self.settings_of(&key.org_id).await?.sign_in == SignInMode::Atlassian {
            return Err(EngineError::NotAllowed {
                message: "people of this organization authorize MCP clients by signing in with Atlassian, not through the console".into(),
            });
        }
        let reference = ConnRef::parse(connection.unwrap_or_default());
        let conn = self
            .engine
            .get_connection(Actor::Key(key), &key.org_id, &reference)
            .await?;
        self.grant_and_code(
            &d,
            Actor::Key(key),
            &key.org_id,
            &conn.id,
            GrantPrincipal::ApiKey {
                api_key_id: key.id.clone(),
            },
        )
        .await
    }

    /// Consumes a pending request by the hash of its token (single use).
    async fn consume_request(&self, request_hash: &str) -> Result<RequestData, EngineError> {
        let rec = self
            .engine
            .store
            .consume_mcp_token(request_hash, "request", OffsetDateTime::now_utc())
            .await?
            .filter(|r| r.expires_at > OffsetDateTime::now_utc())
            .ok_or_else(|| EngineError::NotFound {
                what: "authorization request (answered already, or expired)",
                id: String::new(),
            })?;
        serde_json::from_str(&rec.data).map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// Where the client's redirect URI goes with `pairs`, `state` and `iss` (RFC 9207).
    fn back_to_client(&self, d: &RequestData, mut pairs: Vec<(&str, String)>) -> String {
        if let Some(state) = &d.state {
            pairs.push(("state", state.clone()));
        }
        pairs.push(("iss", self.issuer.clone()));
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        append_query(&d.redirect_uri, &refs)
    }

    fn declined(&self, d: &RequestData) -> String {
        self.back_to_client(
            d,
            vec![
                ("error", "access_denied".into()),
                ("error_description", "the person declined".into()),
            ],
        )
    }

    /// Creates the grant for `principal` on `connection` and the code the client redeems.
    async fn grant_and_code(
        &self,
        d: &RequestData,
        actor: Actor<'_>,
        org: &OrgId,
        connection: &ConnectionId,
        principal: GrantPrincipal,
    ) -> Result<String, EngineError> {
        let grant = McpGrantRecord {
            id: uuid_like(),
            org_id: org.clone(),
            connection_id: connection.clone(),
            principal,
            client_id: d.client_id.clone(),
            client_name: d.client_name.clone(),
            scope: d.scope.clone(),
            resource: d.resource.clone(),
            created_at: OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        self.engine.store.insert_mcp_grant(&grant).await?;
        let code = random_token("jgmd_");
        let data = CodeData {
            client_id: d.client_id.clone(),
            redirect_uri: d.redirect_uri.clone(),
            code_challenge: d.code_challenge.clone(),
            resource: d.resource.clone(),
        };
        self.engine
            .store
            .insert_mcp_token(
                &keys::hash(&code),
                "code",
                Some(&grant.id),
                &serde_json::to_string(&data).unwrap_or_default(),
                OffsetDateTime::now_utc() + CODE_TTL,
            )
            .await?;
        self.engine
            .append_audit(
                actor,
                org,
                "mcp_grant.create",
                &grant.id,
                json!({ "client_id": d.client_id, "client_name": d.client_name,
                        "connection_id": connection, "scope": d.scope }),
            )
            .await;
        Ok(self.back_to_client(d, vec![("code", code)]))
    }

    // ----- Atlassian sign-in mode ----------------------------------------------------------

    /// Whether an authorization request must first find out its organization (some
    /// organization identifies people by Atlassian sign-in); otherwise it goes straight to the
    /// console consent page.
    pub async fn needs_organization(&self) -> Result<bool, EngineError> {
        Ok(self.engine.store.any_mcp_atlassian_sign_in().await?)
    }

    /// The next step of a pending request for `organization` (a name or id; `None`: the only
    /// organization, if there is just one).
    pub async fn sign_in_step(
        &self,
        request: &str,
        organization: Option<&str>,
    ) -> Result<SignInStep, EngineError> {
        // The request must still be pending (and is left pending).
        self.request_data(request).await?;
        let store = &self.engine.store;
        let org = match organization.map(str::trim).filter(|o| !o.is_empty()) {
            Some(o) => {
                let by_name = store.get_organization_by_name(o).await?;
                let found = match by_name {
                    Some(found) => Some(found),
                    None => match o.parse::<OrgId>() {
                        Ok(id) => store.get_organization(&id).await?,
                        Err(_) => None,
                    },
                };
                found.ok_or_else(|| EngineError::NotFound {
                    what: "organization",
                    id: o.chars().take(80).collect(),
                })?
            }
            None => {
                let mut all = store.list_organizations().await?;
                if all.len() != 1 {
                    return Ok(SignInStep::AskOrganization);
                }
                all.remove(0)
            }
        };
        self.choose_organization(&keys::hash(request), &org.id)
            .await?;
        let settings = self.settings_of(&org.id).await?;
        match settings.sign_in {
            SignInMode::Console => Ok(SignInStep::Console {
                location: format!("/console/mcp/consent?request={request}"),
            }),
            SignInMode::Atlassian => {
                let client = self.sign_in_client(&org.id, &settings).await?;
                let started = self
                    .engine
                    .auth
                    .start_mcp_sign_in(&org.id, &client, settings.subdomain.clone())
                    .await?;
                let data = SignInData {
                    request_hash: keys::hash(request),
                    org_id: org.id.to_string(),
                };
                store
                    .insert_mcp_token(
                        &sign_in_key(started.session_id.as_ref()),
                        "sign_in",
                        None,
                        &serde_json::to_string(&data).unwrap_or_default(),
                        OffsetDateTime::now_utc() + REQUEST_TTL,
                    )
                    .await?;
                Ok(SignInStep::Atlassian {
                    authorize_url: started.authorize_url,
                })
            }
        }
    }

    /// Records the organization the person chose for a pending request (a later choice
    /// replaces it): the request is then granted in that organization only.
    async fn choose_organization(
        &self,
        request_hash: &str,
        org: &OrgId,
    ) -> Result<(), EngineError> {
        let store = &self.engine.store;
        let key = org_choice_key(request_hash);
        store.delete_mcp_token(&key).await?;
        store
            .insert_mcp_token(
                &key,
                "org_choice",
                None,
                org.as_str(),
                OffsetDateTime::now_utc() + REQUEST_TTL,
            )
            .await?;
        Ok(())
    }

    /// Refuses to grant a request in another organization than the one its person chose.
    async fn check_chosen_organization(
        &self,
        request_hash: &str,
        org: &OrgId,
    ) -> Result<(), EngineError> {
        let chosen = self
            .engine
            .store
            .find_mcp_token(&org_choice_key(request_hash), "org_choice")
            .await?;
        match chosen {
            Some(rec) if rec.data != org.as_str() => Err(EngineError::NotAllowed {
                message: "this authorization request is for the organization chosen when it started, not the one you signed in to; start it again and choose this organization".into(),
            }),
            _ => Ok(()),
        }
    }

    /// The OAuth client Atlassian sign-in goes through: the configured one, or the
    /// organization's only one.
    async fn sign_in_client(
        &self,
        org: &OrgId,
        settings: &McpSettings,
    ) -> Result<OAuthClientRecordId, EngineError> {
        if let Some(id) = &settings.oauth_client_id {
            return Ok(id.clone());
        }
        let mut clients = self.engine.store.list_oauth_clients(org).await?;
        if clients.len() == 1 {
            return Ok(clients.remove(0).id);
        }
        Err(EngineError::Conflict {
            message: "Atlassian sign-in needs the organization's OAuth client: register one, or name it (jiragate mcp-settings set --oauth-client <id>)".into(),
        })
    }

    async fn settings_of(&self, org: &OrgId) -> Result<McpSettings, EngineError> {
        Ok(match self.engine.store.get_mcp_settings(org).await? {
            Some(r) => McpSettings {
                sign_in: SignInMode::parse(&r.sign_in).unwrap_or_default(),
                oauth_client_id: r.oauth_client_id,
                subdomain: r.subdomain,
            },
            None => McpSettings::default(),
        })
    }

    /// After the OAuth callback connected `connection`: if the callback's `state` belonged to
    /// an MCP sign-in, the consent page to send the browser to (`Ok(None)`: an ordinary
    /// connect). The sign-in link is single use.
    pub async fn after_sign_in(
        &self,
        raw_state: &str,
        connection: &jiragate_store::Connection,
    ) -> Result<Option<String>, EngineError> {
        let hash = jiragate_auth::oauth::hash_state(raw_state);
        match self.engine.store.find_session_by_state_hash(&hash).await? {
            Some(session) => self.after_sign_in_session(&session, connection).await,
            None => Ok(None),
        }
    }

    /// [`McpAuthority::after_sign_in`] for a connect session that waited for a site choice
    /// (the browser's choice page names it; `Ok(None)`: an ordinary connect).
    pub async fn after_site_choice(
        &self,
        session: &ConnectSessionId,
        connection: &jiragate_store::Connection,
    ) -> Result<Option<String>, EngineError> {
        match self
            .engine
            .store
            .get_connect_session(&connection.org_id, session)
            .await?
        {
            Some(session) => self.after_sign_in_session(&session, connection).await,
            None => Ok(None),
        }
    }

    async fn after_sign_in_session(
        &self,
        session: &jiragate_store::ConnectSession,
        connection: &jiragate_store::Connection,
    ) -> Result<Option<String>, EngineError> {
        let store = &self.engine.store;
        if session.purpose != SessionPurpose::McpSignIn {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc();
        let rec = store
            .consume_mcp_token(&sign_in_key(session.id.as_ref()), "sign_in", now)
            .await?
            .filter(|r| r.expires_at > now)
            .ok_or_else(|| EngineError::NotFound {
                what: "authorization request (answered already, or expired)",
                id: String::new(),
            })?;
        let link: SignInData =
            serde_json::from_str(&rec.data).map_err(|e| EngineError::Internal(e.to_string()))?;
        let Owner::User(account_id) = &connection.owner else {
            return Err(EngineError::Internal(
                "an MCP sign-in produced a connection without a user owner".into(),
            ));
        };
        if link.org_id != connection.org_id.as_str() {
            return Err(EngineError::Internal(
                "an MCP sign-in crossed organizations".into(),
            ));
        }
        let ticket = random_token("jgms_");
        let data = SignedInData {
            request_hash: link.request_hash,
            org_id: link.org_id,
            connection_id: connection.id.to_string(),
            account_id: account_id.clone(),
        };
        store
            .insert_mcp_token(
                &keys::hash(&ticket),
                "signed_in",
                None,
                &serde_json::to_string(&data).unwrap_or_default(),
                now + REQUEST_TTL,
            )
            .await?;
        Ok(Some(format!("{SIGNED_IN_CONSENT_PATH}?ticket={ticket}")))
    }

    async fn signed_in_data(&self, ticket: &str) -> Result<SignedInData, EngineError> {
        self.unused_record(
            &keys::hash(ticket),
            "signed_in",
            "sign-in (answered already, or expired)",
        )
        .await
    }

    /// What the consent page of a person who signed in with Atlassian shows.
    pub async fn signed_in_consent(&self, ticket: &str) -> Result<SignedInConsent, EngineError> {
        let s = self.signed_in_data(ticket).await?;
        let d = self.request_data_by_hash(&s.request_hash).await?;
        let org: OrgId = s
            .org_id
            .parse()
            .map_err(|_| EngineError::Internal("damaged sign-in ticket".into()))?;
        let conn_id: ConnectionId = s
            .connection_id
            .parse()
            .map_err(|_| EngineError::Internal("damaged sign-in ticket".into()))?;
        let conn = self
            .engine
            .store
            .get_connection(&org, &conn_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "connection",
                id: s.connection_id.clone(),
            })?;
        Ok(SignedInConsent {
            pending: pending_of(d),
            account_id: s.account_id,
            account_name: conn.account_name,
            site_url: conn.site_url,
        })
    }

    /// The answer of a person who signed in with Atlassian. The ticket and the request are
    /// consumed first (a replayed consent finds nothing); approval creates a grant that acts
    /// as that person, on their own connection.
    pub async fn decide_signed_in(
        &self,
        ticket: &str,
        approve: bool,
    ) -> Result<String, EngineError> {
        let now = OffsetDateTime::now_utc();
        let rec = self
            .engine
            .store
            .consume_mcp_token(&keys::hash(ticket), "signed_in", now)
            .await?
            .filter(|r| r.expires_at > now)
            .ok_or_else(|| EngineError::NotFound {
                what: "sign-in (answered already, or expired)",
                id: String::new(),
            })?;
        let s: SignedInData =
            serde_json::from_str(&rec.data).map_err(|e| EngineError::Internal(e.to_string()))?;
        let d = self.consume_request(&s.request_hash).await?;
        if !approve {
            return Ok(self.declined(&d));
        }
        let org: OrgId = s
            .org_id
            .parse()
            .map_err(|_| EngineError::Internal("damaged sign-in ticket".into()))?;
        let conn: ConnectionId = s
            .connection_id
            .parse()
            .map_err(|_| EngineError::Internal("damaged sign-in ticket".into()))?;
        self.check_chosen_organization(&s.request_hash, &org)
            .await?;
        self.grant_and_code(
            &d,
            Actor::AtlassianUser {
                account_id: &s.account_id,
            },
            &org,
            &conn,
            GrantPrincipal::AtlassianUser {
                account_id: s.account_id.clone(),
            },
        )
        .await
    }

    /// Removes expired tokens at most every ten minutes, off the request path.
    fn purge_now_and_then(&self) {
        let due = match self.last_purge.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| t.elapsed() > StdDuration::from_secs(600));
                if due {
                    *last = Some(Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if due {
            let store = self.engine.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store
                    .purge_expired_mcp_tokens(OffsetDateTime::now_utc())
                    .await
                {
                    tracing::debug!(error = %e, "could not purge expired MCP tokens");
                }
            });
        }
    }

    async fn issue(&self, grant: &McpGrantRecord, client_id: &str) -> Result<Value, OAuthError> {
        self.purge_now_and_then();
        let access = random_token(ACCESS_TOKEN_PREFIX);
        let refresh = random_token("jgmr_");
        let data = serde_json::to_string(&TokenData {
            client_id: client_id.to_owned(),
            resource: grant.resource.clone(),
        })
        .unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        let store = &self.engine.store;
        store
            .insert_mcp_token(
                &keys::hash(&access),
                "access",
                Some(&grant.id),
                &data,
                now + self.cfg.access_ttl,
            )
            .await?;
        store
            .insert_mcp_token(
                &keys::hash(&refresh),
                "refresh",
                Some(&grant.id),
                &data,
                now + REFRESH_TTL,
            )
            .await?;
        Ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_ttl.whole_seconds(),
            "refresh_token": refresh,
            "scope": grant.scope,
        }))
    }

    async fn live_grant(&self, id: Option<&str>) -> Result<McpGrantRecord, OAuthError> {
        let grant = match id {
            Some(id) => self.engine.store.find_mcp_grant(id).await?,
            None => None,
        };
        let grant = grant
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(|| OAuthError::grant("the grant was revoked"))?;
        self.principal_of(&grant).await.map_err(OAuthError::grant)?;
        Ok(grant)
    }

    /// Who a live grant acts as, checked now: a key grant ends with its (revoked) key; a
    /// signed-in person's grant ends when their connection is gone or no longer theirs.
    async fn principal_of(&self, grant: &McpGrantRecord) -> Result<McpPrincipal, String> {
        let store = &self.engine.store;
        match &grant.principal {
            GrantPrincipal::ApiKey { api_key_id } => store
                .get_api_key(&grant.org_id, api_key_id)
                .await
                .ok()
                .flatten()
                .filter(|k| k.revoked_at.is_none())
                .map(McpPrincipal::Key)
                .ok_or_else(|| "the API key that approved this grant was revoked".to_string()),
            GrantPrincipal::AtlassianUser { account_id } => {
                let owner = Owner::User(account_id.clone());
                store
                    .get_connection(&grant.org_id, &grant.connection_id)
                    .await
                    .ok()
                    .flatten()
                    .filter(|c| c.owner == owner)
                    .map(|_| McpPrincipal::AtlassianUser {
                        account_id: account_id.clone(),
                    })
                    .ok_or_else(|| {
                        "the connection of the person who signed in was removed".to_string()
                    })
            }
        }
    }

    async fn revoke_grant_of(&self, grant_id: Option<&str>, why: &str) {
        let Some(id) = grant_id else { return };
        if let Ok(Some(g)) = self.engine.store.find_mcp_grant(id).await {
            let _ = self
                .engine
                .store
                .revoke_mcp_grant(&g.org_id, id, OffsetDateTime::now_utc())
                .await;
            self.engine.hot.forget_mcp_grant(id);
            self.engine
                .append_audit(
                    Actor::Operator,
                    &g.org_id,
                    "mcp_grant.revoke",
                    id,
                    json!({ "reason": why }),
                )
                .await;
            tracing::warn!(grant = %id, reason = why, "MCP grant revoked");
        }
    }

    /// The token endpoint (form parameters).
    pub async fn token(&self, f: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let client_id = get("client_id")
            .ok_or_else(|| OAuthError::new(401, "invalid_client", "client_id is required"))?;
        if let Some(r) = get("resource")
            && r.trim_end_matches('/') != self.resource
        {
            return Err(OAuthError::new(
                400,
                "invalid_target",
                "the resource is not this server's MCP endpoint",
            ));
        }
        let now = OffsetDateTime::now_utc();
        match get("grant_type") {
            Some("authorization_code") => {
                let code = get("code").ok_or_else(|| OAuthError::request("code is required"))?;
                let hash = keys::hash(code);
                let Some(rec) = self
                    .engine
                    .store
                    .consume_mcp_token(&hash, "code", now)
                    .await?
                else {
                    // A code presented twice: whatever it produced is revoked (OAuth 2.1 §4.1.3).
                    if let Some(used) = self.engine.store.find_mcp_token(&hash, "code").await? {
                        self.revoke_grant_of(used.grant_id.as_deref(), "authorization code reused")
                            .await;
                    }
                    return Err(OAuthError::grant(
                        "the authorization code is invalid or was already used",
                    ));
                };
                if rec.expires_at <= now {
                    return Err(OAuthError::grant("the authorization code has expired"));
                }
                let d: CodeData = serde_json::from_str(&rec.data)
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
                if d.client_id != client_id {
                    return Err(OAuthError::grant("the code was issued to another client"));
                }
                if d.resource != self.resource {
                    return Err(OAuthError::new(
                        400,
                        "invalid_target",
                        "the code was issued for another resource",
                    ));
                }
                if get("redirect_uri") != Some(d.redirect_uri.as_str()) {
                    return Err(OAuthError::grant(
                        "redirect_uri differs from the authorization request",
                    ));
                }
                let verifier = get("code_verifier")
                    .ok_or_else(|| OAuthError::request("PKCE is required: send code_verifier"))?;
                if !is_pkce_text(verifier, 43)
                    || !keys::hashes_equal(&pkce_s256(verifier), &d.code_challenge)
                {
                    return Err(OAuthError::grant(
                        "code_verifier does not match the code_challenge",
                    ));
                }
                let grant = self.live_grant(rec.grant_id.as_deref()).await?;
                self.issue(&grant, client_id).await
            }
            Some("refresh_token") => {
                let token = get("refresh_token")
                    .ok_or_else(|| OAuthError::request("refresh_token is required"))?;
                let hash = keys::hash(token);
                let Some(rec) = self.engine.store.find_mcp_token(&hash, "refresh").await? else {
                    return Err(OAuthError::grant("the refresh token is invalid"));
                };
                let d: TokenData = serde_json::from_str(&rec.data)
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
                if d.client_id != client_id {
                    return Err(OAuthError::grant(
                        "the refresh token was issued to another client",
                    ));
                }
                if d.resource != self.resource {
                    return Err(OAuthError::new(
                        400,
                        "invalid_target",
                        "the refresh token was issued for another resource",
                    ));
                }
                if rec.used_at.is_some()
                    || self
                        .engine
                        .store
                        .consume_mcp_token(&hash, "refresh", now)
                        .await?
                        .is_none()
                {
                    self.revoke_grant_of(rec.grant_id.as_deref(), "refresh token reused")
                        .await;
                    return Err(OAuthError::grant(
                        "the refresh token was already used; the grant is revoked",
                    ));
                }
                if rec.expires_at <= now {
                    return Err(OAuthError::grant("the refresh token has expired"));
                }
                let grant = self.live_grant(rec.grant_id.as_deref()).await?;
                self.issue(&grant, client_id).await
            }
            Some(_) => Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )),
            None => Err(OAuthError::request("grant_type is required")),
        }
    }

    /// RFC 7009 revocation: a refresh token ends its grant; an access token ends itself.
    /// Unknown tokens are not an error.
    pub async fn revoke(&self, f: &HashMap<String, String>) -> Result<(), OAuthError> {
        let token = f
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::request("token is required"))?;
        let hash = keys::hash(token);
        let store = &self.engine.store;
        if let Some(rec) = store.find_mcp_token(&hash, "refresh").await? {
            self.revoke_grant_of(
                rec.grant_id.as_deref(),
                "refresh token revoked by the client",
            )
            .await;
        } else {
            store.delete_mcp_token(&hash).await?;
            self.engine.hot.forget_mcp_token(&hash);
        }
        Ok(())
    }

    /// Verifies an access token presented at `/mcp`: known, unexpired, issued for this
    /// resource, on a live grant whose approving key is still valid. `Err` carries the
    /// `error_description` for `WWW-Authenticate: Bearer error="invalid_token"`.
    pub async fn authenticate(&self, token: &str) -> Result<McpAccess, String> {
        let hash = keys::hash(token);
        if let Some(access) = self.engine.hot.mcp_access(&hash) {
            return Ok(access);
        }
        let store = &self.engine.store;
        let rec = store
            .find_mcp_token(&hash, "access")
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "MCP access token lookup failed");
                "the token could not be checked".to_string()
            })?
            .ok_or("the access token is unknown or was revoked")?;
        if rec.expires_at <= OffsetDateTime::now_utc() {
            return Err("the access token has expired".into());
        }
        let d: TokenData =
            serde_json::from_str(&rec.data).map_err(|_| "the access token is damaged")?;
        if d.resource != self.resource {
            return Err("the access token was issued for another resource".into());
        }
        let grant = match rec.grant_id.as_deref() {
            Some(id) => store.find_mcp_grant(id).await.ok().flatten(),
            None => None,
        }
        .filter(|g| g.revoked_at.is_none() && g.resource == self.resource)
        .ok_or("the grant behind the access token was revoked")?;
        let principal = self.principal_of(&grant).await?;
        let access = McpAccess {
            read_only: !grant.scope.split_whitespace().any(|s| s == SCOPE_WRITE),
            grant_id: grant.id,
            org: grant.org_id,
            connection: grant.connection_id,
            principal,
        };
        self.engine
            .hot
            .put_mcp_access(hash, access.clone(), rec.expires_at);
        Ok(access)
    }
}

/// The consent page of a person who signed in with Atlassian.
pub const SIGNED_IN_CONSENT_PATH: &str = "/oauth/mcp/consent";

/// The `mcp_tokens` key linking a sign-in's connect session to its authorization request.
fn sign_in_key(session_id: &str) -> String {
    keys::hash(&format!("mcp-sign-in:{session_id}"))
}

/// The `mcp_tokens` key of the organization chosen for a pending request.
fn org_choice_key(request_hash: &str) -> String {
    keys::hash(&format!("mcp-org:{request_hash}"))
}

fn uuid_like() -> String {
    ConnectionId::new().as_str().to_owned()
}

impl Engine {
    /// The MCP grants of an organization (optionally of one connection). Needs `admin`.
    pub async fn list_mcp_grants(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        connection: Option<&ConnRef>,
    ) -> Result<Vec<McpGrantRecord>, EngineError> {
        actor.require(ApiScope::Admin)?;
        let conn = match connection {
            Some(r) => Some(self.resolve(org, r).await?.id),
            None => None,
        };
        Ok(self.store.list_mcp_grants(org, conn.as_ref()).await?)
    }

    /// The organization's MCP authorization settings (admin).
    pub async fn mcp_settings(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
    ) -> Result<McpSettings, EngineError> {
        actor.require(ApiScope::Admin)?;
        Ok(match self.store.get_mcp_settings(org).await? {
            Some(r) => McpSettings {
                sign_in: SignInMode::parse(&r.sign_in).unwrap_or_default(),
                oauth_client_id: r.oauth_client_id,
                subdomain: r.subdomain,
            },
            None => McpSettings::default(),
        })
    }

    /// Sets how the organization identifies people behind MCP authorizations (admin). The
    /// Atlassian mode needs an OAuth client: the named one must exist in the organization, or
    /// the organization must have exactly one.
    pub async fn set_mcp_settings(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        settings: McpSettings,
    ) -> Result<McpSettings, EngineError> {
        actor.require(ApiScope::Admin)?;
        let subdomain = settings
            .subdomain
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(s) = &subdomain
            && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(EngineError::validation(
                "subdomain",
                "a site subdomain has letters, digits and '-' only",
            ));
        }
        if let Some(id) = &settings.oauth_client_id {
            if self.store.get_oauth_client(org, id).await?.is_none() {
                return Err(EngineError::NotFound {
                    what: "OAuth client",
                    id: id.to_string(),
                });
            }
        } else if settings.sign_in == SignInMode::Atlassian
            && self.store.list_oauth_clients(org).await?.len() != 1
        {
            return Err(EngineError::validation(
                "oauth_client_id",
                "Atlassian sign-in needs the organization's OAuth client: register one first, or name one when there are several",
            ));
        }
        let settings = McpSettings {
            subdomain,
            ..settings
        };
        self.store
            .put_mcp_settings(
                org,
                &McpSettingsRecord {
                    sign_in: settings.sign_in.as_str().to_owned(),
                    oauth_client_id: settings.oauth_client_id.clone(),
                    subdomain: settings.subdomain.clone(),
                    updated_at: OffsetDateTime::now_utc(),
                },
            )
            .await?;
        self.append_audit(
            actor,
            org,
            "mcp_settings.update",
            org.as_ref(),
            json!({ "sign_in": settings.sign_in.as_str(),
                    "oauth_client_id": settings.oauth_client_id.as_ref().map(|c| c.to_string()),
                    "subdomain": settings.subdomain }),
        )
        .await;
        Ok(settings)
    }

    /// Revokes an MCP grant and every token it issued. Needs `admin`.
    pub async fn revoke_mcp_grant(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &str,
    ) -> Result<(), EngineError> {
        actor.require(ApiScope::Admin)?;
        if !self
            .store
            .revoke_mcp_grant(org, id, OffsetDateTime::now_utc())
            .await?
        {
            return Err(EngineError::NotFound {
                what: "MCP grant",
                id: id.chars().take(80).collect(),
            });
        }
        self.hot.forget_mcp_grant(id);
        self.append_audit(actor, org, "mcp_grant.revoke", id, json!({}))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_only() {
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/cb"
        ));
        assert!(redirect_matches(
            "http://localhost:3000/cb",
            "http://localhost:4000/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
        assert!(redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb"
        ));
    }

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib + base64.urlsafe_b64encode, padding stripped.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXcFoxXoU"),
            "0vg6fLlW_j_JTd9z2KcokYUfdtw_OytnPi39liPHrRs"
        );
    }
}
