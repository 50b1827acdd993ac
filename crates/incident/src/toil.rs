//! Toil: manual, repetitive, automatable work that grows with the service. Entries are
//! logged in minutes against a team and a category; reports give toil as a share of each
//! team's weekly capacity per ISO week (UTC, Monday start), flag weeks over 50%, break the
//! minutes down by category, and compare a recurring task before and after it was automated.
//!
//! Pure: no IO and no clock; every time is unix seconds passed in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Seconds in a day and in a week.
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// The most minutes one entry may carry: a whole week.
pub const MAX_ENTRY_MINUTES: u32 = 10_080;
/// Longest team, task and author names, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// How far before and after an automation the before/after comparison looks.
pub const AUTOMATION_WINDOW_WEEKS: i64 = 4;

/// The kinds of toil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    BusinessProcesses,
    ProductionInterrupts,
    ProductReleases,
    Migrations,
    CostEngineering,
    CapacityPlanning,
    Troubleshooting,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 7] = [
        Category::BusinessProcesses,
        Category::ProductionInterrupts,
        Category::ProductReleases,
        Category::Migrations,
        Category::CostEngineering,
        Category::CapacityPlanning,
        Category::Troubleshooting,
    ];

    /// The API name (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::BusinessProcesses => "business_processes",
            Category::ProductionInterrupts => "production_interrupts",
            Category::ProductReleases => "product_releases",
            Category::Migrations => "migrations",
            Category::CostEngineering => "cost_engineering",
            Category::CapacityPlanning => "capacity_planning",
            Category::Troubleshooting => "troubleshooting",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = Error;

    /// Accepts the snake_case names, case-insensitively, with hyphens or spaces for the
    /// underscores (`production-interrupts`, `Cost Engineering`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                other => other.to_ascii_lowercase(),
            })
            .collect();
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == wanted)
            .ok_or_else(|| Error::Invalid {
                field: "category".into(),
                reason: format!(
                    "unknown category {:?} (expected one of {})",
                    s.trim(),
                    Category::ALL.map(Category::as_str).join(", ")
                ),
            })
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Logged by a person.
    #[default]
    Manual,
    /// Counted automatically from a page or ticket handled (ack to resolve).
    Page,
}

/// One piece of toil.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToilEntry {
    /// 0 until stored.
    #[serde(default)]
    pub id: i64,
    pub team: String,
    pub category: Category,
    /// 1..=10080 (a week).
    pub minutes: u32,
    /// When the work was done (unix seconds).
    pub at: i64,
    pub description: String,
    #[serde(default)]
    pub automatable: bool,
    /// The recurring task this entry belongs to, for before/after an automation.
    #[serde(default)]
    pub task: Option<String>,
    pub author: String,
    #[serde(default)]
    pub source: Source,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_name(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

impl ToilEntry {
    /// Checks every field: team, author and task (when given) non-empty and at most 200
    /// characters, minutes 1..=10080, a description of at most 4000 characters, and a time
    /// that is a valid date.
    pub fn validate(&self) -> Result<(), Error> {
        check_name("team", &self.team)?;
        check_name("author", &self.author)?;
        if let Some(task) = &self.task {
            check_name("task", task)?;
        }
        if !(1..=MAX_ENTRY_MINUTES).contains(&self.minutes) {
            return Err(invalid(
                "minutes",
                format!("must be between 1 and {MAX_ENTRY_MINUTES} (a week)"),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(invalid("description", "must not be empty"));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(invalid(
                "description",
                format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if Timestamp::from_second(self.at).is_err() {
            return Err(invalid("at", "not a representable time"));
        }
        Ok(())
    }
}

/// A team and how many minutes of work it has in a week (people × working minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub name: String,
    /// 0 means unknown: shares are then not computed.
    pub weekly_capacity_minutes: u32,
}

/// A recurring task marked as automated at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automation {
    pub team: String,
    pub task: String,
    pub at: i64,
}

/// Toil of one team in one ISO week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamWeek {
    pub team: String,
    /// ISO week, e.g. `2026-W48`.
    pub week: String,
    /// Monday 00:00 UTC of that week.
    pub week_start: i64,
    pub minutes: u64,
    /// The team's weekly capacity; `None` when the team has none (unknown team or 0).
    pub capacity_minutes: Option<u32>,
    /// minutes / capacity; `None` without a capacity.
    pub share: Option<f64>,
    /// The share is above 50%.
    pub over_half: bool,
}

/// Minutes of one category (over every team).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryMinutes {
    pub category: Category,
    pub minutes: u64,
}

/// Minutes of one category for one team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamCategoryMinutes {
    pub team: String,
    pub category: Category,
    pub minutes: u64,
}

/// A recurring task before and after its automation.
///
/// The windows are the 4 weeks (28 days) before the automation time and the 4 weeks from
/// it, each cut to the report range `[from, to)`; `weeks_*` is the length of the window
/// in weeks (fractional when cut) and `minutes_per_week_*` the minutes of entries of that
/// team and task in the window divided by it (`None` when the window is empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub team: String,
    pub task: String,
    pub automated_at: i64,
    pub weeks_before: f64,
    pub minutes_before: u64,
    pub minutes_per_week_before: Option<f64>,
    pub weeks_after: f64,
    pub minutes_after: u64,
    pub minutes_per_week_after: Option<f64>,
}

