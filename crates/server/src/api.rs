//! Read, admin and change routes.

use crate::loaded::{diagnostics_json, SloEntry};
use crate::state::{AppState, Change};
use crate::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slo::SloReport;
use std::sync::Arc;

/// The most points one history answer holds.
const MAX_HISTORY_POINTS: i64 = 2000;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.is_ready() {
        return ApiError::unavailable("server.not_ready", "not ready (starting or stopping)")
            .into_response();
    }
    match state.store.schema_version().await {
        // Followers are ready too (they serve and ingest); `leader` says which one evaluates
        // and notifies.
        Ok(_) => Json(json!({
            "status": "ready",
            "generation": state.config().generation,
            "replica": state.leader.replica,
            "leader": state.leader.is_leader(),
        }))
        .into_response(),
        Err(e) => ApiError::unavailable("store.unavailable", e.to_string()).into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => {
            ApiError::internal("metrics.encode", "encoding the metrics failed").into_response()
        }
    }
}

/// The OpenAPI document (`openapi.yaml`, served as JSON).
pub async fn openapi() -> Response {
    match crate::routes::openapi_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(message) => ApiError::internal("internal.openapi", message).into_response(),
    }
}

#[derive(Deserialize)]
pub struct AtQuery {
    at: Option<String>,
    service: Option<String>,
}

pub(crate) fn parse_at(text: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    match text {
        None | Some("") | Some("now") => Ok(None),
        Some(t) => crate::parse_time(t).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "request.bad_time",
                format!("{name}={t:?} is not an RFC 3339 time or unix seconds"),
            )
        }),
    }
}

/// Evaluates one SLO at `at` from the store (the same computation as `nines report`).
/// Reads of the same SLO at the same second share one evaluation (see `report_cache`).
pub async fn evaluate(state: &AppState, entry: &SloEntry, at: i64) -> Result<SloReport, ApiError> {
    let cache = state.committer.reports();
    let generation = state.config().generation;
    let version = cache.version(&entry.key);
    if let Some(report) = cache.get(&entry.key, at, generation, version) {
        state.metrics.report_cache_hits.inc();
        return Ok(report);
    }
    let prometheus = crate::prom_source::of_state(state)
        .map_err(|message| ApiError::unprocessable("slo.evaluation_failed", message))?;
    let report = crate::evaluator::evaluate_stored(
        state.store.as_ref(),
        prometheus.as_deref(),
        &entry.config,
        at,
    )
    .await
    .map_err(|e| match e {
        crate::Error::Store(err) => ApiError::from(err),
        crate::Error::Task(m) => ApiError::internal("internal.task", m),
        other => ApiError::unprocessable("slo.evaluation_failed", other.to_string()),
    })?;
    cache.put(&entry.key, at, generation, version, report.clone());
    Ok(report)
}

/// The `nines report -o json` document.
#[derive(Serialize)]
struct ReportDocument {
    at: String,
    slos: Vec<SloReport>,
    /// SLOs that could not be evaluated (e.g. their Prometheus refused a query); the
    /// others are still reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Value>,
}

pub async fn list_slos(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let at = parse_at(query.at.as_deref(), "at")?.unwrap_or_else(crate::eval_now);
    let loaded = state.config();
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for entry in loaded.slos.iter().filter(|e| {
        query
            .service
            .as_ref()
            .is_none_or(|s| &e.config.spec.service == s)
    }) {
        match evaluate(&state, entry, at).await {
            Ok(report) => reports.push(report),
            // One SLO's source failing must not hide every other SLO.
            Err(e) if e.code == "slo.evaluation_failed" => errors.push(json!({
                "slo": entry.key,
                "code": e.code,
                "message": e.message,
            })),
            Err(e) => return Err(e),
        }
    }
    let doc = ReportDocument {
        at: crate::format_time(at),
        slos: reports,
        errors,
    };
    serde_json::to_value(doc)
        .map(Json)
        .map_err(|e| ApiError::internal("internal.encode", e.to_string()))
}

/// The query pairs in order, repeated keys kept (Alertmanager's `filter` repeats).
pub(crate) fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A positive numeric id from a path (`/api/v1/incidents/{id}`).
pub(crate) fn path_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("request.bad_path", format!("{id:?} is not an id")))
}

/// A length given as seconds or a duration like `5m` (history `step`, compare `window`).
pub(crate) fn seconds_param(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| slo::parse_duration(text).ok())
}

pub(crate) fn find<'l>(
    loaded: &'l crate::loaded::Loaded,
    service: &str,
    slo: &str,
) -> Result<&'l SloEntry, ApiError> {
    let key = format!("{service}/{slo}");
    loaded.slo(&key).ok_or_else(|| {
        ApiError::not_found(
            "slo.not_found",
            format!("no SLO {key:?} in the configuration"),
        )
    })
}

