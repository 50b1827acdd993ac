//! Alertmanager's configuration format, read from the nines config's `alertmanager:` key so a
//! team can paste its existing `alertmanager.yml`.
//!
//! Supported: `global`, the `route` tree, `receivers` with `webhook_configs`, `email_configs`,
//! `slack_configs` and `pagerduty_configs`, `inhibit_rules`, `time_intervals` (and the older
//! `mute_time_intervals`), `templates` (kept, not read). nines adds `maintenance_windows`
//! (weekly, with a zone), `signing_secret` on webhook configs (Standard Webhooks),
//! `alertmanager_configs` receivers (forwarding to another Alertmanager) and `nines:`
//! (immediate resolution, flap detection).
//!
//! Strict where Alertmanager is strict and typos are costly (unknown keys in routes, inhibit
//! rules, time intervals and at the top level are errors; a route naming an unknown receiver
//! or time interval is an error); receiver configs keep the fields nines uses and ignore the
//! rest, so a pasted config with Alertmanager-only fields still loads. The text fields nines
//! renders (Slack `title`/`text`, email headers such as `Subject`, `text`/`html`, PagerDuty
//! `description`) are [`crate::template`]s and must compile: a Go template pasted from an
//! Alertmanager config is refused at load with its path. Every problem is reported at once
//! with its field path.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use serde_json::Value;

use crate::inhibit::InhibitRule;
use crate::labels::is_valid_label_name;
use crate::matcher::{MatchOp, Matcher, Matchers};
use crate::reader::{index, Issues, Obj};
use crate::route::{child_key, GroupBy, Route};
use crate::timeinterval::{read_interval, read_weekly, NamedTimeInterval, WeeklyWindow};
use crate::Error;

/// PagerDuty's Events API v2 endpoint, Alertmanager's default `pagerduty_url`.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The whole `alertmanager:` section, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    pub global: Global,
    pub route: Route,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// `time_intervals` and `mute_time_intervals` together.
    pub time_intervals: Vec<NamedTimeInterval>,
    pub maintenance_windows: Vec<MaintenanceWindow>,
    pub templates: Vec<String>,
    /// nines' own switches (`nines:`): flap damping and immediate resolution.
    pub nines: NinesOptions,
}

/// `nines:` inside the `alertmanager:` section: what nines adds to Alertmanager's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct NinesOptions {
    /// Notify as soon as every alert of a group has resolved instead of waiting for the next
    /// `group_interval` (`resolve_immediately`, default true).
    pub resolve_immediately: bool,
    /// An alert that changes state more than `max_flips` times within `window` is held as
    /// flapping (`flap_detection: {max_flips: 4, window: 1h}`).
    pub flap: crate::group::FlapOptions,
}

impl Default for NinesOptions {
    fn default() -> Self {
        NinesOptions {
            resolve_immediately: true,
            flap: crate::group::FlapOptions {
                max_flips: 4,
                window: SignedDuration::from_secs(3600),
            },
        }
    }
}

/// `global:` — defaults for receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// How long an alert without `endsAt` stays firing (default 5m).
    pub resolve_timeout: SignedDuration,
    pub smtp_from: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_hello: String,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_require_tls: bool,
    pub slack_api_url: Option<String>,
    pub pagerduty_url: String,
    pub http_config: HttpConfig,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            resolve_timeout: SignedDuration::from_secs(300),
            smtp_from: None,
            smtp_smarthost: None,
            smtp_hello: "localhost".to_string(),
            smtp_auth_username: None,
            smtp_auth_password: None,
            smtp_require_tls: true,
            slack_api_url: None,
            pagerduty_url: DEFAULT_PAGERDUTY_URL.to_string(),
            http_config: HttpConfig::default(),
        }
    }
}

/// The parts of Prometheus' `http_config` nines uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpConfig {
    /// From `authorization: {type: Bearer, credentials}` or the older `bearer_token`.
    pub bearer_token: Option<String>,
    pub basic_auth: Option<(String, String)>,
}

/// A named receiver and its integrations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub email_configs: Vec<EmailConfig>,
    pub slack_configs: Vec<SlackConfig>,
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// nines: forward alerts to another Alertmanager (`POST {url}/api/v2/alerts`).
    pub alertmanager_configs: Vec<ForwardConfig>,
}

/// nines: forwarding to an Alertmanager (`alertmanager_configs:` in a receiver).
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardConfig {
    /// The Alertmanager's base URL (`http://alertmanager:9093`).
    pub url: String,
    /// Default true: resolved alerts are forwarded with their `endsAt`.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
}

/// One integration of a receiver, in a fixed order (webhooks, emails, Slack, PagerDuty,
/// Alertmanagers, each in config order); its index in [`Receiver::integrations`] is the
/// outbox's `integration` number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Integration<'a> {
    Webhook(&'a WebhookConfig),
    Email(&'a EmailConfig),
    Slack(&'a SlackConfig),
    Pagerduty(&'a PagerdutyConfig),
    Alertmanager(&'a ForwardConfig),
}

impl Integration<'_> {
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved,
            Integration::Email(c) => c.send_resolved,
            Integration::Slack(c) => c.send_resolved,
            Integration::Pagerduty(c) => c.send_resolved,
            Integration::Alertmanager(c) => c.send_resolved,
        }
    }

    /// `webhook`, `email`, `slack`, `pagerduty` or `alertmanager`.
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Alertmanager(_) => "alertmanager",
        }
    }
}

impl Receiver {
    /// Every integration, in outbox numbering order.
    pub fn integrations(&self) -> Vec<Integration<'_>> {
        let mut out: Vec<Integration<'_>> = Vec::new();
        out.extend(self.webhook_configs.iter().map(Integration::Webhook));
        out.extend(self.email_configs.iter().map(Integration::Email));
        out.extend(self.slack_configs.iter().map(Integration::Slack));
        out.extend(self.pagerduty_configs.iter().map(Integration::Pagerduty));
        out.extend(
            self.alertmanager_configs
                .iter()
                .map(Integration::Alertmanager),
        );
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    /// Default true.
    pub send_resolved: bool,
    /// 0 = all alerts.
    pub max_alerts: u64,
    pub http_config: HttpConfig,
    /// nines: a Standard Webhooks secret (`whsec_...`); requests are signed when set.
    pub signing_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    pub to: String,
    pub from: String,
    pub smarthost: String,
    pub hello: String,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub require_tls: bool,
    /// Default false.
    pub send_resolved: bool,
    pub headers: BTreeMap<String, String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    pub api_url: String,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
    /// Default false.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PagerdutyConfig {
    /// Events API v2 routing key (or the v1 `service_key`).
    pub routing_key: String,
    pub url: String,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub details: BTreeMap<String, String>,
    /// Default true.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
}

