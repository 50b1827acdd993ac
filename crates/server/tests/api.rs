mod common;

use common::{now_rfc3339, slo, TestServer};
use serde_json::json;

#[tokio::test]
async fn attribute_events_reach_the_report() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    let mut events = Vec::new();
    for i in 0..10 {
        events.push(json!({
            "time": t,
            "source": "checkout",
            "attributes": { "status": if i < 2 { 503 } else { 200 }, "latency_ms": 50 + i * 50, "path": "/api/pay" }
        }));
    }
    events.push(json!({ "time": t, "source": "checkout", "attributes": { "status": 200, "path": "/health" } }));
    events.push(json!({ "time": t, "source": "nobody", "attributes": { "status": 200 } }));
    // No status: the availability SLI cannot judge it, the latency SLI can (fast, so good).
    events.push(json!({ "time": t, "source": "checkout", "attributes": { "latency_ms": 20, "path": "/api/pay" } }));
    let (status, body) = s.post_json("/api/v1/events", &json!(events)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 13);
    assert_eq!(body["matched"], 11);

    let (status, doc) = s.get_json("/api/v1/slos").await?;
    assert_eq!(status, 200);
    let a = slo(&doc, "checkout/availability").ok_or_else(|| anyhow::anyhow!("missing"))?;
    assert_eq!(a["good"], 8);
    assert_eq!(a["total"], 10);
    assert!(a["error_budget"]["remaining"].is_number());
    let l = slo(&doc, "checkout/latency").ok_or_else(|| anyhow::anyhow!("missing"))?;
    // 50..500 ms step 50: <= 300 ms are the first 6; plus the 20 ms event without a status.
    assert_eq!(l["good"], 7);
    assert_eq!(l["total"], 11);

    let (status, one) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(status, 200);
    assert_eq!(one["total"], 10);
    assert!(one["alerts"].as_array().is_some_and(|a| !a.is_empty()));

    let (status, hist) = s
        .get_json("/api/v1/slos/checkout/availability/history?step=60")
        .await?;
    assert_eq!(status, 200, "{hist}");
    let n = hist["times"].as_array().map_or(0, Vec::len);
    assert!(n > 1000);
    assert_eq!(hist["sli"].as_array().map_or(0, Vec::len), n);
    assert_eq!(hist["burn_rates"]["1h"].as_array().map_or(0, Vec::len), n);
    assert_eq!(hist["budget_remaining"].as_array().map_or(0, Vec::len), n);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn pre_aggregated_increments_add_up() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    for _ in 0..3 {
        let (status, body) = s
            .post_json(
                "/api/v1/events",
                &json!([{ "time": t, "slo": "checkout/availability", "good": 95, "total": 100 }]),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
    }
    let (_, doc) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(doc["good"], 285);
    assert_eq!(doc["total"], 300);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn logs_endpoint_counts_lines() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let stamp = jiff_stamp();
    let mut body = String::new();
    for status in [200, 200, 500, 404] {
        body.push_str(&format!(
            "10.0.0.1 - - [{stamp}] \"GET /index.html HTTP/1.1\" {status} 512 \"-\" \"curl\"\n"
        ));
    }
    body.push_str("this is not a log line\n");
    let r = s
        .client
        .post(s.url("/api/v1/logs?format=combined&service=web"))
        .body(body)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let out: serde_json::Value = r.json().await?;
    assert_eq!(out["accepted"], 4);
    assert_eq!(out["rejected"], 1);
    let (_, doc) = s.get_json("/api/v1/slos/web/pages").await?;
    assert_eq!(doc["good"], 3);
    assert_eq!(doc["total"], 4);

    // A service without access-log SLOs, and nothing parseable.
    let r = s
        .client
        .post(s.url("/api/v1/logs?service=checkout"))
        .body("x\n")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 422);
    let r = s
        .client
        .post(s.url("/api/v1/logs?format=combined"))
        .body("garbage\n")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 422);
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["error"]["code"], "logs.no_valid_lines");
    s.stop().await?;
    Ok(())
}

