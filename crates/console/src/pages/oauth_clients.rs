//! OAuth clients: list and register (with the exact callback URL to paste into Atlassian's
//! developer console), edit (rotate the secret, change default scopes), delete.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiragate_engine::EngineError;
use jiragate_engine::model::{OAuthClientRecord, OAuthClientRecordId};
use jiragate_engine::oauth::OAuthClientUpdate;
use minijinja::{Value, context};
use secrecy::SecretString;
use serde::Deserialize;

use super::connections::fmt_time;
use super::{Fields, see_other};
use crate::Console;
use crate::render::{error_page, page_with_status};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(crate) struct ClientQuery {
    created: Option<String>,
    updated: Option<String>,
}

fn client_view(c: &OAuthClientRecord) -> Value {
    context! {
        id => c.id.to_string(),
        client_id => c.client_id.clone(),
        redirect_uri => c.redirect_uri.clone(),
        scopes => c.scopes.clone(),
        created_at => fmt_time(c.created_at),
    }
}

/// Every scope of the catalogue for the picker, with those in `selected` marked.
fn scope_choices(st: &Console, user: &SignedIn, selected: &[String]) -> Vec<Value> {
    st.engine
        .scopes(user.actor(), None)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            context! {
                scope => s.scope.clone(),
                kind => format!("{:?}", s.kind).to_lowercase(),
                description => s.description.clone(),
                selected => selected.contains(&s.scope),
            }
        })
        .collect()
}

fn callback_url(st: &Console) -> String {
    format!("{}/oauth/callback", st.public_url)
}

async fn render_list(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    form: &Fields,
    error: Option<String>,
) -> Response {
    let clients = match st.engine.list_oauth_clients(user.actor(), user.org()).await {
        Ok(c) => c,
        Err(e) => return error_page(st, Some(user), &e),
    };
    let selected = form.all("scopes");
    let ctx = context! {
        clients => clients.iter().map(client_view).collect::<Vec<_>>(),
        callback_url => callback_url(st),
        scopes => scope_choices(st, user, &selected),
        form => context! { client_id => form.get("client_id") },
        error => error,
    };
    page_with_status(st, user, status, "oauth", "oauth_clients.html", ctx)
}

pub(crate) async fn list(State(st): State<Console>, user: SignedIn) -> Response {
    render_list(&st, &user, StatusCode::OK, &Fields::default(), None).await
}

pub(crate) async fn create(
    State(st): State<Console>,
    user: SignedIn,
    Form(f): Form<Fields>,
) -> Response {
    let client_id = f.get("client_id").unwrap_or_default().to_owned();
    let Some(secret) = f.raw("client_secret") else {
        let e = "The client secret is required (Atlassian's developer console shows it under Settings).";
        return render_list(
            &st,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f,
            Some(e.into()),
        )
        .await;
    };
    match st
        .engine
        .create_oauth_client(
            user.actor(),
            user.org(),
            &client_id,
            SecretString::from(secret.trim().to_owned()),
            f.all("scopes"),
        )
        .await
    {
        Ok(c) => see_other(&format!("/console/oauth-clients/{}?created=1", c.id)),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render_list(&st, &user, status, &f, Some(e.to_string())).await
        }
    }
}

fn parse_id(id: &str) -> Result<OAuthClientRecordId, EngineError> {
    id.parse()
        .map_err(|_| EngineError::validation("id", "is not an OAuth client id"))
}

async fn render_edit(
    st: &Console,
    user: &SignedIn,
    id: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    let client = match parse_id(id) {
        Ok(id) => {
            st.engine
                .get_oauth_client(user.actor(), user.org(), &id)
                .await
        }
        Err(e) => Err(e),
    };
    let client = match client {
        Ok(Some(c)) => c,
        Ok(None) => {
            let e = EngineError::NotFound {
                what: "OAuth client",
                id: id.to_owned(),
            };
            return error_page(st, Some(user), &e);
        }
        Err(e) => return error_page(st, Some(user), &e),
    };
    let ctx = context! {
        client => client_view(&client),
        callback_url => callback_url(st),
        scopes => scope_choices(st, user, &client.scopes),
        notice => notice,
        error => error,
    };
    page_with_status(st, user, status, "oauth", "oauth_client.html", ctx)
}

pub(crate) async fn edit(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<ClientQuery>,
) -> Response {
    let notice = if q.created.is_some() {
        Some(
            "Registered. Paste the callback URL below into the app's Authorization settings at developer.atlassian.com if you have not yet.",
        )
    } else if q.updated.is_some() {
        Some("Saved.")
    } else {
        None
    };
    render_edit(&st, &user, &id, StatusCode::OK, notice, None).await
}

pub(crate) async fn update(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let update = OAuthClientUpdate {
        client_secret: f
            .raw("client_secret")
            .map(|s| SecretString::from(s.trim().to_owned())),
        // The picker always submits its full selection: an empty one means "none chosen",
        // which keeps the stored scopes rather than clearing them by accident.
        scopes: Some(f.all("scopes")).filter(|s| !s.is_empty()),
    };
    let result = match parse_id(&id) {
        Ok(cid) => {
            st.engine
                .update_oauth_client(user.actor(), user.org(), &cid, update)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => see_other(&format!("/console/oauth-clients/{}?updated=1", c.id)),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render_edit(&st, &user, &id, status, None, Some(e.to_string())).await
        }
    }
}

pub(crate) async fn delete(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let result = match parse_id(&id) {
        Ok(cid) => {
            st.engine
                .delete_oauth_client(user.actor(), user.org(), &cid)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => see_other("/console/oauth-clients"),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}
