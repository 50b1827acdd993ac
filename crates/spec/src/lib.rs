//! Configuration: the native YAML format (`apiVersion: nines/v1`) and OpenSLO v1, validated
//! with every error reported at once, each with `file:line:col` and a field path, and
//! converted to the `slo` crate's types.
//!
//! Everything here is pure except [`load_files`], which only reads the files.
//!
//! How it works: each file is parsed by serde-saphyr into a lenient tree whose every node
//! keeps its location ([`node`]); the readers in [`native`] and [`openslo`] then walk the
//! tree by hand, so one type error does not hide the next. Documents of both formats may be
//! mixed in one file (`---`) and across files; references between OpenSLO documents are
//! resolved once every file has been read.
//!
//! Alerting: every SLO ends up with a fully resolved [`SloConfig::alert_policy`]
//! (`None` for `policy: none`) from its own native
//! `alerting:`, its OpenSLO `alertPolicies`, the configuration's top-level `alerting:`, or
//! the default multiwindow policy, in that order. Tiers that can never fire for the SLO's
//! objective are errors. Prometheus SLI queries and remote-write selectors are checked
//! with `promql-parser`.
//!
//! Notifications: a native document may carry Alertmanager's configuration under a
//! top-level `alertmanager:` key (once in the whole configuration). The `notify` crate
//! validates it; each of its problems is reported here with the `file:line:col` of the node
//! its field path names ([`Config::alertmanager`]).
//!
//! Incidents: a native document may carry a top-level `incidents:` key (once in the whole
//! configuration): which firing alerts declare an incident, at what severity, and the
//! `alertmanager:` receiver that stakeholder updates go through ([`Config::incidents`]).
//!
//! Prometheus: a native document may carry a top-level `prometheus:` key (once): the HTTP
//! API that `source: prometheus` SLIs are evaluated from ([`Config::prometheus`]). With it,
//! every native Prometheus query must contain `{{window}}` (the bucket width goes there).

mod alerting;
mod alertmanager;
mod assemble;
mod common;
mod diag;
mod incidents;
mod model;
mod native;
mod node;
mod openslo;
mod prometheus;
mod promql;
mod reader;

use std::path::{Path as FsPath, PathBuf};

pub use diag::Diagnostic;
pub use model::{
    AlertCondition, AlertPolicy, AutoDeclare, BudgetingMethod, Config, DataSource, Format,
    IncidentSettings, Location, MetricSource, NotificationTarget, PrometheusAuth, PrometheusSource,
    QueryScale, RawType, ServiceConfig, SliConfig, SliKind, SliQuery, SloConfig, SourceKind,
    ThresholdOp, Value,
};
pub use prometheus::{DEFAULT_TENANT_HEADER, DEFAULT_TIMEOUT_SECONDS};
pub use promql::{query_scale, WINDOW_PLACEHOLDER};

use assemble::Builder;
use diag::{Path, Sink};
use node::Node;

/// Failures to read configuration files. They are reported as [`Diagnostic`]s without a
/// position, like every other configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read file: {0}")]
    Read(#[from] std::io::Error),
    #[error("file is not valid utf-8")]
    NotUtf8,
    #[error("cannot list directory: {0}")]
    ReadDir(std::io::Error),
}

/// Loads and validates configuration files. A directory stands for the `*.yaml` and
/// `*.yml` files directly in it, in name order.
///
/// Returns every problem found in every file, sorted by file and position.
pub fn load_files(paths: &[PathBuf]) -> Result<Config, Vec<Diagnostic>> {
    let mut sources: Vec<(String, Result<String, Error>)> = Vec::new();
    for path in paths {
        if path.is_dir() {
            match yaml_files_in(path) {
                Ok(files) => {
                    for file in files {
                        sources.push((file.display().to_string(), read_text(&file)));
                    }
                }
                Err(err) => sources.push((path.display().to_string(), Err(err))),
            }
        } else {
            sources.push((path.display().to_string(), read_text(path)));
        }
    }
    let mut builder = Builder::default();
    for (file, text) in &sources {
        match text {
            Ok(text) => load_source(&mut builder, file, text),
            Err(err) => {
                builder.files.push(file.clone());
                builder.diags.push(Diagnostic {
                    file: file.clone(),
                    line: 0,
                    col: 0,
                    path: String::new(),
                    message: err.to_string(),
                });
            }
        }
    }
    finish(builder)
}

/// Loads and validates one configuration text; `file_name` is used in diagnostics.
pub fn load_str(file_name: &str, text: &str) -> Result<Config, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    load_source(&mut builder, file_name, text);
    finish(builder)
}

fn read_text(path: &FsPath) -> Result<String, Error> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| Error::NotUtf8)
}

fn yaml_files_in(dir: &FsPath) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::ReadDir)? {
        let path = entry.map_err(Error::ReadDir)?.path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn load_source(builder: &mut Builder, file: &str, text: &str) {
    builder.files.push(file.to_string());
    let mut sink = Sink::new(file);
    match node::parse_documents(text) {
        Err(err) => sink.at(err.pos, &Path::root(), err.message),
        Ok(docs) => {
            for doc in &docs {
                document(&mut sink, doc, builder);
            }
        }
    }
    builder.diags.append(&mut sink.diags);
}

/// Dispatches one YAML document on its `apiVersion`.
fn document(sink: &mut Sink, doc: &Node, builder: &mut Builder) {
    if doc.is_null() {
        return; // an empty document, e.g. after a trailing `---`
    }
    let node::Kind::Map(entries) = &doc.kind else {
        sink.expected(doc, &Path::root(), "a mapping with `apiVersion`");
        return;
    };
    let version = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("apiVersion"))
        .map(|(_, v)| v);
    let path = Path::root().key("apiVersion");
    match version {
        None => sink.node(
            doc,
            &Path::root(),
            "missing field `apiVersion` (`nines/v1` or `openslo/v1`)",
        ),
        Some(v) => match v.as_str() {
            Some(native::API_VERSION) => native::document(sink, doc, builder),
            Some(openslo::API_VERSION) => openslo::document(sink, doc, builder),
            Some(other) => sink.node(
                v,
                &path,
                format!("unsupported apiVersion {other:?}, expected `nines/v1` or `openslo/v1`"),
            ),
            None => sink.expected(v, &path, "`nines/v1` or `openslo/v1`"),
        },
    }
}

fn finish(mut builder: Builder) -> Result<Config, Vec<Diagnostic>> {
    openslo::resolve(&mut builder);
    builder.resolve_inherited_alerting();
    builder.resolve_stakeholder_receiver();
    builder.check_unwindowed_queries();
    if builder.diags.is_empty() {
        Ok(std::mem::take(&mut builder.config))
    } else {
        Err(builder.sorted_diagnostics())
    }
}
