//! Alertmanager's API v2, so Prometheus, amtool and Grafana talk to nines unchanged, plus
//! nines' acknowledgements and delivery history. Decisions live in [`crate::notifier`].
//!
//! Alertmanager-compatible routes answer errors the way Alertmanager does where its clients
//! read them: `POST /api/v2/alerts` refuses with a plain-text reason (Prometheus logs it);
//! everything else uses nines' JSON errors with stable codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::api::query_pairs;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::notifier::AlertFilter;
use crate::state::AppState;

/// The most alerts one `POST /api/v2/alerts` may carry.
pub const MAX_ALERTS_PER_POST: usize = 256;

fn actor(principal: &Option<Extension<Principal>>) -> &str {
    principal.as_ref().map_or("api", |p| p.0.name.as_str())
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.into(),
    )
        .into_response()
}

fn bool_param(value: &str, name: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(
            "request.bad_query",
            format!("`{name}` must be true or false, not {value:?}"),
        )),
    }
}

/// Alertmanager's listing parameters: `active`, `silenced`, `inhibited` (default true),
/// `unprocessed` (accepted; nines processes alerts when they arrive), repeated `filter`
/// matchers and a `receiver` regex.
fn alert_filter(query: &Option<String>) -> Result<AlertFilter, ApiError> {
    let mut filter = AlertFilter::default();
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "active" => filter.active = bool_param(&v, &k)?,
            "silenced" => filter.silenced = bool_param(&v, &k)?,
            "inhibited" => filter.inhibited = bool_param(&v, &k)?,
            "unprocessed" => {
                bool_param(&v, &k)?;
            }
            "filter" => {
                let ms = notify::Matchers::parse(&v)
                    .map_err(|e| ApiError::bad_request("request.bad_filter", e.to_string()))?;
                filter.matchers.0.extend(ms.0);
            }
            "receiver" => {
                let re = regex::Regex::new(&format!("^(?:{v})$"))
                    .map_err(|e| ApiError::bad_request("request.bad_receiver", e.to_string()))?;
                filter.receiver = Some(re);
            }
            _ => {}
        }
    }
    Ok(filter)
}

/// `POST /api/v2/alerts`: 200 when every alert is valid; 400 with a plain-text reason when any
/// is not (the valid ones are still stored, as Alertmanager does).
pub async fn post_alerts(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return plain(e.status(), e.body_text()),
    };
    let posted: Vec<notify::PostableAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("invalid alerts: {e}")),
    };
    if posted.len() > MAX_ALERTS_PER_POST {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "too many alerts in one request: {} (at most {MAX_ALERTS_PER_POST})",
                posted.len()
            ),
        );
    }
    let config = state.config().alertmanager.clone();
    match state
        .notifier
        .post_alerts(
            state.store.as_ref(),
            config.as_deref(),
            posted,
            Timestamp::now(),
        )
        .await
    {
        Ok(errors) if errors.is_empty() => StatusCode::OK.into_response(),
        Ok(errors) => plain(StatusCode::BAD_REQUEST, errors.join("; ")),
        Err(e) => {
            let mut resp = plain(e.status, e.message.clone());
            if let Some(secs) = e.retry_after {
                if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            resp
        }
    }
}

/// `GET /api/v2/alerts`.
pub async fn get_alerts(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filter = alert_filter(&query)?;
    let config = state.config().alertmanager.clone();
    let alerts = state
        .notifier
        .alerts(
            state.store.as_ref(),
            config.as_deref(),
            &filter,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(alerts).into_response())
}

/// `GET /api/v2/alerts/groups`.
pub async fn get_alert_groups(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filter = alert_filter(&query)?;
    let config = state.config().alertmanager.clone();
    let groups = state
        .notifier
        .alert_groups(
            state.store.as_ref(),
            config.as_deref(),
            &filter,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(groups).into_response())
}

