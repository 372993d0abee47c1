//! Organizations (platform keys) and the workspaces of the signed-in organization.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::{Fields, see_other};
use crate::Console;
use crate::render::page_with_status;
use crate::session::SignedIn;

async fn render(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let orgs = if user.key.platform {
        st.engine.list_organizations(user.actor()).await.ok()
    } else {
        None
    };
    let workspaces = st
        .engine
        .list_workspaces(user.actor(), user.org())
        .await
        .unwrap_or_default();
    let ctx = context! {
        orgs => orgs.map(|o| o.iter().map(|o| context! { id => o.id.to_string(), name => o.name.clone() }).collect::<Vec<_>>()),
        workspaces => workspaces.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
        error => error,
    };
    page_with_status(st, user, status, "orgs", "orgs.html", ctx)
}

pub(crate) async fn list(State(st): State<Console>, user: SignedIn) -> Response {
    render(&st, &user, StatusCode::OK, None).await
}

/// One form posts either `organization` (platform keys) or `workspace`.
pub(crate) async fn create(
    State(st): State<Console>,
    user: SignedIn,
    Form(f): Form<Fields>,
) -> Response {
    let result = if let Some(name) = f.get("organization") {
        st.engine
            .create_organization(user.actor(), user.org(), name)
            .await
            .map(|_| ())
    } else {
        st.engine
            .create_workspace(
                user.actor(),
                user.org(),
                f.get("workspace").unwrap_or_default(),
            )
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => see_other("/console/orgs"),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render(&st, &user, status, Some(e.to_string())).await
        }
    }
}
