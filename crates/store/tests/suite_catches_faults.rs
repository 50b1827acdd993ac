//! The conformance suite must be able to fail. A small store written independently of the real backends
//! passes it whole; each fault injected into it must make the check aimed at that fault fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use store::conformance::{self, Failure, Fixture};
use store::{BucketCount, FilePosition, IngestBatch, Store, StoreError, MAX_COUNT, SCHEMA_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    OverwriteInsteadOfAdd,
    InclusiveEnd,
    ReverseOrder,
    PrefixMatch,
    KeepFirstPosition,
    NonAtomic,
    KeepZeroDeltas,
    LostUpdates,
    ForgetOnReopen,
    DropAfter100k,
    OldSchemaVersion,
    SeriesDuplicated,
    StartsWithData,
}

type Counters = BTreeMap<(String, i64), (u64, u64)>;

#[derive(Default)]
struct Data {
    counters: Counters,
    positions: BTreeMap<String, FilePosition>,
}

struct Naive {
    data: Mutex<Data>,
    fault: Fault,
}

impl Naive {
    fn new(fault: Fault) -> Self {
        let mut data = Data::default();
        if fault == Fault::StartsWithData {
            data.counters.insert(("seed/avail".into(), 0), (1, 1));
        }
        Naive {
            data: Mutex::new(data),
            fault,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn validate(batch: &IngestBatch) -> Result<(), StoreError> {
    for d in &batch.deltas {
        let reason = if d.series.is_empty() {
            "empty series"
        } else if d.good > d.total {
            "good > total"
        } else if d.total > MAX_COUNT {
            "too big"
        } else {
            continue;
        };
        return Err(StoreError::InvalidDelta {
            series: d.series.clone(),
            bucket_start: d.bucket_start,
            reason,
        });
    }
    for p in &batch.positions {
        if p.source.is_empty() || p.offset > MAX_COUNT || p.line > MAX_COUNT {
            return Err(StoreError::InvalidPosition {
                file: p.source.clone(),
                reason: "invalid",
            });
        }
    }
    Ok(())
}

/// Applies the deltas in (series, bucket) order onto `counters`, stopping at the first overflow.
fn apply(counters: &mut Counters, batch: &IngestBatch, fault: Fault) -> Result<(), StoreError> {
    let mut sorted: Vec<_> = batch.deltas.iter().collect();
    sorted.sort_by(|a, b| (&a.series, a.bucket_start).cmp(&(&b.series, b.bucket_start)));
    for (i, d) in sorted.into_iter().enumerate() {
        if (d.total == 0 && fault != Fault::KeepZeroDeltas)
            || (fault == Fault::DropAfter100k && i >= 100_000)
        {
            continue;
        }
        let slot = counters
            .entry((d.series.clone(), d.bucket_start))
            .or_insert((0, 0));
        let total = slot.1 + d.total;
        if total > MAX_COUNT {
            return Err(StoreError::CounterOverflow {
                series: d.series.clone(),
                bucket_start: d.bucket_start,
            });
        }
        *slot = if fault == Fault::OverwriteInsteadOfAdd {
            (d.good, d.total)
        } else {
            (slot.0 + d.good, total)
        };
    }
    Ok(())
}

#[async_trait]
impl Store for Naive {
    async fn commit_ingest(&self, batch: &IngestBatch) -> Result<(), StoreError> {
        if self.fault != Fault::NonAtomic {
            validate(batch)?;
        }
        if self.fault == Fault::LostUpdates {
            // Read, let other tasks run, then write back: concurrent increments get lost.
            let mut copy = self.with(|d| d.counters.clone());
            tokio::task::yield_now().await;
            apply(&mut copy, batch, self.fault)?;
            self.with(|d| d.counters = copy);
        } else if self.fault == Fault::NonAtomic {
            // Writes in place as it goes, and checks positions only afterwards.
            self.with(|d| apply(&mut d.counters, batch, self.fault))?;
            validate(batch)?;
        } else {
            // Apply to a copy and swap it in under one lock: all or nothing, and no other
            // commit can interleave between the read and the write.
            self.with(|d| {
                let mut copy = d.counters.clone();
                apply(&mut copy, batch, self.fault)?;
                d.counters = copy;
                Ok::<(), StoreError>(())
            })?;
        }
        self.with(|d| {
            for p in &batch.positions {
                if self.fault == Fault::KeepFirstPosition && d.positions.contains_key(&p.source) {
                    continue;
                }
                d.positions.insert(p.source.clone(), p.clone());
            }
        });
        Ok(())
    }

    async fn counts(
        &self,
        series: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<BucketCount>, StoreError> {
        let mut out: Vec<BucketCount> = self.with(|d| {
            d.counters
                .iter()
                .filter(|((s, b), _)| {
                    let name_ok = if self.fault == Fault::PrefixMatch {
                        s.starts_with(series)
                    } else {
                        s == series
                    };
                    let end_ok = if self.fault == Fault::InclusiveEnd {
                        *b <= to
                    } else {
                        *b < to
                    };
                    name_ok && *b >= from && end_ok
                })
                .map(|((_, b), &(good, total))| BucketCount {
                    bucket_start: *b,
                    good,
                    total,
                })
                .collect()
        });
        if self.fault == Fault::ReverseOrder {
            out.reverse();
        }
        Ok(out)
    }

    async fn position(&self, source: &str) -> Result<Option<FilePosition>, StoreError> {
        Ok(self.with(|d| d.positions.get(source).cloned()))
    }

    async fn series(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> =
            self.with(|d| d.counters.keys().map(|(s, _)| s.clone()).collect());
        if self.fault != Fault::SeriesDuplicated {
            names.dedup();
        }
        Ok(names)
    }

    async fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(if self.fault == Fault::OldSchemaVersion {
            SCHEMA_VERSION - 1
        } else {
            SCHEMA_VERSION
        })
    }

    fn backend(&self) -> &'static str {
        "naive"
    }

    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

struct NaiveFixture {
    store: Arc<Naive>,
}

#[async_trait]
impl Fixture for NaiveFixture {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        if self.store.fault == Fault::ForgetOnReopen {
            return Ok(Arc::new(Naive::new(Fault::None)));
        }
        Ok(self.store.clone())
    }
}

fn fixture_with(fault: Fault) -> NaiveFixture {
    NaiveFixture {
        store: Arc::new(Naive::new(fault)),
    }
}

async fn fixture() -> Result<NaiveFixture, Failure> {
    Ok(fixture_with(Fault::None))
}

// Without faults the naive store passes everything, so each failure below is caused by its fault.
mod fault_free {
    use super::fixture;
    store::conformance_tests!(fixture);
}

macro_rules! must_fail {
    ($name:ident, $fault:expr, $($check:ident),+) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $(
                match conformance::$check(&fixture_with($fault)).await {
                    Err(Failure::Check { .. }) => {}
                    other => panic!(
                        "{} did not catch {:?}: {:?}",
                        stringify!($check),
                        $fault,
                        other.map(|()| "passed")
                    ),
                }
            )+
        }
    };
}

