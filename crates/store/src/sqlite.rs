//! The embedded SQLite backend (the default): one file, WAL, `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

use crate::migrations::{Dialect, MigrationReport, LATEST_VERSION};
use crate::sql::key_to_i64;
use crate::{prepare, AuditKey, IngestBatch, StoreError};

/// Rows per multi-row upsert: 4 binds each, far below SQLite's 32,766-parameter limit (and PostgreSQL's
/// 65,535), and big enough that statement overhead is amortised.
const MAX_ROWS_PER_STATEMENT: usize = 1024;
const COUNTER_COLUMNS: usize = 4;

/// SQLite's default page size, which nines never changes.
const PAGE_SIZE: u64 = 4096;

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Readers run in parallel under WAL; writes are serialised by `write_lock` anyway.
const MAX_CONNECTIONS: u32 = 4;

/// SQLite behind sqlx. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// SQLite has one writer at a time. Queueing writers here, instead of letting them collide on the file
    /// lock and sleep in the busy handler, keeps concurrent commits fair and fast.
    write_lock: tokio::sync::Mutex<()>,
    /// Upsert statements for 1, 2, 4, ... MAX_ROWS_PER_STATEMENT rows. Any batch is split into these sizes,
    /// so each connection prepares at most a dozen distinct statements and keeps them cached.
    upserts: Vec<(usize, Arc<str>)>,
    /// The same for tracker samples.
    tracker_upserts: Vec<(usize, Arc<str>)>,
    /// MACs new audit records; control-plane writes fail until it is set.
    audit_key: std::sync::RwLock<Option<AuditKey>>,
    /// The database's size limit in pages (0: none), applied at the start of every write
    /// transaction so a change takes effect on whichever pooled connection writes next.
    max_pages: AtomicU64,
    /// Whether a limit was ever set (then every write re-applies it, even after it is lifted).
    limited: AtomicBool,
}

/// A write transaction on its own pooled connection, begun and committed with plain SQL.
///
/// Not sqlx's `Transaction`: when SQLite rolls a transaction back by itself (SQLITE_FULL may,
/// also at COMMIT), sqlx's ROLLBACK fails and the pooled connection stays marked as inside a
/// transaction, so every later write on it fails. A `WriteTx` dropped without a successful
/// commit closes its connection instead of returning it to the pool; closing rolls back
/// whatever is left.
///
/// It also holds the writer lock (`write_lock`) until it ends: the connection is released first.
pub(crate) struct WriteTx<'a> {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>,
    _writer: tokio::sync::MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(&mut *self).await?;
        // Committed: the connection is clean and goes back to the pool.
        drop(self.conn.take());
        Ok(())
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        // `conn` is only taken by `commit`, which consumes the WriteTx.
        match &self.conn {
            Some(conn) => conn,
            None => unreachable!("a WriteTx is used after its commit"),
        }
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.conn {
            Some(conn) => conn,
            None => unreachable!("a WriteTx is used after its commit"),
        }
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// SQLite's own ceiling for `max_page_count`.
const SQLITE_MAX_PAGES: u64 = 4_294_967_294;