/// Alert tiers of one SLO as the evaluator last saw them.
fn alert_tiers(state: &AppState, key: &str) -> Value {
    let eval = state.eval_read();
    let Some(alerts) = eval.slos.get(key).and_then(|r| r.alerts.as_ref()) else {
        return Value::Array(Vec::new());
    };
    Value::Array(
        alerts
            .policy
            .tiers()
            .enumerate()
            .map(|(i, (condition, tier))| {
                json!({
                    "tier": i,
                    "strategy": condition.strategy.as_str(),
                    "severity": tier.severity.as_str(),
                    "long_window_seconds": tier.long_window,
                    "short_window_seconds": tier.short_window,
                    "burn_rate": tier.burn_rate,
                    "for_seconds": tier.for_seconds,
                    "condition": alerts.conditions.get(i).copied().unwrap_or(false),
                    "state": alerts.machine.state(i).map(|s| s.as_str()),
                    "since": alerts.machine.since(i).filter(|s| *s > 0).map(crate::format_time),
                })
            })
            .collect(),
    )
}

pub async fn get_slo(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((service, name)) = path?;
    let Query(query) = query?;
    let at = parse_at(query.at.as_deref(), "at")?.unwrap_or_else(crate::eval_now);
    let loaded = state.config();
    let entry = find(&loaded, &service, &name)?;
    let report = evaluate(&state, entry, at).await?;
    let mut doc = serde_json::to_value(&report)
        .map_err(|e| ApiError::internal("internal.encode", e.to_string()))?;
    if let Some(map) = doc.as_object_mut() {
        map.insert("at".into(), json!(crate::format_time(at)));
        map.insert("description".into(), json!(entry.config.description));
        map.insert("alerts".into(), alert_tiers(&state, &entry.key));
    }
    Ok(Json(doc))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    /// Seconds, or a duration like `5m`.
    step: Option<String>,
}

pub async fn history(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((service, name)) = path?;
    let Query(query) = query?;
    let loaded = state.config();
    let entry = find(&loaded, &service, &name)?;
    let spec = entry.config.spec.clone();
    let to = parse_at(query.to.as_deref(), "to")?.unwrap_or_else(crate::eval_now);
    let from = parse_at(query.from.as_deref(), "from")?.unwrap_or(to - 86_400);
    if from > to {
        return Err(ApiError::bad_request(
            "history.bad_range",
            "`from` is after `to`",
        ));
    }
    let step = match query.step.as_deref() {
        None | Some("") => ((to - from) / 288).max(spec.bucket_seconds).max(1),
        Some(s) => seconds_param(s).filter(|s| *s > 0).ok_or_else(|| {
            ApiError::bad_request(
                "history.bad_step",
                format!("step={s:?} is not a positive number of seconds or a duration like 5m"),
            )
        })?,
    };
    let points = (to - from) / step + 1;
    if points > MAX_HISTORY_POINTS {
        return Err(ApiError::bad_request(
            "history.too_many_points",
            format!("{points} points requested; at most {MAX_HISTORY_POINTS}: raise `step`"),
        ));
    }
    let lookback = slo::lookback_start(&spec, from)
        .map_err(|e| ApiError::unprocessable("slo.evaluation_failed", e.to_string()))?;
    let rows = crate::prom_source::api_counts(&state, &entry.config, lookback, to).await?;
    let work = move || -> Result<Value, slo::Error> {
        let series = slo::Series::for_slo(
            &spec,
            lookback,
            to,
            rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
        );
        let mut times = Vec::new();
        let mut sli = Vec::new();
        let mut remaining = Vec::new();
        let mut burn: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        let mut t = from;
        while t <= to {
            let r = slo::evaluate(&spec, &series, t)?;
            times.push(crate::format_time(t));
            sli.push(r.sli);
            remaining.push(r.error_budget.remaining);
            for (label, value) in &r.burn_rates.0 {
                burn.entry(label.clone()).or_default().push(*value);
            }
            t += step;
        }
        Ok(json!({
            "slo": spec.key(),
            "from": crate::format_time(from),
            "to": crate::format_time(to),
            "step_seconds": step,
            "times": times,
            "sli": sli,
            "budget_remaining": remaining,
            "burn_rates": burn,
        }))
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("internal.task", e.to_string()))?
        .map(Json)
        .map_err(|e| ApiError::unprocessable("slo.evaluation_failed", e.to_string()))
}

