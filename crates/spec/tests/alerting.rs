//! Alerting policies: the native `alerting:` block, the default policy, OpenSLO burn-rate
//! conditions, and the PromQL checks of query SLIs.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use slo::alerting::{AlertPolicy, AlertTier, Severity, Strategy};
use spec::{Config, SliQuery};

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

fn assert_lines(actual: &[String], expected: &str) {
    let expected: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    assert_eq!(actual, expected, "\nactual:\n{}\n", actual.join("\n"));
}

fn policy<'c>(config: &'c Config, key: &str) -> Option<&'c AlertPolicy> {
    config.slo(key).unwrap().alert_policy.as_ref()
}

fn tier(severity: Severity, long: i64, short: Option<i64>, burn: f64, hold: i64) -> AlertTier {
    AlertTier {
        severity,
        long_window: long,
        short_window: short,
        burn_rate: burn,
        for_seconds: hold,
    }
}

/// (long, short, burn) of every tier, burn rounded to 1e-9.
fn burns(policy: &AlertPolicy) -> Vec<(i64, Option<i64>, f64)> {
    policy
        .tiers()
        .map(|(_, t)| {
            (
                t.long_window,
                t.short_window,
                (t.burn_rate * 1e9).round() / 1e9,
            )
        })
        .collect()
}

const SLI: &str = r#"{ kind: availability, source: access_log, good: { status: "<500" } }"#;

fn one_slo(objective: &str, window: &str, alerting: &str) -> String {
    format!(
        "apiVersion: nines/v1\nservices:\n  - name: s\n    slos:\n      - name: x\n        sli: {SLI}\n        objective: {objective}\n        window: {window}\n{alerting}"
    )
}

const ISSUE: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli: { kind: availability, source: access_log, good: { status: "<500" } }
        objective: 99.9
        window: 30d
        alerting:
          conditions:
            - { strategy: threshold,        window: 10m, severity: page }                   # error rate >= 1 - SLO
            - { strategy: long_window,      window: 36h, severity: ticket }
            - { strategy: duration,         window: 1m, for: 1h, severity: page }
            - { strategy: burn_rate,        window: 1h, burn_rate: 36, severity: page }
            - { strategy: multi_burn_rate,  tiers: [{ window: 1h, burn_rate: 14.4, severity: page }, { window: 6h, burn_rate: 6, severity: page }, { window: 3d, burn_rate: 1, severity: ticket }] }
            - { strategy: multiwindow,      tiers: [{ long: 1h, short: 5m, burn_rate: 14.4, severity: page }] }
"#;

#[test]
fn the_issue_example_loads_to_exact_tiers() {
    let config = load(ISSUE);
    let policy = policy(&config, "checkout/availability").unwrap();
    assert_eq!(policy.name, "custom");
    assert!(policy.inhibit_lower_tiers);
    let strategies: Vec<Strategy> = policy.conditions.iter().map(|c| c.strategy).collect();
    assert_eq!(strategies, Strategy::ALL.to_vec());
    let tiers: Vec<Vec<AlertTier>> = policy.conditions.iter().map(|c| c.tiers.clone()).collect();
    use Severity::{Page, Ticket};
    assert_eq!(
        tiers,
        vec![
            vec![tier(Page, 600, None, 1.0, 0)],
            vec![tier(Ticket, 36 * 3600, None, 1.0, 0)],
            vec![tier(Page, 60, None, 1.0, 3600)],
            vec![tier(Page, 3600, None, 36.0, 0)],
            vec![
                tier(Page, 3600, None, 14.4, 0),
                tier(Page, 6 * 3600, None, 6.0, 0),
                tier(Ticket, 3 * 86_400, None, 1.0, 0),
            ],
            vec![tier(Page, 3600, Some(300), 14.4, 0)],
        ]
    );
}