/// `[27/Nov/2026:05:00:00 +0000]`-style time of now.
fn jiff_stamp() -> String {
    let now = jiff::Timestamp::now();
    now.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

async fn expect_error(
    r: reqwest::Response,
    status: u16,
    code: &str,
) -> anyhow::Result<serde_json::Value> {
    assert_eq!(r.status().as_u16(), status);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    Ok(body)
}

#[tokio::test]
async fn bad_input_gets_stable_codes() -> anyhow::Result<()> {
    let s = TestServer::start_with(common::CONFIG, |settings| {
        settings.max_json_body = 4096;
    })
    .await?;
    let post = |body: &'static str, ct: &'static str| {
        s.client
            .post(s.url("/api/v1/events"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    expect_error(
        post("{not json", "application/json").await?,
        400,
        "request.bad_json",
    )
    .await?;
    expect_error(
        post("{}", "application/json").await?,
        400,
        "events.not_an_array",
    )
    .await?;
    expect_error(
        post("[]", "text/plain").await?,
        415,
        "request.unsupported_media_type",
    )
    .await?;
    expect_error(
        post(
            r#"[{"slo": "nope/none", "good": 1, "total": 1}]"#,
            "application/json",
        )
        .await?,
        422,
        "events.unknown_slo",
    )
    .await?;
    expect_error(
        post(
            r#"[{"slo": "checkout/availability", "good": 2, "total": 1}]"#,
            "application/json",
        )
        .await?,
        422,
        "events.invalid_counts",
    )
    .await?;
    expect_error(
        post(
            r#"[{"source": "checkout", "time": "yesterday"}]"#,
            "application/json",
        )
        .await?,
        422,
        "events.bad_time",
    )
    .await?;
    expect_error(
        post(
            r#"[{"source": "checkout", "attributes": {"status": "abc"}}]"#,
            "application/json",
        )
        .await?,
        422,
        "events.bad_attribute",
    )
    .await?;
    expect_error(
        post("[1]", "application/json").await?,
        422,
        "events.invalid",
    )
    .await?;
    let big = format!("[{}]", vec!["{\"source\": \"checkout\"}"; 500].join(","));
    let r = s
        .client
        .post(s.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await?;
    expect_error(r, 413, "request.body_too_large").await?;
    let r = s.client.get(s.url("/api/v1/slos/nope/none")).send().await?;
    expect_error(r, 404, "slo.not_found").await?;
    let r = s.client.get(s.url("/api/v1/nothing")).send().await?;
    expect_error(r, 404, "route.not_found").await?;
    let r = s.client.delete(s.url("/api/v1/events")).send().await?;
    expect_error(r, 405, "route.method_not_allowed").await?;
    let r = s.client.get(s.url("/api/v1/gate")).send().await?;
    expect_error(r, 400, "gate.missing_slo").await?;
    let r = s
        .client
        .get(s.url("/api/v1/slos/checkout/availability/history?step=0"))
        .send()
        .await?;
    expect_error(r, 400, "history.bad_step").await?;
    // Nothing of the rejected bodies was counted.
    let (_, doc) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(doc["total"], 0);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn invalid_reload_keeps_the_running_config() -> anyhow::Result<()> {
    let key = store::AuditKey::from_bytes([5u8; store::AUDIT_KEY_LEN]);
    let s = TestServer::start_with(common::CONFIG, move |settings| {
        settings.audit_key = Some(key);
    })
    .await?;
    std::fs::write(&s.config_path, "apiVersion: nines/v1\nservices:\n  - name: x\n    slos:\n      - name: y\n        objective: 250\n")?;
    let r = s.client.post(s.url("/-/reload")).send().await?;
    let body = expect_error(r, 422, "config.invalid").await?;
    assert!(body["error"]["details"]["diagnostics"]
        .as_array()
        .is_some_and(|d| !d.is_empty()));
    let (status, _) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(status, 200, "the old config keeps running");

    // A valid one replaces it.
    let new = common::CONFIG.replace("name: pages", "name: pages2");
    std::fs::write(&s.config_path, new)?;
    let r = s.client.post(s.url("/-/reload")).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["generation"], 2);
    let (status, _) = s.get_json("/api/v1/slos/web/pages2").await?;
    assert_eq!(status, 200);
    let (status, _) = s.get_json("/api/v1/slos/web/pages").await?;
    assert_eq!(status, 404);
    let dir = s.stop().await?;

    // Both reloads are in the audit log, by the admin token that asked.
    let db = store::SqliteStore::open(&dir.path().join("data").join("nines.db")).await?;
    let entries = store::Store::audit_entries(&db, 1, 1000).await?;
    let reloads: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.action.starts_with("config."))
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert_eq!(reloads[0].0, "config.reload_rejected");
    assert_eq!(reloads[1].0, "config.reload");
    assert!(
        reloads
            .iter()
            .all(|(_, actor)| actor.starts_with("test-admin-")),
        "{reloads:?}"
    );
    store::Store::close(&db).await?;
    Ok(())
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": t, "slo": "checkout/availability", "good": 1, "total": 1 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let text = s.client.get(s.url("/metrics")).send().await?.text().await?;
    let mut samples = 0;
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // name{labels} value
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| anyhow::anyhow!("no value: {line}"))?;
        value
            .parse::<f64>()
            .map_err(|_| anyhow::anyhow!("bad value in {line}"))?;
        let name = series.split('{').next().unwrap_or("");
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        if series.contains('{') {
            assert!(series.ends_with('}'), "unterminated labels in {line}");
        }
        samples += 1;
    }
    assert!(samples > 10);
    for name in [
        "nines_http_requests_total",
        "nines_ingest_commits_total",
        "nines_evaluations_total",
        "nines_ingest_records_total",
        "nines_evaluation_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let (status, _) = s.get_json("/healthz").await?;
    assert_eq!(status, 200);
    let (status, _) = s.get_json("/readyz").await?;
    assert_eq!(status, 200);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn gate_changes_and_alerts() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let (_, gate) = s.get_json("/api/v1/gate?slo=checkout/availability").await?;
    assert_eq!(gate["allowed"], true);
    let t = now_rfc3339();
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": t, "slo": "checkout/availability", "good": 50, "total": 100 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let (_, gate) = s.get_json("/api/v1/gate?slo=checkout/availability").await?;
    assert_eq!(gate["allowed"], false, "{gate}");
    assert_eq!(gate["status"], "exhausted");

    let (status, change) = s
        .post_json(
            "/api/v1/changes",
            &json!({ "service": "checkout", "version": "1.2.3", "time": t, "description": "deploy" }),
        )
        .await?;
    assert_eq!(status, 201, "{change}");
    let (_, changes) = s.get_json("/api/v1/changes").await?;
    assert_eq!(changes["changes"][0]["version"], "1.2.3");

    // A 50% error burst fires the page tier once the evaluator has run.
    let mut fired = false;
    for _ in 0..50 {
        let (_, alerts) = s.get_json("/api/v1/alerts").await?;
        if alerts["active"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["state"] == "firing"))
        {
            assert!(alerts["history"].as_array().is_some_and(|h| !h.is_empty()));
            fired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(fired, "no alert fired");
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_keeps_acknowledged_counts() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let t = now_rfc3339();
    let mut handles = Vec::new();
    for _ in 0..50 {
        let client = s.client.clone();
        let url = s.url("/api/v1/events");
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .json(
                    &json!([{ "time": t, "slo": "checkout/availability", "good": 9, "total": 10 }]),
                )
                .send()
                .await
                .map(|r| r.status().is_success())
        }));
    }
    let mut acked = 0u64;
    for h in handles {
        if matches!(h.await, Ok(Ok(true))) {
            acked += 1;
        }
    }
    let config_path = s.config_path.clone();
    let dir = s.stop().await?;
    let s = TestServer::start_in(dir, config_path, |_| {}).await?;
    let (_, doc) = s.get_json("/api/v1/slos/checkout/availability").await?;
    assert_eq!(doc["total"], acked * 10);
    assert_eq!(doc["good"], acked * 9);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn changes_and_alert_states_persist_with_an_audit_key() -> anyhow::Result<()> {
    let key = store::AuditKey::from_bytes([7u8; store::AUDIT_KEY_LEN]);
    let k = key.clone();
    let s = TestServer::start_with(common::CONFIG, move |settings| {
        settings.audit_key = Some(k);
    })
    .await?;
    let t = now_rfc3339();
    let (status, change) = s
        .post_json(
            "/api/v1/changes",
            &json!({ "service": "checkout", "version": "v9", "time": t, "description": "canary" }),
        )
        .await?;
    assert_eq!(status, 201, "{change}");
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": t, "slo": "checkout/availability", "good": 0, "total": 100 }]),
        )
        .await?;
    assert_eq!(status, 200);
    // Wait for the evaluator to record a transition.
    for _ in 0..50 {
        let (_, alerts) = s.get_json("/api/v1/alerts").await?;
        if alerts["history"].as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let config_path = s.config_path.clone();
    let dir = s.stop().await?;

    let db = store::SqliteStore::open(&dir.path().join("data").join("nines.db")).await?;
    let states = store::Store::alert_states(&db).await?;
    assert!(
        states.iter().any(|r| r.slo == "checkout/availability"),
        "{states:?}"
    );
    store::Store::close(&db).await?;

    let s = TestServer::start_in(dir, config_path, move |settings| {
        settings.audit_key = Some(key);
    })
    .await?;
    let (_, changes) = s.get_json("/api/v1/changes?service=checkout").await?;
    assert_eq!(changes["changes"][0]["version"], "v9", "{changes}");
    assert_eq!(changes["changes"][0]["description"], "canary");
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn compare_before_and_after_a_change() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let now = server::now();
    // A deploy two hours ago: 0.1% errors in the hour before, 5% in the hour after.
    let deploy = (now - 7200) / 60 * 60 + 30;
    let (status, change) = s
        .post_json(
            "/api/v1/changes",
            &json!({ "service": "checkout", "version": "v2", "time": deploy }),
        )
        .await?;
    assert_eq!(status, 201, "{change}");
    let id = change["id"].as_u64().unwrap_or(0);
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([
                { "time": deploy - 1800, "slo": "checkout/availability", "good": 999, "total": 1000 },
                // The deploy's own minute belongs to neither side.
                { "time": deploy, "slo": "checkout/availability", "good": 0, "total": 500 },
                { "time": deploy + 1800, "slo": "checkout/availability", "good": 950, "total": 1000 },
            ]),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, doc) = s
        .get_json(&format!(
            "/api/v1/slos/checkout/availability/compare?change={id}&window=1h"
        ))
        .await?;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["verdict"], "worse", "{doc}");
    assert_eq!(doc["before"]["total"], 1000);
    assert_eq!(doc["before"]["good"], 999);
    assert_eq!(doc["after"]["total"], 1000);
    assert_eq!(doc["after"]["good"], 950);
    assert_eq!(doc["before"]["seconds"], 3600);
    assert_eq!(doc["change"]["version"], "v2");
    let factor = doc["burn_rate_factor"].as_f64().unwrap_or(0.0);
    assert!((factor - 50.0).abs() < 1e-9, "{factor}");

    // The same time given directly, and the errors.
    let (status, by_time) = s
        .get_json(&format!(
            "/api/v1/slos/checkout/availability/compare?at={deploy}&window=60m"
        ))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(by_time["z"], doc["z"]);
    for (query, code, want) in [
        (format!("change={id}&at={deploy}"), "compare.ambiguous", 400),
        ("change=987654".to_string(), "change.not_found", 404),
        ("change=abc".to_string(), "compare.bad_change", 400),
        ("at=yesterday".to_string(), "request.bad_time", 400),
        (format!("at={deploy}&window=30d"), "compare.bad_window", 400),
        (String::new(), "compare.missing_time", 400),
    ] {
        let (status, body) = s
            .get_json(&format!(
                "/api/v1/slos/checkout/availability/compare?{query}"
            ))
            .await?;
        assert_eq!(status, want, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}");
    }
    s.stop().await?;
    Ok(())
}

/// Reads at the same time share one evaluation until a commit changes the SLO's counters.
#[tokio::test]
async fn repeated_reads_share_an_evaluation_and_commits_invalidate_it() -> anyhow::Result<()> {
    async fn hits(s: &TestServer) -> anyhow::Result<u64> {
        let text = s.anon.get(s.url("/metrics")).send().await?.text().await?;
        Ok(text
            .lines()
            .find(|l| l.starts_with("nines_report_cache_hits_total "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64))
    }
    let s = TestServer::start().await?;
    let at = server::now() + 1;
    let path = format!("/api/v1/slos/checkout/availability?at={at}");

    let (_, first) = s.get_json(&path).await?;
    let before = hits(&s).await?;
    let (_, second) = s.get_json(&path).await?;
    assert_eq!(
        hits(&s).await?,
        before + 1,
        "the second read is a cache hit"
    );
    assert_eq!(first["total"], second["total"]);

    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": at - 30, "slo": "checkout/availability", "good": 3, "total": 4 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let (_, after) = s.get_json(&path).await?;
    assert_eq!(
        after["total"].as_u64(),
        first["total"].as_u64().map(|t| t + 4),
        "an acknowledged write is visible to the next read"
    );
    s.stop().await?;
    Ok(())
}
