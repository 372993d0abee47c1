//! Webhooks end to end: registration through the HTTP API, a loopback receiver that checks
//! signatures itself (HMAC-SHA256 with `hmac`/`sha2`, no JWT crate), and the events issue
//! changes cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

type Inbox = Arc<parking_lot::Mutex<Vec<Received>>>;

#[derive(Clone)]
struct Receiver {
    url: String,
    got: Inbox,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Inbox = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let app = Router::new()
            .fallback(
                |State((got, status)): State<(Inbox, Arc<AtomicU16>)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    got.lock().push(Received { headers, body });
                    StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
                },
            )
            .with_state((got.clone(), status.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hooks/jira?tenant=t1"),
            got,
            status,
        }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    /// Waits until `pred` holds for the received list (up to 10 s).
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..200 {
            let all = self.all();
            if pred(&all) {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events: Vec<Value> = self
            .all()
            .iter()
            .map(|r| json!([r.json()["webhookEvent"], r.json()["issue"]["key"]]))
            .collect();
        panic!("timed out waiting for {what}; received {events:?}");
    }

    fn events_for(&self, event: &str, key: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| {
                let j = r.json();
                j["webhookEvent"] == event && j["issue"]["key"] == key
            })
            .collect()
    }
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64url_json(part: &str) -> Value {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&raw).expect("JSON")
}

/// Checks `Authorization: Bearer <JWT>` of a dynamic delivery the way a receiver would;
/// returns the claims.
fn verify_jwt(r: &Received, secret: &str, url: &str) -> Value {
    let auth = r.header("authorization").expect("Authorization header");
    let token = auth.strip_prefix("Bearer ").expect("Bearer scheme");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT has three parts");
    let header = b64url_json(parts[0]);
    assert_eq!(header["alg"], "HS256");
    let expected = hmac256(
        secret.as_bytes(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
    );
    let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("signature");
    assert_eq!(given, expected, "JWT signature with the client secret");
    let claims = b64url_json(parts[1]);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat, "{claims}");
    // qsh: SHA-256 of the canonical request POST&<path>&<sorted query>.
    let u = url::Url::parse(url).unwrap();
    let mut q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    q.sort();
    let query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical = format!("POST&{}&{}", u.path(), query.join("&"));
    assert_eq!(
        claims["qsh"],
        hex(&Sha256::digest(canonical.as_bytes())),
        "{claims}"
    );
    claims
}

const APP_SCOPES: &str = "read:jira-work write:jira-work manage:jira-webhook";

async fn app_token(sim: &SimHandle) -> String {
    s(&oauth_tokens(sim, APP_SCOPES).await["access_token"])
}

