//! Rate-limit holds shared by instances on one PostgreSQL database: when Jira tells one
//! instance to wait on a connection, the others hear it through `NOTIFY` at once, and an
//! instance that (re)connects its listener reads the holds still running from the table.
//!
//! Expiry uses the DATABASE clock (`clock_timestamp()`), so instances with skewed clocks agree
//! on how much of a hold is left. On SQLite (one instance per file) nothing is shared: the
//! functions answer at once without touching the database.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::db::{Pool, Store};
use crate::error::{OpContext, StoreError};

/// The `NOTIFY` channel; a payload is `<wait ms> <connection key>`.
pub const RATE_HOLD_CHANNEL: &str = "jiragate_rate_holds";

/// Longest hold shared (a larger Retry-After is not worth queueing behind for longer).
const MAX_SHARED_HOLD: Duration = Duration::from_secs(3600);

/// A hold another instance published: the connection must not call Jira for `wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHold {
    pub connection_key: String,
    pub wait: Duration,
}

impl RateHold {
    fn from_payload(payload: &str) -> Option<RateHold> {
        let (ms, key) = payload.split_once(' ')?;
        Some(RateHold {
            connection_key: key.to_owned(),
            wait: Duration::from_millis(ms.parse().ok()?),
        })
    }
}

/// Listens for holds published by any instance (including this one: applying a hold twice is
/// harmless, holds only extend).
pub struct RateHoldListener {
    listener: PgListener,
}

impl std::fmt::Debug for RateHoldListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateHoldListener").finish_non_exhaustive()
    }
}

impl RateHoldListener {
    /// The next hold. `Ok(None)`: the connection was lost and is being re-established, so
    /// notifications may have been missed; read [`Store::active_rate_holds`] again.
    pub async fn next(&mut self) -> Result<Option<RateHold>, StoreError> {
        loop {
            match self
                .listener
                .try_recv()
                .await
                .op("receive rate-limit holds")?
            {
                None => return Ok(None),
                Some(n) => {
                    if let Some(hold) = RateHold::from_payload(n.payload()) {
                        return Ok(Some(hold));
                    }
                    tracing::warn!(
                        channel = RATE_HOLD_CHANNEL,
                        "ignoring a malformed rate-limit hold"
                    );
                }
            }
        }
    }
}

impl Store {
    /// True when several instances can share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(&*self.pool, Pool::Postgres(_))
    }

    /// Tells every instance that `connection_key` must wait `wait`: recorded (holds only
    /// extend) and notified in one statement.
    pub async fn publish_rate_hold(
        &self,
        connection_key: &str,
        wait: Duration,
    ) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &*self.pool else {
            return Ok(());
        };
        let ms = wait.min(MAX_SHARED_HOLD).as_millis() as i64;
        sqlx::query(
            "WITH held AS ( \
               INSERT INTO rate_limit_holds (connection_key, held_until) \
               VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond') \
               ON CONFLICT (connection_key) DO UPDATE \
                 SET held_until = GREATEST(rate_limit_holds.held_until, excluded.held_until) \
               RETURNING connection_key) \
             SELECT pg_notify($3, $2::text || ' ' || $1) FROM held",
        )
        .bind(connection_key)
        .bind(ms)
        .bind(RATE_HOLD_CHANNEL)
        .execute(pool)
        .await
        .op("publish a rate-limit hold")?;
        Ok(())
    }

    /// Holds still running, with the time left by the database clock; expired rows are
    /// removed on the way.
    pub async fn active_rate_holds(&self) -> Result<Vec<RateHold>, StoreError> {
        let Pool::Postgres(pool) = &*self.pool else {
            return Ok(Vec::new());
        };
        sqlx::query("DELETE FROM rate_limit_holds WHERE held_until <= clock_timestamp()")
            .execute(pool)
            .await
            .op("prune rate-limit holds")?;
        let rows: Vec<(String, f64)> = sqlx::query_as(
            "SELECT connection_key, \
               EXTRACT(EPOCH FROM (held_until - clock_timestamp()))::float8 * 1000.0 \
             FROM rate_limit_holds WHERE held_until > clock_timestamp()",
        )
        .fetch_all(pool)
        .await
        .op("read rate-limit holds")?;
        Ok(rows
            .into_iter()
            .map(|(connection_key, ms)| RateHold {
                connection_key,
                wait: Duration::from_millis(ms.max(0.0).ceil() as u64),
            })
            .collect())
    }

    /// A listener for holds, or `None` on SQLite (nothing to share).
    pub async fn listen_rate_holds(&self) -> Result<Option<RateHoldListener>, StoreError> {
        let listener = self
            .pg_listener(RATE_HOLD_CHANNEL, "listen for rate-limit holds")
            .await?;
        Ok(listener.map(|listener| RateHoldListener { listener }))
    }

    /// A listener on one `NOTIFY` channel, or `None` on SQLite (one instance per file).
    pub(crate) async fn pg_listener(
        &self,
        channel: &str,
        op: &'static str,
    ) -> Result<Option<PgListener>, StoreError> {
        let Pool::Postgres(pool) = &*self.pool else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await.op(op)?;
        listener.listen(channel).await.op(op)?;
        Ok(Some(listener))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_or_are_ignored() {
        assert_eq!(
            RateHold::from_payload("1500 conn_01 with space"),
            Some(RateHold {
                connection_key: "conn_01 with space".into(),
                wait: Duration::from_millis(1500)
            })
        );
        for bad in ["", "x y", "-1 k", "12"] {
            assert_eq!(RateHold::from_payload(bad), None, "{bad:?}");
        }
    }
}
