//! The nines server: one composition root, [`run`], that opens the store, starts the group
//! committer, the evaluator and the HTTP API, and stops them along one shutdown path.
//!
//! Start-up and reload share [`loaded::load`]; an invalid new config is rejected with its
//! diagnostics and the old one keeps running. Every write is acknowledged only after its
//! increments are committed (see [`commit`]).
//!
//! Routes (JSON; errors are `{"error": {"code", "message", "details"?}}` with a stable code).
//! They are one table, [`routes::ROUTES`], that builds the router and that the tests walk
//! (every route × every role; every route in `openapi.yaml` and back):
//!
//! | route | scope | |
//! |---|---|---|
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | open (no token, for probes and scrapers) | liveness, readiness (store reachable, first evaluation done; followers are ready too, the body names the replica and whether it leads), OpenMetrics text |
//! | `GET /api/openapi.json` | open | the OpenAPI 3.0 description of every route (`openapi.yaml`) |
//! | `GET /api/v1/slos[?at&service]` | read | the `nines report -o json` document |
//! | `GET /api/v1/slos/{service}/{slo}[?at]` | read | one report plus its alert tiers |
//! | `GET /api/v1/slos/{service}/{slo}/history?from&to&step` | read | SLI, budget remaining, burn rates as series |
//! | `GET /api/v1/alerts` | read | active tiers and transition history |
//! | `GET /api/v1/gate?slo=service/slo` | read | `allowed: false` when the budget is exhausted |
//! | `GET /api/v1/changes[?service&from&to]`, `POST /api/v1/changes` | read / respond | deployments and other changes |
//! | `POST /api/v1/events` | ingest | attribute events and pre-aggregated increments |
//! | `POST /api/v1/logs?format=combined\|json&service=NAME` | ingest | raw access-log lines |
//! | `POST /api/v1/write` | ingest | Prometheus remote-write 1.0 (snappy protobuf): 204; 400 `remote_write.*` for bad input, 413, 415, 503 + `Retry-After` when temporary |
//! | `POST /v1/metrics`, `POST /v1/traces` | ingest | OTLP/HTTP, protobuf or JSON, optionally gzip: 200 with the empty export response; errors as `google.rpc.Status` |
//! | `POST /-/reload` | admin | reload; 422 `config.invalid` with diagnostics keeps the old config |
//!
//! Authentication ([`auth`]): `Authorization: Bearer <token>`, checked against the store's
//! active tokens on every request. Roles: `ingest` (ingest scope), `viewer` (read),
//! `responder` (read + respond), `admin` (everything). 401 `auth.missing_token` /
//! `auth.invalid_token` with `WWW-Authenticate: Bearer`, 403 `auth.forbidden`. Requests
//! without a token may read only when the listener is on loopback (logged at start-up);
//! they may never write.
//!
//! Rate limits ([`ratelimit`]): a token bucket per caller (token name; client IP without a
//! valid token) and class (ingest, everything else), [`Settings::rate_limit`] and
//! [`Settings::ingest_rate_limit`]. Over it: 429 `request.rate_limited` with `Retry-After`.
//! Open routes are never limited.
//!
//! Several replicas may share one store ([`Settings::leadership`]): every replica serves the
//! API and ingests, one elected leader evaluates alerts and notifies (see [`leader`]).
//!
//! Hooks for what other parts add: [`Authorizer`] (called with each route's [`Scope`]),
//! [`Settings::audit_key`] (control-plane writes go to the store, audited), and
//! [`Settings::store`] (another backend).

#![forbid(unsafe_code)]

mod alertmanager_api;
mod api;
pub mod auth;
pub mod commit;
mod compare_api;
pub mod deliver;
mod documents;
mod error;
pub mod evaluator;
mod http;
mod incidents_api;
mod ingest_api;
pub mod leader;
pub mod loaded;
pub mod metrics;
pub mod notifier;
mod postmortems_api;
pub mod prom_source;
pub mod ratelimit;
pub mod report_cache;
pub mod reqlog;
pub mod retention;
pub mod routes;
pub mod stakeholder;
pub mod state;
mod telemetry_api;
mod toil_api;
pub mod ui;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, Error};
pub use loaded::ConfigSource;
pub use state::AppState;

