//! `/ui/`: every SLO at a glance, most urgent first.

use super::{charts, percent, render, Fields, Layout, UiError, UiUser};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router.route("/ui/", get(page))
}

/// One SLO's line.
pub struct Row {
    pub key: String,
    pub href: String,
    pub sli: String,
    pub objective: String,
    pub status: &'static str,
    pub remaining: f64,
    pub remaining_text: String,
    pub bar: String,
    pub burns: Vec<(String, String)>,
    pub spark: String,
    pub exhaustion: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    rows: Vec<Row>,
    /// (service, selected) for the filter.
    services: Vec<(String, bool)>,
    /// (status, selected) for the filter.
    statuses: Vec<(&'static str, bool)>,
    total: usize,
    /// SLOs that could not be evaluated (a failing source): (key, href, why).
    failing: Vec<(String, String, String)>,
}

const STATUSES: &[&str] = &["exhausted", "warning", "ok", "no_data", "above_range"];

/// Percent-encodes one path segment.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The UI path of an SLO's page.
pub fn slo_href(service: &str, slo: &str) -> String {
    format!("/ui/slos/{}/{}", segment(service), segment(slo))
}

/// The objective as text: `99.9%` or `99%..99.9%`.
pub fn objective_text(o: &slo::Objective) -> String {
    let p = |r: f64| {
        let text = format!("{:.4}", r * 100.0);
        format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
    };
    match o {
        slo::Objective::Target(t) => p(*t),
        slo::Objective::Range { min, max } => format!("{}..{}", p(*min), p(*max)),
    }
}

/// Urgency: exhausted, then warning, then everything else; within each, least budget first.
fn urgency(status: &str) -> u8 {
    match status {
        "exhausted" => 0,
        "warning" => 1,
        _ => 2,
    }
}

/// The last day of an SLO, hour by hour: each hour's own ratio of good to total events
/// (None for an hour without traffic). Reads one day of buckets, not the SLO's whole window,
/// so the overview of many SLOs stays cheap even before the cache is warm; and an hour's own
/// ratio shows a dip that a rolling 30-day SLI would flatten.
pub async fn day_of_sli(
    state: &Arc<AppState>,
    service: &str,
    slo: &str,
    to: i64,
) -> Vec<Option<f64>> {
    let key = format!("{service}/{slo}");
    let from = to - 86_400;
    let loaded = state.config();
    let Some(entry) = loaded.slo(&key) else {
        return Vec::new();
    };
    let Ok(rows) = crate::prom_source::state_counts(state, &entry.config, from, to).await else {
        return Vec::new();
    };
    let mut hours = [(0u64, 0u64); 24];
    for r in rows {
        let h = usize::try_from((r.bucket_start - from) / 3600)
            .unwrap_or(0)
            .min(23);
        hours[h].0 += r.good.min(r.total);
        hours[h].1 += r.total;
    }
    hours
        .iter()
        .map(|&(good, total)| (total > 0).then(|| good as f64 / total as f64))
        .collect()
}

/// How long a sparkline is reused (seconds): an hourly line barely moves in a minute, and
/// the overview of many SLOs must not replay a day of each on every load.
const SPARK_TTL: i64 = 60;
/// Sparklines computed at once when the cache misses.
const SPARK_PARALLEL: usize = 8;

/// Cached sparklines: (server, SLO key) → (config generation, computed at, values). The
/// server's address keeps test servers in one process apart.
type SparkCache = std::collections::HashMap<String, (u64, i64, Arc<Vec<Option<f64>>>)>;

fn spark_cache() -> &'static std::sync::Mutex<SparkCache> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<SparkCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The day sparklines of `slos` ((key, service, name)), from the cache when fresh, the rest
/// computed a few at a time.
async fn sparklines(
    state: &Arc<AppState>,
    slos: &[(String, String, String)],
    at: i64,
) -> std::collections::HashMap<String, Arc<Vec<Option<f64>>>> {
    let generation = state.config().generation;
    let server = Arc::as_ptr(state) as usize;
    let cache_key = |key: &str| format!("{server:x}/{key}");
    let mut out = std::collections::HashMap::new();
    let mut missing = Vec::new();
    {
        let mut cache = spark_cache().lock().unwrap_or_else(|e| e.into_inner());
        // Lines of removed SLOs and stopped servers go after an hour.
        cache.retain(|_, (_, when, _)| at - *when < 3600);
        for (key, service, name) in slos {
            match cache.get(&cache_key(key)) {
                Some((g, when, values)) if *g == generation && at - when < SPARK_TTL => {
                    out.insert(key.clone(), values.clone());
                }
                _ => missing.push((key.clone(), service.clone(), name.clone())),
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = missing.into_iter();
    loop {
        while tasks.len() < SPARK_PARALLEL {
            let Some((key, service, name)) = pending.next() else {
                break;
            };
            let state = state.clone();
            tasks.spawn(async move {
                let values = day_of_sli(&state, &service, &name, at).await;
                (key, values)
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        if let Ok((key, values)) = done {
            let values = Arc::new(values);
            spark_cache()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cache_key(&key), (generation, at, values.clone()));
            out.insert(key, values);
        }
    }
    out
}

/// How long the overview reuses a report of an SLO whose data and configuration did not change
/// (seconds): the window slides, but not visibly in a few seconds.
const REPORT_TTL: i64 = 10;

/// Cached reports: (server, SLO key) → (config generation, data version, evaluated at, report).
type ReportCache = std::collections::HashMap<String, (u64, u64, i64, slo::SloReport)>;

fn report_cache() -> &'static std::sync::Mutex<ReportCache> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<ReportCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The SLO's report at `at` as the JSON API computes it ([`crate::api::evaluate`]), reused for
/// a few seconds while no commit touched the SLO (a write shows at once), so the overview of
/// many SLOs stays fast.
async fn report(
    state: &Arc<AppState>,
    entry: &crate::loaded::SloEntry,
    at: i64,
) -> Result<slo::SloReport, UiError> {
    let generation = state.config().generation;
    let version = state.committer.reports().version(&entry.key);
    let key = format!("{:x}/{}", Arc::as_ptr(state) as usize, entry.key);
    {
        let cache = report_cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((g, v, when, report)) = cache.get(&key) {
            if *g == generation && *v == version && (0..REPORT_TTL).contains(&(at - when)) {
                return Ok(report.clone());
            }
        }
    }
    let report = crate::api::evaluate(state, entry, at).await?;
    let mut cache = report_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|_, (_, _, when, _)| at - *when < 3600);
    cache.insert(key, (generation, version, at, report.clone()));
    Ok(report)
}

async fn page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    let service = query.text("service").unwrap_or("").to_string();
    let status = query.text("status").unwrap_or("").to_string();
    let at = crate::eval_now();
    let loaded = state.config();
    let mut services: Vec<String> = loaded
        .slos
        .iter()
        .map(|e| e.config.spec.service.clone())
        .collect();
    services.sort();
    services.dedup();
    let mut shown = Vec::new();
    let mut failing = Vec::new();
    for entry in &loaded.slos {
        let spec = &entry.config.spec;
        if !service.is_empty() && spec.service != service {
            continue;
        }
        // An SLO whose source fails does not take the overview down: it is listed apart, with why.
        let report = match report(&state, entry, at).await {
            Ok(report) => report,
            Err(e) if e.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
                failing.push((
                    entry.key.clone(),
                    slo_href(&spec.service, &spec.name),
                    e.message,
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        let st = report.status.as_str();
        if !status.is_empty() && st != status {
            continue;
        }
        shown.push((entry, report));
    }
    let wanted: Vec<(String, String, String)> = shown
        .iter()
        .map(|(e, _)| {
            let spec = &e.config.spec;
            (e.key.clone(), spec.service.clone(), spec.name.clone())
        })
        .collect();
    let sparks = sparklines(&state, &wanted, at).await;
    let mut rows = Vec::with_capacity(shown.len());
    for (entry, report) in shown {
        let spec = &entry.config.spec;
        let st = report.status.as_str();
        let spark_values = sparks.get(&entry.key).cloned().unwrap_or_default();
        let remaining = report.error_budget.remaining;
        rows.push(Row {
            key: entry.key.clone(),
            href: slo_href(&spec.service, &spec.name),
            sli: percent(report.sli, 3),
            objective: objective_text(&report.objective),
            status: st,
            remaining,
            remaining_text: percent(Some(remaining), 1),
            bar: charts::budget_bar(remaining, 120, st),
            burns: report
                .burn_rates
                .0
                .iter()
                .map(|(label, v)| (label.clone(), format!("{v:.2}×")))
                .collect(),
            spark: charts::sparkline(
                &spark_values,
                120,
                24,
                &format!("SLI of {} per hour over the last day", entry.key),
                charts::status_colour(st),
            ),
            exhaustion: report
                .time_to_exhaustion_seconds
                .filter(|s| s.is_finite())
                .map_or_else(|| "–".to_string(), super::approx_duration),
        });
    }
    rows.sort_by(|a, b| {
        urgency(a.status)
            .cmp(&urgency(b.status))
            .then(a.remaining.total_cmp(&b.remaining))
            .then(a.key.cmp(&b.key))
    });
    let total = loaded.slos.len();
    Ok(render(&OverviewPage {
        layout: Layout::new("Overview", "/ui/", &user),
        rows,
        services: services
            .into_iter()
            .map(|s| {
                let selected = s == service;
                (s, selected)
            })
            .collect(),
        statuses: STATUSES.iter().map(|s| (*s, *s == status)).collect(),
        total,
        failing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_objectives() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            slo_href("checkout", "availability"),
            "/ui/slos/checkout/availability"
        );
        assert_eq!(objective_text(&slo::Objective::Target(0.999)), "99.9%");
        assert_eq!(
            objective_text(&slo::Objective::Range {
                min: 0.99,
                max: 0.999
            }),
            "99%..99.9%"
        );
        assert!(urgency("exhausted") < urgency("warning") && urgency("warning") < urgency("ok"));
    }
}
