//! MCP grants (remote MCP authorization): which MCP clients may act on which connection, with
//! what scope, approved by which key; revocable here as from the API and the CLI.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiragate_engine::ConnRef;
use minijinja::context;
use serde::Deserialize;

use super::connections::fmt_time;
use super::see_other;
use crate::Console;
use crate::render::{error_page, page};
use crate::session::SignedIn;

#[derive(Deserialize)]
pub(crate) struct GrantsQuery {
    connection: Option<String>,
    revoked: Option<String>,
}

pub(crate) async fn list(
    State(st): State<Console>,
    user: SignedIn,
    Query(q): Query<GrantsQuery>,
) -> Response {
    let filter = q
        .connection
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(ConnRef::parse);
    let grants = match st
        .engine
        .list_mcp_grants(user.actor(), user.org(), filter.as_ref())
        .await
    {
        Ok(g) => g,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    let conns = st
        .engine
        .list_connections(user.actor(), user.org(), None)
        .await
        .unwrap_or_default();
    let rows: Vec<_> = grants
        .iter()
        .map(|g| {
            let conn = conns.iter().find(|c| c.id == g.connection_id);
            context! {
                id => g.id.clone(),
                client_name => g.client_name.clone(),
                client_id => g.client_id.clone(),
                connection_id => g.connection_id.to_string(),
                connection => conn.map(|c| format!("{}/{}", c.workspace, c.name)),
                scope => g.scope.clone(),
                approved_by => match &g.principal {
                    jiragate_engine::model::GrantPrincipal::ApiKey { api_key_id } => format!("api key {api_key_id}"),
                    jiragate_engine::model::GrantPrincipal::AtlassianUser { account_id } => format!("Atlassian user {account_id}"),
                },
                created_at => fmt_time(g.created_at),
                revoked_at => g.revoked_at.map(fmt_time),
            }
        })
        .collect();
    page(
        &st,
        &user,
        "mcp",
        "mcp_grants.html",
        context! {
            grants => rows,
            filter => q.connection,
            notice => q.revoked.map(|_| "Grant revoked: its MCP client's tokens no longer work."),
            mcp_url => format!("{}/mcp", st.public_url),
        },
    )
}

pub(crate) async fn revoke(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    match st
        .engine
        .revoke_mcp_grant(user.actor(), user.org(), &id)
        .await
    {
        Ok(()) => see_other("/console/mcp-grants?revoked=1"),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}
