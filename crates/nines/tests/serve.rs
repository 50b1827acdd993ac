//! `nines serve` and `nines gate` end to end: a real child process, a real kill -9.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("nines")
}

/// Starts `nines serve` on a free port; returns the child and its base URL.
fn spawn_server(config: &Path, data: &Path) -> anyhow::Result<(Child, String)> {
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
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let base = base.ok_or_else(|| anyhow::anyhow!("the server did not start"))?;
    Ok((child, base))
}

/// Creates a token with `nines token create` in `data`; returns its secret.
fn create_token(data: &Path, role: &str, name: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(bin())
        .args([
            "token",
            "create",
            "--role",
            role,
            "--name",
            name,
            "--data-dir",
        ])
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token create failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// A client sending a fresh admin token of the store in `data`.
fn admin_client(data: &Path) -> anyhow::Result<reqwest::Client> {
    let secret = create_token(data, "admin", "test-client")?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {secret}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("not ready")
}

async fn totals(client: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let doc: Value = client
        .get(format!("{base}/api/v1/slos/checkout/availability"))
        .send()
        .await?
        .json()
        .await?;
    Ok((
        doc["good"].as_u64().unwrap_or(u64::MAX),
        doc["total"].as_u64().unwrap_or(u64::MAX),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_loses_no_acknowledged_increment() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let client = admin_client(&data)?;
    let (mut child, base) = spawn_server(&config, &data)?;
    wait_ready(&client, &base).await?;

    // Eight writers post batches as fast as they are acknowledged; the server is killed while
    // they are still writing.
    let acked_good = Arc::new(AtomicU64::new(0));
    let acked_total = Arc::new(AtomicU64::new(0));
    let sent_total = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    let time = jiff::Timestamp::now().to_string();
    for w in 0..8u64 {
        let (client, base, time) = (client.clone(), base.clone(), time.clone());
        let (acked_good, acked_total, sent_total) =
            (acked_good.clone(), acked_total.clone(), sent_total.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000u64 {
                let total = 1 + (w * 7 + i) % 13;
                let good = total - (i % 2);
                let body = json!([{ "time": time, "slo": "checkout/availability", "good": good, "total": total }]);
                sent_total.fetch_add(total, Ordering::SeqCst);
                match client
                    .post(format!("{base}/api/v1/events"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        acked_good.fetch_add(good, Ordering::SeqCst);
                        acked_total.fetch_add(total, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill()?; // SIGKILL
    child.wait()?;
    for w in writers {
        let _ = w.await;
    }
    let (good_acked, total_acked) = (
        acked_good.load(Ordering::SeqCst),
        acked_total.load(Ordering::SeqCst),
    );
    assert!(total_acked > 0, "nothing was acknowledged before the kill");

    let (mut child, base) = spawn_server(&config, &data)?;
    wait_ready(&client, &base).await?;
    let (good, total) = totals(&client, &base).await?;
    // Every acknowledged increment is there; at most the in-flight (unacknowledged) ones more.
    assert!(
        total >= total_acked,
        "lost: stored {total} < acknowledged {total_acked}"
    );
    assert!(good >= good_acked);
    assert!(total <= sent_total.load(Ordering::SeqCst));
    eprintln!("acknowledged {total_acked} events before kill -9; stored {total}");

    // Now with nothing in flight: equality.
    let mut expect = total;
    for i in 0..20u64 {
        let body =
            json!([{ "time": time, "slo": "checkout/availability", "good": i, "total": i + 1 }]);
        let r = client
            .post(format!("{base}/api/v1/events"))
            .json(&body)
            .send()
            .await?;
        assert!(r.status().is_success());
        expect += i + 1;
    }
    child.kill()?;
    child.wait()?;
    let (mut child, base) = spawn_server(&config, &data)?;
    wait_ready(&client, &base).await?;
    assert_eq!(totals(&client, &base).await?.1, expect);
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn gate_exit_codes_follow_the_budget() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let client = admin_client(&dir.path().join("data"))?;
    let (mut child, base) = spawn_server(&config, &dir.path().join("data"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(wait_ready(&client, &base))?;

    let gate = |slo: &str| {
        let mut cmd = Command::new(bin());
        cmd.args(["gate", "--server", &base, "--slo", slo])
            .env_remove("NINES_SERVER");
        cmd.assert()
    };
    gate("checkout/availability")
        .code(0)
        .stdout(predicates::str::contains("proceed"));
    gate("checkout/nothing").code(2);

    rt.block_on(async {
        let body = json!([{ "slo": "checkout/availability", "good": 10, "total": 100 }]);
        let r = client
            .post(format!("{base}/api/v1/events"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success());
        anyhow::Ok(())
    })?;
    gate("checkout/availability")
        .code(1)
        .stdout(predicates::str::contains("blocked").and(predicates::str::contains("exhausted")));
    child.kill()?;
    child.wait()?;

    // No server at all: a runtime failure, not a verdict.
    Command::new(bin())
        .args(["gate", "--server", "http://127.0.0.1:9", "--slo", "a/b"])
        .assert()
        .code(3);
    Ok(())
}

#[test]
fn demo_serves_example_slos() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = String::new();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().unwrap_or("").to_string();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let total = rt.block_on(async {
        wait_ready(&client, &base).await?;
        // The demo traffic posts every second.
        for _ in 0..40 {
            let (_, total) = totals(&client, &base).await?;
            if total > 0 && total != u64::MAX {
                return anyhow::Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok(0)
    })?;
    child.kill()?;
    child.wait()?;
    assert!(total > 0, "no demo traffic arrived");
    Ok(())
}

#[test]
fn sigterm_stops_gracefully_and_keeps_counts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let client = admin_client(&data)?;
    let (mut child, base) = spawn_server(&config, &data)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        wait_ready(&client, &base).await?;
        for _ in 0..10 {
            let body = json!([{ "slo": "checkout/availability", "good": 3, "total": 4 }]);
            let r = client
                .post(format!("{base}/api/v1/events"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success());
        }
        anyhow::Ok(())
    })?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let exit = child.wait()?;
    assert!(exit.success(), "exit status {exit:?}");

    let (mut child, base) = spawn_server(&config, &data)?;
    let got = rt.block_on(async {
        wait_ready(&client, &base).await?;
        totals(&client, &base).await
    })?;
    child.kill()?;
    child.wait()?;
    assert_eq!(got, (30, 40));
    Ok(())
}

#[test]
fn sighup_reloads_through_the_start_up_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let (mut child, base) = spawn_server(&config, &dir.path().join("data"))?;
    let rt = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let hup = |pid: u32| {
        std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
    };
    let status_of = |path: &str| {
        rt.block_on(async {
            let r = client.get(format!("{base}{path}")).send().await?;
            anyhow::Ok(r.status().as_u16())
        })
    };
    rt.block_on(wait_ready(&client, &base))?;
    // An invalid config is rejected; the running one stays.
    std::fs::write(&config, "apiVersion: nines/v1\nservices: 3\n")?;
    assert!(hup(child.id())?.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status_of("/api/v1/slos/checkout/availability")?, 200);
    // A valid one replaces it.
    std::fs::write(
        &config,
        CONFIG.replace("name: availability", "name: success"),
    )?;
    assert!(hup(child.id())?.success());
    let mut swapped = false;
    for _ in 0..50 {
        if status_of("/api/v1/slos/checkout/success")? == 200 {
            swapped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(swapped, "SIGHUP did not reload");
    assert_eq!(status_of("/api/v1/slos/checkout/availability")?, 404);
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn serve_refuses_an_invalid_config_with_its_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "apiVersion: nines/v1\nservices: 3\n")?;
    Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .timeout(Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("bad.yaml:2"));
    Ok(())
}

#[test]
fn serve_refuses_anonymous_writes_and_says_when_reads_are_open() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("NINES_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = String::new();
    let mut announced = false;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        if line.contains("anonymous read access is enabled because the server listens on loopback")
        {
            announced = true;
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Runtime::new()?;
    let client = reqwest::Client::new();
    let (read, write) = rt.block_on(async {
        wait_ready(&client, &base).await?;
        let read = client
            .get(format!("{base}/api/v1/slos"))
            .send()
            .await?
            .status()
            .as_u16();
        let write = client
            .post(format!("{base}/api/v1/events"))
            .json(&json!([{ "slo": "checkout/availability", "good": 1, "total": 1 }]))
            .send()
            .await?
            .status()
            .as_u16();
        anyhow::Ok((read, write))
    })?;
    child.kill()?;
    child.wait()?;
    assert!(announced, "no start-up line about anonymous reads");
    assert_eq!(read, 200);
    assert_eq!(write, 401);
    Ok(())
}
