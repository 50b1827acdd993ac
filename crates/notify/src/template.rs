//! Message templates (minijinja, Jinja2 syntax) for the receivers' text fields: Slack `title`
//! and `text`, email headers (`Subject`), `text` and `html`, PagerDuty `description`.
//!
//! A template sees the version-4 message with its JSON field names (`status`, `receiver`,
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `groupKey`,
//! `truncatedAlerts`, `alerts` with `status`, `labels`, `annotations`, `startsAt`, `endsAt`,
//! `generatorURL`, `fingerprint`), plus helpers: `firingAlerts`, `resolvedAlerts`, `subject`
//! (Alertmanager's default subject line) and `alertsURL` (the receiver's alerts in the UI),
//! and the filter `alert_list` (labels, annotations and source of each alert, as in the
//! default bodies: `{{ firingAlerts | alert_list }}`). A field left unset gets the default body
//! of [`crate::receivers`]. The `html` field is HTML-escaped; the others are plain text.
//! Alertmanager's Go templates (`{{ .CommonLabels.alertname }}`) are not Jinja: they are
//! refused when the config is checked, with a hint, rather than sent verbatim.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{context, Environment, UndefinedBehavior, Value};
use serde::Deserialize as _;

use crate::alert::AlertStatus;
use crate::config::{EmailConfig, PagerdutyConfig, SlackConfig};
use crate::receivers::{self, EmailMessage};
use crate::webhook::{WebhookAlert, WebhookMessage};

/// Templates are checked and rendered under this name, so errors read `template:1`.
const NAME: &str = "template";

/// The environment every template is compiled and rendered in: the same for `check` and
/// `render`, so a template that passes the check renders with the same features.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Lenient: a label missing from one group renders empty instead of failing a delivery.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.add_filter("alert_list", alert_list);
    // Block tags on their own line leave no blank line behind (as in Ansible, Salt).
    if let Ok(syntax) = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env
}

/// Where the html template is compiled: its `.html` name turns on HTML escaping.
const HTML_NAME: &str = "template.html";

/// Compiles `source`; `Err` holds a lowercase reason (with a hint for Go templates).
pub fn check(source: &str) -> Result<(), String> {
    let mut env = environment();
    env.add_template(NAME, source)
        .map_err(|e| describe(&e, source))
}

/// A template that failed to render, with the config field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {field}: {reason}")]
pub struct TemplateError {
    /// `title`, `text`, `html`, `description` or `headers.<name>`.
    pub field: String,
    pub reason: String,
}

/// The values a template sees for `msg` (see the module docs).
pub fn context(msg: &WebhookMessage) -> Value {
    let of_status = |status: AlertStatus| -> Vec<&WebhookAlert> {
        msg.alerts.iter().filter(|a| a.status == status).collect()
    };
    let helpers = context! {
        firingAlerts => Serde(of_status(AlertStatus::Firing)),
        resolvedAlerts => Serde(of_status(AlertStatus::Resolved)),
        subject => receivers::subject(msg),
        alertsURL => receivers::alerts_url(msg),
    };
    minijinja::value::merge_maps([helpers, Value::from(Serde(msg))])
}

/// Renders `source` (plain text) for `msg`.
pub fn render(source: &str, msg: &WebhookMessage) -> Result<String, String> {
    render_named(NAME, source, msg)
}

/// Renders `source` for `msg` with HTML escaping of the values.
pub fn render_html(source: &str, msg: &WebhookMessage) -> Result<String, String> {
    render_named(HTML_NAME, source, msg)
}

fn render_named(name: &str, source: &str, msg: &WebhookMessage) -> Result<String, String> {
    let mut env = environment();
    env.add_template(name, source)
        .map_err(|e| describe(&e, source))?;
    env.get_template(name)
        .and_then(|t| t.render(context(msg)))
        .map_err(|e| describe(&e, source))
}

/// Renders an optional field; `None` stays `None` (the caller's default applies).
fn render_field(
    field: &str,
    source: Option<&String>,
    msg: &WebhookMessage,
    html: bool,
) -> Result<Option<String>, TemplateError> {
    let Some(source) = source else {
        return Ok(None);
    };
    let rendered = if html {
        render_html(source, msg)
    } else {
        render(source, msg)
    };
    rendered.map(Some).map_err(|reason| TemplateError {
        field: field.to_string(),
        reason,
    })
}

/// The Slack message with `title` and `text` rendered (defaults when unset).
pub fn slack_message(
    cfg: &SlackConfig,
    msg: &WebhookMessage,
) -> Result<serde_json::Value, TemplateError> {
    let rendered = SlackConfig {
        title: render_field("title", cfg.title.as_ref(), msg, false)?,
        text: render_field("text", cfg.text.as_ref(), msg, false)?,
        ..cfg.clone()
    };
    Ok(receivers::slack_message(&rendered, msg))
}

