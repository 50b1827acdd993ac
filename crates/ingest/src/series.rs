//! Series selectors: a PromQL vector selector such as
//! `http_requests_total{job="checkout",code!~"5.."}` matched against a series' labels with
//! Prometheus semantics: regexes are fully anchored, and a missing label equals `""`.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::Expr;

use crate::error::Error;
use crate::remote_write::LabelPair;

/// The metric name's label.
pub const METRIC_NAME: &str = "__name__";

/// A compiled vector selector. All matchers of one group must hold; `{a="1" or b="2"}`
/// gives several groups, any of which may hold.
#[derive(Debug, Clone)]
pub struct SeriesSelector {
    text: String,
    groups: Vec<Vec<Matcher>>,
}

impl SeriesSelector {
    /// Parses a PromQL vector selector. Anything else (functions, ranges, `offset`, `@`,
    /// operators) is refused: an SLI counts raw series.
    pub fn parse(input: &str) -> Result<SeriesSelector, Error> {
        let err = |reason: String| Error::SeriesSelector {
            input: input.to_string(),
            reason,
        };
        let expr = promql_parser::parser::parse(input).map_err(|e| err(e.to_lowercase()))?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(err(
                "expected a vector selector like metric{label=\"value\"}".to_string(),
            ));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err(err("offset and @ modifiers are not allowed".to_string()));
        }
        let name = vs
            .name
            .map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, &n));
        let mut groups = Vec::new();
        if vs.matchers.or_matchers.is_empty() {
            groups.push(vs.matchers.matchers);
        } else {
            groups.extend(vs.matchers.or_matchers);
            if !vs.matchers.matchers.is_empty() {
                groups.push(vs.matchers.matchers);
            }
        }
        if let Some(name) = name {
            for g in &mut groups {
                g.insert(0, name.clone());
            }
        }
        Ok(SeriesSelector {
            text: input.trim().to_string(),
            groups,
        })
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a series with these labels (owned or borrowed) is selected. With a name given
    /// twice, the first counts.
    pub fn matches<L: LabelPair>(&self, labels: &[L]) -> bool {
        self.matches_by(|name| labels.iter().find(|l| l.name() == name).map(|l| l.value()))
    }

    /// Like [`SeriesSelector::matches`] with a label lookup of the caller's choosing.
    pub fn matches_by<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.groups
            .iter()
            .any(|g| g.iter().all(|m| m.is_match(get(&m.name).unwrap_or(""))))
    }
}

impl std::fmt::Display for SeriesSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> SeriesSelector {
        SeriesSelector::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    use crate::remote_write::{Label, LabelRef};

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
    }

    #[test]
    fn four_operators() {
        let s =
            sel(r#"http_requests_total{job="checkout",code!~"5..",env!="dev",path=~"/api/.*"}"#);
        let base = [
            ("__name__", "http_requests_total"),
            ("job", "checkout"),
            ("code", "200"),
            ("env", "prod"),
            ("path", "/api/cart"),
        ];
        assert!(s.matches(&labels(&base)));
        let with = |i: usize, v: &'static str| {
            let mut b = base;
            b[i].1 = v;
            labels(&b)
        };
        assert!(!s.matches(&with(0, "other_total")), "name =");
        assert!(!s.matches(&with(1, "cart")), "=");
        assert!(!s.matches(&with(2, "503")), "!~");
        assert!(s.matches(&with(2, "5000")), "!~ is anchored");
        assert!(!s.matches(&with(3, "dev")), "!=");
        assert!(!s.matches(&with(4, "/web/api/x")), "=~ is anchored");
    }

    #[test]
    fn missing_label_is_empty() {
        let s = sel(r#"x{code!~"5..", env=""}"#);
        assert!(s.matches(&labels(&[("__name__", "x")])));
        assert!(!s.matches(&labels(&[("__name__", "x"), ("env", "prod")])));
        // As in Prometheus, a selector must have a matcher that rejects the empty string.
        assert!(SeriesSelector::parse(r#"{env=""}"#).is_err());
        let s = sel(r#"up{job=~".+"}"#);
        assert!(!s.matches(&labels(&[("__name__", "up")])));
        let s = sel(r#"{"http.route"="/x"}"#);
        assert!(s.matches(&labels(&[("http.route", "/x")])));
    }

    #[test]
    fn borrowed_labels_match_like_owned_ones() {
        let s = sel(r#"http_requests_total{job="checkout",code!~"5.."}"#);
        for pairs in [
            &[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("job", "checkout"),
            ][..],
            &[
                ("__name__", "http_requests_total"),
                ("code", "503"),
                ("job", "checkout"),
            ],
            &[("__name__", "http_requests_total"), ("job", "cart")],
            &[
                ("job", "checkout"),
                ("job", "cart"),
                ("__name__", "http_requests_total"),
            ],
        ] {
            let borrowed: Vec<LabelRef<'_>> = pairs
                .iter()
                .map(|&(name, value)| LabelRef { name, value })
                .collect();
            assert_eq!(s.matches(&borrowed), s.matches(&labels(pairs)), "{pairs:?}");
        }
    }

    #[test]
    fn or_groups() {
        let s = sel(r#"up{job="a" or job="b"}"#);
        assert!(s.matches(&labels(&[("__name__", "up"), ("job", "b")])));
        assert!(!s.matches(&labels(&[("__name__", "down"), ("job", "b")])));
        assert!(!s.matches(&labels(&[("__name__", "up"), ("job", "c")])));
    }

    #[test]
    fn refusals() {
        for bad in [
            "rate(x[5m])",
            "x[5m]",
            "x offset 5m",
            "sum(x)",
            "x{",
            r#"x{a=~"("}"#,
            "",
            "1",
        ] {
            let e = SeriesSelector::parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("invalid series selector"), "{e}");
            assert_eq!(e, e.to_lowercase(), "{e}");
        }
    }
}
