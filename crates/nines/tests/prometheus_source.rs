//! A `source: prometheus` SLO evaluated live from a real Prometheus (Debian's 2.42, installed
//! by `scripts/test`) holding backfilled data, checked against values computed here from the
//! generated samples alone.
//!
//! The data: `http_requests_total{code="200"}` and `{code="500"}` scraped every 15 s for six
//! hours, 5 s after each minute's quarter (a realistic scrape phase: no sample sits on a
//! bucket boundary, so every bucket's `rate()` is extrapolated), 151 requests per interval:
//! 150 good and 1 bad, except a 30-minute outage of 50 good and 101 bad; the 200 counter is
//! reset once (a restarted process). The file is backfilled with `promtool tsdb
//! create-blocks-from openmetrics` into the data directory Prometheus then starts on.
//!
//! The reference counts the events of any window `[a, b)` from the generated increments,
//! spread evenly over their 15 s interval (the counter arithmetic, no Prometheus involved).
//! Tolerance: inside a stretch of constant increments Prometheus' extrapolated increase of a
//! bucket is exactly the spread events; it differs only in a bucket where the increment
//! changes, by at most 4/3 of the change (three observed intervals scaled to four), and at
//! the ends of the data, where it extrapolates up to one interval beyond the first and last
//! sample. nines rounds the running sums (one event). So bad events may differ by
//! 2 × 4/3 × 100 + 1 + 1 and totals by 151 + 1; burn rates and the SLI are checked against
//! the extremes these bounds allow.

use serde_json::Value;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{nines, start_nines, Killed};

const INTERVAL: i64 = 15;
/// Seconds after each quarter minute a sample is taken.
const PHASE: i64 = 5;
const HOURS: i64 = 6;
const GOOD: i64 = 150;
const BAD: i64 = 1;
const OUTAGE_GOOD: i64 = 50;
const OUTAGE_BAD: i64 = 101;
const OBJECTIVE: f64 = 0.99;

/// The generated data, relative to `end` (a minute boundary, the evaluation time).
struct Data {
    /// Sample times.
    times: Vec<i64>,
    /// Increments of the interval ending at each sample (the first sample has none).
    good: Vec<i64>,
    bad: Vec<i64>,
    outage: (i64, i64),
    reset_at: i64,
}

impl Data {
    fn new(end: i64) -> Data {
        let start = end - HOURS * 3600;
        let outage = (end - 2 * 3600 - 1800 + 7, end - 2 * 3600 + 7);
        let reset_at = end - 4 * 3600 + PHASE;
        let mut d = Data {
            times: Vec::new(),
            good: Vec::new(),
            bad: Vec::new(),
            outage,
            reset_at,
        };
        let mut t = start + PHASE;
        while t < end {
            let in_outage = t > outage.0 && t <= outage.1;
            let first = d.times.is_empty();
            d.times.push(t);
            d.good.push(match (first, in_outage) {
                (true, _) => 0,
                (false, true) => OUTAGE_GOOD,
                (false, false) => GOOD,
            });
            d.bad.push(match (first, in_outage) {
                (true, _) => 0,
                (false, true) => OUTAGE_BAD,
                (false, false) => BAD,
            });
            t += INTERVAL;
        }
        d
    }

