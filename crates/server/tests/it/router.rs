//! In-process router tests (`tower::ServiceExt::oneshot`, no socket) and the OpenAPI snapshot.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jiragate_server::{App, RateLimitConfig};
use serde_json::Value;
use tower::ServiceExt;

use crate::common::{Client, Db, Env, base_config};

async fn app_for(
    tweak: impl FnOnce(&mut jiragate_server::ServerConfig),
) -> (App, atlassian_sim::SimHandle, tempfile::TempDir) {
    let sim = atlassian_sim::Simulator::start(atlassian_sim::SimConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = base_config(&sim, dir.path());
    tweak(&mut cfg);
    let app = App::build(cfg).await.unwrap();
    (app, sim, dir)
}

fn admin_key(app: &App) -> String {
    std::fs::read_to_string(
        app.bootstrap
            .admin_key_path
            .as_ref()
            .expect("admin key written"),
    )
    .unwrap()
    .trim()
    .to_owned()
}

async fn call(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn problems_in_process() {
    let (app, _sim, _dir) = app_for(|_| {}).await;
    let key = admin_key(&app);
    // no key
    let (s, h, v) = call(
        &app,
        Request::get("/api/v1/integrations/connectors")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(v["type"], "https://jiragate.dev/problems/unauthorized");
    // bad body
    let (s, h, v) = call(
        &app,
        Request::post("/api/v1/integrations/connectors")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"name": 5}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(v["type"], "https://jiragate.dev/problems/validation");
    assert_eq!(v["field"], "name", "{v}");
    // wrong content type
    let (s, _, v) = call(
        &app,
        Request::post("/api/v1/integrations/connectors")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "text/plain")
            .body(Body::from("hi"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        v["type"],
        "https://jiragate.dev/problems/unsupported_media_type"
    );
    // unknown connector id
    let (s, _, v) = call(
        &app,
        Request::get("/api/v1/integrations/connectors/0190aaaa-0000-7000-8000-000000000000")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["type"], "https://jiragate.dev/problems/not_found");
}

#[tokio::test]
async fn body_limit_is_a_problem() {
    let (app, _sim, _dir) = app_for(|c| c.body_limit = 1024).await;
    let key = admin_key(&app);
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    let (s, h, v) = call(
        &app,
        Request::post("/api/v1/integrations/connectors")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("content-length", big.len())
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["type"], "https://jiragate.dev/problems/payload_too_large");
    // The unread rest of the upload is dropped with the connection: a client that keeps
    // sending must see this answer, not a broken pipe.
    assert_eq!(
        h.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
}

#[tokio::test]
async fn per_key_rate_limit() {
    let (app, _sim, _dir) = app_for(|c| {
        c.rate_limit_per_key = Some(RateLimitConfig {
            per_second: 0.5,
            burst: 3,
        })
    })
    .await;
    let key = admin_key(&app);
    let req = || {
        Request::get("/api/v1/workspaces")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(call(&app, req()).await.0, StatusCode::OK);
    }
    let (s, h, v) = call(&app, req()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["type"], "https://jiragate.dev/problems/rate_limited");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // unauthenticated routes are not limited per key
    let (s, _, _) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let (app, _sim, _dir) = app_for(|_| {}).await;
    let pre = || {
        Request::options("/api/v1/workspaces")
            .header("origin", "https://console.example")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap()
    };
    let (_, h, _) = call(&app, pre()).await;
    assert!(h.get("access-control-allow-origin").is_none());
    let (app2, _sim2, _dir2) =
        app_for(|c| c.cors_origins = vec!["https://console.example".into()]).await;
    let (_, h, _) = call(&app2, pre()).await;
    assert_eq!(h["access-control-allow-origin"], "https://console.example");
}

#[tokio::test]
async fn openapi_snapshot() {
    let mut doc = serde_json::to_value(jiragate_server::openapi::document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // the crate version changes with releases, the API does not
    doc["info"]["version"] = serde_json::json!("[version]");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_json_snapshot!("openapi", doc);
    });
}

/// Every route of the router is in the OpenAPI document (and the other way round).
#[tokio::test]
async fn openapi_covers_the_router() {
    let doc = serde_json::to_value(jiragate_server::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/integrations/connectors",
        "/api/v1/integrations/connectors/{id}",
        "/api/v1/integrations/connectors/{id}/describe",
        "/api/v1/integrations/connectors/{id}/execute",
        "/api/v1/integrations/connectors/{id}/check",
        "/api/v1/integrations/connectors/{id}/proxy/{path}",
        "/api/v1/oauth/clients",
        "/api/v1/oauth/clients/{id}",
        "/api/v1/connect/sessions",
        "/api/v1/connect/sessions/{id}",
        "/api/v1/connect/sessions/{id}/site",
        "/oauth/callback",
        "/oauth/callback/site",
        "/api/v1/credentials/token",
        "/api/v1/organizations",
        "/api/v1/workspaces",
        "/api/v1/keys",
        "/api/v1/keys/{id}",
        "/hooks/jira/{id}",
        "/api/v1/integrations/connectors/{id}/webhooks/subscriptions",
        "/api/v1/integrations/connectors/{id}/webhooks/subscriptions/{sub}",
        "/api/v1/integrations/connectors/{id}/webhooks/events",
        "/api/v1/integrations/connectors/{id}/webhooks/deliveries",
        "/api/v1/integrations/connectors/{id}/webhooks/deliveries/{delivery}/replay",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    // no operation documents a secret as readable
    let text = doc.to_string();
    assert!(text.contains("writeOnly"));
}

/// Graceful shutdown: a request in flight when shutdown starts still gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let sim_cfg = atlassian_sim::SimConfig {
            faults: atlassian_sim::Faults {
                latency: Duration::from_millis(700),
                ..Default::default()
            },
            ..Default::default()
        };
        let env = Env::start_with(Db::Sqlite, sim_cfg, |_| {}).await;
        let id = env.seed_connector("slow").await;
        let client = Client::default();
        let url = env.url(&format!(
            "/api/v1/integrations/connectors/{id}/proxy/rest/api/3/myself"
        ));
        let key = env.key().to_owned();
        let inflight = tokio::spawn(async move { client.get(&url, Some(&key)).await.status });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Env { server, .. } = env;
        let stopped = tokio::spawn(server.stop());
        assert_eq!(inflight.await.unwrap(), StatusCode::OK);
        stopped.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}
