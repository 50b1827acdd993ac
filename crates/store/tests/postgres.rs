//! The conformance suite against PostgreSQL, plus what only a shared database has: several
//! processes writing at once, concurrent migrations, and refusing a database from a newer nines.
//!
//! One throw-away cluster (Debian's `initdb`/`pg_ctl`) serves the whole test binary; every test gets
//! its own database. Without PostgreSQL installed the tests fail, naming the package to install.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use sqlx::Connection;
use store::conformance::{Failure, Fixture, Tamper};
use store::testing::PgCluster;
use store::{
    AuditEntry, AuditKey, CounterDelta, IngestBatch, PgStore, Store, StoreError, SCHEMA_VERSION,
};

static CLUSTER: LazyLock<Result<PgCluster, String>> =
    LazyLock::new(|| PgCluster::start().map_err(|e| e.to_string()));

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty database on the shared cluster; returns its URL.
async fn fresh_database() -> Result<String, Failure> {
    let cluster = CLUSTER.as_ref().map_err(|e| {
        Failure::setup(format!(
            "cannot start PostgreSQL for the tests (install the Debian package `postgresql`): {e}"
        ))
    })?;
    let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    cluster.create_database(&name).await.map_err(Failure::setup)
}

struct PgFixture {
    url: String,
}

#[async_trait]
impl Fixture for PgFixture {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(PgStore::open(&self.url).await?))
    }

    /// Raw SQL on the database, as someone with access to it could do.
    async fn tamper_audit(&self, tamper: Tamper) -> Result<(), Failure> {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .map_err(Failure::setup)?;
        let statements: Vec<(&str, Vec<i64>, Option<String>)> = match tamper {
            Tamper::EditDetails { seq, details } => vec![(
                "UPDATE audit_log SET details = $1 WHERE seq = $2",
                vec![seq as i64],
                Some(details),
            )],
            Tamper::Delete { seq } => vec![(
                "DELETE FROM audit_log WHERE seq = $1",
                vec![seq as i64],
                None,
            )],
            Tamper::Swap { a, b } => vec![
                (
                    "UPDATE audit_log SET seq = 999999 WHERE seq = $1",
                    vec![a as i64],
                    None,
                ),
                (
                    "UPDATE audit_log SET seq = $1 WHERE seq = $2",
                    vec![a as i64, b as i64],
                    None,
                ),
                (
                    "UPDATE audit_log SET seq = $1 WHERE seq = 999999",
                    vec![b as i64],
                    None,
                ),
            ],
            Tamper::TruncateFrom { from } => vec![(
                "DELETE FROM audit_log WHERE seq >= $1",
                vec![from as i64],
                None,
            )],
        };
        for (sql, ints, text) in statements {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some(text) = text {
                query = query.bind(text);
            }
            for i in ints {
                query = query.bind(i);
            }
            let done = query.execute(&mut conn).await.map_err(Failure::setup)?;
            if done.rows_affected() == 0 {
                return Err(Failure::setup("the tampering statement changed no row"));
            }
        }
        Ok(())
    }
}

async fn fixture() -> Result<PgFixture, Failure> {
    Ok(PgFixture {
        url: fresh_database().await?,
    })
}

mod conformance {
    use super::fixture;
    store::conformance_tests!(fixture);
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn database() -> Result<String, Box<dyn std::error::Error>> {
    fresh_database().await.map_err(|f| match f {
        Failure::Setup(s) => s.into(),
        other => format!("{other:?}").into(),
    })
}

#[tokio::test]
async fn open_by_url_gives_the_postgres_backend_at_the_latest_schema() -> TestResult {
    let url = database().await?;
    let store = store::open(&url).await?;
    assert_eq!(store.backend(), "postgres");
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    store.close().await?;
    // postgresql:// is the other spelling libpq accepts.
    let alias = url.replacen("postgres://", "postgresql://", 1);
    let report = store::migrate(&alias).await?;
    assert_eq!(report.from, SCHEMA_VERSION);
    assert_eq!(report.to, SCHEMA_VERSION);
    assert!(report.applied.is_empty(), "{report:?}");
    Ok(())
}

#[tokio::test]
async fn migrate_reports_every_migration_of_a_new_database() -> TestResult {
    let url = database().await?;
    let report = store::migrate(&url).await?;
    assert_eq!(report.from, 0);
    assert_eq!(report.to, SCHEMA_VERSION);
    let versions: Vec<u32> = report.applied.iter().map(|m| m.version).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn refuses_a_database_from_a_newer_binary() -> TestResult {
    let url = database().await?;
    PgStore::open(&url).await?.close().await?;
    let newer = i64::from(SCHEMA_VERSION) + 1;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    sqlx::query(
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, 'future', 0)",
    )
    .bind(newer)
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    for result in [
        PgStore::open(&url).await.map(|_| ()),
        store::migrate(&url).await.map(|_| ()),
    ] {
        let e = result
            .err()
            .ok_or("a database from a newer nines was opened")?;
        assert_eq!(e.code(), "store.schema_too_new");
        assert!(
            e.to_string().contains(&format!("schema version {newer}")),
            "{e}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn replicas_opening_a_new_database_at_once_migrate_it_once() -> TestResult {
    let url = database().await?;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open_and_migrate(&url).await })
        })
        .collect();
    let mut applied = 0;
    for open in opens {
        let (store, report) = open.await??;
        applied += report.applied.len();
        store.close().await?;
    }
    assert_eq!(applied, SCHEMA_VERSION as usize, "each migration ran once");
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(rows, i64::from(SCHEMA_VERSION));
    Ok(())
}

