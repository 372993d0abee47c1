//! Connectors: the seed-compatible CRUD plus describe, execute and check.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiragate_engine::model::{ApiType, NewApiTokenConnection, Owner, SiteRef};
use jiragate_engine::{ActionRequest, ConnRef, NewConnection, OAuthTokensInput};

use crate::caller::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::state::AppState;
use crate::views::{
    CheckResponse, ConnectorView, CreateConnectorRequest, CredentialsInput, DescribeQuery,
    ExecuteRequest, ExecuteResponse, ListConnectorsQuery, ListResponse, ReplicationConfig,
    UpdateConnectorRequest, status_name, ts,
};

pub(crate) const DEFAULT_WORKSPACE: &str = "default";

pub(crate) fn parse_api_type(raw: Option<&str>, field: &str) -> Result<ApiType, Problem> {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("platform") | Some("jira") => Ok(ApiType::Platform),
        Some("service_management") | Some("servicedesk") | Some("jsm") => {
            Ok(ApiType::ServiceManagement)
        }
        Some(other) => Err(Problem::validation(
            field,
            format!("unknown api_type `{other}`; use `platform` or `service_management`"),
        )),
    }
}

pub(crate) fn workspace_or_default(ws: Option<String>) -> Result<String, Problem> {
    let ws = ws.unwrap_or_default();
    if ws.trim().is_empty() && !ws.chars().any(jiragate_engine::is_forbidden_char) {
        return Ok(DEFAULT_WORKSPACE.to_owned());
    }
    Ok(jiragate_engine::check_name("workspace_name", &ws)?)
}

fn check_name(name: &str) -> Result<String, Problem> {
    Ok(jiragate_engine::check_name("name", name)?)
}

fn site_ref(cfg: &ReplicationConfig) -> Result<Option<SiteRef>, Problem> {
    match (&cfg.subdomain, &cfg.base_url) {
        (Some(_), Some(_)) => Err(Problem::validation(
            "replication_config",
            "give either `subdomain` or `base_url`, not both",
        )),
        (Some(s), None) if !s.trim().is_empty() => {
            Ok(Some(SiteRef::Subdomain(s.trim().to_owned())))
        }
        (None, Some(u)) if !u.trim().is_empty() => Ok(Some(SiteRef::BaseUrl(u.trim().to_owned()))),
        _ => Ok(None),
    }
}

/// Parse `{id}` (a connector id, or `workspace/name`, or a name in `default`).
pub(crate) fn conn_ref(raw: &str) -> ApiResult<ConnRef> {
    if raw.trim().is_empty() {
        return Err(Problem::not_found("connector", raw));
    }
    Ok(ConnRef::parse(raw))
}

/// The wire credentials of a create call as the engine's request: bring-your-own OAuth
/// tokens, or an Atlassian email and API token.
fn new_connection(
    workspace: String,
    name: String,
    creds: CredentialsInput,
    rc: ReplicationConfig,
    owner: Owner,
) -> ApiResult<NewConnection> {
    let api_type = parse_api_type(rc.api_type.as_deref(), "replication_config.api_type")?;
    let site = site_ref(&rc)?;
    if let Some(refresh_token) = creds.refresh_token {
        let subdomain = match site {
            Some(SiteRef::Subdomain(s)) | Some(SiteRef::BaseUrl(s)) => Some(s),
            None => None,
        };
        return Ok(NewConnection::OAuthTokens(OAuthTokensInput {
            workspace,
            name,
            refresh_token,
            access_token: creds.access_token,
            client_id: creds.client_id,
            client_secret: creds.client_secret,
            subdomain,
            api_type,
            owner,
        }));
    }
    let (Some(email), Some(token)) = (creds.username, creds.password) else {
        return Err(Problem::validation(
            "credentials",
            "expected {username, password} (Atlassian email and API token) or {refresh_token, access_token?, client_id?, client_secret?}",
        ));
    };
    let Some(site) = site else {
        return Err(Problem::validation(
            "replication_config.subdomain",
            "an API-token connector needs `subdomain` or `base_url`",
        ));
    };
    Ok(NewConnection::ApiToken(NewApiTokenConnection {
        workspace,
        name,
        site,
        email,
        token,
        scoped: creds.scoped,
        api_type,
        owner,
    }))
}

/// Create a connector (the first seed call).
#[utoipa::path(post, path = "/api/v1/integrations/connectors", tag = "connectors",
    request_body = CreateConnectorRequest,
    responses((status = 201, description = "Created: the credential was verified with Jira and sealed", body = ConnectorView),
              (status = 409, description = "A connector of this name already exists in the workspace", body = ProblemBody, content_type = "application/problem+json"),
              (status = 400, description = "Jira refused the credential or the site", body = ProblemBody, content_type = "application/problem+json"),
              (status = 502, description = "Jira answered with an error", body = ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Jira could not be reached", body = ProblemBody, content_type = "application/problem+json"),
              (status = 504, description = "Jira did not answer in time", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateConnectorRequest>,
) -> ApiResult<Response> {
    if let Some(t) = &body.connector_type
        && !t.eq_ignore_ascii_case("jira")
    {
        return Err(Problem::validation(
            "connector_type",
            format!("unsupported connector type `{t}`; this server speaks `Jira`"),
        ));
    }
    let workspace = workspace_or_default(body.workspace_name)?;
    let name = check_name(&body.name)?;
    let owner = match body.user_id {
        Some(u) if !u.trim().is_empty() => Owner::User(u.trim().to_owned()),
        _ => Owner::Installation,
    };
    let new = new_connection(
        workspace,
        name,
        body.credentials,
        body.replication_config.unwrap_or_default(),
        owner,
    )?;
    let conn = state
        .engine()
        .create_connection(caller.actor(), &caller.org, new)
        .await?;
    Ok((StatusCode::CREATED, Json(ConnectorView::from(&conn))).into_response())
}

/// List connectors.
#[utoipa::path(get, path = "/api/v1/integrations/connectors", tag = "connectors",
    params(ListConnectorsQuery),
    responses((status = 200, description = "The organization's connectors (never their secrets)", body = ListResponse<ConnectorView>)),
    security(("api_key" = [])))]
