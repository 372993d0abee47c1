//! `ANY /api/v1/integrations/connectors/{id}/proxy/{*path}`: raw Jira REST with the connection's
//! credential injected. Bodies stream both ways; Jira's status and body pass through unchanged.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use futures::TryStreamExt;
use jiragate_engine::EngineError;
use jiragate_engine::links::LinkRewriter;
use jiragate_engine::proxy::{FORWARDING_HEADERS, ProxyRequest};

use crate::caller::{Caller, ORG_HEADER};
use crate::extract::ApiPath;
use crate::problem::{ApiResult, Problem, ProblemBody};
use crate::routes::connectors::conn_ref;
use crate::state::AppState;

/// Marks a response whose error status came from Jira, so the problem-normalising middleware
/// leaves it as Jira sent it.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

/// Hop-by-hop headers (RFC 9110 §7.6.1) never cross the proxy.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the caller may not pass to Jira: our credential replaces theirs, and
/// jiragate's own headers mean nothing upstream.
const REQUEST_DROPPED: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    ORG_HEADER,
    "content-length",
    // Jira answers uncompressed so its links can be rewritten on the way (see LinkRewriter).
    "accept-encoding",
];

/// Response headers from Jira the caller must not get (a session cookie is a credential).
const RESPONSE_DROPPED: &[&str] = &["set-cookie", "content-length"];

/// Every header the caller sends that must not reach Jira: [`REQUEST_DROPPED`] plus the
/// forwarding headers (`Forwarded`, `X-Forwarded-*`, `X-Original-URL`, `X-Real-IP` …).
fn request_dropped() -> impl Iterator<Item = &'static str> {
    REQUEST_DROPPED
        .iter()
        .chain(FORWARDING_HEADERS.iter())
        .copied()
}

fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Copy `src` minus hop-by-hop headers, headers named in `Connection`, and `extra` drops.
pub fn filter_headers(src: &HeaderMap, extra: &[&str]) -> HeaderMap {
    filter_headers_by(src, |n| extra.contains(&n))
}

fn filter_headers_by(src: &HeaderMap, drop: impl Fn(&str) -> bool) -> HeaderMap {
    let named = connection_named(src);
    let mut out = HeaderMap::with_capacity(src.len());
    for (name, value) in src {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || drop(n) || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The part of `/api/v1/integrations/connectors/{id}/proxy/<jira path>` after `/proxy/`,
/// still percent-encoded.
fn raw_jira_path(raw: &str) -> Option<&str> {
    let rest = raw.strip_prefix("/api/v1/integrations/connectors/")?;
    let (_id, after) = rest.split_once('/')?;
    after.strip_prefix("proxy/")
}

/// The Jira path to forward, from the raw text after `/proxy/`.
///
/// Two forms reach the same Jira path:
/// - nested, as a person writes it: `rest/api/3/issue/ENG-1`, forwarded as the caller encoded
///   it;
/// - one segment, as a client generated from `/openapi.json` sends the `{path}` parameter
///   (percent-encoded, slashes included): `rest%2Fapi%2F3%2Fissue%2FENG-1`. A path without a
///   literal `/` that contains an encoded one is decoded exactly once; what comes out is then
///   one more nested path, checked like every other (`..`, encoded separators, a second layer of
///   encoding … are refused by the Jira client's `upstream_url`). An encoded `?` or `#` is
///   refused here: the query travels in the request's own query string.
fn jira_path(raw: &str) -> Result<std::borrow::Cow<'_, str>, Problem> {
    let raw = raw.trim_start_matches('/');
    let encoded_slash = raw
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'2' && (w[2] == b'f' || w[2] == b'F'));
    if raw.contains('/') || !encoded_slash {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| {
            Problem::validation(
                "path",
                format!("{} does not decode to UTF-8", jiragate_engine::quote(raw)),
            )
        })?;
    if decoded.contains(['?', '#']) {
        return Err(Problem::validation(
            "path",
            format!(
                "{} holds an encoded `?` or `#`; send the query string as the URL's own",
                jiragate_engine::quote(raw)
            ),
        ));
    }
    // Not trimmed: a decoded `//host/…` keeps its empty segment and is refused.
    Ok(std::borrow::Cow::Owned(decoded.into_owned()))
}

