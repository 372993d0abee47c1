//! Streamable HTTP: rmcp's `StreamableHttpService` (sessions in memory) behind an auth hook
//! that picks the [`Backend`] for each request from its API key's organization.
//!
//! Two ways to wire auth, whichever suits the host application:
//! 1. pass a [`BackendResolver`] (async: it sees the request head, checks
//!    `Authorization: Bearer`, returns the organization's backend or an [`HttpRejection`]);
//! 2. authenticate in an outer middleware and insert a [`RequestBackend`] into the request's
//!    extensions; the resolver is then not consulted for that request.
//!
//! Every HTTP request (POST, GET stream, DELETE) goes through the hook, so a request without
//! a valid key never reaches the MCP session: 401 with `application/problem+json`.
//!
//! Around rmcp, for JSON-RPC and MCP strictness (rmcp itself is left as it is):
//! - a POST body that is not JSON is answered 400 with a JSON-RPC `-32700 Parse error`
//!   (`id: null`), JSON that is not a JSON-RPC message 400 with `-32600 Invalid Request`
//!   (rmcp answers both 415 with a text body);
//! - rmcp's refusals with a bare text body (406 when `Accept` lacks `application/json` or
//!   `text/event-stream`, 415, 404 for an unknown session, …) keep their status and get a
//!   JSON-RPC error body (`id: null`) carrying the same explanation;
//! - `DELETE` that ends a session answers 200 instead of rmcp's 202.
//!
//! Each caller (one `Authorization` value) holds at most [`MAX_SESSIONS_PER_CALLER`] sessions:
//! opening one more closes its oldest. A session costs about 60 KB (rmcp's worker and
//! channels) and lives until `DELETE` or 5 minutes without a request, so without a bound a
//! client that opens sessions and never closes them (a crashing agent, a hostile key) held
//! about 60 MiB per 1,000, and one key within the default rate limit (100 requests/s, each
//! session living 5 minutes) could reach nearly 2 GB.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{SessionId, SessionManager};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

use crate::McpOptions;
use crate::backend::Backend;
use crate::server::{JiragateMcp, RequestBackend};
use crate::stdio::{Line, classify};
use crate::tools::OptionsError;

/// Chooses the backend for one HTTP request (typically: authenticate the Bearer key, then a
/// [`crate::LocalBackend`] for the key's organization).
#[async_trait]
pub trait BackendResolver: Send + Sync + 'static {
    async fn resolve(&self, parts: &Parts) -> Result<Arc<dyn Backend>, HttpRejection>;
}

/// Adapts a synchronous closure `Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection>`.
pub fn resolver_fn<F>(resolve: F) -> Arc<dyn BackendResolver>
where
    F: Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection> + Send + Sync + 'static,
{
    Arc::new(ClosureResolver(resolve))
}

struct ClosureResolver<F>(F);

#[async_trait]
impl<F> BackendResolver for ClosureResolver<F>
where
    F: Fn(&Parts) -> Result<Arc<dyn Backend>, HttpRejection> + Send + Sync + 'static,
{
    async fn resolve(&self, parts: &Parts) -> Result<Arc<dyn Backend>, HttpRejection> {
        (self.0)(parts)
    }
}

/// An HTTP-level refusal, sent as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRejection {
    pub status: StatusCode,
    /// Stable problem type, e.g. `unauthorized`, `forbidden`.
    pub kind: String,
    pub detail: String,
}

