//! `/ui/slos/{service}/{slo}`: one SLO over time — the SLI, the error budget's burn-down over
//! the window, burn rates against the alert thresholds, with deploys and alert transitions on
//! the same time axis; the alert tiers now, the `alerts explain` table, and a before/after
//! comparison around a chosen change. Data comes from the JSON API's own functions (history,
//! compare) so the page and the API never disagree.

use super::charts::{self, Band, Marker, Series, Threshold, TimeChart};
use super::overview::{objective_text, slo_href};
use super::{percent, render, short_duration, short_time, Fields, Layout, UiError, UiUser};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router.route("/ui/slos/{service}/{slo}", get(page))
}

/// The ranges the time charts offer: (value, label, seconds).
const RANGES: &[(&str, &str, i64)] = &[
    ("6h", "6 hours", 6 * 3600),
    ("1d", "1 day", 86_400),
    ("7d", "7 days", 7 * 86_400),
    ("30d", "30 days", 30 * 86_400),
];

const BLUE: &str = "#0b57b0";
const RED: &str = "#b3261e";
const AMBER: &str = "#8a5300";
const GREEN: &str = "#1b6e3a";
const PURPLE: &str = "#6a3d9a";
const GREY: &str = "#5b636e";
const LINE_COLOURS: &[&str] = &[BLUE, "#00838f", PURPLE, "#ad1457", "#4e342e", GREY];

/// The history of an SLO as the JSON API answers `GET .../history` (same function).
pub async fn history(
    state: &Arc<AppState>,
    service: &str,
    slo: &str,
    from: i64,
    to: i64,
    step: Option<i64>,
) -> Result<Value, UiError> {
    let mut query = json!({ "from": from.to_string(), "to": to.to_string() });
    if let Some(step) = step {
        query["step"] = json!(step.to_string());
    }
    let query = serde_json::from_value::<crate::api::HistoryQuery>(query)
        .map_err(|e| UiError::internal(e.to_string()))?;
    let axum::Json(doc) = crate::api::history(
        State(state.clone()),
        Ok(Path((service.to_string(), slo.to_string()))),
        Ok(Query(query)),
    )
    .await?;
    Ok(doc)
}

/// The (time, value) points of `key` in a history document.
fn points(doc: &Value, values: &Value) -> Vec<(i64, Option<f64>)> {
    let times = doc["times"].as_array().cloned().unwrap_or_default();
    let values = values.as_array().cloned().unwrap_or_default();
    times
        .iter()
        .zip(values.iter())
        .filter_map(|(t, v)| Some((crate::parse_time(t.as_str()?)?, v.as_f64())))
        .collect()
}

pub struct TierRow {
    pub tier: usize,
    pub strategy: &'static str,
    pub severity: &'static str,
    pub windows: String,
    pub burn_rate: String,
    pub condition: bool,
    pub state: &'static str,
    pub since: String,
}

pub struct ExplainRow {
    pub tier: usize,
    pub strategy: &'static str,
    pub severity: &'static str,
    pub windows: String,
    pub for_text: String,
    pub burn_rate: String,
    pub budget_at_fire: String,
    pub min_error_ratio: String,
    /// Time to fire at an error ratio of 100%, 10%, 1%.
    pub fire: Vec<String>,
    pub warnings: String,
}

pub struct EventRow {
    pub time: String,
    pub what: String,
    pub detail: String,
}

pub struct ChangeOption {
    pub id: u64,
    pub label: String,
    pub selected: bool,
}

pub struct Comparison {
    pub at: String,
    pub window: String,
    pub before: (String, String, String),
    pub after: (String, String, String),
    pub sli_change: String,
    pub burn_factor: String,
    pub z: String,
    pub verdict: String,
}

#[derive(Template)]
#[template(path = "slo.html")]
struct SloPage {
    layout: Layout,
    href: String,
    description: String,
    status: &'static str,
    sli: String,
    objective: String,
    window: String,
    remaining: String,
    bar: String,
    exhaustion: String,
    good: u64,
    total: u64,
    burns: Vec<(String, String)>,
    ranges: Vec<(&'static str, &'static str, bool)>,
    sli_chart: String,
    sli_summary: String,
    budget_chart: String,
    budget_summary: String,
    burn_chart: String,
    burn_summary: String,
    events: Vec<EventRow>,
    tiers: Vec<TierRow>,
    explain: Vec<ExplainRow>,
    policy: String,
    changes: Vec<ChangeOption>,
    compare_window: String,
    compare_at: String,
    comparison: Option<Comparison>,
    compare_error: Option<String>,
}

