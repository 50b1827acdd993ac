//! OTLP decoding and classification on hand-written OTLP/JSON documents (following the
//! OTLP specification's JSON encoding) and their protobuf round trips.

use ingest::otlp::{
    counter_series, decode_metrics, decode_traces, server_spans, Encoding, SpanClassifier,
    SpanSelector, SpanSli,
};
use ingest::{
    CounterTracker, FirstSample, GoodCondition, GoodSeries, LatencyBound, RemoteWriteClassifier,
    SeriesSelector, SeriesSli, SliIncrement, StatusSet,
};
use prost::Message;

/// One resource (`checkout`) with an erroring server span, an OK server span, a client span,
/// and an OK span without HTTP attributes; plus a second resource (`cart`).
const TRACES: &str = r#"{
  "resourceSpans": [
    {
      "resource": {
        "attributes": [
          {"key": "service.name", "value": {"stringValue": "checkout"}},
          {"key": "host.name", "value": {"stringValue": "web-1"}}
        ]
      },
      "scopeSpans": [
        {
          "scope": {"name": "my.library", "version": "1.0.0"},
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "eee19b7ec3c1b174",
              "parentSpanId": "",
              "name": "POST /cart/{id}",
              "kind": 2,
              "startTimeUnixNano": "1544712660000000000",
              "endTimeUnixNano": "1544712660250000000",
              "attributes": [
                {"key": "http.response.status_code", "value": {"intValue": "500"}},
                {"key": "http.route", "value": {"stringValue": "/cart/{id}"}}
              ],
              "status": {"code": 2, "message": "boom"},
              "someFutureField": {"ignored": true}
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "eee19b7ec3c1b175",
              "name": "GET /cart/{id}",
              "kind": 2,
              "startTimeUnixNano": "1544712661000000000",
              "endTimeUnixNano": "1544712661100000000",
              "attributes": [
                {"key": "http.status_code", "value": {"intValue": 200}},
                {"key": "url.path", "value": {"stringValue": "/cart/42"}}
              ],
              "status": {}
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "eee19b7ec3c1b176",
              "parentSpanId": "eee19b7ec3c1b175",
              "name": "SELECT carts",
              "kind": 3,
              "startTimeUnixNano": "1544712661010000000",
              "endTimeUnixNano": "1544712661090000000"
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60d",
              "spanId": "eee19b7ec3c1b177",
              "name": "GET /slow",
              "kind": 2,
              "startTimeUnixNano": "1544712719000000000",
              "endTimeUnixNano": "1544712721000000000"
            }
          ]
        }
      ]
    },
    {
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
      "scopeSpans": [{"spans": [
        {"traceId": "00000000000000000000000000000001", "spanId": "0000000000000001",
         "name": "GET /items", "kind": 2,
         "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712660001000000"}
      ]}]
    }
  ]
}"#;

