//! Organizations (platform keys), workspaces and API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiragate_engine::ApiScope;
use jiragate_engine::model::ApiKeyId;
use secrecy::ExposeSecret;

use crate::caller::Caller;
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::state::AppState;
use crate::views::{
    ApiKeyView, CreateKeyRequest, CreateOrganizationRequest, CreateWorkspaceRequest,
    CreatedKeyResponse, ListResponse, OrganizationView, WorkspaceView,
};

/// Create an organization (platform keys only).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    request_body = CreateOrganizationRequest,
    responses((status = 201, description = "Created", body = OrganizationView), (status = 403, description = "Only a platform key may create organizations", body = ProblemBody, content_type = "application/problem+json"),
              (status = 409, description = "An organization of this name exists", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<Response> {
    let org = state
        .engine()
        .create_organization(caller.actor(), &caller.org, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(OrganizationView::from(&org))).into_response())
}

/// List organizations (platform keys only).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    responses((status = 200, description = "The organizations this key may see", body = ListResponse<OrganizationView>), (status = 403, description = "The key lacks the admin scope", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<OrganizationView>>> {
    let orgs = state.engine().list_organizations(caller.actor()).await?;
    Ok(Json(ListResponse {
        data: orgs.iter().map(OrganizationView::from).collect(),
    }))
}

/// List workspaces of the organization.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    responses((status = 200, description = "The organization's workspaces", body = ListResponse<WorkspaceView>)),
    security(("api_key" = [])))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<WorkspaceView>>> {
    let ws = state
        .engine()
        .list_workspaces(caller.actor(), &caller.org)
        .await?;
    Ok(Json(ListResponse {
        data: ws.iter().map(WorkspaceView::from).collect(),
    }))
}

/// Create (or return the existing) workspace.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces",
    request_body = CreateWorkspaceRequest,
    responses((status = 201, description = "Created", body = WorkspaceView), (status = 409, description = "A workspace of this name exists", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWorkspaceRequest>,
) -> ApiResult<Response> {
    let ws = state
        .engine()
        .create_workspace(caller.actor(), &caller.org, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(&ws))).into_response())
}

/// Create an API key. The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, description = "Created; the key is shown this once", body = CreatedKeyResponse)),
    security(("api_key" = ["admin"])))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> ApiResult<Response> {
    if body.scopes.is_empty() {
        return Err(Problem::validation("scopes", "give at least one scope"));
    }
    let mut scopes = Vec::with_capacity(body.scopes.len());
    for s in &body.scopes {
        let scope = ApiScope::parse(s.trim()).ok_or_else(|| {
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
            caller.actor(),
            &caller.org,
            &body.name,
            &scopes,
            body.platform,
        )
        .await?;
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
    responses((status = 200, description = "The organization's API keys (prefixes only, never the keys)", body = ListResponse<ApiKeyView>)),
    security(("api_key" = ["admin"])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<ApiKeyView>>> {
    let keys = state
        .engine()
        .list_api_keys(caller.actor(), &caller.org)
        .await?;
    Ok(Json(ListResponse {
        data: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such API key in this organization", body = ProblemBody, content_type = "application/problem+json"), (status = 409, description = "The last active platform key cannot be revoked", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let key_id: ApiKeyId = id.parse().map_err(|_| Problem::not_found("api key", &id))?;
    state
        .engine()
        .revoke_api_key(caller.actor(), &caller.org, &key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
