//! The background task: proactive refresh of busy connections, keep-alive refresh of idle
//! ones (Atlassian drops refresh tokens after 90 days of inactivity), and scheduled health
//! checks under a global rate limit. Every step is jittered so instances spread their work.

use std::collections::HashMap;
use std::time::Duration;

use jiragate_store::{AuthKind, ConnectionId, OrgId};
use rand::Rng as _;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::service::AuthService;
use crate::tokens::Need;

/// Runs forever (abort the handle to stop it).
pub(crate) fn spawn(service: AuthService) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut scheduler = Scheduler::default();
        loop {
            let tick = service.config().background.tick;
            let jitter = jitter_up_to(tick / 4);
            tokio::time::sleep(tick + jitter).await;
            run_once(&service, &mut scheduler).await;
        }
    })
}

/// State kept between ticks.
#[derive(Default)]
pub(crate) struct Scheduler {
    last_scan: Option<OffsetDateTime>,
    /// A fixed random offset per connection, so checks of many connections spread out.
    jitter: HashMap<ConnectionId, Duration>,
    /// Checks started in the current minute window (global rate limit).
    window_start: Option<OffsetDateTime>,
    window_count: u32,
}

fn jitter_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(
        rand::rng().random_range(0..=max.as_millis().min(u64::MAX as u128) as u64),
    )
}

/// One pass of everything; public inside the crate so tests can drive it without waiting.
pub(crate) async fn run_once(service: &AuthService, scheduler: &mut Scheduler) {
    proactive_refresh(service).await;
    let cfg = &service.config().background;
    let now = service.config().clock.now();
    let due = scheduler
        .last_scan
        .is_none_or(|last| now - last >= cfg.scan_interval);
    if due {
        scheduler.last_scan = Some(now);
        if let Err(e) = scan(service, scheduler).await {
            tracing::warn!(error = %e, "background scan failed");
        }
    }
}

/// Refreshes tokens that were used recently and expire within the margin.
async fn proactive_refresh(service: &AuthService) {
    let cfg = service.config();
    let now = cfg.clock.now();
    let since = now - cfg.background.recent_use_window;
    for (org, conn, expires) in service.tokens().recently_used(since) {
        let Some(expires) = expires else { continue };
        if expires > now + cfg.refresh_margin {
            continue;
        }
        if let Err(e) = service
            .tokens()
            .ensure(&org, &conn, Need::ValidFor(cfg.refresh_margin))
            .await
        {
            tracing::warn!(connection = %conn, error = %e, "proactive refresh failed");
        }
    }
}

/// Keep-alive refreshes for idle OAuth connections and due health checks.
async fn scan(service: &AuthService, scheduler: &mut Scheduler) -> Result<(), crate::AuthError> {
    let cfg = service.config();
    let bg = &cfg.background;
    let store = service.store();
    for org in store.list_organizations().await? {
        for conn in store.list_connections(&org.id, None).await? {
            if conn.auth_kind == AuthKind::OAuth2 {
                keep_alive(service, &org.id, &conn.id).await;
            }
            // Due from the stored last check, which every instance (and on-demand checks)
            // update, so instances sharing a database do not repeat each other's checks.
            let now = cfg.clock.now();
            let jitter = *scheduler
                .jitter
                .entry(conn.id.clone())
                .or_insert_with(|| jitter_up_to(bg.health_jitter));
            let due = conn
                .last_checked_at
                .is_none_or(|at| at + bg.health_interval + jitter <= now);
            if !due || !take_rate_slot(scheduler, now, bg.health_checks_per_minute) {
                continue;
            }
            if let Err(e) = service.check(&org.id, &conn.id).await {
                tracing::warn!(connection = %conn.id, error = %e, "scheduled health check failed");
            }
        }
    }
    Ok(())
}

async fn keep_alive(service: &AuthService, org: &OrgId, conn: &ConnectionId) {
    let cfg = service.config();
    let Ok(Some(cred)) = service.store().get_credential(org, conn).await else {
        return;
    };
    let now = cfg.clock.now();
    let issued = cred.refresh_issued_at.unwrap_or(cred.updated_at);
    if now - issued < cfg.background.keepalive_after {
        return;
    }
    let threshold = now - cfg.background.keepalive_after;
    match service
        .tokens()
        .ensure(org, conn, Need::IssuedAfter(threshold))
        .await
    {
        Ok(_) => tracing::info!(connection = %conn, "keep-alive refresh done"),
        Err(e) => tracing::warn!(connection = %conn, error = %e, "keep-alive refresh failed"),
    }
}

fn take_rate_slot(s: &mut Scheduler, now: OffsetDateTime, per_minute: u32) -> bool {
    match s.window_start {
        Some(start) if now - start < time::Duration::MINUTE => {}
        _ => {
            s.window_start = Some(now);
            s.window_count = 0;
        }
    }
    if s.window_count >= per_minute {
        return false;
    }
    s.window_count += 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_caps_checks_per_minute() {
        let mut s = Scheduler::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        assert!(take_rate_slot(&mut s, t0, 2));
        assert!(take_rate_slot(&mut s, t0, 2));
        assert!(!take_rate_slot(&mut s, t0 + time::Duration::seconds(30), 2));
        assert!(take_rate_slot(&mut s, t0 + time::Duration::seconds(61), 2));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..100 {
            assert!(jitter_up_to(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
        assert_eq!(jitter_up_to(Duration::ZERO), Duration::ZERO);
    }
}
