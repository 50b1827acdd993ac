//! An in-memory store for tests: the reference behaviour the SQL backends are compared with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::audit::{prepare_audit, PreparedAudit};
use crate::control::{validate_alert_states, validate_change, validate_sha256, validate_token};
use crate::incidents::{
    validate_automation, validate_doc, validate_parent, validate_team, validate_timeline,
    validate_toil, validate_update_timeline, with_id,
};
use crate::notifications::{
    validate_ack, validate_alerts, validate_group_states, validate_outbox, validate_silences,
};
use crate::{
    prepare, AckRecord, AlertRecord, AlertStateRecord, AttemptOutcome, AttemptRecord, AuditEntry,
    AuditKey, AuditRecord, AutomationRecord, BucketCount, Change, ChangeRecord, DeliveryStatus,
    DocFilter, DocKind, DocRecord, DocUpdate, FilePosition, GroupStateRecord, IngestBatch,
    Notification, NotificationFilter, OutboxRecord, SilenceRecord, Store, StoreError, TeamRecord,
    TimelineRecord, ToilRecord, TokenRecord, TrackerSample, GENESIS_MAC, MAX_COUNT, SCHEMA_VERSION,
};

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<String, BTreeMap<i64, (u64, u64)>>,
    positions: BTreeMap<String, FilePosition>,
    /// (stream, series key) → (timestamp ms, value).
    trackers: BTreeMap<(String, u64), (i64, f64)>,
    /// Request id → first seen (unix seconds).
    request_ids: BTreeMap<String, i64>,
    audit_key: Option<AuditKey>,
    /// By name.
    tokens: BTreeMap<String, TokenRecord>,
    audit: Vec<AuditRecord>,
    changes: Vec<ChangeRecord>,
    alert_states: BTreeMap<(String, String), AlertStateRecord>,
    /// By fingerprint.
    alerts: BTreeMap<String, AlertRecord>,
    /// By id.
    silences: BTreeMap<String, SilenceRecord>,
    /// By fingerprint.
    acks: BTreeMap<String, AckRecord>,
    /// By (receiver, group key).
    group_states: BTreeMap<(String, String), GroupStateRecord>,
    /// By id.
    outbox: BTreeMap<String, Notification>,
    /// By (kind, id).
    docs: BTreeMap<(DocKind, i64), DocRecord>,
    /// By id (unique across incidents).
    timeline: BTreeMap<i64, TimelineRecord>,
    /// By id.
    toil: BTreeMap<i64, ToilRecord>,
    /// By name.
    teams: BTreeMap<String, TeamRecord>,
    /// By (team, task).
    automations: BTreeMap<(String, String), AutomationRecord>,
}

impl Inner {
    fn upsert_group_states(&mut self, states: &[GroupStateRecord]) {
        for g in states {
            self.group_states
                .insert((g.receiver.clone(), g.group_key.clone()), g.clone());
        }
    }
}

impl Inner {
    fn require_key(&self) -> Result<(), StoreError> {
        self.audit_key
            .as_ref()
            .map(|_| ())
            .ok_or(StoreError::NoAuditKey)
    }

    fn incident_exists(&self, id: i64) -> bool {
        self.docs.contains_key(&(DocKind::Incident, id))
    }

    /// Stores timeline entries of `incident_id` (already validated); returns their ids.
    fn push_timeline(&mut self, incident_id: i64, entries: &[TimelineRecord]) -> Vec<i64> {
        let mut ids = Vec::with_capacity(entries.len());
        for e in entries {
            let id = self.timeline.keys().next_back().map_or(1, |last| last + 1);
            let mut stored = e.clone();
            stored.id = id;
            stored.incident_id = incident_id;
            self.timeline.insert(id, stored);
            ids.push(id);
        }
        ids
    }

