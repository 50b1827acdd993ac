//! `/ui/backtest`: replay an SLO's stored history against its own alert policy and the
//! workbook strategies (as `nines backtest --compare-strategies`), one table of precision,
//! recall, detection and reset times, and the timeline of the chosen policy's alerts against
//! the significant events.

use super::charts::{Band, Series, Threshold, TimeChart};
use super::{percent, render, short_duration, short_time, Fields, Layout, UiError, UiUser};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use slo::{AlertPolicy, BacktestOptions, BacktestResult};
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router.route("/ui/backtest", get(page))
}

/// The ranges offered: (value, label, seconds; 0 = the SLO's window).
const RANGES: &[(&str, &str, i64)] = &[
    ("1d", "1 day", 86_400),
    ("7d", "7 days", 7 * 86_400),
    ("window", "the SLO's window", 0),
];

/// Points of the timeline's error-ratio line.
const CHART_POINTS: i64 = 300;

pub struct ResultRow {
    pub policy: String,
    pub shown: bool,
    pub alerts: usize,
    pub events: usize,
    pub precision: String,
    pub recall: String,
    pub detect_median: String,
    pub detect_max: String,
    pub reset_median: String,
    pub reset_max: String,
    pub budget_before: String,
}

pub struct EventRow {
    pub from: String,
    pub to: String,
    pub budget: String,
    pub detection: String,
}

#[derive(Template)]
#[template(path = "backtest.html")]
struct BacktestPage {
    layout: Layout,
    slos: Vec<(String, bool)>,
    ranges: Vec<(&'static str, &'static str, bool)>,
    significance: String,
    chosen: Option<String>,
    period: String,
    rows: Vec<ResultRow>,
    policies: Vec<(String, bool)>,
    chart: String,
    summary: String,
    events: Vec<EventRow>,
}

fn seconds_text(s: Option<f64>) -> String {
    s.filter(|s| s.is_finite())
        .map_or_else(|| "–".to_string(), super::approx_duration)
}