/// nines: alerts matching `matchers` are muted during every occurrence of `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub name: String,
    pub matchers: Matchers,
    pub window: WeeklyWindow,
}

const TOP_KEYS: &[&str] = &[
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
    "maintenance_windows",
    "nines",
];

const ROUTE_KEYS: &[&str] = &[
    "receiver",
    "group_by",
    "continue",
    "match",
    "match_re",
    "matchers",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
    "routes",
];

/// Receiver kinds Alertmanager has and nines does not deliver to.
const UNSUPPORTED_RECEIVERS: &[&str] = &[
    "opsgenie_configs",
    "victorops_configs",
    "wechat_configs",
    "pushover_configs",
    "sns_configs",
    "telegram_configs",
    "webex_configs",
    "discord_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "jira_configs",
    "rocketchat_configs",
];

impl AlertmanagerConfig {
    /// Reads the contents of the `alertmanager:` key from YAML text; field paths start with
    /// `alertmanager`.
    pub fn from_yaml_str(text: &str) -> Result<AlertmanagerConfig, Error> {
        let value: Value = serde_saphyr::from_str(text).map_err(|e| Error::Yaml(e.to_string()))?;
        AlertmanagerConfig::from_value(&value, "alertmanager")
    }

    /// Reads an already-parsed value (the spec crate hands over the `alertmanager:` node);
    /// `path` prefixes every field path in errors.
    pub fn from_value(value: &Value, path: &str) -> Result<AlertmanagerConfig, Error> {
        let mut issues = Issues::default();
        let config = read_config(value, path, &mut issues);
        if issues.0.is_empty() {
            Ok(config)
        } else {
            Err(Error::Config(issues.0))
        }
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    pub fn time_interval(&self, name: &str) -> Option<&NamedTimeInterval> {
        self.time_intervals.iter().find(|t| t.name == name)
    }

    /// Whether the named intervals (unknown names never are, but validation refuses them)
    /// contain `at`.
    pub fn any_interval_active(&self, names: &[String], at: jiff::Timestamp) -> bool {
        names
            .iter()
            .filter_map(|n| self.time_interval(n))
            .any(|t| t.is_active(at))
    }

    /// Whether notifications of `path` are muted at `at` by its mute or active intervals.
    pub fn route_muted(&self, path: &crate::route::RoutePath, at: jiff::Timestamp) -> bool {
        if self.any_interval_active(&path.mute_time_intervals, at) {
            return true;
        }
        !path.active_time_intervals.is_empty()
            && !self.any_interval_active(&path.active_time_intervals, at)
    }

    /// The maintenance windows muting `labels` at `at`.
    pub fn in_maintenance(
        &self,
        labels: &crate::labels::LabelSet,
        at: jiff::Timestamp,
    ) -> Vec<&str> {
        self.maintenance_windows
            .iter()
            .filter(|m| m.matchers.matches(labels) && m.window.is_active(at))
            .map(|m| m.name.as_str())
            .collect()
    }
}

fn read_config(value: &Value, path: &str, issues: &mut Issues) -> AlertmanagerConfig {
    let top = Obj::new(value, path, TOP_KEYS, issues);
    let global = match top.get("global") {
        Some(g) => read_global(g, &top.path("global"), issues),
        None => Global::default(),
    };

    let mut receivers = Vec::new();
    let mut receiver_names = BTreeSet::new();
    for (item, p) in top.list("receivers", issues) {
        if let Some(r) = read_receiver(item, &p, &global, issues) {
            if !receiver_names.insert(r.name.clone()) {
                issues.push(
                    &format!("{p}.name"),
                    format!("duplicate receiver name {:?}", r.name),
                );
            }
            receivers.push(r);
        }
    }

    let mut time_intervals = Vec::new();
    let mut interval_names = BTreeSet::new();
    for field in ["time_intervals", "mute_time_intervals"] {
        for (item, p) in top.list(field, issues) {
            let o = Obj::new(item, &p, &["name", "time_intervals"], issues);
            let Some(name) = o.str("name", issues).filter(|n| !n.is_empty()) else {
                issues.push(&o.path("name"), "required");
                continue;
            };
            if !interval_names.insert(name.clone()) {
                issues.push(
                    &o.path("name"),
                    format!("duplicate time interval name {name:?}"),
                );
            }
            let intervals = o
                .list("time_intervals", issues)
                .into_iter()
                .map(|(v, ip)| read_interval(v, &ip, issues))
                .collect();
            time_intervals.push(NamedTimeInterval { name, intervals });
        }
    }

    let route = match top.get("route") {
        Some(r) => {
            let rp = top.path("route");
            // `read_route` reports type and unknown-field problems; here only the root rules.
            let ro = Obj::new(r, &rp, ROUTE_KEYS, &mut Issues::default());
            for forbidden in ["match", "match_re", "matchers"] {
                if ro.has(forbidden) {
                    issues.push(&ro.path(forbidden), "the root route must not have matchers");
                }
            }
            for forbidden in ["mute_time_intervals", "active_time_intervals"] {
                if ro.has(forbidden) {
                    issues.push(
                        &ro.path(forbidden),
                        "the root route must not have time intervals",
                    );
                }
            }
            if ro.bool("continue", issues) == Some(true) {
                issues.push(&ro.path("continue"), "the root route cannot have continue");
            }
            if ro.map.is_some() && !ro.has("receiver") {
                issues.push(
                    &ro.path("receiver"),
                    "the root route must name a default receiver",
                );
            }
            read_route(r, &rp, None, issues)
        }
        None => {
            issues.push(&top.path("route"), "required");
            Route::default()
        }
    };
    check_route_refs(
        &route,
        &top.path("route"),
        &receiver_names,
        &interval_names,
        issues,
    );

    let inhibit_rules = top
        .list("inhibit_rules", issues)
        .into_iter()
        .map(|(v, p)| read_inhibit(v, &p, issues))
        .collect();

    let mut maintenance_windows = Vec::new();
    for (item, p) in top.list("maintenance_windows", issues) {
        let o = Obj::new(item, &p, &["name", "matchers", "weekly"], issues);
        let name = o.str("name", issues).unwrap_or_default();
        if name.is_empty() {
            issues.push(&o.path("name"), "required");
        }
        let matchers = read_matcher_list(&o, "matchers", issues);
        let window = match o.get("weekly") {
            Some(w) => read_weekly(w, &o.path("weekly"), issues),
            None => {
                issues.push(&o.path("weekly"), "required");
                None
            }
        };
        if let Some(window) = window {
            maintenance_windows.push(MaintenanceWindow {
                name,
                matchers,
                window,
            });
        }
    }

    let templates = top
        .str_list("templates", issues)
        .into_iter()
        .map(|(s, _)| s)
        .collect();

    let nines = match top.get("nines") {
        Some(v) => read_nines(v, &top.path("nines"), issues),
        None => NinesOptions::default(),
    };

    AlertmanagerConfig {
        nines,
        global,
        route,
        receivers,
        inhibit_rules,
        time_intervals,
        maintenance_windows,
        templates,
    }
}

fn read_global(value: &Value, path: &str, issues: &mut Issues) -> Global {
    // Alertmanager's global section has many integrations' defaults: keep ours, ignore the rest.
    let o = Obj::new(value, path, &[], issues);
    let d = Global::default();
    Global {
        resolve_timeout: o
            .duration("resolve_timeout", issues)
            .unwrap_or(d.resolve_timeout),
        smtp_from: o.str("smtp_from", issues),
        smtp_smarthost: o.str("smtp_smarthost", issues),
        smtp_hello: o.str("smtp_hello", issues).unwrap_or(d.smtp_hello),
        smtp_auth_username: o.str("smtp_auth_username", issues),
        smtp_auth_password: o.str("smtp_auth_password", issues),
        smtp_require_tls: o.bool("smtp_require_tls", issues).unwrap_or(true),
        slack_api_url: checked_url(&o, "slack_api_url", issues),
        pagerduty_url: checked_url(&o, "pagerduty_url", issues).unwrap_or(d.pagerduty_url),
        http_config: read_http_config(&o, issues).unwrap_or_default(),
    }
}

fn checked_url(o: &Obj<'_>, name: &str, issues: &mut Issues) -> Option<String> {
    let url = o.str(name, issues)?;
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Some(url),
        _ => {
            issues.push(
                &o.path(name),
                format!("invalid url {url:?}: expected http:// or https:// and a host"),
            );
            None
        }
    }
}

