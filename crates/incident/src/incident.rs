//! An incident: title, severity, services, status with a time per change, roles and
//! handovers, linked alerts and SLOs, and the live state document.
//!
//! Every mutation validates first and changes nothing when it fails, then returns the
//! [`TimelineEvent`] the working record stores (the caller adds author and time there).
//! A closed incident is an archive: every mutation is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Error, SectionConflict};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest text of one section of the state document, in bytes.
pub const MAX_SECTION_BYTES: usize = 64 * 1024;
/// Longest role name.
pub const MAX_ROLE_CHARS: usize = 64;
/// Longest person (role holder) or service name.
pub const MAX_NAME_CHARS: usize = 128;

pub const INCIDENT_COMMANDER: &str = "incident_commander";
pub const COMMUNICATIONS_LEAD: &str = "communications_lead";
pub const OPERATIONS_LEAD: &str = "operations_lead";
/// The roles every incident lists, commander first.
pub const STANDARD_ROLES: [&str; 3] = [INCIDENT_COMMANDER, COMMUNICATIONS_LEAD, OPERATIONS_LEAD];

pub const SECTION_SUMMARY: &str = "summary";
pub const SECTION_STATUS: &str = "status";
pub const SECTION_COMMAND_POST: &str = "command_post";
pub const SECTION_COMMAND_HIERARCHY: &str = "command_hierarchy";
pub const SECTION_DETAILED_STATUS: &str = "detailed_status";
pub const SECTION_EXIT_CRITERIA: &str = "exit_criteria";
pub const SECTION_TODOS: &str = "todos";
/// The sections of the state document, most important first (the order it is shown in).
pub const SECTIONS: [&str; 7] = [
    SECTION_SUMMARY,
    SECTION_STATUS,
    SECTION_COMMAND_POST,
    SECTION_COMMAND_HIERARCHY,
    SECTION_DETAILED_STATUS,
    SECTION_EXIT_CRITERIA,
    SECTION_TODOS,
];

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Severity, SEV1 the worst. `Ord` sorts SEV1 first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
    #[serde(rename = "SEV5")]
    Sev5,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
        Severity::Sev5,
    ];

    /// 1 for SEV1 … 5 for SEV5.
    pub fn level(self) -> u8 {
        match self {
            Severity::Sev1 => 1,
            Severity::Sev2 => 2,
            Severity::Sev3 => 3,
            Severity::Sev4 => 4,
            Severity::Sev5 => 5,
        }
    }

    pub fn from_level(level: u8) -> Option<Severity> {
        Severity::ALL
            .get(usize::from(level).checked_sub(1)?)
            .copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV1",
            Severity::Sev2 => "SEV2",
            Severity::Sev3 => "SEV3",
            Severity::Sev4 => "SEV4",
            Severity::Sev5 => "SEV5",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    /// "SEV2", "sev2" and "2" (the CLI's `--sev 2`) all mean SEV2.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let digits = match t.get(..3) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sev") => t.get(3..).unwrap_or(""),
            _ => t,
        };
        digits
            .parse::<u8>()
            .ok()
            .filter(|_| digits.len() == 1)
            .and_then(Severity::from_level)
            .ok_or_else(|| invalid("severity", format!("{s:?} is not one of SEV1..SEV5")))
    }
}

/// Where an incident stands. `Ord` follows the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Investigating,
        Status::Identified,
        Status::Monitoring,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Open incidents still need people: everything before resolved.
    pub fn is_open(self) -> bool {
        self < Status::Resolved
    }

    /// The lifecycle: forward to any later state short of closed; only a resolved incident
    /// closes or reopens (to any earlier state); closed is final; staying put is no change.
    pub fn can_become(self, to: Status) -> bool {
        match (self, to) {
            (Status::Closed, _) => false,
            (Status::Resolved, Status::Resolved) => false,
            (Status::Resolved, _) => true,
            (_, Status::Closed) => false,
            (from, to) => from < to,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                invalid(
                    "status",
                    format!(
                        "{s:?} is not one of investigating, identified, monitoring, resolved, closed"
                    ),
                )
            })
    }
}

/// One status the incident entered (the declaration enters investigating).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: Status,
    pub at: i64,
    pub by: String,
}

