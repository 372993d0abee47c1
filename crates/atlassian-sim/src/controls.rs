//! Test controls under `/__sim/…` and the site's `/_edge/tenant_info`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::SimState;

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

#[derive(Deserialize)]
pub struct Advance {
    seconds: u64,
}

pub async fn advance_clock(
    State(state): State<Arc<SimState>>,
    body: Option<Json<Advance>>,
) -> Response {
    let Some(Json(a)) = body else {
        return bad("body must be {\"seconds\": N}");
    };
    state.clock.advance_secs(a.seconds);
    Json(json!({"now": crate::clock::iso_time(state.clock.now_secs())})).into_response()
}

/// `GET /__sim/requests`: the request log, oldest first (`"<METHOD> <path?query>"`).
pub async fn requests(State(state): State<Arc<SimState>>) -> Response {
    let log: Vec<String> = state.request_log.lock().iter().cloned().collect();
    axum::Json(log).into_response()
}

pub async fn stats(State(state): State<Arc<SimState>>) -> Response {
    Json(state.stats.snapshot()).into_response()
}

/// `{"refresh_token"|"access_token": t}` revokes that grant; `{"api_token": t}` revokes an API
/// token; `{"email"|"account_id": u, "site": subdomain-or-cloud-id}` removes a user's access
/// to a site.
#[derive(Deserialize, Default)]
pub struct Revoke {
    refresh_token: Option<String>,
    access_token: Option<String>,
    api_token: Option<String>,
    email: Option<String>,
    account_id: Option<String>,
    site: Option<String>,
}

pub async fn revoke(State(state): State<Arc<SimState>>, body: Option<Json<Revoke>>) -> Response {
    let Some(Json(r)) = body else {
        return bad("body must be a JSON object");
    };
    let mut auth = state.auth.lock();
    if let Some(t) = r.refresh_token.as_ref().or(r.access_token.as_ref()) {
        let family = auth
            .refresh
            .get(t)
            .map(|x| x.family)
            .or_else(|| auth.access.get(t).map(|x| x.family));
        return match family.and_then(|f| auth.grants.get_mut(&f)) {
            Some(g) => {
                g.revoked = true;
                Json(json!({"revoked": "grant"})).into_response()
            }
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown token"})),
            )
                .into_response(),
        };
    }
    if let Some(t) = r.api_token {
        if !state
            .users
            .iter()
            .any(|u| u.api_token == t || u.scoped_api_token == t)
        {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown API token"})),
            )
                .into_response();
        }
        auth.revoked_api_tokens.insert(t);
        return Json(json!({"revoked": "api_token"})).into_response();
    }
    let user = match (&r.email, &r.account_id) {
        (Some(e), _) => state.user_by_email(e),
        (None, Some(a)) => state.user_by_account(a),
        (None, None) => {
            return bad(
                "give refresh_token, access_token, api_token, or email/account_id with site",
            );
        }
    };
    let Some(user) = user else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown user"})),
        )
            .into_response();
    };
    let Some(site) = r.site.as_deref().and_then(|s| {
        state
            .site_by_subdomain(s)
            .or_else(|| state.site_by_cloud_id(s))
    }) else {
        return bad("site (subdomain or cloud id) is required to revoke a user's access");
    };
    auth.revoked_site_access.insert((user.index, site.index));
    Json(json!({"revoked": "site_access"})).into_response()
}

/// `{"limit": N|null, "site": sub?, "credential": token?}`: the budget per window of 60
/// simulated seconds for one credential, for a site, or (neither) the default. `null` removes
/// a credential's or site's override, and makes the default unlimited.
#[derive(Deserialize)]
pub struct RateLimitChange {
    limit: Option<u32>,
    site: Option<String>,
    credential: Option<String>,
}

