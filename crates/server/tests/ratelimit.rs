//! Per-caller rate limits: a burst over the limit gets 429 `request.rate_limited` with
//! `Retry-After`; other tokens and the open routes are not affected; after waiting the caller
//! passes again; ingest has its own budget; rejections are counted in `/metrics`.

mod common;

use common::{client_with, now_rfc3339, TestServer, CONFIG};
use server::ratelimit::RateLimit;
use std::time::Duration;

const API: RateLimit = RateLimit {
    per_second: 0.5,
    burst: 3,
};
const INGEST: RateLimit = RateLimit {
    per_second: 0.5,
    burst: 2,
};

async fn limited() -> anyhow::Result<TestServer> {
    TestServer::start_with(CONFIG, |s| {
        s.rate_limit = Some(API);
        s.ingest_rate_limit = Some(INGEST);
    })
    .await
}

/// Sends `n` GETs and returns the statuses.
async fn burst(client: &reqwest::Client, url: &str, n: usize) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(client.get(url).send().await?.status().as_u16());
    }
    Ok(statuses)
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_with_retry_after_then_passes_again() -> anyhow::Result<()>
{
    let s = limited().await?;
    let viewer = client_with(Some(&s.tokens.viewer))?;
    let url = s.url("/api/v1/slos");
    let statuses = burst(&viewer, &url, 3).await?;
    assert_eq!(statuses, [200, 200, 200]);

    let r = viewer.get(&url).send().await?;
    assert_eq!(r.status().as_u16(), 429);
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no whole-second Retry-After"))?;
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let doc: serde_json::Value = r.json().await?;
    assert_eq!(doc["error"]["code"], "request.rate_limited", "{doc}");
    assert_eq!(doc["error"]["details"]["retry_after_seconds"], retry_after);

    // Another token has its own bucket; the open routes are never limited.
    let responder = client_with(Some(&s.tokens.responder))?;
    assert_eq!(burst(&responder, &url, 3).await?, [200, 200, 200]);
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        let statuses = burst(&viewer, &s.url(path), 10).await?;
        assert!(statuses.iter().all(|s| *s == 200), "{path}: {statuses:?}");
    }

    // After waiting as told, the caller passes again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(viewer.get(&url).send().await?.status().as_u16(), 200);

    let metrics = s.anon.get(s.url("/metrics")).send().await?.text().await?;
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("nines_http_rate_limited_total{class=\"api\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok());
    assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn anonymous_callers_are_limited_by_address() -> anyhow::Result<()> {
    let s = limited().await?;
    let url = s.url("/api/v1/alerts");
    assert_eq!(burst(&s.anon, &url, 4).await?, [200, 200, 200, 429]);
    // A token is counted by its name, not by the address it shares with the anonymous client.
    let viewer = client_with(Some(&s.tokens.viewer))?;
    assert_eq!(viewer.get(&url).send().await?.status().as_u16(), 200);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn ingest_has_its_own_budget() -> anyhow::Result<()> {
    let s = limited().await?;
    // The admin spends its read budget ...
    assert_eq!(
        burst(&s.client, &s.url("/api/v1/slos"), 4).await?,
        [200, 200, 200, 429]
    );
    // ... and still ingests, up to the ingest burst.
    let body = serde_json::json!([{ "time": now_rfc3339(), "slo": "checkout/availability", "good": 1, "total": 1 }]);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = s
            .client
            .post(s.url("/api/v1/events"))
            .json(&body)
            .send()
            .await?;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let metrics = s.anon.get(s.url("/metrics")).send().await?.text().await?;
    assert!(
        metrics.contains("nines_http_rate_limited_total{class=\"ingest\"} 1"),
        "{metrics}"
    );
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn off_means_unlimited() -> anyhow::Result<()> {
    let s = TestServer::start_with(CONFIG, |s| {
        s.rate_limit = None;
        s.ingest_rate_limit = None;
    })
    .await?;
    let statuses = burst(&s.client, &s.url("/api/v1/alerts"), 300).await?;
    assert!(statuses.iter().all(|s| *s == 200));
    s.stop().await?;
    Ok(())
}
