//! `nines alerts list|ack|silence|silences|unsilence|history` against a real `nines serve`
//! child process: alerts posted with an ingest token, acted on with responder and viewer
//! tokens through the CLI.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: { path: "^/api/" }
          good: { status: "<500" }
        objective: 99.9
        window: 30d
alertmanager:
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: team
      webhook_configs:
        - url: http://127.0.0.1:9/hook
"#;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("nines")
}

/// The server child, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nines serve` on a free port with `CONFIG` and a fresh data dir.
fn spawn_server(config: &Path, data: &Path) -> anyhow::Result<Server> {
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let server = Server {
        child,
        base: base.unwrap_or_default(),
    };
    anyhow::ensure!(!server.base.is_empty(), "the server did not start");
    Ok(server)
}

fn create_token(data: &Path, role: &str, name: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(bin())
        .args(["token", "create", "--role", role, "--name", name])
        .arg("--data-dir")
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token create failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Runs `nines alerts <args> --server <base>` with `token` (if any) in NINES_TOKEN.
fn alerts(base: &str, token: Option<&str>, args: &[&str]) -> anyhow::Result<Output> {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("alerts")
        .args(args)
        .args(["--server", base])
        .env_remove("NINES_TOKEN")
        .env_remove("NINES_SERVER");
    if let Some(t) = token {
        cmd.env("NINES_TOKEN", t);
    }
    Ok(cmd.output()?)
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> anyhow::Result<Value> {
    anyhow::ensure!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        stderr(out)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The listed alert with this fingerprint (from `list -o json`).
fn find<'a>(list: &'a Value, fingerprint: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|a| a["fingerprint"] == fingerprint)
}

/// The STATE cell of the table row of `fingerprint` (from `list`).
fn table_state(table: &str, fingerprint: &str) -> Option<String> {
    let header = table.lines().next()?;
    let column = header.find("STATE")?;
    let row = table.lines().find(|l| l.starts_with(fingerprint))?;
    row.get(column..)?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

fn fingerprint(labels: &[(&str, &str)]) -> String {
    let mut set = notify::LabelSet::new();
    for (k, v) in labels {
        set.insert(*k, *v);
    }
    set.fingerprint().to_string()
}

#[test]
fn alerts_are_listed_acked_silenced_and_their_deliveries_shown() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "prometheus")?;
    let responder = create_token(&data, "responder", "ana")?;
    let viewer = create_token(&data, "viewer", "dashboard")?;
    let server = spawn_server(&config, &data)?;
    let base = server.base.clone();

    let disk = [
        ("alertname", "DiskFull"),
        ("severity", "page"),
        ("instance", "db1"),
    ];
    let cpu = [("alertname", "HighCpu"), ("severity", "ticket")];
    let (disk_fp, cpu_fp) = (fingerprint(&disk), fingerprint(&cpu));
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::ensure!(ready, "the server never became ready");
        let labels = |set: &[(&str, &str)]| {
            set.iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        };
        let body = json!([
            { "labels": labels(&disk), "annotations": { "summary": "disk full" } },
            { "labels": labels(&cpu) },
        ]);
        let r = client
            .post(format!("{base}/api/v2/alerts"))
            .bearer_auth(&ingest)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        anyhow::ensure!(status.is_success(), "{status}: {}", r.text().await?);
        anyhow::Ok(())
    })?;

    // list: both alerts, by their Alertmanager fingerprints, firing.
    let list = json_of(&alerts(&base, Some(&viewer), &["list", "-o", "json"])?)?;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let disk_alert = find(&list, &disk_fp).ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(disk_alert["labels"]["instance"], "db1");
    assert!(disk_alert.get("ack").is_none());
    assert!(find(&list, &cpu_fp).is_some(), "{list}");
    // Anonymous reads are open on loopback.
    let table = stdout(&alerts(&base, None, &["list"])?);
    assert_eq!(
        table_state(&table, &disk_fp).as_deref(),
        Some("firing"),
        "{table}"
    );
    assert!(table.contains("instance=db1"), "{table}");
    // A filter is passed to the server.
    let only_cpu = json_of(&alerts(
        &base,
        None,
        &["list", "--filter", "severity=~tick.*", "-o", "json"],
    )?)?;
    assert_eq!(only_cpu.as_array().map(Vec::len), Some(1), "{only_cpu}");
    assert!(find(&only_cpu, &cpu_fp).is_some(), "{only_cpu}");
    // CSV has a header and one line per alert.
    let csv = stdout(&alerts(&base, None, &["list", "-o", "csv"])?);
    assert!(
        csv.starts_with("fingerprint,alertname,severity,state,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // history (before the alerts are acked and silenced, which would hold their first
    // notification): the webhook nobody listens on is tried; each delivery is one row.
    let deadline = Instant::now() + Duration::from_secs(20);
    let history = loop {
        let doc = json_of(&alerts(&base, None, &["history", "-o", "json"])?)?;
        let tried = doc["notifications"].as_array().is_some_and(|n| {
            n.iter()
                .any(|n| n["attempts"].as_array().is_some_and(|a| !a.is_empty()))
        });
        if tried || Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let deliveries = history["notifications"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("{history}"))?;
    assert!(!deliveries.is_empty(), "{history}");
    assert!(
        deliveries.iter().all(|n| n["receiver"] == "team"),
        "{history}"
    );
    let reason = deliveries
        .iter()
        .find_map(|n| n["attempts"].as_array()?.last()?["reason"].as_str())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no failed attempt: {history}"))?;
    let table = stdout(&alerts(&base, None, &["history"])?);
    assert!(table.starts_with("CREATED"), "{table}");
    assert!(table.contains(reason), "{table}");
    assert!(table.lines().skip(1).all(|l| l.contains("team")), "{table}");
    assert!(table.lines().count() > 1, "{table}");
    let none = json_of(&alerts(
        &base,
        None,
        &["history", "--receiver", "nobody", "-o", "json"],
    )?)?;
    assert_eq!(none["notifications"], json!([]), "{none}");
    let bad_status = alerts(&base, None, &["history", "--status", "lost"])?;
    assert_eq!(code(&bad_status), Some(2));

    // ack: a viewer may not; no token is refused with a hint; the responder may.
    let refused = alerts(&base, Some(&viewer), &["ack", &disk_fp])?;
    assert_eq!(code(&refused), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("auth.forbidden"),
        "{}",
        stderr(&refused)
    );
    let anonymous = alerts(&base, None, &["ack", &disk_fp])?;
    assert_eq!(code(&anonymous), Some(1), "{}", stderr(&anonymous));
    assert!(
        stderr(&anonymous).contains("auth.missing_token")
            && stderr(&anonymous).contains("NINES_TOKEN"),
        "{}",
        stderr(&anonymous)
    );
    let acked = json_of(&alerts(
        &base,
        Some(&responder),
        &["ack", &disk_fp, "--comment", "on it", "-o", "json"],
    )?)?;
    assert_eq!(acked["fingerprint"], disk_fp.as_str());
    assert_eq!(acked["by"], "ana");
    let list = json_of(&alerts(&base, None, &["list", "-o", "json"])?)?;
    let disk_alert = find(&list, &disk_fp).ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(disk_alert["ack"]["by"], "ana", "{list}");
    assert_eq!(disk_alert["ack"]["comment"], "on it", "{list}");
    let table = stdout(&alerts(&base, None, &["list"])?);
    assert_eq!(
        table_state(&table, &disk_fp).as_deref(),
        Some("acked"),
        "{table}"
    );
    assert_eq!(
        table_state(&table, &cpu_fp).as_deref(),
        Some("firing"),
        "{table}"
    );

    // Unknown and malformed fingerprints are refused with their codes.
    let unknown = alerts(&base, Some(&responder), &["ack", "0123456789abcdef"])?;
    assert_eq!(code(&unknown), Some(1), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("alerts.not_found"),
        "{}",
        stderr(&unknown)
    );
    let malformed = alerts(&base, Some(&responder), &["ack", "not-a-fingerprint"])?;
    assert_eq!(code(&malformed), Some(1), "{}", stderr(&malformed));
    assert!(
        stderr(&malformed).contains("alerts.bad_fingerprint"),
        "{}",
        stderr(&malformed)
    );

    // silence: prints the id; the matching alert is silenced, the other is not.
    let out = alerts(
        &base,
        Some(&responder),
        &[
            "silence",
            "alertname=HighCpu",
            "--duration",
            "1h",
            "--comment",
            "c",
        ],
    )?;
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "{id:?}"
    );
    let list = json_of(&alerts(&base, None, &["list", "-o", "json"])?)?;
    let cpu_alert = find(&list, &cpu_fp).ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(cpu_alert["status"]["silencedBy"], json!([id]), "{list}");
    let disk_alert = find(&list, &disk_fp).ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(disk_alert["status"]["silencedBy"], json!([]), "{list}");
    let table = stdout(&alerts(&base, None, &["list"])?);
    assert_eq!(
        table_state(&table, &cpu_fp).as_deref(),
        Some("silenced"),
        "{table}"
    );
    let visible = json_of(&alerts(
        &base,
        None,
        &["list", "--no-silenced", "-o", "json"],
    )?)?;
    assert_eq!(visible.as_array().map(Vec::len), Some(1), "{visible}");
    assert!(find(&visible, &disk_fp).is_some(), "{visible}");
    // The silence is listed with its matcher, author and comment.
    let silences = json_of(&alerts(&base, None, &["silences", "-o", "json"])?)?;
    let listed = silences
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id.as_str()))
        .ok_or_else(|| anyhow::anyhow!("{silences}"))?;
    assert_eq!(listed["status"]["state"], "active");
    assert_eq!(
        listed["matchers"],
        json!([{ "name": "alertname", "value": "HighCpu", "isRegex": false, "isEqual": true }])
    );
    assert_eq!(listed["comment"], "c");
    let table = stdout(&alerts(&base, None, &["silences"])?);
    assert!(
        table.contains(&id) && table.contains("alertname=\"HighCpu\""),
        "{table}"
    );

    // unsilence: expires it (twice is fine); an unknown id is refused.
    let out = alerts(&base, Some(&responder), &["unsilence", &id])?;
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let list = json_of(&alerts(&base, None, &["list", "-o", "json"])?)?;
    let cpu_alert = find(&list, &cpu_fp).ok_or_else(|| anyhow::anyhow!("{list}"))?;
    assert_eq!(cpu_alert["status"]["silencedBy"], json!([]), "{list}");
    let again = alerts(&base, Some(&responder), &["unsilence", &id])?;
    assert_eq!(code(&again), Some(0), "{}", stderr(&again));
    let silences = json_of(&alerts(&base, None, &["silences", "-o", "json"])?)?;
    assert_eq!(
        silences,
        json!([]),
        "expired silences are hidden by default"
    );
    let all = json_of(&alerts(
        &base,
        None,
        &["silences", "--expired", "-o", "json"],
    )?)?;
    assert_eq!(all[0]["status"]["state"], "expired", "{all}");
    let unknown = alerts(&base, Some(&responder), &["unsilence", "no-such-silence"])?;
    assert_eq!(code(&unknown), Some(1), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("silences.not_found"),
        "{}",
        stderr(&unknown)
    );

    // silence -o json prints {"silenceID": ...}; bad matchers are usage errors (exit 2).
    let created = json_of(&alerts(
        &base,
        Some(&responder),
        &[
            "silence",
            "severity=~page|ticket",
            "instance!=db2",
            "--until",
            "2100-01-01T00:00:00Z",
            "--comment",
            "maintenance",
            "--author",
            "bo",
            "-o",
            "json",
        ],
    )?)?;
    let id2 = created["silenceID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id2.is_empty(), "{created}");
    let silences = json_of(&alerts(&base, None, &["silences", "-o", "json"])?)?;
    assert_eq!(silences[0]["createdBy"], "bo", "{silences}");
    assert_eq!(silences[0]["matchers"].as_array().map(Vec::len), Some(2));
    let bad = alerts(
        &base,
        Some(&responder),
        &["silence", "=x", "--duration", "1h", "--comment", "c"],
    )?;
    assert_eq!(code(&bad), Some(2), "{}", stderr(&bad));
    let no_end = alerts(
        &base,
        Some(&responder),
        &["silence", "a=b", "--comment", "c"],
    )?;
    assert_eq!(code(&no_end), Some(2), "{}", stderr(&no_end));

    Ok(())
}

#[test]
fn a_server_nobody_runs_exits_3() -> anyhow::Result<()> {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let base = format!("http://127.0.0.1:{port}");
    for args in [
        &["list"][..],
        &["ack", "0123456789abcdef"],
        &["unsilence", "x"],
        &["history"],
    ] {
        let out = alerts(&base, Some("t"), args)?;
        assert_eq!(code(&out), Some(3), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    }
    let out = alerts("not a url", None, &["list"])?;
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    Ok(())
}

#[test]
fn every_subcommand_explains_itself() -> anyhow::Result<()> {
    for (sub, says) in [
        ("list", "--filter"),
        ("ack", "FINGERPRINT"),
        ("silence", "--duration"),
        ("silences", "--expired"),
        ("unsilence", "<ID>"),
        ("history", "--receiver"),
    ] {
        let out = std::process::Command::new(bin())
            .args(["alerts", sub, "--help"])
            .output()?;
        assert_eq!(code(&out), Some(0), "{sub}");
        let text = stdout(&out);
        assert!(
            text.contains(says) && text.contains("--server"),
            "{sub}: {text}"
        );
    }
    Ok(())
}
