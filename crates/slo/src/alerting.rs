//! Alert policies: the six alerting strategies of SRE practice, reduced to one shape.
//!
//! Every strategy is a list of [`AlertTier`]s: "fire when the burn rate over `long_window`
//! (and over `short_window`, when set) is at least `burn_rate`, continuously for
//! `for_seconds`". The strategies differ only in how they fill those fields:
//!
//! | strategy | tiers |
//! |---|---|
//! | threshold | one: window W, burn 1 (error rate ≥ 1 − SLO) |
//! | long_window | one: a long window W, burn 1 |
//! | duration | one: window W, burn 1, held `for` F |
//! | burn_rate | one: window W, burn B |
//! | multi_burn_rate | several (window, burn, severity) |
//! | multiwindow | several (long, short, burn, severity): both windows must burn |

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wakes a human now.
    Page,
    /// Handled in working hours.
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }

    /// Higher is more urgent; a firing tier inhibits tiers of lower rank of the same SLO.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Page => 2,
            Severity::Ticket => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Threshold,
    LongWindow,
    Duration,
    BurnRate,
    MultiBurnRate,
    Multiwindow,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::Threshold,
        Strategy::LongWindow,
        Strategy::Duration,
        Strategy::BurnRate,
        Strategy::MultiBurnRate,
        Strategy::Multiwindow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Threshold => "threshold",
            Strategy::LongWindow => "long_window",
            Strategy::Duration => "duration",
            Strategy::BurnRate => "burn_rate",
            Strategy::MultiBurnRate => "multi_burn_rate",
            Strategy::Multiwindow => "multiwindow",
        }
    }

    pub fn parse(text: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One alerting rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertTier {
    pub severity: Severity,
    /// Seconds.
    pub long_window: i64,
    /// Seconds; when set, the short window must burn too (it makes the alert reset fast).
    pub short_window: Option<i64>,
    /// Threshold in burn-rate units (1 = exactly on budget).
    pub burn_rate: f64,
    /// The condition must hold this long before the alert fires (seconds; 0 = at once).
    pub for_seconds: i64,
}

/// One configured condition: a strategy and the tiers it stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertCondition {
    pub strategy: Strategy,
    pub tiers: Vec<AlertTier>,
}

/// The alerting of one SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertPolicy {
    /// `multiwindow` for the default, the strategy name for a single condition, or `custom`.
    pub name: String,
    pub conditions: Vec<AlertCondition>,
    /// While a tier fires, tiers of lower severity of the same SLO stay quiet.
    pub inhibit_lower_tiers: bool,
}

/// The default multiwindow multi-burn-rate tiers as (severity, long, short, budget consumed):
/// design.md's table. Burn rates follow from the SLO period: burn = consumed × period / long.
pub const DEFAULT_TIERS: [(Severity, i64, i64, f64); 4] = [
    (Severity::Page, 3600, 300, 0.02),
    (Severity::Page, 6 * 3600, 1800, 0.05),
    (Severity::Ticket, 86_400, 2 * 3600, 0.10),
    (Severity::Ticket, 3 * 86_400, 6 * 3600, 0.10),
];

/// The burn rate that spends `budget_share` of the budget over `long_window` seconds, for an
/// SLO period of `period_seconds`: consumed × period / long.
pub fn burn_for_budget(budget_share: f64, long_window: i64, period_seconds: i64) -> f64 {
    budget_share * period_seconds as f64 / long_window.max(1) as f64
}

impl AlertPolicy {
    /// The default policy: multiwindow multi-burn-rate with design.md's four tiers, burn
    /// rates scaled to the period (30d: 14.4, 6, 3, 1; 28d: 13.44, 5.6, 2.8, 0.933).
    pub fn default_multiwindow(period_seconds: i64) -> AlertPolicy {
        AlertPolicy {
            name: "multiwindow".into(),
            conditions: vec![AlertCondition {
                strategy: Strategy::Multiwindow,
                tiers: DEFAULT_TIERS
                    .iter()
                    .map(|&(severity, long, short, budget)| AlertTier {
                        severity,
                        long_window: long,
                        short_window: Some(short),
                        burn_rate: burn_for_budget(budget, long, period_seconds),
                        for_seconds: 0,
                    })
                    .collect(),
            }],
            inhibit_lower_tiers: true,
        }
    }

    /// Every tier of every condition, in order.
    pub fn tiers(&self) -> impl Iterator<Item = (&AlertCondition, &AlertTier)> {
        self.conditions
            .iter()
            .flat_map(|c| c.tiers.iter().map(move |t| (c, t)))
    }
}
