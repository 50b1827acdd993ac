//! OTLP/HTTP: `ExportTraceServiceRequest` and `ExportMetricsServiceRequest` from protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`: lowerCamelCase keys, hex
//! trace and span ids, 64-bit integers as decimal strings, enums as integers), using the
//! `opentelemetry-proto` types.
//!
//! Traces: server spans become [`SpanRecord`]s, classified per SLI by a [`SpanSelector`] and
//! a [`GoodCondition`]. Metrics: monotonic sums (and histogram `_count` / `_bucket`
//! counters) become label sets fed to the [`RemoteWriteClassifier`].

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message;

pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::counter::bucket_of;
use crate::error::Error;
use crate::matcher::GoodCondition;
use crate::remote_write::{Label, Sample};
use crate::series::METRIC_NAME;
use crate::series_classify::{RemoteWriteClassifier, SliIncrement, Temporality};

/// The body's encoding, from the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// `application/x-protobuf` or `application/json` (parameters ignored); `None` otherwise.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

/// Why an OTLP body was rejected (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    #[error("bad otlp protobuf: {0}")]
    BadProtobuf(String),
    #[error("bad otlp json: {0}")]
    BadJson(String),
    #[error("bad gzip body: {0}")]
    BadGzip(String),
    #[error("the decompressed body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

impl OtlpError {
    /// A stable code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            OtlpError::BadProtobuf(_) => "otlp.bad_protobuf",
            OtlpError::BadJson(_) => "otlp.bad_json",
            OtlpError::BadGzip(_) => "otlp.bad_gzip",
            OtlpError::TooLarge { .. } => "otlp.too_large",
        }
    }
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<T, OtlpError> {
    match encoding {
        Encoding::Protobuf => {
            T::decode(body).map_err(|e| OtlpError::BadProtobuf(e.to_string().to_lowercase()))
        }
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| OtlpError::BadJson(e.to_string().to_lowercase())),
    }
}

/// Encodes a traces request as protobuf: the inverse of [`decode_traces`], for tests and
/// forwarding.
pub fn encode_traces(req: &ExportTraceServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Encodes a metrics request as protobuf: the inverse of [`decode_metrics`].
pub fn encode_metrics(req: &ExportMetricsServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Gzip-compresses a body: the inverse of [`gunzip`], for tests and forwarding.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// Decompresses a gzip body (`Content-Encoding: gzip`; several members are read one after
/// the other) of at most `limit` decompressed bytes: a small body that inflates beyond the
/// limit is refused without inflating the rest.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, OtlpError> {
    use std::io::Read;
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| OtlpError::BadGzip(e.to_string().to_lowercase()))?;
    if out.len() > limit {
        return Err(OtlpError::TooLarge { limit });
    }
    Ok(out)
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's `INVALID_ARGUMENT`, for OTLP answers to bad input.
pub const RPC_INVALID_ARGUMENT: i32 = 3;
/// gRPC's `UNAVAILABLE`, for OTLP answers to temporary failures.
pub const RPC_UNAVAILABLE: i32 = 14;

/// The body of an OTLP/HTTP error answer: a `google.rpc.Status` in the request's encoding.
pub fn encode_status(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    }
}

/// The body of a successful export answer (`Export{Trace,Metrics}ServiceResponse`) in the
/// request's encoding. With `rejected > 0` it carries `partial_success` (field 1:
/// `rejected_spans` / `rejected_data_points` = 1, `error_message` = 2; the JSON names
/// differ per signal, hence `rejected_name`); otherwise it is the empty message.
pub fn encode_export_response(
    encoding: Encoding,
    rejected_name: &str,
    rejected: i64,
    error_message: &str,
) -> Vec<u8> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct PartialSuccess {
        #[prost(int64, tag = "1")]
        rejected: i64,
        #[prost(string, tag = "2")]
        error_message: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Response {
        #[prost(message, optional, tag = "1")]
        partial_success: Option<PartialSuccess>,
    }
    let partial = (rejected > 0).then(|| PartialSuccess {
        rejected,
        error_message: error_message.to_string(),
    });
    match encoding {
        Encoding::Protobuf => Response {
            partial_success: partial,
        }
        .encode_to_vec(),
        Encoding::Json => match partial {
            None => b"{}".to_vec(),
            Some(p) => serde_json::json!({
                "partialSuccess": { rejected_name: p.rejected, "errorMessage": p.error_message }
            })
            .to_string()
            .into_bytes(),
        },
    }
}