impl SqliteStore {
    /// Opens the database at `path`, creating its directory and the file on first use, and brings the
    /// schema up to date. Refuses a database written by a newer nines.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::open_and_migrate(path).await?.0)
    }

    /// [`SqliteStore::open`], also saying which migrations it applied.
    pub async fn open_and_migrate(path: &Path) -> Result<(Self, MigrationReport), StoreError> {
        let store = Self::connect(path).await?;
        match store.migrate().await {
            Ok(report) => Ok((store, report)),
            Err(e) => {
                store.pool.close().await;
                Err(e)
            }
        }
    }

    /// Opens an existing database as it is, without migrating it, and says its schema version:
    /// a backup taken by a newer nines must not change the schema under an older server that is
    /// still running on the file. Refuses a database from a newer nines.
    pub async fn open_unmigrated(path: &Path) -> Result<(Self, u32), StoreError> {
        use crate::Store as _;
        let store = Self::connect(path).await?;
        let version = match store.schema_version().await {
            Ok(v) if v <= LATEST_VERSION => v,
            Ok(v) => {
                store.pool.close().await;
                return Err(StoreError::SchemaTooNew {
                    path: path.to_path_buf(),
                    found: i64::from(v),
                    supported: LATEST_VERSION,
                });
            }
            Err(e) => {
                store.pool.close().await;
                return Err(e);
            }
        };
        Ok((store, version))
    }

    /// Opens the pool without touching the schema.
    async fn connect(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when it returns; the cost is one fsync per transaction, which is why
            // counters are committed in batches.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let store = SqliteStore {
            pool,
            path: path.to_path_buf(),
            write_lock: tokio::sync::Mutex::new(()),
            upserts: upsert_statements(),
            tracker_upserts: statements_by_rows(tracker_upsert_sql),
            audit_key: std::sync::RwLock::new(None),
            max_pages: AtomicU64::new(0),
            limited: AtomicBool::new(false),
        };
        Ok(store)
    }

    /// Caps the database file at about `max_bytes` (`None`: no cap). Writes that would grow it
    /// beyond fail with [`StoreError::DiskFull`], exactly as when the disk itself is full, and
    /// succeed again once the cap is raised; reads are never affected. Space freed inside the
    /// file is reused first.
    pub fn set_max_size(&self, max_bytes: Option<u64>) {
        let pages = max_bytes.map_or(0, |b| (b / PAGE_SIZE).max(1));
        self.max_pages.store(pages, Ordering::SeqCst);
        self.limited.store(true, Ordering::SeqCst);
    }

    /// Takes the writer lock and opens the write transaction with the size limit applied.
    async fn begin_write(&self, operation: &'static str) -> Result<WriteTx<'_>, StoreError> {
        let writer = self.write_lock.lock().await;
        let conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::query(operation))?;
        let mut tx = WriteTx {
            conn: Some(conn),
            _writer: writer,
        };
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(operation))?;
        if self.limited.load(Ordering::SeqCst) {
            let pages = match self.max_pages.load(Ordering::SeqCst) {
                0 => SQLITE_MAX_PAGES,
                n => n,
            };
            // A literal, not a bind: PRAGMA takes no parameters. `pages` is an integer.
            sqlx::query(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(operation))?;
        }
        Ok(tx)
    }

    /// Starts a control-plane write (audited): the same as any write.
    async fn begin_control(&self, operation: &'static str) -> Result<WriteTx<'_>, StoreError> {
        self.begin_write(operation).await
    }

    /// A read transaction: under WAL it sees one snapshot throughout.
    async fn begin_snapshot(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(StoreError::query(operation))
    }

    /// Runs one delete of data only ingestion writes, as any other write.
    async fn delete_ingested(
        &self,
        operation: &'static str,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write(operation).await?;
        let done = query
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(operation))?;
        tx.commit().await.map_err(StoreError::query(operation))?;
        Ok(done.rows_affected())
    }

    /// Writes a consistent copy of the database to `dest` (a new file) while writers go on:
    /// `VACUUM INTO` reads one snapshot, so the copy holds every transaction committed before it
    /// began and none after. Refuses to overwrite anything at `dest`.
    pub async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        // VACUUM INTO refuses an existing file too; checking first gives the clearer error.
        if tokio::fs::symlink_metadata(dest).await.is_ok() {
            return Err(StoreError::BackupTargetExists {
                path: dest.to_path_buf(),
            });
        }
        let target = dest.to_str().ok_or(StoreError::InvalidInput {
            what: "backup path",
            reason: "it is not valid UTF-8",
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("backing up the database"))?;
        Ok(())
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let _writer = self.write_lock.lock().await;
        let migrate_err = |version| {
            let path = self.path.clone();
            move |source| StoreError::Migrate {
                path,
                version,
                source,
            }
        };
        // IMMEDIATE takes the write lock first, so two processes opening a new file cannot both migrate it.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(migrate_err(LATEST_VERSION))?;
        let report = shared::migrate_in(&mut tx, Dialect::Sqlite, &self.path).await?;
        tx.commit().await.map_err(migrate_err(LATEST_VERSION))?;
        Ok(report)
    }
}

