//! SLI matchers: which records count (`total`) and which of those are good (`good`).
//!
//! These are the compiled forms of the config's `total:` and `good:` maps. The `spec` crate
//! parses the config text with the `parse` functions here, so the syntax lives in one place.

use crate::error::Error;
use crate::num::{decimal_to_f64, parse_decimal};
use crate::record::AccessRecord;

/// A set of HTTP status codes: a union of inclusive ranges.
/// Syntax: `"<500"`, `"<=499"`, `">=200"`, `">399"`, `"2xx"`, `"200-399"`, `"404"`, and
/// comma-separated unions of those (`"2xx,3xx"`), optionally negated with a leading `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    negated: bool,
}

/// An upper bound on request latency: `"<=300ms"`, `"<1s"`, `"<= 0.25s"`, `"<=2m"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBound {
    /// Bound in seconds.
    pub seconds: f64,
    /// `<=` when true, `<` when false.
    pub inclusive: bool,
}

/// Selects the records an SLI counts. Every field present must match; absent fields match all.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Regex searched in the request path (anchor with `^` yourself).
    pub path: Option<regex::Regex>,
    /// Upper-case HTTP methods; empty means any.
    pub methods: Vec<String>,
    /// Exact host (virtual host / `Host` header) when the log has it.
    pub host: Option<String>,
    pub status: Option<StatusSet>,
}

/// Decides whether a selected record is good. Every field present must hold.
/// With no field at all, every selected record is good.
#[derive(Debug, Clone, Default)]
pub struct GoodCondition {
    pub status: Option<StatusSet>,
    pub latency: Option<LatencyBound>,
}

/// An SLI's matcher pair.
#[derive(Debug, Clone, Default)]
pub struct SliMatcher {
    pub total: Selector,
    pub good: GoodCondition,
}

/// Status codes are three digits; `>=200` means up to this.
const STATUS_MAX: u16 = 999;

impl StatusSet {
    /// Parses the status syntax described on the type.
    pub fn parse(input: &str) -> Result<StatusSet, Error> {
        let err = |reason: &str| Error::StatusSet {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let mut text = input.trim();
        let negated = match text.strip_prefix('!') {
            Some(rest) => {
                text = rest.trim_start();
                true
            }
            None => false,
        };
        if text.is_empty() {
            return Err(err(
                "expected a status like 404, 5xx, 200-399, <500 or >=200",
            ));
        }
        let mut ranges = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(err("empty item in comma-separated list"));
            }
            ranges.push(parse_status_item(item).map_err(|r| err(&r))?);
        }
        ranges.sort_unstable();
        Ok(StatusSet { ranges, negated })
    }

    /// Whether `status` is in the set.
    #[inline]
    pub fn contains(&self, status: u16) -> bool {
        let inside = self
            .ranges
            .iter()
            .any(|&(lo, hi)| lo <= status && status <= hi);
        inside != self.negated
    }

    /// The inclusive ranges (before negation) and whether the set is negated.
    pub fn ranges(&self) -> (&[(u16, u16)], bool) {
        (&self.ranges, self.negated)
    }
}

fn parse_code(s: &str) -> Result<u16, String> {
    let s = s.trim();
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a three-digit status code"));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not a three-digit status code"))
}

fn parse_status_item(item: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = if let Some(rest) = item.strip_prefix("<=") {
        (0, parse_code(rest)?)
    } else if let Some(rest) = item.strip_prefix('<') {
        let c = parse_code(rest)?;
        if c == 0 {
            return Err("<000 matches nothing".to_string());
        }
        (0, c - 1)
    } else if let Some(rest) = item.strip_prefix(">=") {
        (parse_code(rest)?, STATUS_MAX)
    } else if let Some(rest) = item.strip_prefix('>') {
        let c = parse_code(rest)?;
        if c >= STATUS_MAX {
            return Err(format!(">{c} matches nothing"));
        }
        (c + 1, STATUS_MAX)
    } else if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
        match class.as_bytes() {
            [d @ b'1'..=b'9'] => {
                let base = u16::from(d - b'0') * 100;
                (base, base + 99)
            }
            _ => return Err(format!("{item:?} is not a status class like 2xx")),
        }
    } else if let Some((a, b)) = item.split_once('-') {
        let (a, b) = (parse_code(a)?, parse_code(b)?);
        if a > b {
            return Err(format!("range {a}-{b} is empty"));
        }
        (a, b)
    } else {
        let c = parse_code(item).map_err(|_| {
            format!("expected a status like 404, 5xx, 200-399, <500 or >=200, got {item:?}")
        })?;
        (c, c)
    };
    Ok((lo, hi))
}