/// The PagerDuty event with `description` rendered (the default subject when unset).
pub fn pagerduty_event(
    cfg: &PagerdutyConfig,
    msg: &WebhookMessage,
) -> Result<serde_json::Value, TemplateError> {
    let rendered = PagerdutyConfig {
        description: render_field("description", cfg.description.as_ref(), msg, false)?,
        ..cfg.clone()
    };
    Ok(receivers::pagerduty_event(&rendered, msg))
}

/// The email with every header (`Subject` included), `text` and `html` rendered.
pub fn email_message(
    cfg: &EmailConfig,
    msg: &WebhookMessage,
) -> Result<EmailMessage, TemplateError> {
    let mut headers = std::collections::BTreeMap::new();
    for (name, source) in &cfg.headers {
        let value = render_field(&format!("headers.{name}"), Some(source), msg, false)?;
        headers.insert(name.clone(), value.unwrap_or_default());
    }
    let rendered = EmailConfig {
        headers,
        text: render_field("text", cfg.text.as_ref(), msg, false)?,
        html: render_field("html", cfg.html.as_ref(), msg, true)?,
        ..cfg.clone()
    };
    Ok(receivers::email_message(&rendered, msg))
}

/// `alert_list`: the default bodies' text for a list of alerts.
fn alert_list(alerts: Value) -> Result<String, minijinja::Error> {
    let alerts = Vec::<WebhookAlert>::deserialize(alerts).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("alert_list expects a list of alerts: {e}"),
        )
    })?;
    Ok(receivers::text_alert_list(alerts.iter()))
}

