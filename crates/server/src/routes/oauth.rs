//! OAuth 2.0 (3LO): registered clients, connect sessions and the browser-facing callback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jiragate_engine::model::{
    ConnectSession, ConnectSessionId, OAuthClientRecordId, Owner, StartConnect,
};
use jiragate_engine::oauth::{OAuthCallback, OAuthClientUpdate, SessionState, SiteTicketError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::caller::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::html;
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::routes::connectors::parse_api_type;
use crate::state::AppState;
use crate::views::{
    ChooseSiteRequest, ConnectSettingsBody, CreateOAuthClientRequest, CreateSessionRequest,
    CreateSessionResponse, ListResponse, OAuthClientView, SessionView, SiteView,
    UpdateOAuthClientRequest, ts,
};

fn parse_client_id(raw: &str) -> Result<OAuthClientRecordId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("oauth client", raw))
}

fn parse_session_id(raw: &str) -> Result<ConnectSessionId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("connect session", raw))
}

/// Register an OAuth 2.0 (3LO) app.
#[utoipa::path(post, path = "/api/v1/oauth/clients", tag = "oauth",
    request_body = CreateOAuthClientRequest,
    responses((status = 201, description = "Registered (the secret is never returned)", body = OAuthClientView),
              (status = 409, description = "This client_id is already registered in the organization; the problem names the record to update instead", body = ProblemBody, content_type = "application/problem+json"),
              (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn create_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOAuthClientRequest>,
) -> ApiResult<Response> {
    let rec = state
        .engine()
        .create_oauth_client(
            caller.actor(),
            &caller.org,
            &body.client_id,
            body.client_secret,
            body.scopes,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(OAuthClientView::from(&rec))).into_response())
}

/// List OAuth clients (secrets are write-only).
#[utoipa::path(get, path = "/api/v1/oauth/clients", tag = "oauth",
    responses((status = 200, description = "The registered OAuth clients (never their secrets)", body = ListResponse<OAuthClientView>)),
    security(("api_key" = ["admin"])))]
pub async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<OAuthClientView>>> {
    let recs = state
        .engine()
        .list_oauth_clients(caller.actor(), &caller.org)
        .await?;
    Ok(Json(ListResponse {
        data: recs.iter().map(OAuthClientView::from).collect(),
    }))
}

