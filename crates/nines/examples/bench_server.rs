//! Load clients for `scripts/bench-server` (issue 4's speed targets). Subcommands:
//!
//! ```text
//! bench_server events  URL TOKEN PID [connections] [events_per_request] [seconds]
//! bench_server reads   URL PATH [rate] [seconds] [connections]
//! bench_server rw-gen  DIR [series] [shards] [requests_per_shard] [interval_ms]
//! bench_server rw-post URL TOKEN|- PID DIR
//! ```
//!
//! * `events` posts batches of attribute events (`POST /api/v1/events`) over `connections`
//!   keep-alive connections for `seconds`, and reports events acknowledged per second and the
//!   CPU seconds the server process `PID` spent meanwhile (utime + stime from /proc).
//! * `reads` sends `rate` GET requests per second on a fixed schedule; each latency is measured
//!   from the request's scheduled start, so a stalled server is not hidden by the client
//!   waiting for it (no coordinated omission). Reports percentiles.
//! * `rw-gen` writes snappy-compressed remote-write requests shaped like a Prometheus sender's:
//!   `series` counters `http_requests_total{job,instance,handler,method,code}` split into
//!   `shards` by a hash (as Prometheus' queue manager does), each request one scrape of one shard's
//!   series, scrapes `interval_ms` apart and ending now, counters growing with a reset now and
//!   then. Files: DIR/shard-S/NNNNNN.pb.snappy plus DIR/summary.txt.
//! * `rw-post` posts every file of DIR to URL (`/api/v1/write` of nines or of Prometheus with
//!   `--web.enable-remote-write-receiver`), one connection per shard, each shard's requests in
//!   order (as Prometheus sends them), and reports samples per second and per CPU-second of
//!   the receiving process `PID`.
//!
//! Every result line starts with `RESULT` and has `key=value` fields for the script.

use anyhow::{bail, Context};
use ingest::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("events") => rt.block_on(events(&args[1..])),
        Some("reads") => rt.block_on(reads(&args[1..])),
        Some("rw-gen") => rw_gen(&args[1..]),
        Some("rw-post") => rt.block_on(rw_post(&args[1..])),
        _ => bail!("usage: bench_server events|reads|rw-gen|rw-post ... (see the file's docs)"),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> anyhow::Result<T> {
    args.get(i)
        .with_context(|| format!("missing argument {name}"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("bad argument {name}: {:?}", args.get(i)))
}

fn arg_or<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> anyhow::Result<T> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| anyhow::anyhow!("bad argument {}: {s:?}", i + 1)),
    }
}

/// Clock ticks per second of /proc/PID/stat's utime and stime: 100 on every Linux this runs on
/// (USER_HZ); `CLK_TCK` from the environment overrides it (the script passes `getconf CLK_TCK`).
fn clk_tck() -> f64 {
    std::env::var("CLK_TCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of process `pid` (all its threads), in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at indices 11 and 12.
    let tick = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("unexpected /proc stat format")
    };
    Ok((tick(11)? + tick(12)?) / clk_tck())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn client(token: Option<&str>, connections: usize) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse()?,
        );
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

/// One request's worth of attribute events: checkout API calls (mostly 200, some 500 and 503,
/// latencies from 5 ms to ~1 s) and storefront pages, so every SLI classifies some as bad.
/// Also returns how many of them `checkout/availability` counts (checkout, path `^/api/`).
fn events_body(n: usize, seed: usize) -> (Vec<u8>, u64) {
    const ROUTES: [(&str, &str, &str); 4] = [
        ("checkout", "POST", "/api/pay"),
        ("checkout", "GET", "/api/cart?id=7"),
        ("storefront", "GET", "/products/42"),
        ("storefront", "GET", "/"),
    ];
    let mut checkout_api = 0;
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let k = seed * 7919 + i;
            let (source, method, path) = ROUTES[k % ROUTES.len()];
            if source == "checkout" && path.starts_with("/api/") {
                checkout_api += 1;
            }
            let status = match k % 97 {
                0 => 500,
                1 => 503,
                2 => 404,
                _ => 200,
            };
            serde_json::json!({
                "source": source,
                "attributes": {
                    "method": method,
                    "path": path,
                    "status": status,
                    "latency_ms": 5 + (k * 37) % 1000,
                },
            })
        })
        .collect();
    (
        serde_json::to_vec(&events).unwrap_or_default(),
        checkout_api,
    )
}