#[test]
fn the_default_policy_scales_to_the_window() {
    let config = load(&format!(
        "apiVersion: nines/v1\nservices:\n  - name: s\n    slos:\n      - name: a\n        sli: {SLI}\n        objective: 99.9\n        window: 30d\n      - name: b\n        sli: {SLI}\n        objective: 99.9\n        window: 28d\n      - name: c\n        sli: {SLI}\n        objective: 99.9\n        window: {{ calendar: month }}\n        alerting: {{ policy: multiwindow }}\n      - name: d\n        sli: {SLI}\n        objective: 99.9\n        window: 30d\n        alerting: {{ policy: none }}\n      - name: e\n        sli: {SLI}\n        objective: 99.9\n        window: 30d\n        alerting: {{ inhibit_lower_tiers: false }}\n"
    ));
    let a = policy(&config, "s/a").unwrap();
    assert_eq!(*a, AlertPolicy::default_multiwindow(30 * 86_400));
    assert_eq!(a.name, "multiwindow");
    assert_eq!(
        burns(a),
        vec![
            (3600, Some(300), 14.4),
            (6 * 3600, Some(1800), 6.0),
            (86_400, Some(7200), 3.0),
            (3 * 86_400, Some(6 * 3600), 1.0),
        ]
    );
    let severities: Vec<Severity> = a.tiers().map(|(_, t)| t.severity).collect();
    use Severity::{Page, Ticket};
    assert_eq!(severities, vec![Page, Page, Ticket, Ticket]);
    let b = policy(&config, "s/b").unwrap();
    assert_eq!(
        burns(b),
        vec![
            (3600, Some(300), 13.44),
            (6 * 3600, Some(1800), 5.6),
            (86_400, Some(7200), 2.8),
            (3 * 86_400, Some(6 * 3600), 0.933_333_333),
        ]
    );
    // a calendar month scales like 30 days
    assert_eq!(
        policy(&config, "s/c"),
        Some(&AlertPolicy::default_multiwindow(30 * 86_400))
    );
    assert_eq!(policy(&config, "s/d"), None);
    let e = policy(&config, "s/e").unwrap();
    assert!(!e.inhibit_lower_tiers);
    assert_eq!(burns(e), burns(a));
}

#[test]
fn budget_consumed_converts_to_burn_rates() {
    let config = load(&one_slo(
        "99.9",
        "30d",
        "        alerting:\n          conditions:\n            - { strategy: burn_rate, window: 1h, budget: 2% }\n            - { strategy: burn_rate, window: 1h, budget: 0.02, severity: ticket, for: 5m }\n            - { strategy: multi_burn_rate, tiers: [{ window: 6h, budget: 5% }, { window: 3d, budget: 10%, severity: ticket }] }\n            - { strategy: multiwindow, tiers: [{ long: 1h, budget: 2% }, { long: 1d, short: 1h, budget: 10%, for: 0 }] }\n",
    ));
    let p = policy(&config, "s/x").unwrap();
    assert_eq!(p.name, "custom");
    assert_eq!(
        burns(p),
        vec![
            (3600, None, 14.4),
            (3600, None, 14.4),
            (6 * 3600, None, 6.0),
            (3 * 86_400, None, 1.0),
            // `short` defaults to long / 12
            (3600, Some(300), 14.4),
            (86_400, Some(3600), 3.0),
        ]
    );
    let second = &p.conditions[1].tiers[0];
    assert_eq!(
        (second.severity, second.for_seconds),
        (Severity::Ticket, 300)
    );

    // one condition: the policy is named after its strategy
    let config = load(&one_slo(
        "99.9",
        "28d",
        "        alerting: { conditions: [{ strategy: burn_rate, window: 1h, budget: 2% }] }\n",
    ));
    let p = policy(&config, "s/x").unwrap();
    assert_eq!(p.name, "burn_rate");
    assert_eq!(burns(p), vec![(3600, None, 13.44)]);
}

