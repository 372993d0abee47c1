//! Audit events and health-check history.

use sqlx::types::Json;

use crate::db::{Store, with_pool};
use crate::error::{OpContext, StoreError, is_foreign_key_violation};
use crate::ids::{AuditEventId, ConnectionId, OrgId};
use crate::model::{AuditEvent, AuditQuery, HealthCheck, NewAuditEvent, parse_enum};
use crate::time_col::{self, DbTime};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    org_id: String,
    at: DbTime,
    actor: String,
    action: String,
    target: String,
    detail: Json<serde_json::Value>,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: AuditEventId::from_db(r.id),
            org_id: OrgId::from_db(r.org_id),
            at: r.at.into(),
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail.0,
        }
    }
}

#[derive(sqlx::FromRow)]
struct HealthRow {
    connection_id: String,
    at: DbTime,
    status: String,
    reason: Option<String>,
    latency_ms: i64,
}

impl TryFrom<HealthRow> for HealthCheck {
    type Error = StoreError;
    fn try_from(r: HealthRow) -> Result<Self, StoreError> {
        Ok(HealthCheck {
            connection_id: ConnectionId::from_db(r.connection_id),
            at: r.at.into(),
            status: parse_enum("health status", &r.status)?,
            reason: r.reason,
            latency_ms: r.latency_ms,
        })
    }
}

impl Store {
    pub async fn append_audit(
        &self,
        org: &OrgId,
        event: NewAuditEvent,
    ) -> Result<AuditEvent, StoreError> {
        let rec = AuditEvent {
            id: AuditEventId::new(),
            org_id: org.clone(),
            at: time_col::now(),
            actor: event.actor,
            action: event.action,
            target: event.target,
            detail: event.detail,
        };
        let res = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_events (id, org_id, at, actor, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(rec.id.as_str())
            .bind(org.as_str())
            .bind(DbTime::from(rec.at))
            .bind(&rec.actor)
            .bind(&rec.action)
            .bind(&rec.target)
            .bind(Json(&rec.detail))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(rec),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound {
                what: "organization",
                id: org.to_string(),
            }),
            Err(e) => Err(StoreError::Database {
                op: "append_audit",
                source: e,
            }),
        }
    }

    /// The newest `limit` events of `org`, newest first.
    pub async fn list_audit(&self, org: &OrgId, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, org_id, at, actor, action, target, detail FROM audit_events \
                 WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(org.as_str())
            .bind(limit.max(0))
            .fetch_all(pool)
            .await
            .op("list_audit")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Events of `org` matching `q`, newest first (`at` then `id` descending), at most
    /// `q.limit`.
    pub async fn query_audit(
        &self,
        org: &OrgId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (before_at, before_id) = match &q.before {
            Some((at, id)) => (Some(DbTime::from(*at)), Some(id.as_str())),
            None => (None, None),
        };
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, org_id, at, actor, action, target, detail FROM audit_events \
                 WHERE org_id = $1 \
                 AND ($2 IS NULL OR target = $2) \
                 AND ($3 IS NULL OR substr(action, 1, length($3)) = $3) \
                 AND ($4 IS NULL OR at >= $4) \
                 AND ($5 IS NULL OR at < $5) \
                 AND ($6 IS NULL OR at < $6 OR (at = $6 AND id < $7)) \
                 ORDER BY at DESC, id DESC LIMIT $8",
            )
            .bind(org.as_str())
            .bind(q.target.as_deref())
            .bind(q.action_prefix.as_deref())
            .bind(time_col::opt(q.since))
            .bind(time_col::opt(q.until))
            .bind(before_at)
            .bind(before_id)
            .bind(q.limit.max(0))
            .fetch_all(pool)
            .await
            .op("query_audit")?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Stores a health-check result for a connection of `org`.
    pub async fn record_health_check(
        &self,
        org: &OrgId,
        check: &HealthCheck,
    ) -> Result<(), StoreError> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO health_checks (org_id, connection_id, at, status, reason, latency_ms) \
                 SELECT $1, $2, $3, $4, $5, $6 \
                 WHERE EXISTS (SELECT 1 FROM connections WHERE org_id = $1 AND id = $2)",
            )
            .bind(org.as_str())
            .bind(check.connection_id.as_str())
            .bind(DbTime::from(check.at))
            .bind(check.status.as_str())
            .bind(&check.reason)
            .bind(check.latency_ms)
            .execute(pool)
            .await
            .op("record_health_check")?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "connection",
                id: check.connection_id.to_string(),
            });
        }
        Ok(())
    }

    /// The most recent health check of a connection of `org`.
    pub async fn latest_health(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> Result<Option<HealthCheck>, StoreError> {
        let row: Option<HealthRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT connection_id, at, status, reason, latency_ms FROM health_checks \
                 WHERE org_id = $1 AND connection_id = $2 ORDER BY at DESC, id DESC LIMIT 1",
            )
            .bind(org.as_str())
            .bind(connection.as_str())
            .fetch_optional(pool)
            .await
            .op("latest_health")?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// The latest `limit` health checks of a connection of `org`, newest first.
    pub async fn health_history(
        &self,
        org: &OrgId,
        connection: &ConnectionId,
        limit: u32,
    ) -> Result<Vec<HealthCheck>, StoreError> {
        let rows: Vec<HealthRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT connection_id, at, status, reason, latency_ms FROM health_checks \
                 WHERE org_id = $1 AND connection_id = $2 ORDER BY at DESC, id DESC LIMIT $3",
            )
            .bind(org.as_str())
            .bind(connection.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .op("health_history")?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
