//! Default bodies for the non-webhook receivers, built from a version-4 message so every
//! receiver sees the same alerts: Alertmanager's default subject, the PagerDuty Events API v2
//! event, the Slack incoming-webhook message and a plain-text email. The config's text fields
//! (`title`, `text`, `html`, `description`, headers) are used as given here: render them first
//! with [`crate::template`], whose functions of the same names do that and then call these.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::alert::AlertStatus;
use crate::config::{EmailConfig, PagerdutyConfig, SlackConfig};
use crate::webhook::{WebhookAlert, WebhookMessage};

/// PagerDuty limits `payload.summary` to 1024 characters.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// Alertmanager's default subject (`__subject`): `[FIRING:2] <group label values> (<other
/// common label values>)`, values in label-name order. Like Alertmanager's template it keeps
/// the space after the group values even when no parenthesis follows.
pub fn subject(msg: &WebhookMessage) -> String {
    let status = match msg.status {
        AlertStatus::Firing => format!("FIRING:{}", firing(msg).count()),
        AlertStatus::Resolved => "RESOLVED".to_string(),
    };
    let group_values: Vec<&str> = msg.group_labels.iter().map(|(_, v)| v).collect();
    let mut out = format!("[{status}] {} ", group_values.join(" "));
    if msg.common_labels.len() > msg.group_labels.len() {
        let rest: Vec<&str> = msg
            .common_labels
            .iter()
            .filter(|(k, _)| msg.group_labels.get(k).is_none())
            .map(|(_, v)| v)
            .collect();
        out.push_str(&format!("({})", rest.join(" ")));
    }
    out
}

fn firing(msg: &WebhookMessage) -> impl Iterator<Item = &WebhookAlert> {
    msg.alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
}

fn resolved(msg: &WebhookMessage) -> impl Iterator<Item = &WebhookAlert> {
    msg.alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Resolved)
}

/// Alertmanager's `__text_alert_list`: labels, annotations and source of each alert.
pub fn text_alert_list<'a>(alerts: impl IntoIterator<Item = &'a WebhookAlert>) -> String {
    let mut out = String::new();
    for a in alerts {
        out.push_str("Labels:\n");
        for (k, v) in a.labels.iter() {
            out.push_str(&format!(" - {k} = {v}\n"));
        }
        out.push_str("Annotations:\n");
        for (k, v) in a.annotations.iter() {
            out.push_str(&format!(" - {k} = {v}\n"));
        }
        out.push_str(&format!("Source: {}\n", a.generator_url));
    }
    out
}

