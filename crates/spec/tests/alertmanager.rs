//! The native top-level `alertmanager:` key: Alertmanager's configuration, validated by the
//! `notify` crate, each problem at the `file:line:col` of the node its field path names.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use std::path::PathBuf;

const CONFIG: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli: { kind: availability, source: events, good: { status: "<500" } }
        objective: 99.9
        window: 30d
alertmanager:
  global:
    resolve_timeout: 10m
  route:
    receiver: team
    group_by: [alertname, service]
    routes:
      - matchers: ['severity="page"']
        receiver: pager
        continue: true
      - match: { service: checkout }
        receiver: team
        routes:
          - matchers: ['env=~"prod|staging"']
            receiver: forward
  receivers:
    - name: team
      webhook_configs:
        - url: http://hooks.example.com/team
    - name: pager
      pagerduty_configs:
        - routing_key: abc
    - name: forward
      alertmanager_configs:
        - url: http://alertmanager:9093
  nines:
    flap_detection: { max_flips: 6, window: 2h }
"#;

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

/// The SLO document of [`CONFIG`] with `alertmanager` replaced by `section`.
fn with_section(section: &str) -> String {
    let head = CONFIG.split("alertmanager:\n").next().unwrap();
    format!("{head}alertmanager:\n{section}")
}

#[test]
fn an_alertmanager_section_loads_next_to_the_slos() {
    let config = spec::load_str("nines.yaml", CONFIG).unwrap();
    assert_eq!(config.slos().count(), 1);
    let am = config.alertmanager.unwrap();
    let names: Vec<&str> = am.receivers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["team", "pager", "forward"]);
    assert_eq!(am.global.resolve_timeout.as_secs(), 600);
    assert_eq!(am.route.receiver, "team");
    assert_eq!(am.route.walk().len(), 4);
    assert_eq!(
        am.route.routes[0].matchers.to_string(),
        r#"{severity="page"}"#
    );
    assert!(am.route.routes[0].continue_matching);
    // A child route inherits `group_by`; the grandchild has its own receiver.
    assert_eq!(am.route.routes[1].group_by, am.route.group_by);
    assert_ne!(am.route.group_by, notify::route::GroupBy::default());
    assert_eq!(am.route.routes[1].routes[0].receiver, "forward");
    assert_eq!(
        am.receivers[2].alertmanager_configs[0].url,
        "http://alertmanager:9093"
    );
    assert_eq!(am.nines.flap.max_flips, 6);
    assert_eq!(am.nines.flap.window.as_secs(), 7200);
    assert!(am.nines.resolve_immediately);
}

#[test]
fn a_configuration_without_the_key_has_no_routing() {
    let head = CONFIG.split("alertmanager:\n").next().unwrap();
    let config = spec::load_str("nines.yaml", head).unwrap();
    assert!(config.alertmanager.is_none());
}

#[test]
fn the_key_may_be_a_document_of_its_own() {
    let section = CONFIG.split("alertmanager:\n").nth(1).unwrap();
    let text = format!("apiVersion: nines/v1\nalertmanager:\n{section}");
    let config = spec::load_str("routing.yaml", &text).unwrap();
    assert_eq!(config.services.len(), 0);
    assert_eq!(config.alertmanager.unwrap().receivers.len(), 3);
}

