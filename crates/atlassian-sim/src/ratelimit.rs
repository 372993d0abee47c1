//! Per-credential fixed-window rate limiting on the simulated clock, with the bookkeeping
//! needed to count Retry-After violations.

use std::collections::HashMap;

use crate::config::RATE_WINDOW_SECS;

/// Outcome of one request against the budget.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No budget applies.
    Unlimited,
    Allowed {
        limit: u32,
        remaining: u32,
        reset_ms: i64,
    },
    Limited {
        limit: u32,
        retry_after_secs: i64,
        reset_ms: i64,
    },
}

#[derive(Default)]
struct Window {
    start_ms: i64,
    count: u32,
}

pub struct RateLimiter {
    default_limit: Option<u32>,
    /// Per-site overrides (`None` inside = unlimited on that site).
    site_limits: HashMap<usize, Option<u32>>,
    /// Per-credential overrides, keyed by credential identity.
    credential_limits: HashMap<String, Option<u32>>,
    windows: HashMap<(String, usize), Window>,
    /// When each credential was sent a 429, and when it may call again.
    blocked: HashMap<String, Block>,
}

#[derive(Clone, Copy)]
struct Block {
    since_ms: i64,
    until_ms: i64,
}

/// A request that arrives this soon after its credential got a 429 was already on the wire when
/// the 429 left: no client could have held it back, so it is not a violation (it is counted in
/// `retry_after_in_flight` instead).
pub const IN_FLIGHT_GRACE_MS: i64 = 250;

/// Whether a request arrived inside a Retry-After window, and whether it could have known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    Allowed,
    /// Inside the window, but within [`IN_FLIGHT_GRACE_MS`] of the 429.
    InFlight,
    Violation,
}

impl RateLimiter {
    pub fn new(default_limit: Option<u32>) -> RateLimiter {
        RateLimiter {
            default_limit,
            site_limits: HashMap::new(),
            credential_limits: HashMap::new(),
            windows: HashMap::new(),
            blocked: HashMap::new(),
        }
    }

    pub fn set_default(&mut self, limit: Option<u32>) {
        self.default_limit = limit;
    }
    /// `None` removes the site's override.
    pub fn set_site(&mut self, site: usize, limit: Option<u32>) {
        match limit {
            Some(l) => self.site_limits.insert(site, Some(l)),
            None => self.site_limits.remove(&site),
        };
    }
    /// `None` removes the credential's override.
    pub fn set_credential(&mut self, credential: String, limit: Option<u32>) {
        match limit {
            Some(l) => self.credential_limits.insert(credential, Some(l)),
            None => self.credential_limits.remove(&credential),
        };
    }

    /// True when the credential calls again before the Retry-After it was given elapsed (and
    /// not merely in flight when the 429 was sent).
    #[cfg(test)]
    pub fn is_violation(&self, credential: &str, now_ms: i64) -> bool {
        self.timing(credential, now_ms) == Timing::Violation
    }

    pub fn timing(&self, credential: &str, now_ms: i64) -> Timing {
        match self.blocked.get(credential) {
            Some(b) if now_ms < b.until_ms && now_ms < b.since_ms + IN_FLIGHT_GRACE_MS => {
                Timing::InFlight
            }
            Some(b) if now_ms < b.until_ms => Timing::Violation,
            _ => Timing::Allowed,
        }
    }

    /// Records a 429 sent for another reason (fault injection).
    pub fn block(&mut self, credential: &str, until_ms: i64) {
        self.block_at(credential, until_ms - 1000, until_ms);
    }

    fn block_at(&mut self, credential: &str, since_ms: i64, until_ms: i64) {
        // A 429 sent while already blocked does not restart the in-flight grace.
        let since_ms = match self.blocked.get(credential) {
            Some(b) if since_ms < b.until_ms => b.since_ms,
            _ => since_ms,
        };
        self.blocked
            .insert(credential.to_owned(), Block { since_ms, until_ms });
    }

    pub fn check(&mut self, credential: &str, site: usize, now_ms: i64) -> Decision {
        let limit = match self.credential_limits.get(credential) {
            Some(l) => *l,
            None => match self.site_limits.get(&site) {
                Some(l) => *l,
                None => self.default_limit,
            },
        };
        let Some(limit) = limit else {
            return Decision::Unlimited;
        };
        let window_ms = RATE_WINDOW_SECS * 1000;
        let w = self
            .windows
            .entry((credential.to_owned(), site))
            .or_default();
        if now_ms >= w.start_ms + window_ms {
            w.start_ms = now_ms - (now_ms % window_ms);
            w.count = 0;
        }
        let reset_ms = w.start_ms + window_ms;
        if w.count >= limit {
            let retry_after_secs = ((reset_ms - now_ms) + 999).div_euclid(1000).max(1);
            self.block_at(credential, now_ms, now_ms + retry_after_secs * 1000);
            return Decision::Limited {
                limit,
                retry_after_secs,
                reset_ms,
            };
        }
        w.count += 1;
        Decision::Allowed {
            limit,
            remaining: limit - w.count,
            reset_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_window_and_violations() {
        let mut r = RateLimiter::new(Some(2));
        let t = 120_000;
        assert!(matches!(
            r.check("a", 0, t),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            r.check("a", 0, t + 1),
            Decision::Allowed { remaining: 0, .. }
        ));
        let Decision::Limited {
            retry_after_secs, ..
        } = r.check("a", 0, t + 2)
        else {
            panic!("expected 429")
        };
        assert_eq!(retry_after_secs, 60);
        assert_eq!(r.timing("a", t + 3), Timing::InFlight);
        assert!(!r.is_violation("a", t + 3));
        assert!(r.is_violation("a", t + 2 + IN_FLIGHT_GRACE_MS));
        assert!(!r.is_violation("b", t + 3));
        assert!(matches!(r.check("b", 0, t + 3), Decision::Allowed { .. }));
        assert!(matches!(
            r.check("a", 0, t + 60_000),
            Decision::Allowed { .. }
        ));
        assert!(!r.is_violation("a", t + 62_000));
        r.set_default(None);
        assert_eq!(r.check("a", 1, t), Decision::Unlimited);
        r.set_credential("a".into(), Some(0));
        assert!(matches!(r.check("a", 1, t), Decision::Limited { .. }));
    }
}
