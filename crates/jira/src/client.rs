//! [`JiraClient`]: one pooled HTTP client, per-connection limits, retries, rate limits,
//! one credential refresh after a 401, and error mapping.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::error::{self, JiraError};
use crate::limiter::{ConnectionLimiter, Refusal};

/// What a shed request is told: try again after this long.
const SHED_RETRY_AFTER: Duration = Duration::from_secs(1);
use crate::request::{JiraRequest, JiraResponse, RequestBody};
use crate::retry;
use crate::target::{Target, TokenSource};
use crate::upstream::UpstreamBase;

/// Knobs of the client. `Default` suits production; tests shrink the waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// One attempt (for the proxy: until response headers; then per body read).
    pub request_timeout: Duration,
    /// Total budget of one call, including retries and rate-limit waits.
    pub deadline: Duration,
    /// Retries after a 429, 5xx or connection error (the one 401 refresh is not counted).
    pub max_retries: u32,
    /// Concurrent in-flight requests per `Target::connection_key`.
    pub per_connection_concurrency: usize,
    /// Requests that may wait for a busy connection's slot; more are shed at once
    /// (`Overloaded`, retry after 1 s).
    pub max_queued_per_connection: usize,
    /// Longest wait for a slot (bounded by the call's deadline); longer is shed too.
    pub max_queue_wait: Duration,
    /// Longest single wait we accept for a 429 (longer = return `RateLimited`), and the cap of
    /// backoff delays.
    pub max_retry_wait: Duration,
    pub user_agent: String,
    /// First backoff delay after a 5xx or connection error; doubles per retry, jittered.
    pub base_backoff: Duration,
    /// Which bases a credential may be sent to. `None` only checks paths (library use and
    /// tests against arbitrary local servers); the engine always sets it.
    pub upstream_policy: Option<crate::upstream::UpstreamPolicy>,
    /// Where this instance tells other instances that Jira asked a connection to wait (the
    /// engine backs it with the shared database). `None`: this process is alone.
    pub hold_board: Option<Arc<dyn HoldBoard>>,
}

/// Shares rate-limit holds with other instances that call Jira with the same credentials.
/// Imports go the other way, through [`JiraClient::hold_connection`].
pub trait HoldBoard: Send + Sync + std::fmt::Debug {
    /// Jira asked `connection_key` to wait `wait` (a 429, or a spent budget). Must not block:
    /// it is called on the request path.
    fn publish(&self, connection_key: &str, wait: Duration);
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(120),
            max_retries: 4,
            per_connection_concurrency: 8,
            max_queued_per_connection: 64,
            max_queue_wait: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(60),
            user_agent: concat!("jiragate/", env!("CARGO_PKG_VERSION")).to_owned(),
            base_backoff: Duration::from_millis(250),
            upstream_policy: None,
            hold_board: None,
        }
    }
}

/// The Jira HTTP client. Cheap to clone; all clones share one connection pool and one set of
/// per-connection limits.
#[derive(Clone, Debug)]
pub struct JiraClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    cfg: ClientConfig,
    limiter: ConnectionLimiter,
    /// Bases the upstream policy admitted, parsed (the policy is fixed for the client's life,
    /// so an answer holds). Bounded: cleared when full.
    admitted: std::sync::Mutex<std::collections::HashMap<String, Arc<UpstreamBase>>>,
}

/// Most distinct bases [`Inner::admitted`] keeps before it starts again.
const MAX_ADMITTED_BASES: usize = 4096;

/// Headers that describe one hop, not the message; a proxy must not forward them.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers by which a caller could claim to be someone else, or steer routing, at Jira or at
/// a front proxy: never forwarded from a proxy caller.
pub const FORWARDING_HEADERS: [&str; 12] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-original-url",
    "x-rewrite-url",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
];

/// Bodies of 401 answers are small; read at most this much to look for scope text.
const MAX_401_BODY: usize = 64 * 1024;

