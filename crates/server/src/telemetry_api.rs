//! Telemetry ingestion: Prometheus remote-write 1.0 (`POST /api/v1/write`) and OTLP/HTTP
//! (`POST /v1/metrics`, `POST /v1/traces`).
//!
//! Counter series (remote-write samples, OTLP monotonic sums and histogram counts) become
//! per-bucket increases with Prometheus semantics (first sample is the baseline, a decrease
//! is a reset, NaN and the stale marker are skipped) through one [`CounterTracker`] per stream
//! that lives as long as the process (config reloads keep it). Only series some SLI selects
//! are tracked.
//!
//! Exactly-once across restarts: the tracker's new last samples of the series a request
//! touched are committed in the same store transaction as the increments they produced, and
//! restored from the store before a stream's first request. When the commit fails, the
//! tracker's changes are undone (its journal), so the sender's retry of the same samples
//! counts again instead of being skipped as out of order. Requests of one stream are
//! classified and committed one at a time (they still share group commits with other
//! sources): the store then always holds the tracker state of the last committed increments.
//!
//! Increments are fractional (counters may be floats); they are rounded to the nearest
//! integer per (SLO, bucket) of one request when committed, and `good` is clamped to `total`.
//! An SLI over counters that grow by fractions per request therefore loses the fractions.
//!
//! Answers: remote-write 204, 400 with a stable code for what a retry cannot fix (bad snappy,
//! bad protobuf, bad labels), 413 over the size limit, 415 for another content type or
//! encoding, 503 with `Retry-After` only for temporary failures. OTLP 200 with an empty
//! `Export*ServiceResponse` in the request's encoding; errors carry a `google.rpc.Status`
//! whose message starts with the stable code. OTLP bodies may be gzip-compressed.

use crate::commit::CommitError;
use crate::loaded::SeriesTargets;
use crate::state::AppState;
use crate::ApiError;
use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ingest::counter::{CounterTracker, FirstSample, Journal, LastSample, SeriesKey, TrackerState};
use ingest::otlp::{self, Encoding};
use ingest::remote_write::{self, LabelPair, RemoteWriteError, WriteRequestRef};
use ingest::{RemoteWriteClassifier, SliIncrement};
use std::pin::Pin;
use std::sync::Arc;
use store::{CounterDelta, IngestBatch, TrackerSample};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The tracker stream (and `/metrics` source) of remote-write.
pub const REMOTE_WRITE: &str = "remote_write";
/// The tracker stream (and `/metrics` source) of OTLP metrics.
pub const OTLP_METRICS: &str = "otlp_metrics";
/// The `/metrics` source of OTLP traces.
pub const OTLP_TRACES: &str = "otlp_traces";

/// Series tracked per stream at most; samples of further new series are skipped.
const MAX_TRACKED_SERIES: usize = 1_000_000;

/// A series silent this long (in sample time, behind the newest sample of its stream) is
/// forgotten, in memory and in the store: label churn (pods, instances) would otherwise fill
/// the tracker. A forgotten series that comes back starts from a new baseline.
const FORGET_AFTER_MS: i64 = 24 * 3_600_000;

/// How far sample time advances between two such prunes.
const PRUNE_EVERY_MS: i64 = 10 * 60_000;

/// What 503 answers ask senders to wait, in seconds (disk full: longer).
const RETRY_AFTER_SECONDS: u32 = 5;

/// The process-lifetime state of the counter streams.
pub struct Telemetry {
    remote_write: Arc<Mutex<Stream>>,
    otlp_metrics: Arc<Mutex<Stream>>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            remote_write: Arc::new(Mutex::new(Stream::new(REMOTE_WRITE))),
            otlp_metrics: Arc::new(Mutex::new(Stream::new(OTLP_METRICS))),
        }
    }
}

