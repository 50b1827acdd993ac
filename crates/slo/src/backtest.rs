//! Backtest: replays stored counters bucket by bucket through alert policies and scores each
//! policy against the *significant events* found in the same data.
//!
//! # Definitions
//!
//! Timestamps are unix seconds. `b` = 1 − SLO (the objective's floor), `P` = the SLO period
//! (the rolling length, or the nominal calendar length: week 7d, month 30d, quarter 90d).
//! Counts are in budget units: events with occurrences budgeting, timeslices (one per
//! bucket with traffic) with timeslice budgeting.
//!
//! - **Evaluation**: at the end `t` of every bucket whose start is in `[from, to)` (and in
//!   the series), each tier's windows are `[t − w, t)`, `w` rounded up to whole buckets (a
//!   5m window over 1h buckets is one bucket, not an always-empty window). A window's burn rate is its error
//!   ratio / `b`; a window without traffic burns 0. A tier's condition holds when its long
//!   window (and its short window, when set) burns at least the tier's burn rate (with a
//!   relative tolerance of 1e-9, so a burn of exactly the threshold counts). Conditions go
//!   through [`AlertStateMachine`] (`for:`, inhibition of lower tiers).
//! - **Alert**: one firing interval of one tier, `[start, end)`: `start` = the step it
//!   started firing, `end` = the step it resolved (or `to`, with `ongoing`, if it still fires
//!   at the end of the range).
//! - **Significant event**: a maximal run of buckets whose error ratio exceeds `b`
//!   (bad / total > b), runs separated by fewer than `merge_gap` seconds of other buckets
//!   merged (the gap's buckets are part of the event), that consumes at least `significance`
//!   of the budget. The default merge gap is 5 minutes, the shortest window of the default
//!   policy: the ground truth is a property of the data and the SLO, never of the policy
//!   under test, so `--compare-strategies` scores every strategy against the same events.
//! - **Budget of the event** (allowed bad units) = `b` × the units of the SLO window
//!   `[end − P, end)` ending at the event's end, scaled by `P / covered` when the series
//!   covers only `covered` seconds of that window. Chosen over "the whole backtest range
//!   scaled to the period" because it is exactly the budget the SLO report showed when the
//!   event ended (the number an on-call engineer sees), it follows traffic seasonality, and it
//!   does not depend on how long a range was replayed; the scaling keeps it sane at the start
//!   of the data.
//! - **True positive**: an alert whose `[start, end)` overlaps some event's
//!   `[start, end + grace)`, where the grace of the alert's tier is its short window (its
//!   long window when it has none) plus its `for`: a tier can only be reacting to an event
//!   while every window it checks still holds some of the event's bad buckets.
//! - **Precision** = true-positive alerts / alerts (`None` without alerts).
//!   **Recall** = detected events / events (`None` without events); an event is detected
//!   when an alert overlaps it in the sense above.
//! - **Detection time** = start of the first overlapping alert − event start, at least 0 (an
//!   alert already firing when the event starts detects it at once).
//! - **Reset time** = end of the last overlapping alert − event end, at least 0.
//! - **Budget spent before detection** = bad units in `[event start, detection)` / the
//!   event's allowed bad units.
//!
//! Statistics are median (the mean of the two middle values for an even count) and max.

use crate::alert_state::{AlertState, AlertStateMachine};
use crate::alerting::{workbook_policies, AlertPolicy, Severity, Strategy};
use crate::explain::BURN_TOLERANCE;
use crate::{burn_rate, Budgeting, Objective, Series, SloSpec};
use serde::Serialize;

/// The default merge gap between bad runs: the shortest window of the default policy.
pub const DEFAULT_MERGE_GAP: i64 = 300;

/// The default significance: 2% of the budget (the default policy's first tier).
pub const DEFAULT_SIGNIFICANCE: f64 = 0.02;

/// One significant event (or, before scoring, one candidate).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub start: i64,
    pub end: i64,
    /// Bad and total budget units in `[start, end)`.
    pub bad: u64,
    pub total: u64,
    /// Bad units the period allows at the event's end (see the module docs).
    pub allowed_bad: f64,
    /// bad / allowed_bad.
    pub budget_consumed: f64,
}

/// An event as scored against one policy's alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredEvent {
    #[serde(flatten)]
    pub event: Event,
    pub detected: bool,
    pub detection_seconds: Option<i64>,
    pub reset_seconds: Option<i64>,
    pub budget_before_detection: Option<f64>,
}