must_fail!(
    overwrite,
    Fault::OverwriteInsteadOfAdd,
    additivity,
    same_bucket_in_one_batch_adds,
    commutativity,
    concurrent_commits,
    reopen_persists
);
must_fail!(
    inclusive_end,
    Fault::InclusiveEnd,
    range_bounds_are_half_open,
    empty_results
);
must_fail!(
    unsorted,
    Fault::ReverseOrder,
    additivity,
    range_bounds_are_half_open,
    reopen_persists
);
must_fail!(prefix_match, Fault::PrefixMatch, range_bounds_are_half_open);
must_fail!(
    stale_position,
    Fault::KeepFirstPosition,
    positions_overwrite
);
must_fail!(
    non_atomic,
    Fault::NonAtomic,
    atomic_counts_and_positions,
    invalid_input_is_rejected_whole
);
must_fail!(zero_deltas, Fault::KeepZeroDeltas, zero_deltas_are_dropped);
must_fail!(lost_updates, Fault::LostUpdates, concurrent_commits);
must_fail!(forgets, Fault::ForgetOnReopen, reopen_persists);
must_fail!(truncates_large_batches, Fault::DropAfter100k, large_batch);
must_fail!(
    old_schema,
    Fault::OldSchemaVersion,
    schema_version_is_current
);
must_fail!(duplicated_series, Fault::SeriesDuplicated, series_listing);
must_fail!(not_empty_when_new, Fault::StartsWithData, empty_results);
