//! The issue's failover test: three `nines serve --store postgres://...` replicas share one
//! PostgreSQL. An alert storm and an ingestion load are spread over all three; the leader
//! (found through `/metrics`) is killed with -9 in the middle. Then:
//! - another replica leads within one evaluation interval (plus slack), and from then on
//!   every sample of the survivors' `/metrics` shows exactly one leader;
//! - every alert group whose post was acknowledged is notified, and repeated notifications
//!   (a new webhook id telling a group the same thing again) stay under 1%;
//! - the counters in the store equal the sum of what was acknowledged through all replicas
//!   (requests without an answer are retried with their Idempotency-Key on another replica).
//!
//! Figures are printed (`cargo test -p nines --test replicas_failover -- --nocapture`).

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::{nines, serve, Killed};

const REPLICAS: usize = 3;
/// The evaluation interval the replicas run with: the takeover bound.
const EVAL_INTERVAL: Duration = Duration::from_secs(2);
/// Allowed on top of it: the election tick (1 s) and the sampling period.
const TAKEOVER_SLACK: Duration = Duration::from_secs(2);
const ALERTNAME: &str = "ReplicaStorm";
const POSTERS: usize = 3;
const WRITERS: usize = 3;
/// Storm before and after the kill.
const BEFORE_KILL: Duration = Duration::from_secs(4);
const AFTER_KILL: Duration = Duration::from_secs(4);
const SERIES: &str = "checkout/availability";
/// Any 64 hex digits: every replica must share the audit key.
const AUDIT_KEY: &str = "6e696e65732d7265706c696361732d746573742d61756469742d6b65792d3031";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(webhook: &str) -> String {
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
    group_by: [alertname, instance]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: team
      webhook_configs:
        - url: {webhook}
"#
    )
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver, in the test process (it outlives every replica).

#[derive(Debug, Clone)]
struct Received {
    webhook_id: String,
    group_key: String,
    instance: String,
    status: String,
    fingerprints: Vec<String>,
}

#[derive(Default)]
struct Hook {
    got: Mutex<Vec<Received>>,
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut fingerprints: Vec<String> = doc["alerts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["fingerprint"].as_str().map(str::to_string))
        .collect();
    fingerprints.sort();
    lock(&hook.got).push(Received {
        webhook_id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        group_key: text(&doc["groupKey"]),
        instance: text(&doc["groupLabels"]["instance"]),
        status: text(&doc["status"]),
        fingerprints,
    });
    // A receiver that takes a moment, so sends are in flight when the leader dies.
    tokio::time::sleep(Duration::from_millis(60)).await;
    StatusCode::OK
}

async fn start_receiver() -> anyhow::Result<(String, Arc<Hook>)> {
    let hook = Arc::new(Hook::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, hook))
}

// ---------------------------------------------------------------------------------------------
// The replicas.

struct Replica {
    name: String,
    base: String,
    child: Option<Killed>,
}

fn start_replica(
    name: &str,
    dir: &Path,
    config: &Path,
    url_file: &Path,
    key_file: &Path,
) -> anyhow::Result<Replica> {
    let mut command = nines();
    command
        .env_remove("NINES_STORE")
        .env_remove("NINES_STORE_FILE")
        .env_remove("NINES_REPLICA_ID")
        // No --data-dir: with --store nothing is written there; any stray file would land
        // in the test's temporary directory.
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--store-file")
        .arg(url_file)
        .arg("--audit-key-file")
        .arg(key_file)
        .args(["--replica-id", name, "--eval-interval", "2s"]);
    let (child, base) = serve(command, name)?;
    Ok(Replica {
        name: name.to_string(),
        base,
        child: Some(child),
    })
}

/// Creates a token of `role` directly in the shared store; returns its secret.
async fn create_token(store: &dyn store::Store, role: store::TokenRole) -> anyhow::Result<String> {
    let now = jiff::Timestamp::now().as_second();
    let secret = store::new_token_secret()?;
    let sha256 = store::token_sha256(&secret);
    let name = format!("failover-{role}");
    let record = store::TokenRecord {
        name: name.clone(),
        role,
        sha256,
        created_at: now,
        revoked_at: None,
    };
    let audit = store::AuditEntry::new(now, "test", "token.create", &name);
    store.insert_token(&record, &audit).await?;
    Ok(secret)
}

fn client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// `nines_leader{replica="..."}` of one replica: `None` when it does not answer.
async fn leads(http: &reqwest::Client, base: &str) -> Option<bool> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("nines_leader{"))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.trim() == "1")
}

