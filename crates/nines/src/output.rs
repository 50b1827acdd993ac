//! Output formats: `-o table|json|csv`.

use slo::{SloReport, Status};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The `nines report` document; field names are an interface.
#[derive(serde::Serialize)]
pub struct ReportDocument<'a> {
    pub at: String,
    pub slos: &'a [SloReport],
}

pub fn render_report(format: Format, at: &str, reports: &[SloReport], color: bool) -> String {
    match format {
        Format::Json => {
            let doc = ReportDocument {
                at: at.to_string(),
                slos: reports,
            };
            let mut s = serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            s.push('\n');
            s
        }
        Format::Csv => render_csv(reports),
        Format::Table => render_table(at, reports, color),
    }
}

fn percent(ratio: Option<f64>, digits: usize) -> String {
    match ratio {
        Some(r) => format!("{:.*}%", digits, r * 100.0),
        None => "-".into(),
    }
}

/// 0.999 -> "99.9%", 0.99 -> "99%": as many decimals as the objective has, up to four.
fn trimmed_percent(ratio: f64) -> String {
    let text = format!("{:.4}", ratio * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

fn objective_text(o: &slo::Objective) -> String {
    match o {
        slo::Objective::Target(t) => trimmed_percent(*t),
        slo::Objective::Range { min, max } => {
            format!("{}..{}", trimmed_percent(*min), trimmed_percent(*max))
        }
    }
}

/// A 20-cell bar of the budget left: full when untouched, empty when exhausted.
pub fn budget_bar(remaining: f64) -> String {
    const CELLS: usize = 20;
    let filled = ((remaining.clamp(0.0, 1.0) * CELLS as f64).round()) as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(CELLS - filled))
}

fn status_text(status: Status, color: bool) -> String {
    let s = status.as_str();
    if !color {
        return s.to_string();
    }
    let code = match status {
        Status::Ok => "32",
        Status::Warning => "33",
        Status::Exhausted => "31",
        Status::NoData => "90",
        Status::AboveRange => "36",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

fn render_table(at: &str, reports: &[SloReport], color: bool) -> String {
    let mut rows: Vec<[String; 9]> = vec![[
        "SLO".into(),
        "SLI".into(),
        "OBJECTIVE".into(),
        "WINDOW".into(),
        "GOOD/TOTAL".into(),
        "BUDGET LEFT".into(),
        "".into(),
        "BURN 1h".into(),
        "STATUS".into(),
    ]];
    for r in reports {
        let total = match r.slices {
            Some(s) => format!("{}/{} min", s.good, s.total),
            None => format!("{}/{}", r.good, r.total),
        };
        rows.push([
            format!("{}/{}", r.service, r.slo),
            percent(r.sli, 3),
            objective_text(&r.objective),
            r.window.clone(),
            total,
            budget_bar(r.error_budget.remaining),
            percent(Some(r.error_budget.remaining), 1),
            format!("{:.2}", r.burn_rates.get("1h").unwrap_or(0.0)),
            r.status.as_str().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| {
            rows.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("SLO report at {at}\n\n");
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            let shown = if c == 8 && i > 0 {
                status_text(reports[i - 1].status, color)
            } else {
                cell.clone()
            };
            // numbers right-aligned, text left-aligned
            if matches!(c, 1 | 2 | 4 | 6 | 7) {
                let _ = write!(line, "{}{}  ", " ".repeat(pad), shown);
            } else {
                let _ = write!(line, "{}{}  ", shown, " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if reports.is_empty() {
        out.push_str("(no SLOs configured)\n");
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn render_csv(reports: &[SloReport]) -> String {
    let burn_labels: Vec<String> = reports
        .first()
        .map(|r| r.burn_rates.0.iter().map(|(l, _)| l.clone()).collect())
        .unwrap_or_else(|| {
            slo::BURN_WINDOWS
                .iter()
                .map(|(l, _)| l.to_string())
                .collect()
        });
    let mut out = String::from(
        "service,slo,objective,window,good,total,sli,status,allowed_bad,consumed,remaining,remaining_minutes,time_to_exhaustion_seconds",
    );
    for l in &burn_labels {
        let _ = write!(out, ",burn_{l}");
    }
    out.push('\n');
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in reports {
        let objective = match r.objective {
            slo::Objective::Target(t) => t.to_string(),
            slo::Objective::Range { min, max } => format!("{min}..{max}"),
        };
        let b = r.error_budget;
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.service),
            csv_field(&r.slo),
            objective,
            r.window,
            r.good,
            r.total,
            num(r.sli),
            r.status.as_str(),
            b.allowed_bad,
            b.consumed,
            b.remaining,
            b.remaining_minutes,
            num(r.time_to_exhaustion_seconds)
        );
        for l in &burn_labels {
            let _ = write!(out, ",{}", num(r.burn_rates.get(l)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_is_full_when_untouched_and_empty_when_overspent() {
        assert_eq!(budget_bar(1.0), "█".repeat(20));
        assert_eq!(budget_bar(-4.0), "░".repeat(20));
        assert_eq!(
            budget_bar(0.5),
            format!("{}{}", "█".repeat(10), "░".repeat(10))
        );
    }

    #[test]
    fn objectives_keep_their_own_precision() {
        assert_eq!(objective_text(&slo::Objective::Target(0.999)), "99.9%");
        assert_eq!(objective_text(&slo::Objective::Target(0.99)), "99%");
        assert_eq!(objective_text(&slo::Objective::Target(0.99999)), "99.999%");
        assert_eq!(
            objective_text(&slo::Objective::Range {
                min: 0.99,
                max: 0.995
            }),
            "99%..99.5%"
        );
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("checkout"), "checkout");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
