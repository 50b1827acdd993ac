//! A real Prometheus (Debian's 2.42, installed by `scripts/test`) scrapes a target every second
//! and remote-writes to a real `nines serve`; the SLO nines builds from those counters must
//! count exactly the good and total requests that Prometheus' own samples show.
//!
//! The target exposes `http_requests_total{code="200"}` and `{code="500"}`, advanced on every
//! scrape by a fixed schedule with one counter reset (a restarted process), then frozen. The
//! reference is computed independently from the raw samples Prometheus stored
//! (`/api/v1/query?query=http_requests_total[1h]`): per series the sum of increases between
//! consecutive samples, a decrease counting as a reset (the new value is the increase), the
//! first sample being the baseline. Both sides cover every sample since the first scrape: the
//! SLO's window is 30 days and the range query an hour. Once the target has stopped growing
//! the test polls until Prometheus' remote-write queue has delivered everything and both agree.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{nines, start_nines, Killed};

/// Scrapes during which the counters grow; afterwards they stay put.
const GROWING_SCRAPES: u64 = 12;

/// Counter values at the target's `n`th scrape (1-based): a reset after the fifth.
fn counters(n: u64) -> (u64, u64) {
    let n = n.min(GROWING_SCRAPES);
    if n < 6 {
        (10 * n + n % 3, n / 2)
    } else {
        (3 * (n - 5), (n - 5) / 3)
    }
}

/// The scrape target on a free loopback port; returns its address and scrape counter.
fn start_target() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let scrapes = Arc::new(AtomicU64::new(0));
    let count = scrapes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let (ok, errors) = counters(n);
            let body = format!(
                "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n\
                 http_requests_total{{code=\"200\"}} {ok}\nhttp_requests_total{{code=\"500\"}} {errors}\n"
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok((addr, scrapes))
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

fn start_prometheus(dir: &Path, config: &str) -> anyhow::Result<(Killed, String)> {
    let version = Command::new("prometheus").arg("--version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        anyhow::bail!(
            "`prometheus` is not installed: run scripts/test, which installs Debian's \
             prometheus (or `apt-get install prometheus`)"
        );
    }
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config)?;
    let log = std::fs::File::create(dir.join("prometheus.log"))?;
    let port = free_port()?;
    let child = Command::new("prometheus")
        .arg("--config.file")
        .arg(&file)
        .arg("--storage.tsdb.path")
        .arg(dir.join("tsdb"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok((Killed(child), format!("http://127.0.0.1:{port}")))
}

/// Good and total increases of `http_requests_total` from the raw samples Prometheus holds.
async fn prometheus_counts(client: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let doc: Value = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", "http_requests_total[1h]")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let series = doc["data"]["result"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("unexpected answer: {doc}"))?;
    let (mut good, mut total) = (0.0, 0.0);
    for s in series {
        let values: Vec<f64> = s["values"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("no values: {s}"))?
            .iter()
            .map(|p| p[1].as_str().and_then(|v| v.parse::<f64>().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow::anyhow!("bad values: {s}"))?;
        let increase: f64 = values
            .windows(2)
            .map(|w| if w[1] < w[0] { w[1] } else { w[1] - w[0] })
            .sum();
        total += increase;
        if !s["metric"]["code"].as_str().unwrap_or("").starts_with('5') {
            good += increase;
        }
    }
    Ok((good as u64, total as u64))
}

async fn nines_counts(client: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let doc: Value = client
        .get(format!("{base}/api/v1/slos/target/availability"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let count = |name: &str| {
        doc[name]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no `{name}` in {doc}"))
    };
    Ok((count("good")?, count("total")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_from_prometheus_remote_write_matches_prometheus() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (target, scrapes) = start_target()?;

    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        r#"apiVersion: nines/v1
services:
  - name: target
    slos:
      - name: availability
        sli:
          kind: availability
          source: remote_write
          total: 'http_requests_total{job="target"}'
          good: 'http_requests_total{job="target",code!~"5.."}'
        objective: 99
        window: 30d
"#,
    )?;
    let data = dir.path().join("data");
    let token = create_ingest_token(&data)?;
    let (_nines, nines_base) = start_nines(&config, &data)?;

    let (_prometheus, prom_base) = start_prometheus(
        dir.path(),
        &format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: target
    static_configs:
      - targets: ["{target}"]
remote_write:
  - url: {nines_base}/api/v1/write
    authorization:
      type: Bearer
      credentials: {token}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#
        ),
    )?;

    let client = reqwest::Client::new();
    // The counters grow for GROWING_SCRAPES scrapes; then give the last samples a few more
    // scrapes to be stored.
    let grown = Instant::now() + Duration::from_secs(60);
    while scrapes.load(Ordering::SeqCst) < GROWING_SCRAPES + 2 {
        anyhow::ensure!(
            Instant::now() < grown,
            "Prometheus scraped the target only {} times in 60 s (see {})",
            scrapes.load(Ordering::SeqCst),
            dir.path().join("prometheus.log").display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Prometheus' remote-write queue delivers within a few seconds; poll until both agree.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut theirs, mut ours);
    loop {
        theirs = prometheus_counts(&client, &prom_base).await?;
        ours = nines_counts(&client, &nines_base).await;
        if ours.as_ref().is_ok_and(|o| *o == theirs) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let ours = ours?;
    assert_eq!(
        ours, theirs,
        "nines (good, total) vs Prometheus' samples; Prometheus log:\n{log}"
    );
    // The schedule has errors and a reset, and Prometheus saw the growth.
    let (good, total) = theirs;
    assert!(good < total && total > 0, "({good}, {total})");
    eprintln!(
        "nines and Prometheus agree: good {good}, total {total} after {} scrapes",
        scrapes.load(Ordering::SeqCst)
    );
    Ok(())
}
