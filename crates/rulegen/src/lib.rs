//! Prometheus recording and alerting rules from SLOs.
//!
//! [`prometheus_rules`] turns a list of [`RuleSlo`]s into one Prometheus rule file (YAML), valid
//! for `promtool check rules`, with the same semantics as the rules Sloth generates for the same
//! SLO. Per SLO there are three rule groups:
//!
//! - `nines-slo-sli-recordings-<service>-<slo>`: the error ratio `slo:sli_error:ratio_rate<W>`
//!   for every window an alert tier uses plus the standard windows (5m, 30m, 1h, 2h, 6h, 1d,
//!   3d), each computed from the raw queries; and the SLO period (e.g. 30d), computed from the
//!   5m ratio (`sum_over_time / count_over_time`) so Prometheus never evaluates a 30-day rate.
//! - `nines-slo-meta-recordings-<service>-<slo>`: `slo:objective:ratio`,
//!   `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`,
//!   `slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio` and
//!   `nines_slo_info`.
//! - `nines-slo-alerts-<service>-<slo>`: one `SLOErrorBudgetBurn` alert per severity (page,
//!   ticket), an `or` of that severity's tiers, each tier "long window and short window both
//!   above burn × budget", as Sloth does. Every branch labels its series with the tier's
//!   `long_window` and `short_window`, so the firing alert says which tier burns.
//!
//! Every series carries the labels `service` and `slo` and the SLO's extra labels; alerts add
//! `severity`. The library is pure: no IO, no clock, no panics on input.
//!
//! Not expressible in a rule file: [`AlertPolicy::inhibit_lower_tiers`] (a page silencing the
//! ticket of the same SLO) belongs in Alertmanager, as an inhibit rule on `severity` equal on
//! `service` and `slo`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use slo::alerting::{AlertPolicy, AlertTier, Severity};

/// The name of every generated alert; `severity`, `service` and `slo` tell them apart.
pub const ALERT_NAME: &str = "SLOErrorBudgetBurn";

/// The placeholder the SLI queries must contain; it is replaced by each window ("5m", "1h").
pub const WINDOW_PLACEHOLDER: &str = "{{window}}";

/// Windows recorded for every SLO, whatever its policy uses (seconds): 5m, 30m, 1h, 2h, 6h,
/// 1d, 3d.
pub const STANDARD_WINDOWS: [i64; 7] = [300, 1800, 3600, 7200, 21_600, 86_400, 259_200];

/// The window the period's error ratio is computed from (its recording is averaged over the
/// period), and the fallback for the current burn rate.
const BASE_WINDOW: i64 = 300;

/// Labels the generator sets itself; an SLO's extra labels may not use them.
pub const RESERVED_LABELS: [&str; 6] = [
    "service",
    "slo",
    "severity",
    "long_window",
    "short_window",
    "objective",
];

/// Everything that can be wrong with the input (or, in theory, the YAML emitter).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("slo #{index}: {field} is empty")]
    Empty { index: usize, field: &'static str },
    #[error("slo {id}: objective {objective} is not a ratio strictly between 0 and 1")]
    Objective { id: String, objective: f64 },
    #[error("slo {id}: period of {seconds}s is not positive")]
    Period { id: String, seconds: i64 },
    #[error("slo {id}: {field} has no {{{{window}}}} placeholder")]
    MissingPlaceholder { id: String, field: &'static str },
    #[error("slo {id}: {field} has an unknown placeholder `{placeholder}` (only {{{{window}}}} is known)")]
    UnknownPlaceholder {
        id: String,
        field: &'static str,
        placeholder: String,
    },
    #[error("slo {id}: alert tier {tier}: {reason}")]
    Tier {
        id: String,
        tier: usize,
        reason: String,
    },
    #[error("slo {id}: `{name}` is not a valid prometheus label name")]
    LabelName { id: String, name: String },
    #[error("slo {id}: label `{name}` is set by the generator and cannot be an extra label")]
    ReservedLabel { id: String, name: String },
    #[error("slo {id}: defined twice (rule group names must be unique)")]
    Duplicate { id: String },
    #[error("yaml serialization failed: {0}")]
    Yaml(String),
}

/// How the SLI is measured. Both queries must contain `{{window}}`, e.g.
/// `sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSli {
    /// Bad events / total events.
    ErrorRatio {
        error_query: String,
        total_query: String,
    },
    /// Good events / total events (the error ratio is 1 − good/total).
    GoodRatio {
        good_query: String,
        total_query: String,
    },
}

