//! The conformance suite must be able to fail. A small store written independently of the real backends
//! passes it whole; each fault injected into it must make the check aimed at that fault fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use store::conformance::{self, Failure, Fixture, Tamper};
use store::{
    compute_mac, AlertStateRecord, AuditEntry, AuditKey, AuditRecord, AuditReport, BucketCount,
    Change, ChangeRecord, Checkpoint, FilePosition, IngestBatch, Store, StoreError, TokenRecord,
    TrackerSample, GENESIS_MAC, MAX_COUNT, SCHEMA_VERSION,
};

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
    /// Every record's prev_mac is the genesis value: the chain links nothing.
    UnchainedAudit,
    /// Control writes are applied even when their audit record cannot be written.
    AuditAfterWrite,
    /// Verification trusts the stored MACs instead of recomputing them.
    TrustStoredMacs,
    /// Verification ignores the checkpoint.
    IgnoreCheckpoint,
    /// Revoked tokens are still found by their hash.
    RevokedStillValid,
    /// Token names are not unique.
    DuplicateTokenNames,
    /// The changes range includes its end.
    ChangesInclusiveEnd,
    /// Request ids are not remembered: a retry counts twice.
    IgnoreRequestIds,
    /// A tracker sample is only written when the series has none yet.
    TrackerFirstWins,
}

type Counters = BTreeMap<(String, i64), (u64, u64)>;

#[derive(Default)]
struct Data {
    counters: Counters,
    positions: BTreeMap<String, FilePosition>,
    key: Option<AuditKey>,
    tokens: Vec<TokenRecord>,
    audit: Vec<AuditRecord>,
    changes: Vec<ChangeRecord>,
    alert_states: BTreeMap<(String, String), AlertStateRecord>,
    trackers: BTreeMap<(String, u64), (i64, f64)>,
    request_ids: BTreeMap<String, i64>,
}

