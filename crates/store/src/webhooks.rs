//! Webhooks: subscriptions of a connection's Jira events, the events received from Jira, and
//! the durable outbox of deliveries to subscribers.
//!
//! The outbox is claimed with a lease (owner + expiry) so several instances share it without
//! double delivery: on PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED`;
//! on SQLite one `UPDATE … RETURNING` under the database's single writer takes them. A worker
//! that dies mid-delivery loses nothing: its lease lapses and another claim takes the row
//! (at least once). A delivery is only claimable while no earlier pending delivery of the same
//! subscription and ordering key (the issue) exists, which keeps each issue's events in order.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{BeginWrite, Store, with_pool};
use crate::error::{OpContext, StoreError};
use crate::ids::{ConnectionId, OrgId, WebhookEventId, WebhookSubscriptionId};
use crate::time_col::{self, DbTime};

/// Position of a delivery in the outbox (also its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct WebhookDeliveryId(pub i64);

impl fmt::Display for WebhookDeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up after retrying for the whole retry window; only a replay sends it again.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "dead" => Ok(DeliveryStatus::Dead),
            other => Err(StoreError::Corrupt {
                what: "webhook delivery status",
                message: format!("unknown status {other:?}"),
            }),
        }
    }
}

/// A subscription to create. `sealed_secret` is the vault-sealed signing secret.
#[derive(Debug, Clone)]
pub struct NewWebhookSubscription {
    pub id: WebhookSubscriptionId,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub events: Vec<String>,
    pub jql_filter: String,
    pub field_ids: Option<Vec<String>>,
    pub url: String,
    pub sealed_secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSubscription {
    pub id: WebhookSubscriptionId,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub events: Vec<String>,
    pub jql_filter: String,
    pub field_ids: Option<Vec<String>>,
    pub url: String,
    /// Sealed; never serialized.
    #[serde(skip)]
    pub sealed_secret: String,
    pub jira_webhook_id: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub registration_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An event as received from Jira.
#[derive(Debug, Clone)]
pub struct NewWebhookEvent {
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    /// `X-Atlassian-Webhook-Identifier`.
    pub webhook_identifier: String,
    pub event: String,
    pub issue_key: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookEvent {
    pub id: WebhookEventId,
    pub connection_id: ConnectionId,
    pub webhook_identifier: String,
    pub event: String,
    pub issue_key: Option<String>,
    #[serde(skip)]
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// One row of the outbox, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub connection_id: ConnectionId,
    pub subscription_id: WebhookSubscriptionId,
    pub event_id: WebhookEventId,
    pub status: DeliveryStatus,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: WebhookDeliveryId,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    pub subscription_id: WebhookSubscriptionId,
    pub event_id: WebhookEventId,
    pub attempts: i32,
    pub dead_after: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub url: String,
    pub sealed_secret: String,
    pub body: String,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered {
        status: u16,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: OffsetDateTime,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
}

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneCounts {
    pub deliveries: u64,
    pub events: u64,
}

/// Which kind of record a sealed webhook secret belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookSecretKind {
    /// A subscription's signing secret; sealed for the subscription id.
    Subscription,
    /// A connection's admin-webhook secret; sealed for the connection id.
    Receiver,
}

/// One sealed webhook secret, with the record id its seal is bound to (for re-encryption).
#[derive(Debug, Clone)]
pub struct SealedWebhookSecret {
    pub kind: WebhookSecretKind,
    pub record_id: String,
    pub sealed: String,
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what: "webhook list column",
        message: e.to_string(),
    })
}

#[derive(sqlx::FromRow)]
struct SubRow {
    id: String,
    org_id: String,
    connection_id: String,
    events: String,
    jql_filter: String,
    field_ids: Option<String>,
    url: String,
    sealed_secret: String,
    jira_webhook_id: Option<i64>,
    registration_expires_at: Option<DbTime>,
    created_at: DbTime,
}

impl TryFrom<SubRow> for WebhookSubscription {
    type Error = StoreError;
    fn try_from(r: SubRow) -> Result<Self, StoreError> {
        Ok(WebhookSubscription {
            id: WebhookSubscriptionId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            connection_id: ConnectionId::from_db(r.connection_id),
            events: parse_list(&r.events)?,
            jql_filter: r.jql_filter,
            field_ids: r.field_ids.as_deref().map(parse_list).transpose()?,
            url: r.url,
            sealed_secret: r.sealed_secret,
            jira_webhook_id: r.jira_webhook_id,
            registration_expires_at: time_col::unopt(r.registration_expires_at),
            created_at: r.created_at.into(),
        })
    }
}

const SUB_COLUMNS: &str = "id, org_id, connection_id, events, jql_filter, field_ids, url, \
     sealed_secret, jira_webhook_id, registration_expires_at, created_at";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    connection_id: String,
    webhook_identifier: String,
    event: String,
    issue_key: Option<String>,
    body: String,
    received_at: DbTime,
}