/// One SLO to generate rules for, independent of how it was configured.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSlo {
    pub service: String,
    pub slo: String,
    /// Ratio, e.g. 0.999 for 99.9%.
    pub objective: f64,
    /// The SLO period (e.g. 30 days), in seconds.
    pub period_seconds: i64,
    pub sli: RuleSli,
    /// `None` = [`AlertPolicy::default_multiwindow`] for the period.
    pub policy: Option<AlertPolicy>,
    /// Extra labels put on every recorded series (and so on every alert).
    pub labels: BTreeMap<String, String>,
}

impl RuleSlo {
    /// `service-slo`, the suffix of the SLO's rule group names.
    pub fn id(&self) -> String {
        format!("{}-{}", self.service, self.slo)
    }
}

/// A Prometheus rule file: `groups:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// One recording (`record`) or alerting (`alert`) rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(serialize_with = "ser_expr")]
    pub expr: String,
    /// Prometheus duration ("5m").
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Multi-line expressions as literal blocks (`|-`) when that style can hold them exactly;
/// everything else as a quoted/plain scalar chosen by the emitter.
fn ser_expr<S: serde::Serializer>(expr: &str, s: S) -> Result<S::Ok, S::Error> {
    let block_safe = expr.contains('\n')
        && !expr.starts_with([' ', '\n'])
        && !expr.ends_with('\n')
        && expr
            .chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && expr
            .split('\n')
            .all(|line| !line.is_empty() && !line.ends_with(' '));
    if block_safe {
        serde_saphyr::LitStr(expr).serialize(s)
    } else {
        s.serialize_str(expr)
    }
}

/// The Prometheus rule file (YAML) for `slos`.
pub fn prometheus_rules(slos: &[RuleSlo]) -> Result<String, Error> {
    let file = rule_file(slos)?;
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    let yaml = serde_saphyr::to_string_with_options(&file, options)
        .map_err(|e| Error::Yaml(e.to_string()))?;
    Ok(format!(
        "# Generated by nines rulegen from {} SLO(s). Do not edit: regenerate.\n{yaml}",
        slos.len()
    ))
}

/// The rule file as data: what [`prometheus_rules`] serializes.
pub fn rule_file(slos: &[RuleSlo]) -> Result<RuleFile, Error> {
    let mut seen = BTreeSet::new();
    let mut groups = Vec::with_capacity(slos.len() * 3);
    for (index, slo) in slos.iter().enumerate() {
        let plan = Plan::new(index, slo)?;
        if !seen.insert(plan.id.clone()) {
            return Err(Error::Duplicate { id: plan.id });
        }
        groups.push(plan.sli_group());
        groups.push(plan.meta_group());
        if let Some(alerts) = plan.alert_group() {
            groups.push(alerts);
        }
    }
    Ok(RuleFile { groups })
}

/// A validated SLO with everything derived from it.
struct Plan<'a> {
    slo: &'a RuleSlo,
    id: String,
    /// 1 − objective, rounded so 0.999 gives 0.001 and not 0.0010000000000000009.
    budget: f64,
    tiers: Vec<AlertTier>,
    /// Windows recorded from the raw queries, ascending.
    windows: BTreeSet<i64>,
    /// `{service="…",slo="…"}`.
    filter: String,
    labels: BTreeMap<String, String>,
}