fn read_http_config(o: &Obj<'_>, issues: &mut Issues) -> Option<HttpConfig> {
    let value = o.get("http_config")?;
    let h = Obj::new(value, &o.path("http_config"), &[], issues);
    let mut cfg = HttpConfig {
        bearer_token: h.str("bearer_token", issues),
        basic_auth: None,
    };
    if let Some(a) = h.get("authorization") {
        let a = Obj::new(
            a,
            &h.path("authorization"),
            &["type", "credentials", "credentials_file"],
            issues,
        );
        let kind = a
            .str("type", issues)
            .unwrap_or_else(|| "Bearer".to_string());
        if !kind.eq_ignore_ascii_case("bearer") {
            issues.push(
                &a.path("type"),
                format!("unsupported authorization type {kind:?}: nines supports Bearer"),
            );
        }
        if a.has("credentials_file") {
            issues.push(
                &a.path("credentials_file"),
                "not supported: put the credentials in the config",
            );
        }
        if cfg.bearer_token.is_some() {
            issues.push(
                &h.path("authorization"),
                "cannot be combined with bearer_token",
            );
        }
        cfg.bearer_token = a.str("credentials", issues);
    }
    if let Some(b) = h.get("basic_auth") {
        let b = Obj::new(b, &h.path("basic_auth"), &["username", "password"], issues);
        let user = b.str("username", issues).unwrap_or_default();
        let password = b.str("password", issues).unwrap_or_default();
        cfg.basic_auth = Some((user, password));
    }
    Some(cfg)
}

