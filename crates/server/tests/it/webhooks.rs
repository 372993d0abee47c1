//! Webhooks end to end, over real sockets: the simulator raises and signs Jira's deliveries,
//! jiragate verifies, stores and delivers them to a loopback subscriber (a small axum server
//! in this file) whose signatures are checked here with the `hmac` crate, independently of the
//! engine's code.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use atlassian_sim::{SimConfig, Simulator};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use jiragate_server::{App, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Client, Db, Env, PgDb, Server, base_config, fresh_master_key};

#[path = "webhooks_admin.rs"]
mod admin;
#[path = "webhooks_console.rs"]
mod console;
#[path = "webhooks_mcp.rs"]
mod mcp;

/// One request the subscriber received.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    attempt: String,
    body: String,
}

/// A loopback subscriber that answers 503 while `down`.
struct Subscriber {
    url: String,
    got: Arc<std::sync::Mutex<Vec<Got>>>,
    down: Arc<AtomicBool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn start() -> Subscriber {
        let got: Arc<std::sync::Mutex<Vec<Got>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let (g, d) = (got.clone(), down.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (g, d) = (g.clone(), d.clone());
                async move {
                    if d.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    g.lock().unwrap().push(Got {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        attempt: h("webhook-attempt"),
                        body,
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Subscriber {
            url,
            got,
            down,
            _task: task,
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

/// Standard Webhooks verification, written against the spec, not against our code.
fn signature_valid(secret: &str, g: &Got) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", g.id, g.timestamp, g.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    g.signature.split(' ').any(|s| s == expected)
}

fn fast_webhooks(cfg: &mut ServerConfig) {
    cfg.webhooks.allow_private_subscribers = true;
    cfg.webhooks.base_backoff = Duration::from_millis(100);
    cfg.webhooks.max_backoff = Duration::from_millis(400);
    cfg.webhooks.poll_interval = Duration::from_millis(100);
}

/// Registers the simulator's OAuth app with the webhook scope, then connects the first site.
async fn oauth_connection(env: &Env) -> String {
    let c = &env.sim.oauth_clients[0];
    let r = env
        .client
        .post(
            &env.url("/api/v1/oauth/clients"),
            Some(env.key()),
            &json!({"client_id": c.client_id, "client_secret": c.client_secret,
                    "scopes": ["read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    crate::oauth::connect_with_subdomain(env, "hooks", None).await
}

/// Keys of up to `n` issues of `project` on the first site.
async fn issue_keys(env: &Env, project: &str, n: usize) -> Vec<String> {
    let v = env
        .sim_get(&format!(
            "/rest/api/3/search/jql?jql=project%3D{project}&maxResults={n}&fields=summary"
        ))
        .await;
    v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["key"].as_str().expect("an issue key").to_owned())
        .collect()
}

/// An issue key of `project` on the first site.
async fn some_issue(env: &Env, project: &str) -> String {
    issue_keys(env, project, 1).await.remove(0)
}

/// Changes an issue's summary in the simulator (raises `jira:issue_updated`).
async fn edit_issue(env: &Env, key: &str, summary: &str) {
    let u = &env.sim.users[0];
    let url = format!(
        "{}/rest/api/3/issue/{key}",
        env.sim.site_url(&env.sim.sites[0].subdomain)
    );
    let r = env
        .client
        .http
        .put(url)
        .basic_auth(&u.email, Some(&u.api_token))
        .json(&json!({"fields": {"summary": summary}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "edit {key}: {}", r.status());
}

async fn subscribe(env: &Env, conn: &str, project: &str, url: &str) -> Value {
    let r = env
        .client
        .post(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{conn}/webhooks/subscriptions"
            )),
            Some(env.key()),
            &json!({"events": ["jira:issue_updated"], "jql_filter": format!("project = {project}"), "url": url}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()
}

async fn events(env: &Env, conn: &str) -> Vec<Value> {
    let r = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{conn}/webhooks/events?limit=500"
            )),
            Some(env.key()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["data"].as_array().cloned().unwrap_or_default()
}

async fn deliveries(env: &Env, conn: &str) -> Vec<Value> {
    let r = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{conn}/webhooks/deliveries?limit=500"
            )),
            Some(env.key()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["data"].as_array().cloned().unwrap_or_default()
}

/// Polls `f` every 100 ms until it holds (at most `secs`).
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 10 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// An OAuth connection subscribes; an issue update reaches the subscriber exactly once with a
/// valid signature; with the simulator sending every delivery twice, the copy is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_update_reaches_the_subscriber_once_signed() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let sub = Subscriber::start().await;
        let conn = oauth_connection(&env).await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let secret = created["signing_secret"].as_str().unwrap().to_owned();
        assert!(created["jira_webhook_id"].is_i64(), "{created}");
        let listed = env
            .client
            .get(
                &env.url(&format!(
                    "/api/v1/integrations/connectors/{conn}/webhooks/subscriptions"
                )),
                Some(env.key()),
            )
            .await;
        assert!(!listed.text.contains(&secret), "the secret is shown once");

        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "first change").await;
        eventually(30, "the first delivery", || async { sub.got().len() == 1 }).await;

        // Every delivery from Jira now arrives twice with one identifier.
        env.sim.set_webhook_duplicate_rate(1.0);
        edit_issue(&env, &issue, "second change").await;
        eventually(30, "both copies answered by jiragate", || async {
            env.sim
                .webhook_deliveries()
                .iter()
                .filter(|d| d.duplicate && d.status.is_some_and(|s| (200..300).contains(&s)))
                .count()
                == 1
        })
        .await;
        eventually(30, "the second delivery", || async { sub.got().len() >= 2 }).await;
        // Let a wrongly made second copy arrive, if there were one.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let got = sub.got();
        assert_eq!(got.len(), 2, "one delivery per change: {got:?}");
        for g in &got {
            assert!(signature_valid(&secret, g), "signature of {g:?}");
            assert!(!signature_valid(
                "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                g
            ));
            assert_eq!(g.attempt, "1");
            let body: Value = serde_json::from_str(&g.body).unwrap();
            assert_eq!(body["webhookEvent"], "jira:issue_updated");
            assert_eq!(body["issue"]["key"], issue.as_str());
        }
        assert_ne!(got[0].id, got[1].id);
        assert_eq!(
            events(&env, &conn).await.len(),
            2,
            "the duplicate was not stored"
        );
        let metrics = env.client.get(&env.url("/metrics"), None).await.text;
        assert!(
            metrics.contains("jiragate_webhooks_duplicates_total"),
            "{metrics}"
        );
        env.client
            .assert_never_seen(&[&env.sim.oauth_clients[0].client_secret]);
    })
    .await
    .expect("finished in time");
}

fn b64url(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An HS256 JWT made here with `hmac`, so each case can break exactly one thing.
fn jwt(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", b64url(header), b64url(claims));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn qsh(path: &str) -> String {
    hex(&Sha256::digest(format!("POST&{path}&").as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Unsigned, forged, stale, wrong-secret and otherwise wrong deliveries get 401 and store
/// nothing; a correctly signed one (the control) is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_stale_and_wrong_secret_deliveries_are_refused() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let conn = oauth_connection(&env).await;
        let cloud = env.client.get(&env.url(&format!("/api/v1/integrations/connectors/{conn}")), Some(env.key())).await.json();
        let cloud_id = cloud["cloud_id"].as_str().map(str::to_owned).unwrap_or_else(|| env.sim.sites[0].cloud_id.clone());
        let app = &env.sim.oauth_clients[0];
        let path = format!("/hooks/jira/{conn}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let hs = json!({"alg": "HS256", "typ": "JWT"});
        let claims = |iat: i64, exp: i64| {
            json!({"iss": cloud_id, "aud": app.client_id, "sub": "x", "iat": iat, "exp": exp, "qsh": qsh(&path)})
        };
        let good_key = app.client_secret.as_bytes();
        let body = json!({"timestamp": now * 1000, "webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": "X-1"}});
        let none = format!("{}.{}.", b64url(&json!({"alg": "none"})), b64url(&claims(now, now + 180)));
        let cases: Vec<(&str, Option<String>)> = vec![
            ("unsigned", None),
            ("forged signature", Some(jwt(&hs, &claims(now, now + 180), b"not the client secret"))),
            ("wrong secret (another app)", Some(jwt(&hs, &claims(now, now + 180), env.sim.oauth_clients.get(1).map(|c| c.client_secret.as_bytes()).unwrap_or(&b"other"[..])))),
            ("stale (expired an hour ago)", Some(jwt(&hs, &claims(now - 3780, now - 3600), good_key))),
            ("replayed-stale (issued a day ago, still unexpired)", Some(jwt(&hs, &claims(now - 86_400, now + 180), good_key))),
            ("issued in the future", Some(jwt(&hs, &claims(now + 3600, now + 3780), good_key))),
            ("alg none", Some(none)),
            ("wrong issuer", Some(jwt(&hs, &json!({"iss": "other-cloud", "aud": app.client_id, "iat": now, "exp": now + 180, "qsh": qsh(&path)}), good_key))),
            ("wrong audience", Some(jwt(&hs, &json!({"iss": cloud_id, "aud": "another-app", "iat": now, "exp": now + 180, "qsh": qsh(&path)}), good_key))),
            ("query hash of another URL", Some(jwt(&hs, &json!({"iss": cloud_id, "aud": app.client_id, "iat": now, "exp": now + 180, "qsh": qsh("/hooks/jira/other")}), good_key))),
            ("HS512", Some(jwt(&json!({"alg": "HS512", "typ": "JWT"}), &claims(now, now + 180), good_key))),
        ];
        for (i, (name, token)) in cases.iter().enumerate() {
            let mut headers = vec![("x-atlassian-webhook-identifier".to_owned(), format!("case-{i}"))];
            if let Some(t) = token {
                headers.push(("authorization".to_owned(), format!("Bearer {t}")));
            }
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = env.client.send(Method::POST, &env.url(&path), None, Some(&body), &hs).await;
            r.assert_problem(401, "unauthorized");
            assert!(!r.text.contains(&app.client_secret), "{name}");
        }
        // An admin-webhook signature on a connection that has no admin-webhook secret.
        let r = env.client.send(Method::POST, &env.url(&path), None, Some(&body),
            &[("x-atlassian-webhook-identifier", "hub"), ("x-hub-signature", "sha256=00")]).await;
        r.assert_problem(401, "unauthorized");
        // Unknown connection.
        let r = env.client.send(Method::POST, &env.url(&format!("/hooks/jira/{}", uuid::Uuid::new_v4())), None, Some(&body),
            &[("x-atlassian-webhook-identifier", "nobody")]).await;
        r.assert_problem(401, "unauthorized");
        assert!(events(&env, &conn).await.is_empty(), "nothing was stored");

        // The control: the same construction with every part right is accepted.
        let good = jwt(&hs, &claims(now, now + 180), good_key);
        let auth = format!("Bearer {good}");
        let r = env.client.send(Method::POST, &env.url(&path), None, Some(&body),
            &[("x-atlassian-webhook-identifier", "good"), ("authorization", &auth)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(events(&env, &conn).await.len(), 1);
        let metrics = env.client.get(&env.url("/metrics"), None).await.text;
        assert!(metrics.contains("jiragate_webhooks_rejected_total{reason=\"stale\"}"), "{metrics}");
        assert!(metrics.contains("jiragate_webhooks_rejected_total{reason=\"unsigned\"}"), "{metrics}");
    })
    .await
    .expect("finished in time");
}

/// The subscriber is down while three changes of one issue arrive; after it recovers it
/// receives all three, in the order jiragate received them, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_was_down_receives_everything_in_order() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let sub = Subscriber::start().await;
        let conn = oauth_connection(&env).await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let secret = created["signing_secret"].as_str().unwrap().to_owned();
        let issue = some_issue(&env, &project).await;
        sub.down.store(true, Ordering::SeqCst);
        for i in 0..3 {
            edit_issue(&env, &issue, &format!("change {i}")).await;
            // Each change reaches jiragate before the next is made.
            eventually(30, "the change stored", || async {
                events(&env, &conn).await.len() == i + 1
            })
            .await;
        }
        eventually(30, "retries while the subscriber is down", || async {
            deliveries(&env, &conn)
                .await
                .iter()
                .any(|d| d["attempts"].as_i64() >= Some(2))
        })
        .await;
        // In order: only the first change of the issue is attempted while it is pending.
        let ds = deliveries(&env, &conn).await;
        let attempted: Vec<i64> = ds
            .iter()
            .filter(|d| d["attempts"].as_i64() > Some(0))
            .map(|d| d["id"].as_i64().unwrap())
            .collect();
        let first = ds.iter().map(|d| d["id"].as_i64().unwrap()).min().unwrap();
        assert_eq!(
            attempted,
            vec![first],
            "later changes wait for the first: {ds:?}"
        );
        assert!(sub.got().is_empty());

        sub.down.store(false, Ordering::SeqCst);
        eventually(30, "all three delivered", || async { sub.got().len() >= 3 }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = sub.got();
        assert_eq!(got.len(), 3, "{got:?}");
        let mut stored = events(&env, &conn).await;
        stored.reverse(); // oldest first
        let expected: Vec<String> = stored
            .iter()
            .map(|e| format!("msg_{}", e["id"].as_str().unwrap()))
            .collect();
        let delivered: Vec<String> = got.iter().map(|g| g.id.clone()).collect();
        assert_eq!(delivered, expected, "in the order received");
        assert!(
            got[0].attempt.parse::<u32>().unwrap() >= 2,
            "the first was retried: {got:?}"
        );
        assert!(got.iter().all(|g| signature_valid(&secret, g)));
        assert!(
            deliveries(&env, &conn)
                .await
                .iter()
                .all(|d| d["status"] == "delivered")
        );
    })
    .await
    .expect("finished in time");
}

/// The proxy's view of the app's dynamic webhooks at the simulator.
async fn jira_webhooks(env: &Env, conn: &str) -> Vec<Value> {
    let r = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{conn}/proxy/rest/api/3/webhook"
            )),
            Some(env.key()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["values"].as_array().cloned().unwrap_or_default()
}

/// Advancing the simulator's clock by 29 days: the refresh job extends the registration, so
/// it is still there two days after its first expiry would have been.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_refreshed_before_it_expires() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), |c| {
            fast_webhooks(c);
            c.webhooks.refresh_interval = Duration::from_millis(300);
        })
        .await;
        let sub = Subscriber::start().await;
        let conn = oauth_connection(&env).await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let id = created["jira_webhook_id"].as_i64().unwrap();
        let hooks = jira_webhooks(&env, &conn).await;
        let first_expiry = hooks.iter().find(|h| h["id"] == id).unwrap()["expirationDate"]
            .as_i64()
            .unwrap();

        env.sim.advance_clock(29 * 86_400);
        eventually(30, "the registration refreshed after the jump", || async {
            jira_webhooks(&env, &conn).await.iter().any(|h| {
                h["id"] == id
                    && h["expirationDate"].as_i64().unwrap_or(0) > first_expiry + 28 * 86_400_000
            })
        })
        .await;
        env.sim.advance_clock(2 * 86_400);
        let hooks = jira_webhooks(&env, &conn).await;
        assert!(
            hooks.iter().any(|h| h["id"] == id),
            "still registered on day 31: {hooks:?}"
        );
    })
    .await
    .expect("finished in time");
}

