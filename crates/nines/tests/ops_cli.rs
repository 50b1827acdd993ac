//! Operations commands with the real binary: `nines backup` while `nines serve` ingests and
//! audits, `nines restore`, `nines migrate` (SQLite and a real PostgreSQL), and the server's
//! retention flags.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store as _;
use support::{nines, start_nines};

const CONFIG: &str = r#"apiVersion: nines/v1
services:
  - name: shop
    slos:
      - name: a
        sli: { kind: availability, source: events, total: { path: "^/" }, good: { status: "<500" } }
        objective: 99
        window: 30d
      - name: b
        sli: { kind: availability, source: events, total: { path: "^/" }, good: { status: "<500" } }
        objective: 99
        window: 30d
"#;

fn run(args: &[&str]) -> anyhow::Result<Output> {
    Ok(nines().args(args).output()?)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Creates a token with `nines token create` in `data`; returns its secret.
fn create_token(data: &Path, role: &str, name: &str) -> anyhow::Result<String> {
    let out = run(&[
        "token",
        "create",
        "--role",
        role,
        "--name",
        name,
        "--data-dir",
        path(data),
    ])?;
    anyhow::ensure!(out.status.success(), "token create: {}", text(&out));
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn client(secret: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {secret}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// Sum of the stored totals of `series` in the SQLite store at `db`.
async fn stored_total(db: &Path, series: &str) -> anyhow::Result<u64> {
    let store = store::SqliteStore::open(db).await?;
    let counts = store.counts(series, 0, i64::MAX).await;
    store.close().await?;
    Ok(counts?.iter().map(|c| c.total).sum())
}

/// What the writer has done: requests acknowledged and requests started.
#[derive(Default)]
struct Load {
    acked: AtomicU64,
    started: AtomicU64,
    changes: AtomicU64,
    stop: AtomicBool,
}

/// Posts one increment to both SLOs per request (one transaction), and an audited change
/// every tenth request, until stopped.
async fn writer(client: reqwest::Client, base: String, load: Arc<Load>) -> anyhow::Result<()> {
    let mut i = 0u64;
    while !load.stop.load(Ordering::SeqCst) {
        let now = jiff::Timestamp::now().as_second();
        let body = json!([
            { "time": now, "slo": "shop/a", "good": 1, "total": 1 },
            { "time": now, "slo": "shop/b", "good": 1, "total": 1 },
        ]);
        load.started.fetch_add(1, Ordering::SeqCst);
        let r = client
            .post(format!("{base}/api/v1/events"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "events: {}", r.status());
        load.acked.fetch_add(1, Ordering::SeqCst);
        if i.is_multiple_of(10) {
            let r = client
                .post(format!("{base}/api/v1/changes"))
                .json(&json!({ "service": "shop", "version": format!("v{i}"), "time": now, "description": "deploy" }))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "changes: {}", r.status());
            load.changes.fetch_add(1, Ordering::SeqCst);
        }
        i += 1;
    }
    Ok(())
}

/// The issue's "online, consistent": backups taken while the server commits requests and
/// audit records restore to a store where both SLOs (written by the same requests) have the
/// same totals, at least every request acknowledged before the backup began and at most those
/// started before it ended, and whose audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_restores_a_consistent_snapshot() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let secret = create_token(&data, "admin", "ops-test")?;
    let (_server, base) = start_nines(&config, &data)?;
    let client = client(&secret)?;
    let load = Arc::new(Load::default());
    let writing = tokio::spawn(writer(client, base, load.clone()));
    let wait_for = |n: u64| {
        let load = load.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while load.acked.load(Ordering::SeqCst) < n {
                anyhow::ensure!(Instant::now() < deadline, "the writer stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok(())
        }
    };

    let mut seen = Vec::new();
    for round in 0..3u64 {
        wait_for(load.acked.load(Ordering::SeqCst) + 20).await?;
        let backup = dir.path().join(format!("backup-{round}.db"));
        let acked_before = load.acked.load(Ordering::SeqCst);
        let out = nines()
            .args(["backup", "--data-dir", path(&data), "--to", path(&backup)])
            .output()?;
        let started_after = load.started.load(Ordering::SeqCst);
        assert!(out.status.success(), "backup: {}", text(&out));
        assert!(text(&out).contains("audit key is not in the backup"));

        let restored = dir.path().join(format!("restored-{round}"));
        let out = run(&[
            "restore",
            "--from",
            path(&backup),
            "--data-dir",
            path(&restored),
        ])?;
        assert!(out.status.success(), "restore: {}", text(&out));
        let db = restored.join("nines.db");
        let a = stored_total(&db, "shop/a").await?;
        let b = stored_total(&db, "shop/b").await?;
        assert_eq!(
            a, b,
            "round {round}: one request's increments split by the backup"
        );
        assert!(
            (acked_before..=started_after).contains(&a),
            "round {round}: {a} requests in the backup, {acked_before} acknowledged before it, {started_after} started by its end"
        );
        // The audit chain (token, changes) is whole: verified with the live store's key.
        let out = run(&[
            "audit",
            "verify",
            "--data-dir",
            path(&restored),
            "--audit-key-file",
            path(&data.join("audit.key")),
        ])?;
        assert!(out.status.success(), "audit verify: {}", text(&out));
        seen.push(a);
    }
    load.stop.store(true, Ordering::SeqCst);
    writing.await??;
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the server kept ingesting between backups: {seen:?}"
    );
    assert!(load.changes.load(Ordering::SeqCst) > 0);
    Ok(())
}

/// Marks the SQLite database at `db` as written by a nines one schema version newer.
async fn make_newer(db: &Path) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query(
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, 'future', 0)",
    )
    .bind(i64::from(store::SCHEMA_VERSION) + 1)
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn restore_refuses_a_store_in_place_a_foreign_file_and_a_newer_backup() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    create_token(&data, "viewer", "someone")?;
    let backup = dir.path().join("backup.db");
    let out = run(&["backup", "--data-dir", path(&data), "--to", path(&backup)])?;
    assert!(out.status.success(), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup is readable by its owner only");
    }

    // Never overwrite a backup.
    let out = run(&["backup", "--data-dir", path(&data), "--to", path(&backup)])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("exists"), "{}", text(&out));
    // Nothing to back up.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    let out = run(&[
        "backup",
        "--data-dir",
        path(&empty),
        "--to",
        path(&dir.path().join("x.db")),
    ])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!empty.join("nines.db").exists(), "backup created a store");

    // A data dir that holds a store is replaced only with --force, keeping the old one aside.
    let target = dir.path().join("target");
    create_token(&target, "viewer", "other")?;
    let out = run(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
    ])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    let out = run(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&target),
        "--force",
        "-o",
        "json",
    ])?;
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    let kept = doc["replaced"].as_str().expect("the old store is kept");
    assert!(Path::new(kept).is_file());
    let out = run(&["token", "list", "-o", "json", "--data-dir", path(&target)])?;
    let tokens = String::from_utf8_lossy(&out.stdout);
    assert!(
        tokens.contains("someone") && !tokens.contains("other"),
        "{tokens}"
    );

    // Not a nines backup: nothing is left behind.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database")?;
    let fresh = dir.path().join("fresh");
    let out = run(&["restore", "--from", path(&junk), "--data-dir", path(&fresh)])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not a usable nines backup"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_dir(&fresh)?.count(),
        0,
        "left files in {fresh:?}"
    );

    // A backup from a newer nines.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&backup, &newer)?;
    make_newer(&newer).await?;
    let out = run(&[
        "restore",
        "--from",
        path(&newer),
        "--data-dir",
        path(&fresh),
    ])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("newer nines"), "{}", text(&out));
    assert!(!fresh.join("nines.db").exists());
    Ok(())
}

