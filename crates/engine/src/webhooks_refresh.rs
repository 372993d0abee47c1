//! Keeps dynamic webhooks alive: they expire 30 days after registration or their last
//! refresh (platform spec, `refreshWebhooks`). At start and then every `refresh_interval`
//! (12 h by default, far inside the 30 days), one instance — the holder of the store lease
//! `webhooks.refresh` — extends every registration of every connection with
//! `PUT /rest/api/3/webhook/refresh`, lists what Jira still holds (`GET /rest/api/3/webhook`),
//! and registers again the subscriptions whose webhook Jira no longer has (expired while no
//! instance ran, or removed at Jira). Admin webhooks of API-token connections do not expire;
//! the same pass registers again those an administrator deleted in Jira.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use jiragate_jira::{JiraError, JiraRequest};
use jiragate_store::{AuthKind, Connection, ConnectionId, OrgId, WebhookSubscription};
use serde_json::json;
use time::OffsetDateTime;

use crate::ConnRef;
use crate::webhooks::{ADMIN_WEBHOOK_PATH, Webhooks, admin_webhook_id};

const LEASE: &str = "webhooks.refresh";

pub(crate) async fn run(hooks: Webhooks) {
    loop {
        if let Err(e) = refresh_all(&hooks).await {
            tracing::warn!(error = %e, "refreshing dynamic webhooks failed; retrying at the next interval");
        }
        tokio::time::sleep(hooks.cfg.refresh_interval).await;
    }
}

/// One pass, if this instance gets the lease. Returns how many registrations were extended
/// or made again.
pub(crate) async fn refresh_all(hooks: &Webhooks) -> Result<usize, crate::EngineError> {
    let cfg = hooks.engine.auth.config();
    let store = &hooks.engine.store;
    // Held for the pass; a crashed holder blocks others for at most the TTL.
    let ttl = hooks.cfg.refresh_interval.min(Duration::from_secs(300));
    let Some(lease) = store
        .acquire_lease_taking_over(LEASE, &cfg.instance_id, &cfg.boot_id, ttl)
        .await?
    else {
        return Ok(0);
    };
    let subs = store.admin_list_registered_webhook_subscriptions().await?;
    let mut by_conn: BTreeMap<(String, String), Vec<WebhookSubscription>> = BTreeMap::new();
    for s in subs {
        by_conn
            .entry((s.org_id.to_string(), s.connection_id.to_string()))
            .or_default()
            .push(s);
    }
    let mut done = 0;
    for subs in by_conn.into_values() {
        let org: OrgId = subs[0].org_id.clone();
        let conn_id: ConnectionId = subs[0].connection_id.clone();
        match refresh_connection(hooks, &org, &conn_id, &subs).await {
            Ok(n) => done += n,
            Err(e) => {
                tracing::warn!(connection = %conn_id, error = %e, "could not refresh this connection's webhooks")
            }
        }
        if !store.lease_is_held(&lease).await.unwrap_or(false) {
            break;
        }
    }
    let _ = store.release_lease(&lease).await;
    Ok(done)
}

async fn refresh_connection(
    hooks: &Webhooks,
    org: &OrgId,
    conn_id: &ConnectionId,
    subs: &[WebhookSubscription],
) -> Result<usize, crate::EngineError> {
    let engine = &hooks.engine;
    let conn = engine.resolve(org, &ConnRef::Id(conn_id.clone())).await?;
    if conn.auth_kind != AuthKind::OAuth2 {
        return refresh_admin(hooks, &conn, subs).await;
    }
    let src = engine.auth.token_source(org, &conn);
    let ids: Vec<i64> = subs.iter().filter_map(|s| s.jira_webhook_id).collect();
    let resp = engine
        .jira
        .send(
            &*src,
            JiraRequest::put("/rest/api/3/webhook/refresh", json!({"webhookIds": ids})),
        )
        .await?;
    let expires = resp.value()?["expirationDate"]
        .as_i64()
        .and_then(|ms| OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok());
    // What Jira still holds (unknown ids were ignored by the refresh).
    let mut live: HashSet<i64> = HashSet::new();
    let mut start = 0usize;
    for _ in 0..100 {
        let page = engine
            .jira
            .send(
                &*src,
                JiraRequest::get("/rest/api/3/webhook")
                    .query("startAt", start.to_string())
                    .query("maxResults", "100"),
            )
            .await?
            .value()?;
        let values = page["values"].as_array().cloned().unwrap_or_default();
        live.extend(values.iter().filter_map(|v| v["id"].as_i64()));
        start += values.len();
        if values.is_empty() || page["isLast"].as_bool().unwrap_or(true) {
            break;
        }
    }
    let mut done = 0;
    for s in subs {
        let Some(id) = s.jira_webhook_id else {
            continue;
        };
        if live.contains(&id) {
            engine
                .store
                .set_webhook_registration(
                    org,
                    &s.id,
                    Some(id),
                    expires.or(s.registration_expires_at),
                )
                .await?;
            done += 1;
        } else {
            let (new_id, exp) = hooks.register_at_jira(&conn, s).await?;
            engine
                .store
                .set_webhook_registration(org, &s.id, Some(new_id), Some(exp))
                .await?;
            tracing::info!(connection = %conn.id, subscription = %s.id, "dynamic webhook was gone at Jira; registered again");
            done += 1;
        }
    }
    Ok(done)
}

/// Admin webhooks (API-token connections) do not expire, but an administrator may delete them
/// in Jira: the ones Jira no longer lists (`GET /rest/webhooks/1.0/webhook`) are registered
/// again with the connection's secret. A user who is no longer an administrator can neither
/// list nor register them; then nothing is done.
async fn refresh_admin(
    hooks: &Webhooks,
    conn: &Connection,
    subs: &[WebhookSubscription],
) -> Result<usize, crate::EngineError> {
    let engine = &hooks.engine;
    let src = engine.auth.token_source(&conn.org_id, conn);
    let listed = match engine
        .jira
        .send(&*src, JiraRequest::get(ADMIN_WEBHOOK_PATH))
        .await
    {
        Ok(resp) => resp.value()?,
        Err(JiraError::Unauthorized { .. })
        | Err(JiraError::Upstream {
            status: 401 | 403 | 404,
            ..
        }) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let live: HashSet<i64> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(admin_webhook_id)
        .collect();
    let mut done = 0;
    for s in subs {
        if s.jira_webhook_id.is_none_or(|id| live.contains(&id)) {
            continue;
        }
        let (secret, _) = hooks.receiver_secret(&conn.org_id, &conn.id).await?;
        if let Some(id) = hooks.register_admin_webhook(conn, s, &secret).await? {
            engine
                .store
                .set_webhook_registration(&conn.org_id, &s.id, Some(id), None)
                .await?;
            tracing::info!(connection = %conn.id, subscription = %s.id, "admin webhook was gone at Jira; registered again");
            done += 1;
        }
    }
    Ok(done)
}
