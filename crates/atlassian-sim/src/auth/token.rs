//! `POST /oauth/token` (code exchange and refresh with rotation) and
//! `GET /oauth/token/accessible-resources`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{Presented, presented};
use crate::state::{AccessRecord, AuthStore, Grant, RefreshRecord, SimState, Stats, random_token};

/// Refresh tokens die after this much inactivity.
pub const REFRESH_INACTIVITY_SECS: i64 = 90 * 86_400;
/// And at the latest this long after the consent.
pub const REFRESH_ABSOLUTE_SECS: i64 = 365 * 86_400;

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

fn invalid_grant(description: &str) -> Response {
    token_error(StatusCode::FORBIDDEN, "invalid_grant", description)
}

/// Reads a JSON or form body into string fields.
fn fields(headers: &HeaderMap, body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let looks_json = ct.contains("json") || body.first().is_some_and(|b| *b == b'{');
    if looks_json {
        return serde_json::from_slice::<Value>(body)
            .ok()?
            .as_object()
            .cloned();
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    Some(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

fn field<'a>(f: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a str> {
    f.get(k).and_then(Value::as_str)
}

pub async fn token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.stats.count_route("POST /oauth/token".to_owned());
    let Some(f) = fields(&headers, &body) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body could not be parsed.",
        );
    };
    let grant_type = field(&f, "grant_type").unwrap_or_default();
    match grant_type {
        "authorization_code" => Stats::bump(&state.stats.code_exchanges),
        "refresh_token" => Stats::bump(&state.stats.refreshes),
        _ => {}
    }
    // Client authentication comes first: a bad client never learns anything about the grant.
    let client_id = field(&f, "client_id").unwrap_or_default().to_owned();
    let client_secret = field(&f, "client_secret").unwrap_or_default();
    let mut auth = state.auth.lock();
    let Some(client) = auth.clients.iter().find(|c| c.client_id == client_id) else {
        return token_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    };
    if client.client_secret != client_secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Unauthorized client",
        );
    }
    let now = state.clock.now_secs();
    let ttl = state.cfg.access_token_ttl.as_secs() as i64;
    match grant_type {
        "authorization_code" => exchange_code(&mut auth, &f, &client_id, now, ttl),
        "refresh_token" => refresh(&state, &mut auth, &f, &client_id, now, ttl),
        _ => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    match method {
        "S256" => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
        }
        _ => verifier == challenge,
    }
}

fn exchange_code(
    auth: &mut AuthStore,
    f: &serde_json::Map<String, Value>,
    client_id: &str,
    now: i64,
    ttl: i64,
) -> Response {
    let code = field(f, "code").unwrap_or_default();
    let Some(grant) = auth.codes.get_mut(code) else {
        return invalid_grant("Invalid authorization code");
    };
    if grant.used {
        return invalid_grant("Authorization code has already been used");
    }
    if now >= grant.expires_at {
        return invalid_grant("Authorization code has expired");
    }
    if grant.client_id != client_id {
        return invalid_grant("Authorization code was issued to another client");
    }
    if field(f, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri does not match the one used at /authorize");
    }
    if let Some((method, challenge)) = &grant.challenge {
        match field(f, "code_verifier") {
            Some(v) if pkce_matches(method, challenge, v) => {}
            Some(_) => return invalid_grant("Invalid code_verifier"),
            None => return invalid_grant("code_verifier is required"),
        }
    }
    // Single use: burnt even if something below fails.
    grant.used = true;
    let family = auth.next_family;
    auth.next_family += 1;
    let Some(code_grant) = auth.codes.get(code) else {
        return invalid_grant("Invalid authorization code");
    };
    let new_grant = Grant {
        client_id: client_id.to_owned(),
        user: code_grant.user,
        sites: code_grant.sites.clone(),
        scopes: code_grant.scopes.clone(),
        created_at: now,
        revoked: false,
    };
    auth.grants.insert(family, new_grant);
    issue_tokens(auth, family, now, ttl, None)
}

