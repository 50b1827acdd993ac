//! The validated configuration: what the rest of nines reads.

use std::fmt;

/// Everything loaded from the configuration files, all references resolved.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Services in the order they were first defined.
    pub services: Vec<ServiceConfig>,
    /// OpenSLO `DataSource` documents.
    pub data_sources: Vec<DataSource>,
    /// OpenSLO `AlertPolicy` documents and alert policies written inline in SLOs.
    pub alert_policies: Vec<AlertPolicy>,
    /// OpenSLO `AlertCondition` documents and conditions written inline in alert policies.
    pub alert_conditions: Vec<AlertCondition>,
    /// OpenSLO `AlertNotificationTarget` documents and targets written inline.
    pub notification_targets: Vec<NotificationTarget>,
    /// The native top-level `alertmanager:` (Alertmanager's configuration format: route
    /// tree, receivers, inhibit rules, time intervals, plus nines' additions), validated by
    /// the `notify` crate. At most one in the whole configuration.
    pub alertmanager: Option<notify::AlertmanagerConfig>,
    /// The native top-level `incidents:` (at most one in the whole configuration); the
    /// defaults (nothing declared automatically, no stakeholder receiver) when absent.
    pub incidents: IncidentSettings,
    /// The native top-level `prometheus:` (at most one): the HTTP API that `source:
    /// prometheus` SLIs are evaluated from. Without it those SLOs read local counters.
    pub prometheus: Option<PrometheusSource>,
}

/// The native top-level `prometheus:`: where and how to query a Prometheus-compatible API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSource {
    /// The API root without a trailing `/`: `http://prometheus:9090`, or a prefix such as
    /// `https://mimir.example.com/prometheus`.
    pub url: String,
    pub auth: PrometheusAuth,
    /// Sent in [`PrometheusSource::tenant_header`] on every request (Mimir, Cortex).
    pub tenant: Option<String>,
    /// `X-Scope-OrgID` unless configured.
    pub tenant_header: String,
    /// Per HTTP request.
    pub timeout_seconds: i64,
    /// A bucket whose end is at least this old is not queried again (`None`: two buckets).
    pub settle_seconds: Option<i64>,
    pub origin: Location,
}

/// How nines authenticates to the Prometheus API. Secrets are only ever read from files
/// (relative paths already resolved against the configuration file's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrometheusAuth {
    None,
    /// `Authorization: Bearer <file content, trimmed>`.
    Bearer {
        token_file: std::path::PathBuf,
    },
    /// `Authorization: Basic ...` with the password from a file (trimmed).
    Basic {
        username: String,
        password_file: std::path::PathBuf,
    },
}

/// What a Prometheus SLI query returns for one bucket once `{{window}}` is the bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryScale {
    /// A per-second rate (`rate`, `irate`: the form Sloth and nines' rule generator use):
    /// multiplied by the bucket width to give events.
    PerSecond,
    /// Already a number of events (`increase`, `sum_over_time`, `count_over_time`, or no
    /// range function at all).
    Events,
}

/// The native top-level `incidents:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentSettings {
    /// `auto_declare:`: a firing alert that matches declares an incident; `None` when the
    /// key is absent (incidents are only declared by hand).
    pub auto_declare: Option<AutoDeclare>,
    /// `stakeholder_receiver:`: the name of a receiver of the `alertmanager:` section
    /// (checked at load) through which stakeholder updates are sent.
    pub stakeholder_receiver: Option<String>,
}

/// `incidents.auto_declare`: which firing alerts declare an incident, and at what severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoDeclare {
    /// Every matcher must match (Alertmanager matcher strings, each one or more matchers);
    /// `{severity="page"}` by default. Never empty.
    pub matchers: notify::Matchers,
    /// The declared incident's severity, 1 (SEV1, the worst) to 5 (SEV5); 2 by default.
    pub severity: u8,
}

impl AutoDeclare {
    /// The default severity, SEV2.
    pub const DEFAULT_SEVERITY: u8 = 2;
    /// The default matcher, as written in the configuration.
    pub const DEFAULT_MATCHERS: &'static str = r#"severity="page""#;
}

