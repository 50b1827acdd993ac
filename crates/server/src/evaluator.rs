//! The evaluator: every tick (half a bucket by default) each SLO of the running config is
//! evaluated from the store, its report kept for the API, and its alert policy's tiers stepped
//! through an [`slo::AlertStateMachine`]. With an audit key, every transition is saved in the
//! store (audited) and the first round after a start restores the saved states, so a firing
//! alert survives a restart; transitions are kept in memory as a bounded history.

use crate::loaded::{Loaded, SloEntry};
use crate::state::AppState;
use serde::Serialize;
use slo::{AlertPolicy, AlertState, AlertStateMachine, SloReport};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Transitions kept for `GET /api/v1/alerts`.
const HISTORY: usize = 1000;

/// One alert transition, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    pub slo: String,
    pub tier: usize,
    pub severity: &'static str,
    pub from: AlertState,
    pub to: AlertState,
    pub at: String,
    pub at_unix: i64,
}

/// The alerting of one SLO.
pub struct AlertRuntime {
    pub policy: AlertPolicy,
    fingerprint: String,
    pub machine: AlertStateMachine,
    pub conditions: Vec<bool>,
}

/// What the evaluator knows about one SLO.
#[derive(Default)]
pub struct SloRuntime {
    pub report: Option<SloReport>,
    pub evaluated_at: Option<i64>,
    pub error: Option<String>,
    pub alerts: Option<AlertRuntime>,
}

#[derive(Default)]
pub struct EvalState {
    pub slos: HashMap<String, SloRuntime>,
    pub history: VecDeque<AlertEvent>,
    /// Completed evaluation rounds.
    pub rounds: u64,
    /// Saved alert states not yet applied (loaded before a round that rebuilds the state
    /// machines), by SLO key.
    restored: HashMap<String, Vec<store::AlertStateRecord>>,
    /// The leadership epoch whose state machines are in memory and stepped; `None` while
    /// following (the machines are rebuilt from the store every round, to show the leader's
    /// states) and before the first round.
    stepped_epoch: Option<u64>,
    /// When idempotency keys were last pruned.
    pruned_at: Option<Instant>,
}

/// How long an `Idempotency-Key` is remembered: a client retrying later counts again.
pub const REQUEST_ID_RETENTION_SECONDS: i64 = 24 * 3600;

/// Applies saved states to a new state machine; tiers whose severity no longer matches (the
/// policy changed) start fresh.
fn restore(machine: &mut AlertStateMachine, saved: &[store::AlertStateRecord]) {
    for record in saved {
        let Some((tier, severity)) = record.tier.split_once(':') else {
            continue;
        };
        let (Ok(tier), Some(state)) = (tier.parse::<usize>(), AlertState::parse(&record.state))
        else {
            continue;
        };
        let severity = match severity {
            "page" => slo::Severity::Page,
            "ticket" => slo::Severity::Ticket,
            _ => continue,
        };
        machine.restore(tier, severity, state, record.since);
    }
}

/// Loads the saved alert states for the state machines to be rebuilt from: before the first
/// round, on every round of a follower (the leader saves them), and on the first round after
/// gaining leadership. False when the store could not be read.
async fn load_saved_states(state: &AppState) -> bool {
    if !state.persists_control() {
        state.eval_write().restored.clear();
        return true;
    }
    match state.store.alert_states().await {
        Ok(records) => {
            let mut by_slo: HashMap<String, Vec<store::AlertStateRecord>> = HashMap::new();
            for r in records {
                by_slo.entry(r.slo.clone()).or_default().push(r);
            }
            state.eval_write().restored = by_slo;
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not load saved alert states");
            false
        }
    }
}

/// Forgets idempotency keys older than the retention, at most once an hour.
async fn prune_request_ids(state: &AppState) {
    let due = state
        .eval_read()
        .pruned_at
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(3600));
    if !due {
        return;
    }
    state.eval_write().pruned_at = Some(Instant::now());
    let before = crate::now() - REQUEST_ID_RETENTION_SECONDS;
    if let Err(e) = state.store.prune_request_ids(before).await {
        tracing::error!(error = %e, "pruning idempotency keys failed");
    }
}

/// The default tick: half the smallest bucket, between 1 s and 60 s.
pub fn default_interval(loaded: &Loaded) -> Duration {
    let smallest = loaded
        .slos
        .iter()
        .map(|s| s.config.spec.bucket_seconds)
        .min()
        .unwrap_or(60);
    Duration::from_millis(u64::try_from(smallest.clamp(2, 120) * 500).unwrap_or(30_000))
}

/// Runs until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        evaluate_all(&state).await;
        let interval = state
            .settings
            .eval_interval
            .unwrap_or_else(|| default_interval(&state.config()));
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.eval_now.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The result of evaluating one SLO off the async threads.
struct Evaluated {
    report: Result<SloReport, String>,
    conditions: Vec<bool>,
}

