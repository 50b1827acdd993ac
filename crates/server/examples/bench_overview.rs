//! The web UI's overview with 1,000 SLOs, side by side with its baseline: the JSON list of the
//! same reports (`GET /api/v1/slos`). Target: the overview renders in ≤ 50 ms.
//!
//! `cargo run --release -p server --example bench_overview [-- ROUNDS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

fn config(services: usize, per_service: usize) -> String {
    let mut config = String::from("apiVersion: nines/v1\nservices:\n");
    for s in 0..services {
        config.push_str(&format!("  - name: svc{s}\n    slos:\n"));
        for o in 0..per_service {
            config.push_str(&format!(
                "      - name: slo{o}\n        sli:\n          kind: availability\n          source: events\n          total: {{ path: \"^/api/\" }}\n          good: {{ status: \"<500\" }}\n        objective: 99.9\n        window: 30d\n"
            ));
        }
    }
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let r = client.get(url).send().await?;
        anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
        let body = r.bytes().await?;
        anyhow::ensure!(!body.is_empty());
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir()?;
    let mut settings = server::Settings::new(
        server::ConfigSource::Text {
            name: "bench.yaml".into(),
            text: config(100, 10),
        },
        dir.path().join("data"),
    );
    settings.rate_limit = None;
    settings.ingest_rate_limit = None;
    // A benchmark on loopback: no tokens to manage.
    settings.authorizer = std::sync::Arc::new(server::AllowAll);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, settings, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    // Ready once the first evaluation of every SLO is done.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Some traffic so reports and sparklines have data.
    let now = server::format_time(server::now());
    let events: Vec<serde_json::Value> = (0..100)
        .flat_map(|s| (0..10).map(move |o| (s, o)))
        .map(|(s, o)| serde_json::json!({ "time": now, "slo": format!("svc{s}/slo{o}"), "good": 990 + (s % 10), "total": 1000 }))
        .collect();
    for chunk in events.chunks(200) {
        let r = client
            .post(format!("{base}/api/v1/events"))
            .json(&chunk)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "posting events: {}", r.status());
    }
    let first = Instant::now();
    measure(&client, &format!("{base}/ui/"), 1).await?;
    println!(
        "overview, first load (computes every sparkline): {:?}",
        first.elapsed()
    );
    // Warm both.
    measure(&client, &format!("{base}/ui/"), 3).await?;
    measure(&client, &format!("{base}/api/v1/slos"), 3).await?;
    let ui = measure(&client, &format!("{base}/ui/"), rounds).await?;
    let json = measure(&client, &format!("{base}/api/v1/slos"), rounds).await?;
    let (ui50, ui99) = (percentile(&ui, 0.5), percentile(&ui, 0.99));
    let (js50, js99) = (percentile(&json, 0.5), percentile(&json, 0.99));
    println!("1,000 SLOs, {rounds} requests each, loopback, one client:");
    println!("  GET /ui/          p50 {ui50:>10.2?}  p99 {ui99:>10.2?}");
    println!("  GET /api/v1/slos  p50 {js50:>10.2?}  p99 {js99:>10.2?}  (baseline)");
    println!(
        "  ratio overview / JSON at p50: {:.2}x; target overview <= 50 ms: {}",
        ui50.as_secs_f64() / js50.as_secs_f64().max(1e-9),
        if ui50 <= Duration::from_millis(50) {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = stop.send(());
    task.await??;
    Ok(())
}
