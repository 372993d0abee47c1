//! Configuration of one HTTP server instance.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiragate_engine::model::AtlassianEndpoints;
use secrecy::SecretString;

/// Per-API-key request budget: a token bucket refilled at `per_second`, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous: the limit protects the instance from a runaway client, it is not a quota,
        // and one well-behaved automation must reach what an instance can serve (a few
        // thousand calls/s on 2 cores).
        RateLimitConfig {
            per_second: 5000.0,
            burst: 10_000,
        }
    }
}

impl RateLimitConfig {
    /// The default as `serve --rate-limit-per-key` writes it (checked against `Default`).
    pub const DEFAULT_SPEC: &'static str = "5000:10000";

    /// `off`, `<per second>` (burst = 2 × rate) or `<per second>:<burst>`, e.g. `200:400`.
    pub fn parse(s: &str) -> Result<Option<RateLimitConfig>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s == "0" {
            return Ok(None);
        }
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let bad =
            || format!("{s:?}: use `off`, a rate per second like `200`, or `200:400` (rate:burst)");
        let per_second: f64 = rate.trim().parse().map_err(|_| bad())?;
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(bad());
        }
        let burst = match burst {
            Some(b) => b.trim().parse::<u32>().map_err(|_| bad())?.max(1),
            None => (per_second * 2.0).ceil().min(f64::from(u32::MAX)) as u32,
        };
        Ok(Some(RateLimitConfig { per_second, burst }))
    }
}

/// Everything `App::build` needs. `Default` gives the documented defaults of `jiragate serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free port (see `App::addr`).
    pub listen: SocketAddr,
    /// Where the embedded database, master key and admin key file live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/jiragate.db`.
    pub database_url: String,
    /// Base64 master key; `None` = `<data_dir>/master.key` (created 0600 on first start).
    pub master_key: Option<SecretString>,
    /// Base of the OAuth redirect URI; `None` = `http://<bound address>`.
    pub public_url: Option<String>,
    /// Atlassian base URLs (production by default, the simulator in tests).
    pub endpoints: AtlassianEndpoints,
    /// Apply pending migrations on start.
    pub migrate: bool,
    /// Run the engine's background refresh/health tasks in this instance.
    pub background: bool,
    /// Allowed CORS origins; empty = CORS off (no CORS headers at all).
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, bytes (proxy uploads included).
    pub body_limit: usize,
    /// Time limit for producing response headers.
    pub request_timeout: Duration,
    /// Per-API-key token bucket; `None` = unlimited.
    pub rate_limit_per_key: Option<RateLimitConfig>,
    /// Hosts besides `*.atlassian.net` that a site URL may name (custom domains).
    pub allowed_upstream_hosts: Vec<String>,
    /// A stable, unique name of this instance (see `EngineConfig::instance_id`).
    pub instance_id: Option<String>,
    /// Load shedding per connection (see `jiragate_engine::AdmissionLimits`).
    pub admission: jiragate_engine::AdmissionLimits,
    /// After the shutdown signal: how long to keep serving with `/readyz` at 503, so a load
    /// balancer stops routing here first (set it to the balancer's probe interval or more).
    pub drain_delay: Duration,
    /// Then: how long in-flight requests may take to finish before the server stops anyway.
    pub shutdown_timeout: Duration,
    /// How long a client connection may wait for its next request head (idle keep-alive, or a
    /// head arriving too slowly) before the server closes it. Behind a load balancer that
    /// reuses connections, set it above the balancer's own idle timeout.
    pub idle_timeout: Duration,
    /// MCP authorization: which client registration styles are accepted, and whether client
    /// metadata documents may live on private addresses.
    pub mcp_auth: jiragate_engine::mcp_auth::McpAuthConfig,
    /// Webhooks: subscriber URL policy, retries, the delivery worker and the refresh job.
    pub webhooks: jiragate_engine::webhooks::WebhookConfig,
    /// Budget of the public receiver `/hooks/jira/{id}` per connection; `None` = unlimited.
    pub webhook_rate_limit: Option<RateLimitConfig>,
    /// How long delivered and dead-lettered webhook deliveries, and their events, are kept
    /// (`JIRAGATE_WEBHOOKS_RETENTION`); pruned by the outbox's upkeep task.
    pub webhook_retention: Duration,
    /// How often recorded latency samples are folded into the Prometheus histograms. The
    /// exporter keeps every sample until then: without this, a server nobody scrapes holds
    /// all of them (about 16 bytes per request) for its life.
    pub metrics_upkeep_interval: Duration,
    /// Streamable HTTP sessions one caller (one `Authorization` value) may hold on `/mcp`;
    /// opening one more closes its oldest (`JIRAGATE_MCP_MAX_SESSIONS_PER_CALLER`).
    pub mcp_max_sessions_per_caller: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./jiragate-data"),
            database_url: String::new(),
            master_key: None,
            public_url: None,
            endpoints: AtlassianEndpoints::atlassian_cloud(),
            migrate: true,
            background: true,
            cors_origins: Vec::new(),
            body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            rate_limit_per_key: Some(RateLimitConfig::default()),
            allowed_upstream_hosts: Vec::new(),
            instance_id: None,
            admission: jiragate_engine::AdmissionLimits::default(),
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            mcp_auth: jiragate_engine::mcp_auth::McpAuthConfig::default(),
            webhooks: jiragate_engine::webhooks::WebhookConfig::default(),
            webhook_rate_limit: Some(RateLimitConfig {
                per_second: 100.0,
                burst: 1000,
            }),
            webhook_retention: jiragate_engine::webhooks_delivery::DEFAULT_RETENTION,
            metrics_upkeep_interval: crate::metrics::UPKEEP_INTERVAL,
            mcp_max_sessions_per_caller: jiragate_mcp::MAX_SESSIONS_PER_CALLER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_settings_parse() {
        assert_eq!(RateLimitConfig::parse("off").unwrap(), None);
        assert_eq!(RateLimitConfig::parse("0").unwrap(), None);
        let c = RateLimitConfig::parse("200").unwrap().unwrap();
        assert_eq!((c.per_second, c.burst), (200.0, 400));
        let c = RateLimitConfig::parse(" 50:75 ").unwrap().unwrap();
        assert_eq!((c.per_second, c.burst), (50.0, 75));
        assert_eq!(
            RateLimitConfig::parse(RateLimitConfig::DEFAULT_SPEC).unwrap(),
            Some(RateLimitConfig::default())
        );
        for bad in ["", "fast", "-1", "NaN", "inf", "10:x", "10:-1"] {
            assert!(RateLimitConfig::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
