//! Remote-write and OTLP/HTTP ingestion against a real server: exact counts in the store,
//! counter resets and stale markers, exactly-once across a restart, and every rejection with
//! its status and code (nothing counted).

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

mod common;

use common::TestServer;
use ingest::counter::STALE_NAN_BITS;
use ingest::otlp::{self, Encoding};
use ingest::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use std::sync::Arc;
use store::{BucketCount, SqliteStore, Store};

const CONFIG: &str = r#"
apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: rw
        sli:
          kind: availability
          source: remote_write
          total: 'http_requests_total{job="checkout"}'
          bad: 'http_requests_total{job="checkout",code=~"5.."}'
        objective: 99
        window: 30d
      - name: spans
        sli:
          kind: latency
          source: otlp
          total: { span_name: "POST /api/.*" }
          good: { status: "<500", latency: "<=300ms" }
        objective: 99
        window: 30d
      - name: metrics
        sli:
          kind: availability
          source: otlp
          total: 'http_server_requests_total{job="checkout"}'
          good: 'http_server_requests_total{job="checkout",code!~"5.."}'
        objective: 99
        window: 30d
"#;

/// A minute boundary (unix seconds).
const T0: i64 = 1_699_999_980;

async fn open_store(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(&dir.join("shared.db")).await.unwrap())
}

async fn start(store: &Arc<SqliteStore>, tweak: impl FnOnce(&mut server::Settings)) -> TestServer {
    let store: Arc<dyn Store> = store.clone();
    TestServer::start_with(CONFIG, move |s| {
        s.store = Some(store);
        tweak(s);
    })
    .await
    .unwrap()
}

async fn counts(store: &Arc<SqliteStore>, series: &str) -> Vec<(i64, u64, u64)> {
    store
        .counts(series, T0 - 3600, T0 + 3600)
        .await
        .unwrap()
        .into_iter()
        .map(
            |BucketCount {
                 bucket_start,
                 good,
                 total,
             }| (bucket_start - T0, good, total),
        )
        .collect()
}

/// One scrape: `http_requests_total{job="checkout",code}` for each (code, value) at `t`
/// seconds after T0, plus a series no SLI selects.
fn scrape(t: i64, values: &[(&str, f64)]) -> WriteRequest {
    let mut timeseries: Vec<TimeSeries> = values
        .iter()
        .map(|(code, value)| TimeSeries {
            labels: vec![
                Label::new("__name__", "http_requests_total"),
                Label::new("code", *code),
                Label::new("job", "checkout"),
            ],
            samples: vec![Sample {
                value: *value,
                timestamp: (T0 + t) * 1000,
            }],
        })
        .collect();
    timeseries.push(TimeSeries {
        labels: vec![
            Label::new("__name__", "process_cpu_seconds_total"),
            Label::new("job", "checkout"),
        ],
        samples: vec![Sample {
            value: 1e6 + t as f64,
            timestamp: (T0 + t) * 1000,
        }],
    });
    WriteRequest { timeseries }
}

