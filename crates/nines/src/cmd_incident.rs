//! `nines incident declare|list|show|status|severity|role|edit|note|timeline|metrics`: a
//! running server's incidents through its HTTP API (see [`crate::remote`] for the server,
//! token and exit codes).

use crate::cmd_alerts::TableOrJson;
use crate::output::Format;
use crate::remote::{
    columns, csv, header, or_dash, parse_time_arg, print_json, seconds, shorten, text, when,
    Client, Failure, Remote,
};
use incident::incident::{Severity, Status};
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Declare an incident: you become its commander. Prints its id, then a short line.
    /// Needs a responder token in NINES_TOKEN.
    Declare(DeclareArgs),
    /// List incidents, newest first.
    List(ListArgs),
    /// One incident: status, severity, roles and their holders, the impact on each linked
    /// SLO and the live document's sections with their revisions.
    Show(ShowArgs),
    /// Move an incident to a status: investigating, identified, monitoring, resolved, closed.
    Status(StatusArgs),
    /// Change an incident's severity (1..5 or SEV1..SEV5).
    Severity(SeverityArgs),
    /// Hand a role to someone: incident_commander, communications_lead, operations_lead or
    /// any other role name (a-z, 0-9, _ and -).
    Role(RoleArgs),
    /// Replace the text of one section of the live document (summary, status, command_post,
    /// command_hierarchy, detailed_status, exit_criteria, todos). A stale edit (someone else
    /// changed the section since --base-revision) is refused with both texts and exit 1.
    Edit(EditArgs),
    /// Add a note, action, decision or stakeholder update to the working record.
    Note(NoteArgs),
    /// The working record, newest first.
    Timeline(TimelineArgs),
    /// Mean time to acknowledge, mitigate and resolve by severity and service.
    Metrics(MetricsArgs),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    use crate::remote::run as go;
    Ok(match command {
        Command::Declare(a) => go("incident declare", declare(a)),
        Command::List(a) => go("incident list", list(a)),
        Command::Show(a) => go("incident show", show(a)),
        Command::Status(a) => go("incident status", status(a)),
        Command::Severity(a) => go("incident severity", severity(a)),
        Command::Role(a) => go("incident role", role(a)),
        Command::Edit(a) => go("incident edit", edit(a)),
        Command::Note(a) => go("incident note", note(a)),
        Command::Timeline(a) => go("incident timeline", timeline(a)),
        Command::Metrics(a) => go("incident metrics", metrics(a)),
    })
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse::<Severity>()
        .map_err(|_| format!("{text:?} is not a severity: 1..5 or SEV1..SEV5"))
}

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse::<Status>().map_err(|e| e.to_string())
}

fn parse_slo(text: &str) -> Result<String, String> {
    match text.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains('/') => Ok(text.into()),
        _ => Err(format!("{text:?} is not service/slo")),
    }
}

#[derive(clap::Args)]
pub struct DeclareArgs {
    /// What is wrong, in a few words.
    title: String,
    /// Severity: 1 (worst) to 5, or SEV1..SEV5.
    #[arg(long, value_parser = parse_severity, default_value = "3")]
    sev: Severity,
    /// An affected service (repeat for several).
    #[arg(long = "service", value_name = "SERVICE")]
    services: Vec<String>,
    /// The first text of the document's summary section.
    #[arg(long)]
    summary: Option<String>,
    /// Link an SLO (service/slo) whose error budget the incident spends (repeat for several).
    #[arg(long = "slo", value_name = "SERVICE/SLO", value_parser = parse_slo)]
    slos: Vec<String>,
    /// Link a firing alert by fingerprint (repeat for several).
    #[arg(long = "alert", value_name = "FINGERPRINT")]
    alerts: Vec<String>,
    /// table prints the id, then a short line; json the incident.
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only open incidents (not resolved or closed).
    #[arg(long)]
    open: bool,
    /// Only incidents in this status.
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only incidents affecting this service.
    #[arg(long)]
    service: Option<String>,
    /// Only incidents of this severity.
    #[arg(long, value_parser = parse_severity)]
    sev: Option<Severity>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The incident id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// investigating, identified, monitoring, resolved or closed.
    #[arg(value_parser = parse_status)]
    status: Status,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct SeverityArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// 1 (worst) to 5, or SEV1..SEV5.
    #[arg(value_parser = parse_severity)]
    severity: Severity,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct RoleArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// incident_commander, communications_lead, operations_lead or your own role name.
    role: String,
    /// Who takes it over.
    holder: String,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("content").required(true).args(["text", "file"]))]
