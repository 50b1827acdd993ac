//! Postmortems: drafted from an incident (summary, SLO impact, pinned timeline), edited,
//! reviewed and published; action items with exactly one owner; overdue reviews; a
//! blameless-wording check; Markdown export; aggregates across postmortems.
//!
//! # Workflow
//!
//! `draft` → `in_review` → `reviewed` → `published`.
//!
//! - [`Postmortem::submit`] (draft → in_review) names at least one reviewer (no
//!   duplicates) and needs a summary and at least one root cause.
//! - [`Postmortem::approve`] records a named reviewer's approval; when every reviewer has
//!   approved, the postmortem is `reviewed`.
//! - [`Postmortem::publish`] (reviewed → published).
//! - [`Postmortem::withdraw`] (in_review or reviewed → draft) clears the approvals.
//!
//! Content (fields and action items) can be edited in `draft` and `in_review`. An edit in
//! review keeps the postmortem in review but withdraws the approvals given so far: a
//! reviewer approved a text, not whatever it becomes. `reviewed` and `published` are
//! frozen ([`Error::Workflow`]); only action-item status changes are accepted in every
//! state, since action items are worked on long after publication.
//!
//! Pure: no IO, no clock; every time is unix seconds passed in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::impact::{Impact, Timings};
use crate::incident::{Incident, Severity, SECTION_SUMMARY};
use crate::Error;

/// Longest text field (summary, impact, trigger, ...), in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest title, owner, reviewer or category, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most action items, root causes, lesson entries or reviewers per postmortem.
pub const MAX_ITEMS: usize = 200;

/// Root-cause categories the UI suggests (categories are free text).
pub const ROOT_CAUSE_CATEGORIES: [&str; 8] = [
    "change",
    "capacity",
    "dependency",
    "configuration",
    "software_bug",
    "hardware",
    "process",
    "unknown",
];

const DAY: i64 = 86_400;

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn workflow(message: impl Into<String>) -> Error {
    Error::Workflow(message.into())
}

/// Where a postmortem is in its review.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Draft,
    InReview,
    Reviewed,
    Published,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Draft,
        Status::InReview,
        Status::Reviewed,
        Status::Published,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Reviewed => "reviewed",
            Status::Published => "published",
        }
    }

    /// Content may change (draft, in review).
    pub fn editable(self) -> bool {
        matches!(self, Status::Draft | Status::InReview)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Status::ALL
            .into_iter()
            .find(|v| v.as_str() == wanted)
            .ok_or_else(|| {
                invalid(
                    "status",
                    format!("unknown postmortem status {:?}", s.trim()),
                )
            })
    }
}

/// The impact on one SLO during the incident (filled by the server from the impact
/// computation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloImpact {
    pub slo: String,
    pub bad_events: u64,
    /// Share of the error budget spent during the incident (0.05 = 5%).
    pub budget_consumed: f64,
    /// Seconds from the first bad bucket to detection (see [`crate::impact::Timings`]).
    pub time_to_detect: Option<i64>,
    /// Seconds from the start of impact to mitigation.
    pub time_to_mitigate: Option<i64>,
}

impl SloImpact {
    /// The figures of one SLO from the impact computation.
    pub fn new(slo: &str, impact: &Impact, timings: &Timings) -> SloImpact {
        SloImpact {
            slo: slo.to_string(),
            bad_events: impact.bad_events,
            budget_consumed: impact.budget_consumed,
            time_to_detect: timings.time_to_detect,
            time_to_mitigate: timings.time_to_mitigate,
        }
    }
}

/// A pinned entry of the incident's working record, copied into the postmortem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedEntry {
    pub at: i64,
    pub author: String,
    pub kind: String,
    pub text: String,
}

/// A root cause with its category (free text; see [`ROOT_CAUSE_CATEGORIES`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCause {
    pub category: String,
    pub text: String,
}

/// What went well, what went wrong, where we got lucky.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lessons {
    #[serde(default)]
    pub went_well: Vec<String>,
    #[serde(default)]
    pub went_wrong: Vec<String>,
    #[serde(default)]
    pub got_lucky: Vec<String>,
}

/// A reviewer and when they approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    pub name: String,
    pub approved_at: Option<i64>,
}

/// What an action item does about the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Prevent,
    Mitigate,
    Detect,
    Process,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Prevent => "prevent",
            ActionKind::Mitigate => "mitigate",
            ActionKind::Detect => "detect",
            ActionKind::Process => "process",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prevent" => Ok(ActionKind::Prevent),
            "mitigate" => Ok(ActionKind::Mitigate),
            "detect" => Ok(ActionKind::Detect),
            "process" => Ok(ActionKind::Process),
            _ => Err(invalid(
                "kind",
                format!(
                    "unknown action item kind {:?} (expected prevent, mitigate, detect or process)",
                    s.trim()
                ),
            )),
        }
    }
}

/// Progress of an action item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    #[default]
    Open,
    InProgress,
    Done,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Open => "open",
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Done => "done",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "open" => Ok(ActionStatus::Open),
            "in_progress" => Ok(ActionStatus::InProgress),
            "done" => Ok(ActionStatus::Done),
            _ => Err(invalid(
                "status",
                format!(
                    "unknown action item status {:?} (expected open, in_progress or done)",
                    s.trim()
                ),
            )),
        }
    }
}

