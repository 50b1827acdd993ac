//! Self-monitoring in the Prometheus text format (prometheus-client).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

/// What retention deleted from: `counters` or `notifications`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    /// `api` or `ingest`: the rate-limit budget.
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    pub replica: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub rate_limited: Family<ClassLabels, Counter>,
    pub ingest_records: Family<EndpointLabels, Counter>,
    pub ingest_rejected: Family<EndpointLabels, Counter>,
    pub commits: Family<OutcomeLabels, Counter>,
    pub commit_duration: Histogram,
    pub commit_group_size: Histogram,
    /// Rows deleted by retention ([`crate::retention`]), by table.
    pub retention_pruned: Family<TableLabels, Counter>,
    /// Retention runs by outcome.
    pub retention_runs: Family<OutcomeLabels, Counter>,
    pub evaluations: Family<OutcomeLabels, Counter>,
    pub evaluation_duration: Histogram,
    pub config_reloads: Family<OutcomeLabels, Counter>,
    pub config_generation: Gauge,
    pub alerts_firing: Gauge,
    pub alert_state_saves: Family<OutcomeLabels, Counter>,
    pub report_cache_hits: Counter,
    /// Notifications written to the outbox.
    pub notifications_enqueued: Counter,
    /// Alerts the notifier holds (firing and recently resolved).
    pub notify_alerts: Gauge,
    /// 1 while this replica leads (labelled with its name), else 0.
    pub leader: Family<ReplicaLabels, Gauge>,
    /// Gains and losses of leadership.
    pub leader_transitions: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nines");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let rate_limited = Family::<ClassLabels, Counter>::default();
        registry.register(
            "http_rate_limited",
            "Requests refused with 429 because the caller's rate limit was reached, by budget",
            rate_limited.clone(),
        );
        let retention_pruned = Family::<TableLabels, Counter>::default();
        registry.register(
            "retention_pruned_rows",
            "Rows deleted because they were older than the retention, by table",
            retention_pruned.clone(),
        );
        let retention_runs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "retention_runs",
            "Retention runs (hourly, on the leader) by outcome",
            retention_runs.clone(),
        );
        let ingest_records = Family::<EndpointLabels, Counter>::default();
        let ingest_rejected = Family::<EndpointLabels, Counter>::default();
        let commits = Family::<OutcomeLabels, Counter>::default();
        let commit_duration = latency_histogram();
        let commit_group_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let evaluations = Family::<OutcomeLabels, Counter>::default();
        let evaluation_duration = latency_histogram();
        let config_reloads = Family::<OutcomeLabels, Counter>::default();
        let config_generation = Gauge::default();
        let alerts_firing = Gauge::default();
        let alert_state_saves = Family::<OutcomeLabels, Counter>::default();
        let report_cache_hits = Counter::default();
        let notifications_enqueued = Counter::default();
        let notify_alerts = Gauge::default();
        let leader = Family::<ReplicaLabels, Gauge>::default();
        let leader_transitions = Counter::default();
        registry.register(
            "leader",
            "1 while this replica is the leader (evaluates alerts and notifies), 0 otherwise",
            leader.clone(),
        );
        registry.register(
            "leader_transitions",
            "Times this replica gained or lost leadership",
            leader_transitions.clone(),
        );
        registry.register(
            "notifications_enqueued",
            "Notifications written to the outbox, one per receiver integration",
            notifications_enqueued.clone(),
        );
        registry.register(
            "notify_alerts",
            "Alerts the notification pipeline holds (firing and recently resolved)",
            notify_alerts.clone(),
        );
        registry.register(
            "report_cache_hits",
            "SLO reads answered from a report computed for the same second with no commit since",
            report_cache_hits.clone(),
        );
        registry.register(
            "alert_state_saves",
            "Writes of alert state transitions to the store by outcome",
            alert_state_saves.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_duration.clone(),
        );
        registry.register(
            "ingest_records",
            "Records (events, log lines) accepted by the ingestion endpoints",
            ingest_records.clone(),
        );
        registry.register(
            "ingest_rejected_records",
            "Records rejected by the ingestion endpoints",
            ingest_rejected.clone(),
        );
        registry.register(
            "ingest_commits",
            "Store commits of ingested counters by outcome",
            commits.clone(),
        );
        registry.register(
            "ingest_commit_duration_seconds",
            "Duration of one group commit",
            commit_duration.clone(),
        );
        registry.register(
            "ingest_commit_group_requests",
            "Requests sharing one group commit",
            commit_group_size.clone(),
        );
        registry.register(
            "evaluations",
            "SLO evaluations by outcome",
            evaluations.clone(),
        );
        registry.register(
            "evaluation_duration_seconds",
            "Duration of one evaluation round over every SLO",
            evaluation_duration.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by outcome",
            config_reloads.clone(),
        );
        registry.register(
            "config_generation",
            "Generation of the running configuration",
            config_generation.clone(),
        );
        registry.register(
            "alerts_firing",
            "Alert tiers firing now",
            alerts_firing.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            rate_limited,
            retention_pruned,
            retention_runs,
            ingest_records,
            ingest_rejected,
            commits,
            commit_duration,
            commit_group_size,
            evaluations,
            evaluation_duration,
            config_reloads,
            config_generation,
            alerts_firing,
            alert_state_saves,
            report_cache_hits,
            notifications_enqueued,
            notify_alerts,
            leader,
            leader_transitions,
        }
    }

    /// Sets `nines_leader` for `replica` without counting a transition (start-up).
    pub fn set_leader(&self, replica: &str, leading: bool) {
        self.leader
            .get_or_create(&ReplicaLabels {
                replica: replica.to_string(),
            })
            .set(i64::from(leading));
    }

    /// A gain or loss of leadership.
    pub fn leader_changed(&self, replica: &str, leading: bool) {
        self.set_leader(replica, leading);
        self.leader_transitions.inc();
    }

    pub fn record_commit(&self, requests: usize, seconds: f64, ok: bool) {
        self.commits.get_or_create(&outcome(ok)).inc();
        self.commit_duration.observe(seconds);
        self.commit_group_size.observe(requests as f64);
    }

    pub fn count_ingest(&self, endpoint: &str, accepted: u64, rejected: u64) {
        let labels = EndpointLabels {
            endpoint: endpoint.to_string(),
        };
        self.ingest_records.get_or_create(&labels).inc_by(accepted);
        self.ingest_rejected.get_or_create(&labels).inc_by(rejected);
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

pub fn outcome(ok: bool) -> OutcomeLabels {
    OutcomeLabels {
        outcome: if ok { "ok" } else { "error" }.to_string(),
    }
}
