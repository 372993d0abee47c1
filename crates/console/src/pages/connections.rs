//! Connections: the list, the create panel (API token, scoped token, or Connect with
//! Atlassian), the detail page with health, audit, describe explorer and playground.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiragate_engine::audit::AuditFilter;
use jiragate_engine::model::{
    ApiType, AuthKind, Connection, NewApiTokenConnection, Owner, SiteRef, StartConnect,
};
use jiragate_engine::{ApiScope, ConnRef, EngineError, NewConnection};
use minijinja::{Value, context};
use secrecy::SecretString;
use serde::Deserialize;

use super::{Fields, see_other};
use crate::Console;
use crate::render::{error_page, page, page_with_status};
use crate::session::{SignedIn, url_encode};

/// How many health checks and audit events the detail page shows.
const HISTORY: u32 = 20;

pub(crate) async fn list(State(st): State<Console>, user: SignedIn) -> Response {
    let conns = match st
        .engine
        .list_connections(user.actor(), user.org(), None)
        .await
    {
        Ok(c) => c,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    // Grouped per workspace, in name order inside each.
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for c in &conns {
        let row = connection_view(c);
        match groups.iter_mut().find(|(w, _)| *w == c.workspace) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((c.workspace.clone(), vec![row])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(w, rows)| context! { workspace => w, connections => rows })
        .collect();
    page(
        &st,
        &user,
        "connections",
        "connections.html",
        context! { groups => groups, total => conns.len() },
    )
}

/// What pages show of a connection (no secret is part of a `Connection`).
pub(crate) fn connection_view(c: &Connection) -> Value {
    context! {
        id => c.id.to_string(),
        workspace => c.workspace.clone(),
        name => c.name.clone(),
        site_url => c.site_url.clone(),
        api_type => c.api_type.as_str(),
        auth_kind => auth_label(c.auth_kind),
        oauth => c.auth_kind == AuthKind::OAuth2,
        owner => c.owner.to_string(),
        status => c.status.as_str(),
        status_reason => c.status_reason.clone(),
        last_checked_at => c.last_checked_at.map(fmt_time),
        account_name => c.account_name.clone(),
        email => c.email.clone(),
        scopes => c.scopes.clone(),
        created_at => fmt_time(c.created_at),
    }
}

fn auth_label(k: AuthKind) -> &'static str {
    match k {
        AuthKind::OAuth2 => "OAuth 2.0",
        AuthKind::ApiToken => "API token",
        AuthKind::ScopedApiToken => "Scoped API token",
    }
}

pub(crate) fn fmt_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The create panel, with what the person typed so far (never a secret) and an error.
async fn render_new(
    st: &Console,
    user: &SignedIn,
    status: StatusCode,
    form: &Fields,
    error: Option<String>,
) -> Response {
    let clients = st
        .engine
        .list_oauth_clients(user.actor(), user.org())
        .await
        .unwrap_or_default();
    let workspaces = st
        .engine
        .list_workspaces(user.actor(), user.org())
        .await
        .unwrap_or_default();
    let scopes = st.engine.scopes(user.actor(), None).unwrap_or_default();
    let selected = form.all("scopes");
    let ctx = context! {
        error => error,
        form => context! {
            name => form.get("name"),
            workspace => form.get("workspace").unwrap_or("default"),
            api_type => form.get("api_type").unwrap_or("platform"),
            site => form.get("site"),
            auth_type => form.get("auth_type").unwrap_or("api_token"),
            email => form.get("email"),
            oauth_client => form.get("oauth_client"),
        },
        clients => clients.iter().map(|c| context! {
            id => c.id.to_string(), client_id => c.client_id.clone(), scopes => c.scopes.clone(),
        }).collect::<Vec<_>>(),
        workspaces => workspaces.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
        scopes => scopes.iter().map(|s| context! {
            scope => s.scope.clone(),
            kind => format!("{:?}", s.kind).to_lowercase(),
            description => s.description.clone(),
            selected => selected.contains(&s.scope),
        }).collect::<Vec<_>>(),
        selected => selected,
    };
    page_with_status(st, user, status, "connections", "connection_new.html", ctx)
}

/// The empty panel; query parameters may preset fields (e.g. `?auth_type=oauth` from
/// Reconnect). Secrets are never read from a URL.
pub(crate) async fn new_form(
    State(st): State<Console>,
    user: SignedIn,
    Query(preset): Query<Fields>,
) -> Response {
    render_new(&st, &user, StatusCode::OK, &preset, None).await
}

pub(crate) async fn create(
    State(st): State<Console>,
    user: SignedIn,
    Form(f): Form<Fields>,
) -> Response {
    let result = create_from(&st, &user, &f).await;
    match result {
        Ok(target) => see_other(&target),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            render_new(&st, &user, status, &f, Some(e.to_string())).await
        }
    }
}

