//! Byte-for-byte comparison with a real Alertmanager 0.25 (Debian's `prometheus-alertmanager`
//! 0.25.0): the same config and alerts were posted to it, and the webhook bodies it sent are
//! in `tests/data/am-0.25-*.json`. nines, going through config → routing → grouping → the
//! group state machine → the payload, must send the same bytes.
#![allow(clippy::unwrap_used)]

use jiff::{SignedDuration, Timestamp};
use notify::dispatch::notification_alerts;
use notify::group::{GroupAlert, GroupOptions, GroupState};
use notify::webhook::{build_message, MessageContext};
use notify::{group_alerts, Alert, AlertmanagerConfig, PostableAlert};

const CONFIG: &str = r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['team=~"db|storage"', 'severity="page"']
      receiver: hook
      group_by: ['...']
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:19095/
        max_alerts: 2
"#;

const FIRING: &str = r#"[
 {"labels":{"alertname":"HighLatency","service":"api","severity":"page","instance":"b"},"annotations":{"summary":"slow","runbook":"r1"},"startsAt":"2024-01-01T10:00:00.120Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://prom/g1"},
 {"labels":{"alertname":"HighLatency","service":"api","severity":"page","job":"api"},"annotations":{"summary":"slow"},"startsAt":"2024-01-01T10:00:00Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://prom/g2"},
 {"labels":{"alertname":"HighLatency","service":"web","severity":"page"},"annotations":{"summary":"slow"},"startsAt":"2024-01-01T10:00:00Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://prom/g3"},
 {"labels":{"alertname":"DiskFull","team":"db","severity":"page","msg":"say \"hi\""},"annotations":{},"startsAt":"2024-01-01T10:00:00Z","endsAt":"2099-01-01T00:00:00Z","generatorURL":""}
]"#;

/// Two of them re-sent later with an `endsAt` in the past.
const RESOLVING: &str = r#"[
 {"labels":{"alertname":"HighLatency","service":"api","severity":"page","job":"api"},"annotations":{"summary":"slow"},"startsAt":"2024-01-01T10:00:00Z","endsAt":"2024-01-01T11:00:00Z","generatorURL":"http://prom/g2"},
 {"labels":{"alertname":"DiskFull","team":"db","severity":"page","msg":"say \"hi\""},"annotations":{},"startsAt":"2024-01-01T10:00:00Z","endsAt":"2024-01-01T11:00:00Z","generatorURL":""}
]"#;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .to_string()
}

fn alerts(json: &str, now: Timestamp) -> Vec<Alert> {
    let posted: Vec<PostableAlert> = serde_json::from_str(json).unwrap();
    posted
        .into_iter()
        .map(|p| p.normalize(now, SignedDuration::from_secs(300)).unwrap())
        .collect()
}

/// Runs one flush of every group at `now`, returning the bodies sent (by group key).
fn flush(
    cfg: &AlertmanagerConfig,
    all: &[Alert],
    states: &mut std::collections::BTreeMap<String, GroupState>,
    now: Timestamp,
) -> Vec<String> {
    let mut bodies = Vec::new();
    for group in group_alerts(&cfg.route, all) {
        let receiver = cfg.receiver(&group.path.receiver).unwrap();
        let hook = &receiver.webhook_configs[0];
        let opts = GroupOptions {
            group_wait: group.path.group_wait,
            group_interval: group.path.group_interval,
            repeat_interval: group.path.repeat_interval,
            send_resolved: hook.send_resolved,
            resolve_immediately: false,
        };
        let oldest = group.alerts.iter().map(|a| a.starts_at).min().unwrap();
        let state = states
            .entry(group.group_key.clone())
            .or_insert_with(|| GroupState::new(now, oldest, &opts));
        let view: Vec<GroupAlert> = group
            .alerts
            .iter()
            .map(|a| GroupAlert {
                fingerprint: a.fingerprint(),
                firing: !a.is_resolved(now),
                acked: false,
                flapping: false,
                starts_at: a.starts_at,
            })
            .collect();
        let step = state.step(&view, now, &opts);
        *state = step.state.clone();
        if let Some(n) = step.notification {
            let ctx = MessageContext {
                receiver: &group.path.receiver,
                group_key: &group.group_key,
                group_labels: &group.group_labels,
                external_url: "http://vm:19093",
                max_alerts: hook.max_alerts,
            };
            let msg = build_message(&ctx, &notification_alerts(&group.alerts, &n), now);
            bodies.push(serde_json::to_string(&msg).unwrap());
        }
    }
    bodies
}

#[test]
fn same_webhook_bodies_as_alertmanager_0_25() {
    let cfg = AlertmanagerConfig::from_yaml_str(CONFIG).unwrap();
    let mut states = std::collections::BTreeMap::new();

    let t1: Timestamp = "2024-06-01T00:00:00Z".parse().unwrap();
    let mut current = alerts(FIRING, t1);
    let first = flush(&cfg, &current, &mut states, t1);
    assert_eq!(
        first,
        [
            fixture("am-0.25-firing.json"),
            fixture("am-0.25-db-firing.json")
        ]
    );

    // The re-sent alerts replace those with the same fingerprint.
    let t2 = t1.checked_add(SignedDuration::from_secs(10)).unwrap();
    for updated in alerts(RESOLVING, t2) {
        let fp = updated.fingerprint();
        current.retain(|a| a.fingerprint() != fp);
        current.push(updated);
    }
    let second = flush(&cfg, &current, &mut states, t2);
    assert_eq!(
        second,
        [
            fixture("am-0.25-partly-resolved.json"),
            fixture("am-0.25-db-resolved.json")
        ]
    );
}

#[test]
fn same_fingerprints_as_alertmanager_0_25() {
    // From `GET /api/v2/alerts` of the same Alertmanager.
    let now: Timestamp = "2024-06-01T00:00:00Z".parse().unwrap();
    let fps: Vec<String> = alerts(FIRING, now)
        .iter()
        .map(|a| a.fingerprint().to_string())
        .collect();
    assert_eq!(
        fps,
        [
            "fb5dc4a6d6e7893e",
            "7d824d5b41d9b4e0",
            "24a7d3e602440ef7",
            "9482b6eba264e482"
        ]
    );
}
