//! Per-API-key token buckets, in memory (each instance limits what it serves).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::RateLimitConfig;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A keyed token-bucket limiter.
#[derive(Debug)]
pub struct KeyRateLimiter {
    cfg: RateLimitConfig,
    buckets: DashMap<String, Mutex<Bucket>>,
}

impl KeyRateLimiter {
    pub fn new(cfg: RateLimitConfig) -> Self {
        KeyRateLimiter {
            cfg,
            buckets: DashMap::new(),
        }
    }

    /// Take one token for `key`; `Err(wait)` says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.cfg.burst.max(1));
        let rate = self.cfg.per_second.max(f64::MIN_POSITIVE);
        let entry = self.buckets.entry(key.to_owned()).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: burst,
                last: now,
            })
        });
        let mut b = entry.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = KeyRateLimiter::new(RateLimitConfig {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("k", t0).is_ok());
        }
        let wait = l.check_at("k", t0).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        // another key has its own bucket
        assert!(l.check_at("other", t0).is_ok());
        // half a second refills one token
        assert!(l.check_at("k", t0 + Duration::from_millis(500)).is_ok());
        assert!(l.check_at("k", t0 + Duration::from_millis(500)).is_err());
    }
}
