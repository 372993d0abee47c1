//! Rate-limit holds shared across instances on one PostgreSQL database (issue 20): a 429 seen
//! by one instance holds the connection back on all of them. Publishing goes through the Jira
//! client's [`HoldBoard`] hook; a background listener applies what the others publish.
//!
//! Bound: a hold reaches the other instances as fast as PostgreSQL delivers a `NOTIFY`
//! (milliseconds on a healthy database). After a lost listener connection, the holds still
//! running are read back from the table as soon as it is re-established.

use std::time::Duration;

use jiragate_jira::{HoldBoard, JiraClient};
use jiragate_store::Store;

/// Publishes this instance's holds through the database, off the request path.
#[derive(Debug)]
pub(crate) struct DbHoldBoard {
    pub(crate) store: Store,
}

impl HoldBoard for DbHoldBoard {
    fn publish(&self, connection_key: &str, wait: Duration) {
        let store = self.store.clone();
        let key = connection_key.to_owned();
        tokio::spawn(async move {
            if let Err(e) = store.publish_rate_hold(&key, wait).await {
                tracing::warn!(connection = %key, error = %e,
                    "could not share a rate-limit hold with other instances");
            }
        });
    }
}

/// Applies holds published by any instance until the task is aborted. Returns at once on
/// SQLite, where there is nobody to share with.
pub(crate) async fn apply_shared_holds(store: Store, jira: JiraClient) {
    const RETRY: Duration = Duration::from_secs(1);
    loop {
        let mut listener = match store.listen_rate_holds().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for shared rate-limit holds; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Listening first, then reading: a hold published in between arrives either way.
        catch_up(&store, &jira).await;
        loop {
            match listener.next().await {
                Ok(Some(hold)) => {
                    metrics::counter!("jiragate_shared_rate_holds_total").increment(1);
                    jira.hold_connection(&hold.connection_key, hold.wait);
                }
                // Reconnecting: notifications may have been missed.
                Ok(None) => catch_up(&store, &jira).await,
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate-limit hold listener failed; reconnecting");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

async fn catch_up(store: &Store, jira: &JiraClient) {
    match store.active_rate_holds().await {
        Ok(holds) => {
            for hold in holds {
                jira.hold_connection(&hold.connection_key, hold.wait);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read shared rate-limit holds"),
    }
}
