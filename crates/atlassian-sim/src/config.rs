//! Simulator configuration: the library struct and the parsing of `--fault` specs.

use std::net::SocketAddr;
use std::time::Duration;

/// Injected faults. Rates are probabilities in `0.0..=1.0`, drawn from a RNG seeded by the
/// simulator seed so a run with the same seed and request order misbehaves the same way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Added to every API response.
    pub latency: Duration,
    /// Share of API requests answered 503.
    pub error_rate: f64,
    /// Share of API requests answered 429 with `Retry-After`.
    pub rate_limit_rate: f64,
    /// Share of API requests whose connection is closed without an answer.
    pub drop_rate: f64,
}

/// Why a `--fault` spec was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    #[error("fault spec `{0}` is not `name=value` (names: latency, 5xx, 429, drop)")]
    Shape(String),
    #[error("unknown fault `{0}` (known: latency, 5xx, 429, drop)")]
    Unknown(String),
    #[error("fault `{name}` has an invalid value `{value}`: {reason}")]
    Value {
        name: String,
        value: String,
        reason: &'static str,
    },
}

impl Faults {
    /// Applies one `name=value` spec: `latency=50ms` (or `latency=2s`, `latency=50`),
    /// `5xx=0.1`, `429=0.05`, `drop=0.01`.
    pub fn apply_spec(&mut self, spec: &str) -> Result<(), FaultSpecError> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| FaultSpecError::Shape(spec.to_owned()))?;
        let bad = |reason| FaultSpecError::Value {
            name: name.to_owned(),
            value: value.to_owned(),
            reason,
        };
        match name.trim() {
            "latency" => {
                let v = value.trim();
                let (num, scale) = if let Some(ms) = v.strip_suffix("ms") {
                    (ms, 1.0)
                } else if let Some(s) = v.strip_suffix('s') {
                    (s, 1000.0)
                } else {
                    (v, 1.0)
                };
                let n: f64 = num
                    .parse()
                    .map_err(|_| bad("expected milliseconds like 50ms or seconds like 2s"))?;
                if !(0.0..=60_000.0).contains(&(n * scale)) {
                    return Err(bad("must be between 0 and 60s"));
                }
                self.latency = Duration::from_micros((n * scale * 1000.0) as u64);
            }
            "5xx" | "error" | "500" | "503" => self.error_rate = parse_rate(value).map_err(bad)?,
            "429" | "rate" | "rate_limit" => {
                self.rate_limit_rate = parse_rate(value).map_err(bad)?
            }
            "drop" | "dropped" => self.drop_rate = parse_rate(value).map_err(bad)?,
            other => return Err(FaultSpecError::Unknown(other.to_owned())),
        }
        Ok(())
    }

    pub fn any(&self) -> bool {
        !self.latency.is_zero()
            || self.error_rate > 0.0
            || self.rate_limit_rate > 0.0
            || self.drop_rate > 0.0
    }
}

fn parse_rate(v: &str) -> Result<f64, &'static str> {
    let r: f64 = v
        .trim()
        .parse()
        .map_err(|_| "expected a probability like 0.1")?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err("must be between 0 and 1")
    }
}

/// Everything the simulator needs to start. `Default` gives two sites (`acme`, `globex`),
/// 50 issues per site, one-hour access tokens and a ten-minute refresh reuse window.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub seed: u64,
    pub issues_per_site: usize,
    pub sites: Vec<String>,
    pub access_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    /// Redirect URIs the seeded OAuth client accepts (exact match), in addition to
    /// `http://127.0.0.1/callback` which is always allowed.
    pub redirect_uris: Vec<String>,
    /// Show an HTML consent page instead of auto-consenting.
    pub consent_page: bool,
    pub faults: Faults,
    /// Requests per window (60 s of simulated time) per credential; `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// Webhook deliveries: retries after the first attempt (on 408, 409, 425, 429, 5xx,
    /// connection errors and timeouts) before a delivery is given up and listed as failed.
    pub webhook_max_retries: u32,
    /// Delay before the first retry; it doubles per retry, capped at [`WEBHOOK_BACKOFF_CAP`].
    /// Real time (not the simulated clock), so tests can keep it short.
    pub webhook_retry_backoff: Duration,
    /// Time limit of one delivery attempt (connect + answer).
    pub webhook_timeout: Duration,
    /// Deliveries waiting to be sent; events beyond it are dropped (and counted).
    pub webhook_queue: usize,
    /// Share of deliveries sent twice with the same `X-Atlassian-Webhook-Identifier`
    /// (Atlassian's at-least-once delivery), in `0.0..=1.0`.
    pub webhook_duplicate_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            issues_per_site: 50,
            sites: vec!["acme".to_owned(), "globex".to_owned()],
            access_token_ttl: Duration::from_secs(3600),
            refresh_reuse_grace: Duration::from_secs(600),
            redirect_uris: Vec::new(),
            consent_page: false,
            faults: Faults::default(),
            rate_limit: None,
            webhook_max_retries: 5,
            webhook_retry_backoff: Duration::from_millis(250),
            webhook_timeout: Duration::from_secs(10),
            webhook_queue: 1000,
            webhook_duplicate_rate: 0.0,
        }
    }
}

/// Redirect URI every seeded client accepts, so a default simulator can run a flow.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Longest wait between two webhook delivery attempts.
pub const WEBHOOK_BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Length of one rate-limit window in simulated seconds.
pub const RATE_WINDOW_SECS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse() {
        let mut f = Faults::default();
        f.apply_spec("latency=50ms").unwrap();
        f.apply_spec("5xx=0.25").unwrap();
        f.apply_spec("429=0.5").unwrap();
        f.apply_spec("drop=0.01").unwrap();
        assert_eq!(f.latency, Duration::from_millis(50));
        assert_eq!(
            (f.error_rate, f.rate_limit_rate, f.drop_rate),
            (0.25, 0.5, 0.01)
        );
        f.apply_spec("latency=2s").unwrap();
        assert_eq!(f.latency, Duration::from_secs(2));
        assert!(matches!(
            f.apply_spec("5xx=2"),
            Err(FaultSpecError::Value { .. })
        ));
        assert!(matches!(
            f.apply_spec("nope=1"),
            Err(FaultSpecError::Unknown(_))
        ));
        assert!(matches!(
            f.apply_spec("latency"),
            Err(FaultSpecError::Shape(_))
        ));
    }
}