/// A follow-up with exactly one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionItem {
    /// 1, 2, ... within the postmortem.
    pub id: u32,
    pub title: String,
    pub owner: String,
    #[serde(default)]
    pub collaborators: Vec<String>,
    pub kind: ActionKind,
    /// Serialized as `YYYY-MM-DD`.
    pub due: Date,
    pub status: ActionStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The body of a new action item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewActionItem {
    pub title: String,
    pub owner: String,
    #[serde(default)]
    pub collaborators: Vec<String>,
    pub kind: ActionKind,
    pub due: Date,
}

/// A partial edit: every field given replaces the current one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostmortemPatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub impact: Option<String>,
    pub trigger: Option<String>,
    pub resolution: Option<String>,
    pub detection: Option<String>,
    pub root_causes: Option<Vec<RootCause>>,
    pub lessons: Option<Lessons>,
}

/// A postmortem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Postmortem {
    /// 0 until stored.
    pub id: i64,
    pub incident_id: i64,
    pub title: String,
    pub status: Status,
    pub summary: String,
    pub impact: String,
    pub impact_figures: Vec<SloImpact>,
    /// Pinned entries of the working record, oldest first.
    pub timeline: Vec<PinnedEntry>,
    pub root_causes: Vec<RootCause>,
    pub trigger: String,
    pub resolution: String,
    pub detection: String,
    pub action_items: Vec<ActionItem>,
    pub lessons: Lessons,
    pub reviewers: Vec<Reviewer>,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub reviewed_at: Option<i64>,
    pub published_at: Option<i64>,
    pub updated_at: i64,
}

/// `1h 5m`, `4m 30s`, `2d 3h`: a duration in at most two units.
pub fn format_duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let text = if d > 0 {
        if h > 0 {
            format!("{d}d {h}h")
        } else {
            format!("{d}d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{h}h")
        }
    } else if m > 0 {
        if sec > 0 {
            format!("{m}m {sec}s")
        } else {
            format!("{m}m")
        }
    } else {
        format!("{sec}s")
    };
    format!("{sign}{text}")
}

fn format_percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1}%", fraction * 100.0)
    } else {
        "n/a".to_string()
    }
}

/// `2026-11-27 10:05 UTC`, or the raw seconds for a time jiff cannot show.
fn format_time(at: i64) -> String {
    match Timestamp::from_second(at) {
        Ok(ts) => {
            let dt = TimeZone::UTC.to_datetime(ts);
            format!("{} {:02}:{:02} UTC", dt.date(), dt.hour(), dt.minute())
        }
        Err(_) => format!("@{at}"),
    }
}

/// The impact paragraph drafted from the figures.
pub fn impact_text(figures: &[SloImpact]) -> String {
    if figures.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = figures
        .iter()
        .map(|f| {
            let mut line = format!(
                "{}: {} bad events, {} of the error budget consumed",
                f.slo,
                f.bad_events,
                format_percent(f.budget_consumed)
            );
            if let Some(m) = f.time_to_mitigate {
                let _ = write!(line, ", mitigated after {}", format_duration(m));
            }
            line.push('.');
            line
        })
        .collect();
    lines.join("\n")
}

/// The detection paragraph drafted from the figures: the shortest time to detect.
pub fn detection_text(figures: &[SloImpact]) -> String {
    let first = figures
        .iter()
        .filter_map(|f| f.time_to_detect.map(|t| (t, f.slo.as_str())))
        .min();
    match first {
        Some((t, slo)) => format!(
            "Detected {} after the first bad bucket of {slo}.",
            format_duration(t)
        ),
        None => String::new(),
    }
}

/// Drafts a postmortem from an incident: title from the incident, summary from its
/// state document's summary section (the title when that is empty), impact and
/// detection text from the figures, and the pinned entries oldest first.
pub fn draft(
    incident: &Incident,
    pinned: Vec<PinnedEntry>,
    figures: Vec<SloImpact>,
    at: i64,
) -> Postmortem {
    let summary = incident
        .document
        .section(SECTION_SUMMARY)
        .map(|s| s.text.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| incident.title.trim().to_string());
    let mut timeline = pinned;
    timeline.sort_by_key(|e| e.at);
    Postmortem {
        id: 0,
        incident_id: incident.id,
        title: incident.title.trim().to_string(),
        status: Status::Draft,
        summary,
        impact: impact_text(&figures),
        detection: detection_text(&figures),
        impact_figures: figures,
        timeline,
        root_causes: Vec::new(),
        trigger: String::new(),
        resolution: String::new(),
        action_items: Vec::new(),
        lessons: Lessons::default(),
        reviewers: Vec::new(),
        created_at: at,
        submitted_at: None,
        reviewed_at: None,
        published_at: None,
        updated_at: at,
    }
}

fn check_name(field: &str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

fn check_text(field: &str, value: &str) -> Result<String, Error> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(invalid(
            field,
            format!("longer than {MAX_TEXT_BYTES} bytes"),
        ));
    }
    Ok(value.trim().to_string())
}

fn check_count(field: &str, n: usize) -> Result<(), Error> {
    if n > MAX_ITEMS {
        return Err(invalid(field, format!("more than {MAX_ITEMS} entries")));
    }
    Ok(())
}

