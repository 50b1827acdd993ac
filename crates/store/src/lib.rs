//! Storage for nines.
//!
//! [`Store`] is the one storage interface; the rest of the workspace holds an `Arc<dyn Store>` and never sees
//! SQL. Backends: [`MemoryStore`] (tests), [`SqliteStore`] (the embedded default) and [`PgStore`]
//! (PostgreSQL, shared by several replicas), all checked by the same [`conformance`] suite. [`open`]
//! picks the backend from a location; [`testing::PgCluster`] starts a throw-away PostgreSQL.
//!
//! Counters are additive: a commit adds to what is stored, so any replica may ingest and commits commute.
//! A batch's counters and file positions are committed together, so a crash can neither double-count nor
//! lose lines when ingestion resumes from the stored positions.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use async_trait::async_trait;

mod audit;
pub mod conformance;
mod control;
mod error;
mod incidents;
pub mod leader;
mod memory;
mod migrations;
mod notifications;
mod postgres;
mod sql;
mod sqlite;
pub mod testing;

pub use audit::{
    audit_key, audit_key_path, compute_mac, new_token_secret, token_sha256, AuditEntry, AuditFault,
    AuditKey, AuditRecord, AuditReport, Checkpoint, Verifier, AUDIT_KEY_FILE, AUDIT_KEY_LEN,
    GENESIS_MAC,
};
pub use control::{AlertStateRecord, Change, ChangeRecord, TokenRecord, TokenRole};
pub use error::StoreError;
pub use incidents::{
    AutomationRecord, DocFilter, DocKind, DocRecord, DocUpdate, TeamRecord, TimelineRecord,
    ToilRecord, MAX_DOC_BYTES, MAX_NAME_CHARS, MAX_TEXT_BYTES, MAX_TOIL_MINUTES, TOIL_SOURCES,
};
pub use leader::{LeaderStatus, Leadership, PgLeadership, SingleProcess};
pub use memory::MemoryStore;
pub use migrations::{AppliedMigration, MigrationReport};
pub use notifications::{
    AckRecord, AlertRecord, AlertSource, AttemptOutcome, AttemptRecord, DeliveryStatus,
    GroupStateRecord, Notification, NotificationFilter, OutboxRecord, SilenceRecord,
};
pub use postgres::{redact as redact_location, PgStore};
pub use sqlite::SqliteStore;

/// The newest schema version this binary knows. Every backend reports it once opened.
pub const SCHEMA_VERSION: u32 = migrations::LATEST_VERSION;

/// Whether `location` names a PostgreSQL database (`postgres://` or `postgresql://` URL) rather
/// than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Opens the store at `location`: a `postgres://` / `postgresql://` URL opens [`PgStore`],
/// anything else is the path of a SQLite file ([`SqliteStore`]). The schema is brought up to
/// date; a database from a newer nines is refused ([`StoreError::SchemaTooNew`]).
pub async fn open(location: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(if is_postgres_url(location) {
        std::sync::Arc::new(PgStore::open(location).await?)
    } else {
        std::sync::Arc::new(SqliteStore::open(std::path::Path::new(location)).await?)
    })
}

/// Applies the pending migrations of the store at `location` (as [`open`] would) and reports
/// what was done; for `nines migrate`. Refuses a database from a newer nines.
pub async fn migrate(location: &str) -> Result<MigrationReport, StoreError> {
    if is_postgres_url(location) {
        let (store, report) = PgStore::open_and_migrate(location).await?;
        store.close().await?;
        Ok(report)
    } else {
        let (store, report) = SqliteStore::open_and_migrate(std::path::Path::new(location)).await?;
        store.close().await?;
        Ok(report)
    }
}

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
/// The last accepted sample of one cumulative counter series, so counter increases continue
/// exactly across restarts. `stream` names the tracker (e.g. `remote_write`); `series_key` is
/// the hash of the series' labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSample {
    pub stream: String,
    pub series_key: u64,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A client-chosen request id (e.g. an `Idempotency-Key` header). A batch carrying an id
/// already committed is refused as a whole with [`StoreError::DuplicateRequest`], so a client
/// may retry a request whose answer it never saw without counting it twice. `at` (unix
/// seconds) is when it was first seen, for pruning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub id: String,
    pub at: i64,
}

