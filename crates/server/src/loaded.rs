//! A loaded configuration and the indexes the request paths need. Start-up and reload both
//! go through [`load`]: an invalid config never replaces a running one.

use ingest::otlp::SpanSli;
use ingest::{Classifier, GoodSeries, SeriesSelector, SeriesSli, SliMatcher};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Where the configuration comes from. Reload re-reads the same source.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// Files or directories, as `nines check` takes them.
    Files(Vec<PathBuf>),
    /// A text held in memory (tests, embedded examples); `name` appears in diagnostics.
    Text { name: String, text: String },
}

impl ConfigSource {
    fn read(&self) -> Result<spec::Config, Vec<spec::Diagnostic>> {
        match self {
            ConfigSource::Files(paths) => spec::load_files(paths),
            ConfigSource::Text { name, text } => spec::load_str(name, text),
        }
    }
}

/// One SLO of the running config.
#[derive(Debug, Clone)]
pub struct SloEntry {
    pub key: String,
    pub config: spec::SloConfig,
}

/// An SLI fed by attribute events.
#[derive(Debug, Clone)]
pub struct EventTarget {
    pub key: String,
    pub bucket_seconds: i64,
    pub matcher: SliMatcher,
}

/// The access-log SLIs of one service (or of all), ready for the classifier.
pub struct LogTargets {
    pub classifier: Classifier,
    /// Series key per classifier index.
    pub keys: Vec<String>,
    /// A width every target's bucket is a multiple of.
    pub bucket_seconds: u32,
}

/// The SLIs fed by counter series (remote-write, or OTLP metrics): [`SeriesSli::sli`] is
/// the index into `keys`.
#[derive(Debug, Clone)]
pub struct SeriesTargets {
    pub slis: Vec<SeriesSli>,
    /// Series key (`service/slo`) per SLI index.
    pub keys: Vec<String>,
    /// The GCD of the SLOs' bucket widths: every SLO's bucket is a multiple of it.
    pub bucket_seconds: u32,
}

/// The SLIs fed by server spans (OTLP traces): [`SpanSli::sli`] is the index into `keys`.
#[derive(Debug, Clone)]
pub struct SpanTargets {
    pub slis: Vec<SpanSli>,
    pub keys: Vec<String>,
    pub bucket_seconds: u32,
}

/// A validated configuration with its indexes.
pub struct Loaded {
    pub config: spec::Config,
    /// Increments on every successful (re)load.
    pub generation: u64,
    /// Every SLO in config order.
    pub slos: Vec<SloEntry>,
    /// Key → position in `slos`.
    pub by_key: HashMap<String, usize>,
    /// Service → SLIs with `source: events`.
    pub events: HashMap<String, Vec<EventTarget>>,
    /// `None` → all access-log SLIs; `Some(service)` → that service's.
    pub logs: BTreeMap<Option<String>, LogTargets>,
    /// `source: remote_write` SLIs (`POST /api/v1/write`).
    pub remote_write: Option<SeriesTargets>,
    /// `source: otlp` SLIs written as metric selectors (`POST /v1/metrics`).
    pub otlp_metrics: Option<SeriesTargets>,
    /// `source: otlp` SLIs over server spans (`POST /v1/traces`).
    pub otlp_traces: Option<SpanTargets>,
    /// The config's `alertmanager:` section (routing, receivers, inhibition, time
    /// intervals), shared with the notification tasks; `None` when the config has none.
    pub alertmanager: Option<std::sync::Arc<notify::AlertmanagerConfig>>,
    /// The config's `incidents:` section (automatic declaration, the stakeholder receiver,
    /// which is a receiver of `alertmanager`); the defaults when the config has none.
    pub incidents: spec::IncidentSettings,
}

impl Loaded {
    pub fn slo(&self, key: &str) -> Option<&SloEntry> {
        self.by_key.get(key).and_then(|&i| self.slos.get(i))
    }

    pub fn log_targets(&self, service: Option<&str>) -> Option<&LogTargets> {
        self.logs.get(&service.map(str::to_string))
    }
}

/// Reads and validates the configuration and builds its indexes.
pub fn load(source: &ConfigSource, generation: u64) -> Result<Loaded, Vec<spec::Diagnostic>> {
    let config = source.read()?;
    let mut slos = Vec::new();
    let mut by_key = HashMap::new();
    let mut events: HashMap<String, Vec<EventTarget>> = HashMap::new();
    // `None` (every service) first, then each service with access-log SLIs.
    let mut services: Vec<Option<String>> = vec![None];
    for slo in config.slos() {
        let key = slo.spec.key();
        by_key.insert(key.clone(), slos.len());
        slos.push(SloEntry {
            key: key.clone(),
            config: slo.clone(),
        });
        if let spec::SliQuery::Matchers(m) = &slo.sli.query {
            match slo.sli.source {
                spec::SourceKind::Events => events
                    .entry(slo.spec.service.clone())
                    .or_default()
                    .push(EventTarget {
                        key,
                        bucket_seconds: slo.spec.bucket_seconds.max(1),
                        matcher: m.clone(),
                    }),
                spec::SourceKind::AccessLog => services.push(Some(slo.spec.service.clone())),
                _ => {}
            }
        }
    }
    services.sort();
    services.dedup();
    let mut logs = BTreeMap::new();
    for service in services {
        if let Some(targets) = access_log_targets(&config, service.as_deref()) {
            logs.insert(service, targets);
        }
    }
    let remote_write = series_targets(&config, &spec::SourceKind::RemoteWrite)?;
    let otlp_metrics = series_targets(&config, &spec::SourceKind::Otlp)?;
    let otlp_traces = span_targets(&config);
    let alertmanager = config.alertmanager.clone().map(std::sync::Arc::new);
    let incidents = config.incidents.clone();
    Ok(Loaded {
        config,
        generation,
        slos,
        by_key,
        events,
        logs,
        remote_write,
        otlp_metrics,
        otlp_traces,
        alertmanager,
        incidents,
    })
}

