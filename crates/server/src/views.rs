//! Wire shapes of the API: request bodies and response views (schemas of the OpenAPI document).
//!
//! Views are built field by field from store records, so a secret-bearing field added to a
//! record can never reach a response by accident.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use jiragate_engine::model::{
    ApiKeyRecord, ApiType, AuthKind, Connection, ConnectionStatus, OAuthClientRecord, Organization,
    Owner, Workspace,
};

// Names (connection, workspace, organization, key) are documented as `jiragate_engine::check_name`
// enforces them: 1 to 200 characters, at least one visible, no `/`
// (`pattern = r"^[^/]*[^/\s][^/]*$"`); control, bidi and zero-width characters are refused too,
// which a pattern cannot say portably. tests/it/openapi.rs checks schema and server agree.

/// Any JSON value (object, array, string, number, boolean or null).
fn any_json() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .description(Some(
            "Any JSON value: an array for list and search actions, an object for single records",
        ))
        .build()
}

fn string_enum(values: &[&str], nullable: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let mut vals: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        vals.push(serde_json::Value::Null);
    }
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(ty)
        .enum_values(Some(vals))
        .build()
}

/// The spellings of `api_type` the server accepts (`parse_api_type`, case-insensitive).
fn api_type_schema() -> utoipa::openapi::Object {
    string_enum(
        &[
            "platform",
            "service_management",
            "jira",
            "servicedesk",
            "jsm",
        ],
        true,
    )
}

fn credential_for_schema() -> utoipa::openapi::Object {
    string_enum(&["user", "installation"], true)
}

/// A non-empty list of API-key scopes (`ApiScope`).
fn key_scopes_schema() -> utoipa::openapi::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string_enum(
            &[
                "admin",
                "connectors:write",
                "execute",
                "proxy",
                "credentials:read",
            ],
            false,
        ))
        .min_items(Some(1))
        .build()
}

pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn api_type_name(t: &ApiType) -> &'static str {
    match t {
        ApiType::Platform => "platform",
        ApiType::ServiceManagement => "service_management",
    }
}

pub(crate) fn auth_kind_name(k: &AuthKind) -> &'static str {
    match k {
        AuthKind::ApiToken => "api_token",
        AuthKind::OAuth2 => "oauth2",
        AuthKind::ScopedApiToken => "scoped_api_token",
    }
}

pub(crate) fn status_name(s: &ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Healthy => "healthy",
        ConnectionStatus::NeedsReauth => "needs_reauth",
        ConnectionStatus::Revoked => "revoked",
        ConnectionStatus::Error => "error",
    }
}

// ---------------------------------------------------------------------------------------------
// connectors

/// Secret fields of a connector. Either an API token (`username` = Atlassian account email,
/// `password` = API token) or OAuth tokens (`refresh_token`, optionally `access_token`,
/// `client_id`, `client_secret`). Write-only: never returned.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CredentialsInput {
    /// Atlassian account email (API-token credentials).
    #[serde(default)]
    pub username: Option<String>,
    /// API token (API-token credentials).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub password: Option<SecretString>,
    /// `true` for a scoped API token (used through api.atlassian.com).
    #[serde(default)]
    pub scoped: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub access_token: Option<SecretString>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub client_secret: Option<SecretString>,
}

/// Where the connector points.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReplicationConfig {
    /// Site subdomain (`acme` for acme.atlassian.net).
    #[serde(default)]
    pub subdomain: Option<String>,
    /// Full site URL, instead of `subdomain`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// `platform` (default) or `service_management` (`jira`, `servicedesk` and `jsm` are
    /// accepted as aliases).
    #[serde(default)]
    #[schema(schema_with = api_type_schema)]
    pub api_type: Option<String>,
}

