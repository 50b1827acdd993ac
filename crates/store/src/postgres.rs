//! The PostgreSQL backend: one database shared by every replica.
//!
//! Same semantics as [`crate::SqliteStore`], with what several writing processes need:
//! - Counter commits run concurrently: upserts add (`good = counters.good + EXCLUDED.good`) and
//!   commute, rows are written in one sorted order (no deadlocks), and a batch is a handful of
//!   statements whatever its size (arrays bound once and `UNNEST`ed, not one round trip per row).
//! - Every other write takes one transaction-level advisory lock first ([`WRITE_LOCK`]), the
//!   counterpart of SQLite's single writer: the audit chain stays one chain (the head read and the
//!   append happen under the lock), numbers assigned as `MAX + 1` never fork, and checks such as
//!   "no token with this name yet" hold until the commit.
//! - Migrations run under their own advisory lock, so replicas starting together migrate once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::migrations::{Dialect, MigrationReport, LATEST_VERSION};
use crate::sql::{key_to_i64, to_i64};
use crate::{prepare, AuditKey, IngestBatch, StoreError, MAX_COUNT};

/// Advisory lock key of every write but counter commits (arbitrary, fixed: "nines" + 1).
const WRITE_LOCK: i64 = 0x6e69_6e65_7301;
/// Advisory lock key of migrations.
const MIGRATE_LOCK: i64 = 0x6e69_6e65_7302;

/// Connections per process; each replica holds its own pool.
const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a pooled connection before failing (the server answers 503).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a session may sit idle inside a transaction before the server ends it. nines never
/// waits on anything else mid-transaction, so only a stopped or cut-off process gets near it.
const IDLE_IN_TRANSACTION: &str = "60s";

/// PostgreSQL behind sqlx. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The URL without its password, for messages.
    location: String,
    audit_key: std::sync::RwLock<Option<AuditKey>>,
}

type Tx = sqlx::Transaction<'static, Postgres>;

