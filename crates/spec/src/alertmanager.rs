//! The native top-level `alertmanager:` key: Alertmanager's configuration format, read by
//! the `notify` crate.
//!
//! The YAML node is handed to [`notify::AlertmanagerConfig::from_value`] as a JSON value;
//! each of its issues names a field path (`alertmanager.route.routes[1].receiver`), which is
//! resolved back against the node tree to give the diagnostic a `file:line:col`. A path
//! naming a field that is not there (`required`) points at the nearest node that is.

use serde_json::{Map, Number, Value};

use crate::assemble::Builder;
use crate::diag::{Path, Sink};
use crate::node::{Kind, Node, Pos};

/// Reads the top-level `alertmanager:` of a native document; `key` is where the key is,
/// where problems with the whole section are reported.
pub(crate) fn section(sink: &mut Sink, node: &Node, path: &Path, key: Pos, builder: &mut Builder) {
    let first = builder.claim_alertmanager(sink, key, path);
    let Some(value) = to_json(sink, node, path) else {
        return;
    };
    match notify::AlertmanagerConfig::from_value(&value, path.as_str()) {
        Ok(config) => {
            if first {
                builder.config.alertmanager = Some(config);
            }
        }
        Err(notify::Error::Config(issues)) => {
            for issue in issues {
                let at_key = issue.message.starts_with("unknown field");
                let pos = locate(node, key, path.as_str(), &issue.path, at_key);
                sink.at(pos, &Path::root().key(&issue.path), issue.message);
            }
        }
        Err(other) => sink.at(key, path, other.to_string()),
    }
}

/// The node as a JSON value. Mapping keys that are scalars become their text; a key that is
/// a list or a mapping is reported and the whole section is not read.
fn to_json(sink: &mut Sink, node: &Node, path: &Path) -> Option<Value> {
    Some(match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => Value::Number(Number::from(*i)),
        Kind::Float(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            // `.inf` and `.nan`: no JSON number, kept as their YAML spelling
            None => Value::String(yaml_float(*f)),
        },
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match to_json(sink, item, &path.index(i)) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Array(out)
        }
        Kind::Map(entries) => {
            let mut out = Map::new();
            let mut ok = true;
            for (key, value) in entries {
                let Some(name) = key_text(key) else {
                    sink.expected(key, path, "a string key");
                    ok = false;
                    continue;
                };
                match to_json(sink, value, &path.key(&name)) {
                    Some(v) => {
                        out.insert(name, v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Object(out)
        }
    })
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f > 0.0 {
        ".inf".to_string()
    } else {
        "-.inf".to_string()
    }
}

/// The text of a scalar mapping key, as the JSON value's key.
fn key_text(key: &Node) -> Option<String> {
    match &key.kind {
        Kind::Str(s) => Some(s.clone()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Float(f) => Some(match Number::from_f64(*f) {
            Some(n) => n.to_string(),
            None => yaml_float(*f),
        }),
        Kind::Bool(b) => Some(b.to_string()),
        Kind::Null => Some("null".to_string()),
        Kind::Seq(_) | Kind::Map(_) => None,
    }
}

/// Where the field `issue_path` (which starts with `prefix`, the path of `root`, whose key
/// is at `root_key`) is: the position of the node it names or, when it names a field that
/// is not there, of the nearest ancestor that is. A mapping key's step points at the key when `at_key` (an
/// unknown field) or when its value is a mapping, a list (whose own position is that of its
/// first entry) or empty; else at the value.
fn locate(root: &Node, root_key: Pos, prefix: &str, issue_path: &str, at_key: bool) -> Pos {
    let Some(mut rest) = issue_path.strip_prefix(prefix) else {
        return root_key;
    };
    let mut node = root;
    let mut pos = root_key;
    while !rest.is_empty() {
        let step = match &node.kind {
            Kind::Seq(items) => rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(digits, after)| {
                    let i: usize = digits.parse().ok()?;
                    Some((items.get(i)?, None, after))
                }),
            Kind::Map(entries) => rest.strip_prefix('.').and_then(|r| {
                // The longest key that ends where a path step ends (keys may hold dots).
                entries
                    .iter()
                    .filter_map(|(k, v)| {
                        let name = key_text(k)?;
                        let after = r.strip_prefix(name.as_str())?;
                        let ends = after.is_empty() || after.starts_with(['.', '[']);
                        ends.then_some((name.len(), k, v, after))
                    })
                    .max_by_key(|(len, ..)| *len)
                    .map(|(_, k, v, after)| (v, Some(k), after))
            }),
            _ => None,
        };
        let Some((next, key, after)) = step else {
            return pos;
        };
        pos = match (key, &next.kind) {
            (Some(k), _) if at_key && after.is_empty() => k.pos,
            (Some(k), Kind::Map(_) | Kind::Seq(_) | Kind::Null) => k.pos,
            _ => next.pos,
        };
        node = next;
        rest = after;
    }
    pos
}
