//! Prometheus metrics: the process-wide recorder and the per-request middleware.
//!
//! The recorder is installed once per process. A second `App` in the same process (tests, the
//! refresh-storm scenario) shares the same handle; if some other recorder was installed first,
//! we fall back to a private recorder so `/metrics` still answers (with only what we record).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests served, by route template, method and status.
pub const HTTP_REQUESTS: &str = "jiragate_http_requests_total";
/// Latency of requests served, by route template.
pub const HTTP_DURATION: &str = "jiragate_http_request_duration_seconds";
/// Connections by health status (set on each scrape).
pub const CONNECTIONS: &str = "jiragate_connections";
/// Problems answered, by problem kind.
pub const PROBLEMS: &str = "jiragate_http_problems_total";
/// Threads running requests (`serve --worker-threads`, set on each scrape).
pub const RUNTIME_WORKERS: &str = "jiragate_runtime_worker_threads";
/// Per-key rate-limit rejections.
pub const KEY_RATE_LIMITED: &str = "jiragate_api_key_rate_limited_total";

/// Token requests answered from the in-memory cache (no database, no Atlassian call).
pub const TOKEN_CACHE_HITS: &str = "jiragate_token_cache_hits_total";
/// Token cache misses that went to the store (and possibly to Atlassian).
pub const TOKEN_FLIGHTS: &str = "jiragate_token_cache_misses_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the global recorder on first use.
pub fn prometheus_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(HTTP_DURATION.to_owned()),
                        &[
                            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                            10.0,
                        ],
                    )
                    .expect("bucket list is non-empty")
            };
            let handle = match builder().install_recorder() {
                Ok(handle) => handle,
                Err(err) => {
                    tracing::warn!(error = %err, "a metrics recorder is already installed; /metrics shows only a private recorder");
                    builder().build_recorder().handle()
                }
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served by route template and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    metrics::describe_gauge!(CONNECTIONS, "Connections by health status");
    metrics::describe_counter!(PROBLEMS, "Problem responses by kind");
    metrics::describe_gauge!(
        RUNTIME_WORKERS,
        "Threads running requests (serve --worker-threads; default one per CPU core)"
    );
    metrics::describe_counter!(
        KEY_RATE_LIMITED,
        "Requests refused by the per-API-key rate limit"
    );
}

/// How often [`spawn_upkeep`] runs (the exporter's own HTTP listener uses the same 5 s).
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every `interval`.
///
/// The Prometheus exporter appends every histogram sample to a lock-free list and drains it
/// only on upkeep; `/metrics` runs upkeep, but a server nobody scrapes would keep every
/// latency sample it ever recorded (a slow leak: about 16 bytes per request).
pub fn spawn_upkeep(
    handle: PrometheusHandle,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Counts and times one request under its route template (never the raw path, which holds
/// ids and Jira paths): started before the route runs, finished with its answer.
pub struct RequestTrack {
    route: &'static str,
    method: &'static str,
    started: Instant,
}

impl RequestTrack {
    pub fn start(req: &Request) -> Self {
        RequestTrack {
            route: req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", |p| intern(p.as_str())),
            method: method_label(req.method()),
            started: Instant::now(),
        }
    }

    pub fn finish(self, resp: &Response) {
        let status = intern(resp.status().as_str());
        let (route, method) = (self.route, self.method);
        metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
            .increment(1);
        metrics::histogram!(HTTP_DURATION, "route" => route)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// The method label: the standard methods by name, anything else `other`. A caller chooses
/// the method, so extension methods must not mint label values (each would be a new series,
/// kept for the life of the process).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

/// Label values as `&'static str`, so the metric keys of a request are built without
/// allocating. The values are route templates and status codes: small fixed sets (beyond
/// [`MAX_INTERNED`] distinct values, `other`).
fn intern(value: &str) -> &'static str {
    type Seen = std::sync::RwLock<std::collections::HashSet<&'static str>>;
    static SEEN: std::sync::LazyLock<Seen> = std::sync::LazyLock::new(Seen::default);
    use std::sync::PoisonError;
    if let Some(v) = SEEN
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(value)
    {
        return v;
    }
    let mut seen = SEEN.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = seen.get(value) {
        return v;
    }
    if seen.len() >= MAX_INTERNED {
        return "other";
    }
    let v: &'static str = Box::leak(value.to_owned().into_boxed_str());
    seen.insert(v);
    v
}

/// Distinct label values [`intern`] keeps (the router has about 90 routes).
const MAX_INTERNED: usize = 512;
