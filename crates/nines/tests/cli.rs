//! The `nines` command line end to end: real files, the real SQLite store, real exit codes.

use assert_cmd::Command;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

const CONFIG: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: access_log
          total: { path: "^/api/" }
          good: { status: "<500" }
        objective: 99.9
        window: 30d
"#;

fn nines() -> Command {
    let mut cmd = Command::cargo_bin("nines").unwrap_or_else(|e| panic!("binary: {e}"));
    cmd.env_remove("NINES_DATA_DIR").env("NO_COLOR", "1");
    cmd
}

/// 2,000 API requests between 23:02 and 23:22 on 2023-11-14, 10 of them failing, plus
/// static requests the SLI does not select: the example report of the foundation issue.
fn example_log() -> String {
    let mut log = String::new();
    for minute in 0..20 {
        for i in 0..100 {
            let status = if minute < 10 && i == 0 { 500 } else { 200 };
            let _ = writeln!(
                log,
                "10.0.0.1 - - [14/Nov/2023:23:{:02}:{:02} +0000] \"GET /api/cart?x=1 HTTP/1.1\" {status} 512 \"-\" \"test\" 0.012",
                minute + 2,
                i % 60
            );
        }
        let _ = writeln!(
            log,
            "10.0.0.1 - - [14/Nov/2023:23:{:02}:30 +0000] \"GET /static/app.js HTTP/1.1\" 500 99 \"-\" \"test\"",
            minute + 2
        );
    }
    log
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    path.display().to_string()
}

fn json_report(dir: &Path, config: &str) -> Value {
    let out = nines()
        .args(["report", "--config", config, "--data-dir"])
        .arg(dir.join("data"))
        .args(["--at", "2023-11-15T00:00:00Z", "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("report: {e}"));
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("report json: {e}"))
}

fn ingest(dir: &Path, config: &str, log: &str) -> std::process::Output {
    nines()
        .args([
            "ingest",
            "access-log",
            log,
            "--config",
            config,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap_or_else(|e| panic!("ingest: {e}"))
}

#[test]
fn ingest_then_report_reproduces_the_example_numbers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let log = write(dir.path(), "access.log", &example_log());
    let out = ingest(dir.path(), &config, &log);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2020 lines, 2020 accepted, 0 rejected"),
        "{stdout}"
    );

    let report = json_report(dir.path(), &config);
    assert_eq!(report["at"], "2023-11-15T00:00:00Z");
    let slo = &report["slos"][0];
    assert_eq!(slo["service"], "checkout");
    assert_eq!(slo["slo"], "availability");
    assert_eq!(slo["objective"], 0.999);
    assert_eq!(slo["window"], "30d");
    assert_eq!(slo["good"], 1990);
    assert_eq!(slo["total"], 2000);
    assert_eq!(slo["sli"], 0.995);
    assert_eq!(slo["status"], "exhausted");
    let close = |v: &Value, want: f64| (v.as_f64().unwrap_or(f64::NAN) - want).abs() < 1e-9;
    assert!(close(&slo["error_budget"]["allowed_bad"], 2.0), "{slo}");
    assert!(close(&slo["error_budget"]["consumed"], 5.0), "{slo}");
    assert!(close(&slo["error_budget"]["remaining"], -4.0), "{slo}");
    assert!(
        close(&slo["error_budget"]["remaining_minutes"], -172.8),
        "{slo}"
    );
    for w in ["1h", "2h", "6h", "1d", "3d", "30d"] {
        assert!(close(&slo["burn_rates"][w], 5.0), "burn {w}: {slo}");
    }
    assert!(close(&slo["burn_rates"]["5m"], 0.0));
    assert!(close(&slo["burn_rates"]["30m"], 0.0));
    assert!(slo["time_to_exhaustion_seconds"].is_null());
}

#[test]
fn rerunning_ingest_reads_only_new_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let log = write(dir.path(), "access.log", &example_log());
    assert!(ingest(dir.path(), &config, &log).status.success());

    let again = ingest(dir.path(), &config, &log);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("0 lines, 0 accepted"), "{stdout}");
    assert!(stdout.contains("resumed at line 2021"), "{stdout}");
    assert_eq!(json_report(dir.path(), &config)["slos"][0]["total"], 2000);

    // Appended lines are picked up, and only they.
    let mut text = example_log();
    text.push_str("10.0.0.2 - - [14/Nov/2023:23:40:00 +0000] \"POST /api/pay HTTP/1.1\" 503 0 \"-\" \"t\" 0.5\n");
    std::fs::write(&log, text).unwrap_or_else(|e| panic!("{e}"));
    let third = ingest(dir.path(), &config, &log);
    assert!(String::from_utf8_lossy(&third.stdout).contains("1 lines, 1 accepted"));
    let slo = &json_report(dir.path(), &config)["slos"][0];
    assert_eq!(slo["total"], 2001);
    assert_eq!(slo["good"], 1990);

    // --from-start reads everything again (and counts it again, by design).
    let forced = nines()
        .args([
            "ingest",
            "access-log",
            &log,
            "--config",
            &config,
            "--from-start",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("2021 lines"));
    assert_eq!(json_report(dir.path(), &config)["slos"][0]["total"], 4002);
}

