//! The conformance suite must be able to fail. A small store written independently of the real backends
//! passes it whole; each fault injected into it must make the check aimed at that fault fail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use store::conformance::{self, Failure, Fixture, Tamper};
use store::{
    compute_mac, AckRecord, AlertRecord, AlertStateRecord, AttemptOutcome, AttemptRecord,
    AuditEntry, AuditKey, AuditRecord, AuditReport, AutomationRecord, BucketCount, Change,
    ChangeRecord, Checkpoint, DeliveryStatus, DocFilter, DocKind, DocRecord, DocUpdate,
    FilePosition, GroupStateRecord, IngestBatch, Notification, NotificationFilter, OutboxRecord,
    SilenceRecord, Store, StoreError, TeamRecord, TimelineRecord, ToilRecord, TokenRecord,
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
    /// An alert ending exactly at `at` still counts as active.
    AlertsEndInclusive,
    /// Expiring a silence deletes it (no history).
    ExpireDeletesSilence,
    /// Clearing acknowledgements clears all of them.
    ClearAllAcks,
    /// A group state is only written when the group has none yet.
    GroupStateFirstWins,
    /// The outbox writes its deliveries before checking the group states.
    OutboxNotAtomic,
    /// A failed attempt does not move the next attempt time.
    RetryNotRescheduled,
    /// The notification history is oldest first.
    HistoryOldestFirst,
    /// Pruning drops pending deliveries too.
    PruneDropsPending,
    /// A document update ignores the expected version.
    DocVersionIgnored,
    /// A conflicting update still appends its timeline entries and audit record.
    ConflictStillWrites,
    /// An update writes the document and its timeline entries one by one, checking each entry
    /// only when it gets to it.
    TimelineNotAtomic,
    /// Incidents and postmortems share one id sequence.
    DocIdsShared,
    /// An incident may have several postmortems.
    ManyPostmortems,
    /// Pinning finds an entry under any incident.
    PinAnyIncident,
    /// The timeline is listed in the order written.
    TimelineInWriteOrder,
    /// The toil range includes its end.
    ToilInclusiveEnd,
    /// The toil team filter is ignored.
    ToilIgnoresTeam,
    /// A team is only written when it does not exist yet.
    TeamFirstWins,
    /// Marking an automation again adds a second mark.
    AutomationsAppend,
    /// Timeline appends write no audit record.
    TimelineUnaudited,
    /// `{id}` in the audit target is left as it is.
    TargetIdNotNamed,
    /// An update also moves `created_at`.
    UpdateMovesCreatedAt,
    /// An update checks the version, lets other tasks run, then writes.
    RacyDocUpdate,
    /// Retention also drops the bucket at the cut-off.
    PruneInclusiveCutoff,
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
    alerts: Vec<AlertRecord>,
    silences: Vec<SilenceRecord>,
    acks: Vec<AckRecord>,
    group_states: Vec<GroupStateRecord>,
    outbox: Vec<Notification>,
    docs: Vec<DocRecord>,
    timeline: Vec<TimelineRecord>,
    toil: Vec<ToilRecord>,
    teams: Vec<TeamRecord>,
    automations: Vec<AutomationRecord>,
}

fn short_name(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 64
}

fn check_doc(doc: &str, status: &str) -> Result<(), StoreError> {
    if !json_ok(doc, true) || !short_name(status) || doc.len() > 1024 * 1024 {
        return Err(bad("document"));
    }
    Ok(())
}

fn check_entry(incident_id: i64, e: &TimelineRecord) -> Result<(), StoreError> {
    let ok = (e.incident_id == 0 || e.incident_id == incident_id)
        && !e.author.is_empty()
        && short_name(&e.kind)
        && e.text.len() <= 64 * 1024
        && json_ok(&e.data, false);
    if ok {
        Ok(())
    } else {
        Err(bad("timeline entry"))
    }
}

fn check_toil(t: &ToilRecord) -> Result<(), StoreError> {
    let ok = short_name(&t.team)
        && short_name(&t.category)
        && !t.author.is_empty()
        && t.task.chars().count() <= 64
        && (1..=10080).contains(&t.minutes)
        && t.description.len() <= 64 * 1024
        && (t.source == "manual" || t.source == "page");
    if ok {
        Ok(())
    } else {
        Err(bad("toil entry"))
    }
}