/// One counter stream: its tracker (inside the classifier) and which config's SLIs it holds.
struct Stream {
    name: &'static str,
    /// Whether the persisted tracker samples were imported.
    restored: bool,
    /// The config generation whose SLIs the classifier holds.
    generation: Option<u64>,
    /// The newest sample timestamp at the last prune.
    pruned_at_ms: Option<i64>,
    classifier: RemoteWriteClassifier,
}

impl Stream {
    fn new(name: &'static str) -> Stream {
        Stream {
            name,
            restored: false,
            generation: None,
            pruned_at_ms: None,
            classifier: RemoteWriteClassifier::new(
                Vec::new(),
                CounterTracker::new(60, FirstSample::Baseline, MAX_TRACKED_SERIES),
            ),
        }
    }

    /// Imports the persisted tracker samples once.
    async fn restore(&mut self, store: &dyn store::Store) -> Result<(), ApiError> {
        if self.restored {
            return Ok(());
        }
        let samples = store
            .tracker_samples(self.name)
            .await
            .map_err(|e| unavailable("store.unavailable", e.to_string()))?;
        let state = TrackerState {
            series: samples
                .iter()
                .map(|s| LastSample {
                    key: SeriesKey(s.series_key),
                    timestamp_ms: s.timestamp_ms,
                    value: s.value,
                })
                .collect(),
        };
        self.classifier.tracker_mut().import(&state);
        self.restored = true;
        Ok(())
    }

    /// Forgets series silent for [`FORGET_AFTER_MS`], at most once per [`PRUNE_EVERY_MS`] of
    /// sample time: first in the store, then (if that worked) in memory. A failure is left
    /// for the next prune.
    async fn prune(&mut self, store: &dyn store::Store) {
        let Some(newest) = self.classifier.tracker().newest_timestamp() else {
            return;
        };
        if self
            .pruned_at_ms
            .is_some_and(|at| newest.saturating_sub(at) < PRUNE_EVERY_MS)
        {
            return;
        }
        self.pruned_at_ms = Some(newest);
        let cutoff = newest.saturating_sub(FORGET_AFTER_MS);
        if store
            .forget_tracker_samples(self.name, cutoff)
            .await
            .is_ok()
        {
            self.classifier.tracker_mut().forget_older_than(cutoff);
        }
    }

    /// Switches to the SLIs of `generation` (after a reload); the tracker is kept.
    fn configure(&mut self, generation: u64, targets: &SeriesTargets) {
        if self.generation != Some(generation) {
            self.classifier.set_slis(targets.slis.clone());
            self.classifier
                .tracker_mut()
                .set_bucket_seconds(targets.bucket_seconds);
            self.generation = Some(generation);
        }
    }
}

fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unavailable(code, message).with_retry_after(RETRY_AFTER_SECONDS)
}

fn too_large(code: &'static str, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code,
        format!("the body is larger than the limit of {limit} bytes"),
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a body of at most `limit` bytes (413 `code` beyond).
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    code: &'static str,
) -> Result<Vec<u8>, ApiError> {
    let declared = header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(code, limit));
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(limit));
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(e)) => {
                return Err(ApiError::bad_request(
                    "request.body_unreadable",
                    format!("reading the body: {e}"),
                ))
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(too_large(code, limit));
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(buf)
}

/// Runs CPU work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("internal.task", e.to_string()))
}

/// Rounds per-(SLI, bucket) increments to whole counts, `good` clamped to `total`.
fn round_deltas(
    increments: &[SliIncrement],
    keys: &[String],
    source: &str,
) -> Result<Vec<CounterDelta>, ApiError> {
    let mut out = Vec::with_capacity(increments.len());
    for inc in increments {
        let Some(key) = keys.get(inc.sli) else {
            continue;
        };
        let total = inc.total.round();
        let good = inc.good.round().min(total);
        if !(total >= 0.0 && good >= 0.0) {
            continue;
        }
        if total >= store::MAX_COUNT as f64 {
            return Err(ApiError::bad_request(
                if source == REMOTE_WRITE {
                    "remote_write.counter_overflow"
                } else {
                    "otlp.counter_overflow"
                },
                format!("the increase of {key} in one bucket is too large to count"),
            ));
        }
        let (good, total) = (good as u64, total as u64);
        if total == 0 {
            continue;
        }
        out.push(CounterDelta {
            series: key.clone(),
            bucket_start: inc.bucket,
            good,
            total,
        });
    }
    Ok(out)
}

