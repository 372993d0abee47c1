//! Per-connection state shared by every request of this process: a concurrency limit (one
//! semaphore per `connection_key`, created on demand and forgotten once nothing uses it; the map
//! holds only weak references) with a bounded wait in front of it, and a rate-limit hold.
//!
//! Admission is bounded: when a connection's slots are busy, at most `max_waiting` requests
//! wait, each for at most `max_wait`. Past that a request is refused at once (shed) instead of
//! queueing until the caller's deadline — under overload callers get a fast, retryable answer
//! and jiragate stops calling Jira for answers nobody waits for any more. When Jira answers 429 (or says the budget
//! is spent), the whole connection waits until the time Jira named, not just the request that
//! saw it: Atlassian counts and penalises per credential.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

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
    by_connection: HashMap<String, Weak<Slot>>,
    sweep_at: usize,
}

/// One connection's slots and how many requests wait for one.
#[derive(Debug)]
struct Slot {
    semaphore: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// A slot of a connection; keeps the connection's entry alive while held.
#[derive(Debug)]
pub(crate) struct SlotPermit {
    _permit: OwnedSemaphorePermit,
    _slot: Arc<Slot>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `waiting` requests already wait for this connection.
    QueueFull { waiting: usize },
    /// It waited `max_wait` without getting a slot.
    WaitedTooLong,
    /// The limiter is shutting down.
    Closed,
}

/// Decrements a waiting count when the wait ends, however it ends (also when the caller's
/// future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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

    fn slot(&self, connection_key: &str) -> Arc<Slot> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(alive) = slots
            .by_connection
            .get(connection_key)
            .and_then(Weak::upgrade)
        {
            return alive;
        }
        let fresh = Arc::new(Slot {
            semaphore: Arc::new(Semaphore::new(self.permits_per_connection)),
            waiting: AtomicUsize::new(0),
        });
        slots
            .by_connection
            .insert(connection_key.to_owned(), Arc::downgrade(&fresh));
        if slots.by_connection.len() >= slots.sweep_at {
            slots.by_connection.retain(|_, w| w.strong_count() > 0);
            slots.sweep_at = (slots.by_connection.len() * 2).max(SWEEP_AT_LEAST);
        }
        fresh
    }

    /// A slot of this connection: at once when one is free; else after waiting behind fewer
    /// than `max_waiting` others for at most `max_wait`; else refused.
    pub(crate) async fn acquire(
        &self,
        connection_key: &str,
        max_waiting: usize,
        max_wait: Duration,
    ) -> Result<SlotPermit, Refusal> {
        let slot = self.slot(connection_key);
        if let Ok(permit) = slot.semaphore.clone().try_acquire_owned() {
            return Ok(SlotPermit {
                _permit: permit,
                _slot: slot,
            });
        }
        let ahead = slot.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&slot.waiting);
        if ahead >= max_waiting {
            return Err(Refusal::QueueFull { waiting: ahead });
        }
        match tokio::time::timeout(max_wait, slot.semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(SlotPermit {
                _permit: permit,
                _slot: slot.clone(),
            }),
            Ok(Err(_)) => Err(Refusal::Closed),
            Err(_) => Err(Refusal::WaitedTooLong),
        }
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

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn limits_each_connection_separately() {
        let limiter = ConnectionLimiter::new(2);
        let a1 = limiter.acquire("a", 100, WAIT).await.unwrap();
        let _a2 = limiter.acquire("a", 100, WAIT).await.unwrap();
        // A third permit for "a" must wait; "b" is independent.
        let third =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a", 100, WAIT)).await;
        assert!(
            third.is_err(),
            "third permit for the same connection must wait"
        );
        let _b = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("b", 100, WAIT))
            .await
            .expect("other connection is not limited")
            .unwrap();
        drop(a1);
        let _again =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a", 100, WAIT))
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
            let _p = limiter
                .acquire(&format!("conn-{i}"), 100, WAIT)
                .await
                .unwrap();
        }
        assert_eq!(limiter.live_connections(), 0);
        assert!(
            limiter.tracked_entries() < 64,
            "dead entries are swept: {}",
            limiter.tracked_entries()
        );
    }

    #[tokio::test]
    async fn admission_is_bounded_in_count_and_time() {
        let limiter = Arc::new(ConnectionLimiter::new(1));
        let held = limiter.acquire("a", 2, WAIT).await.unwrap();
        // two may wait …
        let l1 = limiter.clone();
        let w1 = tokio::spawn(async move { l1.acquire("a", 2, WAIT).await.map(|_| ()) });
        let l2 = limiter.clone();
        let w2 = tokio::spawn(async move { l2.acquire("a", 2, WAIT).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // … a third is refused at once
        assert_eq!(
            limiter.acquire("a", 2, WAIT).await.err(),
            Some(Refusal::QueueFull { waiting: 2 })
        );
        drop(held);
        assert!(w1.await.unwrap().is_ok() && w2.await.unwrap().is_ok());
        // a wait has a time limit, and a refused or dropped waiter leaves no count behind
        let held = limiter.acquire("a", 2, WAIT).await.unwrap();
        assert_eq!(
            limiter
                .acquire("a", 2, Duration::from_millis(30))
                .await
                .err(),
            Some(Refusal::WaitedTooLong)
        );
        let dropped =
            tokio::time::timeout(Duration::from_millis(20), limiter.acquire("a", 2, WAIT)).await;
        assert!(dropped.is_err());
        let slot = limiter.slot("a");
        assert_eq!(slot.waiting.load(Ordering::SeqCst), 0);
        drop(held);
    }
}
