//! The native top-level `prometheus:` key (the data source of `source: prometheus` SLIs):
//! every problem at its `file:line:col` with its field path.

#![allow(clippy::unwrap_used)] // a test that cannot set up its input should fail loudly

use spec::{PrometheusAuth, QueryScale};
use std::path::PathBuf;

/// Lines 1-10; `tail` starts on line 11.
const SLOS: &str = r#"apiVersion: nines/v1
services:
  - name: api
    slos:
      - name: availability
        sli:
          kind: availability
          source: prometheus
          total: sum(rate(http_requests_total[{{window}}]))
          error_query: sum(rate(http_requests_total{code=~"5.."}[{{window}}]))
"#;

const OBJECTIVE: &str = "        objective: 99.9\n        window: 30d\n";

fn config(tail: &str) -> String {
    format!("{SLOS}{OBJECTIVE}{tail}")
}

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("conf/nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn full_section_with_bearer_token() {
    let text = config(
        "prometheus:\n  url: http://127.0.0.1:9090/\n  bearer_token_file: secrets/token\n  tenant: team-a\n  timeout: 5s\n  settle: 3m\n",
    );
    let config = spec::load_str("conf/nines.yaml", &text).unwrap();
    let p = config.prometheus.unwrap();
    assert_eq!(p.url, "http://127.0.0.1:9090");
    assert_eq!(
        p.auth,
        PrometheusAuth::Bearer {
            token_file: PathBuf::from("conf/secrets/token")
        }
    );
    assert_eq!(p.tenant.as_deref(), Some("team-a"));
    assert_eq!(p.tenant_header, "X-Scope-OrgID");
    assert_eq!(p.timeout_seconds, 5);
    assert_eq!(p.settle_seconds, Some(180));
    assert_eq!(p.origin.line, 14);
}

#[test]
fn basic_auth_and_defaults() {
    let text = config(
        "prometheus:\n  url: https://mimir.example.com/prometheus\n  username: nines\n  password_file: /run/secrets/pw\n  tenant_header: X-Tenant\n",
    );
    let p = spec::load_str("nines.yaml", &text)
        .unwrap()
        .prometheus
        .unwrap();
    assert_eq!(
        p.auth,
        PrometheusAuth::Basic {
            username: "nines".into(),
            password_file: PathBuf::from("/run/secrets/pw")
        }
    );
    assert_eq!(p.tenant, None);
    assert_eq!(p.tenant_header, "X-Tenant");
    assert_eq!(p.timeout_seconds, spec::DEFAULT_TIMEOUT_SECONDS);
    assert_eq!(p.settle_seconds, None);
}

#[test]
fn every_problem_at_its_place() {
    let text = config(
        r#"prometheus:
  url: prometheus:9090
  bearer_token: abc
  password: hunter2
  tenant: ""
  tenant_header: "X Scope"
  timeout: 0s
  settle: soon
"#,
    );
    assert_eq!(
        errors(&text),
        vec![
            "conf/nines.yaml:14:8: prometheus.url: must start with http:// or https://, e.g. http://prometheus:9090",
            "conf/nines.yaml:15:17: prometheus.bearer_token: secrets are not written in the configuration: put it in a file and set `bearer_token_file`",
            "conf/nines.yaml:16:13: prometheus.password: secrets are not written in the configuration: put it in a file and set `password_file`",
            "conf/nines.yaml:17:11: prometheus.tenant: must be a non-empty tenant id of visible ASCII characters",
            "conf/nines.yaml:18:18: prometheus.tenant_header: must be an HTTP header name such as X-Scope-OrgID",
            "conf/nines.yaml:19:12: prometheus.timeout: invalid duration \"0s\": expected a number followed by s, m, h, d or w (e.g. 30d)",
            "conf/nines.yaml:20:11: prometheus.settle: invalid duration \"soon\": expected a number followed by s, m, h, d or w (e.g. 30d)",
        ]
    );
}

#[test]
fn auth_combinations() {
    let both = config(
        "prometheus:\n  url: http://p:9090\n  bearer_token_file: t\n  username: u\n  password_file: p\n",
    );
    assert_eq!(
        errors(&both),
        vec!["conf/nines.yaml:16:13: prometheus.username: set `bearer_token_file` or basic auth (`username`, `password_file`), not both"]
    );
    let half = config("prometheus:\n  url: http://p:9090\n  username: u\n");
    assert_eq!(
        errors(&half),
        vec!["conf/nines.yaml:14:3: prometheus: `username` needs `password_file` (basic auth)"]
    );
    let missing = config("prometheus:\n  timeout: 5s\n");
    assert_eq!(
        errors(&missing),
        vec!["conf/nines.yaml:14:3: prometheus: missing field `url`"]
    );
}

#[test]
fn one_section_in_the_whole_configuration() {
    let text = config("prometheus: { url: http://a:9090 }\n---\napiVersion: nines/v1\nprometheus: { url: http://b:9090 }\n");
    assert_eq!(
        errors(&text),
        vec!["conf/nines.yaml:16:1: prometheus: duplicate top-level `prometheus` (first defined at conf/nines.yaml:13:1): the data source applies to the whole configuration, so write it once"]
    );
}

#[test]
fn queries_need_the_window_placeholder_once_a_source_is_configured() {
    let fixed = SLOS.replace("[{{window}}]))\n          error", "[5m]))\n          error");
    let text = format!("{fixed}{OBJECTIVE}");
    // Without a data source the SLO reads local counters: the query is only for rules.
    assert!(spec::load_str("nines.yaml", &text).is_ok());
    let text = format!("{text}prometheus: {{ url: http://p:9090 }}\n");
    assert_eq!(
        errors(&text),
        vec!["conf/nines.yaml:9:18: services[0].slos[0].sli.total: has no `{{window}}` placeholder: the `prometheus:` data source (at conf/nines.yaml:13:1) evaluates it per bucket, so write the range as `[{{window}}]`"]
    );
}

#[test]
fn rates_and_counts_are_not_mixed() {
    let text = SLOS.replace(
        "sum(rate(http_requests_total[{{window}}]))",
        "sum(increase(http_requests_total[{{window}}])) + sum(rate(x[{{window}}]))",
    );
    let shown = errors(&format!("{text}{OBJECTIVE}"));
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("conf/nines.yaml:9:18: services[0].slos[0].sli.total: mixes a per-second `rate` with a count `increase`"),
        "{shown:?}"
    );
    assert_eq!(
        spec::query_scale("sum(rate(x[{{window}}]))"),
        Ok(QueryScale::PerSecond)
    );
}
