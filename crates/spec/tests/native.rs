//! The native format: every valid example loads to the expected `SloSpec`.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use slo::{Budgeting, CalendarUnit, Exclusion, Objective, SloSpec, Window};
use spec::{BudgetingMethod, Config, Format, SliKind, SliQuery, SourceKind};

const EXAMPLE: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        description: Checkout API requests succeed
        sli:
          kind: availability          # availability | latency | freshness | correctness | durability | throughput
          source: access_log          # access_log | events | remote_write | otlp | prometheus
          total: { path: "^/api/" }   # which events count: path (regex), method (list), host, status
          good: { status: "<500" }    # status: "<500", "2xx", "200-399"; latency: "<=300ms"
        objective: 99.9               # percent; or { min: 99.0, max: 99.95 } for a range SLO
        window: 30d                   # rolling; or { calendar: month, timezone: Europe/Berlin }
      - name: latency
        sli:
          kind: latency
          source: access_log
          good: { latency: "<=300ms" }
        objective: 99
        window: 28d
        budgeting: timeslices         # default occurrences; timeslices: a minute is good when its ratio >= slice_target
        slice_target: 95
        exclude:                      # corrections / maintenance: these ranges count neither good nor total
          - { from: "2023-11-14T23:00:00Z", to: "2023-11-14T23:10:00Z", reason: planned maintenance }
"#;

fn load(text: &str) -> Config {
    match spec::load_str("nines.yaml", text) {
        Ok(config) => config,
        Err(diags) => {
            let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("expected a valid config, got:\n{}", shown.join("\n"));
        }
    }
}

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_documented_example_loads() {
    let config = load(EXAMPLE);
    assert_eq!(config.services.len(), 1);
    let service = &config.services[0];
    assert_eq!(service.name, "checkout");
    assert_eq!(service.slos.len(), 2);

    let availability = &service.slos[0];
    assert_eq!(
        availability.spec,
        SloSpec {
            service: "checkout".into(),
            name: "availability".into(),
            objective: Objective::Target(0.999),
            window: Window::Rolling {
                seconds: 30 * 86_400
            },
            budgeting: Budgeting::Occurrences,
            exclusions: vec![],
            bucket_seconds: 60,
        }
    );
    assert_eq!(
        availability.description.as_deref(),
        Some("Checkout API requests succeed")
    );
    assert_eq!(availability.sli.kind, SliKind::Availability);
    assert_eq!(availability.sli.source, SourceKind::AccessLog);
    assert_eq!(availability.format, Format::Native);
    assert_eq!(availability.budgeting_method, BudgetingMethod::Occurrences);
    assert_eq!((availability.origin.line, availability.origin.col), (5, 9));
    let SliQuery::Matchers(m) = &availability.sli.query else {
        panic!("expected matchers");
    };
    assert_eq!(m.total.path.as_ref().map(|r| r.as_str()), Some("^/api/"));
    assert_eq!(
        m.good.status,
        Some(ingest::StatusSet::parse("<500").unwrap())
    );
    assert!(m.good.latency.is_none());

    let latency = &service.slos[1];
    assert_eq!(
        latency.spec,
        SloSpec {
            service: "checkout".into(),
            name: "latency".into(),
            objective: Objective::Target(0.99),
            window: Window::Rolling {
                seconds: 28 * 86_400
            },
            budgeting: Budgeting::Timeslices { slice_target: 0.95 },
            exclusions: vec![Exclusion {
                from: 1_700_002_800,
                to: 1_700_003_400,
                reason: "planned maintenance".into(),
            }],
            bucket_seconds: 60,
        }
    );
    assert_eq!(latency.sli.kind, SliKind::Latency);
    let SliQuery::Matchers(m) = &latency.sli.query else {
        panic!("expected matchers");
    };
    assert!(m.total.path.is_none() && m.total.methods.is_empty());
    assert_eq!(
        m.good.latency,
        Some(ingest::LatencyBound::parse("<=300ms").unwrap())
    );
    assert_eq!(
        config.slo("checkout/latency").map(|s| s.spec.name.as_str()),
        Some("latency")
    );
}