/// One owner: a single non-empty name, not a list (`,`, `;`, `&`, `+` or the word `and`).
pub fn validate_owner(owner: &str) -> Result<String, Error> {
    let o = owner.trim();
    if o.is_empty() {
        return Err(invalid("owner", "an action item needs exactly one owner"));
    }
    let lower = o.to_lowercase();
    let names_several =
        o.contains([',', ';', '&', '+']) || lower.split_whitespace().any(|w| w == "and");
    if names_several {
        return Err(invalid(
            "owner",
            "an action item has exactly one owner; name the others as collaborators",
        ));
    }
    check_name("owner", o)
}

/// Normalises a root-cause category: trimmed, lowercase, spaces and hyphens as `_`;
/// empty becomes `unknown`.
pub fn normalize_category(category: &str) -> String {
    let c: String = category
        .trim()
        .to_lowercase()
        .split(|ch: char| ch.is_whitespace() || ch == '-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if c.is_empty() {
        "unknown".into()
    } else {
        c
    }
}

fn check_root_causes(causes: Vec<RootCause>) -> Result<Vec<RootCause>, Error> {
    check_count("root_causes", causes.len())?;
    causes
        .into_iter()
        .map(|c| {
            let text = check_text("root_causes", &c.text)?;
            if text.is_empty() {
                return Err(invalid("root_causes", "a root cause needs a text"));
            }
            let category = normalize_category(&c.category);
            if category.chars().count() > MAX_NAME_CHARS {
                return Err(invalid(
                    "root_causes",
                    format!("category longer than {MAX_NAME_CHARS} characters"),
                ));
            }
            Ok(RootCause { category, text })
        })
        .collect()
}

fn check_list(field: &str, list: Vec<String>) -> Result<Vec<String>, Error> {
    check_count(field, list.len())?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let t = check_text(field, &item)?;
        if !t.is_empty() {
            out.push(t);
        }
    }
    Ok(out)
}

impl Postmortem {
    fn ensure_editable(&self) -> Result<(), Error> {
        if self.status.editable() {
            Ok(())
        } else {
            Err(workflow(format!(
                "a {} postmortem is frozen; withdraw it to draft to edit",
                self.status
            )))
        }
    }

    /// An edit in review withdraws the approvals given so far.
    fn touched(&mut self, at: i64) {
        if self.status == Status::InReview {
            for r in &mut self.reviewers {
                r.approved_at = None;
            }
        }
        self.updated_at = at;
    }

    /// Applies the fields given (draft or in review only; see the module docs) and says
    /// whether anything changed. Nothing changes when any field is refused; a patch that
    /// changes nothing keeps the approvals of a postmortem in review.
    pub fn apply_patch(&mut self, patch: PostmortemPatch, at: i64) -> Result<bool, Error> {
        self.ensure_editable()?;
        let title = patch.title.map(|t| check_name("title", &t)).transpose()?;
        let summary = patch
            .summary
            .map(|t| check_text("summary", &t))
            .transpose()?;
        let impact = patch.impact.map(|t| check_text("impact", &t)).transpose()?;
        let trigger = patch
            .trigger
            .map(|t| check_text("trigger", &t))
            .transpose()?;
        let resolution = patch
            .resolution
            .map(|t| check_text("resolution", &t))
            .transpose()?;
        let detection = patch
            .detection
            .map(|t| check_text("detection", &t))
            .transpose()?;
        let root_causes = patch.root_causes.map(check_root_causes).transpose()?;
        let lessons = patch
            .lessons
            .map(|l| -> Result<Lessons, Error> {
                Ok(Lessons {
                    went_well: check_list("lessons.went_well", l.went_well)?,
                    went_wrong: check_list("lessons.went_wrong", l.went_wrong)?,
                    got_lucky: check_list("lessons.got_lucky", l.got_lucky)?,
                })
            })
            .transpose()?;
        fn put<T: PartialEq>(slot: &mut T, value: Option<T>) -> bool {
            match value {
                Some(v) if *slot != v => {
                    *slot = v;
                    true
                }
                _ => false,
            }
        }
        let mut changed = put(&mut self.title, title);
        changed |= put(&mut self.summary, summary);
        changed |= put(&mut self.impact, impact);
        changed |= put(&mut self.trigger, trigger);
        changed |= put(&mut self.resolution, resolution);
        changed |= put(&mut self.detection, detection);
        changed |= put(&mut self.root_causes, root_causes);
        changed |= put(&mut self.lessons, lessons);
        if changed {
            self.touched(at);
        }
        Ok(changed)
    }