/// `url` with any password replaced, so it can appear in errors and logs. Anything that is not a
/// URL (a SQLite path) is returned as it is.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user info ends at the last '@' before the query (a password may hold '/' or '@').
    let head = &rest[..rest.find('?').unwrap_or(rest.len())];
    match head.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, _)) => (user, ":***"),
                None => (userinfo, ""),
            };
            format!("{scheme}://{user}{password}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db?options`) and
    /// brings the schema up to date. Refuses a database written by a newer nines.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self::open_and_migrate(url).await?.0)
    }

    /// [`PgStore::open`], also saying which migrations it applied.
    pub async fn open_and_migrate(url: &str) -> Result<(Self, MigrationReport), StoreError> {
        let location = redact(url);
        let open_err = |source| StoreError::Open {
            path: PathBuf::from(&location),
            source,
        };
        let mut options: PgConnectOptions = url.parse().map_err(open_err)?;
        if options.get_application_name().is_none() {
            options = options.application_name("nines");
        }
        // A replica stopped inside a transaction (paused, partitioned) would hold the write lock
        // for good; the server ends such a session and so frees the lock for the others.
        options = options.options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let store = PgStore {
            pool,
            location,
            audit_key: std::sync::RwLock::new(None),
        };
        match store.migrate().await {
            Ok(report) => Ok((store, report)),
            Err(e) => {
                store.pool.close().await;
                Err(e)
            }
        }
    }

    /// The database URL, password redacted.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The connection pool, for other PostgreSQL-only features of the same database (e.g. leader
    /// election with advisory locks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction holding [`WRITE_LOCK`] until it ends.
    async fn begin_write(&self, operation: &'static str) -> Result<Tx, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::query(operation))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(operation))?;
        Ok(tx)
    }

    /// A read-only transaction that sees one snapshot throughout (READ COMMITTED, PostgreSQL's
    /// default, takes a new one per statement).
    async fn begin_snapshot(&self, operation: &'static str) -> Result<Tx, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::query(operation))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query(operation))?;
        Ok(tx)
    }

    /// Starts a control-plane write (audited): the same as any locked write.
    async fn begin_control(&self, operation: &'static str) -> Result<Tx, StoreError> {
        self.begin_write(operation).await
    }

    /// Runs one delete of data only ingestion writes. No lock: one statement is atomic, and
    /// holding the write lock through a large delete would stall every audited write.
    async fn delete_ingested(
        &self,
        operation: &'static str,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<u64, StoreError> {
        let done = query
            .execute(&self.pool)
            .await
            .map_err(StoreError::query(operation))?;
        Ok(done.rows_affected())
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let migrate_err = |version| {
            let path = PathBuf::from(&self.location);
            move |source| StoreError::Migrate {
                path,
                version,
                source,
            }
        };
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(migrate_err(LATEST_VERSION))?;
        // Held until commit: a second replica waits here, then finds the schema up to date.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(migrate_err(LATEST_VERSION))?;
        let report =
            shared::migrate_in(&mut tx, Dialect::Postgres, Path::new(&self.location)).await?;
        tx.commit().await.map_err(migrate_err(LATEST_VERSION))?;
        Ok(report)
    }

    /// Ids of `names` in `series`, registering the new ones.
    async fn series_ids(
        tx: &mut sqlx::PgConnection,
        names: &[&str],
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let lookup = "SELECT name, id FROM series WHERE name = ANY($1)";
        let mut ids: BTreeMap<String, i64> = sqlx::query_as(lookup)
            .bind(names)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::query("looking up series"))?
            .into_iter()
            .collect();
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !ids.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            // Only the new names are inserted: a conflicting insert would still use up an id.
            sqlx::query(
                "INSERT INTO series (name) SELECT * FROM UNNEST($1::text[]) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&missing)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("registering series"))?;
            let found: Vec<(String, i64)> = sqlx::query_as(lookup)
                .bind(&missing)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("looking up series"))?;
            ids.extend(found);
        }
        Ok(ids)
    }

    /// After a failed counter upsert: the first bucket whose sum would exceed [`MAX_COUNT`].
    async fn find_overflow(
        &self,
        rows: &[(&str, i64, i64)],
    ) -> Result<Option<(String, i64)>, StoreError> {
        let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let buckets: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let stored: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.name, c.bucket_start, c.total FROM counters c \
             JOIN series s ON s.id = c.series_id \
             JOIN UNNEST($1::text[], $2::bigint[]) AS k (name, bucket_start) \
             ON k.name = s.name AND k.bucket_start = c.bucket_start",
        )
        .bind(&names)
        .bind(&buckets)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("checking counters for overflow"))?;
        let stored: BTreeMap<(String, i64), i64> = stored
            .into_iter()
            .map(|(name, bucket, total)| ((name, bucket), total))
            .collect();
        Ok(rows.iter().find_map(|&(name, bucket, total)| {
            let before = stored.get(&(name.to_owned(), bucket))?;
            before
                .checked_add(total)
                .is_none_or(|sum| sum > to_i64(MAX_COUNT))
                .then(|| (name.to_owned(), bucket))
        }))
    }
}

/// SQLSTATE 22003: a value (here: a counter sum) is out of its type's range.
fn is_out_of_range(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "22003"))
}

