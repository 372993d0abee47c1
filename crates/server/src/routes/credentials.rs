//! `POST /api/v1/credentials/token`: a fresh access token, for callers that must talk to Jira
//! themselves. Separately permitted (`credentials:read`) and audited.

use axum::Json;
use axum::extract::State;
use jiragate_engine::TokenFor;
use jiragate_engine::model::{CredentialFor, Credentials};
use secrecy::ExposeSecret;

use crate::caller::Caller;
use crate::extract::ApiJson;
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::routes::connectors::conn_ref;
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
    responses((status = 200, description = "A fresh access token (audited)", body = TokenResponse), (status = 404, description = "No such connector, or none of that owner in the workspace", body = ProblemBody, content_type = "application/problem+json"), (status = 409, description = "The connector needs re-authorization, or several match", body = ProblemBody, content_type = "application/problem+json"), (status = 502, description = "Jira answered with an error", body = ProblemBody, content_type = "application/problem+json"), (status = 503, description = "Jira could not be reached", body = ProblemBody, content_type = "application/problem+json"), (status = 504, description = "Jira did not answer in time", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["credentials:read"])))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let target = match (
        &body.connector_id,
        &body.workspace_name,
        &body.user_id,
        &body.credential_for,
    ) {
        (Some(id), _, _, _) => TokenFor::Connection(conn_ref(id)?),
        (None, Some(ws), user, what) => TokenFor::Owner {
            workspace: ws.clone(),
            user_id: user.clone(),
            credential_for: match what {
                Some(w) => parse_credential_for(w)?,
                None if user.is_some() => CredentialFor::User,
                None => CredentialFor::Installation,
            },
        },
        _ => {
            return Err(Problem::validation(
                "connector_id",
                "give `connector_id`, or `workspace_name` with `user_id` and `credential_for` (`user` | `installation`)",
            ));
        }
    };
    let grant = state
        .engine()
        .access_token(caller.actor(), &caller.org, target)
        .await?;
    Ok(Json(TokenResponse {
        connector_id: grant.connection.id.to_string(),
        token_type: "Bearer",
        access_token: grant.access_token.expose_secret().to_owned(),
        expires_at: ts(grant.expires_at),
        base_url: grant.base_url,
    }))
}
