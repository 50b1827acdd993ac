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

/// Stored good/total of `checkout/availability`, read from the database file directly (SQLite
/// in WAL mode lets another process read while the server writes).
async fn stored_totals(data: &Path) -> anyhow::Result<(u64, u64)> {
    let db = store::SqliteStore::open(&data.join("nines.db")).await?;
    let counts = store::Store::counts(&db, "checkout/availability", 0, i64::MAX).await;
    store::Store::close(&db).await?;
    Ok(counts?
        .iter()
        .fold((0, 0), |(g, t), c| (g + c.good, t + c.total)))
}

/// The shared state of the writers in the kill -9 test.
struct Load {
    base: std::sync::RwLock<String>,
    paused: std::sync::atomic::AtomicBool,
    idle: AtomicU64,
    acked_good: AtomicU64,
    acked_total: AtomicU64,
    duplicates: AtomicU64,
    stop: std::sync::atomic::AtomicBool,
}

/// One writer: posts its requests in order, each with its own Idempotency-Key, retrying the
/// same request (same key) until it is acknowledged, whatever happens to the server.
async fn writer(w: u64, client: reqwest::Client, time: String, load: Arc<Load>) {
    let mut i = 0u64;
    loop {
        if load.stop.load(Ordering::SeqCst) {
            return;
        }
        if load.paused.load(Ordering::SeqCst) {
            load.idle.fetch_add(1, Ordering::SeqCst);
            while load.paused.load(Ordering::SeqCst) && !load.stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            load.idle.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let total = 1 + (w * 7 + i) % 13;
        let good = total - (i % 2);
        let body =
            json!([{ "time": time, "slo": "checkout/availability", "good": good, "total": total }]);
        let base = load.base.read().map(|b| b.clone()).unwrap_or_default();
        let sent = client
            .post(format!("{base}/api/v1/events"))
            .header("Idempotency-Key", format!("writer-{w}-request-{i}"))
            .json(&body)
            .send()
            .await;
        let answer = match sent {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
            _ => None,
        };
        match answer {
            Some(doc) => {
                if doc["duplicate"] == true {
                    load.duplicates.fetch_add(1, Ordering::SeqCst);
                }
                load.acked_good.fetch_add(good, Ordering::SeqCst);
                load.acked_total.fetch_add(total, Ordering::SeqCst);
                i += 1;
            }
            // Killed, restarting, or refused: retry the same request with the same key.
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The issue's reliability test: kill -9 the server 20 times under a steady ingest load;
/// after each restart the stored totals equal the sum of acknowledged requests exactly.
/// Requests in flight at the kill are retried with their Idempotency-Key, so each counts once
/// whether or not its commit made it before the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_twenty_times_loses_and_doubles_nothing() -> anyhow::Result<()> {
    const WRITERS: u64 = 6;
    const ROUNDS: u64 = 20;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let secret = create_token(&data, "ingest", "load")?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {secret}").parse()?,
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(5))
        .build()?;
    let (mut child, base) = spawn_server(&config, &data)?;
    wait_ready(&client, &base).await?;
    let load = Arc::new(Load {
        base: std::sync::RwLock::new(base),
        paused: false.into(),
        idle: AtomicU64::new(0),
        acked_good: AtomicU64::new(0),
        acked_total: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        stop: false.into(),
    });
    let time = jiff::Timestamp::now().to_string();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(w, client.clone(), time.clone(), load.clone())))
        .collect();

    let mut acked_before = 0;
    for round in 0..ROUNDS {
        // Kill at a different moment of the load each round (150..=500 ms in).
        tokio::time::sleep(Duration::from_millis(150 + (round * 97) % 351)).await;
        child.kill()?; // SIGKILL
        child.wait()?;
        let (next, base) = spawn_server(&config, &data)?;
        child = next;
        if let Ok(mut b) = load.base.write() {
            *b = base.clone();
        }
        wait_ready(&client, &base).await?;
        // Let every writer get its in-flight request acknowledged, then hold still and compare.
        load.paused.store(true, Ordering::SeqCst);
        let mut waited = 0;
        while load.idle.load(Ordering::SeqCst) < WRITERS {
            anyhow::ensure!(waited < 2000, "writers did not settle in round {round}");
            tokio::time::sleep(Duration::from_millis(5)).await;
            waited += 1;
        }
        let acked = (
            load.acked_good.load(Ordering::SeqCst),
            load.acked_total.load(Ordering::SeqCst),
        );
        assert_eq!(
            stored_totals(&data).await?,
            acked,
            "round {round}: stored (good, total) must equal the acknowledged sums"
        );
        assert!(acked.1 > acked_before, "round {round}: no progress");
        acked_before = acked.1;
        load.paused.store(false, Ordering::SeqCst);
    }
    load.stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }
    child.kill()?;
    child.wait()?;
    eprintln!(
        "{ROUNDS} kill -9 rounds: {} events acknowledged, {} retries were already committed",
        load.acked_total.load(Ordering::SeqCst),
        load.duplicates.load(Ordering::SeqCst)
    );
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

/// Active demo-traffic tokens in `data`, from `nines token list -o json`.
fn active_demo_tokens(data: &Path) -> anyhow::Result<usize> {
    let out = std::process::Command::new(bin())
        .args(["token", "list", "-o", "json", "--data-dir"])
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token list failed");
    let tokens: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    Ok(tokens
        .iter()
        .filter(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("demo-traffic-"))
                && t["revoked_at"].is_null()
        })
        .count())
}

/// What the demo's first start backfills into checkout/availability: 7 days of minutes at
/// half of 40 events a second.
const DEMO_HISTORY: u64 = 7 * 1440 * 1200;

#[test]
fn demo_serves_example_slos() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The first start backfills a week of history, then live traffic follows.
    let first = demo_run(dir.path(), DEMO_HISTORY + 1)?;
    assert!(first > DEMO_HISTORY, "no backfilled history: total {first}");
    assert_eq!(active_demo_tokens(dir.path())?, 1, "after the first run");
    // The second start finds the history and only adds live traffic.
    let second = demo_run(dir.path(), first + 1)?;
    assert!(
        second > first && second < 2 * DEMO_HISTORY,
        "second run: total {second} after {first}"
    );
    // Killed with -9, the demo could not revoke its token; the next start does.
    assert_eq!(active_demo_tokens(dir.path())?, 1, "after the second run");
    Ok(())
}

/// Starts `nines serve --demo`, waits until checkout/availability has `want` events (or 20 s),
/// kills it with -9 and returns the total it saw last.
fn demo_run(data: &Path, want: u64) -> anyhow::Result<u64> {
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
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
        let mut last = 0;
        for _ in 0..200 {
            let (_, total) = totals(&client, &base).await?;
            if total != u64::MAX {
                last = total;
            }
            if last >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok(last)
    })?;
    child.kill()?;
    child.wait()?;
    Ok(total)
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
    // Collect the rest of standard error: refused requests are logged there.
    let (log_tx, log_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
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
    // The refusal is logged with its route, status and stable code.
    let logged = std::iter::from_fn(|| log_rx.recv_timeout(Duration::from_secs(5)).ok())
        .find(|l| l.contains("refused POST /api/v1/events → 401 auth.missing_token"));
    child.kill()?;
    child.wait()?;
    assert!(announced, "no start-up line about anonymous reads");
    assert_eq!(read, 200);
    assert_eq!(write, 401);
    assert!(logged.is_some(), "the refused write was not logged");
    Ok(())
}
