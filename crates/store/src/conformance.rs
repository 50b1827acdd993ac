//! The one behaviour suite every backend must pass.
//!
//! Each check opens a store through a [`Fixture`] and returns `Err(Failure)` instead of panicking, so the
//! suite itself can be tested against deliberately broken stores. A backend's test file runs everything with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```text
//! async fn fixture() -> Result<MyFixture, store::conformance::Failure> { ... }
//! store::conformance_tests!(fixture);
//! ```

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    token_sha256, AckRecord, AlertRecord, AlertSource, AlertStateRecord, AttemptOutcome,
    AttemptRecord, AuditEntry, AuditKey, AutomationRecord, BucketCount, Change, Checkpoint,
    CounterDelta, DeliveryStatus, DocFilter, DocKind, DocRecord, DocUpdate, FilePosition,
    GroupStateRecord, IngestBatch, Notification, NotificationFilter, OutboxRecord, RequestId,
    SilenceRecord, Store, StoreError, TeamRecord, TimelineRecord, ToilRecord, TokenRecord,
    TokenRole, TrackerSample, MAX_COUNT, SCHEMA_VERSION,
};

/// Gives the suite access to one backend instance. Every `open` must reach the same data: the second call
/// is a reopen (for SQLite, the same file), which is how persistence is checked. Each check gets a new,
/// empty fixture.
#[async_trait]
pub trait Fixture: Send + Sync {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError>;

    /// Changes the stored audit log behind the store's back, the way an attacker with access to the
    /// storage would (raw SQL for a database). The store may be open meanwhile.
    async fn tamper_audit(&self, tamper: Tamper) -> Result<(), Failure>;
}

/// Ways to tamper with the stored audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// Replace the details (JSON text) of record `seq`, leaving its MAC.
    EditDetails { seq: u64, details: String },
    /// Delete record `seq`.
    Delete { seq: u64 },
    /// Exchange records `a` and `b` (each keeps its contents and MACs but takes the other's number).
    Swap { a: u64, b: u64 },
    /// Delete every record with `seq >= from`.
    TruncateFrom { from: u64 },
}

/// Why a check failed.
pub enum Failure {
    /// The store returned an error where none was expected.
    Store(StoreError),
    /// The store behaved wrongly.
    Check {
        location: &'static Location<'static>,
        message: String,
    },
    /// The test environment could not be prepared.
    Setup(String),
}

impl Failure {
    pub fn setup(cause: impl fmt::Display) -> Self {
        Failure::Setup(cause.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Store(e) => write!(f, "unexpected store error: {e}"),
            Failure::Check { location, message } => write!(f, "{location}: {message}"),
            Failure::Setup(cause) => write!(f, "setting up the test: {cause}"),
        }
    }
}

// Tests print the Debug form of a returned error; make it the readable one.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// Generates one `#[tokio::test]` per conformance check. `$fixture` is an async fn returning
/// `Result<impl Fixture, Failure>` that builds a new, empty fixture. The calling crate needs `tokio` with
/// the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:path) => {
        $crate::conformance_tests!(@each $fixture;
            additivity,
            same_bucket_in_one_batch_adds,
            commutativity,
            range_bounds_are_half_open,
            empty_results,
            zero_deltas_are_dropped,
            positions_round_trip,
            positions_overwrite,
            atomic_counts_and_positions,
            invalid_input_is_rejected_whole,
            large_batch,
            series_listing,
            prune_counters_keeps_recent_buckets,
            concurrent_commits,
            reopen_persists,
            schema_version_is_current,
            tokens_round_trip,
            token_names_and_hashes_are_unique,
            revoked_tokens_do_not_authenticate,
            control_writes_need_an_audit_key,
            audit_chain_verifies_clean,
            audit_detects_an_edited_record,
            audit_detects_a_deleted_record,
            audit_detects_reordered_records,
            audit_detects_truncation_against_a_checkpoint,
            audit_detects_another_key,
            control_write_and_audit_are_atomic,
            alert_states_round_trip,
            changes_range_query,
            concurrent_audit_appends_chain,
            tracker_samples_upsert_and_persist,
            request_ids_refuse_retries,
            alerts_upsert_filter_and_prune,
            silences_are_audited_and_kept,
            acks_round_trip_and_clear,
            group_states_upsert_and_persist,
            outbox_enqueue_is_atomic,
            outbox_due_attempts_and_reopen,
            notification_history_filters,
            notification_pruning_keeps_pending,
            docs_create_get_and_filter,
            doc_update_is_compare_and_swap,
            doc_update_and_timeline_are_atomic,
            one_postmortem_per_incident,
            timeline_order_and_pinning,
            toil_range_and_team_filter,
            teams_and_automations_upsert,
            incident_writes_need_an_audit_key,
            incident_writes_are_audited_and_persist,
            concurrent_doc_updates_one_wins,
        );
    };
    (@each $fixture:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() -> ::std::result::Result<(), $crate::conformance::Failure> {
                let fixture = $fixture().await?;
                $crate::conformance::$check(&fixture).await
            }
        )*
    };
}

#[track_caller]
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), Failure> {
    if condition {
        Ok(())
    } else {
        Err(Failure::Check {
            location: Location::caller(),
            message: message(),
        })
    }
}

#[track_caller]
fn ensure_eq<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Result<(), Failure> {
    let location = Location::caller();
    if got == want {
        Ok(())
    } else {
        Err(Failure::Check {
            location,
            message: format!("{what}: got {got:?}, want {want:?}"),
        })
    }
}

fn delta(series: &str, bucket_start: i64, good: u64, total: u64) -> CounterDelta {
    CounterDelta {
        series: series.to_owned(),
        bucket_start,
        good,
        total,
    }
}

fn pos(source: &str, offset: u64, line: u64, fingerprint: &str) -> FilePosition {
    FilePosition {
        source: source.to_owned(),
        offset,
        line,
        fingerprint: fingerprint.to_owned(),
    }
}

fn deltas(deltas: Vec<CounterDelta>) -> IngestBatch {
    IngestBatch {
        deltas,
        positions: Vec::new(),
        ..Default::default()
    }
}

fn bc(bucket_start: i64, good: u64, total: u64) -> BucketCount {
    BucketCount {
        bucket_start,
        good,
        total,
    }
}

async fn all(store: &dyn Store, series: &str) -> Result<Vec<BucketCount>, Failure> {
    Ok(store.counts(series, i64::MIN, i64::MAX).await?)
}

/// Two commits to the same bucket sum; other buckets are untouched.
pub async fn additivity(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    s.commit_ingest(&deltas(vec![
        delta("web/avail", 60, 3, 5),
        delta("web/avail", 120, 1, 1),
    ]))
    .await?;
    s.commit_ingest(&deltas(vec![delta("web/avail", 60, 4, 7)]))
        .await?;
    ensure_eq(
        "counts after two commits",
        all(&*s, "web/avail").await?,
        vec![bc(60, 7, 12), bc(120, 1, 1)],
    )?;
    s.commit_ingest(&deltas(vec![delta("web/avail", 120, 0, 2)]))
        .await?;
    ensure_eq(
        "counts after a third commit",
        all(&*s, "web/avail").await?,
        vec![bc(60, 7, 12), bc(120, 1, 3)],
    )
}

/// Deltas for one bucket inside one batch add up, even when far apart in the batch.
pub async fn same_bucket_in_one_batch_adds(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let mut batch = Vec::new();
    batch.push(delta("api/latency", 0, 1, 2));
    batch.extend((1..2000).map(|i| delta("api/latency", i * 60, 1, 1)));
    batch.push(delta("api/latency", 0, 2, 3));
    batch.push(delta("api/latency", 0, 0, 1));
    s.commit_ingest(&deltas(batch)).await?;
    let counts = all(&*s, "api/latency").await?;
    ensure_eq("bucket count", counts.len(), 2000)?;
    ensure_eq("first bucket", counts.first().copied(), Some(bc(0, 3, 6)))
}

/// The same batches in another order give the same counts.
pub async fn commutativity(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let batches = [
        vec![(0, 1, 2), (60, 5, 5), (120, 0, 9)],
        vec![(60, 2, 3), (180, 1, 1)],
        vec![(0, 4, 4), (120, 3, 3), (180, 0, 2)],
    ];
    let commit = |name: &'static str, i: usize| {
        let s = Arc::clone(&s);
        let batch = deltas(
            batches[i]
                .iter()
                .map(|&(b, g, t)| delta(name, b, g, t))
                .collect(),
        );
        async move { s.commit_ingest(&batch).await }
    };
    for i in [0, 1, 2] {
        commit("order/abc", i).await?;
    }
    for i in [2, 0, 1] {
        commit("order/cab", i).await?;
    }
    let abc = all(&*s, "order/abc").await?;
    ensure_eq(
        "counts in commit order a, b, c",
        abc.clone(),
        vec![bc(0, 5, 6), bc(60, 7, 8), bc(120, 3, 12), bc(180, 1, 3)],
    )?;
    ensure_eq(
        "counts in commit order c, a, b",
        all(&*s, "order/cab").await?,
        abc,
    )
}

/// `from` is included, `to` excluded; results are sorted; series are matched exactly, not by prefix.
pub async fn range_bounds_are_half_open(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let buckets = [120, i64::MAX, -60, 0, i64::MIN, 60];
    let mut batch: Vec<_> = buckets.iter().map(|&b| delta("r/a", b, 1, 1)).collect();
    batch.push(delta("r/ab", 0, 9, 9));
    batch.push(delta("r/", 0, 8, 8));
    s.commit_ingest(&deltas(batch)).await?;
    let starts = |v: Vec<BucketCount>| v.into_iter().map(|c| c.bucket_start).collect::<Vec<_>>();
    ensure_eq(
        "[-60, 120)",
        starts(s.counts("r/a", -60, 120).await?),
        vec![-60, 0, 60],
    )?;
    ensure_eq(
        "[-59, 121)",
        starts(s.counts("r/a", -59, 121).await?),
        vec![0, 60, 120],
    )?;
    ensure_eq("[0, 1)", starts(s.counts("r/a", 0, 1).await?), vec![0])?;
    ensure_eq("[0, 0)", starts(s.counts("r/a", 0, 0).await?), vec![])?;
    ensure_eq("[120, 0)", starts(s.counts("r/a", 120, 0).await?), vec![])?;
    ensure_eq(
        "[MIN, MAX)",
        starts(s.counts("r/a", i64::MIN, i64::MAX).await?),
        vec![i64::MIN, -60, 0, 60, 120],
    )?;
    ensure_eq(
        "[MIN, MIN + 1)",
        starts(s.counts("r/a", i64::MIN, i64::MIN + 1).await?),
        vec![i64::MIN],
    )?;
    ensure_eq(
        "[MAX - 1, MAX)",
        starts(s.counts("r/a", i64::MAX - 1, i64::MAX).await?),
        vec![],
    )?;
    ensure_eq(
        "the bucket of r/a at 0 (not r/ab's or r/'s)",
        s.counts("r/a", 0, 1).await?,
        vec![bc(0, 1, 1)],
    )?;
    ensure_eq(
        "r/ab",
        s.counts("r/ab", i64::MIN, i64::MAX).await?,
        vec![bc(0, 9, 9)],
    )?;
    ensure_eq("unknown series r", all(&*s, "r").await?, vec![])
}

/// A new store has nothing, and empty commits change nothing.
pub async fn empty_results(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    ensure_eq(
        "series of a new store",
        s.series().await?,
        Vec::<String>::new(),
    )?;
    ensure_eq(
        "counts of a new store",
        all(&*s, "web/avail").await?,
        vec![],
    )?;
    ensure_eq(
        "position of a new store",
        s.position("/var/log/app.log").await?,
        None,
    )?;
    s.commit_ingest(&IngestBatch::default()).await?;
    ensure_eq(
        "series after an empty commit",
        s.series().await?,
        Vec::<String>::new(),
    )?;
    s.commit_ingest(&deltas(vec![delta("web/avail", 0, 1, 1)]))
        .await?;
    ensure_eq(
        "counts of another series",
        all(&*s, "web/other").await?,
        vec![],
    )?;
    ensure_eq(
        "counts after the data",
        s.counts("web/avail", 60, 6000).await?,
        vec![],
    )?;
    ensure_eq(
        "counts ending where the data starts",
        s.counts("web/avail", -6000, 0).await?,
        vec![],
    )
}

/// Deltas with `total == 0` store nothing: no bucket, no series.
pub async fn zero_deltas_are_dropped(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    s.commit_ingest(&deltas(vec![delta("idle/avail", 0, 0, 0)]))
        .await?;
    ensure_eq(
        "series after an all-zero delta",
        s.series().await?,
        Vec::<String>::new(),
    )?;
    ensure_eq(
        "counts after an all-zero delta",
        all(&*s, "idle/avail").await?,
        vec![],
    )?;
    s.commit_ingest(&deltas(vec![
        delta("idle/avail", 60, 0, 1),
        delta("idle/avail", 120, 0, 0),
    ]))
    .await?;
    ensure_eq(
        "counts with one non-zero delta",
        all(&*s, "idle/avail").await?,
        vec![bc(60, 0, 1)],
    )
}