/// Mints an access token (and a refresh token when offline_access was granted).
fn issue_tokens(
    auth: &mut AuthStore,
    family: u64,
    now: i64,
    ttl: i64,
    reuse_refresh: Option<String>,
) -> Response {
    let Some(grant) = auth.grants.get(&family) else {
        return invalid_grant("Unknown grant");
    };
    let scopes = grant.scopes.join(" ");
    let offline = grant.scopes.iter().any(|s| s == "offline_access");
    let access = random_token("eyJsim.", 120);
    auth.access.insert(
        access.clone(),
        AccessRecord {
            family,
            expires_at: now + ttl,
        },
    );
    let mut body =
        json!({"access_token": access, "expires_in": ttl, "token_type": "Bearer", "scope": scopes});
    if offline {
        let refresh = match reuse_refresh {
            Some(r) => r,
            None => {
                let r = random_token("eyJref.", 120);
                auth.refresh.insert(
                    r.clone(),
                    RefreshRecord {
                        family,
                        issued_at: now,
                        rotated: None,
                    },
                );
                r
            }
        };
        body["refresh_token"] = Value::String(refresh);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn revoke_family(auth: &mut AuthStore, family: u64) {
    if let Some(g) = auth.grants.get_mut(&family) {
        g.revoked = true;
    }
}

fn refresh(
    state: &SimState,
    auth: &mut AuthStore,
    f: &serde_json::Map<String, Value>,
    client_id: &str,
    now: i64,
    ttl: i64,
) -> Response {
    let presented = field(f, "refresh_token").unwrap_or_default().to_owned();
    let grace = state.cfg.refresh_reuse_grace.as_secs() as i64;
    let Some(rec) = auth.refresh.get(&presented) else {
        return invalid_grant("Unknown or invalid refresh token.");
    };
    let family = rec.family;
    let issued_at = rec.issued_at;
    let rotated = rec.rotated.clone();
    let Some(grant) = auth.grants.get(&family) else {
        return invalid_grant("Unknown or invalid refresh token.");
    };
    if grant.revoked {
        return invalid_grant("Unknown or invalid refresh token.");
    }
    if grant.client_id != client_id {
        return invalid_grant("Refresh token was issued to another client.");
    }
    if now - grant.created_at >= REFRESH_ABSOLUTE_SECS {
        return invalid_grant("Refresh token has expired (absolute lifetime).");
    }
    if let Some((rotated_at, successor)) = rotated {
        Stats::bump(&state.stats.refresh_reuse);
        if now - rotated_at > grace {
            Stats::bump(&state.stats.refresh_reuse_late);
            // Late reuse of a rotated token: assume theft and kill the whole chain.
            revoke_family(auth, family);
            return invalid_grant(
                "Refresh token reuse detected; the token family has been revoked.",
            );
        }
        // Within the reuse window: hand out the token it was already rotated into.
        return issue_tokens(auth, family, now, ttl, Some(successor));
    }
    if now - issued_at >= REFRESH_INACTIVITY_SECS {
        return invalid_grant("Refresh token has expired (inactivity).");
    }
    let successor = random_token("eyJref.", 120);
    if let Some(r) = auth.refresh.get_mut(&presented) {
        r.rotated = Some((now, successor.clone()));
    }
    auth.refresh.insert(
        successor.clone(),
        RefreshRecord {
            family,
            issued_at: now,
            rotated: None,
        },
    );
    issue_tokens(auth, family, now, ttl, Some(successor))
}

pub async fn accessible_resources(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> Response {
    state
        .stats
        .count_route("GET /oauth/token/accessible-resources".to_owned());
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"code": 401, "message": "Unauthorized"}).to_string(),
        )
            .into_response()
    };
    let Presented::Bearer(token) = presented(&headers) else {
        return unauthorized();
    };
    let now = state.clock.now_secs();
    let (sites, scopes) = {
        let auth = state.auth.lock();
        let Some(rec) = auth.access.get(&token) else {
            return unauthorized();
        };
        let Some(grant) = auth.grants.get(&rec.family) else {
            return unauthorized();
        };
        if grant.revoked || now >= rec.expires_at {
            return unauthorized();
        }
        let sites: Vec<usize> = grant
            .sites
            .iter()
            .copied()
            .filter(|s| auth.user_can_use_site(grant.user, *s))
            .collect();
        (
            sites,
            grant
                .scopes
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    let mut out: Vec<Value> = sites
        .iter()
        .map(|s| {
            let site = &state.sites[*s];
            json!({
                "id": site.cloud_id,
                "url": state.site_url(&site.subdomain),
                "name": site.subdomain,
                "scopes": scopes,
                "avatarUrl": format!("https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/{}.png", site.subdomain),
            })
        })
        .collect();
    // Atlassian promises no order; shuffle so clients cannot rely on one.
    out.shuffle(&mut rand::rng());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Value::Array(out).to_string(),
    )
        .into_response()
}
