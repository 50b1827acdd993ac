//! Incidents, postmortems and toil through the real HTTP API: declaration, lifecycle, roles,
//! concurrent edits of the state document, the working record, stakeholder updates through a
//! receiver, impact from SLO counters, auto-declaration from a page, the postmortem workflow
//! and the toil reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::extract::State;
use common::TestServer;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Got = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver that records every body.
async fn receiver() -> anyhow::Result<(String, Got)> {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Got>, body: axum::body::Bytes| async move {
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, got))
}

fn config(hook: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: nines/v1
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
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: team
      webhook_configs:
        - url: {hook}
    - name: stakeholders
      webhook_configs:
        - url: {hook}
incidents:
  stakeholder_receiver: stakeholders
{extra}
"#
    )
}

async fn start(extra: &str) -> anyhow::Result<(TestServer, Got)> {
    let (hook, got) = receiver().await?;
    let s = TestServer::start_with(&config(&hook, extra), |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await?;
    Ok((s, got))
}

async fn send(
    s: &TestServer,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = client.request(method, s.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn declare(s: &TestServer, body: Value) -> anyhow::Result<i64> {
    let (status, inc) = s.post_json("/api/v1/incidents", &body).await?;
    assert_eq!(status, 201, "{inc}");
    Ok(inc["id"].as_i64().unwrap())
}

#[tokio::test]
async fn an_incident_lives_through_its_lifecycle_roles_and_record() -> anyhow::Result<()> {
    let (s, _) = start("").await?;
    let responder = common::client_with(Some(&s.tokens.responder))?;
    let (status, inc) = send(
        &s,
        &responder,
        reqwest::Method::POST,
        "/api/v1/incidents",
        Some(json!({ "title": "Checkout errors", "severity": "SEV2", "services": ["checkout"] })),
    )
    .await?;
    assert_eq!(status, 201, "{inc}");
    let id = inc["id"].as_i64().unwrap();
    assert_eq!(inc["status"], "investigating");
    assert_eq!(inc["severity"], "SEV2");
    // The declarer commands and holds every role nobody else holds.
    let commander = inc["declared_by"].as_str().unwrap().to_string();
    assert!(inc["roles_effective"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["holder"] == commander.as_str() && r["delegated"] == false));

    let (status, roles) = send(
        &s,
        &responder,
        reqwest::Method::PUT,
        &format!("/api/v1/incidents/{id}/roles/communications_lead"),
        Some(json!({ "holder": "carol" })),
    )
    .await?;
    assert_eq!(status, 200, "{roles}");
    let comms = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "communications_lead")
        .unwrap();
    assert_eq!(comms["holder"], "carol");
    assert_eq!(comms["delegated"], true);
    assert_eq!(roles["handovers"][0]["to"], "carol");

    for (to, code) in [
        ("identified", 200),
        ("monitoring", 200),
        ("investigating", 409),
        ("resolved", 200),
    ] {
        let (status, body) = send(
            &s,
            &responder,
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({ "status": to })),
        )
        .await?;
        assert_eq!(status, code, "{to}: {body}");
    }
    let (_, inc) = s.get_json(&format!("/api/v1/incidents/{id}")).await?;
    assert_eq!(inc["status"], "resolved");
    assert!(inc["mitigated_at"].as_i64().is_some() && inc["resolved_at"].as_i64().is_some());
    assert_eq!(inc["status_changes"].as_array().unwrap().len(), 4);

    // The working record: newest first, with every status and role change.
    let (status, note) = send(
        &s,
        &responder,
        reqwest::Method::POST,
        &format!("/api/v1/incidents/{id}/timeline"),
        Some(json!({ "kind": "decision", "text": "roll back 1.2.3", "pinned": true })),
    )
    .await?;
    assert_eq!(status, 201, "{note}");
    let (_, timeline) = s
        .get_json(&format!("/api/v1/incidents/{id}/timeline"))
        .await?;
    let entries = timeline["timeline"].as_array().unwrap();
    assert_eq!(entries[0]["text"], "roll back 1.2.3");
    assert!(entries.iter().any(|e| e["kind"] == "role_change"));
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["kind"] == "status_change")
            .count(),
        4,
        "declaration + three accepted changes: {entries:?}"
    );
    let (_, pinned) = s
        .get_json(&format!("/api/v1/incidents/{id}/timeline?pinned=true"))
        .await?;
    assert_eq!(pinned["timeline"].as_array().unwrap().len(), 1);
    let (status, _) = send(
        &s,
        &responder,
        reqwest::Method::POST,
        &format!("/api/v1/incidents/{id}/timeline"),
        Some(json!({ "kind": "status_change", "text": "forged" })),
    )
    .await?;
    assert_eq!(status, 422);

    // Viewers read but never write.
    let viewer = common::client_with(Some(&s.tokens.viewer))?;
    let (status, body) = send(
        &s,
        &viewer,
        reqwest::Method::POST,
        "/api/v1/incidents",
        Some(json!({ "title": "nope" })),
    )
    .await?;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "auth.forbidden");
    let (status, list) = send(&s, &viewer, reqwest::Method::GET, "/api/v1/incidents", None).await?;
    assert_eq!(status, 200);
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    let (status, _) = s.get_json("/api/v1/incidents/999").await?;
    assert_eq!(status, 404);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_edits_of_the_state_document_never_overwrite_silently() -> anyhow::Result<()> {
    let (s, _) = start("").await?;
    let id = declare(&s, json!({ "title": "Latency", "severity": 3 })).await?;
    let (_, doc) = s
        .get_json(&format!("/api/v1/incidents/{id}/document"))
        .await?;
    let names: Vec<&str> = doc["document"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "summary",
            "status",
            "command_post",
            "command_hierarchy",
            "detailed_status",
            "exit_criteria",
            "todos"
        ]
    );

    // Two people edit different sections from the same read, at the same time: both land.
    let edit = |section: &'static str, text: &'static str, base: u64| {
        let client = s.client.clone();
        let url = s.url(&format!("/api/v1/incidents/{id}/document/{section}"));
        async move {
            let r = client
                .put(url)
                .json(&json!({ "text": text, "base_revision": base }))
                .send()
                .await?;
            let status = r.status().as_u16();
            let body: Value = r.json().await?;
            anyhow::Ok((status, body))
        }
    };
    let (a, b) = tokio::join!(
        edit("summary", "p99 doubled", 0),
        edit("todos", "- check db", 0)
    );
    assert_eq!(a?.0, 200);
    assert_eq!(b?.0, 200);
    let (_, doc) = s
        .get_json(&format!("/api/v1/incidents/{id}/document"))
        .await?;
    let section = |name: &str| {
        doc["document"]["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(section("summary")["text"], "p99 doubled");
    assert_eq!(section("todos")["text"], "- check db");

    // Two edits of the same section from the same revision: the second is refused with both
    // texts, and the first stays.
    let first = edit("summary", "p99 doubled after deploy", 1).await?;
    assert_eq!(first.0, 200);
    assert_eq!(first.1["revision"], 2);
    let (status, refused) = edit("summary", "db is slow", 1).await?;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "incident.section_conflict");
    assert_eq!(
        refused["error"]["details"]["current_text"],
        "p99 doubled after deploy"
    );
    assert_eq!(refused["error"]["details"]["your_text"], "db is slow");
    assert_eq!(refused["error"]["details"]["current_revision"], 2);
    let (status, _) = edit("nonsense", "x", 0).await?;
    assert_eq!(status, 404);
    let (_, doc) = s
        .get_json(&format!("/api/v1/incidents/{id}/document"))
        .await?;
    assert!(doc["document"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"] == "summary" && x["text"] == "p99 doubled after deploy"));
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn impact_comes_from_the_slo_counters_and_updates_reach_stakeholders() -> anyhow::Result<()> {
    let (s, got) = start("").await?;
    // 30 bad of 1,000 events now: with 99.9% over this window's 1,000 events the budget is
    // 1 event, so 30 were spent.
    let t = common::now_rfc3339();
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": t, "slo": "checkout/availability", "good": 970, "total": 1000 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let id = declare(
        &s,
        json!({ "title": "Errors", "severity": "SEV1", "services": ["checkout"], "slos": ["checkout/availability"] }),
    )
    .await?;
    let (status, bad) = s
        .post_json(
            "/api/v1/incidents",
            &json!({ "title": "x", "slos": ["checkout/nothing"] }),
        )
        .await?;
    assert_eq!(status, 422, "{bad}");
    let (_, inc) = s.get_json(&format!("/api/v1/incidents/{id}")).await?;
    let slo = &inc["impact"]["slos"][0];
    assert_eq!(slo["slo"], "checkout/availability");
    assert_eq!(slo["impact"]["bad_events"], 30);
    assert_eq!(slo["impact"]["total_events"], 1000);
    let consumed = slo["impact"]["budget_consumed"].as_f64().unwrap();
    assert!((consumed - 30.0).abs() < 1e-6, "{consumed}");
    assert!(slo["impact"]["first_bad_at"].as_i64().is_some());

    // Only the communications lead (the commander, until delegated) writes to stakeholders.
    let responder = common::client_with(Some(&s.tokens.responder))?;
    let (status, refused) = send(
        &s,
        &responder,
        reqwest::Method::POST,
        &format!("/api/v1/incidents/{id}/timeline"),
        Some(json!({ "kind": "stakeholder_update", "text": "not mine to send" })),
    )
    .await?;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "incident.not_communications_lead");
    let (status, update) = s
        .post_json(
            &format!("/api/v1/incidents/{id}/timeline"),
            &json!({ "kind": "stakeholder_update", "text": "checkout is degraded; next update in 30 min" }),
        )
        .await?;
    assert_eq!(status, 201, "{update}");
    assert_eq!(update["sent_to"], "stakeholders");
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let found = got
            .lock()
            .unwrap()
            .iter()
            .find(|m| m["receiver"] == "stakeholders")
            .cloned();
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "no stakeholder update was sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(message["version"], "4");
    assert_eq!(
        message["alerts"][0]["labels"]["alertname"],
        "IncidentUpdate"
    );
    assert_eq!(message["alerts"][0]["labels"]["incident"], id.to_string());
    assert_eq!(
        message["alerts"][0]["annotations"]["description"],
        "checkout is degraded; next update in 30 min"
    );

    let (status, metrics) = s.get_json("/api/v1/incidents/metrics").await?;
    assert_eq!(status, 200);
    assert!(metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["severity"] == "SEV1" && m["service"] == "checkout"));
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_page_declares_an_incident_and_an_acked_page_becomes_toil() -> anyhow::Result<()> {
    let extra = "  auto_declare: { matchers: ['severity=\"page\"'], severity: SEV2 }";
    let (s, _) = start(extra).await?;
    let (status, _) = s
        .post_json(
            "/api/v2/alerts",
            &json!([{ "labels": { "alertname": "Down", "severity": "page", "service": "checkout", "team": "payments" },
                      "annotations": { "summary": "checkout is down" } }]),
        )
        .await?;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let incident = loop {
        let (_, list) = s.get_json("/api/v1/incidents").await?;
        if let Some(i) = list["incidents"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
        {
            break i;
        }
        assert!(Instant::now() < deadline, "no incident was declared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(incident["title"], "checkout is down");
    assert_eq!(incident["severity"], "SEV2");
    assert_eq!(incident["services"], json!(["checkout"]));
    assert_eq!(incident["linked_alerts"].as_array().unwrap().len(), 1);
    // Only one, however long the page fires.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, list) = s.get_json("/api/v1/incidents").await?;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);

    // Ack, then resolve: the handling time is production-interrupt toil of the team.
    let fp = incident["linked_alerts"][0].as_str().unwrap().to_string();
    let (status, _) = s
        .post_json(&format!("/api/v1/alerts/{fp}/ack"), &json!({}))
        .await?;
    assert_eq!(status, 200);
    // It resolves two seconds from now: a page handled for (under) a minute.
    let (status, _) = s
        .post_json(
            "/api/v2/alerts",
            &json!([{ "labels": { "alertname": "Down", "severity": "page", "service": "checkout", "team": "payments" },
                      "endsAt": server::format_time(server::now() + 2) }]),
        )
        .await?;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, report) = s.get_json("/api/v1/toil/report?team=payments").await?;
        let text = report.to_string();
        if text.contains("production_interrupts") {
            break;
        }
        assert!(Instant::now() < deadline, "no page toil: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await?;
    Ok(())
}

fn token_name(role: &str, secret: &str) -> String {
    format!("test-{role}-{}", &store::token_sha256(secret)[..12])
}

#[tokio::test]
async fn a_postmortem_goes_from_draft_to_published_with_one_owner_per_action() -> anyhow::Result<()>
{
    let (s, _) = start("").await?;
    let id = declare(
        &s,
        json!({ "title": "Checkout down", "severity": "SEV1", "services": ["checkout"],
                "summary": "Checkout returned 500s for 20 minutes", "slos": ["checkout/availability"] }),
    )
    .await?;
    let (_, pin) = s
        .post_json(
            &format!("/api/v1/incidents/{id}/timeline"),
            &json!({ "kind": "decision", "text": "rolled back 1.2.3" }),
        )
        .await?;
    let entry = pin["id"].as_i64().unwrap();
    let r = s
        .client
        .put(s.url(&format!("/api/v1/incidents/{id}/timeline/{entry}/pin")))
        .json(&json!({ "pinned": true }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .client
        .patch(s.url(&format!("/api/v1/incidents/{id}")))
        .json(&json!({ "status": "resolved" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);

    let (status, pm) = s
        .post_json(&format!("/api/v1/incidents/{id}/postmortem"), &json!({}))
        .await?;
    assert_eq!(status, 201, "{pm}");
    let pm_id = pm["id"].as_i64().unwrap();
    assert_eq!(pm["status"], "draft");
    assert_eq!(pm["incident_id"], id);
    assert!(
        pm["summary"]
            .as_str()
            .unwrap()
            .contains("Checkout returned 500s"),
        "{pm}"
    );
    assert_eq!(
        pm["timeline"][0]["text"], "rolled back 1.2.3",
        "pinned entries: {pm}"
    );
    assert_eq!(pm["impact_figures"][0]["slo"], "checkout/availability");
    let (status, again) = s
        .post_json(&format!("/api/v1/incidents/{id}/postmortem"), &json!({}))
        .await?;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "postmortem.exists");

    // Exactly one owner.
    let item = |owner: &str| json!({ "title": "alert on 5xx ratio", "owner": owner, "kind": "detect", "due": "2030-01-31" });
    for bad in ["", "alice, bob", "alice and bob"] {
        let (status, body) = s
            .post_json(
                &format!("/api/v1/postmortems/{pm_id}/action-items"),
                &item(bad),
            )
            .await?;
        assert_eq!(status, 422, "owner {bad:?}: {body}");
    }
    let (status, added) = s
        .post_json(
            &format!("/api/v1/postmortems/{pm_id}/action-items"),
            &item("alice"),
        )
        .await?;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["owner"], "alice");

    // The blameless check flags blaming words.
    let patch = json!({
        "trigger": "deploy of 1.2.3",
        "root_causes": [{ "category": "change", "text": "Bob was careless and forgot to run the migration" }],
        "lessons": { "went_well": ["rollback took 2 minutes"], "went_wrong": [], "got_lucky": [] },
    });
    let r = s
        .client
        .patch(s.url(&format!("/api/v1/postmortems/{pm_id}")))
        .json(&patch)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let edited: Value = r.json().await?;
    let findings = edited["blameless_findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{edited}");

    // Review: submit naming two reviewers; approval only by them; reviewed when both did.
    let responder = common::client_with(Some(&s.tokens.responder))?;
    let responder_name = token_name("responder", &s.tokens.responder);
    let admin_name = token_name("admin", &s.tokens.admin);
    let review = |client: reqwest::Client, body: Value| {
        let url = s.url(&format!("/api/v1/postmortems/{pm_id}/review"));
        async move {
            let r = client.post(url).json(&body).send().await?;
            let status = r.status().as_u16();
            let body: Value = r.json().await?;
            anyhow::Ok((status, body))
        }
    };
    let (status, body) = review(s.client.clone(), json!({ "action": "approve" })).await?;
    assert_eq!(status, 409, "a draft cannot be approved: {body}");
    let (status, body) = review(
        s.client.clone(),
        json!({ "action": "submit", "reviewers": [responder_name, admin_name] }),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "in_review");
    let (status, body) = review(responder.clone(), json!({ "action": "approve" })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "in_review", "one of two approved");
    let (status, body) = review(s.client.clone(), json!({ "action": "publish" })).await?;
    assert_eq!(status, 409, "not reviewed yet: {body}");
    let (status, body) = review(s.client.clone(), json!({ "action": "approve" })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reviewed");
    let (status, body) = review(s.client.clone(), json!({ "action": "publish" })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "published");
    let r = s
        .client
        .patch(s.url(&format!("/api/v1/postmortems/{pm_id}")))
        .json(&json!({ "summary": "rewritten" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 409, "a published postmortem is frozen");

    let r = s
        .client
        .get(s.url(&format!("/api/v1/postmortems/{pm_id}/markdown")))
        .send()
        .await?;
    assert!(r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/markdown")));
    let md = r.text().await?;
    for needle in [
        "Checkout down",
        "alert on 5xx ratio",
        "alice",
        "rolled back 1.2.3",
        "rollback took 2 minutes",
    ] {
        assert!(md.contains(needle), "{needle:?} missing from:\n{md}");
    }

    let (_, aggregates) = s.get_json("/api/v1/postmortems/aggregates").await?;
    assert_eq!(aggregates["by_service"]["checkout"], 1, "{aggregates}");
    assert_eq!(aggregates["by_root_cause_category"]["change"], 1);
    assert_eq!(aggregates["open_action_items_by_owner"]["alice"], 1);
    let (status, overdue) = s.get_json("/api/v1/postmortems/overdue").await?;
    assert_eq!(status, 200);
    assert_eq!(overdue["overdue"].as_array().unwrap().len(), 0, "{overdue}");
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn toil_is_reported_as_a_share_of_team_capacity() -> anyhow::Result<()> {
    let (s, _) = start("").await?;
    let r = s
        .client
        .put(s.url("/api/v1/toil/teams/payments"))
        .json(&json!({ "weekly_capacity_minutes": 1000 }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    // Four weeks ago and this week: a recurring task, automated two weeks ago.
    let now = server::now();
    let week = 7 * 86400;
    for (at, minutes, task) in [
        (now - 3 * week, 300, "rotate-certs"),
        (now - 3 * week, 300, "rotate-certs"),
        (now - 2 * week - 86400, 400, "rotate-certs"),
        (now, 100, "rotate-certs"),
        (now, 50, ""),
    ] {
        let (status, body) = s
            .post_json(
                "/api/v1/toil",
                &json!({ "team": "payments", "category": "business_processes", "minutes": minutes,
                         "description": "manual work", "automatable": true, "task": task, "at": at }),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = s
        .post_json(
            "/api/v1/toil",
            &json!({ "team": "payments", "category": "yak_shaving", "minutes": 5, "description": "x" }),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let (status, body) = s
        .post_json(
            "/api/v1/toil",
            &json!({ "team": "payments", "category": "migrations", "minutes": 0, "description": "x" }),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let (status, _) = s
        .post_json(
            "/api/v1/toil/automations",
            &json!({ "team": "payments", "task": "rotate-certs", "at": now - 2 * week + 3600 }),
        )
        .await?;
    assert_eq!(status, 201);

    let (status, report) = s.get_json("/api/v1/toil/report?team=payments").await?;
    assert_eq!(status, 200, "{report}");
    let weeks = report["report"]["weeks"].as_array().unwrap();
    let heavy = weeks
        .iter()
        .find(|w| w["minutes"] == 600)
        .unwrap_or_else(|| panic!("no 600-minute week: {weeks:?}"));
    assert_eq!(heavy["capacity_minutes"], 1000);
    assert!((heavy["share"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    assert_eq!(heavy["over_half"], true);
    assert!(report["report"]["teams_over_half"]
        .as_array()
        .unwrap()
        .contains(&json!("payments")));
    let automation = &report["report"]["automations"][0];
    assert_eq!(automation["task"], "rotate-certs");
    assert!(
        automation["minutes_per_week_before"].as_f64().unwrap()
            > automation["minutes_per_week_after"].as_f64().unwrap(),
        "{automation}"
    );
    let viewer = common::client_with(Some(&s.tokens.viewer))?;
    let r = viewer
        .post(s.url("/api/v1/toil"))
        .json(&json!({ "team": "payments", "category": "migrations", "minutes": 5, "description": "x" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    s.stop().await?;
    Ok(())
}
