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