/// Decodes a `/v1/traces` body.
pub fn decode_traces(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, OtlpError> {
    decode(body, encoding)
}

/// Decodes a `/v1/metrics` body.
pub fn decode_metrics(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceRequest, OtlpError> {
    decode(body, encoding)
}

/// A server span, as far as SLIs care. Borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanRecord<'a> {
    /// The resource's `service.name`.
    pub service: Option<&'a str>,
    pub name: &'a str,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    /// `http.response.status_code` (or the older `http.status_code`), when a valid status.
    pub http_status: Option<u16>,
    /// `http.route`, else `url.path`, else the older `http.target`.
    pub http_route: Option<&'a str>,
}

impl SpanRecord<'_> {
    /// `end − start` in nanoseconds (0 when end precedes start).
    pub fn duration_ns(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    pub fn is_error(&self) -> bool {
        self.status_code == status::StatusCode::Error as i32
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn attr_status(attrs: &[KeyValue], key: &str) -> Option<u16> {
    let n = match attr(attrs, key)? {
        any_value::Value::IntValue(i) => *i,
        any_value::Value::StringValue(s) => s.trim().parse().ok()?,
        any_value::Value::DoubleValue(d) if d.fract() == 0.0 && d.abs() < 1e4 => *d as i64,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|&c| c <= 999)
}

/// The server spans (kind SERVER) of a request, in order.
pub fn server_spans(req: &ExportTraceServiceRequest) -> impl Iterator<Item = SpanRecord<'_>> {
    req.resource_spans.iter().flat_map(|rs| {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| attr_str(&r.attributes, "service.name"));
        rs.scope_spans
            .iter()
            .flat_map(|ss| ss.spans.iter())
            .filter(|s| s.kind == span::SpanKind::Server as i32)
            .map(move |s| SpanRecord {
                service,
                name: &s.name,
                status_code: s.status.as_ref().map_or(0, |st| st.code),
                start_time_unix_nano: s.start_time_unix_nano,
                end_time_unix_nano: s.end_time_unix_nano,
                http_status: attr_status(&s.attributes, "http.response.status_code")
                    .or_else(|| attr_status(&s.attributes, "http.status_code")),
                http_route: attr_str(&s.attributes, "http.route")
                    .or_else(|| attr_str(&s.attributes, "url.path"))
                    .or_else(|| attr_str(&s.attributes, "http.target")),
            })
    })
}

/// Which server spans an SLI counts. Absent fields match all.
#[derive(Debug, Clone, Default)]
pub struct SpanSelector {
    /// Exact `service.name`.
    pub service: Option<String>,
    /// Regex over the span name, fully anchored by [`SpanSelector::new`].
    pub span_name: Option<regex::Regex>,
    /// Regex over the route (`http.route` / `url.path`), fully anchored by `new`.
    pub route: Option<regex::Regex>,
}

fn anchored(input: &str) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(&format!("^(?:{input})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::SpanSelector {
            input: input.to_string(),
            reason: e.to_string().to_lowercase(),
        })
}

impl SpanSelector {
    /// A selector with fully anchored regexes, as in PromQL.
    pub fn new(
        service: Option<&str>,
        span_name: Option<&str>,
        route: Option<&str>,
    ) -> Result<SpanSelector, Error> {
        Ok(SpanSelector {
            service: service.map(str::to_string),
            span_name: span_name.map(anchored).transpose()?,
            route: route.map(anchored).transpose()?,
        })
    }

    pub fn matches(&self, s: &SpanRecord<'_>) -> bool {
        self.service
            .as_deref()
            .is_none_or(|want| s.service == Some(want))
            && self.span_name.as_ref().is_none_or(|re| re.is_match(s.name))
            && self
                .route
                .as_ref()
                .is_none_or(|re| s.http_route.is_some_and(|r| re.is_match(r)))
    }
}

/// `Some(good)`, or `None` when the span cannot be judged (the condition needs an HTTP
/// status the span lacks). A span with status ERROR is always bad.
pub fn classify_span(good: &GoodCondition, s: &SpanRecord<'_>) -> Option<bool> {
    if s.is_error() {
        return Some(false);
    }
    let latency_ok = good
        .latency
        .is_none_or(|b| b.holds(s.duration_ns() as f64 / 1e9));
    let status_ok = match (&good.status, s.http_status) {
        (None, _) => true,
        (Some(set), Some(code)) => set.contains(code),
        (Some(_), None) => return None,
    };
    Some(latency_ok && status_ok)
}

