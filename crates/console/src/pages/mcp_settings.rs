//! How the organization identifies the people behind MCP authorizations: a console session
//! approves for a shared connection, or each person signs in with Atlassian (through the
//! organization's OAuth client, on one site or the site they pick) and acts as themselves.
//! Admin only: the engine refuses anyone else, to show as to change.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiragate_engine::mcp_auth::{McpSettings, SignInMode};
use minijinja::context;
use serde::Deserialize;

use super::{Fields, see_other};
use crate::Console;
use crate::render::{error_page, page_with_status};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(crate) struct SettingsQuery {
    saved: Option<String>,
}

/// The form with the stored settings, or with what was just submitted (`form`) and why it
/// was refused.
async fn render(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    form: Option<&Fields>,
    error: Option<String>,
    saved: bool,
) -> Response {
    let current = match st.engine.mcp_settings(user.actor(), user.org()).await {
        Ok(s) => s,
        Err(e) => return error_page(st, Some(user), &e),
    };
    let clients = match st.engine.list_oauth_clients(user.actor(), user.org()).await {
        Ok(c) => c,
        Err(e) => return error_page(st, Some(user), &e),
    };
    let shown = |name: &str, stored: Option<String>| match form {
        Some(f) => f.get(name).map(str::to_owned),
        None => stored,
    };
    let ctx = context! {
        sign_in => shown("sign_in", Some(current.sign_in.as_str().to_owned())),
        oauth_client_id => shown("oauth_client_id", current.oauth_client_id.map(|c| c.to_string())),
        subdomain => shown("subdomain", current.subdomain),
        clients => clients.iter().map(|c| context! {
            id => c.id.to_string(),
            client_id => c.client_id.clone(),
        }).collect::<Vec<_>>(),
        error => error,
        notice => saved.then_some("Saved: new MCP authorizations use this setting."),
        mcp_url => format!("{}/mcp", st.public_url),
    };
    page_with_status(st, user, status, "mcp", "mcp_settings.html", ctx)
}

pub(crate) async fn show(
    State(st): State<Console>,
    user: SignedIn,
    Query(q): Query<SettingsQuery>,
) -> Response {
    render(&st, &user, StatusCode::OK, None, None, q.saved.is_some()).await
}

pub(crate) async fn save(
    State(st): State<Console>,
    user: SignedIn,
    Form(f): Form<Fields>,
) -> Response {
    let refuse = |message: &str| {
        let message = message.to_owned();
        let (st, user, f) = (&st, &user, &f);
        async move {
            render(
                st,
                user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(f),
                Some(message),
                false,
            )
            .await
        }
    };
    let Some(sign_in) = f.get("sign_in").and_then(SignInMode::parse) else {
        return refuse("Choose how people sign in: console or Atlassian.").await;
    };
    let oauth_client_id = match f.get("oauth_client_id").map(str::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return refuse("That is not an OAuth client of this organization.").await,
    };
    let settings = McpSettings {
        sign_in,
        oauth_client_id,
        subdomain: f.get("subdomain").map(str::to_owned),
    };
    match st
        .engine
        .set_mcp_settings(user.actor(), user.org(), settings)
        .await
    {
        Ok(_) => see_other("/console/mcp-settings?saved=1"),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render(&st, &user, status, Some(&f), Some(e.to_string()), false).await
        }
    }
}