async fn events(args: &[String]) -> anyhow::Result<()> {
    let url: String = arg(args, 0, "URL")?;
    let token: String = arg(args, 1, "TOKEN")?;
    let pid: u32 = arg(args, 2, "PID")?;
    let connections: usize = arg_or(args, 3, 8)?;
    let per_request: usize = arg_or(args, 4, 1000)?;
    let seconds: f64 = arg_or(args, 5, 15.0)?;
    let client = client(Some(&token), connections)?;
    let endpoint = format!("{url}/api/v1/events");
    // Distinct bodies so no layer can get away with caching one.
    let bodies: Arc<Vec<(bytes_body::Body, u64)>> = Arc::new(
        (0..16)
            .map(|s| {
                let (body, counted) = events_body(per_request, s);
                (bytes_body::Body::from(body), counted)
            })
            .collect(),
    );
    let body_bytes = bodies.first().map_or(0, |b| b.0.len());
    let counted = Arc::new(AtomicU64::new(0));
    // Warm-up: one round per connection, not timed.
    for (b, n) in bodies.iter().take(connections) {
        post_events(&client, &endpoint, b.clone()).await?;
        counted.fetch_add(*n, Ordering::Relaxed);
    }
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds(pid)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, endpoint, bodies, acked, failed, counted) = (
            client.clone(),
            endpoint.clone(),
            bodies.clone(),
            acked.clone(),
            failed.clone(),
            counted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let (body, n) = bodies[i % bodies.len()].clone();
                i += connections;
                let t = Instant::now();
                match post_events(&client, &endpoint, body).await {
                    Ok(()) => {
                        latencies.push(t.elapsed().as_micros() as u64);
                        acked.fetch_add(1, Ordering::Relaxed);
                        counted.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("events: {e:#}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    latencies.sort_unstable();
    let requests = acked.load(Ordering::Relaxed);
    let events = requests * per_request as u64;
    // Every acknowledged event is in the store: checkout/availability's total (read without a
    // token, as loopback allows) equals the checkout API events of the acknowledged requests.
    let report: serde_json::Value =
        reqwest::get(format!("{url}/api/v1/slos/checkout/availability"))
            .await?
            .error_for_status()?
            .json()
            .await?;
    let stored = report["total"].as_u64();
    let expected = counted.load(Ordering::Relaxed);
    if stored != Some(expected) {
        bail!("checkout/availability total is {stored:?}, expected {expected} (acknowledged)");
    }
    println!(
        "RESULT events connections={connections} events_per_request={per_request} body_bytes={body_bytes} \
         seconds={elapsed:.2} requests={requests} failed={} events={events} events_per_s={:.0} \
         server_cpu_s={cpu:.2} events_per_server_cpu_s={:.0} request_p50_ms={:.2} request_p99_ms={:.2} checkout_total_stored={expected} (= acknowledged)",
        failed.load(Ordering::Relaxed),
        events as f64 / elapsed,
        events as f64 / cpu.max(1e-9),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    );
    Ok(())
}

/// Shared request bodies (cheap clones).
mod bytes_body {
    use std::sync::Arc;

    #[derive(Clone)]
    pub struct Body(Arc<Vec<u8>>);

    impl Body {
        pub fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl From<Vec<u8>> for Body {
        fn from(v: Vec<u8>) -> Body {
            Body(Arc::new(v))
        }
    }

    impl From<Body> for reqwest::Body {
        fn from(b: Body) -> reqwest::Body {
            // reqwest needs an owned 'static buffer; one copy per request (~100 kB) is small
            // next to what the server does with it.
            reqwest::Body::from(Vec::clone(&b.0))
        }
    }
}

async fn post_events(
    client: &reqwest::Client,
    endpoint: &str,
    body: bytes_body::Body,
) -> anyhow::Result<()> {
    let r = client
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    if !status.is_success() {
        let text = r.text().await.unwrap_or_default();
        bail!("{status}: {}", text.chars().take(300).collect::<String>());
    }
    r.bytes().await?;
    Ok(())
}

async fn reads(args: &[String]) -> anyhow::Result<()> {
    let url: String = arg(args, 0, "URL")?;
    let path: String = arg(args, 1, "PATH")?;
    let rate: f64 = arg_or(args, 2, 1000.0)?;
    let seconds: f64 = arg_or(args, 3, 15.0)?;
    let connections: usize = arg_or(args, 4, 32)?;
    if rate <= 0.0 || seconds <= 0.0 || connections == 0 {
        bail!("rate, seconds and connections must be positive");
    }
    let client = client(None, connections)?;
    let endpoint = format!("{url}{path}");
    client.get(&endpoint).send().await?.error_for_status()?;
    let n = (rate * seconds).round() as u64;
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, endpoint, next, failed) = (
            client.clone(),
            endpoint.clone(),
            next.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                // The intended start; a late worker's wait counts in the latency.
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due).await;
                let ok = match client.get(&endpoint).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    latencies.push(due.elapsed().as_micros() as u64);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "RESULT reads path={path} target_rate={rate:.0} seconds={elapsed:.2} ok={} failed={} achieved_rate={:.0} \
         p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2}",
        latencies.len(),
        failed.load(Ordering::Relaxed),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        percentile(&latencies, 100.0),
    );
    Ok(())
}

const JOBS: [&str; 4] = ["checkout", "cart", "search", "auth"];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];

/// The labels of series `i` (sorted by name, as Prometheus sends them).
fn series_labels(i: usize) -> Vec<Label> {
    let job = JOBS[i % JOBS.len()];
    let code = CODES[(i / JOBS.len()) % CODES.len()];
    let rest = i / (JOBS.len() * CODES.len());
    vec![
        Label::new("__name__", "http_requests_total"),
        Label::new("code", code),
        Label::new("handler", format!("/api/v1/{job}/h{}", rest % 25)),
        Label::new(
            "instance",
            format!("10.1.{}.{}:8080", (rest / 25) / 200, (rest / 25) % 200),
        ),
        Label::new("job", job),
        Label::new(
            "method",
            if rest.is_multiple_of(2) {
                "GET"
            } else {
                "POST"
            },
        ),
    ]
}

/// The increase of series `i` at scrape `k`: errors grow slowly, successes fast.
fn increase(i: usize, k: usize) -> u64 {
    let error = (i / JOBS.len()) % CODES.len() >= 3;
    let x = (i * 31 + k * 17) % 10;
    if error {
        (x / 4) as u64
    } else {
        (1 + x * 3) as u64
    }
}

fn rw_gen(args: &[String]) -> anyhow::Result<()> {
    let dir = PathBuf::from(arg::<String>(args, 0, "DIR")?);
    let series: usize = arg_or(args, 1, 8000)?;
    let shards: usize = arg_or(args, 2, 4)?;
    let per_shard: usize = arg_or(args, 3, 250)?;
    let interval_ms: i64 = arg_or(args, 4, 5000)?;
    if series == 0 || shards == 0 || per_shard == 0 || interval_ms <= 0 {
        bail!("series, shards, requests and interval must be positive");
    }
    let now_ms = jiff::Timestamp::now().as_millisecond();
    // The last scrape is one interval before now.
    let first_ms = now_ms - interval_ms * per_shard as i64;
    let mut values = vec![0u64; series];
    let mut files = 0usize;
    let mut bytes = 0usize;
    let mut samples = 0usize;
    for s in 0..shards {
        std::fs::create_dir_all(dir.join(format!("shard-{s}")))?;
    }
    for k in 0..per_shard {
        let t = first_ms + interval_ms * k as i64;
        for (i, v) in values.iter_mut().enumerate() {
            // A counter reset (a restarted instance) now and then.
            if k > 0 && (i + 3 * k) % 1009 == 0 {
                *v = 0;
            }
            *v += increase(i, k);
        }
        for s in 0..shards {
            let timeseries: Vec<TimeSeries> = (0..series)
                .filter(|&i| shard_of(i, shards) == s)
                .map(|i| TimeSeries {
                    labels: series_labels(i),
                    samples: vec![Sample {
                        value: values[i] as f64,
                        timestamp: t,
                    }],
                })
                .collect();
            samples += timeseries.len();
            let body = encode_write_request(&WriteRequest { timeseries });
            bytes += body.len();
            std::fs::write(file_name(&dir, s, k), &body)?;
            files += 1;
        }
    }
    let summary = format!(
        "series={series} shards={shards} requests={files} samples={samples} samples_per_request={} \
         compressed_bytes={bytes} first_ms={first_ms} last_ms={}\n",
        samples / files.max(1),
        first_ms + interval_ms * (per_shard as i64 - 1),
    );
    std::fs::write(dir.join("summary.txt"), &summary)?;
    print!("RESULT rw-gen {summary}");
    Ok(())
}

/// The shard of series `i`: a hash of it, as Prometheus shards by a hash of the labels (so
/// every shard carries every job, and no shard is all selected or all skipped).
fn shard_of(i: usize, shards: usize) -> usize {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % shards as u64) as usize
}

