//! OpenSLO v1 (`apiVersion: openslo/v1`): SLO, SLI, Service, DataSource, AlertPolicy,
//! AlertCondition and AlertNotificationTarget documents.
//!
//! Documents are collected while the files are read ([`document`]) and converted once every
//! file is in ([`resolve`]), because references (`indicatorRef`, `metricSourceRef`,
//! `alertPolicyRef`, `conditionRef`, `targetRef`) may point into other files.
//!
//! Mapping to nines:
//! - each objective of an SLO becomes one SLO; with several objectives the name gets the
//!   objective's `displayName` (slugged) or its index as a suffix;
//! - `target` (0..1) or `targetPercent` (0..100) becomes the objective;
//! - `timeWindow` rolling durations use s/m/h/d/w; calendar windows are `1w`, `1M` or `1Q`
//!   (week, month, quarter). The specification's own example writes a month as `1m`, so a
//!   calendar `1m` is read as a month too (a one-minute calendar window is meaningless);
//! - `timeSliceWindow` becomes the counter bucket, `timeSliceTarget` the slice target;
//! - ratio metrics from Prometheus become PromQL queries; other metric source types are
//!   kept as data ([`SourceKind::External`]);
//! - the SLI kind is not part of OpenSLO: ratio metrics are read as availability, threshold
//!   metrics as latency;
//! - Prometheus queries must parse as PromQL (`promql-parser`);
//! - alerting: the `alertPolicies` attached to an SLO become its
//!   [`SloConfig::alert_policy`]: every `burnrate` AlertCondition of every attached policy
//!   is one `burn_rate` condition with one tier: window = `lookbackWindow`, burn rate =
//!   `threshold`, `for` = `alertAfter` (default 0). `op: gt` is read as `gte` (the
//!   difference is one point on a continuous scale); `lt`/`lte` cannot alert on a burn
//!   rate and are errors when the condition is attached to an SLO. `severity` `page`,
//!   `critical` or `high` (any case) pages, anything else is a ticket. The policy is named
//!   after the attached AlertPolicy (several: their names joined with `+`) and inhibits
//!   lower tiers. An SLO without `alertPolicies` takes the configuration's default (the
//!   native top-level `alerting:`, else the multiwindow policy).

use std::collections::{HashMap, HashSet};

use crate::alerting::{self, Target};
use crate::assemble::{location, Builder};
use crate::common;
use crate::diag::{Path, Sink};
use crate::model::{
    AlertCondition, AlertPolicy, BudgetingMethod, DataSource, Format, MetricSource,
    NotificationTarget, RawType, SliConfig, SliKind, SliQuery, SloConfig, SourceKind, ThresholdOp,
    Value,
};
use crate::node::{Kind, Node, Pos};
use crate::reader::{self, fields, Fields};

pub(crate) const API_VERSION: &str = "openslo/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DocKind {
    Slo,
    Sli,
    Service,
    DataSource,
    AlertPolicy,
    AlertCondition,
    AlertNotificationTarget,
}

const KINDS: [(&str, DocKind); 7] = [
    ("SLO", DocKind::Slo),
    ("SLI", DocKind::Sli),
    ("Service", DocKind::Service),
    ("DataSource", DocKind::DataSource),
    ("AlertPolicy", DocKind::AlertPolicy),
    ("AlertCondition", DocKind::AlertCondition),
    ("AlertNotificationTarget", DocKind::AlertNotificationTarget),
];

impl DocKind {
    fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(name, _)| name)
    }
}

/// One OpenSLO document, checked up to its `spec`.
#[derive(Debug)]
pub(crate) struct Doc {
    file: String,
    node: Node,
    kind: DocKind,
    meta: Option<Meta>,
}

#[derive(Debug, Clone)]
struct Meta {
    name: String,
    name_pos: Pos,
}

const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const META_FIELDS: &[&str] = &["name", "displayName", "labels", "annotations"];

/// Reads one OpenSLO document's envelope; the spec is read by [`resolve`].
pub(crate) fn document(sink: &mut Sink, doc: &Node, builder: &mut Builder) {
    let Some(f) = fields(sink, doc, &Path::root(), OBJECT_FIELDS) else {
        return;
    };
    let kind = f
        .required(sink, "kind")
        .and_then(|n| common::one_of(sink, n, &f.path("kind"), "kind", &KINDS));
    let meta = f
        .required(sink, "metadata")
        .and_then(|n| metadata(sink, n, &f.path("metadata")));
    if kind != Some(DocKind::Service) && !f.has("spec") {
        f.required(sink, "spec");
        return;
    }
    if let Some(kind) = kind {
        builder.openslo.push(Doc {
            file: sink.file.clone(),
            node: doc.clone(),
            kind,
            meta,
        });
    }
}

fn metadata(sink: &mut Sink, node: &Node, path: &Path) -> Option<Meta> {
    let f = fields(sink, node, path, META_FIELDS)?;
    for key in ["labels", "annotations"] {
        if let Some(n) = f.get(key) {
            if !matches!(n.kind, Kind::Map(_)) {
                sink.expected(n, &f.path(key), "a mapping");
            }
        }
    }
    f.opt_str(sink, "displayName");
    let name_node = f.required(sink, "name")?;
    let name = common::name(sink, name_node, &f.path("name"))?;
    Some(Meta {
        name,
        name_pos: name_node.pos,
    })
}