/// Body of `POST /api/v1/integrations/connectors`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateConnectorRequest {
    /// Workspace (created on demand); `default` if absent or empty.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^/]*$")]
    pub workspace_name: Option<String>,
    /// Must be `Jira` (any case) when given.
    #[serde(default)]
    #[schema(pattern = "^[Jj][Ii][Rr][Aa]$")]
    pub connector_type: Option<String>,
    /// Connector name, unique in its workspace: 1 to 200 characters, no `/`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^/]*[^/\s][^/]*$")]
    pub name: String,
    pub credentials: CredentialsInput,
    #[serde(default)]
    pub replication_config: Option<ReplicationConfig>,
    /// Owner: a user id of the caller's platform; absent = owned by the installation.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Body of `PATCH /api/v1/integrations/connectors/{id}`: the credentials are replaced whole and
/// verified again (nothing is merged with the stored ones).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateConnectorRequest {
    pub credentials: CredentialsInput,
}

/// A connector as returned by the API. Never contains a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub connector_type: &'static str,
    pub workspace_name: String,
    pub name: String,
    /// `platform` or `service_management`.
    pub api_type: &'static str,
    /// `api_token`, `scoped_api_token` or `oauth2`.
    pub auth_kind: &'static str,
    pub site_url: String,
    pub subdomain: Option<String>,
    pub cloud_id: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub scopes: Vec<String>,
    /// `installation` or `user:<id>`.
    pub owner: String,
    pub user_id: Option<String>,
    /// `healthy`, `needs_reauth`, `revoked` or `error`.
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub last_checked_at: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Connection> for ConnectorView {
    fn from(c: &Connection) -> Self {
        let (owner, user_id) = match &c.owner {
            Owner::Installation => ("installation".to_owned(), None),
            Owner::User(u) => (format!("user:{u}"), Some(u.clone())),
        };
        ConnectorView {
            id: c.id.to_string(),
            connector_type: "Jira",
            workspace_name: c.workspace.clone(),
            name: c.name.clone(),
            api_type: api_type_name(&c.api_type),
            auth_kind: auth_kind_name(&c.auth_kind),
            site_url: c.site_url.clone(),
            subdomain: c.subdomain.clone(),
            cloud_id: c.cloud_id.clone(),
            account_id: c.account_id.clone(),
            account_name: c.account_name.clone(),
            email: c.email.clone(),
            scopes: c.scopes.clone(),
            owner,
            user_id,
            status: status_name(&c.status),
            status_reason: c.status_reason.clone(),
            last_checked_at: c.last_checked_at.map(ts),
            version: c.version,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

/// A list of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub data: Vec<T>,
}

/// Query of `GET /api/v1/integrations/connectors`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListConnectorsQuery {
    /// Only connectors of this workspace.
    pub workspace_name: Option<String>,
}

/// Query of `GET …/describe`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DescribeQuery {
    /// Only entities/actions whose name contains this text.
    pub filter: Option<String>,
}

/// Body of `POST …/execute`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExecuteRequest {
    /// e.g. `issues`.
    pub entity: String,
    /// e.g. `search`.
    pub action: String,
    /// Parameters, validated against the action's JSON Schema (see describe).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// Refuse actions that write to Jira.
    #[serde(default)]
    pub read_only: bool,
}

/// Result of `POST …/execute`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// The action's result: an array for list and search actions (`issues.search`), an
    /// object for single records (`issues.get`).
    #[schema(schema_with = any_json)]
    pub data: Value,
    pub next_page_token: Option<String>,
    #[schema(value_type = Object)]
    pub meta: Value,
}

/// Result of `POST …/check`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    pub connector_id: String,
    /// Status after the check: `healthy`, `needs_reauth`, `revoked` or `error`.
    pub status: String,
    pub reason: Option<String>,
    pub latency_ms: i64,
    pub checked_at: String,
}

// ---------------------------------------------------------------------------------------------
// OAuth clients and connect sessions

/// Body of `POST /api/v1/oauth/clients`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOAuthClientRequest {
    pub client_id: String,
    #[schema(value_type = String, format = Password, write_only)]
    pub client_secret: SecretString,
    /// Default scopes requested by connect sessions (offline_access is always added).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Body of `PATCH /api/v1/oauth/clients/{id}`: give either or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOAuthClientRequest {
    /// A new client secret (after rotating it in the Atlassian developer console). Sealed like
    /// at registration; write-only, never returned.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub client_secret: Option<SecretString>,
    /// New default scopes of connect sessions (replaces the list).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// A registered OAuth 2.0 (3LO) app. The secret is write-only.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthClientView {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

