//! SLI matchers: which records count (`total`) and which of those are good (`good`).
//!
//! These are the compiled forms of the config's `total:` and `good:` maps. The `spec` crate
//! parses the config text with the `parse` functions here, so the syntax lives in one place.

/// A set of HTTP status codes: a union of inclusive ranges.
/// Syntax: `"<500"`, `"<=499"`, `">=200"`, `">399"`, `"2xx"`, `"200-399"`, `"404"`, and
/// comma-separated unions of those (`"2xx,3xx"`), optionally negated with a leading `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    negated: bool,
}

/// An upper bound on request latency: `"<=300ms"`, `"<1s"`, `"<= 0.25s"`.
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
