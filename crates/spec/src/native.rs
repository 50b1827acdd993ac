//! The native format, `apiVersion: nines/v1`.
//!
//! Each top-level key has its own reader in [`SECTIONS`]; adding a key (`alerting:`,
//! `store:`, ...) is one entry there plus its function.

use ingest::otlp::SpanSelector;
use ingest::{GoodCondition, LatencyBound, Selector, SliMatcher, StatusSet};

use crate::alerting::{self, Source, Target};
use crate::assemble::{location, Builder};
use crate::common;
use crate::diag::{Path, Sink};
use crate::model::{BudgetingMethod, Format, SliConfig, SliKind, SliQuery, SloConfig, SourceKind};
use crate::node::{Kind, Node, Pos};
use crate::reader::{self, fields, Fields};

pub(crate) const API_VERSION: &str = "nines/v1";

/// A section's reader gets its value node, its path, and where its key is.
type Section = fn(&mut Sink, &Node, &Path, Pos, &mut Builder);

/// The top-level keys of a native document and their readers. `apiVersion` is checked by
/// the dispatcher in `lib.rs`.
const SECTIONS: &[(&str, Section)] = &[
    ("apiVersion", |_, _, _, _, _| {}),
    ("alerting", default_alerting),
    ("alertmanager", crate::alertmanager::section),
    ("incidents", crate::incidents::section),
    ("prometheus", crate::prometheus::section),
    ("services", |sink, node, path, _, builder| {
        services(sink, node, path, builder)
    }),
];

/// The top-level `alerting:`: the default policy of every SLO of the configuration (all
/// files, native and OpenSLO) that has none of its own. See [`crate::alerting`].
fn default_alerting(sink: &mut Sink, node: &Node, path: &Path, _key: Pos, builder: &mut Builder) {
    let spec = alerting::policy(sink, node, path);
    builder.set_default_alerting(sink, spec, node.pos, path);
}

/// Reads one native document.
pub(crate) fn document(sink: &mut Sink, doc: &Node, builder: &mut Builder) {
    let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    let Some(top) = fields(sink, doc, &Path::root(), &names) else {
        return;
    };
    for (name, read) in SECTIONS {
        if let Some(node) = top.get(name) {
            read(sink, node, &top.path(name), key_pos(doc, name), builder);
        }
    }
}

/// Where the key `name` of a mapping is (the mapping's own position when it has none).
fn key_pos(map: &Node, name: &str) -> Pos {
    match &map.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map_or(map.pos, |(k, _)| k.pos),
        _ => map.pos,
    }
}

fn services(sink: &mut Sink, node: &Node, path: &Path, builder: &mut Builder) {
    for (item, path) in reader::list(sink, node, path) {
        service(sink, item, &path, builder);
    }
}

fn service(sink: &mut Sink, node: &Node, path: &Path, builder: &mut Builder) {
    let Some(f) = fields(sink, node, path, &["name", "description", "slos"]) else {
        return;
    };
    let name_node = f.required(sink, "name");
    let name = name_node.and_then(|n| common::name(sink, n, &f.path("name")));
    let description = f.opt_str(sink, "description").map(str::to_string);
    let index = match (&name, name_node) {
        (Some(name), Some(name_node)) => {
            builder.declare_service(sink, name, description, name_node.pos, &f.path("name"))
        }
        _ => None,
    };
    // SLO names seen in this service, checked even when an SLO has other errors.
    let service_name = name.as_deref().unwrap_or("");
    let mut seen: Vec<(&str, Pos)> = Vec::new();
    for (item, slo_path) in f.list(sink, "slos") {
        let mut duplicate = false;
        if let Some((slo_name, pos)) = slo_name(item) {
            match seen.iter().find(|(n, _)| *n == slo_name) {
                Some((_, first)) => {
                    let first = location(&sink.file, *first);
                    sink.at(
                        pos,
                        &slo_path.key("name"),
                        format!(
                            "duplicate SLO `{slo_name}` in service `{service_name}` (first defined at {first})"
                        ),
                    );
                    duplicate = true;
                }
                None => seen.push((slo_name, pos)),
            }
        }
        let Some(parsed) = slo(sink, item, &slo_path, service_name) else {
            continue;
        };
        if parsed.config.sli.source == SourceKind::Prometheus {
            for (pos, path) in unwindowed_queries(item, &slo_path) {
                builder.unwindowed_query(sink, pos, &path);
            }
        }
        if let (Some(index), false) = (index, duplicate) {
            let added = builder.add_slo(
                sink,
                index,
                parsed.config,
                parsed.name_pos,
                &slo_path.key("name"),
            );
            if let (Some(slo_index), Some((pos, path))) = (added, parsed.inherits) {
                builder.inherit_alerting(index, slo_index, &sink.file, pos, &path);
            }
        }
    }
}

