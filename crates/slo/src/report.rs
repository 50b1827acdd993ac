//! One SLO evaluated at one instant: SLI, error budget, burn rates, status.

use crate::window::{window_range, WindowRange};
use crate::{Budgeting, Counts, Error, Objective, Series, SloSpec};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The short windows every report shows a burn rate for, besides the SLO's own window.
pub const BURN_WINDOWS: [(&str, i64); 7] = [
    ("5m", 300),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("6h", 21_600),
    ("1d", 86_400),
    ("3d", 259_200),
];

/// The burn window whose rate stands for "now" in time-to-exhaustion.
const CURRENT_BURN_WINDOW: i64 = 3600;

/// Below this share of budget left an SLO is in `warning`.
pub const WARNING_REMAINING: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warning,
    Exhausted,
    NoData,
    AboveRange,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Exhausted => "exhausted",
            Status::NoData => "no_data",
            Status::AboveRange => "above_range",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetReport {
    /// Bad events (or slices) the objective allows over what the window has seen so far.
    pub allowed_bad: f64,
    /// Share of the budget spent: bad / allowed_bad. Above 1 when overspent.
    pub consumed: f64,
    /// 1 - consumed.
    pub remaining: f64,
    /// The remaining budget as minutes of full outage over the whole period.
    pub remaining_minutes: f64,
}

/// Burn rates in a fixed order (short to long, then the SLO window), serialized as a map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BurnRates(pub Vec<(String, f64)>);

impl BurnRates {
    pub fn get(&self, label: &str) -> Option<f64> {
        self.0.iter().find(|(l, _)| l == label).map(|(_, v)| *v)
    }
}