fn json_ok(text: &str, object: bool) -> bool {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => !object || v.is_object(),
        Err(_) => false,
    }
}

fn bad(what: &'static str) -> StoreError {
    StoreError::InvalidInput {
        what,
        reason: "invalid",
    }
}

fn check_groups(states: &[GroupStateRecord]) -> Result<(), StoreError> {
    if states
        .iter()
        .any(|g| g.receiver.is_empty() || g.group_key.is_empty() || !json_ok(&g.state, false))
    {
        return Err(bad("group state"));
    }
    Ok(())
}

impl Data {
    fn put_groups(&mut self, states: &[GroupStateRecord], fault: Fault) {
        for g in states {
            match self
                .group_states
                .iter_mut()
                .find(|o| o.receiver == g.receiver && o.group_key == g.group_key)
            {
                Some(_) if fault == Fault::GroupStateFirstWins => {}
                Some(old) => *old = g.clone(),
                None => self.group_states.push(g.clone()),
            }
        }
    }

    fn require_key(&self) -> Result<(), StoreError> {
        match self.key {
            Some(_) => Ok(()),
            None => Err(StoreError::NoAuditKey),
        }
    }

    /// The audit entry with `{id}` in its target replaced (unless the fault leaves it).
    fn named(entry: &AuditEntry, id: i64, fault: Fault) -> AuditEntry {
        let mut e = entry.clone();
        if fault != Fault::TargetIdNotNamed {
            e.target = e.target.replace("{id}", &id.to_string());
        }
        e
    }

    fn push_entries(&mut self, incident_id: i64, entries: &[TimelineRecord]) -> Vec<i64> {
        let mut ids = Vec::new();
        for e in entries {
            let id = self.timeline.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            let mut stored = e.clone();
            stored.id = id;
            stored.incident_id = incident_id;
            self.timeline.push(stored);
            ids.push(id);
        }
        ids
    }

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

    async fn prune_counters(&self, bucket_before: i64) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.counters.len();
            d.counters.retain(|(_, bucket), _| {
                *bucket > bucket_before
                    || (*bucket == bucket_before && self.fault != Fault::PruneInclusiveCutoff)
            });
            (n - d.counters.len()) as u64
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

    async fn upsert_alerts(&self, alerts: &[AlertRecord]) -> Result<(), StoreError> {
        if alerts.iter().any(|a| {
            a.fingerprint.is_empty() || !json_ok(&a.labels, true) || !json_ok(&a.annotations, true)
        }) {
            return Err(bad("alert"));
        }
        self.with(|d| {
            for a in alerts {
                d.alerts.retain(|o| o.fingerprint != a.fingerprint);
                d.alerts.push(a.clone());
            }
        });
        Ok(())
    }

    async fn alerts(&self, active_at: Option<i64>) -> Result<Vec<AlertRecord>, StoreError> {
        let mut out: Vec<AlertRecord> = self.with(|d| {
            d.alerts
                .iter()
                .filter(|a| match active_at {
                    None => true,
                    Some(at) if self.fault == Fault::AlertsEndInclusive => a.ends_at >= at,
                    Some(at) => a.ends_at > at,
                })
                .cloned()
                .collect()
        });
        out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        Ok(out)
    }

