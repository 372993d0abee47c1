//! Connectors: the seed-compatible CRUD plus describe, execute and check.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiragate_auth::{NewApiTokenConnection, NewOAuthTokens, SiteRef};
use jiragate_engine::{ApiScope, ConnRef, EngineError};
use jiragate_store::{ApiType, Connection, NewAuditEvent, OrgId, Owner};
use serde_json::json;

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

/// Resolve `{id}` (a connector id, or `workspace/name`, or a name in `default`) in the caller's org.
pub(crate) async fn resolve(state: &AppState, org: &OrgId, raw: &str) -> ApiResult<Connection> {
    if raw.trim().is_empty() {
        return Err(Problem::not_found("connector", raw));
    }
    let conn_ref = ConnRef::parse(raw);
    state
        .engine()
        .resolve(org, &conn_ref)
        .await
        .map_err(Problem::from)
}

pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let event = NewAuditEvent {
        actor: caller.actor(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    };
    if let Err(e) = state.engine().store.append_audit(&caller.org, event).await {
        tracing::warn!(error = %e, action, "could not append an audit event");
    }
}

/// Without a `client_id`, bring-your-own tokens belong to the organization's only OAuth client.
async fn sole_oauth_client_id(state: &AppState, org: &OrgId) -> ApiResult<String> {
    let clients = state
        .engine()
        .store
        .list_oauth_clients(org)
        .await
        .map_err(EngineError::from)?;
    match clients.as_slice() {
        [one] => Ok(one.client_id.clone()),
        _ => Err(Problem::validation(
            "credentials.client_id",
            "OAuth tokens need the client_id of the app that issued them (and client_secret unless that app is registered)",
        )),
    }
}

/// Registering an OAuth client is an admin operation, also when it happens on the way.
async fn create_from_credentials(
    state: &AppState,
    caller: &Caller,
    workspace: String,
    name: String,
    creds: CredentialsInput,
    rc: ReplicationConfig,
    owner: Owner,
) -> ApiResult<Connection> {
    let org = &caller.org;
    let may_register_client = caller.has(ApiScope::Admin);
    let api_type = parse_api_type(rc.api_type.as_deref(), "replication_config.api_type")?;
    let site = site_ref(&rc)?;
    let auth = &state.engine().auth;
    if let Some(refresh_token) = creds.refresh_token {
        let subdomain = match &site {
            Some(SiteRef::Subdomain(s)) => Some(s.clone()),
            Some(SiteRef::BaseUrl(u)) => Some(u.clone()),
            None => None,
        };
        let client_id = match creds.client_id.filter(|c| !c.trim().is_empty()) {
            Some(c) => c,
            None => sole_oauth_client_id(state, org).await?,
        };
        let conn = auth
            .create_byo_oauth_connection(
                org,
                NewOAuthTokens {
                    workspace,
                    name,
                    refresh_token,
                    access_token: creds.access_token,
                    client_id,
                    client_secret: creds.client_secret,
                    subdomain,
                    api_type,
                    owner,
                    may_register_client,
                },
            )
            .await
            .map_err(EngineError::from)?;
        return Ok(conn);
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
    let conn = auth
        .create_api_token_connection(
            org,
            NewApiTokenConnection {
                workspace,
                name,
                site,
                email,
                token,
                scoped: creds.scoped,
                api_type,
                owner,
            },
        )
        .await
        .map_err(EngineError::from)?;
    Ok(conn)
}

/// Create a connector (the first seed call).
#[utoipa::path(post, path = "/api/v1/integrations/connectors", tag = "connectors",
    request_body = CreateConnectorRequest,
    responses((status = 201, body = ConnectorView), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateConnectorRequest>,
) -> ApiResult<Response> {
    caller.require(ApiScope::ConnectorsWrite)?;
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
    let conn = create_from_credentials(
        &state,
        &caller,
        workspace,
        name,
        body.credentials,
        body.replication_config.unwrap_or_default(),
        owner,
    )
    .await?;
    audit(
        &state,
        &caller,
        "connector.create",
        conn.id.as_ref(),
        json!({"name": conn.name, "workspace": conn.workspace}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(ConnectorView::from(&conn))).into_response())
}

/// List connectors.
#[utoipa::path(get, path = "/api/v1/integrations/connectors", tag = "connectors",
    params(ListConnectorsQuery),
    responses((status = 200, body = ListResponse<ConnectorView>)),
    security(("api_key" = [])))]