/// The query fields of a Prometheus SLO's `sli` without `{{window}}`, with their paths.
fn unwindowed_queries(slo: &Node, path: &Path) -> Vec<(Pos, Path)> {
    let Some(sli) = map_get(slo, "sli") else {
        return Vec::new();
    };
    let sli_path = path.key("sli");
    QUERY_ALIASES
        .iter()
        .flat_map(|(plain, alias)| [*plain, *alias])
        .filter_map(|key| {
            let node = map_get(sli, key)?;
            let text = node.as_str()?;
            (!text.contains(crate::WINDOW_PLACEHOLDER)).then(|| (node.pos, sli_path.key(key)))
        })
        .collect()
}

fn map_get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The `name` of an SLO mapping, when it is a string.
fn slo_name(node: &Node) -> Option<(&str, Pos)> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("name"))
        .and_then(|(_, v)| Some((v.as_str()?, v.pos)))
}

struct ParsedSlo {
    config: SloConfig,
    name_pos: Pos,
    /// Without `alerting:` of its own: where the objective is, to report problems with the
    /// inherited policy.
    inherits: Option<(Pos, Path)>,
}

const SLO_FIELDS: &[&str] = &[
    "name",
    "description",
    "sli",
    "objective",
    "window",
    "budgeting",
    "slice_target",
    "bucket",
    "exclude",
    "alerting",
];

fn slo(sink: &mut Sink, node: &Node, path: &Path, service: &str) -> Option<ParsedSlo> {
    let f = fields(sink, node, path, SLO_FIELDS)?;
    let name_node = f.required(sink, "name");
    let name = name_node.and_then(|n| common::name(sink, n, &f.path("name")));
    let description = f.opt_str(sink, "description").map(str::to_string);
    let sli = f
        .required(sink, "sli")
        .and_then(|n| sli(sink, n, &f.path("sli"), service));
    let objective = f
        .required(sink, "objective")
        .and_then(|n| objective(sink, n, &f.path("objective")));
    let bucket = match f.get("bucket") {
        Some(n) => common::bucket(sink, n, &f.path("bucket")),
        None => Some(60),
    };
    let window = f
        .required(sink, "window")
        .and_then(|n| window(sink, n, &f.path("window"), bucket));
    let budgeting = budgeting(sink, &f);
    let exclusions = exclusions(sink, &f);
    let alerting_spec = f
        .get("alerting")
        .map(|n| alerting::policy(sink, n, &f.path("alerting")));

    let (name, name_node) = (name?, name_node?);
    let spec = slo::SloSpec {
        service: service.to_string(),
        name,
        objective: objective?,
        window: window?,
        budgeting: budgeting?,
        exclusions: exclusions?,
        bucket_seconds: bucket?,
    };
    let budgeting_method = match spec.budgeting {
        slo::Budgeting::Occurrences => BudgetingMethod::Occurrences,
        slo::Budgeting::Timeslices { .. } => BudgetingMethod::Timeslices,
    };
    let objective_node = f.get("objective").unwrap_or(node);
    let objective_path = f.path("objective");
    let (alert_policy, inherits) = match alerting_spec {
        None => (None, Some((objective_node.pos, objective_path))),
        Some(own) => (
            alerting::resolve(
                sink,
                &own?,
                Target::of(&spec),
                Source::Own,
                (objective_node.pos, &objective_path),
            ),
            None,
        ),
    };
    Some(ParsedSlo {
        config: SloConfig {
            spec,
            description,
            sli: sli?,
            budgeting_method,
            alert_policies: Vec::new(),
            alert_policy,
            format: Format::Native,
            origin: location(&sink.file, node.pos),
        },
        name_pos: name_node.pos,
        inherits,
    })
}