    /// OpenMetrics text of both counters (the 200 counter restarts from zero just after the
    /// sample before `reset_at`).
    fn openmetrics(&self) -> String {
        let mut out =
            String::from("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
        let mut ok = 1000i64;
        for (i, t) in self.times.iter().enumerate() {
            if *t == self.reset_at {
                ok = 0;
            }
            ok += self.good[i];
            let _ = writeln!(out, "http_requests_total{{code=\"200\"}} {ok} {t}");
        }
        let mut errors = 10i64;
        for (i, t) in self.times.iter().enumerate() {
            errors += self.bad[i];
            let _ = writeln!(out, "http_requests_total{{code=\"500\"}} {errors} {t}");
        }
        out.push_str("# EOF\n");
        out
    }

    /// Good and bad events in `[a, b)`, each interval's increments spread evenly over it.
    fn events(&self, a: i64, b: i64) -> (f64, f64) {
        let (mut good, mut bad) = (0.0, 0.0);
        for i in 1..self.times.len() {
            let (lo, hi) = (self.times[i] - INTERVAL, self.times[i]);
            let overlap = (hi.min(b) - lo.max(a)).max(0) as f64 / INTERVAL as f64;
            good += self.good[i] as f64 * overlap;
            bad += self.bad[i] as f64 * overlap;
        }
        (good, bad)
    }
}

/// Largest difference in bad events and in total events nines may show (see the module doc).
const BAD_TOLERANCE: f64 = 2.0 * 4.0 / 3.0 * (OUTAGE_BAD - BAD) as f64 + 2.0;
const TOTAL_TOLERANCE: f64 = (GOOD + BAD) as f64 + 1.0;

/// The range of burn rates the bounds allow for reference counts `(good, bad)`.
fn burn_bounds(good: f64, bad: f64) -> (f64, f64) {
    let total = good + bad;
    let budget = 1.0 - OBJECTIVE;
    let low = (bad - BAD_TOLERANCE).max(0.0) / (total + TOTAL_TOLERANCE) / budget;
    let high = (bad + BAD_TOLERANCE) / (total - TOTAL_TOLERANCE).max(1.0) / budget;
    (low, high)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn require(tool: &str) -> anyhow::Result<()> {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    anyhow::ensure!(
        ok,
        "`{tool}` is not installed: run scripts/test, which installs Debian's prometheus \
         (or `apt-get install prometheus`)"
    );
    Ok(())
}

/// Backfills `data` into `dir/tsdb` and starts Prometheus on it.
fn start_prometheus(dir: &Path, data: &Data) -> anyhow::Result<(Killed, String)> {
    require("promtool")?;
    require("prometheus")?;
    let input = dir.join("requests.om");
    std::fs::write(&input, data.openmetrics())?;
    let tsdb = dir.join("tsdb");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&tsdb)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "promtool create-blocks-from failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n")?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("prometheus.log"))?;
    let child = Command::new("prometheus")
        .arg("--config.file")
        .arg(&config)
        .arg("--storage.tsdb.path")
        .arg(&tsdb)
        // the backfilled blocks are hours old: keep them
        .arg("--storage.tsdb.retention.time=3650d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok((Killed(child), format!("http://127.0.0.1:{port}")))
}

async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, Value)> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// Waits until Prometheus answers with the backfilled series.
async fn wait_for_data(client: &reqwest::Client, base: &str, at: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{base}/api/v1/query?query=count(http_requests_total)&time={at}");
    loop {
        if let Ok(response) = client.get(&url).send().await {
            if let Ok(doc) = response.json::<Value>().await {
                if doc["data"]["result"][0]["value"][1] == "2" {
                    return Ok(());
                }
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "Prometheus did not serve the backfilled series within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn write_config(dir: &Path, prometheus: &str) -> anyhow::Result<std::path::PathBuf> {
    std::fs::write(dir.join("token"), "not-checked-by-prometheus\n")?;
    let config = format!(
        r#"apiVersion: nines/v1
prometheus:
  url: {prometheus}
  bearer_token_file: token
  tenant: team-a
  timeout: 20s
services:
  - name: api
    slos:
      - name: availability
        sli:
          kind: availability
          source: prometheus
          total_query: sum(rate(http_requests_total[{{{{window}}}}]))
          error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{window}}}}]))
        objective: 99
        window: 30d
  - name: broken
    slos:
      - name: availability
        sli:
          kind: availability
          source: prometheus
          total: sum(rate(http_requests_total[{{{{window}}}}]))
          # a function newer than Prometheus 2.42 (the config's parser knows it)
          bad: sum(mad_over_time(http_requests_total{{code="500"}}[{{{{window}}}}]))
        objective: 99
        window: 30d
