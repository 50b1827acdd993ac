//! Storage for nines.
//!
//! [`Store`] is the one storage interface; the rest of the workspace holds an `Arc<dyn Store>` and never sees
//! SQL. Backends: [`MemoryStore`] (tests) and [`SqliteStore`] (the embedded default). PostgreSQL will be a
//! second SQL backend behind the same trait, checked by the same [`conformance`] suite.
//!
//! Counters are additive: a commit adds to what is stored, so any replica may ingest and commits commute.
//! A batch's counters and file positions are committed together, so a crash can neither double-count nor
//! lose lines when ingestion resumes from the stored positions.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use async_trait::async_trait;

pub mod conformance;
mod error;
mod memory;
mod sqlite;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// The newest schema version this binary knows. Every backend reports it once opened.
pub const SCHEMA_VERSION: u32 = sqlite::LATEST_VERSION;

/// The most events one bucket may count: the range of a SQL `BIGINT`, shared by every backend.
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// Increments of one series' counters in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterDelta {
    /// `"service/slo"`.
    pub series: String,
    /// Start of the bucket, unix seconds.
    pub bucket_start: i64,
    pub good: u64,
    pub total: u64,
}

/// How far a source file has been read. `fingerprint` identifies the file (e.g. a hash of its first line),
/// so a rotated or truncated file is noticed and read again from the start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilePosition {
    /// Canonical path of the file.
    pub source: String,
    /// Bytes consumed.
    pub offset: u64,
    /// Lines consumed.
    pub line: u64,
    pub fingerprint: String,
}

/// What one ingestion flush commits, all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestBatch {
    pub deltas: Vec<CounterDelta>,
    pub positions: Vec<FilePosition>,
}

/// The stored counters of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BucketCount {
    pub bucket_start: i64,
    pub good: u64,
    pub total: u64,
}

/// The storage interface. Object safe: use it as `Arc<dyn Store>`.
///
/// Contract (checked by [`conformance`]):
/// - `commit_ingest` is atomic: every delta and position of the batch is applied, or none is.
/// - Deltas add to stored counts. Deltas for the same bucket within one batch add up too; a delta with
///   `good > total` is rejected; all-zero deltas are dropped (they carry no information). A bucket whose
///   sum would exceed [`MAX_COUNT`] makes the whole commit fail.
/// - A position replaces the stored one for its source (it may move backwards: the file was truncated).
///   Within one batch the last position for a source wins.
/// - The call is durable when it returns (for backends that persist).
#[async_trait]
pub trait Store: Send + Sync {
    /// Adds the batch's deltas and records its positions in one transaction.
    async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError>;

    /// Buckets of `series` with `from <= bucket_start < to`, sorted by `bucket_start`.
    async fn counts(
        &self,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<BucketCount>, StoreError>;

    /// The stored position of `source`, if any.
    async fn position(&self, source: &str) -> Result<Option<FilePosition>, StoreError>;

    /// Every series with at least one stored bucket, sorted.
    async fn series(&self) -> Result<Vec<String>, StoreError>;

    /// The schema version of the underlying storage.
    async fn schema_version(&self) -> Result<u32, StoreError>;

    /// Short backend name for diagnostics, e.g. `"sqlite"`.
    fn backend(&self) -> &'static str;

    /// Releases connections and files. Later calls fail; reopening is the way back.
    async fn close(&self) -> Result<(), StoreError>;
}

/// A batch after validation: deltas summed per bucket (so no bucket appears twice in one statement, which
/// PostgreSQL's `ON CONFLICT` forbids), positions deduplicated (last wins). Shared by all backends so they
/// accept and reject exactly the same input.
#[derive(Debug, Default)]
pub(crate) struct PreparedBatch<'a> {
    /// (series, bucket_start) -> (good, total), each at most [`MAX_COUNT`].
    pub deltas: BTreeMap<(&'a str, i64), (u64, u64)>,
    pub positions: BTreeMap<&'a str, &'a FilePosition>,
}

impl PreparedBatch<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.deltas.is_empty() && self.positions.is_empty()
    }
}

pub(crate) fn prepare(batch: &IngestBatch) -> Result<PreparedBatch<'_>, StoreError> {
    let mut prepared = PreparedBatch::default();
    for d in &batch.deltas {
        let invalid = |reason| StoreError::InvalidDelta {
            series: d.series.clone(),
            bucket_start: d.bucket_start,
            reason,
        };
        if d.series.is_empty() {
            return Err(invalid("the series name is empty"));
        }
        if d.good > d.total {
            return Err(invalid("good is greater than total"));
        }
        if d.total > MAX_COUNT {
            return Err(invalid("total is out of range"));
        }
        if d.total == 0 {
            continue;
        }
        let slot = prepared
            .deltas
            .entry((d.series.as_str(), d.bucket_start))
            .or_insert((0, 0));
        let overflow = || StoreError::CounterOverflow {
            series: d.series.clone(),
            bucket_start: d.bucket_start,
        };
        // good <= total holds for every delta, so checking total covers good too.
        slot.0 += d.good;
        slot.1 = slot
            .1
            .checked_add(d.total)
            .filter(|t| *t <= MAX_COUNT)
            .ok_or_else(overflow)?;
    }
    for p in &batch.positions {
        let invalid = |reason| StoreError::InvalidPosition {
            file: p.source.clone(),
            reason,
        };
        if p.source.is_empty() {
            return Err(invalid("the source path is empty"));
        }
        if p.offset > MAX_COUNT || p.line > MAX_COUNT {
            return Err(invalid("offset or line is out of range"));
        }
        prepared.positions.insert(p.source.as_str(), p);
    }
    Ok(prepared)
}
