//! Notices of stored webhook events, shared by instances on one PostgreSQL database: the
//! instance whose receiver stored an event says so with `NOTIFY`, and every instance relays it
//! to its own MCP resource subscriptions. A notice only says "read again": one missed while a
//! listener reconnects loses nothing but that nudge (the events themselves are in the table).
//! On SQLite (one instance per file) nothing is shared.

use sqlx::postgres::PgListener;

use crate::db::{Pool, Store};
use crate::error::{OpContext, StoreError};
use crate::ids::{ConnectionId, OrgId};

/// The `NOTIFY` channel; a payload is `<origin> <org id> <connection id>`.
pub const WEBHOOK_EVENT_CHANNEL: &str = "jiragate_webhook_events";

/// An event stored by the instance named `origin` (a per-process token, so that an instance
/// can skip its own notices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEventNotice {
    pub origin: String,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
}

impl SharedEventNotice {
    fn from_payload(payload: &str) -> Option<SharedEventNotice> {
        let mut parts = payload.split(' ');
        let notice = SharedEventNotice {
            origin: parts.next().filter(|o| !o.is_empty())?.to_owned(),
            org_id: parts.next()?.parse().ok()?,
            connection_id: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(notice)
    }
}

/// Listens for the notices every instance publishes (this one's included).
pub struct EventNoticeListener {
    listener: PgListener,
}

impl std::fmt::Debug for EventNoticeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventNoticeListener")
            .finish_non_exhaustive()
    }
}

impl EventNoticeListener {
    /// The next notice. `Ok(None)`: the connection was lost and is being re-established
    /// (notices in between are missed).
    pub async fn next(&mut self) -> Result<Option<SharedEventNotice>, StoreError> {
        loop {
            match self
                .listener
                .try_recv()
                .await
                .op("receive webhook event notices")?
            {
                None => return Ok(None),
                Some(n) => match SharedEventNotice::from_payload(n.payload()) {
                    Some(notice) => return Ok(Some(notice)),
                    None => tracing::warn!(
                        channel = WEBHOOK_EVENT_CHANNEL,
                        "ignoring a malformed webhook event notice"
                    ),
                },
            }
        }
    }
}

impl Store {
    /// Tells every instance that an event of `connection` was stored (PostgreSQL; nothing on
    /// SQLite).
    pub async fn publish_event_notice(
        &self,
        origin: &str,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &*self.pool else {
            return Ok(());
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(WEBHOOK_EVENT_CHANNEL)
            .bind(format!("{origin} {org} {connection}"))
            .execute(pool)
            .await
            .op("publish a webhook event notice")?;
        Ok(())
    }

    /// A listener for event notices, or `None` on SQLite (nothing to share).
    pub async fn listen_event_notices(&self) -> Result<Option<EventNoticeListener>, StoreError> {
        let listener = self
            .pg_listener(WEBHOOK_EVENT_CHANNEL, "listen for webhook event notices")
            .await?;
        Ok(listener.map(|listener| EventNoticeListener { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_or_are_ignored() {
        let org = "0190b7a4-52f6-7cc1-8e2a-6f4f3b0b6a11";
        let conn = "0190b7a4-52f6-7cc1-8e2a-6f4f3b0b6a12";
        let ok = SharedEventNotice::from_payload(&format!("p1 {org} {conn}")).unwrap();
        assert_eq!(ok.origin, "p1");
        assert_eq!(ok.org_id.to_string(), org);
        assert_eq!(ok.connection_id.to_string(), conn);
        for bad in [
            String::new(),
            format!(" {org} {conn}"),
            format!("p1 {org}"),
            format!("p1 not-an-id {conn}"),
            format!("p1 {org} {conn} extra"),
        ] {
            assert_eq!(SharedEventNotice::from_payload(&bad), None, "{bad:?}");
        }
    }
}
