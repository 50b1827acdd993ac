//! What must hold when things go wrong: retried requests count once, a full disk refuses writes
//! (503 + Retry-After) while reads go on and recovers by itself, and firing alerts survive a
//! restart.

mod common;

use common::{now_rfc3339, slo, TestServer};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn totals(s: &TestServer, key: &str) -> anyhow::Result<(u64, u64)> {
    let (status, doc) = s.get_json("/api/v1/slos").await?;
    anyhow::ensure!(status == 200, "GET /api/v1/slos: {status} {doc}");
    let report = slo(&doc, key).ok_or_else(|| anyhow::anyhow!("no {key} in {doc}"))?;
    let good = report["good"].as_u64().unwrap_or(0);
    let total = report["total"].as_u64().unwrap_or(0);
    Ok((good, total))
}

#[tokio::test]
async fn a_retried_request_with_the_same_idempotency_key_counts_once() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    let body = json!([{ "time": t, "slo": "checkout/availability", "good": 7, "total": 10 }]);
    let post = |key: &'static str| {
        s.client
            .post(s.url("/api/v1/events"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("batch-0001").await?;
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = first.json().await?;
    assert_eq!(first["duplicate"], false, "{first}");
    let again = post("batch-0001").await?;
    assert_eq!(again.status(), 200, "a retry is answered like the original");
    let again: serde_json::Value = again.json().await?;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["accepted"], 1);
    let other = post("batch-0002").await?;
    assert_eq!(other.status(), 200);

    // Logs take the same header.
    let line = |status: u16| {
        format!("10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /x HTTP/1.1\" {status} 5 \"-\" \"t\"\n")
    };
    let mut lines = String::new();
    for status in [200, 200, 500] {
        lines.push_str(&line(status));
    }
    for expect_duplicate in [false, true] {
        let r = s
            .client
            .post(s.url("/api/v1/logs?format=combined&service=web"))
            .header("Idempotency-Key", "logs-1")
            .body(lines.clone())
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let doc: serde_json::Value = r.json().await?;
        assert_eq!(doc["duplicate"], expect_duplicate, "{doc}");
        assert_eq!(doc["accepted"], 3, "{doc}");
    }

    // Invalid keys are refused before anything is counted.
    for bad in ["", "has space", &"k".repeat(201)] {
        let r = s
            .client
            .post(s.url("/api/v1/events"))
            .header("Idempotency-Key", bad)
            .json(&body)
            .send()
            .await?;
        assert_eq!(r.status(), 400, "key {bad:?}");
        let doc: serde_json::Value = r.json().await?;
        assert_eq!(doc["error"]["code"], "request.bad_idempotency_key");
    }

    // Wait for an evaluation that includes everything, then check the counts.
    let mut seen = (0, 0);
    for _ in 0..50 {
        seen = totals(&s, "checkout/availability").await?;
        if seen.1 >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        totals(&s, "checkout/availability").await?,
        (14, 20),
        "{seen:?}"
    );
    // Keep the directory alive (dropping it deletes the database).
    let dir = s.stop().await?;
    let db = store::SqliteStore::open(&dir.path().join("data").join("nines.db")).await?;
    let counts = store::Store::counts(&db, "web/pages", 0, i64::MAX).await?;
    let (good, total) = counts
        .iter()
        .fold((0, 0), |(g, t), c| (g + c.good, t + c.total));
    assert_eq!((good, total), (2, 3), "the retried log body counted once");
    store::Store::close(&db).await?;
    Ok(())
}