/// `GET /api/v2/silences[?filter=...]`.
pub async fn get_silences(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut wanted = notify::Matchers(Vec::new());
    for (k, v) in query_pairs(&query) {
        if k == "filter" {
            let ms = notify::Matchers::parse(&v)
                .map_err(|e| ApiError::bad_request("request.bad_filter", e.to_string()))?;
            wanted.0.extend(ms.0);
        }
    }
    let silences = state
        .notifier
        .silences(state.store.as_ref(), Timestamp::now())
        .await?;
    // As Alertmanager: a filter keeps silences having an equal matcher for each filter one.
    let silences: Vec<_> = silences
        .into_iter()
        .filter(|s| {
            wanted.0.iter().all(|w| {
                let w = w.to_api();
                s.matchers.contains(&w)
            })
        })
        .collect();
    Ok(Json(silences).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

/// `POST /api/v2/silences`: `{"silenceID": ...}`.
pub async fn post_silence(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    crate::ingest_api::require_json(&headers)?;
    let body = body?;
    let posted: notify::PostableSilence = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("request.bad_json", e.to_string()))?;
    let id = state
        .notifier
        .post_silence(
            state.store.as_ref(),
            state.persists_control(),
            posted,
            actor(&principal),
            Timestamp::now(),
        )
        .await?;
    Ok(Json(SilenceCreated { silence_id: id }).into_response())
}

/// `GET /api/v2/silence/{id}`.
pub async fn get_silence(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let silence = state
        .notifier
        .silence(state.store.as_ref(), &id, Timestamp::now())
        .await?;
    Ok(Json(silence).into_response())
}

/// `DELETE /api/v2/silence/{id}`: 200, also when it had already expired.
pub async fn delete_silence(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .notifier
        .expire_silence(
            state.store.as_ref(),
            state.persists_control(),
            &id,
            actor(&principal),
            Timestamp::now(),
        )
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/receivers`.
pub async fn get_receivers(State(state): State<Arc<AppState>>) -> Response {
    let names: Vec<serde_json::Value> = state
        .config()
        .alertmanager
        .as_ref()
        .map(|c| {
            c.receivers
                .iter()
                .map(|r| serde_json::json!({ "name": r.name }))
                .collect()
        })
        .unwrap_or_default();
    Json(names).into_response()
}

/// `GET /api/v2/status`: Alertmanager's shape; `versionInfo.version` is nines' semver.
pub async fn get_status(State(state): State<Arc<AppState>>) -> Response {
    let original = state
        .config()
        .alertmanager
        .as_ref()
        .map(|c| {
            format!(
                "# nines: {} receivers, {} inhibit rules, {} time intervals\n",
                c.receivers.len(),
                c.inhibit_rules.len(),
                c.time_intervals.len()
            )
        })
        .unwrap_or_default();
    Json(serde_json::json!({
        "cluster": { "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": { "original": original },
        "uptime": crate::format_time(state.started_at),
    }))
    .into_response()
}

#[derive(Deserialize, Default)]
struct AckIn {
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/alerts/{fingerprint}/ack`: the responder is the caller's token name.
pub async fn post_ack(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let ack: AckIn = if body.is_empty() {
        AckIn::default()
    } else {
        crate::ingest_api::require_json(&headers)?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("request.bad_json", e.to_string()))?
    };
    let record = state
        .notifier
        .ack(
            state.store.as_ref(),
            state.persists_control(),
            &fingerprint,
            actor(&principal),
            &ack.comment,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(serde_json::json!({
        "fingerprint": record.fingerprint,
        "by": record.by,
        "comment": record.comment,
        "at": crate::format_time(record.at),
    }))
    .into_response())
}

/// `GET /api/v1/notifications[?receiver&group_key&status&since&limit]`: what was sent, when,
/// to whom, and every attempt with its reason; newest first.
pub async fn get_notifications(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut filter = store::NotificationFilter::default();
    let mut limit = 100usize;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "receiver" => filter.receiver = Some(v),
            "group_key" => filter.group_key = Some(v),
            "status" => {
                filter.status = Some(v.parse().map_err(|_| {
                    ApiError::bad_request(
                        "request.bad_query",
                        format!("`status` must be pending, delivered or gave_up, not {v:?}"),
                    )
                })?)
            }
            "since" => {
                filter.created_from = Some(crate::parse_time(&v).ok_or_else(|| {
                    ApiError::bad_request(
                        "request.bad_query",
                        "`since` must be an RFC 3339 time or unix seconds",
                    )
                })?)
            }
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "request.bad_query",
                            "`limit` must be a number from 1 to 1000",
                        )
                    })?
            }
            _ => {}
        }
    }
    let list = state.store.notifications(&filter, limit).await?;
    let config = state.config().alertmanager.clone();
    let out: Vec<serde_json::Value> = list
        .iter()
        .map(|n| notification_json(n, config.as_deref()))
        .collect();
    Ok(Json(serde_json::json!({ "notifications": out })).into_response())
}

fn notification_json(
    n: &store::Notification,
    config: Option<&notify::AlertmanagerConfig>,
) -> serde_json::Value {
    let kind = config
        .and_then(|c| c.receiver(&n.record.receiver))
        .and_then(|r| {
            r.integrations()
                .get(n.record.integration as usize)
                .map(|i| i.kind())
        });
    // The webhook payload says which alerts and in what status; other bodies are shown as is.
    let payload: serde_json::Value =
        serde_json::from_str(&n.record.payload).unwrap_or(serde_json::Value::Null);
    let mut summary = BTreeMap::new();
    if let Some(status) = payload.get("status").and_then(|s| s.as_str()) {
        summary.insert("status", serde_json::json!(status));
    }
    if let Some(alerts) = payload.get("alerts").and_then(|a| a.as_array()) {
        let fps: Vec<&str> = alerts
            .iter()
            .filter_map(|a| a.get("fingerprint").and_then(|f| f.as_str()))
            .collect();
        summary.insert("alerts", serde_json::json!(fps));
    }
    serde_json::json!({
        "id": n.record.id,
        "receiver": n.record.receiver,
        "integration": n.record.integration,
        "kind": kind,
        "group_key": n.record.group_key,
        "created_at": crate::format_time(n.record.created_at),
        "status": n.status.as_str(),
        "next_attempt_at": (n.status == store::DeliveryStatus::Pending)
            .then(|| crate::format_time(n.record.next_attempt_at)),
        "attempts": n.attempts.iter().map(|a| serde_json::json!({
            "at": crate::format_time(a.at),
            "outcome": match &a.outcome {
                store::AttemptOutcome::Delivered => "delivered",
                store::AttemptOutcome::Failed { .. } => "failed",
                store::AttemptOutcome::GaveUp { .. } => "gave_up",
            },
            "reason": match &a.outcome {
                store::AttemptOutcome::Delivered => "",
                store::AttemptOutcome::Failed { reason, .. } | store::AttemptOutcome::GaveUp { reason } => reason.as_str(),
            },
        })).collect::<Vec<_>>(),
        "summary": summary,
    })
}
