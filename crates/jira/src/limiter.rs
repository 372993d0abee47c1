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
//!
//! Concurrency adapts to Jira (AIMD): a 429 halves the connection's window of slots (once per
//! [`DECREASE_SPACING`], since the requests in flight at that moment all hear the same news),
//! and each window's worth of answers without a 429 opens one more slot, up to the configured
//! number. A lowered window is remembered while it is below the maximum and the connection was
//! busy within [`WINDOW_MEMORY`]; after that quiet time the connection starts from the
//! maximum again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Sweeping dead entries costs O(n); do it only when the map has grown this much.
const SWEEP_AT_LEAST: usize = 32;

/// 429s closer together than this are one congestion event: one halving, not several.
pub(crate) const DECREASE_SPACING: Duration = Duration::from_secs(1);

/// How long a lowered window outlives the connection's last request.
pub(crate) const WINDOW_MEMORY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct ConnectionLimiter {
    permits_per_connection: usize,
    slots: Mutex<Slots>,
    /// Until when each connection must not call Jira. Strong entries (a hold must outlive the
    /// requests that saw it), pruned once expired.
    holds: Mutex<HashMap<String, Instant>>,
    /// Slots whose window is below the maximum, kept alive (strongly) so the lowered window
    /// survives gaps between requests; pruned once restored or quiet for [`WINDOW_MEMORY`].
    lowered: Mutex<HashMap<String, Arc<Slot>>>,
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
    window: Mutex<Window>,
}

/// The AIMD state of one connection. Invariant: permits in the semaphore (free and taken)
/// minus `debt` equals `limit`.
#[derive(Debug)]
struct Window {
    /// Slots this connection may use now (1..=maximum).
    limit: usize,
    /// Permits to retire as they come back: the window shrank while they were taken.
    debt: usize,
    /// Answers without a 429 since the window last grew.
    successes: usize,
    last_decrease: Option<Instant>,
    last_used: Instant,
}

