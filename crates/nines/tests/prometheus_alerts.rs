//! A real Prometheus (Debian's 2.42, installed by `scripts/test`) evaluates an always-firing
//! alerting rule every second and sends the alert to a real `nines serve` through its
//! Alertmanager API v2 (`alerting.alertmanagers`, `api_version: v2`, an ingest token as Bearer
//! credentials), re-sending it every other evaluation (`--rules.alert.resend-delay=1s`: a resend
//! once more than a second has passed). nines routes it to a webhook receiver run by the test.
//!
//! Checked: the alert is listed by nines' `GET /api/v2/alerts` with Prometheus' labels, a
//! `generatorURL` pointing at that Prometheus and the fingerprint `notify::LabelSet` computes
//! for those labels; the receiver gets version-4 messages grouped by `alertname`; and over a
//! measured span the receiver gets what `repeat_interval` implies — the first notification then
//! one repeat every ~4 s — although Prometheus re-sent the alert every ~2 s meanwhile (its own
//! `prometheus_notifications_sent_total` shows how often).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::{nines, start_nines, Killed};

/// nines' `repeat_interval` in seconds.
const REPEAT_SECS: u64 = 4;
/// How long the repeats are counted, from the first notification.
const SPAN: Duration = Duration::from_secs(13);

/// One request the webhook receiver got: when, headers, JSON body.
type Got = Arc<Mutex<Vec<(Instant, HeaderMap, Value)>>>;

/// A webhook receiver on 127.0.0.1:0 recording every request.
struct Receiver {
    url: String,
    got: Got,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let got: Got = Arc::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(got): State<Got>, headers: HeaderMap, body: axum::body::Bytes| async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        got.lock().unwrap().push((Instant::now(), headers, v));
                        "ok"
                    },
                ),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { url, got })
    }

    fn requests(&self) -> Vec<(Instant, HeaderMap, Value)> {
        self.got.lock().unwrap().clone()
    }
}

fn create_ingest_token(data: &Path) -> anyhow::Result<String> {
    let out = nines()
        .args([
            "token",
            "create",
            "--role",
            "ingest",
            "--name",
            "prometheus",
            "--data-dir",
        ])
        .arg(data)
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token create failed: {out:?}");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Prometheus on a free loopback port with `config` (and the rule file next to it); its
/// external URL is its loopback address, so generator URLs point at it.
fn start_prometheus(dir: &Path, config: &str, rules: &str) -> anyhow::Result<(Killed, String)> {
    let version = Command::new("prometheus").arg("--version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        anyhow::bail!(
            "`prometheus` is not installed: run scripts/test, which installs Debian's \
             prometheus (or `apt-get install prometheus`)"
        );
    }
    std::fs::write(dir.join("rules.yml"), rules)?;
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config)?;
    let log = std::fs::File::create(dir.join("prometheus.log"))?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new("prometheus")
        .arg("--config.file")
        .arg(&file)
        .arg("--storage.tsdb.path")
        .arg(dir.join("tsdb"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.external-url={base}"))
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok((Killed(child), base))
}

/// Alerts Prometheus has sent so far (`prometheus_notifications_sent_total`, all targets).
async fn prometheus_sent(client: &reqwest::Client, base: &str) -> anyhow::Result<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with("prometheus_notifications_sent_total") {
            let value = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| anyhow::anyhow!("unexpected metrics line: {line}"))?;
            sum += value;
        }
    }
    Ok(sum)
}