pub struct EditArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// summary, status, command_post, command_hierarchy, detailed_status, exit_criteria or
    /// todos.
    section: String,
    /// The section's new text.
    #[arg(long)]
    text: Option<String>,
    /// Read the section's new text from this file ("-" for standard input).
    #[arg(long)]
    file: Option<PathBuf>,
    /// The revision your text is based on; by default the section's current revision (read
    /// just before the edit).
    #[arg(long)]
    base_revision: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoteKind {
    Note,
    Action,
    Decision,
    /// Sent through the stakeholder receiver when one is configured.
    StakeholderUpdate,
}

impl NoteKind {
    fn as_str(self) -> &'static str {
        match self {
            NoteKind::Note => "note",
            NoteKind::Action => "action",
            NoteKind::Decision => "decision",
            NoteKind::StakeholderUpdate => "stakeholder_update",
        }
    }
}

#[derive(clap::Args)]
pub struct NoteArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// What happened, was done or was decided.
    text: String,
    #[arg(long, value_enum, default_value_t = NoteKind::Note)]
    kind: NoteKind,
    /// Pin the entry (pinned entries go into the postmortem's timeline).
    #[arg(long)]
    pin: bool,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct TimelineArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// Only pinned entries.
    #[arg(long)]
    pinned: bool,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Incidents declared from this time (RFC 3339 or YYYY-MM-DD); 90 days ago by default.
    #[arg(long, value_parser = parse_time_arg)]
    from: Option<String>,
    /// ... up to this time (RFC 3339 or YYYY-MM-DD); now by default.
    #[arg(long, value_parser = parse_time_arg)]
    to: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

// ---------------------------------------------------------------------------------------------

fn id_text(v: &Value) -> String {
    match &v["id"] {
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

fn joined(v: &Value, sep: &str) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(sep)
        })
        .unwrap_or_default()
}

/// The holder of the incident commander role.
fn commander(v: &Value) -> String {
    v["roles_effective"]
        .as_array()
        .and_then(|roles| {
            roles
                .iter()
                .find(|r| r["role"] == incident::incident::INCIDENT_COMMANDER)
        })
        .map_or_else(
            || text(v, "declared_by").to_string(),
            |r| text(r, "holder").to_string(),
        )
}

/// `SEV2 investigating: Checkout errors (checkout), commander ana`.
fn one_line(v: &Value) -> String {
    let services = joined(&v["services"], ", ");
    let mut line = format!(
        "{} {}: {}",
        text(v, "severity"),
        text(v, "status"),
        text(v, "title")
    );
    if !services.is_empty() {
        let _ = write!(line, " ({services})");
    }
    let _ = write!(line, ", commander {}", commander(v));
    line
}

pub async fn declare(args: DeclareArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut body = json!({
        "title": args.title,
        "severity": args.sev.as_str(),
        "services": args.services,
        "slos": args.slos,
        "alerts": args.alerts,
    });
    if let Some(s) = args.summary {
        body["summary"] = json!(s);
    }
    let url = client.url(&["api", "v1", "incidents"]);
    let answer = client.send(Method::POST, url, Some(&body)).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => {
            println!("{}", id_text(&answer));
            println!(
                "declared incident {}: {}",
                id_text(&answer),
                one_line(&answer)
            );
        }
    }
    Ok(())
}