crate::sql::sql_store! {
    store: PgStore,
    conn: sqlx::PgConnection,
    row: sqlx::postgres::PgRow,
    own: {
        async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError> {
            let prepared = prepare(batch)?;
            if prepared.is_empty() {
                return Ok(());
            }
            // No advisory lock: counter commits from every replica run at once. Rows are written in
            // the prepared (sorted) order, so two commits lock shared rows in the same order.
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(StoreError::query("starting an ingest transaction"))?;

            if !prepared.request_ids.is_empty() {
                let ids: Vec<&str> = prepared.request_ids.keys().copied().collect();
                let ats: Vec<i64> = prepared.request_ids.values().copied().collect();
                // A concurrent commit of the same id makes this wait, then insert nothing.
                let inserted: Vec<String> = sqlx::query_scalar(
                    "INSERT INTO ingest_requests (id, first_seen) \
                     SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
                     ON CONFLICT (id) DO NOTHING RETURNING id",
                )
                .bind(&ids)
                .bind(&ats)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("recording request ids"))?;
                if inserted.len() < ids.len() {
                    let inserted: BTreeSet<&str> = inserted.iter().map(String::as_str).collect();
                    let seen = ids.iter().find(|id| !inserted.contains(**id)).copied();
                    return Err(StoreError::DuplicateRequest {
                        id: seen.unwrap_or_default().to_owned(),
                    });
                }
            }

            if !prepared.deltas.is_empty() {
                let mut names: Vec<&str> = prepared.deltas.keys().map(|(s, _)| *s).collect();
                names.dedup();
                let ids = Self::series_ids(&mut tx, &names).await?;
                let mut series_ids = Vec::with_capacity(prepared.deltas.len());
                let mut buckets = Vec::with_capacity(prepared.deltas.len());
                let mut goods = Vec::with_capacity(prepared.deltas.len());
                let mut totals = Vec::with_capacity(prepared.deltas.len());
                for (&(series, bucket), &(good, total)) in &prepared.deltas {
                    let id = ids.get(series).copied().ok_or_else(|| {
                        StoreError::Corrupt(format!("series {series:?} has no id after registering"))
                    })?;
                    series_ids.push(id);
                    buckets.push(bucket);
                    goods.push(to_i64(good));
                    totals.push(to_i64(total));
                }
                let upsert = sqlx::query(
                    "INSERT INTO counters (series_id, bucket_start, good, total) \
                     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) \
                     ON CONFLICT (series_id, bucket_start) DO UPDATE SET \
                     good = counters.good + EXCLUDED.good, total = counters.total + EXCLUDED.total",
                )
                .bind(&series_ids)
                .bind(&buckets)
                .bind(&goods)
                .bind(&totals)
                .execute(&mut *tx)
                .await;
                if let Err(source) = upsert {
                    if is_out_of_range(&source) {
                        drop(tx); // rolls back; the check reads the committed counts
                        let rows: Vec<(&str, i64, i64)> = prepared
                            .deltas
                            .iter()
                            .map(|(&(s, b), &(_, t))| (s, b, to_i64(t)))
                            .collect();
                        if let Some((series, bucket_start)) = self.find_overflow(&rows).await? {
                            return Err(StoreError::CounterOverflow {
                                series,
                                bucket_start,
                            });
                        }
                    }
                    return Err(StoreError::query("adding counters")(source));
                }
            }

            if !prepared.positions.is_empty() {
                let sources: Vec<&str> = prepared.positions.keys().copied().collect();
                let offsets: Vec<i64> = prepared
                    .positions
                    .values()
                    .map(|p| to_i64(p.offset))
                    .collect();
                let lines: Vec<i64> = prepared
                    .positions
                    .values()
                    .map(|p| to_i64(p.line))
                    .collect();
                let fingerprints: Vec<&str> = prepared
                    .positions
                    .values()
                    .map(|p| p.fingerprint.as_str())
                    .collect();
                sqlx::query(
                    "INSERT INTO file_positions (source, byte_offset, line_number, fingerprint) \
                     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[]) \
                     ON CONFLICT (source) DO UPDATE SET byte_offset = EXCLUDED.byte_offset, \
                     line_number = EXCLUDED.line_number, fingerprint = EXCLUDED.fingerprint",
                )
                .bind(&sources)
                .bind(&offsets)
                .bind(&lines)
                .bind(&fingerprints)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording file positions"))?;
            }

            if !prepared.trackers.is_empty() {
                let streams: Vec<&str> = prepared.trackers.keys().map(|(s, _)| *s).collect();
                let keys: Vec<i64> = prepared
                    .trackers
                    .keys()
                    .map(|(_, k)| key_to_i64(*k))
                    .collect();
                let times: Vec<i64> = prepared.trackers.values().map(|t| t.timestamp_ms).collect();
                let values: Vec<f64> = prepared.trackers.values().map(|t| t.value).collect();
                sqlx::query(
                    "INSERT INTO counter_trackers (stream, series_key, timestamp_ms, value) \
                     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::float8[]) \
                     ON CONFLICT (stream, series_key) DO UPDATE SET \
                     timestamp_ms = EXCLUDED.timestamp_ms, value = EXCLUDED.value",
                )
                .bind(&streams)
                .bind(&keys)
                .bind(&times)
                .bind(&values)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("recording counter tracker samples"))?;
            }

            tx.commit()
                .await
                .map_err(StoreError::query("committing an ingest batch"))
        }

        fn backend(&self) -> &'static str {
            "postgres"
        }

        async fn close(&self) -> Result<(), StoreError> {
            // Waits for queries in flight, then closes every connection.
            self.pool.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://nines:s3cr@t@db.example:5432/nines?sslmode=require"),
            "postgres://nines:***@db.example:5432/nines?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://nines@db/nines"),
            "postgresql://nines@db/nines"
        );
        assert_eq!(redact("postgres://db/nines"), "postgres://db/nines");
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(
            redact("postgres://u:pa/ss@db/nines"),
            "postgres://u:***@db/nines"
        );
    }
}
