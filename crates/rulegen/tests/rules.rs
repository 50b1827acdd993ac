//! The generated rule file for a 99.9%/30d SLO with the default policy, expression by
//! expression; the shipped example stays in sync; every input error is reported.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use rulegen::{prometheus_rules, rule_file, Error, Rule, RuleFile, RuleSli};
use slo::alerting::{AlertCondition, AlertPolicy, AlertTier, Severity, Strategy};

const F: &str = r#"{service="api",slo="availability"}"#;

fn find<'a>(file: &'a RuleFile, group: &str, record: &str) -> &'a Rule {
    let g = file
        .groups
        .iter()
        .find(|g| g.name == group)
        .unwrap_or_else(|| panic!("no group {group}"));
    g.rules
        .iter()
        .find(|r| r.record.as_deref() == Some(record))
        .unwrap_or_else(|| panic!("no rule {record} in {group}"))
}

fn parsed() -> RuleFile {
    let yaml = prometheus_rules(&[common::api_availability()]).unwrap();
    serde_saphyr::from_str(&yaml).unwrap()
}

#[test]
fn output_parses_back_to_the_same_rules() {
    let slos = [common::api_availability(), common::checkout_latency()];
    let yaml = prometheus_rules(&slos).unwrap();
    let back: RuleFile = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back, rule_file(&slos).unwrap());
}

#[test]
fn three_groups_per_slo_with_nines_prefixes() {
    let file = parsed();
    let names: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "nines-slo-sli-recordings-api-availability",
            "nines-slo-meta-recordings-api-availability",
            "nines-slo-alerts-api-availability",
        ]
    );
}

#[test]
fn sli_recordings_for_every_window_and_the_period() {
    let file = parsed();
    let sli = &file.groups[0];
    let records: Vec<&str> = sli
        .rules
        .iter()
        .filter_map(|r| r.record.as_deref())
        .collect();
    assert_eq!(
        records,
        ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
            .map(|w| format!("slo:sli_error:ratio_rate{w}"))
    );
    let labels = BTreeMap::from([
        ("service".to_string(), "api".to_string()),
        ("slo".to_string(), "availability".to_string()),
    ]);
    for rule in &sli.rules {
        assert_eq!(rule.labels, labels, "{:?}", rule.record);
        assert!(rule.alert.is_none() && rule.for_.is_none() && rule.annotations.is_empty());
    }
    let one_hour = find(&file, &sli.name, "slo:sli_error:ratio_rate1h");
    assert_eq!(
        one_hour.expr,
        "(\n  sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[1h]))\n)\n/\n(\n  sum(rate(http_requests_total{job=\"api\"}[1h]))\n)"
    );
    let period = find(&file, &sli.name, "slo:sli_error:ratio_rate30d");
    assert_eq!(
        period.expr,
        format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{F}[30d])\n/ ignoring (__name__)\ncount_over_time(slo:sli_error:ratio_rate5m{F}[30d])"
        )
    );
}

#[test]
fn metadata_recordings_like_sloth() {
    let file = parsed();
    let g = "nines-slo-meta-recordings-api-availability";
    let expr = |record: &str| find(&file, g, record).expr.clone();
    assert_eq!(expr("slo:objective:ratio"), "vector(0.999)");
    assert_eq!(expr("slo:error_budget:ratio"), "vector(0.001)");
    assert_eq!(expr("slo:time_period:days"), "vector(30)");
    assert_eq!(
        expr("slo:current_burn_rate:ratio"),
        format!("slo:sli_error:ratio_rate5m{F}\n/ on (service, slo) group_left\nslo:error_budget:ratio{F}")
    );
    assert_eq!(
        expr("slo:period_burn_rate:ratio"),
        format!("slo:sli_error:ratio_rate30d{F}\n/ on (service, slo) group_left\nslo:error_budget:ratio{F}")
    );
    assert_eq!(
        expr("slo:period_error_budget_remaining:ratio"),
        format!("1 - slo:period_burn_rate:ratio{F}")
    );
    let info = find(&file, g, "nines_slo_info");
    assert_eq!(info.expr, "vector(1)");
    assert_eq!(
        info.labels.get("objective").map(String::as_str),
        Some("99.9")
    );
}

fn branch(long: &str, short: &str, burn: &str) -> String {
    format!(
        "label_replace(\n  label_replace(\n    (slo:sli_error:ratio_rate{long}{F} > ({burn} * 0.001))\n    and\n    (slo:sli_error:ratio_rate{short}{F} > ({burn} * 0.001)),\n    \"long_window\", \"{long}\", \"\", \"\"\n  ),\n  \"short_window\", \"{short}\", \"\", \"\"\n)"
    )
}