pub async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "incidents"]);
    {
        let mut q = url.query_pairs_mut();
        if args.open {
            q.append_pair("open", "true");
        }
        if let Some(s) = args.status {
            q.append_pair("status", s.as_str());
        }
        if let Some(s) = &args.service {
            q.append_pair("service", s);
        }
        if let Some(s) = args.sev {
            q.append_pair("severity", s.as_str());
        }
    }
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let empty = Vec::new();
    let incidents = answer["incidents"].as_array().unwrap_or(&empty);
    let now = jiff::Timestamp::now();
    let out = match args.output {
        Format::Csv => {
            let mut rows = vec![header(&[
                "id",
                "severity",
                "status",
                "title",
                "services",
                "commander",
                "declared_at",
                "declared_by",
                "linked_slos",
                "linked_alerts",
            ])];
            for i in incidents {
                rows.push(vec![
                    id_text(i),
                    text(i, "severity").into(),
                    text(i, "status").into(),
                    text(i, "title").into(),
                    joined(&i["services"], " "),
                    commander(i),
                    when(&i["declared_at"]),
                    text(i, "declared_by").into(),
                    joined(&i["linked_slos"], " "),
                    joined(&i["linked_alerts"], " "),
                ]);
            }
            csv(&rows)
        }
        _ if incidents.is_empty() => "(no incidents)\n".into(),
        _ => {
            let mut rows = vec![header(&[
                "ID",
                "SEV",
                "STATUS",
                "TITLE",
                "SERVICES",
                "COMMANDER",
                "DECLARED",
            ])];
            for i in incidents {
                let declared = i["declared_at"]
                    .as_i64()
                    .and_then(|s| jiff::Timestamp::from_second(s).ok())
                    .map_or_else(
                        || "-".into(),
                        |t| format!("{} ago", crate::remote::age(now, t)),
                    );
                rows.push(vec![
                    id_text(i),
                    text(i, "severity").into(),
                    text(i, "status").into(),
                    shorten(text(i, "title"), 50),
                    or_dash(&joined(&i["services"], ",")),
                    commander(i),
                    declared,
                ]);
            }
            columns(&rows)
        }
    };
    print!("{out}");
    Ok(())
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .filter(|f| f.is_finite())
        .map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0))
}

/// The `show` text of an incident (from `GET /api/v1/incidents/{id}`).
fn show_text(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "incident {}: {}", id_text(v), text(v, "title"));
    let _ = writeln!(out, "severity:  {}", text(v, "severity"));
    let since = v["status_changes"]
        .as_array()
        .and_then(|c| c.last())
        .map(|c| when(&c["at"]))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "status:    {} (since {since})", text(v, "status"));
    let _ = writeln!(out, "services:  {}", or_dash(&joined(&v["services"], ", ")));
    let _ = writeln!(
        out,
        "declared:  {} by {}",
        when(&v["declared_at"]),
        text(v, "declared_by")
    );
    if let Some(changes) = v["status_changes"].as_array().filter(|c| c.len() > 1) {
        let steps: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", text(c, "status"), when(&c["at"])))
            .collect();
        let _ = writeln!(out, "history:   {}", steps.join(" → "));
    }
    let alerts = joined(&v["linked_alerts"], ", ");
    if !alerts.is_empty() {
        let _ = writeln!(out, "alerts:    {alerts}");
    }

    out.push_str("\nroles\n");
    let mut rows = vec![header(&["ROLE", "HOLDER", "DELEGATED"])];
    for r in v["roles_effective"].as_array().into_iter().flatten() {
        rows.push(vec![
            text(r, "role").into(),
            text(r, "holder").into(),
            if r["delegated"] == true { "yes" } else { "no" }.into(),
        ]);
    }
    out.push_str(&indent(&columns(&rows)));

    let slos = v["impact"]["slos"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if slos.is_empty() {
        out.push_str("\nimpact: no linked SLOs\n");
    } else {
        let _ = writeln!(
            out,
            "\nimpact ({} to {})",
            text(&v["impact"], "from"),
            text(&v["impact"], "to")
        );
        let mut rows = vec![header(&[
            "SLO",
            "BAD EVENTS",
            "TOTAL",
            "BUDGET CONSUMED",
            "FIRST BAD",
            "DETECT",
            "MITIGATE",
            "RESOLVE",
        ])];
        for s in slos {
            if let Some(err) = s["error"].as_str() {
                rows.push(vec![
                    text(s, "slo").into(),
                    err.into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                continue;
            }
            let (i, t) = (&s["impact"], &s["timings"]);
            rows.push(vec![
                text(s, "slo").into(),
                i["bad_events"].to_string(),
                i["total_events"].to_string(),
                percent(&i["budget_consumed"]),
                when(&i["first_bad_at"]),
                seconds(&t["time_to_detect"]),
                seconds(&t["time_to_mitigate"]),
                seconds(&t["time_to_resolve"]),
            ]);
        }
        out.push_str(&indent(&columns(&rows)));
    }

    out.push_str("\ndocument\n");
    let mut rows = vec![header(&["SECTION", "REV", "UPDATED", "BY", "TEXT"])];
    let sections = v["document"]["sections"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for s in sections {
        rows.push(vec![
            text(s, "name").into(),
            s["revision"].to_string(),
            when(&s["updated_at"]),
            or_dash(text(s, "updated_by")),
            or_dash(&shorten(text(s, "text"), 60)),
        ]);
    }
    out.push_str(&indent(&columns(&rows)));
    out
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

pub async fn show(args: ShowArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&["api", "v1", "incidents", &args.id.to_string()]);
    let answer = client.get(url).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => print!("{}", show_text(&answer)),
    }
    Ok(())
}

async fn patch(remote: &Remote, id: u64, body: Value, output: TableOrJson) -> Result<(), Failure> {
    let client = Client::new(remote)?;
    let url = client.url(&["api", "v1", "incidents", &id.to_string()]);
    let answer = client.send(Method::PATCH, url, Some(&body)).await?;
    match output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => println!("incident {id}: {}", one_line(&answer)),
    }
    Ok(())
}

pub async fn status(args: StatusArgs) -> Result<(), Failure> {
    let body = json!({ "status": args.status.as_str() });
    patch(&args.remote, args.id, body, args.output).await
}

pub async fn severity(args: SeverityArgs) -> Result<(), Failure> {
    let body = json!({ "severity": args.severity.as_str() });
    patch(&args.remote, args.id, body, args.output).await
}

pub async fn role(args: RoleArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&[
        "api",
        "v1",
        "incidents",
        &args.id.to_string(),
        "roles",
        &args.role,
    ]);
    let body = json!({ "holder": args.holder });
    let answer = client.send(Method::PUT, url, Some(&body)).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => {
            let holder = answer["roles"]
                .as_array()
                .and_then(|roles| roles.iter().find(|r| r["role"] == args.role.as_str()))
                .map_or_else(|| args.holder.clone(), |r| text(r, "holder").to_string());
            println!("incident {}: {} is {holder}", args.id, args.role);
        }
    }
    Ok(())
}