impl<'a> Plan<'a> {
    fn new(index: usize, slo: &'a RuleSlo) -> Result<Plan<'a>, Error> {
        if slo.service.trim().is_empty() {
            return Err(Error::Empty {
                index,
                field: "service",
            });
        }
        if slo.slo.trim().is_empty() {
            return Err(Error::Empty {
                index,
                field: "slo",
            });
        }
        let id = slo.id();
        if !(slo.objective.is_finite() && slo.objective > 0.0 && slo.objective < 1.0) {
            return Err(Error::Objective {
                id,
                objective: slo.objective,
            });
        }
        if slo.period_seconds <= 0 {
            return Err(Error::Period {
                id,
                seconds: slo.period_seconds,
            });
        }
        let (first, first_field, total) = match &slo.sli {
            RuleSli::ErrorRatio {
                error_query,
                total_query,
            } => (error_query, "error_query", total_query),
            RuleSli::GoodRatio {
                good_query,
                total_query,
            } => (good_query, "good_query", total_query),
        };
        check_query(&id, first_field, first)?;
        check_query(&id, "total_query", total)?;

        for name in slo.labels.keys() {
            if !valid_label_name(name) {
                return Err(Error::LabelName {
                    id,
                    name: name.clone(),
                });
            }
            if RESERVED_LABELS.contains(&name.as_str()) {
                return Err(Error::ReservedLabel {
                    id,
                    name: name.clone(),
                });
            }
        }

        let tiers: Vec<AlertTier> = match &slo.policy {
            Some(policy) => policy.tiers().map(|(_, t)| *t).collect(),
            None => AlertPolicy::default_multiwindow(slo.period_seconds)
                .tiers()
                .map(|(_, t)| *t)
                .collect(),
        };
        let mut windows: BTreeSet<i64> = STANDARD_WINDOWS.into_iter().collect();
        for (i, tier) in tiers.iter().enumerate() {
            let bad = |reason: String| Error::Tier {
                id: id.clone(),
                tier: i + 1,
                reason,
            };
            if tier.long_window <= 0 {
                return Err(bad(format!(
                    "long window of {}s is not positive",
                    tier.long_window
                )));
            }
            if let Some(short) = tier.short_window {
                if short <= 0 {
                    return Err(bad(format!("short window of {short}s is not positive")));
                }
                windows.insert(short);
            }
            if !(tier.burn_rate.is_finite() && tier.burn_rate > 0.0) {
                return Err(bad(format!(
                    "burn rate {} is not a positive number",
                    tier.burn_rate
                )));
            }
            if tier.for_seconds < 0 {
                return Err(bad(format!("`for` of {}s is negative", tier.for_seconds)));
            }
            windows.insert(tier.long_window);
            let same = |t: &&AlertTier| {
                (t.severity, t.long_window, t.short_window)
                    == (tier.severity, tier.long_window, tier.short_window)
            };
            if let Some(j) = tiers[..i].iter().position(|t| same(&t)) {
                return Err(bad(format!(
                    "has the severity and windows of tier {} (keep the one with the lower burn rate)",
                    j + 1
                )));
            }
        }

        let mut labels = slo.labels.clone();
        labels.insert("service".into(), slo.service.clone());
        labels.insert("slo".into(), slo.slo.clone());
        let filter = format!(
            "{{service=\"{}\",slo=\"{}\"}}",
            escape_promql(&slo.service),
            escape_promql(&slo.slo)
        );
        Ok(Plan {
            slo,
            id,
            budget: budget_of(slo.objective),
            tiers,
            windows,
            filter,
            labels,
        })
    }

    fn sli_metric(window: i64) -> String {
        format!("slo:sli_error:ratio_rate{}", prom_duration(window))
    }

    fn sli_group(&self) -> RuleGroup {
        let mut rules: Vec<Rule> = self
            .windows
            .iter()
            .map(|&w| self.record(Self::sli_metric(w), self.sli_expr(w)))
            .collect();
        let period = self.slo.period_seconds;
        if !self.windows.contains(&period) {
            // The period from the 5m ratio: the mean of its samples over the period. Summing
            // and counting (instead of avg_over_time) keeps the two sides' labels apart from
            // the metric name, which `ignoring (__name__)` makes explicit.
            let base = format!("{}{}", Self::sli_metric(BASE_WINDOW), self.filter);
            let range = prom_duration(period);
            let expr = format!(
                "sum_over_time({base}[{range}])\n/ ignoring (__name__)\ncount_over_time({base}[{range}])"
            );
            rules.push(self.record(Self::sli_metric(period), expr));
        }
        RuleGroup {
            name: format!("nines-slo-sli-recordings-{}", self.id),
            rules,
        }
    }

    fn sli_expr(&self, window: i64) -> String {
        let w = prom_duration(window);
        match &self.slo.sli {
            RuleSli::ErrorRatio {
                error_query,
                total_query,
            } => format!(
                "(\n  {}\n)\n/\n(\n  {}\n)",
                indent(&render(error_query, &w)),
                indent(&render(total_query, &w))
            ),
            RuleSli::GoodRatio {
                good_query,
                total_query,
            } => format!(
                "1 - (\n  (\n    {}\n  )\n  /\n  (\n    {}\n  )\n)",
                indent(&indent(&render(good_query, &w))),
                indent(&indent(&render(total_query, &w)))
            ),
        }
    }

    fn record(&self, name: String, expr: String) -> Rule {
        Rule {
            record: Some(name),
            alert: None,
            expr,
            for_: None,
            labels: self.labels.clone(),
            annotations: BTreeMap::new(),
        }
    }

    /// The shortest window of the fastest page tier (Sloth's "page quick" short window).
    fn current_window(&self) -> i64 {
        self.tiers
            .iter()
            .filter(|t| t.severity == Severity::Page)
            .min_by_key(|t| t.long_window)
            .map(|t| t.short_window.unwrap_or(t.long_window))
            .unwrap_or(BASE_WINDOW)
    }

    fn meta_group(&self) -> RuleGroup {
        let f = &self.filter;
        let burn = |window: i64| {
            format!(
                "{}{f}\n/ on (service, slo) group_left\nslo:error_budget:ratio{f}",
                Self::sli_metric(window)
            )
        };
        let mut info_labels = self.labels.clone();
        info_labels.insert(
            "objective".into(),
            fmt_num(round_sig(self.slo.objective * 100.0)),
        );
        let days = fmt_num(round_sig(self.slo.period_seconds as f64 / 86_400.0));
        let rules = vec![
            self.record(
                "slo:objective:ratio".into(),
                format!("vector({})", fmt_num(self.slo.objective)),
            ),
            self.record(
                "slo:error_budget:ratio".into(),
                format!("vector({})", fmt_num(self.budget)),
            ),
            self.record("slo:time_period:days".into(), format!("vector({days})")),
            self.record(
                "slo:current_burn_rate:ratio".into(),
                burn(self.current_window()),
            ),
            self.record(
                "slo:period_burn_rate:ratio".into(),
                burn(self.slo.period_seconds),
            ),
            self.record(
                "slo:period_error_budget_remaining:ratio".into(),
                format!("1 - slo:period_burn_rate:ratio{f}"),
            ),
            Rule {
                labels: info_labels,
                ..self.record("nines_slo_info".into(), "vector(1)".into())
            },
        ];
        RuleGroup {
            name: format!("nines-slo-meta-recordings-{}", self.id),
            rules,
        }
    }

    /// The alerts, most urgent severity first. A severity whose tiers share one `for` is one
    /// alert, the `or` of its tiers (Sloth's layout: one page and one ticket alert); a
    /// severity whose tiers differ in `for` gets one alert per tier. Either way no two rules
    /// have the same name and static labels (promtool's duplicate-rules lint stays quiet).
    fn alert_group(&self) -> Option<RuleGroup> {
        let mut by_severity: BTreeMap<std::cmp::Reverse<u8>, Vec<&AlertTier>> = BTreeMap::new();
        for tier in &self.tiers {
            by_severity
                .entry(std::cmp::Reverse(tier.severity.rank()))
                .or_default()
                .push(tier);
        }
        let mut rules = Vec::new();
        for tiers in by_severity.values() {
            let Some(first) = tiers.first() else {
                continue;
            };
            if tiers.iter().all(|t| t.for_seconds == first.for_seconds) {
                rules.push(self.alert(tiers));
            } else {
                rules.extend(tiers.iter().map(|t| self.alert(&[t])));
            }
        }
        (!rules.is_empty()).then(|| RuleGroup {
            name: format!("nines-slo-alerts-{}", self.id),
            rules,
        })
    }

    /// `(long > burn × budget) and (short > burn × budget)`: both windows burn.
    fn tier_condition(&self, tier: &AlertTier) -> String {
        let budget = fmt_num(self.budget);
        let burn = fmt_num(round_sig(tier.burn_rate));
        let cond = |w: i64| {
            format!(
                "({}{} > ({burn} * {budget}))",
                Self::sli_metric(w),
                self.filter
            )
        };
        match tier.short_window {
            Some(short) => format!("{}\nand\n{}", cond(tier.long_window), cond(short)),
            None => cond(tier.long_window),
        }
    }

    /// One alert for `tiers` (non-empty, one severity and one `for`).
    fn alert(&self, tiers: &[&AlertTier]) -> Rule {
        let mut labels = self.labels.clone();
        let (severity, for_seconds) = match tiers.first() {
            Some(t) => (t.severity, t.for_seconds),
            None => (Severity::Page, 0),
        };
        labels.insert("severity".into(), severity.as_str().into());
        let expr = match tiers {
            // One tier: its windows are static labels.
            [tier] => {
                labels.insert("long_window".into(), prom_duration(tier.long_window));
                if let Some(short) = tier.short_window {
                    labels.insert("short_window".into(), prom_duration(short));
                }
                self.tier_condition(tier)
            }
            // Several: each branch labels its own series with its windows.
            _ => tiers
                .iter()
                .map(|t| {
                    let long = format!(
                        "label_replace(\n  {},\n  \"long_window\", \"{}\", \"\", \"\"\n)",
                        indent(&self.tier_condition(t)),
                        prom_duration(t.long_window)
                    );
                    match t.short_window {
                        Some(short) => format!(
                            "label_replace(\n  {},\n  \"short_window\", \"{}\", \"\", \"\"\n)",
                            indent(&long),
                            prom_duration(short)
                        ),
                        None => long,
                    }
                })
                .collect::<Vec<_>>()
                .join("\nor\n"),
        };

        // `$labels` holds the series' labels, not the rule's static ones: a single tier names
        // its windows in the text, several read them from the branch that fired.
        let windows = match tiers {
            [tier] => windows_text(tier),
            _ => "{{ $labels.long_window }}{{ with $labels.short_window }} and {{ . }}{{ end }}"
                .into(),
        };
        let tier_text: Vec<String> = tiers
            .iter()
            .map(|t| {
                format!(
                    "{}x over {}",
                    fmt_num(round_sig(t.burn_rate)),
                    windows_text(t)
                )
            })
            .collect();
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "summary".into(),
            "{{ $labels.service }}/{{ $labels.slo }}: the error budget is burning too fast".into(),
        );
        annotations.insert(
            "description".into(),
            format!(
                "{{{{ $labels.service }}}}/{{{{ $labels.slo }}}} ({} over {}) burns its error budget too fast: \
                 the error ratio over the last {windows} is above burn rate x budget ({}). {} {}: {}.",
                fmt_percent(self.slo.objective),
                prom_duration(self.slo.period_seconds),
                fmt_percent(self.budget),
                severity.as_str(),
                if tiers.len() == 1 { "tier" } else { "tiers" },
                tier_text.join("; ")
            ),
        );
        Rule {
            record: None,
            alert: Some(ALERT_NAME.into()),
            expr,
            for_: (for_seconds > 0).then(|| prom_duration(for_seconds)),
            labels,
            annotations,
        }
    }
}