/// A lowercase, single-line reason for a template error, with the line when known.
fn describe(e: &minijinja::Error, source: &str) -> String {
    let detail = e
        .detail()
        .map(ToString::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    let mut reason = lowercase_first(&detail);
    if let Some(line) = e.line() {
        reason = format!("line {line}: {reason}");
    }
    if looks_like_go_template(source) {
        reason.push_str(
            " (this looks like an alertmanager go template: nines templates use jinja syntax, \
             e.g. {{ commonLabels.alertname }} for {{ .CommonLabels.alertname }})",
        );
    }
    reason
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `{{ .Field }}`, `{{ template "x" . }}`, `{{ range .Alerts }}`: Go's dot and keywords.
fn looks_like_go_template(source: &str) -> bool {
    source.split("{{").skip(1).any(|action| {
        let action = action.trim_start_matches('-').trim_start();
        action.starts_with('.')
            || action.starts_with("template ")
            || action.starts_with("range ")
            || action.starts_with("end")
            || action.starts_with("define ")
            || action.starts_with('$')
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn check_accepts_jinja_and_refuses_go_templates() {
        assert_eq!(
            check("{{ commonLabels.alertname }} is {{ status }}"),
            Ok(())
        );
        assert_eq!(
            check("{% for a in alerts %}{{ a.labels.instance }}\n{% endfor %}"),
            Ok(())
        );
        let go = check("{{ .CommonLabels.alertname }}").unwrap_err();
        assert!(go.starts_with("line 1: "), "{go}");
        assert!(go.contains("alertmanager go template"), "{go}");
        let go = check(r#"{{ template "slack.default.title" . }}"#).unwrap_err();
        assert!(go.contains("jinja syntax"), "{go}");
        let unclosed = check("a\n{% if status == 'firing' %}x").unwrap_err();
        assert!(!unclosed.contains("go template"), "{unclosed}");
        assert!(
            unclosed.chars().next().unwrap().is_lowercase(),
            "{unclosed}"
        );
    }

    use crate::alert::Alert;
    use crate::config::AlertmanagerConfig;
    use crate::labels::LabelSet;
    use crate::webhook::{build_message, MessageContext};
    use jiff::Timestamp;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Two alerts of `HighLatency` on `api`: i0 firing, i1 resolved.
    fn message() -> WebhookMessage {
        let alerts: Vec<Alert> = ["2024-01-01T11:00:00Z", "2024-01-01T10:05:00Z"]
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
                annotations: [("summary", "p99 <over> 1s")].into_iter().collect(),
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

    fn config(receiver: &str) -> AlertmanagerConfig {
        AlertmanagerConfig::from_yaml_str(&format!(
            "global: {{smtp_from: a@x, smtp_smarthost: 'smtp:25'}}\nroute: {{receiver: r}}\nreceivers: [{{name: r, {receiver}}}]\n"
        ))
        .unwrap()
    }

    #[test]
    fn context_has_the_message_and_helpers() {
        let msg = message();
        let out = render(
            "{{ status }} {{ receiver }} {{ commonLabels.alertname }} {{ groupLabels | length }} \
             {{ alerts | length }}/{{ firingAlerts | length }}/{{ resolvedAlerts | length }} \
             {{ alerts[0].labels.instance }} {{ alerts[1].endsAt }} {{ externalURL }} \
             {{ alerts[0].fingerprint | length }} {{ truncatedAlerts }}|{{ subject }}|{{ alertsURL }}\n",
            &msg,
        )
        .unwrap();
        assert_eq!(
            out,
            "firing team x HighLatency 1 2/1/1 i0 2024-01-01T10:05:00Z http://nines:9898 16 0|\
             [FIRING:1] HighLatency (api)|http://nines:9898/#/alerts?receiver=team+x\n"
        );
        // A label one group lacks renders empty rather than failing the delivery.
        assert_eq!(render("[{{ commonLabels.team }}]", &msg).unwrap(), "[]");
        // Loops leave no blank lines; alert_list is the default bodies' list.
        let listed = render(
            "{% for a in firingAlerts %}\n- {{ a.labels.instance }}\n{% endfor %}\n{{ resolvedAlerts | alert_list }}",
            &msg,
        )
        .unwrap();
        assert_eq!(
            listed,
            format!(
                "- i0\n{}",
                receivers::text_alert_list(msg.alerts.iter().skip(1))
            )
        );
        assert!(render("{{ status | alert_list }}", &msg)
            .unwrap_err()
            .contains("alert_list expects a list of alerts"));
    }

    #[test]
    fn unset_fields_keep_the_default_bodies() {
        let msg = message();
        let cfg = config("slack_configs: [{api_url: 'http://s/x'}]");
        let sc = &cfg.receivers[0].slack_configs[0];
        assert_eq!(
            slack_message(sc, &msg).unwrap(),
            receivers::slack_message(sc, &msg)
        );
        let cfg = config("pagerduty_configs: [{routing_key: rk}]");
        let pd = &cfg.receivers[0].pagerduty_configs[0];
        assert_eq!(
            pagerduty_event(pd, &msg).unwrap(),
            receivers::pagerduty_event(pd, &msg)
        );
        let cfg = config("email_configs: [{to: b@x}]");
        let ec = &cfg.receivers[0].email_configs[0];
        let mail = email_message(ec, &msg).unwrap();
        assert_eq!(mail, receivers::email_message(ec, &msg));
        assert_eq!(mail.subject, "[FIRING:1] HighLatency (api)");
        assert_eq!(mail.html, None);
    }

    #[test]
    fn templated_fields_are_rendered() {
        let msg = message();
        let cfg = config(
            "slack_configs: [{api_url: 'http://s/x', title: '{{ commonLabels.alertname }} on {{ commonLabels.service }}', text: '{{ firingAlerts | length }} firing'}]",
        );
        let body = slack_message(&cfg.receivers[0].slack_configs[0], &msg).unwrap();
        assert_eq!(body["attachments"][0]["title"], "HighLatency on api");
        assert_eq!(body["attachments"][0]["text"], "1 firing");
        assert_eq!(
            body["attachments"][0]["fallback"],
            "HighLatency on api | http://nines:9898/#/alerts?receiver=team+x"
        );

        let cfg = config(
            "pagerduty_configs: [{routing_key: rk, description: '{{ status | upper }}: {{ alerts[0].annotations.summary }}'}]",
        );
        let event = pagerduty_event(&cfg.receivers[0].pagerduty_configs[0], &msg).unwrap();
        assert_eq!(event["payload"]["summary"], "FIRING: p99 <over> 1s");

        let cfg = config(
            "email_configs: [{to: b@x, headers: {Subject: 'Alert {{ commonLabels.alertname }}', X-Team: '{{ receiver }}'}, text: 'see {{ alertsURL }}', html: '<b>{{ alerts[0].annotations.summary }}</b>'}]",
        );
        let mail = email_message(&cfg.receivers[0].email_configs[0], &msg).unwrap();
        assert_eq!(mail.subject, "Alert HighLatency");
        assert_eq!(mail.headers, [("X-Team".to_string(), "team x".to_string())]);
        assert_eq!(mail.text, "see http://nines:9898/#/alerts?receiver=team+x");
        // Values are escaped in the html body, not in the text.
        assert_eq!(mail.html.as_deref(), Some("<b>p99 &lt;over&gt; 1s</b>"));
    }

    #[test]
    fn render_errors_name_the_field() {
        let msg = message();
        let mut cfg = config("slack_configs: [{api_url: 'http://s/x'}]");
        cfg.receivers[0].slack_configs[0].text = Some("{{ alerts | nosuchfilter }}".into());
        let err = slack_message(&cfg.receivers[0].slack_configs[0], &msg).unwrap_err();
        assert_eq!(err.field, "text");
        assert!(err.to_string().starts_with("template text: "), "{err}");
        assert!(err.reason.contains("nosuchfilter"), "{err}");
    }
}