fn file_name(dir: &Path, shard: usize, k: usize) -> PathBuf {
    dir.join(format!("shard-{shard}/{k:06}.pb.snappy"))
}

/// Every shard's request bodies, in sending order.
fn load_shards(dir: &Path) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let mut shards = Vec::new();
    for s in 0.. {
        let shard_dir = dir.join(format!("shard-{s}"));
        if !shard_dir.is_dir() {
            break;
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(&shard_dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let bodies = names
            .iter()
            .map(std::fs::read)
            .collect::<Result<Vec<_>, _>>()?;
        shards.push(bodies);
    }
    if shards.is_empty() {
        bail!("no shard-* directories in {}", dir.display());
    }
    Ok(shards)
}

fn summary_samples(dir: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(dir.join("summary.txt"))?;
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("samples="))
        .and_then(|v| v.parse().ok())
        .context("summary.txt has no samples=")
}

async fn rw_post(args: &[String]) -> anyhow::Result<()> {
    let url: String = arg(args, 0, "URL")?;
    let token: String = arg(args, 1, "TOKEN")?;
    let pid: u32 = arg(args, 2, "PID")?;
    let dir = PathBuf::from(arg::<String>(args, 3, "DIR")?);
    let shards = load_shards(&dir)?;
    let samples = summary_samples(&dir)?;
    let client = client((token != "-").then_some(token.as_str()), shards.len())?;
    let endpoint = format!("{url}/api/v1/write");
    let failed = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds(pid)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in shards {
        let (client, endpoint, failed) = (client.clone(), endpoint.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(bodies.len());
            for body in bodies {
                let t = Instant::now();
                let r = client
                    .post(&endpoint)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                    .header(reqwest::header::CONTENT_ENCODING, "snappy")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_micros() as u64);
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("rw-post: {status}: {}", text.trim());
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("rw-post: {e}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    latencies.sort_unstable();
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "RESULT rw-post url={url} requests={} failed={failed} samples={samples} seconds={elapsed:.2} \
         samples_per_s={:.0} server_cpu_s={cpu:.2} samples_per_cpu_s={:.0} request_p50_ms={:.2} request_p99_ms={:.2}",
        latencies.len(),
        samples as f64 / elapsed,
        samples as f64 / cpu.max(1e-9),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    );
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(())
}
