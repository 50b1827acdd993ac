//! Diagnostics: every problem found in the configuration, with where it is.

use std::fmt;

use crate::node::{Node, Pos};

/// One problem in the configuration.
///
/// Displays as `file:line:col: field.path: message`, e.g.
/// `nines.yaml:12:20: services[0].slos[1].objective: must be between 0 and 100 (exclusive of 0), got 120`.
/// Line and column are 1-based; both are 0 when the problem has no position (a file that
/// cannot be read), and `path` is empty when it concerns no field (a YAML syntax error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A field path such as `services[0].slos[1].objective`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub fn root() -> Path {
        Path(String::new())
    }

    pub fn key(&self, key: &str) -> Path {
        if self.0.is_empty() {
            Path(key.to_string())
        } else {
            Path(format!("{}.{key}", self.0))
        }
    }

    pub fn index(&self, index: usize) -> Path {
        Path(format!("{}[{index}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects diagnostics for one source file.
#[derive(Debug)]
pub(crate) struct Sink {
    pub file: String,
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: &str) -> Sink {
        Sink {
            file: file.to_string(),
            diags: Vec::new(),
        }
    }

    pub fn at(&mut self, pos: Pos, path: &Path, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            path: one_line(path.as_str()),
            message: one_line(&message.into()),
        });
    }

    pub fn node(&mut self, node: &Node, path: &Path, message: impl Into<String>) {
        self.at(node.pos, path, message);
    }

    /// `expected X, got Y` at the node.
    pub fn expected(&mut self, node: &Node, path: &Path, what: &str) {
        let got = node.type_name();
        self.at(node.pos, path, format!("expected {what}, got {got}"));
    }
}

/// Diagnostics are one line each: control characters (from quoted keys or values) are
/// shown escaped.
fn one_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_string()
    }
}