#[tokio::test]
async fn a_full_disk_answers_503_keeps_reads_and_recovers_by_itself() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let sqlite = Arc::new(store::SqliteStore::open(&data.join("nines.db")).await?);
    let handle = sqlite.clone();
    let config_path = dir.path().join("nines.yaml");
    std::fs::write(&config_path, common::CONFIG)?;
    let s = TestServer::start_in(dir, config_path, move |settings| {
        settings.store = Some(sqlite);
    })
    .await?;

    let now = server::now();
    // A week of distinct minutes per request, so every request needs new pages.
    let batch = |round: i64| -> serde_json::Value {
        serde_json::Value::Array(
            (0..2000)
                .map(|i| {
                    let t = now - 7 * 86_400 + (round * 2000 + i) % (7 * 1440) * 60;
                    json!({ "time": t, "slo": "checkout/availability", "good": 1, "total": 1 })
                })
                .collect(),
        )
    };
    let (status, _) = s.post_json("/api/v1/events", &batch(0)).await?;
    assert_eq!(status, 200);
    let mut acknowledged = 2000u64;
    let size = std::fs::metadata(s.dir.path().join("data").join("nines.db"))?.len();
    handle.set_max_size(Some(size));

    let mut refused = None;
    for round in 1..40 {
        let r = s
            .client
            .post(s.url("/api/v1/events"))
            .json(&batch(round))
            .send()
            .await?;
        match r.status().as_u16() {
            200 => acknowledged += 2000,
            503 => {
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u32>().ok());
                let doc: serde_json::Value = r.json().await?;
                refused = Some((retry, doc));
                break;
            }
            other => anyhow::bail!("unexpected status {other}: {}", r.text().await?),
        }
    }
    let (retry, doc) = refused.ok_or_else(|| anyhow::anyhow!("the size cap was never reached"))?;
    assert_eq!(doc["error"]["code"], "store.disk_full", "{doc}");
    assert_eq!(retry, Some(30), "Retry-After on a full disk");

    // Reads keep working while the disk is full.
    let (status, _) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(status, 200);
    let (status, _) = s.get_json("/api/v1/alerts").await?;
    assert_eq!(status, 200);

    // Space returns: the next request succeeds without any restart.
    handle.set_max_size(None);
    let (status, body) = s.post_json("/api/v1/events", &batch(99)).await?;
    assert_eq!(status, 200, "{body}");
    acknowledged += 2000;

    let stored: u64 = store::Store::counts(handle.as_ref(), "checkout/availability", 0, i64::MAX)
        .await?
        .iter()
        .map(|c| c.total)
        .sum();
    assert_eq!(
        stored, acknowledged,
        "the refused request left nothing behind"
    );
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_firing_alert_is_still_firing_after_a_restart() -> anyhow::Result<()> {
    let key = store::AuditKey::from_bytes([9u8; store::AUDIT_KEY_LEN]);
    let k = key.clone();
    let s = TestServer::start_with(common::CONFIG, move |settings| {
        settings.audit_key = Some(k);
    })
    .await?;
    let t = now_rfc3339();
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": t, "slo": "checkout/availability", "good": 0, "total": 100 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let mut since = None;
    for _ in 0..50 {
        let (_, alerts) = s.get_json("/api/v1/alerts").await?;
        if let Some(a) = alerts["active"].as_array().and_then(|a| {
            a.iter()
                .find(|a| a["severity"] == "page" && a["state"] == "firing")
        }) {
            since = Some((a["tier"].clone(), a["since"].clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (tier, since) = since.ok_or_else(|| anyhow::anyhow!("the page never fired"))?;
    let config_path = s.config_path.clone();
    let dir = s.stop().await?;

    let s = TestServer::start_in(dir, config_path, move |settings| {
        settings.audit_key = Some(key);
    })
    .await?;
    let (_, alerts) = s.get_json("/api/v1/alerts").await?;
    let same = alerts["active"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|a| a["tier"] == tier && a["severity"] == "page")
        })
        .ok_or_else(|| anyhow::anyhow!("the page is not active after the restart: {alerts}"))?;
    assert_eq!(same["state"], "firing", "{alerts}");
    assert_eq!(same["since"], since, "it keeps its original start");
    let refired = alerts["history"].as_array().is_some_and(|h| {
        h.iter().any(|e| {
            e["tier"] == tier && e["slo"] == "checkout/availability" && e["to"] == "firing"
        })
    });
    assert!(
        !refired,
        "no new firing transition after a restart: {alerts}"
    );
    s.stop().await?;
    Ok(())
}
