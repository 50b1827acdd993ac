//! `POST /api/v1/events` and `POST /api/v1/logs`: bodies become per-bucket increments,
//! committed (group commit) before the answer. A request is all or nothing: any invalid event
//! rejects the whole body and nothing of it is counted.

use crate::commit::CommitError;
use crate::loaded::Loaded;
use crate::state::AppState;
use crate::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use ingest::events::Event;
use ingest::{AccessRecord, LogFormat};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::{CounterDelta, IngestBatch, RequestId};

pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json")
                || (m.len() > 5 && m.to_ascii_lowercase().ends_with("+json"))
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "send the body as Content-Type: application/json",
        ))
    }
}

/// Counts per (series, bucket start).
type Increments = BTreeMap<(String, i64), (u64, u64)>;

fn bucket_of(t: i64, bucket_seconds: i64) -> i64 {
    let b = bucket_seconds.max(1);
    t.div_euclid(b) * b
}

fn add(
    increments: &mut Increments,
    key: &str,
    bucket: i64,
    good: u64,
    total: u64,
) -> Result<(), String> {
    let slot = increments
        .entry((key.to_string(), bucket))
        .or_insert((0, 0));
    let t = slot
        .1
        .checked_add(total)
        .filter(|t| *t <= store::MAX_COUNT)
        .ok_or_else(|| format!("the counts of {key} overflow"))?;
    slot.0 += good;
    slot.1 = t;
    Ok(())
}

/// Adds one decoded event's increments. Returns whether any SLI counted it; an unknown SLO
/// or an overflowing count is an error (the whole body is refused).
fn event_increments(
    loaded: &Loaded,
    event: &Event,
    increments: &mut Increments,
) -> Result<bool, ApiError> {
    match event {
        Event::Increment {
            time,
            slo,
            good,
            total,
        } => {
            let Some(entry) = loaded.slo(slo) else {
                return Err(ApiError::unprocessable(
                    "events.unknown_slo",
                    format!("no SLO {slo:?} in the configuration"),
                ));
            };
            add(
                increments,
                &entry.key,
                bucket_of(*time, entry.config.spec.bucket_seconds),
                *good,
                *total,
            )
            .map_err(|m| ApiError::unprocessable("events.invalid_counts", m))?;
            Ok(*total > 0)
        }
        Event::Request {
            time,
            source,
            attributes: a,
        } => {
            let record = AccessRecord {
                time: *time,
                method: &a.method,
                path: &a.path,
                host: a.host.as_deref(),
                status: a.status.unwrap_or(0),
                request_time: a.latency,
                bytes: None,
            };
            let mut matched = false;
            for target in loaded.events.get(source).map_or(&[][..], Vec::as_slice) {
                // Without a status, an SLI that selects or judges by status cannot tell: skip
                // it rather than guess (a missing status is not a success).
                let needs_status =
                    target.matcher.total.status.is_some() || target.matcher.good.status.is_some();
                if (needs_status && a.status.is_none()) || !target.matcher.total.matches(&record) {
                    continue;
                }
                if let Some(good) = target.matcher.good.classify(&record) {
                    add(
                        increments,
                        &target.key,
                        bucket_of(*time, target.bucket_seconds),
                        u64::from(good),
                        1,
                    )
                    .map_err(|m| ApiError::unprocessable("events.invalid_counts", m))?;
                    matched = true;
                }
            }
            Ok(matched)
        }
    }
}

fn deltas(increments: Increments) -> Vec<CounterDelta> {
    increments
        .into_iter()
        .map(|((series, bucket_start), (good, total))| CounterDelta {
            series,
            bucket_start,
            good,
            total,
        })
        .collect()
}

