//! `nines toil log|team|automated|report`: toil on a running server through its HTTP API
//! (see [`crate::remote`] for the server, token and exit codes).

use crate::cmd_alerts::TableOrJson;
use crate::output::Format;
use crate::remote::{
    columns, csv, header, parse_time_arg, print_json, text, when, Client, Failure, Remote,
};
use incident::toil::Category;
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Log toil a team did. Needs a responder token in NINES_TOKEN.
    Log(LogArgs),
    /// Set a team's weekly capacity (what its toil is a share of).
    Team(TeamArgs),
    /// Mark when a recurring task (the --task of `toil log`) was automated; the report
    /// compares its toil before and after.
    Automated(AutomatedArgs),
    /// Toil per team and ISO week as a share of capacity (`!` over 50%), by category, and
    /// before vs after each automation.
    Report(ReportArgs),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    use crate::remote::run as go;
    Ok(match command {
        Command::Log(a) => go("toil log", log(a)),
        Command::Team(a) => go("toil team", team(a)),
        Command::Automated(a) => go("toil automated", automated(a)),
        Command::Report(a) => go("toil report", report(a)),
    })
}

fn parse_category(s: &str) -> Result<Category, String> {
    s.parse::<Category>().map_err(|e| e.to_string())
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// What was done.
    description: String,
    /// The team that did it.
    #[arg(long)]
    team: String,
    /// business_processes, production_interrupts, product_releases, migrations,
    /// cost_engineering, capacity_planning or troubleshooting (hyphens work too).
    #[arg(long, value_parser = parse_category)]
    category: Category,
    /// How long it took.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    minutes: u32,
    /// The recurring task this was an instance of (for before/after an automation).
    #[arg(long)]
    task: Option<String>,
    /// It could be automated.
    #[arg(long)]
    automatable: bool,
    /// When (RFC 3339 or YYYY-MM-DD); now by default.
    #[arg(long, value_parser = parse_time_arg)]
    at: Option<String>,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("capacity").required(true).args(["capacity_hours", "capacity_minutes"]))]
pub struct TeamArgs {
    /// The team's name.
    team: String,
    /// Weekly capacity in hours (e.g. 200 for five people at 40 h).
    #[arg(long)]
    capacity_hours: Option<f64>,
    /// Weekly capacity in minutes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    capacity_minutes: Option<u32>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct AutomatedArgs {
    /// The team whose task it was.
    #[arg(long)]
    team: String,
    /// The task's name (as logged with --task).
    #[arg(long)]
    task: String,
    /// When it was automated (RFC 3339 or YYYY-MM-DD); now by default.
    #[arg(long, value_parser = parse_time_arg)]
    at: Option<String>,
    /// How, or where the automation lives.
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Only this team.
    #[arg(long)]
    team: Option<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD); 12 weeks ago by default.
    #[arg(long, value_parser = parse_time_arg)]
    from: Option<String>,
    /// Up to this time (RFC 3339 or YYYY-MM-DD); now by default.
    #[arg(long, value_parser = parse_time_arg)]
    to: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

pub async fn log(args: LogArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut body = json!({
        "team": args.team,
        "category": args.category.as_str(),
        "minutes": args.minutes,
        "description": args.description,
        "automatable": args.automatable,
    });
    if let Some(t) = &args.task {
        body["task"] = json!(t);
    }
    if let Some(at) = &args.at {
        body["at"] = json!(at);
    }
    let answer = client
        .send(
            Method::POST,
            client.url(&["api", "v1", "toil"]),
            Some(&body),
        )
        .await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => println!(
            "logged toil {}: {} min of {} for {} at {}",
            answer["id"],
            answer["minutes"],
            text(&answer, "category"),
            text(&answer, "team"),
            when(&answer["at"])
        ),
    }
    Ok(())
}

/// Whole minutes of `hours` (rounded), refused when not above zero or too large.
fn minutes_of_hours(hours: f64) -> Result<u32, Failure> {
    let minutes = (hours * 60.0).round();
    if !minutes.is_finite() || minutes < 1.0 || minutes > f64::from(u32::MAX) {
        return Err(Failure::usage(format!(
            "--capacity-hours {hours} is not a weekly capacity above zero"
        )));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(minutes as u32)
}

pub async fn team(args: TeamArgs) -> Result<(), Failure> {
    let minutes = match (args.capacity_minutes, args.capacity_hours) {
        (Some(m), _) => m,
        (None, Some(h)) => minutes_of_hours(h)?,
        (None, None) => {
            return Err(Failure::usage(
                "give --capacity-hours or --capacity-minutes".into(),
            ))
        }
    };
    let client = Client::new(&args.remote)?;
    let body = json!({ "weekly_capacity_minutes": minutes });
    let answer = client
        .send(
            Method::PUT,
            client.url(&["api", "v1", "toil", "teams", &args.team]),
            Some(&body),
        )
        .await?;
    let m = answer["weekly_capacity_minutes"].as_u64().unwrap_or(0);
    println!(
        "team {}: weekly capacity {m} min ({:.1} h)",
        args.team,
        m as f64 / 60.0
    );
    Ok(())
}

pub async fn automated(args: AutomatedArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut body = json!({ "team": args.team, "task": args.task, "note": args.note });
    if let Some(at) = &args.at {
        body["at"] = json!(at);
    }
    let answer = client
        .send(
            Method::POST,
            client.url(&["api", "v1", "toil", "automations"]),
            Some(&body),
        )
        .await?;
    println!(
        "team {}: {} automated at {}",
        text(&answer, "team"),
        text(&answer, "task"),
        text(&answer, "at")
    );
    Ok(())
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[][..], Vec::as_slice)
}