/// Maps a failed commit: the sender's data → 400, anything else is temporary → 503.
fn commit_error(e: CommitError, source: &str) -> ApiError {
    match e {
        CommitError::Closed => unavailable("server.shutting_down", e.to_string()),
        CommitError::Store(err) => match err.as_ref() {
            store::StoreError::CounterOverflow { .. }
            | store::StoreError::InvalidDelta { .. }
            | store::StoreError::InvalidInput { .. } => ApiError::bad_request(
                if source == REMOTE_WRITE {
                    "remote_write.counter_overflow"
                } else {
                    "otlp.counter_overflow"
                },
                err.to_string(),
            ),
            store::StoreError::DiskFull { .. } => {
                ApiError::unavailable(err.code(), err.to_string())
                    .with_retry_after(crate::error::DISK_FULL_RETRY_SECONDS)
            }
            _ => unavailable(err.code(), err.to_string()),
        },
    }
}

/// Which stream and SLIs a series request goes to.
fn stream_of(state: &AppState, name: &str) -> Arc<Mutex<Stream>> {
    if name == REMOTE_WRITE {
        state.telemetry.remote_write.clone()
    } else {
        state.telemetry.otlp_metrics.clone()
    }
}

/// What a feed reports: how many records the request holds (for `/metrics`, counted as
/// accepted or rejected with the outcome) and its increments, or why it is refused.
type Fed = (u64, Result<Vec<SliIncrement>, ApiError>);

/// Feeds counter series to a stream's classifier and commits the increments together with
/// the tracker samples they advanced. On any failure the tracker is reverted. `feed` may
/// refuse the request (before touching the tracker); it also runs, on a classifier without
/// SLIs, when no SLI reads this source, so a request is checked either way. Returns the
/// record count from `feed` (`None` when it did not run) and the outcome.
async fn ingest_series<R: Send + 'static>(
    state: &Arc<AppState>,
    name: &'static str,
    request: R,
    feed: fn(&mut RemoteWriteClassifier, &R) -> Fed,
) -> (Option<u64>, Result<(), ApiError>) {
    let loaded = state.config();
    let targets = if name == REMOTE_WRITE {
        loaded.remote_write.clone()
    } else {
        loaded.otlp_metrics.clone()
    };
    let Some(targets) = targets else {
        // No SLI reads this source: checked, accepted, nothing to count.
        let fed = blocking(move || {
            let mut none = RemoteWriteClassifier::new(
                Vec::new(),
                CounterTracker::new(60, FirstSample::Baseline, 0),
            );
            feed(&mut none, &request)
        })
        .await;
        return match fed {
            Ok((items, result)) => (Some(items), result.map(|_| ())),
            Err(e) => (None, Err(e)),
        };
    };
    // Everything from taking the stream to committing (or reverting) runs in its own task: a
    // request abandoned by its client or the timeout never leaves the tracker advanced past
    // increments that were not committed.
    let state = state.clone();
    let task = tokio::spawn(async move {
        let mut guard: OwnedMutexGuard<Stream> = stream_of(&state, name).lock_owned().await;
        guard.restore(state.store.as_ref()).await?;
        guard.configure(loaded.generation, &targets);
        let (mut guard, (items, increments), journal) = blocking(move || {
            let mut guard = guard;
            guard.classifier.tracker_mut().start_journal();
            let fed = feed(&mut guard.classifier, &request);
            let journal = guard.classifier.tracker_mut().take_journal();
            (guard, fed, journal)
        })
        .await?;
        let prepared = increments.and_then(|increments| {
            let deltas = round_deltas(&increments, &targets.keys, name)?;
            Ok((deltas, tracker_samples(name, &journal)))
        });
        let (deltas, trackers) = match prepared {
            Ok(p) => p,
            Err(e) => {
                guard.classifier.tracker_mut().revert(&journal);
                return Ok((items, Err(e)));
            }
        };
        if deltas.is_empty() && trackers.is_empty() {
            return Ok((items, Ok(())));
        }
        let batch = IngestBatch {
            deltas,
            trackers,
            ..Default::default()
        };
        match state.committer.commit_batch(batch).await {
            Ok(()) => {
                guard.prune(state.store.as_ref()).await;
                Ok((items, Ok(())))
            }
            Err(e) => {
                guard.classifier.tracker_mut().revert(&journal);
                Ok((items, Err(commit_error(e, name))))
            }
        }
    });
    match task.await {
        Ok(Ok((items, result))) => (Some(items), result),
        Ok(Err(e)) => (None, Err(e)),
        Err(e) => (
            None,
            Err(ApiError::internal("internal.task", e.to_string())),
        ),
    }
}