fn read_text(args: &EditArgs) -> Result<String, Failure> {
    match (&args.text, &args.file) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Failure::runtime(format!("reading standard input: {e}")))?;
            Ok(s)
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display()))),
        (None, None) => Err(Failure::usage("give --text or --file".into())),
    }
}

/// The message of a refused stale edit: the server's message, then both texts.
fn conflict_text(message: &str, details: &Value) -> String {
    let mut out = message.to_string();
    let _ = write!(
        out,
        "\n--- current text (revision {}) ---\n{}\n--- your text (based on revision {}) ---\n{}\n---\nmerge them and edit again with --base-revision {}",
        details["current_revision"],
        text(details, "current_text").trim_end(),
        details["base_revision"],
        text(details, "your_text").trim_end(),
        details["current_revision"],
    );
    out
}

pub async fn edit(args: EditArgs) -> Result<(), Failure> {
    let new_text = read_text(&args)?;
    let client = Client::new(&args.remote)?;
    let id = args.id.to_string();
    let base = match args.base_revision {
        Some(b) => b,
        None => {
            let url = client.url(&["api", "v1", "incidents", &id, "document"]);
            let doc = client.get(url).await?;
            doc["document"]["sections"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == args.section.as_str()))
                .and_then(|s| s["revision"].as_u64())
                .unwrap_or(0)
        }
    };
    let url = client.url(&["api", "v1", "incidents", &id, "document", &args.section]);
    let body = json!({ "text": new_text, "base_revision": base });
    match client.send_json(Method::PUT, url, Some(&body)).await {
        Ok(answer) => {
            println!(
                "incident {id}: {} is now at revision {}",
                args.section, answer["revision"]
            );
            Ok(())
        }
        Err(r) if r.code == "incident.section_conflict" => Err(Failure {
            exit: r.failure.exit,
            message: conflict_text(&r.failure.message, &r.details),
        }),
        Err(r) => Err(r.failure),
    }
}

pub async fn note(args: NoteArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&["api", "v1", "incidents", &args.id.to_string(), "timeline"]);
    let body = json!({ "kind": args.kind.as_str(), "text": args.text, "pinned": args.pin });
    let answer = client.send(Method::POST, url, Some(&body)).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => {
            let mut line = format!(
                "incident {}: {} {} added",
                args.id,
                text(&answer, "kind"),
                answer["id"]
            );
            if answer["pinned"] == true {
                line.push_str(" (pinned)");
            }
            match &answer["sent_to"] {
                Value::Null => {}
                Value::String(s) => {
                    let _ = write!(line, ", sent to {s}");
                }
                other => {
                    let _ = write!(line, ", sent to {other}");
                }
            }
            println!("{line}");
        }
    }
    Ok(())
}

