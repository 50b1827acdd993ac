//! `alerts explain`: what each tier of a policy means for one SLO, in numbers.
//!
//! Notation: `b` = 1 − SLO (the error budget as a ratio), `B` = the tier's burn rate,
//! `L` / `S` = long / short window, `P` = the SLO period, `e` = a constant error ratio.
//!
//! - **Budget consumed when it fires** = `B × L / P`: when the long window's condition first
//!   holds, the window holds `B × b × (traffic of L)` bad events, which is `B × L / P` of the
//!   period's `b × (traffic of P)`, whatever `e` is (constant traffic assumed). A `for:` hold
//!   spends more on top (see the warnings).
//! - **Time to fire** at a constant error ratio `e` starting from a clean history: the long
//!   window burns `B` after `B × b × L / e` seconds, which must be ≤ `L` (that is,
//!   `e ≥ B × b`); the short window likewise with `S`. The tier fires at the later of the
//!   two, plus `for`. `None` = never.
//! - **Smallest error ratio that can fire** = `B × b`; above 1 the tier never fires.
//!
//! Every number is rounded to 1e-9 so the reference values print exactly (51.84 s, 2%).
//! Evaluation happens at bucket ends, so in practice a tier fires at the first bucket end at
//! or after the time given here.

use crate::alerting::{AlertPolicy, Severity, Strategy};
use crate::{format_duration, Objective};
use serde::Serialize;
use std::collections::BTreeMap;

/// The error ratios `time_to_fire_seconds` is given for, with their keys.
pub const EXPLAIN_ERROR_RATIOS: [(&str, f64); 3] = [("1.0", 1.0), ("0.1", 0.1), ("0.01", 0.01)];

/// Relative tolerance of every "burn ≥ threshold" comparison (here and in the evaluator), so
/// that a burn of exactly the threshold fires despite floating point (0.001 / (1 − 0.999)
/// is 0.9999999999999991).
pub const BURN_TOLERANCE: f64 = 1e-9;

/// One tier of one condition, explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierExplanation {
    /// Index of the condition in the policy.
    pub condition: usize,
    /// Index of the tier over the whole policy (conditions flattened in order).
    pub tier: usize,
    pub strategy: Strategy,
    pub severity: Severity,
    /// Seconds.
    pub long_window: i64,
    /// "1h".
    pub long_window_text: String,
    pub short_window: Option<i64>,
    pub short_window_text: Option<String>,
    pub for_seconds: i64,
    pub burn_rate: f64,
    /// Share of the period's budget spent when the condition first holds: B × L / P.
    pub budget_consumed_at_fire: f64,
    /// Keyed by error ratio ("1.0", "0.1", "0.01"); `None` = never fires at that ratio.
    pub time_to_fire_seconds: BTreeMap<String, Option<f64>>,
    /// B × (1 − SLO); above 1 the tier can never fire.
    pub min_error_ratio: f64,
    pub warnings: Vec<String>,
}

/// Rounds to 1e-9 (values too large to scale are returned unchanged).
pub fn round9(x: f64) -> f64 {
    let scaled = x * 1e9;
    if scaled.is_finite() && scaled.abs() < 9e15 {
        scaled.round() / 1e9
    } else {
        x
    }
}

/// Seconds a constant error ratio `error_ratio` takes to spend the whole budget of a period
/// of `period_seconds`: (1 − SLO) × P / e. `None` when nothing is spent.
/// 99.999% over 30 days at 100% errors: 25.92 s.
pub fn budget_exhaustion_seconds(
    objective: Objective,
    period_seconds: i64,
    error_ratio: f64,
) -> Option<f64> {
    let b = objective.budget_ratio();
    if error_ratio.is_nan() || error_ratio <= 0.0 || b.is_nan() || b <= 0.0 {
        return None;
    }
    let t = b * period_seconds as f64 / error_ratio;
    t.is_finite().then(|| round9(t))
}