/// Read one OAuth client.
#[utoipa::path(get, path = "/api/v1/oauth/clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The jiragate id of the OAuth client")),
    responses((status = 200, description = "The OAuth client (never its secret)", body = OAuthClientView), (status = 404, description = "No such OAuth client in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn get_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OAuthClientView>> {
    let id = parse_client_id(&id)?;
    let rec = state
        .engine()
        .get_oauth_client(caller.actor(), &caller.org, &id)
        .await?
        .ok_or_else(|| Problem::not_found("oauth client", &id))?;
    Ok(Json(OAuthClientView::from(&rec)))
}

/// Update an OAuth client: rotate its secret and/or change its default scopes.
#[utoipa::path(patch, path = "/api/v1/oauth/clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The jiragate id of the OAuth client")),
    request_body = UpdateOAuthClientRequest,
    responses((status = 200, description = "The client as it is now (the secret is never returned)", body = OAuthClientView),
              (status = 403, description = "The key lacks the admin scope", body = ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No such OAuth client in this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "Nothing to change, or an empty secret", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn update_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateOAuthClientRequest>,
) -> ApiResult<Json<OAuthClientView>> {
    let id = parse_client_id(&id)?;
    let rec = state
        .engine()
        .update_oauth_client(
            caller.actor(),
            &caller.org,
            &id,
            OAuthClientUpdate {
                client_secret: body.client_secret,
                scopes: body.scopes,
            },
        )
        .await?;
    Ok(Json(OAuthClientView::from(&rec)))
}

/// Delete an OAuth client.
#[utoipa::path(delete, path = "/api/v1/oauth/clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The jiragate id of the OAuth client")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such OAuth client in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_client_id(&id)?;
    state
        .engine()
        .delete_oauth_client(caller.actor(), &caller.org, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start an OAuth connection: returns the URL to send the user's browser to.
#[utoipa::path(post, path = "/api/v1/connect/sessions", tag = "oauth",
    request_body = CreateSessionRequest,
    responses((status = 201, description = "Started: send the user's browser to `authorize_url`", body = CreateSessionResponse)),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_session(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<CreateSessionRequest>,
) -> ApiResult<Response> {
    if body.return_url.is_some() {
        return create_embeddable_session(&state, &caller, body).await;
    }
    let Some(oauth_client_id) = body.oauth_client_id.as_deref() else {
        return Err(Problem::validation(
            "oauth_client_id",
            "is required (or give return_url for an embeddable session)",
        ));
    };
    let oauth_client_id = parse_client_id(oauth_client_id)
        .map_err(|_| Problem::validation("oauth_client_id", "not a registered OAuth client id"))?;
    let SessionTarget {
        name,
        workspace,
        owner,
        api_type,
    } = session_target(&mut body)?;
    let started = state
        .engine()
        .start_connect(
            caller.actor(),
            &caller.org,
            StartConnect {
                oauth_client_id,
                workspace,
                name,
                scopes: body.scopes,
                subdomain: body.subdomain.filter(|s| !s.trim().is_empty()),
                owner,
                api_type,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateSessionResponse {
            id: started.session_id.to_string(),
            authorize_url: Some(started.authorize_url),
            connect_token: None,
            connect_url: None,
            expires_at: ts(started.expires_at),
        }),
    )
        .into_response())
}

/// What both kinds of connect session name: the connection to make and who owns it.
struct SessionTarget {
    name: String,
    workspace: String,
    owner: Owner,
    api_type: jiragate_engine::model::ApiType,
}

fn session_target(body: &mut CreateSessionRequest) -> ApiResult<SessionTarget> {
    Ok(SessionTarget {
        name: jiragate_engine::check_name("name", &body.name)?,
        workspace: crate::routes::connectors::workspace_or_default(body.workspace_name.take())?,
        owner: match body.owner.take() {
            Some(u) if !u.trim().is_empty() => Owner::User(u.trim().to_owned()),
            _ => Owner::Installation,
        },
        api_type: parse_api_type(body.api_type.as_deref(), "api_type")?,
    })
}

/// An embeddable session: a connect link for one end user (see `jiragate_engine::connect_links`).
async fn create_embeddable_session(
    state: &AppState,
    caller: &Caller,
    mut body: CreateSessionRequest,
) -> ApiResult<Response> {
    use secrecy::ExposeSecret;
    let oauth_client_id = body
        .oauth_client_id
        .as_deref()
        .map(parse_client_id)
        .transpose()
        .map_err(|_| Problem::validation("oauth_client_id", "not a registered OAuth client id"))?;
    let SessionTarget {
        name,
        workspace,
        owner,
        api_type,
    } = session_target(&mut body)?;
    let created = state
        .engine()
        .create_connect_link(
            caller.actor(),
            &caller.org,
            jiragate_engine::connect_links::ConnectLinkRequest {
                workspace,
                name,
                owner,
                allowed_auth: body.allowed_auth_types.unwrap_or_default(),
                scopes: body.scopes,
                oauth_client_id,
                api_type,
                return_url: body.return_url.unwrap_or_default(),
            },
        )
        .await?;
    let token = created.token.expose_secret().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(CreateSessionResponse {
            id: created.link.id.to_string(),
            authorize_url: None,
            connect_url: Some(format!("{}/connect/{token}", state.public_url())),
            connect_token: Some(token),
            expires_at: ts(created.link.expires_at),
        }),
    )
        .into_response())
}

/// The organization's connect settings: the return origins embeddable sessions may use.
#[utoipa::path(get, path = "/api/v1/connect/settings", tag = "oauth",
    responses((status = 200, description = "The settings", body = ConnectSettingsBody)),
    security(("api_key" = ["connectors:write"])))]
pub async fn get_connect_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConnectSettingsBody>> {
    let s = state
        .engine()
        .connect_settings(caller.actor(), &caller.org)
        .await?;
    Ok(Json(ConnectSettingsBody {
        return_origins: s.return_origins,
        app_name: s.app_name,
    }))
}