fn upsert_statements() -> Vec<(usize, Arc<str>)> {
    statements_by_rows(upsert_sql)
}

/// One statement text for 1, 2, 4, ... MAX_ROWS_PER_STATEMENT rows.
fn statements_by_rows(sql: fn(usize) -> String) -> Vec<(usize, Arc<str>)> {
    let mut sizes = Vec::new();
    let mut rows = 1;
    while rows <= MAX_ROWS_PER_STATEMENT {
        sizes.push((rows, sql(rows).into()));
        rows *= 2;
    }
    sizes
}

/// Tracker samples are replaced, not added: the last sample of a series wins.
fn tracker_upsert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(120 + rows * 10);
    sql.push_str("INSERT INTO counter_trackers (stream, series_key, timestamp_ms, value) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?)");
    }
    sql.push_str(
        " ON CONFLICT (stream, series_key) DO UPDATE SET \
         timestamp_ms = excluded.timestamp_ms, value = excluded.value",
    );
    sql
}

/// `INSERT ... ON CONFLICT DO UPDATE` adds to the stored counts; the same text works on PostgreSQL with
/// `$n` placeholders.
fn upsert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(120 + rows * 10);
    sql.push_str("INSERT INTO counters (series_id, bucket_start, good, total) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?)");
    }
    sql.push_str(
        " ON CONFLICT (series_id, bucket_start) DO UPDATE SET \
         good = counters.good + excluded.good, total = counters.total + excluded.total",
    );
    sql
}

/// Largest precomputed statement that fits in `remaining` rows.
fn pick_statement(upserts: &[(usize, Arc<str>)], remaining: usize) -> Option<&(usize, Arc<str>)> {
    upserts.iter().rev().find(|(rows, _)| *rows <= remaining)
}

