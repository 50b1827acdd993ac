//! `GET /api/v1/slos/{service}/{slo}/compare?change=ID|at=TIME&window=1h`: the SLI and burn
//! rate in the window before a change and the window after it, and whether the difference is
//! more than chance ([`slo::compare`]). The bucket holding the change is mixed, so it belongs to
//! neither side: "before" ends at its start, "after" starts at its end. The after window is cut
//! at now while it is still running (the answer says how long it covered).

use crate::api::{find, parse_at, seconds_param};
use crate::state::AppState;
use crate::ApiError;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The default window each side (one hour).
const DEFAULT_WINDOW: i64 = 3600;
/// The longest window each side (seven days).
const MAX_WINDOW: i64 = 7 * 86_400;

#[derive(Deserialize)]
pub struct CompareQuery {
    /// The id of a recorded change (`POST /api/v1/changes`).
    change: Option<String>,
    /// Or a time (RFC 3339 or unix seconds).
    at: Option<String>,
    /// Length of each side: seconds or a duration like `30m`.
    window: Option<String>,
}

pub async fn compare(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<CompareQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((service, name)) = path?;
    let Query(query) = query?;
    let loaded = state.config();
    let entry = find(&loaded, &service, &name)?;
    let spec = entry.config.spec.clone();
    let window = match query.window.as_deref() {
        None | Some("") => DEFAULT_WINDOW,
        Some(w) => seconds_param(w)
            .filter(|w| (1..=MAX_WINDOW).contains(w))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "compare.bad_window",
                    format!("window={w:?} must be seconds or a duration like 1h, at most 7d"),
                )
            })?,
    };
    let (at, change) = match (query.change.as_deref(), query.at.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "compare.ambiguous",
                "give `change` or `at`, not both",
            ))
        }
        (Some(id), None) => {
            let id: u64 = id.parse().map_err(|_| {
                ApiError::bad_request("compare.bad_change", format!("change={id:?} is not an id"))
            })?;
            let changes = state.changes(None, i64::MIN, i64::MAX).await?;
            let change = changes.into_iter().find(|c| c.id == id).ok_or_else(|| {
                ApiError::not_found("change.not_found", format!("no change with id {id}"))
            })?;
            (change.time_unix, Some(change))
        }
        (None, at) => match parse_at(at, "at")? {
            Some(at) => (at, None),
            None => {
                return Err(ApiError::bad_request(
                    "compare.missing_time",
                    "give `change` (an id from /api/v1/changes) or `at` (a time)",
                ))
            }
        },
    };
    let bucket = spec.bucket_seconds.max(1);
    let change_bucket = at.div_euclid(bucket) * bucket;
    let before = (change_bucket - window, change_bucket);
    let now = crate::eval_now();
    let after_start = change_bucket + bucket;
    let after = (
        after_start,
        (after_start + window).min(now.max(after_start)),
    );
    let rows =
        crate::prom_source::api_counts(&state, &entry.config, before.0, after.1.max(before.1))
            .await?;
    let series = slo::Series::for_slo(
        &spec,
        before.0,
        after.1.max(before.1),
        rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
    );
    let result = slo::compare(
        series.events(before.0, before.1),
        series.events(after.0, after.1),
        spec.objective,
    );
    let side = |range: (i64, i64), s: &slo::compare::Side| {
        json!({
            "from": crate::format_time(range.0),
            "to": crate::format_time(range.1),
            "seconds": range.1 - range.0,
            "good": s.good,
            "total": s.total,
            "sli": s.sli,
            "error_ratio": s.error_ratio,
            "burn_rate": s.burn_rate,
        })
    };
    Ok(Json(json!({
        "slo": entry.key,
        "at": crate::format_time(at),
        "change": change,
        "window_seconds": window,
        "before": side(before, &result.before),
        "after": side(after, &result.after),
        "sli_change": result.sli_change,
        "burn_rate_factor": result.burn_rate_factor,
        "z": result.z,
        "verdict": result.verdict,
    })))
}
