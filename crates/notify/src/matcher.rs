//! Alertmanager label matchers: `=`, `!=`, `=~`, `!~` (regexes fully anchored), parsed from
//! the `matchers:` string syntax, the legacy `match:`/`match_re:` maps and API v2 silence
//! matchers, and formatted like Alertmanager (route keys and group keys depend on it).

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;
use crate::Error;

/// The four match operators, ordered as Alertmanager orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Whether a match means "equal" (`=`, `=~`) rather than "not equal" (`!=`, `!~`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One matcher on one label. A missing label matches as the empty string.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

/// Alertmanager's order: name, then value, then operator.
impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.value.cmp(&other.value))
            .then_with(|| self.op.cmp(&other.op))
    }
}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Matcher {
    /// A matcher; a regex value is compiled anchored as `^(?:value)$`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, Error> {
        let name = name.into();
        let value = value.into();
        let regex = if op.is_regex() {
            Some(anchored(&value)?)
        } else {
            None
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Whether the value `s` (the label's value, `""` when absent) matches.
    pub fn matches_value(&self, s: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => s == self.value,
            (MatchOp::NotEqual, _) => s != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(s),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(s),
            // Constructed only through `new`, which always compiles regexes.
            (_, None) => false,
        }
    }

    /// Whether `labels` match (a missing label is the empty string).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.value(&self.name))
    }

    /// As an API v2 matcher.
    pub fn to_api(&self) -> ApiMatcher {
        ApiMatcher {
            name: self.name.clone(),
            value: self.value.clone(),
            is_regex: self.op.is_regex(),
            is_equal: self.op.is_equal(),
        }
    }

    /// From an API v2 matcher (`isEqual` defaults to true).
    pub fn from_api(m: &ApiMatcher) -> Result<Matcher, Error> {
        let op = match (m.is_equal, m.is_regex) {
            (true, false) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (false, true) => MatchOp::NotRegex,
        };
        Matcher::new(m.name.clone(), op, m.value.clone())
    }

    /// Parses one matcher such as `severity="page"`, `team=~"a|b"` or `env!=prod`.
    pub fn parse(input: &str) -> Result<Matcher, Error> {
        let bad = |reason: &str| Error::Matcher {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        let name_len = s
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
            })
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if name_len == 0 {
            return Err(bad("expected a label name"));
        }
        let name = &s[..name_len];
        let rest = s[name_len..].trim_start();
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Equal, r)
        } else {
            return Err(bad("expected one of =, !=, =~, !~ after the label name"));
        };
        let raw = rest.trim();
        let value = unescape_value(raw).map_err(bad)?;
        Matcher::new(name, op, value).map_err(|e| match e {
            Error::Regex { reason, .. } => bad(&format!("invalid regex: {reason}")),
            other => other,
        })
    }
}

/// Formats like Alertmanager's `Matcher.String()`: `name="value"` with OpenMetrics escaping.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self
            .value
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.op, escaped)
    }
}

fn anchored(pattern: &str) -> Result<Regex, Error> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| Error::Regex {
        pattern: pattern.to_string(),
        reason: e
            .to_string()
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim()
            .to_string(),
    })
}

/// Unquotes a matcher value: optional surrounding double quotes; `\n`, `\"`, `\\` escapes; any
/// other backslash is literal (as in Alertmanager's classic parser).
fn unescape_value(raw: &str) -> Result<String, &'static str> {
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut closed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '"' => {
                if !quoted || chars.peek().is_some() {
                    return Err("value contains an unescaped double quote");
                }
                closed = true;
            }
            c => out.push(c),
        }
    }
    if quoted && !closed {
        return Err("missing closing double quote");
    }
    Ok(out)
}