/// Names defined by documents, per kind, and what the SLOs need to know about them.
#[derive(Default)]
struct Registry {
    /// DataSource name -> its type.
    data_sources: HashMap<String, String>,
    /// Names of conditions, targets and policies defined by documents.
    documented: HashSet<(&'static str, String)>,
    conditions: HashSet<String>,
    targets: HashSet<String>,
    policies: HashSet<String>,
    /// SLI name -> the indicator (None when invalid; its errors are already reported).
    slis: HashMap<String, Option<Indicator>>,
    /// AlertCondition name -> where its fields are, for problems found when it is attached.
    condition_at: HashMap<String, ConditionAt>,
    /// Conditions whose `op` was already reported.
    op_reported: HashSet<String>,
}

/// Where a condition's `op` and `threshold` were written.
#[derive(Debug, Clone)]
struct ConditionAt {
    file: String,
    op: (Pos, Path),
    threshold: (Pos, Path),
}

#[derive(Debug, Clone)]
enum Metric {
    Threshold(MetricSource),
    Ratio {
        total: MetricSource,
        good: Option<MetricSource>,
        bad: Option<MetricSource>,
    },
    Raw {
        metric: MetricSource,
        raw_type: RawType,
    },
}

#[derive(Debug, Clone)]
struct Indicator {
    metric: Metric,
}

/// Converts every collected OpenSLO document, resolving references across files.
pub(crate) fn resolve(builder: &mut Builder) {
    let docs = std::mem::take(&mut builder.openslo);
    let mut reg = Registry::default();

    // Duplicate names per kind.
    let mut first: HashMap<(DocKind, String), String> = HashMap::new();
    let mut duplicate = vec![false; docs.len()];
    for (i, doc) in docs.iter().enumerate() {
        let Some(meta) = &doc.meta else { continue };
        if doc.kind == DocKind::Slo {
            // Nothing refers to SLO documents; the SLOs they make must be unique per
            // service (checked when added), not the documents. The specification's own
            // examples reuse one SLO name in two files.
            continue;
        }
        let here = location(&doc.file, meta.name_pos);
        match first.get(&(doc.kind, meta.name.clone())) {
            Some(at) => {
                let mut sink = Sink::new(&doc.file);
                sink.at(
                    meta.name_pos,
                    &Path::root().key("metadata").key("name"),
                    format!(
                        "duplicate {} `{}` (first defined at {at})",
                        doc.kind.as_str(),
                        meta.name
                    ),
                );
                builder.diags.append(&mut sink.diags);
                duplicate[i] = true;
            }
            None => {
                first.insert((doc.kind, meta.name.clone()), here.to_string());
            }
        }
    }

    let order = [
        DocKind::DataSource,
        DocKind::AlertNotificationTarget,
        DocKind::AlertCondition,
        DocKind::AlertPolicy,
        DocKind::Service,
        DocKind::Sli,
        DocKind::Slo,
    ];
    // Register the names of referable documents first so that references resolve even
    // when the referenced document is invalid (its own errors are reported once).
    for doc in &docs {
        if let Some(meta) = &doc.meta {
            let name = meta.name.clone();
            match doc.kind {
                DocKind::AlertCondition => {
                    reg.conditions.insert(name.clone());
                    reg.documented.insert(("AlertCondition", name));
                }
                DocKind::AlertNotificationTarget => {
                    reg.targets.insert(name.clone());
                    reg.documented.insert(("AlertNotificationTarget", name));
                }
                DocKind::AlertPolicy => {
                    reg.policies.insert(name.clone());
                    reg.documented.insert(("AlertPolicy", name));
                }
                DocKind::Sli => {
                    reg.slis.entry(name).or_insert(None);
                }
                _ => {}
            }
        }
    }
    for kind in order {
        for (i, doc) in docs.iter().enumerate() {
            if doc.kind != kind {
                continue;
            }
            let mut sink = Sink::new(&doc.file);
            let keep = !duplicate[i];
            convert(&mut sink, doc, keep, &mut reg, builder);
            builder.diags.append(&mut sink.diags);
        }
    }
}

fn convert(sink: &mut Sink, doc: &Doc, keep: bool, reg: &mut Registry, builder: &mut Builder) {
    let root = Path::root();
    let Kind::Map(entries) = &doc.node.kind else {
        return;
    };
    let spec = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("spec"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null());
    let spec_path = root.key("spec");
    let origin = location(&doc.file, doc.node.pos);
    let name = doc.meta.as_ref().filter(|_| keep).map(|m| m.name.clone());
    match doc.kind {
        DocKind::DataSource => {
            let Some(spec) = spec else { return };
            if let Some(ds) = data_source(sink, spec, &spec_path, origin) {
                if let Some(name) = name {
                    reg.data_sources
                        .insert(name.clone(), ds.source_type.clone());
                    builder.config.data_sources.push(DataSource { name, ..ds });
                }
            }
        }
        DocKind::AlertNotificationTarget => {
            let Some(spec) = spec else { return };
            if let Some(t) = target(sink, spec, &spec_path, origin) {
                if let Some(name) = name {
                    builder
                        .config
                        .notification_targets
                        .push(NotificationTarget { name, ..t });
                }
            }
        }
        DocKind::AlertCondition => {
            let Some(spec) = spec else { return };
            if let Some((c, at)) = condition(sink, spec, &spec_path, origin) {
                if let Some(name) = name {
                    reg.condition_at.insert(name.clone(), at);
                    builder
                        .config
                        .alert_conditions
                        .push(AlertCondition { name, ..c });
                }
            }
        }
        DocKind::AlertPolicy => {
            let Some(spec) = spec else { return };
            if let Some(p) = policy(sink, spec, &spec_path, origin, reg, builder) {
                if let Some(name) = name {
                    builder
                        .config
                        .alert_policies
                        .push(AlertPolicy { name, ..p });
                }
            }
        }
        DocKind::Service => {
            let description = spec.and_then(|spec| {
                let f = fields(sink, spec, &spec_path, &["description"])?;
                f.opt_str(sink, "description").map(str::to_string)
            });
            if let (Some(name), Some(meta)) = (name, &doc.meta) {
                builder.declare_service(
                    sink,
                    &name,
                    description,
                    meta.name_pos,
                    &root.key("metadata").key("name"),
                );
            }
        }
        DocKind::Sli => {
            let Some(spec) = spec else { return };
            let indicator = sli_spec(sink, spec, &spec_path, reg);
            if let Some(name) = name {
                reg.slis.insert(name, indicator);
            }
        }
        DocKind::Slo => {
            let Some(spec) = spec else { return };
            slo(sink, doc, spec, &spec_path, keep, reg, builder);
        }
    }
}

fn data_source(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    origin: crate::Location,
) -> Option<DataSource> {
    let f = fields(
        sink,
        node,
        path,
        &["description", "type", "connectionDetails"],
    )?;
    let description = f.opt_str(sink, "description").map(str::to_string);
    let source_type = f.req_str(sink, "type")?.to_string();
    let connection_details = f
        .get("connectionDetails")
        .map_or(Value::Null, common::value);
    Some(DataSource {
        name: String::new(),
        description,
        source_type,
        connection_details,
        origin,
    })
}

fn target(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    origin: crate::Location,
) -> Option<NotificationTarget> {
    let f = fields(sink, node, path, &["description", "target"])?;
    let description = f.opt_str(sink, "description").map(str::to_string);
    let target = f.req_str(sink, "target")?.to_string();
    Some(NotificationTarget {
        name: String::new(),
        description,
        target,
        origin,
    })
}

const OPS: [(&str, ThresholdOp); 4] = [
    ("lt", ThresholdOp::Lt),
    ("lte", ThresholdOp::Lte),
    ("gt", ThresholdOp::Gt),
    ("gte", ThresholdOp::Gte),
];

fn condition(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    origin: crate::Location,
) -> Option<(AlertCondition, ConditionAt)> {
    let f = fields(sink, node, path, &["description", "severity", "condition"])?;
    let description = f.opt_str(sink, "description").map(str::to_string);
    let severity = f.req_str(sink, "severity").map(str::to_string);
    let cond = f.required(sink, "condition").and_then(|n| {
        fields(
            sink,
            n,
            &f.path("condition"),
            &["kind", "op", "threshold", "lookbackWindow", "alertAfter"],
        )
    });
    let cond = cond?;
    let kind = cond.required(sink, "kind").and_then(|n| {
        common::one_of(
            sink,
            n,
            &cond.path("kind"),
            "condition kind",
            &[("burnrate", ())],
        )
    });
    let op = cond
        .required(sink, "op")
        .and_then(|n| common::one_of(sink, n, &cond.path("op"), "operator", &OPS));
    let threshold = cond.required(sink, "threshold").and_then(|n| {
        let t = reader::number(sink, n, &cond.path("threshold"))?;
        if t > 0.0 {
            Some(t)
        } else {
            sink.node(
                n,
                &cond.path("threshold"),
                format!("must be above 0, got {}", common::show(t)),
            );
            None
        }
    });
    let lookback = cond
        .required(sink, "lookbackWindow")
        .and_then(|n| common::duration(sink, n, &cond.path("lookbackWindow")));
    let alert_after = match cond.get("alertAfter") {
        None => Some(None),
        Some(n) => common::duration(sink, n, &cond.path("alertAfter")).map(Some),
    };
    kind?;
    let at = |key: &str| {
        (
            cond.get(key).map_or(cond.node.pos, |n| n.pos),
            cond.path(key),
        )
    };
    let condition_at = ConditionAt {
        file: sink.file.clone(),
        op: at("op"),
        threshold: at("threshold"),
    };
    Some((
        AlertCondition {
            name: String::new(),
            description,
            severity: severity?,
            op: op?,
            threshold: threshold?,
            lookback_window: lookback?,
            alert_after: alert_after?,
            origin,
        },
        condition_at,
    ))
}

/// An inline object (`kind: X`, `metadata`, `spec`) inside another document.
fn inline<'n>(
    sink: &mut Sink,
    node: &'n Node,
    path: &Path,
    kind: DocKind,
) -> Option<(Meta, &'n Node, Path)> {
    let f = fields(sink, node, path, OBJECT_FIELDS)?;
    if let Some(n) = f.get("apiVersion") {
        if n.as_str() != Some(API_VERSION) {
            sink.node(
                n,
                &f.path("apiVersion"),
                format!("expected `{API_VERSION}`"),
            );
        }
    }
    if let Some(n) = f.get("kind") {
        if n.as_str() != Some(kind.as_str()) {
            sink.node(n, &f.path("kind"), format!("expected `{}`", kind.as_str()));
        }
    }
    let meta = f
        .required(sink, "metadata")
        .and_then(|n| metadata(sink, n, &f.path("metadata")));
    let spec = f.required(sink, "spec");
    Some((meta?, spec?, f.path("spec")))
}