/// `99.9` or `{ min: 99.0, max: 99.95 }`, in percent.
fn objective(sink: &mut Sink, node: &Node, path: &Path) -> Option<slo::Objective> {
    if !matches!(node.kind, Kind::Map(_)) {
        if matches!(node.kind, Kind::Int(_) | Kind::Float(_)) {
            return common::objective_percent(sink, node, path).map(slo::Objective::Target);
        }
        sink.expected(
            node,
            path,
            "a percentage (e.g. 99.9) or a range { min, max }",
        );
        return None;
    }
    let f = fields(sink, node, path, &["min", "max"])?;
    let min_node = f.required(sink, "min");
    let max_node = f.required(sink, "max");
    let min = min_node.and_then(|n| common::objective_percent(sink, n, &f.path("min")));
    let max = max_node.and_then(|n| common::percent_up_to_100(sink, n, &f.path("max")));
    let (min, max, max_node) = (min?, max?, max_node?);
    if min >= max {
        sink.node(
            max_node,
            &f.path("max"),
            format!(
                "must be above `min` ({}), got {}",
                common::show(min * 100.0),
                common::show(max * 100.0)
            ),
        );
        return None;
    }
    Some(slo::Objective::Range { min, max })
}

/// `30d` (rolling) or `{ calendar: month, timezone: Europe/Berlin }`.
fn window(sink: &mut Sink, node: &Node, path: &Path, bucket: Option<i64>) -> Option<slo::Window> {
    match &node.kind {
        Kind::Str(_) => {
            let seconds = common::duration(sink, node, path)?;
            if let Some(bucket) = bucket {
                if seconds < bucket || seconds % bucket != 0 {
                    sink.node(
                        node,
                        path,
                        format!(
                            "must be a whole number of buckets ({}), got {}",
                            slo::format_duration(bucket),
                            slo::format_duration(seconds)
                        ),
                    );
                    return None;
                }
            }
            Some(slo::Window::Rolling { seconds })
        }
        Kind::Map(_) => {
            let f = fields(sink, node, path, &["calendar", "timezone"])?;
            let unit = f.required(sink, "calendar").and_then(|n| {
                common::one_of(
                    sink,
                    n,
                    &f.path("calendar"),
                    "calendar unit",
                    &[
                        ("week", slo::CalendarUnit::Week),
                        ("month", slo::CalendarUnit::Month),
                        ("quarter", slo::CalendarUnit::Quarter),
                    ],
                )
            });
            let timezone = match f.get("timezone") {
                Some(n) => common::timezone(sink, n, &f.path("timezone")),
                None => Some(jiff::tz::TimeZone::UTC),
            };
            Some(slo::Window::Calendar {
                unit: unit?,
                timezone: timezone?,
            })
        }
        _ => {
            sink.expected(
                node,
                path,
                "a rolling duration (e.g. 30d) or { calendar, timezone }",
            );
            None
        }
    }
}

fn budgeting(sink: &mut Sink, f: &Fields<'_>) -> Option<slo::Budgeting> {
    #[derive(Clone, Copy, PartialEq)]
    enum Method {
        Occurrences,
        Timeslices,
    }
    let method = match f.get("budgeting") {
        None => Some(Method::Occurrences),
        Some(n) => common::one_of(
            sink,
            n,
            &f.path("budgeting"),
            "budgeting method",
            &[
                ("occurrences", Method::Occurrences),
                ("timeslices", Method::Timeslices),
            ],
        ),
    };
    let target_node = f.get("slice_target");
    let target =
        target_node.and_then(|n| common::percent_up_to_100(sink, n, &f.path("slice_target")));
    match method? {
        Method::Occurrences => {
            if let Some(n) = target_node {
                sink.node(
                    n,
                    &f.path("slice_target"),
                    "`slice_target` requires `budgeting: timeslices`",
                );
                return None;
            }
            Some(slo::Budgeting::Occurrences)
        }
        Method::Timeslices => {
            if target_node.is_none() {
                sink.node(
                    f.node,
                    &f.path,
                    "missing field `slice_target` (required with `budgeting: timeslices`)",
                );
            }
            Some(slo::Budgeting::Timeslices {
                slice_target: target?,
            })
        }
    }
}