/// One firing interval of one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// Tier index over the whole policy.
    pub tier: usize,
    pub strategy: Strategy,
    pub severity: Severity,
    pub start: i64,
    pub end: i64,
    /// Still firing at the end of the range (`end` is then the range's end).
    pub ongoing: bool,
    pub true_positive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Stats {
    pub median: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            median: Some(median),
            max: v.last().copied(),
        }
    }
}

/// Scores of a set of alerts against the events.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Metrics {
    pub alerts: usize,
    pub true_positives: usize,
    pub events: usize,
    pub detected: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub detection_seconds: Stats,
    pub reset_seconds: Stats,
    pub budget_before_detection: Stats,
}

/// One tier's own scores (its alerts alone against all events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierMetrics {
    pub tier: usize,
    pub strategy: Strategy,
    pub severity: Severity,
    pub long_window: i64,
    pub short_window: Option<i64>,
    pub burn_rate: f64,
    pub for_seconds: i64,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestResult {
    pub policy: String,
    pub from: i64,
    pub to: i64,
    /// Bucket width (seconds) of the replay.
    pub step: i64,
    pub significance: f64,
    pub merge_gap_seconds: i64,
    /// The longest time after an event that an alert still counts as caused by it (the
    /// largest per-tier grace: short window, or long window without one, plus `for`).
    pub overlap_grace_seconds: i64,
    pub alerts: Vec<AlertRecord>,
    pub events: Vec<ScoredEvent>,
    pub metrics: Metrics,
    pub tiers: Vec<TierMetrics>,
}

/// Options beyond the significance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacktestOptions {
    /// Share of the budget an event must consume (default 0.02).
    pub significance: f64,
    /// Bad runs closer than this (seconds) merge into one event (default 300).
    pub merge_gap: i64,
}

impl Default for BacktestOptions {
    fn default() -> Self {
        BacktestOptions {
            significance: DEFAULT_SIGNIFICANCE,
            merge_gap: DEFAULT_MERGE_GAP,
        }
    }
}

fn budget_ratio(objective: Objective) -> f64 {
    objective.budget_ratio().max(1e-12)
}

/// Indices of the buckets whose start is in `[from, to)`, as a range over the series.
fn bucket_range(series: &Series, from: i64, to: i64) -> std::ops::Range<usize> {
    let step = i128::from(series.step().max(1));
    let start = i128::from(series.start());
    let idx = |at: i64| -> usize {
        let d = i128::from(at) - start;
        if d <= 0 {
            return 0;
        }
        let i = (d + step - 1) / step;
        usize::try_from(i).unwrap_or(usize::MAX).min(series.len())
    };
    let (a, b) = (idx(from), idx(to));
    a..b.max(a)
}

fn bucket_start(series: &Series, i: usize) -> i64 {
    let off = i128::from(series.step()) * i as i128;
    i64::try_from(i128::from(series.start()) + off).unwrap_or(i64::MAX)
}

/// The allowed bad units for an event ending at `end` (see the module docs).
fn allowed_bad(series: &Series, spec: &SloSpec, end: i64) -> f64 {
    let period = spec.window.nominal_seconds().max(1);
    let from = end.saturating_sub(period);
    let units = series.budget_units(spec.budgeting, from, end);
    let covered_from = from.max(series.start());
    let covered_to = end.min(series.end());
    let covered = covered_to.saturating_sub(covered_from);
    let scale = if covered > 0 && covered < period {
        period as f64 / covered as f64
    } else {
        1.0
    };
    budget_ratio(spec.objective) * units.total as f64 * scale
}

/// Significant events in the buckets whose start is in `[from, to)`: see the module docs.
pub fn significant_events(
    series: &Series,
    spec: &SloSpec,
    from: i64,
    to: i64,
    significance: f64,
    merge_gap: i64,
) -> Vec<Event> {
    let b = budget_ratio(spec.objective);
    let step = series.step();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for i in bucket_range(series, from, to) {
        let start = bucket_start(series, i);
        let end = start.saturating_add(step);
        let u = series.budget_units(spec.budgeting, start, end);
        let bad = u.total > 0 && u.bad() as f64 > b * u.total as f64;
        if !bad {
            continue;
        }
        match runs.last_mut() {
            Some(last) if start.saturating_sub(last.1) < merge_gap || start == last.1 => {
                last.1 = end;
            }
            _ => runs.push((start, end)),
        }
    }
    runs.into_iter()
        .filter_map(|(start, end)| {
            let u = series.budget_units(spec.budgeting, start, end);
            let allowed = allowed_bad(series, spec, end);
            let consumed = if allowed > 0.0 {
                u.bad() as f64 / allowed
            } else {
                f64::MAX
            };
            (consumed >= significance).then_some(Event {
                start,
                end,
                bad: u.bad(),
                total: u.total,
                allowed_bad: allowed,
                budget_consumed: consumed,
            })
        })
        .collect()
}