/// Commits a request's increments. `Ok(true)` when they were committed now, `Ok(false)` when
/// the request's idempotency key was committed before (a retry: nothing is counted again).
pub async fn commit(
    state: &AppState,
    deltas: Vec<CounterDelta>,
    request_id: Option<&str>,
) -> Result<bool, ApiError> {
    let batch = IngestBatch {
        deltas,
        request_ids: request_id
            .map(|id| RequestId {
                id: id.to_string(),
                at: crate::now(),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    };
    match state.committer.commit_batch(batch).await {
        Ok(()) => Ok(true),
        Err(CommitError::Closed) => Err(ApiError::unavailable(
            "server.shutting_down",
            CommitError::Closed.to_string(),
        )
        .with_retry_after(1)),
        Err(CommitError::Store(err)) => match err.as_ref() {
            store::StoreError::DuplicateRequest { .. } => Ok(false),
            store::StoreError::CounterOverflow { .. } | store::StoreError::InvalidDelta { .. } => {
                Err(ApiError::unprocessable(
                    "events.invalid_counts",
                    err.to_string(),
                ))
            }
            store::StoreError::DiskFull { .. } => Err(ApiError::unavailable(
                "store.disk_full",
                format!("{err}; nothing of this request was stored, retry later"),
            )
            .with_retry_after(crate::error::DISK_FULL_RETRY_SECONDS)),
            _ => {
                Err(ApiError::unavailable("store.unavailable", err.to_string()).with_retry_after(1))
            }
        },
    }
}

/// The `Idempotency-Key` header: a client-chosen id (1 to 200 visible ASCII characters) that
/// makes a retried request count once.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_matches('"'))
        .filter(|v| {
            !v.is_empty()
                && v.len() <= store::MAX_REQUEST_ID_LEN
                && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(|v| Some(v.to_string()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "request.bad_idempotency_key",
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
            )
        })
}

pub async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let request_id = idempotency_key(&headers)?;
    let body = body?;
    let loaded = state.config();
    let now = crate::now();
    // Decoding and classifying up to a megabyte of JSON is CPU work: off the async threads.
    let work = move || -> Result<(Increments, u64, u64), ApiError> {
        let events = ingest::events::parse_events(&body, now).map_err(|e| {
            let api = if e.is_malformed_body() {
                ApiError::bad_request(e.code, e.to_string())
            } else {
                ApiError::unprocessable(e.code, e.to_string())
            };
            match e.index {
                Some(i) => api.with_details(json!({ "index": i })),
                None => api,
            }
        })?;
        let mut increments = Increments::new();
        let mut matched = 0u64;
        for (i, event) in events.iter().enumerate() {
            if event_increments(&loaded, event, &mut increments).map_err(|mut e| {
                e.message = format!("event {i}: {}", e.message);
                e.with_details(json!({ "index": i }))
            })? {
                matched += 1;
            }
        }
        Ok((increments, events.len() as u64, matched))
    };
    let (increments, accepted, matched) = match tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("internal.task", e.to_string()))?
    {
        Ok(done) => done,
        Err(e) => {
            state.metrics.count_ingest("events", 0, 1);
            return Err(e);
        }
    };
    let increments_n = increments.len();
    let fresh = commit(&state, deltas(increments), request_id.as_deref()).await?;
    if fresh {
        state.metrics.count_ingest("events", accepted, 0);
    }
    Ok(Json(json!({
        "accepted": accepted,
        "matched": matched,
        "unmatched": accepted - matched,
        "increments": increments_n,
        "duplicate": !fresh,
    })))
}

#[derive(Deserialize)]
pub struct LogsQuery {
    format: Option<String>,
    service: Option<String>,
}

pub async fn post_logs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<LogsQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request_id = idempotency_key(&headers)?;
    let Query(query) = query?;
    let body = body?;
    let format = match query.format.as_deref() {
        None | Some("") => LogFormat::detect(&body[..body.len().min(4096)]),
        Some("combined") => LogFormat::Combined,
        Some("json") => LogFormat::Json(ingest::JsonFields::default()),
        Some(other) => {
            return Err(ApiError::bad_request(
                "logs.unknown_format",
                format!("format={other:?}: expected combined or json"),
            ))
        }
    };
    let loaded = state.config();
    let service = query.service.filter(|s| !s.is_empty());
    if loaded.log_targets(service.as_deref()).is_none() {
        return Err(ApiError::unprocessable(
            "logs.no_access_log_slo",
            match &service {
                Some(s) => format!("service {s:?} has no SLO with `source: access_log`"),
                None => "no SLO has `source: access_log`".to_string(),
            },
        ));
    }
    let work_loaded = loaded.clone();
    let work_service = service.clone();
    let result = tokio::task::spawn_blocking(move || {
        let targets = work_loaded.log_targets(work_service.as_deref())?;
        let result =
            ingest::process_chunk(&body, &format, &targets.classifier, targets.bucket_seconds);
        Some(result)
    })
    .await
    .map_err(|e| ApiError::internal("internal.task", e.to_string()))?
    .ok_or_else(|| ApiError::internal("internal.task", "the log targets vanished"))?;
    let rejections: Vec<Value> = result
        .rejections
        .iter()
        .take(10)
        .map(|r| json!({ "line": r.line + 1, "reason": r.reason.to_string() }))
        .collect();
    if result.accepted == 0 && result.lines > 0 && result.rejected > 0 {
        state.metrics.count_ingest("logs", 0, result.rejected);
        return Err(ApiError::unprocessable(
            "logs.no_valid_lines",
            format!("none of the {} lines could be parsed", result.lines),
        )
        .with_details(json!({ "rejections": rejections })));
    }
    let targets = loaded
        .log_targets(service.as_deref())
        .ok_or_else(|| ApiError::internal("internal.task", "the log targets vanished"))?;
    let mut out = Vec::with_capacity(result.counts.len());
    for (&(sli, bucket_start), c) in &result.counts {
        if let Some(key) = targets.keys.get(sli) {
            out.push(CounterDelta {
                series: key.clone(),
                bucket_start,
                good: c.good,
                total: c.total,
            });
        }
    }
    let fresh = commit(&state, out, request_id.as_deref()).await?;
    if fresh {
        state
            .metrics
            .count_ingest("logs", result.accepted, result.rejected);
    }
    Ok(Json(json!({
        "lines": result.lines,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "rejections": rejections,
        "duplicate": !fresh,
    })))
}