#[test]
fn one_page_and_one_ticket_alert_each_an_or_of_two_multiwindow_tiers() {
    let file = parsed();
    let alerts = &file.groups[2].rules;
    assert_eq!(alerts.len(), 2);
    let (page, ticket) = (&alerts[0], &alerts[1]);
    for (rule, severity) in [(page, "page"), (ticket, "ticket")] {
        assert_eq!(rule.alert.as_deref(), Some("SLOErrorBudgetBurn"));
        assert!(rule.record.is_none());
        assert_eq!(rule.for_, None, "the default tiers fire at once");
        assert_eq!(
            rule.labels,
            BTreeMap::from([
                ("service".to_string(), "api".to_string()),
                ("severity".to_string(), severity.to_string()),
                ("slo".to_string(), "availability".to_string()),
            ])
        );
        assert!(rule.annotations["summary"].contains("{{ $labels.service }}/{{ $labels.slo }}"));
        assert!(rule.annotations["description"].contains("99.9% over 30d"));
    }
    assert_eq!(
        page.expr,
        format!(
            "{}\nor\n{}",
            branch("1h", "5m", "14.4"),
            branch("6h", "30m", "6")
        )
    );
    assert_eq!(
        ticket.expr,
        format!(
            "{}\nor\n{}",
            branch("1d", "2h", "3"),
            branch("3d", "6h", "1")
        )
    );
    assert!(page.annotations["description"]
        .ends_with("page tiers: 14.4x over 1h and 5m; 6x over 6h and 30m."));
}

#[test]
fn yaml_quotes_templates_and_braces() {
    let yaml = prometheus_rules(&[common::api_availability(), common::checkout_latency()]).unwrap();
    assert!(yaml.contains("  rules:\n  - record: slo:sli_error:ratio_rate5m\n    expr: |-\n"));
    assert!(yaml.contains(
        "      summary: \"{{ $labels.service }}/{{ $labels.slo }}: the error budget is burning too fast\"\n"
    ));
    assert!(yaml.contains("      team: \"payments: \\\"core\\\" {eu}\"\n"));
    assert!(yaml.contains("      tier: \"1\"\n"));
    assert!(yaml.contains("    for: 2m\n"));
}