    async fn prune_alerts(&self, ended_before: i64) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.alerts.len();
            d.alerts.retain(|a| a.ends_at >= ended_before);
            (n - d.alerts.len()) as u64
        }))
    }

    async fn save_silences(
        &self,
        silences: &[SilenceRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let valid = silences.iter().all(|s| {
            !s.id.is_empty()
                && matches!(
                    serde_json::from_str::<serde_json::Value>(&s.matchers),
                    Ok(serde_json::Value::Array(_))
                )
        });
        if !valid {
            return Err(bad("silence"));
        }
        self.with(|d| {
            d.audit(audit, self.fault)?;
            for s in silences {
                d.silences.retain(|o| o.id != s.id);
                d.silences.push(s.clone());
            }
            Ok(())
        })
    }

    async fn expire_silence(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with(|d| {
            let Some(i) = d.silences.iter().position(|s| s.id == id && s.ends_at > at) else {
                return Ok(false);
            };
            d.audit(audit, self.fault)?;
            if self.fault == Fault::ExpireDeletesSilence {
                d.silences.remove(i);
            } else {
                d.silences[i].ends_at = at;
                d.silences[i].updated_at = at;
            }
            Ok(true)
        })
    }

    async fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        let mut out = self.with(|d| d.silences.clone());
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn ack_alert(&self, ack: &AckRecord, audit: &AuditEntry) -> Result<(), StoreError> {
        if ack.fingerprint.is_empty() || ack.by.is_empty() {
            return Err(bad("acknowledgement"));
        }
        self.with(|d| {
            d.audit(audit, self.fault)?;
            d.acks.retain(|a| a.fingerprint != ack.fingerprint);
            d.acks.push(ack.clone());
            Ok(())
        })
    }

    async fn acks(&self) -> Result<Vec<AckRecord>, StoreError> {
        let mut out = self.with(|d| d.acks.clone());
        out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        Ok(out)
    }

    async fn clear_acks(&self, fingerprints: &[String]) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.acks.len();
            d.acks.retain(|a| {
                self.fault != Fault::ClearAllAcks && !fingerprints.contains(&a.fingerprint)
            });
            (n - d.acks.len()) as u64
        }))
    }

    async fn save_group_states(&self, states: &[GroupStateRecord]) -> Result<(), StoreError> {
        check_groups(states)?;
        self.with(|d| d.put_groups(states, self.fault));
        Ok(())
    }

    async fn group_states(&self) -> Result<Vec<GroupStateRecord>, StoreError> {
        let mut out = self.with(|d| d.group_states.clone());
        out.sort_by(|a, b| (&a.receiver, &a.group_key).cmp(&(&b.receiver, &b.group_key)));
        Ok(out)
    }

    async fn prune_group_states(&self, updated_before: i64) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.group_states.len();
            d.group_states.retain(|g| g.updated_at >= updated_before);
            (n - d.group_states.len()) as u64
        }))
    }

    async fn enqueue_notifications(
        &self,
        records: &[OutboxRecord],
        group_states: &[GroupStateRecord],
    ) -> Result<(), StoreError> {
        if records
            .iter()
            .any(|r| r.id.is_empty() || r.receiver.is_empty())
        {
            return Err(bad("notification"));
        }
        self.with(|d| {
            if self.fault != Fault::OutboxNotAtomic {
                check_groups(group_states)?;
            }
            let mut seen: Vec<&str> = d.outbox.iter().map(|n| n.record.id.as_str()).collect();
            for r in records {
                if seen.contains(&r.id.as_str()) {
                    return Err(StoreError::DuplicateNotification { id: r.id.clone() });
                }
                seen.push(&r.id);
            }
            for r in records {
                d.outbox.push(Notification {
                    record: r.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: Vec::new(),
                });
            }
            check_groups(group_states)?;
            d.put_groups(group_states, self.fault);
            Ok(())
        })
    }

    async fn due_notifications(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out: Vec<Notification> = self.with(|d| {
            d.outbox
                .iter()
                .filter(|n| n.status == DeliveryStatus::Pending && n.record.next_attempt_at <= now)
                .cloned()
                .collect()
        });
        out.sort_by(|a, b| {
            a.record
                .next_attempt_at
                .cmp(&b.record.next_attempt_at)
                .then_with(|| a.record.id.cmp(&b.record.id))
        });
        out.truncate(limit);
        Ok(out)
    }

    async fn record_attempt(&self, id: &str, attempt: &AttemptRecord) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let Some(n) = d
                .outbox
                .iter_mut()
                .find(|n| n.record.id == id && n.status == DeliveryStatus::Pending)
            else {
                return false;
            };
            n.status = match attempt.outcome {
                AttemptOutcome::Delivered => DeliveryStatus::Delivered,
                AttemptOutcome::GaveUp { .. } => DeliveryStatus::GaveUp,
                AttemptOutcome::Failed {
                    next_attempt_at, ..
                } => {
                    if self.fault != Fault::RetryNotRescheduled {
                        n.record.next_attempt_at = next_attempt_at;
                    }
                    DeliveryStatus::Pending
                }
            };
            n.attempts.push(attempt.clone());
            true
        }))
    }

    async fn notifications(
        &self,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out: Vec<Notification> = self.with(|d| {
            d.outbox
                .iter()
                .filter(|n| filter.matches(n))
                .cloned()
                .collect()
        });
        out.sort_by(|a, b| {
            let key = |n: &Notification| (n.record.created_at, n.record.id.clone());
            if self.fault == Fault::HistoryOldestFirst {
                key(a).cmp(&key(b))
            } else {
                key(b).cmp(&key(a))
            }
        });
        out.truncate(limit);
        Ok(out)
    }

    async fn prune_notifications(&self, created_before: i64) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let n = d.outbox.len();
            d.outbox.retain(|x| {
                x.record.created_at >= created_before
                    || (x.status == DeliveryStatus::Pending
                        && self.fault != Fault::PruneDropsPending)
            });
            (n - d.outbox.len()) as u64
        }))
    }

    async fn create_doc(
        &self,
        kind: DocKind,
        doc: &str,
        status: &str,
        parent_id: Option<i64>,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        check_doc(doc, status)?;
        if kind == DocKind::Incident && parent_id.is_some() {
            return Err(bad("incident"));
        }
        self.with(|d| {
            if self.fault != Fault::AuditAfterWrite {
                d.require_key()?;
            }
            if let Some(p) = parent_id {
                let incident = d
                    .docs
                    .iter()
                    .any(|x| x.kind == DocKind::Incident && x.id == p);
                let taken = d
                    .docs
                    .iter()
                    .any(|x| x.kind == DocKind::Postmortem && x.parent_id == Some(p));
                if !incident || (taken && self.fault != Fault::ManyPostmortems) {
                    return Err(bad("postmortem"));
                }
            }
            let id = d
                .docs
                .iter()
                .filter(|x| x.kind == kind || self.fault == Fault::DocIdsShared)
                .map(|x| x.id)
                .max()
                .unwrap_or(0)
                + 1;
            d.docs.push(DocRecord {
                kind,
                id,
                version: 1,
                doc: doc.to_owned(),
                status: status.to_owned(),
                created_at: at,
                updated_at: at,
                parent_id,
            });
            if let Err(e) = d.audit(&Data::named(audit, id, self.fault), self.fault) {
                if self.fault != Fault::AuditAfterWrite {
                    d.docs.pop();
                }
                return Err(e);
            }
            Ok(id)
        })
    }

    async fn doc(&self, kind: DocKind, id: i64) -> Result<Option<DocRecord>, StoreError> {
        Ok(self.with(|d| {
            d.docs
                .iter()
                .find(|x| x.kind == kind && x.id == id)
                .cloned()
        }))
    }

    async fn docs(&self, kind: DocKind, filter: &DocFilter) -> Result<Vec<DocRecord>, StoreError> {
        let mut out: Vec<DocRecord> = self.with(|d| {
            d.docs
                .iter()
                .filter(|x| {
                    x.kind == kind
                        && filter.status.as_ref().is_none_or(|s| *s == x.status)
                        && filter.parent_id.is_none_or(|p| x.parent_id == Some(p))
                        && filter.created_from.is_none_or(|f| x.created_at >= f)
                        && filter.created_to.is_none_or(|t| x.created_at < t)
                })
                .cloned()
                .collect()
        });
        out.sort_by_key(|x| x.id);
        Ok(out)
    }

    async fn update_doc(
        &self,
        kind: DocKind,
        id: i64,
        expected_version: i64,
        doc: &str,
        status: &str,
        at: i64,
        timeline: &[TimelineRecord],
        audit: &AuditEntry,
    ) -> Result<DocUpdate, StoreError> {
        check_doc(doc, status)?;
        if kind == DocKind::Postmortem && !timeline.is_empty() {
            return Err(bad("timeline entry"));
        }
        if self.fault != Fault::TimelineNotAtomic {
            for e in timeline {
                check_entry(id, e)?;
            }
        }
        if self.fault == Fault::RacyDocUpdate {
            let stale = self.with(|d| {
                d.docs
                    .iter()
                    .any(|x| x.kind == kind && x.id == id && x.version != expected_version)
            });
            if stale {
                return Ok(DocUpdate::Conflict {
                    current_version: expected_version + 1,
                });
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.with(|d| {
            d.require_key()?;
            if audit.actor.is_empty() || audit.action.is_empty() {
                return Err(bad("audit entry"));
            }
            let Some(i) = d.docs.iter().position(|x| x.kind == kind && x.id == id) else {
                return Ok(DocUpdate::NotFound);
            };
            let current = d.docs[i].version;
            let checked = !matches!(self.fault, Fault::DocVersionIgnored | Fault::RacyDocUpdate);
            if current != expected_version && checked {
                if self.fault == Fault::ConflictStillWrites {
                    d.push_entries(id, timeline);
                    d.audit(audit, self.fault)?;
                }
                return Ok(DocUpdate::Conflict {
                    current_version: current,
                });
            }
            let version = if self.fault == Fault::RacyDocUpdate {
                expected_version + 1
            } else {
                current + 1
            };
            let x = &mut d.docs[i];
            x.doc = doc.to_owned();
            x.status = status.to_owned();
            x.version = version;
            x.updated_at = at;
            if self.fault == Fault::UpdateMovesCreatedAt {
                x.created_at = at;
            }
            for e in timeline {
                // Checked already, unless the fault checks each entry only now.
                check_entry(id, e)?;
                d.push_entries(id, std::slice::from_ref(e));
            }
            d.audit(audit, self.fault)?;
            Ok(DocUpdate::Updated { version })
        })
    }

    async fn append_timeline(
        &self,
        incident_id: i64,
        entries: &[TimelineRecord],
        audit: &AuditEntry,
    ) -> Result<Vec<i64>, StoreError> {
        for e in entries {
            check_entry(incident_id, e)?;
        }
        self.with(|d| {
            d.require_key()?;
            if !d
                .docs
                .iter()
                .any(|x| x.kind == DocKind::Incident && x.id == incident_id)
            {
                return Err(bad("timeline entry"));
            }
            if self.fault != Fault::TimelineUnaudited {
                d.audit(audit, self.fault)?;
            }
            Ok(d.push_entries(incident_id, entries))
        })
    }

    async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineRecord>, StoreError> {
        let mut out: Vec<TimelineRecord> = self.with(|d| {
            d.timeline
                .iter()
                .filter(|e| e.incident_id == incident_id)
                .cloned()
                .collect()
        });
        if self.fault != Fault::TimelineInWriteOrder {
            out.sort_by_key(|e| (e.at, e.id));
        }
        Ok(out)
    }

    async fn set_timeline_pinned(
        &self,
        incident_id: i64,
        entry_id: i64,
        pinned: bool,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with(|d| {
            d.require_key()?;
            let Some(i) = d.timeline.iter().position(|e| {
                e.id == entry_id
                    && (e.incident_id == incident_id || self.fault == Fault::PinAnyIncident)
            }) else {
                return Ok(false);
            };
            d.audit(audit, self.fault)?;
            d.timeline[i].pinned = pinned;
            Ok(true)
        })
    }

    async fn record_toil(&self, entry: &ToilRecord, audit: &AuditEntry) -> Result<i64, StoreError> {
        check_toil(entry)?;
        self.with(|d| {
            let id = d.toil.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            d.audit(&Data::named(audit, id, self.fault), self.fault)?;
            let mut stored = entry.clone();
            stored.id = id;
            d.toil.push(stored);
            Ok(id)
        })
    }

    async fn toil(
        &self,
        team: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ToilRecord>, StoreError> {
        let mut out: Vec<ToilRecord> = self.with(|d| {
            d.toil
                .iter()
                .filter(|t| {
                    (self.fault == Fault::ToilIgnoresTeam || team.is_none_or(|n| n == t.team))
                        && t.at >= from
                        && (t.at < to || (self.fault == Fault::ToilInclusiveEnd && t.at == to))
                })
                .cloned()
                .collect()
        });
        out.sort_by_key(|t| (t.at, t.id));
        Ok(out)
    }

    async fn save_team(&self, team: &TeamRecord, audit: &AuditEntry) -> Result<(), StoreError> {
        if !short_name(&team.name) || team.weekly_capacity_minutes < 1 {
            return Err(bad("team"));
        }
        self.with(|d| {
            d.audit(audit, self.fault)?;
            match d.teams.iter_mut().find(|t| t.name == team.name) {
                Some(_) if self.fault == Fault::TeamFirstWins => {}
                Some(old) => *old = team.clone(),
                None => d.teams.push(team.clone()),
            }
            Ok(())
        })
    }

    async fn teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
        let mut out = self.with(|d| d.teams.clone());
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn mark_automation(
        &self,
        automation: &AutomationRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        if !short_name(&automation.team)
            || !short_name(&automation.task)
            || automation.note.len() > 64 * 1024
        {
            return Err(bad("automation"));
        }
        self.with(|d| {
            d.audit(audit, self.fault)?;
            if self.fault != Fault::AutomationsAppend {
                d.automations
                    .retain(|a| (&a.team, &a.task) != (&automation.team, &automation.task));
            }
            d.automations.push(automation.clone());
            Ok(())
        })
    }

    async fn automations(&self) -> Result<Vec<AutomationRecord>, StoreError> {
        let mut out = self.with(|d| d.automations.clone());
        out.sort_by(|a, b| (&a.team, &a.task).cmp(&(&b.team, &b.task)));
        Ok(out)
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
must_fail!(
    forgets,
    Fault::ForgetOnReopen,
    reopen_persists,
    outbox_due_attempts_and_reopen,
    timeline_order_and_pinning,
    teams_and_automations_upsert,
    incident_writes_are_audited_and_persist
);
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
    control_write_and_audit_are_atomic,
    incident_writes_need_an_audit_key
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
must_fail!(
    alerts_end_inclusive,
    Fault::AlertsEndInclusive,
    alerts_upsert_filter_and_prune
);
must_fail!(
    expire_deletes_silence,
    Fault::ExpireDeletesSilence,
    silences_are_audited_and_kept
);
must_fail!(
    clear_all_acks,
    Fault::ClearAllAcks,
    acks_round_trip_and_clear
);
must_fail!(
    group_state_first_wins,
    Fault::GroupStateFirstWins,
    group_states_upsert_and_persist
);
must_fail!(
    outbox_not_atomic,
    Fault::OutboxNotAtomic,
    outbox_enqueue_is_atomic
);
must_fail!(
    retry_not_rescheduled,
    Fault::RetryNotRescheduled,
    outbox_due_attempts_and_reopen
);
must_fail!(
    history_oldest_first,
    Fault::HistoryOldestFirst,
    notification_history_filters
);
must_fail!(
    prune_drops_pending,
    Fault::PruneDropsPending,
    notification_pruning_keeps_pending
);
must_fail!(
    doc_version_ignored,
    Fault::DocVersionIgnored,
    doc_update_is_compare_and_swap,
    concurrent_doc_updates_one_wins
);
must_fail!(
    conflict_still_writes,
    Fault::ConflictStillWrites,
    doc_update_is_compare_and_swap
);
must_fail!(
    timeline_not_atomic,
    Fault::TimelineNotAtomic,
    doc_update_and_timeline_are_atomic
);
must_fail!(
    doc_ids_shared,
    Fault::DocIdsShared,
    docs_create_get_and_filter,
    one_postmortem_per_incident
);
must_fail!(
    many_postmortems,
    Fault::ManyPostmortems,
    one_postmortem_per_incident
);
must_fail!(
    pin_any_incident,
    Fault::PinAnyIncident,
    timeline_order_and_pinning
);
must_fail!(
    timeline_in_write_order,
    Fault::TimelineInWriteOrder,
    timeline_order_and_pinning
);
must_fail!(
    toil_inclusive_end,
    Fault::ToilInclusiveEnd,
    toil_range_and_team_filter
);
must_fail!(
    toil_ignores_team,
    Fault::ToilIgnoresTeam,
    toil_range_and_team_filter
);
must_fail!(
    team_first_wins,
    Fault::TeamFirstWins,
    teams_and_automations_upsert
);
must_fail!(
    automations_append,
    Fault::AutomationsAppend,
    teams_and_automations_upsert
);
must_fail!(
    timeline_unaudited,
    Fault::TimelineUnaudited,
    timeline_order_and_pinning,
    incident_writes_are_audited_and_persist
);
must_fail!(
    target_id_not_named,
    Fault::TargetIdNotNamed,
    docs_create_get_and_filter,
    toil_range_and_team_filter
);
must_fail!(
    update_moves_created_at,
    Fault::UpdateMovesCreatedAt,
    doc_update_is_compare_and_swap
);
must_fail!(
    racy_doc_update,
    Fault::RacyDocUpdate,
    concurrent_doc_updates_one_wins
);
must_fail!(
    prune_inclusive_cutoff,
    Fault::PruneInclusiveCutoff,
    prune_counters_keeps_recent_buckets
);
