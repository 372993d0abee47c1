//! Test harness: every store test runs on a fresh SQLite file in a tempdir AND in a fresh
//! PostgreSQL schema (JIRAGATE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).

use std::path::PathBuf;
use std::time::Duration;

use jiragate_store::*;
use rand::Rng;
use sqlx::{Connection as _, Executor as _};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn pg_admin_url() -> String {
    std::env::var("JIRAGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub struct TestDb {
    pub store: Store,
    /// URL that reaches the same database (and schema) from a new pool.
    pub url: String,
    pub sqlite_path: Option<PathBuf>,
    pub pg_schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested").join("jiragate.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url).await.expect("connect sqlite");
        store.migrate().await.expect("migrate sqlite");
        TestDb {
            store,
            url,
            sqlite_path: Some(path),
            pg_schema: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = pg_admin_url();
        let suffix: u64 = rand::rng().random();
        let schema = format!("jg_test_{suffix:016x}");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect to JIRAGATE_TEST_POSTGRES_URL");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create schema");
        conn.close().await.ok();
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        let store = Store::connect_with(
            &url,
            StoreOptions {
                max_connections: 6,
                ..StoreOptions::default()
            },
        )
        .await
        .expect("connect postgres");
        store.migrate().await.expect("migrate postgres");
        TestDb {
            store,
            url,
            sqlite_path: None,
            pg_schema: Some(schema),
            _dir: None,
        }
    }

    /// A second, independent pool on the same database.
    pub async fn second_store(&self) -> Store {
        let s = Store::connect(&self.url).await.expect("second pool");
        assert!(!s.migrations_pending().await.unwrap());
        s
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(schema) = self.pg_schema.take() {
            // Drop the schema from a separate thread with its own runtime: Drop cannot await,
            // and this also runs when the test panicked.
            let admin = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = c
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP SCHEMA IF EXISTS {schema} CASCADE"
                            )))
                            .await;
                        let _ = c.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Generates `mod $name { sqlite, postgres }` tests that run `super::$name(&TestDb)`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                tokio::time::timeout(std::time::Duration::from_secs(60), super::$name(&db))
                    .await
                    .expect("test timed out");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::common::TestDb::postgres().await;
                tokio::time::timeout(std::time::Duration::from_secs(60), super::$name(&db))
                    .await
                    .expect("test timed out");
            }
        }
    )+};
}
pub(crate) use both_backends;

pub async fn org(store: &Store, name: &str) -> OrgId {
    store
        .create_organization(name)
        .await
        .expect("create org")
        .id
}

pub fn new_connection(name: &str) -> NewConnection {
    NewConnection {
        id: ConnectionId::new(),
        workspace: "default".into(),
        name: name.into(),
        api_type: ApiType::Platform,
        auth_kind: AuthKind::ApiToken,
        site_url: "http://127.0.0.1:1/site/acme".into(),
        subdomain: Some("acme".into()),
        cloud_id: None,
        account_id: Some("acc-1".into()),
        account_name: Some("Ada".into()),
        email: Some("ada@example.com".into()),
        oauth_client_id: None,
        scopes: vec![],
        owner: Owner::Installation,
        status: ConnectionStatus::Healthy,
        status_reason: None,
        last_checked_at: None,
    }
}

pub fn api_token_credential(sealed: &str) -> NewCredential {
    NewCredential {
        sealed_api_token: Some(sealed.into()),
        ..NewCredential::default()
    }
}

pub fn new_oauth_client(client_id: &str) -> NewOAuthClient {
    NewOAuthClient {
        id: OAuthClientRecordId::new(),
        client_id: client_id.into(),
        sealed_client_secret: format!("jgv1.1.sealed-secret-of-{client_id}"),
        redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
        scopes: vec!["read:jira-work".into(), "offline_access".into()],
    }
}

pub fn new_session(
    client: &OAuthClientRecordId,
    state_hash: &str,
    ttl: Duration,
) -> NewConnectSession {
    NewConnectSession {
        id: ConnectSessionId::new(),
        oauth_client_id: client.clone(),
        workspace: "default".into(),
        name: "oauth-conn".into(),
        owner: Owner::User("u-1".into()),
        scopes: vec!["read:jira-work".into()],
        subdomain: None,
        api_type: ApiType::Platform,
        state_hash: state_hash.into(),
        sealed_pkce_verifier: "jgv1.1.verifier".into(),
        expires_at: time::OffsetDateTime::now_utc() + ttl,
        reconnect_connection_id: None,
        purpose: SessionPurpose::Connect,
    }
}
