//! Sending webhooks: a bounded queue drained by one background task, at most
//! [`IN_FLIGHT`] deliveries at a time, each retried with doubling backoff.
//!
//! Headers on every attempt: `Content-Type: application/json`,
//! `X-Atlassian-Webhook-Identifier` (the same on every attempt and duplicate of one delivery),
//! `X-Atlassian-Webhook-Flow: Primary`, and from the first retry on `X-Atlassian-Webhook-Retry: <n>`.
//! Dynamic webhooks carry `Authorization: Bearer <JWT>` (HS256 with the app's client secret);
//! admin webhooks with a secret carry `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, watch};

use super::{FailedDelivery, WebhookDelivery};
use crate::config::WEBHOOK_BACKOFF_CAP;
use crate::state::SimState;

/// Deliveries sent concurrently.
pub const IN_FLIGHT: usize = 16;

/// Lifetime of a delivery JWT (`exp - iat`). Not documented for webhooks; three minutes is
/// the lifetime Atlassian's Connect JWTs use.
pub const JWT_TTL_SECS: i64 = 180;

pub enum Signing {
    /// Dynamic webhook of an OAuth 2.0 app.
    Jwt {
        client_id: String,
        secret: String,
        cloud_id: String,
        account_id: String,
    },
    /// Admin webhook with a secret.
    Hub(String),
    None,
}

pub struct Job {
    pub identifier: String,
    pub kind: &'static str,
    pub webhook_ids: Vec<i64>,
    pub site: usize,
    pub event: String,
    pub url: String,
    pub body: bytes::Bytes,
    pub signing: Arc<Signing>,
    pub duplicate: bool,
    /// Dynamic deliveries that fail end up in `/webhook/failed` of this app.
    pub failed_client: Option<String>,
}

impl Job {
    fn copy(&self) -> Job {
        Job {
            identifier: self.identifier.clone(),
            kind: self.kind,
            webhook_ids: self.webhook_ids.clone(),
            site: self.site,
            event: self.event.clone(),
            url: self.url.clone(),
            body: self.body.clone(),
            signing: self.signing.clone(),
            duplicate: true,
            failed_client: self.failed_client.clone(),
        }
    }
}

pub type Queue = mpsc::Sender<Job>;

pub fn channel(cap: usize) -> (Queue, mpsc::Receiver<Job>) {
    mpsc::channel(cap.max(1))
}

/// Queues a delivery (and, by the duplicate knob, a second copy). A full queue drops it.
pub fn enqueue(state: &SimState, job: Job) {
    let twice = {
        let mut hooks = state.hooks.lock();
        let rate = hooks.duplicate_rate;
        rate > 0.0 && hooks.rng.random::<f64>() < rate
    };
    let extra = twice.then(|| job.copy());
    for j in std::iter::once(job).chain(extra) {
        if state.hook_queue.try_send(j).is_err() {
            state.hooks.lock().dropped += 1;
        }
    }
}

/// The background task: runs until the simulator shuts down.
pub async fn run(
    state: Arc<SimState>,
    mut rx: mpsc::Receiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(state.cfg.webhook_timeout)
        .connect_timeout(state.cfg.webhook_timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let job = tokio::select! {
            j = rx.recv() => match j { Some(j) => j, None => return },
            _ = shutdown.changed() => return,
        };
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let (state, client, stop) = (state.clone(), client.clone(), shutdown.clone());
        tokio::spawn(async move {
            deliver(&state, &client, job, stop).await;
            drop(permit);
        });
    }
}

/// Atlassian retries on these statuses and on connection failures or timeouts (retry policy
/// announcement, linked from the webhooks guide's "Retry policy" section).
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 425 | 429) || (500..600).contains(&status)
}