/// Where the browser goes next: the new connection's page, or Atlassian's consent page.
async fn create_from(st: &Console, user: &SignedIn, f: &Fields) -> Result<String, EngineError> {
    let name = f
        .get("name")
        .ok_or_else(|| EngineError::validation("name", "is required"))?
        .to_owned();
    let workspace = f.get("workspace").unwrap_or("default").to_owned();
    let api_type = match f.get("api_type").unwrap_or("platform") {
        "platform" => ApiType::Platform,
        "service_management" => ApiType::ServiceManagement,
        other => {
            return Err(EngineError::validation(
                "api_type",
                format!(
                    "{} is not platform or service_management",
                    jiragate_engine::quote(other)
                ),
            ));
        }
    };
    let site = f.get("site").map(|s| {
        if s.contains("://") {
            SiteRef::BaseUrl(s.to_owned())
        } else {
            SiteRef::Subdomain(s.to_owned())
        }
    });
    match f.get("auth_type").unwrap_or("api_token") {
        kind @ ("api_token" | "scoped_api_token") => {
            let site = site.ok_or_else(|| {
                EngineError::validation(
                    "site",
                    "name the Jira site: a subdomain such as acme, or https://acme.atlassian.net",
                )
            })?;
            let email = f
                .get("email")
                .ok_or_else(|| EngineError::validation("email", "is required for an API token"))?
                .to_owned();
            let token = f
                .raw("token")
                .ok_or_else(|| EngineError::validation("token", "is required for an API token"))?;
            let conn = st
                .engine
                .create_connection(
                    user.actor(),
                    user.org(),
                    NewConnection::ApiToken(NewApiTokenConnection {
                        workspace,
                        name,
                        site,
                        email,
                        token: SecretString::from(token.trim().to_owned()),
                        scoped: Some(kind == "scoped_api_token"),
                        api_type,
                        owner: Owner::Installation,
                    }),
                )
                .await?;
            Ok(format!("/console/connections/{}?saved=1", conn.id))
        }
        "oauth" => {
            let client = f.get("oauth_client").ok_or_else(|| {
                EngineError::validation(
                    "oauth_client",
                    "choose a registered OAuth client (or add one under OAuth clients)",
                )
            })?;
            let oauth_client_id = client
                .parse()
                .map_err(|_| EngineError::validation("oauth_client", "is not a client id"))?;
            let scopes = f.all("scopes");
            let start = st
                .engine
                .start_connect(
                    user.actor(),
                    user.org(),
                    StartConnect {
                        oauth_client_id,
                        workspace,
                        name,
                        scopes: (!scopes.is_empty()).then_some(scopes),
                        subdomain: f.get("site").map(str::to_owned),
                        owner: Owner::Installation,
                        api_type,
                    },
                )
                .await?;
            Ok(start.authorize_url)
        }
        other => Err(EngineError::validation(
            "auth_type",
            format!(
                "{} is not api_token, scoped_api_token or oauth",
                jiragate_engine::quote(other)
            ),
        )),
    }
}

#[derive(Deserialize)]
pub(crate) struct DetailQuery {
    saved: Option<String>,
    checked: Option<String>,
    replaced: Option<String>,
    action: Option<String>,
}