/// A role changing hands. `from` is the previous explicit holder: `None` when the role was
/// held implicitly by the commander (never delegated, or handed back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub role: String,
    pub from: Option<String>,
    pub to: String,
    pub at: i64,
    pub by: String,
}

/// Who effectively holds a role right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveRole {
    pub role: String,
    pub holder: String,
    /// False when the commander holds it (the commander's own role is never delegated).
    pub delegated: bool,
}

/// What an entry of the working record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Note,
    Action,
    Decision,
    StatusChange,
    RoleChange,
    SeverityChange,
    AlertLinked,
    SloLinked,
    StakeholderUpdate,
    TitleChange,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 10] = [
        TimelineKind::Note,
        TimelineKind::Action,
        TimelineKind::Decision,
        TimelineKind::StatusChange,
        TimelineKind::RoleChange,
        TimelineKind::SeverityChange,
        TimelineKind::AlertLinked,
        TimelineKind::SloLinked,
        TimelineKind::StakeholderUpdate,
        TimelineKind::TitleChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Note => "note",
            TimelineKind::Action => "action",
            TimelineKind::Decision => "decision",
            TimelineKind::StatusChange => "status_change",
            TimelineKind::RoleChange => "role_change",
            TimelineKind::SeverityChange => "severity_change",
            TimelineKind::AlertLinked => "alert_linked",
            TimelineKind::SloLinked => "slo_linked",
            TimelineKind::StakeholderUpdate => "stakeholder_update",
            TimelineKind::TitleChange => "title_change",
        }
    }

    /// Kinds people post themselves; the others are written by the mutations that cause
    /// them, so the record cannot claim a change that did not happen.
    pub fn user_postable(self) -> bool {
        matches!(
            self,
            TimelineKind::Note
                | TimelineKind::Action
                | TimelineKind::Decision
                | TimelineKind::StakeholderUpdate
        )
    }

    /// Parses a kind a user may post (note, action, decision, stakeholder_update).
    pub fn parse_user(s: &str) -> Result<TimelineKind, Error> {
        let kind = s.parse::<TimelineKind>()?;
        if kind.user_postable() {
            Ok(kind)
        } else {
            Err(invalid(
                "kind",
                format!("{kind} entries are written by the change itself; post note, action, decision or stakeholder_update"),
            ))
        }
    }
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimelineKind {
    type Err = Error;

    /// Any kind by its snake_case name; see [`TimelineKind::parse_user`] for the API's posts.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        TimelineKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| invalid("kind", format!("{s:?} is not a timeline entry kind")))
    }
}

/// An entry for the working record, produced by a mutation (author and time are the
/// mutation's `by` and `at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub kind: TimelineKind,
    pub text: String,
    /// The change in machine form (e.g. `{"from": "investigating", "to": "identified"}`).
    pub data: serde_json::Value,
}

/// One section of the live state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub text: String,
    /// 0 = never written; each accepted edit adds one.
    pub revision: u64,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// The live state document: every section of [`SECTIONS`], in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub sections: Vec<Section>,
}

impl Default for Document {
    fn default() -> Self {
        Document::new()
    }
}

