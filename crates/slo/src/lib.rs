//! The SLO engine: pure maths over per-bucket good/total counters.
//!
//! Nothing here does IO or reads a clock: every function that needs "now" takes it as a
//! parameter, so every result is reproducible from its inputs.

pub mod alert_state;
pub mod alerting;
pub mod backtest;
pub mod compare;
pub mod duration;
pub mod explain;
pub mod model;
pub mod report;
pub mod series;
pub mod window;

pub use alert_state::{AlertState, AlertStateMachine, Transition};
pub use alerting::{
    burn_for_budget, workbook_policies, AlertCondition, AlertPolicy, AlertTier, Severity, Strategy,
    DEFAULT_TIERS,
};
pub use backtest::{
    backtest, backtest_events, compare_strategies, conditions_at, significant_events, AlertRecord,
    BacktestOptions, BacktestResult, Event, Metrics, ScoredEvent, Stats, TierMetrics,
};
pub use compare::{compare, Comparison, Verdict};
pub use duration::{format_duration, parse_duration};
pub use explain::{budget_exhaustion_seconds, explain, time_to_fire, TierExplanation};
pub use model::{Budgeting, CalendarUnit, Exclusion, Objective, SloSpec, Window};
pub use report::{
    burn_rate, evaluate, lookback_start, time_to_exhaustion, BudgetReport, BurnRates, SliceCounts,
    SloReport, Status, BURN_WINDOWS,
};
pub use series::{Counts, Series};
pub use window::{calendar_period, window_range, WindowRange};

/// Errors from the SLO maths. Inputs that come from users are validated by the `spec`
/// crate first; these are the checks the maths cannot do without.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("invalid duration {0:?}: expected a number followed by s, m, h, d or w (e.g. 30d)")]
    InvalidDuration(String),
    #[error("invalid time zone {0:?}")]
    InvalidTimeZone(String),
    #[error("calendar arithmetic failed: {0}")]
    Calendar(String),
    #[error("bucket width must be between 1 second and 1 day, got {0} s")]
    InvalidBucket(i64),
}