impl HttpRejection {
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::UNAUTHORIZED,
            kind: "unauthorized".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        HttpRejection {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal".to_owned(),
            detail: detail.into(),
        }
    }

    pub fn into_response(self) -> http::Response<BoxBody<Bytes, Infallible>> {
        let body = json!({
            "type": self.kind,
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut builder = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/problem+json");
        if self.status == StatusCode::UNAUTHORIZED {
            builder = builder.header(http::header::WWW_AUTHENTICATE, "Bearer realm=\"jiragate\"");
        }
        builder
            .body(Full::new(Bytes::from(body.to_string())).boxed())
            .unwrap_or_else(|_| {
                let mut fallback = http::Response::new(Full::new(Bytes::new()).boxed());
                *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                fallback
            })
    }
}

/// The `/mcp` endpoint as a tower service (mount with axum's `route_service`/`nest_service`).
#[derive(Clone)]
pub struct McpHttpService {
    inner: StreamableHttpService<JiragateMcp, LocalSessionManager>,
    resolver: Arc<dyn BackendResolver>,
    max_body_bytes: usize,
    sessions: Arc<LocalSessionManager>,
    book: Arc<SessionBook>,
}

/// Sessions one caller (one `Authorization` header value) may hold open at once.
pub const MAX_SESSIONS_PER_CALLER: usize = 256;

/// The sessions each caller opened, oldest first. Callers are told apart by a keyed hash of
/// their `Authorization` header (random keys per process), so no credential is kept.
struct SessionBook {
    cap: usize,
    hasher: std::hash::RandomState,
    callers: Mutex<HashMap<u64, VecDeque<SessionId>>>,
    /// Sessions recorded so far; every [`SWEEP_EVERY`]th, all callers are swept.
    recorded: std::sync::atomic::AtomicU64,
}

/// How often (in sessions opened) the book forgets sessions that ended on their own for every
/// caller, so callers that never come back (an OAuth access token replaced by a refreshed one)
/// leave nothing behind.
const SWEEP_EVERY: u64 = 256;

impl SessionBook {
    fn new(cap: usize) -> Self {
        SessionBook {
            cap: cap.max(1),
            hasher: std::hash::RandomState::new(),
            callers: Mutex::default(),
            recorded: Default::default(),
        }
    }

    fn caller(&self, headers: &http::HeaderMap) -> u64 {
        let auth = headers
            .get(http::header::AUTHORIZATION)
            .map_or(&b""[..], |v| v.as_bytes());
        self.hasher.hash_one(auth)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, VecDeque<SessionId>>> {
        self.callers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a new session; returns the caller's sessions beyond the cap (oldest first),
    /// for the caller of this to close.
    fn opened(&self, caller: u64, id: SessionId) -> Vec<SessionId> {
        let mut callers = self.lock();
        let open = callers.entry(caller).or_default();
        open.push_back(id);
        let excess = open.len().saturating_sub(self.cap);
        open.drain(..excess).collect()
    }

    fn closed(&self, caller: u64, id: &str) {
        let mut callers = self.lock();
        if let Some(open) = callers.get_mut(&caller) {
            open.retain(|s| s.as_ref() != id);
            if open.is_empty() {
                callers.remove(&caller);
            }
        }
    }

    /// Forgets sessions that ended without a `DELETE` (idle for rmcp's keep-alive), so they
    /// do not count against their caller: the caller's own when it is at the cap, and every
    /// caller's now and then.
    async fn prune(&self, caller: u64, sessions: &LocalSessionManager) {
        let n = self
            .recorded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let known: Vec<(u64, SessionId)> = {
            let callers = self.lock();
            if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
                callers
                    .iter()
                    .flat_map(|(c, ids)| ids.iter().map(|id| (*c, id.clone())))
                    .collect()
            } else {
                match callers.get(&caller) {
                    Some(ids) if ids.len() >= self.cap => {
                        ids.iter().map(|id| (caller, id.clone())).collect()
                    }
                    _ => Vec::new(),
                }
            }
        };
        for (owner, id) in known {
            if !sessions.has_session(&id).await.unwrap_or(true) {
                self.closed(owner, &id);
            }
        }
    }
}

/// The `/mcp` endpoint with defaults suited to an authenticated server: sessions in memory,
/// and no `Host` allow-list. rmcp's default allow-list (loopback names only) guards
/// unauthenticated local servers against DNS rebinding; here every request must carry an API
/// key a rebinding page cannot know, and the server is reachable by its public name.
pub fn streamable_http_service(
    resolver: Arc<dyn BackendResolver>,
    opts: McpOptions,
) -> Result<McpHttpService, OptionsError> {
    streamable_http_service_with_config(
        resolver,
        opts,
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    )
}

/// [`streamable_http_service`] with rmcp's transport settings chosen by the caller
/// (allowed hosts/origins, keep-alive, cancellation token for graceful shutdown, body limit).
pub fn streamable_http_service_with_config(
    resolver: Arc<dyn BackendResolver>,
    opts: McpOptions,
    config: StreamableHttpServerConfig,
) -> Result<McpHttpService, OptionsError> {
    streamable_http_service_with_session_cap(resolver, opts, config, MAX_SESSIONS_PER_CALLER)
}

/// [`streamable_http_service_with_config`] letting each caller hold `max_sessions_per_caller`
/// sessions instead of [`MAX_SESSIONS_PER_CALLER`].
pub fn streamable_http_service_with_session_cap(
    resolver: Arc<dyn BackendResolver>,
    opts: McpOptions,
    config: StreamableHttpServerConfig,
    max_sessions_per_caller: usize,
) -> Result<McpHttpService, OptionsError> {
    let prototype = JiragateMcp::per_request(opts)?;
    let max_body_bytes = config.max_request_body_bytes;
    let sessions = Arc::new(LocalSessionManager::default());
    let inner = StreamableHttpService::new(move || Ok(prototype.clone()), sessions.clone(), config);
    Ok(McpHttpService {
        inner,
        resolver,
        max_body_bytes,
        sessions,
        book: Arc::new(SessionBook::new(max_sessions_per_caller)),
    })
}

impl<B> tower::Service<http::Request<B>> for McpHttpService
where
    B: http_body::Body + Send + 'static,
    B::Error: Display,
    B::Data: Send + 'static,
{
    type Response = http::Response<BoxBody<Bytes, Infallible>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            if parts.extensions.get::<RequestBackend>().is_none() {
                match this.resolver.resolve(&parts).await {
                    Ok(backend) => {
                        parts.extensions.insert(RequestBackend(backend));
                    }
                    Err(rejection) => return Ok(rejection.into_response()),
                }
            }
            let method = parts.method.clone();
            let caller = this.book.caller(&parts.headers);
            let asked_session = parts
                .headers
                .get(HEADER_SESSION_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let response = if method == http::Method::POST && wants_json_rpc(&parts.headers) {
                // Read the body here (rmcp would too) to answer malformed JSON-RPC ourselves.
                let bytes = match read_body(body, this.max_body_bytes).await {
                    Ok(bytes) => bytes,
                    Err((status, message)) => {
                        return Ok(json_rpc_error(status, -32600, message, None));
                    }
                };
                if let Line::Answer(error) = classify(&bytes) {
                    return Ok(json_response(StatusCode::BAD_REQUEST, &error));
                }
                this.inner
                    .handle(http::Request::from_parts(parts, Full::new(bytes)))
                    .await
            } else {
                this.inner
                    .handle(http::Request::from_parts(parts, body))
                    .await
            };
            this.count_sessions(caller, &method, asked_session.as_deref(), &response)
                .await;
            Ok(normalize(method, response).await)
        })
    }
}

