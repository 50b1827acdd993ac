//! The native top-level `incidents:` key: automatic declaration and the stakeholder
//! receiver, every problem at its `file:line:col` with its field path.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use std::path::PathBuf;

const SLOS: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli: { kind: availability, source: events, good: { status: "<500" } }
        objective: 99.9
        window: 30d
"#;

const ALERTMANAGER: &str = r#"alertmanager:
  route:
    receiver: team
  receivers:
    - name: team
      webhook_configs:
        - url: http://hooks.example.com/team
    - name: team-tickets
      webhook_configs:
        - url: http://hooks.example.com/tickets
"#;

/// The SLO document (lines 1-8) followed by `tail`, which starts on line 9.
fn config(tail: &str) -> String {
    format!("{SLOS}{tail}")
}

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

fn settings(text: &str) -> spec::IncidentSettings {
    match spec::load_str("nines.yaml", text) {
        Ok(config) => config.incidents,
        Err(diags) => panic!(
            "unexpected errors:\n{}",
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn labels(pairs: &[(&str, &str)]) -> notify::LabelSet {
    pairs.iter().copied().collect()
}

#[test]
fn without_the_key_nothing_is_declared_and_there_is_no_stakeholder_receiver() {
    let incidents = settings(SLOS);
    assert_eq!(incidents, spec::IncidentSettings::default());
    assert!(incidents.auto_declare.is_none());
    assert!(incidents.stakeholder_receiver.is_none());
    // An empty section is the same.
    assert_eq!(settings(&config("incidents:\n")), incidents);
    assert_eq!(settings(&config("incidents: {}\n")), incidents);
}

#[test]
fn auto_declare_defaults_to_paging_alerts_at_sev2() {
    let incidents = settings(&config("incidents:\n  auto_declare: {}\n"));
    let auto = incidents.auto_declare.unwrap();
    assert_eq!(auto.severity, 2);
    assert_eq!(auto.matchers.to_string(), r#"{severity="page"}"#);
    assert!(auto
        .matchers
        .matches(&labels(&[("alertname", "X"), ("severity", "page")])));
    assert!(!auto.matchers.matches(&labels(&[("severity", "ticket")])));
    assert!(incidents.stakeholder_receiver.is_none());
}

#[test]
fn auto_declare_reads_matchers_and_every_spelling_of_a_severity() {
    for (written, level) in [
        ("SEV1", 1),
        ("sev2", 2),
        ("Sev3", 3),
        ("4", 4),
        ("'SEV5'", 5),
    ] {
        let text = config(&format!(
            "incidents:\n  auto_declare:\n    matchers: ['severity=\"page\"', '{{service=~\"checkout|cart\", env!=\"dev\"}}']\n    severity: {written}\n"
        ));
        let auto = settings(&text).auto_declare.unwrap();
        assert_eq!(auto.severity, level, "{written}");
        assert_eq!(
            auto.matchers.to_string(),
            r#"{severity="page",service=~"checkout|cart",env!="dev"}"#
        );
        assert!(auto.matchers.matches(&labels(&[
            ("severity", "page"),
            ("service", "cart"),
            ("env", "prod"),
        ])));
        assert!(!auto.matchers.matches(&labels(&[
            ("severity", "page"),
            ("service", "cart"),
            ("env", "dev"),
        ])));
    }
}

#[test]
fn a_stakeholder_receiver_of_the_alertmanager_section_loads() {
    let text = config(&format!(
        "{ALERTMANAGER}incidents:\n  stakeholder_receiver: team-tickets\n"
    ));
    let incidents = settings(&text);
    assert_eq!(
        incidents.stakeholder_receiver.as_deref(),
        Some("team-tickets")
    );
    assert!(incidents.auto_declare.is_none());
    // The section may come before `alertmanager:`.
    let text = config(&format!(
        "incidents:\n  stakeholder_receiver: team\n{ALERTMANAGER}"
    ));
    assert_eq!(
        settings(&text).stakeholder_receiver.as_deref(),
        Some("team")
    );
}

#[test]
fn a_stakeholder_receiver_in_another_file_than_the_alertmanager_section_loads() {
    let dir = tempdir("receiver-across-files");
    std::fs::write(dir.join("a.yaml"), SLOS).unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "apiVersion: nines/v1\nincidents:\n  stakeholder_receiver: team-tickets\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.yaml"),
        format!("apiVersion: nines/v1\n{ALERTMANAGER}"),
    )
    .unwrap();
    let config = spec::load_files(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(
        config.incidents.stakeholder_receiver.as_deref(),
        Some("team-tickets")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_keys_are_reported_at_the_key() {
    let text = config(
        "incidents:\n  auto_declare:\n    matchers: ['severity=\"page\"']\n    sevrity: SEV1\n  stakeholders: team\n",
    );
    assert_eq!(
        errors(&text),
        [
            "nines.yaml:12:5: incidents.auto_declare.sevrity: unknown field `sevrity`, expected one of `matchers`, `severity`",
            "nines.yaml:13:3: incidents.stakeholders: unknown field `stakeholders`, expected one of `auto_declare`, `stakeholder_receiver`",
        ]
    );
}

#[test]
fn sections_of_the_wrong_type_are_reported() {
    assert_eq!(
        errors(&config("incidents: [auto_declare]\n")),
        ["nines.yaml:9:12: incidents: expected a mapping, got a list"]
    );
    assert_eq!(
        errors(&config("incidents:\n  auto_declare: true\n")),
        ["nines.yaml:10:17: incidents.auto_declare: expected a mapping, got a boolean"]
    );
    assert_eq!(
        errors(&config(
            "incidents:\n  auto_declare:\n    matchers: 'severity=\"page\"'\n"
        )),
        [
            r#"nines.yaml:11:15: incidents.auto_declare.matchers: expected a list of matcher strings such as 'severity="page"', got a string"#
        ]
    );
}

#[test]
fn a_bad_matcher_is_reported_at_its_string() {
    let text = config(
        "incidents:\n  auto_declare:\n    matchers:\n      - 'severity=\"page\"'\n      - 'severity=>\"page\"'\n      - 'team=~\"(\"'\n      - 42\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            r#"nines.yaml:13:9: incidents.auto_declare.matchers[1]: invalid matcher "severity=>\"page\"""#
        ),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with(
            r#"nines.yaml:14:9: incidents.auto_declare.matchers[2]: invalid matcher "team=~\"(\"": invalid regex"#
        ),
        "{errs:#?}"
    );
    assert_eq!(
        errs[2],
        "nines.yaml:15:9: incidents.auto_declare.matchers[3]: expected a string, got a number"
    );
}

#[test]
fn no_matchers_is_refused_as_it_would_declare_an_incident_for_every_alert() {
    assert_eq!(
        errors(&config("incidents:\n  auto_declare:\n    matchers: []\n")),
        [
            r#"nines.yaml:11:15: incidents.auto_declare.matchers: no matchers: every alert would declare an incident; list at least one, such as 'severity="page"'"#
        ]
    );
}

#[test]
fn a_severity_outside_sev1_to_sev5_is_reported_at_its_value() {
    for (written, got) in [
        ("SEV0", r#""SEV0""#),
        ("SEV6", r#""SEV6""#),
        ("sev12", r#""sev12""#),
        ("P1", r#""P1""#),
        ("high", r#""high""#),
        ("'2'", r#""2""#),
        ("0", "0"),
        ("6", "6"),
        ("-1", "-1"),
        ("2.5", "a number"),
        ("true", "a boolean"),
        ("[SEV2]", "a list"),
    ] {
        let text = config(&format!(
            "incidents:\n  auto_declare:\n    severity: {written}\n"
        ));
        assert_eq!(
            errors(&text),
            [format!(
                "nines.yaml:11:15: incidents.auto_declare.severity: expected a severity SEV1 to SEV5 (or 1 to 5), got {got}"
            )],
            "{written}"
        );
    }
}

#[test]
fn a_stakeholder_receiver_missing_from_the_alertmanager_section_is_reported_at_its_value() {
    let text = config(&format!(
        "{ALERTMANAGER}incidents:\n  stakeholder_receiver: team-tikets\n"
    ));
    assert_eq!(
        errors(&text),
        ["nines.yaml:20:25: incidents.stakeholder_receiver: unknown receiver `team-tikets`: the `alertmanager:` section (at nines.yaml:9:1) defines `team`, `team-tickets`"]
    );
}

#[test]
fn a_stakeholder_receiver_without_an_alertmanager_section_is_reported_at_its_value() {
    assert_eq!(
        errors(&config("incidents:\n  stakeholder_receiver: team-tickets\n")),
        ["nines.yaml:10:25: incidents.stakeholder_receiver: unknown receiver `team-tickets`: the configuration has no `alertmanager:` section to define it"]
    );
}

#[test]
fn a_stakeholder_receiver_that_is_no_name_is_reported_at_its_value() {
    let text = config(&format!(
        "{ALERTMANAGER}incidents:\n  stakeholder_receiver: [team]\n"
    ));
    assert_eq!(
        errors(&text),
        ["nines.yaml:20:25: incidents.stakeholder_receiver: expected a string, got a list"]
    );
    let text = config(&format!(
        "{ALERTMANAGER}incidents:\n  stakeholder_receiver: ''\n"
    ));
    assert_eq!(
        errors(&text),
        ["nines.yaml:20:25: incidents.stakeholder_receiver: must not be empty: name a receiver of `alertmanager:`"]
    );
}

#[test]
fn an_invalid_alertmanager_section_is_not_blamed_on_the_stakeholder_receiver() {
    // The receivers are unknown when `alertmanager:` has errors: only those are reported.
    let text = config(
        "alertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: team\nincidents:\n  stakeholder_receiver: team\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("nines.yaml:11:15: alertmanager.route.receiver:"),
        "{errs:#?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = config(
        "incidents:\n  auto_declare:\n    matchers: ['=\"page\"']\n    severity: SEV9\n  stakeholder_receiver: tickets\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0]
            .starts_with("nines.yaml:11:16: incidents.auto_declare.matchers[0]: invalid matcher"),
        "{errs:#?}"
    );
    assert_eq!(
        errs[1],
        "nines.yaml:12:15: incidents.auto_declare.severity: expected a severity SEV1 to SEV5 (or 1 to 5), got \"SEV9\""
    );
    assert_eq!(
        errs[2],
        "nines.yaml:13:25: incidents.stakeholder_receiver: unknown receiver `tickets`: the configuration has no `alertmanager:` section to define it"
    );
}

#[test]
fn a_second_incidents_section_is_an_error_in_the_same_file() {
    let text = format!(
        "{}---\napiVersion: nines/v1\nincidents:\n  auto_declare: {{ severity: SEV1 }}\n",
        config("incidents:\n  auto_declare: {}\n")
    );
    assert_eq!(
        errors(&text),
        ["nines.yaml:13:1: incidents: duplicate top-level `incidents` (first defined at nines.yaml:9:1): incident settings apply to the whole configuration, so write them once"]
    );
}

#[test]
fn a_second_incidents_section_is_an_error_across_files() {
    let dir = tempdir("duplicate-across-files");
    std::fs::write(
        dir.join("a.yaml"),
        config("incidents:\n  auto_declare: {}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "apiVersion: nines/v1\nincidents:\n  auto_declare:\n    severity: SEV7\n",
    )
    .unwrap();
    let errs: Vec<String> = match spec::load_files(std::slice::from_ref(&dir)) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    };
    let a = dir.join("a.yaml").display().to_string();
    let b = dir.join("b.yaml").display().to_string();
    // The duplicate is still checked.
    assert_eq!(
        errs,
        [
            format!("{b}:2:1: incidents: duplicate top-level `incidents` (first defined at {a}:9:1): incident settings apply to the whole configuration, so write them once"),
            format!("{b}:4:15: incidents.auto_declare.severity: expected a severity SEV1 to SEV5 (or 1 to 5), got \"SEV7\""),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "nines-spec-incidents-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