/// What a route needs; the authorizer decides per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading SLOs, alerts, the gate, changes.
    Read,
    /// Telemetry ingestion (events, logs, later OTLP).
    Ingest,
    /// Responder writes: changes (later alert actions, silences, incidents).
    Respond,
    /// Reload and other operations on the server itself.
    Admin,
}

/// The hook the auth layer plugs into: called before every route with the route's scope.
/// `anonymous_read` is true when the listener is on loopback.
pub trait Authorizer: Send + Sync {
    fn authorize<'a>(
        &'a self,
        scope: Scope,
        headers: &'a axum::http::HeaderMap,
        store: &'a dyn store::Store,
        anonymous_read: bool,
    ) -> AuthFuture<'a>;
}

/// What [`Authorizer::authorize`] returns.
pub type AuthFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<auth::Principal, ApiError>> + Send + 'a>>;

/// Lets every request through. For embedding in tests only: never the default.
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize<'a>(
        &'a self,
        _: Scope,
        _: &'a axum::http::HeaderMap,
        _: &'a dyn store::Store,
        _: bool,
    ) -> AuthFuture<'a> {
        Box::pin(async { Ok(auth::Principal::anonymous()) })
    }
}

/// Everything [`run`] needs besides the listener.
#[derive(Clone)]
pub struct Settings {
    pub config: ConfigSource,
    /// Directory of the embedded store (`nines.db` in it).
    pub data_dir: PathBuf,
    /// Use this store instead of opening the one in `data_dir` (tests, other backends).
    pub store: Option<Arc<dyn store::Store>>,
    /// Evaluator tick; default half the smallest bucket (30 s for 1-minute buckets).
    pub eval_interval: Option<Duration>,
    /// Largest JSON request body (default 1 MiB).
    pub max_json_body: usize,
    /// Largest `POST /api/v1/logs` body (default 16 MiB).
    pub max_log_body: usize,
    /// Largest remote-write or OTLP body once decompressed (default 16 MiB): 413 beyond.
    pub max_remote_write_body: usize,
    /// Requests taking longer get 503 `request.timeout` (default 30 s).
    pub request_timeout: Duration,
    /// How long counters and finished notifications are kept ([`retention`]); `None` keeps
    /// everything. `nines serve` always sets it; embedders and tests that replay old
    /// timestamps leave it off so nothing they write is pruned under them.
    pub retention: Option<retention::Retention>,
    /// Reload the config on SIGHUP (the binary sets it; tests leave it off).
    pub reload_on_sighup: bool,
    /// Checks every request but the open ones (default: [`auth::StoreTokens`]).
    pub authorizer: Arc<dyn Authorizer>,
    /// The key of the audit chain. With it, changes and alert states are stored (each write
    /// audited in the same transaction); without it they are kept in memory only, because the
    /// store refuses unaudited control-plane writes.
    pub audit_key: Option<store::AuditKey>,
    /// Requests per caller (token name; client IP without a valid token) to read, respond and
    /// admin routes; `None` is unlimited (default [`ratelimit::RateLimit::DEFAULT`]).
    pub rate_limit: Option<ratelimit::RateLimit>,
    /// The same for ingest routes, a separate budget (default
    /// [`ratelimit::RateLimit::DEFAULT_INGEST`]).
    pub ingest_rate_limit: Option<ratelimit::RateLimit>,
    /// The URL people reach this server at: `externalURL` in webhook payloads, links in
    /// messages (default empty).
    pub external_url: String,
    /// Who leads when several replicas share the store: only the leader evaluates alerts and
    /// notifies (default [`store::SingleProcess`]: this process, always).
    pub leadership: Arc<dyn store::Leadership>,
    /// This replica's name in `/metrics` and logs (default `HOST-PID`).
    pub replica_id: String,
    /// How often the election is asked; a follower takes over within this once the lock is
    /// free (default [`leader::DEFAULT_TICK`], at most the evaluation interval).
    pub leader_tick: Duration,
}

