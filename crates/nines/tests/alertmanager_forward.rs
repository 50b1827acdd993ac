//! A real Alertmanager (Debian's 0.25, installed by `scripts/test`) next to a real
//! `nines serve`, both started by the test on free loopback ports.
//!
//! - Forwarding: nines' `alertmanager_configs` receiver posts its alerts to Alertmanager's
//!   `POST /api/v2/alerts`; Alertmanager lists them with the same labels and annotations, and
//!   once nines resolves an alert, Alertmanager stops listing it as active.
//! - Fingerprints: the same label set posted to both APIs has the same `fingerprint`.
//! - Webhook bodies: Alertmanager is the reference. Both run the same route tree (a child route
//!   for `case="webhook"` to a webhook receiver `hook`, grouped by `alertname`); the same alert
//!   posted to both gives two version-4 bodies with the same keys and the same group key, group
//!   and common labels, status and alert.
//! - External URL: like Alertmanager's, nines' default `externalURL` is the address it really
//!   listens on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::{nines, start_nines, Killed};

/// What a receiver got: headers and JSON body of each request.
type Got = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

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
                        got.lock().unwrap().push((headers, v));
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

    /// The first body whose `groupLabels.alertname` is `alertname`, waiting up to `within`.
    async fn first_for(&self, alertname: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .got
                .lock()
                .unwrap()
                .iter()
                .map(|(_, b)| b)
                .find(|b| b["groupLabels"]["alertname"] == alertname)
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn create_ingest_token(data: &Path) -> anyhow::Result<String> {
    let out = nines()
        .args(["token", "create", "--role", "ingest", "--name", "sender"])
        .arg("--data-dir")
        .arg(data)
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token create failed: {out:?}");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Alertmanager on a free loopback port, clustering off, state in `dir`; waits until ready.
async fn start_alertmanager(dir: &Path, config: &str) -> anyhow::Result<(Killed, String)> {
    let version = Command::new("prometheus-alertmanager")
        .arg("--version")
        .output();
    if !version.is_ok_and(|o| o.status.success()) {
        anyhow::bail!(
            "`prometheus-alertmanager` is not installed: run scripts/test, which installs \
             Debian's prometheus-alertmanager (or `apt-get install prometheus-alertmanager`)"
        );
    }
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, config)?;
    let log_path = dir.join("alertmanager.log");
    let log = std::fs::File::create(&log_path)?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let child = Killed(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client.get(format!("{base}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "Alertmanager not ready in 20 s; log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((child, base))
}

/// Posts alerts to an Alertmanager API v2 (nines with a token, Alertmanager without).
async fn post_alerts(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    alerts: &Value,
) -> anyhow::Result<()> {
    let mut req = client.post(format!("{base}/api/v2/alerts")).json(alerts);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await?;
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "POST {base}/api/v2/alerts {alerts}: {status} {text}"
    );
    Ok(())
}

/// `GET /api/v2/alerts` (active alerts, Alertmanager's default).
async fn get_alerts(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<Value>> {
    let v: Value = client
        .get(format!("{base}/api/v2/alerts"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    v.as_array()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("not a list: {v}"))
}

/// The listed alert whose labels are exactly `labels`.
fn find(alerts: &[Value], labels: &Value) -> Option<Value> {
    alerts.iter().find(|a| a["labels"] == *labels).cloned()
}

/// Polls `GET /api/v2/alerts` until `labels` is listed (or not, with `present` false).
async fn wait_listed(
    client: &reqwest::Client,
    base: &str,
    labels: &Value,
    present: bool,
    within: Duration,
) -> anyhow::Result<Option<Value>> {
    let deadline = Instant::now() + within;
    loop {
        let found = find(&get_alerts(client, base).await?, labels);
        if found.is_some() == present || Instant::now() > deadline {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nines_forwards_to_alertmanager_and_matches_its_fingerprints_and_webhook_bodies(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let am_hook = Receiver::start().await?;
    let nines_hook = Receiver::start().await?;
    let client = reqwest::Client::new();

    let (_am, am_base) = start_alertmanager(
        dir.path(),
        &format!(
            r#"route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['case="webhook"']
      receiver: hook
receivers:
  - name: "null"
  - name: hook
    webhook_configs:
      - url: {}
"#,
            am_hook.url
        ),
    )
    .await?;
    let am_log = dir.path().join("alertmanager.log");
    let am_log = || std::fs::read_to_string(&am_log).unwrap_or_default();

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
    receiver: fwd
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
    routes:
      - matchers: ['case="webhook"']
        receiver: hook
  receivers:
    - name: fwd
      alertmanager_configs:
        - url: {am_base}
    - name: hook
      webhook_configs:
        - url: {}
"#,
            nines_hook.url
        ),
    )?;
    let data = dir.path().join("data");
    let token = create_ingest_token(&data)?;
    let (_nines, nines_base) = start_nines(&config, &data)?;

    // 1. Forwarding: an alert posted to nines reaches Alertmanager as it was.
    let labels = json!({ "alertname": "Forwarded", "instance": "db1:9100", "severity": "page" });
    let annotations = json!({ "summary": "disk almost full", "runbook": "https://runbooks/disk" });
    post_alerts(
        &client,
        &nines_base,
        Some(&token),
        &json!([{ "labels": labels, "annotations": annotations,
                  "generatorURL": "http://prometheus.example/graph?g0.expr=up" }]),
    )
    .await?;
    let posted_at = Instant::now();
    let forwarded = wait_listed(&client, &am_base, &labels, true, Duration::from_secs(15))
        .await?
        .unwrap_or_else(|| {
            panic!(
                "the alert posted to nines did not reach Alertmanager in 15 s; \
                 Alertmanager log:\n{}",
                am_log()
            )
        });
    eprintln!(
        "Alertmanager lists the forwarded alert {:?} after the post to nines",
        posted_at.elapsed()
    );
    assert_eq!(forwarded["labels"], labels, "{forwarded}");
    assert_eq!(forwarded["annotations"], annotations, "{forwarded}");
    assert_eq!(
        forwarded["generatorURL"], "http://prometheus.example/graph?g0.expr=up",
        "{forwarded}"
    );
    assert_eq!(forwarded["status"]["state"], "active", "{forwarded}");
    let ours = find(&get_alerts(&client, &nines_base).await?, &labels)
        .expect("nines lists the alert it forwarded");
    // Alertmanager lists times with milliseconds (RFC 3339 millis); same instant to the ms.
    let millis = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
    };
    assert_eq!(
        millis(&forwarded["startsAt"]),
        millis(&ours["startsAt"]),
        "the forwarded alert keeps nines' startsAt: {} vs {}",
        forwarded["startsAt"],
        ours["startsAt"]
    );
    assert_eq!(
        ours["fingerprint"], forwarded["fingerprint"],
        "fingerprint of {labels} in nines vs Alertmanager"
    );

    // 2. Fingerprints: the same label sets posted to both directly (including characters
    // that need quoting and non-ASCII values).
    let same = [
        json!({ "alertname": "Same", "job": "api", "path": "/v1/\"quoted\"\\x", "zone": "zürich" }),
        json!({ "alertname": "Same", "a": "", "b": "x=y,z" }),
    ];
    let posted: Vec<Value> = same
        .iter()
        .map(|l| json!({ "labels": l, "annotations": { "summary": "same" } }))
        .collect();
    post_alerts(&client, &am_base, None, &json!(posted)).await?;
    post_alerts(&client, &nines_base, Some(&token), &json!(posted)).await?;
    let (am_alerts, nines_alerts) = (
        get_alerts(&client, &am_base).await?,
        get_alerts(&client, &nines_base).await?,
    );
    for l in &same {
        // Alertmanager drops empty label values (an empty value is an absent label).
        let theirs = find(&am_alerts, l)
            .or_else(|| {
                let mut l = l.clone();
                l.as_object_mut()
                    .unwrap()
                    .retain(|_, v| v.as_str() != Some(""));
                find(&am_alerts, &l)
            })
            .unwrap_or_else(|| panic!("Alertmanager does not list {l}: {am_alerts:?}"));
        let ours = find(&nines_alerts, l)
            .or_else(|| find(&nines_alerts, &theirs["labels"]))
            .unwrap_or_else(|| panic!("nines does not list {l}: {nines_alerts:?}"));
        eprintln!(
            "{l}: Alertmanager {} {}, nines {} {}",
            theirs["labels"], theirs["fingerprint"], ours["labels"], ours["fingerprint"]
        );
        assert_eq!(
            ours["labels"], theirs["labels"],
            "labels of {l} in nines vs Alertmanager"
        );
        assert_eq!(
            ours["fingerprint"], theirs["fingerprint"],
            "fingerprint of {l} in nines vs Alertmanager"
        );
    }

    // 3. Resolution: nines resolves the forwarded alert; Alertmanager stops listing it.
    let now = jiff::Timestamp::now().to_string();
    post_alerts(
        &client,
        &nines_base,
        Some(&token),
        &json!([{ "labels": labels, "annotations": annotations, "endsAt": now,
                  "generatorURL": "http://prometheus.example/graph?g0.expr=up" }]),
    )
    .await?;
    let resolved_at = Instant::now();
    let still = wait_listed(&client, &am_base, &labels, false, Duration::from_secs(15)).await?;
    assert!(
        still.is_none(),
        "nines resolved the alert at {now} but Alertmanager still lists it as active after 15 s: \
         {still:?}"
    );

    eprintln!(
        "Alertmanager stopped listing the alert {:?} after nines resolved it",
        resolved_at.elapsed()
    );

    // 4. Webhook bodies: the same alert to both, Alertmanager's body is the reference.
    let labels =
        json!({ "alertname": "Compare", "case": "webhook", "instance": "web1", "job": "api" });
    let alert = json!([{ "labels": labels,
                         "annotations": { "summary": "compare bodies" },
                         "startsAt": "2026-01-02T03:04:05.5Z",
                         "generatorURL": "http://prometheus.example/graph" }]);
    post_alerts(&client, &am_base, None, &alert).await?;
    post_alerts(&client, &nines_base, Some(&token), &alert).await?;
    let theirs = am_hook
        .first_for("Compare", Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("Alertmanager sent no webhook in 15 s; log:\n{}", am_log()));
    let ours = nines_hook
        .first_for("Compare", Duration::from_secs(15))
        .await
        .expect("nines sent no webhook in 15 s");
    eprintln!("Alertmanager: {theirs}\nnines:        {ours}");
    assert_eq!(keys(&ours), keys(&theirs), "top-level keys");
    for field in [
        "version",
        "receiver",
        "groupKey",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "status",
        "truncatedAlerts",
    ] {
        assert_eq!(ours[field], theirs[field], "`{field}` differs");
    }
    assert_eq!(
        theirs["groupKey"],
        r#"{}/{case="webhook"}:{alertname="Compare"}"#
    );
    let (a, b) = (&ours["alerts"], &theirs["alerts"]);
    assert_eq!(a.as_array().map(Vec::len), Some(1), "{ours}");
    assert_eq!(b.as_array().map(Vec::len), Some(1), "{theirs}");
    assert_eq!(keys(&a[0]), keys(&b[0]), "alert keys");
    for field in [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert_eq!(a[0][field], b[0][field], "`alerts[0].{field}` differs");
    }
    Ok(())
}

/// Alertmanager's default `externalURL` is where it can be reached (its host and the port it
/// really listens on). nines' default (no `--external-url`) must be as reachable: its real
/// listening address, not the `--listen` argument (`127.0.0.1:0` asks for any free port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_external_url_is_the_address_nines_listens_on() -> anyhow::Result<()> {
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
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
  receivers:
    - name: hook
      webhook_configs:
        - url: {}
"#,
            hook.url
        ),
    )?;
    let data = dir.path().join("data");
    let token = create_ingest_token(&data)?;
    let (_nines, nines_base) = start_nines(&config, &data)?;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &nines_base,
        Some(&token),
        &json!([{ "labels": { "alertname": "Link" } }]),
    )
    .await?;
    let body = hook
        .first_for("Link", Duration::from_secs(15))
        .await
        .expect("nines sent no webhook in 15 s");
    assert_eq!(
        body["externalURL"].as_str(),
        Some(nines_base.as_str()),
        "nines serve --listen 127.0.0.1:0 without --external-url: the webhook's `externalURL` \
         should be the address nines listens on: {body}"
    );
    Ok(())
}