/// `- someRef: name` or an inline object; returns the name it resolves to.
fn reference_or_inline<'n>(
    sink: &mut Sink,
    node: &'n Node,
    path: &Path,
    ref_key: &str,
) -> Option<Result<(String, Pos, Path), &'n Node>> {
    let is_ref = matches!(&node.kind, Kind::Map(entries)
        if entries.iter().any(|(k, _)| k.as_str() == Some(ref_key)));
    if !is_ref {
        return Some(Err(node));
    }
    let f = fields(sink, node, path, &[ref_key])?;
    let n = f.required(sink, ref_key)?;
    let name = reader::string(sink, n, &f.path(ref_key))?;
    Some(Ok((name.to_string(), n.pos, f.path(ref_key))))
}

fn policy(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    origin: crate::Location,
    reg: &mut Registry,
    builder: &mut Builder,
) -> Option<AlertPolicy> {
    let f = fields(
        sink,
        node,
        path,
        &[
            "description",
            "alertWhenNoData",
            "alertWhenResolved",
            "alertWhenBreaching",
            "conditions",
            "notificationTargets",
        ],
    )?;
    let description = f.opt_str(sink, "description").map(str::to_string);
    let no_data = f.opt_bool(sink, "alertWhenNoData").unwrap_or(false);
    let resolved = f.opt_bool(sink, "alertWhenResolved").unwrap_or(false);
    let breaching = f.opt_bool(sink, "alertWhenBreaching").unwrap_or(true);
    let mut ok = true;
    let mut conditions = Vec::new();
    if f.required(sink, "conditions").is_none() {
        ok = false;
    }
    for (item, item_path) in f.list(sink, "conditions") {
        match reference_or_inline(sink, item, &item_path, "conditionRef") {
            None => ok = false,
            Some(Ok((name, pos, ref_path))) => {
                if reg.conditions.contains(&name) {
                    conditions.push(name);
                } else {
                    sink.at(
                        pos,
                        &ref_path,
                        format!("conditionRef `{name}` points to no AlertCondition"),
                    );
                    ok = false;
                }
            }
            Some(Err(inline_node)) => {
                let Some((meta, spec, spec_path)) =
                    inline(sink, inline_node, &item_path, DocKind::AlertCondition)
                else {
                    ok = false;
                    continue;
                };
                let origin = location(&sink.file, inline_node.pos);
                match condition(sink, spec, &spec_path, origin) {
                    Some((c, at)) => {
                        if register_inline(sink, reg, "AlertCondition", &meta, &item_path) {
                            reg.conditions.insert(meta.name.clone());
                            reg.condition_at.insert(meta.name.clone(), at);
                            builder.config.alert_conditions.push(AlertCondition {
                                name: meta.name.clone(),
                                ..c
                            });
                        }
                        conditions.push(meta.name);
                    }
                    None => ok = false,
                }
            }
        }
    }
    let mut targets = Vec::new();
    for (item, item_path) in f.list(sink, "notificationTargets") {
        match reference_or_inline(sink, item, &item_path, "targetRef") {
            None => ok = false,
            Some(Ok((name, pos, ref_path))) => {
                if reg.targets.contains(&name) {
                    targets.push(name);
                } else {
                    sink.at(
                        pos,
                        &ref_path,
                        format!("targetRef `{name}` points to no AlertNotificationTarget"),
                    );
                    ok = false;
                }
            }
            Some(Err(inline_node)) => {
                let Some((meta, spec, spec_path)) = inline(
                    sink,
                    inline_node,
                    &item_path,
                    DocKind::AlertNotificationTarget,
                ) else {
                    ok = false;
                    continue;
                };
                let origin = location(&sink.file, inline_node.pos);
                match target(sink, spec, &spec_path, origin) {
                    Some(t) => {
                        if register_inline(sink, reg, "AlertNotificationTarget", &meta, &item_path)
                        {
                            reg.targets.insert(meta.name.clone());
                            builder
                                .config
                                .notification_targets
                                .push(NotificationTarget {
                                    name: meta.name.clone(),
                                    ..t
                                });
                        }
                        targets.push(meta.name);
                    }
                    None => ok = false,
                }
            }
        }
    }
    ok.then_some(AlertPolicy {
        name: String::new(),
        description,
        alert_when_no_data: no_data,
        alert_when_resolved: resolved,
        alert_when_breaching: breaching,
        conditions,
        notification_targets: targets,
        origin,
    })
}