/// Whether `tier`'s condition holds at `at` over `series`.
fn condition(
    series: &Series,
    budgeting: Budgeting,
    objective: Objective,
    long: i64,
    short: Option<i64>,
    burn: f64,
    at: i64,
) -> bool {
    let threshold = burn * (1.0 - BURN_TOLERANCE);
    let step = series.step().max(1);
    let burns = |w: i64| {
        if w <= 0 {
            return false;
        }
        // Whole buckets: ceil(w / step) × step.
        let w = w
            .div_euclid(step)
            .saturating_add(i64::from(w % step != 0))
            .saturating_mul(step);
        let u = series.budget_units(budgeting, at.saturating_sub(w), at);
        burn_rate(u, objective) >= threshold
    };
    burns(long) && short.is_none_or(burns)
}

/// Whether each tier of `policy` holds at `at` (a bucket end), into `out` (cleared first):
/// the same conditions [`backtest`] replays, for a live evaluator.
pub fn conditions_at(
    policy: &AlertPolicy,
    series: &Series,
    spec: &SloSpec,
    at: i64,
    out: &mut Vec<bool>,
) {
    out.clear();
    out.extend(policy.tiers().map(|(_, t)| {
        condition(
            series,
            spec.budgeting,
            spec.objective,
            t.long_window,
            t.short_window,
            t.burn_rate,
            at,
        )
    }));
}

/// Replays `policy` over the buckets of `series` whose start is in `[from, to)`, with the
/// default merge gap. See the module docs for every definition.
pub fn backtest(
    policy: &AlertPolicy,
    series: &Series,
    spec: &SloSpec,
    from: i64,
    to: i64,
    significance: f64,
) -> BacktestResult {
    let options = BacktestOptions {
        significance,
        ..BacktestOptions::default()
    };
    let events = significant_events(series, spec, from, to, significance, options.merge_gap);
    backtest_events(policy, series, spec, from, to, &options, &events)
}

/// The workbook's six strategies ([`workbook_policies`]) side by side, scored against the
/// same events.
pub fn compare_strategies(
    series: &Series,
    spec: &SloSpec,
    from: i64,
    to: i64,
    options: &BacktestOptions,
) -> Vec<BacktestResult> {
    let events = significant_events(
        series,
        spec,
        from,
        to,
        options.significance,
        options.merge_gap,
    );
    workbook_policies(spec.objective, spec.window.nominal_seconds())
        .iter()
        .map(|p| backtest_events(p, series, spec, from, to, options, &events))
        .collect()
}

