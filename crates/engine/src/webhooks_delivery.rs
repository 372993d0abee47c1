//! The delivery worker: claims due deliveries from the outbox (leased, so several instances
//! share it), posts each to its subscriber signed in the style of the Standard Webhooks spec,
//! and records the outcome: delivered on 2xx; otherwise retried with exponential backoff and
//! jitter until the delivery's retry window (24 h by default) is over, then dead-lettered.
//!
//! Headers of every attempt (Standard Webhooks, <https://www.standardwebhooks.com/>):
//! `webhook-id` (the event's id, the same on every attempt and replay), `webhook-timestamp`
//! (Unix seconds), `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`
//! keyed with the base64-decoded part of the subscription's `whsec_…` secret; and ours:
//! `webhook-attempt` (1 for the first attempt) and `x-jiragate-delivery-id`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use jiragate_store::{ClaimedDelivery, DeliveryOutcome};
use rand::Rng;
use secrecy::ExposeSecret;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::webhooks::{SUBSCRIPTION_SECRET_FIELD, Webhooks, bump};

/// Deliveries claimed (and sent concurrently) per round.
const BATCH: u32 = 16;

pub(crate) async fn run(hooks: Webhooks) {
    let owner = format!(
        "{}#{}",
        hooks.engine.auth.config().instance_id,
        hooks.engine.auth.config().boot_id
    );
    // Built with the first delivery, not at start: an HTTP client loads the system's root
    // certificates (CPU and a few hundred KB), which an instance without subscribers never needs.
    let client = DeliveryClient::default();
    // A predecessor with the same stable instance id (killed, then restarted) may still
    // hold leases: it is gone, so its deliveries are sent now rather than when they lapse.
    let prefix = format!("{}#", hooks.engine.auth.config().instance_id);
    match hooks
        .engine
        .store
        .release_webhook_leases_of_predecessors(&prefix, &owner)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "took over webhook deliveries a previous run of this instance had leased"
        ),
        Err(e) => tracing::warn!(error = %e, "could not take over a previous run's webhook leases"),
    }
    loop {
        let sent = match round(&hooks, &client, &owner).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery round failed");
                0
            }
        };
        if sent == 0 {
            // Idle: wait for a new event or the next poll (retries come due by time).
            let _ = tokio::time::timeout(hooks.cfg.poll_interval, hooks.wake.notified()).await;
        }
    }
}

/// The delivery worker's HTTP client, built when first needed.
#[derive(Default)]
pub(crate) struct DeliveryClient(std::sync::OnceLock<reqwest::Client>);

impl DeliveryClient {
    fn get(&self, hooks: &Webhooks) -> Result<&reqwest::Client, crate::EngineError> {
        if let Some(client) = self.0.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(hooks.cfg.delivery_timeout)
            .connect_timeout(hooks.cfg.delivery_timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| {
                crate::EngineError::Unavailable(format!(
                    "the webhook delivery worker could not build its HTTP client: {e}"
                ))
            })?;
        Ok(self.0.get_or_init(|| client))
    }
}

/// One claim and its deliveries; returns how many were attempted.
pub(crate) async fn round(
    hooks: &Webhooks,
    client: &DeliveryClient,
    owner: &str,
) -> Result<usize, crate::EngineError> {
    let now = OffsetDateTime::now_utc();
    let claimed = hooks
        .engine
        .store
        .claim_webhook_deliveries(owner, now, now + hooks.cfg.lease, BATCH)
        .await?;
    let n = claimed.len();
    if n == 0 {
        return Ok(0);
    }
    // Should the client fail to build, the claimed deliveries stay leased and are claimed
    // again when the lease lapses, as after a crash.
    let client = client.get(hooks)?;
    futures::future::join_all(
        claimed
            .into_iter()
            .map(|d| deliver_one(hooks, client, owner, d)),
    )
    .await;
    Ok(n)
}

async fn deliver_one(hooks: &Webhooks, client: &reqwest::Client, owner: &str, d: ClaimedDelivery) {
    let attempt = d.attempts + 1;
    let (status, error) = match send(hooks, client, &d, attempt).await {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("the subscriber answered HTTP {s}"))),
        Err(e) => (None, Some(e)),
    };
    let now = OffsetDateTime::now_utc();
    let outcome = match (status, error) {
        (Some(s), None) => DeliveryOutcome::Delivered { status: s },
        (status, Some(error)) if now >= d.dead_after => DeliveryOutcome::Dead { status, error },
        (status, Some(error)) => {
            let next = (now + backoff(hooks, attempt)).min(d.dead_after);
            DeliveryOutcome::Retry {
                status,
                error,
                next_attempt_at: next,
            }
        }
        (None, None) => return,
    };
    match hooks
        .engine
        .store
        .finish_webhook_delivery(d.id, owner, &outcome)
        .await
    {
        Ok(true) => match outcome {
            DeliveryOutcome::Delivered { .. } => {
                bump(&hooks.counters.delivered);
                metrics::counter!("jiragate_webhooks_delivered_total").increment(1);
                let lag = (now - d.created_at).as_seconds_f64().max(0.0);
                metrics::histogram!("jiragate_webhooks_delivery_lag_seconds").record(lag);
            }
            DeliveryOutcome::Retry { .. } => {
                bump(&hooks.counters.retried);
                metrics::counter!("jiragate_webhooks_retried_total").increment(1);
            }
            DeliveryOutcome::Dead { .. } => {
                bump(&hooks.counters.dead_lettered);
                metrics::counter!("jiragate_webhooks_dead_lettered_total").increment(1);
                tracing::warn!(delivery = %d.id, subscription = %d.subscription_id, "webhook delivery dead-lettered");
            }
        },
        // The lease lapsed and another worker took the row: its outcome counts.
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(delivery = %d.id, error = %e, "could not record a webhook delivery")
        }
    }
}

