//! The request pipeline for Jira REST calls on `/site/{subdomain}/…` and
//! `/ex/jira/{cloudId}/…`: route, count, authenticate, rate-limit, inject faults, check
//! scopes, then hand over to the operation's handler.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderName, StatusCode, header};

use crate::auth::{self, Presented};
use crate::call::{Call, Caller};
use crate::clock::iso_time;
use crate::faults::{self, DropConnection, Fault};
use crate::handlers;
use crate::ratelimit::{Decision, Timing};
use crate::reply::Reply;
use crate::routes::{self, Match};
use crate::state::{SimState, Stats};

/// Largest request body accepted (attachments included).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

enum Mode {
    Site,
    Gateway,
}

pub async fn dispatch(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let (mode, prefix_id, rest) = if let Some(r) = path.strip_prefix("/site/") {
        let (sub, rest) = r.split_once('/').unwrap_or((r, ""));
        (Mode::Site, sub.to_owned(), format!("/{rest}"))
    } else if let Some(r) = path.strip_prefix("/ex/jira/") {
        let (cloud, rest) = r.split_once('/').unwrap_or((r, ""));
        (Mode::Gateway, cloud.to_owned(), format!("/{rest}"))
    } else {
        return Reply::not_found("No resource matches this path.").into_response();
    };
    let site = match mode {
        Mode::Site => state.site_by_subdomain(&prefix_id),
        Mode::Gateway => state.site_by_cloud_id(&prefix_id),
    };
    let Some(site) = site else {
        return match mode {
            Mode::Site => Reply::not_found("Site not found").into_response(),
            Mode::Gateway => {
                Reply::gateway_error(StatusCode::NOT_FOUND, "Not Found").into_response()
            }
        };
    };
    let site_index = site.index;
    let base = match mode {
        Mode::Site => state.site_url(&site.subdomain),
        Mode::Gateway => format!("{}/ex/jira/{}", state.base_url, site.cloud_id),
    };
    let (op, params) = match routes::find(parts.method.as_str(), &rest) {
        Match::Found(op, params) => (op, params),
        Match::WrongMethod => {
            return Reply::jira_error(
                StatusCode::METHOD_NOT_ALLOWED,
                &["Method not allowed for this resource."],
                &[],
            )
            .into_response();
        }
        Match::NotFound => {
            return Reply::not_found("No resource matches this path.").into_response();
        }
    };
    state.stats.count_route(op.route_name());

    let presented = auth::presented(&parts.headers);
    let caller = if op.operation_id == "getServerInfo" && matches!(presented, Presented::Missing) {
        Caller {
            user: 0,
            scopes: None,
            credential: "anonymous".to_owned(),
        }
    } else {
        let authed = match mode {
            Mode::Site => auth::authenticate_site(&state, site_index, &presented),
            Mode::Gateway => auth::authenticate_gateway(&state, site_index, &presented),
        };
        match authed {
            Ok(c) => c,
            Err(reply) => return reply.into_response(),
        }
    };

    let now_ms = state.clock.now_ms();
    let fault = faults::roll(&state, &state.cfg.faults);
    let decision = {
        let mut limiter = state.limiter.lock();
        match limiter.timing(&caller.credential, now_ms) {
            Timing::Violation => Stats::bump(&state.stats.retry_after_violations),
            Timing::InFlight => Stats::bump(&state.stats.retry_after_in_flight),
            Timing::Allowed => {}
        }
        if fault == Fault::TooManyRequests {
            limiter.block(&caller.credential, now_ms + 1000);
            None
        } else {
            Some(limiter.check(&caller.credential, site_index, now_ms))
        }
    };
    if !state.cfg.faults.latency.is_zero() {
        tokio::time::sleep(state.cfg.faults.latency).await;
    }
    match fault {
        Fault::Drop => {
            let mut r = Response::new(AxumBody::empty());
            r.extensions_mut().insert(DropConnection);
            return r;
        }
        Fault::ServerError => {
            return Reply::jira_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &["Service temporarily unavailable (injected fault)."],
                &[],
            )
            .into_response();
        }
        Fault::TooManyRequests => {
            Stats::bump(&state.stats.rate_limited);
            return too_many(None, 1, now_ms + 1000).into_response();
        }
        Fault::None => {}
    }
    let mut limit_headers = Vec::new();
    match decision {
        Some(Decision::Limited {
            limit,
            retry_after_secs,
            reset_ms,
        }) => {
            Stats::bump(&state.stats.rate_limited);
            return too_many(Some(limit), retry_after_secs, reset_ms).into_response();
        }
        Some(Decision::Allowed {
            limit,
            remaining,
            reset_ms,
        }) => {
            limit_headers.push((
                HeaderName::from_static("x-ratelimit-limit"),
                limit.to_string(),
            ));
            limit_headers.push((
                HeaderName::from_static("x-ratelimit-remaining"),
                remaining.to_string(),
            ));
            limit_headers.push((
                HeaderName::from_static("x-ratelimit-reset"),
                iso_time(reset_ms.div_euclid(1000)),
            ));
        }
        Some(Decision::Unlimited) | None => {}
    }
    if let Some(scopes) = &caller.scopes
        && let Err(reply) = auth::check_scopes(op, scopes)
    {
        return reply.into_response();
    }
    if op.opt_in_header && !opted_in(&parts.headers) {
        return not_opted_in().into_response();
    }

    let body: Bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return Reply::jira_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &["Request body too large."],
                &[],
            )
            .into_response();
        }
    };
    let uploads = if op.operation_id == "addAttachment" {
        match crate::multipart::parse(&parts.headers, body.clone()).await {
            Ok(u) => Some(u),
            Err(msg) => return Reply::bad_request(&msg).into_response(),
        }
    } else {
        None
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let call = Call {
        state: &state,
        op,
        params,
        query,
        headers: &parts.headers,
        body,
        site: site_index,
        caller,
        base,
        now: now_ms.div_euclid(1000),
    };
    let reply = match handlers::handle(&call, uploads) {
        Ok(r) | Err(r) => r,
    };
    let mut resp = reply.into_response();
    for (name, value) in limit_headers {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

/// Whether the request carries `X-ExperimentalApi: opt-in`.
fn opted_in(headers: &http::HeaderMap) -> bool {
    headers.get_all(routes::OPT_IN_HEADER).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case(routes::OPT_IN_VALUE))
    })
}

/// The Service Management document's answer to an experimental call without the opt-in
/// header: status 412 with its error entity (`errorMessage`, `i18nErrorMessage`).
fn not_opted_in() -> Reply {
    Reply::sd_error(
        StatusCode::PRECONDITION_FAILED,
        "This API is experimental. Experimental APIs are not guaranteed to be stable within the preview period. You must set the header 'X-ExperimentalApi: opt-in' to opt into using this API.",
    )
}

fn too_many(limit: Option<u32>, retry_after_secs: i64, reset_ms: i64) -> Reply {
    let mut r = Reply::jira_error(
        StatusCode::TOO_MANY_REQUESTS,
        &["Rate limit exceeded."],
        &[],
    )
    .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
    .with_header(HeaderName::from_static("x-ratelimit-remaining"), "0")
    .with_header(
        HeaderName::from_static("x-ratelimit-reset"),
        iso_time(reset_ms.div_euclid(1000)),
    )
    .with_header(
        HeaderName::from_static("ratelimit-reason"),
        "jira-burst-based",
    );
    if let Some(l) = limit {
        r = r.with_header(HeaderName::from_static("x-ratelimit-limit"), l.to_string());
    }
    r
}
