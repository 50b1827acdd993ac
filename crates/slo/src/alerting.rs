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

    /// A policy of one condition: `name` is the strategy's name.
    pub fn single(strategy: Strategy, tiers: Vec<AlertTier>) -> AlertPolicy {
        AlertPolicy {
            name: strategy.as_str().into(),
            conditions: vec![AlertCondition { strategy, tiers }],
            inhibit_lower_tiers: true,
        }
    }

    /// The longest long window of any tier (0 without tiers): how long after an event an
    /// alert may still be caused by it.
    pub fn max_long_window(&self) -> i64 {
        self.tiers()
            .map(|(_, t)| t.long_window)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// Number of tiers over all conditions.
    pub fn tier_count(&self) -> usize {
        self.conditions.iter().map(|c| c.tiers.len()).sum()
    }

    /// Every tier of every condition, in order.
    pub fn tiers(&self) -> impl Iterator<Item = (&AlertCondition, &AlertTier)> {
        self.conditions
            .iter()
            .flat_map(|c| c.tiers.iter().map(move |t| (c, t)))
    }
}

/// The SRE workbook's example parameters for each of the six strategies (chapter "Alerting on
/// SLOs"), for `--compare-strategies`. The workbook's numbers are for a 30-day period; burn
/// rates above 1 are scaled to `period_seconds` by the budget share they stand for, like
/// [`AlertPolicy::default_multiwindow`]:
///
/// | strategy | tiers (30d) |
/// |---|---|
/// | threshold | 10m, burn 1 |
/// | long_window | 36h, burn 1 |
/// | duration | 1m, burn 1, for 1h |
/// | burn_rate | 1h, burn 36 (5% of the budget) |
/// | multi_burn_rate | 1h/14.4 page, 6h/6 page, 3d/1 ticket (2%, 5%, 10%) |
/// | multiwindow | the default policy |
///
/// Every threshold is in burn-rate units (burn 1 = error rate 1 − SLO), so the objective does
/// not change the tiers; it is taken so callers need not know that.
pub fn workbook_policies(_objective: crate::Objective, period_seconds: i64) -> Vec<AlertPolicy> {
    let one = |severity, long, burn, for_seconds| AlertTier {
        severity,
        long_window: long,
        short_window: None,
        burn_rate: burn,
        for_seconds,
    };
    let scaled = |share, long| burn_for_budget(share, long, period_seconds);
    vec![
        AlertPolicy::single(Strategy::Threshold, vec![one(Severity::Page, 600, 1.0, 0)]),
        AlertPolicy::single(
            Strategy::LongWindow,
            vec![one(Severity::Page, 36 * 3600, 1.0, 0)],
        ),
        AlertPolicy::single(Strategy::Duration, vec![one(Severity::Page, 60, 1.0, 3600)]),
        AlertPolicy::single(
            Strategy::BurnRate,
            vec![one(Severity::Page, 3600, scaled(0.05, 3600), 0)],
        ),
        AlertPolicy::single(
            Strategy::MultiBurnRate,
            vec![
                one(Severity::Page, 3600, scaled(0.02, 3600), 0),
                one(Severity::Page, 6 * 3600, scaled(0.05, 6 * 3600), 0),
                one(Severity::Ticket, 3 * 86_400, scaled(0.10, 3 * 86_400), 0),
            ],
        ),
        AlertPolicy::default_multiwindow(period_seconds),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round9(x: f64) -> f64 {
        (x * 1e9).round() / 1e9
    }

    #[test]
    fn workbook_parameters_for_30_days() {
        let p = workbook_policies(crate::Objective::Target(0.999), 30 * 86_400);
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "threshold",
                "long_window",
                "duration",
                "burn_rate",
                "multi_burn_rate",
                "multiwindow"
            ]
        );
        type Row = (i64, Option<i64>, f64, i64);
        let flat: Vec<Vec<Row>> = p
            .iter()
            .map(|p| {
                p.tiers()
                    .map(|(_, t)| {
                        (
                            t.long_window,
                            t.short_window,
                            round9(t.burn_rate),
                            t.for_seconds,
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(flat[0], [(600, None, 1.0, 0)]);
        assert_eq!(flat[1], [(129_600, None, 1.0, 0)]);
        assert_eq!(flat[2], [(60, None, 1.0, 3600)]);
        assert_eq!(flat[3], [(3600, None, 36.0, 0)]);
        assert_eq!(
            flat[4],
            [
                (3600, None, 14.4, 0),
                (21_600, None, 6.0, 0),
                (259_200, None, 1.0, 0)
            ]
        );
        assert_eq!(
            flat[5],
            [
                (3600, Some(300), 14.4, 0),
                (21_600, Some(1800), 6.0, 0),
                (86_400, Some(7200), 3.0, 0),
                (259_200, Some(21_600), 1.0, 0)
            ]
        );
        assert_eq!(p[4].max_long_window(), 259_200);
        assert_eq!(p[5].tier_count(), 4);
    }

    #[test]
    fn default_burns_for_28_days() {
        let p = AlertPolicy::default_multiwindow(28 * 86_400);
        let burns: Vec<f64> = p
            .tiers()
            .map(|(_, t)| (t.burn_rate * 1e3).round() / 1e3)
            .collect();
        assert_eq!(burns, [13.44, 5.6, 2.8, 0.933]);
    }
}
