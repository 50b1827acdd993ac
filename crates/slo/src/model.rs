//! What an SLO is, independent of where its configuration came from.

use serde::Serialize;

/// The target for an SLI, as ratios in 0..=1 (99.9% is 0.999).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Objective {
    /// SLI >= target.
    Target(f64),
    /// min <= SLI <= max. The error budget is measured against `min`; above `max` the
    /// service is "too good" (status `above_range`), a sign the budget is not being used.
    Range { min: f64, max: f64 },
}

impl Objective {
    /// The lower bound the error budget is computed from.
    pub fn floor(&self) -> f64 {
        match *self {
            Objective::Target(t) => t,
            Objective::Range { min, .. } => min,
        }
    }

    /// The share of events (or slices) allowed to be bad: 1 - floor.
    pub fn budget_ratio(&self) -> f64 {
        1.0 - self.floor()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarUnit {
    Week,
    Month,
    Quarter,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// The last `seconds` before the evaluation time.
    Rolling { seconds: i64 },
    /// From the start of the current week (Monday), month or quarter in `timezone`.
    Calendar {
        unit: CalendarUnit,
        timezone: jiff::tz::TimeZone,
    },
}

impl Window {
    /// The period used to scale burn rates: the rolling length, or a nominal calendar
    /// length (week 7d, month 30d, quarter 90d) so a policy does not change month to month.
    pub fn nominal_seconds(&self) -> i64 {
        match self {
            Window::Rolling { seconds } => *seconds,
            Window::Calendar { unit, .. } => match unit {
                CalendarUnit::Week => 7 * 86_400,
                CalendarUnit::Month => 30 * 86_400,
                CalendarUnit::Quarter => 90 * 86_400,
            },
        }
    }

    /// Short label used as the key of the window's burn rate ("30d", "month").
    pub fn label(&self) -> String {
        match self {
            Window::Rolling { seconds } => crate::format_duration(*seconds),
            Window::Calendar { unit, .. } => match unit {
                CalendarUnit::Week => "week".into(),
                CalendarUnit::Month => "month".into(),
                CalendarUnit::Quarter => "quarter".into(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Count events: the budget is a number of bad events.
    Occurrences,
    /// Count slices (one bucket each): a slice is good when its good/total >= `slice_target`
    /// (a ratio in 0..=1). Slices without traffic count neither way.
    Timeslices { slice_target: f64 },
}

/// A time range whose events count neither as good nor as total (planned maintenance,
/// corrections). Half-open: [from, to), unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Exclusion {
    pub from: i64,
    pub to: i64,
    pub reason: String,
}

/// One SLO, fully resolved: every default applied, every value validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    pub service: String,
    pub name: String,
    pub objective: Objective,
    pub window: Window,
    pub budgeting: Budgeting,
    pub exclusions: Vec<Exclusion>,
    /// Counter resolution in seconds (default 60).
    pub bucket_seconds: i64,
}

impl SloSpec {
    /// `service/name`, the key of the SLO's counter series.
    pub fn key(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }
}
