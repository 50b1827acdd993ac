//! `nines serve`: the server ([`server::run`]) on a TCP listener until SIGTERM or Ctrl-C.
//! `--demo` adds example SLOs and built-in traffic, posted over HTTP through the same ingest
//! path as any client, with an outage every ten minutes so alerts fire and budgets move.

use crate::app;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use store::redact_location as redact;
use store::Store;

/// The demo's SLOs: fed by the events the demo traffic posts.
pub const DEMO_CONFIG: &str = r#"# nines serve --demo: example SLOs fed by built-in demo traffic.
apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        description: Checkout API requests succeed
        sli:
          kind: availability
          source: events
          total: { path: "^/api/" }
          good: { status: "<500" }
        objective: 99.9
        window: 30d
      - name: latency
        description: Checkout API requests answer within 300 ms
        sli:
          kind: latency
          source: events
          total: { path: "^/api/" }
          good: { latency: "<=300ms" }
        objective: 99
        window: 30d
  - name: storefront
    slos:
      - name: pages
        description: Storefront pages are served
        sli:
          kind: availability
          source: events
          total: { path: "^/(products|$)" }
          good: { status: "200-399" }
        objective: 99.5
        window: 30d
"#;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file(s) or directories (reloaded on SIGHUP and POST /-/reload).
    #[arg(short, long = "config", required_unless_present = "demo")]
    config: Vec<PathBuf>,
    /// Directory of the embedded store [default: ./nines-data, or ./nines-demo/serve with --demo].
    #[arg(long, env = "NINES_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9797")]
    listen: String,
    /// Start with example SLOs and built-in demo traffic (with a periodic outage).
    #[arg(long)]
    demo: bool,
    /// The URL people reach this server at, for links in notifications (`externalURL` of
    /// webhook payloads, alert `generatorURL`s) [default: http://LISTEN].
    #[arg(long, value_name = "URL")]
    external_url: Option<String>,
    /// Largest JSON request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Largest access-log request body in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_log_body_bytes: usize,
    /// Request timeout, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Evaluator tick, e.g. 30s [default: half the smallest bucket].
    #[arg(long, value_parser = parse_duration)]
    eval_interval: Option<Duration>,
    /// Delete counter buckets older than this, hourly; at least the longest SLO window plus
    /// its longest alert window or a day (a shorter one is refused at start).
    #[arg(long, value_parser = parse_duration, default_value = "400d", value_name = "AGE")]
    retention_counters: Duration,
    /// Delete delivered and given-up notifications (with their attempts) older than this,
    /// hourly; pending ones are kept.
    #[arg(long, value_parser = parse_duration, default_value = "30d", value_name = "AGE")]
    retention_notifications: Duration,
    /// Requests per caller (token, or client address without one) to read, respond and admin
    /// routes: `50/s`, `3000/m`, `50/s,burst=100` (burst defaults to twice the rate per
    /// second), or `off` [default: 1000/s,burst=2000].
    #[arg(long, value_parser = parse_rate_limit, value_name = "RATE")]
    rate_limit: Option<RateLimitArg>,
    /// The same for ingest routes, a separate budget [default: 20000/s,burst=40000].
    #[arg(long, value_parser = parse_rate_limit, value_name = "RATE")]
    ingest_rate_limit: Option<RateLimitArg>,
    #[command(flatten)]
    audit: crate::cmd_token::AuditKeyArgs,
    /// The shared store instead of the embedded one: a `postgres://` URL (several replicas
    /// may share it; one of them, elected, evaluates alerts and notifies) or the path of a
    /// SQLite file. Needs `--audit-key-file` when it is PostgreSQL.
    #[arg(
        long,
        value_name = "URL",
        env = "NINES_STORE",
        conflicts_with = "store_file"
    )]
    store: Option<String>,
    /// Read the `--store` URL from this file (its password stays out of the process list and
    /// the environment; Kubernetes mounts secrets as files).
    #[arg(long, value_name = "FILE", env = "NINES_STORE_FILE")]
    store_file: Option<PathBuf>,
    /// This replica's name in `/metrics` (`nines_leader{replica=...}`) and logs
    /// [default: HOST-PID].
    #[arg(long, value_name = "NAME", env = "NINES_REPLICA_ID")]
    replica_id: Option<String>,
    /// Log lines on standard error: `text` (compact, for people) or `json` (one object a line,
    /// for log collectors). NINES_LOG (or RUST_LOG) filters them, e.g. `warn` or
    /// `info,server::leader=debug` [default filter: info].
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Installs the process's log subscriber: events at or above the filter from NINES_LOG,
/// else RUST_LOG, else `info` (with sqlx at `warn`: PostgreSQL's notices such as "relation
/// already exists, skipping" on every start are not news), written to standard error in
/// `format`.
fn init_logs(format: LogFormat) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let (name, directives) = match std::env::var("NINES_LOG") {
        Ok(v) => ("NINES_LOG", v),
        Err(_) => ("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_default()),
    };
    let directives = if directives.trim().is_empty() {
        "info,sqlx=warn".to_string()
    } else {
        directives
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .map_err(|e| anyhow::anyhow!("{name}={directives:?} is not a log filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .compact()
            // Colours only for a person at a terminal, never in files or pipes.
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            // `message` and the fields at the top level, as collectors expect.
            .flatten_event(true)
            .with_ansi(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

impl Args {
    /// The `--store` location, from the flag or the file, if any.
    fn store_location(&self) -> anyhow::Result<Option<String>> {
        app::store_url(self.store.as_deref(), self.store_file.as_deref())
    }
}

/// A `--rate-limit` value: a limit, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RateLimitArg(Option<server::ratelimit::RateLimit>);

fn parse_rate_limit(text: &str) -> Result<RateLimitArg, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(RateLimitArg(None));
    }
    let usage = || format!("{text:?}: expected like 50/s, 3000/m, 50/s,burst=100 or off");
    let (rate, burst) = match text.split_once(',') {
        Some((rate, burst)) => (rate.trim(), Some(burst.trim())),
        None => (text, None),
    };
    let (number, seconds) = match rate.split_once('/') {
        Some((n, "s")) => (n, 1.0),
        Some((n, "m")) => (n, 60.0),
        Some((n, "h")) => (n, 3600.0),
        Some(_) => return Err(usage()),
        None => (rate, 1.0),
    };
    let per_second = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .ok_or_else(usage)?
        / seconds;
    let burst = match burst {
        None => (per_second * 2.0).ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
        Some(b) => b
            .strip_prefix("burst=")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(usage)?,
    };
    Ok(RateLimitArg(Some(server::ratelimit::RateLimit {
        per_second,
        burst,
    })))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    slo::parse_duration(text)
        .map_err(|e| e.to_string())
        .and_then(|s| u64::try_from(s).map_err(|_| "the duration is negative".to_string()))
        .map(Duration::from_secs)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logs(args.log_format)?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        PathBuf::from(if args.demo {
            "./nines-demo/serve"
        } else {
            "./nines-data"
        })
    });
    let mut config = args.config.clone();
    // The demo's history is only for the demo's own SLOs.
    let demo_slos = args.demo && config.is_empty();
    if demo_slos {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join("demo.yaml");
        std::fs::write(&path, DEMO_CONFIG)
            .with_context(|| format!("writing {}", path.display()))?;
        config.push(path);
    }
    let mut settings = server::Settings::new(
        server::ConfigSource::Files(config.clone()),
        data_dir.clone(),
    );
    settings.max_json_body = args.max_body_bytes;
    settings.max_log_body = args.max_log_body_bytes;
    settings.request_timeout = args.request_timeout;
    settings.eval_interval = args.eval_interval;
    settings.retention = Some(server::retention::Retention {
        counters: args.retention_counters,
        notifications: args.retention_notifications,
    });
    if let Some(RateLimitArg(limit)) = args.rate_limit {
        settings.rate_limit = limit;
    }
    if let Some(RateLimitArg(limit)) = args.ingest_rate_limit {
        settings.ingest_rate_limit = limit;
    }
    settings.reload_on_sighup = true;
    if let Some(id) = &args.replica_id {
        anyhow::ensure!(!id.trim().is_empty(), "--replica-id must not be empty");
        settings.replica_id = id.trim().to_string();
    }
    let location = args.store_location()?;
    let shared = location.as_deref().is_some_and(store::is_postgres_url);
    anyhow::ensure!(
        !(args.demo && location.is_some()),
        "--demo runs on the embedded store: leave out --store"
    );
    // Every replica must chain the audit log with the same key: a key created per replica
    // in its own data directory would make the others' records fail verification.
    anyhow::ensure!(
        !shared || args.audit.audit_key_file.is_some(),
        "with a PostgreSQL --store every replica must use the same audit key: give \
         --audit-key-file FILE (or NINES_AUDIT_KEY_FILE), e.g. a file made with \
         `nines token` in one data directory and mounted into every replica"
    );
    // Changes and alert states are stored, audited, with the same key `nines token` uses.
    let audit_key = args.audit.load(&data_dir)?;
    settings.audit_key = Some(audit_key.clone());
    if shared {
        if let Some(url) = &location {
            let leadership = store::PgLeadership::new(
                url,
                &settings.replica_id,
                store::leader::PgLeaseTimes::default(),
            )?;
            settings.leadership = std::sync::Arc::new(leadership);
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async {
        let mut settings = settings;
        // A store given by location is opened (and migrated) here and closed after the
        // server stopped; the embedded one belongs to the server.
        let opened = match &location {
            Some(location) => {
                let opened = store::open(location)
                    .await
                    .with_context(|| format!("opening the store {}", redact(location)))?;
                settings.store = Some(opened.clone());
                Some(opened)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        settings.external_url = match &args.external_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => default_external_url(addr),
        };
        let store_text = match &location {
            Some(location) => format!("store {}", redact(location)),
            None => format!("data {}", data_dir.display()),
        };
        tracing::info!(
            %addr,
            replica = %settings.replica_id,
            "listening on http://{addr} (config {}, {store_text}, replica {})",
            config
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            settings.replica_id
        );
        let (stop_demo, demo_stopped) = tokio::sync::watch::channel(false);
        // The demo posts its traffic like any client: with an ingest token of its own,
        // created now and revoked on the way out.
        let demo_token = if args.demo {
            Some(DemoToken::create(&data_dir, &audit_key, demo_slos).await?)
        } else {
            None
        };
        let demo = demo_token.as_ref().map(|token| {
            tracing::info!(
                "demo traffic on; an outage every 10 minutes (the first in 2 minutes). Try: curl http://{addr}/api/v1/slos"
            );
            tokio::spawn(demo_traffic(
                format!("http://{addr}"),
                token.secret.clone(),
                token.backfill,
                demo_stopped,
            ))
        });
        let result = server::run(listener, settings, shutdown_signal()).await;
        let _ = stop_demo.send(true);
        if let Some(task) = demo {
            let _ = task.await;
        }
        if let Some(token) = demo_token {
            if let Err(e) = token.revoke(&data_dir, &audit_key).await {
                tracing::error!(error = format!("{e:#}"), "revoking the demo token failed");
            }
        }
        if let Some(opened) = opened {
            if let Err(e) = opened.close().await {
                tracing::error!(error = %e, "closing the store failed");
            }
        }
        anyhow::Ok(result)
    })?;
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(server::Error::Config(diags)) => {
            for d in &diags {
                eprintln!("{d}");
            }
            Err(anyhow::Error::new(app::InvalidConfig(diags.len())))
        }
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

/// Names of the demo traffic's tokens start with this.
const DEMO_TOKEN_PREFIX: &str = "demo-traffic-";

/// The demo traffic's own ingest token.
struct DemoToken {
    name: String,
    secret: String,
    /// No history yet: the first start backfills some (read from the store here, because the
    /// ingest token may not read the API).
    backfill: bool,
}

impl DemoToken {
    async fn create(
        data_dir: &std::path::Path,
        key: &store::AuditKey,
        demo_slos: bool,
    ) -> anyhow::Result<DemoToken> {
        let store = open_keyed(data_dir, key).await?;
        let now = jiff::Timestamp::now().as_second();
        let backfill = demo_slos
            && store
                .counts(
                    DEMO_HISTORY_SLO,
                    now - BACKFILL_DAYS * 86_400 - 3600,
                    now + 3600,
                )
                .await
                .context("reading the demo's history")?
                .is_empty();
        // A demo that was killed (-9) could not revoke its token: do it now, so no demo token
        // outlives the run that created it by more than one restart.
        let left_over = store
            .list_tokens()
            .await
            .context("listing tokens")?
            .into_iter()
            .filter(|t| t.name.starts_with(DEMO_TOKEN_PREFIX) && t.revoked_at.is_none());
        for token in left_over {
            let audit = store::AuditEntry::new(now, "serve", "token.revoke", &token.name)
                .with_details(serde_json::json!({ "reason": "left over by a demo run that did not stop cleanly" }));
            store
                .revoke_token(&token.name, &audit)
                .await
                .context("revoking a left-over demo token")?;
        }
        let secret = store::new_token_secret()?;
        let sha256 = store::token_sha256(&secret);
        let name = format!("{DEMO_TOKEN_PREFIX}{now}-{}", &sha256[..8]);
        let record = store::TokenRecord {
            name: name.clone(),
            role: store::TokenRole::Ingest,
            sha256,
            created_at: now,
            revoked_at: None,
        };
        let audit = store::AuditEntry::new(now, "serve", "token.create", &name)
            .with_details(serde_json::json!({ "role": "ingest", "purpose": "demo traffic" }));
        let result = store.insert_token(&record, &audit).await;
        store.close().await?;
        result.context("creating the demo traffic's token")?;
        Ok(DemoToken {
            name,
            secret,
            backfill,
        })
    }

    async fn revoke(self, data_dir: &std::path::Path, key: &store::AuditKey) -> anyhow::Result<()> {
        let store = open_keyed(data_dir, key).await?;
        let now = jiff::Timestamp::now().as_second();
        let audit = store::AuditEntry::new(now, "serve", "token.revoke", &self.name);
        let result = store.revoke_token(&self.name, &audit).await;
        store.close().await?;
        result?;
        Ok(())
    }
}

async fn open_keyed(
    data_dir: &std::path::Path,
    key: &store::AuditKey,
) -> anyhow::Result<store::SqliteStore> {
    let path = data_dir.join("nines.db");
    let store = store::SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    store.set_audit_key(key.clone());
    Ok(store)
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// The demo outage: every `PERIOD` seconds, `LENGTH` seconds of failing checkout payments,
/// starting `FIRST` seconds after start.
const PERIOD: u64 = 600;
const LENGTH: u64 = 150;
const FIRST: u64 = 120;
/// Share of checkout API requests failing during an outage: enough to burn the budget at ~20×
/// over an hour (the fast page fires), ~12% of a week's budget per outage.
const OUTAGE_ERRORS: f64 = 0.5;
/// Days of healthy history the demo backfills on first start, so one outage moves the budget
/// by a visible step instead of exhausting it at once.
const BACKFILL_DAYS: i64 = 7;
/// The SLO whose counters tell whether the demo's history is there.
const DEMO_HISTORY_SLO: &str = "checkout/availability";
/// Live events per second the demo posts.
const PER_SECOND: usize = 40;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

const ROUTES: [(&str, &str, &str, f64); 5] = [
    ("checkout", "POST", "/api/pay", 0.2),
    ("checkout", "GET", "/api/cart", 0.3),
    ("storefront", "GET", "/", 0.15),
    ("storefront", "GET", "/products/42", 0.3),
    ("storefront", "GET", "/static/app.js", 0.05),
];

/// One second of demo traffic as attribute events.
fn demo_events(rng: &mut Rng, elapsed: u64, per_second: usize) -> serde_json::Value {
    let in_outage = elapsed >= FIRST && (elapsed - FIRST) % PERIOD < LENGTH;
    let time = jiff::Timestamp::now().to_string();
    let mut events = Vec::with_capacity(per_second);
    for _ in 0..per_second {
        let mut pick = rng.unit();
        let mut route = ROUTES[0];
        for r in ROUTES {
            if pick < r.3 {
                route = r;
                break;
            }
            pick -= r.3;
        }
        let (source, method, path, _) = route;
        let roll = rng.unit();
        let api = path.starts_with("/api/");
        let status = if api && in_outage && roll < OUTAGE_ERRORS {
            503
        } else if roll > 0.99995 {
            500
        } else {
            200
        };
        let mut latency = 20.0 + 40.0 * -rng.unit().max(1e-9).ln();
        if api && in_outage && rng.unit() < 0.25 {
            latency += 400.0 + 800.0 * rng.unit();
        }
        events.push(serde_json::json!({
            "time": time,
            "source": source,
            "attributes": { "method": method, "path": path, "status": status, "latency_ms": latency.round() },
        }));
    }
    serde_json::Value::Array(events)
}

/// On a fresh store, posts `BACKFILL_DAYS` of healthy per-minute increments (pre-aggregated
/// events) through the same API, at the live rate.
async fn backfill(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let end = now - now.rem_euclid(60);
    let per_minute = PER_SECOND as f64 * 60.0;
    let api = (per_minute * 0.5) as u64;
    let pages = (per_minute * 0.45) as u64;
    let mut batch = Vec::new();
    let mut minute = end - BACKFILL_DAYS * 86_400;
    while minute < end {
        let bad = |rng: &mut Rng, p: f64| u64::from(rng.unit() < p);
        for (slo, total, p) in [
            ("checkout/availability", api, 0.1),
            ("checkout/latency", api, 0.9),
            ("storefront/pages", pages, 0.4),
        ] {
            batch.push(serde_json::json!({
                "time": minute, "slo": slo, "good": total - bad(rng, p), "total": total,
            }));
        }
        minute += 60;
        if batch.len() >= 3000 || minute >= end {
            let body = serde_json::Value::Array(std::mem::take(&mut batch));
            let r = client
                .post(format!("{base}/api/v1/events"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(
                r.status().is_success(),
                "the server answered {}",
                r.status()
            );
        }
    }
    tracing::info!("demo backfilled {BACKFILL_DAYS} days of healthy traffic");
    Ok(())
}

/// Posts demo traffic to `base` every second until `stop` turns true.
async fn demo_traffic(
    base: String,
    token: String,
    history: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/events");
    let mut rng = Rng(0x6e69_6e65_735f_6465);
    if history {
        if let Err(e) = backfill(&client, &base, &token, &mut rng).await {
            tracing::warn!(error = format!("{e:#}"), "demo backfill failed");
        }
    }
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut warned = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let body = demo_events(&mut rng, started.elapsed().as_secs(), PER_SECOND);
        match client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => warned = false,
            Ok(r) if !warned => {
                tracing::warn!("demo traffic answered {}", r.status());
                warned = true;
            }
            Err(e) if !warned => {
                tracing::warn!(error = %e, "demo traffic failed");
                warned = true;
            }
            _ => {}
        }
    }
}

/// Like Alertmanager: the address actually bound, with the host name when listening on every
/// interface (0.0.0.0 or ::), so links in notifications lead somewhere.
fn default_external_url(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        format!("http://{host}:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rate_limit_flags() {
        use super::{parse_rate_limit, RateLimitArg};
        use server::ratelimit::RateLimit;
        let limit = |per_second, burst| Ok(RateLimitArg(Some(RateLimit { per_second, burst })));
        assert_eq!(parse_rate_limit("off"), Ok(RateLimitArg(None)));
        assert_eq!(parse_rate_limit("50/s"), limit(50.0, 100));
        assert_eq!(parse_rate_limit("50"), limit(50.0, 100));
        assert_eq!(parse_rate_limit("50/s,burst=7"), limit(50.0, 7));
        assert_eq!(parse_rate_limit("120/m"), limit(2.0, 4));
        assert_eq!(parse_rate_limit("1/h"), limit(1.0 / 3600.0, 1));
        for bad in [
            "",
            "0/s",
            "-1/s",
            "x/s",
            "5/d",
            "5/s,burst=0",
            "5/s,bust=3",
            "NaN/s",
        ] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn store_urls_are_logged_without_their_password() {
        assert_eq!(
            redact("postgres://nines:s3cret@db.example:5432/nines"),
            "postgres://nines:***@db.example:5432/nines"
        );
        assert_eq!(
            redact("postgres://nines@db/nines"),
            "postgres://nines@db/nines"
        );
        assert_eq!(redact("/var/lib/nines/nines.db"), "/var/lib/nines/nines.db");
        // An @ in the password: the host is after the last one.
        assert_eq!(redact("postgresql://u:p@ss@h/d"), "postgresql://u:***@h/d");
    }

    #[test]
    fn demo_config_is_valid() {
        assert!(spec::load_str("demo.yaml", DEMO_CONFIG).is_ok());
    }

    #[test]
    fn outage_fails_some_payments() {
        let mut rng = Rng(1);
        let calm = demo_events(&mut rng, 10, 400).to_string();
        let outage = demo_events(&mut rng, FIRST + 5, 400).to_string();
        assert!(!calm.contains("503"));
        assert!(outage.contains("503"));
    }
}