fn read_receiver(
    value: &Value,
    path: &str,
    global: &Global,
    issues: &mut Issues,
) -> Option<Receiver> {
    let mut allowed = vec![
        "name",
        "webhook_configs",
        "email_configs",
        "slack_configs",
        "pagerduty_configs",
        "alertmanager_configs",
    ];
    allowed.extend_from_slice(UNSUPPORTED_RECEIVERS);
    let o = Obj::new(value, path, &allowed, issues);
    for kind in UNSUPPORTED_RECEIVERS {
        if o.has(kind) {
            issues.push(
                &o.path(kind),
                "not supported by nines (supported: webhook_configs, email_configs, slack_configs, pagerduty_configs, alertmanager_configs)",
            );
        }
    }
    let name = o.str("name", issues).unwrap_or_default();
    if name.is_empty() {
        issues.push(&o.path("name"), "required");
        return None;
    }
    let mut r = Receiver {
        name,
        ..Receiver::default()
    };
    for (item, p) in o.list("webhook_configs", issues) {
        let c = Obj::new(item, &p, &[], issues);
        if c.has("url_file") {
            issues.push(
                &c.path("url_file"),
                "not supported: put the url in the config",
            );
        }
        let url = checked_url(&c, "url", issues);
        if !c.has("url") {
            issues.push(&c.path("url"), "required");
        }
        let http_config =
            read_http_config(&c, issues).unwrap_or_else(|| global.http_config.clone());
        let signing_secret = c.str("signing_secret", issues);
        if let Some(s) = &signing_secret {
            if let Err(e) = crate::webhook::decode_secret(s) {
                issues.push(&c.path("signing_secret"), e.to_string());
            }
        }
        let cfg = WebhookConfig {
            url: url.unwrap_or_default(),
            send_resolved: c.bool("send_resolved", issues).unwrap_or(true),
            max_alerts: c.u64("max_alerts", issues).unwrap_or(0),
            http_config,
            signing_secret,
        };
        r.webhook_configs.push(cfg);
    }
    for (item, p) in o.list("email_configs", issues) {
        let c = Obj::new(item, &p, &[], issues);
        let to = c.str("to", issues).unwrap_or_default();
        if to.is_empty() {
            issues.push(&c.path("to"), "required");
        }
        let from = c.str("from", issues).or_else(|| global.smtp_from.clone());
        if from.is_none() {
            issues.push(&c.path("from"), "required (no global smtp_from is set)");
        }
        let smarthost = c
            .str("smarthost", issues)
            .or_else(|| global.smtp_smarthost.clone());
        if smarthost.is_none() {
            issues.push(
                &c.path("smarthost"),
                "required (no global smtp_smarthost is set)",
            );
        }
        // Every header is rendered as a template (`Subject` among them).
        let headers = c
            .str_map("headers", issues)
            .into_iter()
            .map(|(k, v, p)| {
                check_template(&v, &p, issues);
                (k, v)
            })
            .collect();
        r.email_configs.push(EmailConfig {
            to,
            from: from.unwrap_or_default(),
            smarthost: smarthost.unwrap_or_default(),
            hello: c
                .str("hello", issues)
                .unwrap_or_else(|| global.smtp_hello.clone()),
            auth_username: c
                .str("auth_username", issues)
                .or_else(|| global.smtp_auth_username.clone()),
            auth_password: c
                .str("auth_password", issues)
                .or_else(|| global.smtp_auth_password.clone()),
            require_tls: c
                .bool("require_tls", issues)
                .unwrap_or(global.smtp_require_tls),
            send_resolved: c.bool("send_resolved", issues).unwrap_or(false),
            headers,
            html: template(&c, "html", issues),
            text: template(&c, "text", issues),
        });
    }
    for (item, p) in o.list("slack_configs", issues) {
        let c = Obj::new(item, &p, &[], issues);
        let api_url = checked_url(&c, "api_url", issues).or_else(|| global.slack_api_url.clone());
        if api_url.is_none() && !c.has("api_url") {
            issues.push(
                &c.path("api_url"),
                "required (no global slack_api_url is set)",
            );
        }
        r.slack_configs.push(SlackConfig {
            api_url: api_url.unwrap_or_default(),
            channel: c.str("channel", issues),
            username: c.str("username", issues),
            title: template(&c, "title", issues),
            text: template(&c, "text", issues),
            send_resolved: c.bool("send_resolved", issues).unwrap_or(false),
            http_config: read_http_config(&c, issues).unwrap_or_else(|| global.http_config.clone()),
        });
    }
    for (item, p) in o.list("pagerduty_configs", issues) {
        let c = Obj::new(item, &p, &[], issues);
        let key = c
            .str("routing_key", issues)
            .or_else(|| c.str("service_key", issues));
        if key.as_deref().unwrap_or("").is_empty() {
            issues.push(&c.path("routing_key"), "required (or service_key)");
        }
        let details = c
            .str_map("details", issues)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        r.pagerduty_configs.push(PagerdutyConfig {
            routing_key: key.unwrap_or_default(),
            url: checked_url(&c, "url", issues).unwrap_or_else(|| global.pagerduty_url.clone()),
            client: c.str("client", issues),
            client_url: c.str("client_url", issues),
            description: template(&c, "description", issues),
            severity: c.str("severity", issues),
            details,
            send_resolved: c.bool("send_resolved", issues).unwrap_or(true),
            http_config: read_http_config(&c, issues).unwrap_or_else(|| global.http_config.clone()),
        });
    }
    for (item, p) in o.list("alertmanager_configs", issues) {
        let c = Obj::new(item, &p, &["url", "send_resolved", "http_config"], issues);
        let url = checked_url(&c, "url", issues);
        if !c.has("url") {
            issues.push(&c.path("url"), "required");
        }
        r.alertmanager_configs.push(ForwardConfig {
            url: url.unwrap_or_default(),
            send_resolved: c.bool("send_resolved", issues).unwrap_or(true),
            http_config: read_http_config(&c, issues).unwrap_or_else(|| global.http_config.clone()),
        });
    }
    Some(r)
}

/// A string field rendered as a message template: refused at load when it does not compile
/// (an Alertmanager Go template pasted as is), with the reason.
fn template(o: &Obj<'_>, name: &str, issues: &mut Issues) -> Option<String> {
    let source = o.str(name, issues)?;
    check_template(&source, &o.path(name), issues);
    Some(source)
}

fn check_template(source: &str, path: &str, issues: &mut Issues) {
    if let Err(reason) = crate::template::check(source) {
        issues.push(path, format!("invalid template: {reason}"));
    }
}

