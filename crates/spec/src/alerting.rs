//! Alerting: the native `alerting:` block, resolution of a policy for one SLO, and the one
//! check that a tier can fire at all.
//!
//! The native syntax (top level of a `nines/v1` document, or per SLO):
//!
//! ```yaml
//! alerting:
//!   policy: multiwindow          # the default | none | custom (with `conditions`)
//!   inhibit_lower_tiers: true    # the default
//!   conditions:                  # implies `policy: custom`
//!     - { strategy: threshold,       window: 10m, severity: page }
//!     - { strategy: long_window,     window: 36h, severity: ticket }
//!     - { strategy: duration,        window: 1m, for: 1h, severity: page }
//!     - { strategy: burn_rate,       window: 1h, burn_rate: 36, severity: page }
//!     - { strategy: multi_burn_rate, tiers: [{ window: 1h, burn_rate: 14.4 }, { window: 3d, budget: 10%, severity: ticket }] }
//!     - { strategy: multiwindow,     tiers: [{ long: 1h, short: 5m, burn_rate: 14.4, severity: page }] }
//! ```
//!
//! Rules:
//! - `threshold`, `long_window` and `duration` fire at burn rate 1 (error rate ≥ 1 − SLO);
//!   `duration` requires `for`. `burn_rate` and every tier of `multi_burn_rate` and
//!   `multiwindow` need `burn_rate` or `budget` (not both).
//! - `budget` is the share of the error budget consumed when the tier fires: `2%` (a
//!   percentage string) or `0.02` (a bare number is a ratio), in (0, 100%]. It becomes
//!   burn = consumed × period / long window, the period being the SLO window's nominal
//!   length (calendar month 30d, quarter 90d, week 7d).
//! - `severity` is `page` or `ticket`, default `page`. `for` (any tier) is a duration ≥ 0,
//!   default 0. A `multiwindow` tier's `short` defaults to `long` / 12 (the SRE workbook's
//!   ratio: 1h/5m, 6h/30m, 1d/2h, 3d/6h) and must be shorter than `long`.
//! - Scope: the top-level `alerting:` is the default of the whole configuration (every file,
//!   native and OpenSLO SLOs alike) and may be written once. An SLO's own `alerting:` (or
//!   an OpenSLO SLO's `alertPolicies`) replaces it entirely; keys it leaves out take the
//!   built-in defaults, not the top-level ones. Without either, an SLO gets the default
//!   multiwindow policy.
//! - A tier can never fire when the smallest error ratio that fires it,
//!   burn × (1 − objective), is above 100% ([`never_fires`]); that is an error, reported at
//!   the tier's burn rate, or at the SLO's objective when the policy is inherited.

use slo::alerting::{AlertCondition, AlertPolicy, AlertTier, Severity, Strategy};

use crate::common;
use crate::diag::{Path, Sink};
use crate::model::Location;
use crate::node::{Kind, Node, Pos};
use crate::reader::{self, fields, Fields};

/// How a tier's threshold was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Burn {
    /// A burn rate.
    Rate(f64),
    /// A share of the error budget (0..=1) consumed over the long window.
    Budget(f64),
}

/// One tier as written, before the SLO's period is known.
#[derive(Debug, Clone)]
pub(crate) struct TierSpec {
    severity: Severity,
    long: i64,
    short: Option<i64>,
    burn: Burn,
    for_seconds: i64,
    /// Where the burn rate (or budget, or the tier) was written.
    at: Pos,
    path: Path,
}

#[derive(Debug, Clone)]
pub(crate) struct ConditionSpec {
    strategy: Strategy,
    tiers: Vec<TierSpec>,
}

/// An `alerting:` block as written.
#[derive(Debug, Clone)]
pub(crate) enum PolicySpec {
    /// `policy: none`.
    None,
    /// The default multiwindow policy; `at` is the `policy` value or the `alerting` block.
    Default { inhibit: bool, at: Pos, path: Path },
    /// `conditions:`.
    Custom {
        conditions: Vec<ConditionSpec>,
        inhibit: bool,
    },
}

/// What the SLO's objective and window say about alerting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// The objective's floor as a ratio (0.999).
    pub floor: f64,
    /// The SLO window's nominal length in seconds.
    pub period: i64,
}

impl Target {
    pub fn of(spec: &slo::SloSpec) -> Target {
        Target {
            floor: spec.objective.floor(),
            period: spec.window.nominal_seconds(),
        }
    }
}

const SEVERITIES: [(&str, Severity); 2] = [("page", Severity::Page), ("ticket", Severity::Ticket)];