impl LatencyBound {
    /// Parses `<=300ms`, `<1s`, `<= 0.25s`, `<=2m`. A bare duration means `<=`.
    pub fn parse(input: &str) -> Result<LatencyBound, Error> {
        let err = |reason: &str| Error::LatencyBound {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text = input.trim();
        let (inclusive, rest) = if let Some(r) = text.strip_prefix("<=") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('<') {
            (false, r)
        } else if text.starts_with('>') {
            return Err(err("only upper bounds (< or <=) make sense for latency"));
        } else {
            (true, text)
        };
        let rest = rest.trim();
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, unit) = rest.split_at(split);
        if number.is_empty() {
            return Err(err("expected a bound like <=300ms, <1s or <=2m"));
        }
        let (num, den) = match unit.trim() {
            "ms" => (1, 1000),
            "s" => (1, 1),
            "m" => (60, 1),
            "" => return Err(err("missing unit (use ms, s or m)")),
            u => return Err(err(&format!("unknown unit {u:?} (use ms, s or m)"))),
        };
        let (mant, scale) =
            parse_decimal(number.as_bytes()).ok_or_else(|| err("not a valid number"))?;
        let seconds =
            decimal_to_f64(mant, scale, num, den).ok_or_else(|| err("number too large"))?;
        Ok(LatencyBound { seconds, inclusive })
    }

    /// Whether a request that took `seconds` is within the bound. NaN never is.
    #[inline]
    pub fn holds(&self, seconds: f64) -> bool {
        if self.inclusive {
            seconds <= self.seconds
        } else {
            seconds < self.seconds
        }
    }
}

impl Selector {
    /// Whether the SLI counts this record. A host selector never matches a record without
    /// a host: counting everything would silently widen the SLI.
    pub fn matches(&self, r: &AccessRecord<'_>) -> bool {
        self.matches_except_path(r) && self.path.as_ref().is_none_or(|re| re.is_match(r.path))
    }

    /// Everything but the (costly) regex; the classifier caches the regex part per path.
    #[inline]
    pub(crate) fn matches_except_path(&self, r: &AccessRecord<'_>) -> bool {
        (self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(r.method)))
            && self
                .host
                .as_deref()
                .is_none_or(|h| r.host.is_some_and(|rh| rh.eq_ignore_ascii_case(h)))
            && self.status.as_ref().is_none_or(|s| s.contains(r.status))
    }
}

impl GoodCondition {
    /// Whether a selected record is good. A latency condition on a record without a request
    /// time is false here; use [`GoodCondition::classify`] to tell that case apart.
    pub fn is_good(&self, r: &AccessRecord<'_>) -> bool {
        self.classify(r) == Some(true)
    }

