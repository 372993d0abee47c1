//! Where Atlassian lives, how the token manager behaves, and the clock it reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// Base URLs of the three Atlassian services (or of one atlassian-sim listener).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtlassianEndpoints {
    /// `https://auth.atlassian.com`: `/authorize` and `/oauth/token`.
    pub auth_url: String,
    /// `https://api.atlassian.com`: accessible-resources and `/ex/jira/{cloudId}`.
    pub api_url: String,
    /// `https://{subdomain}.atlassian.net`: where classic API tokens are used.
    pub site_url_template: String,
}

impl AtlassianEndpoints {
    /// The real Atlassian Cloud.
    pub fn atlassian_cloud() -> Self {
        AtlassianEndpoints {
            auth_url: "https://auth.atlassian.com".to_owned(),
            api_url: "https://api.atlassian.com".to_owned(),
            site_url_template: "https://{subdomain}.atlassian.net".to_owned(),
        }
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/oauth/token", self.auth_url.trim_end_matches('/'))
    }

    pub(crate) fn authorize_url(&self) -> String {
        format!("{}/authorize", self.auth_url.trim_end_matches('/'))
    }

    pub(crate) fn accessible_resources_url(&self) -> String {
        format!(
            "{}/oauth/token/accessible-resources",
            self.api_url.trim_end_matches('/')
        )
    }
}

impl Default for AtlassianEndpoints {
    fn default() -> Self {
        Self::atlassian_cloud()
    }
}

/// Wall clock with an adjustable offset, so tests can move time forward together with the
/// simulator's clock (`/__sim/clock/advance`) instead of sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Clock::default()
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.as_secs() as i64, Ordering::Relaxed);
    }
}

/// Timing of the background task ([`crate::AuthService::spawn_background`]).
#[derive(Clone, Debug)]
pub struct BackgroundConfig {
    /// How often the task wakes up (each wake-up is jittered by up to a quarter of this).
    pub tick: Duration,
    /// A connection counts as "recently used" when a token was asked for within this window;
    /// only those get proactive refreshes.
    pub recent_use_window: Duration,
    /// Idle OAuth connections whose refresh token was issued longer ago than this get a
    /// keep-alive refresh (Atlassian kills refresh tokens after 90 days of inactivity).
    pub keepalive_after: Duration,
    /// How often the idle-connection scan and the health scheduler look at the database.
    pub scan_interval: Duration,
    /// Interval between scheduled health checks of one connection.
    pub health_interval: Duration,
    /// Random extra delay added per connection, so checks spread out.
    pub health_jitter: Duration,
    /// Global cap on scheduled health checks per minute (all connections, this instance).
    pub health_checks_per_minute: u32,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            tick: Duration::from_secs(30),
            recent_use_window: Duration::from_secs(2 * 3600),
            keepalive_after: Duration::from_secs(30 * 24 * 3600),
            scan_interval: Duration::from_secs(300),
            health_interval: Duration::from_secs(6 * 3600),
            health_jitter: Duration::from_secs(15 * 60),
            health_checks_per_minute: 30,
        }
    }
}

/// Everything [`crate::AuthService`] needs besides its store, keyring and HTTP client.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub endpoints: AtlassianEndpoints,
    /// Base of the OAuth redirect URI: `<public_url>/oauth/callback`.
    pub public_url: String,
    /// Tokens that expire within this margin are refreshed proactively in the background.
    pub refresh_margin: Duration,
    /// Time-to-live of the cross-instance refresh lease (`refresh:<connection>`). Short, and
    /// renewed while a refresh runs (every third of it), so a holder that died blocks others
    /// for at most this long.
    pub lease_ttl: Duration,
    /// Names this instance in leases and audit events. Random by default; an operator who
    /// gives each instance a stable id (`JIRAGATE_INSTANCE_ID`, e.g. a StatefulSet pod name)
    /// lets a restarted instance take over leases its crashed predecessor still held.
    pub instance_id: String,
    /// Names this run of the process: leases are held as `<instance_id>#<boot_id>`.
    pub boot_id: String,
    /// How long an OAuth connect session (and its state) stays usable. Atlassian flows take
    /// seconds; 10 minutes is generous without leaving stale states around.
    pub connect_session_ttl: Duration,
    /// How long a caller waits for another instance's refresh lease before giving up.
    pub lease_wait: Duration,
    /// A token whose remaining life is shorter than this is treated as expired on use (so a
    /// token never expires between being handed out and reaching Jira).
    pub expiry_skew: Duration,
    /// Timeout of calls to the Atlassian token and accessible-resources endpoints.
    pub token_call_timeout: Duration,
    pub background: BackgroundConfig,
    pub clock: Clock,
    /// Extra hosts (`host` or `host:port`) a site URL may name besides `*.atlassian.net`:
    /// custom domains, allowed by the operator (`JIRAGATE_ALLOWED_UPSTREAM_HOSTS`).
    pub allowed_upstream_hosts: Vec<String>,
}

impl AuthConfig {
    pub fn new(endpoints: AtlassianEndpoints, public_url: impl Into<String>) -> Self {
        AuthConfig {
            endpoints,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            refresh_margin: Duration::from_secs(5 * 60),
            lease_ttl: Duration::from_secs(5),
            instance_id: format!("jiragate-{}", uuid::Uuid::now_v7()),
            boot_id: uuid::Uuid::now_v7().simple().to_string(),
            connect_session_ttl: Duration::from_secs(10 * 60),
            lease_wait: Duration::from_secs(45),
            expiry_skew: Duration::from_secs(30),
            token_call_timeout: Duration::from_secs(20),
            background: BackgroundConfig::default(),
            clock: Clock::system(),
            allowed_upstream_hosts: Vec::new(),
        }
    }

    /// Which hosts credentials may be sent to, from the endpoints and the allowed hosts.
    pub fn upstream_policy(
        &self,
    ) -> Result<jiragate_jira::UpstreamPolicy, jiragate_jira::UpstreamError> {
        jiragate_jira::UpstreamPolicy::new(
            &self.endpoints.site_url_template,
            &self.endpoints.api_url,
            &self.allowed_upstream_hosts,
        )
    }

    /// `<public_url>/oauth/callback`, the redirect URI registered with Atlassian.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url.trim_end_matches('/'))
    }
}