/// Whether an inline object is new (to be added). An inline object named like a document
/// of the same kind is an error; the same inline object repeated in several places (a
/// common copy-paste) is kept once.
fn register_inline(
    sink: &mut Sink,
    reg: &mut Registry,
    kind: &'static str,
    meta: &Meta,
    path: &Path,
) -> bool {
    if reg.documented.contains(&(kind, meta.name.clone())) {
        sink.at(
            meta.name_pos,
            &path.key("metadata").key("name"),
            format!(
                "duplicate {kind} `{}`: a document of that name exists; use a reference",
                meta.name
            ),
        );
        return false;
    }
    let seen = match kind {
        "AlertCondition" => reg.conditions.contains(&meta.name),
        "AlertNotificationTarget" => reg.targets.contains(&meta.name),
        _ => reg.policies.contains(&meta.name),
    };
    !seen
}

const RATIO_FIELDS: &[&str] = &["counter", "good", "bad", "total", "rawType", "raw"];

fn sli_spec(sink: &mut Sink, node: &Node, path: &Path, reg: &Registry) -> Option<Indicator> {
    let f = fields(
        sink,
        node,
        path,
        &["description", "thresholdMetric", "ratioMetric"],
    )?;
    f.opt_str(sink, "description");
    match (f.get("thresholdMetric"), f.get("ratioMetric")) {
        (None, None) => {
            sink.node(
                node,
                path,
                "missing field `ratioMetric` (or `thresholdMetric`)",
            );
            None
        }
        (Some(_), Some(n)) => {
            sink.node(
                n,
                &f.path("ratioMetric"),
                "set `ratioMetric` or `thresholdMetric`, not both",
            );
            None
        }
        (Some(n), None) => {
            let metric = metric_holder(sink, n, &f.path("thresholdMetric"), reg)?;
            Some(Indicator {
                metric: Metric::Threshold(metric),
            })
        }
        (None, Some(n)) => {
            let path = f.path("ratioMetric");
            let r = fields(sink, n, &path, RATIO_FIELDS)?;
            r.opt_bool(sink, "counter");
            if let Some(raw) = r.get("raw") {
                for key in ["good", "bad", "total"] {
                    if let Some(n) = r.get(key) {
                        sink.node(n, &r.path(key), "not allowed together with `raw`");
                    }
                }
                let metric = metric_holder(sink, raw, &r.path("raw"), reg);
                let raw_type = r.required(sink, "rawType").and_then(|n| {
                    common::one_of(
                        sink,
                        n,
                        &r.path("rawType"),
                        "rawType",
                        &[("success", RawType::Success), ("failure", RawType::Failure)],
                    )
                });
                if ["good", "bad", "total"].iter().any(|k| r.has(k)) {
                    return None;
                }
                return Some(Indicator {
                    metric: Metric::Raw {
                        metric: metric?,
                        raw_type: raw_type?,
                    },
                });
            }
            if let Some(n) = r.get("rawType") {
                sink.node(n, &r.path("rawType"), "`rawType` requires `raw`");
            }
            let total = r
                .required(sink, "total")
                .and_then(|n| metric_holder(sink, n, &r.path("total"), reg));
            let good = r
                .get("good")
                .map(|n| metric_holder(sink, n, &r.path("good"), reg));
            let bad = r
                .get("bad")
                .map(|n| metric_holder(sink, n, &r.path("bad"), reg));
            match (&good, &bad) {
                (None, None) => {
                    sink.node(n, &path, "missing field `good` (or `bad`)");
                    return None;
                }
                (Some(_), Some(_)) => {
                    if let Some(b) = r.get("bad") {
                        sink.node(b, &r.path("bad"), "set `good` or `bad`, not both");
                    }
                    return None;
                }
                _ => {}
            }
            if r.has("rawType") {
                return None;
            }
            let good = match good {
                Some(g) => Some(g?),
                None => None,
            };
            let bad = match bad {
                Some(b) => Some(b?),
                None => None,
            };
            Some(Indicator {
                metric: Metric::Ratio {
                    total: total?,
                    good,
                    bad,
                },
            })
        }
    }
}

