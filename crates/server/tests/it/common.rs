//! Test harness: atlassian-sim + a real `App` on 127.0.0.1:0, on SQLite (temp dir) or on a
//! freshly created PostgreSQL database that is dropped afterwards.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use jiragate_engine::model::AtlassianEndpoints;
use jiragate_server::{App, RateLimitConfig, ServerConfig};
use reqwest::{Method, StatusCode, header::HeaderMap};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the test database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A throw-away PostgreSQL database `jg_<random>`; dropped (WITH FORCE) on drop.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let admin = pg_admin_url();
        let name = format!("jg_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL reachable at JIRAGATE_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .expect("create test database");
        let _ = c.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        PgDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = pg_admin_url();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a private one on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

pub fn sim_endpoints(sim: &SimHandle) -> AtlassianEndpoints {
    AtlassianEndpoints {
        auth_url: sim.auth_url.clone(),
        api_url: sim.api_url.clone(),
        site_url_template: sim.site_url.clone(),
    }
}

pub fn base_config(sim: &SimHandle, data_dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        endpoints: sim_endpoints(sim),
        background: false,
        request_timeout: Duration::from_secs(30),
        rate_limit_per_key: Some(RateLimitConfig {
            per_second: 1000.0,
            burst: 5000,
        }),
        ..ServerConfig::default()
    }
}

/// A running App (served on a background task) plus a client that records every body it reads.
pub struct Server {
    pub url: String,
    pub admin_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn spawn(app: App) -> Server {
        let url = app.base_url();
        let admin_key = match &app.bootstrap.admin_key_path {
            Some(p) => std::fs::read_to_string(p)
                .expect("admin.key readable")
                .trim()
                .to_owned(),
            None => String::new(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(async move {
            let _ = rx.await;
        }));
        Server {
            url,
            admin_key,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Sends the shutdown signal (like SIGTERM) without waiting for the server to stop.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Graceful stop; waits (bounded) for in-flight requests.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("server stops within 20 s")
            .expect("serve task did not panic")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One request's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    /// Assert an RFC 9457 problem of the given kind.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "content type {} for {}",
            self.content_type(),
            self.text
        );
        let v = self.json();
        assert_eq!(
            v["type"],
            format!("https://jiragate.dev/problems/{kind}"),
            "problem {}",
            self.text
        );
        assert_eq!(v["status"], status);
        assert!(v["title"].is_string() && v["detail"].is_string());
        v
    }
}

/// HTTP client for tests: never follows redirects, records every body for the secret scan.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            seen: Arc::default(),
        }
    }
}

impl Client {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        key: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        self.seen.lock().unwrap().push(text.clone());
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, url: &str, key: Option<&str>) -> Reply {
        self.send(Method::GET, url, key, None, &[]).await
    }

    pub async fn post(&self, url: &str, key: Option<&str>, body: &Value) -> Reply {
        self.send(Method::POST, url, key, Some(body), &[]).await
    }

    /// Assert no recorded body contains any of `secrets`.
    #[track_caller]
    pub fn assert_never_seen(&self, secrets: &[&str]) {
        let seen = self.seen.lock().unwrap();
        for body in seen.iter() {
            for s in secrets {
                assert!(!s.is_empty());
                assert!(!body.contains(s), "a response leaked a secret: {body}");
            }
        }
    }
}

/// Everything an end-to-end test needs.
pub struct Env {
    pub sim: SimHandle,
    pub server: Server,
    pub client: Client,

    pub _pg: Option<PgDb>,
    pub _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start(db: Db) -> Env {
        Self::start_with(db, SimConfig::default(), |_| {}).await
    }