    /// Adds an action item (draft or in review only). The owner must be exactly one
    /// person; collaborators are trimmed, duplicates and the owner dropped.
    pub fn add_action_item(&mut self, item: NewActionItem, at: i64) -> Result<&ActionItem, Error> {
        self.ensure_editable()?;
        if self.action_items.len() >= MAX_ITEMS {
            return Err(invalid(
                "action_items",
                format!("more than {MAX_ITEMS} action items"),
            ));
        }
        let title = check_name("title", &item.title)?;
        let owner = validate_owner(&item.owner)?;
        check_count("collaborators", item.collaborators.len())?;
        let mut collaborators: Vec<String> = Vec::new();
        for c in &item.collaborators {
            let c = check_name("collaborators", c)?;
            if c != owner && !collaborators.contains(&c) {
                collaborators.push(c);
            }
        }
        let id = self
            .action_items
            .iter()
            .map(|a| a.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        self.touched(at);
        let idx = self.action_items.len();
        self.action_items.push(ActionItem {
            id,
            title,
            owner,
            collaborators,
            kind: item.kind,
            due: item.due,
            status: ActionStatus::Open,
            created_at: at,
            updated_at: at,
        });
        Ok(&self.action_items[idx])
    }

    /// Changes an action item's status; allowed in every postmortem state.
    pub fn update_action_item(
        &mut self,
        id: u32,
        status: ActionStatus,
        at: i64,
    ) -> Result<&ActionItem, Error> {
        let Some(idx) = self.action_items.iter().position(|a| a.id == id) else {
            return Err(invalid("action_item", format!("no action item {id}")));
        };
        let item = &mut self.action_items[idx];
        if item.status != status {
            item.status = status;
            item.updated_at = at;
            self.updated_at = at;
        }
        Ok(&self.action_items[idx])
    }

    /// Draft → in review with the named reviewers (at least one, no duplicates, compared
    /// case-insensitively). Needs a summary and at least one root cause.
    pub fn submit(&mut self, reviewers: Vec<String>, at: i64) -> Result<(), Error> {
        if self.status != Status::Draft {
            return Err(workflow(format!(
                "only a draft can be submitted for review; this postmortem is {}",
                self.status
            )));
        }
        if reviewers.is_empty() {
            return Err(invalid("reviewers", "name at least one reviewer"));
        }
        check_count("reviewers", reviewers.len())?;
        let mut seen = BTreeSet::new();
        let mut named = Vec::with_capacity(reviewers.len());
        for r in &reviewers {
            let r = check_name("reviewers", r)?;
            if !seen.insert(r.to_lowercase()) {
                return Err(invalid("reviewers", format!("{r} is named twice")));
            }
            named.push(Reviewer {
                name: r,
                approved_at: None,
            });
        }
        if self.summary.trim().is_empty() {
            return Err(workflow("write a summary before submitting for review"));
        }
        if self.root_causes.is_empty() {
            return Err(workflow(
                "name at least one root cause before submitting for review",
            ));
        }
        self.reviewers = named;
        self.status = Status::InReview;
        self.submitted_at = Some(at);
        self.reviewed_at = None;
        self.updated_at = at;
        Ok(())
    }

    /// A named reviewer approves (in review only). Approving twice keeps the first time.
    /// When every reviewer has approved, the postmortem is reviewed. Returns the status.
    pub fn approve(&mut self, reviewer: &str, at: i64) -> Result<Status, Error> {
        if self.status != Status::InReview {
            return Err(workflow(format!(
                "only a postmortem in review can be approved; this one is {}",
                self.status
            )));
        }
        let who = reviewer.trim();
        let Some(r) = self
            .reviewers
            .iter_mut()
            .find(|r| r.name.to_lowercase() == who.to_lowercase())
        else {
            return Err(workflow(format!(
                "{who:?} is not a reviewer of this postmortem"
            )));
        };
        if r.approved_at.is_none() {
            r.approved_at = Some(at);
            self.updated_at = at;
        }
        if self.reviewers.iter().all(|r| r.approved_at.is_some()) {
            self.status = Status::Reviewed;
            self.reviewed_at = Some(at);
            self.updated_at = at;
        }
        Ok(self.status)
    }

    /// Reviewed → published.
    pub fn publish(&mut self, at: i64) -> Result<(), Error> {
        if self.status != Status::Reviewed {
            return Err(workflow(format!(
                "only a reviewed postmortem can be published; this one is {}",
                self.status
            )));
        }
        self.status = Status::Published;
        self.published_at = Some(at);
        self.updated_at = at;
        Ok(())
    }

    /// In review or reviewed → draft, clearing approvals (to edit after review).
    /// A published postmortem stays published.
    pub fn withdraw(&mut self, at: i64) -> Result<(), Error> {
        if !matches!(self.status, Status::InReview | Status::Reviewed) {
            return Err(workflow(format!(
                "only a postmortem in review or reviewed can go back to draft; this one is {}",
                self.status
            )));
        }
        for r in &mut self.reviewers {
            r.approved_at = None;
        }
        self.status = Status::Draft;
        self.reviewed_at = None;
        self.updated_at = at;
        Ok(())
    }

    /// Every text field with its API path (`summary`, `root_causes[0].text`, ...).
    pub fn text_fields(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = vec![
            ("title".into(), self.title.as_str()),
            ("summary".into(), self.summary.as_str()),
            ("impact".into(), self.impact.as_str()),
            ("trigger".into(), self.trigger.as_str()),
            ("resolution".into(), self.resolution.as_str()),
            ("detection".into(), self.detection.as_str()),
        ];
        for (i, c) in self.root_causes.iter().enumerate() {
            out.push((format!("root_causes[{i}].text"), c.text.as_str()));
        }
        for (i, e) in self.timeline.iter().enumerate() {
            out.push((format!("timeline[{i}].text"), e.text.as_str()));
        }
        for (i, a) in self.action_items.iter().enumerate() {
            out.push((format!("action_items[{i}].title"), a.title.as_str()));
        }
        for (name, list) in [
            ("went_well", &self.lessons.went_well),
            ("went_wrong", &self.lessons.went_wrong),
            ("got_lucky", &self.lessons.got_lucky),
        ] {
            for (i, t) in list.iter().enumerate() {
                out.push((format!("lessons.{name}[{i}]"), t.as_str()));
            }
        }
        out
    }

    /// The blameless check over every text field.
    pub fn blameless_findings(&self) -> Vec<FieldFinding> {
        self.text_fields()
            .into_iter()
            .flat_map(|(field, text)| {
                blameless_check(text)
                    .into_iter()
                    .map(move |finding| FieldFinding {
                        field: field.clone(),
                        finding,
                    })
            })
            .collect()
    }

    /// The postmortem as a Markdown document.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Postmortem: {}\n", one_line(&self.title));
        let _ = writeln!(md, "- Incident: #{}", self.incident_id);
        let _ = writeln!(md, "- Status: {}", self.status);
        let _ = writeln!(md, "- Created: {}", format_time(self.created_at));
        if let Some(t) = self.submitted_at {
            let _ = writeln!(md, "- Submitted for review: {}", format_time(t));
        }
        if let Some(t) = self.reviewed_at {
            let _ = writeln!(md, "- Reviewed: {}", format_time(t));
        }
        if let Some(t) = self.published_at {
            let _ = writeln!(md, "- Published: {}", format_time(t));
        }
        let _ = writeln!(md, "- Last updated: {}", format_time(self.updated_at));

        section(&mut md, "Summary", &self.summary);

        section(&mut md, "Impact", &self.impact);
        if !self.impact_figures.is_empty() {
            md.push_str(
                "| SLO | bad events | budget consumed | time to detect | time to mitigate |\n",
            );
            md.push_str("|---|---:|---:|---:|---:|\n");
            for f in &self.impact_figures {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    cell(&f.slo),
                    f.bad_events,
                    format_percent(f.budget_consumed),
                    f.time_to_detect.map_or("n/a".into(), format_duration),
                    f.time_to_mitigate.map_or("n/a".into(), format_duration),
                );
            }
            md.push('\n');
        }

