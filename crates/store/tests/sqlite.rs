//! The conformance suite against SQLite, plus what only a file-backed store has: directories, migrations,
//! and refusing a database from a newer nines.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use store::conformance::{Failure, Fixture, Tamper};
use store::{SqliteStore, Store, StoreError, SCHEMA_VERSION};

/// A database file in its own temporary directory; every `open` reopens that same file.
struct SqliteFixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

#[async_trait]
impl Fixture for SqliteFixture {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(SqliteStore::open(&self.path).await?))
    }

    /// Raw SQL on the file, as someone with access to the data directory could do.
    async fn tamper_audit(&self, tamper: Tamper) -> Result<(), Failure> {
        let mut conn = raw_connection(&self.path).await.map_err(Failure::setup)?;
        let statements: Vec<(String, Vec<i64>, Option<String>)> = match tamper {
            Tamper::EditDetails { seq, details } => vec![(
                "UPDATE audit_log SET details = ? WHERE seq = ?".into(),
                vec![seq as i64],
                Some(details),
            )],
            Tamper::Delete { seq } => vec![(
                "DELETE FROM audit_log WHERE seq = ?".into(),
                vec![seq as i64],
                None,
            )],
            Tamper::Swap { a, b } => vec![
                (
                    "UPDATE audit_log SET seq = 999999 WHERE seq = ?".into(),
                    vec![a as i64],
                    None,
                ),
                (
                    "UPDATE audit_log SET seq = ? WHERE seq = ?".into(),
                    vec![a as i64, b as i64],
                    None,
                ),
                (
                    "UPDATE audit_log SET seq = ? WHERE seq = 999999".into(),
                    vec![b as i64],
                    None,
                ),
            ],
            Tamper::TruncateFrom { from } => vec![(
                "DELETE FROM audit_log WHERE seq >= ?".into(),
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

async fn fixture() -> Result<SqliteFixture, Failure> {
    let dir = tempfile::tempdir().map_err(Failure::setup)?;
    let path = dir.path().join("nines.db");
    Ok(SqliteFixture { _dir: dir, path })
}

mod conformance {
    use super::fixture;
    store::conformance_tests!(fixture);
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn open_creates_the_directory_and_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data").join("nested").join("nines.db");
    let store = SqliteStore::open(&path).await?;
    assert!(path.is_file(), "{} was not created", path.display());
    assert_eq!(store.path(), path.as_path());
    assert_eq!(store.backend(), "sqlite");
    store.close().await?;
    Ok(())
}

#[tokio::test]
async fn reopening_does_not_migrate_again() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    SqliteStore::open(&path).await?.close().await?;
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    store.close().await?;

    let mut conn = raw_connection(&path).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(rows, i64::from(SCHEMA_VERSION), "one row per migration");
    Ok(())
}

#[tokio::test]
async fn refuses_a_database_from_a_newer_binary() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    SqliteStore::open(&path).await?.close().await?;
    let newer = i64::from(SCHEMA_VERSION) + 1;
    {
        let mut conn = raw_connection(&path).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, 'future', 0)",
        )
        .bind(newer)
        .execute(&mut conn)
        .await?;
    }
    match SqliteStore::open_unmigrated(&path).await {
        Ok(_) => panic!("a database at schema version {newer} was opened for a backup"),
        Err(e) => assert_eq!(e.code(), "store.schema_too_new"),
    }
    match SqliteStore::open(&path).await {
        Ok(_) => panic!("a database at schema version {newer} was opened"),
        Err(e) => {
            assert_eq!(e.code(), "store.schema_too_new");
            let message = e.to_string();
            assert!(
                message.contains(&format!("schema version {newer}")),
                "{message}"
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("upgrade nines"), "{message}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_open_error_naming_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    std::fs::write(&path, vec![b'x'; 8192])?;
    match SqliteStore::open(&path).await {
        Ok(_) => panic!("a file of junk was opened as a database"),
        Err(e) => {
            let message = e.to_string();
            assert!(
                matches!(e.code(), "store.open" | "store.migrate"),
                "{}: {message}",
                e.code()
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"")?;
    match SqliteStore::open(&file.join("sub").join("nines.db")).await {
        Ok(_) => panic!("opened a database below a regular file"),
        Err(e) => {
            assert_eq!(e.code(), "store.create_dir");
            assert!(
                e.to_string().starts_with("creating the data directory"),
                "{e}"
            );
        }
    }
    Ok(())
}

async fn raw_connection(path: &std::path::Path) -> Result<sqlx::SqliteConnection, sqlx::Error> {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
}

#[tokio::test]
async fn an_overflowing_sum_fails_with_a_message_that_says_so() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("nines.db")).await?;
    let delta = |total| store::IngestBatch {
        deltas: vec![store::CounterDelta {
            series: "big/avail".into(),
            bucket_start: 0,
            good: 0,
            total,
        }],
        positions: Vec::new(),
        ..Default::default()
    };
    store.commit_ingest(&delta(store::MAX_COUNT)).await?;
    match store.commit_ingest(&delta(1)).await {
        Ok(()) => panic!("a sum past MAX_COUNT was stored"),
        Err(e) => {
            assert_eq!(e.code(), "store.counter_overflow", "{e}");
            assert!(e.to_string().contains("big/avail"), "{e}");
        }
    }
    store.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_data() -> TestResult {
    use sqlx::Connection;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT",
        )
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(include_str!(
            "fixtures/sqlite_before_shared_migrations/0001_counters_and_positions.sql"
        ))
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(
            "INSERT INTO schema_migrations VALUES (1, 'counters and file positions', 0); \
             INSERT INTO series (id, name) VALUES (1, 'old/avail'); \
             INSERT INTO counters VALUES (1, 60, 1, 2);",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await?;
    }
    // A backup opens it as it is: the schema stays at version 1, and so does the copy.
    let (old, version) = SqliteStore::open_unmigrated(&path).await?;
    assert_eq!(version, 1);
    let copy = dir.path().join("copy.db");
    old.backup_to(&copy).await?;
    old.close().await?;
    for file in [&path, &copy] {
        let (reopened, version) = SqliteStore::open_unmigrated(file).await?;
        assert_eq!(version, 1, "{} was migrated", file.display());
        assert_eq!(reopened.counts("old/avail", 0, 120).await?.len(), 1);
        reopened.close().await?;
    }
    let store = SqliteStore::open(&path)
        .await?
        .with_audit_key(store::AuditKey::from_bytes([3; 32]));
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    assert_eq!(store.counts("old/avail", 0, 120).await?.len(), 1);
    store
        .append_audit(&store::AuditEntry::new(1, "cli", "note", ""))
        .await?;
    assert_eq!(store.audit_checkpoint().await?.seq, 1);
    store.close().await?;
    Ok(())
}

/// A full disk (here: the database's size cap, which fails writes with the same SQLITE_FULL a
/// full file system gives) refuses writes with `DiskFull` and nothing half-applied; reads keep
/// working; writes succeed again once there is room.
#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("nines.db")).await?;
    let small = store::IngestBatch {
        deltas: vec![store::CounterDelta {
            series: "full/avail".into(),
            bucket_start: 0,
            good: 1,
            total: 2,
        }],
        ..Default::default()
    };
    store.commit_ingest(&small).await?;
    let size = std::fs::metadata(dir.path().join("nines.db"))?.len();
    store.set_max_size(Some(size.max(4096)));
    // Far more rows than fit in the pages left.
    let big = store::IngestBatch {
        deltas: (0..20_000)
            .map(|i| store::CounterDelta {
                series: format!("full/series-{}", i % 50),
                bucket_start: i * 60,
                good: 1,
                total: 1,
            })
            .collect(),
        ..Default::default()
    };
    let err = store
        .commit_ingest(&big)
        .await
        .err()
        .ok_or("a write past the cap must fail")?;
    assert_eq!(err.code(), "store.disk_full", "{err}");
    assert!(err.is_temporary());
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(store.series().await?, vec!["full/avail".to_string()]);
    assert_eq!(store.counts("full/avail", 0, 60).await?[0].total, 2);

    store.set_max_size(None);
    store.commit_ingest(&big).await?;
    assert_eq!(store.series().await?.len(), 51);
    // Every pooled connection still writes: none is left stuck inside the failed transaction
    // (SQLite may roll back by itself on SQLITE_FULL, also at COMMIT). Small writes fill the
    // cap here, so some fail while committing.
    let size = std::fs::metadata(dir.path().join("nines.db"))?.len();
    for round in 0..3i64 {
        store.set_max_size(Some(size + 8192));
        let mut failed = 0;
        for i in 0..400 {
            let one = store::IngestBatch {
                deltas: vec![store::CounterDelta {
                    series: format!("fill/{round}/{i}"),
                    bucket_start: 0,
                    good: 1,
                    total: 1,
                }],
                ..Default::default()
            };
            if store.commit_ingest(&one).await.is_err() {
                failed += 1;
                if failed == 5 {
                    break;
                }
            }
        }
        assert!(failed > 0, "round {round}: the cap was never reached");
        store.set_max_size(None);
        for i in 0..12 {
            store
                .commit_ingest(&small)
                .await
                .map_err(|e| format!("round {round}, write {i} after the disk-full error: {e}"))?;
        }
    }
    Ok(())
}

/// An outbox enqueue that hits a full disk keeps neither its deliveries nor the group state
/// that caused them (so nothing is sent for a change that was not stored), and the same
/// enqueue succeeds once there is room.
#[tokio::test]
async fn a_full_disk_refuses_an_outbox_enqueue_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    let store = SqliteStore::open(&path).await?;
    let group = store::GroupStateRecord {
        receiver: "hook".into(),
        group_key: "{}:{alertname=\"x\"}".into(),
        state: r#"{"phase":"notified"}"#.into(),
        updated_at: 10,
    };
    let records: Vec<store::OutboxRecord> = (0..50)
        .map(|i| store::OutboxRecord {
            id: format!("msg-{i}"),
            receiver: "hook".into(),
            integration: 0,
            group_key: group.group_key.clone(),
            payload: "x".repeat(16 * 1024),
            created_at: 10,
            next_attempt_at: 10,
        })
        .collect();
    let size = std::fs::metadata(&path)?.len();
    store.set_max_size(Some(size.max(4096)));
    let err = store
        .enqueue_notifications(&records, std::slice::from_ref(&group))
        .await
        .err()
        .ok_or("an enqueue past the cap must fail")?;
    assert_eq!(err.code(), "store.disk_full", "{err}");
    let all = store::NotificationFilter::default();
    assert!(store.notifications(&all, 100).await?.is_empty());
    assert!(store.group_states().await?.is_empty());

    store.set_max_size(None);
    store
        .enqueue_notifications(&records, std::slice::from_ref(&group))
        .await?;
    assert_eq!(store.due_notifications(10, 100).await?.len(), 50);
    assert_eq!(store.group_states().await?, vec![group]);
    store.close().await?;
    Ok(())
}

fn timeline_note(at: i64, text: String) -> store::TimelineRecord {
    store::TimelineRecord {
        id: 0,
        incident_id: 0,
        at,
        author: "alice".into(),
        kind: "note".into(),
        text,
        pinned: false,
        data: "null".into(),
    }
}

/// A document update whose timeline entries hit a full disk in the middle of the transaction
/// keeps nothing: not the new version, not the entries written before the failure, not the
/// audit record. The same update succeeds once there is room.
#[tokio::test]
async fn a_full_disk_refuses_a_document_update_and_its_timeline_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    let store = SqliteStore::open(&path)
        .await?
        .with_audit_key(store::AuditKey::from_bytes([4; 32]));
    let audit = |at, action: &str| store::AuditEntry::new(at, "alice", action, "incident/{id}");
    let id = store
        .create_doc(
            store::DocKind::Incident,
            r#"{"title":"checkout down"}"#,
            "investigating",
            None,
            10,
            &audit(10, "incident.create"),
        )
        .await?;
    let entries: Vec<store::TimelineRecord> = (0..40)
        .map(|i| timeline_note(20 + i, "x".repeat(60 * 1024)))
        .collect();
    let size = std::fs::metadata(&path)?.len();
    store.set_max_size(Some(size.max(4096) + 64 * 1024));
    let update_audit = audit(20, "incident.update");
    let update = || {
        store.update_doc(
            store::DocKind::Incident,
            id,
            1,
            r#"{"title":"checkout down","severity":1}"#,
            "identified",
            20,
            &entries,
            &update_audit,
        )
    };
    let err = update()
        .await
        .err()
        .ok_or("an update past the cap must fail")?;
    assert_eq!(err.code(), "store.disk_full", "{err}");
    let doc = store
        .doc(store::DocKind::Incident, id)
        .await?
        .ok_or("the incident is gone")?;
    assert_eq!((doc.version, doc.status.as_str()), (1, "investigating"));
    assert!(store.timeline(id).await?.is_empty());
    assert_eq!(store.audit_checkpoint().await?.seq, 1);

    store.set_max_size(None);
    assert_eq!(update().await?, store::DocUpdate::Updated { version: 2 });
    assert_eq!(store.timeline(id).await?.len(), 40);
    assert_eq!(store.audit_checkpoint().await?.seq, 2);
    store.close().await?;
    Ok(())
}

