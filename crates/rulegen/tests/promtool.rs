//! The generated rules through Prometheus' own tooling: `promtool check rules` (with lint
//! errors fatal) and `promtool test rules` on examples/rules/api-availability.test.yml.
//!
//! promtool is required, never skipped: on Debian `apt-get install prometheus`; elsewhere set
//! `PROMTOOL=/path/to/promtool`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn promtool() -> PathBuf {
    let path = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"));
    match Command::new(&path).arg("--version").output() {
        Ok(out) if out.status.success() => path,
        Ok(out) => panic!(
            "`{} --version` failed ({}): {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "promtool is required by this test and was not found ({}: {e}). \
             Install it (Debian: `apt-get install -y prometheus`) or set PROMTOOL=/path/to/promtool.",
            path.display()
        ),
    }
}

fn run(args: &[&str], file: &Path) {
    let out = Command::new(promtool())
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {} {} failed ({}):\n{}{}",
        args.join(" "),
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_check_rules_accepts_the_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slos.rules.yml");
    let yaml = rulegen::prometheus_rules(&[common::api_availability(), common::checkout_latency()])
        .unwrap();
    std::fs::write(&file, yaml).unwrap();
    run(&["check", "rules", "--lint-fatal"], &file);
}

#[test]
fn promtool_test_rules_pages_on_outage_and_stays_quiet_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api-availability.rules.yml"),
        rulegen::prometheus_rules(&[common::api_availability()]).unwrap(),
    )
    .unwrap();
    let test = dir.path().join("api-availability.test.yml");
    std::fs::copy(
        common::examples_dir().join("api-availability.test.yml"),
        &test,
    )
    .unwrap();
    run(&["test", "rules"], &test);
}

/// The custom policy end to end: a good-ratio SLI, a window outside the standard list
/// (1h30m/15m), `for:` holds, a tier without a short window, and extra labels on the alerts.
#[test]
fn promtool_test_rules_custom_policy_honours_for_and_extra_labels() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("checkout.rules.yml"),
        rulegen::prometheus_rules(&[common::checkout_latency()]).unwrap(),
    )
    .unwrap();
    let description = |windows: &str, tiers: &str| {
        format!(
            "checkout/latency (99% over 4w) burns its error budget too fast: the error ratio \
             over the last {windows} is above burn rate x budget (1%). {tiers}."
        )
    };
    let alert = |severity: &str, long: &str, short: Option<&str>, tiers: &str| {
        let short_label = short
            .map(|s| format!(", short_window: '{s}'"))
            .unwrap_or_default();
        let windows = short.map_or(long.to_string(), |s| format!("{long} and {s}"));
        format!(
            "          - exp_labels: {{severity: {severity}, service: checkout, slo: latency, team: 'payments: \"core\" {{eu}}', tier: '1', long_window: '{long}'{short_label}}}\n            \
             exp_annotations:\n              \
             summary: 'checkout/latency: the error budget is burning too fast'\n              \
             description: '{}'\n",
            description(&windows, tiers)
        )
    };
    let fast = alert("page", "1h", Some("5m"), "page tier: 13.44x over 1h and 5m");
    let held = alert(
        "page",
        "1h30m",
        Some("15m"),
        "page tier: 8x over 1h30m and 15m",
    );
    let ticket = alert("ticket", "1d", None, "ticket tier: 2.8x over 1d");
    // An hour of fast requests, then every request is slower than 300 ms from 60m.
    let test = format!(
        r#"rule_files: [checkout.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_request_duration_seconds_bucket{{job="checkout",le="0.3"}}'
        values: '0+600x60 36000x30'
      - series: 'http_request_duration_seconds_count{{job="checkout"}}'
        values: '0+600x90'
    alert_rule_test:
      - eval_time: 60m
        alertname: SLOErrorBudgetBurn
        exp_alerts: []
      # 1h/5m fires at once; 1h30m/15m has held 2m; the 1d ticket is still pending (10m).
      - eval_time: 70m
        alertname: SLOErrorBudgetBurn
        exp_alerts:
{fast}{held}      - eval_time: 75m
        alertname: SLOErrorBudgetBurn
        exp_alerts:
{fast}{held}{ticket}"#
    );
    let path = dir.path().join("checkout.test.yml");
    std::fs::write(&path, test).unwrap();
    run(&["test", "rules"], &path);
}