pub async fn timeline(args: TimelineArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "incidents", &args.id.to_string(), "timeline"]);
    if args.pinned {
        url.query_pairs_mut().append_pair("pinned", "true");
    }
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let entries = answer["timeline"].as_array().map_or(&[][..], Vec::as_slice);
    let pin = |e: &Value| if e["pinned"] == true { "*" } else { "" }.to_string();
    let out = match args.output {
        Format::Csv => {
            let mut rows = vec![header(&["id", "at", "author", "kind", "pinned", "text"])];
            for e in entries {
                rows.push(vec![
                    e["id"].to_string(),
                    text(e, "at").into(),
                    text(e, "author").into(),
                    text(e, "kind").into(),
                    (e["pinned"] == true).to_string(),
                    text(e, "text").into(),
                ]);
            }
            csv(&rows)
        }
        _ if entries.is_empty() => "(no entries)\n".into(),
        _ => {
            let mut rows = vec![header(&["ID", "AT", "AUTHOR", "KIND", "PIN", "TEXT"])];
            for e in entries {
                rows.push(vec![
                    e["id"].to_string(),
                    text(e, "at").into(),
                    text(e, "author").into(),
                    text(e, "kind").into(),
                    pin(e),
                    shorten(text(e, "text"), 80),
                ]);
            }
            columns(&rows)
        }
    };
    print!("{out}");
    Ok(())
}

pub async fn metrics(args: MetricsArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "incidents", "metrics"]);
    {
        let mut q = url.query_pairs_mut();
        if let Some(f) = &args.from {
            q.append_pair("from", f);
        }
        if let Some(t) = &args.to {
            q.append_pair("to", t);
        }
    }
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let rows_in = answer["metrics"].as_array().map_or(&[][..], Vec::as_slice);
    let out = match args.output {
        Format::Csv => {
            let mut rows = vec![header(&[
                "severity",
                "service",
                "incidents",
                "mtta_seconds",
                "mttm_seconds",
                "mttr_seconds",
            ])];
            for m in rows_in {
                let num = |k: &str| match &m[k] {
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                rows.push(vec![
                    text(m, "severity").into(),
                    text(m, "service").into(),
                    m["incidents"].to_string(),
                    num("mtta_seconds"),
                    num("mttm_seconds"),
                    num("mttr_seconds"),
                ]);
            }
            csv(&rows)
        }
        _ if rows_in.is_empty() => format!(
            "(no incidents from {} to {})\n",
            text(&answer, "from"),
            text(&answer, "to")
        ),
        _ => {
            let mut rows = vec![header(&[
                "SEVERITY",
                "SERVICE",
                "INCIDENTS",
                "MTTA",
                "MTTM",
                "MTTR",
            ])];
            for m in rows_in {
                rows.push(vec![
                    text(m, "severity").into(),
                    or_dash(text(m, "service")),
                    m["incidents"].to_string(),
                    seconds(&m["mtta_seconds"]),
                    seconds(&m["mttm_seconds"]),
                    seconds(&m["mttr_seconds"]),
                ]);
            }
            format!(
                "from {} to {}\n{}",
                text(&answer, "from"),
                text(&answer, "to"),
                columns(&rows)
            )
        }
    };
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_edit_shows_both_texts_and_the_revision_to_use() {
        let details = json!({
            "section": "status",
            "base_revision": 1,
            "current_revision": 2,
            "current_text": "db failover running",
            "your_text": "rolling back the deploy",
        });
        let t = conflict_text("changed (incident.section_conflict)", &details);
        assert!(t.contains("current text (revision 2) ---\ndb failover running\n"));
        assert!(t.contains("your text (based on revision 1) ---\nrolling back the deploy\n"));
        assert!(t.ends_with("--base-revision 2"));
    }

    #[test]
    fn severities_accept_numbers_and_names() {
        assert_eq!(parse_severity("2"), Ok(Severity::Sev2));
        assert_eq!(parse_severity("sev1"), Ok(Severity::Sev1));
        assert!(parse_severity("6").is_err());
        assert!(parse_slo("checkout/availability").is_ok());
        assert!(parse_slo("checkout").is_err());
    }

    #[test]
    fn one_line_names_the_commander_from_the_effective_roles() {
        let v = json!({
            "severity": "SEV2", "status": "investigating", "title": "Checkout errors",
            "services": ["checkout"], "declared_by": "ana",
            "roles_effective": [{ "role": "incident_commander", "holder": "bo", "delegated": false }],
        });
        assert_eq!(
            one_line(&v),
            "SEV2 investigating: Checkout errors (checkout), commander bo"
        );
    }
}