async fn page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    let loaded = state.config();
    let chosen = query.text("slo").map(str::to_string);
    let range_value = query.text("range").unwrap_or("7d");
    let (range_value, _, range_seconds) = RANGES
        .iter()
        .copied()
        .find(|(v, _, _)| *v == range_value)
        .unwrap_or(RANGES[1]);
    let significance_text = query.text("significance").unwrap_or("2").to_string();
    let significance = significance_text
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .map(|p| p / 100.0)
        .filter(|s| *s > 0.0 && *s <= 1.0)
        .ok_or_else(|| {
            UiError::bad_request("The significance is a share of the budget from 0.01 to 100 (%).")
        })?;
    let mut page = BacktestPage {
        layout: Layout::new("Backtest", "/ui/backtest", &user),
        slos: loaded
            .slos
            .iter()
            .map(|e| (e.key.clone(), chosen.as_deref() == Some(e.key.as_str())))
            .collect(),
        ranges: RANGES
            .iter()
            .map(|(v, l, _)| (*v, *l, *v == range_value))
            .collect(),
        significance: significance_text,
        chosen: None,
        period: String::new(),
        rows: Vec::new(),
        policies: Vec::new(),
        chart: String::new(),
        summary: String::new(),
        events: Vec::new(),
    };
    let Some(key) = chosen else {
        return Ok(render(&page));
    };
    let entry = loaded
        .slo(&key)
        .ok_or_else(|| UiError::not_found(format!("There is no SLO {key}.")))?;
    let spec = entry.config.spec.clone();
    let period = spec.window.nominal_seconds();
    let to = crate::eval_now();
    let from = to
        - if range_seconds > 0 {
            range_seconds
        } else {
            period
        };
    let mut policies: Vec<AlertPolicy> = vec![entry
        .config
        .alert_policy
        .clone()
        .unwrap_or_else(|| AlertPolicy::default_multiwindow(period))];
    policies.extend(slo::workbook_policies(spec.objective, period));
    let lookback = policies
        .iter()
        .map(AlertPolicy::max_long_window)
        .max()
        .unwrap_or(0)
        .max(period);
    let start = from - lookback;
    let rows = crate::prom_source::api_counts(&state, &entry.config, start, to).await?;
    let shown_name = query.text("policy").map(str::to_string);
    let work = move || {
        let start = rows
            .first()
            .map_or(from, |r| r.bucket_start.max(start))
            .min(from);
        let series = slo::Series::for_slo(
            &spec,
            start,
            to,
            rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
        );
        let options = BacktestOptions {
            significance,
            ..BacktestOptions::default()
        };
        let events = slo::significant_events(
            &series,
            &spec,
            from,
            to,
            options.significance,
            options.merge_gap,
        );
        let results: Vec<BacktestResult> = policies
            .iter()
            .map(|p| slo::backtest_events(p, &series, &spec, from, to, &options, &events))
            .collect();
        // The error ratio over time, at most CHART_POINTS points.
        let step = series.step().max(1);
        let group = (((to - from) / step).max(1) + CHART_POINTS - 1) / CHART_POINTS * step;
        let mut ratios = Vec::new();
        let mut at = from;
        while at < to {
            let end = (at + group.max(step)).min(to);
            let c = series.events(at, end);
            ratios.push((end, (c.total > 0).then(|| c.bad() as f64 / c.total as f64)));
            at = end;
        }
        (results, ratios, spec)
    };
    let (results, ratios, spec) = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| UiError::internal(e.to_string()))?;
    let shown = shown_name
        .as_deref()
        .and_then(|n| results.iter().position(|r| r.policy == n))
        .unwrap_or(0);
    page.rows = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let m = &r.metrics;
            ResultRow {
                policy: if i == 0 {
                    format!("{} (configured)", r.policy)
                } else {
                    r.policy.clone()
                },
                shown: i == shown,
                alerts: m.alerts,
                events: m.events,
                precision: percent(m.precision, 0),
                recall: percent(m.recall, 0),
                detect_median: seconds_text(m.detection_seconds.median),
                detect_max: seconds_text(m.detection_seconds.max),
                reset_median: seconds_text(m.reset_seconds.median),
                reset_max: seconds_text(m.reset_seconds.max),
                budget_before: m
                    .budget_before_detection
                    .max
                    .map_or_else(|| "–".to_string(), |b| percent(Some(b), 1)),
            }
        })
        .collect();
    page.policies = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.policy.clone(), i == shown))
        .collect();
    if let Some(r) = results.get(shown) {
        let mut chart = TimeChart::new(
            "backtest",
            &format!(
                "{key}: error ratio, significant events and {} alerts",
                r.policy
            ),
            from,
            to,
            super::charts::ratio_axis,
        );
        chart.y_min = Some(0.0);
        chart.series.push(Series {
            label: "error ratio".into(),
            colour: "#0b57b0",
            points: ratios,
        });
        chart.thresholds.push(Threshold {
            label: "error budget ratio".into(),
            value: spec.objective.budget_ratio(),
            colour: "#1b6e3a",
        });
        chart.bands = r
            .events
            .iter()
            .map(|e| Band {
                from: e.event.start,
                to: e.event.end,
                label: format!(
                    "significant event: {} of the budget",
                    percent(Some(e.event.budget_consumed), 1)
                ),
                colour: "#8a5300",
            })
            .chain(r.alerts.iter().map(|a| Band {
                from: a.start,
                to: a.end,
                label: format!(
                    "{} alert (tier {}){}",
                    a.severity.as_str(),
                    a.tier,
                    if a.true_positive {
                        ""
                    } else {
                        ": false positive"
                    }
                ),
                colour: "#b3261e",
            }))
            .collect();
        let m = &r.metrics;
        page.summary = format!(
            "From {} to {}, {} significant events; policy {} raised {} alerts, detected {} of them (precision {}, recall {}).",
            short_time(from),
            short_time(to),
            m.events,
            r.policy,
            m.alerts,
            m.detected,
            percent(m.precision, 0),
            percent(m.recall, 0)
        );
        chart.desc = page.summary.clone();
        page.chart = chart.render();
        page.events = r
            .events
            .iter()
            .map(|e| EventRow {
                from: short_time(e.event.start),
                to: short_time(e.event.end),
                budget: percent(Some(e.event.budget_consumed), 1),
                detection: match e.detection_seconds {
                    Some(d) => format!("after {}", super::approx_duration(d as f64)),
                    None => "missed".to_string(),
                },
            })
            .collect();
    }
    page.period = short_duration(period);
    page.chosen = Some(key);
    Ok(render(&page))
}