/// Replaces the organization's connect settings (admin).
#[utoipa::path(put, path = "/api/v1/connect/settings", tag = "oauth",
    request_body = ConnectSettingsBody,
    responses((status = 200, description = "Saved", body = ConnectSettingsBody)),
    security(("api_key" = ["admin"])))]
pub async fn put_connect_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectSettingsBody>,
) -> ApiResult<Json<ConnectSettingsBody>> {
    let s = state
        .engine()
        .put_connect_settings(
            caller.actor(),
            &caller.org,
            &body.return_origins,
            body.app_name.as_deref(),
        )
        .await?;
    Ok(Json(ConnectSettingsBody {
        return_origins: s.return_origins,
        app_name: s.app_name,
    }))
}

fn session_view(s: &ConnectSession) -> SessionView {
    let state = SessionState::now(s);
    let status = state.as_str();
    let sites = (state == SessionState::ChooseSite).then(|| {
        s.sites_json
            .clone()
            .and_then(|j| serde_json::from_value::<Vec<SiteView>>(j).ok())
            .unwrap_or_default()
    });
    SessionView {
        id: s.id.to_string(),
        status,
        workspace_name: s.workspace.clone(),
        name: s.name.clone(),
        sites,
        connector_id: s.connection_id.as_ref().map(|c| c.to_string()),
        error: s.error.clone(),
        expires_at: ts(s.expires_at),
    }
}

/// Status of a connect session.
#[utoipa::path(get, path = "/api/v1/connect/sessions/{id}", tag = "oauth",
    params(("id" = String, Path, description = "connect session id")),
    responses((status = 200, description = "The session's state", body = SessionView), (status = 404, description = "No such connect session", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    let id = parse_session_id(&id)?;
    let s = state
        .engine()
        .get_connect_session(caller.actor(), &caller.org, &id)
        .await?
        .ok_or_else(|| Problem::not_found("connect session", &id))?;
    Ok(Json(session_view(&s)))
}

/// Choose the site of a session waiting in `choose_site`.
#[utoipa::path(post, path = "/api/v1/connect/sessions/{id}/site", tag = "oauth",
    params(("id" = String, Path, description = "connect session id")),
    request_body = ChooseSiteRequest,
    responses((status = 200, description = "The session, now connected", body = SessionView), (status = 404, description = "No such connect session", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn choose_site(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChooseSiteRequest>,
) -> ApiResult<Json<SessionView>> {
    let id = parse_session_id(&id)?;
    let (conn, s) = state
        .engine()
        .choose_site(caller.actor(), &caller.org, &id, &body.cloud_id)
        .await?;
    let s = s.ok_or_else(|| Problem::not_found("connect session", &id))?;
    let mut view = session_view(&s);
    view.connector_id = Some(conn.id.to_string());
    Ok(Json(view))
}

/// Query of the OAuth redirect.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Where Atlassian sends the user's browser back. Answers a small HTML page.
#[utoipa::path(get, path = "/oauth/callback", tag = "oauth",
    params(CallbackQuery),
    responses((status = 200, description = "HTML: connected, or choose a site", content_type = "text/html"),
              (status = 400, description = "HTML: the flow failed (unknown, expired or replayed state, consent denied)", content_type = "text/html")))]
pub async fn callback(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Response {
    let Some(st) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return failure_page(
            StatusCode::BAD_REQUEST,
            "The callback carries no state parameter.",
        );
    };
    let error = q
        .error
        .as_deref()
        .map(|e| match q.error_description.as_deref() {
            Some(d) => format!("{e}: {d}"),
            None => e.to_owned(),
        });
    match state
        .engine()
        .handle_oauth_callback(st, q.code.as_deref(), error.as_deref())
        .await
    {
        // An MCP client's Atlassian sign-in: on to that person's consent page.
        Ok(OAuthCallback::Connected(conn))
            if let Some(next) = state
                .inner
                .mcp_auth
                .after_sign_in(st, &conn)
                .await
                .transpose() =>
        {
            to_mcp_consent(next)
        }
        Ok(OAuthCallback::Connected(conn))
            if let Some(link) = state.engine().finish_connect_link_for(&conn).await =>
        {
            axum::response::Redirect::to(&format!("/connect/s/{}/done", link.id)).into_response()
        }
        Ok(OAuthCallback::Connected(conn)) => (
            StatusCode::OK,
            Html(html::connected_page(
                &conn.name,
                &conn.site_url,
                conn.id.as_ref(),
            )),
        )
            .into_response(),
        Ok(OAuthCallback::ChooseSite { sites, ticket, .. }) => {
            let Some(ticket) = ticket else {
                return failure_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The connect session could not be found after consent.",
                );
            };
            let views: Vec<SiteView> = sites
                .iter()
                .map(|s| SiteView {
                    cloud_id: s.cloud_id.clone(),
                    name: s.name.clone(),
                    url: s.url.clone(),
                })
                .collect();
            (
                StatusCode::OK,
                Html(html::choose_site_page(&ticket, &views)),
            )
                .into_response()
        }
        Err(failure) if failure.flow_failed => {
            failure_page(StatusCode::BAD_REQUEST, &failure.message)
        }
        Err(failure) => {
            let p = Problem::from(failure.error);
            failure_page(p.status, &p.detail)
        }
    }
}