impl Document {
    /// Every section empty at revision 0.
    pub fn new() -> Document {
        Document {
            sections: SECTIONS
                .iter()
                .map(|name| Section {
                    name: (*name).to_string(),
                    text: String::new(),
                    revision: 0,
                    updated_at: None,
                    updated_by: None,
                })
                .collect(),
        }
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Optimistic concurrency per section: the edit must name the revision it was based on.
    /// Edits of different sections never conflict; a stale edit changes nothing and hands
    /// back both texts.
    pub fn edit(
        &mut self,
        section: &str,
        text: &str,
        base_revision: u64,
        by: &str,
        at: i64,
    ) -> Result<u64, Error> {
        if !SECTIONS.contains(&section) {
            return Err(Error::UnknownSection(section.to_string()));
        }
        if text.len() > MAX_SECTION_BYTES {
            return Err(invalid(
                "text",
                format!(
                    "{} bytes is over the {MAX_SECTION_BYTES}-byte limit of a section",
                    text.len()
                ),
            ));
        }
        // A stored document may predate a section: add it rather than refuse the edit.
        let idx = match self.sections.iter().position(|s| s.name == section) {
            Some(i) => i,
            None => self.insert_missing(section),
        };
        let Some(s) = self.sections.get_mut(idx) else {
            return Err(Error::UnknownSection(section.to_string()));
        };
        if s.revision != base_revision {
            return Err(Error::Conflict(Box::new(SectionConflict {
                section: section.to_string(),
                base_revision,
                current_revision: s.revision,
                current_text: s.text.clone(),
                your_text: text.to_string(),
            })));
        }
        s.revision += 1;
        s.text = text.to_string();
        s.updated_at = Some(at);
        s.updated_by = Some(by.to_string());
        Ok(s.revision)
    }

    /// Inserts an empty known section at its place in [`SECTIONS`] order; returns its index.
    fn insert_missing(&mut self, name: &str) -> usize {
        let rank = |n: &str| SECTIONS.iter().position(|s| *s == n).unwrap_or(usize::MAX);
        let r = rank(name);
        let idx = self
            .sections
            .iter()
            .position(|s| rank(&s.name) > r)
            .unwrap_or(self.sections.len());
        self.sections.insert(
            idx,
            Section {
                name: name.to_string(),
                text: String::new(),
                revision: 0,
                updated_at: None,
                updated_by: None,
            },
        );
        idx
    }
}

/// An incident. `id` is 0 until the store assigns one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub services: Vec<String>,
    pub status: Status,
    /// Every status entered, oldest first; the first is the declaration (investigating).
    pub status_changes: Vec<StatusChange>,
    /// Explicit role holders (role → person); the commander is always present. Roles not
    /// here are held by the commander.
    pub roles: BTreeMap<String, String>,
    pub handovers: Vec<Handover>,
    pub document: Document,
    /// Alert fingerprints (16 lowercase hex digits).
    pub linked_alerts: Vec<String>,
    /// SLO keys "service/slo".
    pub linked_slos: Vec<String>,
    pub declared_at: i64,
    pub declared_by: String,
}

fn validate_title(title: &str) -> Result<String, Error> {
    let t = title.trim();
    if t.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    let n = t.chars().count();
    if n > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("{n} characters is over the limit of {MAX_TITLE_CHARS}"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid("title", "must not contain control characters"));
    }
    Ok(t.to_string())
}

/// A person or service name: trimmed, non-empty, bounded, one line.
fn validate_name(field: &str, value: &str) -> Result<String, Error> {
    let t = value.trim();
    if t.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if t.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(t.to_string())
}

/// Role names: 1..=64 of `[a-z0-9_-]`, so they are safe in URLs and stable as keys.
pub fn validate_role(role: &str) -> Result<(), Error> {
    if role.is_empty() || role.len() > MAX_ROLE_CHARS {
        return Err(invalid(
            "role",
            format!("must be 1 to {MAX_ROLE_CHARS} characters"),
        ));
    }
    if !role
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "role",
            format!("{role:?} may only contain a-z, 0-9, '_' and '-'"),
        ));
    }
    Ok(())
}

/// An Alertmanager fingerprint: exactly 16 hex digits, stored lowercase.
fn validate_fingerprint(fp: &str) -> Result<String, Error> {
    let t = fp.trim();
    if t.len() != 16 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "fingerprint",
            format!("{fp:?} is not 16 hex digits"),
        ));
    }
    Ok(t.to_ascii_lowercase())
}

/// "service/slo": two non-empty parts without whitespace or a further '/'.
fn validate_slo_key(key: &str) -> Result<String, Error> {
    let t = key.trim();
    let ok = match t.split_once('/') {
        Some((svc, slo)) => [svc, slo].iter().all(|p| {
            !p.is_empty()
                && p.chars().count() <= MAX_NAME_CHARS
                && !p.contains('/')
                && !p.chars().any(|c| c.is_whitespace() || c.is_control())
        }),
        None => false,
    };
    if ok {
        Ok(t.to_string())
    } else {
        Err(invalid(
            "slo",
            format!("{key:?} is not of the form \"service/slo\""),
        ))
    }
}

