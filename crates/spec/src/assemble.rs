//! Collects the definitions of every file and document into one [`Config`], reporting
//! duplicates across files.

use std::collections::HashMap;

use crate::alerting::{self, PolicySpec, Source, Target};
use crate::diag::{Diagnostic, Path, Sink};
use crate::model::{Config, Location, ServiceConfig, SloConfig};
use crate::node::Pos;

#[derive(Default)]
pub(crate) struct Builder {
    pub config: Config,
    service_index: HashMap<String, usize>,
    /// Services created implicitly by an OpenSLO SLO's `spec.service` (no declaration).
    implicit: Vec<bool>,
    /// File names in load order, to sort diagnostics.
    pub files: Vec<String>,
    pub diags: Vec<Diagnostic>,
    /// OpenSLO documents, converted once every file is read.
    pub openslo: Vec<crate::openslo::Doc>,
    /// The top-level `alerting:` (`None` inside when it has errors) and where it is.
    default_alerting: Option<(Option<PolicySpec>, Location)>,
    /// SLOs without alerting of their own, resolved once every file is read.
    inherit: Vec<Inherit>,
    /// Where the top-level `alertmanager:` is (at most one in the whole configuration).
    alertmanager_at: Option<Location>,
    /// Where the top-level `incidents:` is (at most one in the whole configuration).
    incidents_at: Option<Location>,
    /// `incidents.stakeholder_receiver`, checked against the `alertmanager:` receivers once
    /// every file is read (the two sections may be in different files, in any order).
    stakeholder_receiver: Option<ReceiverRef>,
    /// Where the top-level `prometheus:` is (at most one in the whole configuration).
    prometheus_at: Option<Location>,
    /// Native `source: prometheus` queries without `{{window}}`: errors once every file is
    /// read, if the configuration has a `prometheus:` section to evaluate them with.
    unwindowed: Vec<(String, Pos, Path)>,
}

/// A receiver named outside the `alertmanager:` section, and where it is named.
struct ReceiverRef {
    name: String,
    file: String,
    at: Pos,
    path: Path,
}

/// An SLO that takes the configuration's default alerting, and where its objective is.
struct Inherit {
    service: usize,
    slo: usize,
    file: String,
    objective_at: Pos,
    objective_path: Path,
}

pub(crate) fn location(file: &str, pos: Pos) -> Location {
    Location {
        file: file.to_string(),
        line: pos.line,
        col: pos.col,
    }
}

impl Builder {
    /// Declares a service (native `services[]` entry or OpenSLO `Service`). Returns its
    /// index, or `None` after reporting a duplicate declaration.
    pub fn declare_service(
        &mut self,
        sink: &mut Sink,
        name: &str,
        description: Option<String>,
        pos: Pos,
        path: &Path,
    ) -> Option<usize> {
        if let Some(&index) = self.service_index.get(name) {
            if self.implicit[index] {
                let service = &mut self.config.services[index];
                service.description = description;
                service.origin = location(&sink.file, pos);
                self.implicit[index] = false;
                return Some(index);
            }
            let first = &self.config.services[index].origin;
            sink.at(
                pos,
                path,
                format!("duplicate service `{name}` (first defined at {first})"),
            );
            return None;
        }
        Some(self.push_service(name, description, location(&sink.file, pos), false))
    }

    /// The service an OpenSLO SLO names, created when no document declares it.
    pub fn service_for_slo(&mut self, name: &str, origin: Location) -> usize {
        match self.service_index.get(name) {
            Some(&index) => index,
            None => self.push_service(name, None, origin, true),
        }
    }

    fn push_service(
        &mut self,
        name: &str,
        description: Option<String>,
        origin: Location,
        implicit: bool,
    ) -> usize {
        let index = self.config.services.len();
        self.config.services.push(ServiceConfig {
            name: name.to_string(),
            description,
            slos: Vec::new(),
            origin,
        });
        self.implicit.push(implicit);
        self.service_index.insert(name.to_string(), index);
        index
    }

