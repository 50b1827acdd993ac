//! `source: otlp` (server spans or OTLP metric selectors) and `source: remote_write` SLIs:
//! what they load to, and every error located at its field.

use ingest::otlp::{server_spans, ExportTraceServiceRequest};
use spec::{Config, SliQuery, SourceKind};

fn load(text: &str) -> Config {
    spec::load_str("nines.yaml", text).unwrap_or_else(|diags| {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        panic!("unexpected errors:\n{}", lines.join("\n"))
    })
}

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

/// A request with one server span per `(service, name, route)`.
fn request(spans: &[(&str, &str, &str)]) -> ExportTraceServiceRequest {
    let resource_spans: Vec<String> = spans
        .iter()
        .map(|(service, name, route)| {
            format!(
                r#"{{"resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "{service}"}}}}]}},
                "scopeSpans": [{{"spans": [{{"traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174", "name": "{name}", "kind": 2,
                "startTimeUnixNano": "1000000000", "endTimeUnixNano": "1100000000",
                "attributes": [{{"key": "http.route", "value": {{"stringValue": "{route}"}}}}]}}]}}]}}"#
            )
        })
        .collect();
    let body = format!(r#"{{"resourceSpans": [{}]}}"#, resource_spans.join(","));
    ingest::otlp::decode_traces(body.as_bytes(), ingest::otlp::Encoding::Json)
        .unwrap_or_else(|e| panic!("{e}"))
}

const SPANS: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: api
        sli:
          kind: latency
          source: otlp
          total: { span_name: "POST /api/.*", route: "/api/.*" }
          good: { status: "<500", latency: "<=300ms" }
        objective: 99
        window: 28d
      - name: all
        sli: { kind: availability, source: otlp, good: { status: "<500" } }
        objective: 99
        window: 28d
      - name: other_service
        sli: { kind: availability, source: otlp, total: { service: cart }, good: { status: "2xx" } }
        objective: 99
        window: 28d
      - name: otlp_metrics
        sli:
          kind: availability
          source: otlp
          total: 'http_server_requests_total{service_name="checkout"}'
          bad: 'http_server_requests_total{service_name="checkout",code=~"5.."}'
        objective: 99
        window: 28d
"#;

#[test]
fn otlp_slis_select_server_spans() {
    let config = load(SPANS);
    let slos = &config.services[0].slos;
    assert_eq!(slos[0].sli.source, SourceKind::Otlp);
    let SliQuery::Spans { total, good } = &slos[0].sli.query else {
        panic!("expected spans, got {:?}", slos[0].sli.query);
    };
    // The service defaults to the SLO's; regexes are fully anchored, as in PromQL.
    assert_eq!(total.service.as_deref(), Some("checkout"));
    assert!(good.status.is_some() && good.latency.is_some());
    let req = request(&[
        ("checkout", "POST /api/cart", "/api/cart"),
        ("checkout", "GET /api/cart", "/api/cart"),
        ("checkout", "POST /api/cart", "/web/api/"),
        ("cart", "POST /api/cart", "/api/cart"),
    ]);
    let matched: Vec<bool> = server_spans(&req).map(|s| total.matches(&s)).collect();
    assert_eq!(matched, vec![true, false, false, false]);

    let SliQuery::Spans { total, .. } = &slos[1].sli.query else {
        panic!("expected spans");
    };
    assert!(total.span_name.is_none() && total.route.is_none());
    let matched: Vec<bool> = server_spans(&req).map(|s| total.matches(&s)).collect();
    assert_eq!(matched, vec![true, true, true, false]);

    let SliQuery::Spans { total, .. } = &slos[2].sli.query else {
        panic!("expected spans");
    };
    assert_eq!(total.service.as_deref(), Some("cart"));

    // A string `total` is a metric selector over OTLP metrics.
    match &slos[3].sli.query {
        SliQuery::Queries { total, good, bad } => {
            assert_eq!(
                total,
                r#"http_server_requests_total{service_name="checkout"}"#
            );
            assert!(good.is_none());
            assert!(bad.is_some());
        }
        other => panic!("expected queries, got {other:?}"),
    }
}

#[test]
fn span_selector_errors_are_located() {
    let text = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: a
        sli:
          kind: availability
          source: otlp
          total: { span_name: "POST (", route: 5, method: GET, service: "" }
          good: { status: "<500" }
        objective: 99
        window: 28d
      - name: b
        sli: { kind: latency, source: otlp, total: { route: "[z-a]" }, good: { status: "<500" } }
        objective: 99
        window: 28d
      - name: c
        sli: { kind: availability, source: otlp, total: [1], good: { status: "<500" }, bad: "x" }
        objective: 99
        window: 28d
"#;
    let got = errors(text);
    let want = [
        "nines.yaml:9:31: services[0].slos[0].sli.total.span_name: invalid regex \"POST (\": unclosed group",
        "nines.yaml:9:48: services[0].slos[0].sli.total.route: expected a string, got a number",
        "nines.yaml:9:51: services[0].slos[0].sli.total.method: unknown field `method`, expected one of `service`, `span_name`, `route`",
        "nines.yaml:9:73: services[0].slos[0].sli.total.service: must not be empty",
        "nines.yaml:14:61: services[0].slos[1].sli.total.route: invalid regex \"[z-a]\": invalid character class range, the start must be <= the end",
        "nines.yaml:14:78: services[0].slos[1].sli.good: a latency SLI needs a `latency` condition (e.g. latency: \"<=300ms\")",
        "nines.yaml:18:57: services[0].slos[2].sli.total: expected a mapping, got a list",
        "nines.yaml:18:93: services[0].slos[2].sli.bad: `bad` is only supported for remote_write and prometheus sources; use `good`",
    ];
    assert_eq!(got, want, "got:\n{}", got.join("\n"));
}

#[test]
fn remote_write_selectors_compile_at_load() {
    let config = load(
        r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: rw
        sli:
          kind: availability
          source: remote_write
          total: 'http_requests_total{job="checkout"}'
          good: 'http_requests_total{job="checkout",code!~"5.."}'
        objective: 99.5
        window: 7d
"#,
    );
    let SliQuery::Queries { total, good, .. } = &config.services[0].slos[0].sli.query else {
        panic!("expected queries");
    };
    // What the config accepted, the server can compile.
    assert!(ingest::SeriesSelector::parse(total).is_ok());
    assert!(good
        .as_deref()
        .is_some_and(|g| ingest::SeriesSelector::parse(g).is_ok()));

    let text = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: rw
        sli:
          kind: availability
          source: remote_write
          total: 'rate(http_requests_total[5m])'
          good: 'x{a=~"("}'
        objective: 99.5
        window: 7d
      - name: otlp
        sli: { kind: availability, source: otlp, total: "x offset 5m", good: "y" }
        objective: 99.5
        window: 7d
"#;
    let got = errors(text);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].starts_with(
            "nines.yaml:9:18: services[0].slos[0].sli.total: expected a metric selector"
        ),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("nines.yaml:10:17: services[0].slos[0].sli.good: invalid"),
        "{got:?}"
    );
    assert!(
        got[2].starts_with(
            "nines.yaml:14:57: services[0].slos[1].sli.total: expected a metric selector"
        ),
        "{got:?}"
    );
}
