//! Shared set-up: a simulator, a real store (SQLite file or PostgreSQL database), a keyring
//! and an AuthService wired to the simulator, plus a browser stand-in for the consent step.

use std::path::Path;
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use jiragate_auth::{
    AtlassianEndpoints, AuthConfig, AuthService, CallbackOutcome, Clock, Keyring, StartConnect,
};
use jiragate_jira::{ClientConfig, JiraClient};
use jiragate_store::{ApiType, Connection, OAuthClientRecord, OrgId, Owner, Store};
use jiragate_vault::MasterKey;
use secrecy::SecretString;

pub const PUBLIC_URL: &str = "http://127.0.0.1:9";

pub fn redirect_uri() -> String {
    format!("{PUBLIC_URL}/oauth/callback")
}

pub async fn start_sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig {
        issues_per_site: 5,
        redirect_uris: vec![redirect_uri()],
        ..SimConfig::default()
    };
    tweak(&mut cfg);
    Simulator::start(cfg).await.expect("simulator starts")
}

pub fn endpoints(sim: &SimHandle) -> AtlassianEndpoints {
    AtlassianEndpoints {
        auth_url: sim.auth_url.clone(),
        api_url: sim.api_url.clone(),
        site_url_template: sim.site_url.clone(),
    }
}

pub fn auth_config(sim: &SimHandle, clock: &Clock) -> AuthConfig {
    let mut cfg = AuthConfig::new(endpoints(sim), PUBLIC_URL);
    cfg.clock = clock.clone();
    cfg
}

pub async fn sqlite_store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("jiragate.db").display());
    let store = Store::connect(&url).await.expect("sqlite store");
    store.migrate().await.expect("migrate");
    store
}

/// A fresh PostgreSQL database for one test; dropped by [`PgDb::drop_db`].
pub struct PgDb {
    pub url: String,
    admin_url: String,
    name: String,
}

pub fn pg_admin_url() -> String {
    std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection as _;
        let admin_url = pg_admin_url();
        let name = format!("jg_auth_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable (JIRAGATE_TEST_POSTGRES_URL)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let mut url = url::Url::parse(&admin_url).expect("postgres url");
        url.set_path(&format!("/{name}"));
        PgDb {
            url: url.to_string(),
            admin_url,
            name,
        }
    }

    pub async fn drop_db(self) {
        use sqlx::Connection as _;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

pub fn jira_client() -> JiraClient {
    JiraClient::new(ClientConfig {
        max_retries: 1,
        ..ClientConfig::default()
    })
}

/// Everything a test needs.
pub struct Env {
    pub sim: SimHandle,
    pub svc: AuthService,
    pub store: Store,
    pub org: OrgId,
    pub clock: Clock,
    pub master: MasterKey,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn sqlite() -> Env {
        Self::sqlite_with(|_| {}, |_| {}).await
    }

    pub async fn sqlite_with(
        sim_tweak: impl FnOnce(&mut SimConfig),
        cfg_tweak: impl FnOnce(&mut AuthConfig),
    ) -> Env {
        let sim = start_sim(sim_tweak).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(dir.path()).await;
        let org = store.create_organization("default").await.expect("org").id;
        let master = MasterKey::generate();
        let keyring = Keyring::open_or_init(store.clone(), master.clone())
            .await
            .expect("keyring");
        let clock = Clock::system();
        let mut cfg = auth_config(&sim, &clock);
        cfg_tweak(&mut cfg);
        let svc = AuthService::new(store.clone(), keyring, jira_client(), cfg);
        Env {
            sim,
            svc,
            store,
            org,
            clock,
            master,
            dir,
        }
    }

    /// Moves both the simulator's clock and ours.
    pub fn advance(&self, secs: u64) {
        self.sim.advance_clock(secs);
        self.clock.advance(Duration::from_secs(secs));
    }

    pub async fn oauth_client(&self) -> OAuthClientRecord {
        register_client(&self.svc, &self.org, &self.sim).await
    }

    /// Runs the whole consent flow (authorize → redirect → callback).
    pub async fn connect(
        &self,
        client: &OAuthClientRecord,
        name: &str,
        subdomain: Option<&str>,
    ) -> Result<CallbackOutcome, jiragate_auth::AuthError> {
        connect_via(&self.svc, &self.org, client, name, subdomain).await
    }

    /// An OAuth connection to `acme`.
    pub async fn oauth_connection(&self, name: &str) -> Connection {
        let client = self.oauth_client().await;
        match self
            .connect(&client, name, Some("acme"))
            .await
            .expect("connect")
        {
            CallbackOutcome::Connected(c) => c,
            other => panic!("expected a connection, got {other:?}"),
        }
    }
}

pub async fn register_client(svc: &AuthService, org: &OrgId, sim: &SimHandle) -> OAuthClientRecord {
    let c = &sim.oauth_clients[0];
    svc.create_oauth_client(
        org,
        &c.client_id,
        SecretString::from(c.client_secret.clone()),
        vec![
            "read:jira-work".to_owned(),
            "write:jira-work".to_owned(),
            "read:jira-user".to_owned(),
        ],
    )
    .await
    .expect("register oauth client")
}

pub async fn connect_via(
    svc: &AuthService,
    org: &OrgId,
    client: &OAuthClientRecord,
    name: &str,
    subdomain: Option<&str>,
) -> Result<CallbackOutcome, jiragate_auth::AuthError> {
    let start = svc
        .start_connect(
            org,
            StartConnect {
                oauth_client_id: client.id.clone(),
                workspace: "w".to_owned(),
                name: name.to_owned(),
                scopes: None,
                subdomain: subdomain.map(str::to_owned),
                owner: Owner::Installation,
                api_type: ApiType::Platform,
            },
        )
        .await?;
    let (code, state) = consent(&start.authorize_url).await;
    svc.handle_callback(&state, Some(&code), None).await
}

/// What a browser does at `/authorize`: follow to the redirect and read `code` and `state`.
pub async fn consent(authorize_url: &str) -> (String, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http.get(authorize_url).send().await.expect("authorize");
    assert_eq!(resp.status().as_u16(), 302, "authorize should redirect");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_owned();
    let url = url::Url::parse(&location).expect("redirect URL");
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("redirect lacks {k}: {location}"))
    };
    (get("code"), get("state"))
}

/// Bounded wait for a future in tests.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step timed out")
}