    /// `Some(good)`, or `None` when the record cannot be judged: the condition needs a
    /// latency and the record has none. Such records are skipped, not counted as bad.
    #[inline]
    pub fn classify(&self, r: &AccessRecord<'_>) -> Option<bool> {
        let latency_ok = match (&self.latency, r.request_time) {
            (None, _) => true,
            (Some(b), Some(t)) => b.holds(t),
            (Some(_), None) => return None,
        };
        Some(latency_ok && self.status.as_ref().is_none_or(|s| s.contains(r.status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> StatusSet {
        StatusSet::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn status_forms() {
        let cases: &[(&str, &[u16], &[u16])] = &[
            ("<500", &[100, 200, 499], &[500, 503, 999]),
            ("<=499", &[499, 0], &[500]),
            (">=200", &[200, 999], &[199]),
            (">399", &[400, 500], &[399]),
            ("2xx", &[200, 299], &[199, 300]),
            ("5XX", &[500, 599], &[499, 600]),
            ("200-399", &[200, 302, 399], &[199, 400]),
            ("404", &[404], &[403, 405]),
            ("2xx,3xx", &[200, 304, 399], &[400, 199]),
            (" 2xx , 404 ", &[204, 404], &[400]),
            ("!5xx", &[200, 404, 600], &[500, 599]),
            ("! 500-599,429", &[200, 404], &[429, 503]),
        ];
        for (text, yes, no) in cases {
            let s = set(text);
            for &c in *yes {
                assert!(s.contains(c), "{text} should contain {c}");
            }
            for &c in *no {
                assert!(!s.contains(c), "{text} should not contain {c}");
            }
        }
    }

    #[test]
    fn status_errors() {
        for bad in [
            "", "!", "abc", "2x", "0xx", "20", "2000", "<", "399-200", "2xx,", ",", "<000", ">999",
            "4o4",
        ] {
            let e = StatusSet::parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("invalid status set"), "{e}");
            assert_eq!(e, e.to_lowercase(), "lowercase: {e}");
        }
        let e = StatusSet::parse("abc").expect_err("abc").to_string();
        assert_eq!(
            e,
            "invalid status set \"abc\": expected a status like 404, 5xx, 200-399, <500 or >=200, got \"abc\""
        );
    }

    #[test]
    fn latency_forms() {
        let b = LatencyBound::parse("<=300ms").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b,
            LatencyBound {
                seconds: 0.3,
                inclusive: true
            }
        );
        assert!(b.holds(0.300) && b.holds(0.0) && !b.holds(0.301) && !b.holds(f64::NAN));
        let b = LatencyBound::parse("<1s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b,
            LatencyBound {
                seconds: 1.0,
                inclusive: false
            }
        );
        assert!(b.holds(0.999) && !b.holds(1.0));
        let b = LatencyBound::parse("<= 0.25s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.seconds, 0.25);
        let b = LatencyBound::parse("<=2m").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.seconds, 120.0);
        let b = LatencyBound::parse("250ms").unwrap_or_else(|e| panic!("{e}"));
        assert!(b.inclusive && b.seconds == 0.25);
    }

    #[test]
    fn latency_errors() {
        for (bad, want) in [
            ("<=300", "missing unit (use ms, s or m)"),
            ("<=300h", "unknown unit \"h\" (use ms, s or m)"),
            (">1s", "only upper bounds (< or <=) make sense for latency"),
            ("<=ms", "expected a bound like <=300ms, <1s or <=2m"),
            ("<=1.2.3s", "not a valid number"),
            ("", "expected a bound like <=300ms, <1s or <=2m"),
        ] {
            let e = LatencyBound::parse(bad).expect_err(bad).to_string();
            assert_eq!(e, format!("invalid latency bound {bad:?}: {want}"));
        }
    }

    fn rec(path: &str, status: u16, rt: Option<f64>) -> AccessRecord<'_> {
        AccessRecord {
            time: 0,
            method: "GET",
            path,
            host: None,
            status,
            request_time: rt,
            bytes: None,
        }
    }

    #[test]
    fn selector_and_good() {
        let sel = Selector {
            path: regex::Regex::new("^/api/").ok(),
            methods: vec!["GET".into(), "POST".into()],
            host: None,
            status: StatusSet::parse("!404").ok(),
        };
        assert!(sel.matches(&rec("/api/x", 200, None)));
        assert!(!sel.matches(&rec("/web/x", 200, None)));
        assert!(!sel.matches(&rec("/api/x", 404, None)));
        let mut put = rec("/api/x", 200, None);
        put.method = "PUT";
        assert!(!sel.matches(&put));

        let host_sel = Selector {
            host: Some("Example.com".into()),
            ..Selector::default()
        };
        assert!(!host_sel.matches(&rec("/", 200, None)), "no host in record");
        let mut h = rec("/", 200, None);
        h.host = Some("example.com");
        assert!(host_sel.matches(&h));

        let good = GoodCondition {
            status: StatusSet::parse("<500").ok(),
            latency: LatencyBound::parse("<=300ms").ok(),
        };
        assert_eq!(good.classify(&rec("/", 200, Some(0.3))), Some(true));
        assert_eq!(good.classify(&rec("/", 200, Some(0.31))), Some(false));
        assert_eq!(good.classify(&rec("/", 503, Some(0.1))), Some(false));
        assert_eq!(good.classify(&rec("/", 200, None)), None);
        assert!(!good.is_good(&rec("/", 200, None)));
        assert!(GoodCondition::default().is_good(&rec("/", 599, None)));
    }
}
