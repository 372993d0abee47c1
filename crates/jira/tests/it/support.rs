//! A tiny real HTTP server on 127.0.0.1:0 for precise fault control, and token sources.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use jiragate_jira::{ClientConfig, JiraAuth, JiraError, Target, TokenSource, async_trait};
use secrecy::SecretString;
use tokio::time::Instant;

pub const SECRET_TOKEN: &str = "sekret-token-DO-NOT-LEAK-8f3a";

/// What the server saw, per request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Serves `router` with every request recorded (method, path, headers, body) first.
pub async fn serve(router: Router) -> (String, Log) {
    let log = Log::default();
    let recorder = log.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| {
            let recorder = recorder.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                recorder.0.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts.headers.clone(),
                    body: bytes.clone(),
                    at: Instant::now(),
                });
                next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                    .await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), log)
}

pub fn fast_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
        max_retries: 3,
        per_connection_concurrency: 8,
        max_retry_wait: Duration::from_secs(5),
        base_backoff: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

pub fn basic_target(base: &str) -> Target {
    Target::new(
        base,
        JiraAuth::Basic {
            email: "dev@example.test".to_owned(),
            token: SecretString::from(SECRET_TOKEN),
        },
        "conn-test",
    )
}

pub fn bearer_target(base: &str, token: &str) -> Target {
    Target::new(
        base,
        JiraAuth::Bearer(SecretString::from(token.to_owned())),
        "conn-oauth",
    )
}

/// A token source that hands out `first`, and `refreshed` (if any) after a 401.
pub struct RefreshingSource {
    pub first: Target,
    pub refreshed: Option<Target>,
    pub refreshes: AtomicUsize,
}

impl RefreshingSource {
    pub fn new(first: Target, refreshed: Option<Target>) -> Self {
        RefreshingSource {
            first,
            refreshed,
            refreshes: AtomicUsize::new(0),
        }
    }
    pub fn refresh_count(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenSource for RefreshingSource {
    async fn target(&self) -> Result<Target, JiraError> {
        Ok(self.first.clone())
    }
    async fn on_unauthorized(&self, _failed: &Target) -> Result<Option<Target>, JiraError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.refreshed.clone())
    }
}

/// Bounded wait for anything in a test.
pub async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step took too long")
}
