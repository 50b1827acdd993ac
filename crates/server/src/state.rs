//! The shared state every handler and task holds (`Arc<AppState>`).

use crate::commit::Committer;
use crate::evaluator::EvalState;
use crate::loaded::{load, ConfigSource, Loaded};
use crate::metrics::Metrics;
use crate::Settings;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use store::Store;
use tokio::sync::Notify;

/// A deployment or other change, for annotating budgets (kept in memory: the store has no
/// table for changes yet).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: u64,
    pub service: String,
    pub version: Option<String>,
    pub time: String,
    pub time_unix: i64,
    pub description: Option<String>,
}

pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    config: RwLock<Arc<Loaded>>,
    source: ConfigSource,
    /// Serializes reloads so generations stay ordered.
    reload_lock: tokio::sync::Mutex<()>,
    pub committer: Committer,
    pub metrics: Arc<Metrics>,
    eval: RwLock<EvalState>,
    /// Wakes the evaluator (after a reload).
    pub eval_now: Notify,
    changes: RwLock<Vec<Change>>,
    /// False until the first evaluation round and again once shutting down.
    ready: AtomicBool,
    /// Requests without a token may read (the listener is on loopback).
    pub anonymous_read: bool,
    /// The counter trackers of remote-write and OTLP metrics: they live as long as the
    /// process, across config reloads.
    pub telemetry: crate::telemetry_api::Telemetry,
    /// Refused requests, logged at a bounded rate.
    pub request_log: crate::reqlog::RequestLog,
    /// Alerts, silences, acknowledgements and aggregation groups.
    pub notifier: crate::notifier::Notifier,
    /// Sends what the outbox holds.
    pub deliverer: Arc<crate::deliver::Deliverer>,
    /// Unix seconds when this process started serving.
    pub started_at: i64,
    /// Alert fingerprints some incident links (None until first read): lets the auto-declare
    /// step skip the store while every firing page already has its incident.
    pub incident_links: std::sync::Mutex<Option<std::collections::BTreeSet<String>>>,
    /// Web UI sessions (login cookie → token).
    pub ui_sessions: crate::ui::session::Sessions,
    /// The `prometheus:` API `source: prometheus` SLOs are read from, with its bucket caches.
    pub prometheus: crate::prom_source::Sources,
    /// Whether this replica evaluates alerts and notifies ([`crate::leader`]).
    pub leader: crate::leader::Leader,
}