/// The toil report over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToilReport {
    pub from: i64,
    pub to: i64,
    /// One row per team and ISO week with toil logged, by team then week.
    pub weeks: Vec<TeamWeek>,
    /// Teams with at least one week over 50% of capacity, sorted.
    pub teams_over_half: Vec<String>,
    /// Categories with toil, in [`Category::ALL`] order.
    pub by_category: Vec<CategoryMinutes>,
    /// The same per team: by team, then category.
    pub by_team_category: Vec<TeamCategoryMinutes>,
    /// Automations dated within the range, in date order.
    pub automations: Vec<BeforeAfter>,
    pub total_minutes: u64,
    /// Minutes of entries marked automatable.
    pub automatable_minutes: u64,
}

/// Monday 00:00 UTC of the ISO week holding `at`, and its label (`2026-W48`).
/// `None` for a time jiff cannot represent.
pub fn iso_week(at: i64) -> Option<(i64, String)> {
    Timestamp::from_second(at).ok()?;
    let day = at.div_euclid(DAY);
    // 1970-01-01 was a Thursday: three days after a Monday.
    let monday = day - (day + 3).rem_euclid(7);
    let week_start = monday * DAY;
    let ts = Timestamp::from_second(week_start).ok()?;
    let iso = TimeZone::UTC.to_datetime(ts).date().iso_week_date();
    Some((week_start, format!("{:04}-W{:02}", iso.year(), iso.week())))
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Builds the toil report over `[from, to)` (entries outside are ignored).
///
/// Weeks list only team-weeks with toil logged (a week without entries is unknown rather
/// than zero); a week cut by the range edges still compares with the full weekly
/// capacity. Team names match case-insensitively, trimmed; a row carries the name as the
/// team list spells it when the team is known.
pub fn report(
    entries: &[ToilEntry],
    teams: &[Team],
    automations: &[Automation],
    from: i64,
    to: i64,
) -> ToilReport {
    let in_range: Vec<&ToilEntry> = entries
        .iter()
        .filter(|e| e.at >= from && e.at < to)
        .collect();
    let team_of = |name: &str| teams.iter().find(|t| same_name(&t.name, name));
    let canonical = |name: &str| {
        team_of(name)
            .map(|t| t.name.trim().to_string())
            .unwrap_or_else(|| name.trim().to_string())
    };

    let mut per_week: BTreeMap<(String, i64), (String, u64)> = BTreeMap::new();
    let mut per_category: BTreeMap<Category, u64> = BTreeMap::new();
    let mut per_team_category: BTreeMap<(String, Category), u64> = BTreeMap::new();
    let mut total_minutes = 0u64;
    let mut automatable_minutes = 0u64;
    for e in &in_range {
        let Some((week_start, label)) = iso_week(e.at) else {
            continue;
        };
        let team = canonical(&e.team);
        let minutes = u64::from(e.minutes);
        let slot = per_week
            .entry((team.clone(), week_start))
            .or_insert((label, 0));
        slot.1 += minutes;
        *per_category.entry(e.category).or_default() += minutes;
        *per_team_category.entry((team, e.category)).or_default() += minutes;
        total_minutes += minutes;
        if e.automatable {
            automatable_minutes += minutes;
        }
    }

    let weeks: Vec<TeamWeek> = per_week
        .into_iter()
        .map(|((team, week_start), (week, minutes))| {
            let capacity = team_of(&team)
                .map(|t| t.weekly_capacity_minutes)
                .filter(|c| *c > 0);
            let share = capacity.map(|c| minutes as f64 / f64::from(c));
            TeamWeek {
                over_half: share.is_some_and(|s| s > 0.5),
                team,
                week,
                week_start,
                minutes,
                capacity_minutes: capacity,
                share,
            }
        })
        .collect();
    let mut teams_over_half: Vec<String> = weeks
        .iter()
        .filter(|w| w.over_half)
        .map(|w| w.team.clone())
        .collect();
    teams_over_half.dedup();

    let mut automations_out: Vec<BeforeAfter> = automations
        .iter()
        .filter(|a| a.at >= from && a.at < to)
        .map(|a| before_after(&in_range, a, from, to))
        .collect();
    automations_out.sort_by(|a, b| {
        (a.automated_at, &a.team, &a.task).cmp(&(b.automated_at, &b.team, &b.task))
    });

    ToilReport {
        from,
        to,
        weeks,
        teams_over_half,
        by_category: per_category
            .into_iter()
            .map(|(category, minutes)| CategoryMinutes { category, minutes })
            .collect(),
        by_team_category: per_team_category
            .into_iter()
            .map(|((team, category), minutes)| TeamCategoryMinutes {
                team,
                category,
                minutes,
            })
            .collect(),
        automations: automations_out,
        total_minutes,
        automatable_minutes,
    }
}

fn before_after(entries: &[&ToilEntry], a: &Automation, from: i64, to: i64) -> BeforeAfter {
    let span = AUTOMATION_WINDOW_WEEKS * WEEK;
    let before = (a.at.saturating_sub(span).max(from), a.at);
    let after = (a.at, a.at.saturating_add(span).min(to));
    let minutes_in = |(start, end): (i64, i64)| -> u64 {
        entries
            .iter()
            .filter(|e| e.at >= start && e.at < end)
            .filter(|e| same_name(&e.team, &a.team))
            .filter(|e| e.task.as_deref().is_some_and(|t| same_name(t, &a.task)))
            .map(|e| u64::from(e.minutes))
            .sum()
    };
    let weeks = |(start, end): (i64, i64)| (end.saturating_sub(start)).max(0) as f64 / WEEK as f64;
    // A weekly mean from less than a week of time would extrapolate a few minutes into a
    // huge rate (an automation marked today): no figure until a whole week has passed.
    let per_week = |minutes: u64, weeks: f64| (weeks >= 1.0).then(|| minutes as f64 / weeks);
    let (weeks_before, weeks_after) = (weeks(before), weeks(after));
    let (minutes_before, minutes_after) = (minutes_in(before), minutes_in(after));
    BeforeAfter {
        team: a.team.trim().to_string(),
        task: a.task.trim().to_string(),
        automated_at: a.at,
        weeks_before,
        minutes_before,
        minutes_per_week_before: per_week(minutes_before, weeks_before),
        weeks_after,
        minutes_after,
        minutes_per_week_after: per_week(minutes_after, weeks_after),
    }
}

/// The production-interrupt toil of a page or ticket handled from ack to resolve:
/// `minutes = ceil((resolved_at − acked_at) / 60)`, capped at a week; `None` when the
/// handling took no time (or the times are reversed). The author is `nines` (the server
/// may put the person who acknowledged); the entry is not marked automatable.
pub fn page_toil(team: &str, acked_at: i64, resolved_at: i64, what: &str) -> Option<ToilEntry> {
    let seconds = resolved_at.checked_sub(acked_at)?;
    if seconds <= 0 {
        return None;
    }
    let minutes = seconds.div_euclid(60) + i64::from(seconds.rem_euclid(60) != 0);
    let minutes = u32::try_from(minutes.min(i64::from(MAX_ENTRY_MINUTES))).ok()?;
    let what = what.trim();
    Some(ToilEntry {
        id: 0,
        team: team.trim().to_string(),
        category: Category::ProductionInterrupts,
        minutes,
        at: acked_at,
        description: if what.is_empty() {
            "page handled".to_string()
        } else {
            what.to_string()
        },
        automatable: false,
        task: None,
        author: "nines".to_string(),
        source: Source::Page,
    })
}