fn exclusions(sink: &mut Sink, f: &Fields<'_>) -> Option<Vec<slo::Exclusion>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (item, path) in f.list(sink, "exclude") {
        match exclusion(sink, item, &path) {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn exclusion(sink: &mut Sink, node: &Node, path: &Path) -> Option<slo::Exclusion> {
    let f = fields(sink, node, path, &["from", "to", "reason"])?;
    let from = f
        .required(sink, "from")
        .and_then(|n| common::timestamp(sink, n, &f.path("from")));
    let to_node = f.required(sink, "to");
    let to = to_node.and_then(|n| common::timestamp(sink, n, &f.path("to")));
    let reason = f.opt_str(sink, "reason").unwrap_or("").to_string();
    let (from, to, to_node) = (from?, to?, to_node?);
    if from >= to {
        let from_text = f.get("from").and_then(Node::as_str).unwrap_or("");
        sink.node(
            to_node,
            &f.path("to"),
            format!("must be after `from` ({from_text})"),
        );
        return None;
    }
    Some(slo::Exclusion { from, to, reason })
}

/// `total_query`, `good_query` and `error_query` are other spellings of `total`, `good`
/// and `bad` for Prometheus sources.
const QUERY_ALIASES: [(&str, &str); 3] = [
    ("total", "total_query"),
    ("good", "good_query"),
    ("bad", "error_query"),
];

fn sli(sink: &mut Sink, node: &Node, path: &Path, service: &str) -> Option<SliConfig> {
    let f = fields(
        sink,
        node,
        path,
        &[
            "kind",
            "source",
            "total",
            "good",
            "bad",
            "total_query",
            "good_query",
            "error_query",
        ],
    )?;
    let kind = f
        .required(sink, "kind")
        .and_then(|n| common::one_of(sink, n, &f.path("kind"), "SLI kind", &SliKind::ALL));
    let source = f
        .required(sink, "source")
        .and_then(|n| common::one_of(sink, n, &f.path("source"), "source", &SourceKind::NATIVE))?;
    let mut aliases_ok = true;
    if source != SourceKind::Prometheus {
        for (plain, alias) in QUERY_ALIASES {
            if let Some(n) = f.get(alias) {
                sink.node(
                    n,
                    &f.path(alias),
                    format!("`{alias}` is only for `source: prometheus`; use `{plain}`"),
                );
                aliases_ok = false;
            }
        }
    }
    // `source: otlp` reads spans (`total` a mapping or absent) or metrics (`total` a
    // metric selector string).
    let otlp_metrics =
        source == SourceKind::Otlp && matches!(f.get("total").map(|n| &n.kind), Some(Kind::Str(_)));
    let query = if source.uses_queries() || otlp_metrics {
        queries(sink, &f, &source)
    } else if source == SourceKind::Otlp {
        spans(sink, &f, kind, service)
    } else {
        matchers(sink, &f, kind)
    };
    if !aliases_ok {
        return None;
    }
    Some(SliConfig {
        kind: kind?,
        source,
        query: query?,
    })
}

/// A query field by either spelling: `Some(None)` when absent, `None` after an error.
fn query_field<'n>(
    sink: &mut Sink,
    f: &Fields<'n>,
    plain: &str,
    source: &SourceKind,
) -> Option<Option<(&'n Node, Path)>> {
    let alias = QUERY_ALIASES
        .iter()
        .find(|(p, _)| *p == plain)
        .map(|(_, a)| *a)
        .filter(|_| *source == SourceKind::Prometheus);
    match (f.get(plain), alias.and_then(|a| Some((a, f.get(a)?)))) {
        (Some(_), Some((alias, n))) => {
            sink.node(
                n,
                &f.path(alias),
                format!("`{alias}` and `{plain}` are the same field; set one of them"),
            );
            None
        }
        (Some(n), None) => Some(Some((n, f.path(plain)))),
        (None, Some((alias, n))) => Some(Some((n, f.path(alias)))),
        (None, None) => Some(None),
    }
}

/// remote_write / prometheus (and otlp metrics): `total`, `good` and `bad` are metric
/// selectors (checked as PromQL vector selectors and compiled with
/// [`ingest::SeriesSelector::parse`], so the server never meets one it cannot use) or PromQL
/// queries (checked with `{{window}}` read as `5m`).
fn queries(sink: &mut Sink, f: &Fields<'_>, source: &SourceKind) -> Option<SliQuery> {
    let prometheus = *source == SourceKind::Prometheus;
    let query = |sink: &mut Sink, name: &str| -> Option<Option<String>> {
        let Some((n, path)) = query_field(sink, f, name, source)? else {
            return Some(None);
        };
        match &n.kind {
            Kind::Str(s) if !s.trim().is_empty() => {
                let checked = if prometheus {
                    crate::promql::check_query(s)
                        .and_then(|()| crate::promql::query_scale(s).map(|_| ()))
                } else {
                    crate::promql::check_selector(s).and_then(|()| {
                        ingest::SeriesSelector::parse(s)
                            .map(|_| ())
                            .map_err(|e| one_line(&e.to_string()))
                    })
                };
                match checked {
                    Ok(()) => Some(Some(s.clone())),
                    Err(message) => {
                        sink.node(n, &path, message);
                        None
                    }
                }
            }
            Kind::Str(_) => {
                sink.node(n, &path, "must not be empty");
                None
            }
            _ => {
                sink.expected(n, &path, "a metric selector or PromQL string");
                None
            }
        }
    };
    let has_total = f.has("total") || (prometheus && f.has("total_query"));
    let total = if has_total {
        query(sink, "total")
    } else {
        sink.node(
            f.node,
            &f.path,
            "missing field `total` (a metric selector or PromQL query)",
        );
        None
    };
    let good = query(sink, "good");
    let bad = query(sink, "bad");
    let (total, good, bad) = (total??, good?, bad?);
    match (&good, &bad) {
        (None, None) => {
            sink.node(f.node, &f.path, "missing field `good` (or `bad`)");
            None
        }
        (Some(_), Some(_)) => {
            let bad_key = if f.has("bad") { "bad" } else { "error_query" };
            let good_key = if f.has("good") { "good" } else { "good_query" };
            if let Some(n) = f.get(bad_key) {
                sink.node(
                    n,
                    &f.path(bad_key),
                    format!("set `{good_key}` or `{bad_key}`, not both"),
                );
            }
            None
        }
        _ => Some(SliQuery::Queries { total, good, bad }),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reports `bad` (not for record sources) and reads `good`, checking that a latency SLI has
/// a latency condition.
fn record_good(sink: &mut Sink, f: &Fields<'_>, kind: Option<SliKind>) -> Option<GoodCondition> {
    if let Some(n) = f.get("bad") {
        sink.node(
            n,
            &f.path("bad"),
            "`bad` is only supported for remote_write and prometheus sources; use `good`",
        );
    }
    let good = f
        .required(sink, "good")
        .and_then(|n| good(sink, n, &f.path("good")));
    let good = good?;
    if kind == Some(SliKind::Latency) && good.latency.is_none() {
        if let Some(n) = f.get("good") {
            sink.node(
                n,
                &f.path("good"),
                "a latency SLI needs a `latency` condition (e.g. latency: \"<=300ms\")",
            );
        }
        return None;
    }
    if f.has("bad") {
        return None;
    }
    Some(good)
}

/// access_log / events: `total` selects records, `good` says which are good.
fn matchers(sink: &mut Sink, f: &Fields<'_>, kind: Option<SliKind>) -> Option<SliQuery> {
    let total = match f.get("total") {
        None => Some(Selector::default()),
        Some(n) => selector(sink, n, &f.path("total")),
    };
    let good = record_good(sink, f, kind);
    Some(SliQuery::Matchers(SliMatcher {
        total: total?,
        good: good?,
    }))
}

/// otlp (traces): `total` selects server spans by `service` (default: the SLO's service),
/// `span_name` and `route` (regexes, fully anchored as in PromQL); `good` as for records.
fn spans(
    sink: &mut Sink,
    f: &Fields<'_>,
    kind: Option<SliKind>,
    service: &str,
) -> Option<SliQuery> {
    let total = match f.get("total") {
        None => SpanSelector::new(Some(service), None, None).ok(),
        Some(n) => span_selector(sink, n, &f.path("total"), service),
    };
    let good = record_good(sink, f, kind);
    Some(SliQuery::Spans {
        total: total?,
        good: good?,
    })
}

fn span_selector(sink: &mut Sink, node: &Node, path: &Path, service: &str) -> Option<SpanSelector> {
    let f = fields(sink, node, path, &["service", "span_name", "route"])?;
    let mut ok = true;
    let service = match f.get("service") {
        None => Some(service),
        Some(n) => match reader::string(sink, n, &f.path("service")) {
            Some("") => {
                sink.node(n, &f.path("service"), "must not be empty");
                None
            }
            other => other,
        },
    };
    ok &= service.is_some();
    let mut regex = |sink: &mut Sink, name: &str| -> Option<&str> {
        let n = f.get(name)?;
        let path = f.path(name);
        let text = reader::string(sink, n, &path);
        let checked = text.map(|t| SpanSelector::new(None, Some(t), None));
        match (text, checked) {
            (Some(text), Some(Ok(_))) => Some(text),
            (Some(text), Some(Err(err))) => {
                let full = err.to_string();
                let reason = full
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("error: "))
                    .map(str::to_string)
                    .unwrap_or_else(|| one_line(&full));
                sink.node(n, &path, format!("invalid regex {text:?}: {reason}"));
                ok = false;
                None
            }
            _ => {
                ok = false;
                None
            }
        }
    };
    let span_name = regex(sink, "span_name");
    let route = regex(sink, "route");
    if !ok {
        return None;
    }
    match SpanSelector::new(service, span_name, route) {
        Ok(selector) => Some(selector),
        Err(err) => {
            sink.node(node, path, err.to_string());
            None
        }
    }
}

fn selector(sink: &mut Sink, node: &Node, path: &Path) -> Option<Selector> {
    let f = fields(sink, node, path, &["path", "method", "host", "status"])?;
    let mut ok = true;
    let mut out = Selector::default();
    if let Some(n) = f.get("path") {
        out.path = common::regex(sink, n, &f.path("path"));
        ok &= out.path.is_some();
    }
    if let Some(n) = f.get("method") {
        match methods(sink, n, &f.path("method")) {
            Some(m) => out.methods = m,
            None => ok = false,
        }
    }
    if let Some(n) = f.get("host") {
        out.host = reader::string(sink, n, &f.path("host")).map(str::to_string);
        ok &= out.host.is_some();
    }
    if let Some(n) = f.get("status") {
        out.status = status(sink, n, &f.path("status"));
        ok &= out.status.is_some();
    }
    ok.then_some(out)
}

/// `GET` or `[GET, POST]`.
fn methods(sink: &mut Sink, node: &Node, path: &Path) -> Option<Vec<String>> {
    let items: Vec<(&Node, Path)> = match &node.kind {
        Kind::Seq(_) => reader::list(sink, node, path),
        _ => vec![(node, path.clone())],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (item, path) in items {
        match reader::string(sink, item, &path) {
            Some(m) if !m.is_empty() && m.chars().all(|c| c.is_ascii_alphabetic()) => {
                out.push(m.to_ascii_uppercase());
            }
            Some(m) => {
                sink.node(item, &path, format!("invalid HTTP method {m:?}"));
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn good(sink: &mut Sink, node: &Node, path: &Path) -> Option<GoodCondition> {
    let f = fields(sink, node, path, &["status", "latency"])?;
    let status = f.get("status").map(|n| status(sink, n, &f.path("status")));
    let latency = f
        .get("latency")
        .map(|n| latency(sink, n, &f.path("latency")));
    if status.is_none() && latency.is_none() {
        sink.node(node, path, "needs a `status` or `latency` condition");
        return None;
    }
    Some(GoodCondition {
        status: match status {
            Some(s) => Some(s?),
            None => None,
        },
        latency: match latency {
            Some(l) => Some(l?),
            None => None,
        },
    })
}

fn status(sink: &mut Sink, node: &Node, path: &Path) -> Option<StatusSet> {
    let text = match &node.kind {
        Kind::Str(s) => s.clone(),
        Kind::Int(i) => i.to_string(),
        _ => {
            sink.expected(
                node,
                path,
                "a status set such as \"<500\", \"2xx\" or \"200-399\"",
            );
            return None;
        }
    };
    match StatusSet::parse(&text) {
        Ok(set) => Some(set),
        Err(err) => {
            sink.node(node, path, err.to_string());
            None
        }
    }
}

fn latency(sink: &mut Sink, node: &Node, path: &Path) -> Option<LatencyBound> {
    let Kind::Str(text) = &node.kind else {
        sink.expected(node, path, "a latency bound such as \"<=300ms\"");
        return None;
    };
    match LatencyBound::parse(text) {
        Ok(bound) => Some(bound),
        Err(err) => {
            sink.node(node, path, err.to_string());
            None
        }
    }
}