/// `Mcp-Session-Id`, the header that names a session in requests and in `initialize`'s answer.
const HEADER_SESSION_ID: &str = "mcp-session-id";

impl McpHttpService {
    /// Keeps the caller's sessions within the cap: a session this answer opened is recorded
    /// (and the caller's oldest beyond the cap closed); one a `DELETE` ended is forgotten.
    async fn count_sessions<B>(
        &self,
        caller: u64,
        method: &http::Method,
        asked: Option<&str>,
        response: &http::Response<B>,
    ) {
        if !response.status().is_success() {
            return;
        }
        if *method == http::Method::DELETE {
            if let Some(id) = asked {
                self.book.closed(caller, id);
            }
            return;
        }
        let opened = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| asked != Some(*id));
        let Some(id) = opened else {
            return;
        };
        self.book.prune(caller, &self.sessions).await;
        for old in self.book.opened(caller, SessionId::from(id)) {
            tracing::debug!("closing a caller's oldest MCP session: over the per-caller cap");
            if let Err(e) = self.sessions.close_session(&old).await {
                tracing::debug!(error = %e, "closing an MCP session over the cap");
            }
        }
    }
}

/// The whole body, at most `limit` bytes (rmcp's own limit, which it would apply next).
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, (StatusCode, String)>
where
    B: http_body::Body,
    B::Error: Display,
{
    let mut body = std::pin::pin!(body);
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.as_mut().frame().await {
        let frame = frame.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + bytes::Buf::remaining(&data) > limit {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body exceeds {limit} bytes"),
                ));
            }
            let mut data = data;
            while bytes::Buf::has_remaining(&data) {
                let chunk = bytes::Buf::chunk(&data);
                let n = chunk.len();
                collected.extend_from_slice(chunk);
                bytes::Buf::advance(&mut data, n);
            }
        }
    }
    Ok(collected.freeze())
}