/// The browser's next step after an MCP sign-in connected: that person's consent page.
fn to_mcp_consent(next: Result<String, jiragate_engine::EngineError>) -> Response {
    match next {
        Ok(location) => axum::response::Redirect::to(&location).into_response(),
        Err(e) => {
            let p = Problem::from(e);
            failure_page(p.status, &p.detail)
        }
    }
}

fn failure_page(status: StatusCode, message: &str) -> Response {
    (status, Html(html::failure_page(message))).into_response()
}

/// Form posted by the site-choice page.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SiteChoiceForm {
    /// Single-use token from the page.
    pub ticket: String,
    pub cloud_id: String,
}

/// Completes a site choice made on the callback page (authorized by the page's single-use
/// ticket, not by an API key).
#[utoipa::path(post, path = "/oauth/callback/site", tag = "oauth",
    request_body(content = SiteChoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "HTML: connected", content_type = "text/html"),
              (status = 400, description = "HTML: unknown, used or expired ticket", content_type = "text/html")))]
pub async fn callback_site(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<axum::Form<SiteChoiceForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return failure_page(
            StatusCode::BAD_REQUEST,
            "The site choice form is incomplete.",
        );
    };
    if !crate::mcp_oauth::origin_ok(&state, &headers) {
        return failure_page(
            StatusCode::FORBIDDEN,
            "The form was sent from another site.",
        );
    }
    match state
        .engine()
        .choose_site_with_ticket(&form.ticket, &form.cloud_id)
        .await
    {
        // An MCP client's Atlassian sign-in that covered several sites: on to the consent page.
        Ok((conn, session))
            if let Some(next) = state
                .inner
                .mcp_auth
                .after_site_choice(&session, &conn)
                .await
                .transpose() =>
        {
            to_mcp_consent(next)
        }
        Ok((conn, _)) if let Some(link) = state.engine().finish_connect_link_for(&conn).await => {
            axum::response::Redirect::to(&format!("/connect/s/{}/done", link.id)).into_response()
        }
        Ok((conn, _)) => (
            StatusCode::OK,
            Html(html::connected_page(
                &conn.name,
                &conn.site_url,
                conn.id.as_ref(),
            )),
        )
            .into_response(),
        Err(SiteTicketError::UnknownTicket) => failure_page(
            StatusCode::BAD_REQUEST,
            "This site choice link was already used or has expired. Start the connection again, or finish it through the API (POST /api/v1/connect/sessions/{id}/site).",
        ),
        Err(SiteTicketError::NotOffered) => failure_page(
            StatusCode::BAD_REQUEST,
            "That site is not one of the offered choices.",
        ),
        Err(SiteTicketError::Failed(err)) => {
            let p = Problem::from(err);
            failure_page(p.status, &p.detail)
        }
    }
}
