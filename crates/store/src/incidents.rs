//! Incident records: incidents and postmortems as versioned JSON documents, the incident
//! timeline (the working record), toil entries, teams and automation marks.
//!
//! The store knows none of the `incident` crate's types: an incident or a postmortem is a JSON
//! object, checked only to be well-formed, stored with the few columns the queries need (status,
//! parent incident, times). Documents are updated by compare-and-swap on their version, so two
//! responders editing at once cannot overwrite each other silently: the second gets
//! [`DocUpdate::Conflict`] and re-reads.
//!
//! Auditing: every write here is a human decision (or follows from one, like page toil) and is
//! audited in the same transaction as the write. A refused write (invalid, conflicting, missing
//! target) writes nothing, not even its audit record. Validation is shared by every backend so
//! they accept and refuse the same input.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// Which versioned document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    Incident,
    Postmortem,
}

impl DocKind {
    pub const ALL: [DocKind; 2] = [DocKind::Incident, DocKind::Postmortem];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Incident => "incident",
            DocKind::Postmortem => "postmortem",
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "incident" => Ok(DocKind::Incident),
            "postmortem" => Ok(DocKind::Postmortem),
            _ => Err(format!(
                "unknown document kind {s:?}: expected incident or postmortem"
            )),
        }
    }
}

/// A stored incident or postmortem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRecord {
    pub kind: DocKind,
    /// 1, 2, ... per kind, assigned by the store.
    pub id: i64,
    /// 1 on create; each successful update adds 1.
    pub version: i64,
    /// A JSON object (the incident crate's shape).
    pub doc: String,
    /// e.g. `"investigating"`, `"draft"`; 1 to 64 characters.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last update (`created_at` until the first).
    pub updated_at: i64,
    /// A postmortem's incident id (at most one postmortem per incident); always `None` for an
    /// incident.
    pub parent_id: Option<i64>,
}

/// What [`update_doc`](crate::Store::update_doc) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocUpdate {
    /// Written; the document now has this version.
    Updated { version: i64 },
    /// The stored version is not the expected one: nothing was written.
    Conflict { current_version: i64 },
    /// No such document: nothing was written.
    NotFound,
}

/// Which documents [`docs`](crate::Store::docs) lists; `None` fields match everything, so
/// `DocFilter::default()` lists all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocFilter {
    pub status: Option<String>,
    pub parent_id: Option<i64>,
    /// Only documents with `created_at >= created_from`.
    pub created_from: Option<i64>,
    /// Only documents with `created_at < created_to` (exclusive).
    pub created_to: Option<i64>,
}

impl DocFilter {
    pub fn matches(&self, d: &DocRecord) -> bool {
        self.status.as_ref().is_none_or(|s| *s == d.status)
            && self.parent_id.is_none_or(|p| d.parent_id == Some(p))
            && self.created_from.is_none_or(|c| d.created_at >= c)
            && self.created_to.is_none_or(|c| d.created_at < c)
    }
}

/// One entry of an incident's working record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecord {
    /// Assigned by the store (unique across incidents, increasing); 0 when new.
    pub id: i64,
    /// The incident; when writing, 0 or the incident the entry is written to.
    pub incident_id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who wrote it or caused it; not empty.
    pub author: String,
    /// e.g. `"note"`, `"status"`, `"role"`; 1 to 64 characters.
    pub kind: String,
    /// At most [`MAX_TEXT_BYTES`].
    pub text: String,
    pub pinned: bool,
    /// Any JSON value (`"null"` when there is nothing more).
    pub data: String,
}

/// One toil entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToilRecord {
    /// Assigned by the store; ignored when recording.
    pub id: i64,
    pub team: String,
    pub category: String,
    /// 1 to [`MAX_TOIL_MINUTES`] (one week).
    pub minutes: i64,
    /// When the work was done, unix seconds.
    pub at: i64,
    pub description: String,
    pub automatable: bool,
    /// The recurring task it belongs to (for before/after automation reports); `""` for none.
    pub task: String,
    pub author: String,
    /// `"manual"` (logged by someone) or `"page"` (a handled page or ticket, ack to resolve).
    pub source: String,
}