/// Jira's text answers up to this declared size are read whole and rewritten in one pass;
/// larger or unsized ones stream through the rewriter chunk by chunk.
const BUFFERED_REWRITE_LIMIT: u64 = 1024 * 1024;

/// Bodies up to this size are buffered so the request can be replayed once after a token
/// refresh (a 401 on an expired token); larger or unsized bodies stream through unbuffered.
const REPLAYABLE_BODY_LIMIT: u64 = 1024 * 1024;

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn upstream_body(req: Request) -> Result<reqwest::Body, Problem> {
    use axum::body::HttpBody;
    if req.body().is_end_stream() {
        return Ok(reqwest::Body::from(bytes::Bytes::new()));
    }
    match declared_length(&req) {
        Some(0) => Ok(reqwest::Body::from(bytes::Bytes::new())),
        Some(n) if n <= REPLAYABLE_BODY_LIMIT => {
            let bytes = axum::body::to_bytes(req.into_body(), n as usize)
                .await
                .map_err(|_| {
                    Problem::new(
                        crate::problem::ProblemKind::Validation,
                        "the request body could not be read (or exceeds its Content-Length)",
                    )
                    .with_status(axum::http::StatusCode::BAD_REQUEST)
                })?;
            Ok(reqwest::Body::from(bytes))
        }
        _ => Ok(reqwest::Body::wrap_stream(
            req.into_body().into_data_stream(),
        )),
    }
}

/// Proxy one request to Jira.
#[utoipa::path(
    method(get, post, put, patch, delete), path = "/api/v1/integrations/connectors/{id}/proxy/{path}", tag = "proxy",
    description = "The Jira path (e.g. `rest/api/3/myself`), query and body are forwarded with the connection's credential; Jira's status, headers (including rate-limit headers) and body are returned, with Jira's links rewritten to this proxy. The caller's Authorization header is never forwarded. `{path}` may be sent nested (`…/proxy/rest/api/3/myself`) or as one percent-encoded segment (`…/proxy/rest%2Fapi%2F3%2Fmyself`, as generated clients send it), which is decoded once and then checked like a nested path; traversal, encoded separators inside a segment and double encodings are refused with 422.",
    params(("id" = String, Path, description = "connector id"), ("path" = String, Path, description = "Jira REST path without a query, e.g. `rest/api/3/myself`; the query string is forwarded as sent")),
    responses((status = 200, description = "Jira's response, as sent (Jira's own statuses pass through unchanged)"),
              (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = "default", description = "Any other status: Jira's answer passed through unchanged, or a jiragate problem (`application/problem+json`, e.g. 503/504 when Jira cannot be reached in time)")),
    security(("api_key" = ["proxy"])))]