async fn deliver(
    state: &SimState,
    client: &reqwest::Client,
    job: Job,
    mut stop: watch::Receiver<bool>,
) {
    let max = state.cfg.webhook_max_retries;
    let site = state.sites[job.site].subdomain.clone();
    for attempt in 0..=max {
        if attempt > 0 {
            let shift = (attempt - 1).min(20);
            let wait = state
                .cfg
                .webhook_retry_backoff
                .saturating_mul(1u32 << shift)
                .min(WEBHOOK_BACKOFF_CAP);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
        let mut req = client
            .post(&job.url)
            .header("Content-Type", "application/json")
            .header("X-Atlassian-Webhook-Identifier", &job.identifier)
            .header("X-Atlassian-Webhook-Flow", "Primary")
            .body(job.body.clone());
        if attempt > 0 {
            req = req.header("X-Atlassian-Webhook-Retry", attempt.to_string());
        }
        match job.signing.as_ref() {
            Signing::Jwt {
                client_id,
                secret,
                cloud_id,
                account_id,
            } => {
                let now = state.clock.now_secs();
                let token = jwt(client_id, secret, cloud_id, account_id, &job.url, now);
                req = req.header("Authorization", format!("Bearer {token}"));
            }
            Signing::Hub(secret) => {
                req = req.header("X-Hub-Signature", hub_signature(secret, &job.body));
            }
            Signing::None => {}
        }
        let (status, error) = match req.send().await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                // Read (and bound) the answer so the connection can be reused.
                let _ = tokio::time::timeout(Duration::from_secs(1), resp.bytes()).await;
                (Some(s), None)
            }
            Err(e) => (
                None,
                Some(if e.is_timeout() {
                    "timeout".to_owned()
                } else if e.is_connect() {
                    "connection failed".to_owned()
                } else {
                    "request failed".to_owned()
                }),
            ),
        };
        state.hooks.lock().record(WebhookDelivery {
            id: job.identifier.clone(),
            kind: job.kind.to_owned(),
            webhook_ids: job.webhook_ids.clone(),
            site: site.clone(),
            event: job.event.clone(),
            url: job.url.clone(),
            attempt,
            status,
            error,
            duplicate: job.duplicate,
            at_ms: state.clock.now_ms(),
        });
        match status {
            Some(s) if (200..300).contains(&s) => return,
            Some(s) if !retryable(s) => break,
            _ => {}
        }
    }
    if let Some(client_id) = job.failed_client {
        state.hooks.lock().record_failed(FailedDelivery {
            client_id,
            site: job.site,
            id: job.identifier,
            body: String::from_utf8_lossy(&job.body).into_owned(),
            url: job.url,
            failure_ms: state.clock.now_ms(),
        });
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `sha256=<lowercase hex HMAC-SHA256 of the body>`, keyed with the admin webhook's secret.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex(&hmac_sha256(secret.as_bytes(), body)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The delivery JWT of a dynamic webhook: HS256 over `base64url(header).base64url(claims)`
/// with the app's client secret as the key.
///
/// Atlassian documents the signing (JWT, client secret) but not the claims. The simulator's
/// choice: `iss` = the site's cloud id, `aud` = the app's client id, `sub` = account id of the
/// user whose grant registered the webhook, `iat`/`exp` (3 minutes) on the simulated clock,
/// and `qsh` = hex SHA-256 of the Connect canonical request `POST&<path>&<sorted query>` of
/// the delivery URL (Connect's query string hash; see [`qsh`]).
pub fn jwt(
    client_id: &str,
    secret: &str,
    cloud_id: &str,
    account_id: &str,
    url: &str,
    now: i64,
) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({
        "iss": cloud_id,
        "aud": client_id,
        "sub": account_id,
        "iat": now,
        "exp": now + JWT_TTL_SECS,
        "qsh": qsh("POST", url),
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = hmac_sha256(secret.as_bytes(), signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig))
}

/// Connect's query string hash: hex SHA-256 of `METHOD&<path>&<query>`, where the path has no
/// trailing `/` (an empty path is `/`) and the query's parameters (except `jwt`) are sorted by
/// name, RFC 3986-encoded, with repeated values joined by `,`.
pub fn qsh(method: &str, url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path_query = after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("/");
    let path_query = path_query.split('#').next().unwrap_or("/");
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let mut path = path.trim_end_matches('/').to_owned();
    if path.is_empty() {
        path = "/".to_owned();
    }
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default() {
        if k != "jwt" {
            params.entry(enc(&k)).or_default().push(enc(&v));
        }
    }
    let canonical_query: Vec<String> = params
        .into_iter()
        .map(|(k, mut vs)| {
            vs.sort();
            format!("{k}={}", vs.join(","))
        })
        .collect();
    let canonical = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        path,
        canonical_query.join("&")
    );
    hex(&Sha256::digest(canonical.as_bytes()))
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            hub_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn qsh_canonicalises_path_and_query() {
        let a = qsh("post", "http://127.0.0.1:9/hooks/?b=2&a=1&a=0&jwt=x");
        let canonical = "POST&/hooks&a=0,1&b=2";
        assert_eq!(a, hex(&Sha256::digest(canonical.as_bytes())));
        assert_eq!(
            qsh("POST", "http://h"),
            hex(&Sha256::digest("POST&/&".as_bytes()))
        );
    }

    #[test]
    fn jwt_has_three_parts_and_verifies() {
        let t = jwt("cid", "secret", "cloud", "acct", "http://h/x", 1000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let sig = hmac_sha256(b"secret", format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert_eq!(b64url(&sig), parts[2]);
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["exp"], 1180);
        assert_eq!(claims["aud"], "cid");
    }
}