impl Settings {
    pub fn new(config: ConfigSource, data_dir: PathBuf) -> Settings {
        Settings {
            config,
            data_dir,
            store: None,
            eval_interval: None,
            max_json_body: 1 << 20,
            max_log_body: 16 << 20,
            max_remote_write_body: 16 << 20,
            request_timeout: Duration::from_secs(30),
            retention: None,
            reload_on_sighup: false,
            authorizer: Arc::new(auth::StoreTokens),
            audit_key: None,
            rate_limit: Some(ratelimit::RateLimit::DEFAULT),
            ingest_rate_limit: Some(ratelimit::RateLimit::DEFAULT_INGEST),
            external_url: String::new(),
            leadership: Arc::new(store::SingleProcess),
            replica_id: leader::default_replica_id(),
            leader_tick: leader::DEFAULT_TICK,
        }
    }
}

/// Runs the server on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish, stops the evaluator, commits every queued increment and closes
/// the store.
pub async fn run(
    listener: tokio::net::TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let source = settings.config.clone();
    let loaded = tokio::task::spawn_blocking(move || loaded::load(&source, 1))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
        .map_err(Error::Config)?;
    if let Some(retention) = &settings.retention {
        retention::check(retention, &loaded).map_err(Error::Config)?;
    }
    let (store, owned_store): (Arc<dyn store::Store>, bool) = match settings.store.clone() {
        Some(store) => (store, false),
        None => {
            let path = settings.data_dir.join("nines.db");
            (Arc::new(store::SqliteStore::open(&path).await?), true)
        }
    };
    if let Some(key) = settings.audit_key.clone() {
        store.set_audit_key(key);
    }
    // Anonymous reads only when nobody but this host can connect; never anonymous writes.
    let anonymous_read = listener
        .local_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false);
    if anonymous_read {
        tracing::info!(
            "anonymous read access is enabled because the server listens on loopback; \
             writes need a token"
        );
    } else {
        tracing::info!("every API request needs a token (Authorization: Bearer)");
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let reports = Arc::new(report_cache::ReportCache::default());
    let committer = commit::Committer::start(store.clone(), metrics.clone(), reports.clone());
    let state = Arc::new(AppState::new(
        settings,
        store.clone(),
        loaded,
        committer,
        metrics,
        anonymous_read,
    ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The election runs first: with a single process the first evaluation already leads.
    let leader_tick = state.settings.leader_tick.min(
        state
            .settings
            .eval_interval
            .unwrap_or_else(|| evaluator::default_interval(&state.config())),
    );
    let elector = tokio::spawn(leader::run(
        state.clone(),
        state.settings.leadership.clone(),
        leader_tick,
        stop_rx.clone(),
    ));
    leader::first_answer(&state, leader_tick).await;
    let evaluator = tokio::spawn({
        let state = state.clone();
        let stop = stop_rx.clone();
        async move {
            evaluator::evaluate_all(&state).await;
            if !*stop.borrow() {
                state.set_ready(true);
            }
            evaluator::run(state, stop).await;
        }
    });
    let notifier = tokio::spawn(notifier::run(state.clone(), stop_rx.clone()));
    let retention = tokio::spawn(retention::run(state.clone(), stop_rx.clone()));
    let deliverer = tokio::spawn({
        let state = state.clone();
        let config_state = state.clone();
        let leader_state = state.clone();
        deliver::run(
            state.deliverer.clone(),
            state.store.clone(),
            Arc::new(move || config_state.config().alertmanager.clone()),
            Arc::new(move || leader_state.leader.is_leader()),
            stop_rx.clone(),
        )
    });
    // The handler is installed before the first request is served, so a SIGHUP sent once the
    // server answers never meets the default action (terminate).
    let sighup = if state.settings.reload_on_sighup {
        hangup_signal().map(|hup| tokio::spawn(reload_on_sighup(state.clone(), hup, stop_rx)))
    } else {
        None
    };

    let app = http::router(state.clone());
    let ready_state = state.clone();
    // The client address keys the rate limit of callers without a token.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ready_state.set_ready(false);
        })
        .await
        .map_err(Error::Serve);

    // One shutdown path: background tasks, then the queued commits, then the store.
    state.set_ready(false);
    let _ = stop_tx.send(true);
    // The election last: the lock is given up once nothing evaluates or sends any more.
    for task in [evaluator, notifier, deliverer, elector] {
        if let Err(e) = task.await {
            return Err(Error::Task(e.to_string()));
        }
    }
    if let Err(e) = retention.await {
        return Err(Error::Task(e.to_string()));
    }
    if let Some(task) = sighup {
        task.abort();
    }
    state.committer.close().await;
    if owned_store {
        store.close().await?;
    }
    served
}