#[test]
fn custom_policy_windows_get_their_own_recordings_and_single_tier_alerts_static_windows() {
    let file = rule_file(&[common::checkout_latency()]).unwrap();
    let sli = &file.groups[0];
    let records: Vec<&str> = sli
        .rules
        .iter()
        .filter_map(|r| r.record.as_deref())
        .collect();
    assert_eq!(
        records,
        ["5m", "15m", "30m", "1h", "1h30m", "2h", "6h", "1d", "3d", "4w"]
            .map(|w| format!("slo:sli_error:ratio_rate{w}"))
    );
    let fifteen = find(&file, &sli.name, "slo:sli_error:ratio_rate15m");
    assert!(fifteen.expr.starts_with("1 - (\n  (\n    sum(rate(http_request_duration_seconds_bucket{job=\"checkout\",le=\"0.3\"}[15m]))"));
    assert_eq!(fifteen.labels["team"], "payments: \"core\" {eu}");

    let alerts = &file.groups[2].rules;
    type Shape<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let summary: Vec<Shape> = alerts
        .iter()
        .map(|r| {
            (
                r.labels["severity"].as_str(),
                r.labels.get("long_window").map(String::as_str),
                r.labels.get("short_window").map(String::as_str),
                r.for_.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("page", Some("1h"), Some("5m"), None),
            ("page", Some("1h30m"), Some("15m"), Some("2m")),
            ("ticket", Some("1d"), None, Some("10m")),
        ]
    );
    assert_eq!(
        alerts[2].expr,
        r#"(slo:sli_error:ratio_rate1d{service="checkout",slo="latency"} > (2.8 * 0.01))"#
    );
    assert_eq!(
        alerts[0].expr,
        "(slo:sli_error:ratio_rate1h{service=\"checkout\",slo=\"latency\"} > (13.44 * 0.01))\nand\n(slo:sli_error:ratio_rate5m{service=\"checkout\",slo=\"latency\"} > (13.44 * 0.01))"
    );
}

#[test]
fn period_that_is_a_recorded_window_uses_the_raw_queries() {
    let mut slo = common::api_availability();
    slo.period_seconds = 86_400;
    let file = rule_file(&[slo]).unwrap();
    let day: Vec<&Rule> = file.groups[0]
        .rules
        .iter()
        .filter(|r| r.record.as_deref() == Some("slo:sli_error:ratio_rate1d"))
        .collect();
    assert_eq!(day.len(), 1);
    assert!(day[0].expr.contains("[1d]"));
}

#[test]
fn default_policy_scales_with_the_period() {
    let mut slo = common::api_availability();
    slo.period_seconds = 28 * 86_400;
    let file = rule_file(&[slo]).unwrap();
    let page = &file.groups[2].rules[0].expr;
    assert!(page.contains("> (13.44 * 0.001)"), "{page}");
    assert!(page.contains("> (5.6 * 0.001)"), "{page}");
    let ticket = &file.groups[2].rules[1].expr;
    assert!(ticket.contains("> (2.8 * 0.001)"), "{ticket}");
    assert!(ticket.contains("> (0.933333333333 * 0.001)"), "{ticket}");
    assert!(file.groups[0]
        .rules
        .iter()
        .any(|r| r.record.as_deref() == Some("slo:sli_error:ratio_rate4w")));
}

#[test]
fn label_values_are_escaped_in_selectors() {
    let mut slo = common::api_availability();
    slo.service = "we\"ird\\svc".into();
    let file = rule_file(&[slo]).unwrap();
    let meta = &file.groups[1].rules[5].expr;
    assert_eq!(
        meta,
        r#"1 - slo:period_burn_rate:ratio{service="we\"ird\\svc",slo="availability"}"#
    );
    assert_eq!(file.groups[0].rules[0].labels["service"], "we\"ird\\svc");
}

#[test]
fn examples_rule_file_is_what_rulegen_generates() {
    let path = common::examples_dir().join("api-availability.rules.yml");
    let now = prometheus_rules(&[common::api_availability()]).unwrap();
    if std::env::var_os("NINES_BLESS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap();
    assert!(
        shipped == now,
        "{} is stale: rerun with NINES_BLESS=1 and review the diff",
        path.display()
    );
}

fn err(f: impl FnOnce(&mut rulegen::RuleSlo)) -> Error {
    let mut slo = common::api_availability();
    f(&mut slo);
    rule_file(&[slo]).unwrap_err()
}

fn tier(severity: Severity, long: i64, short: Option<i64>, burn: f64) -> AlertTier {
    AlertTier {
        severity,
        long_window: long,
        short_window: short,
        burn_rate: burn,
        for_seconds: 0,
    }
}

fn policy(tiers: Vec<AlertTier>) -> Option<AlertPolicy> {
    Some(AlertPolicy {
        name: "custom".into(),
        conditions: vec![AlertCondition {
            strategy: Strategy::Multiwindow,
            tiers,
        }],
        inhibit_lower_tiers: false,
    })
}

#[test]
fn input_errors() {
    let cases: Vec<(Error, &str)> = vec![
        (err(|s| s.service = " ".into()), "slo #0: service is empty"),
        (err(|s| s.slo.clear()), "slo #0: slo is empty"),
        (
            err(|s| s.objective = 1.0),
            "slo api-availability: objective 1 is not a ratio strictly between 0 and 1",
        ),
        (
            err(|s| s.objective = 99.9),
            "slo api-availability: objective 99.9 is not a ratio strictly between 0 and 1",
        ),
        (
            err(|s| s.objective = f64::NAN),
            "slo api-availability: objective NaN is not a ratio strictly between 0 and 1",
        ),
        (err(|s| s.period_seconds = 0), "slo api-availability: period of 0s is not positive"),
        (
            err(|s| {
                s.sli = RuleSli::GoodRatio {
                    good_query: "sum(rate(ok[5m]))".into(),
                    total_query: "sum(rate(all[{{window}}]))".into(),
                }
            }),
            "slo api-availability: good_query has no {{window}} placeholder",
        ),
        (
            err(|s| {
                s.sli = RuleSli::ErrorRatio {
                    error_query: "sum(rate(bad[{{window}}]))".into(),
                    total_query: "sum(rate(all[{{.window}}]))".into(),
                }
            }),
            "slo api-availability: total_query has an unknown placeholder `{{.window}}` (only {{window}} is known)",
        ),
        (
            err(|s| {
                s.labels.insert("team-name".into(), "x".into());
            }),
            "slo api-availability: `team-name` is not a valid prometheus label name",
        ),
        (
            err(|s| {
                s.labels.insert("severity".into(), "x".into());
            }),
            "slo api-availability: label `severity` is set by the generator and cannot be an extra label",
        ),
        (
            err(|s| s.policy = policy(vec![tier(Severity::Page, 0, None, 1.0)])),
            "slo api-availability: alert tier 1: long window of 0s is not positive",
        ),
        (
            err(|s| s.policy = policy(vec![tier(Severity::Page, 3600, Some(-1), 1.0)])),
            "slo api-availability: alert tier 1: short window of -1s is not positive",
        ),
        (
            err(|s| s.policy = policy(vec![tier(Severity::Page, 3600, None, f64::INFINITY)])),
            "slo api-availability: alert tier 1: burn rate inf is not a positive number",
        ),
        (
            err(|s| {
                s.policy = policy(vec![
                    tier(Severity::Page, 3600, Some(300), 14.4),
                    tier(Severity::Page, 3600, Some(300), 10.0),
                ])
            }),
            "slo api-availability: alert tier 2: has the severity and windows of tier 1 (keep the one with the lower burn rate)",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
    let twice = rule_file(&[common::api_availability(), common::api_availability()]).unwrap_err();
    assert_eq!(
        twice.to_string(),
        "slo api-availability: defined twice (rule group names must be unique)"
    );
}

#[test]
fn a_policy_without_tiers_has_no_alert_group() {
    let mut slo = common::api_availability();
    slo.policy = policy(vec![]);
    let file = rule_file(&[slo]).unwrap();
    assert_eq!(file.groups.len(), 2);
}
