//! PromQL checks for Prometheus SLIs (queries) and remote-write SLIs (metric selectors),
//! with the `promql-parser` crate.

use promql_parser::parser::{self, Expr};

/// The placeholder a Prometheus SLI query may use for its range (`[{{window}}]`); the
/// rule generator and the evaluator put the window they need there.
pub const WINDOW_PLACEHOLDER: &str = "{{window}}";

/// What `{{window}}` is replaced with to check a query.
const CHECK_WINDOW: &str = "5m";

/// A query longer than this is refused before parsing (the parser is recursive).
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Checks a Prometheus SLI query: parsable PromQL once `{{window}}` is replaced by `5m`.
pub(crate) fn check_query(text: &str) -> Result<(), String> {
    let substituted = text.replace(WINDOW_PLACEHOLDER, CHECK_WINDOW);
    if let Some(placeholder) = other_placeholder(&substituted) {
        return Err(format!(
            "unknown placeholder `{placeholder}`: only `{WINDOW_PLACEHOLDER}` is replaced"
        ));
    }
    parse(&substituted).map(|_| ())
}

/// Whether a Prometheus SLI query gives a per-second rate or a number of events per bucket,
/// from the range functions it calls: `rate`/`irate` are per second, `increase`,
/// `sum_over_time` and `count_over_time` count events; a query with neither is taken as
/// events. A query mixing both is refused: its good/total ratio would mean nothing.
pub fn query_scale(text: &str) -> Result<crate::QueryScale, String> {
    let expr = parse(&text.replace(WINDOW_PLACEHOLDER, CHECK_WINDOW))?;
    let mut names = Vec::new();
    functions(&expr, &mut names);
    let per_second = names.iter().find(|n| matches!(**n, "rate" | "irate"));
    let events = names
        .iter()
        .find(|n| matches!(**n, "increase" | "sum_over_time" | "count_over_time"));
    match (per_second, events) {
        (Some(a), Some(b)) => Err(format!(
            "mixes a per-second `{a}` with a count `{b}`: use one kind of range function"
        )),
        (Some(_), None) => Ok(crate::QueryScale::PerSecond),
        _ => Ok(crate::QueryScale::Events),
    }
}

/// The names of every function called in `expr`.
fn functions(expr: &Expr, out: &mut Vec<&'static str>) {
    match expr {
        Expr::Aggregate(a) => {
            functions(&a.expr, out);
            if let Some(p) = &a.param {
                functions(p, out);
            }
        }
        Expr::Unary(u) => functions(&u.expr, out),
        Expr::Binary(b) => {
            functions(&b.lhs, out);
            functions(&b.rhs, out);
        }
        Expr::Paren(p) => functions(&p.expr, out),
        Expr::Subquery(s) => functions(&s.expr, out),
        Expr::Call(c) => {
            out.push(c.func.name);
            for arg in &c.args.args {
                functions(arg, out);
            }
        }
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
}

/// Checks a remote-write SLI selector: a plain PromQL vector selector such as
/// `http_requests_total{job="checkout",code!~"5.."}`.
pub(crate) fn check_selector(text: &str) -> Result<(), String> {
    match parse(text)? {
        Expr::VectorSelector(selector) if selector.offset.is_none() && selector.at.is_none() => {
            Ok(())
        }
        other => Err(format!(
            "expected a metric selector such as http_requests_total{{job=\"api\"}}, got {}",
            describe(&other)
        )),
    }
}

fn parse(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "query is too long ({} bytes, at most {MAX_QUERY_BYTES})",
            text.len()
        ));
    }
    // The parser is a third-party dependency: a panic on some odd input must not take the
    // configuration check down with it.
    match std::panic::catch_unwind(|| parser::parse(text)) {
        Ok(Ok(expr)) => Ok(expr),
        Ok(Err(message)) => Err(format!("invalid PromQL: {}", one_line(&message))),
        Err(_) => Err("invalid PromQL: the parser failed on this query".to_string()),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `{{...}}` left in the text.
fn other_placeholder(text: &str) -> Option<&str> {
    let start = text.find("{{")?;
    let end = text[start..]
        .find("}}")
        .map_or(text.len(), |e| start + e + 2);
    Some(&text[start..end])
}

fn describe(expr: &Expr) -> &'static str {
    match expr {
        Expr::Aggregate(_) => "an aggregation",
        Expr::Unary(_) => "a unary expression",
        Expr::Binary(_) => "a binary expression",
        Expr::Paren(_) => "a parenthesized expression",
        Expr::Subquery(_) => "a subquery",
        Expr::NumberLiteral(_) => "a number",
        Expr::StringLiteral(_) => "a string",
        Expr::VectorSelector(_) => "a selector with an offset or @ modifier",
        Expr::MatrixSelector(_) => "a range selector",
        Expr::Call(_) => "a function call",
        Expr::Extension(_) => "an extension expression",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_selectors() {
        assert_eq!(
            check_query(r#"sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))"#),
            Ok(())
        );
        assert!(check_query("sum(rate(x[5m])").is_err());
        assert!(check_query("rate(x[{{ window }}])")
            .unwrap_err()
            .contains("unknown placeholder `{{ window }}`"));
        assert_eq!(
            check_selector(r#"http_requests_total{job="checkout",code!~"5.."}"#),
            Ok(())
        );
        assert!(check_selector("rate(x[5m])")
            .unwrap_err()
            .ends_with("got a function call"));
        assert_eq!(
            query_scale(r#"sum(rate(http_requests_total{code=~"5.."}[{{window}}]))"#),
            Ok(crate::QueryScale::PerSecond)
        );
        assert_eq!(
            query_scale("sum(increase(x[{{window}}])) or vector(0)"),
            Ok(crate::QueryScale::Events)
        );
        assert_eq!(
            query_scale("sum by (job) (irate(x[{{window}}])) * 2"),
            Ok(crate::QueryScale::PerSecond)
        );
        assert_eq!(query_scale("x"), Ok(crate::QueryScale::Events));
        assert!(query_scale("rate(x[{{window}}]) / increase(y[{{window}}])")
            .unwrap_err()
            .contains("mixes"));
        assert!(check_selector("x[5m]")
            .unwrap_err()
            .ends_with("got a range selector"));
    }
}
