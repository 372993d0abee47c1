//! Runs the built binary with a private data dir, pointed at an in-process simulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};

pub const BIN: &str = env!("CARGO_BIN_EXE_jiragate");

pub struct Env {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    /// `JIRAGATE_DATABASE_URL` of every command, when not the data dir's SQLite file.
    pub database_url: Option<String>,
}

impl Env {
    pub async fn new() -> Env {
        Self::with(SimConfig {
            issues_per_site: 60,
            ..SimConfig::default()
        })
        .await
    }

    pub async fn with(cfg: SimConfig) -> Env {
        let sim = Simulator::start(cfg).await.expect("simulator starts");
        Env {
            sim,
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: None,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The contract's environment: data dir, simulator endpoints, no colour (and the
    /// database URL, when one is set).
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("JIRAGATE_DATA_DIR", self.data_dir().display().to_string()),
            ("JIRAGATE_ATLASSIAN_AUTH_URL", self.sim.auth_url.clone()),
            ("JIRAGATE_ATLASSIAN_API_URL", self.sim.api_url.clone()),
            ("JIRAGATE_JIRA_SITE_URL", self.sim.site_url.clone()),
            ("NO_COLOR", "1".into()),
        ];
        v.extend(
            self.database_url
                .clone()
                .map(|u| ("JIRAGATE_DATABASE_URL", u)),
        );
        v
    }

    /// The binary with [`Env::envs`] and nothing else from the caller's environment.
    pub fn cmd(&self) -> Command {
        self.program(BIN)
    }

    pub fn program(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.dir.path())
            .env_clear()
            .envs(self.envs())
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary with these arguments and the contract environment.
    pub async fn jg(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        run(c).await
    }

    /// `serve FLAG VALUE` is a usage error (exit 2) that names the flag.
    pub async fn assert_serve_refuses(&self, flag: &str, value: &str) {
        let o = self
            .jg(&["serve", "--listen", "127.0.0.1:0", flag, value])
            .await;
        assert_eq!(
            o.status.code(),
            Some(2),
            "{flag} {value}: {}",
            all_output(&o)
        );
        assert!(stderr(&o).contains(flag), "{flag} {value}: {}", stderr(&o));
    }

    /// The `JIRA_*` convention for the first user on site 0.
    pub fn jira_env(&self, c: &mut Command) {
        self.jira_env_as(c, 0);
    }

    /// The `JIRA_*` convention for the simulator's `user`-th user on site 0 (only the first
    /// is a Jira administrator).
    pub fn jira_env_as(&self, c: &mut Command, user: usize) {
        let u = &self.sim.users[user];
        c.env(
            "JIRA_BASE_URL",
            self.sim.site_url(&self.sim.sites[0].subdomain),
        )
        .env("JIRA_USER_EMAIL", &u.email)
        .env("JIRA_API_TOKEN", &u.api_token);
    }

    pub fn token(&self) -> &str {
        &self.sim.users[0].api_token
    }

    pub async fn project_key(&self) -> String {
        let url = format!(
            "{}/rest/api/3/project/search?maxResults=1",
            self.sim.site_url(&self.sim.sites[0].subdomain)
        );
        let u = &self.sim.users[0];
        let v: serde_json::Value = reqwest::Client::new()
            .get(url)
            .basic_auth(&u.email, Some(&u.api_token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["values"][0]["key"].as_str().unwrap().to_string()
    }
}

/// Runs a command off the async runtime (the simulator must keep serving meanwhile).
pub async fn run(mut c: Command) -> Output {
    tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || c.output().expect("binary runs")),
    )
    .await
    .expect("command finishes in time")
    .expect("join")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Every byte under `dir`, for secret scans.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                hits.push(p);
            }
        }
    }
    hits
}

/// Creates the seed connector `w/jira` with the `JIRA_*` environment.
pub async fn create_seed_connector(env: &Env) -> Output {
    create_seed_connector_as(env, 0).await
}

/// `w/jira` with the `user`-th simulator user's API token.
pub async fn create_seed_connector_as(env: &Env, user: usize) -> Output {
    let mut c = env.cmd();
    env.jira_env_as(&mut c, user);
    c.args([
        "connectors",
        "create",
        "--json",
        r#"{"workspace": "w", "name": "jira"}"#,
    ]);
    run(c).await
}

fn postgres_admin_url() -> String {
    std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A throw-away database on the test PostgreSQL (`JIRAGATE_TEST_POSTGRES_URL`); the caller
/// drops it with [`drop_postgres_database`] when done.
pub async fn create_postgres_database() -> (String, String) {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("jg_cli_{}_{nanos}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL reachable at JIRAGATE_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create test database");
    let _ = c.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    (format!("{base}/{name}"), name)
}

pub async fn drop_postgres_database(name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut c) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
        let _ = c.close().await;
    }
}
