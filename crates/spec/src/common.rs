//! Value checks shared by the native and OpenSLO readers.

use crate::diag::{Path, Sink};
use crate::model::Value;
use crate::node::{Kind, Node};
use crate::reader;

/// Names of services, SLOs and OpenSLO objects: they end up in counter keys, metric
/// labels and URLs.
pub(crate) fn name(sink: &mut Sink, node: &Node, path: &Path) -> Option<String> {
    let text = reader::string(sink, node, path)?;
    if is_valid_name(text) {
        Some(text.to_string())
    } else {
        sink.node(
            node,
            path,
            format!(
                "invalid name {text:?}: use 1 to 128 letters, digits, '.', '_' or '-', \
                 starting with a letter or digit"
            ),
        );
        None
    }
}

pub(crate) fn is_valid_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && text.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `Internal objective` -> `internal-objective`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Formats a number as written (`120`, `99.95`).
pub(crate) fn show(number: f64) -> String {
    format!("{number}")
}

/// A percentage as a ratio, exactly: `99.9` becomes the double nearest to 0.999 (not
/// `99.9 / 100`, which is off in the last bit).
pub(crate) fn percent_to_ratio(percent: f64) -> f64 {
    format!("{percent}e-2")
        .parse::<f64>()
        .unwrap_or(percent / 100.0)
}

/// An SLO objective in percent, `0 < p < 100`, as a ratio.
pub(crate) fn objective_percent(sink: &mut Sink, node: &Node, path: &Path) -> Option<f64> {
    let p = reader::number(sink, node, path)?;
    if !(p > 0.0 && p <= 100.0) {
        sink.node(
            node,
            path,
            format!(
                "must be between 0 and 100 (exclusive of 0), got {}",
                show(p)
            ),
        );
        return None;
    }
    if p >= 100.0 {
        sink.node(
            node,
            path,
            "must be below 100: a 100% objective leaves no error budget",
        );
        return None;
    }
    Some(percent_to_ratio(p))
}

/// A percentage in `(0, 100]` (range maxima, slice targets) as a ratio.
pub(crate) fn percent_up_to_100(sink: &mut Sink, node: &Node, path: &Path) -> Option<f64> {
    let p = reader::number(sink, node, path)?;
    if !(p > 0.0 && p <= 100.0) {
        sink.node(
            node,
            path,
            format!(
                "must be between 0 and 100 (exclusive of 0), got {}",
                show(p)
            ),
        );
        return None;
    }
    Some(percent_to_ratio(p))
}

/// A ratio in `(0, 1)` (or `(0, 1]` when `allow_one`).
pub(crate) fn ratio(sink: &mut Sink, node: &Node, path: &Path, allow_one: bool) -> Option<f64> {
    let r = reader::number(sink, node, path)?;
    let ok = r > 0.0 && (r < 1.0 || (allow_one && r <= 1.0));
    if !ok {
        let upper = if allow_one { "inclusive" } else { "exclusive" };
        sink.node(
            node,
            path,
            format!(
                "must be a ratio between 0 and 1 (exclusive of 0, {upper} of 1), got {}",
                show(r)
            ),
        );
        return None;
    }
    Some(r)
}

/// A duration such as `30d`, `5m`, `1h30m` in seconds.
pub(crate) fn duration(sink: &mut Sink, node: &Node, path: &Path) -> Option<i64> {
    let Kind::Str(text) = &node.kind else {
        sink.expected(node, path, "a duration such as 30d or 5m");
        return None;
    };
    match slo::parse_duration(text) {
        Ok(seconds) => Some(seconds),
        Err(err) => {
            sink.node(node, path, err.to_string());
            None
        }
    }
}

/// A counter bucket (time slice) width: 1s..1d and a divisor of a day.
pub(crate) fn bucket_seconds(seconds: i64) -> Result<i64, String> {
    if (1..=86_400).contains(&seconds) && 86_400 % seconds == 0 {
        Ok(seconds)
    } else {
        Err(format!(
            "must be between 1s and 1d and divide a day evenly (e.g. 1m, 5m, 1h), got {}",
            slo::format_duration(seconds)
        ))
    }
}

pub(crate) fn bucket(sink: &mut Sink, node: &Node, path: &Path) -> Option<i64> {
    let seconds = duration(sink, node, path)?;
    match bucket_seconds(seconds) {
        Ok(s) => Some(s),
        Err(message) => {
            sink.node(node, path, message);
            None
        }
    }
}

/// An IANA time zone name.
pub(crate) fn timezone(sink: &mut Sink, node: &Node, path: &Path) -> Option<jiff::tz::TimeZone> {
    let name = reader::string(sink, node, path)?;
    match jiff::tz::TimeZone::get(name) {
        Ok(tz) => Some(tz),
        Err(_) => {
            sink.node(
                node,
                path,
                format!("unknown time zone {name:?}: use an IANA name such as Europe/Berlin"),
            );
            None
        }
    }
}

/// An RFC 3339 time as unix seconds.
pub(crate) fn timestamp(sink: &mut Sink, node: &Node, path: &Path) -> Option<i64> {
    let text = reader::string(sink, node, path)?;
    match text.parse::<jiff::Timestamp>() {
        Ok(ts) => Some(ts.as_second()),
        Err(_) => {
            sink.node(
                node,
                path,
                format!("invalid time {text:?}: expected RFC 3339 such as 2023-11-14T23:00:00Z"),
            );
            None
        }
    }
}

/// A regular expression (bounded in compiled size).
pub(crate) fn regex(sink: &mut Sink, node: &Node, path: &Path) -> Option<regex::Regex> {
    let text = reader::string(sink, node, path)?;
    match regex::RegexBuilder::new(text).size_limit(1 << 20).build() {
        Ok(re) => Some(re),
        Err(err) => {
            let full = err.to_string();
            let reason = full
                .lines()
                .find_map(|line| line.trim().strip_prefix("error: "))
                .map(str::to_string)
                .unwrap_or_else(|| full.split_whitespace().collect::<Vec<_>>().join(" "));
            sink.node(node, path, format!("invalid regex {text:?}: {reason}"));
            None
        }
    }
}

/// Keeps a node as free-form data.
pub(crate) fn value(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => Value::Int(*i),
        Kind::Float(f) => Value::Float(*f),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::List(items.iter().map(value).collect()),
        Kind::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = common_scalar(&k.kind).unwrap_or_default();
                    (key, value(v))
                })
                .collect(),
        ),
    }
}

fn common_scalar(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Null => Some("null".into()),
        Kind::Bool(b) => Some(b.to_string()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Float(f) => Some(f.to_string()),
        Kind::Str(s) => Some(s.clone()),
        Kind::Seq(_) | Kind::Map(_) => None,
    }
}

/// One of a fixed set of spellings.
pub(crate) fn one_of<T: Clone>(
    sink: &mut Sink,
    node: &Node,
    path: &Path,
    what: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    let text = reader::string(sink, node, path)?;
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
        return Some(value.clone());
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
    sink.node(
        node,
        path,
        format!(
            "unknown {what} {text:?}, expected one of {}",
            names.join(", ")
        ),
    );
    None
}