/// `{ metricSource: { metricSourceRef, type, spec } }`.
fn metric_holder(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    reg: &Registry,
) -> Option<MetricSource> {
    let f = fields(sink, node, path, &["metricSource"])?;
    let n = f.required(sink, "metricSource")?;
    metric_source(sink, n, &f.path("metricSource"), reg)
}

fn metric_source(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    reg: &Registry,
) -> Option<MetricSource> {
    let f = fields(sink, node, path, &["metricSourceRef", "type", "spec"])?;
    let source_ref = f.opt_str(sink, "metricSourceRef").map(str::to_string);
    let own_type = f.opt_str(sink, "type").map(str::to_string);
    let ref_type = match (&source_ref, f.get("metricSourceRef")) {
        (Some(name), Some(n)) => match reg.data_sources.get(name) {
            Some(t) => Some(t.clone()),
            None => {
                sink.node(
                    n,
                    &f.path("metricSourceRef"),
                    format!("metricSourceRef `{name}` points to no DataSource"),
                );
                return None;
            }
        },
        _ => None,
    };
    let source_type = match (own_type, ref_type) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            if source_ref.is_none() && !f.has("metricSourceRef") {
                sink.node(node, path, "missing field `type` (or `metricSourceRef`)");
            }
            return None;
        }
    };
    let spec = f.get("spec").map_or(Value::Null, common::value);
    let source = MetricSource {
        source_type,
        source_ref,
        spec,
    };
    if source_kind(&source.source_type) == SourceKind::Prometheus && source.promql().is_none() {
        let at = f.get("spec").unwrap_or(node);
        sink.node(
            at,
            &f.path("spec"),
            "a Prometheus metric source needs `query` (PromQL) in its spec",
        );
        return None;
    }
    if source_kind(&source.source_type) == SourceKind::Prometheus {
        if let Some(Err(message)) = source.promql().map(crate::promql::check_query) {
            let spec = f.get("spec");
            let (at, at_path) = ["query", "promql"]
                .iter()
                .find_map(|key| {
                    let Kind::Map(entries) = &spec?.kind else {
                        return None;
                    };
                    let (_, v) = entries.iter().find(|(k, _)| k.as_str() == Some(key))?;
                    Some((v.pos, f.path("spec").key(key)))
                })
                .unwrap_or((node.pos, path.clone()));
            sink.at(at, &at_path, message);
            return None;
        }
    }
    Some(source)
}

fn source_kind(source_type: &str) -> SourceKind {
    if source_type.eq_ignore_ascii_case("prometheus") {
        SourceKind::Prometheus
    } else {
        SourceKind::External(source_type.to_string())
    }
}

const SLO_FIELDS: &[&str] = &[
    "description",
    "service",
    "indicator",
    "indicatorRef",
    "timeWindow",
    "budgetingMethod",
    "objectives",
    "alertPolicies",
];

const METHODS: [(&str, BudgetingMethod); 3] = [
    ("Occurrences", BudgetingMethod::Occurrences),
    ("Timeslices", BudgetingMethod::Timeslices),
    ("RatioTimeslices", BudgetingMethod::RatioTimeslices),
];

fn slo(
    sink: &mut Sink,
    doc: &Doc,
    node: &Node,
    path: &Path,
    keep: bool,
    reg: &mut Registry,
    builder: &mut Builder,
) {
    let Some(f) = fields(sink, node, path, SLO_FIELDS) else {
        return;
    };
    let description = f.opt_str(sink, "description").map(str::to_string);
    let service = f
        .required(sink, "service")
        .and_then(|n| common::name(sink, n, &f.path("service")));
    let window = f
        .required(sink, "timeWindow")
        .and_then(|n| time_window(sink, n, &f.path("timeWindow")));
    let method = f.required(sink, "budgetingMethod").and_then(|n| {
        common::one_of(
            sink,
            n,
            &f.path("budgetingMethod"),
            "budgetingMethod",
            &METHODS,
        )
    });
    let policies = alert_policies(sink, &f, reg, builder);

    let objectives = match f.required(sink, "objectives") {
        Some(n) => reader::list(sink, n, &f.path("objectives")),
        None => Vec::new(),
    };
    if objectives.is_empty() {
        if let Some(n) = f.get("objectives") {
            if matches!(n.kind, Kind::Seq(_)) {
                sink.node(n, &f.path("objectives"), "needs at least one objective");
            }
        }
    }
    let all_own = !objectives.is_empty()
        && objectives.iter().all(|(n, _)| {
            matches!(&n.kind, Kind::Map(entries) if entries.iter().any(|(k, _)| {
                matches!(k.as_str(), Some("indicator" | "indicatorRef"))
            }))
        });
    let indicator = indicator(sink, &f, reg, !all_own);
    let many = objectives.len() > 1;
    let mut parsed = Vec::new();
    for (index, (obj_node, obj_path)) in objectives.iter().enumerate() {
        let obj = objective(sink, obj_node, obj_path, method, reg);
        parsed.push((index, obj_node, obj_path, obj));
    }

    let (Some(meta), Some(service), Some(window), Some(method), Some(policies)) =
        (&doc.meta, service, window, method, policies)
    else {
        return;
    };
    if !keep {
        return;
    }
    let origin = location(&doc.file, doc.node.pos);
    let service_index = builder.service_for_slo(&service, origin.clone());
    for (index, obj_node, obj_path, obj) in parsed {
        let Some(obj) = obj else { continue };
        // a missing or invalid indicator was reported where it is
        let Some(indicator) = obj.indicator.clone().or_else(|| indicator.clone()) else {
            continue;
        };
        let name = if many {
            let suffix = obj
                .display_name
                .as_deref()
                .map(common::slug)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| index.to_string());
            format!("{}-{suffix}", meta.name)
        } else {
            meta.name.clone()
        };
        if !common::is_valid_name(&name) {
            sink.node(obj_node, obj_path, format!("the SLO name {name:?} made for this objective is invalid (over 128 characters?)"));
            continue;
        }
        if let slo::Window::Rolling { seconds } = window {
            if seconds < obj.bucket || seconds % obj.bucket != 0 {
                sink.node(
                    obj_node,
                    obj_path,
                    format!(
                        "the window ({}) must be a whole number of time slices ({})",
                        slo::format_duration(seconds),
                        slo::format_duration(obj.bucket)
                    ),
                );
                continue;
            }
        }
        let Some(sli) = make_sli(sink, &indicator, obj.threshold, obj_node, obj_path) else {
            continue;
        };
        let spec = slo::SloSpec {
            service: service.clone(),
            name,
            objective: slo::Objective::Target(obj.target),
            window: window.clone(),
            budgeting: obj.budgeting,
            exclusions: Vec::new(),
            bucket_seconds: obj.bucket,
        };
        let alert_policy = if policies.is_empty() {
            None // the default, resolved once every file is read
        } else {
            Some(attached_policy(builder, reg, &policies, &spec))
        };
        let config = SloConfig {
            spec,
            description: description.clone(),
            sli,
            budgeting_method: method,
            alert_policies: policies.clone(),
            alert_policy,
            format: Format::OpenSlo,
            origin: location(&doc.file, if many { obj_node.pos } else { doc.node.pos }),
        };
        let (pos, name_path) = if many {
            (obj_node.pos, obj_path.clone())
        } else {
            (meta.name_pos, Path::root().key("metadata").key("name"))
        };
        let added = builder.add_slo(sink, service_index, config, pos, &name_path);
        if let (Some(slo_index), true) = (added, policies.is_empty()) {
            let (at, at_path) = &obj.target_at;
            builder.inherit_alerting(service_index, slo_index, &doc.file, *at, at_path);
        }
    }
}

