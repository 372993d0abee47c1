//! Pagination streams over every page style, lazily, against a paging test server.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use jiragate_jira::{JiraClient, JiraRequest, PageStyle, StaticTokenSource, TokenSource};
use serde_json::{Value, json};

use crate::support::*;

const TOTAL: u64 = 25;
const PAGE: u64 = 7;

fn num(q: &HashMap<String, String>, k: &str) -> u64 {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn items(start: u64, count: u64) -> Vec<Value> {
    (start..(start + count).min(TOTAL))
        .map(|i| json!({"id": i}))
        .collect()
}

fn token_page(token: Option<&str>) -> Value {
    let start: u64 = token
        .and_then(|t| t.strip_prefix('p'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let issues = items(start, PAGE);
    let next = start + issues.len() as u64;
    if next < TOTAL {
        json!({"issues": issues, "nextPageToken": format!("p{next}")})
    } else {
        json!({"issues": issues})
    }
}

fn paging_server() -> Router {
    Router::new()
        .route(
            "/offset",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let start = num(&q, "startAt");
                let values = items(start, PAGE);
                let is_last = start + values.len() as u64 >= TOTAL;
                Json(json!({"startAt": start, "maxResults": PAGE, "total": TOTAL, "isLast": is_last, "values": values}))
            }),
        )
        .route(
            "/total-only",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let start = num(&q, "startAt");
                Json(json!({"startAt": start, "maxResults": PAGE, "total": TOTAL, "issues": items(start, PAGE)}))
            }),
        )
        .route(
            "/until-empty",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let start = num(&q, "startAt");
                Json(json!({"startAt": start, "values": items(start, PAGE)}))
            }),
        )
        .route(
            "/jql",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Json(token_page(q.get("nextPageToken").map(String::as_str)))
            })
            .post(|Json(body): Json<Value>| async move {
                assert_eq!(body["jql"], "project = A", "the rest of the body is kept");
                Json(token_page(body.get("nextPageToken").and_then(Value::as_str)))
            }),
        )
        .route(
            "/sd",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let start = num(&q, "start");
                let values = items(start, PAGE);
                let size = values.len() as u64;
                Json(json!({"start": start, "limit": PAGE, "size": size, "isLastPage": start + size >= TOTAL, "values": values}))
            }),
        )
        .route("/array", get(|| async { Json(json!([{"id": 1}, {"id": 2}])) }))
        .route(
            "/stuck",
            get(|| async { Json(json!({"issues": [{"id": 0}], "nextPageToken": "same"})) }),
        )
        .route("/wrong-key", post(|| async { Json(json!({"things": []})) }))
}

async fn collect(
    client: &JiraClient,
    src: Arc<dyn TokenSource>,
    req: JiraRequest,
    style: PageStyle,
) -> Vec<u64> {
    let values: Vec<Value> = within(10, client.paginate(src, req, style).try_collect())
        .await
        .unwrap();
    values.iter().map(|v| v["id"].as_u64().unwrap()).collect()
}

fn all_ids() -> Vec<u64> {
    (0..TOTAL).collect()
}

#[tokio::test]
async fn every_style_yields_every_item_once() {
    let (base, log) = serve(paging_server()).await;
    let client = JiraClient::new(fast_config());
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(basic_target(&base)));
    let cases = [
        (
            JiraRequest::get("/offset"),
            PageStyle::Offset { items: "values" },
        ),
        (
            JiraRequest::get("/total-only"),
            PageStyle::Agile { items: "issues" },
        ),
        (
            JiraRequest::get("/until-empty"),
            PageStyle::Offset { items: "values" },
        ),
        (
            JiraRequest::get("/jql").query("jql", "project = A"),
            PageStyle::NextPageToken { items: "issues" },
        ),
        (
            JiraRequest::post("/jql", json!({"jql": "project = A", "maxResults": 7})),
            PageStyle::NextPageToken { items: "issues" },
        ),
        (JiraRequest::get("/sd"), PageStyle::ServiceDesk),
    ];
    for (req, style) in cases {
        let path = req.path.clone();
        let before = log.count();
        assert_eq!(
            collect(&client, src.clone(), req, style).await,
            all_ids(),
            "{path}"
        );
        let pages = log.count() - before;
        let expected = if path == "/until-empty" { 5 } else { 4 };
        assert_eq!(pages, expected, "{path}: pages fetched");
    }
    // The GET token travels in the query, the POST token in the body.
    let seen = log.all();
    assert!(seen.iter().any(|s| {
        s.path == "/jql"
            && s.query
                .as_deref()
                .is_some_and(|q| q.contains("nextPageToken=p7"))
    }));
    assert!(seen.iter().any(|s| s.method == "POST"
        && String::from_utf8_lossy(&s.body).contains("\"nextPageToken\":\"p7\"")));
}

#[tokio::test]
async fn pages_are_fetched_lazily() {
    let (base, log) = serve(paging_server()).await;
    let client = JiraClient::new(fast_config());
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(basic_target(&base)));
    let first: Vec<_> = within(
        10,
        client
            .paginate(
                src,
                JiraRequest::get("/offset"),
                PageStyle::Offset { items: "values" },
            )
            .take(3)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(first.len(), 3);
    assert_eq!(log.count(), 1, "only the first page was requested");
}

#[tokio::test]
async fn bare_arrays_are_one_page() {
    let (base, log) = serve(paging_server()).await;
    let client = JiraClient::new(fast_config());
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(basic_target(&base)));
    let ids = collect(
        &client,
        src,
        JiraRequest::get("/array"),
        PageStyle::Offset { items: "" },
    )
    .await;
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(log.count(), 1);
}

#[tokio::test]
async fn broken_servers_end_in_an_error_not_a_loop() {
    let (base, log) = serve(paging_server()).await;
    let client = JiraClient::new(fast_config());
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(basic_target(&base)));
    let results: Vec<_> = within(
        10,
        client
            .paginate(
                src.clone(),
                JiraRequest::get("/stuck"),
                PageStyle::NextPageToken { items: "issues" },
            )
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(results.len(), 3, "two pages of one item, then the error");
    assert_eq!(results[2].as_ref().unwrap_err().kind(), "invalid_response");
    assert_eq!(log.count(), 2);

    let err = within(
        10,
        client
            .paginate(
                src,
                JiraRequest::post("/wrong-key", json!({})),
                PageStyle::NextPageToken { items: "issues" },
            )
            .try_collect::<Vec<_>>(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("`issues`"), "{err}");
}
