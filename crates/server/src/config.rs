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
        // Generous: the limit protects the instance from a runaway client, it is not a quota.
        RateLimitConfig {
            per_second: 100.0,
            burst: 1000,
        }
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
        }
    }
}