/// `42.5%`, or "-" without a capacity.
fn share(v: &Value) -> String {
    v.as_f64()
        .filter(|f| f.is_finite())
        .map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0))
}

fn per_week(v: &Value) -> String {
    v.as_f64()
        .filter(|f| f.is_finite())
        .map_or_else(|| "-".into(), |f| format!("{f:.0}"))
}

/// The length of a before/after window in weeks (short when cut by the report's range).
fn weeks_text(v: &Value) -> String {
    v.as_f64()
        .filter(|f| f.is_finite())
        .map_or_else(|| "-".into(), |f| format!("{f:.1}"))
}

fn number(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The report's tables: weeks (share of capacity, `!` over 50%), categories, before/after.
fn report_table(report: &Value) -> String {
    let mut out = String::new();
    let weeks = items(&report["weeks"]);
    if weeks.is_empty() {
        out.push_str("(no toil logged in this range)\n");
    } else {
        let mut rows = vec![header(&[
            "TEAM", "WEEK", "MINUTES", "CAPACITY", "SHARE", "",
        ])];
        for w in weeks {
            rows.push(vec![
                text(w, "team").into(),
                text(w, "week").into(),
                w["minutes"].to_string(),
                match &w["capacity_minutes"] {
                    Value::Null => "-".into(),
                    c => c.to_string(),
                },
                share(&w["share"]),
                if w["over_half"] == true { "!" } else { "" }.into(),
            ]);
        }
        out.push_str(&columns(&rows));
    }
    let over: Vec<&str> = items(&report["teams_over_half"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !over.is_empty() {
        let _ = writeln!(out, "! over 50% of capacity in a week: {}", over.join(", "));
    }
    let categories = items(&report["by_category"]);
    if !categories.is_empty() {
        out.push('\n');
        let mut rows = vec![header(&["CATEGORY", "MINUTES"])];
        for c in categories {
            rows.push(vec![text(c, "category").into(), c["minutes"].to_string()]);
        }
        out.push_str(&columns(&rows));
        let _ = writeln!(
            out,
            "total {} min, automatable {} min",
            report["total_minutes"], report["automatable_minutes"]
        );
    }
    let automations = items(&report["automations"]);
    if !automations.is_empty() {
        out.push('\n');
        let mut rows = vec![header(&[
            "TEAM",
            "TASK",
            "AUTOMATED",
            "MIN/WEEK BEFORE",
            "WEEKS",
            "MIN/WEEK AFTER",
            "WEEKS",
        ])];
        for a in automations {
            rows.push(vec![
                text(a, "team").into(),
                text(a, "task").into(),
                when(&a["automated_at"]),
                per_week(&a["minutes_per_week_before"]),
                weeks_text(&a["weeks_before"]),
                per_week(&a["minutes_per_week_after"]),
                weeks_text(&a["weeks_after"]),
            ]);
        }
        out.push_str(&columns(&rows));
    }
    out
}

fn report_csv(report: &Value) -> String {
    let mut rows = vec![header(&[
        "team",
        "week",
        "week_start",
        "minutes",
        "capacity_minutes",
        "share",
        "over_half",
    ])];
    for w in items(&report["weeks"]) {
        rows.push(vec![
            text(w, "team").into(),
            text(w, "week").into(),
            when(&w["week_start"]),
            w["minutes"].to_string(),
            number(&w["capacity_minutes"]),
            number(&w["share"]),
            (w["over_half"] == true).to_string(),
        ]);
    }
    csv(&rows)
}

pub async fn report(args: ReportArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "toil", "report"]);
    {
        let mut q = url.query_pairs_mut();
        if let Some(t) = &args.team {
            q.append_pair("team", t);
        }
        if let Some(f) = &args.from {
            q.append_pair("from", f);
        }
        if let Some(t) = &args.to {
            q.append_pair("to", t);
        }
    }
    let answer = client.get(url).await?;
    match args.output {
        Format::Json => print_json(&answer)?,
        Format::Csv => print!("{}", report_csv(&answer["report"])),
        Format::Table => print!("{}", report_table(&answer["report"])),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_over_half_are_marked_and_shares_are_percent() {
        let report = json!({
            "weeks": [
                { "team": "sre", "week": "2026-W48", "minutes": 1500, "capacity_minutes": 2400, "share": 0.625, "over_half": true },
                { "team": "web", "week": "2026-W48", "minutes": 30, "capacity_minutes": null, "share": null, "over_half": false },
            ],
            "teams_over_half": ["sre"],
            "by_category": [{ "category": "troubleshooting", "minutes": 1530 }],
            "automations": [],
            "total_minutes": 1530,
            "automatable_minutes": 0,
        });
        let t = report_table(&report);
        let sre = t.lines().find(|l| l.starts_with("sre")).unwrap_or_default();
        assert!(
            sre.contains("62.5%") && sre.trim_end().ends_with('!'),
            "{t}"
        );
        let web = t.lines().find(|l| l.starts_with("web")).unwrap_or_default();
        assert!(web.contains(" - ") && !web.contains('!'), "{t}");
        assert!(t.contains("troubleshooting"));
        assert!(report_csv(&report).contains("sre,2026-W48,"));
    }

    #[test]
    fn hours_become_minutes() {
        assert_eq!(minutes_of_hours(40.0).ok(), Some(2400));
        assert_eq!(minutes_of_hours(0.5).ok(), Some(30));
        assert!(minutes_of_hours(0.0).is_err());
        assert!(minutes_of_hours(-2.0).is_err());
    }
}