/// How a body is produced for each attempt.
enum BodySource {
    Empty,
    Bytes {
        content_type: Option<String>,
        bytes: Bytes,
    },
    Multipart {
        field: String,
        filename: String,
        content_type: String,
        bytes: Bytes,
    },
    /// A streamed body: usable once, so never retried.
    OneShot(Option<reqwest::Body>),
}

impl BodySource {
    fn from_request(body: RequestBody) -> Result<Self, JiraError> {
        Ok(match body {
            RequestBody::None => BodySource::Empty,
            RequestBody::Json(v) => BodySource::Bytes {
                content_type: Some("application/json".to_owned()),
                bytes: Bytes::from(serde_json::to_vec(&v).map_err(|e| {
                    JiraError::InvalidResponse {
                        message: format!("request body is not serializable: {e}"),
                    }
                })?),
            },
            RequestBody::Bytes {
                content_type,
                bytes,
            } => BodySource::Bytes {
                content_type: Some(content_type),
                bytes,
            },
            RequestBody::Multipart {
                field,
                filename,
                content_type,
                bytes,
            } => BodySource::Multipart {
                field,
                filename,
                content_type,
                bytes,
            },
        })
    }

    fn from_raw(body: reqwest::Body) -> Self {
        match body.as_bytes() {
            Some([]) => BodySource::Empty,
            Some(bytes) => BodySource::Bytes {
                content_type: None,
                bytes: Bytes::copy_from_slice(bytes),
            },
            None => BodySource::OneShot(Some(body)),
        }
    }

    fn replayable(&self) -> bool {
        !matches!(self, BodySource::OneShot(_))
    }

    fn is_multipart(&self) -> bool {
        matches!(self, BodySource::Multipart { .. })
    }

    fn attach(
        &mut self,
        rb: reqwest::RequestBuilder,
        headers: &HeaderMap,
    ) -> Result<reqwest::RequestBuilder, JiraError> {
        Ok(match self {
            BodySource::Empty => rb,
            BodySource::Bytes {
                content_type,
                bytes,
            } => {
                let rb = match content_type {
                    Some(ct) if !headers.contains_key(header::CONTENT_TYPE) => {
                        rb.header(header::CONTENT_TYPE, ct.as_str())
                    }
                    _ => rb,
                };
                rb.body(bytes.clone())
            }
            BodySource::Multipart {
                field,
                filename,
                content_type,
                bytes,
            } => {
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::from(bytes.clone()),
                    bytes.len() as u64,
                )
                .file_name(filename.clone())
                .mime_str(content_type)
                .map_err(|_| JiraError::Credential {
                    message: format!("invalid attachment content type {content_type:?}"),
                })?;
                rb.multipart(reqwest::multipart::Form::new().part(field.clone(), part))
            }
            BodySource::OneShot(body) => match body.take() {
                Some(b) => rb.body(b),
                None => rb,
            },
        })
    }
}

/// What the retry loop ends with.
enum Final {
    /// An answer to interpret (any status).
    Answer {
        response: reqwest::Response,
        target: Target,
        /// Held while a buffered body is read.
        _permit: Option<crate::limiter::SlotPermit>,
    },
    /// Still 429 after the retry budget; the answer is kept for the proxy.
    RateLimited {
        response: reqwest::Response,
        target: Target,
        retry_after: Duration,
    },
}

/// One call's fixed parts.
struct Call<'a> {
    method: Method,
    path_and_query: &'a str,
    headers: HeaderMap,
    body: BodySource,
    /// Per-attempt total timeout (buffered calls) or header-only timeout (proxy).
    buffered: bool,
    /// The request only reads (a POST search): retried like a GET.
    read_only: bool,
}

