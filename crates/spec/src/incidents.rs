//! The native top-level `incidents:` key:
//!
//! ```yaml
//! incidents:
//!   auto_declare:                      # optional: a firing alert matching these declares an incident
//!     matchers: ['severity="page"']    # Alertmanager matcher strings; this is the default
//!     severity: SEV2                   # SEV1..SEV5 (or 1..5), default SEV2
//!   stakeholder_receiver: team-tickets # optional: a receiver of the `alertmanager:` section
//! ```
//!
//! Severities are kept as numbers 1..=5 so that `spec` does not depend on the `incident`
//! crate. The stakeholder receiver is checked once every file is read
//! ([`Builder::resolve_stakeholder_receiver`]).

use crate::assemble::Builder;
use crate::diag::{Path, Sink};
use crate::model::{AutoDeclare, IncidentSettings};
use crate::node::{Kind, Node, Pos};
use crate::reader::{self, fields};

/// Reads the top-level `incidents:` of a native document; `key` is where the key is, where
/// a duplicate section is reported. A duplicate is still checked, but not kept.
pub(crate) fn section(sink: &mut Sink, node: &Node, path: &Path, key: Pos, builder: &mut Builder) {
    let first = builder.claim_incidents(sink, key, path);
    let Some(f) = fields(sink, node, path, &["auto_declare", "stakeholder_receiver"]) else {
        return;
    };
    let auto_declare = f
        .get("auto_declare")
        .map(|n| auto_declare(sink, n, &f.path("auto_declare")));
    let receiver = f.get("stakeholder_receiver").and_then(|n| {
        let path = f.path("stakeholder_receiver");
        receiver_name(sink, n, &path).map(|name| (name, n.pos, path))
    });
    if !first {
        return;
    }
    builder.config.incidents = IncidentSettings {
        auto_declare: auto_declare.flatten(),
        stakeholder_receiver: None,
    };
    if let Some((name, at, path)) = receiver {
        builder.stakeholder_receiver(sink, name, at, &path);
    }
}

fn auto_declare(sink: &mut Sink, node: &Node, path: &Path) -> Option<AutoDeclare> {
    let f = fields(sink, node, path, &["matchers", "severity"])?;
    let matchers = match f.get("matchers") {
        Some(n) => matchers(sink, n, &f.path("matchers")),
        None => default_matchers(sink, node, path),
    };
    let severity = match f.get("severity") {
        Some(n) => severity(sink, n, &f.path("severity")),
        None => Some(AutoDeclare::DEFAULT_SEVERITY),
    };
    Some(AutoDeclare {
        matchers: matchers?,
        severity: severity?,
    })
}

/// A list of Alertmanager matcher strings (each one or more matchers, `{a="1", b=~"x"}`),
/// as one conjunction, which must not be empty (it would match every alert).
fn matchers(sink: &mut Sink, node: &Node, path: &Path) -> Option<notify::Matchers> {
    let Kind::Seq(_) = node.kind else {
        sink.expected(
            node,
            path,
            "a list of matcher strings such as 'severity=\"page\"'",
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (item, item_path) in reader::list(sink, node, path) {
        let Some(text) = reader::string(sink, item, &item_path) else {
            ok = false;
            continue;
        };
        match notify::Matchers::parse(text) {
            Ok(parsed) => out.extend(parsed.0),
            Err(err) => {
                sink.node(item, &item_path, err.to_string());
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    if out.is_empty() {
        sink.node(
            node,
            path,
            "no matchers: every alert would declare an incident; list at least one, such as 'severity=\"page\"'",
        );
        return None;
    }
    Some(notify::Matchers(out))
}

fn default_matchers(sink: &mut Sink, node: &Node, path: &Path) -> Option<notify::Matchers> {
    match notify::Matchers::parse(AutoDeclare::DEFAULT_MATCHERS) {
        Ok(m) => Some(m),
        // The constant parses; reported rather than panicking all the same.
        Err(err) => {
            sink.node(node, path, format!("default matchers: {err}"));
            None
        }
    }
}

/// `SEV1`..`SEV5` (any case) or `1`..`5`.
fn severity(sink: &mut Sink, node: &Node, path: &Path) -> Option<u8> {
    let level = match &node.kind {
        Kind::Int(i) => u8::try_from(*i).ok(),
        Kind::Str(s) => s
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("sev"))
            .and_then(|_| s.get(3..))
            .filter(|d| d.len() == 1)
            .and_then(|d| d.parse::<u8>().ok()),
        _ => None,
    };
    match level {
        Some(l @ 1..=5) => Some(l),
        _ => {
            let got = match &node.kind {
                Kind::Int(i) => i.to_string(),
                Kind::Str(s) => format!("{s:?}"),
                _ => node.type_name().to_string(),
            };
            sink.node(
                node,
                path,
                format!("expected a severity SEV1 to SEV5 (or 1 to 5), got {got}"),
            );
            None
        }
    }
}

/// A receiver name: a non-empty string.
fn receiver_name<'n>(sink: &mut Sink, node: &'n Node, path: &Path) -> Option<&'n str> {
    let name = reader::string(sink, node, path)?;
    if name.trim().is_empty() {
        sink.node(
            node,
            path,
            "must not be empty: name a receiver of `alertmanager:`",
        );
        return None;
    }
    Some(name)
}