    /// Seals the next audit record without storing it, so the caller can check everything else first.
    fn next_audit(&self, prepared: &PreparedAudit<'_>) -> Result<AuditRecord, StoreError> {
        let key = self.audit_key.as_ref().ok_or(StoreError::NoAuditKey)?;
        let (seq, prev) = match self.audit.last() {
            Some(r) => (r.seq + 1, r.mac.as_str()),
            None => (1, GENESIS_MAC),
        };
        Ok(prepared.seal(key, seq, prev))
    }
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

    /// Sets the audit key (see [`Store::set_audit_key`]).
    pub fn with_audit_key(self, key: AuditKey) -> Self {
        self.set_audit_key(key);
        self
    }

    /// Test hook: direct access to the stored audit records, to simulate tampering.
    #[doc(hidden)]
    pub fn tamper_audit_log<T>(&self, f: impl FnOnce(&mut Vec<AuditRecord>) -> T) -> T {
        f(&mut self.lock().audit)
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
        if let Some(id) = prepared
            .request_ids
            .keys()
            .find(|id| inner.request_ids.contains_key(**id))
        {
            return Err(StoreError::DuplicateRequest {
                id: (*id).to_owned(),
            });
        }
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
        for ((stream, key), t) in prepared.trackers {
            inner
                .trackers
                .insert((stream.to_owned(), key), (t.timestamp_ms, t.value));
        }
        for (id, at) in prepared.request_ids {
            inner.request_ids.insert(id.to_owned(), at);
        }
        Ok(())
    }

    async fn tracker_samples(&self, stream: &str) -> Result<Vec<TrackerSample>, StoreError> {
        Ok(self
            .lock()
            .trackers
            .iter()
            .filter(|((s, _), _)| s == stream)
            .map(|((s, key), &(timestamp_ms, value))| TrackerSample {
                stream: s.clone(),
                series_key: *key,
                timestamp_ms,
                value,
            })
            .collect())
    }

    async fn forget_tracker_samples(
        &self,
        stream: &str,
        before_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.trackers.len();
        inner
            .trackers
            .retain(|(s, _), (t, _)| s != stream || *t >= before_ms);
        Ok((before - inner.trackers.len()) as u64)
    }

    async fn prune_counters(&self, bucket_before: i64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut pruned = 0;
        for buckets in inner.counters.values_mut() {
            let n = buckets.len();
            buckets.retain(|bucket, _| *bucket >= bucket_before);
            pruned += (n - buckets.len()) as u64;
        }
        // A series without buckets is no longer listed by `series`.
        inner.counters.retain(|_, buckets| !buckets.is_empty());
        Ok(pruned)
    }

    async fn prune_request_ids(&self, before: i64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let n = inner.request_ids.len();
        inner.request_ids.retain(|_, at| *at >= before);
        Ok((n - inner.request_ids.len()) as u64)
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

    fn set_audit_key(&self, key: AuditKey) {
        self.lock().audit_key = Some(key);
    }

    async fn append_audit(&self, audit: &AuditEntry) -> Result<u64, StoreError> {
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        let seq = record.seq;
        inner.audit.push(record);
        Ok(seq)
    }

    async fn insert_token(
        &self,
        token: &TokenRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        validate_token(token)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        if inner.tokens.contains_key(&token.name)
            || inner.tokens.values().any(|t| t.sha256 == token.sha256)
        {
            return Err(StoreError::TokenExists {
                name: token.name.clone(),
            });
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        let mut stored = token.clone();
        stored.revoked_at = None;
        inner.tokens.insert(stored.name.clone(), stored);
        Ok(())
    }

    async fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        if validate_sha256(sha256).is_err() {
            return Ok(None);
        }
        Ok(self
            .lock()
            .tokens
            .values()
            .find(|t| t.sha256 == sha256 && t.is_active())
            .cloned())
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self.lock().tokens.values().cloned().collect())
    }