pub async fn proxy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, path)): ApiPath<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let conn_ref = conn_ref(&id)?;
    // Forward the path as the caller encoded it (or, from a generated client, decoded once: see
    // `jira_path`). Whether it stays inside the connection's site (no `..`, `\`, encoded
    // separators, double encodings …) is decided in one place for every upstream call (the Jira
    // client's `upstream_url`), which refuses with a 422 before sending.
    let raw_path = jira_path(raw_jira_path(req.uri().path()).unwrap_or(&path))?;
    let mut path_and_query = format!("/{raw_path}");
    if let Some(q) = req.uri().query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let method = req.method().clone();
    let is_head = method == axum::http::Method::HEAD;
    let headers = filter_headers_by(req.headers(), |n| request_dropped().any(|d| d == n));
    let body = upstream_body(req).await?;

    // The engine injects the credential (and refreshes once on a 401 when the body can be
    // replayed); the Jira client strips anything credential-like we might pass.
    let proxied = state
        .engine()
        .proxy(
            caller.actor(),
            &caller.org,
            &conn_ref,
            ProxyRequest {
                method,
                path_and_query,
                headers,
                body,
            },
        )
        .await?;
    let (conn, upstream, links) = (proxied.connection, proxied.upstream, proxied.links);

    let status = upstream.status();
    let mut resp_headers = filter_headers(upstream.headers(), RESPONSE_DROPPED);
    // Links Jira sends back must lead to this proxy, never to Atlassian with a jiragate key.
    for name in [header::LOCATION, header::LINK, header::CONTENT_LOCATION] {
        let rewritten: Vec<HeaderValue> = resp_headers
            .get_all(&name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| HeaderValue::from_str(&links.rewrite_str(v)).ok())
            .collect();
        if !rewritten.is_empty() {
            resp_headers.remove(&name);
            for v in rewritten {
                resp_headers.append(name.clone(), v);
            }
        }
    }
    let text_body = LinkRewriter::applies_to(
        resp_headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    ) && resp_headers
        .get(header::CONTENT_ENCODING)
        .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"identity"));
    // A HEAD answer has no body, though Jira's headers describe one: it keeps the streamed
    // form, whose length hyper does not state, rather than a buffered empty body that would be
    // announced as `Content-Length: 0`.
    let body = if !text_body && !is_head {
        // Passed through as Jira's own body: its exact length stays known, so the answer
        // carries `Content-Length` rather than being re-chunked.
        Body::new(axum::http::Response::<reqwest::Body>::from(upstream).into_body())
    } else if !is_head
        && upstream
            .content_length()
            .is_some_and(|n| n <= BUFFERED_REWRITE_LIMIT)
    {
        // A text answer of known, modest size (every usual JSON answer) is read whole and
        // rewritten in one pass: one buffer, sent with its length, instead of a chunked stream.
        // Broken off mid-body, it is the transport failure it would have been before the
        // headers, and answered the same way (503 `upstream_unavailable`, `Retry-After`).
        let whole = upstream.bytes().await.map_err(|_| {
            EngineError::UpstreamUnavailable(format!(
                "Jira's answer on connection `{}` broke off before its end; retry",
                conn.id
            ))
        })?;
        Body::from(links.rewrite_bytes(whole))
    } else {
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        Body::from_stream(links.stream(stream))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = resp_headers;
    resp.headers_mut().insert(
        HeaderName::from_static("x-jiragate-connector"),
        HeaderValue::from_str(conn.id.as_ref()).unwrap_or(HeaderValue::from_static("")),
    );
    resp.extensions_mut().insert(Proxied);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_auth_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer jg_secret"),
        );
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-custom-hop"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-organization-id", HeaderValue::from_static("org"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        h.insert("x-atlassian-token", HeaderValue::from_static("no-check"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("forwarded", HeaderValue::from_static("for=10.0.0.1"));
        h.insert("x-original-url", HeaderValue::from_static("/admin"));
        h.insert("x-real-ip", HeaderValue::from_static("10.0.0.1"));
        let out = filter_headers_by(&h, |n| request_dropped().any(|d| d == n));
        let names: Vec<_> = out.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(names, vec!["accept", "x-atlassian-token"]);
    }

    #[test]
    fn jira_path_keeps_its_encoding() {
        assert_eq!(
            raw_jira_path("/api/v1/integrations/connectors/abc/proxy/rest/api/3/issue/A%2F1"),
            Some("rest/api/3/issue/A%2F1")
        );
        assert_eq!(
            raw_jira_path("/api/v1/integrations/connectors/abc/describe"),
            None
        );
    }

    #[test]
    fn one_encoded_segment_is_decoded_once() {
        let ok = |raw: &str| jira_path(raw).unwrap().into_owned();
        assert_eq!(ok("rest/api/3/issue/A%2F1"), "rest/api/3/issue/A%2F1");
        assert_eq!(ok("rest%2Fapi%2F3%2Fmyself"), "rest/api/3/myself");
        assert_eq!(
            ok("rest%2fapi%2f3%2fproject%2FA%2520B"),
            "rest/api/3/project/A%20B"
        );
        // Once only: a second layer stays encoded for `upstream_url` to refuse.
        assert_eq!(ok("rest%2F%252e%252e%2Fx"), "rest/%2e%2e/x");
        assert_eq!(ok("%2F%2Fevil%2Fx"), "//evil/x");
        assert_eq!(ok("%2e%2e"), "%2e%2e");
        for bad in [
            "rest%2Fapi%2F3%2Fmyself%3Fx%3D1",
            "rest%2Fx%23y",
            "rest%2F%c0%ae",
        ] {
            assert!(jira_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limit_headers_pass_back() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert(
            "set-cookie",
            HeaderValue::from_static("atlassian.xsrf.token=abc"),
        );
        let out = filter_headers(&h, RESPONSE_DROPPED);
        assert!(out.contains_key("retry-after") && out.contains_key("x-ratelimit-remaining"));
        assert!(!out.contains_key("set-cookie"));
    }
}