        md.push_str("## Timeline\n\n");
        if self.timeline.is_empty() {
            md.push_str("_No pinned entries._\n\n");
        } else {
            let mut entries: Vec<&PinnedEntry> = self.timeline.iter().collect();
            entries.sort_by_key(|e| e.at);
            for e in entries {
                let _ = writeln!(
                    md,
                    "- {} — {} ({}): {}",
                    format_time(e.at),
                    one_line(&e.author),
                    one_line(&e.kind),
                    one_line(&e.text)
                );
            }
            md.push('\n');
        }

        md.push_str("## Root causes\n\n");
        if self.root_causes.is_empty() {
            md.push_str("_None named yet._\n\n");
        } else {
            for c in &self.root_causes {
                let _ = writeln!(md, "- **{}**: {}", one_line(&c.category), one_line(&c.text));
            }
            md.push('\n');
        }

        section(&mut md, "Trigger", &self.trigger);
        section(&mut md, "Resolution", &self.resolution);
        section(&mut md, "Detection", &self.detection);

        md.push_str("## Action items\n\n");
        if self.action_items.is_empty() {
            md.push_str("_None yet._\n\n");
        } else {
            md.push_str("| # | title | owner | collaborators | kind | due | status |\n");
            md.push_str("|---:|---|---|---|---|---|---|\n");
            for a in &self.action_items {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    a.id,
                    cell(&a.title),
                    cell(&a.owner),
                    cell(&a.collaborators.join(", ")),
                    a.kind,
                    a.due,
                    a.status
                );
            }
            md.push('\n');
        }

        md.push_str("## Lessons\n\n");
        for (heading, list) in [
            ("What went well", &self.lessons.went_well),
            ("What went wrong", &self.lessons.went_wrong),
            ("Where we got lucky", &self.lessons.got_lucky),
        ] {
            let _ = writeln!(md, "### {heading}\n");
            if list.is_empty() {
                md.push_str("_Nothing noted._\n\n");
            } else {
                for item in list {
                    let _ = writeln!(md, "- {}", one_line(item));
                }
                md.push('\n');
            }
        }

        md.push_str("## Reviewers\n\n");
        if self.reviewers.is_empty() {
            md.push_str("_Not submitted for review yet._\n");
        } else {
            for r in &self.reviewers {
                match r.approved_at {
                    Some(t) => {
                        let _ = writeln!(
                            md,
                            "- [x] {} — approved {}",
                            one_line(&r.name),
                            format_time(t)
                        );
                    }
                    None => {
                        let _ = writeln!(md, "- [ ] {} — pending", one_line(&r.name));
                    }
                }
            }
        }
        md
    }
}

fn section(md: &mut String, heading: &str, text: &str) {
    let _ = writeln!(md, "\n## {heading}\n");
    let t = text.trim();
    if t.is_empty() {
        md.push_str("_Not written yet._\n\n");
    } else {
        md.push_str(t);
        md.push_str("\n\n");
    }
}

