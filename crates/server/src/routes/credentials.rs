//! `POST /api/v1/credentials/token`: a fresh access token, for callers that must talk to Jira
//! themselves. Separately permitted (`credentials:read`) and audited.

use axum::Json;
use axum::extract::State;
use jiragate_auth::{CredentialFor, Credentials};
use jiragate_engine::{ApiScope, EngineError};
use jiragate_store::AuthKind;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::caller::Caller;
use crate::extract::ApiJson;
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::routes::connectors::{audit, resolve};
use crate::state::AppState;
use crate::views::{CredentialsInput, TokenRequest, TokenResponse, ts};

/// Map the wire credentials of a PATCH onto the auth service's credential kinds. The whole
/// credential is re-entered: a token without its email keeps the stored email only because the
/// email is not a secret.
pub(crate) fn to_auth_credentials(c: CredentialsInput) -> Result<Credentials, Problem> {
    if let Some(refresh_token) = c.refresh_token {
        return Ok(Credentials::OAuthTokens {
            refresh_token,
            access_token: c.access_token,
            client_id: c.client_id,
            client_secret: c.client_secret,
        });
    }
    match c.password {
        Some(token) => Ok(Credentials::ApiToken {
            email: c.username,
            token,
        }),
        None => Err(Problem::validation(
            "credentials",
            "re-enter the whole credential: {username, password} or {refresh_token, ...}",
        )),
    }
}

fn parse_credential_for(raw: &str) -> Result<CredentialFor, Problem> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "user" => Ok(CredentialFor::User),
        "installation" => Ok(CredentialFor::Installation),
        other => Err(Problem::validation(
            "credential_for",
            format!("unknown value `{other}`; use `user` or `installation`"),
        )),
    }
}

/// A fresh access token for an OAuth connector.
#[utoipa::path(post, path = "/api/v1/credentials/token", tag = "credentials",
    request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["credentials:read"])))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    caller.require(ApiScope::CredentialsRead)?;
    let conn = match (
        &body.connector_id,
        &body.workspace_name,
        &body.user_id,
        &body.credential_for,
    ) {
        (Some(id), _, _, _) => resolve(&state, &caller.org, id).await?,
        (None, Some(ws), user, what) => {
            let credential_for = match what {
                Some(w) => parse_credential_for(w)?,
                None if user.is_some() => CredentialFor::User,
                None => CredentialFor::Installation,
            };
            state
                .engine()
                .auth
                .resolve_connection(&caller.org, ws, user.as_deref(), credential_for)
                .await
                .map_err(EngineError::from)?
        }
        _ => {
            return Err(Problem::validation(
                "connector_id",
                "give `connector_id`, or `workspace_name` with `user_id` and `credential_for` (`user` | `installation`)",
            ));
        }
    };
    if !matches!(conn.auth_kind, AuthKind::OAuth2) {
        return Err(Problem::validation(
            "connector_id",
            "only OAuth connectors have access tokens; API-token connectors are used through execute or proxy",
        ));
    }
    let (token, expires_at) = state
        .engine()
        .auth
        .access_token(&caller.org, &conn.id)
        .await
        .map_err(EngineError::from)?;
    // The auth service writes the audit event (credential.access_token); here we add who asked.
    audit(
        &state,
        &caller,
        "credentials.token.requested",
        conn.id.as_ref(),
        json!({"expires_at": ts(expires_at)}),
    )
    .await;
    let base_url = match &conn.cloud_id {
        Some(cloud) => jiragate_jira::urls::ex_jira(state.api_url(), cloud),
        None => conn.site_url.clone(),
    };
    Ok(Json(TokenResponse {
        connector_id: conn.id.to_string(),
        token_type: "Bearer",
        access_token: token.expose_secret().to_owned(),
        expires_at: ts(expires_at),
        base_url,
    }))
}