crate::sql::sql_store! {
    store: SqliteStore,
    conn: sqlx::SqliteConnection,
    row: sqlx::sqlite::SqliteRow,
    own: {
        async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError> {
            let prepared = prepare(batch)?;
            if prepared.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write("starting an ingest transaction").await?;

            // A request id seen before refuses the whole batch (the caller retries the others).
            for (&id, &at) in &prepared.request_ids {
                let inserted = sqlx::query(
                    "INSERT INTO ingest_requests (id, first_seen) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording a request id"))?;
                if inserted.rows_affected() == 0 {
                    return Err(StoreError::DuplicateRequest { id: id.to_owned() });
                }
            }

            // Resolve series names to ids; a batch holds few distinct series, and the map is sorted by name.
            let mut rows: Vec<[i64; COUNTER_COLUMNS]> = Vec::with_capacity(prepared.deltas.len());
            let mut current: Option<(&str, i64)> = None;
            for (&(series, bucket), &(good, total)) in &prepared.deltas {
                let id = match current {
                    Some((name, id)) if name == series => id,
                    _ => {
                        sqlx::query(
                            "INSERT INTO series (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(series)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("registering a series"))?;
                        let id: i64 = sqlx::query_scalar("SELECT id FROM series WHERE name = ?")
                            .bind(series)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(StoreError::query("looking up a series"))?;
                        current = Some((series, id));
                        id
                    }
                };
                rows.push([id, bucket, to_i64(good), to_i64(total)]);
            }

            let mut start = 0;
            while start < rows.len() {
                let Some((n, sql)) = pick_statement(&self.upserts, rows.len() - start) else {
                    break; // unreachable: a one-row statement always exists
                };
                let n = *n;
                let chunk = &rows[start..start + n];
                let mut query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
                for row in chunk {
                    for value in row {
                        query = query.bind(*value);
                    }
                }
                if let Err(source) = query.execute(&mut *tx).await {
                    // STRICT refuses the REAL that an overflowing sum becomes; name the bucket that overflowed.
                    let keys = prepared.deltas.keys().skip(start).take(n);
                    for (&(series, bucket), row) in keys.zip(chunk) {
                        let stored: Option<i64> = sqlx::query_scalar(
                            "SELECT total FROM counters WHERE series_id = ? AND bucket_start = ?",
                        )
                        .bind(row[0])
                        .bind(row[1])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::query("checking counters for overflow"))?;
                        if stored.is_some_and(|t| t.checked_add(row[3]).is_none()) {
                            return Err(StoreError::CounterOverflow {
                                series: series.to_owned(),
                                bucket_start: bucket,
                            });
                        }
                    }
                    return Err(StoreError::query("adding counters")(source));
                }
                start += n;
            }

            for position in prepared.positions.values() {
                sqlx::query(
                    "INSERT INTO file_positions (source, byte_offset, line_number, fingerprint) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET \
                     byte_offset = excluded.byte_offset, line_number = excluded.line_number, \
                     fingerprint = excluded.fingerprint",
                )
                .bind(&position.source)
                .bind(to_i64(position.offset))
                .bind(to_i64(position.line))
                .bind(&position.fingerprint)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording a file position"))?;
            }

            // Many rows per statement: one statement per row costs a round trip to sqlx's worker
            // thread each, which dominated remote-write ingestion (a request tracks ~1,000 series).
            let trackers: Vec<(&str, u64, &TrackerSample)> = prepared
                .trackers
                .iter()
                .map(|(&(stream, key), t)| (stream, key, *t))
                .collect();
            let mut start = 0;
            while start < trackers.len() {
                let Some((n, sql)) = pick_statement(&self.tracker_upserts, trackers.len() - start)
                else {
                    break; // unreachable: a one-row statement always exists
                };
                let mut query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
                for &(stream, key, t) in &trackers[start..start + n] {
                    query = query
                        .bind(stream)
                        .bind(key_to_i64(key))
                        .bind(t.timestamp_ms)
                        .bind(t.value);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording counter tracker samples"))?;
                start += n;
            }

            // One commit, one fsync for the whole batch. On any error above, dropping `tx` rolls back.
            tx.commit()
                .await
                .map_err(StoreError::query("committing an ingest batch"))
        }

        fn backend(&self) -> &'static str {
            "sqlite"
        }

        async fn close(&self) -> Result<(), StoreError> {
            // Waits for queries in flight, then closes every connection (the last one checkpoints the WAL).
            self.pool.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn statements_cover_every_size() {
        let upserts = upsert_statements();
        for n in [1, 2, 3, 7, 1023, 1024, 1025, 5000] {
            let mut rest = n;
            let mut statements = 0;
            while rest > 0 {
                let Some((rows, sql)) = pick_statement(&upserts, rest) else {
                    panic!("no statement for {rest} rows");
                };
                assert_eq!(sql.matches('?').count(), rows * COUNTER_COLUMNS);
                rest -= rows;
                statements += 1;
            }
            // Binary decomposition: full chunks plus at most one statement per bit of the remainder.
            let bits = (n % MAX_ROWS_PER_STATEMENT).count_ones() as usize;
            assert_eq!(statements, n / MAX_ROWS_PER_STATEMENT + bits, "{n} rows");
        }
    }

    #[tokio::test]
    async fn connections_are_durable_wal_with_foreign_keys() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(&dir.path().join("nines.db")).await?;
        let mut conn = store.pool.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(synchronous, 2, "synchronous=FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(foreign_keys, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(busy, 10_000);
        drop(conn);
        store.close().await?;
        Ok(())
    }
}