fn fmt_ratio(v: Option<f64>) -> String {
    percent(v, 3)
}

fn min_max(points: &[(i64, Option<f64>)]) -> Option<(f64, f64)> {
    points
        .iter()
        .filter_map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

async fn page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path((service, name)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    let loaded = state.config();
    let entry = crate::api::find(&loaded, &service, &name)
        .map_err(|_| UiError::not_found(format!("There is no SLO {service}/{name}.")))?;
    let spec = &entry.config.spec;
    let key = entry.key.clone();
    let now = crate::eval_now();
    let report = crate::api::evaluate(&state, entry, now).await?;

    let range_value = query.text("range").unwrap_or("1d");
    let (range_value, _, range) = RANGES
        .iter()
        .copied()
        .find(|(v, _, _)| *v == range_value)
        .unwrap_or(RANGES[1]);
    let from = now - range;

    // Events on the time axis: deploys of this service, this SLO's alert transitions.
    let window_start = report.window_start.min(from);
    let changes = state
        .changes(Some(&spec.service), window_start, now)
        .await?;
    let transitions: Vec<crate::evaluator::AlertEvent> = {
        let eval = state.eval_read();
        eval.history
            .iter()
            .filter(|e| e.slo == key)
            .cloned()
            .collect()
    };
    // Incidents that link this SLO: declared and resolved on the same axis.
    let incidents: Vec<incident::incident::Incident> = super::incidents::all_incidents(&state)
        .await?
        .into_iter()
        .filter(|i| i.linked_slos.contains(&key))
        .filter(|i| i.resolved_at().is_none_or(|r| r >= window_start))
        .collect();
    let incident_points: Vec<(i64, String)> = incidents
        .iter()
        .flat_map(|i| {
            let declared = (
                i.declared_at,
                format!("incident #{} {} declared: {}", i.id, i.severity, i.title),
            );
            let resolved = i
                .resolved_at()
                .map(|r| (r, format!("incident #{} resolved", i.id)));
            std::iter::once(declared).chain(resolved)
        })
        .collect();
    let change_markers = |from: i64| -> Vec<Marker> {
        incident_points
            .iter()
            .filter(|(at, _)| *at >= from)
            .map(|(at, label)| Marker {
                at: *at,
                label: label.clone(),
                colour: AMBER,
            })
            .chain(changes.iter().filter(|c| c.time_unix >= from).map(|c| {
                Marker {
                    at: c.time_unix,
                    label: format!(
                        "deploy {} {}",
                        c.version.as_deref().unwrap_or(""),
                        c.description.as_deref().unwrap_or("")
                    )
                    .trim()
                    .to_string(),
                    colour: PURPLE,
                }
            }))
            .collect()
    };
    let firing_bands = |from: i64| -> Vec<Band> {
        let mut bands = Vec::new();
        let mut open: std::collections::BTreeMap<usize, (i64, &'static str)> = Default::default();
        for e in &transitions {
            if e.to == slo::AlertState::Firing {
                open.insert(e.tier, (e.at_unix, e.severity));
            } else if let Some((start, severity)) = open.remove(&e.tier) {
                bands.push(Band {
                    from: start,
                    to: e.at_unix,
                    label: format!("tier {} ({severity}) firing", e.tier),
                    colour: RED,
                });
            }
        }
        for (tier, (start, severity)) in open {
            bands.push(Band {
                from: start,
                to: now,
                label: format!("tier {tier} ({severity}) firing"),
                colour: RED,
            });
        }
        bands.retain(|b| b.to >= from);
        bands
    };

    // SLI over the chosen range.
    let doc = history(&state, &spec.service, &spec.name, from, now, None).await?;
    let sli_points = points(&doc, &doc["sli"]);
    let mut sli_chart = TimeChart::new(
        "sli",
        &format!("SLI of {key}"),
        from,
        now,
        charts::ratio_axis,
    );
    sli_chart.thresholds.push(Threshold {
        label: format!("objective {}", objective_text(&spec.objective)),
        value: spec.objective.floor(),
        colour: RED,
    });
    if let slo::Objective::Range { max, .. } = spec.objective {
        sli_chart.thresholds.push(Threshold {
            label: "range max".into(),
            value: max,
            colour: AMBER,
        });
    }
    sli_chart.ceiling = Some(1.0);
    sli_chart.series.push(Series {
        label: "SLI".into(),
        colour: BLUE,
        points: sli_points.clone(),
    });
    sli_chart.markers = change_markers(from);
    sli_chart.bands = firing_bands(from);
    let sli_summary = match min_max(&sli_points) {
        Some((lo, hi)) => format!(
            "Over the last {}, the SLI ranged from {} to {} against an objective of {}; it is {} now.",
            short_duration(range),
            fmt_ratio(Some(lo)),
            fmt_ratio(Some(hi)),
            objective_text(&spec.objective),
            fmt_ratio(report.sli)
        ),
        None => format!("No traffic in the last {}.", short_duration(range)),
    };
    sli_chart.desc = sli_summary.clone();

    // Burn rates over the range, against the alert thresholds.
    let mut burn_chart = TimeChart::new(
        "burn",
        &format!("Burn rates of {key}"),
        from,
        now,
        charts::times_axis,
    );
    burn_chart.y_min = Some(0.0);
    if let Some(map) = doc["burn_rates"].as_object() {
        for (i, (label, values)) in map.iter().enumerate() {
            burn_chart.series.push(Series {
                label: format!("{label} burn"),
                colour: LINE_COLOURS[i % LINE_COLOURS.len()],
                points: points(&doc, values),
            });
        }
    }
    let mut tiers = Vec::new();
    let mut explain = Vec::new();
    let mut policy = String::new();
    {
        let eval = state.eval_read();
        if let Some(alerts) = eval.slos.get(&key).and_then(|r| r.alerts.as_ref()) {
            policy = alerts.policy.name.clone();
            for (i, (condition, tier)) in alerts.policy.tiers().enumerate() {
                let windows = match tier.short_window {
                    Some(s) => format!(
                        "{} / {}",
                        short_duration(tier.long_window),
                        short_duration(s)
                    ),
                    None => short_duration(tier.long_window),
                };
                burn_chart.thresholds.push(Threshold {
                    label: format!(
                        "{} {:.1}× ({})",
                        tier.severity.as_str(),
                        tier.burn_rate,
                        short_duration(tier.long_window)
                    ),
                    value: tier.burn_rate,
                    colour: if i == 0 { RED } else { AMBER },
                });
                tiers.push(TierRow {
                    tier: i,
                    strategy: condition.strategy.as_str(),
                    severity: tier.severity.as_str(),
                    windows,
                    burn_rate: format!("{:.2}×", tier.burn_rate),
                    condition: alerts.conditions.get(i).copied().unwrap_or(false),
                    state: alerts.machine.state(i).map_or("inactive", |s| s.as_str()),
                    since: alerts
                        .machine
                        .since(i)
                        .filter(|s| *s > 0)
                        .map_or_else(String::new, short_time),
                });
            }
            for t in slo::explain(
                &alerts.policy,
                spec.objective,
                spec.window.nominal_seconds(),
            ) {
                let fire = ["1.0", "0.1", "0.01"]
                    .iter()
                    .map(
                        |k| match t.time_to_fire_seconds.get(*k).copied().flatten() {
                            Some(s) if s.is_finite() => super::approx_duration(s),
                            _ => "never".to_string(),
                        },
                    )
                    .collect();
                explain.push(ExplainRow {
                    tier: t.tier,
                    strategy: t.strategy.as_str(),
                    severity: t.severity.as_str(),
                    windows: match &t.short_window_text {
                        Some(s) => format!("{} / {s}", t.long_window_text),
                        None => t.long_window_text.clone(),
                    },
                    for_text: if t.for_seconds > 0 {
                        short_duration(t.for_seconds)
                    } else {
                        "–".into()
                    },
                    burn_rate: format!("{:.2}×", t.burn_rate),
                    budget_at_fire: percent(Some(t.budget_consumed_at_fire), 2),
                    min_error_ratio: percent(Some(t.min_error_ratio), 3),
                    fire,
                    warnings: t.warnings.join("; "),
                });
            }
        }
    }
    burn_chart.markers = change_markers(from);
    burn_chart.bands = firing_bands(from);
    let burn_summary = format!(
        "Burn rates now: {}. {}",
        report
            .burn_rates
            .0
            .iter()
            .map(|(l, v)| format!("{l} {v:.2}×"))
            .collect::<Vec<_>>()
            .join(", "),
        if tiers.is_empty() {
            "This SLO has no alerting.".to_string()
        } else {
            format!(
                "Alert thresholds: {}.",
                tiers
                    .iter()
                    .map(|t| format!("{} at {} over {}", t.severity, t.burn_rate, t.windows))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    burn_chart.desc = burn_summary.clone();

    // The error budget over the whole window.
    let budget_from = report.window_start.min(now - 3600);
    let budget_doc = history(&state, &spec.service, &spec.name, budget_from, now, None).await?;
    let budget_points = points(&budget_doc, &budget_doc["budget_remaining"]);
    let mut budget_chart = TimeChart::new(
        "budget",
        &format!("Error budget remaining of {key} over its window"),
        budget_from,
        now,
        charts::ratio_axis,
    );
    budget_chart.y_max = Some(1.0);
    budget_chart.y_min = Some(0.0);
    budget_chart.thresholds.push(Threshold {
        label: "exhausted".into(),
        value: 0.0,
        colour: RED,
    });
    budget_chart.series.push(Series {
        label: "budget remaining".into(),
        colour: GREEN,
        points: budget_points,
    });
    budget_chart.markers = change_markers(budget_from);
    budget_chart.bands = firing_bands(budget_from);
    let budget_summary = format!(
        "Since {} ({} window), {} of the error budget is left ({} bad of {} events); {}.",
        short_time(report.window_start),
        report.window,
        percent(Some(report.error_budget.remaining), 1),
        report.total.saturating_sub(report.good),
        report.total,
        match report.time_to_exhaustion_seconds.filter(|s| s.is_finite()) {
            _ if report.error_budget.remaining <= 0.0 => "it is exhausted".to_string(),
            Some(s) => format!(
                "at the current burn it is gone in {}",
                super::approx_duration(s)
            ),
            None => "nothing is burning it down now".to_string(),
        }
    );
    budget_chart.desc = budget_summary.clone();

    // Deploys and alert transitions as a table (the charts' text alternative for events).
    let mut events: Vec<(i64, EventRow)> = changes
        .iter()
        .filter(|c| c.time_unix >= budget_from)
        .map(|c| {
            (
                c.time_unix,
                EventRow {
                    time: short_time(c.time_unix),
                    what: "deploy".into(),
                    detail: format!(
                        "#{} {} {}",
                        c.id,
                        c.version.as_deref().unwrap_or(""),
                        c.description.as_deref().unwrap_or("")
                    )
                    .trim()
                    .to_string(),
                },
            )
        })
        .collect();
    events.extend(
        transitions
            .iter()
            .filter(|e| e.at_unix >= budget_from)
            .map(|e| {
                (
                    e.at_unix,
                    EventRow {
                        time: short_time(e.at_unix),
                        what: format!("alert {}", e.to.as_str()),
                        detail: format!(
                            "tier {} ({}): {} → {}",
                            e.tier,
                            e.severity,
                            e.from.as_str(),
                            e.to.as_str()
                        ),
                    },
                )
            }),
    );
    events.extend(
        incident_points
            .iter()
            .filter(|(at, _)| *at >= budget_from)
            .map(|(at, label)| {
                (
                    *at,
                    EventRow {
                        time: short_time(*at),
                        what: "incident".into(),
                        detail: label.clone(),
                    },
                )
            }),
    );
    events.sort_by_key(|e| std::cmp::Reverse(e.0));

    // Before/after a change.
    let compare_change = query.text("change").map(str::to_string);
    let compare_at = query.text("at").unwrap_or("").to_string();
    let compare_window = query.text("window").unwrap_or("1h").to_string();
    let (comparison, compare_error) = if compare_change.is_some() || !compare_at.is_empty() {
        match compare(
            &state,
            &spec.service,
            &spec.name,
            compare_change.as_deref(),
            &compare_at,
            &compare_window,
        )
        .await
        {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.message)),
        }
    } else {
        (None, None)
    };
    let change_options = changes
        .iter()
        .rev()
        .map(|c| ChangeOption {
            id: c.id,
            label: format!(
                "#{} {} {} {}",
                c.id,
                short_time(c.time_unix),
                c.version.as_deref().unwrap_or(""),
                c.description.as_deref().unwrap_or("")
            )
            .trim()
            .to_string(),
            selected: compare_change.as_deref() == Some(c.id.to_string().as_str()),
        })
        .collect();

    let st = report.status.as_str();
    let page = SloPage {
        layout: Layout::new(key.clone(), "/ui/", &user),
        href: slo_href(&spec.service, &spec.name),
        description: entry.config.description.clone().unwrap_or_default(),
        status: st,
        sli: fmt_ratio(report.sli),
        objective: objective_text(&report.objective),
        window: report.window.clone(),
        remaining: percent(Some(report.error_budget.remaining), 1),
        bar: charts::budget_bar(report.error_budget.remaining, 200, st),
        exhaustion: report
            .time_to_exhaustion_seconds
            .filter(|s| s.is_finite())
            .map_or_else(|| "–".to_string(), super::approx_duration),
        good: report.good,
        total: report.total,
        burns: report
            .burn_rates
            .0
            .iter()
            .map(|(l, v)| (l.clone(), format!("{v:.2}×")))
            .collect(),
        ranges: RANGES
            .iter()
            .map(|(v, l, _)| (*v, *l, *v == range_value))
            .collect(),
        sli_chart: sli_chart.render(),
        sli_summary,
        budget_chart: budget_chart.render(),
        budget_summary,
        burn_chart: burn_chart.render(),
        burn_summary,
        events: events.into_iter().map(|(_, e)| e).collect(),
        tiers,
        explain,
        policy,
        changes: change_options,
        compare_window,
        compare_at,
        comparison,
        compare_error,
    };
    Ok(render(&page))
}

/// Before/after around a change (by id) or a time, through the JSON API's compare function.
async fn compare(
    state: &Arc<AppState>,
    service: &str,
    slo: &str,
    change: Option<&str>,
    at: &str,
    window: &str,
) -> Result<Comparison, UiError> {
    let mut query = json!({ "window": window });
    match change {
        Some(id) => query["change"] = json!(id),
        None => query["at"] = json!(at),
    }
    let query = serde_json::from_value::<crate::compare_api::CompareQuery>(query)
        .map_err(|e| UiError::internal(e.to_string()))?;
    let axum::Json(doc) = crate::compare_api::compare(
        State(state.clone()),
        Ok(Path((service.to_string(), slo.to_string()))),
        Ok(Query(query)),
    )
    .await?;
    let side = |s: &Value| {
        (
            format!(
                "{} – {}",
                s["from"].as_str().unwrap_or(""),
                s["to"].as_str().unwrap_or("")
            ),
            format!(
                "{} ({} of {})",
                fmt_ratio(s["sli"].as_f64()),
                s["good"].as_u64().unwrap_or(0),
                s["total"].as_u64().unwrap_or(0)
            ),
            s["burn_rate"]
                .as_f64()
                .map_or_else(|| "–".to_string(), |b| format!("{b:.2}×")),
        )
    };
    let text = |v: &Value| match v {
        Value::Null => "–".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), |f| format!("{f:.3}")),
        other => other.to_string(),
    };
    Ok(Comparison {
        at: text(&doc["at"]),
        window: short_duration(doc["window_seconds"].as_i64().unwrap_or(0)),
        before: side(&doc["before"]),
        after: side(&doc["after"]),
        sli_change: doc["sli_change"]
            .as_f64()
            .map_or_else(|| "–".to_string(), |v| format!("{:+.3} points", v * 100.0)),
        burn_factor: doc["burn_rate_factor"]
            .as_f64()
            .map_or_else(|| "–".to_string(), |v| format!("{v:.2}×")),
        z: text(&doc["z"]),
        verdict: text(&doc["verdict"]),
    })
}
