//! Group commit under load: `cargo test -p server --release --test throughput -- --ignored --nocapture`.

mod common;

use common::{now_rfc3339, TestServer};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, not a check"]
async fn acknowledged_writes_per_second() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    for concurrency in [1usize, 8, 64] {
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(3);
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
        let secs = started.elapsed().as_secs_f64();
        println!(
            "concurrency {concurrency:>3}: {n} acknowledged requests in {secs:.1} s = {:.0}/s",
            n as f64 / secs
        );
    }
    let metrics = s.client.get(s.url("/metrics")).send().await?.text().await?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("nines_ingest_commit_group_requests_sum")
            || l.starts_with("nines_ingest_commit_group_requests_count")
    }) {
        println!("{line}");
    }
    s.stop().await?;
    Ok(())
}