/// Evaluates every SLO once at the current time. Reports are computed on every replica;
/// the alert state machines are stepped, saved and handed to the notifier by the leader
/// only. A follower rebuilds them from the saved states each round (so its API shows the
/// leader's alerts), and so does a replica on its first round as leader: it continues from
/// what the previous leader saved instead of starting every tier afresh.
pub async fn evaluate_all(state: &AppState) {
    let started = Instant::now();
    let leading = state.leader.leading();
    let rebuild = leading.is_none() || state.eval_read().stepped_epoch != leading;
    // A new leader that cannot read the saved states does not step this round: fresh state
    // machines would fire (and notify) everything again.
    let reloaded = rebuild && load_saved_states(state).await;
    let step = leading.is_some() && (!rebuild || reloaded);
    if step {
        prune_request_ids(state).await;
    }
    let loaded = state.config();
    let now = crate::eval_now();
    let mut results = Vec::with_capacity(loaded.slos.len());
    for entry in &loaded.slos {
        let result = evaluate_one(state, entry, now).await;
        state
            .metrics
            .evaluations
            .get_or_create(&crate::metrics::outcome(result.report.is_ok()))
            .inc();
        results.push(result);
    }
    let (persist, firing) = {
        let mut persist: Vec<store::AlertStateRecord> = Vec::new();
        let mut guard = state.eval_write();
        let eval = &mut *guard;
        eval.slos.retain(|key, _| loaded.by_key.contains_key(key));
        if reloaded {
            for runtime in eval.slos.values_mut() {
                runtime.alerts = None;
            }
        }
        let mut firing = 0i64;
        for (entry, result) in loaded.slos.iter().zip(results) {
            let runtime = eval.slos.entry(entry.key.clone()).or_default();
            runtime.evaluated_at = Some(now);
            match result.report {
                Ok(report) => {
                    runtime.report = Some(report);
                    runtime.error = None;
                }
                Err(e) => runtime.error = Some(e),
            }
            // Keep the state machine across reloads while the policy is unchanged.
            let fingerprint = format!("{:?}", entry.config.alert_policy);
            match &entry.config.alert_policy {
                None => runtime.alerts = None,
                Some(policy) => {
                    if runtime
                        .alerts
                        .as_ref()
                        .is_none_or(|a| a.fingerprint != fingerprint)
                    {
                        let mut machine = AlertStateMachine::new(policy);
                        if let Some(saved) = eval.restored.remove(&entry.key) {
                            restore(&mut machine, &saved);
                        }
                        runtime.alerts = Some(AlertRuntime {
                            policy: policy.clone(),
                            fingerprint,
                            machine,
                            conditions: Vec::new(),
                        });
                    }
                }
            }
            let mut events = Vec::new();
            if let Some(alerts) = runtime.alerts.as_mut() {
                let transitions = if step {
                    alerts.machine.step(now, &result.conditions)
                } else {
                    Vec::new()
                };
                alerts.conditions = result.conditions;
                for t in transitions {
                    persist.push(store::AlertStateRecord {
                        slo: entry.key.clone(),
                        tier: format!("{}:{}", t.tier, t.severity.as_str()),
                        state: t.to.as_str().to_string(),
                        since: alerts.machine.since(t.tier).unwrap_or(t.at),
                        updated_at: now,
                    });
                    events.push(AlertEvent {
                        slo: entry.key.clone(),
                        tier: t.tier,
                        severity: t.severity.as_str(),
                        from: t.from,
                        to: t.to,
                        at: crate::format_time(t.at),
                        at_unix: t.at,
                    });
                }
                firing += (0..alerts.machine.tier_count())
                    .filter(|&i| alerts.machine.state(i) == Some(AlertState::Firing))
                    .count() as i64;
            }
            for event in events {
                if eval.history.len() >= HISTORY {
                    eval.history.pop_front();
                }
                eval.history.push_back(event);
            }
        }
        eval.rounds += 1;
        if step {
            eval.stepped_epoch = leading;
        } else if leading.is_none() {
            eval.stepped_epoch = None;
        }
        (persist, firing)
    };
    // Asked again before each write: leadership may have ended during the round.
    let still_leading = || step && state.leader.leading() == leading;
    if !persist.is_empty() && state.persists_control() && still_leading() {
        let mut audit = store::AuditEntry::new(now, "evaluator", "alert.transition", "alerts");
        audit.details = serde_json::json!({ "transitions": persist.len() });
        let saved = state.store.save_alert_states(&persist, &audit).await;
        state
            .metrics
            .alert_state_saves
            .get_or_create(&crate::metrics::outcome(saved.is_ok()))
            .inc();
    }
    // Only the leader's count: summed over replicas, the followers' copies would count every
    // firing tier once per replica.
    state
        .metrics
        .alerts_firing
        .set(if step { firing } else { 0 });
    if still_leading() {
        let slo_alerts = slo_alerts(state, &loaded);
        if let Err(e) = state
            .notifier
            .sync_slo_alerts(state.store.as_ref(), slo_alerts, jiff::Timestamp::now())
            .await
        {
            tracing::error!(error = %e.message, "handing SLO alerts to the notifier failed");
        }
    }
    state
        .metrics
        .evaluation_duration
        .observe(started.elapsed().as_secs_f64());
}