fn tracker_samples(stream: &str, journal: &Journal) -> Vec<TrackerSample> {
    journal
        .touched()
        .into_iter()
        .map(|s| TrackerSample {
            stream: stream.to_string(),
            series_key: s.key.0,
            timestamp_ms: s.timestamp_ms,
            value: s.value,
        })
        .collect()
}

/// Most labels a series may have (Mimir's default is 30; Prometheus has no default limit).
pub const MAX_LABELS_PER_SERIES: usize = 128;
/// Longest label name and value, in bytes.
pub const MAX_LABEL_NAME_BYTES: usize = 1024;
pub const MAX_LABEL_VALUE_BYTES: usize = 4096;

/// Checks the labels of every series: at most [`MAX_LABELS_PER_SERIES`] of bounded length,
/// non-empty names, no name twice, a metric name. A huge label set is refused whole, before
/// any of it is matched or tracked. Takes owned or borrowed labels; allocates nothing.
fn check_labels<'s, L: LabelPair + 's>(
    series: impl Iterator<Item = &'s [L]>,
) -> Result<(), String> {
    for (i, labels) in series.enumerate() {
        if labels.len() > MAX_LABELS_PER_SERIES {
            return Err(format!(
                "series {i} has {} labels; at most {MAX_LABELS_PER_SERIES} are accepted",
                labels.len()
            ));
        }
        if let Some(l) = labels.iter().find(|l| {
            l.name().len() > MAX_LABEL_NAME_BYTES || l.value().len() > MAX_LABEL_VALUE_BYTES
        }) {
            return Err(format!(
                "series {i} has a label over the size limit (name {} bytes, value {} bytes; at most {MAX_LABEL_NAME_BYTES} and {MAX_LABEL_VALUE_BYTES})",
                l.name().len(),
                l.value().len()
            ));
        }
        // Senders sort labels by name: then a repeated name is next to its first occurrence.
        let sorted = labels.windows(2).all(|w| match w {
            [a, b] => a.name() <= b.name(),
            _ => true,
        });
        for (j, l) in labels.iter().enumerate() {
            let name = l.name();
            if name.is_empty() {
                return Err(format!("series {i} has a label with an empty name"));
            }
            let before = labels.get(..j).unwrap_or_default();
            let seen = if sorted {
                before.last().is_some_and(|p| p.name() == name)
            } else {
                before.iter().any(|p| p.name() == name)
            };
            if seen {
                return Err(format!("series {i} has the label {name:?} twice"));
            }
        }
        let named = labels
            .iter()
            .any(|l| l.name() == ingest::series::METRIC_NAME && !l.value().is_empty());
        if !named {
            return Err(format!("series {i} has no metric name (__name__)"));
        }
    }
    Ok(())
}

