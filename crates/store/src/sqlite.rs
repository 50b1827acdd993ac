//! The embedded SQLite backend (the default): one file, WAL, `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use crate::{prepare, BucketCount, FilePosition, IngestBatch, Store, StoreError};

/// One schema change, kept as plain SQL in `migrations/sqlite/`. Versions start at 1 and never skip.
struct Migration {
    version: u32,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "counters and file positions",
    sql: include_str!("../migrations/sqlite/0001_counters_and_positions.sql"),
}];

pub(crate) const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Rows per multi-row upsert: 4 binds each, far below SQLite's 32,766-parameter limit (and PostgreSQL's
/// 65,535), and big enough that statement overhead is amortised.
const MAX_ROWS_PER_STATEMENT: usize = 1024;
const COUNTER_COLUMNS: usize = 4;

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
}

impl SqliteStore {
    /// Opens the database at `path`, creating its directory and the file on first use, and brings the
    /// schema up to date. Refuses a database written by a newer nines.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
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
        };
        if let Err(e) = store.migrate().await {
            store.pool.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn migrate(&self) -> Result<(), StoreError> {
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
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version     INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at  INTEGER NOT NULL
            ) STRICT",
        )
        .execute(&mut *tx)
        .await
        .map_err(migrate_err(LATEST_VERSION))?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(migrate_err(LATEST_VERSION))?;
        if current > i64::from(LATEST_VERSION) {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found: current,
                supported: LATEST_VERSION,
            });
        }
        let applied_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        for m in MIGRATIONS.iter().filter(|m| i64::from(m.version) > current) {
            sqlx::raw_sql(m.sql)
                .execute(&mut *tx)
                .await
                .map_err(migrate_err(m.version))?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
            )
            .bind(i64::from(m.version))
            .bind(m.description)
            .bind(applied_at)
            .execute(&mut *tx)
            .await
            .map_err(migrate_err(m.version))?;
        }
        tx.commit().await.map_err(migrate_err(LATEST_VERSION))
    }
}

fn upsert_statements() -> Vec<(usize, Arc<str>)> {
    let mut sizes = Vec::new();
    let mut rows = 1;
    while rows <= MAX_ROWS_PER_STATEMENT {
        sizes.push((rows, upsert_sql(rows).into()));
        rows *= 2;
    }
    sizes
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

fn to_i64(value: u64) -> i64 {
    // prepare() has already rejected values above MAX_COUNT.
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({value})")))
}

#[async_trait]
impl Store for SqliteStore {
    async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError> {
        let prepared = prepare(batch)?;
        if prepared.is_empty() {
            return Ok(());
        }
        let _writer = self.write_lock.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::query("starting an ingest transaction"))?;

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
                return Err(StoreError::Query {
                    operation: "adding counters",
                    source,
                });
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

        // One commit, one fsync for the whole batch. On any error above, dropping `tx` rolls back.
        tx.commit()
            .await
            .map_err(StoreError::query("committing an ingest batch"))
    }

    async fn counts(
        &self,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<BucketCount>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT c.bucket_start, c.good, c.total FROM counters c \
             JOIN series s ON s.id = c.series_id \
             WHERE s.name = ? AND c.bucket_start >= ? AND c.bucket_start < ? \
             ORDER BY c.bucket_start",
        )
        .bind(series)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("reading counters"))?;
        rows.iter()
            .map(|row| {
                let get = |i: usize| {
                    row.try_get::<i64, _>(i)
                        .map_err(StoreError::query("reading counters"))
                };
                Ok(BucketCount {
                    bucket_start: get(0)?,
                    good: to_u64(get(1)?, "a good count")?,
                    total: to_u64(get(2)?, "a total count")?,
                })
            })
            .collect()
    }

    async fn position(&self, source: &str) -> Result<Option<FilePosition>, StoreError> {
        let row = sqlx::query(
            "SELECT source, byte_offset, line_number, fingerprint FROM file_positions WHERE source = ?",
        )
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("reading a file position"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = || StoreError::query("reading a file position");
        let source: String = row.try_get(0).map_err(read())?;
        let offset: i64 = row.try_get(1).map_err(read())?;
        let line: i64 = row.try_get(2).map_err(read())?;
        let fingerprint: String = row.try_get(3).map_err(read())?;
        Ok(Some(FilePosition {
            source,
            offset: to_u64(offset, "a file offset")?,
            line: to_u64(line, "a line number")?,
            fingerprint,
        }))
    }

    async fn series(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT s.name FROM series s \
             WHERE EXISTS (SELECT 1 FROM counters c WHERE c.series_id = s.id) ORDER BY s.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("listing series"))
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        let version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("reading the schema version"))?;
        u32::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {version} is out of range")))
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

#[cfg(test)]
mod tests {
    use super::*;

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