/// A text on one line (list items, headings).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A text safe in a table cell.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

// ---------------------------------------------------------------------------------------
// Overdue reviews

/// A postmortem not reviewed in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    pub postmortem_id: i64,
    pub incident_id: i64,
    pub severity: Severity,
    pub status: Status,
    pub due_at: i64,
    pub overdue_seconds: i64,
}

/// When a review is due for an incident of `severity` resolved (or declared) at `base`:
/// SEV1 3 calendar days later, SEV2 5 business days later (Saturday and Sunday skipped,
/// UTC, same time of day); other severities never.
pub fn review_due_at(severity: Severity, base: i64) -> Option<i64> {
    match severity {
        Severity::Sev1 => base.checked_add(3 * DAY),
        Severity::Sev2 => add_business_days(base, 5),
        _ => None,
    }
}

fn add_business_days(base: i64, days: u32) -> Option<i64> {
    let ts = Timestamp::from_second(base).ok()?;
    let mut date = TimeZone::UTC.to_datetime(ts).date();
    let mut added = 0i64;
    let mut left = days;
    while left > 0 {
        date = date.tomorrow().ok()?;
        added += 1;
        if !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    base.checked_add(added * DAY)
}

/// Postmortems overdue for review at `now`: not yet reviewed or published, past their
/// due time (see [`review_due_at`]); each item is the postmortem, its incident's
/// severity and the incident's resolved time (declared time when not resolved). Most
/// overdue first.
pub fn overdue(
    postmortems_with_incidents: &[(Postmortem, Severity, i64)],
    now: i64,
) -> Vec<Overdue> {
    let mut out: Vec<Overdue> = postmortems_with_incidents
        .iter()
        .filter(|(pm, _, _)| matches!(pm.status, Status::Draft | Status::InReview))
        .filter_map(|(pm, severity, base)| {
            let due_at = review_due_at(*severity, *base)?;
            let late = now.checked_sub(due_at)?;
            (late > 0).then_some(Overdue {
                postmortem_id: pm.id,
                incident_id: pm.incident_id,
                severity: *severity,
                status: pm.status,
                due_at,
                overdue_seconds: late,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.overdue_seconds
            .cmp(&a.overdue_seconds)
            .then(a.postmortem_id.cmp(&b.postmortem_id))
    });
    out
}

// ---------------------------------------------------------------------------------------
// Blameless check

/// Wording that blames people, with a neutral rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The words as written.
    pub phrase: String,
    /// Byte offset in the text.
    pub start: usize,
    pub suggestion: String,
}

/// A finding in one field of a postmortem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldFinding {
    /// `summary`, `root_causes[0].text`, `lessons.went_wrong[1]`, ...
    pub field: String,
    #[serde(flatten)]
    pub finding: Finding,
}

/// One word of a rule.
#[derive(Clone, Copy)]
enum W {
    /// One of `|`-separated lowercase words.
    Any(&'static str),
    /// A possessive (`alice's`), not an impersonal one (`no one's`).
    Possessive,
    /// A name: `@handle`, or a capitalised word that is not a pronoun or an acronym.
    Person,
}

struct Rule {
    words: &'static [W],
    suggestion: &'static str,
}

const SUGGEST_FAULT: &str = "describe what in the system or process allowed this, not whose fault it was (e.g. \"the deploy pipeline let the change through without a canary\")";
const SUGGEST_BLAME: &str =
    "describe the conditions that led to the outcome instead of assigning blame";
const SUGGEST_CARE: &str = "name the safeguard that was missing (e.g. \"no check stopped the command from running against production\")";
const SUGGEST_KNOWN: &str = "say what information was not available at the time (e.g. \"the dashboard did not show the queue depth\")";
const SUGGEST_FAILED: &str = "state what did not happen and why the system allowed it (e.g. \"the migration did not run because the job was not scheduled\")";
const SUGGEST_FORGOT: &str = "describe the missing reminder, checklist step or automation (e.g. \"the runbook did not list this step\")";
const SUGGEST_HUMAN: &str = "name the gap in tooling or process that let the mistake through (e.g. \"the CLI accepted a production target without confirmation\")";
const SUGGEST_JUDGE: &str =
    "remove the judgement of the person; describe the action and its effect";
const SUGGEST_SKILL: &str = "describe the knowledge, training or documentation that was missing";
const SUGGEST_SKIPPED: &str = "describe why the step was skipped (time pressure, unclear ownership, a step that looked optional)";
const SUGGEST_MISTAKE: &str =
    "describe the action and the conditions that made it likely, not whose mistake it was";
const SUGGEST_PERSON: &str = "if this names a person, name the change or system instead (e.g. \"the deploy of v2.3 caused ...\")";
const SUGGEST_SHOULD: &str = "describe what was expected and what made it hard to do at the time";

const RULES: &[Rule] = &[
    Rule {
        words: &[W::Possessive, W::Any("fault")],
        suggestion: SUGGEST_FAULT,
    },
    Rule {
        words: &[W::Any("his|her|their|your|my"), W::Any("fault")],
        suggestion: SUGGEST_FAULT,
    },
    Rule {
        words: &[W::Any("fault"), W::Any("of"), W::Person],
        suggestion: SUGGEST_FAULT,
    },
    Rule {
        words: &[W::Any("at"), W::Any("fault")],
        suggestion: SUGGEST_FAULT,
    },
    Rule {
        words: &[W::Any("to"), W::Any("blame")],
        suggestion: SUGGEST_BLAME,
    },
    Rule {
        words: &[W::Any("blame|blamed|blames|blaming|blameworthy")],
        suggestion: SUGGEST_BLAME,
    },
    Rule {
        words: &[W::Any(
            "careless|carelessly|carelessness|negligent|negligently|negligence|reckless|recklessly|recklessness|sloppy|sloppily|sloppiness|lazy|laziness",
        )],
        suggestion: SUGGEST_CARE,
    },
    Rule {
        words: &[W::Any("should|must"), W::Any("have"), W::Any("known")],
        suggestion: SUGGEST_KNOWN,
    },
    Rule {
        words: &[W::Any("should've"), W::Any("known")],
        suggestion: SUGGEST_KNOWN,
    },
    Rule {
        words: &[
            W::Any("ought"),
            W::Any("to"),
            W::Any("have"),
            W::Any("known"),
        ],
        suggestion: SUGGEST_KNOWN,
    },
    Rule {
        words: &[
            W::Any("should"),
            W::Any("have"),
            W::Any("noticed|caught|checked|realized|realised|seen|tested|asked"),
        ],
        suggestion: SUGGEST_SHOULD,
    },
    Rule {
        words: &[
            W::Any("should've"),
            W::Any("noticed|caught|checked|realized|realised|seen|tested|asked"),
        ],
        suggestion: SUGGEST_SHOULD,
    },
    Rule {
        words: &[W::Any("failed|fails|failing"), W::Any("to")],
        suggestion: SUGGEST_FAILED,
    },
    Rule {
        words: &[
            W::Any("forgot|forgets|forgetting|forgotten"),
            W::Any("to|about"),
        ],
        suggestion: SUGGEST_FORGOT,
    },
    Rule {
        words: &[W::Any("forgot|forgets|forgetting|forgotten")],
        suggestion: SUGGEST_FORGOT,
    },
    Rule {
        words: &[W::Any("human|operator|user|pilot"), W::Any("error|errors")],
        suggestion: SUGGEST_HUMAN,
    },
    Rule {
        words: &[W::Any(
            "incompetent|incompetence|incompetently|inexperienced|clueless|unqualified",
        )],
        suggestion: SUGGEST_SKILL,
    },
    Rule {
        words: &[W::Any(
            "stupid|stupidly|stupidity|dumb|idiot|idiots|idiotic|moron|foolish|dumbest",
        )],
        suggestion: SUGGEST_JUDGE,
    },
    Rule {
        words: &[W::Any("didn't|didnt"), W::Any("bother")],
        suggestion: SUGGEST_SKIPPED,
    },
    Rule {
        words: &[W::Any("did"), W::Any("not"), W::Any("bother")],
        suggestion: SUGGEST_SKIPPED,
    },
    Rule {
        words: &[W::Any("couldn't|couldnt"), W::Any("be"), W::Any("bothered")],
        suggestion: SUGGEST_SKIPPED,
    },
    Rule {
        words: &[
            W::Any("could"),
            W::Any("not"),
            W::Any("be"),
            W::Any("bothered"),
        ],
        suggestion: SUGGEST_SKIPPED,
    },
    Rule {
        words: &[W::Any("screwed|messed|fucked"), W::Any("up")],
        suggestion: SUGGEST_JUDGE,
    },
    Rule {
        words: &[W::Any("botched|bungled")],
        suggestion: SUGGEST_JUDGE,
    },
    Rule {
        words: &[
            W::Possessive,
            W::Any("mistake|mistakes|error|errors|screwup|screw-up"),
        ],
        suggestion: SUGGEST_MISTAKE,
    },
    Rule {
        words: &[W::Any("his|her|their"), W::Any("mistake|mistakes")],
        suggestion: SUGGEST_MISTAKE,
    },
    Rule {
        words: &[W::Any("he|she"), W::Any("caused|broke")],
        suggestion: SUGGEST_PERSON,
    },
    Rule {
        words: &[W::Person, W::Any("caused|broke")],
        suggestion: SUGGEST_PERSON,
    },
];

/// Capitalised words that are not people.
const NOT_PEOPLE: &[&str] = &[
    "this",
    "that",
    "it",
    "which",
    "what",
    "there",
    "these",
    "those",
    "the",
    "a",
    "an",
    "and",
    "but",
    "so",
    "then",
    "who",
    "whatever",
    "something",
    "nothing",
    "everything",
    "one",
    "each",
    "all",
    "both",
    "he",
    "she",
    "they",
    "we",
    "i",
    "you",
    "also",
    "finally",
    "eventually",
    "later",
    "again",
    "ultimately",
    "accidentally",
    "unfortunately",
];

struct Token<'a> {
    start: usize,
    end: usize,
    /// As written.
    raw: &'a str,
    /// Lowercase, curly apostrophes made straight.
    lower: String,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '@' || c == '\'' || c == '\u{2019}'
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !is_word_char(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = iter.peek() {
            if !is_word_char(d) {
                break;
            }
            end = j + d.len_utf8();
            iter.next();
        }
        // Quotes around a word are not part of it.
        let word = &text[i..end];
        let trimmed_start = word.trim_start_matches(is_apostrophe);
        let start = i + (word.len() - trimmed_start.len());
        let trimmed = trimmed_start.trim_end_matches(is_apostrophe);
        if trimmed.is_empty() {
            continue;
        }
        let end = start + trimmed.len();
        out.push(Token {
            start,
            end,
            raw: trimmed,
            lower: trimmed.to_lowercase().replace('\u{2019}', "'"),
        });
    }
    out
}

fn word_matches(w: W, tok: &Token<'_>) -> bool {
    match w {
        W::Any(alternatives) => alternatives.split('|').any(|a| a == tok.lower),
        W::Possessive => {
            tok.lower.len() > 2
                && tok.lower.ends_with("'s")
                && !matches!(
                    tok.lower.as_str(),
                    "one's"
                        | "no-one's"
                        | "nobody's"
                        | "noone's"
                        | "it's"
                        | "that's"
                        | "what's"
                        | "there's"
                        | "let's"
                        | "he's"
                        | "she's"
                        | "who's"
                        | "here's"
                        | "everyone's"
                        | "everybody's"
                        | "someone's"
                        | "anyone's"
                )
        }
        W::Person => {
            if tok.raw.starts_with('@') {
                return tok.raw.len() > 1;
            }
            let mut chars = tok.raw.chars();
            let first_upper = chars.next().is_some_and(char::is_uppercase);
            let all_upper = tok
                .raw
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase);
            first_upper
                && !all_upper
                && tok
                    .raw
                    .chars()
                    .all(|c| c.is_alphabetic() || is_apostrophe(c) || c == '-')
                && !NOT_PEOPLE.contains(&tok.lower.as_str())
        }
    }
}