#[test]
fn backup_of_a_postgres_store_points_to_pg_dump() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = dir.path().join("url");
    std::fs::write(&url, "postgres://nines:hunter2@db.example.com/nines\n")?;
    let out = run(&[
        "backup",
        "--store-file",
        path(&url),
        "--to",
        path(&dir.path().join("b")),
    ])?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let message = text(&out);
    assert!(message.contains("pg_dump"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
    Ok(())
}

#[tokio::test]
async fn migrate_says_from_and_to_and_refuses_a_newer_database() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let latest = u64::from(store::SCHEMA_VERSION);
    let out = run(&["migrate", "--data-dir", path(dir.path()), "-o", "json"])?;
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["from"], 0);
    assert_eq!(doc["to"], latest);
    let versions: Vec<u64> = doc["applied"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["version"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>());

    // Up to date: nothing applied, exit 0; the table says so.
    let out = run(&["migrate", "--data-dir", path(dir.path())])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("schema version {latest} is current")));

    // A missing directory is an error, not a new store.
    let out = run(&["migrate", "--data-dir", path(&dir.path().join("typo"))])?;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!dir.path().join("typo").exists());

    make_newer(&dir.path().join("nines.db")).await?;
    let out = run(&["migrate", "--data-dir", path(dir.path())])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("upgrade nines"), "{}", text(&out));
    Ok(())
}