    async fn revoke_token(&self, name: &str, audit: &AuditEntry) -> Result<bool, StoreError> {
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        if !inner.tokens.get(name).is_some_and(TokenRecord::is_active) {
            return Ok(false);
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        if let Some(t) = inner.tokens.get_mut(name) {
            t.revoked_at = Some(audit.at);
        }
        Ok(true)
    }

    async fn record_change(&self, change: &Change, audit: &AuditEntry) -> Result<i64, StoreError> {
        validate_change(change)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        let id = inner.changes.last().map_or(1, |c| c.id + 1);
        inner.audit.push(record);
        inner.changes.push(ChangeRecord {
            id,
            change: change.clone(),
        });
        Ok(id)
    }

    async fn changes(
        &self,
        service: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut out: Vec<ChangeRecord> = self
            .lock()
            .changes
            .iter()
            .filter(|c| service.is_none_or(|s| c.change.service == s))
            .filter(|c| c.change.at >= from && c.change.at < to)
            .cloned()
            .collect();
        out.sort_by_key(|c| (c.change.at, c.id));
        Ok(out)
    }

    async fn save_alert_states(
        &self,
        states: &[AlertStateRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        validate_alert_states(states)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        for s in states {
            inner
                .alert_states
                .insert((s.slo.clone(), s.tier.clone()), s.clone());
        }
        Ok(())
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        Ok(self.lock().alert_states.values().cloned().collect())
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
        validate_doc(kind, doc, status)?;
        validate_parent(kind, parent_id)?;
        prepare_audit(audit)?;
        let mut inner = self.lock();
        inner.require_key()?;
        if let Some(parent) = parent_id {
            if !inner.incident_exists(parent) {
                return Err(StoreError::InvalidInput {
                    what: "postmortem",
                    reason: "its incident does not exist",
                });
            }
            if inner.docs.values().any(|d| d.parent_id == Some(parent)) {
                return Err(StoreError::InvalidInput {
                    what: "postmortem",
                    reason: "the incident already has a postmortem",
                });
            }
        }
        let id = inner
            .docs
            .range((kind, i64::MIN)..=(kind, i64::MAX))
            .next_back()
            .map_or(1, |((_, last), _)| last + 1);
        let entry = with_id(audit, id);
        let record = inner.next_audit(&prepare_audit(&entry)?)?;
        inner.audit.push(record);
        inner.docs.insert(
            (kind, id),
            DocRecord {
                kind,
                id,
                version: 1,
                doc: doc.to_owned(),
                status: status.to_owned(),
                created_at: at,
                updated_at: at,
                parent_id,
            },
        );
        Ok(id)
    }

    async fn doc(&self, kind: DocKind, id: i64) -> Result<Option<DocRecord>, StoreError> {
        Ok(self.lock().docs.get(&(kind, id)).cloned())
    }

    async fn docs(&self, kind: DocKind, filter: &DocFilter) -> Result<Vec<DocRecord>, StoreError> {
        Ok(self
            .lock()
            .docs
            .range((kind, i64::MIN)..=(kind, i64::MAX))
            .map(|(_, d)| d)
            .filter(|d| filter.matches(d))
            .cloned()
            .collect())
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
        validate_doc(kind, doc, status)?;
        validate_update_timeline(kind, id, timeline)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        inner.require_key()?;
        let Some(current) = inner.docs.get(&(kind, id)).map(|d| d.version) else {
            return Ok(DocUpdate::NotFound);
        };
        if current != expected_version {
            return Ok(DocUpdate::Conflict {
                current_version: current,
            });
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        let version = expected_version + 1;
        if let Some(d) = inner.docs.get_mut(&(kind, id)) {
            d.doc = doc.to_owned();
            d.status = status.to_owned();
            d.version = version;
            d.updated_at = at;
        }
        inner.push_timeline(id, timeline);
        Ok(DocUpdate::Updated { version })
    }

    async fn append_timeline(
        &self,
        incident_id: i64,
        entries: &[TimelineRecord],
        audit: &AuditEntry,
    ) -> Result<Vec<i64>, StoreError> {
        validate_timeline(incident_id, entries)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        inner.require_key()?;
        if !inner.incident_exists(incident_id) {
            return Err(StoreError::InvalidInput {
                what: "timeline entry",
                reason: "the incident does not exist",
            });
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        Ok(inner.push_timeline(incident_id, entries))
    }

    async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineRecord>, StoreError> {
        let mut out: Vec<TimelineRecord> = self
            .lock()
            .timeline
            .values()
            .filter(|e| e.incident_id == incident_id)
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.at, e.id));
        Ok(out)
    }

    async fn set_timeline_pinned(
        &self,
        incident_id: i64,
        entry_id: i64,
        pinned: bool,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        inner.require_key()?;
        if inner
            .timeline
            .get(&entry_id)
            .is_none_or(|e| e.incident_id != incident_id)
        {
            return Ok(false);
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        if let Some(e) = inner.timeline.get_mut(&entry_id) {
            e.pinned = pinned;
        }
        Ok(true)
    }

    async fn record_toil(&self, entry: &ToilRecord, audit: &AuditEntry) -> Result<i64, StoreError> {
        validate_toil(entry)?;
        prepare_audit(audit)?;
        let mut inner = self.lock();
        inner.require_key()?;
        let id = inner.toil.keys().next_back().map_or(1, |last| last + 1);
        let audit = with_id(audit, id);
        let record = inner.next_audit(&prepare_audit(&audit)?)?;
        inner.audit.push(record);
        let mut stored = entry.clone();
        stored.id = id;
        inner.toil.insert(id, stored);
        Ok(id)
    }

    async fn toil(
        &self,
        team: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ToilRecord>, StoreError> {
        let mut out: Vec<ToilRecord> = self
            .lock()
            .toil
            .values()
            .filter(|t| team.is_none_or(|team| t.team == team) && t.at >= from && t.at < to)
            .cloned()
            .collect();
        out.sort_by_key(|t| (t.at, t.id));
        Ok(out)
    }

    async fn save_team(&self, team: &TeamRecord, audit: &AuditEntry) -> Result<(), StoreError> {
        validate_team(team)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        inner.teams.insert(team.name.clone(), team.clone());
        Ok(())
    }

    async fn teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
        Ok(self.lock().teams.values().cloned().collect())
    }

    async fn mark_automation(
        &self,
        automation: &AutomationRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        validate_automation(automation)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        inner.automations.insert(
            (automation.team.clone(), automation.task.clone()),
            automation.clone(),
        );
        Ok(())
    }

    async fn automations(&self) -> Result<Vec<AutomationRecord>, StoreError> {
        Ok(self.lock().automations.values().cloned().collect())
    }

    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|r| r.seq >= from_seq)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn upsert_alerts(&self, alerts: &[AlertRecord]) -> Result<(), StoreError> {
        validate_alerts(alerts)?;
        let mut inner = self.lock();
        for a in alerts {
            inner.alerts.insert(a.fingerprint.clone(), a.clone());
        }
        Ok(())
    }

    async fn alerts(&self, active_at: Option<i64>) -> Result<Vec<AlertRecord>, StoreError> {
        Ok(self
            .lock()
            .alerts
            .values()
            .filter(|a| active_at.is_none_or(|at| a.ends_at > at))
            .cloned()
            .collect())
    }

    async fn prune_alerts(&self, ended_before: i64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let n = inner.alerts.len();
        inner.alerts.retain(|_, a| a.ends_at >= ended_before);
        Ok((n - inner.alerts.len()) as u64)
    }

    async fn save_silences(
        &self,
        silences: &[SilenceRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        validate_silences(silences)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        for s in silences {
            inner.silences.insert(s.id.clone(), s.clone());
        }
        Ok(())
    }

    async fn expire_silence(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        if inner.silences.get(id).is_none_or(|s| s.ends_at <= at) {
            return Ok(false);
        }
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        if let Some(s) = inner.silences.get_mut(id) {
            s.ends_at = at;
            s.updated_at = at;
        }
        Ok(true)
    }

    async fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        Ok(self.lock().silences.values().cloned().collect())
    }

    async fn ack_alert(&self, ack: &AckRecord, audit: &AuditEntry) -> Result<(), StoreError> {
        validate_ack(ack)?;
        let prepared = prepare_audit(audit)?;
        let mut inner = self.lock();
        let record = inner.next_audit(&prepared)?;
        inner.audit.push(record);
        inner.acks.insert(ack.fingerprint.clone(), ack.clone());
        Ok(())
    }

    async fn acks(&self) -> Result<Vec<AckRecord>, StoreError> {
        Ok(self.lock().acks.values().cloned().collect())
    }

    async fn clear_acks(&self, fingerprints: &[String]) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        Ok(fingerprints
            .iter()
            .filter(|f| inner.acks.remove(f.as_str()).is_some())
            .count() as u64)
    }

    async fn save_group_states(&self, states: &[GroupStateRecord]) -> Result<(), StoreError> {
        validate_group_states(states)?;
        self.lock().upsert_group_states(states);
        Ok(())
    }

    async fn group_states(&self) -> Result<Vec<GroupStateRecord>, StoreError> {
        Ok(self.lock().group_states.values().cloned().collect())
    }

    async fn prune_group_states(&self, updated_before: i64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let n = inner.group_states.len();
        inner
            .group_states
            .retain(|_, g| g.updated_at >= updated_before);
        Ok((n - inner.group_states.len()) as u64)
    }

    async fn enqueue_notifications(
        &self,
        records: &[OutboxRecord],
        group_states: &[GroupStateRecord],
    ) -> Result<(), StoreError> {
        validate_outbox(records)?;
        validate_group_states(group_states)?;
        let mut inner = self.lock();
        if let Some(r) = records.iter().find(|r| inner.outbox.contains_key(&r.id)) {
            return Err(StoreError::DuplicateNotification { id: r.id.clone() });
        }
        for r in records {
            inner.outbox.insert(
                r.id.clone(),
                Notification {
                    record: r.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: Vec::new(),
                },
            );
        }
        inner.upsert_group_states(group_states);
        Ok(())
    }

    async fn due_notifications(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut due: Vec<Notification> = self
            .lock()
            .outbox
            .values()
            .filter(|n| n.status == DeliveryStatus::Pending && n.record.next_attempt_at <= now)
            .cloned()
            .collect();
        due.sort_by(|a, b| {
            (a.record.next_attempt_at, &a.record.id).cmp(&(b.record.next_attempt_at, &b.record.id))
        });
        due.truncate(limit);
        Ok(due)
    }

    async fn record_attempt(&self, id: &str, attempt: &AttemptRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(n) = inner
            .outbox
            .get_mut(id)
            .filter(|n| n.status == DeliveryStatus::Pending)
        else {
            return Ok(false);
        };
        n.status = attempt.outcome.status();
        if let AttemptOutcome::Failed {
            next_attempt_at, ..
        } = attempt.outcome
        {
            n.record.next_attempt_at = next_attempt_at;
        }
        n.attempts.push(attempt.clone());
        Ok(true)
    }

    async fn notifications(
        &self,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out: Vec<Notification> = self
            .lock()
            .outbox
            .values()
            .filter(|n| filter.matches(n))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (b.record.created_at, &b.record.id).cmp(&(a.record.created_at, &a.record.id))
        });
        out.truncate(limit);
        Ok(out)
    }

    async fn prune_notifications(&self, created_before: i64) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let n = inner.outbox.len();
        inner.outbox.retain(|_, d| {
            d.status == DeliveryStatus::Pending || d.record.created_at >= created_before
        });
        Ok((n - inner.outbox.len()) as u64)
    }
}