impl Config {
    /// Every SLO of every service.
    pub fn slos(&self) -> impl Iterator<Item = &SloConfig> {
        self.services.iter().flat_map(|s| s.slos.iter())
    }

    /// The SLO with the key `service/name`.
    pub fn slo(&self, key: &str) -> Option<&SloConfig> {
        self.slos().find(|slo| slo.spec.key() == key)
    }
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: String,
    pub description: Option<String>,
    pub slos: Vec<SloConfig>,
    /// Where the service was declared (for OpenSLO services known only through an SLO's
    /// `spec.service`, that SLO's location).
    pub origin: Location,
}

#[derive(Debug, Clone)]
pub struct SloConfig {
    /// The resolved SLO: service, name, objective (ratio), window, budgeting, exclusions.
    pub spec: slo::SloSpec,
    pub description: Option<String>,
    pub sli: SliConfig,
    /// The budgeting method as written. `spec.budgeting` holds what the SLO maths supports:
    /// `RatioTimeslices` is represented there as `Occurrences` until the maths has it.
    pub budgeting_method: BudgetingMethod,
    /// Names of the alert policies (in [`Config::alert_policies`]) attached to the SLO.
    pub alert_policies: Vec<String>,
    /// The SLO's alerting, fully resolved: tiers in seconds, burn rates scaled to the SLO's
    /// window. It comes from, in order: the SLO's own `alerting:` (native) or attached
    /// `alertPolicies` (OpenSLO, each burn-rate `AlertCondition` one `burn_rate` tier), the
    /// configuration's top-level `alerting:`, or the default multiwindow multi-burn-rate
    /// policy. `None` for `policy: none` (no alerting).
    pub alert_policy: Option<slo::alerting::AlertPolicy>,
    /// Which format the SLO was written in.
    pub format: Format,
    /// Where the SLO was defined.
    pub origin: Location,
}

/// The configuration format a definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `apiVersion: nines/v1`.
    Native,
    /// `apiVersion: openslo/v1`.
    OpenSlo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetingMethod {
    /// Count events.
    Occurrences,
    /// Count good slices: a slice is good when its ratio reaches the slice target.
    Timeslices,
    /// Average the per-slice ratios (OpenSLO `RatioTimeslices`).
    RatioTimeslices,
}

/// A position in a configuration file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone)]
pub struct SliConfig {
    pub kind: SliKind,
    pub source: SourceKind,
    pub query: SliQuery,
}

/// What an SLI measures. Every kind is the same maths (good / total); the kind documents
/// intent and enables kind-specific checks (a latency SLI needs a latency condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliKind {
    Availability,
    Latency,
    Freshness,
    Correctness,
    Durability,
    Throughput,
}

impl SliKind {
    pub const ALL: [(&'static str, SliKind); 6] = [
        ("availability", SliKind::Availability),
        ("latency", SliKind::Latency),
        ("freshness", SliKind::Freshness),
        ("correctness", SliKind::Correctness),
        ("durability", SliKind::Durability),
        ("throughput", SliKind::Throughput),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SliKind::Availability => "availability",
            SliKind::Latency => "latency",
            SliKind::Freshness => "freshness",
            SliKind::Correctness => "correctness",
            SliKind::Durability => "durability",
            SliKind::Throughput => "throughput",
        }
    }
}

/// Where an SLI's events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Web server access logs.
    AccessLog,
    /// JSON events posted by clients.
    Events,
    /// Prometheus remote-write.
    RemoteWrite,
    /// OTLP metrics and traces.
    Otlp,
    /// PromQL queries against a Prometheus-compatible server.
    Prometheus,
    /// A metric source nines cannot read yet (an OpenSLO `metricSource.type` such as
    /// `Datadog`), kept as data.
    External(String),
}

