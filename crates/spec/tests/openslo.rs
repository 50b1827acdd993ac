//! OpenSLO v1: the specification's own examples and the kinds nines keeps.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use slo::{Budgeting, CalendarUnit, Objective, Window};
use spec::{BudgetingMethod, Config, Format, SliKind, SliQuery, SourceKind, ThresholdOp};

fn load(file: &str, text: &str) -> Config {
    match spec::load_str(file, text) {
        Ok(config) => config,
        Err(diags) => {
            let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{file} should load, got:\n{}", shown.join("\n"));
        }
    }
}

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/openslo-examples")
}

fn example(name: &str) -> Config {
    let path = examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    load(name, &text)
}

/// (service/name, objective, window label, budgeting, bucket)
fn summary(config: &Config) -> Vec<(String, Objective, String, Budgeting, i64)> {
    config
        .slos()
        .map(|s| {
            (
                s.spec.key(),
                s.spec.objective,
                s.spec.window.label(),
                s.spec.budgeting,
                s.spec.bucket_seconds,
            )
        })
        .collect()
}

#[test]
fn every_example_loads_to_the_expected_slos() {
    let occurrences = example("budgeting-method_occurences-slo.yaml");
    assert_eq!(
        summary(&occurrences),
        vec![(
            "web-shop/search-slo".into(),
            Objective::Target(0.99),
            "14d".into(),
            Budgeting::Occurrences,
            60
        )]
    );
    let slo = occurrences.slos().next().unwrap();
    assert_eq!(slo.format, Format::OpenSlo);
    assert_eq!(slo.sli.kind, SliKind::Latency);
    assert_eq!(slo.sli.source, SourceKind::External("Any".into()));
    match &slo.sli.query {
        SliQuery::Threshold { metric, op, value } => {
            assert_eq!(*op, ThresholdOp::Lt);
            assert_eq!(*value, 500.0);
            assert_eq!(metric.source_type, "Any");
            assert_eq!(
                metric.spec.get("query").and_then(|v| v.as_str()),
                Some("Any")
            );
        }
        other => panic!("expected a threshold SLI, got {other:?}"),
    }
    assert!(slo
        .description
        .as_deref()
        .unwrap()
        .starts_with("Regardless"));

    let ratio = example("budgeting-method_ratio-timeslices.yaml");
    assert_eq!(
        summary(&ratio),
        vec![(
            "web-shop/main-page".into(),
            Objective::Target(0.99),
            "14d".into(),
            Budgeting::Occurrences,
            60
        )]
    );
    let slo = ratio.slos().next().unwrap();
    assert_eq!(slo.budgeting_method, BudgetingMethod::RatioTimeslices);
    assert!(matches!(
        &slo.sli.query,
        SliQuery::Ratio {
            total: Some(_),
            good: Some(_),
            bad: None
        }
    ));

    let timeslices = example("budgeting-method_timeslices-slo.yaml");
    assert_eq!(
        summary(&timeslices),
        vec![
            (
                "web-availability/service-availability-internal-objective".into(),
                Objective::Target(0.995),
                "month".into(),
                Budgeting::Timeslices { slice_target: 0.99 },
                60
            ),
            (
                "web-availability/service-availability-sla".into(),
                Objective::Target(0.99),
                "month".into(),
                Budgeting::Timeslices { slice_target: 0.99 },
                60
            ),
        ]
    );
    let Window::Calendar { timezone, .. } = &timeslices.slos().next().unwrap().spec.window else {
        panic!("expected a calendar window");
    };
    assert_eq!(timezone.iana_name(), Some("America/New_York"));

    let low_traffic = example("treat-low-traffic-as-equally-important_timeslices-slo.yaml");
    assert_eq!(
        summary(&low_traffic),
        vec![(
            "web-availability/service-availability".into(),
            Objective::Target(0.9995),
            "week".into(),
            Budgeting::Timeslices { slice_target: 0.95 },
            60
        )]
    );
}

#[test]
fn every_example_file_in_the_folder_loads_and_all_load_together() {
    let mut paths: Vec<_> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4);
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let config = load(&path.display().to_string(), &text);
        assert!(config.slos().count() >= 1, "{}", path.display());
    }
    let config = spec::load_files(&paths).unwrap();
    assert_eq!(config.slos().count(), 5);
    let services: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(services, vec!["web-shop", "web-availability"]);
}

