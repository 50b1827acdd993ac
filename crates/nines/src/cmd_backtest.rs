//! `nines backtest`: replay stored counters through alert policies and score them.

use crate::app;
use crate::cmd_alerts::TableOrJson;
use anyhow::Context;
use slo::{AlertPolicy, BacktestOptions, BacktestResult};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Points the chart draws at most; buckets are summed into this many.
const CHART_POINTS: usize = 1500;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file(s).
    #[arg(short, long = "config", required = true)]
    config: Vec<PathBuf>,
    /// The SLO to replay (service/slo).
    #[arg(long)]
    slo: String,
    #[command(flatten)]
    store: crate::StoreArgs,
    /// Start of the replay (RFC 3339); default: one SLO period before --to.
    #[arg(long)]
    from: Option<String>,
    /// End of the replay (RFC 3339); default: now.
    #[arg(long)]
    to: Option<String>,
    /// Replay this policy instead of the SLO's own: multiwindow, threshold, long_window,
    /// duration, burn_rate or multi_burn_rate (the SRE workbook's example parameters).
    #[arg(long, conflicts_with = "compare_strategies")]
    policy: Option<String>,
    /// Replay the six strategies with the workbook's example parameters side by side.
    #[arg(long)]
    compare_strategies: bool,
    /// Share of the budget an error run must spend to count as a significant event.
    #[arg(long, default_value = "2%", value_parser = parse_share)]
    significance: f64,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    /// Also write the timeline (error ratio, thresholds, alerts, events) as an SVG chart.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// "2%" or "0.02" → 0.02.
fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("expected a share like 2% or 0.02, got {text:?}"))?;
    if !(value > 0.0 && value <= 1.0) {
        return Err(format!("must be above 0% and at most 100%, got {text:?}"));
    }
    Ok(value)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = app::load_config(&args.config)?;
    let slo_config = app::find_slos(&config, Some(&args.slo))?
        .into_iter()
        .next()
        .context("no SLO selected")?;
    let spec = &slo_config.spec;
    let period = spec.window.nominal_seconds();
    let to = app::parse_at(args.to.as_deref())?;
    let from = match args.from.as_deref() {
        Some(f) => app::parse_at(Some(f))?,
        None => to - period,
    };
    anyhow::ensure!(from < to, "--from must be before --to");

    let policies: Vec<AlertPolicy> = if args.compare_strategies {
        slo::workbook_policies(spec.objective, period)
    } else {
        match args.policy.as_deref() {
            None => vec![slo_config
                .alert_policy
                .clone()
                .unwrap_or_else(|| AlertPolicy::default_multiwindow(period))],
            Some(name) => vec![slo::workbook_policies(spec.objective, period)
                .into_iter()
                .find(|p| p.name == name)
                .with_context(|| {
                    format!("unknown --policy {name:?}: expected multiwindow, threshold, long_window, duration, burn_rate or multi_burn_rate")
                })?],
        }
    };
    let lookback = policies
        .iter()
        .map(|p| p.max_long_window())
        .max()
        .unwrap_or(0)
        .max(period);
    let start = from - lookback;

    let rt = app::runtime()?;
    let rows = rt.block_on(async {
        let store = app::open_store(&args.store).await?;
        let rows = app::counts(store.as_ref(), &config, slo_config, start, to).await?;
        store.close().await?;
        anyhow::Ok(rows)
    })?;
    // Start the series where the data starts: event budgets scale by the covered share of
    // the SLO window, and history before the first counter is unknown, not clean.
    let start = rows
        .first()
        .map_or(from, |r| r.bucket_start.max(start))
        .min(from);
    let series = slo::Series::for_slo(
        spec,
        start,
        to,
        rows.into_iter().map(|r| (r.bucket_start, r.good, r.total)),
    );
    let options = BacktestOptions {
        significance: args.significance,
        ..BacktestOptions::default()
    };
    let events = slo::significant_events(
        &series,
        spec,
        from,
        to,
        options.significance,
        options.merge_gap,
    );
    let results: Vec<BacktestResult> = policies
        .iter()
        .map(|p| slo::backtest_events(p, &series, spec, from, to, &options, &events))
        .collect();

    if let Some(path) = &args.svg {
        let ratios = downsample(&series, from, to);
        let shown = results.last().context("no policy replayed")?;
        let objective = spec.objective.floor();
        let svg = crate::chart::backtest_svg(&crate::chart::Timeline {
            title: format!(
                "{} — {} ({})",
                spec.key(),
                shown.policy,
                crate::app::format_time(from)
            ),
            objective,
            ratios: &ratios,
            result: shown,
        })
        .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }

    match args.output {
        TableOrJson::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "slo": spec.key(),
                "from": app::format_time(from),
                "to": app::format_time(to),
                "significance": args.significance,
                "results": results,
            }))?
        ),
        TableOrJson::Table => print!(
            "{}",
            table(&spec.key(), from, to, &results, !args.compare_strategies)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Error ratio per group of buckets, at most [`CHART_POINTS`] points.
fn downsample(series: &slo::Series, from: i64, to: i64) -> Vec<(i64, Option<f64>)> {
    let step = series.step().max(1);
    let buckets = ((to - from) / step).max(1) as usize;
    let group = buckets.div_ceil(CHART_POINTS).max(1) as i64 * step;
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let end = (at + group).min(to);
        let c = series.events(at, end);
        out.push((end, (c.total > 0).then(|| c.bad() as f64 / c.total as f64)));
        at = end;
    }
    out
}

