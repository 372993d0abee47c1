//! send_raw: credential injection, header stripping, streaming, pass-through statuses.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use futures::StreamExt;
use jiragate_jira::{JiraClient, reqwest};

use crate::support::*;

fn echo_or_401() -> Router {
    Router::new().route(
        "/{*rest}",
        any(|headers: HeaderMap, body: axum::body::Bytes| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth == "Bearer expired" {
                return (StatusCode::UNAUTHORIZED, r#"{"message":"expired"}"#).into_response();
            }
            (
                StatusCode::CREATED,
                [("x-upstream", "yes"), ("x-arequestid", "r-1")],
                body,
            )
                .into_response()
        }),
    )
}

fn caller_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("authorization", "Bearer caller-api-key"),
        ("host", "jiragate.example"),
        ("connection", "keep-alive, x-hop"),
        ("keep-alive", "timeout=5"),
        ("x-hop", "1"),
        ("proxy-authorization", "Basic xyz"),
        ("te", "trailers"),
        ("upgrade", "websocket"),
        ("content-type", "application/json"),
        ("x-atlassian-token", "no-check"),
    ] {
        h.append(k, HeaderValue::from_static(v));
    }
    h
}

#[tokio::test]
async fn injects_credentials_and_strips_hop_by_hop_headers() {
    let (base, log) = serve(echo_or_401()).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(bearer_target(&base, "fresh"), None);
    let resp = within(
        10,
        client.send_raw(
            &src,
            http::Method::POST,
            "/rest/api/3/issue?updateHistory=true",
            caller_headers(),
            reqwest::Body::from(r#"{"fields":{}}"#),
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-upstream"], "yes");
    assert_eq!(resp.text().await.unwrap(), r#"{"fields":{}}"#);
    let seen = &log.all()[0];
    assert_eq!(seen.path, "/rest/api/3/issue");
    assert_eq!(seen.query.as_deref(), Some("updateHistory=true"));
    assert_eq!(seen.headers["authorization"], "Bearer fresh");
    assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);
    for gone in [
        "keep-alive",
        "x-hop",
        "proxy-authorization",
        "te",
        "upgrade",
    ] {
        assert!(seen.headers.get(gone).is_none(), "{gone} was forwarded");
    }
    assert_ne!(seen.headers["host"], "jiragate.example");
    assert_eq!(seen.headers["x-atlassian-token"], "no-check");
    assert_eq!(seen.headers["content-type"], "application/json");
}

#[tokio::test]
async fn streams_bodies_both_ways() {
    let (base, log) = serve(echo_or_401()).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(bearer_target(&base, "fresh"), None);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..64)
        .map(|i| Ok(vec![b'a' + (i % 26) as u8; 1024]))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = within(
        10,
        client.send_raw(&src, http::Method::PUT, "/upload", HeaderMap::new(), body),
    )
    .await
    .unwrap();
    let mut total = 0;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 64 * 1024);
    assert_eq!(log.all()[0].body.len(), 64 * 1024);
}

#[tokio::test]
async fn passes_error_statuses_through_unchanged() {
    let router = Router::new().route(
        "/{*rest}",
        any(|| async {
            (
                StatusCode::NOT_FOUND,
                [("x-arequestid", "r-404")],
                r#"{"errorMessages":["Issue does not exist"]}"#,
            )
        }),
    );
    let (base, _log) = serve(router).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(bearer_target(&base, "fresh"), None);
    let resp = client
        .send_raw(
            &src,
            http::Method::GET,
            "/rest/api/3/issue/X-1",
            HeaderMap::new(),
            reqwest::Body::from(""),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-arequestid"], "r-404");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"errorMessages":["Issue does not exist"]}"#
    );
}

#[tokio::test]
async fn refreshes_once_when_the_body_is_replayable() {
    let (base, log) = serve(echo_or_401()).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(
        bearer_target(&base, "expired"),
        Some(bearer_target(&base, "fresh")),
    );
    let resp = client
        .send_raw(
            &src,
            http::Method::POST,
            "/x",
            HeaderMap::new(),
            reqwest::Body::from("payload"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.text().await.unwrap(), "payload");
    assert_eq!(src.refresh_count(), 1);
    let seen = log.all();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, "payload");
}

#[tokio::test]
async fn does_not_refresh_a_streamed_body_and_passes_401_through() {
    let (base, log) = serve(echo_or_401()).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(
        bearer_target(&base, "expired"),
        Some(bearer_target(&base, "fresh")),
    );
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(b"once".to_vec())]);
    let resp = client
        .send_raw(
            &src,
            http::Method::POST,
            "/x",
            HeaderMap::new(),
            reqwest::Body::wrap_stream(stream),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), r#"{"message":"expired"}"#);
    assert_eq!(
        src.refresh_count(),
        0,
        "a consumed stream cannot be sent again"
    );
    assert_eq!(log.count(), 1);
}

#[tokio::test]
async fn final_401_after_refresh_is_passed_through_with_its_body() {
    let (base, log) = serve(echo_or_401()).await;
    let client = JiraClient::new(fast_config());
    let src = RefreshingSource::new(bearer_target(&base, "expired"), None);
    let resp = client
        .send_raw(
            &src,
            http::Method::GET,
            "/x",
            HeaderMap::new(),
            reqwest::Body::from(""),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), r#"{"message":"expired"}"#);
    assert_eq!(src.refresh_count(), 1);
    assert_eq!(log.count(), 1);
}
