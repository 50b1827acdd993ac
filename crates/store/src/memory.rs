//! An in-memory store for tests: the reference behaviour the SQL backends are compared with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::{
    prepare, BucketCount, FilePosition, IngestBatch, Store, StoreError, MAX_COUNT, SCHEMA_VERSION,
};

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<String, BTreeMap<i64, (u64, u64)>>,
    positions: BTreeMap<String, FilePosition>,
}

/// Keeps everything in a `BTreeMap` behind a mutex. Clones share the same data, which stands in for
/// "reopening" the store in the conformance suite.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied batch (see commit_ingest), so the data
        // behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError> {
        let prepared = prepare(batch)?;
        if prepared.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        // Check every sum before changing anything, so a failing batch leaves no trace (atomicity).
        let mut sums = Vec::with_capacity(prepared.deltas.len());
        for (&(series, bucket), &(good, total)) in &prepared.deltas {
            let (old_good, old_total) = inner
                .counters
                .get(series)
                .and_then(|buckets| buckets.get(&bucket))
                .copied()
                .unwrap_or((0, 0));
            let new_total = old_total
                .checked_add(total)
                .filter(|t| *t <= MAX_COUNT)
                .ok_or_else(|| StoreError::CounterOverflow {
                    series: series.to_owned(),
                    bucket_start: bucket,
                })?;
            sums.push((series, bucket, old_good + good, new_total));
        }
        for (series, bucket, good, total) in sums {
            inner
                .counters
                .entry(series.to_owned())
                .or_default()
                .insert(bucket, (good, total));
        }
        for (source, position) in prepared.positions {
            inner.positions.insert(source.to_owned(), position.clone());
        }
        Ok(())
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
        let inner = self.lock();
        let Some(buckets) = inner.counters.get(series) else {
            return Ok(Vec::new());
        };
        Ok(buckets
            .range(from..to)
            .map(|(&bucket_start, &(good, total))| BucketCount {
                bucket_start,
                good,
                total,
            })
            .collect())
    }

    async fn position(&self, source: &str) -> Result<Option<FilePosition>, StoreError> {
        Ok(self.lock().positions.get(source).cloned())
    }

    async fn series(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .counters
            .iter()
            .filter(|(_, buckets)| !buckets.is_empty())
            .map(|(name, _)| name.clone())
            .collect())
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(SCHEMA_VERSION)
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