impl Serialize for BurnRates {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (label, rate) in &self.0 {
            map.serialize_entry(label, rate)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloReport {
    pub service: String,
    pub slo: String,
    pub objective: Objective,
    pub window: String,
    pub window_start: i64,
    pub budgeting: &'static str,
    pub good: u64,
    pub total: u64,
    /// Good and total timeslices; present with timeslice budgeting only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slices: Option<SliceCounts>,
    /// good / total (of slices with timeslice budgeting); `None` without traffic.
    pub sli: Option<f64>,
    pub status: Status,
    pub error_budget: BudgetReport,
    pub burn_rates: BurnRates,
    /// Seconds until the budget is gone at the current (1h) burn rate; `None` when nothing
    /// burns or nothing is left.
    pub time_to_exhaustion_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SliceCounts {
    pub good: u64,
    pub total: u64,
}

/// Burn rate: how many times faster than "exactly on budget" errors arrive.
/// 1 spends the budget over exactly the window. Zero events burn nothing.
pub fn burn_rate(units: Counts, objective: Objective) -> f64 {
    if units.total == 0 {
        return 0.0;
    }
    let error_ratio = units.bad() as f64 / units.total as f64;
    error_ratio / budget_ratio(objective)
}

/// Time until a budget with `remaining` share left is gone at `burn`, over a period of
/// `period_seconds`. `None` when nothing burns or nothing is left.
pub fn time_to_exhaustion(remaining: f64, period_seconds: i64, burn: f64) -> Option<f64> {
    if remaining <= 0.0 || burn <= 0.0 || !burn.is_finite() {
        return None;
    }
    Some(remaining * period_seconds as f64 / burn)
}

/// 1 - objective, kept strictly positive so a 100% objective yields huge but finite numbers
/// instead of infinities (config validation refuses 100% before it gets here).
fn budget_ratio(objective: Objective) -> f64 {
    objective.budget_ratio().max(1e-12)
}

/// Evaluates `spec` at `at` (unix seconds) over `series`, which must cover the SLO window
/// and the longest burn window before `at` (missing buckets count as no traffic).
pub fn evaluate(spec: &SloSpec, series: &Series, at: i64) -> Result<SloReport, Error> {
    let WindowRange {
        from,
        to,
        period_seconds,
    } = window_range(&spec.window, at)?;
    let events = series.events(from, to);
    let units = series.budget_units(spec.budgeting, from, to);
    let budget = budget_ratio(spec.objective);
    let sli = (units.total > 0).then(|| units.good.min(units.total) as f64 / units.total as f64);

    let budget_minutes = budget * period_seconds as f64 / 60.0;
    let error_budget = if units.total == 0 {
        BudgetReport {
            allowed_bad: 0.0,
            consumed: 0.0,
            remaining: 1.0,
            remaining_minutes: budget_minutes,
        }
    } else {
        let allowed_bad = budget * units.total as f64;
        let consumed = units.bad() as f64 / allowed_bad;
        BudgetReport {
            allowed_bad,
            consumed,
            remaining: 1.0 - consumed,
            remaining_minutes: (1.0 - consumed) * budget_minutes,
        }
    };

    let mut burn_rates: Vec<(String, f64)> = BURN_WINDOWS
        .iter()
        .map(|(label, seconds)| {
            let u = series.budget_units(spec.budgeting, at - seconds, at);
            (label.to_string(), burn_rate(u, spec.objective))
        })
        .collect();
    let window_label = spec.window.label();
    if burn_rates.iter().all(|(l, _)| *l != window_label) {
        burn_rates.push((window_label.clone(), burn_rate(units, spec.objective)));
    }
    let current = burn_rate(
        series.budget_units(spec.budgeting, at - CURRENT_BURN_WINDOW, at),
        spec.objective,
    );

    let status = match (sli, spec.objective) {
        (None, _) => Status::NoData,
        (Some(s), Objective::Range { max, .. }) if s > max => Status::AboveRange,
        _ if error_budget.remaining <= 0.0 => Status::Exhausted,
        _ if error_budget.remaining < WARNING_REMAINING => Status::Warning,
        _ => Status::Ok,
    };

    Ok(SloReport {
        service: spec.service.clone(),
        slo: spec.name.clone(),
        objective: spec.objective,
        window: window_label,
        window_start: from,
        budgeting: match spec.budgeting {
            Budgeting::Occurrences => "occurrences",
            Budgeting::Timeslices { .. } => "timeslices",
        },
        good: events.good,
        total: events.total,
        slices: match spec.budgeting {
            Budgeting::Occurrences => None,
            Budgeting::Timeslices { .. } => Some(SliceCounts {
                good: units.good,
                total: units.total,
            }),
        },
        sli,
        status,
        error_budget,
        burn_rates: BurnRates(burn_rates),
        time_to_exhaustion_seconds: time_to_exhaustion(
            error_budget.remaining,
            period_seconds,
            current,
        ),
    })
}

/// How far back a series must reach for `evaluate` at `at`.
pub fn lookback_start(spec: &SloSpec, at: i64) -> Result<i64, Error> {
    let window = window_range(&spec.window, at)?;
    let longest_burn = BURN_WINDOWS.iter().map(|(_, s)| *s).max().unwrap_or(0);
    Ok(window.from.min(at - longest_burn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exclusion, Window};
    use proptest::prelude::*;

    const DAY: i64 = 86_400;
    const AT: i64 = 1_700_006_400; // 2023-11-15T00:00:00Z

    fn spec(objective: f64, window_days: i64) -> SloSpec {
        SloSpec {
            service: "checkout".into(),
            name: "availability".into(),
            objective: Objective::Target(objective),
            window: Window::Rolling {
                seconds: window_days * DAY,
            },
            budgeting: Budgeting::Occurrences,
            exclusions: vec![],
            bucket_seconds: 60,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn reference_burn_rates_and_budget_lifetimes() {
        // design.md: 99.9% over 30 days.
        let objective = Objective::Target(0.999);
        for (errors_per_100k, burn, lasts) in [
            (100u64, 1.0, 30.0 * DAY as f64),
            (200, 2.0, 15.0 * DAY as f64),
            (1000, 10.0, 3.0 * DAY as f64),
            (100_000, 1000.0, 43.2 * 60.0),
        ] {
            let rate = burn_rate(
                Counts {
                    good: 100_000 - errors_per_100k,
                    total: 100_000,
                },
                objective,
            );
            assert!(close(rate, burn), "burn {rate} != {burn}");
            let t = time_to_exhaustion(1.0, 30 * DAY, rate).unwrap_or(0.0);
            assert!(close(t, lasts), "lasts {t} != {lasts}");
        }
    }

    #[test]
    fn one_failure_at_ten_requests_an_hour_spends_13_9_percent() {
        let s = spec(0.999, 30);
        let from = AT - 30 * DAY;
        let mut samples: Vec<(i64, u64, u64)> =
            (0..30 * 24).map(|h| (from + h * 3600, 10, 10)).collect();
        samples[100].1 = 9;
        let series = Series::build(from, AT, 60, samples, &[], s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        let r = r.as_ref();
        assert_eq!(r.map(|r| r.total), Some(7200));
        let b = r.map(|r| r.error_budget);
        assert!(close(b.map_or(0.0, |b| b.allowed_bad), 7.2));
        let consumed = b.map_or(0.0, |b| b.consumed);
        assert!((consumed - 0.139).abs() < 0.0005, "consumed {consumed}");
        assert_eq!(r.map(|r| r.status), Some(Status::Ok));
    }

    #[test]
    fn the_example_report_of_the_issue() {
        // 2000 events in the last hour, 10 bad: budget 2 events, 5x spent.
        let s = spec(0.999, 30);
        let samples =
            (0..20).map(|i| (AT - 3600 + 120 + i * 60, if i < 10 { 99 } else { 100 }, 100));
        let series = Series::build(AT - 30 * DAY, AT, 60, samples, &[], s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        let json = r
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(json["good"], 1990);
        assert_eq!(json["total"], 2000);
        assert_eq!(json["sli"], 0.995);
        assert_eq!(json["status"], "exhausted");
        assert_eq!(json["objective"], 0.999);
        assert_eq!(json["window"], "30d");
        let b = &json["error_budget"];
        assert!(close(b["allowed_bad"].as_f64().unwrap_or(0.0), 2.0));
        assert!(close(b["consumed"].as_f64().unwrap_or(0.0), 5.0));
        assert!(close(b["remaining"].as_f64().unwrap_or(0.0), -4.0));
        assert!(close(
            b["remaining_minutes"].as_f64().unwrap_or(0.0),
            -172.8
        ));
        for key in ["1h", "2h", "6h", "1d", "3d", "30d"] {
            assert!(
                close(json["burn_rates"][key].as_f64().unwrap_or(0.0), 5.0),
                "{key}"
            );
        }
        assert_eq!(json["burn_rates"]["5m"], 0.0);
        assert!(json["time_to_exhaustion_seconds"].is_null());
        let keys: Vec<_> = json["burn_rates"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 8);
    }

    #[test]
    fn zero_traffic_is_no_data_never_nan() {
        let s = spec(0.999, 30);
        let series = Series::build(AT - 30 * DAY, AT, 60, [], &[], s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        assert_eq!(r.as_ref().map(|r| r.status), Some(Status::NoData));
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
        assert!(json.contains("\"sli\":null"));
        assert!(r.is_some_and(
            |r| r.error_budget.remaining == 1.0 && r.time_to_exhaustion_seconds.is_none()
        ));
    }

    #[test]
    fn range_objective_above_its_upper_bound() {
        let mut s = spec(0.99, 30);
        s.objective = Objective::Range {
            min: 0.99,
            max: 0.995,
        };
        let series = Series::build(AT - DAY, AT, 60, [(AT - 600, 1000, 1000)], &[], s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        assert_eq!(r.map(|r| r.status), Some(Status::AboveRange));
    }

    #[test]
    fn exclusions_count_neither_good_nor_total() {
        let mut s = spec(0.999, 30);
        s.exclusions = vec![Exclusion {
            from: AT - 7200,
            to: AT - 3600,
            reason: "planned".into(),
        }];
        let samples = [(AT - 5400, 0, 500), (AT - 600, 100, 100)];
        let series = Series::build(AT - 30 * DAY, AT, 60, samples, &s.exclusions, s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        assert_eq!(r.as_ref().map(|r| (r.good, r.total)), Some((100, 100)));
        assert_eq!(r.map(|r| r.status), Some(Status::Ok));
    }

    #[test]
    fn timeslices_budget_counts_bad_minutes() {
        let mut s = spec(0.99, 28);
        s.budgeting = Budgeting::Timeslices { slice_target: 0.95 };
        // 100 minutes with traffic, 2 of them below 95% good.
        let samples = (0..100).map(|i| (AT - 6000 + i * 60, if i < 2 { 90 } else { 100 }, 100));
        let series = Series::build(AT - 28 * DAY, AT, 60, samples, &[], s.budgeting);
        let r = evaluate(&s, &series, AT).ok();
        let r = r.as_ref();
        assert_eq!(
            r.and_then(|r| r.slices),
            Some(SliceCounts {
                good: 98,
                total: 100
            })
        );
        assert_eq!(r.and_then(|r| r.sli), Some(0.98));
        assert!(close(r.map_or(0.0, |r| r.error_budget.consumed), 2.0));
        assert_eq!(r.map(|r| r.budgeting), Some("timeslices"));
    }

    proptest! {
        #[test]
        fn consumed_plus_remaining_is_one(
            good in 0u64..1_000_000,
            extra_bad in 0u64..1_000_000,
            objective in 0.5f64..0.99999,
        ) {
            let s = spec(objective, 30);
            let series = Series::build(AT - 30 * DAY, AT, 60, [(AT - 60, good, good + extra_bad)], &[], s.budgeting);
            let r = evaluate(&s, &series, AT);
            prop_assert!(r.is_ok());
            if let Ok(r) = r {
                let b = r.error_budget;
                prop_assert!(b.consumed.is_finite() && b.remaining.is_finite());
                prop_assert!((b.consumed + b.remaining - 1.0).abs() < 1e-9);
            }
        }
    }
}
