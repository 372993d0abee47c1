/// Store failures. Messages name the operation and the record, never secret values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("database error during {op}: {source}")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },

    #[error("{what} {key} already exists")]
    AlreadyExists { what: &'static str, key: String },

    #[error(
        "{what} {id} was changed concurrently (expected {field} {expected}, found {actual}); re-read and retry"
    )]
    Conflict {
        what: &'static str,
        id: String,
        field: &'static str,
        expected: i64,
        actual: i64,
    },

    #[error("{what} {id} is still in use by {users}")]
    InUse {
        what: &'static str,
        id: String,
        users: String,
    },

    #[error(
        "the database belongs to master key {current}, not {attempted} (was the master key rotated concurrently?); reload keys and retry"
    )]
    MasterKeyChanged { attempted: String, current: String },

    #[error("stored {what} is invalid: {message}")]
    Corrupt { what: &'static str, message: String },

    #[error("invalid input for {field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
}

impl StoreError {
    /// Stable machine-readable error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::InvalidUrl { .. } => "invalid_url",
            StoreError::Connect { .. } => "connect",
            StoreError::Migrate(_) => "migrate",
            StoreError::Database { .. } => "database",
            StoreError::NotFound { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Conflict { .. } => "conflict",
            StoreError::InUse { .. } => "in_use",
            StoreError::MasterKeyChanged { .. } => "master_key_changed",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::InvalidInput { .. } => "invalid_input",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// Attaches the operation name to sqlx errors.
pub(crate) trait OpContext<T> {
    fn op(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> OpContext<T> for Result<T, sqlx::Error> {
    fn op(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { op, source })
    }
}