const MULTI: &str = r#"apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
  displayName: Checkout
spec:
  description: The checkout service
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: Prometheus
  connectionDetails:
    url: http://prometheus:9090
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m]))
    total:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(rate(http_requests_total{job="checkout"}[5m]))
---
apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: oncall
spec:
  target: pagerduty
---
apiVersion: openslo/v1
kind: AlertCondition
metadata:
  name: fast-burn
spec:
  severity: page
  condition:
    kind: burnrate
    op: gte
    threshold: 14.4
    lookbackWindow: 1h
    alertAfter: 5m
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: page-on-burn
spec:
  alertWhenBreaching: true
  conditions:
    - conditionRef: fast-burn
  notificationTargets:
    - targetRef: oncall
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2024-01-01T00:00:00Z
        timeZone: Europe/Berlin
  budgetingMethod: Occurrences
  objectives:
    - targetPercent: 99.9
  alertPolicies:
    - alertPolicyRef: page-on-burn
    - kind: AlertPolicy
      metadata:
        name: ticket
      spec:
        conditions:
          - kind: AlertCondition
            metadata:
              name: slow-burn
            spec:
              severity: ticket
              condition: { kind: burnrate, op: gte, threshold: 1, lookbackWindow: 3d }
"#;

#[test]
fn references_resolve_and_non_slo_kinds_are_kept() {
    let config = load("openslo.yaml", MULTI);
    assert_eq!(config.services.len(), 1);
    assert_eq!(
        config.services[0].description.as_deref(),
        Some("The checkout service")
    );
    let slo = config.slo("checkout/availability").unwrap();
    assert_eq!(slo.spec.objective, Objective::Target(0.999));
    assert!(matches!(
        slo.spec.window,
        Window::Calendar {
            unit: CalendarUnit::Month,
            ..
        }
    ));
    assert_eq!(slo.sli.source, SourceKind::Prometheus);
    match &slo.sli.query {
        SliQuery::Queries { total, good, bad } => {
            assert_eq!(
                total,
                r#"sum(rate(http_requests_total{job="checkout"}[5m]))"#
            );
            assert!(good.is_none());
            assert!(bad.as_deref().unwrap().contains("5.."));
        }
        other => panic!("expected queries, got {other:?}"),
    }
    assert_eq!(
        slo.alert_policies,
        vec!["page-on-burn".to_string(), "ticket".to_string()]
    );
    assert_eq!(config.data_sources.len(), 1);
    assert_eq!(config.data_sources[0].source_type, "Prometheus");
    let policies: Vec<&str> = config
        .alert_policies
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(policies, vec!["page-on-burn", "ticket"]);
    assert_eq!(
        config.alert_policies[0].conditions,
        vec!["fast-burn".to_string()]
    );
    assert_eq!(
        config.alert_policies[0].notification_targets,
        vec!["oncall".to_string()]
    );
    let conditions: Vec<(&str, f64, i64)> = config
        .alert_conditions
        .iter()
        .map(|c| (c.name.as_str(), c.threshold, c.lookback_window))
        .collect();
    assert_eq!(
        conditions,
        vec![("fast-burn", 14.4, 3600), ("slow-burn", 1.0, 3 * 86_400)]
    );
    assert_eq!(config.alert_conditions[0].alert_after, Some(300));
    assert_eq!(config.notification_targets[0].target, "pagerduty");
}

#[test]
fn native_and_openslo_mix_across_files() {
    let native = "apiVersion: nines/v1\nservices:\n  - name: checkout\n    slos:\n      - name: latency\n        sli: { kind: latency, source: access_log, good: { latency: \"<=300ms\" } }\n        objective: 99\n        window: 28d\n";
    let dir = std::env::temp_dir().join(format!("spec-mix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a-native.yaml"), native).unwrap();
    std::fs::write(
        dir.join("b-openslo.yaml"),
        MULTI.replace(
            "kind: Service\nmetadata:\n  name: checkout",
            "kind: Service\nmetadata:\n  name: other",
        ),
    )
    .unwrap();
    let config = spec::load_files(std::slice::from_ref(&dir)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let keys: Vec<String> = config.slos().map(|s| s.spec.key()).collect();
    assert_eq!(keys, vec!["checkout/latency", "checkout/availability"]);
    assert_eq!(config.services.len(), 2);
}