#[test]
fn a_route_naming_an_unknown_receiver() {
    let text = with_section(
        r#"  route:
    receiver: team
    routes:
      - receiver: team
      - receiver: nobody
  receivers:
    - name: team
"#,
    );
    assert_eq!(
        errors(&text),
        [r#"nines.yaml:14:19: alertmanager.route.routes[1].receiver: unknown receiver "nobody""#]
    );
}

#[test]
fn a_bad_matcher_string() {
    let text = with_section(
        r#"  route:
    receiver: team
    routes:
      - receiver: team
        matchers: ['severity="page"', 'oops']
  receivers: [{ name: team }]
"#,
    );
    assert_eq!(
        errors(&text),
        [
            r#"nines.yaml:14:39: alertmanager.route.routes[0].matchers[1]: invalid matcher "oops": expected one of =, !=, =~, !~ after the label name"#
        ]
    );
}

#[test]
fn an_unknown_key_inside_a_route() {
    let text = with_section(
        r#"  route:
    receiver: team
    routes:
      - receiver: team
        group_wiat: 10s
  receivers: [{ name: team }]
"#,
    );
    assert_eq!(
        errors(&text),
        ["nines.yaml:14:9: alertmanager.route.routes[0].group_wiat: unknown field"]
    );
}

#[test]
fn a_missing_required_field_points_at_the_nearest_existing_node() {
    let text = with_section(
        r#"  route:
    receiver: team
  receivers:
    - name: team
      webhook_configs:
        - send_resolved: false
    - webhook_configs: []
"#,
    );
    assert_eq!(
        errors(&text),
        [
            // the webhook config has no `url`: at the config's mapping
            "nines.yaml:15:11: alertmanager.receivers[0].webhook_configs[0].url: required",
            // the second receiver has no `name`: at its mapping
            "nines.yaml:16:7: alertmanager.receivers[1].name: required",
        ]
    );
    // The whole section missing its route: at the `alertmanager` key.
    let text = with_section("  receivers: [{ name: team }]\n");
    assert_eq!(
        errors(&text),
        ["nines.yaml:9:1: alertmanager.route: required"]
    );
}

#[test]
fn every_problem_at_once_in_position_order() {
    let text = with_section(
        r#"  route:
    receiver: team
    routes:
      - receiver: nobody
        matchers: ['oops']
        recevier: typo
  receivers: [{ name: team }, { name: team }]
  maintenance_windows: 3
"#,
    );
    assert_eq!(
        errors(&text),
        [
            r#"nines.yaml:13:19: alertmanager.route.routes[0].receiver: unknown receiver "nobody""#,
            r#"nines.yaml:14:20: alertmanager.route.routes[0].matchers[0]: invalid matcher "oops": expected one of =, !=, =~, !~ after the label name"#,
            "nines.yaml:15:9: alertmanager.route.routes[0].recevier: unknown field",
            r#"nines.yaml:16:39: alertmanager.receivers[1].name: duplicate receiver name "team""#,
            "nines.yaml:17:24: alertmanager.maintenance_windows: expected a list, found a number",
        ]
    );
}

#[test]
fn field_paths_with_dotted_keys_resolve_to_the_right_node() {
    // `match` keys are label names; a dotted one is invalid and must still be found.
    let text = with_section(
        r#"  route:
    receiver: team
    routes:
      - receiver: team
        match: { a: x, a.b: y }
  receivers: [{ name: team }]
"#,
    );
    assert_eq!(
        errors(&text),
        [r#"nines.yaml:14:29: alertmanager.route.routes[0].match.a.b: invalid label name "a.b""#]
    );
}

#[test]
fn a_complex_mapping_key_is_refused() {
    let text = with_section(
        "  route: { receiver: team }\n  receivers: [{ name: team }]\n  ? [a, b]\n  : x\n",
    );
    assert_eq!(
        errors(&text),
        ["nines.yaml:12:5: alertmanager: expected a string key, got a list"]
    );
}

#[test]
fn the_key_is_written_once_across_files() {
    let dir = std::env::temp_dir().join(format!("nines-spec-am-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let section = "alertmanager:\n  route: { receiver: a }\n  receivers: [{ name: a }]\n";
    let first = dir.join("a.yaml");
    let second = dir.join("b.yaml");
    std::fs::write(&first, format!("apiVersion: nines/v1\n{section}")).unwrap();
    std::fs::write(&second, format!("apiVersion: nines/v1\n\n{section}")).unwrap();
    let result = spec::load_files(&[PathBuf::from(&dir)]);
    std::fs::remove_dir_all(&dir).unwrap();
    let diags: Vec<String> = result
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let (a, b) = (first.display(), second.display());
    assert_eq!(
        diags,
        [format!(
            "{b}:3:1: alertmanager: duplicate top-level `alertmanager` (first defined at {a}:2:1): notification routing applies to the whole configuration, so write it once"
        )]
    );
}

#[test]
fn the_key_is_written_once_within_a_file_too() {
    let text = format!("{CONFIG}---\napiVersion: nines/v1\nalertmanager:\n  route: {{ receiver: a }}\n  receivers: [{{ name: a }}]\n");
    assert_eq!(
        errors(&text),
        ["nines.yaml:38:1: alertmanager: duplicate top-level `alertmanager` (first defined at nines.yaml:9:1): notification routing applies to the whole configuration, so write it once"]
    );
}

#[test]
fn a_duplicate_section_is_still_validated() {
    let text = format!("{CONFIG}---\napiVersion: nines/v1\nalertmanager:\n  route: {{ receiver: nobody }}\n  receivers: [{{ name: a }}]\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[1],
        r#"nines.yaml:39:22: alertmanager.route.receiver: unknown receiver "nobody""#
    );
}

#[test]
fn openslo_documents_cannot_carry_the_key() {
    let text = "apiVersion: openslo/v1\nkind: Service\nmetadata: { name: x }\nspec: {}\nalertmanager: {}\n";
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("nines.yaml:5:1: alertmanager: unknown field")),
        "{errs:?}"
    );
}

#[test]
fn a_go_template_fails_at_load_with_its_location() {
    let text = with_section(
        r#"  route: { receiver: team }
  receivers:
    - name: team
      slack_configs:
        - api_url: https://hooks.slack.com/services/T/B/X
          title: '{{ .CommonLabels.alertname }}'
"#,
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "nines.yaml:15:18: alertmanager.receivers[0].slack_configs[0].title: invalid template: "
        ),
        "{}",
        errs[0]
    );
}
