//! atlassian-sim: a stateful, in-memory simulator of Atlassian Cloud.
//!
//! One listener serves the authorization server (`/authorize`, `/oauth/token`), the API
//! gateway (`/oauth/token/accessible-resources`, `/ex/jira/{cloudId}/…`), the sites
//! (`/site/{subdomain}/…`) and test controls (`/__sim/…`). Start it with
//! [`Simulator::start`]; the returned [`SimHandle`] carries the URLs and seeded credentials.

mod agile;
mod api;
mod auth;
mod call;
mod clock;
pub mod config;
mod controls;
mod faults;
mod handlers;
mod jql;
mod model;
mod multipart;
mod platform;
mod ratelimit;
mod reply;
pub mod routes;
mod routes_table;
mod seed;
mod server;
mod servicedesk;
mod sitedata;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Faults, SimConfig};
pub use ratelimit::IN_FLIGHT_GRACE_MS;
pub use state::{SimStats, TokenRequests};
pub use webhooks::WebhookDelivery;

/// One Jira site of the simulator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SiteInfo {
    pub subdomain: String,
    pub cloud_id: String,
    pub url: String,
    pub name: String,
}

/// The seeded OAuth 2.0 (3LO) app.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OAuthClientInfo {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// A seeded Atlassian account with its API tokens.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct UserInfo {
    pub email: String,
    pub account_id: String,
    /// Classic API token: Basic auth on the site URL.
    pub api_token: String,
    /// Scoped API token: Basic auth on `<api_url>/ex/jira/{cloudId}`.
    pub scoped_api_token: String,
    /// Holds Jira's *Administer Jira* global permission on every site (may manage admin
    /// webhooks). Only the first seeded user does.
    #[serde(default)]
    pub site_admin: bool,
}

/// What the binary prints as its one JSON line, and what tests read from the handle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SimInfo {
    pub auth_url: String,
    pub api_url: String,
    /// Template with a literal `{subdomain}`.
    pub site_url: String,
    pub sites: Vec<SiteInfo>,
    pub oauth_clients: Vec<OAuthClientInfo>,
    pub users: Vec<UserInfo>,
}

pub struct Simulator;

impl Simulator {
    /// Binds `cfg.listen`, seeds the data and serves in the background until the handle is
    /// shut down or dropped.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let state = Arc::new(state::SimState::new(cfg, base.clone()));
        let info = info_of(&state);
        let (tx, rx) = watch::channel(false);
        let app = server::router(state.clone());
        if let Some(hook_rx) = state.hook_rx.lock().take() {
            tokio::spawn(webhooks::deliver::run(state.clone(), hook_rx, rx.clone()));
        }
        let task = tokio::spawn(server::serve(listener, app, rx));
        Ok(SimHandle {
            info,
            addr,
            state,
            shutdown: tx,
            task: Some(task),
        })
    }
}

fn info_of(state: &state::SimState) -> SimInfo {
    let auth = state.auth.lock();
    SimInfo {
        auth_url: state.base_url.clone(),
        api_url: state.base_url.clone(),
        site_url: format!("{}/site/{{subdomain}}", state.base_url),
        sites: state
            .sites
            .iter()
            .map(|s| SiteInfo {
                subdomain: s.subdomain.clone(),
                cloud_id: s.cloud_id.clone(),
                url: state.site_url(&s.subdomain),
                name: s.name.clone(),
            })
            .collect(),
        oauth_clients: auth
            .clients
            .iter()
            .map(|c| OAuthClientInfo {
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.clone(),
                redirect_uris: c.redirect_uris.clone(),
            })
            .collect(),
        users: state
            .users
            .iter()
            .map(|u| UserInfo {
                email: u.email.clone(),
                account_id: u.account_id.clone(),
                api_token: u.api_token.clone(),
                scoped_api_token: u.scoped_api_token.clone(),
                site_admin: u.site_admin,
            })
            .collect(),
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    pub info: SimInfo,
    pub addr: SocketAddr,
    state: Arc<state::SimState>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for SimHandle {
    type Target = SimInfo;
    fn deref(&self) -> &SimInfo {
        &self.info
    }
}

impl SimHandle {
    /// Base URL of a site, e.g. `http://127.0.0.1:P/site/acme`.
    pub fn site_url(&self, subdomain: &str) -> String {
        self.state.site_url(subdomain)
    }

    /// `<api_url>/ex/jira/{cloudId}` of a site (by subdomain), if it exists.
    pub fn ex_jira_url(&self, subdomain: &str) -> Option<String> {
        self.state
            .site_by_subdomain(subdomain)
            .map(|s| format!("{}/ex/jira/{}", self.state.base_url, s.cloud_id))
    }

    /// The same as `GET /__sim/stats`.
    pub async fn stats(&self) -> SimStats {
        self.state.stats.snapshot()
    }

    /// Every request received so far (the last 10,000), oldest first, as
    /// `"<METHOD> <path?query as received>"`; the same as `GET /__sim/requests`.
    pub fn request_log(&self) -> Vec<String> {
        self.state.request_log.lock().iter().cloned().collect()
    }

    /// Moves the simulated clock forward.
    pub fn advance_clock(&self, secs: u64) {
        self.state.clock.advance_secs(secs);
    }

    /// Moves the simulated clock to the start of the next rate-limit window (windows are whole
    /// minutes of the simulated clock), so a test that spends a budget has about 60 s before
    /// it is refilled instead of racing a reset that happens to fall mid-test.
    pub fn start_rate_window(&self) {
        let window_ms = config::RATE_WINDOW_SECS * 1000;
        let into = self.state.clock.now_ms().rem_euclid(window_ms);
        // Whole seconds, rounded up: lands in the first second of the next window.
        let secs = (window_ms - into + 999) / 1000;
        self.state
            .clock
            .advance_secs(u64::try_from(secs).unwrap_or(0));
    }

    /// Allows another redirect URI on the first seeded OAuth client (e.g. a callback on a
    /// port only known after the simulator started).
    pub fn add_redirect_uri(&self, uri: &str) {
        controls::add_redirect(&self.state, None, uri);
    }

    /// Changes the request budget per 60 simulated seconds for every credential (`None` = unlimited).
    pub fn set_rate_limit(&self, limit: Option<u32>) {
        self.state.limiter.lock().set_default(limit);
    }

    /// Every webhook delivery attempt so far (the last 10,000), oldest first; the same as
    /// `GET /__sim/webhooks/deliveries`.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.state.hooks.lock().log.iter().cloned().collect()
    }

    /// The secrets of the admin webhooks registered so far (for tests that check where a
    /// secret must never appear in clear).
    pub fn admin_webhook_secrets(&self) -> Vec<String> {
        let hooks = self.state.hooks.lock();
        hooks
            .admin
            .iter()
            .filter_map(|h| h.secret.clone())
            .collect()
    }

    /// Share of webhook deliveries sent twice (same identifier), `0.0..=1.0`.
    pub fn set_webhook_duplicate_rate(&self, rate: f64) {
        self.state.hooks.lock().duplicate_rate = rate.clamp(0.0, 1.0);
    }

    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