const METRICS: &str = r#"{
  "resourceMetrics": [
    {
      "resource": {
        "attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]
      },
      "scopeMetrics": [
        {
          "scope": {"name": "my.library"},
          "metrics": [
            {
              "name": "http.server.requests",
              "unit": "1",
              "sum": {
                "aggregationTemporality": 2,
                "isMonotonic": true,
                "dataPoints": [
                  {"attributes": [{"key": "code", "value": {"stringValue": "200"}}],
                   "startTimeUnixNano": "1544712600000000000",
                   "timeUnixNano": "1544712660000000000", "asInt": "100"},
                  {"attributes": [{"key": "code", "value": {"stringValue": "500"}}],
                   "startTimeUnixNano": "1544712600000000000",
                   "timeUnixNano": "1544712660000000000", "asInt": "4"}
                ]
              }
            },
            {
              "name": "queue.depth",
              "gauge": {"dataPoints": [{"timeUnixNano": "1544712660000000000", "asDouble": 3.5}]}
            },
            {
              "name": "jobs.done",
              "sum": {
                "aggregationTemporality": 1,
                "isMonotonic": true,
                "dataPoints": [{"timeUnixNano": "1544712660000000000", "asDouble": 7.0}]
              }
            },
            {
              "name": "http.server.duration",
              "unit": "s",
              "histogram": {
                "aggregationTemporality": 2,
                "dataPoints": [
                  {"timeUnixNano": "1544712660000000000", "count": "10", "sum": 2.5,
                   "bucketCounts": ["6", "3", "1"], "explicitBounds": [0.1, 0.5]}
                ]
              }
            }
          ]
        }
      ]
    }
  ]
}"#;

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn trace_json_server_spans() {
    let req = must(decode_traces(TRACES.as_bytes(), Encoding::Json));
    assert_eq!(
        req.resource_spans[0].scope_spans[0].spans[0].trace_id,
        vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    let spans: Vec<_> = server_spans(&req).collect();
    assert_eq!(spans.len(), 4, "the client span is left out");
    let s = spans[0];
    assert_eq!(s.service, Some("checkout"));
    assert_eq!(s.name, "POST /cart/{id}");
    assert!(s.is_error());
    assert_eq!(s.duration_ns(), 250_000_000);
    assert_eq!(s.http_status, Some(500));
    assert_eq!(s.http_route, Some("/cart/{id}"));
    assert_eq!(
        spans[1].http_status,
        Some(200),
        "old attribute name, int as number"
    );
    assert_eq!(spans[1].http_route, Some("/cart/42"));
    assert!(!spans[1].is_error());
    assert_eq!(spans[3].service, Some("cart"));
}

#[test]
fn trace_classification() {
    let req = must(decode_traces(TRACES.as_bytes(), Encoding::Json));
    let mut c = SpanClassifier::new(
        vec![
            // Availability of checkout: not ERROR.
            SpanSli {
                sli: 0,
                total: must(SpanSelector::new(Some("checkout"), None, None)),
                good: GoodCondition::default(),
            },
            // Latency of checkout's cart spans: under 200ms and HTTP status below 500.
            SpanSli {
                sli: 1,
                total: must(SpanSelector::new(Some("checkout"), Some(".*/cart.*"), None)),
                good: GoodCondition {
                    status: StatusSet::parse("<500").ok(),
                    latency: LatencyBound::parse("<200ms").ok(),
                },
            },
            // Needs an HTTP status: the span without one is skipped, not bad.
            SpanSli {
                sli: 2,
                total: must(SpanSelector::new(Some("checkout"), Some("GET .*"), None)),
                good: GoodCondition {
                    status: StatusSet::parse("2xx").ok(),
                    latency: None,
                },
            },
        ],
        60,
    );
    let got = c.classify(&req);
    // 1544712660 s is a minute boundary; the slow span ends in the next minute.
    let m = 1_544_712_660;
    assert_eq!(
        got,
        vec![
            SliIncrement {
                sli: 0,
                bucket: m,
                good: 1.0,
                total: 2.0
            },
            SliIncrement {
                sli: 0,
                bucket: m + 60,
                good: 1.0,
                total: 1.0
            },
            SliIncrement {
                sli: 1,
                bucket: m,
                good: 1.0,
                total: 2.0
            },
            SliIncrement {
                sli: 2,
                bucket: m,
                good: 1.0,
                total: 1.0
            },
        ]
    );
    let st = c.stats();
    assert_eq!((st.spans, st.server_spans, st.unjudged), (5, 4, 1));
}

#[test]
fn span_selector_anchors_and_rejects_bad_regex() {
    let sel = must(SpanSelector::new(None, Some("GET"), Some("/cart/.*")));
    let req = must(decode_traces(TRACES.as_bytes(), Encoding::Json));
    let matched: Vec<_> = server_spans(&req).filter(|s| sel.matches(s)).collect();
    assert!(matched.is_empty(), "span names are matched whole");
    let e = SpanSelector::new(None, Some("("), None)
        .expect_err("bad regex")
        .to_string();
    assert!(e.starts_with("invalid span selector \"(\""), "{e}");
}

#[test]
fn protobuf_round_trips() {
    let traces = must(decode_traces(TRACES.as_bytes(), Encoding::Json));
    let bytes = traces.encode_to_vec();
    assert_eq!(must(decode_traces(&bytes, Encoding::Protobuf)), traces);
    let metrics = must(decode_metrics(METRICS.as_bytes(), Encoding::Json));
    let bytes = metrics.encode_to_vec();
    assert_eq!(must(decode_metrics(&bytes, Encoding::Protobuf)), metrics);
    // JSON written by the same types decodes to the same request.
    let json = must(serde_json::to_vec(&traces));
    assert_eq!(must(decode_traces(&json, Encoding::Json)), traces);
}

#[test]
fn metric_series() {
    let req = must(decode_metrics(METRICS.as_bytes(), Encoding::Json));
    let series = counter_series(&req);
    let names: Vec<String> = series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",")
                + &format!(" {}", s.sample.value)
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "__name__=http.server.requests,service.name=checkout,code=200 100",
            "__name__=http.server.requests,service.name=checkout,code=500 4",
            "__name__=jobs.done,service.name=checkout 7",
            "__name__=http.server.duration_count,service.name=checkout 10",
            "__name__=http.server.duration_bucket,service.name=checkout,le=0.1 6",
            "__name__=http.server.duration_bucket,service.name=checkout,le=0.5 9",
            "__name__=http.server.duration_bucket,service.name=checkout,le=+Inf 10",
        ]
    );
    assert_eq!(series[0].sample.timestamp, 1_544_712_660_000);
}