fn remote_write_error(e: RemoteWriteError) -> ApiError {
    let status = match e {
        RemoteWriteError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Decompresses a body (at most `limit` bytes once decompressed), decodes the request without
/// copying its labels, checks the labels of every series (the request is refused whole
/// before anything is tracked) and classifies it: one pass, on one blocking thread, per
/// request. Counts the samples, or 1 for a body that is not a request.
fn classify_body(classifier: &mut RemoteWriteClassifier, (body, limit): &(Vec<u8>, usize)) -> Fed {
    let raw = match remote_write::decompress(body, *limit) {
        Ok(raw) => raw,
        Err(e) => return (1, Err(remote_write_error(e))),
    };
    let req = match WriteRequestRef::decode(&raw) {
        Ok(req) => req,
        Err(e) => return (1, Err(remote_write_error(e))),
    };
    let samples = req.sample_count() as u64;
    if let Err(message) = check_labels(req.series().map(|s| s.labels)) {
        let e = ApiError::bad_request("remote_write.bad_labels", message);
        return (samples, Err(e));
    }
    (samples, Ok(classifier.classify_ref(&req)))
}

/// `POST /api/v1/write`: Prometheus remote-write 1.0.
pub async fn post_write(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match write(&state, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn write(state: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Result<(), ApiError> {
    // Remote-write 1.0 is `application/x-protobuf` (a `proto=` parameter names 2.0's
    // message, which is refused), snappy block encoding.
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    let proto = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    if !mime.eq_ignore_ascii_case("application/x-protobuf")
        || proto.is_some_and(|p| p != "prometheus.WriteRequest")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "remote_write.unsupported_media_type",
            format!(
                "remote-write 1.0 needs Content-Type: application/x-protobuf, got {content_type:?}"
            ),
        ));
    }
    let encoding = header_str(headers, header::CONTENT_ENCODING).unwrap_or("snappy");
    if !encoding.trim().eq_ignore_ascii_case("snappy") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "remote_write.unsupported_encoding",
            format!("remote-write needs Content-Encoding: snappy, got {encoding:?}"),
        ));
    }
    let limit = state.settings.max_remote_write_body;
    // Snappy's worst case grows the data by a sixth plus a header.
    let compressed_limit = limit.saturating_add(limit / 6).saturating_add(64);
    let body = read_body(headers, body, compressed_limit, "remote_write.too_large").await?;
    // Decompressed, decoded (borrowing the labels), checked and classified in one pass.
    let (samples, result) = ingest_series(state, REMOTE_WRITE, (body, limit), |c, r| {
        classify_body(c, r)
    })
    .await;
    match result {
        Ok(()) => {
            state
                .metrics
                .count_ingest(REMOTE_WRITE, samples.unwrap_or(0), 0);
            Ok(())
        }
        Err(e) => {
            state
                .metrics
                .count_ingest(REMOTE_WRITE, 0, samples.unwrap_or(1));
            Err(e)
        }
    }
}

/// An OTLP error answer: a `google.rpc.Status` in the request's encoding, its message
/// prefixed with the stable code.
fn otlp_error(encoding: Encoding, e: ApiError) -> Response {
    let rpc = if e.status == StatusCode::SERVICE_UNAVAILABLE {
        otlp::RPC_UNAVAILABLE
    } else {
        otlp::RPC_INVALID_ARGUMENT
    };
    let body = otlp::encode_status(encoding, rpc, &format!("{}: {}", e.code, e.message));
    let mut response = (e.status, otlp_content_type(encoding), body).into_response();
    if let Some(seconds) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn otlp_content_type(encoding: Encoding) -> [(header::HeaderName, &'static str); 1] {
    [(
        header::CONTENT_TYPE,
        match encoding {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        },
    )]
}

/// The encoding of an OTLP request, or the 415 error.
fn otlp_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    Encoding::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "otlp.unsupported_media_type",
            format!(
                "OTLP/HTTP takes application/x-protobuf or application/json, got {content_type:?}"
            ),
        )
    })
}