    pub async fn start_with(
        db: Db,
        sim_cfg: SimConfig,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Env {
        let sim = Simulator::start(sim_cfg).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let pg = match db {
            Db::Postgres => Some(PgDb::create().await),
            Db::Sqlite => None,
        };
        let mut cfg = base_config(&sim, dir.path());
        if let Some(pg) = &pg {
            cfg.database_url = pg.url.clone();
        }
        tweak(&mut cfg);
        let app = App::build(cfg).await.expect("App::build");
        sim.add_redirect_uri(&format!("{}/oauth/callback", app.base_url()));
        let server = Server::spawn(app).await;
        Env {
            sim,
            server,
            client: Client::default(),

            _pg: pg,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url, path)
    }

    pub fn key(&self) -> &str {
        &self.server.admin_key
    }

    /// The seed's create body (API token of the first user, first site).
    pub fn seed_body(&self, name: &str) -> Value {
        let u = &self.sim.users[0];
        json!({"workspace_name": "w", "connector_type": "Jira", "name": name,
               "credentials": {"username": u.email, "password": u.api_token},
               "replication_config": {"subdomain": self.sim.sites[0].subdomain}})
    }

    /// Create the seed connector; returns its id.
    pub async fn seed_connector(&self, name: &str) -> String {
        self.create_connector(&self.seed_body(name)).await
    }

    /// Create a connector from a create body; returns its id.
    pub async fn create_connector(&self, body: &Value) -> String {
        let r = self
            .client
            .post(
                &self.url("/api/v1/integrations/connectors"),
                Some(self.key()),
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["id"].as_str().expect("id").to_owned()
    }

    /// A key with exactly these scopes.
    pub async fn key_with(&self, scopes: &[&str]) -> String {
        let r = self
            .client
            .post(
                &self.url("/api/v1/keys"),
                Some(self.key()),
                &json!({"name": format!("k-{}", scopes.join("-")), "scopes": scopes}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["key"].as_str().expect("key").to_owned()
    }

    /// A new organization (created with the platform admin key) and an admin key of its own:
    /// (organization id, key).
    pub async fn organization_with_admin_key(&self, name: &str) -> (String, String) {
        let r = self
            .client
            .post(
                &self.url("/api/v1/organizations"),
                Some(self.key()),
                &json!({"name": name}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let org = r.json()["id"].as_str().expect("id").to_owned();
        let r = self
            .client
            .send(
                Method::POST,
                &self.url("/api/v1/keys"),
                Some(self.key()),
                Some(&json!({"name": format!("{name}-admin"), "scopes": ["admin"]})),
                &[("x-organization-id", &org)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (org, r.json()["key"].as_str().expect("key").to_owned())
    }

    /// A GET on the simulator's first site as its first user, straight (not through jiragate).
    pub async fn sim_get(&self, path_and_query: &str) -> Value {
        let u = &self.sim.users[0];
        let url = format!(
            "{}{path_and_query}",
            self.sim.site_url(&self.sim.sites[0].subdomain)
        );
        self.client
            .http
            .get(url)
            .basic_auth(&u.email, Some(&u.api_token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Project keys of the first site, straight from the simulator.
    pub async fn project_keys(&self) -> Vec<String> {
        let v = self
            .sim_get("/rest/api/3/project/search?maxResults=100")
            .await;
        v["values"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every secret the simulator seeded.
    pub fn sim_secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .sim
            .users
            .iter()
            .flat_map(|u| [u.api_token.clone(), u.scoped_api_token.clone()])
            .collect();
        s.extend(
            self.sim
                .oauth_clients
                .iter()
                .map(|c| c.client_secret.clone()),
        );
        s
    }
}

/// A master key shared by several instances on one database.
pub fn fresh_master_key() -> SecretString {
    jiragate_vault::MasterKey::generate().to_base64()
}

/// Run `f` for both backends, each under a time limit.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                tokio::time::timeout(
                    std::time::Duration::from_secs(120),
                    $body($crate::common::Db::Sqlite),
                )
                .await
                .expect("test finished in time");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                tokio::time::timeout(
                    std::time::Duration::from_secs(120),
                    $body($crate::common::Db::Postgres),
                )
                .await
                .expect("test finished in time");
            }
        }
    };
}
