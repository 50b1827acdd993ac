//! `nines alerts`: `explain` says what each alerting tier means in numbers (from the
//! configuration); `list`, `ack`, `silence`, `silences`, `unsilence` and `history` work on the
//! alerts, silences and deliveries of a running server (see [`remote`]).

#[path = "cmd_alerts_remote.rs"]
mod remote;

use crate::app;
use slo::TierExplanation;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// For each SLO and tier: burn rate, windows, budget spent when it fires, time to fire at
    /// 100%, 10% and 1% errors, the smallest error ratio that can fire, and warnings.
    Explain(ExplainArgs),
    /// List a server's alerts: fingerprint, name, severity, state (firing, silenced,
    /// inhibited, acked, flapping), how long ago they started and their other labels.
    List(remote::ListArgs),
    /// Acknowledge a firing alert: its notifications stop repeating (its resolution is still
    /// sent). Needs a responder token in NINES_TOKEN.
    Ack(remote::AckArgs),
    /// Silence the alerts matching every MATCHER for --duration or --until; prints the
    /// silence id. Needs a responder token in NINES_TOKEN.
    Silence(remote::SilenceArgs),
    /// List a server's silences (active and pending; --expired for the rest).
    Silences(remote::SilencesArgs),
    /// Expire a silence now (also succeeds when it had already expired). Needs a responder
    /// token in NINES_TOKEN.
    Unsilence(remote::UnsilenceArgs),
    /// Notification deliveries, newest first: when, to which receiver, status, attempts and
    /// the last failure's reason.
    History(remote::HistoryArgs),
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Configuration file(s).
    #[arg(short, long = "config", required = true)]
    config: Vec<PathBuf>,
    /// Only this SLO (service/slo).
    #[arg(long)]
    slo: Option<String>,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

#[derive(serde::Serialize)]
struct SloExplanation {
    service: String,
    slo: String,
    objective: slo::Objective,
    window: String,
    policy: Option<String>,
    conditions: Vec<TierExplanation>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    Ok(match command {
        Command::Explain(args) => return explain(args),
        Command::List(args) => remote::run("list", remote::list(args)),
        Command::Ack(args) => remote::run("ack", remote::ack(args)),
        Command::Silence(args) => remote::run("silence", remote::silence(args)),
        Command::Silences(args) => remote::run("silences", remote::silences(args)),
        Command::Unsilence(args) => remote::run("unsilence", remote::unsilence(args)),
        Command::History(args) => remote::run("history", remote::history(args)),
    })
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let config = app::load_config(&args.config)?;
    let slos = app::find_slos(&config, args.slo.as_deref())?;
    let explained: Vec<SloExplanation> = slos
        .iter()
        .map(|s| SloExplanation {
            service: s.spec.service.clone(),
            slo: s.spec.name.clone(),
            objective: s.spec.objective,
            window: s.spec.window.label(),
            policy: s.alert_policy.as_ref().map(|p| p.name.clone()),
            conditions: s
                .alert_policy
                .as_ref()
                .map(|p| slo::explain(p, s.spec.objective, s.spec.window.nominal_seconds()))
                .unwrap_or_default(),
        })
        .collect();
    match args.output {
        TableOrJson::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "slos": explained }))?
            );
        }
        TableOrJson::Table => print!("{}", table(&explained)),
    }
    Ok(ExitCode::SUCCESS)
}

fn seconds_text(s: Option<f64>) -> String {
    match s {
        None => "never".into(),
        Some(s) if s < 120.0 => format!("{}s", trim(s)),
        Some(s) if s < 7200.0 => format!("{}m", trim(s / 60.0)),
        Some(s) if s < 172_800.0 => format!("{}h", trim(s / 3600.0)),
        Some(s) => format!("{}d", trim(s / 86_400.0)),
    }
}

/// Up to two decimals, no trailing zeros: 51.84, 2.16, 3.
fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn percent(x: f64) -> String {
    format!("{}%", trim(x * 100.0))
}

fn table(slos: &[SloExplanation]) -> String {
    let mut out = String::new();
    for s in slos {
        let _ = writeln!(
            out,
            "{}/{}  objective {}  window {}  policy {}",
            s.service,
            s.slo,
            match s.objective {
                slo::Objective::Target(t) => percent(t),
                slo::Objective::Range { min, max } => format!("{}..{}", percent(min), percent(max)),
            },
            s.window,
            s.policy.as_deref().unwrap_or("none")
        );
        if s.conditions.is_empty() {
            let _ = writeln!(out, "  (no alerting)\n");
            continue;
        }
        let mut rows = vec![[
            "STRATEGY",
            "SEVERITY",
            "LONG",
            "SHORT",
            "FOR",
            "BURN",
            "BUDGET@FIRE",
            "TTF 100%",
            "TTF 10%",
            "TTF 1%",
            "MIN ERROR",
        ]
        .map(String::from)];
        for c in &s.conditions {
            let ttf = |k: &str| seconds_text(c.time_to_fire_seconds.get(k).copied().flatten());
            rows.push([
                c.strategy.as_str().to_string(),
                c.severity.as_str().to_string(),
                c.long_window_text.clone(),
                c.short_window_text.clone().unwrap_or_else(|| "-".into()),
                if c.for_seconds > 0 {
                    slo::format_duration(c.for_seconds)
                } else {
                    "-".into()
                },
                trim(c.burn_rate),
                percent(c.budget_consumed_at_fire),
                ttf("1.0"),
                ttf("0.1"),
                ttf("0.01"),
                percent(c.min_error_ratio),
            ]);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        for c in &s.conditions {
            for w in &c.warnings {
                let _ = writeln!(
                    out,
                    "  warning: {} {} {}: {w}",
                    c.strategy.as_str(),
                    c.severity.as_str(),
                    c.long_window_text
                );
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(seconds_text(Some(51.84)), "51.84s");
        assert_eq!(seconds_text(Some(129.6)), "2.16m");
        assert_eq!(seconds_text(Some(7200.0)), "2h");
        assert_eq!(seconds_text(None), "never");
        assert_eq!(percent(0.0144), "1.44%");
    }
}