/// Reads an OTLP body, gunzipping it when `Content-Encoding: gzip`; at most
/// `max_remote_write_body` bytes either way.
async fn otlp_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = state.settings.max_remote_write_body;
    let raw = read_body(headers, body, limit, "otlp.too_large").await?;
    match header_str(headers, header::CONTENT_ENCODING).map(str::trim) {
        None | Some("") | Some("identity") => Ok(raw),
        Some(e) if e.eq_ignore_ascii_case("gzip") => blocking(move || otlp::gunzip(&raw, limit))
            .await?
            .map_err(|e| match e {
                otlp::OtlpError::TooLarge { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string())
                }
                _ => ApiError::bad_request(e.code(), e.to_string()),
            }),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "otlp.unsupported_encoding",
            format!("Content-Encoding {other:?}: only gzip is supported"),
        )),
    }
}

fn export_ok(encoding: Encoding, rejected_name: &str) -> Response {
    let body = otlp::encode_export_response(encoding, rejected_name, 0, "");
    (StatusCode::OK, otlp_content_type(encoding), body).into_response()
}

/// `POST /v1/metrics`: OTLP metrics; monotonic sums and histogram counts feed the `source:
/// otlp` SLIs written as metric selectors.
pub async fn post_metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let encoding = match otlp_encoding(&headers) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    match metrics(&state, &headers, body, encoding).await {
        Ok(()) => export_ok(encoding, "rejectedDataPoints"),
        Err(e) => otlp_error(encoding, e),
    }
}