/// Human label of a role for rendered text ("incident_commander" → "Incident commander").
fn role_label(role: &str) -> String {
    let spaced = role.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Incident {
    /// Declares an incident: status investigating, the declarer its commander. Services are
    /// trimmed and deduplicated (first occurrence kept); none is fine (declare early).
    pub fn declare(
        title: &str,
        severity: Severity,
        services: Vec<String>,
        by: &str,
        at: i64,
    ) -> Result<Incident, Error> {
        let title = validate_title(title)?;
        let by = validate_name("declared_by", by)?;
        let mut svcs: Vec<String> = Vec::with_capacity(services.len());
        for s in &services {
            let s = validate_name("services", s)?;
            if !svcs.contains(&s) {
                svcs.push(s);
            }
        }
        let mut roles = BTreeMap::new();
        roles.insert(INCIDENT_COMMANDER.to_string(), by.clone());
        Ok(Incident {
            id: 0,
            title,
            severity,
            services: svcs,
            status: Status::Investigating,
            status_changes: vec![StatusChange {
                status: Status::Investigating,
                at,
                by: by.clone(),
            }],
            roles,
            handovers: Vec::new(),
            document: Document::new(),
            linked_alerts: Vec::new(),
            linked_slos: Vec::new(),
            declared_at: at,
            declared_by: by,
        })
    }

    /// The current commander (the declarer unless handed over).
    pub fn commander(&self) -> &str {
        self.roles
            .get(INCIDENT_COMMANDER)
            .map_or(self.declared_by.as_str(), String::as_str)
    }

    /// Who holds each role: the three standard roles always (commander first), then every
    /// free-form role assigned, by name. The commander holds every role not delegated.
    pub fn effective_roles(&self) -> Vec<EffectiveRole> {
        let ic = self.commander();
        let mut names: Vec<&str> = STANDARD_ROLES.to_vec();
        names.extend(
            self.roles
                .keys()
                .map(String::as_str)
                .filter(|r| !STANDARD_ROLES.contains(r)),
        );
        names
            .into_iter()
            .map(|role| {
                let holder = if role == INCIDENT_COMMANDER {
                    ic
                } else {
                    self.roles.get(role).map_or(ic, String::as_str)
                };
                EffectiveRole {
                    role: role.to_string(),
                    holder: holder.to_string(),
                    delegated: holder != ic,
                }
            })
            .collect()
    }

    /// The effective holder of one role (the commander for a role never assigned).
    pub fn holder_of(&self, role: &str) -> &str {
        if role == INCIDENT_COMMANDER {
            return self.commander();
        }
        self.roles
            .get(role)
            .map_or(self.commander(), String::as_str)
    }

    /// The first time the incident entered `status`.
    pub fn first_time_in(&self, status: Status) -> Option<i64> {
        self.status_changes
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.at)
            .min()
    }

    /// When someone first acted on the incident after declaring it: the first status change
    /// after the declaration or the first role assignment, whichever came first. A declared
    /// incident that nobody touched is not acknowledged (an auto-declared one, say).
    pub fn acknowledged_at(&self) -> Option<i64> {
        let status = self.status_changes.iter().skip(1).map(|c| c.at).min();
        let role = self.handovers.iter().map(|h| h.at).min();
        match (status, role) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first time the impact stopped: first entry into monitoring or resolved.
    pub fn mitigated_at(&self) -> Option<i64> {
        match (
            self.first_time_in(Status::Monitoring),
            self.first_time_in(Status::Resolved),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first time the incident was resolved (a reopen does not move it).
    pub fn resolved_at(&self) -> Option<i64> {
        self.first_time_in(Status::Resolved)
    }

    fn ensure_not_closed(&self) -> Result<(), Error> {
        if self.status == Status::Closed {
            Err(Error::Workflow(
                "the incident is closed; it can no longer change".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    pub fn set_status(&mut self, to: Status, by: &str, at: i64) -> Result<TimelineEvent, Error> {
        let from = self.status;
        if !from.can_become(to) {
            return Err(Error::Transition {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        self.status = to;
        self.status_changes.push(StatusChange {
            status: to,
            at,
            by: by.to_string(),
        });
        let reopened = from == Status::Resolved && to < Status::Resolved;
        let text = if reopened {
            format!("reopened: {from} → {to}")
        } else {
            format!("status {from} → {to}")
        };
        Ok(TimelineEvent {
            kind: TimelineKind::StatusChange,
            text,
            data: json!({ "from": from, "to": to, "reopened": reopened }),
        })
    }

    pub fn set_severity(
        &mut self,
        severity: Severity,
        _by: &str,
        _at: i64,
    ) -> Result<TimelineEvent, Error> {
        self.ensure_not_closed()?;
        let from = self.severity;
        if from == severity {
            return Err(invalid(
                "severity",
                format!("the incident is already {from}"),
            ));
        }
        self.severity = severity;
        Ok(TimelineEvent {
            kind: TimelineKind::SeverityChange,
            text: format!("severity {from} → {severity}"),
            data: json!({ "from": from, "to": severity }),
        })
    }

    pub fn set_title(&mut self, title: &str, _by: &str, _at: i64) -> Result<TimelineEvent, Error> {
        self.ensure_not_closed()?;
        let title = validate_title(title)?;
        if title == self.title {
            return Err(invalid("title", "the title is unchanged"));
        }
        let from = std::mem::replace(&mut self.title, title.clone());
        Ok(TimelineEvent {
            kind: TimelineKind::TitleChange,
            text: format!("title changed to {title:?}"),
            data: json!({ "from": from, "to": title }),
        })
    }

    /// Hands a role to `holder` and records the handover. Handing a role to the current
    /// commander gives it back (it follows the commander again); handing the commander role
    /// over moves every undelegated role with it. Giving a role to its current effective
    /// holder is refused.
    pub fn assign_role(
        &mut self,
        role: &str,
        holder: &str,
        by: &str,
        at: i64,
    ) -> Result<TimelineEvent, Error> {
        self.ensure_not_closed()?;
        validate_role(role)?;
        let holder = validate_name("holder", holder)?;
        let current = self.holder_of(role).to_string();
        if current == holder {
            return Err(invalid("holder", format!("{holder} already holds {role}")));
        }
        let from = self.roles.get(role).cloned();
        if role != INCIDENT_COMMANDER && holder == self.commander() {
            self.roles.remove(role);
        } else {
            self.roles.insert(role.to_string(), holder.clone());
        }
        self.handovers.push(Handover {
            role: role.to_string(),
            from: from.clone(),
            to: holder.clone(),
            at,
            by: by.to_string(),
        });
        Ok(TimelineEvent {
            kind: TimelineKind::RoleChange,
            text: format!("{}: {current} → {holder}", role_label(role)),
            data: json!({ "role": role, "from": current, "to": holder }),
        })
    }

    pub fn link_alert(
        &mut self,
        fingerprint: &str,
        _by: &str,
        _at: i64,
    ) -> Result<TimelineEvent, Error> {
        self.ensure_not_closed()?;
        let fp = validate_fingerprint(fingerprint)?;
        if self.linked_alerts.contains(&fp) {
            return Err(invalid(
                "fingerprint",
                format!("alert {fp} is already linked"),
            ));
        }
        self.linked_alerts.push(fp.clone());
        Ok(TimelineEvent {
            kind: TimelineKind::AlertLinked,
            text: format!("alert {fp} linked"),
            data: json!({ "fingerprint": fp }),
        })
    }

    pub fn link_slo(&mut self, key: &str, _by: &str, _at: i64) -> Result<TimelineEvent, Error> {
        self.ensure_not_closed()?;
        let key = validate_slo_key(key)?;
        if self.linked_slos.contains(&key) {
            return Err(invalid("slo", format!("slo {key} is already linked")));
        }
        self.linked_slos.push(key.clone());
        Ok(TimelineEvent {
            kind: TimelineKind::SloLinked,
            text: format!("slo {key} linked"),
            data: json!({ "slo": key }),
        })
    }

    /// Edits one section of the state document (see [`Document::edit`]); returns the new
    /// revision.
    pub fn edit_section(
        &mut self,
        section: &str,
        text: &str,
        base_revision: u64,
        by: &str,
        at: i64,
    ) -> Result<u64, Error> {
        self.ensure_not_closed()?;
        self.document.edit(section, text, base_revision, by, at)
    }

    /// The command hierarchy as shown: the section's text when someone wrote it, otherwise
    /// the effective roles, one per line.
    pub fn command_hierarchy_text(&self) -> String {
        if let Some(s) = self.document.section(SECTION_COMMAND_HIERARCHY) {
            if !s.text.trim().is_empty() {
                return s.text.clone();
            }
        }
        let mut out = String::new();
        for r in self.effective_roles() {
            out.push_str("- ");
            out.push_str(&role_label(&r.role));
            out.push_str(": ");
            out.push_str(&r.holder);
            if r.role != INCIDENT_COMMANDER && !r.delegated {
                out.push_str(" (commander, not delegated)");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn inc() -> Incident {
        Incident::declare(
            "checkout errors",
            Severity::Sev2,
            vec!["checkout".into()],
            "alice",
            1000,
        )
        .unwrap()
    }

    #[test]
    fn severity_parses_and_prints() {
        for s in ["SEV2", "sev2", "2", " Sev2 "] {
            assert_eq!(s.parse::<Severity>().unwrap(), Severity::Sev2);
        }
        for s in ["", "0", "6", "sev", "sev22", "02", "SEV-2", "two"] {
            assert!(s.parse::<Severity>().is_err(), "{s}");
        }
        assert_eq!(Severity::Sev1.to_string(), "SEV1");
        assert_eq!(serde_json::to_string(&Severity::Sev5).unwrap(), "\"SEV5\"");
        assert_eq!(
            serde_json::from_str::<Severity>("\"SEV3\"").unwrap(),
            Severity::Sev3
        );
        assert!(Severity::Sev1 < Severity::Sev2);
    }

    #[test]
    fn status_parses_and_prints() {
        for st in Status::ALL {
            assert_eq!(st.to_string().parse::<Status>().unwrap(), st);
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert_eq!("Resolved".parse::<Status>().unwrap(), Status::Resolved);
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn transitions_table() {
        use Status::*;
        let allowed = [
            (Investigating, Identified),
            (Investigating, Monitoring),
            (Investigating, Resolved),
            (Identified, Monitoring),
            (Identified, Resolved),
            (Monitoring, Resolved),
            (Resolved, Closed),
            (Resolved, Investigating),
            (Resolved, Identified),
            (Resolved, Monitoring),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
        }
    }

    #[test]
    fn declare_validates() {
        let i = inc();
        assert_eq!(i.status, Status::Investigating);
        assert_eq!(i.commander(), "alice");
        assert_eq!(i.status_changes.len(), 1);
        assert_eq!(i.document.sections.len(), SECTIONS.len());
        assert!(Incident::declare("  ", Severity::Sev1, vec![], "a", 0).is_err());
        assert!(Incident::declare(&"x".repeat(201), Severity::Sev1, vec![], "a", 0).is_err());
        let ok = Incident::declare(&"é".repeat(200), Severity::Sev1, vec![], "a", 0).unwrap();
        assert_eq!(ok.title.chars().count(), 200);
        let t = Incident::declare(
            "  padded ",
            Severity::Sev1,
            vec!["a".into(), " a ".into(), "b".into()],
            "x",
            0,
        )
        .unwrap();
        assert_eq!(t.title, "padded");
        assert_eq!(t.services, ["a", "b"]);
        assert!(Incident::declare("t", Severity::Sev1, vec!["".into()], "x", 0).is_err());
    }

    #[test]
    fn lifecycle_with_timestamps() {
        let mut i = inc();
        let ev = i.set_status(Status::Identified, "bob", 1100).unwrap();
        assert_eq!(ev.kind, TimelineKind::StatusChange);
        assert_eq!(ev.data["from"], "investigating");
        assert_eq!(ev.data["to"], "identified");
        i.set_status(Status::Monitoring, "bob", 1200).unwrap();
        assert!(matches!(
            i.set_status(Status::Identified, "bob", 1250),
            Err(Error::Transition { .. })
        ));
        assert!(matches!(
            i.set_status(Status::Closed, "bob", 1250),
            Err(Error::Transition { .. })
        ));
        assert!(matches!(
            i.set_status(Status::Monitoring, "bob", 1250),
            Err(Error::Transition { .. })
        ));
        i.set_status(Status::Resolved, "bob", 1300).unwrap();
        let ev = i.set_status(Status::Investigating, "carol", 1400).unwrap();
        assert_eq!(ev.data["reopened"], true);
        i.set_status(Status::Resolved, "carol", 1500).unwrap();
        i.set_status(Status::Closed, "carol", 1600).unwrap();
        for st in Status::ALL {
            assert!(i.set_status(st, "x", 1700).is_err());
        }
        let seq: Vec<_> = i.status_changes.iter().map(|c| (c.status, c.at)).collect();
        assert_eq!(
            seq,
            [
                (Status::Investigating, 1000),
                (Status::Identified, 1100),
                (Status::Monitoring, 1200),
                (Status::Resolved, 1300),
                (Status::Investigating, 1400),
                (Status::Resolved, 1500),
                (Status::Closed, 1600),
            ]
        );
        assert_eq!(i.first_time_in(Status::Investigating), Some(1000));
        assert_eq!(i.mitigated_at(), Some(1200));
        assert_eq!(i.resolved_at(), Some(1300));
        assert_eq!(i.acknowledged_at(), Some(1100));
        // closed is an archive
        assert!(matches!(i.set_title("x", "a", 1), Err(Error::Workflow(_))));
        assert!(matches!(
            i.edit_section(SECTION_SUMMARY, "x", 0, "a", 1),
            Err(Error::Workflow(_))
        ));
    }

    #[test]
    fn mitigated_when_resolved_directly() {
        let mut i = inc();
        assert_eq!(i.acknowledged_at(), None);
        assert_eq!(i.mitigated_at(), None);
        i.set_status(Status::Resolved, "a", 1500).unwrap();
        assert_eq!(i.mitigated_at(), Some(1500));
        assert_eq!(i.resolved_at(), Some(1500));
    }

    #[test]
    fn roles_before_and_after_delegation() {
        let mut i = inc();
        let roles = i.effective_roles();
        assert_eq!(
            roles
                .iter()
                .map(|r| (r.role.as_str(), r.holder.as_str(), r.delegated))
                .collect::<Vec<_>>(),
            [
                (INCIDENT_COMMANDER, "alice", false),
                (COMMUNICATIONS_LEAD, "alice", false),
                (OPERATIONS_LEAD, "alice", false),
            ]
        );
        i.assign_role(COMMUNICATIONS_LEAD, "carol", "alice", 1010)
            .unwrap();
        i.assign_role("scribe", "dave", "alice", 1020).unwrap();
        assert_eq!(i.acknowledged_at(), Some(1010));
        // same holder again is refused
        assert!(i.assign_role("scribe", "dave", "alice", 1030).is_err());
        assert!(i
            .assign_role(OPERATIONS_LEAD, "alice", "alice", 1030)
            .is_err());
        assert!(i.assign_role("Bad Role", "x", "alice", 1030).is_err());
        assert!(i.assign_role(&"r".repeat(65), "x", "alice", 1030).is_err());
        assert!(i.assign_role("r", "  ", "alice", 1030).is_err());
        // the commander hands over: undelegated roles follow
        let ev = i
            .assign_role(INCIDENT_COMMANDER, "bob", "alice", 1040)
            .unwrap();
        assert_eq!(ev.kind, TimelineKind::RoleChange);
        assert_eq!(ev.data["from"], "alice");
        let roles = i.effective_roles();
        let view: Vec<_> = roles
            .iter()
            .map(|r| (r.role.as_str(), r.holder.as_str(), r.delegated))
            .collect();
        assert_eq!(
            view,
            [
                (INCIDENT_COMMANDER, "bob", false),
                (COMMUNICATIONS_LEAD, "carol", true),
                (OPERATIONS_LEAD, "bob", false),
                ("scribe", "dave", true),
            ]
        );
        // handing a role back to the commander undelegates it
        i.assign_role(COMMUNICATIONS_LEAD, "bob", "bob", 1050)
            .unwrap();
        assert!(!i.roles.contains_key(COMMUNICATIONS_LEAD));
        let h: Vec<_> = i
            .handovers
            .iter()
            .map(|h| (h.role.as_str(), h.from.as_deref(), h.to.as_str(), h.at))
            .collect();
        assert_eq!(
            h,
            [
                (COMMUNICATIONS_LEAD, None, "carol", 1010),
                ("scribe", None, "dave", 1020),
                (INCIDENT_COMMANDER, Some("alice"), "bob", 1040),
                (COMMUNICATIONS_LEAD, Some("carol"), "bob", 1050),
            ]
        );
        let text = i.command_hierarchy_text();
        assert!(text.contains("Incident commander: bob"), "{text}");
        assert!(text.contains("Scribe: dave"), "{text}");
        i.edit_section(SECTION_COMMAND_HIERARCHY, "custom", 0, "bob", 1)
            .unwrap();
        assert_eq!(i.command_hierarchy_text(), "custom");
    }

    #[test]
    fn links() {
        let mut i = inc();
        let ev = i.link_alert("00AB00cd00ef0012", "a", 1).unwrap();
        assert_eq!(ev.kind, TimelineKind::AlertLinked);
        assert_eq!(i.linked_alerts, ["00ab00cd00ef0012"]);
        assert!(i.link_alert("00ab00cd00ef0012", "a", 1).is_err());
        assert!(i.link_alert("abc", "a", 1).is_err());
        assert!(i.link_alert("00ab00cd00ef001g", "a", 1).is_err());
        i.link_slo("checkout/availability", "a", 1).unwrap();
        assert!(i.link_slo("checkout/availability", "a", 1).is_err());
        for bad in ["checkout", "/x", "x/", "a/b/c", "a b/c"] {
            assert!(i.link_slo(bad, "a", 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn severity_and_title_changes() {
        let mut i = inc();
        let ev = i.set_severity(Severity::Sev1, "a", 1).unwrap();
        assert_eq!(ev.data["to"], "SEV1");
        assert!(i.set_severity(Severity::Sev1, "a", 1).is_err());
        let ev = i.set_title("checkout down", "a", 1).unwrap();
        assert_eq!(ev.kind, TimelineKind::TitleChange);
        assert!(i.set_title(" checkout down ", "a", 1).is_err());
        assert!(i.set_title("", "a", 1).is_err());
        assert_eq!(i.title, "checkout down");
    }

    #[test]
    fn timeline_kinds() {
        for k in TimelineKind::ALL {
            assert_eq!(k.as_str().parse::<TimelineKind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(
            TimelineKind::parse_user("stakeholder_update").unwrap(),
            TimelineKind::StakeholderUpdate
        );
        assert!(TimelineKind::parse_user("status_change").is_err());
        assert!(TimelineKind::parse_user("bogus").is_err());
    }

    #[test]
    fn concurrent_edits() {
        let mut i = inc();
        // two people read the document at revision 0 and edit different sections
        assert_eq!(
            i.edit_section(SECTION_SUMMARY, "checkout 500s", 0, "a", 10)
                .unwrap(),
            1
        );
        assert_eq!(
            i.edit_section(SECTION_TODOS, "- roll back", 0, "b", 11)
                .unwrap(),
            1
        );
        // two people edit the same section from revision 1: the second is refused
        assert_eq!(
            i.edit_section(SECTION_SUMMARY, "from a", 1, "a", 12)
                .unwrap(),
            2
        );
        match i.edit_section(SECTION_SUMMARY, "from b", 1, "b", 13) {
            Err(Error::Conflict(c)) => {
                assert_eq!(c.section, SECTION_SUMMARY);
                assert_eq!(c.base_revision, 1);
                assert_eq!(c.current_revision, 2);
                assert_eq!(c.current_text, "from a");
                assert_eq!(c.your_text, "from b");
            }
            other => panic!("{other:?}"),
        }
        let s = i.document.section(SECTION_SUMMARY).unwrap();
        assert_eq!((s.text.as_str(), s.revision), ("from a", 2));
        assert_eq!(
            (s.updated_at, s.updated_by.as_deref()),
            (Some(12), Some("a"))
        );
        assert!(matches!(
            i.edit_section("timeline", "x", 0, "a", 1),
            Err(Error::UnknownSection(_))
        ));
        assert!(matches!(
            i.edit_section(
                SECTION_STATUS,
                &"x".repeat(MAX_SECTION_BYTES + 1),
                0,
                "a",
                1
            ),
            Err(Error::Invalid { .. })
        ));
        i.edit_section(SECTION_STATUS, &"x".repeat(MAX_SECTION_BYTES), 0, "a", 1)
            .unwrap();
    }

    #[test]
    fn missing_section_is_added_in_order() {
        let mut d = Document::new();
        d.sections.retain(|s| s.name != SECTION_EXIT_CRITERIA);
        assert_eq!(d.edit(SECTION_EXIT_CRITERIA, "x", 0, "a", 1).unwrap(), 1);
        let names: Vec<_> = d.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, SECTIONS);
    }

    #[test]
    fn serializes_snake_case() {
        let i = inc();
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["severity"], "SEV2");
        assert_eq!(v["status"], "investigating");
        assert_eq!(v["declared_by"], "alice");
        assert_eq!(v["status_changes"][0]["status"], "investigating");
        assert_eq!(v["document"]["sections"][0]["name"], "summary");
        let back: Incident = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }
}