#[tokio::test]
async fn two_replicas_writing_at_once_keep_one_audit_chain_and_exact_counters() -> TestResult {
    let url = database().await?;
    let key = AuditKey::from_bytes([7; 32]);
    let a: Arc<dyn Store> = Arc::new(PgStore::open(&url).await?.with_audit_key(key.clone()));
    let b: Arc<dyn Store> = Arc::new(PgStore::open(&url).await?.with_audit_key(key.clone()));
    const WRITERS: usize = 4;
    const ROUNDS: u64 = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                // Every writer hits the same buckets (and one new series each round).
                let batch = IngestBatch {
                    deltas: vec![
                        CounterDelta {
                            series: "svc/avail".into(),
                            bucket_start: 60 * (round % 3) as i64,
                            good: 1,
                            total: 2,
                        },
                        CounterDelta {
                            series: format!("svc/r{round}"),
                            bucket_start: 0,
                            good: 3,
                            total: 3,
                        },
                    ],
                    ..IngestBatch::default()
                };
                store.commit_ingest(&batch).await?;
                store
                    .append_audit(&AuditEntry::new(
                        round as i64,
                        &format!("writer{w}"),
                        "note",
                        "",
                    ))
                    .await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let per_writer = WRITERS as u64 * ROUNDS;
    let buckets = a.counts("svc/avail", 0, 1000).await?;
    let total: u64 = buckets.iter().map(|c| c.total).sum();
    let good: u64 = buckets.iter().map(|c| c.good).sum();
    assert_eq!((good, total), (per_writer, 2 * per_writer));
    for round in 0..ROUNDS {
        let c = b.counts(&format!("svc/r{round}"), 0, 60).await?;
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].total, 3 * WRITERS as u64, "round {round}");
    }
    let report = a.verify_audit(&key, None).await?;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.records, per_writer);
    let checkpoint = b.audit_checkpoint().await?;
    assert_eq!(
        checkpoint.seq, per_writer,
        "no sequence number forked or skipped"
    );
    a.close().await?;
    b.close().await?;
    Ok(())
}

#[tokio::test]
async fn the_same_request_id_from_two_replicas_counts_once() -> TestResult {
    let url = database().await?;
    let a = Arc::new(PgStore::open(&url).await?);
    let b = Arc::new(PgStore::open(&url).await?);
    let batch = IngestBatch {
        deltas: vec![CounterDelta {
            series: "svc/avail".into(),
            bucket_start: 0,
            good: 1,
            total: 1,
        }],
        request_ids: vec![store::RequestId {
            id: "retry-me".into(),
            at: 5,
        }],
        ..IngestBatch::default()
    };
    let (ra, rb) = tokio::join!(a.commit_ingest(&batch), b.commit_ingest(&batch));
    let refused = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::DuplicateRequest { .. })))
        .count();
    assert_eq!(refused, 1, "{ra:?} {rb:?}");
    assert!(ra.is_ok() || rb.is_ok());
    assert_eq!(a.counts("svc/avail", 0, 60).await?[0].total, 1);
    Ok(())
}

#[tokio::test]
async fn a_bad_url_is_an_open_error_without_the_password() -> TestResult {
    let e = match PgStore::open("postgres://nines:hunter2@127.0.0.1:1/nines").await {
        Ok(_) => return Err("a store opened on a closed port".into()),
        Err(e) => e,
    };
    assert_eq!(e.code(), "store.open");
    let message = e.to_string();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    Ok(())
}

#[tokio::test]
async fn sessions_carry_the_application_name_and_the_idle_transaction_timeout() -> TestResult {
    let url = database().await?;
    let store = PgStore::open(&url).await?;
    let mut conn = store.pool().acquire().await?;
    let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(timeout, "1min");
    let name: String = sqlx::query_scalar("SHOW application_name")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(name, "nines");
    Ok(())
}

#[tokio::test]
async fn incidents_created_on_two_replicas_at_once_get_distinct_ids_in_order() -> TestResult {
    let url = database().await?;
    let key = AuditKey::from_bytes([9; 32]);
    let replicas: Vec<Arc<dyn Store>> = vec![
        Arc::new(PgStore::open(&url).await?.with_audit_key(key.clone())),
        Arc::new(PgStore::open(&url).await?.with_audit_key(key.clone())),
    ];
    const PER_TASK: i64 = 10;
    let mut tasks = Vec::new();
    for t in 0..4_i64 {
        let store = Arc::clone(&replicas[(t % 2) as usize]);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..PER_TASK {
                let id = store
                    .create_doc(
                        store::DocKind::Incident,
                        &format!(r#"{{"title":"t{t}-{i}"}}"#),
                        "open",
                        None,
                        i,
                        &AuditEntry::new(i, "test", "incident.create", "incident/{id}"),
                    )
                    .await?;
                ids.push(id);
            }
            Ok::<Vec<i64>, StoreError>(ids)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let ids = t.await??;
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        all.extend(ids);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=4 * PER_TASK).collect::<Vec<_>>());
    let report = replicas[0].verify_audit(&key, None).await?;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.records, 4 * PER_TASK as u64);
    Ok(())
}