/// A team and its weekly capacity, for toil as a share of the team's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    pub name: String,
    /// At least 1.
    pub weekly_capacity_minutes: i64,
    pub updated_at: i64,
}

/// When a recurring toil task of a team was automated (one mark per team and task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationRecord {
    pub team: String,
    pub task: String,
    pub at: i64,
    pub note: String,
}

/// Longest timeline text, toil description and automation note: 64 KiB.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest incident or postmortem document: 1 MiB of JSON.
pub const MAX_DOC_BYTES: usize = 1024 * 1024;
/// Longest status, kind, category, source, team or task name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The most minutes one toil entry may count: one week.
pub const MAX_TOIL_MINUTES: i64 = 7 * 24 * 60;
/// Where toil entries come from.
pub const TOIL_SOURCES: [&str; 2] = ["manual", "page"];

fn invalid(what: &'static str, reason: &'static str) -> StoreError {
    StoreError::InvalidInput { what, reason }
}

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_NAME_CHARS
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

/// A document and its status, as written by `create_doc` and `update_doc`.
pub(crate) fn validate_doc(kind: DocKind, doc: &str, status: &str) -> Result<(), StoreError> {
    let what = kind.as_str();
    if doc.len() > MAX_DOC_BYTES {
        return Err(invalid(what, "the document is longer than 1 MiB"));
    }
    if !json_object(doc) {
        return Err(invalid(what, "the document must be a JSON object"));
    }
    if !name_ok(status) {
        return Err(invalid(what, "the status must have 1 to 64 characters"));
    }
    Ok(())
}

/// The parent rule of `create_doc` that needs no stored data.
pub(crate) fn validate_parent(kind: DocKind, parent_id: Option<i64>) -> Result<(), StoreError> {
    if kind == DocKind::Incident && parent_id.is_some() {
        return Err(invalid("incident", "an incident has no parent"));
    }
    Ok(())
}

/// Timeline entries written to `incident_id`.
pub(crate) fn validate_timeline(
    incident_id: i64,
    entries: &[TimelineRecord],
) -> Result<(), StoreError> {
    for e in entries {
        if e.incident_id != 0 && e.incident_id != incident_id {
            return Err(invalid(
                "timeline entry",
                "it names another incident than the one it is written to",
            ));
        }
        if e.author.is_empty() {
            return Err(invalid("timeline entry", "the author is empty"));
        }
        if !name_ok(&e.kind) {
            return Err(invalid(
                "timeline entry",
                "the kind must have 1 to 64 characters",
            ));
        }
        if e.text.len() > MAX_TEXT_BYTES {
            return Err(invalid("timeline entry", "the text is longer than 64 KiB"));
        }
        if !json_value(&e.data) {
            return Err(invalid("timeline entry", "the data is not JSON"));
        }
    }
    Ok(())
}

/// Timeline entries passed to `update_doc` of `kind`.
pub(crate) fn validate_update_timeline(
    kind: DocKind,
    id: i64,
    entries: &[TimelineRecord],
) -> Result<(), StoreError> {
    if kind != DocKind::Incident && !entries.is_empty() {
        return Err(invalid("timeline entry", "only incidents have a timeline"));
    }
    validate_timeline(id, entries)
}