fn fingerprint(labels: &Value) -> String {
    let mut set = notify::LabelSet::new();
    for (k, v) in labels.as_object().expect("labels are an object") {
        set.insert(k.as_str(), v.as_str().expect("label values are strings"));
    }
    set.fingerprint().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_alerts_reach_nines_and_repeat_per_repeat_interval() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hook = Receiver::start().await?;

    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        format!(
            r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: {{ path: "^/api/" }}
          good: {{ status: "<500" }}
        objective: 99.9
        window: 30d
alertmanager:
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: {REPEAT_SECS}s
  receivers:
    - name: team
      webhook_configs:
        - url: {}
"#,
            hook.url
        ),
    )?;
    let data = dir.path().join("data");
    let token = create_ingest_token(&data)?;
    let (_nines, nines_base) = start_nines(&config, &data)?;
    let nines_addr = nines_base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("unexpected base URL {nines_base}"))?
        .trim_end_matches('/');

    let (_prometheus, prom_base) = start_prometheus(
        dir.path(),
        &format!(
            r#"global:
  evaluation_interval: 1s
rule_files:
  - rules.yml
alerting:
  alertmanagers:
    - api_version: v2
      scheme: http
      timeout: 2s
      authorization:
        type: Bearer
        credentials: {token}
      static_configs:
        - targets: ["{nines_addr}"]
"#
        ),
        r#"groups:
  - name: nines-e2e
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: page
          team: x
        annotations:
          summary: always firing
"#,
    )?;
    let prom_log = dir.path().join("prometheus.log");
    let log = || std::fs::read_to_string(&prom_log).unwrap_or_default();

    let client = reqwest::Client::new();

    // The alert arrives in nines.
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let alerts: Value = client
            .get(format!("{nines_base}/api/v2/alerts"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let found = alerts.as_array().and_then(|a| {
            a.iter()
                .find(|a| a["labels"]["alertname"] == "AlwaysFiring")
                .cloned()
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus' alert did not reach nines in 30 s; nines lists {alerts}; Prometheus log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        alert["labels"],
        serde_json::json!({ "alertname": "AlwaysFiring", "severity": "page", "team": "x" }),
        "{alert}"
    );
    assert_eq!(alert["annotations"]["summary"], "always firing", "{alert}");
    let generator = alert["generatorURL"].as_str().unwrap_or_default();
    assert!(
        generator.starts_with(&format!("{prom_base}/graph?")),
        "generatorURL {generator:?} should point at Prometheus ({prom_base})"
    );
    assert_eq!(
        alert["fingerprint"],
        fingerprint(&alert["labels"]),
        "nines' fingerprint vs notify::LabelSet::fingerprint(): {alert}"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert}");

    // The first notification: grouped by alertname, version 4.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(first) = hook.requests().first().cloned() {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook notification within 20 s of the alert"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (t0, headers, body) = first;
    let sent_at_t0 = prometheus_sent(&client, &prom_base).await?;
    assert_eq!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        "application/json",
        "{headers:?}"
    );
    assert_eq!(body["version"], "4", "{body}");
    assert_eq!(body["receiver"], "team", "{body}");
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({ "alertname": "AlwaysFiring" }),
        "{body}"
    );
    assert_eq!(
        body["groupKey"], r#"{}:{alertname="AlwaysFiring"}"#,
        "{body}"
    );
    assert_eq!(
        body["commonLabels"],
        serde_json::json!({ "alertname": "AlwaysFiring", "severity": "page", "team": "x" }),
        "{body}"
    );
    let alerts = body["alerts"].as_array().expect("alerts is a list");
    assert_eq!(alerts.len(), 1, "{body}");
    assert_eq!(alerts[0]["fingerprint"], alert["fingerprint"], "{body}");
    assert_eq!(alerts[0]["generatorURL"], alert["generatorURL"], "{body}");
    assert_eq!(alerts[0]["status"], "firing", "{body}");

    // Count notifications over the span after the first one, while Prometheus keeps re-sending.
    let end = t0 + SPAN;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = prometheus_sent(&client, &prom_base).await? - sent_at_t0;
    let within: Vec<(Instant, Value)> = hook
        .requests()
        .into_iter()
        .filter(|(t, _, _)| *t <= end)
        .map(|(t, _, b)| (t, b))
        .collect();
    let offsets: Vec<f64> = within
        .iter()
        .map(|(t, _)| t.duration_since(t0).as_secs_f64())
        .collect();
    eprintln!(
        "{} notifications in {SPAN:?} at {offsets:.2?} s; Prometheus sent the alert {sent} times",
        within.len()
    );
    // Prometheus really re-sent the alert every ~2 s, so a notification per resend would show
    // (as more notifications, and as gaps under the repeat interval).
    assert!(
        sent >= 4.0,
        "Prometheus sent the alert only {sent} times in {SPAN:?}; log:\n{}",
        log()
    );
    for (_, b) in &within {
        assert_eq!(b["status"], "firing", "the lease was renewed: {b}");
        assert_eq!(b["groupKey"], body["groupKey"], "{b}");
    }
    // Repeats every repeat_interval (checked on each 1 s group_interval tick): in 13 s the
    // first and 2..3 repeats; a slow machine may lose one, never gain many.
    let repeats = within.len() - 1;
    assert!(
        (2..=4).contains(&repeats),
        "expected 2..=4 repeats in {SPAN:?} with repeat_interval {REPEAT_SECS}s, got {repeats} \
         at {offsets:.2?} s (Prometheus sent {sent} times)"
    );
    for w in offsets.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= REPEAT_SECS as f64 - 1.0,
            "notifications {gap:.2} s apart, under repeat_interval {REPEAT_SECS}s: {offsets:.2?}"
        );
    }
    Ok(())
}