/// A database reopened without the audit key refuses incident writes and keeps what it had.
#[tokio::test]
async fn incident_writes_after_a_reopen_without_the_key_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    {
        let store = SqliteStore::open(&path)
            .await?
            .with_audit_key(store::AuditKey::from_bytes([4; 32]));
        store
            .create_doc(
                store::DocKind::Incident,
                "{}",
                "investigating",
                None,
                10,
                &store::AuditEntry::new(10, "alice", "incident.create", "incident/{id}"),
            )
            .await?;
        store.close().await?;
    }
    let store = SqliteStore::open(&path).await?;
    let err = store
        .update_doc(
            store::DocKind::Incident,
            1,
            1,
            "{}",
            "resolved",
            20,
            &[timeline_note(20, "resolved".into())],
            &store::AuditEntry::new(20, "alice", "incident.update", "incident/1"),
        )
        .await
        .err()
        .ok_or("an update without the audit key must fail")?;
    assert_eq!(err.code(), "store.no_audit_key");
    let doc = store
        .doc(store::DocKind::Incident, 1)
        .await?
        .ok_or("the incident is gone")?;
    assert_eq!(doc.version, 1);
    assert!(store.timeline(1).await?.is_empty());
    assert_eq!(store.audit_checkpoint().await?.seq, 1);
    store.close().await?;
    Ok(())
}