#[test]
fn metric_classification_cumulative_and_delta() {
    let sel = |s: &str| must(SeriesSelector::parse(s));
    let mut c = RemoteWriteClassifier::new(
        vec![
            SeriesSli {
                sli: 0,
                total: sel(r#"{__name__="http.server.requests","service.name"="checkout"}"#),
                good: GoodSeries::Bad(sel(r#"{__name__="http.server.requests",code=~"5.."}"#)),
            },
            SeriesSli {
                sli: 1,
                total: sel(r#"{__name__="jobs.done"}"#),
                good: GoodSeries::Good(sel(r#"{__name__="jobs.done"}"#)),
            },
            SeriesSli {
                sli: 2,
                total: sel(r#"{__name__="http.server.duration_count"}"#),
                good: GoodSeries::Good(sel(r#"{__name__="http.server.duration_bucket",le="0.5"}"#)),
            },
        ],
        CounterTracker::new(60, FirstSample::Baseline, 1000),
    );
    let req = must(decode_metrics(METRICS.as_bytes(), Encoding::Json));
    let m = 1_544_712_660;
    // First export: cumulative series only set baselines; the delta sum counts at once.
    assert_eq!(
        c.classify_otlp(&req),
        vec![SliIncrement {
            sli: 1,
            bucket: m,
            good: 7.0,
            total: 7.0
        }]
    );
    // A minute later: 150 and 6 requests, and 20 durations of which 17 under 0.5s.
    let later = METRICS
        .replace("1544712660000000000", "1544712720000000000")
        .replace(r#""asInt": "100""#, r#""asInt": "150""#)
        .replace(r#""asInt": "4""#, r#""asInt": "6""#)
        .replace(r#""count": "10""#, r#""count": "20""#)
        .replace(r#"["6", "3", "1"]"#, r#"["10", "7", "3"]"#);
    let req = must(decode_metrics(later.as_bytes(), Encoding::Json));
    assert_eq!(
        c.classify_otlp(&req),
        vec![
            SliIncrement {
                sli: 0,
                bucket: m + 60,
                good: 50.0,
                total: 52.0
            },
            SliIncrement {
                sli: 1,
                bucket: m + 60,
                good: 7.0,
                total: 7.0
            },
            SliIncrement {
                sli: 2,
                bucket: m + 60,
                good: 8.0,
                total: 10.0
            },
        ]
    );
}

#[test]
fn errors_have_codes() {
    let e = decode_traces(b"{", Encoding::Json).expect_err("json");
    assert_eq!(e.code(), "otlp.bad_json");
    let e = decode_traces(
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        Encoding::Json,
    )
    .expect_err("hex");
    assert_eq!(e.code(), "otlp.bad_json");
    let e = decode_metrics(&[0x0a, 0x05, 0x01], Encoding::Protobuf).expect_err("proto");
    assert_eq!(e.code(), "otlp.bad_protobuf");
    let m = e.to_string();
    assert_eq!(m, m.to_lowercase());
    assert_eq!(
        Encoding::from_content_type("application/json; charset=utf-8"),
        Some(Encoding::Json)
    );
    assert_eq!(
        Encoding::from_content_type("application/x-protobuf"),
        Some(Encoding::Protobuf)
    );
    assert_eq!(Encoding::from_content_type("text/plain"), None);
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        for enc in [Encoding::Protobuf, Encoding::Json] {
            if let Ok(r) = decode_traces(&body, enc) {
                let _ = SpanClassifier::new(vec![], 60).classify(&r);
                let _ = server_spans(&r).count();
            }
            if let Ok(r) = decode_metrics(&body, enc) {
                let _ = counter_series(&r);
            }
        }
    }

    #[test]
    fn json_fragments_never_panic(doc in "[\\[\\]{}\",:0-9a-zA-Z ]{0,200}") {
        let doc = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{doc}]}}]}}]}}"#);
        let _ = decode_traces(doc.as_bytes(), Encoding::Json);
        let _ = decode_metrics(doc.as_bytes(), Encoding::Json);
    }
}