pub async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListConnectorsQuery>,
) -> ApiResult<Json<ListResponse<ConnectorView>>> {
    let ws = q.workspace_name.filter(|w| !w.is_empty());
    let conns = state
        .engine()
        .store
        .list_connections(&caller.org, ws.as_deref())
        .await
        .map_err(EngineError::from)?;
    Ok(Json(ListResponse {
        data: conns.iter().map(ConnectorView::from).collect(),
    }))
}

/// Read a connector (never its secrets).
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, body = ConnectorView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn get_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConnectorView>> {
    let conn = resolve(&state, &caller.org, &id).await?;
    Ok(Json(ConnectorView::from(&conn)))
}

/// Replace a connector's credentials (re-entered whole, verified again).
#[utoipa::path(patch, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    request_body = UpdateConnectorRequest,
    responses((status = 200, body = ConnectorView), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn update_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateConnectorRequest>,
) -> ApiResult<Json<ConnectorView>> {
    caller.require(ApiScope::ConnectorsWrite)?;
    let conn = resolve(&state, &caller.org, &id).await?;
    let creds = crate::routes::credentials::to_auth_credentials(body.credentials)?;
    let updated = state
        .engine()
        .auth
        .replace_credentials(&caller.org, &conn.id, creds)
        .await
        .map_err(EngineError::from)?;
    audit(
        &state,
        &caller,
        "connector.credentials.replace",
        conn.id.as_ref(),
        json!({}),
    )
    .await;
    Ok(Json(ConnectorView::from(&updated)))
}

/// Delete a connector; its secrets are erased.
#[utoipa::path(delete, path = "/api/v1/integrations/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(ApiScope::ConnectorsWrite)?;
    let conn = resolve(&state, &caller.org, &id).await?;
    state
        .engine()
        .store
        .delete_connection(&caller.org, &conn.id)
        .await
        .map_err(EngineError::from)?;
    state.engine().auth.forget_connection(&conn.id);
    audit(
        &state,
        &caller,
        "connector.delete",
        conn.id.as_ref(),
        json!({"name": conn.name}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Entities, actions, JSON Schemas of their params, required scopes.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/describe", tag = "connectors",
    params(("id" = String, Path, description = "connector id"), DescribeQuery),
    responses((status = 200, body = Object, description = "`{entities: [{entity, actions: [{action, description, read_only, params_schema, scopes}]}]}`")),
    security(("api_key" = [])))]
pub async fn describe_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DescribeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let conn = resolve(&state, &caller.org, &id).await?;
    Ok(Json(state.engine().describe(&conn, q.filter.as_deref())))
}

/// Run one catalog action (the second seed call).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/execute", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    request_body = ExecuteRequest,
    responses((status = 200, body = ExecuteResponse), (status = "4XX", body = ProblemBody, content_type = "application/problem+json"),
              (status = 502, body = ProblemBody, content_type = "application/problem+json", description = "Jira answered with an error")),
    security(("api_key" = ["execute"])))]
pub async fn execute(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ExecuteRequest>,
) -> ApiResult<Json<ExecuteResponse>> {
    caller.require(ApiScope::Execute)?;
    let conn = resolve(&state, &caller.org, &id).await?;
    let params = if body.params.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        body.params
    };
    let out = state
        .engine()
        .execute(
            &caller.org,
            &conn,
            &body.entity,
            &body.action,
            params,
            body.read_only,
        )
        .await?;
    Ok(Json(ExecuteResponse {
        data: out.data,
        next_page_token: out.next_page_token,
        meta: out.meta,
    }))
}

/// Health-check the connector now (`GET /rest/api/3/myself`).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/check", tag = "connectors",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, body = CheckResponse)),
    security(("api_key" = ["execute"])))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CheckResponse>> {
    caller.require(ApiScope::Execute)?;
    let conn = resolve(&state, &caller.org, &id).await?;
    let hc = state.engine().check(&caller.org, &conn).await?;
    Ok(Json(CheckResponse {
        connector_id: conn.id.to_string(),
        status: status_name(&hc.status).to_owned(),
        reason: hc.reason.clone(),
        latency_ms: hc.latency_ms,
        checked_at: ts(hc.at),
    }))
}
