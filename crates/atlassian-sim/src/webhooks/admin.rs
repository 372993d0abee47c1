//! Admin webhooks: `/rest/webhooks/1.0/webhook` on the site, with Basic API-token auth. Not
//! in the OpenAPI documents; shapes follow the webhooks guide ("Registering a webhook using
//! the REST API"): create with `{name, url, events, filters: {"issue-related-events-section":
//! jql}, excludeBody, secret?}`. Answer shape (not spelled out by the guide; the simulator's
//! reading): `{self, name, url, events, filters, excludeBody, enabled, lastUpdated,
//! lastUpdatedUser, lastUpdatedDisplayName}`; the secret is never echoed.
//! Only a Jira administrator may manage them (the guide: admin webhooks need the *Administer
//! Jira* global permission). The simulator's site administrator is the first seeded user; any
//! other user with a valid classic API token gets 403 with Jira's error body (the status is the
//! simulator's reading: Jira's answer for an authenticated user who lacks a global
//! permission).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{AdminHook, MAX_ADMIN_PER_SITE};
use crate::auth;
use crate::call::Caller;
use crate::jql;
use crate::reply::Reply;
use crate::state::SimState;

const FILTER_KEY: &str = "issue-related-events-section";

fn authed(
    state: &SimState,
    sub: &str,
    headers: &HeaderMap,
    route: &str,
) -> Result<(usize, Caller), Box<Response>> {
    let Some(site) = state.site_by_subdomain(sub) else {
        return Err(Box::new(Reply::not_found("Site not found").into_response()));
    };
    state.stats.count_route(route.to_owned());
    let presented = auth::presented(headers);
    let caller = auth::authenticate_site(state, site.index, &presented)
        .map_err(|r| Box::new(r.into_response()))?;
    if !state.users[caller.user].site_admin {
        return Err(Box::new(
            Reply::jira_error(StatusCode::FORBIDDEN, &[NOT_ADMIN], &[]).into_response(),
        ));
    }
    Ok((site.index, caller))
}

/// What a user without the *Administer Jira* global permission is told.
pub const NOT_ADMIN: &str =
    "You must have the Administer Jira global permission to manage webhooks.";

fn hook_json(state: &SimState, h: &AdminHook) -> Value {
    let user = &state.users[h.user];
    json!({
        "self": format!("{}/rest/webhooks/1.0/webhook/{}", state.site_url(&state.sites[h.site].subdomain), h.id),
        "name": h.name,
        "url": h.url,
        "events": h.events,
        "filters": {FILTER_KEY: h.jql},
        "excludeBody": h.exclude_body,
        "enabled": h.enabled,
        "lastUpdated": h.updated_ms,
        "lastUpdatedUser": user.account_id,
        "lastUpdatedDisplayName": user.display_name,
    })
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    Path(sub): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (site, caller) = match authed(&state, &sub, &headers, "POST /rest/webhooks/1.0/webhook") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return Reply::bad_request("The request body must be a JSON object.").into_response();
    };
    let text = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let (name, url) = (text("name"), text("url"));
    let mut field_errors: Vec<(&str, &str)> = Vec::new();
    if name.is_empty() {
        field_errors.push(("name", "The webhook name is required."));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        field_errors.push(("url", "The webhook URL must be an absolute http(s) URL."));
    }
    if !field_errors.is_empty() {
        return Reply::jira_error(StatusCode::BAD_REQUEST, &[], &field_errors).into_response();
    }
    let events: Vec<String> = b
        .get("events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let jql_text = b
        .pointer(&format!("/filters/{FILTER_KEY}"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if !jql_text.is_empty() {
        let now = state.clock.now_secs();
        let env = jql::Env {
            now,
            current_user: caller.user,
            users: &state.users,
        };
        if let Err(ms) = jql::prepare(&jql_text, &env, &state.data[site].read()) {
            let ms: Vec<&str> = ms.iter().map(String::as_str).collect();
            return Reply::jira_error(StatusCode::BAD_REQUEST, &ms, &[]).into_response();
        }
    }
    let mut hooks = state.hooks.lock();
    if hooks.admin.iter().filter(|h| h.site == site).count() >= MAX_ADMIN_PER_SITE {
        return Reply::bad_request(&format!(
            "The site has reached the limit of {MAX_ADMIN_PER_SITE} webhooks."
        ))
        .into_response();
    }
    let h = AdminHook {
        id: hooks.alloc_id(),
        site,
        user: caller.user,
        name,
        url,
        events,
        jql: jql_text,
        exclude_body: b
            .get("excludeBody")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        secret: b
            .get("secret")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        enabled: b.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        updated_ms: state.clock.now_ms(),
    };
    let out = hook_json(&state, &h);
    hooks.admin.push(h);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

pub async fn list(
    State(state): State<Arc<SimState>>,
    Path(sub): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (site, _) = match authed(&state, &sub, &headers, "GET /rest/webhooks/1.0/webhook") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let hooks = state.hooks.lock();
    let all: Vec<Value> = hooks
        .admin
        .iter()
        .filter(|h| h.site == site)
        .map(|h| hook_json(&state, h))
        .collect();
    axum::Json(all).into_response()
}

const NO_SUCH: &str = "The webhook does not exist.";

pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Path((sub, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (site, _) = match authed(
        &state,
        &sub,
        &headers,
        "GET /rest/webhooks/1.0/webhook/{id}",
    ) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let id: i64 = id.parse().unwrap_or(-1);
    let hooks = state.hooks.lock();
    match hooks.admin.iter().find(|h| h.site == site && h.id == id) {
        Some(h) => axum::Json(hook_json(&state, h)).into_response(),
        None => Reply::not_found(NO_SUCH).into_response(),
    }
}

pub async fn delete_one(
    State(state): State<Arc<SimState>>,
    Path((sub, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (site, _) = match authed(
        &state,
        &sub,
        &headers,
        "DELETE /rest/webhooks/1.0/webhook/{id}",
    ) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let id: i64 = id.parse().unwrap_or(-1);
    let mut hooks = state.hooks.lock();
    let before = hooks.admin.len();
    hooks.admin.retain(|h| !(h.site == site && h.id == id));
    if hooks.admin.len() == before {
        return Reply::not_found(NO_SUCH).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
