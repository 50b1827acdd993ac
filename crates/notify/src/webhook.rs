//! Alertmanager's version-4 webhook payload, and Standard Webhooks signatures.
//!
//! Payload: as Alertmanager builds it, alerts are sorted (by `job`, then `instance`, then label
//! set), truncated to `max_alerts` (the rest counted in `truncatedAlerts`), and the status,
//! common labels and common annotations are computed over the alerts sent. Firing alerts carry
//! Go's zero time as `endsAt`. Times are RFC 3339 in UTC with trailing zero fractions dropped.
//!
//! Signatures (<https://www.standardwebhooks.com/>): `webhook-signature: v1,<base64 HMAC-SHA256
//! of "{id}.{timestamp}.{body}">`, keyed with the base64 part of a `whsec_` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::alert::{Alert, AlertStatus};
use crate::labels::LabelSet;
use crate::Error;

/// One alert of a webhook message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: AlertStatus,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// The version-4 webhook body, fields in Alertmanager's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    pub receiver: String,
    pub status: AlertStatus,
    pub alerts: Vec<WebhookAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: String,
    pub group_key: String,
    pub truncated_alerts: u64,
}

/// Go's zero `time.Time` in JSON.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// RFC 3339 in UTC like Go's `time.RFC3339Nano` (fraction without trailing zeros).
pub fn go_time(ts: Timestamp) -> String {
    let nanos = ts.subsec_nanosecond();
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Sorts like Alertmanager's `AlertSlice`: by `job`, then `instance` (alerts having the label
/// first), then by label set (`LabelSet.Before`). Stable.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        use std::cmp::Ordering;
        for key in ["job", "instance"] {
            match (a.labels.get(key), b.labels.get(key)) {
                (None, None) => continue,
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(x), Some(y)) if x != y => return x.cmp(y),
                _ => {}
            }
        }
        if a.labels.before(&b.labels) {
            Ordering::Less
        } else if b.labels.before(&a.labels) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
}

/// What a message is about (besides its alerts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContext<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    pub external_url: &'a str,
    /// 0 = no limit.
    pub max_alerts: u64,
}

/// Builds the version-4 message for `alerts` at `now`.
pub fn build_message(ctx: &MessageContext<'_>, alerts: &[Alert], now: Timestamp) -> WebhookMessage {
    let mut sorted = alerts.to_vec();
    sort_alerts(&mut sorted);
    let total = sorted.len() as u64;
    let truncated = if ctx.max_alerts > 0 && total > ctx.max_alerts {
        sorted.truncate(usize::try_from(ctx.max_alerts).unwrap_or(usize::MAX));
        total - ctx.max_alerts
    } else {
        0
    };
    let status = if sorted.iter().any(|a| !a.is_resolved(now)) {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    WebhookMessage {
        receiver: ctx.receiver.to_string(),
        status,
        alerts: sorted
            .iter()
            .map(|a| {
                let status = a.status(now);
                WebhookAlert {
                    status,
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: go_time(a.starts_at),
                    ends_at: match status {
                        AlertStatus::Firing => GO_ZERO_TIME.to_string(),
                        AlertStatus::Resolved => go_time(a.ends_at),
                    },
                    generator_url: a.generator_url.clone(),
                    fingerprint: a.fingerprint().to_string(),
                }
            })
            .collect(),
        group_labels: ctx.group_labels.clone(),
        common_labels: LabelSet::common(sorted.iter().map(|a| &a.labels)),
        common_annotations: LabelSet::common(sorted.iter().map(|a| &a.annotations)),
        external_url: ctx.external_url.to_string(),
        version: "4".to_string(),
        group_key: ctx.group_key.to_string(),
        truncated_alerts: truncated,
    }
}

/// The key of a Standard Webhooks secret: the base64 after `whsec_` (the prefix is optional).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, Error> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| Error::Secret("expected whsec_ followed by base64".into()))?;
    if key.is_empty() {
        return Err(Error::Secret("the key is empty".into()));
    }
    Ok(key)
}

/// The three Standard Webhooks headers for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub webhook_id: String,
    pub webhook_timestamp: String,
    pub webhook_signature: String,
}

impl SignatureHeaders {
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("webhook-id", &self.webhook_id),
            ("webhook-timestamp", &self.webhook_timestamp),
            ("webhook-signature", &self.webhook_signature),
        ]
    }
}