/// Flags wording that blames people (case-insensitive, whole words), each with a
/// neutral rewrite; matches never overlap and come in text order. A name before
/// `caused`/`broke` is a capitalised word or an `@handle`, so it may also flag a system
/// spelled like a name; the suggestion says "if this names a person".
pub fn blameless_check(text: &str) -> Vec<Finding> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let best = RULES
            .iter()
            .filter(|r| {
                r.words.len() <= toks.len() - i
                    && r.words
                        .iter()
                        .zip(&toks[i..])
                        .all(|(w, t)| word_matches(*w, t))
                    && adjacent(text, &toks[i..i + r.words.len()])
            })
            .max_by_key(|r| r.words.len());
        match best {
            Some(rule) => {
                let n = rule.words.len();
                let (start, end) = (toks[i].start, toks[i + n - 1].end);
                out.push(Finding {
                    phrase: text[start..end].to_string(),
                    start,
                    suggestion: rule.suggestion.to_string(),
                });
                i += n;
            }
            None => i += 1,
        }
    }
    out
}

/// Words of one phrase: only whitespace between them (not a sentence or clause break).
fn adjacent(text: &str, toks: &[Token<'_>]) -> bool {
    toks.windows(2)
        .all(|w| text[w[0].end..w[1].start].chars().all(char::is_whitespace))
}

// ---------------------------------------------------------------------------------------
// Aggregates

/// Counts across postmortems.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Aggregates {
    pub postmortems: usize,
    /// Incidents per service (an incident without services counts under `unknown`).
    pub by_service: BTreeMap<String, usize>,
    /// Incidents per trigger (trimmed, lowercase, whitespace collapsed; empty → `unknown`).
    pub by_trigger: BTreeMap<String, usize>,
    /// Incidents per root-cause category (each category once per postmortem; none →
    /// `unknown`).
    pub by_root_cause_category: BTreeMap<String, usize>,
    /// Action items not done (open or in progress) per owner.
    pub open_action_items_by_owner: BTreeMap<String, usize>,
}