async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, Option<String>, Vec<u8>) {
    let mut req = server
        .client
        .post(server.url(path))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    if path == "/api/v1/write" {
        req = req.header("X-Prometheus-Remote-Write-Version", "0.1.0");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn write(server: &TestServer, req: &WriteRequest) -> (u16, serde_json::Value) {
    let (status, _, body) = post_raw(
        server,
        "/api/v1/write",
        "application/x-protobuf",
        Some("snappy"),
        encode_write_request(req),
    )
    .await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

async fn metric(server: &TestServer, name: &str, source: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("\"{source}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn remote_write_counts_increases_resets_and_stale_markers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;

    // First scrape: baselines only.
    let (status, _) = write(&server, &scrape(10, &[("200", 100.0), ("500", 5.0)])).await;
    assert_eq!(status, 204);
    assert!(counts(&store, "checkout/rw").await.is_empty());
    // A config reload keeps the baselines.
    let r = server
        .client
        .post(server.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Second scrape: +60 good, +2 bad in the minute at T0+60.
    let (status, _) = write(&server, &scrape(70, &[("200", 160.0), ("500", 7.0)])).await;
    assert_eq!(status, 204);
    assert_eq!(counts(&store, "checkout/rw").await, vec![(60, 60, 62)]);
    // A reset of the 200 counter (increase = new value 10) and a stale marker on the 500
    // series (skipped), then both grow again.
    let stale = f64::from_bits(STALE_NAN_BITS);
    let (status, _) = write(&server, &scrape(130, &[("200", 10.0), ("500", stale)])).await;
    assert_eq!(status, 204);
    let (status, _) = write(&server, &scrape(190, &[("200", 15.0), ("500", 9.0)])).await;
    assert_eq!(status, 204);
    assert_eq!(
        counts(&store, "checkout/rw").await,
        vec![(60, 60, 62), (120, 10, 10), (180, 5, 7)]
    );
    // A retry of an already counted scrape is skipped (same timestamps).
    let (status, _) = write(&server, &scrape(190, &[("200", 15.0), ("500", 9.0)])).await;
    assert_eq!(status, 204);
    assert_eq!(
        counts(&store, "checkout/rw").await,
        vec![(60, 60, 62), (120, 10, 10), (180, 5, 7)]
    );
    // Only selected series are tracked and persisted.
    assert_eq!(
        store.tracker_samples("remote_write").await.unwrap().len(),
        2
    );
    // 5 requests × 3 samples accepted.
    assert_eq!(
        metric(&server, "nines_ingest_records_total", "remote_write").await,
        15.0
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn remote_write_continues_exactly_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;
    assert_eq!(
        write(&server, &scrape(10, &[("200", 100.0), ("500", 5.0)]))
            .await
            .0,
        204
    );
    assert_eq!(
        write(&server, &scrape(70, &[("200", 160.0), ("500", 7.0)]))
            .await
            .0,
        204
    );
    server.stop().await.unwrap();
    store.close().await.unwrap();
    drop(store);

    // A new process: a new store handle on the same file, a new tracker.
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let server = start(&store, |_| {}).await;
    // Prometheus re-sends the last scrape it is unsure of: not counted twice.
    assert_eq!(
        write(&server, &scrape(70, &[("200", 160.0), ("500", 7.0)]))
            .await
            .0,
        204
    );
    // The next scrape continues from the persisted samples: nothing lost.
    assert_eq!(
        write(&server, &scrape(130, &[("200", 200.0), ("500", 8.0)]))
            .await
            .0,
        204
    );
    assert_eq!(
        counts(&store, "checkout/rw").await,
        vec![(60, 60, 62), (120, 40, 41)]
    );
    server.stop().await.unwrap();
}

/// (what, content type, content encoding, body, status, code).
type RejectCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

/// A snappy block holding `raw` as one literal (for bodies under 60 bytes).
fn snappy_literal(raw: &[u8]) -> Vec<u8> {
    assert!(!raw.is_empty() && raw.len() < 60);
    let mut out = vec![raw.len() as u8, ((raw.len() - 1) as u8) << 2];
    out.extend_from_slice(raw);
    out
}

#[tokio::test]
async fn remote_write_rejections_have_codes_and_count_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |s| s.max_remote_write_body = 1000).await;
    assert_eq!(
        write(&server, &scrape(10, &[("200", 100.0), ("500", 5.0)]))
            .await
            .0,
        204
    );

    let cases: Vec<RejectCase> = vec![
        (
            "bad snappy",
            "application/x-protobuf",
            Some("snappy"),
            b"\xff\xff\xff\xff\xff\xff not snappy".to_vec(),
            400,
            "remote_write.bad_snappy",
        ),
        (
            "truncated protobuf",
            "application/x-protobuf",
            Some("snappy"),
            // Field 1 (a TimeSeries) announcing 50 bytes, followed by 3.
            snappy_literal(&[0x0a, 0x32, 0x0a, 0x0b, 0x0a]),
            400,
            "remote_write.bad_protobuf",
        ),
        (
            "wrong content type",
            "application/json",
            Some("snappy"),
            encode_write_request(&scrape(70, &[("200", 160.0), ("500", 7.0)])),
            415,
            "remote_write.unsupported_media_type",
        ),
        (
            "remote-write 2.0",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            Some("snappy"),
            encode_write_request(&scrape(70, &[("200", 160.0), ("500", 7.0)])),
            415,
            "remote_write.unsupported_media_type",
        ),
        (
            "gzip",
            "application/x-protobuf",
            Some("gzip"),
            encode_write_request(&scrape(70, &[("200", 160.0), ("500", 7.0)])),
            415,
            "remote_write.unsupported_encoding",
        ),
        (
            "oversize",
            "application/x-protobuf",
            Some("snappy"),
            encode_write_request(&scrape(
                70,
                &(0..40)
                    .map(|i| (if i == 0 { "200" } else { "500" }, 1e3 + f64::from(i)))
                    .collect::<Vec<_>>(),
            )),
            413,
            "remote_write.too_large",
        ),
    ];
    for (what, content_type, encoding, body, want_status, want_code) in cases {
        let (status, _, body) =
            post_raw(&server, "/api/v1/write", content_type, encoding, body).await;
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, want_status, "{what}: {doc}");
        assert_eq!(doc["error"]["code"], want_code, "{what}: {doc}");
    }

    // Bad labels: a duplicate name, no metric name.
    let mut dup = scrape(70, &[("200", 160.0), ("500", 7.0)]);
    dup.timeseries[0].labels.push(Label::new("code", "201"));
    let (status, doc) = write(&server, &dup).await;
    assert_eq!(status, 400);
    assert_eq!(doc["error"]["code"], "remote_write.bad_labels");
    let mut unnamed = scrape(70, &[("200", 160.0), ("500", 7.0)]);
    unnamed.timeseries[1].labels.remove(0);
    let (status, doc) = write(&server, &unnamed).await;
    assert_eq!(status, 400);
    assert_eq!(doc["error"]["code"], "remote_write.bad_labels");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("series 1 has no metric name"));

    // Nothing was counted and the tracker did not move: the valid scrape counts in full.
    assert!(counts(&store, "checkout/rw").await.is_empty());
    assert_eq!(
        write(&server, &scrape(70, &[("200", 160.0), ("500", 7.0)]))
            .await
            .0,
        204
    );
    assert_eq!(counts(&store, "checkout/rw").await, vec![(60, 60, 62)]);
    server.stop().await.unwrap();
}

fn nanos(t_ms: i64) -> String {
    ((T0 * 1000 + t_ms) as i128 * 1_000_000).to_string()
}

/// A span: (service, name, kind, start ms, duration ms, http status, status code).
type SpanSpec<'a> = (&'a str, &'a str, i32, i64, i64, u16, i32);

fn traces_json(spans: &[SpanSpec<'_>]) -> String {
    let resource_spans: Vec<serde_json::Value> = spans
        .iter()
        .map(|(service, name, kind, start, duration, http, code)| {
            serde_json::json!({
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": service } }
                ] },
                "scopeSpans": [{ "spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "name": name,
                    "kind": kind,
                    "startTimeUnixNano": nanos(*start),
                    "endTimeUnixNano": nanos(start + duration),
                    "attributes": [
                        { "key": "http.response.status_code", "value": { "intValue": http.to_string() } }
                    ],
                    "status": { "code": code }
                }] }]
            })
        })
        .collect();
    serde_json::json!({ "resourceSpans": resource_spans }).to_string()
}