pub(crate) async fn detail(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let notice = if q.saved.is_some() {
        Some("Saved. Jira accepted the credential; use Test now to check it again at any time.")
    } else if q.checked.is_some() {
        Some("Checked just now.")
    } else if q.replaced.is_some() {
        Some("Token replaced. Jira accepted the new token.")
    } else {
        None
    };
    render_detail(
        &st,
        &user,
        &id,
        q.action.as_deref(),
        notice,
        None,
        StatusCode::OK,
        &Fields::default(),
    )
    .await
}

/// The detail page; `run` is the playground's last result, if any, and `entered` the
/// playground form as submitted.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn render_detail(
    st: &Console,
    user: &SignedIn,
    id: &str,
    action: Option<&str>,
    notice: Option<&str>,
    run: Option<Value>,
    status: StatusCode,
    entered: &Fields,
) -> Response {
    let r = ConnRef::parse(id);
    let conn = match st.engine.get_connection(user.actor(), user.org(), &r).await {
        Ok(c) => c,
        Err(e) => return error_page(st, Some(user), &e),
    };
    let by_id = ConnRef::Id(conn.id.clone());
    let health = st
        .engine
        .health_history(user.actor(), user.org(), &by_id, HISTORY)
        .await
        .unwrap_or_default();
    let audit = if user.actor().may(ApiScope::Admin) {
        st.engine
            .query_audit(
                user.actor(),
                user.org(),
                AuditFilter {
                    connection: Some(by_id.clone()),
                    limit: Some(HISTORY),
                    ..AuditFilter::default()
                },
            )
            .await
            .map(|p| p.events)
            .ok()
    } else {
        None
    };
    let describe = st.engine.describe_connection(&conn, None);
    let explorer = super::playground::explorer(&conn, &describe);
    let playground = super::playground::form_for(st, &conn, &describe, action, entered);
    let ctx = context! {
        conn => connection_view(&conn),
        notice => notice,
        health => health.iter().map(|h| context! {
            at => fmt_time(h.at), status => h.status.as_str(), reason => h.reason.clone(), latency_ms => h.latency_ms,
        }).collect::<Vec<_>>(),
        audit => audit.map(|events| events.iter().map(|e| context! {
            at => fmt_time(e.at), actor => e.actor.clone(), action => e.action.clone(), detail => e.detail.to_string(),
        }).collect::<Vec<_>>()),
        explorer => explorer,
        playground => playground,
        run => run,
        audit_link => format!("/console/audit?connection={}", url_encode(conn.id.as_ref())),
    };
    page_with_status(st, user, status, "connections", "connection.html", ctx)
}

pub(crate) async fn check(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    match st
        .engine
        .check(user.actor(), user.org(), &ConnRef::parse(&id))
        .await
    {
        Ok((conn, _)) => see_other(&format!("/console/connections/{}?checked=1", conn.id)),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}

pub(crate) async fn delete(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    match st
        .engine
        .delete_connection(user.actor(), user.org(), &ConnRef::parse(&id))
        .await
    {
        Ok(_) => see_other("/console"),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}

/// Reconnect: re-authorize an OAuth connection with Atlassian, in place.
pub(crate) async fn reconnect(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    match st
        .engine
        .reconnect_oauth(user.actor(), user.org(), &ConnRef::parse(&id))
        .await
    {
        Ok(start) => see_other(&start.authorize_url),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}

/// Replaces an API-token connection's token (write-only: re-entered whole, verified again).
pub(crate) async fn replace_token(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let Some(token) = f.raw("token") else {
        let e = EngineError::validation("token", "enter the new API token");
        return error_page(&st, Some(&user), &e);
    };
    let creds = jiragate_engine::model::Credentials::ApiToken {
        email: f.get("email").map(str::to_owned),
        token: SecretString::from(token.trim().to_owned()),
    };
    match st
        .engine
        .update_credentials(user.actor(), user.org(), &ConnRef::parse(&id), creds)
        .await
    {
        Ok(conn) => see_other(&format!("/console/connections/{}?replaced=1", conn.id)),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}

pub(crate) async fn run(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    super::playground::run(&st, &user, &id, &f).await
}