#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Option<Hangup> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Option<Hangup> {
    None
}

#[cfg(unix)]
async fn reload_on_sighup(
    state: Arc<AppState>,
    mut hup: Hangup,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            got = hup.recv() => {
                if got.is_none() {
                    return;
                }
                if let Err(diags) = state.reload("SIGHUP").await {
                    for d in &diags {
                        tracing::error!("reload rejected: {d}");
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_: Arc<AppState>, _: Hangup, _: tokio::sync::watch::Receiver<bool>) {}

/// Now, unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The default evaluation time: the end of the current second, so events stamped with the
/// current second (even exactly on a bucket boundary) already count.
pub fn eval_now() -> i64 {
    now() + 1
}

/// RFC 3339 for unix seconds.
pub fn format_time(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// Parses a time given as RFC 3339 text or unix seconds (the events API's rule).
pub fn parse_time(text: &str) -> Option<i64> {
    ingest::events::parse_time_text(text)
}

/// A server state without a listener for unit tests: the config `config`, a shared `store`
/// (with an audit key, so alert states are saved) and the election `leadership`.
#[cfg(test)]
pub(crate) async fn test_state_with(
    config: &str,
    store: Arc<dyn store::Store>,
    leadership: Arc<dyn store::Leadership>,
    replica: &str,
) -> Arc<AppState> {
    let source = ConfigSource::Text {
        name: "test.yaml".to_string(),
        text: config.to_string(),
    };
    let loaded = match loaded::load(&source, 1) {
        Ok(loaded) => loaded,
        Err(diags) => panic!("test config: {diags:?}"),
    };
    let key = store::AuditKey::from_bytes([7; store::AUDIT_KEY_LEN]);
    store.set_audit_key(key.clone());
    let mut settings = Settings::new(source, PathBuf::new());
    settings.store = Some(store.clone());
    settings.audit_key = Some(key);
    settings.leadership = leadership;
    settings.replica_id = replica.to_string();
    let metrics = Arc::new(metrics::Metrics::new());
    let reports = Arc::new(report_cache::ReportCache::default());
    let committer = commit::Committer::start(store.clone(), metrics.clone(), reports);
    Arc::new(AppState::new(
        settings, store, loaded, committer, metrics, true,
    ))
}

/// [`test_state_with`] over a fresh memory store and an SLO without traffic.
#[cfg(test)]
pub(crate) async fn test_state(leadership: Arc<dyn store::Leadership>) -> Arc<AppState> {
    const CONFIG: &str = "apiVersion: nines/v1\nservices:\n  - name: checkout\n    slos:\n      - name: availability\n        sli:\n          kind: availability\n          source: events\n          total: { path: \"^/api/\" }\n          good: { status: \"<500\" }\n        objective: 99.9\n        window: 30d\n";
    test_state_with(
        CONFIG,
        Arc::new(store::MemoryStore::new()),
        leadership,
        "test-replica",
    )
    .await
}
