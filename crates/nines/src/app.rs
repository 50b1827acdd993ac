//! Shared plumbing of the commands: loading the config, opening the store, evaluating.
//! (Moves into the server crate's composition root once that exists.)

use anyhow::Context;
use slo::{SloReport, SloSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store URL given with `--store`, or read from `--store-file` (a mounted secret; the
/// surrounding whitespace is ignored); `None` when neither is given.
pub fn store_url(store: Option<&str>, store_file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(url) = store {
        return Ok(Some(url.trim().to_string()));
    }
    let Some(path) = store_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the store URL from {}", path.display()))?;
    let url = text.trim();
    anyhow::ensure!(
        !url.is_empty(),
        "{} is empty: it must hold the store URL",
        path.display()
    );
    Ok(Some(url.to_string()))
}

/// The config was invalid; its diagnostics have been printed. Exit code 1.
#[derive(Debug)]
pub struct InvalidConfig(pub usize);

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the configuration has {} error(s)", self.0)
    }
}

impl std::error::Error for InvalidConfig {}

/// Loads and validates the config, printing every diagnostic to stderr on failure.
pub fn load_config(paths: &[PathBuf]) -> anyhow::Result<spec::Config> {
    spec::load_files(paths).map_err(|diagnostics| {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        anyhow::Error::new(InvalidConfig(diagnostics.len()))
    })
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens the store: the embedded one under `--data-dir` (created on first use) or the shared
/// one named by `--store` / `--store-file`.
pub async fn open_store(args: &crate::StoreArgs) -> anyhow::Result<Arc<dyn store::Store>> {
    let location = args.location()?;
    if store::is_postgres_url(&location) {
        return store::open(&location)
            .await
            .context("opening the PostgreSQL store");
    }
    store::open(&location)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))
}

/// The configuration's Prometheus API (`prometheus:`), `None` without one.
pub fn prometheus(
    config: &spec::Config,
) -> anyhow::Result<Option<server::prom_source::Prometheus>> {
    config
        .prometheus
        .clone()
        .map(server::prom_source::Prometheus::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("prometheus: {e}"))
}

/// Evaluates one SLO at `at` from its stored counters, or from the Prometheus API for a
/// `source: prometheus` SLO when `prometheus` is given (the server's function, so the CLI
/// and the API answer alike).
pub async fn evaluate(
    store: &dyn store::Store,
    prometheus: Option<&server::prom_source::Prometheus>,
    config: &spec::Config,
    spec: &SloSpec,
    at: i64,
) -> anyhow::Result<SloReport> {
    let slo = config
        .slo(&spec.key())
        .with_context(|| format!("no SLO {} in the configuration", spec.key()))?;
    Ok(server::evaluator::evaluate_stored(store, prometheus, slo, at).await?)
}

/// Counts of `[from, to)` for one SLO: the store's, or the Prometheus API's for a
/// `source: prometheus` SLO when the configuration has a `prometheus:` section.
pub async fn counts(
    store: &dyn store::Store,
    config: &spec::Config,
    slo: &spec::SloConfig,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<store::BucketCount>> {
    let prometheus = prometheus(config)?;
    Ok(server::prom_source::counts(store, prometheus.as_ref(), slo, from, to).await?)
}

/// Every SLO of the config (optionally one service's), in config order.
pub fn selected_slos<'c>(config: &'c spec::Config, service: Option<&str>) -> Vec<&'c SloSpec> {
    config
        .services
        .iter()
        .filter(|s| service.is_none_or(|name| s.name == name))
        .flat_map(|s| s.slos.iter().map(|slo| &slo.spec))
        .collect()
}

/// Parses `--at`: RFC 3339, or "now".
pub fn parse_at(text: Option<&str>) -> anyhow::Result<i64> {
    match text {
        None | Some("now") => Ok(jiff::Timestamp::now().as_second()),
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .with_context(|| {
                format!("--at {t:?} is not an RFC 3339 time like 2023-11-15T00:00:00Z")
            }),
    }
}

pub fn format_time(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// The SLOs `--slo service/slo` selects (all without it); an unknown name is an error that
/// lists the known ones.
pub fn find_slos<'c>(
    config: &'c spec::Config,
    key: Option<&str>,
) -> anyhow::Result<Vec<&'c spec::SloConfig>> {
    match key {
        None => Ok(config.slos().collect()),
        Some(key) => match config.slo(key) {
            Some(slo) => Ok(vec![slo]),
            None => {
                let known: Vec<String> = config.slos().map(|s| s.spec.key()).collect();
                Err(anyhow::Error::new(UnknownSlo(key.to_string(), known)))
            }
        },
    }
}

/// `--slo` names no SLO of the config: a usage error (exit 2).
#[derive(Debug)]
pub struct UnknownSlo(pub String, pub Vec<String>);

impl std::fmt::Display for UnknownSlo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no SLO {:?} in the configuration; known: {}",
            self.0,
            self.1.join(", ")
        )
    }
}

impl std::error::Error for UnknownSlo {}