/// The notifier's view of the firing tiers: one alert per (SLO, severity), labelled
/// `alertname`, `service`, `slo`, `severity`, starting when its earliest firing tier did.
fn slo_alerts(state: &AppState, loaded: &Loaded) -> Vec<notify::Alert> {
    let eval = state.eval_read();
    let mut out: BTreeMap<(String, &'static str), notify::Alert> = BTreeMap::new();
    for entry in &loaded.slos {
        let Some(alerts) = eval.slos.get(&entry.key).and_then(|r| r.alerts.as_ref()) else {
            continue;
        };
        for (tier, (_, t)) in alerts.policy.tiers().enumerate() {
            if alerts.machine.state(tier) != Some(AlertState::Firing) {
                continue;
            }
            let since = alerts.machine.since(tier).unwrap_or_else(crate::now);
            let starts_at =
                jiff::Timestamp::from_second(since).unwrap_or_else(|_| jiff::Timestamp::now());
            let spec = &entry.config.spec;
            let severity = t.severity.as_str();
            let alert = out.entry((entry.key.clone(), severity)).or_insert_with(|| {
                let mut labels = notify::LabelSet::new();
                labels.insert("alertname", crate::notifier::SLO_ALERTNAME);
                labels.insert("service", spec.service.as_str());
                labels.insert("slo", spec.name.as_str());
                labels.insert("severity", severity);
                let mut annotations = notify::LabelSet::new();
                annotations.insert(
                    "summary",
                    format!(
                        "{}/{} is burning its error budget too fast",
                        spec.service, spec.name
                    ),
                );
                if let Some(d) = &entry.config.description {
                    annotations.insert("description", d.as_str());
                }
                notify::Alert {
                    labels,
                    annotations,
                    starts_at,
                    ends_at: starts_at,
                    generator_url: format!(
                        "{}/api/v1/slos/{}/{}",
                        state.settings.external_url, spec.service, spec.name
                    ),
                }
            });
            alert.starts_at = alert.starts_at.min(starts_at);
        }
    }
    out.into_values().collect()
}

/// Evaluates one SLO at `at` from its stored counters (or its Prometheus queries, see
/// [`crate::prom_source`]): what `GET /api/v1/slos` and `nines report` both answer.
/// The maths runs off the async threads.
pub async fn evaluate_stored(
    store: &dyn store::Store,
    prometheus: Option<&crate::prom_source::Prometheus>,
    config: &spec::SloConfig,
    at: i64,
) -> Result<SloReport, crate::Error> {
    let spec = &config.spec;
    let failed = |source| crate::Error::Evaluate {
        slo: spec.key(),
        source,
    };
    let from = slo::lookback_start(spec, at).map_err(failed)?;
    let rows = crate::prom_source::counts(store, prometheus, config, from, at).await?;
    let spec = spec.clone();
    let work = move || {
        let series = slo::Series::for_slo(
            &spec,
            from,
            at,
            rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
        );
        slo::evaluate(&spec, &series, at).map_err(|source| crate::Error::Evaluate {
            slo: spec.key(),
            source,
        })
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::Error::Task(e.to_string()))?
}

async fn evaluate_one(state: &AppState, entry: &SloEntry, now: i64) -> Evaluated {
    let spec = entry.config.spec.clone();
    let policy = entry.config.alert_policy.clone();
    let bucket = spec.bucket_seconds.max(1);
    // Alert conditions are taken at the end of the current bucket, so the bucket in progress
    // counts as soon as it has data.
    let cond_at = now.div_euclid(bucket) * bucket + bucket;
    let lookback = match slo::lookback_start(&spec, now) {
        Ok(from) => from,
        Err(e) => {
            return Evaluated {
                report: Err(e.to_string()),
                conditions: Vec::new(),
            }
        }
    };
    let from = policy
        .as_ref()
        .map_or(lookback, |p| lookback.min(cond_at - p.max_long_window()));
    let rows = match crate::prom_source::state_counts(state, &entry.config, from, cond_at).await {
        Ok(rows) => rows,
        Err(e) => {
            return Evaluated {
                report: Err(format!("reading counters: {e}")),
                conditions: Vec::new(),
            }
        }
    };
    let work = move || {
        let series = slo::Series::for_slo(
            &spec,
            from,
            cond_at,
            rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
        );
        let report = slo::evaluate(&spec, &series, now).map_err(|e| e.to_string());
        let mut conditions = Vec::new();
        if let Some(policy) = &policy {
            slo::conditions_at(policy, &series, &spec, cond_at, &mut conditions);
        }
        Evaluated { report, conditions }
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(evaluated) => evaluated,
        Err(e) => Evaluated {
            report: Err(format!("evaluation task failed: {e}")),
            conditions: Vec::new(),
        },
    }
}