fn read_nines(value: &Value, path: &str, issues: &mut Issues) -> NinesOptions {
    let o = Obj::new(
        value,
        path,
        &["resolve_immediately", "flap_detection"],
        issues,
    );
    let mut out = NinesOptions::default();
    if let Some(b) = o.bool("resolve_immediately", issues) {
        out.resolve_immediately = b;
    }
    if let Some(f) = o.get("flap_detection") {
        let fo = Obj::new(
            f,
            &o.path("flap_detection"),
            &["max_flips", "window"],
            issues,
        );
        if let Some(n) = fo.u64("max_flips", issues) {
            out.flap.max_flips = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(w) = fo.str("window", issues) {
            match crate::duration::parse_duration(&w) {
                Ok(d) if d.is_positive() => out.flap.window = d,
                Ok(_) => issues.push(&fo.path("window"), "must be positive"),
                Err(e) => issues.push(&fo.path("window"), e.to_string()),
            }
        }
    }
    out
}

/// Matchers from `matchers:` (a list of strings, each one or more matchers).
fn read_matcher_list(o: &Obj<'_>, name: &str, issues: &mut Issues) -> Matchers {
    let mut out = Vec::new();
    for (s, p) in o.str_list(name, issues) {
        match Matchers::parse(&s) {
            Ok(ms) => out.extend(ms.0),
            Err(e) => issues.push(&p, e.to_string()),
        }
    }
    Matchers(out)
}

/// Matchers from a legacy `match:` (equality) or `match_re:` (regex) map.
fn read_legacy_map(o: &Obj<'_>, name: &str, op: MatchOp, issues: &mut Issues) -> Vec<Matcher> {
    o.str_map(name, issues)
        .into_iter()
        .filter_map(|(label, value, p)| {
            if !is_valid_label_name(&label) {
                issues.push(&p, format!("invalid label name {label:?}"));
                return None;
            }
            Matcher::new(label, op, value)
                .map_err(|e| issues.push(&p, e.to_string()))
                .ok()
        })
        .collect()
}

fn read_route(value: &Value, path: &str, parent: Option<&Route>, issues: &mut Issues) -> Route {
    let o = Obj::new(value, path, ROUTE_KEYS, issues);
    let inherited = parent.cloned().unwrap_or_default();

    let mut matchers = read_legacy_map(&o, "match", MatchOp::Equal, issues);
    matchers.extend(read_legacy_map(&o, "match_re", MatchOp::Regex, issues));
    matchers.extend(read_matcher_list(&o, "matchers", issues).0);
    let mut matchers = Matchers(matchers);
    matchers.sort();

    // As in Alertmanager, a missing or empty `group_by` inherits the parent's.
    let labels = o.str_list("group_by", issues);
    let group_by = if !labels.is_empty() {
        if labels.iter().any(|(l, _)| l == "...") {
            if labels.len() > 1 {
                issues.push(
                    &o.path("group_by"),
                    "'...' cannot be combined with other labels",
                );
            }
            GroupBy::All
        } else {
            let mut seen = BTreeSet::new();
            for (l, p) in &labels {
                if !is_valid_label_name(l) {
                    issues.push(p, format!("invalid label name {l:?}"));
                } else if !seen.insert(l.clone()) {
                    issues.push(p, format!("duplicate label {l:?}"));
                }
            }
            GroupBy::Labels(labels.into_iter().map(|(l, _)| l).collect())
        }
    } else {
        inherited.group_by.clone()
    };

    let mut timing = |name: &str, fallback: SignedDuration, zero_ok: bool| {
        let d = o.duration(name, issues);
        match d {
            Some(d) if d == SignedDuration::ZERO && !zero_ok => {
                issues.push(&o.path(name), "cannot be zero");
                fallback
            }
            Some(d) => d,
            None => fallback,
        }
    };
    let group_wait = timing("group_wait", inherited.group_wait, true);
    let group_interval = timing("group_interval", inherited.group_interval, false);
    let repeat_interval = timing("repeat_interval", inherited.repeat_interval, false);

    let names = |field: &str, issues: &mut Issues| -> Vec<String> {
        o.str_list(field, issues)
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    };
    let mute_time_intervals = names("mute_time_intervals", issues);
    let active_time_intervals = names("active_time_intervals", issues);

    let key = child_key(parent.map(|p| p.key.as_str()), &matchers);
    let mut route = Route {
        receiver: o
            .str("receiver", issues)
            .filter(|r| !r.is_empty())
            .unwrap_or(inherited.receiver.clone()),
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
        matchers,
        continue_matching: o.bool("continue", issues).unwrap_or(false),
        mute_time_intervals,
        active_time_intervals,
        routes: Vec::new(),
        id: key.clone(),
        key,
    };
    let children: Vec<Route> = o
        .list("routes", issues)
        .into_iter()
        .map(|(v, p)| read_route(v, &p, Some(&route), issues))
        .collect();
    route.routes = children;
    if parent.is_none() {
        assign_ids(&mut route);
    }
    route
}

/// Alertmanager's route ids: the parent's id, `/`, the matchers, `/`, the position.
fn assign_ids(route: &mut Route) {
    for (i, child) in route.routes.iter_mut().enumerate() {
        child.id = format!("{}/{}/{i}", route.id, child.matchers);
        assign_ids(child);
    }
}

fn check_route_refs(
    route: &Route,
    path: &str,
    receivers: &BTreeSet<String>,
    intervals: &BTreeSet<String>,
    issues: &mut Issues,
) {
    if !route.receiver.is_empty() && !receivers.contains(&route.receiver) {
        issues.push(
            &format!("{path}.receiver"),
            format!("unknown receiver {:?}", route.receiver),
        );
    }
    for (field, names) in [
        ("mute_time_intervals", &route.mute_time_intervals),
        ("active_time_intervals", &route.active_time_intervals),
    ] {
        for (i, name) in names.iter().enumerate() {
            if !intervals.contains(name) {
                issues.push(
                    &index(&format!("{path}.{field}"), i),
                    format!("unknown time interval {name:?}"),
                );
            }
        }
    }
    for (i, child) in route.routes.iter().enumerate() {
        check_route_refs(
            child,
            &index(&format!("{path}.routes"), i),
            receivers,
            intervals,
            issues,
        );
    }
}

fn read_inhibit(value: &Value, path: &str, issues: &mut Issues) -> InhibitRule {
    let o = Obj::new(
        value,
        path,
        &[
            "source_match",
            "source_match_re",
            "source_matchers",
            "target_match",
            "target_match_re",
            "target_matchers",
            "equal",
        ],
        issues,
    );
    let mut source = read_legacy_map(&o, "source_match", MatchOp::Equal, issues);
    source.extend(read_legacy_map(
        &o,
        "source_match_re",
        MatchOp::Regex,
        issues,
    ));
    source.extend(read_matcher_list(&o, "source_matchers", issues).0);
    let mut target = read_legacy_map(&o, "target_match", MatchOp::Equal, issues);
    target.extend(read_legacy_map(
        &o,
        "target_match_re",
        MatchOp::Regex,
        issues,
    ));
    target.extend(read_matcher_list(&o, "target_matchers", issues).0);
    let mut equal = Vec::new();
    for (l, p) in o.str_list("equal", issues) {
        if is_valid_label_name(&l) {
            equal.push(l);
        } else {
            issues.push(&p, format!("invalid label name {l:?}"));
        }
    }
    let mut source = Matchers(source);
    let mut target = Matchers(target);
    source.sort();
    target.sort();
    InhibitRule {
        source_matchers: source,
        target_matchers: target,
        equal,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FULL: &str = r#"
global:
  resolve_timeout: 10m
  smtp_from: alerts@example.com
  smtp_smarthost: smtp.example.com:587
  slack_api_url: https://hooks.slack.com/services/T/B/X
  opsgenie_api_url: https://ignored.example.com/
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: team-x
  group_by: ['alertname', 'cluster']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  routes:
    - matchers: ['service=~"foo1|foo2|baz"']
      receiver: team-x-mails
      routes:
        - matchers: [severity="critical"]
          receiver: team-x-pager
      mute_time_intervals: [offhours]
    - match: {service: database}
      receiver: team-db-pager
      active_time_intervals: [offhours]
      group_by: [alertname, cluster, database]
receivers:
  - name: team-x
    webhook_configs:
      - url: http://hooks.example.com/x
        max_alerts: 10
        http_config:
          authorization: {credentials: s3cret}
        signing_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  - name: team-x-mails
    email_configs:
      - to: team-x@example.com
        headers: {Subject: 'Alert'}
  - name: team-x-pager
    pagerduty_configs:
      - routing_key: abc
        severity: critical
  - name: team-db-pager
    slack_configs:
      - channel: '#db'
        send_resolved: true
        title: '{{ commonLabels.alertname }}'
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster]
  - source_match: {severity: page}
    target_match_re: {severity: 'warn|info'}
time_intervals:
  - name: offhours
    time_intervals:
      - weekdays: ['saturday', 'sunday']
      - times: [{start_time: '18:00', end_time: '24:00'}]
        location: Europe/Berlin
maintenance_windows:
  - name: db-patching
    matchers: ['service="database"']
    weekly: {weekday: saturday, start_time: '22:00', duration: 4h, location: Europe/Berlin}
"#;

    fn messages(yaml: &str) -> Vec<String> {
        match AlertmanagerConfig::from_yaml_str(yaml) {
            Ok(_) => Vec::new(),
            Err(Error::Config(issues)) => issues.iter().map(ToString::to_string).collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn reads_a_complete_alertmanager_config() {
        let cfg = AlertmanagerConfig::from_yaml_str(FULL).unwrap();
        assert_eq!(cfg.global.resolve_timeout, SignedDuration::from_secs(600));
        assert_eq!(cfg.global.pagerduty_url, DEFAULT_PAGERDUTY_URL);
        assert_eq!(cfg.templates, ["/etc/alertmanager/*.tmpl"]);
        assert_eq!(
            cfg.route.repeat_interval,
            SignedDuration::from_secs(3 * 3600)
        );
        assert_eq!(cfg.route.routes.len(), 2);
        assert_eq!(cfg.route.routes[0].routes[0].receiver, "team-x-pager");
        assert_eq!(
            cfg.route.routes[0].routes[0].mute_time_intervals,
            Vec::<String>::new()
        );
        assert_eq!(cfg.route.routes[0].mute_time_intervals, ["offhours"]);
        assert_eq!(
            cfg.route.routes[1].matchers.to_string(),
            r#"{service="database"}"#
        );

        let wh = &cfg.receiver("team-x").unwrap().webhook_configs[0];
        assert_eq!(wh.url, "http://hooks.example.com/x");
        assert!(wh.send_resolved);
        assert_eq!(wh.max_alerts, 10);
        assert_eq!(wh.http_config.bearer_token.as_deref(), Some("s3cret"));
        let email = &cfg.receiver("team-x-mails").unwrap().email_configs[0];
        assert_eq!(email.from, "alerts@example.com");
        assert_eq!(email.smarthost, "smtp.example.com:587");
        assert!(!email.send_resolved);
        assert!(email.require_tls);
        assert_eq!(
            email.headers.get("Subject").map(String::as_str),
            Some("Alert")
        );
        let pd = &cfg.receiver("team-x-pager").unwrap().pagerduty_configs[0];
        assert_eq!(
            (pd.routing_key.as_str(), pd.url.as_str()),
            ("abc", DEFAULT_PAGERDUTY_URL)
        );
        assert!(pd.send_resolved);
        let slack = &cfg.receiver("team-db-pager").unwrap().slack_configs[0];
        assert_eq!(slack.api_url, "https://hooks.slack.com/services/T/B/X");
        assert!(slack.send_resolved);

        assert_eq!(cfg.inhibit_rules.len(), 2);
        assert_eq!(cfg.inhibit_rules[0].equal, ["alertname", "cluster"]);
        assert_eq!(
            cfg.inhibit_rules[1].target_matchers.to_string(),
            r#"{severity=~"warn|info"}"#
        );
        assert_eq!(cfg.time_intervals[0].intervals.len(), 2);
        assert_eq!(cfg.maintenance_windows[0].name, "db-patching");
    }

    #[test]
    fn mute_and_active_intervals_and_maintenance() {
        let cfg = AlertmanagerConfig::from_yaml_str(FULL).unwrap();
        let labels: crate::labels::LabelSet = [("service", "database"), ("alertname", "A")]
            .into_iter()
            .collect();
        let path = &cfg.route.matches(&labels)[0];
        assert_eq!(path.receiver, "team-db-pager");
        let saturday: jiff::Timestamp = "2024-01-13T12:00:00Z".parse().unwrap();
        let wednesday: jiff::Timestamp = "2024-01-10T12:00:00Z".parse().unwrap();
        // Active only during offhours.
        assert!(!cfg.route_muted(path, saturday));
        assert!(cfg.route_muted(path, wednesday));
        let mails = &cfg
            .route
            .matches(&[("service", "foo1")].into_iter().collect())[0];
        assert!(cfg.route_muted(mails, saturday));
        assert!(!cfg.route_muted(mails, wednesday));
        let night: jiff::Timestamp = "2024-01-13T21:30:00Z".parse().unwrap();
        assert_eq!(cfg.in_maintenance(&labels, night), ["db-patching"]);
        assert!(cfg.in_maintenance(&labels, wednesday).is_empty());
    }

    /// Each case was checked with `amtool check-config` of Alertmanager 0.25.
    #[test]
    fn accepts_and_refuses_what_amtool_0_25_does() {
        let accepted = r#"
global: {smtp_from: a@example.com, smtp_smarthost: 'smtp.example.com:587'}
route:
  receiver: x
  group_by: ['alertname', 'cluster']
  routes:
    - {matchers: ['service=~"foo1|foo2|baz"'], receiver: m, group_by: [], mute_time_intervals: [off]}
receivers:
  - {name: x, webhook_configs: [{url: 'http://h/x', max_alerts: 10, http_config: {authorization: {credentials: s}}}]}
  - {name: m, email_configs: [{to: t@example.com, headers: {Subject: 'Alert'}}]}
time_intervals:
  - name: off
    time_intervals:
      - {weekdays: ['Saturday', 'sunday'], days_of_month: ['1:-1', '-3:-1']}
      - {times: [{start_time: '18:00', end_time: '24:00'}], location: Europe/Berlin}
"#;
        assert_eq!(messages(accepted), Vec::<String>::new());
        for bad in [
            "days_of_month: ['-1:5']",
            "days_of_month: ['27:-3']",
            "times: [{start_time: '9:00', end_time: '17:00'}]",
            "weekdays: ['friday:monday']",
        ] {
            let yaml = format!(
                "route: {{receiver: a, routes: [{{receiver: a, mute_time_intervals: [w]}}]}}\nreceivers: [{{name: a}}]\ntime_intervals: [{{name: w, time_intervals: [{{{bad}}}]}}]\n"
            );
            assert_eq!(messages(&yaml).len(), 1, "{bad}");
        }
    }

    #[test]
    fn yaml_anchors_are_resolved() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "x-hook: &hook {url: 'http://h/x', max_alerts: 5}\nroute: {receiver: a}\nreceivers:\n  - {name: a, webhook_configs: [*hook]}\n",
        );
        // `x-hook` is not an Alertmanager key: refused like any unknown top-level key.
        assert_eq!(
            cfg.unwrap_err().to_string(),
            "alertmanager.x-hook: unknown field"
        );
        let cfg = AlertmanagerConfig::from_yaml_str(
            "route: {receiver: a}\nreceivers:\n  - {name: a, webhook_configs: [&hook {url: 'http://h/x', max_alerts: 5}]}\n  - {name: b, webhook_configs: [*hook]}\n",
        )
        .unwrap();
        assert_eq!(cfg.receivers[1].webhook_configs[0].max_alerts, 5);
    }

    #[test]
    fn empty_group_by_and_receiver_inherit() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "route:\n  receiver: a\n  group_by: ['...']\n  routes: [{group_by: [], receiver: '', matchers: ['x=\"1\"']}]\nreceivers: [{name: a}]\n",
        )
        .unwrap();
        assert_eq!(cfg.route.routes[0].group_by, GroupBy::All);
        assert_eq!(cfg.route.routes[0].receiver, "a");
    }

    #[test]
    fn unknown_receiver_and_interval_have_paths() {
        let yaml = r#"
route:
  receiver: a
  routes:
    - receiver: a
    - receiver: a
    - receiver: x
      mute_time_intervals: [nope]
receivers: [{name: a}]
"#;
        assert_eq!(
            messages(yaml),
            [
                r#"alertmanager.route.routes[2].receiver: unknown receiver "x""#,
                r#"alertmanager.route.routes[2].mute_time_intervals[0]: unknown time interval "nope""#,
            ]
        );
    }

    #[test]
    fn route_validation_like_alertmanager() {
        let yaml = r#"
route:
  matchers: ['a="b"']
  continue: true
  group_by: ['...', 'x']
  routes:
    - group_interval: 0s
      repeat_interval: 0
      group_by: [a, a, 'b-c']
      matchers: ['oops']
      match: {'bad-name': x}
      recevier: typo
receivers: [{name: r}, {name: r}]
"#;
        assert_eq!(
            messages(yaml),
            [
                r#"alertmanager.receivers[1].name: duplicate receiver name "r""#,
                "alertmanager.route.matchers: the root route must not have matchers",
                "alertmanager.route.continue: the root route cannot have continue",
                "alertmanager.route.receiver: the root route must name a default receiver",
                "alertmanager.route.group_by: '...' cannot be combined with other labels",
                "alertmanager.route.routes[0].recevier: unknown field",
                r#"alertmanager.route.routes[0].match.bad-name: invalid label name "bad-name""#,
                r#"alertmanager.route.routes[0].matchers[0]: invalid matcher "oops": expected one of =, !=, =~, !~ after the label name"#,
                r#"alertmanager.route.routes[0].group_by[1]: duplicate label "a""#,
                r#"alertmanager.route.routes[0].group_by[2]: invalid label name "b-c""#,
                "alertmanager.route.routes[0].group_interval: cannot be zero",
                "alertmanager.route.routes[0].repeat_interval: cannot be zero",
            ]
        );
    }

    #[test]
    fn receiver_validation() {
        let yaml = r#"
route: {receiver: a}
receivers:
  - name: a
    webhook_configs: [{send_resolved: false}, {url: 'ftp://x'}]
    email_configs: [{to: x@example.com}]
    slack_configs: [{channel: '#x'}]
    pagerduty_configs: [{severity: page}]
    opsgenie_configs: [{api_key: x}]
  - webhook_configs: []
"#;
        assert_eq!(messages(yaml), [
            "alertmanager.receivers[0].opsgenie_configs: not supported by nines (supported: webhook_configs, email_configs, slack_configs, pagerduty_configs, alertmanager_configs)",
            "alertmanager.receivers[0].webhook_configs[0].url: required",
            r#"alertmanager.receivers[0].webhook_configs[1].url: invalid url "ftp://x": expected http:// or https:// and a host"#,
            "alertmanager.receivers[0].email_configs[0].from: required (no global smtp_from is set)",
            "alertmanager.receivers[0].email_configs[0].smarthost: required (no global smtp_smarthost is set)",
            "alertmanager.receivers[0].slack_configs[0].api_url: required (no global slack_api_url is set)",
            "alertmanager.receivers[0].pagerduty_configs[0].routing_key: required (or service_key)",
            "alertmanager.receivers[1].name: required",
        ]);
    }

    #[test]
    fn top_level_and_yaml_errors() {
        assert_eq!(
            messages("receivers: []\nroutes: {}\n"),
            [
                "alertmanager.routes: unknown field",
                "alertmanager.route: required",
            ]
        );
        assert!(messages("route: [\n")
            .first()
            .unwrap()
            .starts_with("invalid yaml: "));
        let err =
            AlertmanagerConfig::from_value(&serde_json::json!({"route": 3}), "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.route: expected a mapping, found a number"
        );
    }

    #[test]
    fn forwarding_receivers_need_a_url_and_send_resolved_by_default() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            r#"
