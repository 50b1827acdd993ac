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
    BucketCount, CounterDelta, FilePosition, IngestBatch, Store, StoreError, MAX_COUNT,
    SCHEMA_VERSION,
};

/// Gives the suite access to one backend instance. Every `open` must reach the same data: the second call
/// is a reopen (for SQLite, the same file), which is how persistence is checked. Each check gets a new,
/// empty fixture.
#[async_trait]
pub trait Fixture: Send + Sync {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError>;
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
            concurrent_commits,
            reopen_persists,
            schema_version_is_current,
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
    })
    .await?;
    for (offset, line, fingerprint) in [(200, 20, "a"), (5, 1, "b")] {
        let p = pos(path, offset, line, fingerprint);
        s.commit_ingest(&IngestBatch {
            deltas: Vec::new(),
            positions: vec![p.clone()],
        })
        .await?;
        ensure_eq("overwritten position", s.position(path).await?, Some(p))?;
    }
    s.commit_ingest(&IngestBatch {
        deltas: Vec::new(),
        positions: vec![pos(path, 70, 7, "c"), pos(path, 30, 3, "d")],
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