/// A POST rmcp would read the body of: JSON content, and an `Accept` naming both types
/// (otherwise rmcp refuses it first, with 406 or 415).
fn wants_json_rpc(headers: &http::HeaderMap) -> bool {
    let header = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
            .to_ascii_lowercase()
    };
    let accept = header(http::header::ACCEPT);
    header(http::header::CONTENT_TYPE)
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim() == "application/json")
        && accept.contains("application/json")
        && accept.contains("text/event-stream")
}

/// rmcp's answers, made strict: a session ended by DELETE is 200 (rmcp: 202, which the
/// Python SDK logs as a failed termination), and a refusal with a bare text body gets a
/// JSON-RPC error body with the same status and explanation.
async fn normalize(
    method: http::Method,
    response: http::Response<BoxBody<Bytes, Infallible>>,
) -> http::Response<BoxBody<Bytes, Infallible>> {
    let status = response.status();
    if method == http::Method::DELETE && status == StatusCode::ACCEPTED {
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::OK;
        return http::Response::from_parts(parts, Full::new(Bytes::new()).boxed());
    }
    if !status.is_client_error() || response.headers().contains_key(http::header::CONTENT_TYPE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(never) => match never {},
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let data = (status == StatusCode::NOT_ACCEPTABLE).then(|| {
        if method == http::Method::GET {
            json!({ "accept": ["text/event-stream"] })
        } else {
            json!({ "accept": ["application/json", "text/event-stream"] })
        }
    });
    let mut rewritten = json_rpc_error(status, -32600, message, data);
    for (name, value) in parts.headers.iter() {
        if name != http::header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// A JSON-RPC error response with `id: null` (the spec allows one as the body of an HTTP
/// error status).
fn json_rpc_error(
    status: StatusCode,
    code: i64,
    message: String,
    data: Option<Value>,
) -> http::Response<BoxBody<Bytes, Infallible>> {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json_response(
        status,
        &json!({ "jsonrpc": "2.0", "id": null, "error": error }),
    )
}

fn json_response(status: StatusCode, body: &Value) -> http::Response<BoxBody<Bytes, Infallible>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The Bearer token of a request, if any (`Authorization: Bearer <key>`).
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod session_book_tests {
    use super::*;

    #[tokio::test]
    async fn sessions_that_ended_on_their_own_are_forgotten() {
        // No session is live in this manager: all of these ended by rmcp's keep-alive.
        let sessions = LocalSessionManager::default();
        let book = SessionBook::new(2);
        assert!(book.opened(1, "a".into()).is_empty());
        assert!(book.opened(1, "b".into()).is_empty());
        assert!(book.opened(2, "c".into()).is_empty());
        assert_eq!(book.opened(1, "d".into()), vec![SessionId::from("a")]);

        // A caller at its cap: its ended sessions are forgotten before a new one counts.
        book.prune(1, &sessions).await;
        assert!(book.lock().get(&1).is_none());
        // A caller below its cap keeps its entries until a sweep, which forgets every caller's.
        assert_eq!(book.lock().get(&2).map(VecDeque::len), Some(1));
        book.recorded
            .store(SWEEP_EVERY - 1, std::sync::atomic::Ordering::Relaxed);
        book.prune(1, &sessions).await;
        assert!(book.lock().is_empty());
    }
}
