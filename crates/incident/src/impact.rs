//! Impact of an incident from the SLO counters (bad events, error budget consumed, the first
//! bad bucket), its timings, and response metrics (MTTA, MTTM, MTTR) across incidents.
//!
//! Zero traffic and a missing budget give zeros, never NaN or infinity (as in `slo`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::incident::{Incident, Severity};

/// Stored counters of one SLO for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub start: i64,
    pub good: u64,
    pub total: u64,
}

impl Bucket {
    /// Bad events; `good` is clamped to `total` (counters are read that way everywhere).
    pub fn bad(&self) -> u64 {
        self.total - self.good.min(self.total)
    }
}

/// What an incident cost one SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub bad_events: u64,
    pub total_events: u64,
    /// Bad events the SLO window allows: (1 − objective) × window_total.
    pub budget_allowed: f64,
    /// Share of that budget the incident spent (1.0 = all of it); 0 when there is no budget.
    pub budget_consumed: f64,
    /// Start of the first counted bucket whose error ratio exceeds 1 − objective.
    pub first_bad_at: Option<i64>,
}

/// Impact over the buckets that overlap `[from, to)`. For `from` and `to` on bucket
/// boundaries that is exactly the buckets starting in `[from, to)`; otherwise the bucket
/// holding `from` counts too, since part of it is inside the incident (with
/// `bucket_seconds <= 0` only starts in `[from, to)` count). `window_total` is the events in
/// the SLO window ending at `to`, the basis of the budget. An objective outside 0..=1 (or NaN)
/// is clamped, so a bad input never yields NaN.
pub fn impact(
    buckets: &[Bucket],
    bucket_seconds: i64,
    objective: f64,
    window_total: u64,
    from: i64,
    to: i64,
) -> Impact {
    let objective = if objective.is_nan() {
        1.0
    } else {
        objective.clamp(0.0, 1.0)
    };
    let error_budget = 1.0 - objective;
    let width = bucket_seconds.max(0);
    let counted = |b: &&Bucket| b.start < to && b.start.saturating_add(width.max(1)) > from;
    let mut bad_events = 0u64;
    let mut total_events = 0u64;
    let mut first_bad_at: Option<i64> = None;
    for b in buckets.iter().filter(counted) {
        let bad = b.bad();
        bad_events = bad_events.saturating_add(bad);
        total_events = total_events.saturating_add(b.total);
        // Integer-exact in spirit: bad/total > budget, skipping buckets without traffic.
        if b.total > 0 && bad as f64 > error_budget * b.total as f64 {
            first_bad_at = Some(first_bad_at.map_or(b.start, |f| f.min(b.start)));
        }
    }
    let budget_allowed = error_budget * window_total as f64;
    let budget_consumed = if budget_allowed > 0.0 {
        bad_events as f64 / budget_allowed
    } else {
        0.0
    };
    Impact {
        bad_events,
        total_events,
        budget_allowed,
        budget_consumed,
        first_bad_at,
    }
}

/// How fast the incident was detected, mitigated and resolved, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// First bad bucket → detection (the first alert or the declaration, whichever came
    /// first). None without a bad bucket.
    pub time_to_detect: Option<i64>,
    /// Start of impact → first entry into monitoring or resolved.
    pub time_to_mitigate: Option<i64>,
    /// Start of impact → first resolution.
    pub time_to_resolve: Option<i64>,
}

/// Timings of one incident. The impact starts at the first bad bucket, or at the declaration
/// when that came first (declaring early is encouraged) or no bucket was bad. Detection is
/// the earlier of the first alert and the declaration: a human who declared before the alert
/// fired detected it. Durations are never negative (an alert older than the first bad bucket
/// detected it at once).
pub fn timings(
    incident: &Incident,
    first_bad_at: Option<i64>,
    first_alert_at: Option<i64>,
) -> Timings {
    let declared = incident.declared_at;
    let detected = first_alert_at.map_or(declared, |a| a.min(declared));
    let start = first_bad_at.map_or(declared, |b| b.min(declared));
    let since = |t: i64, s: i64| t.saturating_sub(s).max(0);
    Timings {
        time_to_detect: first_bad_at.map(|b| since(detected, b)),
        time_to_mitigate: incident.mitigated_at().map(|m| since(m, start)),
        time_to_resolve: incident.resolved_at().map(|r| since(r, start)),
    }
}