route: {receiver: fwd}
receivers:
  - name: fwd
    alertmanager_configs:
      - url: http://alertmanager:9093
      - url: https://am.example.com
        send_resolved: false
        http_config: {bearer_token: t0k}
"#,
        )
        .unwrap();
        let fwd = &cfg.receiver("fwd").unwrap().alertmanager_configs;
        assert_eq!(fwd.len(), 2);
        assert_eq!(fwd[0].url, "http://alertmanager:9093");
        assert!(fwd[0].send_resolved, "send_resolved defaults to true");
        assert_eq!(fwd[0].http_config, HttpConfig::default());
        assert!(!fwd[1].send_resolved);
        assert_eq!(fwd[1].http_config.bearer_token.as_deref(), Some("t0k"));

        let yaml = r#"
route: {receiver: fwd}
receivers:
  - name: fwd
    alertmanager_configs:
      - send_resolved: true
      - url: 'alertmanager:9093'
      - {url: 'http://am', timeout: 10s}
"#;
        assert_eq!(
            messages(yaml),
            [
                "alertmanager.receivers[0].alertmanager_configs[0].url: required",
                r#"alertmanager.receivers[0].alertmanager_configs[1].url: invalid url "alertmanager:9093": expected http:// or https:// and a host"#,
                "alertmanager.receivers[0].alertmanager_configs[2].timeout: unknown field",
            ]
        );
    }

    #[test]
    fn nines_options_default_and_override() {
        let base = "route: {receiver: a}\nreceivers: [{name: a}]\n";
        let defaults = AlertmanagerConfig::from_yaml_str(base).unwrap().nines;
        assert!(defaults.resolve_immediately);
        assert_eq!(defaults.flap.max_flips, 4);
        assert_eq!(defaults.flap.window, SignedDuration::from_secs(3600));
        assert_eq!(defaults, NinesOptions::default());

        let set = AlertmanagerConfig::from_yaml_str(&format!(
            "{base}nines: {{resolve_immediately: false, flap_detection: {{max_flips: 10, window: 30m}}}}\n"
        ))
        .unwrap()
        .nines;
        assert!(!set.resolve_immediately);
        assert_eq!(set.flap.max_flips, 10);
        assert_eq!(set.flap.window, SignedDuration::from_secs(1800));

        // Only the window given: the flip count keeps its default.
        let partial = AlertmanagerConfig::from_yaml_str(&format!(
            "{base}nines: {{flap_detection: {{window: 2h}}}}\n"
        ))
        .unwrap()
        .nines;
        assert_eq!(partial.flap.max_flips, 4);
        assert_eq!(partial.flap.window, SignedDuration::from_secs(7200));
        assert!(partial.resolve_immediately);
    }

    #[test]
    fn bad_nines_options_are_errors_with_paths() {
        let base = "route: {receiver: a}\nreceivers: [{name: a}]\n";
        let bad = |nines: &str| messages(&format!("{base}nines: {nines}\n"));
        assert_eq!(
            bad("{flap_detection: {window: soon}}"),
            [
                r#"alertmanager.nines.flap_detection.window: invalid duration "soon": expected a Prometheus duration such as 30s, 5m or 1h30m"#
            ]
        );
        assert_eq!(
            bad("{flap_detection: {window: 0s}}"),
            ["alertmanager.nines.flap_detection.window: must be positive"]
        );
        assert_eq!(
            bad("{flap_detection: {max_flips: -1}}"),
            ["alertmanager.nines.flap_detection.max_flips: expected a non-negative integer"]
        );
        assert_eq!(
            bad("{resolve_immediately: sometimes, flap: {}}"),
            [
                "alertmanager.nines.flap: unknown field",
                "alertmanager.nines.resolve_immediately: expected true or false, found a string",
            ]
        );
    }

    #[test]
    fn integrations_are_numbered_by_kind_then_config_order() {
        // Written in another order than the numbering on purpose.
        let cfg = AlertmanagerConfig::from_yaml_str(
            r#"
global: {smtp_from: a@example.com, smtp_smarthost: 'smtp:25', slack_api_url: 'https://slack/x'}
route: {receiver: all}
receivers:
  - name: all
    alertmanager_configs: [{url: 'http://am1'}]
    pagerduty_configs: [{routing_key: k}]
    slack_configs: [{channel: '#a'}]
    email_configs: [{to: a@example.com}, {to: b@example.com}]
    webhook_configs: [{url: 'http://w1'}, {url: 'http://w2', send_resolved: false}]
"#,
        )
        .unwrap();
        let integrations = cfg.receiver("all").unwrap().integrations();
        let kinds: Vec<&str> = integrations.iter().map(Integration::kind).collect();
        assert_eq!(
            kinds,
            [
                "webhook",
                "webhook",
                "email",
                "email",
                "slack",
                "pagerduty",
                "alertmanager"
            ]
        );
        let Integration::Webhook(second) = integrations[1] else {
            panic!("expected a webhook, got {:?}", integrations[1]);
        };
        assert_eq!(second.url, "http://w2");
        let Integration::Email(first_email) = integrations[2] else {
            panic!("expected an email, got {:?}", integrations[2]);
        };
        assert_eq!(first_email.to, "a@example.com");
        let resolved: Vec<bool> = integrations
            .iter()
            .map(Integration::send_resolved)
            .collect();
        assert_eq!(resolved, [true, false, false, false, false, true, true]);
        assert!(Receiver::default().integrations().is_empty());
    }

    #[test]
    fn message_templates_must_compile() {
        let ok = r#"
global: {smtp_from: a@example.com, smtp_smarthost: 'smtp:25', slack_api_url: 'https://slack/x'}
route: {receiver: a}
receivers:
  - name: a
    slack_configs: [{title: '{{ commonLabels.alertname }}', text: '{% for a in alerts %}{{ a.labels.instance }}{% endfor %}'}]
    email_configs: [{to: t@example.com, headers: {Subject: '[{{ status }}] {{ subject }}'}, text: 'plain', html: '<b>{{ receiver }}</b>'}]
    pagerduty_configs: [{routing_key: k, description: '{{ commonAnnotations.summary }}'}]
"#;
        let cfg = AlertmanagerConfig::from_yaml_str(ok).unwrap();
        let slack = &cfg.receivers[0].slack_configs[0];
        assert_eq!(slack.title.as_deref(), Some("{{ commonLabels.alertname }}"));

        // Alertmanager's Go templates, pasted as they are.
        let go = r#"
global: {smtp_from: a@example.com, smtp_smarthost: 'smtp:25', slack_api_url: 'https://slack/x'}
route: {receiver: a}
receivers:
  - name: a
    slack_configs: [{title: '{{ .CommonLabels.alertname }}', text: '{{ range .Alerts }}{{ .Labels.instance }}{{ end }}'}]
    email_configs: [{to: t@example.com, headers: {Subject: '{{ template "email.default.subject" . }}'}, text: '{{ .Status', html: 'fine'}]
    pagerduty_configs: [{routing_key: k, description: '{{ .CommonAnnotations.summary }}'}]
"#;
        let found = messages(go);
        let paths: Vec<&str> = found
            .iter()
            .map(|m| m.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            paths,
            [
                "alertmanager.receivers[0].email_configs[0].headers.Subject",
                "alertmanager.receivers[0].email_configs[0].text",
                "alertmanager.receivers[0].slack_configs[0].title",
                "alertmanager.receivers[0].slack_configs[0].text",
                "alertmanager.receivers[0].pagerduty_configs[0].description",
            ],
            "{found:#?}"
        );
        for m in &found {
            assert!(
                m.contains(": invalid template: "),
                "not a template error: {m}"
            );
        }
        assert!(
            found[2].contains("go template"),
            "a go template gets the hint: {}",
            found[2]
        );
    }

    #[test]
    fn time_interval_names_are_unique_and_old_key_works() {
        let yaml = r#"
route: {receiver: a, routes: [{receiver: a, mute_time_intervals: [w]}]}
receivers: [{name: a}]
mute_time_intervals: [{name: w, time_intervals: [{weekdays: [monday]}]}]
time_intervals: [{name: w}]
"#;
        assert_eq!(
            messages(yaml),
            [r#"alertmanager.mute_time_intervals[0].name: duplicate time interval name "w""#]
        );
    }
}
