//! `nines serve`'s log: text by default (no colours into a pipe), one JSON object a line with
//! `--log-format json`, filtered by NINES_LOG.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
"#;

/// Kills the server when the test ends, also on failure.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The next log line, waiting at most 20 s.
    fn next_line(&self) -> anyhow::Result<String> {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| anyhow::anyhow!("no further log line from nines serve"))
    }
}

fn start(dir: &Path, extra: &[&str], log_filter: Option<&str>) -> anyhow::Result<Server> {
    let config = dir.join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_nines"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .env_remove("NINES_STORE")
        .env_remove("NINES_STORE_FILE")
        .env_remove("RUST_LOG")
        .env_remove("NINES_LOG");
    if let Some(filter) = log_filter {
        command.env("NINES_LOG", filter);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("nines: {line}");
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok(Server { child, lines })
}

/// `http://127.0.0.1:PORT` from a line holding `listening on http://...`.
fn base_of(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace()
        .next()
        .map(|u| u.trim_end_matches(['"', ',', '/']).to_string())
}

/// Posts events without a token: the server refuses with 401 and logs the refusal.
fn post_without_token(base: &str) -> anyhow::Result<String> {
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("not an http url: {base}"))?;
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = r#"[{"slo":"checkout/availability","good":1,"total":1}]"#;
    write!(
        stream,
        "POST /api/v1/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

#[test]
fn json_log_lines_are_objects_with_level_and_message() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), &["--log-format", "json"], None)?;
    let mut base = None;
    while base.is_none() {
        let line = server.next_line()?;
        let event: Value = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("not a JSON line ({e}): {line}"))?;
        assert!(event["level"].is_string(), "no level: {line}");
        let message = event["message"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no message: {line}"))?;
        if message.contains("listening on ") {
            assert_eq!(event["level"], "INFO", "{line}");
            assert!(event["addr"].is_string(), "no addr field: {line}");
            base = base_of(message);
        }
    }
    let base = base.ok_or_else(|| anyhow::anyhow!("no listening address"))?;
    let status = post_without_token(&base)?;
    assert!(status.contains(" 401 "), "{status}");
    // The refusal is a WARN event whose fields can be queried, not only read.
    loop {
        let line = server.next_line()?;
        let event: Value = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("not a JSON line ({e}): {line}"))?;
        if event["code"] == "auth.missing_token" {
            assert_eq!(event["level"], "WARN", "{line}");
            assert_eq!(event["status"], 401, "{line}");
            assert_eq!(event["route"], "/api/v1/events", "{line}");
            let message = event["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("refused POST /api/v1/events → 401 auth.missing_token"),
                "{line}"
            );
            return Ok(());
        }
    }
}

#[test]
fn text_log_is_plain_into_a_pipe() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), &[], None)?;
    loop {
        let line = server.next_line()?;
        assert!(
            !line.contains('\u{1b}'),
            "colour codes into a pipe: {line:?}"
        );
        if let Some(base) = base_of(&line) {
            assert!(line.contains("INFO"), "{line}");
            assert!(base.starts_with("http://127.0.0.1:"), "{line}");
            return Ok(());
        }
    }
}

#[test]
fn nines_log_filters_events() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Only warnings, except the binary's own start-up line.
    let server = start(dir.path(), &[], Some("warn,nines::cmd_serve=info"))?;
    let mut seen = Vec::new();
    let base = loop {
        let line = server.next_line()?;
        seen.push(line.clone());
        if let Some(base) = base_of(&line) {
            break base;
        }
    };
    post_without_token(&base)?;
    loop {
        let line = server.next_line()?;
        seen.push(line.clone());
        if line.contains("auth.missing_token") {
            break;
        }
    }
    // The server says whether anonymous reads are on before it answers anything: at info,
    // filtered out.
    assert!(
        !seen.iter().any(|l| l.contains("anonymous read access")),
        "{seen:#?}"
    );
    Ok(())
}

#[test]
fn a_bad_filter_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("NINES_LOG", "server=loud")
        .env_remove("NINES_DATA_DIR")
        .output()?;
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NINES_LOG"), "{stderr}");
    Ok(())
}
