//! `/ui/`: every SLO at a glance, most urgent first.

use super::{charts, percent, render, Fields, Layout, UiError, UiUser};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
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

/// The last day of SLI values of an SLO, hourly, through the JSON API's history function.
pub async fn day_of_sli(
    state: &Arc<AppState>,
    service: &str,
    slo: &str,
    to: i64,
) -> Vec<Option<f64>> {
    let query = serde_json::json!({
        "from": (to - 86_400).to_string(),
        "to": to.to_string(),
        "step": "3600",
    });
    let Ok(query) = serde_json::from_value::<crate::api::HistoryQuery>(query) else {
        return Vec::new();
    };
    match crate::api::history(
        State(state.clone()),
        Ok(axum::extract::Path((service.to_string(), slo.to_string()))),
        Ok(axum::extract::Query(query)),
    )
    .await
    {
        Ok(axum::Json(doc)) => doc
            .get("sli")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Value::as_f64).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
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
    let mut rows = Vec::new();
    for entry in &loaded.slos {
        let spec = &entry.config.spec;
        if !service.is_empty() && spec.service != service {
            continue;
        }
        let report = crate::api::evaluate(&state, entry, at).await?;
        let st = report.status.as_str();
        if !status.is_empty() && st != status {
            continue;
        }
        let spark_values = day_of_sli(&state, &spec.service, &spec.name, at).await;
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
                &format!("SLI of {} over the last day", entry.key),
                charts::status_colour(st),
            ),
            exhaustion: report
                .time_to_exhaustion_seconds
                .filter(|s| s.is_finite())
                .map_or_else(|| "–".to_string(), |s| super::short_duration(s as i64)),
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