/// The bases of the replicas not killed.
#[derive(Default)]
struct Alive {
    bases: Mutex<Vec<(String, String)>>,
}

impl Alive {
    fn list(&self) -> Vec<(String, String)> {
        lock(&self.bases).clone()
    }

    fn remove(&self, name: &str) {
        lock(&self.bases).retain(|(n, _)| n != name);
    }
}

/// Waits until every replica answers `/readyz` with 200.
async fn wait_ready(open: &reqwest::Client, replicas: &[Replica]) -> anyhow::Result<()> {
    for r in replicas {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = open.get(format!("{}/readyz", r.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{} not ready", r.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Waits (at most `within`) until exactly one running replica says it leads; its name.
async fn single_leader(
    open: &reqwest::Client,
    replicas: &[Replica],
    within: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let mut leaders = Vec::new();
        for r in replicas.iter().filter(|r| r.child.is_some()) {
            if leads(open, &r.base).await == Some(true) {
                leaders.push(r.name.clone());
            }
        }
        if leaders.len() == 1 {
            return Ok(leaders.remove(0));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no single leader within {within:?}: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `nines_leader_transitions_total` of one replica.
async fn transitions(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find(|l| l.starts_with("nines_leader_transitions_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no nines_leader_transitions_total in {base}/metrics"))
}

/// The same files for every replica: config, store URL, audit key.
struct Files {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    url: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn files(url: &str, webhook: &str) -> anyhow::Result<Files> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("audit.key");
    std::fs::write(&key, format!("{AUDIT_KEY}\n"))?;
    let url_file = dir.path().join("store-url");
    std::fs::write(&url_file, format!("{url}\n"))?;
    let config_path = dir.path().join("nines.yaml");
    std::fs::write(&config_path, config(webhook))?;
    Ok(Files {
        dir,
        config: config_path,
        url: url_file,
        key,
    })
}

fn start_replicas(files: &Files, n: usize) -> anyhow::Result<Vec<Replica>> {
    (0..n)
        .map(|i| {
            let name = format!("replica-{i}");
            let home = files.dir.path().join(&name);
            std::fs::create_dir_all(&home)?;
            start_replica(&name, &home, &files.config, &files.url, &files.key)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The load.

fn storm_alert(instance: &str, job: &str) -> (Value, String) {
    let labels = BTreeMap::from([
        ("alertname", ALERTNAME.to_string()),
        ("instance", instance.to_string()),
        ("job", job.to_string()),
    ]);
    let mut set = notify::LabelSet::new();
    for (k, v) in &labels {
        set.insert(*k, v.as_str());
    }
    (
        json!({ "labels": labels, "annotations": { "summary": format!("{instance} is down") } }),
        set.fingerprint().to_string(),
    )
}

/// Posts a new group (1..=3 alerts) every 50 ms, replica after replica, until `stop`. A post
/// without an answer goes to the next replica (alerts are upserted by fingerprint, so a
/// repeat changes nothing). Returns the acknowledged groups.
async fn poster(
    p: usize,
    http: reqwest::Client,
    alive: Arc<Alive>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut acked = Vec::new();
    let mut k = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let instance = format!("p{p}-g{k:04}");
        let batch: Vec<Value> = ["api", "db", "web"][..1 + (k + p) % 3]
            .iter()
            .map(|job| storm_alert(&instance, job).0)
            .collect();
        for attempt in 0..6 {
            let bases = alive.list();
            if bases.is_empty() {
                break;
            }
            let (_, base) = &bases[(p + k + attempt) % bases.len()];
            let sent = http
                .post(format!("{base}/api/v2/alerts"))
                .json(&batch)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                acked.push(instance.clone());
                break;
            }
        }
        k += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    acked
}

#[derive(Default)]
struct Acked {
    good: AtomicU64,
    total: AtomicU64,
    requests: AtomicU64,
    /// Answers saying the key was already committed (a retry of a request whose first try
    /// committed but got no answer).
    duplicates: AtomicU64,
    retries: AtomicU64,
}

/// Posts pre-aggregated events with an Idempotency-Key, replica after replica, until `stop`;
/// a request without a 2xx is retried with the same key on the next replica.
async fn writer(
    w: usize,
    http: reqwest::Client,
    alive: Arc<Alive>,
    acked: Arc<Acked>,
    stop: Arc<AtomicBool>,
) {
    let mut i = 0u64;
    let mut attempt = 0usize;
    while !stop.load(Ordering::SeqCst) || attempt > 0 {
        let bases = alive.list();
        if bases.is_empty() || attempt > 50 {
            return;
        }
        let (_, base) = &bases[(w + i as usize + attempt) % bases.len()];
        let total = 20;
        let good = total - (i % 2);
        let body = json!([{
            "time": jiff::Timestamp::now().to_string(),
            "slo": SERIES,
            "good": good,
            "total": total,
        }]);
        let sent = http
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
                    acked.duplicates.fetch_add(1, Ordering::SeqCst);
                }
                acked.good.fetch_add(good, Ordering::SeqCst);
                acked.total.fetch_add(total, Ordering::SeqCst);
                acked.requests.fetch_add(1, Ordering::SeqCst);
                i += 1;
                attempt = 0;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            None => {
                acked.retries.fetch_add(1, Ordering::SeqCst);
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One look at every living replica's `nines_leader`.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    leaders: Vec<String>,
    answered: usize,
}

async fn sampler(
    http: reqwest::Client,
    alive: Arc<Alive>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let at = Instant::now();
        let mut leaders = Vec::new();
        let mut answered = 0;
        for (name, base) in alive.list() {
            if let Some(l) = leads(&http, &base).await {
                answered += 1;
                if l {
                    leaders.push(name);
                }
            }
        }
        lock(&samples).push(Sample {
            at,
            leaders,
            answered,
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_survive_the_leader_killed_during_a_storm() -> anyhow::Result<()> {
    let started = Instant::now();
    let cluster = store::testing::PgCluster::start()?;
    let url = cluster.create_database("replicas").await?;
    let (hook_url, hook) = start_receiver().await?;
    let files = files(&url, &hook_url)?;

    // Tokens go straight into the shared store (it is migrated by this first open).
    let shared = store::open(&url).await?;
    shared.set_audit_key(store::AuditKey::from_file(&files.key)?);
    let ingest = client(&create_token(shared.as_ref(), store::TokenRole::Ingest).await?)?;
    let open = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;

    let mut replicas = start_replicas(&files, REPLICAS)?;
    let alive = Arc::new(Alive::default());
    *lock(&alive.bases) = replicas
        .iter()
        .map(|r| (r.name.clone(), r.base.clone()))
        .collect();
    wait_ready(&open, &replicas).await?;
    let first_leader = single_leader(&open, &replicas, Duration::from_secs(10)).await?;
    println!("leader at the start: {first_leader}");

    // The storm, the ingestion and the sampler.
    let stop_load = Arc::new(AtomicBool::new(false));
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let acked = Arc::new(Acked::default());
    let sampler_task = tokio::spawn(sampler(
        open.clone(),
        alive.clone(),
        samples.clone(),
        stop_sampler.clone(),
    ));
    let posters: Vec<_> = (0..POSTERS)
        .map(|p| tokio::spawn(poster(p, ingest.clone(), alive.clone(), stop_load.clone())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                ingest.clone(),
                alive.clone(),
                acked.clone(),
                stop_load.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(BEFORE_KILL).await;
    let victim = replicas
        .iter_mut()
        .find(|r| r.name == first_leader)
        .ok_or_else(|| anyhow::anyhow!("the leader is not a replica"))?;
    let killed_at = Instant::now();
    if let Some(mut child) = victim.child.take() {
        child.0.kill()?; // SIGKILL
        child.0.wait()?;
    }
    // Clients keep trying the dead replica for a moment (as until a load balancer's health
    // check notices): what they send there fails and is retried on another replica.
    tokio::time::sleep(Duration::from_millis(300)).await;
    alive.remove(&victim.name);
    println!(
        "killed {first_leader} (-9) {:.1} s into the storm",
        BEFORE_KILL.as_secs_f64()
    );
    tokio::time::sleep(AFTER_KILL.saturating_sub(Duration::from_millis(300))).await;
    stop_load.store(true, Ordering::SeqCst);
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for p in posters {
        expected.extend(p.await?);
    }
    for w in writers {
        w.await?;
    }

    // Every acknowledged group is notified.
    let deadline = Instant::now() + Duration::from_secs(25);
    let notified = |got: &[Received]| -> BTreeSet<String> {
        got.iter()
            .filter(|r| r.group_key.contains(ALERTNAME) && r.status == "firing")
            .map(|r| r.instance.clone())
            .collect()
    };
    while !expected.is_subset(&notified(&lock(&hook.got))) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_notified_after = started.elapsed();
    // A few more group intervals, for any repeat to show itself.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_sampler.store(true, Ordering::SeqCst);
    sampler_task.await?;

    // What the store holds against what was acknowledged.
    let now = jiff::Timestamp::now().as_second();
    let rows = shared.counts(SERIES, now - 3600, now + 120).await?;
    let stored_good: u64 = rows.iter().map(|r| r.good).sum();
    let stored_total: u64 = rows.iter().map(|r| r.total).sum();

    // What a notifier refresh reads, timed on the storm's alerts.
    let mut read_times = Vec::new();
    let mut alerts_read = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let alerts = shared.alerts(None).await?;
        shared.silences().await?;
        shared.acks().await?;
        for a in &alerts {
            let _: Value = serde_json::from_str(&a.labels)?;
            let _: Value = serde_json::from_str(&a.annotations)?;
        }
        alerts_read = alerts.len();
        read_times.push(t.elapsed());
    }
    read_times.sort();
    // /readyz: every survivor is ready and names itself; one says it leads.
    let mut ready_leaders = Vec::new();
    for r in replicas.iter().filter(|r| r.child.is_some()) {
        let doc: Value = open
            .get(format!("{}/readyz", r.base))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(
            doc["status"] == "ready" && doc["replica"] == r.name.as_str(),
            "{}: /readyz {doc}",
            r.name
        );
        if doc["leader"] == true {
            ready_leaders.push(r.name.clone());
        }
    }
    drop(replicas);

    // Leadership over time.
    let samples = lock(&samples).clone();
    let takeover = samples
        .iter()
        .find(|s| s.at > killed_at && s.leaders.len() == 1)
        .map(|s| s.at.duration_since(killed_at));
    let after: Vec<&Sample> = match takeover {
        Some(t) => samples.iter().filter(|s| s.at >= killed_at + t).collect(),
        None => Vec::new(),
    };
    let bad_samples: Vec<&&Sample> = after
        .iter()
        .filter(|s| s.leaders.len() != 1 || s.answered != REPLICAS - 1)
        .collect();
    let new_leaders: BTreeSet<&String> = after.iter().flat_map(|s| &s.leaders).collect();

    // The receiver's record.
    let got = lock(&hook.got).clone();
    let storm: Vec<&Received> = got
        .iter()
        .filter(|r| r.group_key.contains(ALERTNAME))
        .collect();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut contents: HashMap<(&str, &str, &[String]), BTreeSet<&str>> = HashMap::new();
    for r in &storm {
        *ids.entry(&r.webhook_id).or_default() += 1;
        contents
            .entry((&r.group_key, &r.status, &r.fingerprints))
            .or_default()
            .insert(&r.webhook_id);
    }
    let redeliveries: usize = ids.values().map(|n| n - 1).sum();
    let repeated: usize = contents.values().map(|ids| ids.len() - 1).sum();
    let repeated_examples: Vec<String> = contents
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .take(5)
        .map(|((g, s, f), ids)| format!("{g} {s} {f:?} ids {ids:?}"))
        .collect();
    let missing: Vec<String> = expected.difference(&notified(&got)).cloned().collect();
    let groups = expected.len();
    let pct = |n: usize| 100.0 * n as f64 / groups.max(1) as f64;

    println!(
        "storm: {groups} groups acknowledged over {} replicas ({} alerts in the store), all \
         notified {:.1} s after the start",
        REPLICAS,
        alerts_read,
        all_notified_after.as_secs_f64()
    );
    match takeover {
        Some(t) => println!(
            "takeover: {} leads {:.2} s after the kill (bound {:.1} s)",
            new_leaders
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            t.as_secs_f64(),
            (EVAL_INTERVAL + TAKEOVER_SLACK).as_secs_f64()
        ),
        None => println!("takeover: none"),
    }
    println!(
        "leadership samples after the takeover: {} ({} without exactly one leader)",
        after.len(),
        bad_samples.len()
    );
    println!(
        "receiver: {} requests, {} distinct webhook ids; same id again (at-least-once across \
         the kill): {redeliveries} = {:.2}% of groups",
        storm.len(),
        ids.len(),
        pct(redeliveries)
    );
    println!(
        "repeated notifications (new id, same group key, status and alerts): {repeated} = \
         {:.2}% of groups",
        pct(repeated)
    );
    for e in &repeated_examples {
        println!("  repeated: {e}");
    }
    println!(
        "ingestion: {} requests acknowledged through the replicas ({} retried on another \
         replica, {} answered as already committed); acknowledged good/total {}/{}, stored \
         {stored_good}/{stored_total}",
        acked.requests.load(Ordering::SeqCst),
        acked.retries.load(Ordering::SeqCst),
        acked.duplicates.load(Ordering::SeqCst),
        acked.good.load(Ordering::SeqCst),
        acked.total.load(Ordering::SeqCst),
    );
    println!(
        "notifier refresh read (alerts, silences, acks, decoding labels) of {alerts_read} \
         alerts: median {:.1} ms, max {:.1} ms",
        read_times[read_times.len() / 2].as_secs_f64() * 1e3,
        read_times[read_times.len() - 1].as_secs_f64() * 1e3
    );
    println!("test took {:.1} s", started.elapsed().as_secs_f64());

    let takeover = takeover.ok_or_else(|| anyhow::anyhow!("no replica took over"))?;
    assert!(
        takeover <= EVAL_INTERVAL + TAKEOVER_SLACK,
        "the takeover took {takeover:?}"
    );
    assert!(
        !new_leaders.contains(&first_leader),
        "the killed replica still counted as leader"
    );
    assert_eq!(
        ready_leaders.len(),
        1,
        "/readyz of the survivors names one leader: {ready_leaders:?}"
    );
    assert!(
        bad_samples.is_empty(),
        "samples after the takeover without exactly one leader: {:?}",
        bad_samples.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        groups >= 300,
        "the storm must reach hundreds of groups: {groups}"
    );
    assert!(
        missing.is_empty(),
        "{} of {groups} groups never notified: {:?}",
        missing.len(),
        missing.iter().take(10).collect::<Vec<_>>()
    );
    assert!(
        repeated * 100 < groups,
        "repeated notifications must stay under 1% of {groups} groups: {repeated} ({repeated_examples:?})"
    );
    assert_eq!(
        (stored_good, stored_total),
        (
            acked.good.load(Ordering::SeqCst),
            acked.total.load(Ordering::SeqCst)
        ),
        "the store must hold exactly what was acknowledged"
    );
    assert!(acked.requests.load(Ordering::SeqCst) > 100);
    shared.close().await?;
    Ok(())
}

/// A leader whose database sessions all end (as when the network between it and the
/// database fails, or an operator terminates them) stops leading at once; after the
/// re-election exactly one replica leads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_database_session_steps_down() -> anyhow::Result<()> {
    let cluster = store::testing::PgCluster::start()?;
    let url = cluster.create_database("sessions").await?;
    let files = files(&url, "http://127.0.0.1:9/hook")?;
    store::open(&url).await?.close().await?;
    let open = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let replicas = start_replicas(&files, 2)?;
    wait_ready(&open, &replicas).await?;
    let leader = single_leader(&open, &replicas, Duration::from_secs(10)).await?;
    let base = &replicas
        .iter()
        .find(|r| r.name == leader)
        .ok_or_else(|| anyhow::anyhow!("no such replica"))?
        .base;
    let before = transitions(&open, base).await?;

    let cut = Instant::now();
    let ended = cluster.kill_connections("sessions").await?;
    // The leader's next check (within a tick) fails: it counts a loss.
    let deadline = Instant::now() + Duration::from_secs(5);
    while transitions(&open, base).await? < before + 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stepped_down = cut.elapsed();
    let after = transitions(&open, base).await?;
    let again = single_leader(&open, &replicas, Duration::from_secs(10)).await?;
    println!(
        "{ended} sessions ended: {leader} stepped down after {:.2} s; {again} leads {:.2} s after the cut",
        stepped_down.as_secs_f64(),
        cut.elapsed().as_secs_f64()
    );
    assert!(after > before, "{leader} never noticed it lost its session");
    assert!(
        stepped_down <= Duration::from_secs(3),
        "stepping down took {stepped_down:?}"
    );
    // Both replicas are still serving.
    wait_ready(&open, &replicas).await?;
    Ok(())
}

/// A shared store needs one audit key for every replica, and an empty URL file is refused.
#[test]
fn a_postgres_store_needs_an_audit_key_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, config_text())?;
    let out = nines()
        .env_remove("NINES_STORE")
        .env_remove("NINES_STORE_FILE")
        .current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://u@127.0.0.1:9/db",
            "--config",
        ])
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--audit-key-file"), "{stderr}");
    assert!(
        !dir.path().join("nines-data").exists(),
        "a data directory was created"
    );

    let empty = dir.path().join("empty-url");
    std::fs::write(&empty, "\n")?;
    let out = nines()
        .env_remove("NINES_STORE")
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--store-file"])
        .arg(&empty)
        .arg("--config")
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("empty"), "{stderr}");
    Ok(())
}

fn config_text() -> String {
    config("http://127.0.0.1:9/hook")
}