/// "1h and 5m", or "1d" for a tier without a short window.
fn windows_text(tier: &AlertTier) -> String {
    match tier.short_window {
        Some(short) => format!(
            "{} and {}",
            prom_duration(tier.long_window),
            prom_duration(short)
        ),
        None => prom_duration(tier.long_window),
    }
}

/// Validates a query's placeholders: at least one, and only `{{window}}` (`{{ window }}`).
fn check_query(id: &str, field: &'static str, query: &str) -> Result<(), Error> {
    if query.trim().is_empty() {
        return Err(Error::MissingPlaceholder {
            id: id.into(),
            field,
        });
    }
    let mut found = false;
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(Error::UnknownPlaceholder {
                id: id.into(),
                field,
                placeholder: rest[start..].chars().take(40).collect(),
            });
        };
        let name = after[..end].trim();
        if name != "window" {
            return Err(Error::UnknownPlaceholder {
                id: id.into(),
                field,
                placeholder: format!("{{{{{}}}}}", &after[..end]),
            });
        }
        found = true;
        rest = &after[end + 2..];
    }
    if found {
        Ok(())
    } else {
        Err(Error::MissingPlaceholder {
            id: id.into(),
            field,
        })
    }
}

/// Replaces every `{{window}}` (spaces inside the braces allowed) with `window`; the query
/// has been checked by [`check_query`].
fn render(query: &str, window: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(window);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n  ")
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Escapes a label value for a double-quoted PromQL string.
fn escape_promql(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Rounds to 12 significant digits, hiding binary noise (0.02 × 28d / 1h).
fn round_sig(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// 1 − objective without the subtraction's noise: its absolute error is about 1e-16, so
/// 14 decimal places are exact for any objective written with fewer digits.
fn budget_of(objective: f64) -> f64 {
    let x = 1.0 - objective;
    format!("{x:.14}").parse().unwrap_or(x)
}

/// The shortest decimal that reads back as `x` (never exponent notation: PromQL-friendly).
fn fmt_num(x: f64) -> String {
    format!("{x}")
}

fn fmt_percent(ratio: f64) -> String {
    format!("{}%", fmt_num(round_sig(ratio * 100.0)))
}

/// A duration as Prometheus prints it (`model.Duration`): years and weeks only when exact,
/// then days, hours, minutes, seconds: 5m, 1h30m, 1d, 30d, 4w (28 days), 1y.
pub fn prom_duration(seconds: i64) -> String {
    if seconds <= 0 {
        return "0s".into();
    }
    let mut rest = seconds;
    let mut out = String::new();
    for (unit, size, exact) in [
        ("y", 365 * 86_400, true),
        ("w", 7 * 86_400, true),
        ("d", 86_400, false),
        ("h", 3600, false),
        ("m", 60, false),
        ("s", 1, false),
    ] {
        if exact && rest % size != 0 {
            continue;
        }
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_prints_them() {
        let cases = [
            (300, "5m"),
            (1800, "30m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (86_400, "1d"),
            (3 * 86_400, "3d"),
            (30 * 86_400, "30d"),
            (28 * 86_400, "4w"),
            (7 * 86_400, "1w"),
            (90 * 86_400, "90d"),
            (365 * 86_400, "1y"),
            (45, "45s"),
            (0, "0s"),
        ];
        for (s, want) in cases {
            assert_eq!(prom_duration(s), want, "{s}s");
        }
    }

    #[test]
    fn numbers_without_binary_noise() {
        assert_eq!(fmt_num(budget_of(0.999)), "0.001");
        assert_eq!(fmt_num(budget_of(0.9995)), "0.0005");
        assert_eq!(fmt_num(round_sig(0.02 * 28.0 * 86_400.0 / 3600.0)), "13.44");
        assert_eq!(
            fmt_num(round_sig(0.1 * 28.0 * 86_400.0 / 259_200.0)),
            "0.933333333333"
        );
        assert_eq!(fmt_num(budget_of(0.99999)), "0.00001");
        assert_eq!(fmt_num(budget_of(0.9)), "0.1");
    }

    #[test]
    fn placeholders() {
        assert!(check_query("a", "q", "rate(x[{{window}}])").is_ok());
        assert!(check_query("a", "q", "rate(x[{{ window }}])").is_ok());
        assert_eq!(render("rate(x[{{ window }}])", "5m"), "rate(x[5m])");
        assert!(matches!(
            check_query("a", "q", "rate(x[5m])"),
            Err(Error::MissingPlaceholder { .. })
        ));
        assert!(matches!(
            check_query("a", "q", "rate(x[{{.window}}])"),
            Err(Error::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            check_query("a", "q", "rate(x[{{window"),
            Err(Error::UnknownPlaceholder { .. })
        ));
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("team"));
        assert!(valid_label_name("_x1"));
        assert!(!valid_label_name("1x"));
        assert!(!valid_label_name("a-b"));
        assert!(!valid_label_name("__name__"));
        assert!(!valid_label_name(""));
    }
}