/// One SLI implemented by server spans.
#[derive(Debug, Clone)]
pub struct SpanSli {
    pub sli: usize,
    pub total: SpanSelector,
    pub good: GoodCondition,
}

/// What happened to the spans classified so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanStats {
    pub spans: u64,
    pub server_spans: u64,
    /// (span, SLI) pairs skipped because the span could not be judged.
    pub unjudged: u64,
}

/// Turns server spans into per-(SLI, bucket) increments, bucketed by span end time.
#[derive(Debug, Clone)]
pub struct SpanClassifier {
    slis: Vec<SpanSli>,
    bucket_seconds: u32,
    stats: SpanStats,
}

impl SpanClassifier {
    pub fn new(slis: Vec<SpanSli>, bucket_seconds: u32) -> SpanClassifier {
        SpanClassifier {
            slis,
            bucket_seconds: bucket_seconds.max(1),
            stats: SpanStats::default(),
        }
    }

    pub fn stats(&self) -> SpanStats {
        self.stats
    }

    /// Increments for one request, sorted by (sli, bucket).
    pub fn classify(&mut self, req: &ExportTraceServiceRequest) -> Vec<SliIncrement> {
        let mut acc: BTreeMap<(usize, i64), (u64, u64)> = BTreeMap::new();
        self.stats.spans += req
            .resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len() as u64)
            .sum::<u64>();
        for s in server_spans(req) {
            self.stats.server_spans += 1;
            let ms = i64::try_from(s.end_time_unix_nano / 1_000_000).unwrap_or(i64::MAX);
            let bucket = bucket_of(ms, self.bucket_seconds);
            for sli in &self.slis {
                if !sli.total.matches(&s) {
                    continue;
                }
                match classify_span(&sli.good, &s) {
                    None => self.stats.unjudged += 1,
                    Some(good) => {
                        let a = acc.entry((sli.sli, bucket)).or_default();
                        a.0 += u64::from(good);
                        a.1 += 1;
                    }
                }
            }
        }
        acc.into_iter()
            .map(|((sli, bucket), (good, total))| SliIncrement {
                sli,
                bucket,
                good: good as f64,
                total: total as f64,
            })
            .collect()
    }
}

/// One counter data point of an OTLP request as a labelled series.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSeries {
    /// `__name__`, then resource attributes, overridden by data point attributes.
    pub labels: Vec<Label>,
    pub sample: Sample,
    pub temporality: Temporality,
}

fn attr_text(v: &any_value::Value) -> Option<String> {
    Some(match v {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        _ => return None,
    })
}

fn push_attrs(labels: &mut Vec<Label>, attrs: &[KeyValue]) {
    for kv in attrs {
        let Some(text) = kv
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .and_then(attr_text)
        else {
            continue;
        };
        if kv.key == METRIC_NAME {
            continue;
        }
        match labels.iter_mut().find(|l| l.name == kv.key) {
            Some(l) => l.value = text,
            None => labels.push(Label::new(kv.key.clone(), text)),
        }
    }
}

fn temporality_of(t: i32) -> Option<Temporality> {
    if t == AggregationTemporality::Cumulative as i32 {
        Some(Temporality::Cumulative)
    } else if t == AggregationTemporality::Delta as i32 {
        Some(Temporality::Delta)
    } else {
        None
    }
}

