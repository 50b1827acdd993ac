//! The pure core of nines' notifications, compatible with Prometheus Alertmanager.
//!
//! Nothing here does IO, reads a clock or spawns a task: every function that needs "now" takes
//! it as a parameter, and every decision is a value the server stores (in the same transaction
//! as the state change that causes it) and acts on.
//!
//! Map of the modules:
//!
//! - [`labels`]: [`LabelSet`] (sorted), [`Fingerprint`] — FNV-1a 64 exactly as Alertmanager's.
//! - [`matcher`]: `=`, `!=`, `=~`, `!~` matchers (anchored regexes) from the `matchers:` string
//!   syntax, legacy `match`/`match_re` and API v2 `{name, value, isRegex, isEqual}`.
//! - [`duration`]: Prometheus durations (`1h30m`).
//! - [`config`]: Alertmanager's configuration (the nines config's `alertmanager:` key):
//!   global, route tree, receivers, inhibit rules, time intervals, validated with field paths.
//! - [`route`]: the routing tree — which routes (receiver, grouping, timings) an alert takes,
//!   group labels and Alertmanager's group key.
//! - [`dispatch`]: alerts into aggregation groups (route × group labels) with their keys.
//! - [`alert`]: an alert and the API v2 defaults (`startsAt`, `endsAt` as a lease).
//! - [`inhibit`]: whether a firing alert inhibits another.
//! - [`silence`]: silences, their state at `now`, and create/update/expire as pure functions.
//! - [`status`]: what suppresses an alert now (silences, inhibition, maintenance windows) and
//!   the API v2 alert shape.
//! - [`timeinterval`]: mute/active time intervals and weekly maintenance windows in a zone.
//! - [`webhook`]: the version-4 webhook payload and Standard Webhooks signatures.
//! - [`receivers`]: default PagerDuty (Events API v2, dedup key per group), Slack and email
//!   bodies, and Alertmanager's default subject line.
//! - [`delivery`]: after a delivery attempt — done, retry when (backoff with jitter,
//!   `Retry-After` on 429/503), or give up (other 4xx).
//! - [`group`]: the aggregation-group state machine (group_wait/interval/repeat, acks,
//!   flapping, resolution).
//! - [`reader`]: the field-path reader behind the config's error messages.
//!
//! Not here, by design: storage (alerts, group states and flap histories serialize with
//! serde; silences through their API v2 shape), acknowledgements, the outbox and its clock,
//! HTTP endpoints, and the senders (HTTP client, SMTP) — the server composes those around
//! these functions.
#![forbid(unsafe_code)]

pub mod alert;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod duration;
pub mod group;
pub mod inhibit;
pub mod labels;
pub mod matcher;
pub mod reader;
pub mod receivers;
pub mod route;
pub mod silence;
pub mod status;
pub mod template;
pub mod timeinterval;
pub mod webhook;

pub use alert::{Alert, AlertStatus, PostableAlert};
pub use config::{AlertmanagerConfig, Receiver};
pub use dispatch::{group_alerts, Group};
pub use duration::{format_duration, parse_duration};
pub use group::{GroupAlert, GroupOptions, GroupState, Notification, Step};
pub use inhibit::{inhibited_by, InhibitRule};
pub use labels::{fingerprint, Fingerprint, LabelSet};
pub use matcher::{ApiMatcher, MatchOp, Matcher, Matchers};
pub use reader::ConfigIssue;
pub use route::{Route, RoutePath};
pub use silence::{silenced, PostableSilence, Silence, SilenceChange, SilenceState};
pub use status::{suppression, GettableAlert, Suppression};
pub use timeinterval::{NamedTimeInterval, TimeInterval, WeeklyWindow};
pub use webhook::{sign_standard_webhook, WebhookMessage};

/// Errors of the notification core.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("invalid matcher {input:?}: {reason}")]
    Matcher { input: String, reason: String },
    #[error("invalid regex {pattern:?}: {reason}")]
    Regex { pattern: String, reason: String },
    #[error("invalid duration {0:?}: expected a Prometheus duration such as 30s, 5m or 1h30m")]
    Duration(String),
    #[error("invalid fingerprint {0:?}: expected 16 hex digits")]
    Fingerprint(String),
    #[error("invalid yaml: {0}")]
    Yaml(String),
    #[error("{}", join_issues(.0))]
    Config(Vec<ConfigIssue>),
    #[error("invalid alert: {0}")]
    Alert(String),
    #[error("invalid silence: {0}")]
    Silence(String),
    #[error("silence {0} not found")]
    SilenceNotFound(String),
    #[error("invalid webhook secret: {0}")]
    Secret(String),
}

fn join_issues(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
