//! Alertmanager's own CLI, `amtool` 0.25 from Debian's prometheus-alertmanager, drives nines
//! unchanged: it adds and queries alerts, and adds, queries and expires silences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

mod support;
use support::{nines, start_nines};

/// Runs amtool against `base`; returns (success, stdout).
fn amtool(base: &str, http_config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={base}"))
        .arg(format!("--http.config.file={}", http_config.display()))
        .arg("--no-version-check")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("amtool is missing ({e}): install Debian's prometheus-alertmanager (scripts/test does)")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn amtool_adds_and_queries_alerts_and_manages_silences() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli: { kind: availability, source: events, total: { path: "^/api/" }, good: { status: "<500" } }
        objective: 99.9
        window: 30d
alertmanager:
  route: { receiver: team, group_by: [alertname] }
  receivers: [{ name: team }]
"#,
    )?;
    let data = dir.path().join("data");
    let out = nines()
        .args(["token", "create", "--role", "responder", "--name", "amtool"])
        .arg("--data-dir")
        .arg(&data)
        .output()?;
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout)?.trim().to_string();
    let http_config = dir.path().join("http.yml");
    std::fs::write(
        &http_config,
        format!("authorization:\n  credentials: {token}\n"),
    )?;
    // amtool's alert add posts to /api/v2/alerts, an ingest route: give it an ingest token.
    let out = nines()
        .args([
            "token",
            "create",
            "--role",
            "ingest",
            "--name",
            "amtool-ingest",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()?;
    let ingest = String::from_utf8(out.stdout)?.trim().to_string();
    let ingest_config = dir.path().join("ingest.yml");
    std::fs::write(
        &ingest_config,
        format!("authorization:\n  credentials: {ingest}\n"),
    )?;
    let (_nines, base) = start_nines(&config, &data)?;

    let (ok, out) = amtool(
        &base,
        &ingest_config,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "instance=db1",
            "--annotation=summary=disk is full",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = amtool(&base, &http_config, &["alert", "query"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("DiskFull") && out.contains("disk is full") && out.contains("active"),
        "{out}"
    );
    let (ok, out) = amtool(
        &base,
        &http_config,
        &["-o", "json", "alert", "query", "alertname=DiskFull"],
    );
    assert!(ok, "{out}");
    let alerts: serde_json::Value = serde_json::from_str(out.lines().next().unwrap_or("[]"))?;
    let mut labels = notify::LabelSet::new();
    labels.insert("alertname", "DiskFull");
    labels.insert("instance", "db1");
    assert_eq!(alerts[0]["fingerprint"], labels.fingerprint().to_string());

    let (ok, out) = amtool(
        &base,
        &http_config,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "--comment=replacing the disk",
            "--duration=1h",
        ],
    );
    assert!(ok, "{out}");
    let id = out.lines().next().unwrap_or_default().trim().to_string();
    assert_eq!(id.len(), 36, "a silence id: {out}");
    let (ok, out) = amtool(&base, &http_config, &["silence", "query"]);
    assert!(
        ok && out.contains(&id) && out.contains("replacing the disk"),
        "{out}"
    );
    // Silenced: gone from the default (active) listing, shown with --silenced.
    let (_, out) = amtool(&base, &http_config, &["alert", "query"]);
    assert!(!out.contains("DiskFull"), "{out}");
    let (_, out) = amtool(&base, &http_config, &["alert", "query", "--silenced"]);
    assert!(
        out.contains("DiskFull") && out.contains("suppressed"),
        "{out}"
    );

    let (ok, out) = amtool(&base, &http_config, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (_, out) = amtool(&base, &http_config, &["silence", "query", "-q"]);
    assert!(!out.contains(&id), "expired silences are not listed: {out}");
    let (_, out) = amtool(&base, &http_config, &["alert", "query"]);
    assert!(out.contains("DiskFull"), "{out}");
    Ok(())
}