/// The SLO's (or an objective's) `indicator` / `indicatorRef`. With `required`, one of
/// them must be present.
fn indicator(sink: &mut Sink, f: &Fields<'_>, reg: &Registry, required: bool) -> Option<Indicator> {
    match (f.get("indicator"), f.get("indicatorRef")) {
        (Some(_), Some(n)) => {
            sink.node(
                n,
                &f.path("indicatorRef"),
                "set `indicator` or `indicatorRef`, not both",
            );
            None
        }
        (Some(n), None) => {
            let (_, spec, spec_path) = inline_sli(sink, n, &f.path("indicator"))?;
            sli_spec(sink, spec, &spec_path, reg)
        }
        (None, Some(n)) => {
            let name = reader::string(sink, n, &f.path("indicatorRef"))?;
            match reg.slis.get(name) {
                Some(found) => found.clone(),
                None => {
                    let mut known: Vec<&str> = reg.slis.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let hint = if known.is_empty() {
                        "no SLI documents are defined".to_string()
                    } else {
                        format!("known SLIs: {}", known.join(", "))
                    };
                    sink.node(
                        n,
                        &f.path("indicatorRef"),
                        format!("indicatorRef `{name}` points to no SLI ({hint})"),
                    );
                    None
                }
            }
        }
        (None, None) => {
            if required {
                sink.node(
                    f.node,
                    &f.path,
                    "missing field `indicator` (or `indicatorRef`)",
                );
            }
            None
        }
    }
}

/// An inline SLI: `metadata` and `spec` (`apiVersion` and `kind: SLI` optional).
fn inline_sli<'n>(
    sink: &mut Sink,
    node: &'n Node,
    path: &Path,
) -> Option<(Option<Meta>, &'n Node, Path)> {
    let f = fields(sink, node, path, OBJECT_FIELDS)?;
    if let Some(n) = f.get("kind") {
        if n.as_str() != Some("SLI") {
            sink.node(n, &f.path("kind"), "expected `SLI`");
        }
    }
    let meta = f
        .get("metadata")
        .and_then(|n| metadata(sink, n, &f.path("metadata")));
    let spec = f.required(sink, "spec")?;
    Some((meta, spec, f.path("spec")))
}

struct ParsedObjective {
    display_name: Option<String>,
    target: f64,
    /// Where `target` (or `targetPercent`) is.
    target_at: (Pos, Path),
    budgeting: slo::Budgeting,
    bucket: i64,
    threshold: Option<(ThresholdOp, f64)>,
    indicator: Option<Indicator>,
}

const OBJECTIVE_FIELDS: &[&str] = &[
    "displayName",
    "op",
    "value",
    "target",
    "targetPercent",
    "timeSliceTarget",
    "timeSliceWindow",
    "indicator",
    "indicatorRef",
    "compositeWeight",
];