/// Like [`backtest`], with explicit options and events found beforehand (by
/// [`significant_events`]), so several policies can share them.
pub fn backtest_events(
    policy: &AlertPolicy,
    series: &Series,
    spec: &SloSpec,
    from: i64,
    to: i64,
    options: &BacktestOptions,
    events: &[Event],
) -> BacktestResult {
    let tiers: Vec<_> = policy.tiers().collect();
    let mut machine = AlertStateMachine::new(policy);
    let mut conds = vec![false; tiers.len()];
    let mut transitions = Vec::new();
    let mut open: Vec<Option<i64>> = vec![None; tiers.len()];
    let mut alerts: Vec<AlertRecord> = Vec::new();
    let range = bucket_range(series, from, to);
    let step = series.step();
    let windows: Vec<TierWindows> = tiers
        .iter()
        .map(|(_, t)| TierWindows {
            long: window_buckets(t.long_window, step),
            short: t.short_window.map(|w| window_buckets(w, step)),
            threshold: t.burn_rate * (1.0 - BURN_TOLERANCE),
        })
        .collect();
    let mut last_t = from;
    for i in range {
        let t = bucket_start(series, i).saturating_add(step);
        last_t = t;
        // Evaluation at the end of bucket i: windows are buckets `i + 1 - k .. i + 1`.
        let end = i + 1;
        for (c, w) in conds.iter_mut().zip(&windows) {
            let burns = |k: Option<usize>| {
                k.is_some_and(|k| {
                    let u = series.units_by_index(spec.budgeting, end.saturating_sub(k), end);
                    burn_rate(u, spec.objective) >= w.threshold
                })
            };
            *c = burns(w.long) && (w.short.is_none() || burns(w.short.flatten()));
        }
        transitions.clear();
        machine.step_into(t, &conds, &mut transitions);
        for tr in &transitions {
            if tr.to == AlertState::Firing {
                if let Some(slot) = open.get_mut(tr.tier) {
                    *slot = Some(tr.at);
                }
            } else if tr.from == AlertState::Firing {
                if let (Some(slot), Some((cond, tier))) =
                    (open.get_mut(tr.tier), tiers.get(tr.tier))
                {
                    if let Some(start) = slot.take() {
                        alerts.push(AlertRecord {
                            tier: tr.tier,
                            strategy: cond.strategy,
                            severity: tier.severity,
                            start,
                            end: tr.at,
                            ongoing: false,
                            true_positive: false,
                        });
                    }
                }
            }
        }
    }
    let end_of_range = to.max(last_t);
    for (i, slot) in open.iter().enumerate() {
        if let (Some(start), Some((cond, tier))) = (slot, tiers.get(i)) {
            alerts.push(AlertRecord {
                tier: i,
                strategy: cond.strategy,
                severity: tier.severity,
                start: *start,
                end: end_of_range,
                ongoing: true,
                true_positive: false,
            });
        }
    }
    alerts.sort_by_key(|a| (a.start, a.tier));

    // How long after an event each tier can still be reacting to it: until every window it
    // evaluates has forgotten the event (the short window when it has one), plus `for`.
    let graces: Vec<i64> = tiers
        .iter()
        .map(|(_, t)| {
            t.short_window
                .unwrap_or(t.long_window)
                .max(0)
                .saturating_add(t.for_seconds.max(0))
        })
        .collect();
    let grace = graces.iter().copied().max().unwrap_or(0);
    for a in alerts.iter_mut() {
        a.true_positive = events.iter().any(|e| overlaps(a, e, &graces));
    }
    let all: Vec<&AlertRecord> = alerts.iter().collect();
    let (metrics, scored) = score(&all, events, series, spec, &graces);
    let tier_metrics = tiers
        .iter()
        .enumerate()
        .map(|(i, (cond, tier))| {
            let mine: Vec<&AlertRecord> = alerts.iter().filter(|a| a.tier == i).collect();
            TierMetrics {
                tier: i,
                strategy: cond.strategy,
                severity: tier.severity,
                long_window: tier.long_window,
                short_window: tier.short_window,
                burn_rate: tier.burn_rate,
                for_seconds: tier.for_seconds,
                metrics: score(&mine, events, series, spec, &graces).0,
            }
        })
        .collect();
    BacktestResult {
        policy: policy.name.clone(),
        from,
        to,
        step,
        significance: options.significance,
        merge_gap_seconds: options.merge_gap,
        overlap_grace_seconds: grace,
        alerts,
        events: scored,
        metrics,
        tiers: tier_metrics,
    }
}

/// A tier's windows in whole buckets (`None`: not positive, never burns).
struct TierWindows {
    long: Option<usize>,
    short: Option<Option<usize>>,
    threshold: f64,
}

/// ceil(w / step) buckets; `None` for windows that are not positive.
fn window_buckets(w: i64, step: i64) -> Option<usize> {
    if w <= 0 {
        return None;
    }
    let step = step.max(1);
    let k = w / step + i64::from(w % step != 0);
    Some(usize::try_from(k).unwrap_or(usize::MAX))
}

