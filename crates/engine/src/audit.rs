//! The audit trail: engine operations append an event for every state change they make.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiragate_store::{AuditEvent, AuditQuery, NewAuditEvent, OrgId};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Actor, ApiScope, ConnRef, Engine, EngineError};

/// Most events one page of [`Engine::query_audit`] returns.
pub const AUDIT_PAGE_MAX: u32 = 500;
/// Events per page when the caller names no limit.
pub const AUDIT_PAGE_DEFAULT: u32 = 100;

/// What to read from the audit trail. Filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events about this connection (id — also of a deleted one — or `workspace/name`).
    pub connection: Option<ConnRef>,
    /// Events whose action starts with this: `connector.` (every connection event),
    /// `oauth_client.update`, `api_key` …
    pub kind: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// 1..=500 (default 100).
    pub limit: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Present when more events may follow; pass it back as `page_token`.
    pub next_page_token: Option<String>,
}

/// Parses an RFC 3339 time given for `field` (`2025-01-31T12:00:00Z`).
pub fn parse_time(field: &str, value: &str) -> Result<OffsetDateTime, EngineError> {
    OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).map_err(
        |_| {
            EngineError::validation(
                field,
                format!(
                    "{} is not an RFC 3339 time (e.g. 2025-01-31T12:00:00Z)",
                    crate::quote(value)
                ),
            )
        },
    )
}

fn encode_token(e: &AuditEvent) -> String {
    let micros = e.at.unix_timestamp_nanos() / 1_000;
    URL_SAFE_NO_PAD.encode(format!("v1:{micros}:{}", e.id))
}

fn decode_token(token: &str) -> Result<(OffsetDateTime, String), EngineError> {
    let bad = || EngineError::validation("page_token", "not a page token of this listing");
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let rest = raw.strip_prefix("v1:").ok_or_else(bad)?;
    let (micros, id) = rest.split_once(':').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map_err(|_| bad())?;
    if id.is_empty() || id.len() > 100 {
        return Err(bad());
    }
    Ok((at, id.to_owned()))
}

impl Engine {
    /// Appends an audit event. A failure is logged, not returned: the change it records has
    /// already happened and must not be reported as failed.
    pub async fn append_audit(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        action: &str,
        target: &str,
        detail: Value,
    ) {
        let event = NewAuditEvent {
            actor: actor.audit_name(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(org, event).await {
            tracing::warn!(error = %e, action, "could not append an audit event");
        }
    }

    /// Reads the audit trail of `org` (admin), newest first, one page at a time.
    pub async fn query_audit(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        filter: AuditFilter,
    ) -> Result<AuditPage, EngineError> {
        actor.require(ApiScope::Admin)?;
        let limit = filter.limit.unwrap_or(AUDIT_PAGE_DEFAULT);
        if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
            return Err(EngineError::validation(
                "limit",
                format!("must be between 1 and {AUDIT_PAGE_MAX}"),
            ));
        }
        if let (Some(s), Some(u)) = (filter.since, filter.until)
            && s >= u
        {
            return Err(EngineError::validation("until", "must be after since"));
        }
        let target = match &filter.connection {
            None => None,
            // An id is taken as it is: the events of a deleted connection stay readable.
            Some(ConnRef::Id(id)) => Some(id.to_string()),
            Some(r) => Some(self.resolve(org, r).await?.id.to_string()),
        };
        let before = filter
            .page_token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(decode_token)
            .transpose()?;
        let q = AuditQuery {
            target,
            action_prefix: filter
                .kind
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
            since: filter.since,
            until: filter.until,
            before,
            limit: i64::from(limit) + 1,
        };
        let mut events = self.store.query_audit(org, &q).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_page_token = more.then(|| events.last().map(encode_token)).flatten();
        Ok(AuditPage {
            events,
            next_page_token,
        })
    }

    /// The newest `limit` audit events of `org` (admin).
    pub async fn list_audit(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        actor.require(ApiScope::Admin)?;
        Ok(self.store.list_audit(org, limit).await?)
    }
}