fn objective(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    method: Option<BudgetingMethod>,
    reg: &Registry,
) -> Option<ParsedObjective> {
    let f = fields(sink, node, path, OBJECTIVE_FIELDS)?;
    let display_name = f.opt_str(sink, "displayName").map(str::to_string);
    let op = f
        .get("op")
        .map(|n| common::one_of(sink, n, &f.path("op"), "operator", &OPS));
    let value = f
        .get("value")
        .map(|n| reader::number(sink, n, &f.path("value")));
    if let Some(n) = f.get("compositeWeight") {
        reader::number(sink, n, &f.path("compositeWeight"));
    }
    let target_at = match (f.get("target"), f.get("targetPercent")) {
        (Some(n), _) => (n.pos, f.path("target")),
        (None, Some(n)) => (n.pos, f.path("targetPercent")),
        (None, None) => (node.pos, path.clone()),
    };
    let target = match (f.get("target"), f.get("targetPercent")) {
        (Some(_), Some(n)) => {
            sink.node(
                n,
                &f.path("targetPercent"),
                "set `target` or `targetPercent`, not both",
            );
            None
        }
        (Some(n), None) => common::ratio(sink, n, &f.path("target"), false),
        (None, Some(n)) => common::objective_percent(sink, n, &f.path("targetPercent")),
        (None, None) => {
            sink.node(node, path, "missing field `target` (or `targetPercent`)");
            None
        }
    };
    let slice_target_node = f.get("timeSliceTarget");
    let slice_target =
        slice_target_node.map(|n| common::ratio(sink, n, &f.path("timeSliceTarget"), true));
    let bucket = match f.get("timeSliceWindow") {
        None => Some(60),
        Some(n) => {
            let p = f.path("timeSliceWindow");
            let seconds = match n.kind {
                Kind::Int(i) if i > 0 => Some(i),
                _ => common::duration(sink, n, &p),
            };
            seconds.and_then(|s| match common::bucket_seconds(s) {
                Ok(s) => Some(s),
                Err(message) => {
                    sink.node(n, &p, message);
                    None
                }
            })
        }
    };
    let budgeting = match method {
        None => None,
        Some(BudgetingMethod::Timeslices) => match slice_target {
            Some(t) => t.map(|slice_target| slo::Budgeting::Timeslices { slice_target }),
            None => {
                sink.node(
                    node,
                    path,
                    "missing field `timeSliceTarget` (required with budgetingMethod Timeslices)",
                );
                None
            }
        },
        Some(other) => {
            if let Some(n) = slice_target_node {
                sink.node(
                    n,
                    &f.path("timeSliceTarget"),
                    "`timeSliceTarget` requires budgetingMethod Timeslices",
                );
                None
            } else if other == BudgetingMethod::Occurrences && f.has("timeSliceWindow") {
                if let Some(n) = f.get("timeSliceWindow") {
                    sink.node(
                        n,
                        &f.path("timeSliceWindow"),
                        "`timeSliceWindow` requires budgetingMethod Timeslices or RatioTimeslices",
                    );
                }
                None
            } else {
                Some(slo::Budgeting::Occurrences)
            }
        }
    };
    let own = if f.has("indicator") || f.has("indicatorRef") {
        let ind = indicator(sink, &f, reg, false);
        ind.as_ref()?;
        ind
    } else {
        None
    };
    let threshold = match (op, value) {
        (Some(op), Some(value)) => Some((op?, value?)),
        (None, None) => None,
        (Some(op), None) => {
            op?;
            None
        }
        (None, Some(value)) => {
            value?;
            sink.node(node, path, "missing field `op` (with `value`)");
            return None;
        }
    };
    Some(ParsedObjective {
        display_name,
        target: target?,
        target_at,
        budgeting: budgeting?,
        bucket: bucket?,
        threshold,
        indicator: own,
    })
}

fn make_sli(
    sink: &mut Sink,
    indicator: &Indicator,
    threshold: Option<(ThresholdOp, f64)>,
    obj_node: &Node,
    obj_path: &Path,
) -> Option<SliConfig> {
    match &indicator.metric {
        Metric::Threshold(metric) => {
            let Some((op, value)) = threshold else {
                sink.node(
                    obj_node,
                    obj_path,
                    "a threshold metric needs `op` and `value` in the objective",
                );
                return None;
            };
            Some(SliConfig {
                kind: SliKind::Latency,
                source: source_kind(&metric.source_type),
                query: SliQuery::Threshold {
                    metric: metric.clone(),
                    op,
                    value,
                },
            })
        }
        Metric::Raw { metric, raw_type } => Some(SliConfig {
            kind: SliKind::Availability,
            source: source_kind(&metric.source_type),
            query: SliQuery::RawRatio {
                metric: metric.clone(),
                raw_type: *raw_type,
            },
        }),
        Metric::Ratio { total, good, bad } => {
            let all_prometheus = [Some(total), good.as_ref(), bad.as_ref()]
                .into_iter()
                .flatten()
                .all(|m| source_kind(&m.source_type) == SourceKind::Prometheus);
            let promql = |m: &MetricSource| m.promql().map(str::to_string);
            if all_prometheus {
                if let Some(total) = promql(total) {
                    return Some(SliConfig {
                        kind: SliKind::Availability,
                        source: SourceKind::Prometheus,
                        query: SliQuery::Queries {
                            total,
                            good: good.as_ref().and_then(promql),
                            bad: bad.as_ref().and_then(promql),
                        },
                    });
                }
            }
            Some(SliConfig {
                kind: SliKind::Availability,
                source: source_kind(&total.source_type),
                query: SliQuery::Ratio {
                    total: Some(total.clone()),
                    good: good.clone(),
                    bad: bad.clone(),
                },
            })
        }
    }
}

/// The SLO's alerting from its attached OpenSLO policies: one `burn_rate` condition per
/// AlertCondition. Reports `lt`/`lte` operators (once per condition) and tiers that can
/// never fire for this SLO, at the condition.
fn attached_policy(
    builder: &mut Builder,
    reg: &mut Registry,
    names: &[String],
    spec: &slo::SloSpec,
) -> slo::alerting::AlertPolicy {
    use slo::alerting::{AlertCondition as Condition, AlertPolicy as Policy, AlertTier, Strategy};
    let target = Target::of(spec);
    let mut conditions = Vec::new();
    let mut diags = Vec::new();
    for name in names {
        let Some(policy) = builder
            .config
            .alert_policies
            .iter()
            .find(|p| &p.name == name)
        else {
            continue; // invalid: its errors are reported where it is
        };
        for cname in &policy.conditions {
            let Some(c) = builder
                .config
                .alert_conditions
                .iter()
                .find(|c| &c.name == cname)
            else {
                continue;
            };
            let tier = AlertTier {
                severity: alerting::openslo_severity(&c.severity),
                long_window: c.lookback_window,
                short_window: None,
                burn_rate: c.threshold,
                for_seconds: c.alert_after.unwrap_or(0),
            };
            if let Some(at) = reg.condition_at.get(cname) {
                let mut sink = Sink::new(&at.file);
                if matches!(c.op, ThresholdOp::Lt | ThresholdOp::Lte)
                    && reg.op_reported.insert(cname.clone())
                {
                    let op = if c.op == ThresholdOp::Lt { "lt" } else { "lte" };
                    sink.at(
                        at.op.0,
                        &at.op.1,
                        format!("`{op}` cannot alert on a burn rate: nines fires when the burn rate reaches the threshold; use `gte` (or `gt`)"),
                    );
                }
                if let Some(why) = alerting::never_fires(&tier, target.floor, target.period) {
                    sink.at(
                        at.threshold.0,
                        &at.threshold.1,
                        format!(
                            "AlertCondition `{cname}` attached to SLO `{}` {why}",
                            spec.key()
                        ),
                    );
                }
                diags.append(&mut sink.diags);
            }
            conditions.push(Condition {
                strategy: Strategy::BurnRate,
                tiers: vec![tier],
            });
        }
    }
    builder.diags.append(&mut diags);
    Policy {
        name: names.join("+"),
        conditions,
        inhibit_lower_tiers: true,
    }
}