async fn app_call(
    sim: &SimHandle,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gateway_req(sim, 0, method, path, token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    json_of(req.send().await.expect("send")).await
}

async fn register(sim: &SimHandle, token: &str, url: &str, webhooks: Value) -> Value {
    let (st, body) = app_call(
        sim,
        token,
        Method::POST,
        "/rest/api/3/webhook",
        Some(json!({"url": url, "webhooks": webhooks})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    body
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

async fn create_issue(sim: &SimHandle, token: &str, project: &str, summary: &str) -> String {
    let (st, body) = app_call(
        sim,
        token,
        Method::POST,
        "/rest/api/3/issue",
        Some(json!({"fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary}})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    s(&body["key"])
}

async fn quick_sim(extra: SimConfig) -> SimHandle {
    sim_with(SimConfig {
        issues_per_site: 8,
        webhook_retry_backoff: Duration::from_millis(10),
        ..extra
    })
    .await
}

#[tokio::test]
async fn dynamic_webhooks_deliver_signed_issue_and_comment_events() {
    let sim = quick_sim(SimConfig::default()).await;
    let rx = Receiver::start().await;
    let token = app_token(&sim).await;
    let app = sim.oauth_clients[0].clone();
    let reg = register(
        &sim,
        &token,
        &rx.url,
        json!([
            {"events": ["jira:issue_created", "jira:issue_updated", "comment_created"], "jqlFilter": "project = ENG"},
            {"events": ["jira:issue_updated"], "jqlFilter": "project in (ENG, OPS)", "fieldIdsFilter": ["status"]},
            {"events": ["jira:issue_created"], "jqlFilter": "summary ~ nope"},
        ]),
    )
    .await;
    let results = reg["webhookRegistrationResult"].as_array().unwrap();
    let (all_events, status_only) = (
        results[0]["createdWebhookId"].as_i64().expect("created"),
        results[1]["createdWebhookId"].as_i64().expect("created"),
    );
    assert_eq!(
        results[2]["errors"],
        json!(["The clause summary is unsupported"])
    );

    // Listed with a 30-day expiry (ms since the epoch).
    let (st, page) = app_call(&sim, &token, Method::GET, "/rest/api/3/webhook", None).await;
    assert_eq!(st, 200);
    assert_eq!(page["total"], 2);
    let exp = page["values"][0]["expirationDate"].as_i64().unwrap();
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    assert!((exp - now_ms - 30 * 86_400_000).abs() < 120_000, "{page}");
    assert_eq!(page["values"][0]["url"], rx.url.as_str());

    // Created in ENG: one delivery for the matching webhook.
    let key = create_issue(&sim, &token, "ENG", "hooked").await;
    let got = rx
        .wait_for("issue_created", |_| {
            !rx.events_for("jira:issue_created", &key).is_empty()
        })
        .await;
    let created = rx.events_for("jira:issue_created", &key);
    assert_eq!(created.len(), 1, "{got:?}");
    let ev = created[0].json();
    assert_eq!(ev["matchedWebhookIds"], json!([all_events]));
    assert_eq!(ev["issue_event_type_name"], "issue_created");
    assert_eq!(ev["issue"]["fields"]["summary"], "hooked");
    assert_eq!(ev["user"]["accountId"], sim.users[0].account_id.as_str());
    assert!(ev["timestamp"].is_i64());
    assert!(
        created[0]
            .header("x-atlassian-webhook-identifier")
            .is_some()
    );
    assert!(created[0].header("x-atlassian-webhook-retry").is_none());
    let claims = verify_jwt(&created[0], &app.client_secret, &rx.url);
    assert_eq!(claims["aud"], app.client_id.as_str());
    assert_eq!(claims["iss"], sim.sites[0].cloud_id.as_str());

    // A summary edit: the status-only webhook is not matched.
    let (st, _) = app_call(
        &sim,
        &token,
        Method::PUT,
        &format!("/rest/api/3/issue/{key}"),
        Some(json!({"fields": {"summary": "renamed"}})),
    )
    .await;
    assert_eq!(st, 204);
    rx.wait_for("summary update", |_| {
        !rx.events_for("jira:issue_updated", &key).is_empty()
    })
    .await;
    let upd = rx.events_for("jira:issue_updated", &key)[0].json();
    assert_eq!(upd["matchedWebhookIds"], json!([all_events]));
    let item = &upd["changelog"]["items"][0];
    assert_eq!(
        (item["field"].as_str(), item["toString"].as_str()),
        (Some("summary"), Some("renamed"))
    );
    verify_jwt(
        &rx.events_for("jira:issue_updated", &key)[0],
        &app.client_secret,
        &rx.url,
    );

    // A transition: both webhooks match, one delivery to the app's URL names both.
    let (_, tr) = app_call(
        &sim,
        &token,
        Method::GET,
        &format!("/rest/api/3/issue/{key}/transitions"),
        None,
    )
    .await;
    let tid = s(&tr["transitions"][0]["id"]);
    let (st, _) = app_call(
        &sim,
        &token,
        Method::POST,
        &format!("/rest/api/3/issue/{key}/transitions"),
        Some(json!({"transition": {"id": tid}})),
    )
    .await;
    assert_eq!(st, 204);
    rx.wait_for("transition update", |_| {
        rx.events_for("jira:issue_updated", &key).len() >= 2
    })
    .await;
    let t = rx.events_for("jira:issue_updated", &key)[1].json();
    assert_eq!(t["changelog"]["items"][0]["field"], "status");
    let mut ids: Vec<i64> = t["matchedWebhookIds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![all_events, status_only]);

    // A comment: comment_created with the comment and a reduced issue.
    let (st, c) = app_call(
        &sim,
        &token,
        Method::POST,
        &format!("/rest/api/3/issue/{key}/comment"),
        Some(json!({"body": adf("hello hooks")})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    rx.wait_for("comment_created", |_| {
        !rx.events_for("comment_created", &key).is_empty()
    })
    .await;
    let cc = rx.events_for("comment_created", &key)[0].json();
    assert_eq!(cc["comment"]["id"], c["id"]);
    assert_eq!(cc["issue"]["key"], key.as_str());
    assert!(cc["issue"]["fields"]["summary"].is_string());

    // An issue outside the filter raises nothing.
    let other = create_issue(&sim, &token, "OPS", "not hooked").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.events_for("jira:issue_created", &other).is_empty());

    // The simulator's delivery log lists what it sent.
    let (st, log) = json_of(
        client()
            .get(format!("{}/__sim/webhooks/deliveries", sim.api_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let deliveries = log["deliveries"].as_array().unwrap();
    assert!(deliveries.len() >= 4, "{log}");
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == 200 && d["attempt"] == 0 && d["kind"] == "dynamic")
    );

    // Deleted webhooks stop.
    let (st, _) = app_call(
        &sim,
        &token,
        Method::DELETE,
        "/rest/api/3/webhook",
        Some(json!({"webhookIds": [all_events, status_only]})),
    )
    .await;
    assert_eq!(st, 202);
    let quiet = create_issue(&sim, &token, "ENG", "after delete").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.events_for("jira:issue_created", &quiet).is_empty());
}

#[tokio::test]
async fn admin_webhooks_sign_with_hub_signature() {
    let sim = quick_sim(SimConfig::default()).await;
    let rx = Receiver::start().await;
    let (st, hook) = send(
        &sim,
        Method::POST,
        "/rest/webhooks/1.0/webhook",
        json!({"name": "ops hook", "url": rx.url, "events": ["jira:issue_created", "comment_created"],
               "filters": {"issue-related-events-section": "project = OPS"}, "excludeBody": false,
               "secret": "s3cr3t-value"}),
    )
    .await;
    assert_eq!(st, 201, "{hook}");
    assert!(hook.get("secret").is_none(), "the secret is not echoed");
    let plain_url = format!("{}&plain=1", rx.url);
    let (st, plain) = send(
        &sim,
        Method::POST,
        "/rest/webhooks/1.0/webhook",
        json!({"name": "no secret", "url": plain_url, "events": ["jira:issue_created"]}),
    )
    .await;
    assert_eq!(st, 201, "{plain}");
    let (st, list) = get(&sim, "/rest/webhooks/1.0/webhook").await;
    assert_eq!((st, list.as_array().map(Vec::len)), (200, Some(2)));
    let id = hook["self"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (st, one) = get(&sim, &format!("/rest/webhooks/1.0/webhook/{id}")).await;
    assert_eq!((st, one["name"].as_str()), (200, Some("ops hook")));

    // Admin webhooks need the site's Basic auth.
    let (st, _) = json_of(
        client()
            .get(format!(
                "{}/rest/webhooks/1.0/webhook",
                sim.site_url("acme")
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 401);

    let (st, created) = send(
        &sim,
        Method::POST,
        "/rest/api/3/issue",
        json!({"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "admin hooked"}}),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    let key = s(&created["key"]);
    rx.wait_for("two admin deliveries", |_| {
        rx.events_for("jira:issue_created", &key).len() >= 2
    })
    .await;
    for r in rx.events_for("jira:issue_created", &key) {
        assert!(r.json().get("matchedWebhookIds").is_none());
        assert!(r.header("authorization").is_none());
        // The webhook without a secret sends no signature.
        if let Some(sig) = r.header("x-hub-signature") {
            assert_eq!(
                sig,
                format!("sha256={}", hex(&hmac256(b"s3cr3t-value", &r.body)))
            );
        }
    }
    let signed = rx
        .events_for("jira:issue_created", &key)
        .iter()
        .filter(|r| r.header("x-hub-signature").is_some())
        .count();
    assert_eq!(signed, 1);

    // Filtered by JQL: an ENG issue only reaches the unfiltered webhook.
    let (_, eng) = send(
        &sim,
        Method::POST,
        "/rest/api/3/issue",
        json!({"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "eng"}}),
    )
    .await;
    let eng = s(&eng["key"]);
    rx.wait_for("unfiltered delivery", |_| {
        !rx.events_for("jira:issue_created", &eng).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = rx.events_for("jira:issue_created", &eng);
    assert_eq!(e.len(), 1);
    assert!(e[0].header("x-hub-signature").is_none());

    let (st, _) = send(
        &sim,
        Method::DELETE,
        &format!("/rest/webhooks/1.0/webhook/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = get(&sim, &format!("/rest/webhooks/1.0/webhook/{id}")).await;
    assert_eq!(st, 404);
}

/// Admin webhooks need the *Administer Jira* global permission: the first seeded user (the
/// site administrator) may manage them, another user with a valid API token gets 403 and
/// registers nothing.
#[tokio::test]
async fn admin_webhooks_need_a_jira_administrator() {
    let sim = quick_sim(SimConfig::default()).await;
    assert!(sim.users[0].site_admin);
    let other = sim
        .users
        .iter()
        .find(|u| !u.site_admin)
        .expect("a non-admin user");
    let site = sim.site_url(&sim.sites[0].subdomain);
    let body =
        json!({"name": "h", "url": "http://127.0.0.1:9/h", "events": ["jira:issue_created"]});
    for (method, path) in [
        (Method::POST, "/rest/webhooks/1.0/webhook"),
        (Method::GET, "/rest/webhooks/1.0/webhook"),
        (Method::DELETE, "/rest/webhooks/1.0/webhook/1"),
    ] {
        let (st, err) = json_of(
            client()
                .request(method.clone(), format!("{site}{path}"))
                .header("Authorization", basic_of(&other.email, &other.api_token))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 403, "{method} {path}: {err}");
        assert!(
            err["errorMessages"][0]
                .as_str()
                .unwrap()
                .contains("Administer Jira")
        );
    }
    let (st, list) = get(&sim, "/rest/webhooks/1.0/webhook").await;
    assert_eq!((st, list.as_array().map(Vec::len)), (200, Some(0)));
}

#[tokio::test]
async fn dynamic_webhooks_expire_after_thirty_days_unless_refreshed() {
    let sim = quick_sim(SimConfig {
        access_token_ttl: Duration::from_secs(200 * 86_400),
        ..SimConfig::default()
    })
    .await;
    let rx = Receiver::start().await;
    let token = app_token(&sim).await;
    let reg = register(
        &sim,
        &token,
        &rx.url,
        json!([{"events": ["jira:issue_created"], "jqlFilter": "project = ENG"}]),
    )
    .await;
    let id = reg["webhookRegistrationResult"][0]["createdWebhookId"]
        .as_i64()
        .unwrap();
    let day = 86_400;

    // Day 29: refresh pushes the expiry 30 days past now.
    sim.advance_clock(29 * day);
    let (st, r) = app_call(
        &sim,
        &token,
        Method::PUT,
        "/rest/api/3/webhook/refresh",
        Some(json!({"webhookIds": [id, 999_999]})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let (_, page) = app_call(&sim, &token, Method::GET, "/rest/api/3/webhook", None).await;
    assert_eq!(page["values"][0]["expirationDate"], r["expirationDate"]);

    // Day 58: still alive thanks to the refresh.
    sim.advance_clock(29 * day);
    let alive = create_issue(&sim, &token, "ENG", "day 58").await;
    rx.wait_for("delivery on day 58", |_| {
        !rx.events_for("jira:issue_created", &alive).is_empty()
    })
    .await;

    // Day 89: expired; no delivery, not listed, refresh ignores it.
    sim.advance_clock(31 * day);
    let dead = create_issue(&sim, &token, "ENG", "day 89").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.events_for("jira:issue_created", &dead).is_empty());
    let (_, page) = app_call(&sim, &token, Method::GET, "/rest/api/3/webhook", None).await;
    assert_eq!(page["total"], 0, "{page}");
}

#[tokio::test]
async fn failing_receivers_get_retries_then_the_delivery_is_listed_as_failed() {
    let sim = quick_sim(SimConfig {
        webhook_max_retries: 2,
        ..SimConfig::default()
    })
    .await;
    let rx = Receiver::start().await;
    rx.status.store(500, Ordering::SeqCst);
    let token = app_token(&sim).await;
    register(
        &sim,
        &token,
        &rx.url,
        json!([{"events": ["jira:issue_created"], "jqlFilter": "project = ENG"}]),
    )
    .await;
    let key = create_issue(&sim, &token, "ENG", "will fail").await;
    rx.wait_for("three attempts", |_| {
        rx.events_for("jira:issue_created", &key).len() >= 3
    })
    .await;
    let attempts = rx.events_for("jira:issue_created", &key);
    assert_eq!(attempts.len(), 3);
    let ident = attempts[0]
        .header("x-atlassian-webhook-identifier")
        .unwrap();
    for (n, a) in attempts.iter().enumerate() {
        assert_eq!(
            a.header("x-atlassian-webhook-identifier").as_deref(),
            Some(ident.as_str())
        );
        let retry = a.header("x-atlassian-webhook-retry");
        assert_eq!(retry, (n > 0).then(|| n.to_string()), "attempt {n}");
        verify_jwt(a, &sim.oauth_clients[0].client_secret, &rx.url);
    }
    let mut failed = Value::Null;
    for _ in 0..100 {
        let (st, f) = app_call(
            &sim,
            &token,
            Method::GET,
            "/rest/api/3/webhook/failed",
            None,
        )
        .await;
        assert_eq!(st, 200);
        if f["values"].as_array().is_some_and(|v| !v.is_empty()) {
            failed = f;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = &failed["values"][0];
    assert_eq!(v["id"], ident.as_str(), "{failed}");
    assert_eq!(v["url"], rx.url.as_str());
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["issue"]["key"], key.as_str());
    // The cursor moves past it.
    let next = failed["next"].as_str().unwrap();
    let after = query_param(next, "failedAfter").unwrap();
    let (_, later) = app_call(
        &sim,
        &token,
        Method::GET,
        &format!("/rest/api/3/webhook/failed?after={after}"),
        None,
    )
    .await;
    assert_eq!(later["values"], json!([]));

    let log = sim.webhook_deliveries();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| d.status == Some(500) && d.id == ident));
    assert_eq!(
        log.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[tokio::test]
async fn the_duplicate_knob_delivers_events_twice_with_one_identifier() {
    let sim = quick_sim(SimConfig::default()).await;
    let rx = Receiver::start().await;
    let (st, _) = json_of(
        client()
            .post(format!("{}/__sim/webhooks/duplicate-rate", sim.api_url))
            .json(&json!({"rate": 1.0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let token = app_token(&sim).await;
    register(
        &sim,
        &token,
        &rx.url,
        json!([{"events": ["jira:issue_created"], "jqlFilter": "project = ENG"}]),
    )
    .await;
    let key = create_issue(&sim, &token, "ENG", "twice").await;
    rx.wait_for("two copies", |_| {
        rx.events_for("jira:issue_created", &key).len() >= 2
    })
    .await;
    let copies = rx.events_for("jira:issue_created", &key);
    assert_eq!(copies.len(), 2);
    assert_eq!(
        copies[0].header("x-atlassian-webhook-identifier"),
        copies[1].header("x-atlassian-webhook-identifier")
    );
    assert_eq!(copies[0].body, copies[1].body);
    let log = sim.webhook_deliveries();
    assert_eq!(log.iter().filter(|d| d.duplicate).count(), 1);
}

#[tokio::test]
async fn webhook_operations_need_an_app_with_the_webhook_scope() {
    let sim = quick_sim(SimConfig::default()).await;
    let body = json!({"url": "http://127.0.0.1:9/h", "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": "project = ENG"}]});
    // Missing manage:jira-webhook: the gateway's scope refusal.
    let read_only = s(&oauth_tokens(&sim, "read:jira-work").await["access_token"]);
    let (st, err) = app_call(
        &sim,
        &read_only,
        Method::POST,
        "/rest/api/3/webhook",
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(err["message"], "Unauthorized; scope does not match");
    // Not an app: API-token callers are refused.
    let (st, err) = send(&sim, Method::POST, "/rest/api/3/webhook", body.clone()).await;
    assert_eq!(st, 403, "{err}");
    assert_eq!(
        err["errorMessages"][0],
        "Only Connect and OAuth 2.0 apps can use this operation."
    );
    let (st, _) = get(&sim, "/rest/api/3/webhook").await;
    assert_eq!(st, 403);

    // One URL per app and site.
    let token = app_token(&sim).await;
    register(
        &sim,
        &token,
        "http://127.0.0.1:9/h",
        body["webhooks"].clone(),
    )
    .await;
    let r = register(
        &sim,
        &token,
        "http://127.0.0.1:9/other",
        body["webhooks"].clone(),
    )
    .await;
    assert_eq!(
        r["webhookRegistrationResult"][0]["errors"][0],
        "Only a single URL per app is allowed to be registered."
    );
    // Missing webhookIds.
    let (st, _) = app_call(
        &sim,
        &token,
        Method::DELETE,
        "/rest/api/3/webhook",
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 400);
}