/// A slot of a connection; keeps the connection's entry alive while held.
#[derive(Debug)]
pub(crate) struct SlotPermit {
    permit: Option<OwnedSemaphorePermit>,
    slot: Arc<Slot>,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut w = self.slot.window.lock().unwrap_or_else(|p| p.into_inner());
        w.last_used = Instant::now();
        if w.debt > 0 {
            // The window shrank while this permit was out: retire it instead of returning it.
            w.debt -= 1;
            permit.forget();
        }
    }
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
            lowered: Mutex::new(HashMap::new()),
        }
    }

    /// Jira answered 429 on this connection: halve its window (at most once per
    /// [`DECREASE_SPACING`]). Returns the window now in force.
    pub(crate) fn record_rate_limited(&self, connection_key: &str, permit: &SlotPermit) -> usize {
        let slot = &permit.slot;
        let limit = {
            let mut w = slot.window.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            w.last_used = now;
            w.successes = 0;
            if w.last_decrease
                .is_some_and(|at| now.duration_since(at) < DECREASE_SPACING)
            {
                return w.limit;
            }
            w.last_decrease = Some(now);
            let target = (w.limit / 2).max(1);
            let cut = w.limit - target;
            // Free permits go at once; the rest as they come back.
            let retired = slot.semaphore.forget_permits(cut);
            w.debt += cut - retired;
            w.limit = target;
            target
        };
        if limit < self.permits_per_connection {
            let mut lowered = self.lowered.lock().unwrap_or_else(|p| p.into_inner());
            lowered.insert(connection_key.to_owned(), slot.clone());
            if lowered.len() >= SWEEP_AT_LEAST {
                let max = self.permits_per_connection;
                lowered.retain(|_, s| s.is_lowered_and_recent(max));
            }
        }
        limit
    }

    /// An answer without a 429: after a window's worth of them, open one more slot.
    pub(crate) fn record_success(&self, connection_key: &str, permit: &SlotPermit) {
        let slot = &permit.slot;
        let restored = {
            let mut w = slot.window.lock().unwrap_or_else(|p| p.into_inner());
            if w.limit >= self.permits_per_connection {
                return;
            }
            w.successes += 1;
            if w.successes < w.limit {
                return;
            }
            w.successes = 0;
            w.limit += 1;
            if w.debt > 0 {
                w.debt -= 1;
            } else {
                slot.semaphore.add_permits(1);
            }
            w.limit >= self.permits_per_connection
        };
        if restored {
            let mut lowered = self.lowered.lock().unwrap_or_else(|p| p.into_inner());
            lowered.remove(connection_key);
        }
    }

    /// The number of slots this connection may use now (the maximum when it is not tracked).
    pub(crate) fn window(&self, connection_key: &str) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .by_connection
            .get(connection_key)
            .and_then(Weak::upgrade)
            .map(|s| s.window.lock().unwrap_or_else(|p| p.into_inner()).limit)
            .unwrap_or(self.permits_per_connection)
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
            window: Mutex::new(Window {
                limit: self.permits_per_connection,
                debt: 0,
                successes: 0,
                last_decrease: None,
                last_used: Instant::now(),
            }),
        });
        slots
            .by_connection
            .insert(connection_key.to_owned(), Arc::downgrade(&fresh));
        if slots.by_connection.len() >= slots.sweep_at {
            drop(slots);
            // Forget lowered windows that went quiet first, so their entries can go too.
            let max = self.permits_per_connection;
            self.lowered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, s| s.is_lowered_and_recent(max));
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
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
                permit: Some(permit),
                slot,
            });
        }
        let ahead = slot.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&slot.waiting);
        if ahead >= max_waiting {
            return Err(Refusal::QueueFull { waiting: ahead });
        }
        match tokio::time::timeout(max_wait, slot.semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(SlotPermit {
                permit: Some(permit),
                slot: slot.clone(),
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

impl Slot {
    fn is_lowered_and_recent(&self, max: usize) -> bool {
        let w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.limit < max && w.last_used.elapsed() < WINDOW_MEMORY
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

    /// How many permits of "a" can be taken at once right now (all released again).
    async fn takeable(limiter: &ConnectionLimiter) -> usize {
        let mut held = Vec::new();
        while let Ok(p) = limiter.acquire("a", 0, Duration::from_millis(1)).await {
            held.push(p);
        }
        held.len()
    }

    #[tokio::test]
    async fn a_429_halves_the_window_and_answers_reopen_it() {
        let limiter = ConnectionLimiter::new(8);
        let p = limiter.acquire("a", 0, WAIT).await.unwrap();
        assert_eq!(limiter.record_rate_limited("a", &p), 4);
        // More 429s from the same moment are the same event.
        assert_eq!(limiter.record_rate_limited("a", &p), 4);
        drop(p);
        assert_eq!(
            takeable(&limiter).await,
            4,
            "halved at once when slots are free"
        );
        assert_eq!(limiter.window("a"), 4);
        // A window's worth of answers (4) opens one slot, then 5 more the next, …
        let p = limiter.acquire("a", 0, WAIT).await.unwrap();
        for _ in 0..4 {
            limiter.record_success("a", &p);
        }
        assert_eq!(limiter.window("a"), 5);
        for _ in 0..(5 + 6 + 7) {
            limiter.record_success("a", &p);
        }
        assert_eq!(limiter.window("a"), 8);
        for _ in 0..100 {
            limiter.record_success("a", &p);
        }
        drop(p);
        assert_eq!(
            takeable(&limiter).await,
            8,
            "never beyond the configured maximum"
        );
    }

    #[tokio::test]
    async fn a_window_shrinks_while_its_slots_are_taken() {
        let limiter = ConnectionLimiter::new(8);
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(limiter.acquire("a", 0, WAIT).await.unwrap());
        }
        assert_eq!(limiter.record_rate_limited("a", &held[0]), 4);
        // Four of the eight returning slots are retired; nobody gets one until then.
        for _ in 0..4 {
            held.pop();
            assert!(
                limiter
                    .acquire("a", 0, Duration::from_millis(1))
                    .await
                    .is_err()
            );
        }
        held.clear();
        assert_eq!(takeable(&limiter).await, 4);
    }

    #[tokio::test]
    async fn a_lowered_window_outlives_gaps_between_requests() {
        let limiter = ConnectionLimiter::new(8);
        {
            let p = limiter.acquire("a", 0, WAIT).await.unwrap();
            limiter.record_rate_limited("a", &p);
        }
        // No request holds the connection's entry now, yet the window is still lowered.
        assert_eq!(limiter.window("a"), 4);
        assert_eq!(takeable(&limiter).await, 4);
    }
}
