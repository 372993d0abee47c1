//! Per-connection state shared by every request of this process: a concurrency limit (one
//! semaphore per `connection_key`, created on demand and forgotten once nothing uses it; the map
//! holds only weak references) and a rate-limit hold. When Jira answers 429 (or says the budget
//! is spent), the whole connection waits until the time Jira named, not just the request that
//! saw it: Atlassian counts and penalises per credential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Sweeping dead entries costs O(n); do it only when the map has grown this much.
const SWEEP_AT_LEAST: usize = 32;

#[derive(Debug)]
pub(crate) struct ConnectionLimiter {
    permits_per_connection: usize,
    slots: Mutex<Slots>,
    /// Until when each connection must not call Jira. Strong entries (a hold must outlive the
    /// requests that saw it), pruned once expired.
    holds: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug, Default)]
struct Slots {
    by_connection: HashMap<String, Weak<Semaphore>>,
    sweep_at: usize,
}

impl ConnectionLimiter {
    pub(crate) fn new(permits_per_connection: usize) -> Self {
        ConnectionLimiter {
            permits_per_connection: permits_per_connection.max(1),
            slots: Mutex::new(Slots {
                by_connection: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
            holds: Mutex::new(HashMap::new()),
        }
    }

    /// Holds every request of `connection_key` back until `until` (extends, never shortens).
    pub(crate) fn hold_until(&self, connection_key: &str, until: Instant) {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if holds.len() >= SWEEP_AT_LEAST {
            holds.retain(|_, t| *t > now);
        }
        let entry = holds.entry(connection_key.to_owned()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// The time this connection may call again, if it is on hold now.
    pub(crate) fn held_until(&self, connection_key: &str) -> Option<Instant> {
        let holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds
            .get(connection_key)
            .copied()
            .filter(|t| *t > Instant::now())
    }

    fn semaphore(&self, connection_key: &str) -> Arc<Semaphore> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(alive) = slots
            .by_connection
            .get(connection_key)
            .and_then(Weak::upgrade)
        {
            return alive;
        }
        let fresh = Arc::new(Semaphore::new(self.permits_per_connection));
        slots
            .by_connection
            .insert(connection_key.to_owned(), Arc::downgrade(&fresh));
        if slots.by_connection.len() >= slots.sweep_at {
            slots.by_connection.retain(|_, w| w.strong_count() > 0);
            slots.sweep_at = (slots.by_connection.len() * 2).max(SWEEP_AT_LEAST);
        }
        fresh
    }

    /// Waits for a slot of this connection. The permit keeps the semaphore alive.
    /// Fails only if the semaphore was closed, which this module never does.
    pub(crate) async fn acquire(
        &self,
        connection_key: &str,
    ) -> Result<OwnedSemaphorePermit, tokio::sync::AcquireError> {
        self.semaphore(connection_key).acquire_owned().await
    }

    /// Number of connections currently tracked with live users (for tests and metrics).
    pub(crate) fn live_connections(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .by_connection
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    #[cfg(test)]
    pub(crate) fn tracked_entries(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.by_connection.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn limits_each_connection_separately() {
        let limiter = ConnectionLimiter::new(2);
        let a1 = limiter.acquire("a").await.unwrap();
        let _a2 = limiter.acquire("a").await.unwrap();
        // A third permit for "a" must wait; "b" is independent.
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a")).await;
        assert!(
            third.is_err(),
            "third permit for the same connection must wait"
        );
        let _b = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("b"))
            .await
            .expect("other connection is not limited")
            .unwrap();
        drop(a1);
        let _again = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a"))
            .await
            .expect("released permit is reusable")
            .unwrap();
    }

    #[tokio::test]
    async fn holds_extend_per_connection_and_expire() {
        let limiter = ConnectionLimiter::new(1);
        let now = Instant::now();
        limiter.hold_until("a", now + Duration::from_millis(200));
        limiter.hold_until("a", now + Duration::from_millis(50));
        assert_eq!(
            limiter.held_until("a"),
            Some(now + Duration::from_millis(200)),
            "a shorter hold never shortens a longer one"
        );
        assert_eq!(limiter.held_until("b"), None);
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(limiter.held_until("a"), None);
    }

    #[tokio::test]
    async fn forgets_unused_connections() {
        let limiter = ConnectionLimiter::new(1);
        for i in 0..200 {
            let _p = limiter.acquire(&format!("conn-{i}")).await.unwrap();
        }
        assert_eq!(limiter.live_connections(), 0);
        assert!(
            limiter.tracked_entries() < 64,
            "dead entries are swept: {}",
            limiter.tracked_entries()
        );
    }
}