#[test]
fn range_objective_calendar_window_bucket_and_methods() {
    let config = load(
        r#"apiVersion: nines/v1
services:
  - name: search
    description: Product search
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: { path: "^/search", method: [get, POST], host: shop.example.com, status: "!404" }
          good: { status: "2xx,3xx" }
        objective: { min: 99.0, max: 99.95 }
        window: { calendar: month, timezone: Europe/Berlin }
        bucket: 5m
      - name: weekly
        sli: { kind: throughput, source: otlp, total: { span_name: "GET .*" }, good: { status: 200 } }
        objective: 95
        window: { calendar: quarter }
        alerting: { policy: none }    # the default 1h page tier needs a 216% error ratio here
      - name: fresh
        sli: { kind: freshness, source: access_log, good: { latency: "<1s", status: "<500" } }
        objective: 90.5
        window: { calendar: week, timezone: UTC }
"#,
    );
    let slos = &config.services[0].slos;
    assert_eq!(
        config.services[0].description.as_deref(),
        Some("Product search")
    );
    assert_eq!(
        slos[0].spec.objective,
        Objective::Range {
            min: 0.99,
            max: 0.9995
        }
    );
    assert_eq!(slos[0].spec.bucket_seconds, 300);
    let Window::Calendar { unit, timezone } = &slos[0].spec.window else {
        panic!("expected a calendar window");
    };
    assert_eq!(*unit, CalendarUnit::Month);
    assert_eq!(timezone.iana_name(), Some("Europe/Berlin"));
    let SliQuery::Matchers(m) = &slos[0].sli.query else {
        panic!("expected matchers");
    };
    assert_eq!(m.total.methods, vec!["GET".to_string(), "POST".to_string()]);
    assert_eq!(m.total.host.as_deref(), Some("shop.example.com"));
    assert!(m.total.status.is_some());
    assert_eq!(slos[0].sli.source, SourceKind::Events);

    let SliQuery::Spans { total, good } = &slos[1].sli.query else {
        panic!("expected spans");
    };
    assert_eq!(total.service.as_deref(), Some("search"));
    assert_eq!(
        total.span_name.as_ref().map(|r| r.as_str()),
        Some("^(?:GET .*)$")
    );
    assert!(good.status.is_some());
    assert_eq!(slos[1].sli.kind, SliKind::Throughput);
    let Window::Calendar { unit, timezone } = &slos[1].spec.window else {
        panic!("expected a calendar window");
    };
    assert_eq!(*unit, CalendarUnit::Quarter);
    assert_eq!(timezone.iana_name(), Some("UTC"));
    assert_eq!(slos[2].spec.objective, Objective::Target(0.905));
}

#[test]
fn query_sources_take_strings() {
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
          bad: 'http_requests_total{job="checkout",code=~"5.."}'
        objective: 99.5
        window: 7d
      - name: prom
        sli:
          kind: latency
          source: prometheus
          total: sum(rate(http_request_duration_seconds_count[5m]))
          good: sum(rate(http_request_duration_seconds_bucket{le="0.3"}[5m]))
        objective: 99
        window: 1w
"#,
    );
    let slos = &config.services[0].slos;
    assert_eq!(slos[0].sli.source, SourceKind::RemoteWrite);
    match &slos[0].sli.query {
        SliQuery::Queries { total, good, bad } => {
            assert_eq!(total, r#"http_requests_total{job="checkout"}"#);
            assert!(good.is_none());
            assert_eq!(
                bad.as_deref(),
                Some(r#"http_requests_total{job="checkout",code=~"5.."}"#)
            );
        }
        other => panic!("expected queries, got {other:?}"),
    }
    assert_eq!(slos[1].sli.source, SourceKind::Prometheus);
    assert!(matches!(
        &slos[1].sli.query,
        SliQuery::Queries {
            good: Some(_),
            bad: None,
            ..
        }
    ));
    assert_eq!(
        slos[1].spec.window,
        Window::Rolling {
            seconds: 7 * 86_400
        }
    );
}

#[test]
fn several_documents_and_empty_ones_merge() {
    let config = load(
        "apiVersion: nines/v1\nservices: []\n---\n---\napiVersion: nines/v1\nservices:\n  - name: a\n    slos: []\n",
    );
    assert_eq!(config.services.len(), 1);
    assert!(load("").services.is_empty());
    assert!(load("# only a comment\n").services.is_empty());
}

#[test]
fn percentages_convert_exactly() {
    for (percent, ratio) in [
        ("99.9", 0.999),
        ("99.99", 0.9999),
        ("99.95", 0.9995),
        ("50", 0.5),
        ("99.999", 0.99999),
    ] {
        let text = format!(
            "apiVersion: nines/v1\nservices:\n  - name: s\n    slos:\n      - name: x\n        sli: {{ kind: availability, source: access_log, good: {{ status: \"<500\" }} }}\n        objective: {percent}\n        window: 30d\n        alerting: {{ policy: none }}\n"
        );
        let config = load(&text);
        assert_eq!(
            config.services[0].slos[0].spec.objective,
            Objective::Target(ratio),
            "{percent}"
        );
    }
}

#[test]
fn duplicate_services_and_slos_across_files_are_reported() {
    let dir = std::env::temp_dir().join(format!("spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let one = "apiVersion: nines/v1\nservices:\n  - name: checkout\n    slos: []\n";
    std::fs::write(dir.join("a.yaml"), one).unwrap();
    std::fs::write(dir.join("b.yaml"), one).unwrap();
    std::fs::write(dir.join("ignored.txt"), "not yaml: [").unwrap();
    let result = spec::load_files(&[dir.clone(), dir.join("missing.yaml")]);
    let shown: Vec<String> = result
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let a = dir.join("a.yaml").display().to_string();
    let b = dir.join("b.yaml").display().to_string();
    let missing = dir.join("missing.yaml").display().to_string();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(
        shown[0],
        format!(
            "{b}:3:11: services[0].name: duplicate service `checkout` (first defined at {a}:3:11)"
        )
    );
    assert!(
        shown[1].starts_with(&format!("{missing}: cannot read file: ")),
        "{}",
        shown[1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        errors("apiVersion: nines/v1\nservice: []\n"),
        vec!["nines.yaml:2:1: service: unknown field `service`, expected one of `apiVersion`, `alerting`, `alertmanager`, `incidents`, `prometheus`, `services`"]
    );
}