/// Signs `body` for delivery `msg_id` at `timestamp` (Unix seconds). A retried delivery keeps
/// its id so receivers can drop duplicates.
pub fn sign_standard_webhook(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<SignatureHeaders, Error> {
    let key = decode_secret(secret)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|_| Error::Secret("unusable key".into()))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    Ok(SignatureHeaders {
        webhook_id: msg_id.to_string(),
        webhook_timestamp: timestamp.to_string(),
        webhook_signature: format!("v1,{signature}"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], ends: &str) -> Alert {
        Alert {
            labels: labels.iter().map(|(k, v)| (*k, *v)).collect(),
            annotations: annotations.iter().map(|(k, v)| (*k, *v)).collect(),
            starts_at: ts("2024-01-01T10:00:00.120Z"),
            ends_at: ts(ends),
            generator_url: "http://prometheus:9090/graph?g0.expr=up".into(),
        }
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks specification's reference libraries.
        let h = sign_standard_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            h.webhook_signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(h.webhook_timestamp, "1614265330");
        assert_eq!(h.pairs()[0], ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"));
        assert!(sign_standard_webhook("whsec_!!", "m", 1, b"").is_err());
        assert!(sign_standard_webhook("whsec_", "m", 1, b"").is_err());
    }

    #[test]
    fn go_time_format() {
        assert_eq!(go_time(ts("2024-01-01T10:00:00Z")), "2024-01-01T10:00:00Z");
        assert_eq!(
            go_time(ts("2024-01-01T10:00:00.120Z")),
            "2024-01-01T10:00:00.12Z"
        );
        assert_eq!(
            go_time(ts("2024-01-01T11:00:00.000000001+01:00")),
            "2024-01-01T10:00:00.000000001Z"
        );
    }

    #[test]
    fn version_4_payload() {
        let now = ts("2024-01-01T10:10:00Z");
        let firing = alert(
            &[
                ("alertname", "HighLatency"),
                ("job", "api"),
                ("severity", "page"),
            ],
            &[("summary", "slow"), ("runbook", "r1")],
            "2024-01-01T10:15:00Z",
        );
        let resolved = alert(
            &[
                ("alertname", "HighLatency"),
                ("job", "api"),
                ("instance", "b"),
                ("severity", "page"),
            ],
            &[("summary", "slow")],
            "2024-01-01T10:05:00Z",
        );
        let group_labels: LabelSet = [("alertname", "HighLatency")].into_iter().collect();
        let ctx = MessageContext {
            receiver: "team-x",
            group_key: r#"{}:{alertname="HighLatency"}"#,
            group_labels: &group_labels,
            external_url: "http://nines.example.com",
            max_alerts: 0,
        };
        let msg = build_message(&ctx, &[firing.clone(), resolved.clone()], now);
        let json = serde_json::to_value(&msg).unwrap();
        let expected = serde_json::json!({
            "receiver": "team-x",
            "status": "firing",
            "alerts": [
                {
                    // `instance` present sorts first.
                    "status": "resolved",
                    "labels": {"alertname": "HighLatency", "instance": "b", "job": "api", "severity": "page"},
                    "annotations": {"summary": "slow"},
                    "startsAt": "2024-01-01T10:00:00.12Z",
                    "endsAt": "2024-01-01T10:05:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                    "fingerprint": resolved.fingerprint().to_string()
                },
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "job": "api", "severity": "page"},
                    "annotations": {"runbook": "r1", "summary": "slow"},
                    "startsAt": "2024-01-01T10:00:00.12Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                    "fingerprint": firing.fingerprint().to_string()
                }
            ],
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency", "job": "api", "severity": "page"},
            "commonAnnotations": {"summary": "slow"},
            "externalURL": "http://nines.example.com",
            "version": "4",
            "groupKey": "{}:{alertname=\"HighLatency\"}",
            "truncatedAlerts": 0
        });
        assert_eq!(json, expected);
        // Field order in the body is Alertmanager's.
        let body = serde_json::to_string(&msg).unwrap();
        assert!(body.starts_with(
            r#"{"receiver":"team-x","status":"firing","alerts":[{"status":"resolved","labels""#
        ));
        assert!(body.ends_with(
            r#""version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","truncatedAlerts":0}"#
        ));
    }

    #[test]
    fn max_alerts_truncates_and_status_follows_what_is_sent() {
        let now = ts("2024-01-01T10:10:00Z");
        let a = alert(
            &[("alertname", "A"), ("instance", "1")],
            &[],
            "2024-01-01T10:05:00Z",
        );
        let b = alert(
            &[("alertname", "A"), ("instance", "2")],
            &[],
            "2024-01-01T11:00:00Z",
        );
        let c = alert(
            &[("alertname", "A"), ("instance", "3")],
            &[],
            "2024-01-01T11:00:00Z",
        );
        let gl = LabelSet::new();
        let ctx = MessageContext {
            receiver: "r",
            group_key: "{}:{}",
            group_labels: &gl,
            external_url: "",
            max_alerts: 1,
        };
        let msg = build_message(&ctx, &[c, b, a], now);
        assert_eq!(msg.truncated_alerts, 2);
        assert_eq!(msg.alerts.len(), 1);
        assert_eq!(msg.alerts[0].labels.get("instance"), Some("1"));
        assert_eq!(msg.status, AlertStatus::Resolved);
        assert_eq!(msg.common_labels.len(), 2);
    }
}
