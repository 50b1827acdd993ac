//! Collects the definitions of every file and document into one [`Config`], reporting
//! duplicates across files.

use std::collections::HashMap;

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

    /// Adds an SLO to a service, reporting a duplicate name at `pos`.
    pub fn add_slo(
        &mut self,
        sink: &mut Sink,
        service: usize,
        slo: SloConfig,
        pos: Pos,
        path: &Path,
    ) {
        let Some(service) = self.config.services.get_mut(service) else {
            return;
        };
        if let Some(first) = service.slos.iter().find(|s| s.spec.name == slo.spec.name) {
            sink.at(
                pos,
                path,
                format!(
                    "duplicate SLO `{}` in service `{}` (first defined at {})",
                    slo.spec.name, service.name, first.origin
                ),
            );
            return;
        }
        service.slos.push(slo);
    }

    /// Every diagnostic, in file order, then by position.
    pub fn sorted_diagnostics(mut self) -> Vec<Diagnostic> {
        let files = std::mem::take(&mut self.files);
        let order = |file: &str| files.iter().position(|f| f == file).unwrap_or(usize::MAX);
        self.diags.sort_by_key(|d| (order(&d.file), d.line, d.col));
        self.diags
    }
}