pub async fn rate_limit(
    State(state): State<Arc<SimState>>,
    body: Option<Json<RateLimitChange>>,
) -> Response {
    let Some(Json(c)) = body else {
        return bad("body must be {\"limit\": N, \"site\"?: ..., \"credential\"?: ...}");
    };
    let mut limiter = state.limiter.lock();
    if let Some(token) = c.credential {
        let Some(identity) = credential_identity(&state, &token) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown credential"})),
            )
                .into_response();
        };
        limiter.set_credential(identity, c.limit);
    } else if let Some(s) = c.site {
        let Some(site) = state
            .site_by_subdomain(&s)
            .or_else(|| state.site_by_cloud_id(&s))
        else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "unknown site"})),
            )
                .into_response();
        };
        limiter.set_site(site.index, c.limit);
    } else {
        limiter.set_default(c.limit);
    }
    Json(json!({"limit": c.limit})).into_response()
}

/// Maps a token (API token, scoped token, access or refresh token) to its rate-limit identity.
fn credential_identity(state: &SimState, token: &str) -> Option<String> {
    if let Some(u) = state.users.iter().find(|u| u.api_token == token) {
        return Some(format!("api-token:{}", u.index));
    }
    if let Some(u) = state.users.iter().find(|u| u.scoped_api_token == token) {
        return Some(format!("scoped-token:{}", u.index));
    }
    let auth = state.auth.lock();
    let family = auth
        .access
        .get(token)
        .map(|a| a.family)
        .or_else(|| auth.refresh.get(token).map(|r| r.family))?;
    Some(format!("oauth:{family}"))
}

#[derive(Deserialize)]
pub struct RedirectUri {
    redirect_uri: String,
    client_id: Option<String>,
}

/// Registers another redirect URI on a client (the first one unless `client_id` is given).
pub async fn add_redirect_uri(
    State(state): State<Arc<SimState>>,
    body: Option<Json<RedirectUri>>,
) -> Response {
    let Some(Json(r)) = body else {
        return bad("body must be {\"redirect_uri\": ...}");
    };
    if add_redirect(&state, r.client_id.as_deref(), &r.redirect_uri) {
        Json(json!({"redirect_uri": r.redirect_uri})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown client"})),
        )
            .into_response()
    }
}

pub fn add_redirect(state: &SimState, client_id: Option<&str>, uri: &str) -> bool {
    let mut auth = state.auth.lock();
    let client = match client_id {
        Some(id) => auth.clients.iter_mut().find(|c| c.client_id == id),
        None => auth.clients.first_mut(),
    };
    match client {
        Some(c) => {
            if !c.redirect_uris.iter().any(|u| u == uri) {
                c.redirect_uris.push(uri.to_owned());
            }
            true
        }
        None => false,
    }
}

pub async fn tenant_info(State(state): State<Arc<SimState>>, Path(sub): Path<String>) -> Response {
    state.stats.count_route("GET /_edge/tenant_info".to_owned());
    match state.site_by_subdomain(&sub) {
        Some(site) => Json(json!({"cloudId": site.cloud_id})).into_response(),
        None => (StatusCode::NOT_FOUND, Json(Value::Null)).into_response(),
    }
}

#[derive(Deserialize)]
pub struct DuplicateRate {
    rate: f64,
}

/// `{"rate": 0.0..=1.0}`: share of webhook deliveries sent twice with the same identifier.
pub async fn webhook_duplicate_rate(
    State(state): State<Arc<SimState>>,
    body: Option<Json<DuplicateRate>>,
) -> Response {
    let Some(Json(r)) = body else {
        return bad("body must be {\"rate\": 0.0..1.0}");
    };
    if !(0.0..=1.0).contains(&r.rate) {
        return bad("rate must be between 0 and 1");
    }
    state.hooks.lock().duplicate_rate = r.rate;
    Json(json!({"rate": r.rate})).into_response()
}

/// `GET /__sim/webhooks/deliveries`: every delivery attempt, oldest first, and how many
/// deliveries a full queue dropped.
pub async fn webhook_deliveries(State(state): State<Arc<SimState>>) -> Response {
    let hooks = state.hooks.lock();
    let list: Vec<&crate::webhooks::WebhookDelivery> = hooks.log.iter().collect();
    Json(json!({"deliveries": list, "dropped": hooks.dropped})).into_response()
}

/// `DELETE /__sim/webhooks/deliveries`: empties the delivery log.
pub async fn clear_webhook_deliveries(State(state): State<Arc<SimState>>) -> Response {
    state.hooks.lock().log.clear();
    StatusCode::NO_CONTENT.into_response()
}
