use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Postgres, Sqlite, Transaction};

use crate::error::{OpContext, StoreError};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Connection-pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Maximum pooled connections (SQLite allows one writer at a time regardless).
    pub max_connections: u32,
    /// How long a SQLite writer waits for the write lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// How long to wait for a free pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            sqlite_busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database. Cheap to clone (shares one pool).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Arc<Pool>,
}

// Hand-written: the pools' Debug output includes connect options (with a password).
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` against whichever pool backs the store. The body is compiled once per
/// backend, so the same runtime SQL (with `$n` placeholders, which SQLite accepts too)
/// serves both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Starting a transaction that will write. On SQLite this is `BEGIN IMMEDIATE`, which takes
/// the write lock up front (waiting up to busy_timeout) instead of failing later when a
/// read-then-write transaction tries to upgrade.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Hides a password in a URL before it goes into an error message.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

impl Store {
    /// Connects with default pool settings. `sqlite://path` (file created if missing, with
    /// WAL, busy_timeout 5 s, foreign keys on, secure_delete on) or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        let shown = redact_url(url);
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let connect_err = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| invalid(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(opts.sqlite_busy_timeout)
                .foreign_keys(true)
                // Deleted rows (e.g. erased credentials) are overwritten, not left in free pages.
                .pragma("secure_delete", "ON");
            let filename = options.get_filename();
            let in_memory =
                filename.as_os_str().is_empty() || filename.to_str() == Some(":memory:");
            if !in_memory
                && let Some(parent) = filename.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    invalid(format!("cannot create directory {}: {e}", parent.display()))
                })?;
            }
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists per connection: keep exactly one.
                .max_connections(if in_memory {
                    1
                } else {
                    opts.max_connections.max(1)
                })
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
            // One direct attempt first: an unreachable server or bad credentials fail at
            // once with the real cause, instead of the pool retrying until acquire_timeout.
            let probe = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(connect_err)?;
            let _ = probe.close().await;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Pool::Postgres(pool)
        } else {
            return Err(invalid(
                "expected a sqlite://<path> or postgres://<user>@<host>/<db> URL".into(),
            ));
        };
        Ok(Store {
            pool: Arc::new(pool),
        })
    }

    pub fn backend(&self) -> Backend {
        match &*self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend() {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies pending migrations (safe to run from several instances at once: sqlx takes a
    /// database lock while migrating).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => self.migrator().run(pool).await?);
        Ok(())
    }

    /// True when the database lacks a migration embedded in this binary.
    pub async fn migrations_pending(&self) -> Result<bool, StoreError> {
        self.ping().await?;
        let applied: Result<Vec<i64>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(pool)
                .await
        });
        let applied = match applied {
            Ok(v) => v,
            // No migrations table yet: everything is pending.
            Err(sqlx::Error::Database(_)) => return Ok(true),
            Err(e) => {
                return Err(StoreError::Database {
                    op: "migrations_pending",
                    source: e,
                });
            }
        };
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .any(|m| !applied.contains(&m.version)))
    }

    /// Round-trips a trivial query (readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.op("ping")?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
