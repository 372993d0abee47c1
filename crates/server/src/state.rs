//! Shared state handed to every handler.

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use jiragate_engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::ratelimit::KeyRateLimiter;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    pub metrics: PrometheusHandle,
    pub limiter: Option<KeyRateLimiter>,
    pub public_url: String,
    /// `api.atlassian.com` (or the simulator): base of `/ex/jira/{cloudId}`.
    pub api_url: String,
    /// Cancelled when the server shuts down (ends long-lived streams such as MCP SSE).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// When this instance last recorded each API key's use.
    pub key_touches: DashMap<String, Instant>,
    /// Set when shutdown starts: `/readyz` answers 503 from then on.
    pub draining: std::sync::atomic::AtomicBool,
    /// The authorization server of `/mcp`.
    pub mcp_auth: jiragate_engine::mcp_auth::McpAuthority,
    /// Webhooks: the receiver, subscriptions and deliveries.
    pub webhooks: jiragate_engine::webhooks::Webhooks,
    /// Per-connection limit of the public webhook receiver.
    pub hook_limiter: Option<KeyRateLimiter>,
}

impl AppState {
    pub(crate) fn new(
        engine: Engine,
        metrics: PrometheusHandle,
        limiter: Option<KeyRateLimiter>,
        public_url: String,
        api_url: String,
        mcp_auth: jiragate_engine::mcp_auth::McpAuthConfig,
        // The webhook settings and the receiver's per-connection limiter.
        (webhooks, hook_limiter): (
            jiragate_engine::webhooks::WebhookConfig,
            Option<KeyRateLimiter>,
        ),
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                webhooks: jiragate_engine::webhooks::Webhooks::new(
                    engine.clone(),
                    &public_url,
                    webhooks,
                ),
                hook_limiter,
                mcp_auth: jiragate_engine::mcp_auth::McpAuthority::new(
                    engine.clone(),
                    &public_url,
                    mcp_auth,
                ),
                engine,
                metrics,
                limiter,
                public_url,
                api_url,
                shutdown: tokio_util::sync::CancellationToken::new(),
                key_touches: DashMap::new(),
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn webhooks(&self) -> &jiragate_engine::webhooks::Webhooks {
        &self.inner.webhooks
    }

    /// Base URL of the Atlassian API gateway this server talks to.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// Cancelled when `App::serve`'s shutdown signal fires.
    pub fn shutdown_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.inner.shutdown
    }

    /// Shutdown has started: stop being ready, keep serving.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Public base URL of this server (OAuth redirect base).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}