/// Positions come back exactly as stored, including extreme values and non-ASCII paths.
pub async fn positions_round_trip(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let stored = [
        pos("/var/log/nginx/access.log", 123_456, 789, "sha256:0f1e2d"),
        pos("/var/log/ünïcödé dir/app.log", MAX_COUNT, MAX_COUNT, "x"),
        pos("/var/log/empty.log", 0, 0, ""),
    ];
    s.commit_ingest(&IngestBatch {
        deltas: Vec::new(),
        positions: stored.to_vec(),
        ..Default::default()
    })
    .await?;
    for p in &stored {
        ensure_eq(
            &format!("position of {}", p.source),
            s.position(&p.source).await?,
            Some(p.clone()),
        )?;
    }
    ensure_eq(
        "position of a path never stored",
        s.position("/var/log/nginx/access.log.1").await?,
        None,
    )?;
    ensure_eq(
        "series after a positions-only commit",
        s.series().await?,
        Vec::<String>::new(),
    )
}

/// A new position replaces the old one, even when it moves backwards (truncation); the last one in a
/// batch wins; other sources are untouched.
pub async fn positions_overwrite(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let path = "/var/log/app.log";
    let other = pos("/var/log/other.log", 42, 4, "other");
    s.commit_ingest(&IngestBatch {
        deltas: Vec::new(),
        positions: vec![pos(path, 100, 10, "a"), other.clone()],
        ..Default::default()
    })
    .await?;
    for (offset, line, fingerprint) in [(200, 20, "a"), (5, 1, "b")] {
        let p = pos(path, offset, line, fingerprint);
        s.commit_ingest(&IngestBatch {
            deltas: Vec::new(),
            positions: vec![p.clone()],
            ..Default::default()
        })
        .await?;
        ensure_eq("overwritten position", s.position(path).await?, Some(p))?;
    }
    s.commit_ingest(&IngestBatch {
        deltas: Vec::new(),
        positions: vec![pos(path, 70, 7, "c"), pos(path, 30, 3, "d")],
        ..Default::default()
    })
    .await?;
    ensure_eq(
        "last position of a batch",
        s.position(path).await?,
        Some(pos(path, 30, 3, "d")),
    )?;
    ensure_eq(
        "untouched position",
        s.position(&other.source).await?,
        Some(other),
    )
}

/// A batch that fails part-way leaves neither its counts nor its positions behind.
pub async fn atomic_counts_and_positions(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let path = "/var/log/atomic.log";
    s.commit_ingest(&IngestBatch {
        deltas: vec![
            delta("atomic/a", 0, 1, 1),
            delta("atomic/z", 0, 0, MAX_COUNT),
        ],
        positions: vec![pos(path, 10, 1, "f")],
        ..Default::default()
    })
    .await?;
    ensure_eq(
        "a bucket holding MAX_COUNT",
        all(&*s, "atomic/z").await?,
        vec![bc(0, 0, MAX_COUNT)],
    )?;
    let before = (
        all(&*s, "atomic/a").await?,
        s.series().await?,
        s.position(path).await?,
    );
    // "atomic/a" and "atomic/b" sort before "atomic/z", so a non-atomic backend writes them before failing.
    let failing = IngestBatch {
        deltas: vec![
            delta("atomic/a", 0, 1, 1),
            delta("atomic/b", 60, 1, 1),
            delta("atomic/z", 0, 0, 1),
        ],
        positions: vec![pos(path, 20, 2, "f"), pos("/var/log/new.log", 5, 1, "n")],
        ..Default::default()
    };
    let result = s.commit_ingest(&failing).await;
    ensure_eq(
        "error code of a commit pushing a bucket past MAX_COUNT",
        result.map_err(|e| e.code()),
        Err("store.counter_overflow"),
    )?;
    let after = (
        all(&*s, "atomic/a").await?,
        s.series().await?,
        s.position(path).await?,
    );
    ensure_eq("state after a failed commit", after, before)?;
    ensure_eq(
        "series b of the failed commit",
        all(&*s, "atomic/b").await?,
        vec![],
    )?;
    ensure_eq(
        "new position of the failed commit",
        s.position("/var/log/new.log").await?,
        None,
    )?;
    // The store still works after the rollback.
    s.commit_ingest(&deltas(vec![delta("atomic/a", 0, 1, 1)]))
        .await?;
    ensure_eq(
        "counts after a good commit",
        all(&*s, "atomic/a").await?,
        vec![bc(0, 2, 2)],
    )
}

/// Invalid deltas and positions are rejected with a specific error and nothing of their batch is stored.
pub async fn invalid_input_is_rejected_whole(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let good_delta = delta("valid/avail", 0, 1, 1);
    let good_pos = pos("/var/log/valid.log", 1, 1, "v");
    let cases: Vec<(&str, IngestBatch, &str)> = vec![
        (
            "good > total",
            deltas(vec![good_delta.clone(), delta("bad/avail", 0, 2, 1)]),
            "store.invalid_delta",
        ),
        (
            "total > MAX_COUNT",
            deltas(vec![
                good_delta.clone(),
                delta("bad/avail", 0, 0, MAX_COUNT + 1),
            ]),
            "store.invalid_delta",
        ),
        (
            "empty series name",
            deltas(vec![good_delta.clone(), delta("", 0, 1, 1)]),
            "store.invalid_delta",
        ),
        (
            "sum within the batch > MAX_COUNT",
            deltas(vec![
                good_delta.clone(),
                delta("bad/avail", 0, 0, MAX_COUNT),
                delta("bad/avail", 0, 0, 1),
            ]),
            "store.counter_overflow",
        ),
        (
            "empty source",
            IngestBatch {
                deltas: vec![good_delta.clone()],
                positions: vec![good_pos.clone(), pos("", 1, 1, "")],
                ..Default::default()
            },
            "store.invalid_position",
        ),
        (
            "offset > MAX_COUNT",
            IngestBatch {
                deltas: vec![good_delta.clone()],
                positions: vec![
                    good_pos.clone(),
                    pos("/var/log/big.log", MAX_COUNT + 1, 1, ""),
                ],
                ..Default::default()
            },
            "store.invalid_position",
        ),
    ];
    for (name, batch, code) in cases {
        match s.commit_ingest(&batch).await {
            Ok(()) => {
                return Err(Failure::Check {
                    location: Location::caller(),
                    message: format!("{name}: the commit succeeded"),
                })
            }
            Err(e) => ensure_eq(&format!("{name}: error code of {e}"), e.code(), code)?,
        }
        ensure_eq(
            &format!("{name}: series"),
            s.series().await?,
            Vec::<String>::new(),
        )?;
        ensure_eq(
            &format!("{name}: position"),
            s.position(&good_pos.source).await?,
            None,
        )?;
    }
    Ok(())
}

/// 200,000 deltas (100,000 buckets over 4 series, each bucket twice) in one commit.
pub async fn large_batch(fx: &dyn Fixture) -> Result<(), Failure> {
    const SERIES: [&str; 4] = ["big/a", "big/b", "big/c", "big/d"];
    const BUCKETS: i64 = 25_000;
    let s = fx.open().await?;
    let value = |i: i64| {
        let good = u64::try_from(i % 5).unwrap_or(0);
        (good, good + u64::try_from(i % 3).unwrap_or(0) + 1)
    };
    let mut batch = Vec::with_capacity(200_000);
    for _pass in 0..2 {
        for name in SERIES {
            for i in 0..BUCKETS {
                let (good, total) = value(i);
                batch.push(delta(name, i * 60, good, total));
            }
        }
    }
    ensure_eq("deltas in the batch", batch.len(), 200_000)?;
    s.commit_ingest(&IngestBatch {
        deltas: batch,
        positions: vec![pos("/var/log/big.log", 1 << 40, 1 << 30, "big")],
        ..Default::default()
    })
    .await?;
    for name in SERIES {
        let counts = all(&*s, name).await?;
        ensure_eq(&format!("buckets of {name}"), counts.len(), 25_000)?;
        for (i, c) in (0..BUCKETS).zip(&counts) {
            let (good, total) = value(i);
            ensure_eq(
                &format!("bucket {i} of {name}"),
                *c,
                bc(i * 60, 2 * good, 2 * total),
            )?;
        }
    }
    ensure_eq(
        "series",
        s.series().await?,
        SERIES.iter().map(|n| n.to_string()).collect(),
    )?;
    ensure_eq(
        "position of the large batch",
        s.position("/var/log/big.log").await?.map(|p| p.offset),
        Some(1 << 40),
    )
}

/// `series` lists every series with data once, sorted.
pub async fn series_listing(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    s.commit_ingest(&deltas(vec![
        delta("web/latency", 0, 1, 1),
        delta("api/avail", 0, 1, 1),
        delta("web/avail", 0, 1, 1),
        delta("web/avail", 60, 1, 1),
    ]))
    .await?;
    s.commit_ingest(&deltas(vec![
        delta("api/avail", 120, 1, 1),
        delta("db/fresh", 0, 0, 1),
    ]))
    .await?;
    ensure_eq(
        "series",
        s.series().await?,
        vec![
            "api/avail".to_owned(),
            "db/fresh".to_owned(),
            "web/avail".to_owned(),
            "web/latency".to_owned(),
        ],
    )
}

/// Retention drops buckets older than the cut-off, and nothing else: positions stay, a series
/// left without buckets is no longer listed, and the pruning persists.
pub async fn prune_counters_keeps_recent_buckets(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let mut batch = deltas(vec![
        delta("old/avail", 0, 1, 1),
        delta("old/avail", 60, 1, 2),
        delta("web/avail", 60, 2, 2),
        delta("web/avail", 120, 3, 4),
        delta("web/avail", 180, 0, 5),
    ]);
    batch.positions = vec![pos("/var/log/web.log", 10, 1, "fp")];
    s.commit_ingest(&batch).await?;
    ensure_eq("buckets pruned", s.prune_counters(120).await?, 3)?;
    ensure_eq("pruned again", s.prune_counters(120).await?, 0)?;
    ensure_eq("series", s.series().await?, vec!["web/avail".to_owned()])?;
    s.close().await?;
    let s = fx.open().await?;
    let starts: Vec<i64> = s
        .counts("web/avail", i64::MIN, i64::MAX)
        .await?
        .iter()
        .map(|c| c.bucket_start)
        .collect();
    ensure_eq("buckets left", starts, vec![120, 180])?;
    ensure_eq(
        "old buckets",
        s.counts("old/avail", i64::MIN, i64::MAX).await?.len(),
        0,
    )?;
    ensure(s.position("/var/log/web.log").await?.is_some(), || {
        "pruning counters dropped a file position".into()
    })?;
    // New counts for a pruned bucket start from zero.
    s.commit_ingest(&deltas(vec![delta("old/avail", 0, 1, 1)]))
        .await?;
    ensure_eq(
        "re-counted bucket",
        s.counts("old/avail", 0, 60).await?.first().map(|c| c.total),
        Some(1),
    )
}

