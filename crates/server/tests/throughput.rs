//! Group commit under load: every acknowledged request is counted exactly once, and concurrent
//! requests share commits. Prints the rate; for release figures:
//! `cargo test -p server --release --test throughput -- --nocapture`.

mod common;

use common::{now_rfc3339, TestServer};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_per_second() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    let total_acknowledged = AtomicU64::new(0);
    for concurrency in [1usize, 8, 64] {
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(1);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url, t, done) = (
                s.client.clone(),
                s.url("/api/v1/events"),
                t.clone(),
                done.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let body = json!([{ "time": t, "slo": "checkout/availability", "good": 9, "total": 10 },
                                  { "time": t, "source": "checkout", "attributes": { "status": 200, "path": "/api/pay", "latency_ms": 20 } }]);
                while Instant::now() < deadline {
                    if let Ok(r) = client.post(&url).json(&body).send().await {
                        if r.status().is_success() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        let n = done.load(Ordering::Relaxed);
        total_acknowledged.fetch_add(n, Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "concurrency {concurrency:>3}: {n} acknowledged requests in {secs:.1} s = {:.0}/s",
            n as f64 / secs
        );
    }
    let acknowledged = total_acknowledged.load(Ordering::Relaxed);
    let metrics = s.client.get(s.url("/metrics")).send().await?.text().await?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("nines_ingest_commit_group_requests_sum")
            || l.starts_with("nines_ingest_commit_group_requests_count")
    }) {
        println!("{line}");
    }
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let grouped = metric("nines_ingest_commit_group_requests_sum");
    let commits = metric("nines_ingest_commit_group_requests_count");
    assert!(acknowledged > 0, "no request was acknowledged");
    assert!(
        commits > 0.0 && commits < grouped,
        "concurrent requests must share commits: {commits} commits for {grouped} requests"
    );
    // Each request: an increment of 9/10 plus one good attribute event on /api/pay.
    let (_, doc) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(doc["total"], acknowledged * 11, "{doc}");
    assert_eq!(doc["good"], acknowledged * 10, "{doc}");
    s.stop().await?;
    Ok(())
}
