//! A small reader over an already-parsed YAML/JSON value that collects every problem with
//! its field path (`alertmanager.route.routes[2].receiver`), instead of stopping at the first.

use jiff::SignedDuration;
use serde_json::{Map, Value};

use crate::duration::parse_duration;

/// One configuration problem at a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects issues while reading.
#[derive(Debug, Default)]
pub struct Issues(pub Vec<ConfigIssue>);

impl Issues {
    pub fn push(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            path: path.to_string(),
            message: message.into(),
        });
    }
}

pub fn key(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A mapping whose keys are checked against `allowed` (unless `allowed` is empty).
pub struct Obj<'v> {
    pub map: Option<&'v Map<String, Value>>,
    pub path: String,
}

impl<'v> Obj<'v> {
    pub fn new(value: &'v Value, path: &str, allowed: &[&str], issues: &mut Issues) -> Obj<'v> {
        let map = match value {
            Value::Object(m) => {
                if !allowed.is_empty() {
                    for k in m.keys() {
                        if !allowed.contains(&k.as_str()) {
                            issues.push(&key(path, k), "unknown field");
                        }
                    }
                }
                Some(m)
            }
            Value::Null => None,
            other => {
                issues.push(
                    path,
                    format!("expected a mapping, found {}", type_name(other)),
                );
                None
            }
        };
        Obj {
            map,
            path: path.to_string(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn path(&self, name: &str) -> String {
        key(&self.path, name)
    }

    pub fn str(&self, name: &str, issues: &mut Issues) -> Option<String> {
        let v = self.get(name)?;
        scalar_string(v).or_else(|| {
            issues.push(
                &self.path(name),
                format!("expected a string, found {}", type_name(v)),
            );
            None
        })
    }

    pub fn bool(&self, name: &str, issues: &mut Issues) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                issues.push(
                    &self.path(name),
                    format!("expected true or false, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn u64(&self, name: &str, issues: &mut Issues) -> Option<u64> {
        let v = self.get(name)?;
        let parsed = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            issues.push(&self.path(name), "expected a non-negative integer");
        }
        parsed
    }

    pub fn duration(&self, name: &str, issues: &mut Issues) -> Option<SignedDuration> {
        let s = self.str(name, issues)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                issues.push(&self.path(name), e.to_string());
                None
            }
        }
    }

    /// A list of strings (a single string is not accepted as a list).
    pub fn str_list(&self, name: &str, issues: &mut Issues) -> Vec<(String, String)> {
        self.list(name, issues)
            .into_iter()
            .filter_map(|(v, path)| match scalar_string(v) {
                Some(s) => Some((s, path)),
                None => {
                    issues.push(&path, format!("expected a string, found {}", type_name(v)));
                    None
                }
            })
            .collect()
    }

    /// The items of a list with their paths.
    pub fn list(&self, name: &str, issues: &mut Issues) -> Vec<(&'v Value, String)> {
        let path = self.path(name);
        match self.get(name) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (v, index(&path, i)))
                .collect(),
            Some(other) => {
                issues.push(
                    &path,
                    format!("expected a list, found {}", type_name(other)),
                );
                Vec::new()
            }
        }
    }

    /// A mapping of string to string (`match:`, `headers:`).
    pub fn str_map(&self, name: &str, issues: &mut Issues) -> Vec<(String, String, String)> {
        let path = self.path(name);
        match self.get(name) {
            None => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| {
                    let p = key(&path, k);
                    match scalar_string(v) {
                        Some(s) => Some((k.clone(), s, p)),
                        None => {
                            issues.push(&p, format!("expected a string, found {}", type_name(v)));
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                issues.push(
                    &path,
                    format!("expected a mapping, found {}", type_name(other)),
                );
                Vec::new()
            }
        }
    }
}

/// Strings, and numbers/booleans written without quotes, as text.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
