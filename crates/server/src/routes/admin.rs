//! Organizations (platform keys), workspaces and API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiragate_engine::{Actor, ApiScope, EngineError};
use jiragate_store::ApiKeyId;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::caller::{Caller, parse_scope};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem, ProblemBody, ProblemKind};
use crate::routes::connectors::audit;
use crate::state::AppState;
use crate::views::{
    ApiKeyView, CreateKeyRequest, CreateOrganizationRequest, CreateWorkspaceRequest,
    CreatedKeyResponse, ListResponse, OrganizationView, WorkspaceView,
};

fn check_label(field: &str, value: &str) -> Result<String, Problem> {
    Ok(jiragate_engine::check_name(field, value)?)
}

/// Create an organization (platform keys only).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    request_body = CreateOrganizationRequest,
    responses((status = 201, body = OrganizationView), (status = 403, body = ProblemBody, content_type = "application/problem+json"),
              (status = 409, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<Response> {
    caller.require_platform()?;
    caller.require(ApiScope::Admin)?;
    let name = check_label("name", &body.name)?;
    let store = &state.engine().store;
    if store
        .get_organization_by_name(&name)
        .await
        .map_err(EngineError::from)?
        .is_some()
    {
        return Err(Problem::new(
            ProblemKind::Conflict,
            format!("an organization named {name} already exists"),
        ));
    }
    let org = store
        .create_organization(&name)
        .await
        .map_err(EngineError::from)?;
    audit(
        &state,
        &caller,
        "organization.create",
        org.id.as_ref(),
        json!({"name": org.name}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(OrganizationView::from(&org))).into_response())
}

/// List organizations (platform keys only).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    responses((status = 200, body = ListResponse<OrganizationView>), (status = 403, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<OrganizationView>>> {
    caller.require_platform()?;
    let orgs = state
        .engine()
        .store
        .list_organizations()
        .await
        .map_err(EngineError::from)?;
    Ok(Json(ListResponse {
        data: orgs.iter().map(OrganizationView::from).collect(),
    }))
}

/// List workspaces of the organization.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    responses((status = 200, body = ListResponse<WorkspaceView>)),
    security(("api_key" = [])))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<WorkspaceView>>> {
    let ws = state
        .engine()
        .store
        .list_workspaces(&caller.org)
        .await
        .map_err(EngineError::from)?;
    Ok(Json(ListResponse {
        data: ws.iter().map(WorkspaceView::from).collect(),
    }))
}

/// Create (or return the existing) workspace.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    responses((status = 201, body = WorkspaceView), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWorkspaceRequest>,
) -> ApiResult<Response> {
    caller.require(ApiScope::ConnectorsWrite)?;
    let name = check_label("name", &body.name)?;
    let ws = state
        .engine()
        .store
        .ensure_workspace(&caller.org, &name)
        .await
        .map_err(EngineError::from)?;
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(&ws))).into_response())
}

/// Create an API key. The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyResponse), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> ApiResult<Response> {
    caller.require(ApiScope::Admin)?;
    let name = check_label("name", &body.name)?;
    if body.scopes.is_empty() {
        return Err(Problem::validation("scopes", "give at least one scope"));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for s in &body.scopes {
        let scope = parse_scope(s.trim()).ok_or_else(|| {
            Problem::validation(
                "scopes",
                format!("unknown scope `{s}`; known: admin, connectors:write, execute, proxy, credentials:read"),
            )
        })?;
        scopes.push(scope);
    }
    let (record, secret) = state
        .engine()
        .create_api_key_as(
            Actor::Key(&caller.key),
            &caller.org,
            &name,
            &scopes,
            body.platform,
        )
        .await?;
    audit(
        &state,
        &caller,
        "api_key.create",
        record.id.as_ref(),
        json!({"name": record.name, "scopes": record.scopes}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyResponse {
            record: ApiKeyView::from(&record),
            key: secret.expose_secret().to_owned(),
        }),
    )
        .into_response())
}

/// List API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = ListResponse<ApiKeyView>)),
    security(("api_key" = ["admin"])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<ApiKeyView>>> {
    caller.require(ApiScope::Admin)?;
    let keys = state
        .engine()
        .store
        .list_api_keys(&caller.org)
        .await
        .map_err(EngineError::from)?;
    Ok(Json(ListResponse {
        data: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(ApiScope::Admin)?;
    let key_id: ApiKeyId = id.parse().map_err(|_| Problem::not_found("api key", &id))?;
    state
        .engine()
        .revoke_api_key(Actor::Key(&caller.key), &caller.org, &key_id)
        .await?;
    audit(
        &state,
        &caller,
        "api_key.revoke",
        key_id.as_ref(),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