/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 200;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestBatch {
    pub deltas: Vec<CounterDelta>,
    pub positions: Vec<FilePosition>,
    /// Counter tracker samples committed with the increments they produced (upserted: the last
    /// one per (stream, series_key) wins).
    pub trackers: Vec<TrackerSample>,
    /// Ids of the requests whose increments this batch holds.
    pub request_ids: Vec<RequestId>,
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

    /// Every tracker sample of `stream`, in `series_key` order.
    async fn tracker_samples(&self, stream: &str) -> Result<Vec<TrackerSample>, StoreError>;

    /// Drops tracker samples of `stream` older than `before_ms` (series that stopped
    /// reporting); returns how many.
    async fn forget_tracker_samples(&self, stream: &str, before_ms: i64)
        -> Result<u64, StoreError>;

    /// Forgets request ids first seen before `before` (unix seconds); returns how many. A retry
    /// after that counts again, so keep ids longer than any client retries.
    async fn prune_request_ids(&self, before: i64) -> Result<u64, StoreError>;

    /// Deletes every counter bucket with `bucket_start < bucket_before` (retention); returns how
    /// many buckets. Positions, trackers and request ids are kept (they have their own pruning).
    async fn prune_counters(&self, bucket_before: i64) -> Result<u64, StoreError>;

    /// Every series with at least one stored bucket, sorted.
    async fn series(&self) -> Result<Vec<String>, StoreError>;

    /// The schema version of the underlying storage.
    async fn schema_version(&self) -> Result<u32, StoreError>;

    /// Short backend name for diagnostics, e.g. `"sqlite"`.
    fn backend(&self) -> &'static str;

    /// Releases connections and files. Later calls fail; reopening is the way back.
    async fn close(&self) -> Result<(), StoreError>;

    // ---- Control plane. Every write below appends its audit record in the same transaction: both are
    // stored, or neither is. They fail with `StoreError::NoAuditKey` until a key is set.

    /// Sets the key that MACs new audit records. Until then control-plane writes fail.
    fn set_audit_key(&self, key: AuditKey);

    /// Appends one audit record on its own (for state changes stored elsewhere). Returns its number.
    async fn append_audit(&self, audit: &AuditEntry) -> Result<u64, StoreError>;

    /// Stores a new API token (only its SHA-256). Names and hashes are unique, revoked tokens included:
    /// a duplicate fails with `StoreError::TokenExists` and writes nothing.
    async fn insert_token(&self, token: &TokenRecord, audit: &AuditEntry)
        -> Result<(), StoreError>;

    /// The active (not revoked) token with this SHA-256 hex, if any.
    async fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, sorted by name.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the active token `name` at `audit.at`. Returns false (and records nothing) when there is
    /// no such active token.
    async fn revoke_token(&self, name: &str, audit: &AuditEntry) -> Result<bool, StoreError>;

    /// Records a deployment or other change. Returns its id.
    async fn record_change(&self, change: &Change, audit: &AuditEntry) -> Result<i64, StoreError>;

    /// Changes with `from <= at < to`, of one service or (None) all, sorted by `at` then id.
    async fn changes(
        &self,
        service: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    /// Upserts alert states by (slo, tier).
    async fn save_alert_states(
        &self,
        states: &[AlertStateRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Every stored alert state, sorted by (slo, tier).
    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError>;

    // ---- Notifications (see the `notifications` module for what is audited and why).

    /// Upserts alerts by fingerprint (every field replaced), in one transaction. Not audited:
    /// senders renew every alert each minute.
    async fn upsert_alerts(&self, alerts: &[AlertRecord]) -> Result<(), StoreError>;

    /// Alerts sorted by fingerprint: all of them, or (`Some(at)`) those with `ends_at > at`.
    async fn alerts(&self, active_at: Option<i64>) -> Result<Vec<AlertRecord>, StoreError>;

    /// Deletes alerts that ended before `ended_before` (`ends_at < ended_before`); returns how many.
    async fn prune_alerts(&self, ended_before: i64) -> Result<u64, StoreError>;

    /// Creates or replaces silences by id, audited, in one transaction (an update with changed
    /// matchers saves the expired old silence and the new one together).
    async fn save_silences(
        &self,
        silences: &[SilenceRecord],
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Expires silence `id` at `at` (`ends_at = at`, `updated_at = at`), keeping it. Returns false
    /// (and records nothing) when there is no such silence or it has already ended by `at`.
    async fn expire_silence(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;

    /// Every silence, expired ones included, sorted by id.
    async fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError>;

    /// Acknowledges an alert (replacing an earlier acknowledgement of it), audited.
    async fn ack_alert(&self, ack: &AckRecord, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Every acknowledgement, sorted by fingerprint.
    async fn acks(&self) -> Result<Vec<AckRecord>, StoreError>;

    /// Drops the acknowledgements of these (resolved) alerts; returns how many. Not audited: it
    /// follows from the alerts' resolution.
    async fn clear_acks(&self, fingerprints: &[String]) -> Result<u64, StoreError>;

    /// Upserts group states by (receiver, group key), in one transaction.
    async fn save_group_states(&self, states: &[GroupStateRecord]) -> Result<(), StoreError>;

    /// Every group state, sorted by (receiver, group key).
    async fn group_states(&self) -> Result<Vec<GroupStateRecord>, StoreError>;

    /// Drops group states not updated since `updated_before`; returns how many.
    async fn prune_group_states(&self, updated_before: i64) -> Result<u64, StoreError>;

    /// Writes new deliveries (pending, no attempts) and the group states that caused them in one
    /// transaction: all are stored or none is. An id already stored (or twice in the call) fails
    /// with `StoreError::DuplicateNotification`.
    async fn enqueue_notifications(
        &self,
        records: &[OutboxRecord],
        group_states: &[GroupStateRecord],
    ) -> Result<(), StoreError>;

    /// Up to `limit` pending deliveries with `next_attempt_at <= now`, by (next_attempt_at, id).
    async fn due_notifications(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Appends an attempt to a pending delivery and moves it on (delivered, retry at
    /// `next_attempt_at`, or gave up). Returns false (and records nothing) when no pending delivery
    /// has this id.
    async fn record_attempt(&self, id: &str, attempt: &AttemptRecord) -> Result<bool, StoreError>;

    /// Up to `limit` deliveries matching `filter`, newest first (by created_at, then id, descending),
    /// each with every attempt.
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Deletes finished (delivered or given-up) deliveries created before `created_before`, with
    /// their attempts; returns how many. Pending deliveries are never pruned.
    async fn prune_notifications(&self, created_before: i64) -> Result<u64, StoreError>;

    // ---- Incidents, postmortems and toil (see the `incidents` module). Every write is audited in
    // its own transaction; a refused write (invalid, conflicting, missing) writes nothing, not even
    // its audit record.

    /// Creates an incident or a postmortem at version 1 with `created_at = updated_at = at`, and
    /// returns its id (1, 2, ... per kind). `{id}` in `audit.target` becomes the new id (e.g.
    /// `"incident/{id}"`). An incident has no parent (`InvalidInput` otherwise); a postmortem's
    /// parent must be a stored incident without a postmortem yet (`InvalidInput` otherwise).
    async fn create_doc(
        &self,
        kind: DocKind,
        doc: &str,
        status: &str,
        parent_id: Option<i64>,
        at: i64,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError>;

    /// One document, if stored.
    async fn doc(&self, kind: DocKind, id: i64) -> Result<Option<DocRecord>, StoreError>;

    /// The documents of `kind` matching `filter`, by id ascending.
    async fn docs(&self, kind: DocKind, filter: &DocFilter) -> Result<Vec<DocRecord>, StoreError>;

    /// Compare-and-swap on the version: when the stored version is `expected_version`, writes
    /// `doc` and `status`, adds 1 to the version, sets `updated_at = at`, appends `timeline` (an
    /// incident's entries; `InvalidInput` for a postmortem with entries) and the audit record, all
    /// in one transaction. A stale version gives `Conflict`, a missing document `NotFound`; both
    /// write nothing (no timeline entry, no audit record).
    #[allow(clippy::too_many_arguments)]
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
    ) -> Result<DocUpdate, StoreError>;

    /// Appends entries to an incident's timeline with one audit record; returns their ids, in
    /// order (`id` of the entries is ignored; `incident_id` must be 0 or `incident_id`). An
    /// unknown incident is `InvalidInput` and writes nothing.
    async fn append_timeline(
        &self,
        incident_id: i64,
        entries: &[TimelineRecord],
        audit: &AuditEntry,
    ) -> Result<Vec<i64>, StoreError>;

    /// An incident's timeline, oldest first (by `at`, then id).
    async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineRecord>, StoreError>;

    /// Pins or unpins one timeline entry of an incident. Returns false (and records nothing) when
    /// that incident has no such entry.
    async fn set_timeline_pinned(
        &self,
        incident_id: i64,
        entry_id: i64,
        pinned: bool,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;

    /// Records a toil entry (its `id` is ignored) and returns the id given to it; `{id}` in
    /// `audit.target` becomes that id.
    async fn record_toil(&self, entry: &ToilRecord, audit: &AuditEntry) -> Result<i64, StoreError>;

    /// Toil entries with `from <= at < to`, of one team or (None) all, by `at` then id.
    async fn toil(
        &self,
        team: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ToilRecord>, StoreError>;

    /// Creates or replaces a team by name.
    async fn save_team(&self, team: &TeamRecord, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Every team, by name.
    async fn teams(&self) -> Result<Vec<TeamRecord>, StoreError>;

    /// Creates or replaces the automation mark of (team, task).
    async fn mark_automation(
        &self,
        automation: &AutomationRecord,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Every automation mark, by (team, task).
    async fn automations(&self) -> Result<Vec<AutomationRecord>, StoreError>;

    /// Up to `limit` audit records with `seq >= from_seq`, ascending, exactly as stored.
    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// The newest audit record's number and MAC ([`Checkpoint::empty`] for an empty log).
    async fn audit_checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let mut last = Checkpoint::empty();
        let mut from = 1;
        loop {
            let page = self.audit_entries(from, AUDIT_PAGE).await?;
            let Some(r) = page.last() else {
                return Ok(last);
            };
            last = Checkpoint {
                seq: r.seq,
                mac: r.mac.clone(),
                at: r.at,
            };
            from = r.seq.saturating_add(1);
            if page.len() < AUDIT_PAGE {
                return Ok(last);
            }
        }
    }

    /// Checks the whole chain with `key`, and against `checkpoint` (an earlier
    /// [`audit_checkpoint`](Store::audit_checkpoint) kept elsewhere) to detect truncation. Tampering is
    /// reported in the result, not as an error.
    async fn verify_audit(
        &self,
        key: &AuditKey,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<AuditReport, StoreError> {
        let mut verifier = Verifier::new(key);
        let mut from = 1;
        loop {
            let page = self.audit_entries(from, AUDIT_PAGE).await?;
            for r in &page {
                verifier.push(r);
                if let Some(cp) = checkpoint {
                    verifier.check_checkpoint(r, cp);
                }
            }
            match page.last() {
                Some(r) if page.len() == AUDIT_PAGE && !verifier.failed() => {
                    from = r.seq.saturating_add(1);
                }
                _ => return Ok(verifier.finish(checkpoint)),
            }
        }
    }
}

/// Records read per page when walking the audit log.
const AUDIT_PAGE: usize = 1000;

/// A batch after validation: deltas summed per bucket (so no bucket appears twice in one statement, which
/// PostgreSQL's `ON CONFLICT` forbids), positions deduplicated (last wins). Shared by all backends so they
/// accept and reject exactly the same input.
#[derive(Debug, Default)]
pub(crate) struct PreparedBatch<'a> {
    /// (series, bucket_start) -> (good, total), each at most [`MAX_COUNT`].
    pub deltas: BTreeMap<(&'a str, i64), (u64, u64)>,
    pub positions: BTreeMap<&'a str, &'a FilePosition>,
    pub trackers: BTreeMap<(&'a str, u64), &'a TrackerSample>,
    pub request_ids: BTreeMap<&'a str, i64>,
}

impl PreparedBatch<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.deltas.is_empty()
            && self.positions.is_empty()
            && self.trackers.is_empty()
            && self.request_ids.is_empty()
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
    for t in &batch.trackers {
        if t.stream.is_empty() {
            return Err(StoreError::InvalidInput {
                what: "tracker sample",
                reason: "the stream name is empty",
            });
        }
        if !t.value.is_finite() || t.value < 0.0 {
            return Err(StoreError::InvalidInput {
                what: "tracker sample",
                reason: "the value must be finite and not negative",
            });
        }
        prepared
            .trackers
            .insert((t.stream.as_str(), t.series_key), t);
    }
    for r in &batch.request_ids {
        if r.id.is_empty() || r.id.len() > MAX_REQUEST_ID_LEN {
            return Err(StoreError::InvalidInput {
                what: "request id",
                reason: "it must have 1 to 200 bytes",
            });
        }
        if prepared.request_ids.insert(r.id.as_str(), r.at).is_some() {
            return Err(StoreError::DuplicateRequest { id: r.id.clone() });
        }
    }
    Ok(prepared)
}