impl SourceKind {
    /// The native spellings.
    pub const NATIVE: [(&'static str, SourceKind); 5] = [
        ("access_log", SourceKind::AccessLog),
        ("events", SourceKind::Events),
        ("remote_write", SourceKind::RemoteWrite),
        ("otlp", SourceKind::Otlp),
        ("prometheus", SourceKind::Prometheus),
    ];

    /// Whether the SLI is written as metric selectors / PromQL strings rather than
    /// record matchers.
    pub fn uses_queries(&self) -> bool {
        matches!(self, SourceKind::RemoteWrite | SourceKind::Prometheus)
    }
}

/// How good and total events are selected.
#[derive(Debug, Clone)]
pub enum SliQuery {
    /// Record matchers (access logs, events).
    Matchers(ingest::SliMatcher),
    /// Server spans (`source: otlp` with a `total` mapping, or none): `total` selects spans
    /// by service (defaulting to the SLO's service), span name and route (regexes anchored
    /// as in PromQL); `good` is the status and latency condition.
    Spans {
        total: ingest::otlp::SpanSelector,
        good: ingest::GoodCondition,
    },
    /// Metric selectors (remote-write, or OTLP metrics when `source: otlp` has a string
    /// `total`) or PromQL (Prometheus). At least one of `good` and `bad` is set. Metric
    /// selectors are known to parse with [`ingest::SeriesSelector::parse`].
    Queries {
        total: String,
        good: Option<String>,
        bad: Option<String>,
    },
    /// An OpenSLO ratio metric from a source nines cannot read yet, kept as written.
    Ratio {
        total: Option<MetricSource>,
        good: Option<MetricSource>,
        bad: Option<MetricSource>,
    },
    /// An OpenSLO raw ratio metric: the source already reports a success (or failure) ratio.
    RawRatio {
        metric: MetricSource,
        raw_type: RawType,
    },
    /// An OpenSLO threshold metric: an event is good when `metric op value` holds.
    Threshold {
        metric: MetricSource,
        op: ThresholdOp,
        value: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawType {
    Success,
    Failure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl ThresholdOp {
    /// Whether `measured op threshold` holds.
    pub fn holds(self, measured: f64, threshold: f64) -> bool {
        match self {
            ThresholdOp::Lt => measured < threshold,
            ThresholdOp::Lte => measured <= threshold,
            ThresholdOp::Gt => measured > threshold,
            ThresholdOp::Gte => measured >= threshold,
        }
    }
}

/// An OpenSLO metric source, resolved through `metricSourceRef` when it names a DataSource.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSource {
    /// The source type (`Prometheus`, `Datadog`, ...), from the metric source or the
    /// referenced DataSource.
    pub source_type: String,
    pub source_ref: Option<String>,
    /// The source-specific query fields, as written.
    pub spec: Value,
}

impl MetricSource {
    /// The PromQL of a Prometheus source (`spec.query` or `spec.promql`).
    pub fn promql(&self) -> Option<&str> {
        ["query", "promql"]
            .iter()
            .find_map(|key| self.spec.get(key).and_then(Value::as_str))
    }
}

/// Free-form data kept from the configuration (OpenSLO `spec` and `connectionDetails`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// OpenSLO `DataSource`.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub name: String,
    pub description: Option<String>,
    pub source_type: String,
    pub connection_details: Value,
    pub origin: Location,
}

/// OpenSLO `AlertPolicy`, references resolved to names.
#[derive(Debug, Clone)]
pub struct AlertPolicy {
    pub name: String,
    pub description: Option<String>,
    pub alert_when_no_data: bool,
    pub alert_when_resolved: bool,
    pub alert_when_breaching: bool,
    /// Names of conditions in [`Config::alert_conditions`].
    pub conditions: Vec<String>,
    /// Names of targets in [`Config::notification_targets`].
    pub notification_targets: Vec<String>,
    pub origin: Location,
}

/// OpenSLO `AlertCondition` (kind `burnrate`).
#[derive(Debug, Clone)]
pub struct AlertCondition {
    pub name: String,
    pub description: Option<String>,
    pub severity: String,
    pub op: ThresholdOp,
    /// The burn rate threshold.
    pub threshold: f64,
    /// Seconds.
    pub lookback_window: i64,
    /// Seconds the condition must hold before the alert fires.
    pub alert_after: Option<i64>,
    pub origin: Location,
}

/// OpenSLO `AlertNotificationTarget`.
#[derive(Debug, Clone)]
pub struct NotificationTarget {
    pub name: String,
    pub description: Option<String>,
    pub target: String,
    pub origin: Location,
}
