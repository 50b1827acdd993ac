//! A loaded configuration and the indexes the request paths need. Start-up and reload both
//! go through [`load`]: an invalid config never replaces a running one.

use ingest::{Classifier, SliMatcher};
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
    let mut log_matchers: Vec<(String, String, SliMatcher, i64)> = Vec::new();
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
                spec::SourceKind::AccessLog => log_matchers.push((
                    slo.spec.service.clone(),
                    key,
                    m.clone(),
                    slo.spec.bucket_seconds,
                )),
                _ => {}
            }
        }
    }
    let mut logs = BTreeMap::new();
    let mut services: Vec<Option<String>> = vec![None];
    services.extend(log_matchers.iter().map(|(s, ..)| Some(s.clone())));
    services.dedup();
    for service in services {
        let selected: Vec<&(String, String, SliMatcher, i64)> = log_matchers
            .iter()
            .filter(|(s, ..)| service.as_ref().is_none_or(|name| s == name))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let mut bucket = 0;
        for (.., b) in &selected {
            bucket = gcd(bucket, *b);
        }
        logs.insert(
            service,
            LogTargets {
                classifier: Classifier::new(
                    selected.iter().enumerate().map(|(i, t)| (i, t.2.clone())),
                ),
                keys: selected.iter().map(|t| t.1.clone()).collect(),
                bucket_seconds: u32::try_from(bucket.max(1)).unwrap_or(60),
            },
        );
    }
    Ok(Loaded {
        config,
        generation,
        slos,
        by_key,
        events,
        logs,
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
