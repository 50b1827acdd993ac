//! Notification records: alerts, silences, acknowledgements, aggregation-group states and the
//! delivery outbox.
//!
//! The store knows none of the `notify` crate's types: where the shape belongs to notify (labels,
//! matchers, a group's state) it is kept as JSON text, checked only to be well-formed. Validation is
//! shared by every backend so they accept and refuse the same input.
//!
//! Auditing: silences and acknowledgements are human decisions and are audited in the same
//! transaction as the write. Alert upserts (Prometheus re-sends every alert each minute), group
//! states, the outbox and delivery attempts are machine traffic: durable, but not audited — the
//! outbox with its attempts is itself the history of what was sent.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertSource {
    /// `POST /api/v2/alerts` (Prometheus or any Alertmanager client).
    Prometheus,
    /// nines' own SLO evaluator.
    Nines,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Prometheus => "prometheus",
            AlertSource::Nines => "nines",
        }
    }
}

impl fmt::Display for AlertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prometheus" => Ok(AlertSource::Prometheus),
            "nines" => Ok(AlertSource::Nines),
            _ => Err(format!(
                "unknown alert source {s:?}: expected prometheus or nines"
            )),
        }
    }
}

/// One alert, keyed by its fingerprint. An upsert replaces every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Alertmanager's fingerprint of the labels (16 hex digits), not empty.
    pub fingerprint: String,
    /// The labels as a JSON object.
    pub labels: String,
    /// The annotations as a JSON object.
    pub annotations: String,
    /// Unix seconds.
    pub starts_at: i64,
    /// Unix seconds; the alert is active while `ends_at > now` (a lease the sender renews).
    pub ends_at: i64,
    pub generator_url: String,
    pub updated_at: i64,
    pub source: AlertSource,
}

/// A silence. Ids are chosen by the caller (uuid-like). An expired silence stays stored (history);
/// expiring sets `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRecord {
    pub id: String,
    /// The matchers as a JSON array (API v2 form).
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at: i64,
}

/// An acknowledgement of one alert: it stops repeating but still sends its resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRecord {
    pub fingerprint: String,
    /// Who acknowledged (the responder).
    pub by: String,
    pub comment: String,
    pub at: i64,
}

/// The state of one aggregation group at one receiver, as notify's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStateRecord {
    pub receiver: String,
    pub group_key: String,
    /// A JSON value.
    pub state: String,
    pub updated_at: i64,
}

/// One delivery to write: a message for one integration of one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The `webhook-id`: unique, kept across retries and restarts so receivers can drop duplicates.
    pub id: String,
    pub receiver: String,
    /// Index of the integration in the receiver's config (e.g. its second `webhook_configs` entry).
    pub integration: u32,
    pub group_key: String,
    /// The rendered message body.
    pub payload: String,
    pub created_at: i64,
    /// When the next attempt is due (the first one when enqueued; later, the retry time).
    pub next_attempt_at: i64,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Waiting for (another) attempt.
    Pending,
    Delivered,
    /// Retries exhausted or a permanent refusal.
    GaveUp,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::GaveUp => "gave_up",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "gave_up" => Ok(DeliveryStatus::GaveUp),
            _ => Err(format!("unknown delivery status {s:?}")),
        }
    }
}

/// What one delivery attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at `next_attempt_at`.
    Failed {
        reason: String,
        next_attempt_at: i64,
    },
    /// No more attempts.
    GaveUp {
        reason: String,
    },
}

impl AttemptOutcome {
    /// The delivery's status after this outcome.
    pub fn status(&self) -> DeliveryStatus {
        match self {
            AttemptOutcome::Delivered => DeliveryStatus::Delivered,
            AttemptOutcome::Failed { .. } => DeliveryStatus::Pending,
            AttemptOutcome::GaveUp { .. } => DeliveryStatus::GaveUp,
        }
    }

    pub(crate) fn reason(&self) -> &str {
        match self {
            AttemptOutcome::Delivered => "",
            AttemptOutcome::Failed { reason, .. } | AttemptOutcome::GaveUp { reason } => reason,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Failed { .. } => "failed",
            AttemptOutcome::GaveUp { .. } => "gave_up",
        }
    }