/// The link to the alerts of this receiver in the UI (`__alertmanagerURL`).
pub fn alerts_url(msg: &WebhookMessage) -> String {
    format!(
        "{}/#/alerts?receiver={}",
        msg.external_url,
        query_escape(&msg.receiver)
    )
}

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// PagerDuty's dedup key for a group, as Alertmanager computes it: the SHA-256 of the group
/// key, in hex. Every notification of the group updates the same incident.
pub fn pagerduty_dedup_key(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The PagerDuty Events API v2 body: `trigger` while anything fires, `resolve` (without a
/// payload, as Alertmanager sends it) once the group resolved.
pub fn pagerduty_event(cfg: &PagerdutyConfig, msg: &WebhookMessage) -> Value {
    let client = cfg.client.clone().unwrap_or_else(|| "nines".to_string());
    let client_url = cfg.client_url.clone().unwrap_or_else(|| alerts_url(msg));
    let mut event = json!({
        "routing_key": cfg.routing_key,
        "event_action": if msg.status == AlertStatus::Firing { "trigger" } else { "resolve" },
        "dedup_key": pagerduty_dedup_key(&msg.group_key),
        "client": client,
        "client_url": client_url,
    });
    if msg.status == AlertStatus::Firing {
        let summary: String = cfg
            .description
            .clone()
            .unwrap_or_else(|| subject(msg))
            .chars()
            .take(PAGERDUTY_SUMMARY_MAX)
            .collect();
        let mut details = serde_json::Map::new();
        details.insert("firing".into(), Value::String(text_alert_list(firing(msg))));
        details.insert(
            "resolved".into(),
            Value::String(text_alert_list(resolved(msg))),
        );
        details.insert(
            "num_firing".into(),
            Value::String(firing(msg).count().to_string()),
        );
        details.insert(
            "num_resolved".into(),
            Value::String(resolved(msg).count().to_string()),
        );
        for (k, v) in &cfg.details {
            details.insert(k.clone(), Value::String(v.clone()));
        }
        event["payload"] = json!({
            "summary": summary,
            "source": client,
            "severity": cfg.severity.clone().unwrap_or_else(|| "error".to_string()),
            "custom_details": details,
        });
    }
    event
}

/// A plain-text email built like Alertmanager's defaults: the subject line, then the firing
/// and resolved alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Only when the config sets `html` (Alertmanager's default HTML body is not reproduced).
    pub html: Option<String>,
    /// Extra headers from the config (`Subject` there replaces the default subject).
    pub headers: Vec<(String, String)>,
}

pub fn email_message(cfg: &EmailConfig, msg: &WebhookMessage) -> EmailMessage {
    let subject = cfg
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| subject(msg));
    let text = cfg
        .text
        .clone()
        .unwrap_or_else(|| default_email_text(&subject, msg));
    EmailMessage {
        from: cfg.from.clone(),
        to: cfg.to.clone(),
        subject,
        text,
        html: cfg.html.clone(),
        headers: cfg
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("subject"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn default_email_text(subject: &str, msg: &WebhookMessage) -> String {
    let mut text = format!("{subject}\n\n");
    if firing(msg).next().is_some() {
        text.push_str(&format!(
            "Alerts Firing:\n{}\n",
            text_alert_list(firing(msg))
        ));
    }
    if resolved(msg).next().is_some() {
        text.push_str(&format!(
            "Alerts Resolved:\n{}\n",
            text_alert_list(resolved(msg))
        ));
    }
    text.push_str(&format!("View in nines: {}\n", alerts_url(msg)));
    text
}

/// A Slack incoming-webhook message with one attachment, coloured like Alertmanager's
/// (`danger` while firing, `good` once resolved).
pub fn slack_message(cfg: &SlackConfig, msg: &WebhookMessage) -> Value {
    let title = cfg.title.clone().unwrap_or_else(|| subject(msg));
    let text = cfg
        .text
        .clone()
        .unwrap_or_else(|| text_alert_list(msg.alerts.iter()));
    let link = alerts_url(msg);
    let mut body = json!({
        "username": cfg.username.clone().unwrap_or_else(|| "nines".to_string()),
        "attachments": [{
            "title": title,
            "title_link": link,
            "text": text,
            "fallback": format!("{title} | {link}"),
            "color": if msg.status == AlertStatus::Firing { "danger" } else { "good" },
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }],
    });
    if let Some(channel) = &cfg.channel {
        body["channel"] = Value::String(channel.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::alert::Alert;
    use crate::config::AlertmanagerConfig;
    use crate::labels::LabelSet;
    use crate::webhook::{build_message, MessageContext};
    use jiff::Timestamp;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn message(ends: &[&str]) -> WebhookMessage {
        let alerts: Vec<Alert> = ends
            .iter()
            .enumerate()
            .map(|(i, e)| Alert {
                labels: [
                    ("alertname", "HighLatency".to_string()),
                    ("service", "api".to_string()),
                    ("instance", format!("i{i}")),
                ]
                .into_iter()
                .collect(),
                annotations: [("summary", "p99 over 1s")].into_iter().collect(),
                starts_at: ts("2024-01-01T10:00:00Z"),
                ends_at: ts(e),
                generator_url: "http://prom/g".into(),
            })
            .collect();
        let gl: LabelSet = [("alertname", "HighLatency")].into_iter().collect();
        let ctx = MessageContext {
            receiver: "team x",
            group_key: r#"{}:{alertname="HighLatency"}"#,
            group_labels: &gl,
            external_url: "http://nines:9898",
            max_alerts: 0,
        };
        build_message(&ctx, &alerts, ts("2024-01-01T10:10:00Z"))
    }

    #[test]
    fn subject_like_alertmanager() {
        let two = message(&["2024-01-01T11:00:00Z", "2024-01-01T11:00:00Z"]);
        assert_eq!(subject(&two), "[FIRING:2] HighLatency (api)");
        let one = message(&["2024-01-01T11:00:00Z"]);
        // One alert: its instance is common too, values in label-name order.
        assert_eq!(subject(&one), "[FIRING:1] HighLatency (i0 api)");
        let done = message(&["2024-01-01T10:05:00Z", "2024-01-01T10:06:00Z"]);
        assert_eq!(subject(&done), "[RESOLVED] HighLatency (api)");
        let mut bare = message(&["2024-01-01T11:00:00Z", "2024-01-01T11:00:00Z"]);
        bare.common_labels = bare.group_labels.clone();
        assert_eq!(subject(&bare), "[FIRING:2] HighLatency ");
    }

    #[test]
    fn pagerduty_events() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "route: {receiver: p}\nreceivers: [{name: p, pagerduty_configs: [{routing_key: rk, details: {team: x}}]}]\n",
        )
        .unwrap();
        let pd = &cfg.receivers[0].pagerduty_configs[0];
        let firing = pagerduty_event(
            pd,
            &message(&["2024-01-01T11:00:00Z", "2024-01-01T10:05:00Z"]),
        );
        // sha256 of the group key, computed independently.
        assert_eq!(
            firing["dedup_key"],
            "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"
        );
        assert_eq!(firing["event_action"], "trigger");
        assert_eq!(firing["routing_key"], "rk");
        assert_eq!(
            firing["client_url"],
            "http://nines:9898/#/alerts?receiver=team+x"
        );
        assert_eq!(firing["payload"]["summary"], "[FIRING:1] HighLatency (api)");
        assert_eq!(firing["payload"]["severity"], "error");
        assert_eq!(firing["payload"]["custom_details"]["num_firing"], "1");
        assert_eq!(firing["payload"]["custom_details"]["num_resolved"], "1");
        assert_eq!(firing["payload"]["custom_details"]["team"], "x");
        assert_eq!(
            firing["payload"]["custom_details"]["firing"],
            "Labels:\n - alertname = HighLatency\n - instance = i0\n - service = api\nAnnotations:\n - summary = p99 over 1s\nSource: http://prom/g\n"
        );
        let resolved = pagerduty_event(pd, &message(&["2024-01-01T10:05:00Z"]));
        assert_eq!(resolved["event_action"], "resolve");
        assert_eq!(resolved["dedup_key"], firing["dedup_key"]);
        assert!(resolved.get("payload").is_none());
    }

    #[test]
    fn email_messages() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "global: {smtp_from: a@x, smtp_smarthost: 'smtp:587'}\nroute: {receiver: e}\nreceivers: [{name: e, email_configs: [{to: b@x, headers: {Reply-To: c@x}}]}]\n",
        )
        .unwrap();
        let ec = &cfg.receivers[0].email_configs[0];
        let mail = email_message(
            ec,
            &message(&["2024-01-01T11:00:00Z", "2024-01-01T10:05:00Z"]),
        );
        assert_eq!((mail.from.as_str(), mail.to.as_str()), ("a@x", "b@x"));
        assert_eq!(mail.subject, "[FIRING:1] HighLatency (api)");
        assert_eq!(mail.headers, [("Reply-To".to_string(), "c@x".to_string())]);
        assert_eq!(
            mail.text,
            "[FIRING:1] HighLatency (api)\n\nAlerts Firing:\nLabels:\n - alertname = HighLatency\n - instance = i0\n - service = api\nAnnotations:\n - summary = p99 over 1s\nSource: http://prom/g\n\nAlerts Resolved:\nLabels:\n - alertname = HighLatency\n - instance = i1\n - service = api\nAnnotations:\n - summary = p99 over 1s\nSource: http://prom/g\n\nView in nines: http://nines:9898/#/alerts?receiver=team+x\n"
        );
    }

    #[test]
    fn slack_messages() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "route: {receiver: s}\nreceivers: [{name: s, slack_configs: [{api_url: 'https://hooks.slack.com/x', channel: '#ops'}]}]\n",
        )
        .unwrap();
        let sc = &cfg.receivers[0].slack_configs[0];
        let body = slack_message(sc, &message(&["2024-01-01T11:00:00Z"]));
        assert_eq!(body["channel"], "#ops");
        assert_eq!(body["attachments"][0]["color"], "danger");
        assert_eq!(
            body["attachments"][0]["fallback"],
            "[FIRING:1] HighLatency (i0 api) | http://nines:9898/#/alerts?receiver=team+x"
        );
        let done = slack_message(sc, &message(&["2024-01-01T10:05:00Z"]));
        assert_eq!(done["attachments"][0]["color"], "good");
    }
}