fn alert_policies(
    sink: &mut Sink,
    f: &Fields<'_>,
    reg: &mut Registry,
    builder: &mut Builder,
) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut ok = true;
    for (item, item_path) in f.list(sink, "alertPolicies") {
        match reference_or_inline(sink, item, &item_path, "alertPolicyRef") {
            None => ok = false,
            Some(Ok((name, pos, ref_path))) => {
                if reg.policies.contains(&name) {
                    names.push(name);
                } else {
                    sink.at(
                        pos,
                        &ref_path,
                        format!("alertPolicyRef `{name}` points to no AlertPolicy"),
                    );
                    ok = false;
                }
            }
            Some(Err(inline_node)) => {
                let Some((meta, spec, spec_path)) =
                    inline(sink, inline_node, &item_path, DocKind::AlertPolicy)
                else {
                    ok = false;
                    continue;
                };
                let origin = location(&sink.file, inline_node.pos);
                match policy(sink, spec, &spec_path, origin, reg, builder) {
                    Some(p) => {
                        if register_inline(sink, reg, "AlertPolicy", &meta, &item_path) {
                            reg.policies.insert(meta.name.clone());
                            builder.config.alert_policies.push(AlertPolicy {
                                name: meta.name.clone(),
                                ..p
                            });
                        }
                        names.push(meta.name);
                    }
                    None => ok = false,
                }
            }
        }
    }
    ok.then_some(names)
}

/// `timeWindow: [ { duration, isRolling, calendar: { startTime, timeZone } } ]`.
fn time_window(sink: &mut Sink, node: &Node, path: &Path) -> Option<slo::Window> {
    let items = reader::list(sink, node, path);
    let [(item, item_path)] = items.as_slice() else {
        if matches!(node.kind, Kind::Seq(_)) {
            sink.node(
                node,
                path,
                format!("needs exactly one time window, got {}", items.len()),
            );
        }
        return None;
    };
    let f = fields(
        sink,
        item,
        item_path,
        &["duration", "isRolling", "calendar"],
    )?;
    let rolling_flag = f.opt_bool(sink, "isRolling");
    let calendar = f.get("calendar");
    let rolling = match (rolling_flag, calendar) {
        (Some(true), Some(n)) => {
            sink.node(
                n,
                &f.path("calendar"),
                "a rolling window (`isRolling: true`) has no calendar",
            );
            return None;
        }
        (Some(flag), _) => flag,
        (None, cal) => cal.is_none(),
    };
    let duration_node = f.required(sink, "duration");
    if rolling {
        let n = duration_node?;
        let text = reader::string(sink, n, &f.path("duration"))?;
        if text.ends_with(['M', 'Q', 'Y']) {
            sink.node(
                n,
                &f.path("duration"),
                format!("a rolling window needs a fixed length (s, m, h, d or w), got {text:?}; use a calendar window for months and quarters"),
            );
            return None;
        }
        let seconds = common::duration(sink, n, &f.path("duration"))?;
        return Some(slo::Window::Rolling { seconds });
    }
    let timezone = match calendar {
        None => Some(jiff::tz::TimeZone::UTC),
        Some(n) => {
            let cal_path = f.path("calendar");
            let c = fields(sink, n, &cal_path, &["startTime", "timeZone"])?;
            if let Some(st) = c.get("startTime") {
                start_time(sink, st, &c.path("startTime"));
            }
            match c.get("timeZone") {
                Some(tz) => common::timezone(sink, tz, &c.path("timeZone")),
                None => Some(jiff::tz::TimeZone::UTC),
            }
        }
    };
    let unit = duration_node.and_then(|n| {
        let text = reader::string(sink, n, &f.path("duration"))?;
        match text.trim() {
            "1w" => Some(slo::CalendarUnit::Week),
            // `1m` is how the specification's own example writes a calendar month
            "1M" | "1m" => Some(slo::CalendarUnit::Month),
            "1Q" => Some(slo::CalendarUnit::Quarter),
            _ => {
                sink.node(
                    n,
                    &f.path("duration"),
                    format!("a calendar window must be 1w, 1M or 1Q (week, month, quarter), got {text:?}"),
                );
                None
            }
        }
    });
    Some(slo::Window::Calendar {
        unit: unit?,
        timezone: timezone?,
    })
}

/// `2022-01-01 12:00:00` (civil time in the window's zone) or an RFC 3339 time. nines
/// starts calendar windows at the start of the week, month or quarter; the start time is
/// only checked.
fn start_time(sink: &mut Sink, node: &Node, path: &Path) {
    let Some(text) = reader::string(sink, node, path) else {
        return;
    };
    let ok =
        text.parse::<jiff::Timestamp>().is_ok() || text.parse::<jiff::civil::DateTime>().is_ok();
    if !ok {
        sink.node(
            node,
            path,
            format!(
                "invalid time {text:?}: expected e.g. 2022-01-01 12:00:00 or 2022-01-01T12:00:00Z"
            ),
        );
    }
}