/// Time for one window of `window` seconds, at burn threshold `burn`, to reach its burn from
/// a clean history at error ratio `e`: B × b × W / e, when that is within the window.
fn window_fill_time(burn: f64, b: f64, window: i64, e: f64) -> Option<f64> {
    let min_ratio = burn * b;
    if !min_ratio.is_finite() || e.is_nan() || e <= 0.0 || window <= 0 {
        return None;
    }
    if e < min_ratio * (1.0 - BURN_TOLERANCE) {
        return None;
    }
    let t = (min_ratio * window as f64 / e).min(window as f64).max(0.0);
    Some(t)
}

/// Time for a tier to fire at a constant error ratio `e`: the later of both windows, plus
/// `for`. `None` = never.
pub fn time_to_fire(
    burn: f64,
    long_window: i64,
    short_window: Option<i64>,
    for_seconds: i64,
    objective: Objective,
    e: f64,
) -> Option<f64> {
    let b = objective.budget_ratio();
    let long = window_fill_time(burn, b, long_window, e)?;
    let short = match short_window {
        Some(s) => window_fill_time(burn, b, s, e)?,
        None => 0.0,
    };
    let t = long.max(short) + for_seconds.max(0) as f64;
    t.is_finite().then(|| round9(t))
}

fn percent(x: f64) -> String {
    let p = round9(x * 100.0);
    let s = format!("{:.4}", p);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

fn number(x: f64) -> String {
    let s = format!("{:.4}", round9(x));
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Explains every tier of `policy` for an SLO with `objective` over `period_seconds`.
pub fn explain(
    policy: &AlertPolicy,
    objective: Objective,
    period_seconds: i64,
) -> Vec<TierExplanation> {
    let b = objective.budget_ratio();
    let period = period_seconds.max(1);
    let mut out = Vec::with_capacity(policy.tier_count());
    let mut index = 0usize;
    for (ci, condition) in policy.conditions.iter().enumerate() {
        for tier in &condition.tiers {
            let burn = tier.burn_rate;
            let budget_raw = burn * tier.long_window as f64 / period as f64;
            let min_raw = burn * b;
            let mut time_to_fire_seconds = BTreeMap::new();
            for (key, e) in EXPLAIN_ERROR_RATIOS {
                time_to_fire_seconds.insert(
                    key.to_string(),
                    time_to_fire(
                        burn,
                        tier.long_window,
                        tier.short_window,
                        tier.for_seconds,
                        objective,
                        e,
                    ),
                );
            }
            let mut warnings = Vec::new();
            let long_text = format_duration(tier.long_window);
            let period_text = format_duration(period);
            if tier.long_window <= 0 {
                warnings.push(format!(
                    "never fires: the long window is {} s; it must be positive",
                    tier.long_window
                ));
            }
            if let Some(short) = tier.short_window {
                if short <= 0 {
                    warnings.push(format!(
                        "never fires: the short window is {short} s; it must be positive"
                    ));
                } else if short >= tier.long_window {
                    warnings.push(format!(
                        "short window {} is not shorter than the long window {}: the short \
                         window should be about 1/12 of the long one, to reset fast",
                        format_duration(short),
                        long_text
                    ));
                }
            }
            if !burn.is_finite() {
                warnings.push("never fires: the burn rate is not a finite number".to_string());
            } else if burn <= 0.0 {
                warnings.push(format!(
                    "burn rate {} fires on any traffic, even without errors",
                    number(burn)
                ));
            } else if min_raw > 1.0 {
                warnings.push(format!(
                    "never fires: it needs an error ratio of at least {} (burn {} × error \
                     budget {}), above 100%",
                    percent(min_raw),
                    number(burn),
                    percent(b)
                ));
            } else if budget_raw > 1.0 {
                warnings.push(format!(
                    "fires only after more than the whole budget is spent: {} of the {} budget \
                     (burn {} × {} / {})",
                    percent(budget_raw),
                    period_text,
                    number(burn),
                    long_text,
                    period_text
                ));
            }
            if tier.long_window > period {
                warnings.push(format!(
                    "long window {} is longer than the SLO period {}",
                    long_text, period_text
                ));
            }
            if let (Some(fire), Some(exhaust)) = (
                time_to_fire_seconds.get("1.0").copied().flatten(),
                budget_exhaustion_seconds(objective, period, 1.0),
            ) {
                if fire > exhaust && budget_raw <= 1.0 {
                    warnings.push(format!(
                        "a total outage spends the whole budget in {} s, before this tier fires \
                         ({} s)",
                        number(exhaust),
                        number(fire)
                    ));
                }
            }
            out.push(TierExplanation {
                condition: ci,
                tier: index,
                strategy: condition.strategy,
                severity: tier.severity,
                long_window: tier.long_window,
                long_window_text: long_text,
                short_window: tier.short_window,
                short_window_text: tier.short_window.map(format_duration),
                for_seconds: tier.for_seconds,
                burn_rate: round9(burn),
                budget_consumed_at_fire: round9(budget_raw),
                time_to_fire_seconds,
                min_error_ratio: round9(min_raw),
                warnings,
            });
            index += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::alerting::{workbook_policies, AlertTier};

    const DAY: i64 = 86_400;

    fn fire(e: &TierExplanation, key: &str) -> Option<f64> {
        e.time_to_fire_seconds.get(key).copied().flatten()
    }

    #[test]
    fn default_policy_at_99_9_over_30_days() {
        let x = explain(
            &AlertPolicy::default_multiwindow(30 * DAY),
            Objective::Target(0.999),
            30 * DAY,
        );
        let at = |key| x.iter().map(|t| fire(t, key)).collect::<Vec<_>>();
        // 14.4 × 0.001 × 3600 = 51.84; 6 × 0.001 × 21600 = 129.6; 3 × 0.001 × 86400 = 259.2;
        // 1 × 0.001 × 259200 = 259.2.
        assert_eq!(
            at("1.0"),
            [Some(51.84), Some(129.6), Some(259.2), Some(259.2)]
        );
        assert_eq!(
            at("0.1"),
            [Some(518.4), Some(1296.0), Some(2592.0), Some(2592.0)]
        );
        // 1% is below the 1h tier's 1.44%: never. 6 × 0.001 × 21600 / 0.01 = 12960.
        assert_eq!(
            at("0.01"),
            [None, Some(12_960.0), Some(25_920.0), Some(25_920.0)]
        );
        let min: Vec<f64> = x.iter().map(|t| t.min_error_ratio).collect();
        assert_eq!(min, [0.0144, 0.006, 0.003, 0.001]);
        let budget: Vec<f64> = x.iter().map(|t| t.budget_consumed_at_fire).collect();
        assert_eq!(budget, [0.02, 0.05, 0.1, 0.1]);
        let burns: Vec<f64> = x.iter().map(|t| t.burn_rate).collect();
        assert_eq!(burns, [14.4, 6.0, 3.0, 1.0]);
        assert!(x.iter().all(|t| t.warnings.is_empty()), "{x:?}");
        assert_eq!(x[0].long_window_text, "1h");
        assert_eq!(x[0].short_window_text.as_deref(), Some("5m"));
        let json = serde_json::to_string(&x[0]).unwrap();
        assert!(
            json.contains("\"time_to_fire_seconds\":{\"0.01\":null,\"0.1\":518.4,\"1.0\":51.84}"),
            "{json}"
        );
        assert!(json.contains("\"budget_consumed_at_fire\":0.02"), "{json}");
    }

    #[test]
    fn default_policy_over_28_days() {
        let x = explain(
            &AlertPolicy::default_multiwindow(28 * DAY),
            Objective::Target(0.999),
            28 * DAY,
        );
        let burns: Vec<f64> = x.iter().map(|t| t.burn_rate).collect();
        assert_eq!(burns, [13.44, 5.6, 2.8, 0.933333333]);
        let budget: Vec<f64> = x.iter().map(|t| t.budget_consumed_at_fire).collect();
        assert_eq!(budget, [0.02, 0.05, 0.1, 0.1]);
    }

    #[test]
    fn a_90_percent_slo_never_fires_the_1h_page() {
        let x = explain(
            &AlertPolicy::default_multiwindow(30 * DAY),
            Objective::Target(0.9),
            30 * DAY,
        );
        // 14.4 × 10% = 144% > 100%.
        assert_eq!(x[0].min_error_ratio, 1.44);
        assert!(x[0].time_to_fire_seconds.values().all(|v| v.is_none()));
        assert_eq!(
            x[0].warnings,
            ["never fires: it needs an error ratio of at least 144% (burn 14.4 × error budget 10%), above 100%"]
        );
        // 6 × 10% = 60%: a total outage fires the 6h tier after 0.6 × 21600 = 12960 s.
        assert_eq!(fire(&x[1], "1.0"), Some(12_960.0));
        assert_eq!(fire(&x[1], "0.1"), None);
    }

    #[test]
    fn five_nines_budget_lasts_about_26_seconds_of_outage() {
        // 0.00001 × 2592000 = 25.92 s.
        assert_eq!(
            budget_exhaustion_seconds(Objective::Target(0.99999), 30 * DAY, 1.0),
            Some(25.92)
        );
        // 99.9%: 43.2 minutes, design.md's reference.
        assert_eq!(
            budget_exhaustion_seconds(Objective::Target(0.999), 30 * DAY, 1.0),
            Some(2592.0)
        );
        assert_eq!(
            budget_exhaustion_seconds(Objective::Target(0.999), 30 * DAY, 0.0),
            None
        );
    }

    #[test]
    fn warnings_say_why_in_numbers() {
        let tier = |long, short, burn, for_seconds| AlertTier {
            severity: Severity::Page,
            long_window: long,
            short_window: short,
            burn_rate: burn,
            for_seconds,
        };
        let p = AlertPolicy::single(
            Strategy::Multiwindow,
            vec![
                tier(3600, Some(7200), 14.4, 0),
                tier(10 * DAY, None, 5.0, 0),
                tier(60 * DAY, None, 1.0, 0),
            ],
        );
        let x = explain(&p, Objective::Target(0.999), 30 * DAY);
        assert_eq!(
            x[0].warnings,
            ["short window 2h is not shorter than the long window 1h: the short window should be about 1/12 of the long one, to reset fast"]
        );
        // 5 × 10d / 30d = 166.67%.
        assert_eq!(
            x[1].warnings,
            ["fires only after more than the whole budget is spent: 166.6667% of the 30d budget (burn 5 × 10d / 30d)"]
        );
        assert_eq!(
            x[2].warnings[1],
            "long window 60d is longer than the SLO period 30d"
        );
        // The workbook's duration strategy: 1m window held for 1h; a total outage spends the
        // 43.2-minute budget before the hour is up.
        let w = workbook_policies(Objective::Target(0.999), 30 * DAY);
        let d = explain(&w[2], Objective::Target(0.999), 30 * DAY);
        assert_eq!(fire(&d[0], "1.0"), Some(3600.06));
        assert_eq!(
            d[0].warnings,
            ["a total outage spends the whole budget in 2592 s, before this tier fires (3600.06 s)"]
        );
    }

    #[test]
    fn never_nan_in_output() {
        let p = AlertPolicy::single(
            Strategy::BurnRate,
            vec![AlertTier {
                severity: Severity::Page,
                long_window: 0,
                short_window: Some(-5),
                burn_rate: f64::NAN,
                for_seconds: -1,
            }],
        );
        let x = explain(&p, Objective::Target(1.0), 0);
        let json = serde_json::to_string(&x).unwrap();
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    }
}