impl From<EventRow> for WebhookEvent {
    fn from(r: EventRow) -> Self {
        WebhookEvent {
            id: WebhookEventId::from_db(r.id),
            connection_id: ConnectionId::from_db(r.connection_id),
            webhook_identifier: r.webhook_identifier,
            event: r.event,
            issue_key: r.issue_key,
            body: r.body,
            received_at: r.received_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    connection_id: String,
    subscription_id: String,
    event_id: String,
    status: String,
    attempts: i32,
    next_attempt_at: DbTime,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: DbTime,
    delivered_at: Option<DbTime>,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(WebhookDelivery {
            id: WebhookDeliveryId(r.id),
            connection_id: ConnectionId::from_db(r.connection_id),
            subscription_id: WebhookSubscriptionId::from_db(r.subscription_id),
            event_id: WebhookEventId::from_db(r.event_id),
            status: DeliveryStatus::parse(&r.status)?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.into(),
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at.into(),
            delivered_at: time_col::unopt(r.delivered_at),
        })
    }
}

const DELIVERY_COLUMNS: &str = "id, connection_id, subscription_id, event_id, status, attempts, \
     next_attempt_at, last_status, last_error, created_at, delivered_at";

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    org_id: String,
    connection_id: String,
    subscription_id: String,
    event_id: String,
    attempts: i32,
    dead_after: DbTime,
    created_at: DbTime,
}

/// The claim statement. `$1` owner, `$2` lease expiry, `$3` now, `$4` limit.
fn claim_sql(skip_locked: bool) -> String {
    format!(
        "UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = $2 \
         WHERE id IN ( \
             SELECT d.id FROM webhook_deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
               AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $3) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                   WHERE e.subscription_id = d.subscription_id \
                     AND e.ordering_key = d.ordering_key \
                     AND e.status = 'pending' AND e.id < d.id) \
             ORDER BY d.id LIMIT $4 {} ) \
           AND status = 'pending' \
           AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
         RETURNING id, org_id, connection_id, subscription_id, event_id, attempts, dead_after, created_at",
        if skip_locked {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        }
    )
}