/// Two instances on one PostgreSQL share the outbox: every event is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_each_event_once() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let pg = PgDb::create().await;
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let master = fresh_master_key();
        let mut cfg_a = base_config(&sim, dir_a.path());
        cfg_a.database_url = pg.url.clone();
        cfg_a.master_key = Some(master.clone());
        fast_webhooks(&mut cfg_a);
        let app_a = App::build(cfg_a).await.expect("instance A");
        let mut cfg_b = base_config(&sim, dir_b.path());
        cfg_b.database_url = pg.url.clone();
        cfg_b.master_key = Some(master);
        fast_webhooks(&mut cfg_b);
        let app_b = App::build(cfg_b).await.expect("instance B");
        // What each instance's MCP resource subscriptions hear.
        let heard_a = app_a.engine().webhook_event_notices();
        let heard_b = app_b.engine().webhook_event_notices();
        sim.add_redirect_uri(&format!("{}/oauth/callback", app_a.base_url()));
        let a = Server::spawn(app_a).await;
        let b = Server::spawn(app_b).await;
        let env = Env {
            sim,
            server: a,
            client: Client::default(),
            _pg: Some(pg),
            _dir: dir_a,
        };
        let sub = Subscriber::start().await;
        let conn = oauth_connection(&env).await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let secret = created["signing_secret"].as_str().unwrap().to_owned();
        // Several issues, several changes each: many deliveries due at once for both workers.
        let issues = issue_keys(&env, &project, 5).await;
        // B's notice listener connects in the background at start; a notice sent before it
        // listens is missed by design (notices are nudges to read again, not the events).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut n = 0;
        for round in 0..4 {
            for key in &issues {
                edit_issue(&env, key, &format!("round {round}")).await;
                n += 1;
            }
        }
        eventually(60, "every event delivered", || async {
            sub.got().len() >= n
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let got = sub.got();
        let ids: HashSet<&str> = got.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids.len(), n, "distinct events");
        assert_eq!(got.len(), n, "each delivered once");
        assert!(got.iter().all(|g| signature_valid(&secret, g)));
        // Jira posts to A's receiver. B's MCP subscriptions hear of every event too (through
        // PostgreSQL), and A's hear each once (A skips its own notices).
        for (name, heard) in [("A", heard_a), ("B", heard_b)] {
            let notices = notices_within(heard, n, Duration::from_secs(10)).await;
            assert_eq!(notices.len(), n, "instance {name} heard every event once");
            assert!(
                notices.iter().all(|c| *c == conn),
                "instance {name}: {notices:?}"
            );
        }
        drop(b);
    })
    .await
    .expect("finished in time");
}