pub async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListConnectorsQuery>,
) -> ApiResult<Json<ListResponse<ConnectorView>>> {
    let ws = q.workspace_name.filter(|w| !w.is_empty());
    let conns = state
        .engine()
        .list_connections(caller.actor(), &caller.org, ws.as_deref())
        .await?;
    Ok(Json(ListResponse {
        data: conns.iter().map(ConnectorView::from).collect(),
    }))
}

/// Read a connector (never its secrets).
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, description = "The connector (never its secrets)", body = ConnectorView), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn get_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConnectorView>> {
    let conn = state
        .engine()
        .get_connection(caller.actor(), &caller.org, &conn_ref(&id)?)
        .await?;
    Ok(Json(ConnectorView::from(&conn)))
}

/// Replace a connector's credentials (re-entered whole, verified again).
#[utoipa::path(patch, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    request_body = UpdateConnectorRequest,
    responses((status = 200, description = "The connector with its new credentials verified", body = ConnectorView), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 400, description = "Jira refused the new credential", body = ProblemBody, content_type = "application/problem+json"),
              (status = 502, description = "Jira answered with an error", body = ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Jira could not be reached", body = ProblemBody, content_type = "application/problem+json"),
              (status = 504, description = "Jira did not answer in time", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn update_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateConnectorRequest>,
) -> ApiResult<Json<ConnectorView>> {
    let creds = crate::routes::credentials::to_auth_credentials(body.credentials)?;
    let updated = state
        .engine()
        .update_credentials(caller.actor(), &caller.org, &conn_ref(&id)?, creds)
        .await?;
    Ok(Json(ConnectorView::from(&updated)))
}

/// Delete a connector; its secrets are erased.
#[utoipa::path(delete, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 204, description = "Deleted; its secrets are erased"), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state
        .engine()
        .delete_connection(caller.actor(), &caller.org, &conn_ref(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Entities, actions, JSON Schemas of their params, required scopes.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/describe", tag = "connectors",
    params(("id" = String, Path, description = "connector id"), DescribeQuery),
    responses((status = 200, body = Object, description = "`{entities: [{entity, actions: [{action, description, read_only, params_schema, scopes}]}]}`"), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn describe_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DescribeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let described = state
        .engine()
        .describe(
            caller.actor(),
            &caller.org,
            &conn_ref(&id)?,
            q.filter.as_deref(),
        )
        .await?;
    Ok(Json(described))
}

/// Run one catalog action (the second seed call).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/execute", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    request_body = ExecuteRequest,
    responses((status = 200, description = "The action's result", body = ExecuteResponse), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 400, description = "Jira refused the input (e.g. invalid JQL)", body = ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "The connector needs re-authorization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 502, description = "Jira answered with an error", body = ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Jira could not be reached", body = ProblemBody, content_type = "application/problem+json"),
              (status = 504, description = "Jira did not answer in time", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["execute"])))]
pub async fn execute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ExecuteRequest>,
) -> ApiResult<Response> {
    let params = if body.params.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        body.params
    };
    let call = ActionRequest {
        entity: body.entity,
        action: body.action,
        params,
        read_only: body.read_only,
    };
    let out = state
        .engine()
        .execute_json(caller.actor(), &caller.org, &conn_ref(&id)?, call)
        .await?;
    Ok(execute_response(out))
}

/// The [`ExecuteResponse`] document written around `data`'s JSON text (the same members, in
/// the same order, as serializing `ExecuteResponse` gives).
fn execute_response(out: jiragate_engine::ExecuteJson) -> Response {
    let data = out.data.into_bytes();
    let mut body = Vec::with_capacity(data.len() + 192);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(&data);
    body.extend_from_slice(b",\"next_page_token\":");
    // Neither can fail: a string and a `Value` with string keys.
    let _ = serde_json::to_writer(&mut body, &out.next_page_token);
    body.extend_from_slice(b",\"meta\":");
    let _ = serde_json::to_writer(&mut body, &out.meta);
    body.push(b'}');
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Health-check the connector now (`GET /rest/api/3/myself`).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/check", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, description = "The result of the check (also when Jira refused the credential)", body = CheckResponse), (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["execute"])))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CheckResponse>> {
    let (conn, hc) = state
        .engine()
        .check(caller.actor(), &caller.org, &conn_ref(&id)?)
        .await?;
    Ok(Json(CheckResponse {
        connector_id: conn.id.to_string(),
        status: status_name(&hc.status).to_owned(),
        reason: hc.reason.clone(),
        latency_ms: hc.latency_ms,
        checked_at: ts(hc.at),
    }))
}
