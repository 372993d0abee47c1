//! Readable records: the audit trail and the OAuth scopes catalogue.

use axum::Json;
use axum::extract::State;
use jiragate_engine::ConnRef;
use jiragate_engine::audit::{AuditFilter, parse_time};

use crate::caller::Caller;
use crate::extract::ApiQuery;
use crate::problem::{ApiResult, ProblemBody};
use crate::state::AppState;
use crate::views::{
    AuditEventView, AuditPageView, AuditQueryParams, ListResponse, ScopeView, ScopesQuery,
};

/// Read the audit trail of the organization, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQueryParams),
    responses((status = 200, description = "One page of audit events, newest first; `next_page_token` when more follow", body = AuditPageView),
              (status = 403, description = "The key lacks the admin scope", body = ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "`connection` names no connector of this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 422, description = "A bad `since`/`until` time, `limit` outside 1..=500 or an unknown `page_token`", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["admin"])))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQueryParams>,
) -> ApiResult<Json<AuditPageView>> {
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let filter = AuditFilter {
        connection: nonempty(q.connection).map(|c| ConnRef::parse(&c)),
        kind: nonempty(q.kind),
        since: nonempty(q.since)
            .map(|s| parse_time("since", &s))
            .transpose()?,
        until: nonempty(q.until)
            .map(|s| parse_time("until", &s))
            .transpose()?,
        limit: q.limit,
        page_token: nonempty(q.page_token),
    };
    let page = state
        .engine()
        .query_audit(caller.actor(), &caller.org, filter)
        .await?;
    Ok(Json(AuditPageView {
        data: page.events.iter().map(AuditEventView::from).collect(),
        next_page_token: page.next_page_token,
    }))
}

/// The Jira OAuth 2.0 scopes the catalog's actions need, with their descriptions and the
/// actions that need each.
#[utoipa::path(get, path = "/api/v1/scopes", tag = "oauth",
    params(ScopesQuery),
    responses((status = 200, description = "Every classic and granular scope the actions use (classic first, then by name)", body = ListResponse<ScopeView>),
              (status = 404, description = "`action` names no catalog action", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list_scopes(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ScopesQuery>,
) -> ApiResult<Json<ListResponse<ScopeView>>> {
    let scopes = state.engine().scopes(caller.actor(), q.action.as_deref())?;
    Ok(Json(ListResponse {
        data: scopes.iter().map(ScopeView::from).collect(),
    }))
}