/// The counter-series SLIs of one source (metric selectors compiled), keyed `service/slo`,
/// bucketed at the GCD of their widths. `None` without any. The spec checks the selectors
/// at load; one that still does not compile is reported as a config error at its SLO.
pub fn series_targets(
    config: &spec::Config,
    source: &spec::SourceKind,
) -> Result<Option<SeriesTargets>, Vec<spec::Diagnostic>> {
    let mut slis = Vec::new();
    let mut keys = Vec::new();
    let mut bucket = 0;
    let mut diags = Vec::new();
    for slo in config.slos().filter(|s| &s.sli.source == source) {
        let spec::SliQuery::Queries { total, good, bad } = &slo.sli.query else {
            continue;
        };
        let compile = |text: &str, field: &str, diags: &mut Vec<spec::Diagnostic>| {
            SeriesSelector::parse(text)
                .map_err(|e| {
                    diags.push(spec::Diagnostic {
                        file: slo.origin.file.clone(),
                        line: slo.origin.line,
                        col: slo.origin.col,
                        path: format!("sli.{field}"),
                        message: e.to_string(),
                    })
                })
                .ok()
        };
        let total = compile(total, "total", &mut diags);
        let good = match (good, bad) {
            (Some(g), _) => compile(g, "good", &mut diags).map(GoodSeries::Good),
            (None, Some(b)) => compile(b, "bad", &mut diags).map(GoodSeries::Bad),
            (None, None) => None,
        };
        let (Some(total), Some(good)) = (total, good) else {
            continue;
        };
        slis.push(SeriesSli {
            sli: keys.len(),
            total,
            good,
        });
        keys.push(slo.spec.key());
        bucket = gcd(bucket, slo.spec.bucket_seconds);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(SeriesTargets {
        slis,
        keys,
        bucket_seconds: u32::try_from(bucket.max(1)).unwrap_or(60),
    }))
}

/// The span SLIs (`source: otlp` with a span selector), keyed `service/slo`, bucketed at the
/// GCD of their widths. `None` without any.
pub fn span_targets(config: &spec::Config) -> Option<SpanTargets> {
    let mut slis = Vec::new();
    let mut keys = Vec::new();
    let mut bucket = 0;
    for slo in config.slos() {
        if let spec::SliQuery::Spans { total, good } = &slo.sli.query {
            slis.push(SpanSli {
                sli: keys.len(),
                total: total.clone(),
                good: good.clone(),
            });
            keys.push(slo.spec.key());
            bucket = gcd(bucket, slo.spec.bucket_seconds);
        }
    }
    if keys.is_empty() {
        return None;
    }
    Some(SpanTargets {
        slis,
        keys,
        bucket_seconds: u32::try_from(bucket.max(1)).unwrap_or(60),
    })
}

/// The classifier over every `source: access_log` SLI (of one service, or all), the series
/// each feeds, and a bucket width every target's width is a multiple of. `None` without any.
/// The CLI's `ingest access-log` and the server's logs endpoint both classify through this.
pub fn access_log_targets(config: &spec::Config, service: Option<&str>) -> Option<LogTargets> {
    let mut matchers = Vec::new();
    let mut keys = Vec::new();
    let mut bucket = 0;
    for slo in config
        .slos()
        .filter(|s| service.is_none_or(|name| s.spec.service == name))
    {
        if let (spec::SourceKind::AccessLog, spec::SliQuery::Matchers(m)) =
            (&slo.sli.source, &slo.sli.query)
        {
            matchers.push((keys.len(), m.clone()));
            keys.push(slo.spec.key());
            bucket = gcd(bucket, slo.spec.bucket_seconds);
        }
    }
    if keys.is_empty() {
        return None;
    }
    Some(LogTargets {
        classifier: Classifier::new(matchers),
        keys,
        bucket_seconds: u32::try_from(bucket.max(1)).unwrap_or(60),
    })
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// Diagnostics as JSON for the API.
pub fn diagnostics_json(diags: &[spec::Diagnostic]) -> serde_json::Value {
    serde_json::Value::Array(
        diags
            .iter()
            .map(|d| {
                serde_json::json!({
                    "file": d.file,
                    "line": d.line,
                    "col": d.col,
                    "path": d.path,
                    "message": d.message,
                    "text": d.to_string(),
                })
            })
            .collect(),
    )
}