/// Several tasks committing to the same buckets at once lose nothing.
pub async fn concurrent_commits(fx: &dyn Fixture) -> Result<(), Failure> {
    const TASKS: u64 = 8;
    const COMMITS: u64 = 20;
    let s = fx.open().await?;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let s = Arc::clone(&s);
        handles.push(tokio::spawn(async move {
            for commit in 0..COMMITS {
                let batch = IngestBatch {
                    deltas: (0..5).map(|b| delta("busy/avail", b * 60, 1, 3)).collect(),
                    positions: vec![pos(
                        &format!("/var/log/task-{task}.log"),
                        commit,
                        commit,
                        "t",
                    )],
                    ..Default::default()
                };
                s.commit_ingest(&batch).await?;
                tokio::task::yield_now().await;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for handle in handles {
        handle.await.map_err(Failure::setup)??;
    }
    let n = TASKS * COMMITS;
    ensure_eq(
        "counts after concurrent commits",
        all(&*s, "busy/avail").await?,
        (0..5).map(|b| bc(b * 60, n, 3 * n)).collect(),
    )?;
    for task in 0..TASKS {
        let source = format!("/var/log/task-{task}.log");
        ensure_eq(
            &format!("position of task {task}"),
            s.position(&source).await?.map(|p| p.offset),
            Some(COMMITS - 1),
        )?;
    }
    Ok(())
}

/// Data survives closing and reopening, and later commits still add to it.
pub async fn reopen_persists(fx: &dyn Fixture) -> Result<(), Failure> {
    let p = pos("/var/log/persist.log", 4096, 64, "sha256:feed");
    {
        let s = fx.open().await?;
        s.commit_ingest(&IngestBatch {
            deltas: vec![delta("keep/avail", 60, 5, 6), delta("keep/avail", 0, 1, 1)],
            positions: vec![p.clone()],
            ..Default::default()
        })
        .await?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "counts after reopening",
        all(&*s, "keep/avail").await?,
        vec![bc(0, 1, 1), bc(60, 5, 6)],
    )?;
    ensure_eq(
        "position after reopening",
        s.position(&p.source).await?,
        Some(p),
    )?;
    ensure_eq(
        "series after reopening",
        s.series().await?,
        vec!["keep/avail".to_owned()],
    )?;
    s.commit_ingest(&deltas(vec![delta("keep/avail", 60, 1, 1)]))
        .await?;
    ensure_eq(
        "counts after reopening and committing",
        all(&*s, "keep/avail").await?,
        vec![bc(0, 1, 1), bc(60, 6, 7)],
    )?;
    s.close().await?;
    Ok(())
}

/// An opened store reports the schema version this binary knows.
pub async fn schema_version_is_current(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    ensure_eq("schema version", s.schema_version().await?, SCHEMA_VERSION)?;
    ensure(!s.backend().is_empty(), || {
        "backend name is empty".to_owned()
    })
}

// ---- Control plane and audit log.

const KEY: [u8; 32] = [0x5a; 32];

/// Opens the store with the test key set, as every control-plane user does.
async fn open_keyed(fx: &dyn Fixture) -> Result<Arc<dyn Store>, Failure> {
    let s = fx.open().await?;
    s.set_audit_key(AuditKey::from_bytes(KEY));
    Ok(s)
}

fn key() -> AuditKey {
    AuditKey::from_bytes(KEY)
}

fn token(name: &str, role: TokenRole, secret: &str, created_at: i64) -> TokenRecord {
    TokenRecord {
        name: name.to_owned(),
        role,
        sha256: token_sha256(secret),
        created_at,
        revoked_at: None,
    }
}

fn entry(at: i64, action: &str, target: &str) -> AuditEntry {
    AuditEntry::new(at, "conformance", action, target)
        .with_details(serde_json::json!({ "n": at, "note": "x" }))
}

async fn audit_len(s: &dyn Store) -> Result<u64, Failure> {
    Ok(s.audit_checkpoint().await?.seq)
}

/// Five records of mixed kinds: 1 token.create, 2 note, 3 change, 4 alert states, 5 token.revoke.
async fn five_records(s: &dyn Store) -> Result<(), Failure> {
    s.insert_token(
        &token("ci", TokenRole::Ingest, "s1", 10),
        &entry(10, "token.create", "ci"),
    )
    .await?;
    s.append_audit(&entry(11, "note", "x")).await?;
    s.record_change(&change("web", "v1", 12), &entry(12, "change.record", "web"))
        .await?;
    s.save_alert_states(
        &[state("web/avail", "page", "firing", 13)],
        &entry(13, "alert.save", ""),
    )
    .await?;
    ensure(
        s.revoke_token("ci", &entry(14, "token.revoke", "ci"))
            .await?,
        || "revoking an active token returned false".to_owned(),
    )?;
    ensure_eq("audit records written", audit_len(s).await?, 5)
}

fn change(service: &str, version: &str, at: i64) -> Change {
    Change {
        service: service.to_owned(),
        version: version.to_owned(),
        at,
        description: format!("deploy {version}"),
        created_at: at + 1,
    }
}

fn state(slo: &str, tier: &str, state: &str, since: i64) -> AlertStateRecord {
    AlertStateRecord {
        slo: slo.to_owned(),
        tier: tier.to_owned(),
        state: state.to_owned(),
        since,
        updated_at: since + 5,
    }
}

/// A stored token is found by its hash only, listed by name, and survives reopening.
pub async fn tokens_round_trip(fx: &dyn Fixture) -> Result<(), Failure> {
    let b = token("bob", TokenRole::Responder, "secret-b", 100);
    let a = token("alice", TokenRole::Admin, "secret-a", 200);
    {
        let s = open_keyed(fx).await?;
        s.insert_token(&b, &entry(100, "token.create", "bob"))
            .await?;
        s.insert_token(&a, &entry(200, "token.create", "alice"))
            .await?;
        ensure_eq(
            "token by hash",
            s.token_by_hash(&token_sha256("secret-a")).await?,
            Some(a.clone()),
        )?;
        ensure_eq(
            "token by an unknown hash",
            s.token_by_hash(&token_sha256("nope")).await?,
            None,
        )?;
        ensure_eq(
            "token by a malformed hash",
            s.token_by_hash("secret-a").await?,
            None,
        )?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "tokens after reopening, sorted by name",
        s.list_tokens().await?,
        vec![a, b.clone()],
    )?;
    ensure_eq(
        "lookup after reopening",
        s.token_by_hash(&b.sha256).await?.map(|t| t.role),
        Some(TokenRole::Responder),
    )
}

/// A second token with a taken name, or the same secret, is refused and writes nothing (not even audit).
pub async fn token_names_and_hashes_are_unique(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    s.insert_token(
        &token("ci", TokenRole::Ingest, "s1", 1),
        &entry(1, "token.create", "ci"),
    )
    .await?;
    for (what, t) in [
        ("same name", token("ci", TokenRole::Admin, "s2", 2)),
        ("same secret", token("other", TokenRole::Admin, "s1", 2)),
    ] {
        match s.insert_token(&t, &entry(2, "token.create", &t.name)).await {
            Ok(()) => {
                return Err(Failure::Check {
                    location: Location::caller(),
                    message: format!("a token with the {what} was stored"),
                })
            }
            Err(e) => ensure_eq(
                &format!("{what}: error code of {e}"),
                e.code(),
                "store.token_exists",
            )?,
        }
    }
    ensure_eq("tokens", s.list_tokens().await?.len(), 1)?;
    ensure_eq("audit records", audit_len(&*s).await?, 1)?;
    // A revoked token's name stays taken.
    s.revoke_token("ci", &entry(3, "token.revoke", "ci"))
        .await?;
    ensure(
        s.insert_token(
            &token("ci", TokenRole::Viewer, "s3", 4),
            &entry(4, "token.create", "ci"),
        )
        .await
        .is_err(),
        || "a revoked token's name was reused".to_owned(),
    )
}

/// Revocation hides the token from lookups, is listed with its time, and happens once.
pub async fn revoked_tokens_do_not_authenticate(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    let t = token("ops", TokenRole::Viewer, "ops-secret", 5);
    s.insert_token(&t, &entry(5, "token.create", "ops")).await?;
    ensure(
        s.revoke_token("ops", &entry(50, "token.revoke", "ops"))
            .await?,
        || "revoking an active token returned false".to_owned(),
    )?;
    ensure_eq(
        "lookup of a revoked token",
        s.token_by_hash(&t.sha256).await?,
        None,
    )?;
    ensure_eq(
        "revoked_at in the listing",
        s.list_tokens().await?.first().and_then(|t| t.revoked_at),
        Some(50),
    )?;
    ensure(
        !s.revoke_token("ops", &entry(60, "token.revoke", "ops"))
            .await?,
        || "revoking twice returned true".to_owned(),
    )?;
    ensure(
        !s.revoke_token("ghost", &entry(60, "token.revoke", "ghost"))
            .await?,
        || "revoking an unknown token returned true".to_owned(),
    )?;
    ensure_eq(
        "audit records (create + one revoke)",
        audit_len(&*s).await?,
        2,
    )
}

/// Without a key nothing control-plane is written.
pub async fn control_writes_need_an_audit_key(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    match s
        .insert_token(
            &token("k", TokenRole::Admin, "k", 1),
            &entry(1, "token.create", "k"),
        )
        .await
    {
        Ok(()) => {
            return Err(Failure::Check {
                location: Location::caller(),
                message: "a token was stored without an audit key".to_owned(),
            })
        }
        Err(e) => ensure_eq(
            &format!("error code of {e}"),
            e.code(),
            "store.no_audit_key",
        )?,
    }
    ensure_eq("tokens", s.list_tokens().await?.len(), 0)?;
    ensure_eq("audit records", audit_len(&*s).await?, 0)
}

/// Records are numbered 1.. without gaps, each chained to the previous; the untouched chain verifies,
/// also against its own checkpoint, and paging returns the same records.
pub async fn audit_chain_verifies_clean(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    let empty = s.verify_audit(&key(), Some(&Checkpoint::empty())).await?;
    ensure_eq(
        "empty log report",
        (empty.records, empty.first_bad),
        (0, None),
    )?;
    five_records(&*s).await?;
    let records = s.audit_entries(1, 100).await?;
    ensure_eq(
        "sequence numbers",
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
    )?;
    ensure_eq(
        "actions",
        records
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        vec![
            "token.create",
            "note",
            "change.record",
            "alert.save",
            "token.revoke",
        ],
    )?;
    ensure_eq(
        "first prev_mac",
        records.first().map(|r| r.prev_mac.as_str()),
        Some(crate::GENESIS_MAC),
    )?;
    for pair in records.windows(2) {
        ensure_eq(
            &format!("prev_mac of record {}", pair[1].seq),
            &pair[1].prev_mac,
            &pair[0].mac,
        )?;
    }
    let details: Result<serde_json::Value, _> =
        serde_json::from_str(records.get(1).map_or("", |r| r.details.as_str()));
    ensure_eq(
        "details of record 2",
        details.ok(),
        Some(serde_json::json!({ "n": 11, "note": "x" })),
    )?;
    ensure_eq(
        "a page from record 2",
        s.audit_entries(2, 2).await?,
        records[1..3].to_vec(),
    )?;
    let checkpoint = s.audit_checkpoint().await?;
    ensure_eq(
        "checkpoint",
        (checkpoint.seq, checkpoint.mac.as_str(), checkpoint.at),
        (5, records[4].mac.as_str(), 14),
    )?;
    let report = s.verify_audit(&key(), Some(&checkpoint)).await?;
    ensure_eq("first bad record", report.first_bad, None)?;
    ensure_eq("records verified", report.records, 5)?;
    ensure_eq("report's last record", &report.last, &checkpoint)?;
    // Appending goes on from the stored end after reopening.
    s.close().await?;
    let s = open_keyed(fx).await?;
    ensure_eq(
        "seq after reopening",
        s.append_audit(&entry(20, "note", "y")).await?,
        6,
    )?;
    let report = s.verify_audit(&key(), Some(&checkpoint)).await?;
    ensure_eq("first bad record after appending", report.first_bad, None)
}

async fn first_bad_after(fx: &dyn Fixture, tamper: Tamper) -> Result<Option<u64>, Failure> {
    let s = open_keyed(fx).await?;
    five_records(&*s).await?;
    fx.tamper_audit(tamper).await?;
    let report = s.verify_audit(&key(), None).await?;
    Ok(report.first_bad.map(|f| f.seq))
}

/// Changing a stored record's contents is detected at that record.
pub async fn audit_detects_an_edited_record(fx: &dyn Fixture) -> Result<(), Failure> {
    let bad = first_bad_after(
        fx,
        Tamper::EditDetails {
            seq: 3,
            details: r#"{"n":12,"note":"y"}"#.to_owned(),
        },
    )
    .await?;
    ensure_eq("first bad record after editing record 3", bad, Some(3))
}

/// Deleting a record in the middle is detected at the record after the gap.
pub async fn audit_detects_a_deleted_record(fx: &dyn Fixture) -> Result<(), Failure> {
    let bad = first_bad_after(fx, Tamper::Delete { seq: 2 }).await?;
    ensure_eq("first bad record after deleting record 2", bad, Some(3))?;
    // The log now holds records 1, 3, 4, 5; without record 1 it starts at 3.
    fx.tamper_audit(Tamper::Delete { seq: 1 }).await?;
    let s = fx.open().await?;
    let bad = s.verify_audit(&key(), None).await?.first_bad.map(|f| f.seq);
    ensure_eq("first bad record after deleting record 1 too", bad, Some(3))
}

/// Two records exchanging places is detected at the first of them.
pub async fn audit_detects_reordered_records(fx: &dyn Fixture) -> Result<(), Failure> {
    let bad = first_bad_after(fx, Tamper::Swap { a: 2, b: 4 }).await?;
    ensure_eq("first bad record after swapping 2 and 4", bad, Some(2))
}

/// Dropping the newest records leaves a valid shorter chain; the checkpoint exposes it.
pub async fn audit_detects_truncation_against_a_checkpoint(
    fx: &dyn Fixture,
) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    five_records(&*s).await?;
    let checkpoint = s.audit_checkpoint().await?;
    fx.tamper_audit(Tamper::TruncateFrom { from: 4 }).await?;
    let report = s.verify_audit(&key(), Some(&checkpoint)).await?;
    ensure_eq("records left", report.records, 3)?;
    ensure_eq(
        "first bad record against the checkpoint",
        report.first_bad.map(|f| f.seq),
        Some(4),
    )?;
    // Records appended after truncation reuse the numbers, but not the checkpoint's MAC.
    s.append_audit(&entry(30, "note", "a")).await?;
    s.append_audit(&entry(31, "note", "b")).await?;
    let report = s.verify_audit(&key(), Some(&checkpoint)).await?;
    ensure_eq(
        "first bad record after refilling past the checkpoint",
        report.first_bad.map(|f| f.seq),
        Some(5),
    )
}

/// A chain checked with another key fails at its first record.
pub async fn audit_detects_another_key(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    five_records(&*s).await?;
    let report = s.verify_audit(&AuditKey::from_bytes([1; 32]), None).await?;
    ensure_eq("first bad record", report.first_bad.map(|f| f.seq), Some(1))
}

/// A control write and its audit record are stored together or not at all.
pub async fn control_write_and_audit_are_atomic(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    // An audit entry that cannot be stored (no actor) must stop the write it describes.
    let mut bad = entry(1, "token.create", "t");
    bad.actor.clear();
    let t = token("t", TokenRole::Viewer, "t", 1);
    ensure(s.insert_token(&t, &bad).await.is_err(), || {
        "a token was stored with an invalid audit entry".to_owned()
    })?;
    ensure(
        s.record_change(&change("web", "v1", 5), &bad)
            .await
            .is_err(),
        || "a change was stored with an invalid audit entry".to_owned(),
    )?;
    ensure(
        s.save_alert_states(&[state("web/avail", "page", "firing", 1)], &bad)
            .await
            .is_err(),
        || "alert states were stored with an invalid audit entry".to_owned(),
    )?;
    ensure_eq("tokens", s.list_tokens().await?.len(), 0)?;
    ensure_eq(
        "changes",
        s.changes(None, i64::MIN, i64::MAX).await?.len(),
        0,
    )?;
    ensure_eq("alert states", s.alert_states().await?.len(), 0)?;
    ensure_eq("audit records", audit_len(&*s).await?, 0)?;
    // And an invalid write leaves no audit record.
    ensure(
        s.insert_token(
            &token("", TokenRole::Viewer, "x", 1),
            &entry(1, "token.create", ""),
        )
        .await
        .is_err(),
        || "a token without a name was stored".to_owned(),
    )?;
    ensure(
        s.record_change(&change("", "v1", 5), &entry(1, "change.record", ""))
            .await
            .is_err(),
        || "a change without a service was stored".to_owned(),
    )?;
    ensure_eq(
        "audit records after invalid writes",
        audit_len(&*s).await?,
        0,
    )?;
    // A valid write leaves exactly one of each.
    s.insert_token(&t, &entry(2, "token.create", "t")).await?;
    ensure_eq("tokens", s.list_tokens().await?.len(), 1)?;
    let records = s.audit_entries(1, 10).await?;
    ensure_eq(
        "the audit record of the token",
        records
            .iter()
            .map(|r| (r.seq, r.action.as_str(), r.target.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "token.create", "t")],
    )
}

/// Alert states upsert by (slo, tier), list sorted, and survive reopening.
pub async fn alert_states_round_trip(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = open_keyed(fx).await?;
        s.save_alert_states(
            &[
                state("web/latency", "ticket", "pending", 10),
                state("web/avail", "page", "firing", 20),
                state("web/avail", "ticket", "inactive", 0),
            ],
            &entry(30, "alert.save", ""),
        )
        .await?;
        s.save_alert_states(
            &[state("web/avail", "page", "inactive", 40)],
            &entry(40, "alert.save", ""),
        )
        .await?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "alert states after an upsert and reopening",
        s.alert_states().await?,
        vec![
            state("web/avail", "page", "inactive", 40),
            state("web/avail", "ticket", "inactive", 0),
            state("web/latency", "ticket", "pending", 10),
        ],
    )
}

/// Changes come back per service or all, with `from <= at < to`, sorted by time, with distinct ids.
pub async fn changes_range_query(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    let mut ids = Vec::new();
    for c in [
        change("web", "v3", 300),
        change("api", "a1", 150),
        change("web", "v1", 100),
        change("web", "v2", 200),
        change("web", "v2b", 200),
    ] {
        ids.push(
            s.record_change(&c, &entry(c.at, "change.record", &c.service))
                .await?,
        );
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    ensure_eq("distinct ids", unique.len(), ids.len())?;
    let versions = |rows: Vec<crate::ChangeRecord>| {
        rows.into_iter()
            .map(|r| r.change.version)
            .collect::<Vec<_>>()
    };
    ensure_eq(
        "web changes in [100, 300)",
        versions(s.changes(Some("web"), 100, 300).await?),
        vec!["v1".to_owned(), "v2".to_owned(), "v2b".to_owned()],
    )?;
    ensure_eq(
        "all changes in [150, 301)",
        versions(s.changes(None, 150, 301).await?),
        vec![
            "a1".to_owned(),
            "v2".to_owned(),
            "v2b".to_owned(),
            "v3".to_owned(),
        ],
    )?;
    ensure_eq("an empty range", s.changes(None, 200, 200).await?.len(), 0)?;
    ensure_eq(
        "an unknown service",
        s.changes(Some("we"), i64::MIN, i64::MAX).await?.len(),
        0,
    )?;
    let all = s.changes(Some("api"), i64::MIN, i64::MAX).await?;
    ensure_eq(
        "a stored change",
        all.first().map(|r| r.change.clone()),
        Some(change("api", "a1", 150)),
    )?;
    ensure_eq("its id", all.first().map(|r| r.id), ids.get(1).copied())
}

/// Appends from many tasks at once still form one gapless chain that verifies.
pub async fn concurrent_audit_appends_chain(fx: &dyn Fixture) -> Result<(), Failure> {
    const TASKS: i64 = 8;
    const EACH: i64 = 10;
    let s = open_keyed(fx).await?;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = Arc::clone(&s);
        handles.push(tokio::spawn(async move {
            for i in 0..EACH {
                s.append_audit(&entry(t * 100 + i, "note", "concurrent"))
                    .await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for h in handles {
        h.await.map_err(Failure::setup)??;
    }
    let report = s.verify_audit(&key(), None).await?;
    ensure_eq("first bad record", report.first_bad, None)?;
    ensure_eq("records", report.records, (TASKS * EACH) as u64)
}

fn tracker(stream: &str, series_key: u64, timestamp_ms: i64, value: f64) -> TrackerSample {
    TrackerSample {
        stream: stream.to_owned(),
        series_key,
        timestamp_ms,
        value,
    }
}

/// Tracker samples are upserted per (stream, series key), the last in a batch wins, streams are
/// separate, keys keep all 64 bits, they survive a reopen and `forget_tracker_samples` drops
/// only old ones of its stream.
pub async fn tracker_samples_upsert_and_persist(fx: &dyn Fixture) -> Result<(), Failure> {
    let high = u64::MAX - 6;
    {
        let s = fx.open().await?;
        s.commit_ingest(&IngestBatch {
            deltas: vec![delta("rw/avail", 60, 1, 2)],
            trackers: vec![
                tracker("remote_write", 7, 1_000, 10.0),
                tracker("remote_write", high, 1_000, 3.5),
                tracker("remote_write", 7, 2_000, 12.0),
                tracker("otlp_metrics", 7, 500, 1.0),
            ],
            ..Default::default()
        })
        .await?;
        s.commit_ingest(&IngestBatch {
            trackers: vec![tracker("remote_write", high, 3_000, 0.5)],
            ..Default::default()
        })
        .await?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "remote_write tracker samples after upserts and a reopen",
        s.tracker_samples("remote_write").await?,
        vec![
            tracker("remote_write", 7, 2_000, 12.0),
            tracker("remote_write", high, 3_000, 0.5),
        ],
    )?;
    ensure_eq(
        "otlp_metrics tracker samples",
        s.tracker_samples("otlp_metrics").await?,
        vec![tracker("otlp_metrics", 7, 500, 1.0)],
    )?;
    ensure_eq(
        "tracker samples forgotten",
        s.forget_tracker_samples("remote_write", 2_500).await?,
        1,
    )?;
    ensure_eq(
        "remote_write tracker samples after forgetting",
        s.tracker_samples("remote_write").await?,
        vec![tracker("remote_write", high, 3_000, 0.5)],
    )?;
    ensure_eq(
        "other streams are not forgotten",
        s.tracker_samples("otlp_metrics").await?.len(),
        1,
    )?;
    // A big batch (several multi-row statements), with one series twice: the last wins.
    let mut bulk: Vec<TrackerSample> = (0..2_500u64)
        .map(|k| tracker("bulk", k * 7_919, k as i64, k as f64 / 2.0))
        .collect();
    bulk.push(tracker("bulk", 7_919, 99, 42.0));
    s.commit_ingest(&IngestBatch {
        trackers: bulk,
        ..Default::default()
    })
    .await?;
    let stored = s.tracker_samples("bulk").await?;
    ensure_eq("bulk tracker samples", stored.len(), 2_500)?;
    ensure_eq(
        "the later sample of a series in one batch wins",
        stored.get(1).cloned(),
        Some(tracker("bulk", 7_919, 99, 42.0)),
    )?;
    ensure_eq(
        "the last bulk sample",
        stored.last().cloned(),
        Some(tracker("bulk", 2_499 * 7_919, 2_499, 1_249.5)),
    )?;
    let bad = s
        .commit_ingest(&IngestBatch {
            deltas: vec![delta("rw/avail", 120, 1, 1)],
            trackers: vec![tracker("remote_write", 1, 1, f64::NAN)],
            ..Default::default()
        })
        .await;
    ensure(matches!(bad, Err(StoreError::InvalidInput { .. })), || {
        format!("a NaN tracker value must be refused, got {bad:?}")
    })?;
    ensure_eq(
        "a refused batch adds nothing",
        s.counts("rw/avail", 0, 1_000).await?,
        vec![bc(60, 1, 2)],
    )
}

fn request(id: &str, at: i64) -> RequestId {
    RequestId {
        id: id.to_owned(),
        at,
    }
}

/// A batch carrying a request id that was committed before is refused whole (its counters,
/// positions and trackers are not applied), also after a reopen, until the id is pruned.
pub async fn request_ids_refuse_retries(fx: &dyn Fixture) -> Result<(), Failure> {
    let first = IngestBatch {
        deltas: vec![delta("idem/avail", 0, 9, 10)],
        request_ids: vec![request("req-1", 100)],
        ..Default::default()
    };
    {
        let s = fx.open().await?;
        s.commit_ingest(&first).await?;
        s.close().await?;
    }
    let s = fx.open().await?;
    let retry = IngestBatch {
        deltas: vec![delta("idem/avail", 0, 9, 10), delta("idem/other", 0, 1, 1)],
        trackers: vec![tracker("remote_write", 1, 1, 1.0)],
        request_ids: vec![request("req-2", 200), request("req-1", 200)],
        ..Default::default()
    };
    let got = s.commit_ingest(&retry).await;
    ensure(
        matches!(&got, Err(StoreError::DuplicateRequest { id }) if id == "req-1"),
        || format!("a retried request id must be refused as a duplicate, got {got:?}"),
    )?;
    ensure_eq(
        "counters after a refused retry",
        s.counts("idem/avail", 0, 60).await?,
        vec![bc(0, 9, 10)],
    )?;
    ensure_eq(
        "no counters of the refused batch",
        s.counts("idem/other", 0, 60).await?,
        vec![],
    )?;
    ensure_eq(
        "no tracker samples of the refused batch",
        s.tracker_samples("remote_write").await?,
        vec![],
    )?;
    // req-2 was part of the refused batch, so it is not recorded either.
    s.commit_ingest(&IngestBatch {
        deltas: vec![delta("idem/other", 0, 1, 1)],
        request_ids: vec![request("req-2", 200)],
        ..Default::default()
    })
    .await?;
    let twice = IngestBatch {
        request_ids: vec![request("req-3", 300), request("req-3", 300)],
        ..Default::default()
    };
    let got = s.commit_ingest(&twice).await;
    ensure(
        matches!(got, Err(StoreError::DuplicateRequest { .. })),
        || format!("one id twice in a batch must be refused, got {got:?}"),
    )?;
    ensure_eq("ids pruned", s.prune_request_ids(150).await?, 1)?;
    s.commit_ingest(&first).await?;
    ensure_eq(
        "a pruned id counts again",
        s.counts("idem/avail", 0, 60).await?,
        vec![bc(0, 18, 20)],
    )
}

// ---- Notifications: alerts, silences, acknowledgements, group states, the outbox.

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn alert(fingerprint: &str, ends_at: i64, source: AlertSource) -> AlertRecord {
    AlertRecord {
        fingerprint: fingerprint.to_owned(),
        labels: format!(r#"{{"alertname":"{fingerprint}"}}"#),
        annotations: r#"{"summary":"s"}"#.to_owned(),
        starts_at: 100,
        ends_at,
        generator_url: format!("http://prometheus/graph?g={fingerprint}"),
        updated_at: 100,
        source,
    }
}

/// Alerts upsert by fingerprint (every field replaced), `active_at` keeps `ends_at > at` exactly,
/// they survive a reopen, and pruning drops only those that ended before the cut — without an
/// audit record.
pub async fn alerts_upsert_filter_and_prune(fx: &dyn Fixture) -> Result<(), Failure> {
    let mut renewed = alert("b2", 400, AlertSource::Prometheus);
    renewed.annotations = r#"{"summary":"renewed"}"#.to_owned();
    renewed.updated_at = 160;
    {
        let s = fx.open().await?;
        s.upsert_alerts(&[
            alert("b2", 200, AlertSource::Prometheus),
            alert("a1", 300, AlertSource::Nines),
            alert("c3", 150, AlertSource::Prometheus),
        ])
        .await?;
        s.upsert_alerts(std::slice::from_ref(&renewed)).await?;
        let refused = s
            .upsert_alerts(&[
                alert("d4", 500, AlertSource::Prometheus),
                AlertRecord {
                    labels: "not json".to_owned(),
                    ..alert("e5", 500, AlertSource::Prometheus)
                },
            ])
            .await;
        ensure(
            matches!(refused, Err(StoreError::InvalidInput { .. })),
            || format!("labels that are not a JSON object must be refused, got {refused:?}"),
        )?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "every alert after an upsert and a reopen (the refused batch left nothing)",
        s.alerts(None).await?,
        vec![
            alert("a1", 300, AlertSource::Nines),
            renewed.clone(),
            alert("c3", 150, AlertSource::Prometheus),
        ],
    )?;
    let active = |at| {
        let s = s.clone();
        async move {
            Ok::<_, Failure>(
                s.alerts(Some(at))
                    .await?
                    .into_iter()
                    .map(|a| a.fingerprint)
                    .collect::<Vec<_>>(),
            )
        }
    };
    ensure_eq(
        "active at 149",
        active(149).await?,
        strings(&["a1", "b2", "c3"]),
    )?;
    ensure_eq(
        "active at 150 (an alert ending at 150 is over)",
        active(150).await?,
        strings(&["a1", "b2"]),
    )?;
    ensure_eq("active at 400", active(400).await?, Vec::<String>::new())?;
    ensure_eq("alerts pruned before 300", s.prune_alerts(300).await?, 1)?;
    ensure_eq(
        "alerts after pruning",
        s.alerts(None).await?,
        vec![alert("a1", 300, AlertSource::Nines), renewed],
    )?;
    ensure_eq("alert writes are not audited", audit_len(&*s).await?, 0)
}

fn silence(id: &str, ends_at: i64, updated_at: i64) -> SilenceRecord {
    SilenceRecord {
        id: id.to_owned(),
        matchers: r#"[{"name":"service","value":"web","isRegex":false,"isEqual":true}]"#.to_owned(),
        starts_at: 100,
        ends_at,
        created_by: "alice".to_owned(),
        comment: format!("silence {id}"),
        updated_at,
    }
}

/// Silences are created and replaced by id and expired, each with one audit record in the same
/// transaction; an expired silence is kept; expiring an unknown or ended silence records nothing.
pub async fn silences_are_audited_and_kept(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = open_keyed(fx).await?;
        s.save_silences(
            &[silence("s-2", 500, 100)],
            &entry(100, "silence.create", "s-2"),
        )
        .await?;
        // An update with changed matchers: the old one expired and a new one, together.
        s.save_silences(
            &[silence("s-2", 150, 150), silence("s-1", 900, 150)],
            &entry(150, "silence.replace", "s-2"),
        )
        .await?;
        ensure(
            s.expire_silence("s-1", 200, &entry(200, "silence.expire", "s-1"))
                .await?,
            || "expiring an active silence returned false".to_owned(),
        )?;
        ensure(
            !s.expire_silence("s-1", 250, &entry(250, "silence.expire", "s-1"))
                .await?,
            || "expiring an expired silence returned true".to_owned(),
        )?;
        ensure(
            !s.expire_silence("nope", 250, &entry(250, "silence.expire", "nope"))
                .await?,
            || "expiring an unknown silence returned true".to_owned(),
        )?;
        // Refused writes leave nothing: an invalid silence, an invalid audit entry.
        let mut bad_matchers = silence("s-3", 900, 300);
        bad_matchers.matchers = "{}".to_owned();
        ensure(
            s.save_silences(&[bad_matchers], &entry(300, "silence.create", "s-3"))
                .await
                .is_err(),
            || "a silence whose matchers are not a JSON array was stored".to_owned(),
        )?;
        let mut bad = entry(300, "silence.create", "s-3");
        bad.actor.clear();
        ensure(
            s.save_silences(&[silence("s-3", 900, 300)], &bad)
                .await
                .is_err(),
            || "a silence was stored with an invalid audit entry".to_owned(),
        )?;
        s.close().await?;
    }
    let s = open_keyed(fx).await?;
    let mut expired = silence("s-1", 200, 200);
    expired.comment = "silence s-1".to_owned();
    ensure_eq(
        "silences after a reopen",
        s.silences().await?,
        vec![expired, silence("s-2", 150, 150)],
    )?;
    ensure_eq(
        "audit records of the silence writes",
        s.audit_entries(1, 100)
            .await?
            .iter()
            .map(|r| (r.action.clone(), r.target.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("silence.create".to_owned(), "s-2".to_owned()),
            ("silence.replace".to_owned(), "s-2".to_owned()),
            ("silence.expire".to_owned(), "s-1".to_owned()),
        ],
    )?;
    ensure(s.verify_audit(&key(), None).await?.is_clean(), || {
        "the audit chain of silence writes does not verify".to_owned()
    })
}

fn ack(fingerprint: &str, by: &str, at: i64) -> AckRecord {
    AckRecord {
        fingerprint: fingerprint.to_owned(),
        by: by.to_owned(),
        comment: format!("on it ({by})"),
        at,
    }
}

/// Acknowledgements are audited, replace an earlier one of the same alert, survive a reopen, and
/// `clear_acks` drops exactly the listed ones (unaudited).
pub async fn acks_round_trip_and_clear(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = open_keyed(fx).await?;
        s.ack_alert(&ack("f2", "bob", 10), &entry(10, "alert.ack", "f2"))
            .await?;
        s.ack_alert(&ack("f1", "alice", 11), &entry(11, "alert.ack", "f1"))
            .await?;
        s.ack_alert(&ack("f3", "carol", 12), &entry(12, "alert.ack", "f3"))
            .await?;
        s.ack_alert(&ack("f2", "dave", 13), &entry(13, "alert.ack", "f2"))
            .await?;
        let mut bad = entry(14, "alert.ack", "f4");
        bad.actor.clear();
        ensure(
            s.ack_alert(&ack("f4", "eve", 14), &bad).await.is_err(),
            || "an acknowledgement was stored with an invalid audit entry".to_owned(),
        )?;
        ensure(
            s.ack_alert(&ack("f5", "", 15), &entry(15, "alert.ack", "f5"))
                .await
                .is_err(),
            || "an acknowledgement without a responder was stored".to_owned(),
        )?;
        s.close().await?;
    }
    let s = open_keyed(fx).await?;
    ensure_eq(
        "acknowledgements after a re-ack and a reopen",
        s.acks().await?,
        vec![
            ack("f1", "alice", 11),
            ack("f2", "dave", 13),
            ack("f3", "carol", 12),
        ],
    )?;
    ensure_eq(
        "one audit record per acknowledgement",
        audit_len(&*s).await?,
        4,
    )?;
    ensure_eq(
        "acknowledgements cleared",
        s.clear_acks(&["f1".to_owned(), "f3".to_owned(), "unknown".to_owned()])
            .await?,
        2,
    )?;
    ensure_eq(
        "acknowledgements left",
        s.acks().await?,
        vec![ack("f2", "dave", 13)],
    )?;
    ensure_eq("clearing is not audited", audit_len(&*s).await?, 4)
}

fn group(receiver: &str, group_key: &str, n: i64) -> GroupStateRecord {
    GroupStateRecord {
        receiver: receiver.to_owned(),
        group_key: group_key.to_owned(),
        state: format!(r#"{{"phase":"waiting","n":{n}}}"#),
        updated_at: n,
    }
}

/// Group states upsert by (receiver, group key), list sorted, survive a reopen, and pruning drops
/// only stale ones.
pub async fn group_states_upsert_and_persist(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = fx.open().await?;
        s.save_group_states(&[
            group("team-b", "{}:{alertname=\"x\"}", 10),
            group("team-a", "{}:{alertname=\"x\"}", 11),
            group("team-a", "{}:{alertname=\"y\"}", 12),
        ])
        .await?;
        s.save_group_states(&[group("team-b", "{}:{alertname=\"x\"}", 20)])
            .await?;
        ensure(
            s.save_group_states(&[group("team-c", "k", 1), group("", "k", 1)])
                .await
                .is_err(),
            || "a group state without a receiver was stored".to_owned(),
        )?;
        s.close().await?;
    }
    let s = fx.open().await?;
    ensure_eq(
        "group states after an upsert and a reopen",
        s.group_states().await?,
        vec![
            group("team-a", "{}:{alertname=\"x\"}", 11),
            group("team-a", "{}:{alertname=\"y\"}", 12),
            group("team-b", "{}:{alertname=\"x\"}", 20),
        ],
    )?;
    ensure_eq("group states pruned", s.prune_group_states(12).await?, 1)?;
    ensure_eq(
        "group states after pruning",
        s.group_states().await?,
        vec![
            group("team-a", "{}:{alertname=\"y\"}", 12),
            group("team-b", "{}:{alertname=\"x\"}", 20),
        ],
    )
}

fn outbox(id: &str, receiver: &str, created_at: i64, next_attempt_at: i64) -> OutboxRecord {
    OutboxRecord {
        id: id.to_owned(),
        receiver: receiver.to_owned(),
        integration: 1,
        group_key: format!("group-of-{id}"),
        payload: format!(r#"{{"version":"4","id":"{id}"}}"#),
        created_at,
        next_attempt_at,
    }
}

fn pending(record: OutboxRecord, attempts: Vec<AttemptRecord>) -> Notification {
    Notification {
        record,
        status: DeliveryStatus::Pending,
        attempts,
    }
}

fn failed(at: i64, reason: &str, next_attempt_at: i64) -> AttemptRecord {
    AttemptRecord {
        at,
        outcome: AttemptOutcome::Failed {
            reason: reason.to_owned(),
            next_attempt_at,
        },
    }
}

/// An enqueue stores its deliveries and the group states that caused them together: when the
/// group-state write is refused, or one id is already stored, neither is kept.
pub async fn outbox_enqueue_is_atomic(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let bad_state = group("", "k", 1);
    ensure(
        s.enqueue_notifications(&[outbox("n1", "hook", 10, 10)], &[bad_state])
            .await
            .is_err(),
        || "an enqueue whose group state is invalid succeeded".to_owned(),
    )?;
    ensure_eq(
        "deliveries after a refused group state",
        s.notifications(&NotificationFilter::default(), 100)
            .await?
            .len(),
        0,
    )?;
    ensure_eq("group states", s.group_states().await?.len(), 0)?;
    s.enqueue_notifications(&[outbox("n1", "hook", 10, 10)], &[group("hook", "g", 10)])
        .await?;
    let dup = s
        .enqueue_notifications(
            &[outbox("n2", "hook", 20, 20), outbox("n1", "hook", 20, 20)],
            &[group("hook", "g", 20), group("hook", "h", 20)],
        )
        .await;
    ensure(
        matches!(&dup, Err(StoreError::DuplicateNotification { id }) if id == "n1"),
        || format!("enqueueing a stored id must fail as a duplicate, got {dup:?}"),
    )?;
    let twice = s
        .enqueue_notifications(
            &[outbox("n3", "hook", 20, 20), outbox("n3", "hook", 20, 20)],
            &[],
        )
        .await;
    ensure(
        matches!(&twice, Err(StoreError::DuplicateNotification { id }) if id == "n3"),
        || format!("an id twice in one enqueue must fail as a duplicate, got {twice:?}"),
    )?;
    ensure_eq(
        "deliveries after refused enqueues",
        s.notifications(&NotificationFilter::default(), 100).await?,
        vec![pending(outbox("n1", "hook", 10, 10), vec![])],
    )?;
    ensure_eq(
        "group states after refused enqueues",
        s.group_states().await?,
        vec![group("hook", "g", 10)],
    )
}

/// Due deliveries are the pending ones with `next_attempt_at <= now`, in (next_attempt_at, id)
/// order up to the limit; attempts append to the history and move the delivery on; a finished
/// delivery takes no more attempts; after a reopen a pending delivery is due with the same id.
pub async fn outbox_due_attempts_and_reopen(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = fx.open().await?;
        s.enqueue_notifications(
            &[
                outbox("c", "hook", 1, 30),
                outbox("b", "hook", 1, 20),
                outbox("a", "hook", 1, 20),
                outbox("d", "mail", 1, 40),
            ],
            &[],
        )
        .await?;
        let due_ids =
            |v: Vec<Notification>| v.into_iter().map(|n| n.record.id).collect::<Vec<String>>();
        ensure_eq(
            "due at 19",
            due_ids(s.due_notifications(19, 10).await?),
            vec![],
        )?;
        ensure_eq(
            "due at 30",
            due_ids(s.due_notifications(30, 10).await?),
            vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
        )?;
        ensure_eq(
            "due at 30, limit 2",
            due_ids(s.due_notifications(30, 2).await?),
            vec!["a".to_owned(), "b".to_owned()],
        )?;
        ensure(
            s.record_attempt("a", &failed(20, "http 503", 50)).await?,
            || "an attempt on a pending delivery returned false".to_owned(),
        )?;
        ensure(
            s.record_attempt(
                "b",
                &AttemptRecord {
                    at: 21,
                    outcome: AttemptOutcome::Delivered,
                },
            )
            .await?,
            || "an attempt on a pending delivery returned false".to_owned(),
        )?;
        ensure(
            s.record_attempt(
                "c",
                &AttemptRecord {
                    at: 30,
                    outcome: AttemptOutcome::GaveUp {
                        reason: "http 404".to_owned(),
                    },
                },
            )
            .await?,
            || "an attempt on a pending delivery returned false".to_owned(),
        )?;
        ensure(
            !s.record_attempt("b", &failed(31, "late", 60)).await?,
            || "an attempt on a delivered notification returned true".to_owned(),
        )?;
        ensure(
            !s.record_attempt("nope", &failed(31, "x", 60)).await?,
            || "an attempt on an unknown notification returned true".to_owned(),
        )?;
        ensure_eq(
            "due at 45 (a retries at 50; b delivered, c gave up)",
            due_ids(s.due_notifications(45, 10).await?),
            vec!["d".to_owned()],
        )?;
        s.close().await?;
    }
    let s = fx.open().await?;
    let mut a = outbox("a", "hook", 1, 50);
    a.next_attempt_at = 50;
    ensure_eq(
        "due after a reopen: the same ids, payloads and attempts",
        s.due_notifications(100, 10).await?,
        vec![
            pending(outbox("d", "mail", 1, 40), vec![]),
            pending(a.clone(), vec![failed(20, "http 503", 50)]),
        ],
    )?;
    s.record_attempt("a", &failed(50, "timeout", 80)).await?;
    s.record_attempt(
        "a",
        &AttemptRecord {
            at: 80,
            outcome: AttemptOutcome::Delivered,
        },
    )
    .await?;
    let history = s
        .notifications(
            &NotificationFilter {
                receiver: Some("hook".to_owned()),
                status: Some(DeliveryStatus::Delivered),
                ..Default::default()
            },
            10,
        )
        .await?;
    a.next_attempt_at = 80;
    ensure_eq(
        "a delivered notification with every attempt, oldest first",
        history.into_iter().find(|n| n.record.id == "a"),
        Some(Notification {
            record: a,
            status: DeliveryStatus::Delivered,
            attempts: vec![
                failed(20, "http 503", 50),
                failed(50, "timeout", 80),
                AttemptRecord {
                    at: 80,
                    outcome: AttemptOutcome::Delivered,
                },
            ],
        }),
    )
}

/// The history lists deliveries newest first (created_at, then id, descending), filtered by
/// receiver, group, status and creation time, up to the limit.
pub async fn notification_history_filters(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    s.enqueue_notifications(
        &[
            outbox("n1", "hook", 10, 10),
            outbox("n2", "mail", 20, 20),
            outbox("n3", "hook", 30, 30),
            outbox("n4", "hook", 30, 30),
        ],
        &[],
    )
    .await?;
    s.record_attempt(
        "n3",
        &AttemptRecord {
            at: 31,
            outcome: AttemptOutcome::GaveUp {
                reason: "http 400".to_owned(),
            },
        },
    )
    .await?;
    let ids = |filter: NotificationFilter, limit| {
        let s = s.clone();
        async move {
            Ok::<_, Failure>(
                s.notifications(&filter, limit)
                    .await?
                    .into_iter()
                    .map(|n| n.record.id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    ensure_eq(
        "all, newest first",
        ids(NotificationFilter::default(), 10).await?,
        strings(&["n4", "n3", "n2", "n1"]),
    )?;
    ensure_eq(
        "limit 2",
        ids(NotificationFilter::default(), 2).await?,
        strings(&["n4", "n3"]),
    )?;
    ensure_eq(
        "receiver hook",
        ids(
            NotificationFilter {
                receiver: Some("hook".to_owned()),
                ..Default::default()
            },
            10,
        )
        .await?,
        strings(&["n4", "n3", "n1"]),
    )?;
    ensure_eq(
        "gave up",
        ids(
            NotificationFilter {
                status: Some(DeliveryStatus::GaveUp),
                ..Default::default()
            },
            10,
        )
        .await?,
        strings(&["n3"]),
    )?;
    ensure_eq(
        "pending hook since 20",
        ids(
            NotificationFilter {
                receiver: Some("hook".to_owned()),
                status: Some(DeliveryStatus::Pending),
                created_from: Some(20),
                ..Default::default()
            },
            10,
        )
        .await?,
        strings(&["n4"]),
    )?;
    ensure_eq(
        "group of n2",
        ids(
            NotificationFilter {
                group_key: Some("group-of-n2".to_owned()),
                ..Default::default()
            },
            10,
        )
        .await?,
        strings(&["n2"]),
    )
}

/// Pruning drops finished deliveries created before the cut, with their attempts, and never a
/// pending one (it has not been sent yet).
pub async fn notification_pruning_keeps_pending(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    s.enqueue_notifications(
        &[
            outbox("old-done", "hook", 10, 10),
            outbox("old-gave-up", "hook", 10, 10),
            outbox("old-pending", "hook", 10, 10),
            outbox("new-done", "hook", 100, 100),
        ],
        &[],
    )
    .await?;
    for id in ["old-done", "new-done"] {
        s.record_attempt(
            id,
            &AttemptRecord {
                at: 100,
                outcome: AttemptOutcome::Delivered,
            },
        )
        .await?;
    }
    s.record_attempt(
        "old-gave-up",
        &AttemptRecord {
            at: 100,
            outcome: AttemptOutcome::GaveUp {
                reason: "http 410".to_owned(),
            },
        },
    )
    .await?;
    s.record_attempt("old-pending", &failed(100, "http 500", 200))
        .await?;
    ensure_eq("deliveries pruned", s.prune_notifications(100).await?, 2)?;
    ensure_eq(
        "deliveries left",
        s.notifications(&NotificationFilter::default(), 10)
            .await?
            .into_iter()
            .map(|n| (n.record.id, n.attempts.len()))
            .collect::<Vec<_>>(),
        vec![("new-done".to_owned(), 1), ("old-pending".to_owned(), 1)],
    )?;
    ensure_eq(
        "the pending delivery is still due",
        s.due_notifications(200, 10)
            .await?
            .into_iter()
            .map(|n| n.record.id)
            .collect::<Vec<_>>(),
        strings(&["old-pending"]),
    )?;
    // The attempts went with their delivery: an id enqueued again starts with none.
    s.enqueue_notifications(&[outbox("old-done", "hook", 300, 300)], &[])
        .await?;
    ensure_eq(
        "a pruned id enqueued again",
        s.due_notifications(300, 10)
            .await?
            .into_iter()
            .find(|n| n.record.id == "old-done"),
        Some(pending(outbox("old-done", "hook", 300, 300), vec![])),
    )
}

// ---- Incidents, postmortems, the timeline, toil.

/// The error code of `result`, or a failure naming `what` when it succeeded.
#[track_caller]
fn refused<T: fmt::Debug>(
    what: &str,
    result: Result<T, StoreError>,
    code: &str,
) -> Result<(), Failure> {
    let location = Location::caller();
    match result {
        Err(e) if e.code() == code => Ok(()),
        other => Err(Failure::Check {
            location,
            message: format!("{what}: got {other:?}, want an error with code {code}"),
        }),
    }
}

fn incident_doc(title: &str) -> String {
    serde_json::json!({ "title": title, "severity": 2 }).to_string()
}

fn note(at: i64, text: &str) -> TimelineRecord {
    TimelineRecord {
        id: 0,
        incident_id: 0,
        at,
        author: "alice".to_owned(),
        kind: "note".to_owned(),
        text: text.to_owned(),
        pinned: false,
        data: r#"{"source":"conformance"}"#.to_owned(),
    }
}

fn toil_entry(team: &str, at: i64, minutes: i64) -> ToilRecord {
    ToilRecord {
        id: 0,
        team: team.to_owned(),
        category: "production interrupts".to_owned(),
        minutes,
        at,
        description: format!("toil of {team} at {at}"),
        automatable: at % 2 == 0,
        task: if at % 2 == 0 {
            "restart-job".to_owned()
        } else {
            String::new()
        },
        author: "bob".to_owned(),
        source: "manual".to_owned(),
    }
}

fn team(name: &str, weekly_capacity_minutes: i64, updated_at: i64) -> TeamRecord {
    TeamRecord {
        name: name.to_owned(),
        weekly_capacity_minutes,
        updated_at,
    }
}

fn automation(team: &str, task: &str, at: i64) -> AutomationRecord {
    AutomationRecord {
        team: team.to_owned(),
        task: task.to_owned(),
        at,
        note: format!("{task} automated at {at}"),
    }
}

async fn create_incident(
    s: &dyn Store,
    title: &str,
    status: &str,
    at: i64,
) -> Result<i64, Failure> {
    Ok(s.create_doc(
        DocKind::Incident,
        &incident_doc(title),
        status,
        None,
        at,
        &entry(at, "incident.create", "incident/{id}"),
    )
    .await?)
}

async fn audit_targets(s: &dyn Store) -> Result<Vec<(String, String)>, Failure> {
    Ok(s.audit_entries(1, 1000)
        .await?
        .into_iter()
        .map(|r| (r.action, r.target))
        .collect())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Documents are created at version 1 with ids 1, 2, ... per kind, read back whole, listed by id
/// with every filter (the creation range half-open), and the audit target names the new id.
/// Invalid documents are refused and leave nothing.
pub async fn docs_create_get_and_filter(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    ensure_eq(
        "first incident id",
        create_incident(&*s, "a", "investigating", 100).await?,
        1,
    )?;
    ensure_eq(
        "second incident id",
        create_incident(&*s, "b", "resolved", 200).await?,
        2,
    )?;
    ensure_eq(
        "third incident id",
        create_incident(&*s, "c", "investigating", 300).await?,
        3,
    )?;
    let pm = s
        .create_doc(
            DocKind::Postmortem,
            r#"{"summary":"x"}"#,
            "draft",
            Some(2),
            250,
            &entry(250, "postmortem.create", "postmortem/{id}"),
        )
        .await?;
    ensure_eq("first postmortem id (ids are per kind)", pm, 1)?;
    let want_b = DocRecord {
        kind: DocKind::Incident,
        id: 2,
        version: 1,
        doc: incident_doc("b"),
        status: "resolved".to_owned(),
        created_at: 200,
        updated_at: 200,
        parent_id: None,
    };
    ensure_eq(
        "incident 2",
        s.doc(DocKind::Incident, 2).await?,
        Some(want_b.clone()),
    )?;
    ensure_eq(
        "an unknown incident",
        s.doc(DocKind::Incident, 9).await?,
        None,
    )?;
    ensure_eq(
        "postmortem 1",
        s.doc(DocKind::Postmortem, 1).await?,
        Some(DocRecord {
            kind: DocKind::Postmortem,
            id: 1,
            version: 1,
            doc: r#"{"summary":"x"}"#.to_owned(),
            status: "draft".to_owned(),
            created_at: 250,
            updated_at: 250,
            parent_id: Some(2),
        }),
    )?;
    ensure_eq(
        "postmortem 2 (none)",
        s.doc(DocKind::Postmortem, 2).await?,
        None,
    )?;
    let ids = |filter: DocFilter, kind: DocKind| {
        let s = &s;
        async move {
            Ok::<_, Failure>(
                s.docs(kind, &filter)
                    .await?
                    .iter()
                    .map(|d| d.id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    ensure_eq(
        "all incidents",
        ids(DocFilter::default(), DocKind::Incident).await?,
        vec![1, 2, 3],
    )?;
    ensure_eq(
        "incidents by status",
        ids(
            DocFilter {
                status: Some("investigating".to_owned()),
                ..Default::default()
            },
            DocKind::Incident,
        )
        .await?,
        vec![1, 3],
    )?;
    ensure_eq(
        "incidents created in [200, 300)",
        ids(
            DocFilter {
                created_from: Some(200),
                created_to: Some(300),
                ..Default::default()
            },
            DocKind::Incident,
        )
        .await?,
        vec![2],
    )?;
    ensure_eq(
        "incidents created from 101",
        ids(
            DocFilter {
                created_from: Some(101),
                ..Default::default()
            },
            DocKind::Incident,
        )
        .await?,
        vec![2, 3],
    )?;
    ensure_eq(
        "investigating incidents created before 300",
        ids(
            DocFilter {
                status: Some("investigating".to_owned()),
                created_to: Some(300),
                ..Default::default()
            },
            DocKind::Incident,
        )
        .await?,
        vec![1],
    )?;
    ensure_eq(
        "postmortems of incident 2",
        ids(
            DocFilter {
                parent_id: Some(2),
                ..Default::default()
            },
            DocKind::Postmortem,
        )
        .await?,
        vec![1],
    )?;
    ensure_eq(
        "postmortems of incident 1",
        ids(
            DocFilter {
                parent_id: Some(1),
                ..Default::default()
            },
            DocKind::Postmortem,
        )
        .await?,
        vec![],
    )?;
    ensure_eq(
        "all postmortems",
        ids(DocFilter::default(), DocKind::Postmortem).await?,
        vec![1],
    )?;

    // Refused: not an object, not JSON, an empty or too long status, an incident with a parent.
    let create = |doc: &'static str, status: String, parent: Option<i64>| {
        let s = &s;
        async move {
            s.create_doc(
                DocKind::Incident,
                doc,
                &status,
                parent,
                400,
                &entry(400, "incident.create", "incident/{id}"),
            )
            .await
        }
    };
    refused(
        "an array document",
        create("[1]", "open".into(), None).await,
        "store.invalid_input",
    )?;
    refused(
        "a document that is not JSON",
        create("{", "open".into(), None).await,
        "store.invalid_input",
    )?;
    refused(
        "an empty status",
        create("{}", String::new(), None).await,
        "store.invalid_input",
    )?;
    refused(
        "a 65-character status",
        create("{}", "s".repeat(65), None).await,
        "store.invalid_input",
    )?;
    refused(
        "an incident with a parent",
        create("{}", "open".into(), Some(1)).await,
        "store.invalid_input",
    )?;
    create("{}", "s".repeat(64), None).await?;
    ensure_eq(
        "audit records: one per created document, the target naming its id",
        audit_targets(&*s).await?,
        pairs(&[
            ("incident.create", "incident/1"),
            ("incident.create", "incident/2"),
            ("incident.create", "incident/3"),
            ("postmortem.create", "postmortem/1"),
            ("incident.create", "incident/4"),
        ]),
    )?;
    ensure(s.verify_audit(&key(), None).await?.is_clean(), || {
        "the audit chain of document writes does not verify".to_owned()
    })
}

/// An update applies only on the expected version: it writes the document and status, bumps the
/// version and `updated_at` (never `created_at`), with one audit record. A stale version is a
/// conflict naming the current one, a missing document (or the other kind's id) is not found,
/// and neither writes anything: no document change, no timeline entry, no audit record.
pub async fn doc_update_is_compare_and_swap(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    create_incident(&*s, "a", "investigating", 100).await?;
    let update = |expected: i64,
                  title: &'static str,
                  status: &'static str,
                  at: i64,
                  timeline: Vec<TimelineRecord>| {
        let s = &s;
        async move {
            s.update_doc(
                DocKind::Incident,
                1,
                expected,
                &incident_doc(title),
                status,
                at,
                &timeline,
                &entry(at, "incident.update", "incident/1"),
            )
            .await
        }
    };
    ensure_eq(
        "first update",
        update(1, "a2", "identified", 110, vec![]).await?,
        DocUpdate::Updated { version: 2 },
    )?;
    ensure_eq(
        "incident after the update",
        s.doc(DocKind::Incident, 1).await?,
        Some(DocRecord {
            kind: DocKind::Incident,
            id: 1,
            version: 2,
            doc: incident_doc("a2"),
            status: "identified".to_owned(),
            created_at: 100,
            updated_at: 110,
            parent_id: None,
        }),
    )?;
    let audit_before = audit_len(&*s).await?;
    ensure_eq(
        "a stale update",
        update(1, "stale", "resolved", 120, vec![note(120, "stale note")]).await?,
        DocUpdate::Conflict { current_version: 2 },
    )?;
    ensure_eq(
        "a missing incident",
        s.update_doc(
            DocKind::Incident,
            7,
            1,
            "{}",
            "resolved",
            120,
            &[note(120, "lost")],
            &entry(120, "incident.update", "incident/7"),
        )
        .await?,
        DocUpdate::NotFound,
    )?;
    ensure_eq(
        "a postmortem id that only exists as an incident",
        s.update_doc(
            DocKind::Postmortem,
            1,
            1,
            "{}",
            "draft",
            120,
            &[],
            &entry(120, "postmortem.update", "postmortem/1"),
        )
        .await?,
        DocUpdate::NotFound,
    )?;
    ensure_eq(
        "incident after refused updates",
        s.doc(DocKind::Incident, 1)
            .await?
            .map(|d| (d.version, d.status, d.updated_at)),
        Some((2, "identified".to_owned(), 110)),
    )?;
    ensure_eq(
        "timeline after refused updates",
        s.timeline(1).await?,
        vec![],
    )?;
    ensure_eq(
        "timeline of the missing incident",
        s.timeline(7).await?,
        vec![],
    )?;
    ensure_eq(
        "audit records after refused updates",
        audit_len(&*s).await?,
        audit_before,
    )?;
    ensure_eq(
        "an update on the current version",
        update(2, "a3", "resolved", 130, vec![]).await?,
        DocUpdate::Updated { version: 3 },
    )?;
    ensure_eq(
        "the same version again",
        update(2, "a4", "closed", 140, vec![]).await?,
        DocUpdate::Conflict { current_version: 3 },
    )?;
    ensure_eq(
        "audit records of the updates",
        audit_targets(&*s).await?,
        pairs(&[
            ("incident.create", "incident/1"),
            ("incident.update", "incident/1"),
            ("incident.update", "incident/1"),
        ]),
    )
}

/// The timeline entries of an update are written in the update's transaction: an entry that
/// cannot be stored (here the last one, invalid) or an audit entry that cannot be stored keeps
/// neither the document change nor any entry nor an audit record; a postmortem has no timeline.
/// A successful update stores its entries, numbered, under the incident.
pub async fn doc_update_and_timeline_are_atomic(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    create_incident(&*s, "a", "investigating", 100).await?;
    s.create_doc(
        DocKind::Postmortem,
        "{}",
        "draft",
        Some(1),
        100,
        &entry(100, "postmortem.create", "postmortem/{id}"),
    )
    .await?;
    let mut bad_note = note(112, "bad");
    bad_note.data = "{not json".to_owned();
    refused(
        "an update whose last timeline entry is invalid",
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            &incident_doc("a2"),
            "identified",
            110,
            &[note(110, "first"), note(111, "second"), bad_note.clone()],
            &entry(110, "incident.update", "incident/1"),
        )
        .await,
        "store.invalid_input",
    )?;
    let mut bad_audit = entry(110, "incident.update", "incident/1");
    bad_audit.actor.clear();
    ensure(
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            &incident_doc("a2"),
            "identified",
            110,
            &[note(110, "first")],
            &bad_audit,
        )
        .await
        .is_err(),
        || "an update with an invalid audit entry was accepted".to_owned(),
    )?;
    refused(
        "a timeline entry naming another incident",
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            &incident_doc("a2"),
            "identified",
            110,
            &[TimelineRecord {
                incident_id: 2,
                ..note(110, "elsewhere")
            }],
            &entry(110, "incident.update", "incident/1"),
        )
        .await,
        "store.invalid_input",
    )?;
    refused(
        "a postmortem update with timeline entries",
        s.update_doc(
            DocKind::Postmortem,
            1,
            1,
            "{}",
            "in_review",
            110,
            &[note(110, "x")],
            &entry(110, "postmortem.update", "postmortem/1"),
        )
        .await,
        "store.invalid_input",
    )?;
    refused(
        "appending entries whose last one is invalid",
        s.append_timeline(
            1,
            &[note(110, "first"), bad_note],
            &entry(110, "timeline.append", "incident/1"),
        )
        .await,
        "store.invalid_input",
    )?;
    ensure_eq(
        "incident after refused writes",
        s.doc(DocKind::Incident, 1)
            .await?
            .map(|d| (d.version, d.doc)),
        Some((1, incident_doc("a"))),
    )?;
    ensure_eq(
        "postmortem after refused writes",
        s.doc(DocKind::Postmortem, 1).await?.map(|d| d.version),
        Some(1),
    )?;
    ensure_eq(
        "timeline after refused writes",
        s.timeline(1).await?,
        vec![],
    )?;
    ensure_eq(
        "audit records after refused writes",
        audit_len(&*s).await?,
        2,
    )?;

    let status_change = TimelineRecord {
        kind: "status".to_owned(),
        data: r#"{"from":"investigating","to":"identified"}"#.to_owned(),
        incident_id: 1,
        ..note(110, "investigating → identified")
    };
    ensure_eq(
        "an update with timeline entries",
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            &incident_doc("a2"),
            "identified",
            110,
            &[note(110, "first"), status_change.clone()],
            &entry(110, "incident.update", "incident/1"),
        )
        .await?,
        DocUpdate::Updated { version: 2 },
    )?;
    let timeline = s.timeline(1).await?;
    ensure_eq("entries stored", timeline.len(), 2)?;
    ensure(
        timeline[0].id >= 1 && timeline[1].id > timeline[0].id,
        || format!("entry ids are not increasing: {timeline:?}"),
    )?;
    ensure_eq(
        "entries as stored",
        timeline,
        vec![
            TimelineRecord {
                id: timeline_id(&s, 1, 0).await?,
                incident_id: 1,
                ..note(110, "first")
            },
            TimelineRecord {
                id: timeline_id(&s, 1, 1).await?,
                ..status_change
            },
        ],
    )?;
    ensure_eq(
        "audit records: one for the update and its entries",
        audit_targets(&*s).await?,
        pairs(&[
            ("incident.create", "incident/1"),
            ("postmortem.create", "postmortem/1"),
            ("incident.update", "incident/1"),
        ]),
    )
}

async fn timeline_id(s: &Arc<dyn Store>, incident: i64, index: usize) -> Result<i64, Failure> {
    Ok(s.timeline(incident).await?.get(index).map_or(0, |e| e.id))
}

/// An incident has at most one postmortem, and a postmortem's incident must exist; a refused
/// postmortem leaves nothing. Postmortems of other incidents are fine.
pub async fn one_postmortem_per_incident(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    create_incident(&*s, "a", "resolved", 100).await?;
    create_incident(&*s, "b", "resolved", 200).await?;
    let postmortem = |parent: Option<i64>, at: i64| {
        let s = &s;
        async move {
            s.create_doc(
                DocKind::Postmortem,
                r#"{"summary":"s"}"#,
                "draft",
                parent,
                at,
                &entry(at, "postmortem.create", "postmortem/{id}"),
            )
            .await
        }
    };
    ensure_eq(
        "postmortem of incident 1",
        postmortem(Some(1), 300).await?,
        1,
    )?;
    refused(
        "a second postmortem of incident 1",
        postmortem(Some(1), 310).await,
        "store.invalid_input",
    )?;
    refused(
        "a postmortem of an unknown incident",
        postmortem(Some(9), 320).await,
        "store.invalid_input",
    )?;
    ensure_eq(
        "postmortem of incident 2",
        postmortem(Some(2), 330).await?,
        2,
    )?;
    ensure_eq(
        "postmortems with their incidents",
        s.docs(DocKind::Postmortem, &DocFilter::default())
            .await?
            .iter()
            .map(|d| (d.id, d.parent_id, d.created_at))
            .collect::<Vec<_>>(),
        vec![(1, Some(1), 300), (2, Some(2), 330)],
    )?;
    ensure_eq(
        "audit records",
        audit_targets(&*s).await?,
        pairs(&[
            ("incident.create", "incident/1"),
            ("incident.create", "incident/2"),
            ("postmortem.create", "postmortem/1"),
            ("postmortem.create", "postmortem/2"),
        ]),
    )
}

/// The timeline is per incident, oldest first by (at, id) whatever the order of writing; ids
/// are returned in order; pinning finds an entry only under its own incident; appending to an
/// unknown incident is refused; all of it survives a reopen.
pub async fn timeline_order_and_pinning(fx: &dyn Fixture) -> Result<(), Failure> {
    let (first, late) = {
        let s = open_keyed(fx).await?;
        create_incident(&*s, "a", "investigating", 100).await?;
        create_incident(&*s, "b", "investigating", 100).await?;
        let ids = s
            .append_timeline(
                1,
                &[note(130, "third"), note(110, "first"), note(130, "fourth")],
                &entry(140, "timeline.append", "incident/1"),
            )
            .await?;
        ensure_eq("ids returned", ids.len(), 3)?;
        ensure(ids.windows(2).all(|w| w[0] < w[1]), || {
            format!("ids are not increasing in the order given: {ids:?}")
        })?;
        let other = s
            .append_timeline(
                2,
                &[note(120, "of b")],
                &entry(141, "timeline.append", "incident/2"),
            )
            .await?;
        let late = s
            .append_timeline(
                1,
                &[note(120, "second, written late")],
                &entry(142, "timeline.append", "incident/1"),
            )
            .await?;
        ensure_eq(
            "timeline of incident 1, oldest first",
            s.timeline(1)
                .await?
                .iter()
                .map(|e| (e.text.clone(), e.incident_id))
                .collect::<Vec<_>>(),
            vec![
                ("first".to_owned(), 1),
                ("second, written late".to_owned(), 1),
                ("third".to_owned(), 1),
                ("fourth".to_owned(), 1),
            ],
        )?;
        refused(
            "appending to an unknown incident",
            s.append_timeline(
                9,
                &[note(150, "lost")],
                &entry(150, "timeline.append", "incident/9"),
            )
            .await,
            "store.invalid_input",
        )?;
        let audit_before = audit_len(&*s).await?;
        ensure(
            !s.set_timeline_pinned(2, ids[1], true, &entry(150, "timeline.pin", "x"))
                .await?,
            || "an entry of incident 1 was pinned through incident 2".to_owned(),
        )?;
        ensure(
            !s.set_timeline_pinned(1, 999_999, true, &entry(150, "timeline.pin", "x"))
                .await?,
            || "an unknown entry was pinned".to_owned(),
        )?;
        ensure_eq(
            "audit records after refused pins",
            audit_len(&*s).await?,
            audit_before,
        )?;
        ensure(
            s.set_timeline_pinned(1, ids[1], true, &entry(151, "timeline.pin", "incident/1"))
                .await?,
            || "pinning an entry returned false".to_owned(),
        )?;
        ensure(
            s.set_timeline_pinned(2, other[0], true, &entry(152, "timeline.pin", "incident/2"))
                .await?,
            || "pinning an entry of incident 2 returned false".to_owned(),
        )?;
        ensure(
            s.set_timeline_pinned(
                2,
                other[0],
                false,
                &entry(153, "timeline.unpin", "incident/2"),
            )
            .await?,
            || "unpinning an entry returned false".to_owned(),
        )?;
        s.close().await?;
        (ids[1], late[0])
    };
    let s = open_keyed(fx).await?;
    let timeline = s.timeline(1).await?;
    ensure_eq(
        "pins after a reopen",
        timeline
            .iter()
            .map(|e| (e.id, e.pinned))
            .filter(|(_, p)| *p)
            .collect::<Vec<_>>(),
        vec![(first, true)],
    )?;
    ensure_eq(
        "the late entry's id after a reopen",
        timeline.get(1).map(|e| e.id),
        Some(late),
    )?;
    ensure_eq(
        "incident 2's entry after a reopen",
        s.timeline(2)
            .await?
            .iter()
            .map(|e| (e.text.clone(), e.pinned))
            .collect::<Vec<_>>(),
        vec![("of b".to_owned(), false)],
    )?;
    ensure_eq(
        "audit actions",
        s.audit_entries(1, 100)
            .await?
            .iter()
            .map(|r| r.action.clone())
            .collect::<Vec<_>>(),
        strings(&[
            "incident.create",
            "incident.create",
            "timeline.append",
            "timeline.append",
            "timeline.append",
            "timeline.pin",
            "timeline.pin",
            "timeline.unpin",
        ]),
    )
}

/// Toil is listed by (at, id) over a half-open range, of one team or all; entries are stored
/// whole with their new id (named in the audit target); the bounds on minutes, names and source
/// are enforced.
pub async fn toil_range_and_team_filter(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = open_keyed(fx).await?;
    let record = |t: ToilRecord| {
        let s = &s;
        async move {
            s.record_toil(&t, &entry(t.at, "toil.record", "toil/{id}"))
                .await
        }
    };
    let mut ids = Vec::new();
    for t in [
        toil_entry("a", 200, 30),
        toil_entry("b", 100, 15),
        toil_entry("a", 300, 45),
        toil_entry("a", 100, 10080),
        toil_entry("b", 200, 1),
    ] {
        ids.push(record(t).await?);
    }
    ensure(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] >= 1, || {
        format!("toil ids are not increasing: {ids:?}")
    })?;
    let listed = |team: Option<&'static str>, from: i64, to: i64| {
        let s = &s;
        async move {
            Ok::<_, Failure>(
                s.toil(team, from, to)
                    .await?
                    .iter()
                    .map(|t| (t.team.clone(), t.at, t.minutes))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let row = |team: &str, at: i64, minutes: i64| (team.to_owned(), at, minutes);
    ensure_eq(
        "all toil in [100, 300)",
        listed(None, 100, 300).await?,
        vec![
            row("b", 100, 15),
            row("a", 100, 10080),
            row("a", 200, 30),
            row("b", 200, 1),
        ],
    )?;
    ensure_eq(
        "team a in [100, 301)",
        listed(Some("a"), 100, 301).await?,
        vec![row("a", 100, 10080), row("a", 200, 30), row("a", 300, 45)],
    )?;
    ensure_eq(
        "team b in [101, 200)",
        listed(Some("b"), 101, 200).await?,
        vec![],
    )?;
    ensure_eq("an unknown team", listed(Some("c"), 0, 1000).await?, vec![])?;
    ensure_eq("an empty range", listed(None, 300, 300).await?, vec![])?;
    let stored = s.toil(Some("a"), 300, 301).await?;
    ensure_eq(
        "an entry as stored",
        stored,
        vec![ToilRecord {
            id: ids[2],
            ..toil_entry("a", 300, 45)
        }],
    )?;
    let audit_before = audit_len(&*s).await?;
    for (what, t) in [
        ("0 minutes", toil_entry("a", 400, 0)),
        ("10081 minutes", toil_entry("a", 400, 10081)),
        ("negative minutes", toil_entry("a", 400, -5)),
        ("an empty team", toil_entry("", 400, 5)),
        (
            "an empty category",
            ToilRecord {
                category: String::new(),
                ..toil_entry("a", 400, 5)
            },
        ),
        (
            "an empty author",
            ToilRecord {
                author: String::new(),
                ..toil_entry("a", 400, 5)
            },
        ),
        (
            "an unknown source",
            ToilRecord {
                source: "cron".to_owned(),
                ..toil_entry("a", 400, 5)
            },
        ),
        (
            "a description over 64 KiB",
            ToilRecord {
                description: "x".repeat(64 * 1024 + 1),
                ..toil_entry("a", 400, 5)
            },
        ),
    ] {
        refused(what, record(t).await, "store.invalid_input")?;
    }
    ensure_eq(
        "audit records after refused toil",
        audit_len(&*s).await?,
        audit_before,
    )?;
    let page = record(ToilRecord {
        source: "page".to_owned(),
        ..toil_entry("a", 500, 12)
    })
    .await?;
    let targets = audit_targets(&*s).await?;
    let want: Vec<String> = ids
        .iter()
        .chain([&page])
        .map(|id| format!("toil/{id}"))
        .collect();
    ensure_eq(
        "audit targets name the new ids",
        targets.into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
        want,
    )
}

/// Teams are upserted by name and listed by name; automation marks are upserted by (team, task)
/// and listed in that order; invalid ones are refused; both survive a reopen.
pub async fn teams_and_automations_upsert(fx: &dyn Fixture) -> Result<(), Failure> {
    {
        let s = open_keyed(fx).await?;
        s.save_team(&team("sre", 2400, 10), &entry(10, "team.save", "sre"))
            .await?;
        s.save_team(&team("db", 4800, 11), &entry(11, "team.save", "db"))
            .await?;
        s.save_team(&team("sre", 9600, 12), &entry(12, "team.save", "sre"))
            .await?;
        refused(
            "a team without capacity",
            s.save_team(&team("x", 0, 13), &entry(13, "team.save", "x"))
                .await,
            "store.invalid_input",
        )?;
        refused(
            "a team without a name",
            s.save_team(&team("", 60, 13), &entry(13, "team.save", ""))
                .await,
            "store.invalid_input",
        )?;
        s.mark_automation(
            &automation("sre", "restart-job", 20),
            &entry(20, "toil.automate", "sre/restart-job"),
        )
        .await?;
        s.mark_automation(
            &automation("db", "vacuum", 21),
            &entry(21, "toil.automate", "db/vacuum"),
        )
        .await?;
        s.mark_automation(
            &automation("sre", "restart-job", 30),
            &entry(30, "toil.automate", "sre/restart-job"),
        )
        .await?;
        s.mark_automation(
            &automation("sre", "certs", 31),
            &entry(31, "toil.automate", "sre/certs"),
        )
        .await?;
        refused(
            "an automation without a task",
            s.mark_automation(
                &automation("sre", "", 32),
                &entry(32, "toil.automate", "sre/"),
            )
            .await,
            "store.invalid_input",
        )?;
        s.close().await?;
    }
    let s = open_keyed(fx).await?;
    ensure_eq(
        "teams after a reopen",
        s.teams().await?,
        vec![team("db", 4800, 11), team("sre", 9600, 12)],
    )?;
    ensure_eq(
        "automations after a reopen",
        s.automations().await?,
        vec![
            automation("db", "vacuum", 21),
            automation("sre", "certs", 31),
            automation("sre", "restart-job", 30),
        ],
    )?;
    ensure_eq("audit records (7 writes)", audit_len(&*s).await?, 7)?;
    ensure(s.verify_audit(&key(), None).await?.is_clean(), || {
        "the audit chain of team and automation writes does not verify".to_owned()
    })
}

/// Without an audit key no incident, postmortem, timeline, toil, team or automation write is
/// made (the key is checked before anything else, also before looking the target up).
pub async fn incident_writes_need_an_audit_key(fx: &dyn Fixture) -> Result<(), Failure> {
    let s = fx.open().await?;
    let code = "store.no_audit_key";
    refused(
        "creating an incident",
        s.create_doc(
            DocKind::Incident,
            "{}",
            "open",
            None,
            1,
            &entry(1, "incident.create", "incident/{id}"),
        )
        .await,
        code,
    )?;
    refused(
        "creating a postmortem",
        s.create_doc(
            DocKind::Postmortem,
            "{}",
            "draft",
            None,
            1,
            &entry(1, "postmortem.create", "postmortem/{id}"),
        )
        .await,
        code,
    )?;
    refused(
        "updating an incident",
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            "{}",
            "open",
            1,
            &[note(1, "x")],
            &entry(1, "incident.update", "incident/1"),
        )
        .await,
        code,
    )?;
    refused(
        "appending to a timeline",
        s.append_timeline(
            1,
            &[note(1, "x")],
            &entry(1, "timeline.append", "incident/1"),
        )
        .await,
        code,
    )?;
    refused(
        "pinning",
        s.set_timeline_pinned(1, 1, true, &entry(1, "timeline.pin", "incident/1"))
            .await,
        code,
    )?;
    refused(
        "recording toil",
        s.record_toil(
            &toil_entry("a", 1, 5),
            &entry(1, "toil.record", "toil/{id}"),
        )
        .await,
        code,
    )?;
    refused(
        "saving a team",
        s.save_team(&team("a", 60, 1), &entry(1, "team.save", "a"))
            .await,
        code,
    )?;
    refused(
        "marking an automation",
        s.mark_automation(&automation("a", "t", 1), &entry(1, "toil.automate", "a/t"))
            .await,
        code,
    )?;
    ensure_eq(
        "incidents",
        s.docs(DocKind::Incident, &DocFilter::default()).await?,
        vec![],
    )?;
    ensure_eq(
        "postmortems",
        s.docs(DocKind::Postmortem, &DocFilter::default()).await?,
        vec![],
    )?;
    ensure_eq("toil", s.toil(None, i64::MIN, i64::MAX).await?, vec![])?;
    ensure_eq("teams", s.teams().await?, vec![])?;
    ensure_eq("automations", s.automations().await?, vec![])?;
    ensure_eq("audit records", audit_len(&*s).await?, 0)
}

/// Every kind of incident write, once each: one audit record apiece, in order, the chain clean
/// against its checkpoint; and everything written is read back the same after a reopen.
pub async fn incident_writes_are_audited_and_persist(fx: &dyn Fixture) -> Result<(), Failure> {
    let before = {
        let s = open_keyed(fx).await?;
        create_incident(&*s, "a", "investigating", 100).await?;
        s.update_doc(
            DocKind::Incident,
            1,
            1,
            &incident_doc("a2"),
            "resolved",
            110,
            &[note(110, "resolved")],
            &entry(110, "incident.update", "incident/1"),
        )
        .await?;
        let ids = s
            .append_timeline(
                1,
                &[note(120, "later")],
                &entry(120, "timeline.append", "incident/1"),
            )
            .await?;
        s.set_timeline_pinned(1, ids[0], true, &entry(121, "timeline.pin", "incident/1"))
            .await?;
        s.create_doc(
            DocKind::Postmortem,
            r#"{"summary":"s"}"#,
            "draft",
            Some(1),
            130,
            &entry(130, "postmortem.create", "postmortem/{id}"),
        )
        .await?;
        s.update_doc(
            DocKind::Postmortem,
            1,
            1,
            r#"{"summary":"t"}"#,
            "in_review",
            131,
            &[],
            &entry(131, "postmortem.update", "postmortem/1"),
        )
        .await?;
        s.record_toil(
            &toil_entry("sre", 140, 20),
            &entry(140, "toil.record", "toil/{id}"),
        )
        .await?;
        s.save_team(&team("sre", 2400, 150), &entry(150, "team.save", "sre"))
            .await?;
        s.mark_automation(
            &automation("sre", "restart-job", 160),
            &entry(160, "toil.automate", "sre/restart-job"),
        )
        .await?;
        ensure_eq(
            "audit actions",
            s.audit_entries(1, 100)
                .await?
                .iter()
                .map(|r| r.action.clone())
                .collect::<Vec<_>>(),
            strings(&[
                "incident.create",
                "incident.update",
                "timeline.append",
                "timeline.pin",
                "postmortem.create",
                "postmortem.update",
                "toil.record",
                "team.save",
                "toil.automate",
            ]),
        )?;
        let checkpoint = s.audit_checkpoint().await?;
        ensure(
            s.verify_audit(&key(), Some(&checkpoint)).await?.is_clean(),
            || "the audit chain of incident writes does not verify".to_owned(),
        )?;
        let snapshot = (
            s.docs(DocKind::Incident, &DocFilter::default()).await?,
            s.docs(DocKind::Postmortem, &DocFilter::default()).await?,
            s.timeline(1).await?,
            s.toil(None, i64::MIN, i64::MAX).await?,
            s.teams().await?,
            s.automations().await?,
        );
        s.close().await?;
        (snapshot, checkpoint)
    };
    let (snapshot, checkpoint) = before;
    ensure_eq("incidents written", snapshot.0.len(), 1)?;
    ensure_eq("timeline written", snapshot.2.len(), 2)?;
    let s = open_keyed(fx).await?;
    let after = (
        s.docs(DocKind::Incident, &DocFilter::default()).await?,
        s.docs(DocKind::Postmortem, &DocFilter::default()).await?,
        s.timeline(1).await?,
        s.toil(None, i64::MIN, i64::MAX).await?,
        s.teams().await?,
        s.automations().await?,
    );
    ensure_eq("everything after a reopen", after, snapshot)?;
    ensure(
        s.verify_audit(&key(), Some(&checkpoint)).await?.is_clean(),
        || "the audit chain does not verify after a reopen".to_owned(),
    )?;
    // Ids go on from the stored ones after a reopen.
    ensure_eq(
        "next incident id after a reopen",
        create_incident(&*s, "b", "investigating", 200).await?,
        2,
    )
}

/// Responders editing one incident at once from the same version: exactly one update wins, the
/// others conflict and write nothing; the winner's timeline entry is the only one kept.
pub async fn concurrent_doc_updates_one_wins(fx: &dyn Fixture) -> Result<(), Failure> {
    const TASKS: i64 = 8;
    let s = open_keyed(fx).await?;
    create_incident(&*s, "a", "investigating", 100).await?;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = Arc::clone(&s);
        handles.push(tokio::spawn(async move {
            s.update_doc(
                DocKind::Incident,
                1,
                1,
                &incident_doc(&format!("edit {t}")),
                "identified",
                200 + t,
                &[note(200 + t, &format!("edit {t}"))],
                &entry(200 + t, "incident.update", "incident/1"),
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    for (t, h) in handles.into_iter().enumerate() {
        match h.await.map_err(Failure::setup)?? {
            DocUpdate::Updated { version } => {
                ensure_eq("the winner's version", version, 2)?;
                winners.push(t);
            }
            DocUpdate::Conflict { current_version } => {
                ensure_eq("the version a loser sees", current_version, 2)?;
            }
            DocUpdate::NotFound => {
                return Err(Failure::Check {
                    location: Location::caller(),
                    message: "a stored incident was not found".to_owned(),
                })
            }
        }
    }
    ensure_eq("winners", winners.len(), 1)?;
    let winner = format!("edit {}", winners[0]);
    ensure_eq(
        "the stored document is the winner's",
        s.doc(DocKind::Incident, 1)
            .await?
            .map(|d| (d.version, d.doc)),
        Some((2, incident_doc(&winner))),
    )?;
    ensure_eq(
        "the timeline holds the winner's entry only",
        s.timeline(1)
            .await?
            .into_iter()
            .map(|e| e.text)
            .collect::<Vec<_>>(),
        vec![winner],
    )?;
    ensure_eq(
        "audit records (create + one update)",
        audit_len(&*s).await?,
        2,
    )
}