#[test]
fn the_top_level_policy_is_the_default_of_the_whole_config() {
    let dir = std::env::temp_dir().join(format!("spec-alerting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        one_slo("99.9", "30d", "      - name: own\n        sli: { kind: availability, source: access_log, good: { status: \"<500\" } }\n        objective: 99\n        window: 30d\n        alerting: { conditions: [{ strategy: threshold, window: 10m }] }\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "apiVersion: nines/v1\nalerting:\n  inhibit_lower_tiers: false\n  conditions:\n    - { strategy: multi_burn_rate, tiers: [{ window: 1h, budget: 2% }, { window: 3d, budget: 10%, severity: ticket }] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.yaml"),
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: { name: web }\nspec:\n  service: s\n  indicator:\n    metadata: { name: i }\n    spec:\n      ratioMetric:\n        good: { metricSource: { type: Prometheus, spec: { query: good } } }\n        total: { metricSource: { type: Prometheus, spec: { query: total } } }\n  timeWindow: [{ duration: 28d, isRolling: true }]\n  budgetingMethod: Occurrences\n  objectives: [{ target: 0.999 }]\n",
    )
    .unwrap();
    let config = spec::load_files(std::slice::from_ref(&dir)).unwrap();

    let inherited = policy(&config, "s/x").unwrap();
    assert_eq!(inherited.name, "multi_burn_rate");
    assert!(!inherited.inhibit_lower_tiers);
    assert_eq!(
        burns(inherited),
        vec![(3600, None, 14.4), (3 * 86_400, None, 1.0)]
    );
    // an OpenSLO SLO without alertPolicies inherits it too, scaled to its own window
    assert_eq!(
        burns(policy(&config, "s/web").unwrap()),
        vec![(3600, None, 13.44), (3 * 86_400, None, 0.933_333_333)]
    );
    // an SLO's own alerting replaces it
    let own = policy(&config, "s/own").unwrap();
    assert_eq!(own.name, "threshold");
    assert!(own.inhibit_lower_tiers);

    // written twice: an error at the second
    std::fs::write(
        dir.join("d.yaml"),
        "apiVersion: nines/v1\nalerting: { policy: none }\n",
    )
    .unwrap();
    let shown: Vec<String> = spec::load_files(std::slice::from_ref(&dir))
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let b = dir.join("b.yaml").display().to_string();
    let d = dir.join("d.yaml").display().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        shown,
        vec![format!(
            "{d}:2:11: alerting: duplicate top-level `alerting` (first defined at {b}:3:3): the default policy applies to the whole configuration, so write it once"
        )]
    );
}

#[test]
fn a_90_percent_slo_cannot_fire_the_1h_page() {
    // the default policy: reported at the objective
    assert_lines(
        &errors(&one_slo("90", "30d", "")),
        "nines.yaml:7:20: services[0].slos[0].objective: the default alerting policy (multiwindow) can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.39% of the budget; set `alerting:` on this SLO (lower burn rates, or `policy: none`)",
    );
    // the default policy named on the SLO: reported at `policy`
    assert_lines(
        &errors(&one_slo("90", "30d", "        alerting:\n          policy: multiwindow\n")),
        "nines.yaml:10:19: services[0].slos[0].alerting.policy: the multiwindow policy can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.39% of the budget",
    );
    // explicit tiers: reported at the burn rate or budget
    assert_lines(
        &errors(&one_slo(
            "90",
            "30d",
            "        alerting:\n          conditions:\n            - { strategy: multiwindow, tiers: [{ long: 1h, short: 5m, burn_rate: 14.4, severity: page }, { long: 6h, budget: 5% }] }\n            - { strategy: burn_rate, window: 1h, budget: 2% }\n",
        )),
        r#"
nines.yaml:11:82: services[0].slos[0].alerting.conditions[0].tiers[0].burn_rate: can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.39% of the budget
nines.yaml:12:58: services[0].slos[0].alerting.conditions[1].budget: can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.39% of the budget
"#,
    );
    // what does fire at 90%: the slower tiers, and `policy: none`
    load(&one_slo(
        "90",
        "30d",
        "        alerting: { conditions: [{ strategy: multiwindow, tiers: [{ long: 6h, budget: 5% }, { long: 3d, budget: 10%, severity: ticket }] }] }\n",
    ));
    load(&one_slo(
        "90",
        "30d",
        "        alerting: { policy: none }\n",
    ));
}

#[test]
fn every_alerting_mistake_is_reported_with_its_location() {
    let text = one_slo(
        "99.9",
        "30d",
        r#"        alerting:
          conditions:
            - { strategy: sometimes, window: 1h }
            - { window: 1h }
            - { strategy: burn_rate, burn_rate: 0 }
            - { strategy: burn_rate, window: 1h, burn_rate: 2, budget: 2% }
            - { strategy: multi_burn_rate, tiers: [{ window: 1h, budget: 0% }, { window: 1h, budget: 1.5 }, { window: 1h }] }
            - { strategy: multiwindow, tiers: [{ long: 1h, short: 1h, burn_rate: 14.4 }, { long: 6h, budget: 5%, for: -5m }] }
            - { strategy: threshold, window: 1h, burn_rate: 2, severity: urgent }
            - { strategy: duration, window: 1m }
            - { strategy: multiwindow, tiers: [] }
      - name: y
        sli: { kind: availability, source: access_log, good: { status: "<500" } }
        objective: 99.9
        window: 30d
        alerting: { policy: multiwindow, conditions: [{ strategy: threshold, window: 1h }] }
      - name: z
        sli: { kind: availability, source: access_log, good: { status: "<500" } }
        objective: 99.9
        window: 30d
        alerting: { policy: burn_rate, inhibit_lower_tiers: maybe }
      - name: w
        sli: { kind: availability, source: access_log, good: { status: "<500" } }
        objective: 99.9
        window: 30d
        alerting: { policy: custom }
"#,
    );
    assert_lines(
        &errors(&text),
        r#"
nines.yaml:11:27: services[0].slos[0].alerting.conditions[0].strategy: unknown strategy "sometimes", expected one of `threshold`, `long_window`, `duration`, `burn_rate`, `multi_burn_rate`, `multiwindow`
nines.yaml:12:15: services[0].slos[0].alerting.conditions[1]: missing field `strategy` (one of `threshold`, `long_window`, `duration`, `burn_rate`, `multi_burn_rate`, `multiwindow`)
nines.yaml:13:15: services[0].slos[0].alerting.conditions[2]: missing field `window`
nines.yaml:13:49: services[0].slos[0].alerting.conditions[2].burn_rate: must be above 0, got 0
nines.yaml:14:72: services[0].slos[0].alerting.conditions[3].budget: set `burn_rate` or `budget`, not both
nines.yaml:15:74: services[0].slos[0].alerting.conditions[4].tiers[0].budget: must be above 0% and at most 100% of the error budget (0 < ratio <= 1), got 0%
nines.yaml:15:102: services[0].slos[0].alerting.conditions[4].tiers[1].budget: must be above 0% and at most 100% of the error budget (0 < ratio <= 1), got 1.5
nines.yaml:15:109: services[0].slos[0].alerting.conditions[4].tiers[2]: missing field `burn_rate` (or `budget`)
nines.yaml:16:67: services[0].slos[0].alerting.conditions[5].tiers[0].short: must be shorter than `long` (1h), got 1h
nines.yaml:16:119: services[0].slos[0].alerting.conditions[5].tiers[1].for: must not be negative, got -5m
nines.yaml:17:50: services[0].slos[0].alerting.conditions[6].burn_rate: unknown field `burn_rate`, expected one of `strategy`, `window`, `for`, `severity`
nines.yaml:17:74: services[0].slos[0].alerting.conditions[6].severity: unknown severity "urgent", expected one of `page`, `ticket`
nines.yaml:18:15: services[0].slos[0].alerting.conditions[7]: missing field `for` (the duration strategy holds the condition this long)
nines.yaml:19:47: services[0].slos[0].alerting.conditions[8].tiers: needs at least one tier
nines.yaml:24:54: services[0].slos[1].alerting.conditions: set `policy: custom` (or no `policy`) to use `conditions`; `policy: multiwindow` is the default policy
nines.yaml:29:29: services[0].slos[2].alerting.policy: unknown policy "burn_rate", expected one of `multiwindow`, `none`, `custom`; to alert with the burn_rate strategy, list it under `conditions` (e.g. conditions: [{ strategy: burn_rate, ... }])
nines.yaml:29:61: services[0].slos[2].alerting.inhibit_lower_tiers: expected a boolean (true or false), got a string
nines.yaml:34:19: services[0].slos[3].alerting: missing field `conditions` (required with `policy: custom`)
"#,
    );
}

#[test]
fn prometheus_queries_take_aliases_and_a_window_placeholder() {
    let config = load(
        r#"apiVersion: nines/v1
services:
  - name: api
    slos:
      - name: errors
        sli:
          kind: availability
          source: prometheus
          total_query: sum(rate(http_requests_total{job="api"}[{{window}}]))
          error_query: sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))
        objective: 99.9
        window: 30d
      - name: fast
        sli:
          kind: latency
          source: prometheus
          total: sum(rate(http_request_duration_seconds_count[{{window}}]))
          good_query: sum(rate(http_request_duration_seconds_bucket{le="0.3"}[{{window}}]))
        objective: 99
        window: 30d
      - name: rw
        sli:
          kind: availability
          source: remote_write
          total: http_requests_total{job="checkout"}
          good: http_requests_total{job="checkout",code!~"5.."}
        objective: 99
        window: 30d
"#,
    );
    match &config.slo("api/errors").unwrap().sli.query {
        SliQuery::Queries { total, good, bad } => {
            assert_eq!(
                total,
                r#"sum(rate(http_requests_total{job="api"}[{{window}}]))"#
            );
            assert_eq!(good, &None);
            assert_eq!(
                bad.as_deref(),
                Some(r#"sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))"#)
            );
        }
        other => panic!("expected queries, got {other:?}"),
    }
    assert!(matches!(
        &config.slo("api/fast").unwrap().sli.query,
        SliQuery::Queries { good: Some(g), bad: None, .. } if g.contains("le=\"0.3\"")
    ));
    assert_eq!(spec::WINDOW_PLACEHOLDER, "{{window}}");
}

#[test]
fn bad_promql_is_reported_at_the_query() {
    let text = r#"apiVersion: nines/v1
services:
  - name: api
    slos:
      - name: errors
        sli:
          kind: availability
          source: prometheus
          total_query: sum(rate(http_requests_total{job="api"}[{{window}}])
          error_query: 'rate(x[{{ window }}])'
        objective: 99.9
        window: 30d
      - name: both
        sli: { kind: availability, source: prometheus, total: up, total_query: up, good: up }
        objective: 99.9
        window: 30d
      - name: rw
        sli:
          kind: availability
          source: remote_write
          total: sum(rate(http_requests_total[5m]))
          good_query: up
          good: http_requests_total{code=~"2.."
        objective: 99
        window: 30d
"#;
    assert_lines(
        &errors(text),
        r#"
nines.yaml:9:24: services[0].slos[0].sli.total_query: invalid PromQL: unclosed left parenthesis
nines.yaml:10:24: services[0].slos[0].sli.error_query: unknown placeholder `{{ window }}`: only `{{window}}` is replaced
nines.yaml:14:80: services[0].slos[1].sli.total_query: `total_query` and `total` are the same field; set one of them
nines.yaml:21:18: services[0].slos[2].sli.total: expected a metric selector such as http_requests_total{job="api"}, got an aggregation
nines.yaml:22:23: services[0].slos[2].sli.good_query: `good_query` is only for `source: prometheus`; use `good`
nines.yaml:23:17: services[0].slos[2].sli.good: invalid PromQL: unexpected end of input inside braces
"#,
    );
}

const OPENSLO: &str = r#"apiVersion: openslo/v1
kind: AlertCondition
metadata: { name: fast-burn }
spec:
  severity: critical
  condition: { kind: burnrate, op: gte, threshold: 14.4, lookbackWindow: 1h, alertAfter: 5m }
---
apiVersion: openslo/v1
kind: AlertCondition
metadata: { name: slow-burn }
spec:
  severity: low
  condition: { kind: burnrate, op: gt, threshold: 1, lookbackWindow: 3d }
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: { name: burn }
spec:
  conditions:
    - conditionRef: fast-burn
    - conditionRef: slow-burn
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: availability }
spec:
  service: web
  indicator:
    metadata: { name: errors }
    spec:
      ratioMetric:
        bad: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(http_requests_total{code=~"5.."}[{{window}}]))' } } }
        total: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(http_requests_total[{{window}}]))' } } }
  timeWindow: [{ duration: 28d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
  alertPolicies:
    - alertPolicyRef: burn
    - kind: AlertPolicy
      metadata: { name: inline }
      spec:
        conditions:
          - kind: AlertCondition
            metadata: { name: page-high }
            spec:
              severity: High
              condition: { kind: burnrate, op: gte, threshold: 6, lookbackWindow: 6h }
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: plain }
spec:
  service: web
  indicatorRef: errors-doc
  timeWindow: [{ duration: 28d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
---
apiVersion: openslo/v1
kind: SLI
metadata: { name: errors-doc }
spec:
  ratioMetric:
    good: { metricSource: { type: Prometheus, spec: { query: good } } }
    total: { metricSource: { type: Prometheus, spec: { query: total } } }
"#;

#[test]
fn openslo_burn_rate_conditions_map_onto_the_slo() {
    let config = match spec::load_str("openslo.yaml", OPENSLO) {
        Ok(c) => c,
        Err(d) => panic!("{d:#?}"),
    };
    let p = policy(&config, "web/availability").unwrap();
    assert_eq!(p.name, "burn+inline");
    assert!(p.inhibit_lower_tiers);
    assert!(p
        .conditions
        .iter()
        .all(|c| c.strategy == Strategy::BurnRate));
    let tiers: Vec<AlertTier> = p.tiers().map(|(_, t)| *t).collect();
    use Severity::{Page, Ticket};
    assert_eq!(
        tiers,
        vec![
            tier(Page, 3600, None, 14.4, 300),
            tier(Ticket, 3 * 86_400, None, 1.0, 0),
            tier(Page, 6 * 3600, None, 6.0, 0),
        ]
    );
    // no alertPolicies: the default multiwindow policy for its 28-day window
    assert_eq!(
        policy(&config, "web/plain"),
        Some(&AlertPolicy::default_multiwindow(28 * 86_400))
    );
}

#[test]
fn openslo_conditions_that_cannot_alert_are_reported_where_they_are() {
    let text = OPENSLO
        .replace("op: gte, threshold: 14.4", "op: lte, threshold: 14.4")
        .replace(
            "target: 0.999 }]\n  alertPolicies",
            "target: 0.9 }]\n  alertPolicies",
        )
        .replace("query: total", "query: 'sum(total'");
    let shown: Vec<String> = spec::load_str("openslo.yaml", &text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert_eq!(
        shown[0],
        "openslo.yaml:6:36: spec.condition.op: `lte` cannot alert on a burn rate: nines fires when the burn rate reaches the threshold; use `gte` (or `gt`)"
    );
    assert_eq!(
        shown[1],
        "openslo.yaml:6:52: spec.condition.threshold: AlertCondition `fast-burn` attached to SLO `web/availability` can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.49% of the budget"
    );
    assert!(
        shown[2].starts_with(
            "openslo.yaml:65:63: spec.ratioMetric.total.metricSource.spec.query: invalid PromQL: "
        ),
        "{}",
        shown[2]
    );
}