/// `nines migrate --store-file` against a real PostgreSQL (a throw-away cluster): the same
/// report, and the password never printed.
#[tokio::test]
async fn migrate_postgres_from_a_url_file() -> anyhow::Result<()> {
    let cluster = store::testing::PgCluster::start()?;
    let url = cluster.create_database("ops_migrate").await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("store-url");
    std::fs::write(&file, format!("{url}\n"))?;
    let out = run(&["migrate", "--store-file", path(&file), "-o", "json"])?;
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["from"], 0);
    assert_eq!(doc["to"], u64::from(store::SCHEMA_VERSION));
    let out = run(&["migrate", "--store-file", path(&file), "-o", "json"])?;
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["applied"], json!([]));
    if let Some(password) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_string())
    {
        assert!(!doc["store"].to_string().contains(&password));
    }
    Ok(())
}

/// The admin commands reach a shared PostgreSQL store the way `nines serve --store-file` does:
/// the first admin token of a Kubernetes install is made this way, and the audit log the
/// replicas chain is verified with the key they share. Without that key both are refused.
#[tokio::test]
async fn token_and_audit_work_on_a_postgres_store_with_the_shared_key() -> anyhow::Result<()> {
    let cluster = store::testing::PgCluster::start()?;
    let url = cluster.create_database("ops_token").await?;
    let dir = tempfile::tempdir()?;
    let url_file = dir.path().join("store-url");
    std::fs::write(&url_file, format!("{url}\n"))?;
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, format!("{}\n", "ab".repeat(32)))?;
    let shared = ["--store-file", path(&url_file)];
    let keyed = [
        "--store-file",
        path(&url_file),
        "--audit-key-file",
        path(&key_file),
    ];

    let out = run(&[
        &["token", "create", "--role", "admin", "--name", "x"][..],
        &shared,
    ]
    .concat())?;
    assert!(
        !out.status.success(),
        "created a token without the shared key"
    );
    assert!(text(&out).contains("--audit-key-file"), "{}", text(&out));

    let out = run(&[
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "first-admin",
        ][..],
        &keyed,
    ]
    .concat())?;
    assert!(out.status.success(), "token create: {}", text(&out));
    let secret = String::from_utf8(out.stdout)?.trim().to_string();
    assert!(secret.len() >= 32, "secret {secret:?}");

    let out = run(&[&["token", "list", "-o", "json"][..], &shared].concat())?;
    assert!(out.status.success(), "token list: {}", text(&out));
    let listed: Value = serde_json::from_slice(&out.stdout)?;
    assert!(
        listed.to_string().contains("first-admin"),
        "token list: {listed}"
    );
    // The record is in PostgreSQL, not in some data directory of the working directory.
    let opened = store::open(&url).await?;
    let tokens = opened.list_tokens().await?;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].sha256, store::token_sha256(&secret));
    opened.close().await?;

    let out = run(&[&["audit", "verify"][..], &keyed].concat())?;
    assert!(out.status.success(), "audit verify: {}", text(&out));
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, "cd".repeat(32))?;
    let out = run(&[
        "audit",
        "verify",
        "--store-file",
        path(&url_file),
        "--audit-key-file",
        path(&other_key),
    ])?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify with the wrong key: {}",
        text(&out)
    );
    Ok(())
}

/// The value of `name{labels}` in the OpenMetrics text at `base`/metrics.
async fn metric(base: &str, series: &str) -> anyhow::Result<Option<f64>> {
    let body = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    Ok(body
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok()))
}

