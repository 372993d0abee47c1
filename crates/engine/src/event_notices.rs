//! Webhook event notices across instances on one PostgreSQL database (issue 19): the instance
//! whose receiver stored an event publishes a notice; every other instance relays it to its own
//! [`EventBus`], so an MCP session subscribed on any instance hears of events received by any
//! instance. Bound: as fast as PostgreSQL delivers a `NOTIFY` (milliseconds); notices sent
//! while a listener reconnects are missed (the events are not: they are read from the table).

use std::time::Duration;

use jiragate_store::{ConnectionId, OrgId, Store};

use crate::webhooks::{EventBus, WebhookEventNotice};

/// Publishes a stored event to the other instances, off the request path (PostgreSQL only).
pub(crate) fn share(store: &Store, bus: &EventBus, org: &OrgId, connection: &ConnectionId) {
    if !store.is_shared() {
        return;
    }
    let (store, origin) = (store.clone(), bus.origin.clone());
    let (org, connection) = (org.clone(), connection.clone());
    tokio::spawn(async move {
        if let Err(e) = store.publish_event_notice(&origin, &org, &connection).await {
            tracing::warn!(connection = %connection, error = %e,
                "could not tell other instances of a webhook event");
        }
    });
}

/// Relays the other instances' notices to this instance's bus until the task is aborted.
/// Returns at once on SQLite.
pub(crate) async fn relay_shared_notices(store: Store, bus: EventBus) {
    const RETRY: Duration = Duration::from_secs(1);
    loop {
        let mut listener = match store.listen_event_notices().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for webhook event notices; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match listener.next().await {
                Ok(Some(n)) if *n.origin != *bus.origin => {
                    // No listener is not an error.
                    let _ = bus.tx.send(WebhookEventNotice {
                        org_id: n.org_id,
                        connection_id: n.connection_id,
                    });
                }
                // Our own notice (already on the bus), or a reconnect.
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook event notice listener failed; reconnecting");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}