/// Retention of the outbox: how long delivered and dead-lettered deliveries, and the events
/// they carried, are kept (`JIRAGATE_WEBHOOKS_RETENTION`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// Rows deleted per statement while pruning (short transactions beside the workers).
const PRUNE_BATCH: u32 = 1000;

/// The pending-deliveries gauge (the outbox's backlog, all organizations).
pub const PENDING_GAUGE: &str = "jiragate_webhooks_pending_deliveries";

impl Webhooks {
    /// Deliveries not yet delivered or dead-lettered, in the whole outbox.
    pub async fn pending_deliveries(&self) -> Result<i64, crate::EngineError> {
        Ok(self.engine.store.count_pending_webhook_deliveries().await?)
    }

    /// Sets the pending-deliveries gauge from the outbox.
    pub async fn update_pending_gauge(&self) {
        match self.pending_deliveries().await {
            Ok(n) => metrics::gauge!(PENDING_GAUGE).set(n as f64),
            Err(e) => tracing::warn!(error = %e, "could not count pending webhook deliveries"),
        }
    }

    /// Deletes delivered and dead-lettered deliveries that finished more than `retention`
    /// ago, then the events no delivery refers to any more that were received before then.
    /// Pending deliveries stay (a replayed dead letter is pending again).
    pub async fn prune_outbox(
        &self,
        retention: Duration,
    ) -> Result<jiragate_store::PruneCounts, crate::EngineError> {
        let cutoff = OffsetDateTime::now_utc() - retention;
        Ok(self
            .engine
            .store
            .prune_webhook_outbox(cutoff, PRUNE_BATCH)
            .await?)
    }

    /// The outbox's upkeep, beside the delivery worker: every tenth of `retention` (at least
    /// 1 s, at most a minute), prunes what is older than `retention` and refreshes the
    /// pending gauge. Every instance may run it (the deletes are idempotent). `None` when
    /// workers do not run in this process.
    pub fn spawn_upkeep(&self, retention: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if !self.cfg.run_workers {
            return None;
        }
        let interval = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let hooks = self.clone();
        Some(tokio::spawn(async move {
            loop {
                match hooks.prune_outbox(retention).await {
                    Ok(c) if c.deliveries + c.events > 0 => tracing::info!(
                        deliveries = c.deliveries,
                        events = c.events,
                        "pruned old webhook deliveries and events"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning the webhook outbox failed"),
                }
                hooks.update_pending_gauge().await;
                tokio::time::sleep(interval).await;
            }
        }))
    }
}

/// `base * 2^(attempt-1)`, capped, then a random 50–100 % of it (jitter spreads retries of
/// many deliveries that failed together).
fn backoff(hooks: &Webhooks, attempt: i32) -> Duration {
    let shift = (attempt - 1).clamp(0, 30) as u32;
    let full = hooks
        .cfg
        .base_backoff
        .saturating_mul(1u32 << shift.min(20))
        .min(hooks.cfg.max_backoff);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Posts one attempt; the subscriber's status, or why there was none (no secrets in it).
async fn send(
    hooks: &Webhooks,
    shared: &reqwest::Client,
    d: &ClaimedDelivery,
    attempt: i32,
) -> Result<u16, String> {
    let secret = hooks
        .engine
        .auth
        .keyring()
        .open_str(
            &d.org_id,
            d.subscription_id.as_ref(),
            SUBSCRIPTION_SECRET_FIELD,
            &d.sealed_secret,
        )
        .await
        .map_err(|_| "the subscription's secret could not be opened".to_owned())?;
    let url = reqwest::Url::parse(&d.url).map_err(|_| "invalid subscriber URL".to_owned())?;
    // The address is checked again at every attempt (DNS may have changed since the
    // subscription was made) and the connection pinned to it.
    let pinned;
    let client = if hooks.cfg.allow_private_subscribers {
        shared
    } else {
        let host = url
            .host_str()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addr = crate::net_guard::resolve_checked(&host, port, Duration::from_secs(5), false)
            .await
            .map_err(|e| format!("subscriber address refused: {e:?}"))?;
        pinned = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(hooks.cfg.delivery_timeout)
            .resolve(&host, addr)
            .build()
            .map_err(|_| "could not build the HTTP client".to_owned())?;
        &pinned
    };
    let msg_id = format!("msg_{}", d.event_id);
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let signature = sign(secret.expose_secret(), &msg_id, ts, d.body.as_bytes());
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", format!("v1,{signature}"))
        .header("webhook-attempt", attempt.to_string())
        .header("x-jiragate-delivery-id", d.id.to_string())
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "the subscriber did not answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect to the subscriber".to_owned()
            } else {
                "the request to the subscriber failed".to_owned()
            }
        })?;
    Ok(resp.status().as_u16())
}

/// Standard Webhooks signature: base64 of HMAC-SHA256 over `<id>.<timestamp>.<body>`, keyed
/// with the secret's bytes (the base64 after `whsec_`).
pub(crate) fn sign(secret: &str, msg_id: &str, ts: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_fields_are_the_ones_re_encryption_reseals() {
        // `master-key rotate --reencrypt` (in jiragate-auth) opens and reseals these secrets
        // by field name; a seal's AAD binds the name, so they must agree.
        assert_eq!(
            SUBSCRIPTION_SECRET_FIELD,
            jiragate_auth::fields::WEBHOOK_SIGNING_SECRET
        );
        assert_eq!(
            crate::webhooks::RECEIVER_SECRET_FIELD,
            jiragate_auth::fields::WEBHOOK_RECEIVER_SECRET
        );
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks spec (spec/standard-webhooks.md, "Signature
        // scheme"): secret, id, timestamp, payload and the resulting v1 signature.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