async fn wait_metric(base: &str, series: &str) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = metric(base, series).await? {
            return Ok(v);
        }
        anyhow::ensure!(Instant::now() < deadline, "{series} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--retention-counters` shorter than what the config reads is refused; otherwise the
/// server deletes older buckets at start, counts them in /metrics, and a restart finds
/// nothing more to delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_counters_and_refuses_too_short_a_span() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");

    let out = run(&[
        "serve",
        "-c",
        path(&config),
        "--data-dir",
        path(&data),
        "--listen",
        "127.0.0.1:0",
        "--retention-counters",
        "20d",
    ])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("--retention-counters")
            && message.contains("20d")
            && message.contains("shop/"),
        "{message}"
    );

    // Three minutes 100 days ago and one now, for each of the two SLOs.
    let secret = create_token(&data, "ingest", "feeder")?;
    let now = jiff::Timestamp::now().as_second();
    let old = now - 100 * 86_400;
    let mut events = Vec::new();
    for t in [old, old + 60, old + 120, now] {
        for slo in ["shop/a", "shop/b"] {
            events.push(json!({ "time": t, "slo": slo, "good": 1, "total": 1 }));
        }
    }
    {
        let (_server, base) = start_nines(&config, &data)?;
        let r = client(&secret)?
            .post(format!("{base}/api/v1/events"))
            .json(&Value::Array(events))
            .send()
            .await?;
        assert!(r.status().is_success(), "{}", r.status());
    }
    let db = data.join("nines.db");
    assert_eq!(stored_total(&db, "shop/a").await?, 4);

    let start = |extra: &[&str]| -> anyhow::Result<(support::Killed, String)> {
        let mut child = nines()
            .args(["serve", "--listen", "127.0.0.1:0", "-c", path(&config)])
            .args(["--data-dir", path(&data), "--retention-counters", "40d"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let child = support::Killed(child);
        let mut base = None;
        use std::io::BufRead as _;
        let mut lines = std::io::BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.split("listening on ").nth(1) {
                base = rest.split_whitespace().next().map(str::to_string);
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Ok((child, base.ok_or_else(|| anyhow::anyhow!("did not start"))?))
    };
    let pruned = r#"nines_retention_pruned_rows_total{table="counters"}"#;
    {
        let (_server, base) = start(&[])?;
        assert_eq!(
            wait_metric(&base, pruned).await?,
            6.0,
            "3 old minutes × 2 SLOs"
        );
    }
    assert_eq!(
        stored_total(&db, "shop/a").await?,
        1,
        "the recent minute stays"
    );
    assert_eq!(stored_total(&db, "shop/b").await?, 1);
    {
        let (_server, base) = start(&["--retention-notifications", "1d"])?;
        let runs = r#"nines_retention_runs_total{outcome="ok"}"#;
        assert_eq!(wait_metric(&base, runs).await?, 1.0);
        assert_eq!(
            metric(&base, pruned).await?,
            Some(0.0),
            "nothing left to delete"
        );
    }
    Ok(())
}

/// `--to -` and `--from -`: a backup through a pipe (`kubectl exec` into an image without a
/// shell), leaving no staging file in the data directory.
#[test]
fn backup_and_restore_through_a_pipe() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    create_token(&data, "viewer", "piped")?;
    let listing = |dir: &Path| -> anyhow::Result<std::collections::BTreeSet<std::ffi::OsString>> {
        Ok(std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect())
    };
    let before = listing(&data)?;
    let out = run(&["backup", "--data-dir", path(&data), "--to", "-"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.starts_with(b"SQLite format 3\0"),
        "a database on stdout"
    );
    assert_eq!(before, listing(&data)?, "the staging file was removed");

    let target = dir.path().join("target");
    let mut child = nines()
        .args(["restore", "--from", "-", "--data-dir", path(&target)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write as _;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        stdin.write_all(&out.stdout)?;
    }
    let restored = child.wait_with_output()?;
    assert!(restored.status.success(), "{}", text(&restored));
    let out = run(&["token", "list", "-o", "json", "--data-dir", path(&target)])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("piped"));
    Ok(())
}