/// Mean response times of the incidents of one severity and service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseMetrics {
    pub severity: Severity,
    /// Empty for incidents declared without a service.
    pub service: String,
    pub incidents: usize,
    /// Mean of declaration → acknowledgement ([`Incident::acknowledged_at`]).
    pub mtta_seconds: Option<f64>,
    /// Mean of declaration → mitigation ([`Incident::mitigated_at`]).
    pub mttm_seconds: Option<f64>,
    /// Mean of declaration → resolution ([`Incident::resolved_at`]).
    pub mttr_seconds: Option<f64>,
}

#[derive(Default)]
struct Mean {
    sum: f64,
    n: usize,
}

impl Mean {
    fn add(&mut self, v: Option<i64>) {
        if let Some(v) = v {
            self.sum += v as f64;
            self.n += 1;
        }
    }

    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// MTTA, MTTM and MTTR of the incidents declared in `[from, to)`, one row per (severity,
/// service), sorted by severity (SEV1 first) then service. An incident with several services
/// counts for each; one without any counts under the empty service. Each mean is over the
/// incidents that reached that point (an unresolved incident does not count for MTTR);
/// times are measured from the declaration, which is what every incident has.
pub fn response_metrics(incidents: &[Incident], from: i64, to: i64) -> Vec<ResponseMetrics> {
    let mut rows: BTreeMap<(Severity, &str), (usize, [Mean; 3])> = BTreeMap::new();
    let none: &[String] = &[String::new()];
    for inc in incidents
        .iter()
        .filter(|i| i.declared_at >= from && i.declared_at < to)
    {
        let since = |t: Option<i64>| t.map(|t| t.saturating_sub(inc.declared_at).max(0));
        let times = [
            since(inc.acknowledged_at()),
            since(inc.mitigated_at()),
            since(inc.resolved_at()),
        ];
        let services = if inc.services.is_empty() {
            none
        } else {
            &inc.services
        };
        for svc in services {
            let row = rows.entry((inc.severity, svc.as_str())).or_default();
            row.0 += 1;
            for (m, t) in row.1.iter_mut().zip(times) {
                m.add(t);
            }
        }
    }
    rows.into_iter()
        .map(|((severity, service), (n, [a, m, r]))| ResponseMetrics {
            severity,
            service: service.to_string(),
            incidents: n,
            mtta_seconds: a.get(),
            mttm_seconds: m.get(),
            mttr_seconds: r.get(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::incident::Status;

    fn b(start: i64, good: u64, total: u64) -> Bucket {
        Bucket { start, good, total }
    }

    #[test]
    fn hand_computed_budget() {
        // 99.9% over a window of 10,000 events allows 10 bad; the incident had 30 bad.
        let buckets = [
            b(0, 100, 100),
            b(60, 990, 1000),  // 1% errors: bad
            b(120, 990, 1000), // bad
            b(180, 999, 1000), // 0.1%: exactly the budget rate, not bad
            b(240, 991, 1000), // 0.9%: bad, but first_bad_at is the earliest
            b(300, 500, 1000), // outside [60, 300)
        ];
        let i = impact(&buckets, 60, 0.999, 10_000, 60, 300);
        assert_eq!(i.bad_events, 30);
        assert_eq!(i.total_events, 4000);
        assert!(
            (i.budget_allowed - 10.0).abs() < 1e-9,
            "{}",
            i.budget_allowed
        );
        assert!(
            (i.budget_consumed - 3.0).abs() < 1e-9,
            "{}",
            i.budget_consumed
        );
        assert_eq!(i.first_bad_at, Some(60));
    }

    #[test]
    fn first_bad_is_earliest_even_unsorted() {
        let buckets = [b(180, 0, 10), b(120, 9, 10), b(60, 10, 10)];
        let i = impact(&buckets, 60, 0.99, 1000, 0, 600);
        assert_eq!(i.first_bad_at, Some(120));
        assert_eq!(i.bad_events, 11);
    }

    #[test]
    fn unaligned_from_counts_the_bucket_holding_it() {
        let buckets = [b(0, 0, 5), b(60, 0, 5), b(120, 0, 5)];
        let i = impact(&buckets, 60, 0.9, 100, 30, 120);
        assert_eq!((i.bad_events, i.first_bad_at), (10, Some(0)));
        // without a width only starts in [from, to) count
        let i = impact(&buckets, 0, 0.9, 100, 30, 120);
        assert_eq!((i.bad_events, i.first_bad_at), (5, Some(60)));
    }

    #[test]
    fn zero_traffic_and_no_budget() {
        let i = impact(&[b(0, 0, 0)], 60, 0.999, 0, 0, 60);
        assert_eq!(
            i,
            Impact {
                bad_events: 0,
                total_events: 0,
                budget_allowed: 0.0,
                budget_consumed: 0.0,
                first_bad_at: None
            }
        );
        let i = impact(&[], 60, 0.999, 1000, 0, 60);
        assert_eq!(i.budget_consumed, 0.0);
        // 100% objective: no budget, consumption reported as 0, still a bad bucket
        let i = impact(&[b(0, 1, 2)], 60, 1.0, 1000, 0, 60);
        assert_eq!(i.budget_consumed, 0.0);
        assert_eq!(i.first_bad_at, Some(0));
        for obj in [f64::NAN, -1.0, 2.0, f64::INFINITY] {
            let i = impact(&[b(0, 1, 2)], 60, obj, 1000, 0, 60);
            assert!(i.budget_allowed.is_finite() && i.budget_consumed.is_finite());
        }
        // good above total is clamped
        assert_eq!(impact(&[b(0, 9, 5)], 60, 0.9, 10, 0, 60).bad_events, 0);
    }

    fn incident(sev: Severity, services: &[&str], at: i64) -> Incident {
        Incident::declare(
            "t",
            sev,
            services.iter().map(|s| s.to_string()).collect(),
            "ic",
            at,
        )
        .unwrap()
    }

    #[test]
    fn timings_from_bad_bucket_alert_and_declaration() {
        let mut i = incident(Severity::Sev2, &["a"], 1000);
        i.set_status(Status::Monitoring, "ic", 1600).unwrap();
        i.set_status(Status::Resolved, "ic", 2000).unwrap();
        let t = timings(&i, Some(700), Some(820));
        assert_eq!(
            t,
            Timings {
                time_to_detect: Some(120),
                time_to_mitigate: Some(900),
                time_to_resolve: Some(1300)
            }
        );
        // no alert: detected by the declaration
        assert_eq!(timings(&i, Some(700), None).time_to_detect, Some(300));
        // declared before the alert fired: the declaration detected it
        assert_eq!(timings(&i, Some(700), Some(1500)).time_to_detect, Some(300));
        // no bad bucket: nothing to detect, impact starts at the declaration
        let t = timings(&i, None, Some(900));
        assert_eq!(t.time_to_detect, None);
        assert_eq!(t.time_to_mitigate, Some(600));
        // declared before any bucket went bad
        assert_eq!(timings(&i, Some(1200), None).time_to_mitigate, Some(600));
        // alert older than the first bad bucket
        assert_eq!(timings(&i, Some(700), Some(600)).time_to_detect, Some(0));
        let open = incident(Severity::Sev1, &[], 0);
        assert_eq!(
            timings(&open, None, None),
            Timings {
                time_to_detect: None,
                time_to_mitigate: None,
                time_to_resolve: None
            }
        );
    }

    #[test]
    fn response_metrics_by_severity_and_service() {
        // SEV1 on a and b: acked after 60, mitigated after 600, resolved after 1200
        let mut x = incident(Severity::Sev1, &["b", "a"], 1000);
        x.assign_role("operations_lead", "op", "ic", 1060).unwrap();
        x.set_status(Status::Monitoring, "ic", 1600).unwrap();
        x.set_status(Status::Resolved, "ic", 2200).unwrap();
        // SEV1 on a: acked after 120 (status), never mitigated
        let mut y = incident(Severity::Sev1, &["a"], 5000);
        y.set_status(Status::Identified, "ic", 5120).unwrap();
        // SEV3 with no service, untouched
        let z = incident(Severity::Sev3, &[], 3000);
        // outside the range
        let mut w = incident(Severity::Sev1, &["a"], 9000);
        w.set_status(Status::Resolved, "ic", 9001).unwrap();

        let rows = response_metrics(&[w, z, y, x], 0, 9000);
        let view: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.severity,
                    r.service.as_str(),
                    r.incidents,
                    r.mtta_seconds,
                    r.mttm_seconds,
                    r.mttr_seconds,
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                (
                    Severity::Sev1,
                    "a",
                    2,
                    Some(90.0),
                    Some(600.0),
                    Some(1200.0)
                ),
                (
                    Severity::Sev1,
                    "b",
                    1,
                    Some(60.0),
                    Some(600.0),
                    Some(1200.0)
                ),
                (Severity::Sev3, "", 1, None, None, None),
            ]
        );
        assert!(response_metrics(&[], 0, 10).is_empty());
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["severity"], "SEV1");
        assert_eq!(json["mtta_seconds"], 90.0);
    }
}