/// The migrations create one table per document kind: postmortems may not point at a missing
/// incident or share one, even when written around the store.
#[tokio::test]
async fn the_schema_itself_keeps_one_postmortem_per_incident() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nines.db");
    SqliteStore::open(&path).await?.close().await?;
    let mut conn = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .foreign_keys(true),
        )
        .await?
    };
    sqlx::raw_sql(
        "INSERT INTO incidents (id, version, doc, status, created_at, updated_at) \
         VALUES (1, 1, '{}', 'resolved', 0, 0); \
         INSERT INTO postmortems (id, version, doc, status, created_at, updated_at, parent_id) \
         VALUES (1, 1, '{}', 'draft', 0, 0, 1);",
    )
    .execute(&mut conn)
    .await?;
    for sql in [
        "INSERT INTO postmortems (id, version, doc, status, created_at, updated_at, parent_id) \
         VALUES (2, 1, '{}', 'draft', 0, 0, 1)",
        "INSERT INTO postmortems (id, version, doc, status, created_at, updated_at, parent_id) \
         VALUES (3, 1, '{}', 'draft', 0, 0, 9)",
        "INSERT INTO incidents (id, version, doc, status, created_at, updated_at, parent_id) \
         VALUES (2, 1, '{}', 'open', 0, 0, 1)",
        "INSERT INTO incident_timeline (incident_id, at, author, kind, text, pinned, data) \
         VALUES (9, 0, 'a', 'note', '', 0, 'null')",
        "INSERT INTO toil_entries (team, category, minutes, at, description, automatable, task, \
         author, source) VALUES ('a', 'c', 10081, 0, '', 0, '', 'b', 'manual')",
    ] {
        assert!(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .is_err(),
            "accepted: {sql}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn backup_is_a_consistent_copy_taken_while_writers_go_on() -> TestResult {
    use store::{AuditEntry, AuditKey, CounterDelta, IngestBatch};
    let dir = tempfile::tempdir()?;
    let key = AuditKey::from_bytes([5; 32]);
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("nines.db"))
            .await?
            .with_audit_key(key.clone()),
    );
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for i in 0..200_i64 {
                // Both series move together in one transaction: a torn copy would differ.
                let batch = IngestBatch {
                    deltas: ["a/avail", "b/avail"]
                        .into_iter()
                        .map(|s| CounterDelta {
                            series: s.into(),
                            bucket_start: 60 * (i % 7),
                            good: 1,
                            total: 1,
                        })
                        .collect(),
                    ..IngestBatch::default()
                };
                store.commit_ingest(&batch).await?;
                store
                    .append_audit(&AuditEntry::new(i, "test", "note", ""))
                    .await?;
            }
            Ok::<(), StoreError>(())
        })
    };
    // Wait until some writes are in, so the copy is taken mid-stream.
    while store.audit_checkpoint().await?.seq < 20 {
        tokio::task::yield_now().await;
    }
    let copy = dir.path().join("backup.db");
    store.backup_to(&copy).await?;
    writer.await??;

    let restored = SqliteStore::open(&copy).await?;
    let total = |counts: Vec<store::BucketCount>| counts.iter().map(|c| c.total).sum::<u64>();
    let a = total(restored.counts("a/avail", 0, 1000).await?);
    let b = total(restored.counts("b/avail", 0, 1000).await?);
    assert_eq!(a, b, "the copy holds half a transaction");
    assert!((20..=200).contains(&a), "{a} commits in the copy");
    let report = restored.verify_audit(&key, None).await?;
    assert!(report.is_clean(), "{report:?}");
    assert!(report.records >= 20);
    restored.close().await?;

    // The original kept every write.
    assert_eq!(total(store.counts("a/avail", 0, 1000).await?), 200);
    store.close().await?;
    Ok(())
}

#[tokio::test]
async fn backup_refuses_to_overwrite_a_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("nines.db")).await?;
    let target = dir.path().join("taken.db");
    std::fs::write(&target, b"keep me")?;
    let e = store
        .backup_to(&target)
        .await
        .err()
        .ok_or("the backup overwrote a file")?;
    assert_eq!(e.code(), "store.backup_target_exists");
    assert!(e.to_string().contains("taken.db"), "{e}");
    assert_eq!(std::fs::read(&target)?, b"keep me");
    store.close().await?;
    Ok(())
}
