//! The one error type of the store crate.

use std::path::PathBuf;

/// Everything that can go wrong in a store. Messages are lowercase and say what was being done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("creating the data directory {path}: {source}", path = path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("opening the database at {path}: {source}", path = path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    #[error("migrating the database at {path} to schema version {version}: {source}", path = path.display())]
    Migrate {
        path: PathBuf,
        version: u32,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "the database at {path} has schema version {found}, but this binary knows only up to {supported}: \
         upgrade nines (or point it at another data directory)",
        path = path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: u32,
    },

    #[error("invalid counter delta for {series} at bucket {bucket_start}: {reason}")]
    InvalidDelta {
        series: String,
        bucket_start: i64,
        reason: &'static str,
    },

    #[error("invalid file position for {file}: {reason}")]
    InvalidPosition { file: String, reason: &'static str },

    #[error("counter overflow for {series} at bucket {bucket_start}: a bucket holds at most {max} events", max = i64::MAX)]
    CounterOverflow { series: String, bucket_start: i64 },

    #[error("{operation}: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("the database holds an impossible value: {0}")]
    Corrupt(String),

    #[error("invalid {what}: {reason}")]
    InvalidInput {
        what: &'static str,
        reason: &'static str,
    },

    #[error("a token named {name} (or with the same secret) already exists")]
    TokenExists { name: String },

    #[error("no audit key is set: control-plane writes need one (see store::audit_key)")]
    NoAuditKey,

    #[error("reading or writing the audit key {path}: {source}", path = path.display())]
    AuditKeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the audit key {path} is invalid: {reason}", path = path.display())]
    InvalidAuditKey { path: PathBuf, reason: &'static str },

    #[error("the operating system's random number generator failed: {0}")]
    Random(String),

    #[error("the store is closed")]
    Closed,

    #[error("request {id:?} was already committed")]
    DuplicateRequest { id: String },

    #[error("a notification with id {id:?} is already stored")]
    DuplicateNotification { id: String },

    #[error("the backup target {path} already exists: choose a new file", path = path.display())]
    BackupTargetExists { path: PathBuf },

    #[error("the throw-away postgresql cluster: {0}")]
    TestCluster(String),

    #[error("{operation}: the disk (or the database's size limit) is full: {source}")]
    DiskFull {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// A stable, machine-readable code, so errors that cross the API can be matched without parsing text.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::CreateDir { .. } => "store.create_dir",
            StoreError::Open { .. } => "store.open",
            StoreError::Migrate { .. } => "store.migrate",
            StoreError::SchemaTooNew { .. } => "store.schema_too_new",
            StoreError::InvalidDelta { .. } => "store.invalid_delta",
            StoreError::InvalidPosition { .. } => "store.invalid_position",
            StoreError::CounterOverflow { .. } => "store.counter_overflow",
            StoreError::Query { .. } => "store.query",
            StoreError::Corrupt(_) => "store.corrupt",
            StoreError::InvalidInput { .. } => "store.invalid_input",
            StoreError::TokenExists { .. } => "store.token_exists",
            StoreError::NoAuditKey => "store.no_audit_key",
            StoreError::AuditKeyFile { .. } => "store.audit_key_file",
            StoreError::InvalidAuditKey { .. } => "store.invalid_audit_key",
            StoreError::Random(_) => "store.random",
            StoreError::Closed => "store.closed",
            StoreError::DuplicateRequest { .. } => "store.duplicate_request",
            StoreError::DiskFull { .. } => "store.disk_full",
            StoreError::DuplicateNotification { .. } => "store.duplicate_notification",
            StoreError::BackupTargetExists { .. } => "store.backup_target_exists",
            StoreError::TestCluster(_) => "store.test_cluster",
        }
    }

    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| {
            if is_disk_full(&source) {
                StoreError::DiskFull { operation, source }
            } else {
                StoreError::Query { operation, source }
            }
        }
    }

    /// Whether the operation may succeed later without any change to the request: the disk
    /// is full, the store is busy or unreachable. The server answers these with 503.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull { .. } | StoreError::Query { .. } | StoreError::Closed
        )
    }
}

/// SQLITE_FULL (13), PostgreSQL's disk_full (SQLSTATE 53100), or the operating system's "no
/// space left on device".
fn is_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c == "13" || c == "53100"),
        sqlx::Error::Io(io) => io.raw_os_error() == Some(28),
        _ => false,
    }
}