#[derive(Debug, Clone, Copy, PartialEq)]
enum PolicyName {
    Multiwindow,
    None,
    Custom,
}

/// Reads an `alerting:` block.
pub(crate) fn policy(sink: &mut Sink, node: &Node, path: &Path) -> Option<PolicySpec> {
    let f = fields(
        sink,
        node,
        path,
        &["policy", "conditions", "inhibit_lower_tiers"],
    )?;
    let policy_node = f.get("policy");
    let name = match policy_node {
        None => Some(None),
        Some(n) => policy_name(sink, n, &f.path("policy")).map(Some),
    };
    let inhibit = match f.get("inhibit_lower_tiers") {
        None => Some(None),
        Some(n) => reader::boolean(sink, n, &f.path("inhibit_lower_tiers")).map(Some),
    };
    let conditions_node = f.get("conditions");
    let conditions = conditions_node.map(|n| conditions(sink, n, &f.path("conditions")));
    let name = name?;
    let inhibit = inhibit?;
    match (name, conditions_node) {
        (Some(PolicyName::None), Some(n)) => {
            sink.node(
                n,
                &f.path("conditions"),
                "`policy: none` takes no `conditions`",
            );
            None
        }
        (Some(PolicyName::Multiwindow), Some(n)) => {
            sink.node(
                n,
                &f.path("conditions"),
                "set `policy: custom` (or no `policy`) to use `conditions`; `policy: multiwindow` is the default policy",
            );
            None
        }
        (Some(PolicyName::Custom), None) => {
            sink.node(
                node,
                path,
                "missing field `conditions` (required with `policy: custom`)",
            );
            None
        }
        (Some(PolicyName::None), None) => {
            if let (Some(_), Some(n)) = (inhibit, f.get("inhibit_lower_tiers")) {
                sink.node(
                    n,
                    &f.path("inhibit_lower_tiers"),
                    "has no effect with `policy: none`",
                );
                return None;
            }
            Some(PolicySpec::None)
        }
        (None | Some(PolicyName::Multiwindow), None) => {
            let (at, at_path) = match policy_node {
                Some(n) => (n.pos, f.path("policy")),
                None => (node.pos, path.clone()),
            };
            Some(PolicySpec::Default {
                inhibit: inhibit.unwrap_or(true),
                at,
                path: at_path,
            })
        }
        (None | Some(PolicyName::Custom), Some(_)) => Some(PolicySpec::Custom {
            conditions: conditions??,
            inhibit: inhibit.unwrap_or(true),
        }),
    }
}

fn policy_name(sink: &mut Sink, node: &Node, path: &Path) -> Option<PolicyName> {
    let text = reader::string(sink, node, path)?;
    match text {
        "multiwindow" => Some(PolicyName::Multiwindow),
        "none" => Some(PolicyName::None),
        "custom" => Some(PolicyName::Custom),
        other => {
            let hint = match Strategy::parse(other) {
                Some(s) => format!(
                    "; to alert with the {} strategy, list it under `conditions` (e.g. conditions: [{{ strategy: {}, ... }}])",
                    s.as_str(),
                    s.as_str()
                ),
                None => String::new(),
            };
            sink.node(
                node,
                path,
                format!(
                    "unknown policy {other:?}, expected one of `multiwindow`, `none`, `custom`{hint}"
                ),
            );
            None
        }
    }
}