fn overlaps(a: &AlertRecord, e: &Event, graces: &[i64]) -> bool {
    let grace = graces.get(a.tier).copied().unwrap_or(0);
    a.start < e.end.saturating_add(grace) && a.end > e.start
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn score(
    alerts: &[&AlertRecord],
    events: &[Event],
    series: &Series,
    spec: &SloSpec,
    graces: &[i64],
) -> (Metrics, Vec<ScoredEvent>) {
    let true_positives = alerts
        .iter()
        .filter(|a| events.iter().any(|e| overlaps(a, e, graces)))
        .count();
    let mut scored = Vec::with_capacity(events.len());
    for e in events {
        let mut first: Option<i64> = None;
        let mut last: Option<i64> = None;
        for a in alerts.iter().filter(|a| overlaps(a, e, graces)) {
            first = Some(first.map_or(a.start, |f| f.min(a.start)));
            last = Some(last.map_or(a.end, |l| l.max(a.end)));
        }
        let detection = first.map(|f| f.saturating_sub(e.start).max(0));
        let reset = last.map(|l| l.saturating_sub(e.end).max(0));
        let before = detection.map(|d| {
            let bad = series
                .budget_units(spec.budgeting, e.start, e.start.saturating_add(d))
                .bad();
            if e.allowed_bad > 0.0 {
                bad as f64 / e.allowed_bad
            } else {
                0.0
            }
        });
        scored.push(ScoredEvent {
            event: e.clone(),
            detected: first.is_some(),
            detection_seconds: detection,
            reset_seconds: reset,
            budget_before_detection: before,
        });
    }
    let detected = scored.iter().filter(|s| s.detected).count();
    let collect = |f: &dyn Fn(&ScoredEvent) -> Option<f64>| -> Stats {
        Stats::of(&scored.iter().filter_map(f).collect::<Vec<_>>())
    };
    let metrics = Metrics {
        alerts: alerts.len(),
        true_positives,
        events: events.len(),
        detected,
        precision: ratio(true_positives, alerts.len()),
        recall: ratio(detected, events.len()),
        detection_seconds: collect(&|s| s.detection_seconds.map(|d| d as f64)),
        reset_seconds: collect(&|s| s.reset_seconds.map(|d| d as f64)),
        budget_before_detection: collect(&|s| s.budget_before_detection),
    };
    (metrics, scored)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::alerting::AlertTier;
    use crate::{time_to_fire, Window};
    use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
    use proptest::strategy::Strategy as _;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_700_006_400; // 2023-11-15T00:00:00Z, a whole minute

    fn spec(objective: f64) -> SloSpec {
        SloSpec {
            service: "checkout".into(),
            name: "availability".into(),
            objective: Objective::Target(objective),
            window: Window::Rolling { seconds: 30 * DAY },
            budgeting: Budgeting::Occurrences,
            exclusions: vec![],
            bucket_seconds: 60,
        }
    }

    /// Per-minute buckets over `[from, to)`: `rate` requests, `bad(minute_start)` of them bad.
    fn series(from: i64, to: i64, rate: u64, bad: impl Fn(i64) -> u64) -> Series {
        let samples = (0..(to - from) / 60).map(|i| {
            let at = from + i * 60;
            let b = bad(at).min(rate);
            (at, rate - b, rate)
        });
        Series::build(from, to, 60, samples, &[], Budgeting::Occurrences)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn spans(r: &BacktestResult) -> Vec<(usize, i64, i64)> {
        r.alerts
            .iter()
            .map(|a| (a.tier, a.start - T0, a.end - T0))
            .collect()
    }

    /// A 10-minute total outage at 100 req/min in clean traffic, 99.9% over 30 days.
    ///
    /// - 1h/5m page, burn 14.4: explain says 51.84 s; at the first bucket end (T0+60) the 1h
    ///   window holds 100 bad of 6000 (1.67%, burn 16.7) and the 5m window 100 of 500
    ///   (burn 200): fires at T0+60. It resets when the 5m window is clean: T0+600+300.
    /// - 6h/30m page, burn 6: needs 216 bad of 36,000; 200 at T0+120 (burn 5.56), 300 at
    ///   T0+180 (burn 8.33): fires at T0+180, resets when the 30m window is clean, T0+2400.
    /// - 1d/2h and 3d/6h tickets: true from T0+300 (500 bad ≥ 432), inhibited while a page
    ///   fires; both fire at T0+2400 when the 6h page resolves; they reset when their short
    ///   windows are clean: T0+600+7200 and T0+600+21600.
    /// - The event: [T0, T0+600), 1000 bad; the 30d window ending at T0+600 holds 4,320,000
    ///   requests, allowing 4320 bad: 23.148% consumed. 100 bad (2.3148%) before detection.
    #[test]
    fn ten_minute_outage_pages_in_the_first_minute() {
        let s = spec(0.999);
        let data = series(T0 - 31 * DAY, T0 + DAY, 100, |at| {
            if (T0..T0 + 600).contains(&at) {
                100
            } else {
                0
            }
        });
        let policy = AlertPolicy::default_multiwindow(30 * DAY);
        let r = backtest(&policy, &data, &s, T0 - 3600, T0 + DAY, 0.02);
        assert_eq!(
            spans(&r),
            [
                (0, 60, 900),
                (1, 180, 2400),
                (2, 2400, 7800),
                (3, 2400, 22_200)
            ]
        );
        assert_eq!(r.events.len(), 1);
        let e = &r.events[0];
        assert_eq!((e.event.start, e.event.end), (T0, T0 + 600));
        assert_eq!((e.event.bad, e.event.total), (1000, 1000));
        assert!(close(e.event.allowed_bad, 4320.0));
        assert!(close(e.event.budget_consumed, 1000.0 / 4320.0));
        assert_eq!(e.detection_seconds, Some(60));
        assert!(close(e.budget_before_detection.unwrap(), 100.0 / 4320.0));
        assert_eq!(r.metrics.precision, Some(1.0));
        assert_eq!(r.metrics.recall, Some(1.0));
        assert_eq!(r.metrics.detection_seconds.median, Some(60.0));
        // The whole policy resets when the 3d tier's 6h short window is clean.
        assert_eq!(r.metrics.reset_seconds.max, Some(21_600.0));
        // The page tier alone resets within its 5m short window.
        let page = &r.tiers[0].metrics;
        assert_eq!(page.detection_seconds.max, Some(60.0));
        assert_eq!(page.reset_seconds.max, Some(300.0));
        assert_eq!((page.precision, page.recall), (Some(1.0), Some(1.0)));
        assert_eq!(
            r.overlap_grace_seconds,
            6 * 3600,
            "the 3d/6h tier forgets after its 6h short window"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("NaN"));

        // Without inhibition the tickets fire as soon as their condition holds.
        let mut loud = policy.clone();
        loud.inhibit_lower_tiers = false;
        let r = backtest(&loud, &data, &s, T0 - 3600, T0 + DAY, 0.02);
        assert_eq!(
            spans(&r),
            [
                (0, 60, 900),
                (1, 180, 2400),
                (2, 300, 7800),
                (3, 300, 22_200)
            ]
        );
    }

    /// A slow burn: 2 bad of 1000 req/min (0.2%, burn 2) for two days, 99.9% over 30 days.
    ///
    /// - Pages (14.4, 6) and the 1d/2h ticket (3) never fire: no window burns more than 2.
    /// - 3d/6h ticket, burn 1: the 6h window burns 2 after 3h; the 3d window needs
    ///   0.1% × 4,320,000 = 4320 bad = 2160 minutes: it fires at T0+36h (129,600 s), which is
    ///   explain's B·(1−SLO)·L/e = 1 × 0.001 × 259200 / 0.002. A one-day burn alone never
    ///   fires anything.
    /// - After the burn stops (T0+48h) the 6h window's ratio drops below 0.1% once fewer than
    ///   180 bad minutes remain in it: resolved at T0+48h+3h+60s = T0+183,660 (reset 10,860 s).
    /// - The event: [T0, T0+48h), 5760 bad; 43,200 allowed: 13.33%. Spent before detection:
    ///   4320 / 43,200 = 10%, the tier's "budget consumed when it fires".
    #[test]
    fn slow_burn_fires_only_the_3d_ticket_after_36_hours() {
        let s = spec(0.999);
        let data = series(T0 - 31 * DAY, T0 + 4 * DAY, 1000, |at| {
            if (T0..T0 + 2 * DAY).contains(&at) {
                2
            } else {
                0
            }
        });
        let policy = AlertPolicy::default_multiwindow(30 * DAY);
        let r = backtest(&policy, &data, &s, T0 - DAY, T0 + 4 * DAY, 0.02);
        assert_eq!(spans(&r), [(3, 129_600, 183_660)]);
        assert_eq!(r.alerts[0].severity, Severity::Ticket);
        assert_eq!(
            time_to_fire(1.0, 259_200, Some(21_600), 0, s.objective, 0.002),
            Some(129_600.0)
        );
        assert_eq!(r.events.len(), 1);
        let e = &r.events[0];
        assert_eq!((e.event.start, e.event.end), (T0, T0 + 2 * DAY));
        assert_eq!(e.event.bad, 5760);
        assert!(close(e.event.budget_consumed, 5760.0 / 43_200.0));
        assert_eq!(e.detection_seconds, Some(129_600));
        assert_eq!(e.reset_seconds, Some(10_860));
        assert!(close(e.budget_before_detection.unwrap(), 0.1));
        assert_eq!(
            (r.metrics.precision, r.metrics.recall),
            (Some(1.0), Some(1.0))
        );

        // One day of the same burn: nothing fires; the event (2880 bad, 6.67%) is missed.
        let one_day = series(T0 - 31 * DAY, T0 + 4 * DAY, 1000, |at| {
            if (T0..T0 + DAY).contains(&at) {
                2
            } else {
                0
            }
        });
        let r = backtest(&policy, &one_day, &s, T0 - DAY, T0 + 4 * DAY, 0.02);
        assert!(r.alerts.is_empty());
        assert_eq!((r.metrics.precision, r.metrics.recall), (None, Some(0.0)));
    }

    /// One-minute 100% spikes at 100 req/min, every 10 minutes for 2 hours (12 spikes), on a
    /// 99% / 30d SLO. Each spike is 100 bad of 43,200 allowed (0.23%): with the default 5m
    /// merge gap (spikes are 9 minutes apart) no event is significant at 2%.
    ///
    /// - threshold (10m, 1%): every 10m window holds exactly one spike (10%), so it fires at
    ///   T0+60 and stays firing until the last spike leaves the window: [T0+60, T0+7260),
    ///   one alert, precision 0. Spikes every 20 minutes make it fire 6 times, 10 min each.
    /// - multiwindow: the 1h window holds at most 6 spikes (10% < 14.4%), the 6h window 12
    ///   (3.3% < 6%), 1d 0.83% < 3%, 3d 0.28% < 1%: silent. Of the other workbook strategies
    ///   only threshold fires (duration: the 1m window never holds for 1h).
    /// - With a 10-minute merge gap the 12 spikes are one event [T0, T0+6660) of 1200 bad
    ///   (2.78%): threshold detects it after 60 s; multiwindow misses it.
    #[test]
    fn short_spikes_make_threshold_noisy() {
        let s = spec(0.99);
        let spiky = |every: i64| {
            series(T0 - 31 * DAY, T0 + DAY, 100, move |at| {
                let since = at - T0;
                if (0..7200).contains(&since) && since % every == 0 {
                    100
                } else {
                    0
                }
            })
        };
        let data = spiky(600);
        let options = BacktestOptions::default();
        let r = compare_strategies(&data, &s, T0 - 3600, T0 + DAY, &options);
        let counts: Vec<usize> = r.iter().map(|r| r.alerts.len()).collect();
        assert_eq!(counts, [1, 0, 0, 0, 0, 0]);
        assert_eq!(spans(&r[0]), [(0, 60, 7260)]);
        assert_eq!(
            (r[0].metrics.precision, r[0].metrics.recall),
            (Some(0.0), None)
        );
        assert_eq!((r[5].metrics.precision, r[5].metrics.recall), (None, None));

        let every_20 = spiky(1200);
        let t = compare_strategies(&every_20, &s, T0 - 3600, T0 + DAY, &options);
        let expected: Vec<(usize, i64, i64)> =
            (0..6).map(|k| (0, k * 1200 + 60, k * 1200 + 660)).collect();
        assert_eq!(spans(&t[0]), expected);
        assert_eq!(t[0].metrics.precision, Some(0.0));

        let merged = BacktestOptions {
            merge_gap: 600,
            ..options
        };
        let r = compare_strategies(&data, &s, T0 - 3600, T0 + DAY, &merged);
        let e = &r[0].events;
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].event.start, e[0].event.end, e[0].event.bad),
            (T0, T0 + 6660, 1200)
        );
        assert!(close(e[0].event.budget_consumed, 1200.0 / 43_200.0));
        assert_eq!(
            (r[0].metrics.precision, r[0].metrics.recall),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(e[0].detection_seconds, Some(60));
        assert_eq!(r[5].metrics.recall, Some(0.0));
    }

    #[test]
    fn stats_median_and_max() {
        assert_eq!(Stats::of(&[]), Stats::default());
        assert_eq!(
            Stats::of(&[3.0, 1.0, 2.0]),
            Stats {
                median: Some(2.0),
                max: Some(3.0)
            }
        );
        assert_eq!(Stats::of(&[4.0, 1.0]).median, Some(2.5));
    }

    #[test]
    fn budget_scales_up_when_the_series_is_shorter_than_the_period() {
        // 1 day of data at 100/min: 144,000 requests, scaled ×30 to 4,320,000: 4320 allowed.
        let s = spec(0.999);
        let data = series(T0, T0 + DAY, 100, |at| u64::from(at == T0 + 3600) * 100);
        let e = significant_events(&data, &s, T0, T0 + DAY, 0.0, 300);
        assert_eq!(e.len(), 1);
        assert!(close(e[0].allowed_bad, 4320.0));
    }

    #[test]
    fn windows_shorter_than_a_bucket_round_up_to_one_bucket() {
        // Hourly buckets: the 5m short window of the 1h page covers the last bucket.
        let s = spec(0.999);
        let samples = (0..48).map(|h| {
            let at = T0 - DAY + h * 3600;
            (at, if at == T0 { 0 } else { 6000 }, 6000)
        });
        let data = Series::build(T0 - DAY, T0 + DAY, 3600, samples, &[], s.budgeting);
        let r = backtest(
            &AlertPolicy::default_multiwindow(30 * DAY),
            &data,
            &s,
            T0,
            T0 + 7200,
            0.02,
        );
        assert_eq!(
            r.alerts.first().map(|a| (a.tier, a.start - T0)),
            Some((0, 3600))
        );
    }

    fn arb_tier() -> impl proptest::strategy::Strategy<Value = AlertTier> {
        (
            any::<bool>(),
            -120i64..20_000,
            proptest::option::of(-60i64..5000),
            prop_oneof![Just(f64::NAN), Just(0.0), -1.0f64..50.0],
            -60i64..3000,
        )
            .prop_map(|(page, long, short, burn, for_seconds)| AlertTier {
                severity: if page {
                    Severity::Page
                } else {
                    Severity::Ticket
                },
                long_window: long,
                short_window: short,
                burn_rate: burn,
                for_seconds,
            })
    }

    proptest! {
        #[test]
        fn replay_matches_conditions_at_through_the_state_machine(
            samples in proptest::collection::vec((0i64..30_000, 0u64..20, 0u64..20), 0..300),
            tiers in proptest::collection::vec(arb_tier(), 0..4),
            step in prop_oneof![Just(60i64), Just(300), Just(7)],
        ) {
            let s = spec(0.9);
            let data = Series::build(0, 30_000, step, samples, &[], s.budgeting);
            let policy = AlertPolicy::single(crate::Strategy::Multiwindow, tiers);
            let r = backtest(&policy, &data, &s, 0, 30_000, 0.02);
            let mut m = AlertStateMachine::new(&policy);
            let mut conds = Vec::new();
            let mut naive = Vec::new();
            let mut open = vec![None; policy.tier_count()];
            for (start, _, _) in data.buckets() {
                let t = start + data.step();
                conditions_at(&policy, &data, &s, t, &mut conds);
                for tr in m.step(t, &conds) {
                    if tr.to == AlertState::Firing {
                        open[tr.tier] = Some(t);
                    } else if tr.from == AlertState::Firing {
                        if let Some(a) = open[tr.tier].take() {
                            naive.push((a, tr.tier, t));
                        }
                    }
                }
            }
            let end = r.to.max(data.end());
            for (tier, a) in open.iter().enumerate() {
                if let Some(a) = a {
                    naive.push((*a, tier, end));
                }
            }
            naive.sort();
            let got: Vec<_> = r.alerts.iter().map(|a| (a.start, a.tier, a.end)).collect();
            prop_assert_eq!(got, naive);
        }

        #[test]
        fn backtest_is_total_and_well_formed(
            samples in proptest::collection::vec((0i64..30_000, 0u64..100, 0u64..100), 0..200),
            objective in prop_oneof![Just(1.0), Just(0.0), Just(f64::NAN), 0.5f64..1.0],
            tiers in proptest::collection::vec(arb_tier(), 0..5),
            inhibit in any::<bool>(),
            from in prop_oneof![Just(i64::MIN), -1000i64..30_000],
            to in prop_oneof![Just(i64::MAX), 0i64..31_000],
            significance in prop_oneof![Just(0.0), Just(f64::NAN), 0.0f64..0.5],
            timeslices in any::<bool>(),
        ) {
            let mut s = spec(0.999);
            s.objective = Objective::Target(objective);
            s.window = Window::Rolling { seconds: 7200 };
            if timeslices {
                s.budgeting = Budgeting::Timeslices { slice_target: 0.9 };
            }
            let data = Series::build(0, 30_000, 60, samples, &[], s.budgeting);
            let mut policy = AlertPolicy::single(crate::Strategy::Multiwindow, tiers);
            policy.inhibit_lower_tiers = inhibit;
            let mut results = vec![backtest(&policy, &data, &s, from, to, significance)];
            results.extend(compare_strategies(&data, &s, from, to, &BacktestOptions::default()));
            for r in &results {
                for v in [r.metrics.precision, r.metrics.recall].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&v));
                }
                for t in &r.tiers {
                    for v in [t.metrics.precision, t.metrics.recall].into_iter().flatten() {
                        prop_assert!((0.0..=1.0).contains(&v));
                    }
                }
                for a in &r.alerts {
                    prop_assert!(a.start < a.end || (a.ongoing && a.start <= a.end));
                }
                for tier in 0..r.tiers.len() {
                    let mine: Vec<_> = r.alerts.iter().filter(|a| a.tier == tier).collect();
                    for w in mine.windows(2) {
                        prop_assert!(w[0].end <= w[1].start, "{:?}", w);
                    }
                }
                for e in &r.events {
                    prop_assert!(e.event.start < e.event.end);
                    prop_assert!(e.detection_seconds.is_none_or(|d| d >= 0));
                    prop_assert!(e.reset_seconds.is_none_or(|d| d >= 0));
                }
                let json = serde_json::to_string(r);
                prop_assert!(json.is_ok());
            }
        }
    }
}