"#
    );
    let path = dir.join("nines.yaml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// `query_range` requests Prometheus has answered (its own counter).
async fn range_requests(client: &reqwest::Client, base: &str) -> anyhow::Result<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains(r#"handler="/api/v1/query_range""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The source itself against the real Prometheus (before `nines serve` adds its own
/// queries): a cold 30-day evaluation asks 5 chunks per query, a minute later only the
/// unsettled tail is asked; every bucket is within the extrapolation bound of the samples.
async fn cache_and_chunks(
    client: &reqwest::Client,
    base: &str,
    data: &Data,
    end: i64,
) -> anyhow::Result<()> {
    let text = format!(
        "apiVersion: nines/v1\nprometheus: {{ url: '{base}' }}\nservices:\n  - name: api\n    slos:\n      - name: a\n        sli: {{ kind: availability, source: prometheus, total: 'sum(rate(http_requests_total[{{{{window}}}}]))', bad: 'sum(rate(http_requests_total{{code=\"500\"}}[{{{{window}}}}]))' }}\n        objective: 99\n        window: 30d\n"
    );
    let config = spec::load_str("direct.yaml", &text).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let slo = config
        .slo("api/a")
        .ok_or_else(|| anyhow::anyhow!("no SLO"))?;
    let settings = config
        .prometheus
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no source"))?;
    let prom = server::prom_source::Prometheus::new(settings).map_err(anyhow::Error::msg)?;
    let queries =
        server::prom_source::SliQueries::of(slo).ok_or_else(|| anyhow::anyhow!("no queries"))?;
    let from = end - 30 * 86_400;
    let before = range_requests(client, base).await?;
    let started = Instant::now();
    let rows = prom
        .counts(&slo.spec, &queries, from, end, end + 3600)
        .await
        .map_err(anyhow::Error::msg)?;
    let cold = started.elapsed();
    let after_cold = range_requests(client, base).await?;
    let started = Instant::now();
    let warm_rows = prom
        .counts(&slo.spec, &queries, from + 60, end + 60, end + 3660)
        .await
        .map_err(anyhow::Error::msg)?;
    let warm = started.elapsed();
    let after_warm = range_requests(client, base).await?;
    eprintln!(
        "30 days of 1-minute buckets from Prometheus: cold {cold:?} ({} query_range requests), warm {warm:?} ({})",
        after_cold - before,
        after_warm - after_cold
    );
    assert_eq!(
        after_cold - before,
        10.0,
        "2 queries x 5 chunks of <= 10,000 points"
    );
    assert_eq!(
        after_warm - after_cold,
        2.0,
        "only the new bucket, once per query"
    );
    assert_eq!(
        rows.len(),
        warm_rows.len(),
        "six hours of buckets either way"
    );
    // Per bucket: within one interval's increment plus rounding of the samples' events.
    for row in &rows {
        let (good, bad) = data.events(row.bucket_start, row.bucket_start + 60);
        let (g, t) = (row.good as f64, row.total as f64);
        assert!(
            (t - good - bad).abs() <= TOTAL_TOLERANCE && (t - g - bad).abs() <= BAD_TOLERANCE,
            "bucket {}: nines {g}/{t}, samples {good}/{}",
            row.bucket_start,
            good + bad
        );
    }
    Ok(())
}

fn close(name: &str, value: f64, (low, high): (f64, f64)) {
    assert!(
        value >= low - 1e-9 && value <= high + 1e-9,
        "{name}: nines says {value}, the data allows {low}..{high}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_matches_the_samples_and_errors_stay_with_their_slo() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let now = jiff::Timestamp::now().as_second();
    let end = now.div_euclid(60) * 60 - 600;
    let data = Data::new(end);
    let (_prometheus, prom_url) = start_prometheus(dir.path(), &data)?;
    let client = reqwest::Client::new();
    wait_for_data(&client, &prom_url, end).await?;

    cache_and_chunks(&client, &prom_url, &data, end).await?;

    let config = write_config(dir.path(), &prom_url)?;
    let data_dir = dir.path().join("data");
    let (_nines, base) = start_nines(&config, &data_dir)?;

    // The report at the end of the data, cold: 30 days of minutes from Prometheus.
    let started = Instant::now();
    let (status, report) = get_json(
        &client,
        &format!("{base}/api/v1/slos/api/availability?at={end}"),
    )
    .await?;
    let cold = started.elapsed();
    assert_eq!(status, 200, "{report}");
    // Warm: one more minute, everything older already cached.
    let started = Instant::now();
    let (status, _) = get_json(
        &client,
        &format!("{base}/api/v1/slos/api/availability?at={}", end + 60),
    )
    .await?;
    let warm = started.elapsed();
    assert_eq!(status, 200);
    eprintln!("30-day SLO from Prometheus: cold {cold:?}, warm {warm:?}");

    let (good, bad) = data.events(end - 30 * 86_400, end);
    let total = good + bad;
    let reported_total = report["total"].as_u64().unwrap_or(0) as f64;
    let reported_bad = reported_total - report["good"].as_u64().unwrap_or(0) as f64;
    assert!(
        (reported_total - total).abs() <= TOTAL_TOLERANCE,
        "total: nines {reported_total}, data {total}"
    );
    assert!(
        (reported_bad - bad).abs() <= BAD_TOLERANCE,
        "bad: nines {reported_bad}, data {bad}"
    );
    eprintln!(
        "30d window: nines total {reported_total} bad {reported_bad}; samples total {total:.1} bad {bad:.1}"
    );
    let sli = report["sli"].as_f64().unwrap_or(f64::NAN);
    close(
        "sli",
        sli,
        (
            1.0 - (bad + BAD_TOLERANCE) / (total - TOTAL_TOLERANCE),
            1.0 - (bad - BAD_TOLERANCE) / (total + TOTAL_TOLERANCE),
        ),
    );
    let (low, high) = burn_bounds(good, bad);
    let remaining = report["error_budget"]["remaining"]
        .as_f64()
        .unwrap_or(f64::NAN);
    // consumed = bad / allowed = burn over the window
    close("budget remaining", remaining, (1.0 - high, 1.0 - low));
    assert!(
        remaining < 0.0,
        "the outage overspends a 99% budget of 6 h of traffic"
    );
    for (label, seconds) in [
        ("5m", 300),
        ("30m", 1800),
        ("1h", 3600),
        ("2h", 7200),
        ("6h", 21_600),
        ("1d", 86_400),
        ("3d", 259_200),
    ] {
        let (good, bad) = data.events(end - seconds, end);
        let burn = report["burn_rates"][label].as_f64().unwrap_or(f64::NAN);
        close(&format!("burn rate {label}"), burn, burn_bounds(good, bad));
    }
    // the last hour is outage-free, the last 6 h are not
    let b1h = report["burn_rates"]["1h"].as_f64().unwrap_or(0.0);
    let b6h = report["burn_rates"]["6h"].as_f64().unwrap_or(0.0);
    assert!(b1h < 1.0 && b6h > 2.0, "1h {b1h}, 6h {b6h}");

    // The broken SLO carries Prometheus' error; the other SLO and the server are unaffected.
    let (status, error) = get_json(
        &client,
        &format!("{base}/api/v1/slos/broken/availability?at={end}"),
    )
    .await?;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "slo.evaluation_failed");
    let message = error["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("reading broken/availability from prometheus")
            && message.contains("answered 400: bad_data:")
            && message.contains("unknown function with name \"mad_over_time\""),
        "{message}"
    );
    let (status, list) = get_json(&client, &format!("{base}/api/v1/slos?at={end}")).await?;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["slos"][0]["total"], report["total"], "{list}");
    assert_eq!(list["slos"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["errors"][0]["slo"], "broken/availability", "{list}");
    assert_eq!(list["errors"][0]["message"], error["error"]["message"]);
    // The web UI's overview names the failing SLO and why, apart from the table.
    let overview = client
        .get(format!("{base}/ui/"))
        .send()
        .await?
        .text()
        .await?;
    let failing = overview
        .split("id=\"failing\"")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("the overview has no failing section"))?;
    assert!(
        failing.contains("broken/availability") && failing.contains("mad_over_time"),
        "{overview}"
    );
    let (status, again) = get_json(
        &client,
        &format!("{base}/api/v1/slos/api/availability?at={end}"),
    )
    .await?;
    assert_eq!((status, &again["total"]), (200, &report["total"]));
    // The history (the UI's charts) reads the same buckets: its last point is the report.
    let (status, history) = get_json(
        &client,
        &format!(
            "{base}/api/v1/slos/api/availability/history?from={}&to={end}&step=1h",
            end - 6 * 3600
        ),
    )
    .await?;
    assert_eq!(status, 200, "{history}");
    let last = |field: &str| history[field].as_array().and_then(|a| a.last()).cloned();
    assert_eq!(last("sli"), Some(report["sli"].clone()));
    assert_eq!(
        last("budget_remaining"),
        Some(report["error_budget"]["remaining"].clone())
    );
    // The web UI's overview lists the working SLO (anonymous reads on loopback).
    let overview = client.get(format!("{base}/ui/")).send().await?;
    assert_eq!(overview.status(), 200);
    assert!(overview.text().await?.contains("availability"));
    let health = client.get(format!("{base}/healthz")).send().await?;
    assert!(health.status().is_success());

    // `nines report` reads the same numbers from Prometheus.
    let end_text = jiff::Timestamp::from_second(end)?.to_string();
    let out = nines()
        .args([
            "report",
            "--service",
            "api",
            "-o",
            "json",
            "--at",
            &end_text,
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("cli"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout)?;
    let slo = &cli["slos"][0];
    assert_eq!(
        (&slo["good"], &slo["total"], &slo["burn_rates"]),
        (&report["good"], &report["total"], &report["burn_rates"])
    );
    let out = nines()
        .args([
            "report",
            "--service",
            "broken",
            "--at",
            &end_text,
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("cli"))
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown function"));

    // `nines check --live` asks Prometheus for each query's last bucket: the broken SLO
    // fails the check, the good one is reported.
    let out = nines().args(["check", "--live"]).arg(&config).output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("live: api/availability: 0 events, 0 bad in the last 1m"),
        "{stdout}"
    );
    assert!(
        stderr.contains("live: broken/availability: ") && stderr.contains("unknown function"),
        "{stderr}"
    );

    // `nines backtest` replays the same buckets: one significant event, the outage, paged.
    let start_text = jiff::Timestamp::from_second(end - HOURS * 3600)?.to_string();
    let out = nines()
        .args([
            "backtest",
            "--slo",
            "api/availability",
            "-o",
            "json",
            "--from",
            &start_text,
            "--to",
            &end_text,
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("cli"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backtest: Value = serde_json::from_slice(&out.stdout)?;
    let result = &backtest["results"][0];
    assert_eq!(result["metrics"]["events"], 1, "{result:#}");
    let event = &result["events"][0];
    let (start, stop) = (
        event["start"].as_i64().unwrap_or(0),
        event["end"].as_i64().unwrap_or(0),
    );
    // the outage's first and last bucket (its edges are inside buckets)
    let (outage_start, outage_end) = data.outage;
    assert!(
        (start - outage_start.div_euclid(60) * 60).abs() <= 60
            && (stop - outage_end.div_euclid(60) * 60).abs() <= 120,
        "event {start}..{stop}, outage {outage_start}..{outage_end}"
    );
    assert_eq!(event["detected"], true);
    let paged = result["alerts"].as_array().into_iter().flatten().any(|a| {
        a["severity"] == "page"
            && a["start"]
                .as_i64()
                .is_some_and(|s| s > outage_start && s < outage_end)
    });
    assert!(paged, "no page during the outage: {result:#}");
    Ok(())
}

/// `examples/prometheus-source.yaml` is a valid configuration whose two SLOs read the API,
/// one written with `rate()` (per second), one with `increase()` (events).
#[test]
fn the_example_is_valid() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus-source.yaml");
    let config = spec::load_files(&[path]).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let source = config
        .prometheus
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no prometheus:"))?;
    assert_eq!(source.timeout_seconds, 30);
    let scales: Vec<spec::QueryScale> = config
        .slos()
        .filter_map(server::prom_source::SliQueries::of)
        .map(|q| spec::query_scale(&q.total))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        scales,
        [spec::QueryScale::PerSecond, spec::QueryScale::Events]
    );
    Ok(())
}
