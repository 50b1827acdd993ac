//! The notification pipeline through the real HTTP API: Alertmanager's v2 alerts and silences,
//! acknowledgements, grouping and delivery to a webhook receiver started by the test, SLO
//! alerts from the evaluator, and restarts that keep everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use common::TestServer;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a receiver got: headers and JSON body of each request.
type Got = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A webhook receiver on 127.0.0.1:0 that records every body it gets.
struct Receiver {
    url: String,
    got: Got,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let got: Got = Arc::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(got): State<Got>,
                     headers: HeaderMap,
                     body: axum::body::Bytes| async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        got.lock().unwrap().push((headers, v));
                        "ok"
                    },
                ),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { url, got })
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits until `n` bodies arrived (or the deadline passes) and returns them.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.bodies().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.bodies()
    }
}

fn config(webhook: &str, extra_route: &str) -> String {
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
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
{extra_route}
  receivers:
    - name: team
      webhook_configs:
        - url: {webhook}
"#
    )
}

async fn start(webhook: &str, extra_route: &str) -> anyhow::Result<TestServer> {
    TestServer::start_with(&config(webhook, extra_route), |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await
}

async fn post_alerts(s: &TestServer, alerts: &Value) -> anyhow::Result<(u16, String)> {
    let r = s
        .client
        .post(s.url("/api/v2/alerts"))
        .json(alerts)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

fn fingerprint(labels: &[(&str, &str)]) -> String {
    let mut set = notify::LabelSet::new();
    for (k, v) in labels {
        set.insert(*k, *v);
    }
    set.fingerprint().to_string()
}

#[tokio::test]
async fn posted_alerts_are_validated_listed_and_fingerprinted_like_alertmanager(
) -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let s = start(&hook.url, "").await?;

    let (status, _) = post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Disk", "instance": "db1" },
                  "annotations": { "summary": "disk full" },
                  "generatorURL": "http://prom/graph" }]),
    )
    .await?;
    assert_eq!(status, 200);

    // One invalid alert: 400 with a plain-text reason, the valid one is still stored.
    let (status, text) = post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Cpu" } },
                { "labels": {} }]),
    )
    .await?;
    assert_eq!(status, 400);
    assert!(text.contains("alert 1") && text.contains("label"), "{text}");

    let too_many: Vec<Value> = (0..257)
        .map(|i| json!({ "labels": { "alertname": "X", "i": i.to_string() } }))
        .collect();
    let (status, text) = post_alerts(&s, &json!(too_many)).await?;
    assert_eq!(status, 400);
    assert!(text.contains("257"), "{text}");
    let (status, _) = post_alerts(&s, &json!({ "not": "a list" })).await?;
    assert_eq!(status, 400);

    let (status, alerts) = s.get_json("/api/v2/alerts").await?;
    assert_eq!(status, 200);
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let disk = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "Disk")
        .unwrap();
    assert_eq!(
        disk["fingerprint"],
        fingerprint(&[("alertname", "Disk"), ("instance", "db1")])
    );
    assert_eq!(disk["status"]["state"], "active");
    assert_eq!(disk["receivers"], json!([{ "name": "team" }]));
    assert_eq!(disk["generatorURL"], "http://prom/graph");
    // No endsAt: now + resolve_timeout (5 m), a lease.
    let starts: jiff::Timestamp = disk["startsAt"].as_str().unwrap().parse()?;
    let ends: jiff::Timestamp = disk["endsAt"].as_str().unwrap().parse()?;
    assert_eq!(ends.duration_since(starts).as_secs(), 300);

    let (_, filtered) = s
        .get_json("/api/v2/alerts?filter=alertname%3D%22Cpu%22")
        .await?;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    let (status, _) = s.get_json("/api/v2/alerts?filter=%3D%3D%3D").await?;
    assert_eq!(status, 400);

    let (_, groups) = s.get_json("/api/v2/alerts/groups").await?;
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 2, "grouped by alertname: {groups:?}");
    assert_eq!(groups[0]["receiver"]["name"], "team");

    let (_, status_doc) = s.get_json("/api/v2/status").await?;
    let version = status_doc["versionInfo"]["version"].as_str().unwrap();
    assert_eq!(version.split('.').count(), 3, "semver: {version}");
    assert!(version.split('.').all(|p| p.parse::<u64>().is_ok()));
    assert_eq!(status_doc["cluster"]["status"], "disabled");
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_group_is_notified_once_and_its_resolution_follows() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let s = start(&hook.url, "").await?;
    let (status, _) = post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Down", "instance": "a" } },
                { "labels": { "alertname": "Down", "instance": "b" } }]),
    )
    .await?;
    assert_eq!(status, 200);
    let got = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one notification for the group: {got:?}");
    let msg = &got[0];
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["receiver"], "team");
    assert_eq!(msg["groupLabels"], json!({ "alertname": "Down" }));
    assert_eq!(msg["commonLabels"], json!({ "alertname": "Down" }));
    assert_eq!(msg["groupKey"], "{}:{alertname=\"Down\"}");
    assert_eq!(msg["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        msg["alerts"][0]["fingerprint"],
        fingerprint(&[("alertname", "Down"), ("instance", "a")])
    );

    // Re-sending the same alerts (Prometheus does every minute) notifies nobody.
    post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Down", "instance": "a" } }]),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hook.bodies().len(), 1);

    // Both resolve: one resolved notification.
    let now = server::format_time(server::now());
    post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Down", "instance": "a" }, "endsAt": now },
                { "labels": { "alertname": "Down", "instance": "b" }, "endsAt": now }]),
    )
    .await?;
    let got = hook.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["status"], "resolved");
    assert_eq!(got[1]["alerts"][0]["status"], "resolved");

    // The history shows both deliveries with their attempt; an unsigned webhook still carries
    // the outbox id as `webhook-id`, so a receiver can drop a re-delivery.
    let (_, history) = s.get_json("/api/v1/notifications").await?;
    let list = history["notifications"].as_array().unwrap();
    let ids: Vec<String> = hook
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_string())
        .collect();
    let mut stored: Vec<String> = list
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    stored.reverse();
    assert_eq!(ids, stored, "webhook-id is the outbox id");
    assert_eq!(list.len(), 2, "{history}");
    assert!(list.iter().all(|n| n["status"] == "delivered"
        && n["receiver"] == "team"
        && n["kind"] == "webhook"
        && n["attempts"].as_array().is_some_and(|a| a.len() == 1)));
    let (_, resolved) = s
        .get_json("/api/v1/notifications?status=delivered&limit=1")
        .await?;
    assert_eq!(resolved["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(
        resolved["notifications"][0]["summary"]["status"],
        "resolved"
    );
    let (status, _) = s.get_json("/api/v1/notifications?status=lost").await?;
    assert_eq!(status, 400);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn silences_follow_alertmanager_and_mute_notifications() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let s = start(&hook.url, "").await?;
    let start_at = server::format_time(server::now());
    let end_at = server::format_time(server::now() + 3600);
    let silence = json!({
        "matchers": [{ "name": "alertname", "value": "Noisy", "isRegex": false, "isEqual": true }],
        "startsAt": start_at, "endsAt": end_at,
        "createdBy": "alice", "comment": "known issue",
    });
    let (status, created) = s.post_json("/api/v2/silences", &silence).await?;
    assert_eq!(status, 200, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);

    post_alerts(&s, &json!([{ "labels": { "alertname": "Noisy" } }])).await?;
    let (_, alerts) = s.get_json("/api/v2/alerts").await?;
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id]));
    let (_, active_only) = s.get_json("/api/v2/alerts?silenced=false").await?;
    assert_eq!(active_only.as_array().unwrap().len(), 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(hook.bodies().is_empty(), "a silenced alert was sent");

    // Same matchers: updated in place. Changed matchers: the old one expires, a new id.
    // As amtool does, an update re-posts the stored start (creation moved it to now).
    let (_, stored) = s.get_json(&format!("/api/v2/silence/{id}")).await?;
    let mut update = silence.clone();
    update["id"] = json!(id);
    update["startsAt"] = stored["startsAt"].clone();
    update["comment"] = json!("still known");
    let (_, same) = s.post_json("/api/v2/silences", &update).await?;
    assert_eq!(same["silenceID"], id);
    update["matchers"][0]["value"] = json!("Other");
    let (_, replaced) = s.post_json("/api/v2/silences", &update).await?;
    assert_ne!(replaced["silenceID"], id);
    let (_, old) = s.get_json(&format!("/api/v2/silence/{id}")).await?;
    assert_eq!(old["status"]["state"], "expired");
    assert_eq!(old["comment"], "still known");

    // The old silence no longer mutes: the alert is notified.
    let got = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["alerts"][0]["labels"]["alertname"], "Noisy");

    let new_id = replaced["silenceID"].as_str().unwrap();
    for _ in 0..2 {
        let r = s
            .client
            .delete(s.url(&format!("/api/v2/silence/{new_id}")))
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 200, "repeated DELETE answers 200");
    }
    let r = s
        .client
        .delete(s.url("/api/v2/silence/no-such-id"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 404);
    let (_, list) = s.get_json("/api/v2/silences").await?;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, filtered) = s
        .get_json("/api/v2/silences?filter=alertname%3D%22Other%22")
        .await?;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let bad = json!({ "matchers": [], "startsAt": start_at, "endsAt": end_at,
                      "createdBy": "a", "comment": "c" });
    let (status, body) = s.post_json("/api/v2/silences", &bad).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "silences.invalid");

    // A viewer may not silence.
    let viewer = common::client_with(Some(&s.tokens.viewer))?;
    let r = viewer
        .post(s.url("/api/v2/silences"))
        .json(&silence)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn an_acknowledged_alert_stops_repeating_but_sends_its_resolution() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    // Repeat every 2 s so the test can see repetition stop.
    let s = TestServer::start_with(
        &config(&hook.url, "").replace("repeat_interval: 1h", "repeat_interval: 2s"),
        |s| s.audit_key = store::audit_key(&s.data_dir).ok(),
    )
    .await?;
    post_alerts(&s, &json!([{ "labels": { "alertname": "Slow" } }])).await?;
    let got = hook.wait_for(2, Duration::from_secs(10)).await;
    assert!(got.len() >= 2, "it repeats before the ack: {got:?}");

    let fp = fingerprint(&[("alertname", "Slow")]);
    let responder = common::client_with(Some(&s.tokens.responder))?;
    let r = responder
        .post(s.url(&format!("/api/v1/alerts/{fp}/ack")))
        .json(&json!({ "comment": "on it" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let ack: Value = r.json().await?;
    assert_eq!(ack["comment"], "on it");
    assert!(ack["by"].as_str().unwrap().starts_with("test-responder"));

    let (_, alerts) = s.get_json("/api/v2/alerts").await?;
    assert_eq!(alerts[0]["ack"]["comment"], "on it");
    let count = hook.bodies().len();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(hook.bodies().len(), count, "an acked alert repeated");

    let now = server::format_time(server::now());
    post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Slow" }, "endsAt": now }]),
    )
    .await?;
    let got = hook.wait_for(count + 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), count + 1);
    assert_eq!(got[count]["status"], "resolved");

    let r = responder
        .post(s.url("/api/v1/alerts/0123456789abcdef/ack"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 404);
    let r = responder
        .post(s.url("/api/v1/alerts/not-hex/ack"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn alerts_silences_and_acks_survive_a_restart() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let s = start(&hook.url, "").await?;
    post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Kept" } }, { "labels": { "alertname": "Acked" } }]),
    )
    .await?;
    let silence = json!({
        "matchers": [{ "name": "alertname", "value": "Muted", "isRegex": false, "isEqual": true }],
        "startsAt": server::format_time(server::now()),
        "endsAt": server::format_time(server::now() + 3600),
        "createdBy": "bob", "comment": "maintenance",
    });
    let (_, created) = s.post_json("/api/v2/silences", &silence).await?;
    let fp = fingerprint(&[("alertname", "Acked")]);
    let (status, _) = s
        .post_json(&format!("/api/v1/alerts/{fp}/ack"), &json!({}))
        .await?;
    assert_eq!(status, 200);
    hook.wait_for(2, Duration::from_secs(10)).await;
    let sent_before = hook.bodies().len();
    let config_path = s.config_path.clone();
    let dir = s.stop().await?;

    let s = TestServer::start_in(dir, config_path, |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await?;
    let (_, alerts) = s.get_json("/api/v2/alerts").await?;
    let names: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{alerts}");
    let acked = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "Acked")
        .unwrap();
    assert!(
        acked["ack"]["by"]
            .as_str()
            .unwrap()
            .starts_with("test-admin"),
        "{acked}"
    );
    let (_, kept) = s
        .get_json(&format!(
            "/api/v2/silence/{}",
            created["silenceID"].as_str().unwrap()
        ))
        .await?;
    assert_eq!(kept["status"]["state"], "active");
    assert_eq!(kept["createdBy"], "bob");
    // The groups were notified before the restart: nothing is sent again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hook.bodies().len(), sent_before, "{:?}", hook.bodies());
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_burning_slo_reaches_the_webhook_with_its_labels() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let s = start(&hook.url, "").await?;
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &json!([{ "time": common::now_rfc3339(), "slo": "checkout/availability", "good": 50, "total": 100 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let got = hook.wait_for(1, Duration::from_secs(15)).await;
    let page = got
        .iter()
        .flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default())
        .find(|a| a["labels"]["severity"] == "page")
        .unwrap_or_else(|| panic!("no page alert in {got:?}"));
    assert_eq!(page["labels"]["alertname"], "ErrorBudgetBurn");
    assert_eq!(page["labels"]["service"], "checkout");
    assert_eq!(page["labels"]["slo"], "availability");
    assert_eq!(page["status"], "firing");
    let (_, alerts) = s
        .get_json("/api/v2/alerts?filter=slo%3D%22availability%22")
        .await?;
    assert!(alerts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["source"] == "nines"));
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_page_inhibits_its_ticket_and_a_flapping_alert_is_held() -> anyhow::Result<()> {
    let hook = Receiver::start().await?;
    let extra = r#"  inhibit_rules:
    - source_matchers: ['severity="page"']
      target_matchers: ['severity="ticket"']
      equal: [service]
  nines:
    flap_detection: { max_flips: 2, window: 1h }"#;
    let cfg = config(&hook.url, "").replace("  receivers:\n", &format!("{extra}\n  receivers:\n"));
    let s = TestServer::start_with(&cfg, |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await?;
    post_alerts(
        &s,
        &json!([{ "labels": { "alertname": "Burn", "service": "api", "severity": "page" } },
                { "labels": { "alertname": "Burn", "service": "api", "severity": "ticket" } },
                { "labels": { "alertname": "Burn", "service": "db", "severity": "ticket" } }]),
    )
    .await?;
    let page_fp = fingerprint(&[
        ("alertname", "Burn"),
        ("service", "api"),
        ("severity", "page"),
    ]);
    let (_, alerts) = s.get_json("/api/v2/alerts").await?;
    let inhibited: Vec<&Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"]["state"] == "suppressed")
        .collect();
    assert_eq!(inhibited.len(), 1, "{alerts}");
    assert_eq!(inhibited[0]["labels"]["service"], "api");
    assert_eq!(inhibited[0]["status"]["inhibitedBy"], json!([page_fp]));
    let got = hook.wait_for(1, Duration::from_secs(10)).await;
    let sent: Vec<(String, String)> = got[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["service"].as_str().unwrap().to_string(),
                a["labels"]["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(sent.len(), 2, "the inhibited ticket is not sent: {sent:?}");
    assert!(!sent.contains(&("api".to_string(), "ticket".to_string())));

    // Flapping: fire → resolve → fire → resolve is three flips (> 2): the last resolution is
    // held back and the alert shows as flapping.
    let flap = json!([{ "labels": { "alertname": "Flappy" } }]);
    let resolved = || {
        json!([{ "labels": { "alertname": "Flappy" },
                 "endsAt": server::format_time(server::now()) }])
    };
    post_alerts(&s, &flap).await?;
    let before = hook.bodies().len();
    hook.wait_for(before + 1, Duration::from_secs(10)).await;
    for body in [resolved(), flap.clone(), resolved()] {
        tokio::time::sleep(Duration::from_millis(1300)).await;
        post_alerts(&s, &body).await?;
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, alerts) = s
        .get_json("/api/v2/alerts?filter=alertname%3D%22Flappy%22")
        .await?;
    // Resolved alerts are not listed; the flap state shows while it fires again.
    assert_eq!(alerts.as_array().unwrap().len(), 0, "{alerts}");
    post_alerts(&s, &flap).await?;
    let (_, alerts) = s
        .get_json("/api/v2/alerts?filter=alertname%3D%22Flappy%22")
        .await?;
    assert_eq!(alerts[0]["flapping"], true, "{alerts}");
    let flappy: Vec<String> = hook
        .bodies()
        .iter()
        .filter(|b| b["groupLabels"]["alertname"] == "Flappy")
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        flappy.last().map(String::as_str),
        Some("firing"),
        "the held state is the last notified one: {flappy:?}"
    );
    s.stop().await?;
    Ok(())
}

/// With a long group_interval the resolution of a whole group goes out at once when
/// `resolve_immediately` is on (the default), and waits for the next flush when it is off.
#[tokio::test]
async fn a_resolved_group_notifies_at_once_unless_configured_otherwise() -> anyhow::Result<()> {
    for immediate in [true, false] {
        let hook = Receiver::start().await?;
        let cfg = config(&hook.url, "")
            .replace("group_interval: 1s", "group_interval: 6s")
            .replace(
                "  receivers:\n",
                &format!("  nines: {{ resolve_immediately: {immediate} }}\n  receivers:\n"),
            );
        let s = TestServer::start_with(&cfg, |s| {
            s.audit_key = store::audit_key(&s.data_dir).ok();
        })
        .await?;
        post_alerts(&s, &json!([{ "labels": { "alertname": "Quick" } }])).await?;
        hook.wait_for(1, Duration::from_secs(10)).await;
        let resolved_at = Instant::now();
        post_alerts(
            &s,
            &json!([{ "labels": { "alertname": "Quick" },
                      "endsAt": server::format_time(server::now()) }]),
        )
        .await?;
        let got = hook.wait_for(2, Duration::from_secs(15)).await;
        let waited = resolved_at.elapsed();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1]["status"], "resolved");
        if immediate {
            assert!(waited < Duration::from_secs(3), "took {waited:?}");
        } else {
            // The first flush was at most ~1 s before the resolution: the next one is ≥ 4 s away.
            assert!(waited >= Duration::from_secs(4), "took only {waited:?}");
        }
        s.stop().await?;
    }
    Ok(())
}
