//! API keys: list, create (the key is shown once, in the answer to the form, never again),
//! revoke.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiragate_engine::ApiScope;
use jiragate_engine::model::{ApiKeyId, ApiKeyRecord};
use minijinja::{Value, context};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::connections::fmt_time;
use super::{Fields, see_other};
use crate::Console;
use crate::render::{error_page, page_with_status};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(crate) struct KeysQuery {
    revoked: Option<String>,
}

fn key_view(k: &ApiKeyRecord) -> Value {
    context! {
        id => k.id.to_string(),
        name => k.name.clone(),
        prefix => k.prefix.clone(),
        scopes => k.scopes.clone(),
        platform => k.platform,
        created_at => fmt_time(k.created_at),
        last_used_at => k.last_used_at.map(fmt_time),
        revoked_at => k.revoked_at.map(fmt_time),
    }
}

async fn render(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    new_key: Option<Value>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let keys = match st.engine.list_api_keys(user.actor(), user.org()).await {
        Ok(k) => k,
        Err(e) => return error_page(st, Some(user), &e),
    };
    let ctx = context! {
        keys => keys.iter().map(key_view).collect::<Vec<_>>(),
        all_scopes => ApiScope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        new_key => new_key,
        notice => notice,
        error => error,
    };
    page_with_status(st, user, status, "keys", "keys.html", ctx)
}

pub(crate) async fn list(
    State(st): State<Console>,
    user: SignedIn,
    Query(q): Query<KeysQuery>,
) -> Response {
    let notice = q
        .revoked
        .map(|id| format!("Key {id} is revoked; requests with it are refused from now on."));
    render(&st, &user, StatusCode::OK, None, notice, None).await
}

pub(crate) async fn create(
    State(st): State<Console>,
    user: SignedIn,
    Form(f): Form<Fields>,
) -> Response {
    let name = f.get("name").unwrap_or_default().to_owned();
    let mut scopes = Vec::new();
    for s in f.all("scopes") {
        match ApiScope::parse(&s) {
            Some(scope) => scopes.push(scope),
            None => {
                let msg = format!("{} is not an API key scope", jiragate_engine::quote(&s));
                return render(
                    &st,
                    &user,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    None,
                    Some(msg),
                )
                .await;
            }
        }
    }
    if scopes.is_empty() {
        let msg = "Choose at least one scope.".to_owned();
        return render(
            &st,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            Some(msg),
        )
        .await;
    }
    let platform = f.get("platform") == Some("on");
    match st
        .engine
        .create_api_key_as(user.actor(), user.org(), &name, &scopes, platform)
        .await
    {
        Ok((record, key)) => {
            let shown = context! {
                id => record.id.to_string(),
                name => record.name.clone(),
                key => key.expose_secret().to_owned(),
            };
            render(&st, &user, StatusCode::CREATED, Some(shown), None, None).await
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render(&st, &user, status, None, None, Some(e.to_string())).await
        }
    }
}

pub(crate) async fn revoke(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Ok(key_id) = id.parse::<ApiKeyId>() else {
        return error_page(
            &st,
            Some(&user),
            &jiragate_engine::EngineError::validation("id", "is not an API key id"),
        );
    };
    match st
        .engine
        .revoke_api_key(user.actor(), user.org(), &key_id)
        .await
    {
        Ok(k) => see_other(&format!("/console/keys?revoked={}", k.id)),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}