    /// Adds an SLO to a service, reporting a duplicate name at `pos`. Returns its index in
    /// the service.
    pub fn add_slo(
        &mut self,
        sink: &mut Sink,
        service: usize,
        slo: SloConfig,
        pos: Pos,
        path: &Path,
    ) -> Option<usize> {
        let service = self.config.services.get_mut(service)?;
        if let Some(first) = service.slos.iter().find(|s| s.spec.name == slo.spec.name) {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate SLO `{}` in service `{}` (first defined at {})",
                    slo.spec.name, service.name, first.origin
                ),
            );
            return None;
        }
        service.slos.push(slo);
        Some(service.slos.len() - 1)
    }

    /// Records the top-level `alerting:` (at most one in the whole configuration).
    pub fn set_default_alerting(
        &mut self,
        sink: &mut Sink,
        spec: Option<PolicySpec>,
        pos: Pos,
        path: &Path,
    ) {
        if let Some((_, first)) = &self.default_alerting {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate top-level `alerting` (first defined at {first}): the default policy applies to the whole configuration, so write it once"
                ),
            );
            return;
        }
        self.default_alerting = Some((spec, location(&sink.file, pos)));
    }

    /// Records where a top-level `alertmanager:` is. Returns false, after reporting, when
    /// the configuration already has one: notification routing is written once.
    pub fn claim_alertmanager(&mut self, sink: &mut Sink, pos: Pos, path: &Path) -> bool {
        if let Some(first) = &self.alertmanager_at {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate top-level `alertmanager` (first defined at {first}): notification routing applies to the whole configuration, so write it once"
                ),
            );
            return false;
        }
        self.alertmanager_at = Some(location(&sink.file, pos));
        true
    }

    /// Records where a top-level `incidents:` is. Returns false, after reporting, when the
    /// configuration already has one.
    pub fn claim_incidents(&mut self, sink: &mut Sink, pos: Pos, path: &Path) -> bool {
        if let Some(first) = &self.incidents_at {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate top-level `incidents` (first defined at {first}): incident settings apply to the whole configuration, so write them once"
                ),
            );
            return false;
        }
        self.incidents_at = Some(location(&sink.file, pos));
        true
    }

    /// Records where a top-level `prometheus:` is. Returns false, after reporting, when the
    /// configuration already has one.
    pub fn claim_prometheus(&mut self, sink: &mut Sink, pos: Pos, path: &Path) -> bool {
        if let Some(first) = &self.prometheus_at {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate top-level `prometheus` (first defined at {first}): the data source applies to the whole configuration, so write it once"
                ),
            );
            return false;
        }
        self.prometheus_at = Some(location(&sink.file, pos));
        true
    }

    /// Notes a `source: prometheus` query without `{{window}}` (see
    /// [`Builder::check_unwindowed_queries`]).
    pub fn unwindowed_query(&mut self, sink: &Sink, pos: Pos, path: &Path) {
        self.unwindowed.push((sink.file.clone(), pos, path.clone()));
    }

    /// A query evaluated per bucket needs the bucket width in its range selectors: without
    /// `{{window}}` each bucket would see a fixed range that overlaps its neighbours.
    pub fn check_unwindowed_queries(&mut self) {
        let Some(at) = &self.prometheus_at else {
            return;
        };
        for (file, pos, path) in std::mem::take(&mut self.unwindowed) {
            let mut sink = Sink::new(&file);
            sink.at(
                pos,
                &path,
                format!(
                    "has no `{}` placeholder: the `prometheus:` data source (at {at}) evaluates it per bucket, so write the range as `[{}]`",
                    crate::WINDOW_PLACEHOLDER, crate::WINDOW_PLACEHOLDER
                ),
            );
            self.diags.append(&mut sink.diags);
        }
    }

    /// Records `incidents.stakeholder_receiver` (whose value is at `at`), to be checked by
    /// [`Builder::resolve_stakeholder_receiver`].
    pub fn stakeholder_receiver(&mut self, sink: &Sink, name: &str, at: Pos, path: &Path) {
        self.config.incidents.stakeholder_receiver = Some(name.to_string());
        self.stakeholder_receiver = Some(ReceiverRef {
            name: name.to_string(),
            file: sink.file.clone(),
            at,
            path: path.clone(),
        });
    }

    /// Checks that `incidents.stakeholder_receiver` names a receiver of the
    /// `alertmanager:` section, once every file is read. Nothing is reported when that
    /// section has errors of its own (its receivers are unknown).
    pub fn resolve_stakeholder_receiver(&mut self) {
        let Some(r) = self.stakeholder_receiver.take() else {
            return;
        };
        let message = match (&self.alertmanager_at, &self.config.alertmanager) {
            (None, _) => format!(
                "unknown receiver `{}`: the configuration has no `alertmanager:` section to define it",
                r.name
            ),
            (Some(_), None) => return,
            (Some(at), Some(am)) => {
                if am.receivers.iter().any(|rc| rc.name == r.name) {
                    return;
                }
                let names: Vec<String> =
                    am.receivers.iter().map(|rc| format!("`{}`", rc.name)).collect();
                format!(
                    "unknown receiver `{}`: the `alertmanager:` section (at {at}) defines {}",
                    r.name,
                    names.join(", ")
                )
            }
        };
        let mut sink = Sink::new(&r.file);
        sink.at(r.at, &r.path, message);
        self.diags.append(&mut sink.diags);
    }

    /// Marks an SLO (added by [`Builder::add_slo`]) as taking the default alerting;
    /// `objective_at` is where problems with that policy are reported.
    pub fn inherit_alerting(
        &mut self,
        service: usize,
        slo: usize,
        file: &str,
        objective_at: Pos,
        objective_path: &Path,
    ) {
        self.inherit.push(Inherit {
            service,
            slo,
            file: file.to_string(),
            objective_at,
            objective_path: objective_path.clone(),
        });
    }

    /// Gives every SLO without alerting of its own the top-level `alerting:` or the
    /// default multiwindow policy, once every file is read.
    pub fn resolve_inherited_alerting(&mut self) {
        let builtin = PolicySpec::Default {
            inhibit: true,
            at: Pos::default(),
            path: Path::root(),
        };
        let (spec, source) = match &self.default_alerting {
            // the top-level block has errors, reported where it is
            Some((None, _)) => return,
            Some((Some(spec), origin)) => (spec, Source::TopLevel(origin)),
            None => (&builtin, Source::BuiltIn),
        };
        for inherit in std::mem::take(&mut self.inherit) {
            let Some(slo) = self
                .config
                .services
                .get_mut(inherit.service)
                .and_then(|s| s.slos.get_mut(inherit.slo))
            else {
                continue;
            };
            let mut sink = Sink::new(&inherit.file);
            let source = match &source {
                Source::TopLevel(origin) => Source::TopLevel(origin),
                _ => Source::BuiltIn,
            };
            slo.alert_policy = alerting::resolve(
                &mut sink,
                spec,
                Target::of(&slo.spec),
                source,
                (inherit.objective_at, &inherit.objective_path),
            );
            self.diags.append(&mut sink.diags);
        }
    }

    /// Every diagnostic, in file order, then by position.
    pub fn sorted_diagnostics(mut self) -> Vec<Diagnostic> {
        let files = std::mem::take(&mut self.files);
        let order = |file: &str| files.iter().position(|f| f == file).unwrap_or(usize::MAX);
        self.diags.sort_by_key(|d| (order(&d.file), d.line, d.col));
        self.diags
    }
}