impl AppState {
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        loaded: Loaded,
        committer: Committer,
        metrics: Arc<Metrics>,
        anonymous_read: bool,
    ) -> AppState {
        let source = settings.config.clone();
        let leader = crate::leader::Leader::new(
            settings.replica_id.clone(),
            settings.leadership.shared(),
            settings
                .leadership
                .lease()
                .unwrap_or(crate::leader::DEFAULT_LEASE),
        );
        metrics.set_leader(&settings.replica_id, false);
        metrics
            .config_generation
            .set(i64::try_from(loaded.generation).unwrap_or(i64::MAX));
        AppState {
            settings,
            store,
            config: RwLock::new(Arc::new(loaded)),
            source,
            reload_lock: tokio::sync::Mutex::new(()),
            committer,
            metrics,
            eval: RwLock::new(EvalState::default()),
            eval_now: Notify::new(),
            changes: RwLock::new(Vec::new()),
            ready: AtomicBool::new(false),
            anonymous_read,
            telemetry: crate::telemetry_api::Telemetry::default(),
            request_log: crate::reqlog::RequestLog::default(),
            notifier: crate::notifier::Notifier::new(),
            deliverer: Arc::new(crate::deliver::Deliverer::new()),
            started_at: crate::now(),
            incident_links: std::sync::Mutex::new(None),
            ui_sessions: crate::ui::session::Sessions::default(),
            prometheus: crate::prom_source::Sources::default(),
            leader,
        }
    }

    /// The running configuration.
    pub fn config(&self) -> Arc<Loaded> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn eval_read(&self) -> RwLockReadGuard<'_, EvalState> {
        self.eval.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn eval_write(&self) -> RwLockWriteGuard<'_, EvalState> {
        self.eval.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Re-reads the configuration through the start-up path ([`load`]). On success the new
    /// config replaces the old one and the evaluator runs at once; on failure the old one
    /// keeps running and the diagnostics are returned.
    pub async fn reload(&self, actor: &str) -> Result<Arc<Loaded>, Vec<spec::Diagnostic>> {
        let result = self.reload_config().await;
        // A reload changes no stored state, so its audit record stands alone; a failure to
        // write it is logged, not a reason to undo the reload.
        if self.persists_control() {
            let (action, details) = match &result {
                Ok(loaded) => (
                    "config.reload",
                    serde_json::json!({ "generation": loaded.generation, "slos": loaded.slos.len() }),
                ),
                Err(diags) => (
                    "config.reload_rejected",
                    serde_json::json!({ "errors": diags.len() }),
                ),
            };
            let audit =
                store::AuditEntry::new(crate::now(), actor, action, "config").with_details(details);
            if let Err(e) = self.store.append_audit(&audit).await {
                tracing::error!(error = %e, "recording the reload in the audit log failed");
            }
        }
        result
    }

    async fn reload_config(&self) -> Result<Arc<Loaded>, Vec<spec::Diagnostic>> {
        let _guard = self.reload_lock.lock().await;
        let generation = self.config().generation + 1;
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&source, generation))
            .await
            .map_err(|e| {
                vec![spec::Diagnostic {
                    file: String::new(),
                    line: 0,
                    col: 0,
                    path: String::new(),
                    message: format!("the loader failed: {e}"),
                }]
            })
            .and_then(|r| r);
        match loaded {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                *self.config.write().unwrap_or_else(|e| e.into_inner()) = loaded.clone();
                self.metrics
                    .config_reloads
                    .get_or_create(&crate::metrics::outcome(true))
                    .inc();
                self.metrics
                    .config_generation
                    .set(i64::try_from(generation).unwrap_or(i64::MAX));
                self.eval_now.notify_one();
                Ok(loaded)
            }
            Err(diags) => {
                self.metrics
                    .config_reloads
                    .get_or_create(&crate::metrics::outcome(false))
                    .inc();
                Err(diags)
            }
        }
    }

    /// Whether control-plane state (changes, alert states) goes to the store.
    pub fn persists_control(&self) -> bool {
        self.settings.audit_key.is_some()
    }

    /// Records a change: in the store (audited) when an audit key is set, else in memory.
    pub async fn add_change(
        &self,
        mut change: Change,
        actor: &str,
    ) -> Result<Change, store::StoreError> {
        if self.persists_control() {
            let record = store::Change {
                service: change.service.clone(),
                version: change.version.clone().unwrap_or_default(),
                at: change.time_unix,
                description: change.description.clone().unwrap_or_default(),
                created_at: crate::now(),
            };
            let mut audit =
                store::AuditEntry::new(crate::now(), actor, "change.record", &change.service);
            audit.details = serde_json::json!({ "version": change.version, "at": change.time });
            let id = self.store.record_change(&record, &audit).await?;
            change.id = u64::try_from(id).unwrap_or(0);
            return Ok(change);
        }
        let mut changes = self.changes.write().unwrap_or_else(|e| e.into_inner());
        change.id = changes.len() as u64 + 1;
        changes.push(change.clone());
        Ok(change)
    }

    /// Changes with `from <= time < to`, optionally of one service.
    pub async fn changes(
        &self,
        service: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Change>, store::StoreError> {
        if self.persists_control() {
            let records = self.store.changes(service, from, to).await?;
            return Ok(records
                .into_iter()
                .map(|r| Change {
                    id: u64::try_from(r.id).unwrap_or(0),
                    time: crate::format_time(r.change.at),
                    time_unix: r.change.at,
                    version: Some(r.change.version).filter(|v| !v.is_empty()),
                    description: Some(r.change.description).filter(|d| !d.is_empty()),
                    service: r.change.service,
                })
                .collect());
        }
        Ok(self
            .changes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|c| service.is_none_or(|s| c.service == s))
            .filter(|c| c.time_unix >= from && c.time_unix < to)
            .cloned()
            .collect())
    }
}
