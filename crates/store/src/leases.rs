//! Leases: named, time-limited mutual exclusion across instances sharing one database.
//!
//! All expiry decisions use the DATABASE clock (`clock_timestamp()` on PostgreSQL,
//! `unixepoch('subsec')` on SQLite), never the caller's, so instances with clock skew
//! agree on who holds a lease. Rows are never deleted, so the fencing token of a name only
//! ever increases: every successful acquisition gets a token greater than all before it.

use std::time::Duration;

use crate::db::{Backend, Store, with_pool};
use crate::error::{OpContext, StoreError};
use crate::model::Lease;
use crate::time_col::DbTime;

#[derive(sqlx::FromRow)]
struct LeaseRow {
    name: String,
    holder: String,
    fencing_token: i64,
    expires_at: DbTime,
}

impl From<LeaseRow> for Lease {
    fn from(r: LeaseRow) -> Self {
        Lease {
            name: r.name,
            holder: r.holder,
            fencing_token: r.fencing_token,
            expires_at: r.expires_at.into(),
        }
    }
}

/// Per-backend SQL with the database clock spelled out.
struct LeaseSql {
    acquire: &'static str,
    /// Like `acquire`, but also takes a lease whose holder is a previous run of this instance
    /// (`holder LIKE '<instance>#%'` with another boot id): that process is gone.
    acquire_takeover: &'static str,
    renew: &'static str,
    release: &'static str,
    held: &'static str,
}

macro_rules! lease_sql {
    ($now:literal, $plus_ttl:literal) => {
        LeaseSql {
            acquire: concat!(
                "INSERT INTO leases (name, holder, fencing_token, expires_at) VALUES ($1, $2, 1, ",
                $now,
                $plus_ttl,
                ") \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 fencing_token = leases.fencing_token + 1, expires_at = excluded.expires_at \
                 WHERE leases.expires_at <= ",
                $now,
                " \
                 RETURNING name, holder, fencing_token, expires_at"
            ),
            acquire_takeover: concat!(
                "INSERT INTO leases (name, holder, fencing_token, expires_at) VALUES ($1, $2, 1, ",
                $now,
                $plus_ttl,
                ") \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 fencing_token = leases.fencing_token + 1, expires_at = excluded.expires_at \
                 WHERE leases.expires_at <= ",
                $now,
                " OR (leases.holder LIKE $4 ESCAPE '\\' AND leases.holder <> $2) \
                 RETURNING name, holder, fencing_token, expires_at"
            ),
            renew: concat!(
                "UPDATE leases SET expires_at = ",
                $now,
                $plus_ttl,
                " \
                 WHERE name = $1 AND holder = $2 AND fencing_token = $4 AND expires_at > ",
                $now,
                " \
                 RETURNING name, holder, fencing_token, expires_at"
            ),
            release: concat!(
                "UPDATE leases SET expires_at = ",
                $now,
                " \
                 WHERE name = $1 AND holder = $2 AND fencing_token = $3 AND expires_at > ",
                $now
            ),
            held: concat!(
                "SELECT COUNT(*) FROM leases \
                 WHERE name = $1 AND holder = $2 AND fencing_token = $3 AND expires_at > ",
                $now
            ),
        }
    };
}

static SQLITE: LeaseSql = lease_sql!("CAST(unixepoch('subsec') * 1000000 AS INTEGER)", " + $3");
static POSTGRES: LeaseSql = lease_sql!("clock_timestamp()", " + $3 * INTERVAL '1 microsecond'");

fn ttl_micros(ttl: Duration) -> Result<i64, StoreError> {
    let micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    if micros <= 0 {
        return Err(StoreError::InvalidInput {
            field: "ttl",
            message: "lease TTL must be at least one microsecond".into(),
        });
    }
    // Keep far-future expiries representable on both backends (~100 years).
    Ok(micros.min(100 * 365 * 86_400 * 1_000_000))
}

impl Store {
    fn lease_sql(&self) -> &'static LeaseSql {
        match self.backend() {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }

    /// Takes the lease `name` for `holder` unless someone holds an unexpired one. Returns the
    /// lease with a fencing token higher than any earlier holder's, or `None` if taken.
    /// Not re-entrant: use a distinct holder string per acquisition attempt.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = ttl_micros(ttl)?;
        let sql = self.lease_sql().acquire;
        let row: Option<LeaseRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(name)
                .bind(holder)
                .bind(ttl)
                .fetch_optional(pool)
                .await
                .op("acquire_lease")?
        });
        Ok(row.map(Into::into))
    }

    /// Like [`Store::acquire_lease`] for a holder named `<instance>#<boot>`: a lease still held
    /// by `<instance>#<another boot>` is taken over at once, because that holder is an earlier
    /// run of this same instance that died holding it. Only sound when `instance` names one
    /// process at a time (a stable id per instance, or a data dir only one process opens).
    pub async fn acquire_lease_taking_over(
        &self,
        name: &str,
        instance: &str,
        boot: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = ttl_micros(ttl)?;
        let holder = format!("{instance}#{boot}");
        let mut pattern = String::with_capacity(instance.len() + 2);
        for c in instance.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str("#%");
        let sql = self.lease_sql().acquire_takeover;
        let row: Option<LeaseRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(name)
                .bind(&holder)
                .bind(ttl)
                .bind(&pattern)
                .fetch_optional(pool)
                .await
                .op("acquire_lease")?
        });
        Ok(row.map(Into::into))
    }

    /// Extends a lease that is still held (same holder and fencing token, not expired).
    /// `None` means it was lost: stop acting on it.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = ttl_micros(ttl)?;
        let sql = self.lease_sql().renew;
        let row: Option<LeaseRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(&lease.name)
                .bind(&lease.holder)
                .bind(ttl)
                .bind(lease.fencing_token)
                .fetch_optional(pool)
                .await
                .op("renew_lease")?
        });
        Ok(row.map(Into::into))
    }

    /// Gives a lease up (it expires now). Returns `false` if it had already expired or
    /// passed to someone else.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool, StoreError> {
        let sql = self.lease_sql().release;
        let n = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(&lease.name)
                .bind(&lease.holder)
                .bind(lease.fencing_token)
                .execute(pool)
                .await
                .op("release_lease")?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Whether `lease` is still held right now (by database time).
    pub async fn lease_is_held(&self, lease: &Lease) -> Result<bool, StoreError> {
        let sql = self.lease_sql().held;
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(&lease.name)
                .bind(&lease.holder)
                .bind(lease.fencing_token)
                .fetch_one(pool)
                .await
                .op("lease_is_held")?
        });
        Ok(n == 1)
    }
}