impl JiraClient {
    /// Builds the one pooled client. Uses rustls, keeps connections alive and negotiates HTTP/2
    /// via ALPN where the server offers it.
    pub fn new(cfg: ClientConfig) -> Self {
        let builder = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            // Proxy bodies stream without a total timeout; a stalled read still fails.
            .read_timeout(cfg.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_keepalive(Duration::from_secs(30))
            .http2_adaptive_window(true)
            // Jira answers with redirects only for browser flows; an API client must see them.
            .redirect(reqwest::redirect::Policy::none());
        let http = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                // Only fails if the TLS backend cannot initialise; fall back to defaults so the
                // process still comes up and the error shows on first use.
                tracing::error!(error = %e, "could not build tuned HTTP client; using defaults");
                reqwest::Client::new()
            }
        };
        JiraClient {
            inner: Arc::new(Inner {
                http,
                limiter: ConnectionLimiter::new(cfg.per_connection_concurrency),
                cfg,
                admitted: Default::default(),
            }),
        }
    }

    /// The one pooled client (auth uses it for token calls too).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// Number of connections with requests in flight or waiting for a slot.
    pub fn busy_connections(&self) -> usize {
        self.inner.limiter.live_connections()
    }

    /// Slots `connection_key` may use now: the configured concurrency, or less after 429s.
    pub fn concurrency_window(&self, connection_key: &str) -> usize {
        self.inner.limiter.window(connection_key)
    }

    /// Holds every request of `connection_key` back for `wait`, as if this instance had seen
    /// the 429 itself (another instance did). Not published again.
    pub fn hold_connection(&self, connection_key: &str, wait: Duration) {
        if let Some(until) = Instant::now().checked_add(wait) {
            self.inner.limiter.hold_until(connection_key, until);
        }
    }

    /// A hold this instance found out by itself: applied here and told to the others.
    fn hold_and_publish(&self, connection_key: &str, wait: Duration) {
        self.hold_connection(connection_key, wait);
        if let Some(board) = &self.inner.cfg.hold_board {
            board.publish(connection_key, wait);
        }
    }

    /// Sends one request: per-connection limit, 429 waits, backoff for idempotent 5xx, one
    /// credential refresh after a 401; a non-2xx final answer becomes a [`JiraError`].
    pub async fn send(
        &self,
        src: &dyn TokenSource,
        req: JiraRequest,
    ) -> Result<JiraResponse, JiraError> {
        let deadline = Instant::now() + self.inner.cfg.deadline;
        let path_and_query = req.path_and_query();
        let mut headers = header_map(&req.headers)?;
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        let body = BodySource::from_request(req.body)?;
        if body.is_multipart() && !headers.contains_key("x-atlassian-token") {
            // Jira refuses multipart uploads without it (XSRF protection).
            headers.insert("x-atlassian-token", HeaderValue::from_static("no-check"));
        }
        let call = Call {
            method: req.method,
            path_and_query: &path_and_query,
            headers,
            body,
            buffered: true,
            read_only: req.read_only,
        };
        let mut connection = String::new();
        let work = async {
            let fin = self.run(src, call, deadline, &mut connection).await?;
            let (response, target) = match fin {
                Final::RateLimited {
                    target,
                    retry_after,
                    ..
                } => {
                    return Err(JiraError::RateLimited {
                        connection: target.connection_key,
                        retry_after,
                    });
                }
                Final::Answer {
                    response, target, ..
                } => (response, target),
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(&target.connection_key, &e))?;
            if status.is_success() {
                return Ok(JiraResponse {
                    status,
                    headers,
                    body,
                });
            }
            if status == StatusCode::UNAUTHORIZED {
                let err = error::from_status(
                    status,
                    &headers,
                    &body,
                    &target.connection_key,
                    &path_and_query,
                );
                return Err(match err {
                    JiraError::MissingScope { .. } => err,
                    _ => JiraError::Unauthorized {
                        connection: target.connection_key.clone(),
                        hint: error::unauthorized_hint(target.auth.scheme()),
                    },
                });
            }
            Err(error::from_status(
                status,
                &headers,
                &body,
                &target.connection_key,
                &path_and_query,
            ))
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(JiraError::Timeout { connection }),
        }
    }

    /// For the credential-injecting proxy: streams the request and response bodies, injects
    /// `Authorization`, drops the caller's `Authorization`, `Host` and hop-by-hop headers, and
    /// returns the upstream answer as is (any status). Retries (429, idempotent 5xx, one refresh
    /// after a 401) happen only when the body is replayable (buffered bytes).
    pub async fn send_raw(
        &self,
        src: &dyn TokenSource,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, JiraError> {
        let deadline = Instant::now() + self.inner.cfg.deadline;
        let call = Call {
            method,
            path_and_query,
            headers: strip_for_upstream(headers),
            body: BodySource::from_raw(body),
            buffered: false,
            read_only: false,
        };
        let mut connection = String::new();
        let work = self.run(src, call, deadline, &mut connection);
        match tokio::time::timeout_at(deadline, work).await {
            Ok(Ok(Final::Answer { response, .. } | Final::RateLimited { response, .. })) => {
                Ok(response)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(JiraError::Timeout { connection }),
        }
    }

    /// The retry loop shared by `send` and `send_raw`.
    async fn run(
        &self,
        src: &dyn TokenSource,
        mut call: Call<'_>,
        deadline: Instant,
        connection_out: &mut String,
    ) -> Result<Final, JiraError> {
        let cfg = &self.inner.cfg;
        let mut target = src.target().await?;
        connection_out.clone_from(&target.connection_key);
        let idempotent = call.read_only || retry::is_idempotent(&call.method);
        let mut refreshed = false;
        let mut retries: u32 = 0;
        loop {
            // Checked before every attempt: a refresh may hand back a different target.
            let url = self.checked_url(&target, call.path_and_query)?;
            self.wait_for_hold(&target.connection_key, deadline).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            let max_wait = cfg.max_queue_wait.min(left);
            let permit = match self
                .inner
                .limiter
                .acquire(
                    &target.connection_key,
                    cfg.max_queued_per_connection,
                    max_wait,
                )
                .await
            {
                Ok(p) => p,
                Err(Refusal::WaitedTooLong) if max_wait < cfg.max_queue_wait => {
                    return Err(JiraError::Timeout {
                        connection: target.connection_key.clone(),
                    });
                }
                Err(Refusal::QueueFull { waiting }) => {
                    metrics::counter!("jiragate_jira_shed_total", "reason" => "queue_full")
                        .increment(1);
                    return Err(JiraError::Overloaded {
                        connection: target.connection_key.clone(),
                        waiting,
                        slots: cfg.per_connection_concurrency,
                        retry_after: SHED_RETRY_AFTER,
                    });
                }
                Err(Refusal::WaitedTooLong) => {
                    metrics::counter!("jiragate_jira_shed_total", "reason" => "waited_too_long")
                        .increment(1);
                    return Err(JiraError::Overloaded {
                        connection: target.connection_key.clone(),
                        waiting: cfg.max_queued_per_connection,
                        slots: cfg.per_connection_concurrency,
                        retry_after: SHED_RETRY_AFTER,
                    });
                }
                Err(Refusal::Closed) => {
                    return Err(JiraError::Transport {
                        connection: target.connection_key.clone(),
                        message: "client is shutting down".to_owned(),
                    });
                }
            };
            // A 429 may have arrived for this connection while we waited for the slot.
            if self
                .inner
                .limiter
                .held_until(&target.connection_key)
                .is_some()
            {
                drop(permit);
                continue;
            }
            let replayable = call.body.replayable();
            let started = Instant::now();
            let outcome = self.attempt(&mut call, &target, url).await;
            let elapsed = started.elapsed();
            record_metrics(&target, outcome.as_ref().ok(), elapsed);

            let response = match outcome {
                Ok(r) => r,
                Err(err) => {
                    drop(permit);
                    let may_retry = idempotent && replayable && retries < cfg.max_retries;
                    if may_retry {
                        let wait = retry::backoff(cfg.base_backoff, retries, cfg.max_retry_wait);
                        if Instant::now() + wait < deadline {
                            tracing::debug!(connection = %target.connection_key, error = %err,
                                wait_ms = wait.as_millis() as u64, "retrying after transport error");
                            tokio::time::sleep(wait).await;
                            retries += 1;
                            continue;
                        }
                    }
                    return Err(err);
                }
            };
            let status = response.status();

            if status == StatusCode::UNAUTHORIZED && replayable && !refreshed {
                let (response, body) = buffer_small(response).await;
                let body_text = String::from_utf8_lossy(&body);
                if error::mentions_scope_problem(&body_text) {
                    // A refresh keeps the same scopes; do not burn a refresh token on it.
                    return Ok(Final::Answer {
                        response,
                        target,
                        _permit: Some(permit),
                    });
                }
                drop(permit);
                match src.on_unauthorized(&target).await? {
                    Some(fresh) => {
                        tracing::debug!(connection = %target.connection_key, "credential refreshed after 401");
                        target = fresh;
                        connection_out.clone_from(&target.connection_key);
                        refreshed = true;
                        continue;
                    }
                    None => {
                        return Ok(Final::Answer {
                            response,
                            target,
                            _permit: None,
                        });
                    }
                }
            }

            if status == StatusCode::TOO_MANY_REQUESTS {
                metrics::counter!("jiragate_upstream_rate_limited_total").increment(1);
                let demanded =
                    retry::rate_limit_wait(response.headers(), OffsetDateTime::now_utc());
                let wait = demanded.unwrap_or_else(|| {
                    retry::backoff(cfg.base_backoff, retries, cfg.max_retry_wait)
                });
                // Every request of this connection waits, not only this one, here and on the
                // other instances; and fewer go at once from now on.
                self.hold_and_publish(&target.connection_key, wait);
                let window = self
                    .inner
                    .limiter
                    .record_rate_limited(&target.connection_key, &permit);
                metrics::gauge!("jiragate_jira_concurrency_window", "connection" => target.connection_key.clone())
                    .set(window as f64);
                let within_budget = replayable
                    && retries < cfg.max_retries
                    && wait <= cfg.max_retry_wait
                    && Instant::now()
                        .checked_add(wait)
                        .is_some_and(|t| t < deadline);
                if !within_budget {
                    drop(permit);
                    return Ok(Final::RateLimited {
                        response,
                        target,
                        retry_after: wait,
                    });
                }
                drop(permit);
                drop(response);
                tracing::debug!(connection = %target.connection_key,
                    wait_ms = wait.as_millis() as u64, "rate limited; waiting before retry");
                tokio::time::sleep(wait).await;
                retries += 1;
                continue;
            }

            if retry::is_retryable_server_error(status)
                && idempotent
                && replayable
                && retries < cfg.max_retries
            {
                let mut wait = retry::backoff(cfg.base_backoff, retries, cfg.max_retry_wait);
                if let Some(asked) =
                    retry::rate_limit_wait(response.headers(), OffsetDateTime::now_utc())
                {
                    wait = wait.max(asked);
                }
                // Budget first: a huge Retry-After must not overflow the Instant addition.
                if wait <= cfg.max_retry_wait
                    && Instant::now()
                        .checked_add(wait)
                        .is_some_and(|t| t < deadline)
                {
                    drop(permit);
                    drop(response);
                    tracing::debug!(connection = %target.connection_key, status = status.as_u16(),
                        wait_ms = wait.as_millis() as u64, "retrying after server error");
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
            }

            if !status.is_server_error() {
                self.inner
                    .limiter
                    .record_success(&target.connection_key, &permit);
            }
            self.pace(&target.connection_key, &response);
            return Ok(Final::Answer {
                response,
                target,
                _permit: Some(permit),
            });
        }
    }

    /// Waits while the connection is on a rate-limit hold. A hold that would outlast the call's
    /// budget answers `RateLimited` at once (with the time to wait), instead of keeping the
    /// caller until its deadline.
    async fn wait_for_hold(
        &self,
        connection_key: &str,
        deadline: Instant,
    ) -> Result<(), JiraError> {
        let cfg = &self.inner.cfg;
        while let Some(until) = self.inner.limiter.held_until(connection_key) {
            let wait = until.saturating_duration_since(Instant::now());
            if until >= deadline || wait > cfg.max_retry_wait {
                return Err(JiraError::RateLimited {
                    connection: connection_key.to_owned(),
                    retry_after: wait,
                });
            }
            metrics::counter!("jiragate_upstream_rate_limit_waits_total").increment(1);
            tokio::time::sleep_until(until).await;
        }
        Ok(())
    }

    /// Paces before the limit is hit: an answer that says the budget is spent
    /// (`X-RateLimit-Remaining: 0`) holds the connection until the reset it names.
    fn pace(&self, connection_key: &str, response: &reqwest::Response) {
        let spent = response
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        if !spent {
            return;
        }
        if let Some(wait) = retry::rate_limit_wait(response.headers(), OffsetDateTime::now_utc()) {
            self.hold_and_publish(connection_key, wait);
        }
    }

    /// The URL of one attempt: the target's base must be admitted by the upstream policy and the
    /// path must stay inside it ([`UpstreamBase::url_for`]). Nothing is sent otherwise.
    fn checked_url(&self, target: &Target, path_and_query: &str) -> Result<url::Url, JiraError> {
        let base = self.admitted_base(target)?;
        Ok(base.url_for(path_and_query)?)
    }

    /// The target's base, admitted by the upstream policy and parsed: from the cache, or
    /// checked now (refusals are not kept, so they are checked, and named, every time).
    fn admitted_base(&self, target: &Target) -> Result<Arc<UpstreamBase>, JiraError> {
        if let Some(base) = self.admitted_bases().get(&target.base_url) {
            return Ok(base.clone());
        }
        if let Some(policy) = &self.inner.cfg.upstream_policy {
            policy
                .admit_base(&target.base_url)
                .map_err(|e| JiraError::InvalidRequest {
                    field: "base_url".to_owned(),
                    message: format!("connection {}: {}", target.connection_key, e.message),
                })?;
        }
        let base = Arc::new(UpstreamBase::parse(&target.base_url)?);
        let mut admitted = self.admitted_bases();
        if admitted.len() >= MAX_ADMITTED_BASES {
            admitted.clear();
        }
        admitted.insert(target.base_url.clone(), base.clone());
        Ok(base)
    }

    fn admitted_bases(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<UpstreamBase>>> {
        // A panic while holding it cannot leave the map inconsistent: insert or clear.
        self.inner
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One HTTP exchange up to the response headers.
    async fn attempt(
        &self,
        call: &mut Call<'_>,
        target: &Target,
        url: url::Url,
    ) -> Result<reqwest::Response, JiraError> {
        let cfg = &self.inner.cfg;
        let mut rb = self
            .inner
            .http
            .request(call.method.clone(), url)
            .headers(call.headers.clone())
            .header(header::AUTHORIZATION, target.auth.header_value()?);
        rb = call.body.attach(rb, &call.headers)?;
        if call.buffered {
            rb = rb.timeout(cfg.request_timeout);
            rb.send()
                .await
                .map_err(|e| transport_error(&target.connection_key, &e))
        } else {
            match tokio::time::timeout(cfg.request_timeout, rb.send()).await {
                Ok(r) => r.map_err(|e| transport_error(&target.connection_key, &e)),
                Err(_) => Err(JiraError::Timeout {
                    connection: target.connection_key.clone(),
                }),
            }
        }
    }
}

/// Reads up to [`MAX_401_BODY`] of an answer and rebuilds it so it can still be returned.
async fn buffer_small(response: reqwest::Response) -> (reqwest::Response, Bytes) {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut response = response;
    while body.len() < MAX_401_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_401_BODY);
    let body = Bytes::from(body);
    let mut rebuilt = http::Response::new(body.clone());
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    // The length may have changed if we truncated; let the framework recompute it.
    rebuilt.headers_mut().remove(header::CONTENT_LENGTH);
    rebuilt.headers_mut().remove(header::TRANSFER_ENCODING);
    (reqwest::Response::from(rebuilt), body)
}

fn record_metrics(target: &Target, response: Option<&reqwest::Response>, elapsed: Duration) {
    metrics::histogram!("jiragate_upstream_request_duration_seconds").record(elapsed.as_secs_f64());
    let status = match response {
        Some(r) => status_label(r.status()),
        None => metrics::SharedString::const_str("error"),
    };
    metrics::counter!("jiragate_upstream_requests_total", "status" => status).increment(1);
    if let Some(remaining) = response
        .and_then(|r| r.headers().get("x-ratelimit-remaining"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        metrics::gauge!("jiragate_upstream_ratelimit_remaining", "connection" => target.connection_key.clone())
            .set(remaining);
    }
}

/// The status label of an upstream answer; Jira's usual codes without allocating.
fn status_label(status: StatusCode) -> metrics::SharedString {
    const USUAL: [&str; 14] = [
        "200", "201", "204", "301", "302", "304", "400", "401", "403", "404", "409", "429", "500",
        "503",
    ];
    match USUAL
        .iter()
        .find(|s| s.as_bytes() == status.as_str().as_bytes())
    {
        Some(s) => metrics::SharedString::const_str(s),
        None => metrics::SharedString::from(status.as_str().to_owned()),
    }
}

fn transport_error(connection: &str, err: &reqwest::Error) -> JiraError {
    if err.is_timeout() {
        return JiraError::Timeout {
            connection: connection.to_owned(),
        };
    }
    // The chain names the actual cause (refused, DNS, TLS); the URL is left out on purpose.
    let mut message = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        source = e.source();
    }
    if let Some(url) = err.url() {
        message = message.replace(&format!(" ({url})"), "");
        message = message.replace(url.as_str(), "<jira>");
    }
    JiraError::Transport {
        connection: connection.to_owned(),
        message,
    }
}

fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, JiraError> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| JiraError::Credential {
            message: format!("invalid request header name {k:?}"),
        })?;
        if name == header::AUTHORIZATION {
            // The credential comes only from the token source.
            continue;
        }
        let value = HeaderValue::from_str(v).map_err(|_| JiraError::Credential {
            message: format!("invalid value for request header {k}"),
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Removes what must not travel from the proxy caller to Jira: their `Authorization`, `Cookie`,
/// `Host`, hop-by-hop and forwarding headers, and any header the `Connection` header names.
pub fn strip_for_upstream(mut headers: HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    // The caller's few headers are each compared with the lists, rather than every listed
    // name parsed and looked up in the map: what the proxy front end already dropped costs
    // nothing here.
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            HOP_BY_HOP.contains(&n)
                || FORWARDING_HEADERS.contains(&n)
                || *name == header::AUTHORIZATION
                || *name == header::COOKIE
                || *name == header::HOST
                || named_by_connection.contains(name)
        })
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_credentials() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer caller-secret"),
            ("host", "jiragate.local"),
            ("connection", "keep-alive, x-custom-hop"),
            ("keep-alive", "timeout=5"),
            ("x-custom-hop", "1"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("forwarded", "for=10.0.0.1;host=evil"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("x-original-url", "/admin"),
            ("x-real-ip", "10.0.0.1"),
            ("cookie", "JSESSIONID=abc"),
            ("accept", "application/json"),
            ("x-atlassian-token", "no-check"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let out = strip_for_upstream(h);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["accept", "x-atlassian-token"]);
    }
}