fn opt_seconds(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120.0 => format!("{s:.0}s"),
        Some(s) if s < 7200.0 => format!("{:.1}m", s / 60.0),
        Some(s) => format!("{:.1}h", s / 3600.0),
    }
}

fn opt_percent(p: Option<f64>) -> String {
    p.map_or("-".into(), |p| format!("{:.0}%", p * 100.0))
}

fn table(key: &str, from: i64, to: i64, results: &[BacktestResult], details: bool) -> String {
    let mut out = format!(
        "backtest of {key} from {} to {}\n\n",
        app::format_time(from),
        app::format_time(to)
    );
    let mut rows = vec![[
        "POLICY",
        "ALERTS",
        "EVENTS",
        "PRECISION",
        "RECALL",
        "DETECT MED",
        "DETECT MAX",
        "RESET MED",
        "RESET MAX",
        "BUDGET BEFORE DETECT",
    ]
    .map(String::from)];
    for r in results {
        let m = &r.metrics;
        rows.push([
            r.policy.clone(),
            m.alerts.to_string(),
            m.events.to_string(),
            opt_percent(m.precision),
            opt_percent(m.recall),
            opt_seconds(m.detection_seconds.median),
            opt_seconds(m.detection_seconds.max),
            opt_seconds(m.reset_seconds.median),
            opt_seconds(m.reset_seconds.max),
            m.budget_before_detection
                .max
                .map_or("-".into(), |b| format!("max {:.1}%", b * 100.0)),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    if details {
        if let Some(r) = results.first() {
            let _ = writeln!(out, "\nsignificant events ({}):", r.events.len());
            for e in &r.events {
                let _ = writeln!(
                    out,
                    "  {} .. {}  budget {:.1}%  {}",
                    app::format_time(e.event.start),
                    app::format_time(e.event.end),
                    e.event.budget_consumed * 100.0,
                    match e.detection_seconds {
                        Some(d) => format!("detected after {}", opt_seconds(Some(d as f64))),
                        None => "MISSED".into(),
                    }
                );
            }
            let _ = writeln!(out, "\nalerts ({}):", r.alerts.len());
            for a in &r.alerts {
                let _ = writeln!(
                    out,
                    "  {:<6} {} .. {}{}  {}",
                    a.severity.as_str(),
                    app::format_time(a.start),
                    app::format_time(a.end),
                    if a.ongoing { " (still firing)" } else { "" },
                    if a.true_positive {
                        "significant"
                    } else {
                        "false positive"
                    }
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_as_percent_or_ratio() {
        assert_eq!(parse_share("2%"), Ok(0.02));
        assert_eq!(parse_share("0.05"), Ok(0.05));
        assert!(parse_share("0%").is_err());
        assert!(parse_share("150%").is_err());
        assert!(parse_share("lots").is_err());
    }
}