impl Store {
    pub async fn create_webhook_subscription(
        &self,
        new: &NewWebhookSubscription,
    ) -> Result<WebhookSubscription, StoreError> {
        let now = DbTime::now();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_subscriptions (id, org_id, connection_id, events, jql_filter, \
                 field_ids, url, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(new.id.as_str())
            .bind(new.org_id.as_str())
            .bind(new.connection_id.as_str())
            .bind(json_list(&new.events))
            .bind(&new.jql_filter)
            .bind(new.field_ids.as_deref().map(json_list))
            .bind(&new.url)
            .bind(&new.sealed_secret)
            .bind(now)
            .execute(pool)
            .await
            .op("create_webhook_subscription")?;
        });
        self.get_webhook_subscription(&new.org_id, &new.id)
            .await?
            .ok_or(StoreError::NotFound {
                what: "webhook subscription",
                id: new.id.to_string(),
            })
    }

    pub async fn get_webhook_subscription(
        &self,
        org: &OrgId,
        id: &WebhookSubscriptionId,
    ) -> Result<Option<WebhookSubscription>, StoreError> {
        let sql = format!(
            "SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE org_id = $1 AND id = $2"
        );
        let row: Option<SubRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
                .op("get_webhook_subscription")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// The subscriptions of one connection, oldest first.
    pub async fn list_webhook_subscriptions(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
    ) -> Result<Vec<WebhookSubscription>, StoreError> {
        let sql = format!(
            "SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE org_id = $1 AND connection_id = $2 \
             ORDER BY created_at, id"
        );
        let rows: Vec<SubRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .bind(conn.as_str())
                .fetch_all(pool)
                .await
                .op("list_webhook_subscriptions")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Every subscription with a dynamic webhook registered at Jira, of every organization
    /// (for the refresh job).
    pub async fn admin_list_registered_webhook_subscriptions(
        &self,
    ) -> Result<Vec<WebhookSubscription>, StoreError> {
        let sql = format!(
            "SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE jira_webhook_id IS NOT NULL \
             ORDER BY connection_id, created_at"
        );
        let rows: Vec<SubRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .op("admin_list_registered_webhook_subscriptions")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn delete_webhook_subscription(
        &self,
        org: &OrgId,
        id: &WebhookSubscriptionId,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM webhook_subscriptions WHERE org_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(pool)
                .await
                .op("delete_webhook_subscription")?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Records (or clears) the dynamic webhook registered at Jira for a subscription.
    pub async fn set_webhook_registration(
        &self,
        org: &OrgId,
        id: &WebhookSubscriptionId,
        jira_webhook_id: Option<i64>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_subscriptions SET jira_webhook_id = $1, registration_expires_at = $2 \
                 WHERE org_id = $3 AND id = $4",
            )
            .bind(jira_webhook_id)
            .bind(time_col::opt(expires_at))
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(pool)
            .await
            .op("set_webhook_registration")?;
        });
        Ok(())
    }

    /// The organization a connection belongs to. Global by nature: Jira's deliveries name
    /// only the connection.
    pub async fn find_connection_org(
        &self,
        conn: &ConnectionId,
    ) -> Result<Option<OrgId>, StoreError> {
        let org: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT org_id FROM connections WHERE id = $1")
                .bind(conn.as_str())
                .fetch_optional(pool)
                .await
                .op("find_connection_org")?
        });
        Ok(org.map(OrgId::from_db))
    }

    /// Sets the sealed admin-webhook secret of a connection unless one exists; returns the
    /// one that is stored.
    pub async fn ensure_webhook_receiver_secret(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        sealed: &str,
    ) -> Result<(String, bool), StoreError> {
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_receivers (connection_id, org_id, sealed_secret, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (connection_id) DO NOTHING",
            )
            .bind(conn.as_str())
            .bind(org.as_str())
            .bind(sealed)
            .bind(DbTime::now())
            .execute(pool)
            .await
            .op("ensure_webhook_receiver_secret")?
            .rows_affected()
        });
        let stored =
            self.webhook_receiver_secret(org, conn)
                .await?
                .ok_or(StoreError::NotFound {
                    what: "webhook receiver",
                    id: conn.to_string(),
                })?;
        Ok((stored, inserted > 0))
    }

    /// The sealed admin-webhook secret of a connection.
    pub async fn webhook_receiver_secret(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
    ) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT sealed_secret FROM webhook_receivers WHERE org_id = $1 AND connection_id = $2",
            )
            .bind(org.as_str())
            .bind(conn.as_str())
            .fetch_optional(pool)
            .await
            .op("webhook_receiver_secret")?
        }))
    }

    /// Stores an event and one pending delivery per subscription in `subscriptions`, in one
    /// transaction. `None` when the connection already has an event with this webhook
    /// identifier (a duplicate from Jira): nothing is written.
    pub async fn record_webhook_event(
        &self,
        new: &NewWebhookEvent,
        subscriptions: &[WebhookSubscriptionId],
        dead_after: OffsetDateTime,
    ) -> Result<Option<WebhookEvent>, StoreError> {
        let id = WebhookEventId::new();
        let now = DbTime::now();
        let ordering_key = new.issue_key.clone().unwrap_or_default();
        let inserted: bool = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await.op("record_webhook_event")?;
            let got: Option<String> = sqlx::query_scalar(
                "INSERT INTO webhook_events (id, org_id, connection_id, webhook_identifier, event, \
                 issue_key, body, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (connection_id, webhook_identifier) DO NOTHING RETURNING id",
            )
            .bind(id.as_str())
            .bind(new.org_id.as_str())
            .bind(new.connection_id.as_str())
            .bind(&new.webhook_identifier)
            .bind(&new.event)
            .bind(new.issue_key.as_deref())
            .bind(&new.body)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .op("record_webhook_event")?;
            if got.is_some() {
                for sub in subscriptions {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (org_id, connection_id, subscription_id, \
                         event_id, ordering_key, status, attempts, next_attempt_at, dead_after, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $6)",
                    )
                    .bind(new.org_id.as_str())
                    .bind(new.connection_id.as_str())
                    .bind(sub.as_str())
                    .bind(id.as_str())
                    .bind(&ordering_key)
                    .bind(now)
                    .bind(DbTime::from(dead_after))
                    .execute(&mut *tx)
                    .await
                    .op("record_webhook_event")?;
                }
                tx.commit().await.op("record_webhook_event")?;
                true
            } else {
                tx.rollback().await.op("record_webhook_event")?;
                false
            }
        });
        Ok(inserted.then(|| WebhookEvent {
            id,
            connection_id: new.connection_id.clone(),
            webhook_identifier: new.webhook_identifier.clone(),
            event: new.event.clone(),
            issue_key: new.issue_key.clone(),
            body: new.body.clone(),
            received_at: now.into(),
        }))
    }

    /// The latest `limit` events of a connection, newest first.
    pub async fn list_webhook_events(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, connection_id, webhook_identifier, event, issue_key, body, received_at \
                 FROM webhook_events WHERE org_id = $1 AND connection_id = $2 \
                 ORDER BY received_at DESC, id DESC LIMIT $3",
            )
            .bind(org.as_str())
            .bind(conn.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .op("list_webhook_events")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The latest `limit` deliveries of a connection, newest first, optionally of one status.
    pub async fn list_webhook_deliveries(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND connection_id = $2 \
             AND ($3 IS NULL OR status = $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .bind(conn.as_str())
                .bind(status.map(|s| s.as_str()))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .op("list_webhook_deliveries")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Leases up to `limit` due deliveries to `owner` until `lease_until`, each with its
    /// subscriber and event, oldest first.
    pub async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let rows: Vec<ClaimRow> = with_pool!(self, pool => {
            let skip_locked = matches!(self.backend(), crate::Backend::Postgres);
            let mut tx = pool.begin_write().await.op("claim_webhook_deliveries")?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(claim_sql(skip_locked)))
                .bind(owner)
                .bind(DbTime::from(lease_until))
                .bind(DbTime::from(now))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .op("claim_webhook_deliveries")?;
            tx.commit().await.op("claim_webhook_deliveries")?;
            rows
        });
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let detail: Option<(String, String, String)> = with_pool!(self, pool => {
                sqlx::query_as(
                    "SELECT s.url, s.sealed_secret, e.body FROM webhook_subscriptions s, webhook_events e \
                     WHERE s.id = $1 AND e.id = $2",
                )
                .bind(&r.subscription_id)
                .bind(&r.event_id)
                .fetch_optional(pool)
                .await
                .op("claim_webhook_deliveries")?
            });
            // Deleted in between (cascade): the delivery row is gone with it.
            let Some((url, sealed_secret, body)) = detail else {
                continue;
            };
            let attempts = r.attempts.max(0);
            out.push(ClaimedDelivery {
                id: WebhookDeliveryId(r.id),
                org_id: OrgId::from_db(r.org_id),
                connection_id: ConnectionId::from_db(r.connection_id),
                subscription_id: WebhookSubscriptionId::from_db(r.subscription_id),
                event_id: WebhookEventId::from_db(r.event_id),
                attempts,
                dead_after: r.dead_after.into(),
                created_at: r.created_at.into(),
                url,
                sealed_secret,
                body,
            });
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// Records how an attempt ended and releases the lease. `false` when `owner` no longer
    /// holds it (the lease lapsed and another worker took the row): nothing is changed.
    pub async fn finish_webhook_delivery(
        &self,
        id: WebhookDeliveryId,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> Result<bool, StoreError> {
        let now = DbTime::now();
        let (status, next, code, error, delivered) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                ("delivered", now, Some(i32::from(*status)), None, Some(now))
            }
            DeliveryOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => (
                "pending",
                DbTime::from(*next_attempt_at),
                status.map(i32::from),
                Some(error.clone()),
                None,
            ),
            DeliveryOutcome::Dead { status, error } => (
                "dead",
                now,
                status.map(i32::from),
                Some(error.clone()),
                None,
            ),
        };
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                 next_attempt_at = $2, last_status = $3, last_error = $4, delivered_at = $5, \
                 lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $6 AND lease_owner = $7 AND status = 'pending'",
            )
            .bind(status)
            .bind(next)
            .bind(code)
            .bind(error)
            .bind(delivered)
            .bind(id.0)
            .bind(owner)
            .execute(pool)
            .await
            .op("finish_webhook_delivery")?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Sends a delivery again: back to pending, due now, with a fresh retry window.
    pub async fn replay_webhook_delivery(
        &self,
        org: &OrgId,
        id: WebhookDeliveryId,
        dead_after: OffsetDateTime,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let now = DbTime::now();
        // A pending delivery is left as it is: the worker sends it anyway.
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
                 dead_after = $2, delivered_at = NULL, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE org_id = $3 AND id = $4 AND status <> 'pending'",
            )
            .bind(now)
            .bind(DbTime::from(dead_after))
            .bind(org.as_str())
            .bind(id.0)
            .execute(pool)
            .await
            .op("replay_webhook_delivery")?;
        });
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND id = $2"
        );
        let row: Option<DeliveryRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org.as_str())
                .bind(id.0)
                .fetch_optional(pool)
                .await
                .op("replay_webhook_delivery")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// How many deliveries are pending (all organizations; for metrics).
    pub async fn count_pending_webhook_deliveries(&self) -> Result<i64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await
                .op("count_pending_webhook_deliveries")?
        }))
    }

    /// Deletes, in batches of `batch`, delivered and dead-lettered deliveries that finished
    /// before `cutoff`, then events received before `cutoff` that no delivery refers to any
    /// more. Pending deliveries (and so their events) are never pruned; a replayed delivery
    /// is pending again.
    pub async fn prune_webhook_outbox(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<PruneCounts, StoreError> {
        let cutoff = DbTime::from(cutoff);
        let batch = i64::from(batch.max(1));
        let mut counts = PruneCounts::default();
        // `next_attempt_at` of a finished delivery is when it finished (delivered or
        // dead-lettered): `finish_webhook_delivery` sets it so.
        for (sql, slot) in [
            (
                "DELETE FROM webhook_deliveries WHERE id IN ( \
                     SELECT id FROM webhook_deliveries \
                     WHERE status IN ('delivered', 'dead') AND next_attempt_at < $1 \
                     ORDER BY id LIMIT $2)",
                &mut counts.deliveries,
            ),
            (
                "DELETE FROM webhook_events WHERE id IN ( \
                     SELECT e.id FROM webhook_events e WHERE e.received_at < $1 \
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) \
                     LIMIT $2)",
                &mut counts.events,
            ),
        ] {
            loop {
                let n = with_pool!(self, pool => {
                    sqlx::query(sql)
                        .bind(cutoff)
                        .bind(batch)
                        .execute(pool)
                        .await
                        .op("prune_webhook_outbox")?
                        .rows_affected()
                });
                *slot += n;
                if n < batch as u64 {
                    break;
                }
            }
        }
        Ok(counts)
    }

    /// Releases the leases a predecessor of this instance still holds: owners named
    /// `<instance_prefix>…` other than `current_owner` (the same stable instance id with an
    /// older boot id; the process that held them is gone). Their deliveries are claimable at
    /// once instead of when the lease lapses. Returns how many were released.
    pub async fn release_webhook_leases_of_predecessors(
        &self,
        instance_prefix: &str,
        current_owner: &str,
    ) -> Result<u64, StoreError> {
        let len = i32::try_from(instance_prefix.chars().count()).unwrap_or(i32::MAX);
        Ok(with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE status = 'pending' AND lease_owner IS NOT NULL AND lease_owner <> $1 \
                   AND substr(lease_owner, 1, $2) = $3",
            )
            .bind(current_owner)
            .bind(len)
            .bind(instance_prefix)
            .execute(pool)
            .await
            .op("release_webhook_leases_of_predecessors")?
            .rows_affected()
        }))
    }

    /// Every sealed webhook secret of an organization (subscriptions' signing secrets and
    /// connections' admin-webhook secrets), for re-encryption under a new data key.
    pub async fn admin_list_webhook_secrets(
        &self,
        org: &OrgId,
    ) -> Result<Vec<SealedWebhookSecret>, StoreError> {
        let rows: Vec<(String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT 'subscription', id, sealed_secret FROM webhook_subscriptions WHERE org_id = $1 \
                 UNION ALL \
                 SELECT 'receiver', connection_id, sealed_secret FROM webhook_receivers WHERE org_id = $1",
            )
            .bind(org.as_str())
            .fetch_all(pool)
            .await
            .op("admin_list_webhook_secrets")?
        });
        Ok(rows
            .into_iter()
            .map(|(kind, record_id, sealed)| SealedWebhookSecret {
                kind: if kind == "receiver" {
                    WebhookSecretKind::Receiver
                } else {
                    WebhookSecretKind::Subscription
                },
                record_id,
                sealed,
            })
            .collect())
    }

    /// Replaces one sealed webhook secret if it is still `old.sealed` (compare and swap);
    /// `false` when it changed or is gone meanwhile.
    pub async fn admin_reseal_webhook_secret(
        &self,
        org: &OrgId,
        old: &SealedWebhookSecret,
        new_sealed: &str,
    ) -> Result<bool, StoreError> {
        let sql = match old.kind {
            WebhookSecretKind::Subscription => {
                "UPDATE webhook_subscriptions SET sealed_secret = $1 \
                 WHERE org_id = $2 AND id = $3 AND sealed_secret = $4"
            }
            WebhookSecretKind::Receiver => {
                "UPDATE webhook_receivers SET sealed_secret = $1 \
                 WHERE org_id = $2 AND connection_id = $3 AND sealed_secret = $4"
            }
        };
        let n = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(new_sealed)
                .bind(org.as_str())
                .bind(&old.record_id)
                .bind(&old.sealed)
                .execute(pool)
                .await
                .op("admin_reseal_webhook_secret")?
                .rows_affected()
        });
        Ok(n == 1)
    }
}