fn conditions(sink: &mut Sink, node: &Node, path: &Path) -> Option<Vec<ConditionSpec>> {
    let items = reader::list(sink, node, path);
    if !matches!(node.kind, Kind::Seq(_)) {
        return None;
    }
    if items.is_empty() {
        sink.node(
            node,
            path,
            "needs at least one condition (or `policy: none` for no alerting)",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (item, item_path) in items {
        match condition(sink, item, &item_path) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn strategy_names() -> String {
    Strategy::ALL
        .iter()
        .map(|s| format!("`{}`", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields of a condition, per strategy.
fn condition_fields(strategy: Strategy) -> &'static [&'static str] {
    match strategy {
        Strategy::Threshold | Strategy::LongWindow | Strategy::Duration => {
            &["strategy", "window", "for", "severity"]
        }
        Strategy::BurnRate => &[
            "strategy",
            "window",
            "burn_rate",
            "budget",
            "for",
            "severity",
        ],
        Strategy::MultiBurnRate | Strategy::Multiwindow => &["strategy", "tiers"],
    }
}

const MULTI_BURN_TIER: &[&str] = &["window", "burn_rate", "budget", "for", "severity"];
const MULTIWINDOW_TIER: &[&str] = &["long", "short", "burn_rate", "budget", "for", "severity"];

/// What a tier is made of.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Burn rate 1 over `window`.
    ErrorRate { needs_for: bool },
    /// `burn_rate` or `budget` over `window`.
    Burn,
    /// `burn_rate` or `budget` over `long` and `short`.
    TwoWindows,
}

fn condition(sink: &mut Sink, node: &Node, path: &Path) -> Option<ConditionSpec> {
    let Kind::Map(entries) = &node.kind else {
        sink.expected(node, path, "a mapping with `strategy`");
        return None;
    };
    let strategy_node = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("strategy"))
        .map(|(_, v)| v);
    let strategy_path = path.key("strategy");
    let Some(strategy_node) = strategy_node else {
        sink.node(
            node,
            path,
            format!("missing field `strategy` (one of {})", strategy_names()),
        );
        return None;
    };
    let text = reader::string(sink, strategy_node, &strategy_path)?;
    let Some(strategy) = Strategy::parse(text) else {
        sink.node(
            strategy_node,
            &strategy_path,
            format!(
                "unknown strategy {text:?}, expected one of {}",
                strategy_names()
            ),
        );
        return None;
    };
    let f = fields(sink, node, path, condition_fields(strategy))?;
    let tiers = match strategy {
        Strategy::Threshold | Strategy::LongWindow => {
            vec![tier(sink, &f, Shape::ErrorRate { needs_for: false })?]
        }
        Strategy::Duration => vec![tier(sink, &f, Shape::ErrorRate { needs_for: true })?],
        Strategy::BurnRate => vec![tier(sink, &f, Shape::Burn)?],
        Strategy::MultiBurnRate | Strategy::Multiwindow => {
            let (shape, allowed) = if strategy == Strategy::Multiwindow {
                (Shape::TwoWindows, MULTIWINDOW_TIER)
            } else {
                (Shape::Burn, MULTI_BURN_TIER)
            };
            let tiers_node = f.required(sink, "tiers")?;
            let items = reader::list(sink, tiers_node, &f.path("tiers"));
            if !matches!(tiers_node.kind, Kind::Seq(_)) {
                return None;
            }
            if items.is_empty() {
                sink.node(tiers_node, &f.path("tiers"), "needs at least one tier");
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for (item, item_path) in items {
                match fields(sink, item, &item_path, allowed).and_then(|t| tier(sink, &t, shape)) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            out
        }
    };
    Some(ConditionSpec { strategy, tiers })
}

fn tier(sink: &mut Sink, f: &Fields<'_>, shape: Shape) -> Option<TierSpec> {
    let long_key = if shape == Shape::TwoWindows {
        "long"
    } else {
        "window"
    };
    let long = f
        .required(sink, long_key)
        .and_then(|n| common::duration(sink, n, &f.path(long_key)));
    let short = match (shape, f.get("short")) {
        (Shape::TwoWindows, Some(n)) => common::duration(sink, n, &f.path("short")).map(Some),
        (Shape::TwoWindows, None) => Some(long.and_then(|l| (l >= 12).then_some(l / 12))),
        _ => Some(None),
    };
    let (burn, at, at_path) = match shape {
        Shape::ErrorRate { .. } => (Some(Burn::Rate(1.0)), f.node.pos, f.path.clone()),
        Shape::Burn | Shape::TwoWindows => match (f.get("burn_rate"), f.get("budget")) {
            (Some(_), Some(n)) => {
                sink.node(
                    n,
                    &f.path("budget"),
                    "set `burn_rate` or `budget`, not both",
                );
                (None, n.pos, f.path("budget"))
            }
            (Some(n), None) => (
                burn_rate(sink, n, &f.path("burn_rate")).map(Burn::Rate),
                n.pos,
                f.path("burn_rate"),
            ),
            (None, Some(n)) => (
                budget(sink, n, &f.path("budget")).map(Burn::Budget),
                n.pos,
                f.path("budget"),
            ),
            (None, None) => {
                sink.node(f.node, &f.path, "missing field `burn_rate` (or `budget`)");
                (None, f.node.pos, f.path.clone())
            }
        },
    };
    let severity = match f.get("severity") {
        None => Some(Severity::Page),
        Some(n) => common::one_of(sink, n, &f.path("severity"), "severity", &SEVERITIES),
    };
    let for_seconds = match (shape, f.get("for")) {
        (_, Some(n)) => hold(sink, n, &f.path("for")),
        (Shape::ErrorRate { needs_for: true }, None) => {
            sink.node(
                f.node,
                &f.path,
                "missing field `for` (the duration strategy holds the condition this long)",
            );
            None
        }
        (_, None) => Some(0),
    };
    let (long, short) = (long?, short?);
    if let (Some(s), Some(n)) = (short, f.get("short")) {
        if s >= long {
            sink.node(
                n,
                &f.path("short"),
                format!(
                    "must be shorter than `long` ({}), got {}",
                    slo::format_duration(long),
                    slo::format_duration(s)
                ),
            );
            return None;
        }
    }
    Some(TierSpec {
        severity: severity?,
        long,
        short,
        burn: burn?,
        for_seconds: for_seconds?,
        at,
        path: at_path,
    })
}

fn burn_rate(sink: &mut Sink, node: &Node, path: &Path) -> Option<f64> {
    let b = reader::number(sink, node, path)?;
    if b > 0.0 {
        Some(b)
    } else {
        sink.node(
            node,
            path,
            format!("must be above 0, got {}", common::show(b)),
        );
        None
    }
}

/// `2%` or `0.02`: the share of the error budget consumed, in (0, 1].
fn budget(sink: &mut Sink, node: &Node, path: &Path) -> Option<f64> {
    let expected = "a share of the error budget such as 2% or 0.02";
    let (ratio, shown) = match &node.kind {
        Kind::Str(text) => {
            let Some(number) = text.trim().strip_suffix('%') else {
                sink.node(node, path, format!("expected {expected}, got {text:?}"));
                return None;
            };
            match number.trim().parse::<f64>() {
                Ok(p) if p.is_finite() => {
                    (common::percent_to_ratio(p), format!("{}%", common::show(p)))
                }
                _ => {
                    sink.node(node, path, format!("expected {expected}, got {text:?}"));
                    return None;
                }
            }
        }
        Kind::Int(_) | Kind::Float(_) => {
            let r = reader::number(sink, node, path)?;
            (r, common::show(r))
        }
        _ => {
            sink.expected(node, path, expected);
            return None;
        }
    };
    if ratio > 0.0 && ratio <= 1.0 {
        Some(ratio)
    } else {
        sink.node(
            node,
            path,
            format!("must be above 0% and at most 100% of the error budget (0 < ratio <= 1), got {shown}"),
        );
        None
    }
}

/// `for`: a duration of 0 or more (`0`, `0s`, `5m`).
fn hold(sink: &mut Sink, node: &Node, path: &Path) -> Option<i64> {
    match &node.kind {
        Kind::Int(0) => Some(0),
        Kind::Int(i) if *i < 0 => {
            sink.node(node, path, format!("must not be negative, got {i}"));
            None
        }
        Kind::Float(x) if *x < 0.0 => {
            sink.node(
                node,
                path,
                format!("must not be negative, got {}", common::show(*x)),
            );
            None
        }
        Kind::Str(text) if text.trim().starts_with('-') => {
            sink.node(
                node,
                path,
                format!("must not be negative, got {}", text.trim()),
            );
            None
        }
        Kind::Str(text) if is_zero_duration(text) => Some(0),
        _ => common::duration(sink, node, path),
    }
}

fn is_zero_duration(text: &str) -> bool {
    let digits = text.trim().trim_end_matches(['s', 'm', 'h', 'd', 'w']);
    !digits.is_empty() && digits.bytes().all(|b| b == b'0') && text.trim().len() <= digits.len() + 1
}

/// Why `tier` can never fire for an SLO with objective `floor` over `period` seconds, or
/// `None` when some error ratio fires it.
///
/// The smallest error ratio that fires a tier is burn × (1 − objective). Above 100% no
/// outage reaches it: a total outage over the long window spends only
/// long / (period × (1 − objective)) of the budget, less than the tier waits for.
pub(crate) fn never_fires(tier: &AlertTier, floor: f64, period: i64) -> Option<String> {
    let budget = 1.0 - floor;
    let min_ratio = tier.burn_rate * budget;
    if min_ratio <= 1.0 + 1e-9 {
        return None;
    }
    let outage_share = tier.long_window as f64 / (period.max(1) as f64 * budget);
    let window = slo::format_duration(tier.long_window);
    let outage = if tier.long_window == 3600 {
        "an hour".to_string()
    } else {
        window.clone()
    };
    Some(format!(
        "can never fire: burn rate {} needs an error ratio of {}% over {window} with a {}% objective; {outage} of total outage spends only {}% of the budget",
        decimals(tier.burn_rate, 4),
        decimals(min_ratio * 100.0, 2),
        decimals(floor * 100.0, 6),
        decimals(outage_share * 100.0, 2),
    ))
}

/// `x` with at most `places` decimals, trailing zeros dropped.
fn decimals(x: f64, places: usize) -> String {
    let text = format!("{x:.places$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Where a policy came from, for messages about tiers that can never fire.
pub(crate) enum Source<'a> {
    /// Written on the SLO itself.
    Own,
    /// The configuration's top-level `alerting:`.
    TopLevel(&'a Location),
    /// The built-in default (no `alerting:` anywhere).
    BuiltIn,
}

/// Resolves `spec` for an SLO: tiers in seconds, burn rates scaled to the period. Reports
/// every tier that can never fire: at the tier when the policy is the SLO's own, else at
/// the objective (`objective_at`).
pub(crate) fn resolve(
    sink: &mut Sink,
    spec: &PolicySpec,
    target: Target,
    source: Source<'_>,
    objective_at: (Pos, &Path),
) -> Option<AlertPolicy> {
    let policy = match spec {
        PolicySpec::None => return None,
        PolicySpec::Default { inhibit, .. } => AlertPolicy {
            inhibit_lower_tiers: *inhibit,
            ..AlertPolicy::default_multiwindow(target.period)
        },
        PolicySpec::Custom {
            conditions,
            inhibit,
        } => AlertPolicy {
            name: match conditions.as_slice() {
                [one] => one.strategy.as_str().to_string(),
                _ => "custom".to_string(),
            },
            conditions: conditions
                .iter()
                .map(|c| AlertCondition {
                    strategy: c.strategy,
                    tiers: c.tiers.iter().map(|t| t.resolve(target.period)).collect(),
                })
                .collect(),
            inhibit_lower_tiers: *inhibit,
        },
    };
    // Each resolved tier with where it was written (when the SLO wrote it).
    let written: Vec<Option<(Pos, &Path)>> = match spec {
        PolicySpec::Custom { conditions, .. } => conditions
            .iter()
            .flat_map(|c| c.tiers.iter().map(|t| Some((t.at, &t.path))))
            .collect(),
        _ => Vec::new(),
    };
    for (i, (_, tier)) in policy.tiers().enumerate() {
        let Some(why) = never_fires(tier, target.floor, target.period) else {
            continue;
        };
        match (&source, spec) {
            (Source::Own, PolicySpec::Default { at, path, .. }) => {
                sink.at(*at, path, format!("the multiwindow policy {why}"));
            }
            (Source::Own, _) => {
                let (at, path) = written
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or(objective_at);
                sink.at(at, path, why);
            }
            (Source::TopLevel(origin), _) => sink.at(
                objective_at.0,
                objective_at.1,
                format!(
                    "the top-level alerting policy ({origin}) {why}; set `alerting:` on this SLO"
                ),
            ),
            (Source::BuiltIn, _) => sink.at(
                objective_at.0,
                objective_at.1,
                format!(
                    "the default alerting policy (multiwindow) {why}; set `alerting:` on this SLO (lower burn rates, or `policy: none`)"
                ),
            ),
        }
    }
    Some(policy)
}

impl TierSpec {
    fn resolve(&self, period: i64) -> AlertTier {
        AlertTier {
            severity: self.severity,
            long_window: self.long,
            short_window: self.short,
            burn_rate: match self.burn {
                Burn::Rate(r) => r,
                Burn::Budget(share) => slo::alerting::burn_for_budget(share, self.long, period),
            },
            for_seconds: self.for_seconds,
        }
    }
}

/// OpenSLO `AlertCondition.severity` → nines severity: `page`, `critical` and `high`
/// (any case) page; everything else is a ticket.
pub(crate) fn openslo_severity(text: &str) -> Severity {
    let t = text.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "page" | "critical" | "high") {
        Severity::Page
    } else {
        Severity::Ticket
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn never_fires_message_for_a_90_percent_slo() {
        let policy = AlertPolicy::default_multiwindow(30 * 86_400);
        let tiers: Vec<&AlertTier> = policy.tiers().map(|(_, t)| t).collect();
        assert_eq!(
            never_fires(tiers[0], 0.9, 30 * 86_400).as_deref(),
            Some("can never fire: burn rate 14.4 needs an error ratio of 144% over 1h with a 90% objective; an hour of total outage spends only 1.39% of the budget")
        );
        assert_eq!(never_fires(tiers[1], 0.9, 30 * 86_400), None);
        assert_eq!(never_fires(tiers[0], 0.999, 30 * 86_400), None);
    }

    #[test]
    fn zero_durations() {
        assert!(is_zero_duration("0"));
        assert!(is_zero_duration("0s"));
        assert!(is_zero_duration("00m"));
        assert!(!is_zero_duration("0ms"));
        assert!(!is_zero_duration("10s"));
        assert!(!is_zero_duration("s"));
    }
}