/// The connections named by the event notices `heard` within `limit` (waiting for at most
/// `want`, then one more moment for any extra).
async fn notices_within(
    mut heard: tokio::sync::broadcast::Receiver<jiragate_engine::webhooks::WebhookEventNotice>,
    want: usize,
    limit: Duration,
) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while got.len() < want {
        match tokio::time::timeout_at(deadline, heard.recv()).await {
            Ok(Ok(notice)) => got.push(notice.connection_id.to_string()),
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(notice) = heard.try_recv() {
        got.push(notice.connection_id.to_string());
    }
    got
}

/// No instance runs for 31 days, so Jira drops the registration; the next start registers it
/// again and the subscription records the new id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_jira_dropped_is_made_again_at_start() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let sub = Subscriber::start().await;
        let conn = oauth_connection(&env).await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let old_id = created["jira_webhook_id"].as_i64().unwrap();
        let key = env.key().to_owned();
        let Env {
            sim,
            server,
            client,
            _pg,
            _dir,
        } = env;
        server.stop().await.unwrap();

        sim.advance_clock(31 * 86_400);
        let mut cfg = base_config(&sim, _dir.path());
        fast_webhooks(&mut cfg);
        let app = App::build(cfg).await.expect("restart");
        let mut server = Server::spawn(app).await;
        server.admin_key = key;
        let env = Env {
            sim,
            server,
            client,
            _pg,
            _dir,
        };
        let subs_url = env.url(&format!(
            "/api/v1/integrations/connectors/{conn}/webhooks/subscriptions"
        ));
        eventually(30, "registered again with a new id", || async {
            let subs = env.client.get(&subs_url, Some(env.key())).await.json();
            let now_id = subs["data"][0]["jira_webhook_id"].as_i64();
            now_id.is_some_and(|id| id != old_id)
                && jira_webhooks(&env, &conn)
                    .await
                    .iter()
                    .any(|h| h["id"].as_i64() == now_id)
        })
        .await;
        assert!(
            !jira_webhooks(&env, &conn)
                .await
                .iter()
                .any(|h| h["id"] == old_id)
        );
    })
    .await
    .expect("finished in time");
}