pub(crate) fn validate_toil(entry: &ToilRecord) -> Result<(), StoreError> {
    if entry.team.is_empty() || entry.category.is_empty() || entry.author.is_empty() {
        return Err(invalid(
            "toil entry",
            "the team, the category and the author must not be empty",
        ));
    }
    if !name_ok(&entry.team) || !name_ok(&entry.category) {
        return Err(invalid(
            "toil entry",
            "the team and the category must have at most 64 characters",
        ));
    }
    if entry.task.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "toil entry",
            "the task has more than 64 characters",
        ));
    }
    if !(1..=MAX_TOIL_MINUTES).contains(&entry.minutes) {
        return Err(invalid(
            "toil entry",
            "the minutes must be 1 to 10080 (one week)",
        ));
    }
    if entry.description.len() > MAX_TEXT_BYTES {
        return Err(invalid(
            "toil entry",
            "the description is longer than 64 KiB",
        ));
    }
    if !TOIL_SOURCES.contains(&entry.source.as_str()) {
        return Err(invalid("toil entry", "the source must be manual or page"));
    }
    Ok(())
}

pub(crate) fn validate_team(team: &TeamRecord) -> Result<(), StoreError> {
    if !name_ok(&team.name) {
        return Err(invalid("team", "the name must have 1 to 64 characters"));
    }
    if team.weekly_capacity_minutes < 1 {
        return Err(invalid(
            "team",
            "the weekly capacity must be at least 1 minute",
        ));
    }
    Ok(())
}

pub(crate) fn validate_automation(a: &AutomationRecord) -> Result<(), StoreError> {
    if !name_ok(&a.team) || !name_ok(&a.task) {
        return Err(invalid(
            "automation",
            "the team and the task must have 1 to 64 characters",
        ));
    }
    if a.note.len() > MAX_TEXT_BYTES {
        return Err(invalid("automation", "the note is longer than 64 KiB"));
    }
    Ok(())
}

/// The audit entry of a write that created `id`: `{id}` in the target replaced by it.
pub(crate) fn with_id(audit: &crate::AuditEntry, id: i64) -> crate::AuditEntry {
    let mut entry = audit.clone();
    entry.target = entry.target.replace("{id}", &id.to_string());
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toil() -> ToilRecord {
        ToilRecord {
            id: 0,
            team: "sre".into(),
            category: "troubleshooting".into(),
            minutes: 30,
            at: 0,
            description: "restarted a stuck job".into(),
            automatable: true,
            task: "restart-job".into(),
            author: "ana".into(),
            source: "manual".into(),
        }
    }

    #[test]
    fn toil_bounds() {
        assert!(validate_toil(&toil()).is_ok());
        for minutes in [0, -1, MAX_TOIL_MINUTES + 1] {
            assert!(validate_toil(&ToilRecord { minutes, ..toil() }).is_err());
        }
        assert!(validate_toil(&ToilRecord {
            minutes: MAX_TOIL_MINUTES,
            ..toil()
        })
        .is_ok());
        assert!(validate_toil(&ToilRecord {
            source: "cron".into(),
            ..toil()
        })
        .is_err());
        assert!(validate_toil(&ToilRecord {
            author: String::new(),
            ..toil()
        })
        .is_err());
    }

    #[test]
    fn docs_are_json_objects_with_a_short_status() {
        assert!(validate_doc(DocKind::Incident, "{}", "open").is_ok());
        assert!(validate_doc(DocKind::Incident, "[]", "open").is_err());
        assert!(validate_doc(DocKind::Incident, "{", "open").is_err());
        assert!(validate_doc(DocKind::Incident, "{}", "").is_err());
        assert!(validate_doc(DocKind::Incident, "{}", &"é".repeat(64)).is_ok());
        assert!(validate_doc(DocKind::Incident, "{}", &"é".repeat(65)).is_err());
    }

    #[test]
    fn the_audit_target_gets_the_new_id() {
        let e = crate::AuditEntry::new(1, "a", "incident.create", "incident/{id}");
        assert_eq!(with_id(&e, 12).target, "incident/12");
    }

    #[test]
    fn kinds_round_trip() {
        for k in DocKind::ALL {
            assert_eq!(k.as_str().parse::<DocKind>(), Ok(k));
        }
    }
}