impl Data {
    /// Appends the audit record for `entry`, or fails without writing.
    fn audit(&mut self, entry: &AuditEntry, fault: Fault) -> Result<u64, StoreError> {
        let key = self.key.clone().ok_or(StoreError::NoAuditKey)?;
        if entry.actor.is_empty() || entry.action.is_empty() {
            return Err(StoreError::InvalidInput {
                what: "audit entry",
                reason: "empty",
            });
        }
        let seq = self.audit.last().map_or(1, |r| r.seq + 1);
        let prev_mac = match self.audit.last() {
            Some(r) if fault != Fault::UnchainedAudit => r.mac.clone(),
            _ => GENESIS_MAC.to_owned(),
        };
        let mut record = AuditRecord {
            seq,
            at: entry.at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            details: entry.details.to_string(),
            prev_mac,
            mac: String::new(),
        };
        record.mac = compute_mac(&key, &record);
        self.audit.push(record);
        Ok(seq)
    }
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
    if batch
        .trackers
        .iter()
        .any(|t| t.stream.is_empty() || !(t.value >= 0.0 && t.value.is_finite()))
    {
        return Err(StoreError::InvalidInput {
            what: "tracker sample",
            reason: "invalid",
        });
    }
    let mut ids: Vec<&str> = batch.request_ids.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::DuplicateRequest {
            id: w[0].to_owned(),
        });
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
        if self.fault != Fault::IgnoreRequestIds {
            let seen = self.with(|d| {
                batch
                    .request_ids
                    .iter()
                    .find(|r| d.request_ids.contains_key(&r.id))
                    .map(|r| r.id.clone())
            });
            if let Some(id) = seen {
                return Err(StoreError::DuplicateRequest { id });
            }
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
            for t in &batch.trackers {
                let key = (t.stream.clone(), t.series_key);
                if self.fault == Fault::TrackerFirstWins && d.trackers.contains_key(&key) {
                    continue;
                }
                d.trackers.insert(key, (t.timestamp_ms, t.value));
            }
            for r in &batch.request_ids {
                d.request_ids.insert(r.id.clone(), r.at);
            }
        });
        Ok(())
    }

    async fn tracker_samples(&self, stream: &str) -> Result<Vec<TrackerSample>, StoreError> {
        Ok(self.with(|d| {
            d.trackers
                .iter()
                .filter(|((s, _), _)| s == stream)
                .map(|((s, k), &(timestamp_ms, value))| TrackerSample {
                    stream: s.clone(),
                    series_key: *k,
                    timestamp_ms,
                    value,
                })
                .collect()
        }))
    }

    async fn forget_tracker_samples(
        &self,
        stream: &str,
        before_ms: i64,
    ) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.trackers.len();
            d.trackers
                .retain(|(s, _), (t, _)| s != stream || *t >= before_ms);
            (n - d.trackers.len()) as u64
        }))
    }

    async fn prune_request_ids(&self, before: i64) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.request_ids.len();
            d.request_ids.retain(|_, at| *at >= before);
            (n - d.request_ids.len()) as u64
        }))
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

    fn set_audit_key(&self, key: AuditKey) {
        self.with(|d| d.key = Some(key));
    }

    async fn append_audit(&self, audit: &AuditEntry) -> Result<u64, StoreError> {
        self.with(|d| d.audit(audit, self.fault))
    }

    async fn insert_token(
        &self,
        token: &TokenRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.with(|d| {
            if token.name.is_empty() || token.sha256.len() != 64 {
                return Err(StoreError::InvalidInput {
                    what: "token",
                    reason: "invalid",
                });
            }
            let taken = d.tokens.iter().any(|t| {
                (t.name == token.name && self.fault != Fault::DuplicateTokenNames)
                    || t.sha256 == token.sha256
            });
            if taken {
                return Err(StoreError::TokenExists {
                    name: token.name.clone(),
                });
            }
            if self.fault == Fault::AuditAfterWrite {
                d.tokens.push(token.clone());
                d.audit(audit, self.fault)?;
            } else {
                d.audit(audit, self.fault)?;
                d.tokens.push(token.clone());
            }
            Ok(())
        })
    }

    async fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.with(|d| {
            d.tokens
                .iter()
                .find(|t| {
                    t.sha256 == sha256
                        && (t.revoked_at.is_none() || self.fault == Fault::RevokedStillValid)
                })
                .cloned()
        }))
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut tokens = self.with(|d| d.tokens.clone());
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tokens)
    }

    async fn revoke_token(&self, name: &str, audit: &AuditEntry) -> Result<bool, StoreError> {
        self.with(|d| {
            let Some(i) = d
                .tokens
                .iter()
                .position(|t| t.name == name && t.revoked_at.is_none())
            else {
                return Ok(false);
            };
            d.audit(audit, self.fault)?;
            d.tokens[i].revoked_at = Some(audit.at);
            Ok(true)
        })
    }

    async fn record_change(&self, change: &Change, audit: &AuditEntry) -> Result<i64, StoreError> {
        self.with(|d| {
            if change.service.is_empty() {
                return Err(StoreError::InvalidInput {
                    what: "change",
                    reason: "empty service",
                });
            }
            let id = d.changes.len() as i64 + 1;
            let record = ChangeRecord {
                id,
                change: change.clone(),
            };
            if self.fault == Fault::AuditAfterWrite {
                d.changes.push(record);
                d.audit(audit, self.fault)?;
            } else {
                d.audit(audit, self.fault)?;
                d.changes.push(record);
            }
            Ok(id)
        })
    }

    async fn changes(
        &self,
        service: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut out: Vec<ChangeRecord> = self.with(|d| {
            d.changes
                .iter()
                .filter(|c| service.is_none_or(|s| s == c.change.service))
                .filter(|c| {
                    c.change.at >= from
                        && (c.change.at < to
                            || (self.fault == Fault::ChangesInclusiveEnd && c.change.at == to))
                })
                .cloned()
                .collect()
        });
        out.sort_by_key(|c| (c.change.at, c.id));
        Ok(out)
    }

    async fn save_alert_states(
        &self,
        states: &[AlertStateRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.with(|d| {
            if self.fault != Fault::AuditAfterWrite {
                d.audit(audit, self.fault)?;
            }
            for s in states {
                d.alert_states
                    .insert((s.slo.clone(), s.tier.clone()), s.clone());
            }
            if self.fault == Fault::AuditAfterWrite {
                d.audit(audit, self.fault)?;
            }
            Ok(())
        })
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        Ok(self.with(|d| d.alert_states.values().cloned().collect()))
    }

    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.with(|d| {
            d.audit
                .iter()
                .filter(|r| r.seq >= from_seq)
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    async fn verify_audit(
        &self,
        key: &AuditKey,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<AuditReport, StoreError> {
        let records = self.audit_entries(1, usize::MAX).await?;
        let mut verifier = store::Verifier::new(key);
        for r in &records {
            let mut r = r.clone();
            if self.fault == Fault::TrustStoredMacs {
                // Re-sign what is stored: any content passes.
                r.mac = compute_mac(key, &r);
            }
            verifier.push(&r);
            if let (Some(cp), false) = (checkpoint, self.fault == Fault::IgnoreCheckpoint) {
                verifier.check_checkpoint(&r, cp);
            }
        }
        let checkpoint = checkpoint.filter(|_| self.fault != Fault::IgnoreCheckpoint);
        Ok(verifier.finish(checkpoint))
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

    async fn tamper_audit(&self, tamper: Tamper) -> Result<(), Failure> {
        self.store.with(|d| match tamper {
            Tamper::EditDetails { seq, details } => {
                for r in d.audit.iter_mut().filter(|r| r.seq == seq) {
                    r.details = details.clone();
                }
            }
            Tamper::Delete { seq } => d.audit.retain(|r| r.seq != seq),
            Tamper::Swap { a, b } => {
                for r in d.audit.iter_mut() {
                    if r.seq == a {
                        r.seq = b;
                    } else if r.seq == b {
                        r.seq = a;
                    }
                }
                d.audit.sort_by_key(|r| r.seq);
            }
            Tamper::TruncateFrom { from } => d.audit.retain(|r| r.seq < from),
        });
        Ok(())
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
must_fail!(
    retries_count_twice,
    Fault::IgnoreRequestIds,
    request_ids_refuse_retries
);
must_fail!(
    tracker_keeps_first,
    Fault::TrackerFirstWins,
    tracker_samples_upsert_and_persist
);
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
must_fail!(
    unchained_audit,
    Fault::UnchainedAudit,
    audit_chain_verifies_clean
);
must_fail!(
    audit_after_write,
    Fault::AuditAfterWrite,
    control_write_and_audit_are_atomic
);
must_fail!(
    trusts_stored_macs,
    Fault::TrustStoredMacs,
    audit_detects_an_edited_record,
    audit_detects_another_key
);
must_fail!(
    ignores_checkpoint,
    Fault::IgnoreCheckpoint,
    audit_detects_truncation_against_a_checkpoint
);
must_fail!(
    revoked_still_valid,
    Fault::RevokedStillValid,
    revoked_tokens_do_not_authenticate
);
must_fail!(
    duplicate_token_names,
    Fault::DuplicateTokenNames,
    token_names_and_hashes_are_unique
);
must_fail!(
    changes_inclusive_end,
    Fault::ChangesInclusiveEnd,
    changes_range_query
);