    pub(crate) fn from_parts(
        kind: &str,
        reason: String,
        next_attempt_at: Option<i64>,
    ) -> Result<Self, StoreError> {
        match (kind, next_attempt_at) {
            ("delivered", _) => Ok(AttemptOutcome::Delivered),
            ("failed", Some(next_attempt_at)) => Ok(AttemptOutcome::Failed {
                reason,
                next_attempt_at,
            }),
            ("gave_up", _) => Ok(AttemptOutcome::GaveUp { reason }),
            _ => Err(StoreError::Corrupt(format!(
                "a delivery attempt with outcome {kind:?} and next attempt {next_attempt_at:?}"
            ))),
        }
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: i64,
    pub outcome: AttemptOutcome,
}

/// A stored delivery with its status and every attempt, oldest first. `record.next_attempt_at` is
/// the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub record: OutboxRecord,
    pub status: DeliveryStatus,
    pub attempts: Vec<AttemptRecord>,
}

/// Which deliveries `notifications` lists; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    pub receiver: Option<String>,
    pub group_key: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Only deliveries with `created_at >= created_from`.
    pub created_from: Option<i64>,
}

impl NotificationFilter {
    pub fn matches(&self, n: &Notification) -> bool {
        self.receiver
            .as_ref()
            .is_none_or(|r| *r == n.record.receiver)
            && self
                .group_key
                .as_ref()
                .is_none_or(|g| *g == n.record.group_key)
            && self.status.is_none_or(|s| s == n.status)
            && self.created_from.is_none_or(|c| n.record.created_at >= c)
    }
}

fn invalid(what: &'static str, reason: &'static str) -> StoreError {
    StoreError::InvalidInput { what, reason }
}

fn json_object(text: &str) -> bool {
    matches!(
        serde_json::from_str::<serde_json::Value>(text),
        Ok(serde_json::Value::Object(_))
    )
}

fn json_value(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

pub(crate) fn validate_alerts(alerts: &[AlertRecord]) -> Result<(), StoreError> {
    for a in alerts {
        if a.fingerprint.is_empty() {
            return Err(invalid("alert", "the fingerprint is empty"));
        }
        if !json_object(&a.labels) || !json_object(&a.annotations) {
            return Err(invalid(
                "alert",
                "labels and annotations must be JSON objects",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_silences(silences: &[SilenceRecord]) -> Result<(), StoreError> {
    for s in silences {
        if s.id.is_empty() {
            return Err(invalid("silence", "the id is empty"));
        }
        if !matches!(
            serde_json::from_str::<serde_json::Value>(&s.matchers),
            Ok(serde_json::Value::Array(_))
        ) {
            return Err(invalid("silence", "the matchers must be a JSON array"));
        }
    }
    Ok(())
}

pub(crate) fn validate_ack(ack: &AckRecord) -> Result<(), StoreError> {
    if ack.fingerprint.is_empty() || ack.by.is_empty() {
        return Err(invalid(
            "acknowledgement",
            "the fingerprint and the responder must not be empty",
        ));
    }
    Ok(())
}

pub(crate) fn validate_group_states(states: &[GroupStateRecord]) -> Result<(), StoreError> {
    for g in states {
        if g.receiver.is_empty() || g.group_key.is_empty() {
            return Err(invalid(
                "group state",
                "the receiver and the group key must not be empty",
            ));
        }
        if !json_value(&g.state) {
            return Err(invalid("group state", "the state is not JSON"));
        }
    }
    Ok(())
}

/// Also refuses an id twice in one batch.
pub(crate) fn validate_outbox(records: &[OutboxRecord]) -> Result<(), StoreError> {
    let mut ids = std::collections::BTreeSet::new();
    for r in records {
        if r.id.is_empty() || r.receiver.is_empty() {
            return Err(invalid(
                "notification",
                "the id and the receiver must not be empty",
            ));
        }
        if !ids.insert(r.id.as_str()) {
            return Err(StoreError::DuplicateNotification { id: r.id.clone() });
        }
    }
    Ok(())
}