fn nanos_to_ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// The counters of a metrics request: monotonic sums as `name`, histograms as `name_count`
/// and cumulative `name_bucket{le="…"}` (Prometheus naming). Gauges, non-monotonic sums,
/// summaries, exponential histograms and unspecified temporality are left out.
pub fn counter_series(req: &ExportMetricsServiceRequest) -> Vec<OtlpSeries> {
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        let mut base = Vec::new();
        if let Some(r) = &rm.resource {
            push_attrs(&mut base, &r.attributes);
        }
        for m in rm.scope_metrics.iter().flat_map(|sm| sm.metrics.iter()) {
            let labels_for = |name: String, attrs: &[KeyValue]| {
                let mut l = Vec::with_capacity(base.len() + attrs.len() + 2);
                l.push(Label::new(METRIC_NAME, name));
                l.extend(base.iter().cloned());
                push_attrs(&mut l, attrs);
                l
            };
            match &m.data {
                Some(metric::Data::Sum(sum)) if sum.is_monotonic => {
                    let Some(temporality) = temporality_of(sum.aggregation_temporality) else {
                        continue;
                    };
                    for dp in &sum.data_points {
                        let value = match dp.value {
                            Some(number_data_point::Value::AsDouble(d)) => d,
                            Some(number_data_point::Value::AsInt(i)) => i as f64,
                            None => continue,
                        };
                        out.push(OtlpSeries {
                            labels: labels_for(m.name.clone(), &dp.attributes),
                            sample: Sample {
                                value,
                                timestamp: nanos_to_ms(dp.time_unix_nano),
                            },
                            temporality,
                        });
                    }
                }
                Some(metric::Data::Histogram(h)) => {
                    let Some(temporality) = temporality_of(h.aggregation_temporality) else {
                        continue;
                    };
                    for dp in &h.data_points {
                        let timestamp = nanos_to_ms(dp.time_unix_nano);
                        let mut push = |name: String, le: Option<String>, value: f64| {
                            let mut labels = labels_for(name, &dp.attributes);
                            if let Some(le) = le {
                                match labels.iter_mut().find(|l| l.name == "le") {
                                    Some(l) => l.value = le,
                                    None => labels.push(Label::new("le", le)),
                                }
                            }
                            out.push(OtlpSeries {
                                labels,
                                sample: Sample { value, timestamp },
                                temporality,
                            });
                        };
                        push(format!("{}_count", m.name), None, dp.count as f64);
                        // Explicit buckets: counts has bounds.len() + 1 entries when present.
                        if dp.bucket_counts.len() == dp.explicit_bounds.len() + 1 {
                            let mut cum = 0u64;
                            for (bound, c) in dp.explicit_bounds.iter().zip(&dp.bucket_counts) {
                                cum = cum.saturating_add(*c);
                                push(
                                    format!("{}_bucket", m.name),
                                    Some(bound.to_string()),
                                    cum as f64,
                                );
                            }
                            push(
                                format!("{}_bucket", m.name),
                                Some("+Inf".to_string()),
                                dp.count as f64,
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

impl RemoteWriteClassifier {
    /// Feeds the counters of an OTLP metrics request (see [`counter_series`]) and returns
    /// the increments produced.
    pub fn classify_otlp(&mut self, req: &ExportMetricsServiceRequest) -> Vec<SliIncrement> {
        for s in counter_series(req) {
            self.feed_series(&s.labels, std::slice::from_ref(&s.sample), s.temporality);
        }
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

    #[test]
    fn gunzip_is_bounded() {
        let plain = vec![b'a'; 10_000];
        let gz = gzip(&plain);
        assert_eq!(gunzip(&gz, 10_000), Ok(plain));
        let e = gunzip(&gz, 9_999).expect_err("over the limit");
        assert_eq!(e.code(), "otlp.too_large");
        let e = gunzip(b"not gzip", 100).expect_err("bad");
        assert_eq!(e.code(), "otlp.bad_gzip");
        assert_eq!(e.to_string(), e.to_string().to_lowercase());
        // Truncated.
        let e = gunzip(&gz[..gz.len() / 2], 100_000).expect_err("truncated");
        assert_eq!(e.code(), "otlp.bad_gzip");
    }

    #[test]
    fn answers_decode_as_the_otlp_messages() {
        assert!(encode_export_response(Encoding::Protobuf, "rejectedSpans", 0, "").is_empty());
        assert_eq!(
            encode_export_response(Encoding::Json, "rejectedSpans", 0, ""),
            b"{}"
        );
        let bytes = encode_export_response(Encoding::Protobuf, "rejectedSpans", 2, "two bad");
        let back =
            ExportTraceServiceResponse::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let partial = back.partial_success.unwrap_or_default();
        assert_eq!(
            (partial.rejected_spans, partial.error_message.as_str()),
            (2, "two bad")
        );
        let json = encode_export_response(Encoding::Json, "rejectedSpans", 2, "two bad");
        let back: ExportTraceServiceResponse =
            serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.partial_success.map(|p| p.rejected_spans), Some(2));

        let status = encode_status(Encoding::Protobuf, RPC_INVALID_ARGUMENT, "bad");
        let back = RpcStatus::decode(status.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((back.code, back.message.as_str()), (3, "bad"));
        let json: serde_json::Value =
            serde_json::from_slice(&encode_status(Encoding::Json, RPC_UNAVAILABLE, "later"))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, serde_json::json!({ "code": 14, "message": "later" }));
    }
}