#[test]
fn a_replaced_file_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let log = write(dir.path(), "access.log", &example_log());
    assert!(ingest(dir.path(), &config, &log).status.success());
    // Rotation: a new, shorter file at the same path.
    write(
        dir.path(),
        "access.log",
        "10.0.0.9 - - [14/Nov/2023:23:50:00 +0000] \"GET /api/x HTTP/1.1\" 200 1 \"-\" \"t\"\n",
    );
    let out = ingest(dir.path(), &config, &log);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replaced or truncated"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 lines, 1 accepted"));
    assert_eq!(json_report(dir.path(), &config)["slos"][0]["total"], 2001);
}

#[test]
fn malformed_lines_are_reported_with_line_numbers_and_the_rest_counts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let mut lines: Vec<String> = example_log().lines().map(str::to_string).collect();
    lines.insert(4, "this is not an access log line".into());
    lines.insert(
        9,
        "10.0.0.1 - - [99/Foo/2023:23:02:00 +0000] \"GET /api/cart HTTP/1.1\" 200 1 \"-\" \"t\""
            .into(),
    );
    let log = write(dir.path(), "access.log", &(lines.join("\n") + "\n"));
    let out = ingest(dir.path(), &config, &log);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{log}:5: rejected")), "{stderr}");
    assert!(stderr.contains(&format!("{log}:10: rejected")), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2022 lines, 2020 accepted, 2 rejected"));
    assert_eq!(json_report(dir.path(), &config)["slos"][0]["total"], 2000);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let out = nines()
        .args([
            "ingest",
            "access-log",
            "-",
            "--config",
            &config,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .write_stdin(example_log())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_report(dir.path(), &config)["slos"][0]["good"], 1990);
}

#[test]
fn report_renders_table_and_csv() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let log = write(dir.path(), "access.log", &example_log());
    assert!(ingest(dir.path(), &config, &log).status.success());
    let table = nines()
        .args([
            "report",
            "--config",
            &config,
            "--at",
            "2023-11-15T00:00:00Z",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("checkout/availability"), "{table}");
    assert!(
        table.contains("99.500%") && table.contains("99.9%") && table.contains("exhausted"),
        "{table}"
    );
    assert!(
        table.contains(&"░".repeat(20)),
        "an exhausted budget shows an empty bar: {table}"
    );

    let csv = nines()
        .args([
            "report",
            "--config",
            &config,
            "--at",
            "2023-11-15T00:00:00Z",
            "-o",
            "csv",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let csv = String::from_utf8_lossy(&csv.stdout);
    let mut rows = csv.lines();
    let header = rows.next().unwrap_or_default();
    assert!(
        header.starts_with("service,slo,objective,window,good,total,sli,status"),
        "{header}"
    );
    assert!(rows
        .next()
        .unwrap_or_default()
        .starts_with("checkout,availability,0.999,30d,1990,2000,0.995,exhausted"));
}

#[test]
fn check_exit_codes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = write(dir.path(), "good.yaml", CONFIG);
    nines().args(["check", &good]).assert().code(0);

    let bad = write(
        dir.path(),
        "bad.yaml",
        &CONFIG
            .replace("objective: 99.9", "objective: 120")
            .replace("window: 30d", "window: 30x"),
    );
    let out = nines()
        .args(["check", &bad])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Both errors at once, each as file:line:col: path: message.
    assert!(
        stderr.contains(&format!("{bad}:11:20: services[0].slos[0].objective:")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{bad}:12:17: services[0].slos[0].window:")),
        "{stderr}"
    );

    nines().arg("check").assert().code(2);
    nines().args(["report", "--config", &bad]).assert().code(1);
    nines()
        .args(["check", "/nonexistent/nines.yaml"])
        .assert()
        .code(1);
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["ingest", "--help"],
        vec!["ingest", "access-log", "--help"],
        vec!["report", "--help"],
        vec!["demo", "--help"],
    ] {
        nines().args(&args).assert().success();
    }
}

#[test]
fn demo_prints_a_report_with_moved_budgets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = nines()
        .args(["demo", "--lines", "50000", "-o", "json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json_start = stdout.find("{\n").unwrap_or(0);
    let report: Value =
        serde_json::from_str(&stdout[json_start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["at"], "2023-11-15T00:00:00Z");
    let slos = report["slos"].as_array().cloned().unwrap_or_default();
    assert_eq!(slos.len(), 3);
    let availability = &slos[0];
    assert!(availability["total"].as_u64().unwrap_or(0) > 10_000);
    let consumed = availability["error_budget"]["consumed"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(consumed > 0.2, "the outage must spend budget: {consumed}");
}

#[test]
fn json_lines_with_custom_field_names() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let mut log = String::new();
    for i in 0..50 {
        let status = if i < 5 { 502 } else { 200 };
        let _ = writeln!(
            log,
            r#"{{"ts":"2023-11-14T23:30:{:02}Z","verb":"GET","uri":"/api/cart?id={i}","code":{status},"dur":0.01}}"#,
            i % 60
        );
    }
    log.push_str("{\"ts\": broken\n");
    let log = write(dir.path(), "access.json", &log);
    let out = nines()
        .args([
            "ingest",
            "access-log",
            &log,
            "--config",
            &config,
            "--format",
            "json",
        ])
        .args([
            "--json-field",
            "time=ts",
            "--json-field",
            "method=verb",
            "--json-field",
            "status=code",
        ])
        .args(["--json-field", "request_time=dur", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("51 lines, 50 accepted, 1 rejected"));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{log}:51: rejected")));
    let slo = &json_report(dir.path(), &config)["slos"][0];
    assert_eq!(slo["total"], 50);
    assert_eq!(slo["good"], 45);

    // An unknown role is a usage error.
    nines()
        .args([
            "ingest",
            "access-log",
            &log,
            "--config",
            &config,
            "--json-field",
            "colour=red",
        ])
        .assert()
        .code(2);
}

#[test]
fn check_accepts_every_openslo_example() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/openslo-examples");
    let mut files: Vec<String> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("{}: {e}", examples.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let out = nines()
        .arg("check")
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("ok: {} file(s)", files.len()))
    );
}

#[test]
fn alerts_explain_prints_the_reference_numbers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    let out = nines()
        .args([
            "alerts",
            "explain",
            "--config",
            &config,
            "--slo",
            "checkout/availability",
            "-o",
            "json",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let conditions = doc["slos"][0]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conditions.len(), 4);
    let expected = [
        ("page", 14.4, 0.02, 51.84, 0.0144),
        ("page", 6.0, 0.05, 129.6, 0.006),
        ("ticket", 3.0, 0.1, 259.2, 0.003),
        ("ticket", 1.0, 0.1, 259.2, 0.001),
    ];
    for (c, (severity, burn, budget, ttf, min_ratio)) in conditions.iter().zip(expected) {
        assert_eq!(c["strategy"], "multiwindow");
        assert_eq!(c["severity"], severity);
        assert_eq!(c["burn_rate"].as_f64(), Some(burn), "{c}");
        assert_eq!(c["budget_consumed_at_fire"].as_f64(), Some(budget), "{c}");
        assert_eq!(c["time_to_fire_seconds"]["1.0"].as_f64(), Some(ttf), "{c}");
        assert_eq!(c["min_error_ratio"].as_f64(), Some(min_ratio), "{c}");
    }
    // 1% errors never reach the 1h page tier's 1.44%.
    assert!(conditions[0]["time_to_fire_seconds"]["0.01"].is_null());

    let table = nines()
        .args(["alerts", "explain", "--config", &config])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("51.84s") && table.contains("1.44%") && table.contains("never"),
        "{table}"
    );

    nines()
        .args([
            "alerts",
            "explain",
            "--config",
            &config,
            "--slo",
            "nope/nothing",
        ])
        .assert()
        .code(2);
}

#[test]
fn backtest_finds_the_outage_and_writes_a_chart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write(dir.path(), "nines.yaml", CONFIG);
    // Six hours at 100 requests a minute, clean but for a 10-minute total outage at 02:00.
    let mut log = String::new();
    for minute in 0..360 {
        let (h, m) = (minute / 60, minute % 60);
        let outage = (120..130).contains(&minute);
        for i in 0..100 {
            let status = if outage { 503 } else { 200 };
            let _ = writeln!(
                log,
                "10.0.0.1 - - [14/Nov/2023:{h:02}:{m:02}:{:02} +0000] \"GET /api/cart HTTP/1.1\" {status} 1 \"-\" \"t\" 0.010",
                i % 60
            );
        }
    }
    let log = write(dir.path(), "access.log", &log);
    assert!(ingest(dir.path(), &config, &log).status.success());
    let svg = dir.path().join("timeline.svg");
    let out = nines()
        .args([
            "backtest",
            "--config",
            &config,
            "--slo",
            "checkout/availability",
        ])
        .args([
            "--from",
            "2023-11-14T00:00:00Z",
            "--to",
            "2023-11-14T06:00:00Z",
            "-o",
            "json",
            "--svg",
        ])
        .arg(&svg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let result = &doc["results"][0];
    assert_eq!(result["policy"], "multiwindow");
    let events = result["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{result}");
    assert_eq!(result["metrics"]["recall"], 1.0);
    assert_eq!(result["metrics"]["precision"], 1.0);
    let first_page = result["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["severity"] == "page").cloned())
        .unwrap_or_default();
    // 02:00 + the first bucket end at which 1h burns >= 14.4 (51.84 s of total outage).
    assert_eq!(first_page["start"], 1_699_927_200 + 60, "{first_page}");
    let svg = std::fs::read_to_string(&svg).unwrap_or_default();
    assert!(
        svg.starts_with("<svg") && svg.contains("<title>") && svg.contains("<rect"),
        "not an SVG chart"
    );
}

fn promtool() -> std::path::PathBuf {
    for candidate in ["/usr/bin/promtool", "/usr/local/bin/promtool"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "promtool not found: install Debian's prometheus (scripts/test does this when run as root)"
    );
}

#[test]
fn prometheus_rules_pass_promtool() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus-slos.yaml");
    let rules = dir.path().join("nines.rules.yml");
    let out = nines()
        .args(["rules", "prometheus", "--config"])
        .arg(&config)
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&rules).unwrap_or_default();
    assert!(text.contains("slo:sli_error:ratio_rate5m"), "{text}");
    assert!(
        text.contains("(14.4 * 0.001)"),
        "the default page tier of the 99.9% SLO: {text}"
    );
    assert!(
        text.contains("(36 * 0.01)"),
        "the custom burn_rate tier of the 99% SLO: {text}"
    );
    let check = std::process::Command::new(promtool())
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        check.status.success(),
        "promtool refused the rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn tokens_are_shown_once_and_every_change_is_audited() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        nines()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let created = run(&["token", "create", "--role", "ingest", "--name", "shipper"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert!(
        secret.starts_with("nines_") && secret.len() > 40,
        "{secret}"
    );

    let listed = run(&["token", "list", "-o", "json"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("shipper") && listed.contains("ingest"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is never shown again");

    assert_eq!(
        run(&["token", "create", "--role", "wizard", "--name", "x"])
            .status
            .code(),
        Some(2)
    );
    assert!(run(&["token", "revoke", "--name", "shipper"])
        .status
        .success());
    assert_eq!(
        run(&["token", "revoke", "--name", "nobody"]).status.code(),
        Some(1)
    );

    let checkpoint = dir.path().join("checkpoint.json");
    let export = nines()
        .args(["audit", "export", "-o"])
        .arg(&checkpoint)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["seq"], 2, "create and revoke were audited: {doc}");
    let verify = nines()
        .args(["audit", "verify", "--checkpoint"])
        .arg(&checkpoint)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// README's notification example is `examples/notifications.yaml`, and it is a valid config.
#[test]
fn the_readme_notification_example_is_checked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let example = std::fs::read_to_string(root.join("examples/notifications.yaml"))
        .unwrap_or_else(|e| panic!("examples/notifications.yaml: {e}"));
    let start = readme
        .find("```yaml\nalertmanager:\n")
        .unwrap_or_else(|| panic!("README has no alertmanager example"));
    let block = &readme[start + "```yaml\n".len()..];
    let block = &block[..block.find("```").unwrap_or(block.len())];
    assert!(
        example.ends_with(block),
        "README's alertmanager block and examples/notifications.yaml differ"
    );
    let out = nines()
        .args(["check", "examples/notifications.yaml"])
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("alertmanager: 3 receiver(s), 3 route(s)"),
        "{stdout}"
    );
}
