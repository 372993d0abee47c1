//! Who is calling: API-key authentication, organization selection, scopes and the per-key limit.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use jiragate_engine::model::{ApiKeyRecord, OrgId};
use jiragate_engine::{Actor, EngineError};

use crate::metrics::KEY_RATE_LIMITED;
use crate::problem::Problem;
use crate::state::AppState;

/// Header a platform key uses to act for another organization.
pub const ORG_HEADER: &str = jiragate_engine::ORG_HEADER;

/// The authenticated caller of an `/api/v1` route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<ApiKeyRecord>,
    /// The organization this request acts in (the key's own, or the one a platform key chose).
    pub org: OrgId,
}

impl Caller {
    /// The engine's view of this caller: it decides what the key may do.
    pub fn actor(&self) -> Actor<'_> {
        Actor::Key(&self.key)
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, Problem> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("send `Authorization: Bearer <api key>`"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Problem::unauthorized("expected `Authorization: Bearer <api key>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Problem::unauthorized(
            "expected `Authorization: Bearer <api key>`",
        ));
    }
    Ok(token.trim())
}

/// Record `last_used_at` at most once a minute per key, off the request path: a write per
/// request would serialise every call on SQLite for a timestamp nobody needs to the second.
fn touch_if_stale(state: &AppState, key: &ApiKeyRecord) {
    let now = time::OffsetDateTime::now_utc();
    let stale = key
        .last_used_at
        .is_none_or(|t| now - t > time::Duration::seconds(60));
    if !stale {
        return;
    }
    // The record may lag behind a touch in flight: remember touches in memory too.
    let recently = std::time::Instant::now();
    let mut fresh = false;
    state
        .inner
        .key_touches
        .entry(key.id.to_string())
        .and_modify(|last| {
            if recently.duration_since(*last) > std::time::Duration::from_secs(60) {
                *last = recently;
                fresh = true;
            }
        })
        .or_insert_with(|| {
            fresh = true;
            recently
        });
    if !fresh {
        return;
    }
    let engine = state.engine().clone();
    let key = key.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.touch_api_key(&key).await {
            tracing::debug!(error = %e, "could not record API key use");
        }
    });
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let presented = bearer_token(&parts.headers)?;
        let key = match state.engine().authenticate_shared(presented).await {
            Ok(key) => key,
            Err(EngineError::Unauthorized) => {
                return Err(Problem::unauthorized(
                    "the API key is unknown or has been revoked",
                ));
            }
            Err(other) => return Err(other.into()),
        };
        if key.revoked_at.is_some() {
            return Err(Problem::unauthorized("the API key has been revoked"));
        }

        touch_if_stale(state, &key);

        if let Some(limiter) = &state.inner.limiter
            && let Err(wait) = limiter.check(key.id.as_ref())
        {
            metrics::counter!(KEY_RATE_LIMITED).increment(1);
            return Err(Problem::rate_limited(
                wait,
                "this API key sent too many requests; retry after the given delay",
            ));
        }

        let requested = match parts.headers.get(ORG_HEADER) {
            None => None,
            Some(raw) => Some(
                raw.to_str()
                    .map_err(|_| Problem::validation(ORG_HEADER, "not a valid organization id"))?,
            ),
        };
        let org = state.engine().acting_org(&key, requested).await?;
        let caller = Caller { key, org };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