/// A conjunction of matchers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher matches (true for no matchers).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorted in Alertmanager's order (name, value, operator).
    pub fn sort(&mut self) {
        self.0.sort();
    }

    /// Parses a list such as `{a="1", b=~"x|y"}` (braces optional); commas inside quotes are
    /// part of the value.
    pub fn parse(input: &str) -> Result<Matchers, Error> {
        let s = input.trim();
        let s = s.strip_prefix('{').unwrap_or(s);
        let s = s.strip_suffix('}').unwrap_or(s);
        let mut tokens = Vec::new();
        let mut token = String::new();
        let (mut quoted, mut escaped) = (false, false);
        for c in s.chars() {
            match c {
                ',' if !quoted => {
                    tokens.push(std::mem::take(&mut token));
                    continue;
                }
                '"' => {
                    if escaped {
                        escaped = false;
                    } else {
                        quoted = !quoted;
                    }
                }
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
            token.push(c);
        }
        if !token.trim().is_empty() {
            tokens.push(token);
        }
        tokens
            .iter()
            .map(|t| Matcher::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map(Matchers)
    }

    /// As API v2 matchers.
    pub fn to_api(&self) -> Vec<ApiMatcher> {
        self.0.iter().map(Matcher::to_api).collect()
    }

    /// From API v2 matchers.
    pub fn from_api(ms: &[ApiMatcher]) -> Result<Matchers, Error> {
        ms.iter()
            .map(Matcher::from_api)
            .collect::<Result<Vec<_>, _>>()
            .map(Matchers)
    }
}

/// Formats like Alertmanager's `Matchers.String()`: `{a="1",b=~"x"}` (no spaces).
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Alertmanager API v2 matcher: `{name, value, isRegex, isEqual}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn parses_the_four_operators_quoted_and_bare() {
        let m = Matcher::parse(r#"severity="page""#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Equal, "page")
        );
        let m = Matcher::parse("team =~ a|b").unwrap();
        assert_eq!((m.op, m.value.as_str()), (MatchOp::Regex, "a|b"));
        assert_eq!(Matcher::parse("env!=prod").unwrap().op, MatchOp::NotEqual);
        assert_eq!(
            Matcher::parse(r#"env!~"dev.*""#).unwrap().op,
            MatchOp::NotRegex
        );
        let m = Matcher::parse(r#"msg="say \"hi\"\n\\ \d""#).unwrap();
        assert_eq!(m.value, "say \"hi\"\n\\ \\d");
    }

    #[test]
    fn rejects_malformed_matchers() {
        for bad in [
            "",
            "=x",
            "a",
            r#"a="x"y""#,
            r#"a="open"#,
            "1a=b",
            "a=~\"(\"",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad:?} should fail");
        }
        // `a==` is `a` = `=`: an unquoted value may contain `=` (as in Alertmanager).
        assert_eq!(Matcher::parse("a==").unwrap().value, "=");
        let err = Matcher::parse(r#"a="x"y""#).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"invalid matcher "a=\"x\"y\"": value contains an unescaped double quote"#
        );
    }

    #[test]
    fn regexes_are_fully_anchored() {
        let m = Matcher::parse(r#"job=~"api""#).unwrap();
        assert!(m.matches(&ls(&[("job", "api")])));
        assert!(!m.matches(&ls(&[("job", "api-2")])));
        assert!(!m.matches(&ls(&[("job", "my-api")])));
        let alt = Matcher::parse(r#"team=~"a|b""#).unwrap();
        assert!(alt.matches(&ls(&[("team", "b")])));
        assert!(!alt.matches(&ls(&[("team", "ab")])));
    }

    #[test]
    fn missing_label_is_the_empty_string() {
        assert!(Matcher::parse(r#"x="""#).unwrap().matches(&LabelSet::new()));
        assert!(Matcher::parse(r#"x!="a""#)
            .unwrap()
            .matches(&LabelSet::new()));
        assert!(Matcher::parse(r#"x=~".*""#)
            .unwrap()
            .matches(&LabelSet::new()));
        assert!(!Matcher::parse(r#"x=~".+""#)
            .unwrap()
            .matches(&LabelSet::new()));
    }

    #[test]
    fn parses_lists_with_commas_inside_quotes() {
        let ms = Matchers::parse(r#"{a="1,2", b=~"x|y"}"#).unwrap();
        assert_eq!(ms.0.len(), 2);
        assert_eq!(ms.0[0].value, "1,2");
        assert!(ms.matches(&ls(&[("a", "1,2"), ("b", "y")])));
        assert!(!ms.matches(&ls(&[("a", "1,2"), ("b", "z")])));
        assert_eq!(Matchers::parse("{}").unwrap(), Matchers::default());
    }

    #[test]
    fn formats_and_sorts_like_alertmanager() {
        let mut ms =
            Matchers::parse(r#"team=~"b", severity="page", team="a", msg="q\"\n""#).unwrap();
        ms.sort();
        assert_eq!(
            ms.to_string(),
            r#"{msg="q\"\n",severity="page",team="a",team=~"b"}"#
        );
    }

    #[test]
    fn api_matchers_round_trip() {
        let json = r#"[{"name":"a","value":"1","isRegex":false,"isEqual":true},
                       {"name":"b","value":"x.*","isRegex":true,"isEqual":false},
                       {"name":"c","value":"2","isRegex":false}]"#;
        let api: Vec<ApiMatcher> = serde_json::from_str(json).unwrap();
        let ms = Matchers::from_api(&api).unwrap();
        let ops: Vec<MatchOp> = ms.0.iter().map(|m| m.op).collect();
        assert_eq!(ops, [MatchOp::Equal, MatchOp::NotRegex, MatchOp::Equal]);
        assert_eq!(
            ms.to_api()[1],
            ApiMatcher {
                name: "b".into(),
                value: "x.*".into(),
                is_regex: true,
                is_equal: false
            }
        );
    }
}