pub async fn alerts(State(state): State<Arc<AppState>>) -> Json<Value> {
    let loaded = state.config();
    let eval = state.eval_read();
    let mut active = Vec::new();
    for entry in &loaded.slos {
        let Some(alerts) = eval.slos.get(&entry.key).and_then(|r| r.alerts.as_ref()) else {
            continue;
        };
        for (i, (condition, tier)) in alerts.policy.tiers().enumerate() {
            let Some(s) = alerts.machine.state(i) else {
                continue;
            };
            if matches!(s, slo::AlertState::Pending | slo::AlertState::Firing) {
                active.push(json!({
                    "slo": entry.key,
                    "tier": i,
                    "strategy": condition.strategy.as_str(),
                    "severity": tier.severity.as_str(),
                    "state": s.as_str(),
                    "since": alerts.machine.since(i).map(crate::format_time),
                }));
            }
        }
    }
    let history: Vec<Value> = eval
        .history
        .iter()
        .rev()
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    Json(json!({ "active": active, "history": history, "evaluations": eval.rounds }))
}

#[derive(Deserialize)]
pub struct GateQuery {
    slo: Option<String>,
}

/// Whether releases of a service may proceed: yes unless its SLO's error budget is exhausted.
pub async fn gate(
    State(state): State<Arc<AppState>>,
    query: Result<Query<GateQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let Some(key) = query.slo.filter(|s| !s.is_empty()) else {
        return Err(ApiError::bad_request(
            "gate.missing_slo",
            "pass ?slo=service/slo",
        ));
    };
    let loaded = state.config();
    let (service, name) = key.split_once('/').unwrap_or((key.as_str(), ""));
    let entry = find(&loaded, service, name)?;
    let at = crate::eval_now();
    let report = evaluate(&state, entry, at).await?;
    let remaining = report.error_budget.remaining;
    let allowed = report.status != slo::Status::Exhausted;
    let reason = match report.status {
        slo::Status::Exhausted => format!(
            "the error budget of {key} is exhausted ({:.1}% remaining, SLI {} against {:?}): releases should wait",
            remaining * 100.0,
            report.sli.map_or_else(|| "-".into(), |s| format!("{:.4}%", s * 100.0)),
            report.objective,
        ),
        slo::Status::NoData => format!("{key} has no data in its window: nothing blocks releases"),
        _ => format!(
            "{key} has {:.1}% of its error budget left",
            remaining * 100.0
        ),
    };
    Ok(Json(json!({
        "slo": key,
        "allowed": allowed,
        "status": report.status.as_str(),
        "budget_remaining": remaining,
        "sli": report.sli,
        "reason": reason,
        "at": crate::format_time(at),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeIn {
    service: String,
    version: Option<String>,
    time: Option<Value>,
    description: Option<String>,
}

pub async fn post_change(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    crate::ingest_api::require_json(&headers)?;
    let body = body?;
    let change: ChangeIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("request.bad_json", e.to_string()))?;
    if change.service.is_empty() {
        return Err(ApiError::unprocessable(
            "changes.invalid",
            "`service` is empty",
        ));
    }
    let time = match &change.time {
        None | Some(Value::Null) => crate::now(),
        Some(v) => ingest::events::time_of(v).ok_or_else(|| {
            ApiError::unprocessable(
                "changes.bad_time",
                "`time` must be an RFC 3339 time or unix seconds",
            )
        })?,
    };
    let stored = state
        .add_change(
            Change {
                id: 0,
                service: change.service,
                version: change.version,
                time: crate::format_time(time),
                time_unix: time,
                description: change.description,
            },
            principal.as_ref().map_or("api", |p| p.0.name.as_str()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[derive(Deserialize)]
pub struct ChangesQuery {
    service: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub async fn list_changes(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let to = parse_at(query.to.as_deref(), "to")?.unwrap_or(i64::MAX);
    let from = parse_at(query.from.as_deref(), "from")?.unwrap_or(i64::MIN);
    let changes = state
        .changes(query.service.as_deref().filter(|s| !s.is_empty()), from, to)
        .await?;
    Ok(Json(json!({ "changes": changes })))
}

pub async fn reload(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
) -> Response {
    let actor = principal.as_ref().map_or("api", |p| p.0.name.as_str());
    match state.reload(actor).await {
        Ok(loaded) => Json(json!({
            "status": "reloaded",
            "generation": loaded.generation,
            "slos": loaded.slos.len(),
        }))
        .into_response(),
        Err(diags) => ApiError::unprocessable(
            "config.invalid",
            format!(
                "the new configuration has {} error(s); the running one is unchanged",
                diags.len()
            ),
        )
        .with_details(json!({ "diagnostics": diagnostics_json(&diags) }))
        .into_response(),
    }
}