/// Normalised trigger: trimmed, lowercase, runs of whitespace as one space; empty is
/// `unknown`.
pub fn normalize_trigger(trigger: &str) -> String {
    let t = trigger
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if t.is_empty() {
        "unknown".into()
    } else {
        t
    }
}

/// Aggregates postmortems with their incidents' services.
pub fn aggregates(items: &[(Postmortem, Vec<String>)]) -> Aggregates {
    let mut agg = Aggregates {
        postmortems: items.len(),
        ..Aggregates::default()
    };
    for (pm, services) in items {
        let services: BTreeSet<&str> = services
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if services.is_empty() {
            *agg.by_service.entry("unknown".into()).or_default() += 1;
        }
        for s in services {
            *agg.by_service.entry(s.to_string()).or_default() += 1;
        }
        *agg.by_trigger
            .entry(normalize_trigger(&pm.trigger))
            .or_default() += 1;
        let categories: BTreeSet<String> = pm
            .root_causes
            .iter()
            .map(|c| normalize_category(&c.category))
            .collect();
        if categories.is_empty() {
            *agg.by_root_cause_category
                .entry("unknown".into())
                .or_default() += 1;
        }
        for c in categories {
            *agg.by_root_cause_category.entry(c).or_default() += 1;
        }
        for a in &pm.action_items {
            if a.status != ActionStatus::Done {
                *agg.open_action_items_by_owner
                    .entry(a.owner.clone())
                    .or_default() += 1;
            }
        }
    }
    agg
}
