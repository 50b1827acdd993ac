//! Small helpers to walk a [`Node`] tree by hand, reporting every problem to a [`Sink`].

use crate::diag::{Path, Sink};
use crate::node::{Kind, Node};

/// The fields of a YAML mapping whose keys were checked against the allowed names.
pub(crate) struct Fields<'n> {
    pub node: &'n Node,
    pub path: Path,
    entries: Vec<(&'n str, &'n Node)>,
}

/// Reads `node` as a mapping whose keys must be among `allowed`; every other key is
/// reported as `unknown field`. Returns `None` (after reporting) when `node` is no mapping.
pub(crate) fn fields<'n>(
    sink: &mut Sink,
    node: &'n Node,
    path: &Path,
    allowed: &[&str],
) -> Option<Fields<'n>> {
    let Kind::Map(map) = &node.kind else {
        sink.expected(node, path, "a mapping");
        return None;
    };
    let mut entries = Vec::with_capacity(map.len());
    for (key, value) in map {
        let name = key.as_str();
        match name {
            Some(name) if allowed.contains(&name) => entries.push((name, value)),
            _ => {
                let shown = match &key.kind {
                    Kind::Str(s) => s.clone(),
                    Kind::Int(i) => i.to_string(),
                    Kind::Float(f) => f.to_string(),
                    Kind::Bool(b) => b.to_string(),
                    Kind::Null => "null".to_string(),
                    Kind::Seq(_) | Kind::Map(_) => "<complex key>".to_string(),
                };
                let expected = match allowed {
                    [] => "there are no fields".to_string(),
                    [one] => format!("expected `{one}`"),
                    many => format!(
                        "expected one of {}",
                        many.iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                sink.node(
                    key,
                    &path.key(&shown),
                    format!("unknown field `{shown}`, {expected}"),
                );
            }
        }
    }
    Some(Fields {
        node,
        path: path.clone(),
        entries,
    })
}

impl<'n> Fields<'n> {
    /// The value of `name`; `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .filter(|value| !value.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn path(&self, name: &str) -> Path {
        self.path.key(name)
    }

    /// The value of `name`, reporting `missing field` at the mapping when it is absent.
    /// A present null is returned so that the caller reports `expected X, got null` there.
    pub fn required(&self, sink: &mut Sink, name: &str) -> Option<&'n Node> {
        match self.entries.iter().find(|(key, _)| *key == name) {
            Some((_, value)) => Some(*value),
            None => {
                sink.node(self.node, &self.path, format!("missing field `{name}`"));
                None
            }
        }
    }

    pub fn opt_str(&self, sink: &mut Sink, name: &str) -> Option<&'n str> {
        self.get(name)
            .and_then(|node| string(sink, node, &self.path(name)))
    }

    pub fn req_str(&self, sink: &mut Sink, name: &str) -> Option<&'n str> {
        self.required(sink, name)
            .and_then(|node| string(sink, node, &self.path(name)))
    }

    pub fn opt_bool(&self, sink: &mut Sink, name: &str) -> Option<bool> {
        self.get(name)
            .and_then(|node| boolean(sink, node, &self.path(name)))
    }

    /// The elements of a list field (absent or null = empty), each with its path.
    pub fn list(&self, sink: &mut Sink, name: &str) -> Vec<(&'n Node, Path)> {
        match self.get(name) {
            None => Vec::new(),
            Some(node) => list(sink, node, &self.path(name)),
        }
    }
}

pub(crate) fn string<'n>(sink: &mut Sink, node: &'n Node, path: &Path) -> Option<&'n str> {
    match &node.kind {
        Kind::Str(s) => Some(s),
        _ => {
            sink.expected(node, path, "a string");
            None
        }
    }
}

pub(crate) fn number(sink: &mut Sink, node: &Node, path: &Path) -> Option<f64> {
    match node.kind {
        Kind::Int(i) => Some(i as f64),
        Kind::Float(f) if f.is_finite() => Some(f),
        Kind::Float(_) => {
            sink.node(node, path, "expected a finite number");
            None
        }
        _ => {
            sink.expected(node, path, "a number");
            None
        }
    }
}

pub(crate) fn boolean(sink: &mut Sink, node: &Node, path: &Path) -> Option<bool> {
    match node.kind {
        Kind::Bool(b) => Some(b),
        _ => {
            sink.expected(node, path, "a boolean (true or false)");
            None
        }
    }
}

/// The elements of a list with their paths; reports and returns nothing when `node` is
/// no list.
pub(crate) fn list<'n>(sink: &mut Sink, node: &'n Node, path: &Path) -> Vec<(&'n Node, Path)> {
    match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (item, path.index(i)))
            .collect(),
        _ => {
            sink.expected(node, path, "a list");
            Vec::new()
        }
    }
}
