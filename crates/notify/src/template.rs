//! Message templates (minijinja, Jinja2 syntax) for the receivers' text fields: Slack `title`
//! and `text`, email headers (`Subject`), `text` and `html`, PagerDuty `description`.
//!
//! A template sees the version-4 message with its JSON field names (`status`, `receiver`,
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `groupKey`,
//! `truncatedAlerts`, `alerts` with `status`, `labels`, `annotations`, `startsAt`, `endsAt`,
//! `generatorURL`, `fingerprint`), plus helpers: `firingAlerts`, `resolvedAlerts`, `subject`
//! (Alertmanager's default subject line) and `alertsURL` (the receiver's alerts in the UI).
//! Alertmanager's Go templates (`{{ .CommonLabels.alertname }}`) are not Jinja: they are
//! refused when the config is checked, with a hint, rather than sent verbatim.

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};

/// Templates are checked and rendered under this name, so errors read `template:1`.
const NAME: &str = "template";

/// The environment every template is compiled and rendered in: the same for `check` and
/// `render`, so a template that passes the check renders with the same features.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Lenient: a label missing from one group renders empty instead of failing a delivery.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
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

/// Compiles `source`; `Err` holds a lowercase reason (with a hint for Go templates).
pub fn check(source: &str) -> Result<(), String> {
    let mut env = environment();
    env.add_template(NAME, source)
        .map_err(|e| describe(&e, source))
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
}