impl From<&OAuthClientRecord> for OAuthClientView {
    fn from(r: &OAuthClientRecord) -> Self {
        OAuthClientView {
            id: r.id.to_string(),
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            scopes: r.scopes.clone(),
            created_at: ts(r.created_at),
        }
    }
}

/// Body of `POST /api/v1/connect/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSessionRequest {
    /// Id of a registered OAuth client (`POST /api/v1/oauth/clients`). Required, except for an
    /// embeddable session (`return_url`) that offers only `api_token`, or whose organization
    /// has exactly one client.
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^/]*$")]
    pub workspace_name: Option<String>,
    /// Name of the connector to create: 1 to 200 characters, no `/`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^/]*[^/\s][^/]*$")]
    pub name: String,
    /// Scopes to ask for; default: the client's.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Connect this site without asking when the grant covers several.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// Owner user id; absent = installation.
    #[serde(default)]
    pub owner: Option<String>,
    /// `platform` (default) or `service_management` (`jira`, `servicedesk` and `jsm` are
    /// accepted as aliases).
    #[serde(default)]
    #[schema(schema_with = api_type_schema)]
    pub api_type: Option<String>,
    /// Makes this an embeddable session: the end user opens `connect_url` (or the app calls
    /// `jiragate.connect({sessionToken})` from `/connect.js`), connects, and returns here with
    /// `connection_id` (redirect) or a `postMessage` to the opener (popup). Its origin must be on
    /// the organization's allow-list (`PUT /api/v1/connect/settings`).
    #[serde(default)]
    #[schema(format = "uri")]
    pub return_url: Option<String>,
    /// Embeddable sessions: what the end user may choose (`api_token`, `oauth`); default: both
    /// when an OAuth client is known, else `api_token`.
    #[serde(default)]
    #[schema(inline, value_type = Option<Vec<AuthChoice>>)]
    pub allowed_auth_types: Option<Vec<String>>,
}

/// What an embeddable connect session may offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthChoice {
    ApiToken,
    Oauth,
}

/// Answer of `POST /api/v1/connect/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateSessionResponse {
    pub id: String,
    /// OAuth sessions: send the user's browser here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Embeddable sessions: the short-lived, single-use token for `/connect.js`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_token: Option<String>,
    /// Embeddable sessions: the page to open (popup or redirect); it embeds the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
    pub expires_at: String,
}

/// Body and answer of `PUT`/`GET /api/v1/connect/settings`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectSettingsBody {
    /// Origins (`https://app.example.com`; plain http only on loopback) that embeddable
    /// sessions may return to.
    pub return_origins: Vec<String>,
    /// The name the connect page shows; default: the organization's name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub app_name: Option<String>,
}

/// One Jira site a grant covers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    pub cloud_id: String,
    pub name: String,
    pub url: String,
}

/// State of a connect session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// `pending`, `choose_site`, `connected`, `failed` or `expired` (still pending after
    /// `expires_at`: derived when read; start a new session).
    pub status: &'static str,
    pub workspace_name: String,
    pub name: String,
    /// With `choose_site`: the sites to choose from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<SiteView>>,
    /// With `connected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    /// With `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub expires_at: String,
}

/// Body of `POST /api/v1/connect/sessions/{id}/site`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChooseSiteRequest {
    /// The site's cloud id (also accepted: its URL or subdomain).
    pub cloud_id: String,
}

// ---------------------------------------------------------------------------------------------
// credentials

/// Body of `POST /api/v1/credentials/token`: `connector_id`, or `workspace_name` +
/// `credential_for` (`user` with `user_id`, or `installation`) naming the one connector of that
/// owner in the workspace.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(default)]
    pub connector_id: Option<String>,
    #[serde(default)]
    pub workspace_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// `user` (with `user_id`) or `installation`.
    #[serde(default)]
    #[schema(schema_with = credential_for_schema)]
    pub credential_for: Option<String>,
}