/// Server spans of `checkout` (and some that must not count), starting `base` ms after T0.
fn spans(base: i64) -> Vec<SpanSpec<'static>> {
    vec![
        ("checkout", "POST /api/cart", 2, base, 100, 200, 0), // good
        ("checkout", "POST /api/cart", 2, base, 500, 200, 1), // slow
        ("checkout", "POST /api/pay", 2, base, 50, 503, 0),   // 5xx
        ("checkout", "POST /api/pay", 2, base, 50, 200, 2),   // status ERROR
        ("checkout", "POST /api/cart", 3, base, 10, 200, 0),  // client span
        ("checkout", "GET /api/cart", 2, base, 10, 200, 0),   // other name
        ("cart", "POST /api/cart", 2, base, 10, 200, 0),      // other service
    ]
}

#[tokio::test]
async fn otlp_traces_in_json_protobuf_and_gzip_count_server_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;

    // JSON: 200 with an empty JSON response.
    let (status, ct, body) = post_raw(
        &server,
        "/v1/traces",
        "application/json",
        None,
        traces_json(&spans(1_000)).into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert_eq!(body, b"{}");
    assert_eq!(counts(&store, "checkout/spans").await, vec![(0, 1, 4)]);

    // Protobuf: 200 with the empty protobuf message.
    let req = otlp::decode_traces(traces_json(&spans(61_000)).as_bytes(), Encoding::Json).unwrap();
    let (status, ct, body) = post_raw(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        None,
        otlp::encode_traces(&req),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/x-protobuf"));
    assert!(body.is_empty());
    // gzip-compressed protobuf.
    let req = otlp::decode_traces(traces_json(&spans(121_000)).as_bytes(), Encoding::Json).unwrap();
    let (status, _, _) = post_raw(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        otlp::gzip(&otlp::encode_traces(&req)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        counts(&store, "checkout/spans").await,
        vec![(0, 1, 4), (60, 1, 4), (120, 1, 4)]
    );
    // 3 requests × 7 spans.
    assert_eq!(
        metric(&server, "nines_ingest_records_total", "otlp_traces").await,
        21.0
    );

    // Rejections: 415 for another content type, 400 (a google.rpc.Status in the request's
    // encoding) for bad bodies; nothing counted.
    let (status, _, _) = post_raw(&server, "/v1/traces", "text/plain", None, b"x".to_vec()).await;
    assert_eq!(status, 415);
    let (status, ct, body) = post_raw(
        &server,
        "/v1/traces",
        "application/json",
        None,
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(ct.as_deref(), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["code"], 3);
    assert!(doc["message"]
        .as_str()
        .unwrap()
        .starts_with("otlp.bad_json: "));
    let (status, ct, _) = post_raw(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        None,
        vec![0x0a, 0x32, 0x0a],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(ct.as_deref(), Some("application/x-protobuf"));
    let (status, _, _) = post_raw(
        &server,
        "/v1/traces",
        "application/json",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        counts(&store, "checkout/spans").await,
        vec![(0, 1, 4), (60, 1, 4), (120, 1, 4)]
    );
    server.stop().await.unwrap();
}

fn metrics_json(t_ms: i64, points: &[(&str, u64)]) -> String {
    let data_points: Vec<serde_json::Value> = points
        .iter()
        .map(|(code, value)| {
            serde_json::json!({
                "attributes": [{ "key": "code", "value": { "stringValue": code } }],
                "startTimeUnixNano": nanos(0),
                "timeUnixNano": nanos(t_ms),
                "asInt": value.to_string(),
            })
        })
        .collect();
    serde_json::json!({ "resourceMetrics": [{
        "resource": { "attributes": [{ "key": "job", "value": { "stringValue": "checkout" } }] },
        "scopeMetrics": [{ "metrics": [{
            "name": "http_server_requests_total",
            "sum": { "aggregationTemporality": 2, "isMonotonic": true, "dataPoints": data_points }
        }] }]
    }] })
    .to_string()
}

#[tokio::test]
async fn otlp_cumulative_sums_become_increases_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;
    let post = async |server: &TestServer, t_ms: i64, points: &[(&str, u64)], proto: bool| {
        let json = metrics_json(t_ms, points);
        let (ct, body) = if proto {
            let req = otlp::decode_metrics(json.as_bytes(), Encoding::Json).unwrap();
            ("application/x-protobuf", otlp::encode_metrics(&req))
        } else {
            ("application/json", json.into_bytes())
        };
        let (status, _, body) = post_raw(server, "/v1/metrics", ct, None, body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    };
    post(&server, 10_000, &[("200", 10), ("500", 1)], false).await;
    assert!(counts(&store, "checkout/metrics").await.is_empty());
    post(&server, 70_000, &[("200", 25), ("500", 3)], true).await;
    assert_eq!(counts(&store, "checkout/metrics").await, vec![(60, 15, 17)]);
    assert_eq!(
        store.tracker_samples("otlp_metrics").await.unwrap().len(),
        2
    );
    assert_eq!(
        metric(&server, "nines_ingest_records_total", "otlp_metrics").await,
        4.0
    );
    server.stop().await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let server = start(&store, |_| {}).await;
    // A reset of the 500 counter (to 1) after the restart; the 200 counter continues.
    post(&server, 130_000, &[("200", 30), ("500", 1)], false).await;
    assert_eq!(
        counts(&store, "checkout/metrics").await,
        vec![(60, 15, 17), (120, 5, 6)]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_commit_rolls_the_tracker_back_so_the_retry_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;
    // Thousands of new series, each with a baseline and a +1: the tracker samples alone need
    // many new pages.
    let series = 5000;
    let req = WriteRequest {
        timeseries: (0..series)
            .map(|i| TimeSeries {
                labels: vec![
                    Label::new("__name__", "http_requests_total"),
                    Label::new("code", (200 + i % 100).to_string()),
                    Label::new("instance", format!("host-{i}")),
                    Label::new("job", "checkout"),
                ],
                samples: vec![
                    Sample {
                        value: 0.0,
                        timestamp: (T0 + 10) * 1000,
                    },
                    Sample {
                        value: 1.0,
                        timestamp: (T0 + 70) * 1000,
                    },
                ],
            })
            .collect(),
    };
    let size = std::fs::metadata(dir.path().join("shared.db"))
        .unwrap()
        .len();
    store.set_max_size(Some(size));
    let r = server
        .client
        .post(server.url("/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(encode_write_request(&req))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "store.disk_full", "{doc}");
    assert!(counts(&store, "checkout/rw").await.is_empty());
    assert!(store
        .tracker_samples("remote_write")
        .await
        .unwrap()
        .is_empty());

    // Space returns; Prometheus retries the same request until it is accepted (every refusal
    // is temporary and leaves the tracker as it was): it counts in full, once.
    store.set_max_size(None);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, doc) = write(&server, &req).await;
        if status == 204 {
            break;
        }
        assert_eq!(status, 503, "{doc}");
        assert!(attempts < 20, "never accepted: {doc}");
        assert!(counts(&store, "checkout/rw").await.is_empty());
    }
    assert_eq!(counts(&store, "checkout/rw").await, vec![(60, 5000, 5000)]);
    assert_eq!(
        store.tracker_samples("remote_write").await.unwrap().len(),
        5000
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn series_silent_for_a_day_are_forgotten_in_memory_and_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;
    let one = |t: i64, code: &str, value: f64| WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label::new("__name__", "http_requests_total"),
                Label::new("code", code),
                Label::new("job", "checkout"),
            ],
            samples: vec![Sample {
                value,
                timestamp: (T0 + t) * 1000,
            }],
        }],
    };
    let day = 86_400;
    for req in [
        one(10, "200", 1.0),
        one(10, "500", 1.0),
        one(70, "500", 2.0),
    ] {
        assert_eq!(write(&server, &req).await.0, 204);
    }
    assert_eq!(
        store.tracker_samples("remote_write").await.unwrap().len(),
        2
    );
    // The 500 series goes on a day and an hour later; the 200 series has been silent since
    // T0+10 and is forgotten.
    assert_eq!(write(&server, &one(day + 3600, "500", 3.0)).await.0, 204);
    let kept = store.tracker_samples("remote_write").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].timestamp_ms, (T0 + day + 3600) * 1000);
    // When it comes back, its first sample is a new baseline.
    assert_eq!(write(&server, &one(day + 3660, "200", 50.0)).await.0, 204);
    assert_eq!(write(&server, &one(day + 3720, "200", 52.0)).await.0, 204);
    let late: Vec<(i64, u64, u64)> = store
        .counts("checkout/rw", T0 + day, T0 + 2 * day)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.bucket_start - T0 - day, b.good, b.total))
        .collect();
    assert_eq!(late, vec![(3600, 0, 1), (3720, 2, 2)]);
    assert_eq!(counts(&store, "checkout/rw").await, vec![(60, 0, 1)]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn huge_label_sets_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let server = start(&store, |_| {}).await;
    let many = |n: usize| {
        let mut req = scrape(10, &[("200", 100.0), ("500", 5.0)]);
        for i in 0..n {
            req.timeseries[0]
                .labels
                .push(Label::new(format!("extra_{i}"), "x"));
        }
        req
    };
    // The scrape has 3 labels per series: 125 more is 128, the limit.
    let (status, doc) = write(&server, &many(126)).await;
    assert_eq!(status, 400, "{doc}");
    assert_eq!(doc["error"]["code"], "remote_write.bad_labels");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("129 labels"),
        "{doc}"
    );
    let mut long = scrape(10, &[("200", 100.0), ("500", 5.0)]);
    long.timeseries[1]
        .labels
        .push(Label::new("pod", "p".repeat(5000)));
    let (status, doc) = write(&server, &long).await;
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("size limit"));
    assert!(
        counts(&store, "checkout/rw").await.is_empty(),
        "nothing counted"
    );
    // At the limit it is accepted.
    let (status, doc) = write(&server, &many(125)).await;
    assert_eq!(status, 204, "{doc}");
    server.stop().await.unwrap();
}
