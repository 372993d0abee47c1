//! Shared state handed to every handler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use jiragate_engine::Engine;
use jiragate_store::{ConnectSessionId, OrgId};
use metrics_exporter_prometheus::PrometheusHandle;
use rand::RngCore;

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
    pub site_choices: SiteChoiceTickets,
    pub public_url: String,
    /// `api.atlassian.com` (or the simulator): base of `/ex/jira/{cloudId}`.
    pub api_url: String,
    /// Cancelled when the server shuts down (ends long-lived streams such as MCP SSE).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// When this instance last recorded each API key's use.
    pub key_touches: DashMap<String, Instant>,
}

impl AppState {
    pub(crate) fn new(
        engine: Engine,
        metrics: PrometheusHandle,
        limiter: Option<KeyRateLimiter>,
        public_url: String,
        api_url: String,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                engine,
                metrics,
                limiter,
                site_choices: SiteChoiceTickets::default(),
                public_url,
                api_url,
                shutdown: tokio_util::sync::CancellationToken::new(),
                key_touches: DashMap::new(),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Base URL of the Atlassian API gateway this server talks to.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// Cancelled when `App::serve`'s shutdown signal fires.
    pub fn shutdown_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.inner.shutdown
    }

    /// Public base URL of this server (OAuth redirect base).
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}

/// A pending site choice made in the browser after the OAuth callback.
#[derive(Debug, Clone)]
pub struct SiteChoiceTicket {
    pub org: OrgId,
    pub session_id: ConnectSessionId,
    pub allowed_cloud_ids: Vec<String>,
    expires_at: Instant,
}

/// Single-use tokens embedded in the site-choice page. They authorize exactly one
/// `POST /oauth/callback/site` for one session, without an API key (the browser has none).
/// Kept in memory: the form must post back to the instance that rendered it; the API route
/// `POST /api/v1/connect/sessions/{id}/site` works from any instance.
#[derive(Default)]
pub struct SiteChoiceTickets {
    tickets: DashMap<String, SiteChoiceTicket>,
}

const TICKET_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_TICKETS: usize = 10_000;

impl SiteChoiceTickets {
    pub fn issue(
        &self,
        org: OrgId,
        session_id: ConnectSessionId,
        allowed_cloud_ids: Vec<String>,
    ) -> String {
        let now = Instant::now();
        if self.tickets.len() >= MAX_TICKETS {
            self.tickets.retain(|_, t| t.expires_at > now);
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        self.tickets.insert(
            token.clone(),
            SiteChoiceTicket {
                org,
                session_id,
                allowed_cloud_ids,
                expires_at: now + TICKET_TTL,
            },
        );
        token
    }

    /// Remove and return the ticket if it exists and has not expired (single use).
    pub fn redeem(&self, token: &str) -> Option<SiteChoiceTicket> {
        let (_, ticket) = self.tickets.remove(token)?;
        (ticket.expires_at > Instant::now()).then_some(ticket)
    }
}