/// A fresh access token. The one deliberate exception to "no secret in a response", guarded by
/// the `credentials:read` scope and audited.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub connector_id: String,
    pub token_type: &'static str,
    pub access_token: String,
    pub expires_at: String,
    /// Base URL to call Jira with this token.
    pub base_url: String,
}

// ---------------------------------------------------------------------------------------------
// organizations, workspaces, keys

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrganizationRequest {
    /// 1 to 200 characters, no `/`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^/]*[^/\s][^/]*$")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        OrganizationView {
            id: o.id.to_string(),
            name: o.name.clone(),
            created_at: ts(o.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWorkspaceRequest {
    /// 1 to 200 characters, no `/`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^/]*[^/\s][^/]*$")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        WorkspaceView {
            id: w.id.to_string(),
            name: w.name.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// 1 to 200 characters, no `/`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^/]*[^/\s][^/]*$")]
    pub name: String,
    /// At least one of `admin`, `connectors:write`, `execute`, `proxy`, `credentials:read`.
    #[schema(schema_with = key_scopes_schema)]
    pub scopes: Vec<String>,
    /// A platform key may act for any organization (X-Organization-Id). Only a platform key
    /// may create one.
    #[serde(default)]
    pub platform: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// Non-secret start of the key, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub platform: bool,
    pub organization_id: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        ApiKeyView {
            id: k.id.to_string(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            platform: k.platform,
            organization_id: k.org_id.to_string(),
            created_at: ts(k.created_at),
            revoked_at: k.revoked_at.map(ts),
            last_used_at: k.last_used_at.map(ts),
        }
    }
}

/// Answer of `POST /api/v1/keys`: the key itself is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyResponse {
    #[serde(flatten)]
    pub record: ApiKeyView,
    /// The API key. Store it now: it cannot be shown again.
    pub key: String,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// audit trail and scopes catalogue

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Only events about this connector (its id, also of a deleted one, or `workspace/name`).
    pub connection: Option<String>,
    /// Only events whose action starts with this, e.g. `connector.` or `oauth_client.update`.
    pub kind: Option<String>,
    /// Events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Events before this RFC 3339 time.
    pub until: Option<String>,
    /// Events per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One audit event: who did what to which record. Never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// `api_key:<id>`, `operator` (the host's CLI) or `auth` (jiragate itself).
    pub actor: String,
    /// e.g. `connector.create`, `oauth_client.update`, `credentials.token`.
    pub action: String,
    /// Id of the record acted on (a connector id for `connector.*`).
    pub target: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<&jiragate_engine::model::AuditEvent> for AuditEventView {
    fn from(e: &jiragate_engine::model::AuditEvent) -> Self {
        AuditEventView {
            id: e.id.to_string(),
            at: ts(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    pub data: Vec<AuditEventView>,
    /// Present when more events follow: pass it as `page_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Query of `GET /api/v1/scopes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopesQuery {
    /// Only the scopes of this action (`entity.action`, e.g. `issues.search`).
    pub action: Option<String>,
}

/// One Jira OAuth 2.0 scope and the catalog actions that need it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeView {
    /// e.g. `read:jira-work` or `read:issue:jira`.
    pub scope: String,
    /// `classic` or `granular`.
    pub kind: &'static str,
    /// From the Atlassian OpenAPI documents' `securitySchemes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The spec document that defines the scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defined_in: Option<String>,
    /// `entity.action` names that need the scope.
    pub actions: Vec<String>,
}

impl From<&jiragate_engine::scopes::ScopeInfo> for ScopeView {
    fn from(s: &jiragate_engine::scopes::ScopeInfo) -> Self {
        ScopeView {
            scope: s.scope.clone(),
            kind: match s.kind {
                jiragate_engine::scopes::ScopeKind::Classic => "classic",
                jiragate_engine::scopes::ScopeKind::Granular => "granular",
            },
            description: s.description.clone(),
            defined_in: s.defined_in.clone(),
            actions: s.actions.clone(),
        }
    }
}