async fn metrics(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<(), ApiError> {
    let raw = otlp_body(state, headers, body).await?;
    let req = blocking(move || otlp::decode_metrics(&raw, encoding))
        .await?
        .map_err(|e| {
            state.metrics.count_ingest(OTLP_METRICS, 0, 1);
            ApiError::bad_request(e.code(), e.to_string())
        })?;
    let points = otlp::counter_series(&req).len() as u64;
    let (_, result) =
        ingest_series(state, OTLP_METRICS, req, |c, r| (0, Ok(c.classify_otlp(r)))).await;
    match result {
        Ok(()) => {
            state.metrics.count_ingest(OTLP_METRICS, points, 0);
            Ok(())
        }
        Err(e) => {
            state.metrics.count_ingest(OTLP_METRICS, 0, points);
            Err(e)
        }
    }
}

/// `POST /v1/traces`: OTLP traces; server spans feed the `source: otlp` span SLIs.
pub async fn post_traces(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let encoding = match otlp_encoding(&headers) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    match traces(&state, &headers, body, encoding).await {
        Ok(()) => export_ok(encoding, "rejectedSpans"),
        Err(e) => otlp_error(encoding, e),
    }
}

async fn traces(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<(), ApiError> {
    let raw = otlp_body(state, headers, body).await?;
    let loaded = state.config();
    let targets = loaded.otlp_traces.clone();
    let (spans, increments) = blocking(move || {
        let req = otlp::decode_traces(&raw, encoding)?;
        let Some(targets) = targets else {
            return Ok((count_spans(&req), Vec::new()));
        };
        let mut classifier = otlp::SpanClassifier::new(targets.slis, targets.bucket_seconds);
        let increments = classifier.classify(&req);
        Ok::<_, otlp::OtlpError>((classifier.stats().spans, increments))
    })
    .await?
    .map_err(|e| {
        state.metrics.count_ingest(OTLP_TRACES, 0, 1);
        ApiError::bad_request(e.code(), e.to_string())
    })?;
    let keys = loaded
        .otlp_traces
        .as_ref()
        .map_or(&[][..], |t| t.keys.as_slice());
    let result = match round_deltas(&increments, keys, OTLP_TRACES) {
        Ok(deltas) => state
            .committer
            .commit(deltas)
            .await
            .map_err(|e| commit_error(e, OTLP_TRACES)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            state.metrics.count_ingest(OTLP_TRACES, spans, 0);
            Ok(())
        }
        Err(e) => {
            state.metrics.count_ingest(OTLP_TRACES, 0, spans);
            Err(e)
        }
    }
}

fn count_spans(req: &otlp::ExportTraceServiceRequest) -> u64 {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::remote_write::{Label, TimeSeries, WriteRequest};

    fn inc(sli: usize, bucket: i64, good: f64, total: f64) -> SliIncrement {
        SliIncrement {
            sli,
            bucket,
            good,
            total,
        }
    }

    #[test]
    fn increments_round_per_slo_and_bucket_with_good_within_total() {
        let keys = vec!["a/x".to_string(), "a/y".to_string()];
        let got = round_deltas(
            &[
                inc(0, 60, 0.8, 0.8),   // rounds up
                inc(0, 120, 0.4, 0.4),  // rounds to nothing: dropped
                inc(1, 60, 2.5, 2.49),  // good rounds above total: clamped
                inc(7, 60, 1.0, 1.0),   // unknown SLI index: ignored
                inc(1, 180, 0.0, 10.0), // all bad
            ],
            &keys,
            REMOTE_WRITE,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, i64, u64, u64)> = got
            .iter()
            .map(|d| (d.series.as_str(), d.bucket_start, d.good, d.total))
            .collect();
        assert_eq!(
            got,
            vec![("a/x", 60, 1, 1), ("a/y", 60, 2, 2), ("a/y", 180, 0, 10)]
        );
        let e = round_deltas(&[inc(0, 0, 0.0, 1e19)], &keys, REMOTE_WRITE).expect_err("too large");
        assert_eq!(e.code, "remote_write.counter_overflow");
    }

    /// The checks on owned labels and on the same labels borrowed from encoded bytes.
    fn check_both(pairs: &[(&str, &str)]) -> Result<(), String> {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
                samples: Vec::new(),
            }],
        };
        let owned = check_labels(req.timeseries.iter().map(|t| t.labels.as_slice()));
        let raw = remote_write::decompress(&remote_write::encode_write_request(&req), 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        let borrowed = WriteRequestRef::decode(&raw)
            .map_err(|e| e.to_string())
            .and_then(|r| check_labels(r.series().map(|s| s.labels)));
        assert_eq!(owned, borrowed, "{pairs:?}");
        owned
    }

    #[test]
    fn labels_need_names_once_and_a_metric_name() {
        assert_eq!(check_both(&[("__name__", "up"), ("job", "")]), Ok(()));
        for (labels, want) in [
            (
                &[("__name__", "up"), ("", "x")][..],
                "series 0 has a label with an empty name",
            ),
            (
                &[("__name__", "up"), ("a", "1"), ("a", "2")][..],
                "series 0 has the label \"a\" twice",
            ),
            (
                &[("job", "x")][..],
                "series 0 has no metric name (__name__)",
            ),
            (
                &[("__name__", "")][..],
                "series 0 has no metric name (__name__)",
            ),
        ] {
            assert_eq!(check_both(labels), Err(want.to_string()));
        }
        // Sorted or not, the first offending label is the one reported.
        for (labels, want) in [
            (
                &[
                    ("__name__", "up"),
                    ("b", "1"),
                    ("a", "2"),
                    ("b", "3"),
                    ("a", "4"),
                ][..],
                "series 0 has the label \"b\" twice",
            ),
            (
                &[
                    ("__name__", "up"),
                    ("a", "1"),
                    ("a", "2"),
                    ("b", "1"),
                    ("b", "2"),
                ][..],
                "series 0 has the label \"a\" twice",
            ),
            (
                &[("__name__", "up"), ("a", "1"), ("", "x"), ("a", "2")][..],
                "series 0 has a label with an empty name",
            ),
            (
                &[("__name__", "up"), ("a", "1"), ("a", "2"), ("", "x")][..],
                "series 0 has the label \"a\" twice",
            ),
            (
                &[("", "x"), ("", "y"), ("__name__", "up")][..],
                "series 0 has a label with an empty name",
            ),
        ] {
            assert_eq!(check_both(labels), Err(want.to_string()));
        }
    }
}
