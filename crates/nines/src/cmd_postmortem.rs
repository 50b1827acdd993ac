//! `nines postmortem draft|list|show|edit|action|action-status|submit|approve|publish|
//! markdown|overdue|stats`: a running server's postmortems through its HTTP API (see
//! [`crate::remote`] for the server, token and exit codes).

use crate::cmd_alerts::TableOrJson;
use crate::output::Format;
use crate::remote::{
    columns, csv, header, or_dash, print_json, seconds, shorten, text, when, Client, Failure,
    Remote,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Draft the postmortem of an incident from its document, pinned timeline and SLO
    /// impact. Prints the postmortem's id, then a short line.
    Draft(DraftArgs),
    /// List postmortems.
    List(ListArgs),
    /// One postmortem in full; wording that blames people is flagged as warnings on stderr.
    Show(ShowArgs),
    /// Change a draft's (or one in review's) text fields. --root-cause replaces the root
    /// causes; each lessons flag replaces that list only.
    Edit(EditArgs),
    /// Add an action item with exactly one owner.
    Action(ActionArgs),
    /// Set an action item's status: open, in_progress or done.
    ActionStatus(ActionStatusArgs),
    /// Submit a draft for review by the named reviewers (token names).
    Submit(SubmitArgs),
    /// Approve a postmortem in review as the caller (a named reviewer).
    Approve(IdArgs),
    /// Publish a reviewed postmortem.
    Publish(IdArgs),
    /// The postmortem as Markdown, on standard output or into --out.
    Markdown(MarkdownArgs),
    /// Postmortems overdue for review (SEV1 after 3 days, SEV2 after 5 business days).
    Overdue(OutputArgs),
    /// Aggregates: incidents by service, trigger and root-cause category; open action items
    /// by owner.
    Stats(StatsArgs),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    use crate::remote::run as go;
    Ok(match command {
        Command::Draft(a) => go("postmortem draft", draft(a)),
        Command::List(a) => go("postmortem list", list(a)),
        Command::Show(a) => go("postmortem show", show(a)),
        Command::Edit(a) => go("postmortem edit", edit(a)),
        Command::Action(a) => go("postmortem action", action(a)),
        Command::ActionStatus(a) => go("postmortem action-status", action_status(a)),
        Command::Submit(a) => go("postmortem submit", submit(a)),
        Command::Approve(a) => go("postmortem approve", review(a, "approve")),
        Command::Publish(a) => go("postmortem publish", review(a, "publish")),
        Command::Markdown(a) => go("postmortem markdown", markdown(a)),
        Command::Overdue(a) => go("postmortem overdue", overdue(a)),
        Command::Stats(a) => go("postmortem stats", stats(a)),
    })
}

#[derive(clap::Args)]
pub struct DraftArgs {
    /// The incident's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    incident_id: u64,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PmStatus {
    Draft,
    InReview,
    Reviewed,
    Published,
}

impl PmStatus {
    fn as_str(self) -> &'static str {
        match self {
            PmStatus::Draft => "draft",
            PmStatus::InReview => "in_review",
            PmStatus::Reviewed => "reviewed",
            PmStatus::Published => "published",
        }
    }
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only postmortems in this state.
    #[arg(long, value_enum)]
    status: Option<PmStatus>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCause {
    category: String,
    text: String,
}

fn parse_root_cause(s: &str) -> Result<RootCause, String> {
    match s.split_once(':') {
        Some((c, t)) if !c.trim().is_empty() && !t.trim().is_empty() => Ok(RootCause {
            category: c.trim().to_string(),
            text: t.trim().to_string(),
        }),
        _ => Err(format!(
            "{s:?} is not CATEGORY:TEXT (e.g. \"config:the pool size was halved\")"
        )),
    }
}

#[derive(clap::Args)]
pub struct EditArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// A new title.
    #[arg(long)]
    title: Option<String>,
    /// What happened, in a few sentences.
    #[arg(long)]
    summary: Option<String>,
    /// Who and what was affected (replaces the text drafted from the SLO figures).
    #[arg(long)]
    impact: Option<String>,
    /// What set the incident off.
    #[arg(long)]
    trigger: Option<String>,
    /// What ended it.
    #[arg(long)]
    resolution: Option<String>,
    /// How it was noticed.
    #[arg(long)]
    detection: Option<String>,
    /// A root cause as CATEGORY:TEXT (repeat for several; replaces the root causes).
    #[arg(long = "root-cause", value_name = "CATEGORY:TEXT", value_parser = parse_root_cause)]
    root_causes: Vec<RootCause>,
    /// What went well (repeat; replaces that list).
    #[arg(long = "went-well", value_name = "TEXT")]
    went_well: Vec<String>,
    /// What went wrong (repeat; replaces that list).
    #[arg(long = "went-wrong", value_name = "TEXT")]
    went_wrong: Vec<String>,
    /// Where we got lucky (repeat; replaces that list).
    #[arg(long = "got-lucky", value_name = "TEXT")]
    got_lucky: Vec<String>,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActionKind {
    Prevent,
    Mitigate,
    Detect,
    Process,
}

impl ActionKind {
    fn as_str(self) -> &'static str {
        match self {
            ActionKind::Prevent => "prevent",
            ActionKind::Mitigate => "mitigate",
            ActionKind::Detect => "detect",
            ActionKind::Process => "process",
        }
    }
}

fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    s.parse::<jiff::civil::Date>()
        .map_err(|_| format!("{s:?} is not a date like 2026-12-31"))
}

#[derive(clap::Args)]
pub struct ActionArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// What is to be done.
    #[arg(long)]
    title: String,
    /// Exactly one person who sees it done (others are collaborators).
    #[arg(long)]
    owner: String,
    /// Someone who helps (repeat for several).
    #[arg(long = "collaborator", value_name = "NAME")]
    collaborators: Vec<String>,
    #[arg(long, value_enum)]
    kind: ActionKind,
    /// Due date, YYYY-MM-DD.
    #[arg(long, value_parser = parse_date)]
    due: jiff::civil::Date,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ItemStatus {
    Open,
    #[value(name = "in_progress", alias = "in-progress")]
    InProgress,
    Done,
}

impl ItemStatus {
    fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::InProgress => "in_progress",
            ItemStatus::Done => "done",
        }
    }
}

#[derive(clap::Args)]
pub struct ActionStatusArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// The action item's id (the ID column of `nines postmortem show`).
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    item: u32,
    #[arg(value_enum)]
    status: ItemStatus,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// A reviewer, by token name (repeat for several; each must approve).
    #[arg(long = "reviewer", value_name = "NAME", required = true)]
    reviewers: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct IdArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct MarkdownArgs {
    /// The postmortem's id.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// Write the Markdown into this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct OutputArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

// ---------------------------------------------------------------------------------------------

fn pm_url(client: &Client, id: u64, more: &[&str]) -> reqwest::Url {
    let id = id.to_string();
    let mut segments = vec!["api", "v1", "postmortems", id.as_str()];
    segments.extend_from_slice(more);
    client.url(&segments)
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[][..], Vec::as_slice)
}

/// `draft: Checkout errors (incident 3)`.
fn one_line(v: &Value) -> String {
    format!(
        "{}: {} (incident {})",
        text(v, "status"),
        text(v, "title"),
        v["incident_id"]
    )
}

/// The blameless check's findings, one warning line each.
fn warnings(v: &Value) -> Vec<String> {
    items(&v["blameless_findings"])
        .iter()
        .map(|f| {
            format!(
                "warning: {}: {:?} blames people; try: {}",
                text(f, "field"),
                text(f, "phrase"),
                text(f, "suggestion")
            )
        })
        .collect()
}

fn print_warnings(v: &Value) {
    for w in warnings(v) {
        eprintln!("{w}");
    }
}

pub async fn draft(args: DraftArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&[
        "api",
        "v1",
        "incidents",
        &args.incident_id.to_string(),
        "postmortem",
    ]);
    let answer = client.send(Method::POST, url, None).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => {
            println!("{}", answer["id"]);
            println!("drafted postmortem {}: {}", answer["id"], one_line(&answer));
        }
    }
    Ok(())
}

fn open_items(v: &Value) -> usize {
    items(&v["action_items"])
        .iter()
        .filter(|a| a["status"] != "done")
        .count()
}

fn reviewers_text(v: &Value) -> String {
    items(&v["reviewers"])
        .iter()
        .map(|r| {
            let mark = if r["approved_at"].is_null() {
                ""
            } else {
                "✓"
            };
            format!("{}{mark}", text(r, "name"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "postmortems"]);
    if let Some(s) = args.status {
        url.query_pairs_mut().append_pair("status", s.as_str());
    }
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let list = items(&answer["postmortems"]);
    let out = match args.output {
        Format::Csv => {
            let mut rows = vec![header(&[
                "id",
                "incident_id",
                "status",
                "title",
                "action_items",
                "open_action_items",
                "reviewers",
                "blameless_findings",
                "updated_at",
            ])];
            for p in list {
                rows.push(vec![
                    p["id"].to_string(),
                    p["incident_id"].to_string(),
                    text(p, "status").into(),
                    text(p, "title").into(),
                    items(&p["action_items"]).len().to_string(),
                    open_items(p).to_string(),
                    reviewers_text(p),
                    items(&p["blameless_findings"]).len().to_string(),
                    when(&p["updated_at"]),
                ]);
            }
            csv(&rows)
        }
        _ if list.is_empty() => "(no postmortems)\n".into(),
        _ => {
            let mut rows = vec![header(&[
                "ID",
                "INCIDENT",
                "STATUS",
                "TITLE",
                "OPEN ITEMS",
                "REVIEWERS",
                "FINDINGS",
            ])];
            for p in list {
                rows.push(vec![
                    p["id"].to_string(),
                    p["incident_id"].to_string(),
                    text(p, "status").into(),
                    shorten(text(p, "title"), 50),
                    format!("{}/{}", open_items(p), items(&p["action_items"]).len()),
                    or_dash(&reviewers_text(p)),
                    items(&p["blameless_findings"]).len().to_string(),
                ]);
            }
            columns(&rows)
        }
    };
    print!("{out}");
    Ok(())
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "\n{name}:");
    if value.trim().is_empty() {
        out.push_str("  -\n");
    } else {
        for line in value.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
}

fn list_field(out: &mut String, name: &str, values: &[Value]) {
    let _ = writeln!(out, "{name}:");
    if values.is_empty() {
        out.push_str("  -\n");
    }
    for v in values {
        let _ = writeln!(out, "  - {}", v.as_str().unwrap_or_default());
    }
}

/// The `show` text of a postmortem (from `GET /api/v1/postmortems/{id}`).
fn show_text(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "postmortem {}: {}", v["id"], text(v, "title"));
    let _ = writeln!(out, "status:    {}", text(v, "status"));
    let _ = writeln!(out, "incident:  {}", v["incident_id"]);
    let reviewers = items(&v["reviewers"]);
    if !reviewers.is_empty() {
        let names: Vec<String> = reviewers
            .iter()
            .map(|r| match &r["approved_at"] {
                Value::Null => format!("{} (pending)", text(r, "name")),
                at => format!("{} (approved {})", text(r, "name"), when(at)),
            })
            .collect();
        let _ = writeln!(out, "reviewers: {}", names.join(", "));
    }
    field(&mut out, "summary", text(v, "summary"));
    field(&mut out, "impact", text(v, "impact"));
    let figures = items(&v["impact_figures"]);
    if !figures.is_empty() {
        let mut rows = vec![header(&[
            "SLO",
            "BAD EVENTS",
            "BUDGET",
            "DETECT",
            "MITIGATE",
        ])];
        for f in figures {
            rows.push(vec![
                text(f, "slo").into(),
                f["bad_events"].to_string(),
                f["budget_consumed"]
                    .as_f64()
                    .map_or_else(|| "-".into(), |b| format!("{:.1}%", b * 100.0)),
                seconds(&f["time_to_detect"]),
                seconds(&f["time_to_mitigate"]),
            ]);
        }
        out.push_str(&indent(&columns(&rows)));
    }
    field(&mut out, "trigger", text(v, "trigger"));
    field(&mut out, "detection", text(v, "detection"));
    field(&mut out, "resolution", text(v, "resolution"));
    out.push_str("\nroot causes:\n");
    let causes = items(&v["root_causes"]);
    if causes.is_empty() {
        out.push_str("  -\n");
    }
    for c in causes {
        let _ = writeln!(out, "  - [{}] {}", text(c, "category"), text(c, "text"));
    }
    out.push_str("\ntimeline (pinned):\n");
    let timeline = items(&v["timeline"]);
    if timeline.is_empty() {
        out.push_str("  -\n");
    }
    for e in timeline {
        let _ = writeln!(
            out,
            "  {} {} ({}): {}",
            when(&e["at"]),
            text(e, "kind"),
            text(e, "author"),
            text(e, "text")
        );
    }
    out.push_str("\naction items:\n");
    let actions = items(&v["action_items"]);
    if actions.is_empty() {
        out.push_str("  -\n");
    } else {
        let mut rows = vec![header(&[
            "ID",
            "KIND",
            "STATUS",
            "OWNER",
            "DUE",
            "TITLE",
            "COLLABORATORS",
        ])];
        for a in actions {
            rows.push(vec![
                a["id"].to_string(),
                text(a, "kind").into(),
                text(a, "status").into(),
                text(a, "owner").into(),
                text(a, "due").into(),
                shorten(text(a, "title"), 60),
                or_dash(
                    &items(&a["collaborators"])
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ]);
        }
        out.push_str(&indent(&columns(&rows)));
    }
    out.push('\n');
    list_field(&mut out, "went well", items(&v["lessons"]["went_well"]));
    list_field(&mut out, "went wrong", items(&v["lessons"]["went_wrong"]));
    list_field(&mut out, "got lucky", items(&v["lessons"]["got_lucky"]));
    out
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

pub async fn show(args: ShowArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let answer = client.get(pm_url(&client, args.id, &[])).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => print!("{}", show_text(&answer)),
    }
    print_warnings(&answer);
    Ok(())
}

/// The PATCH body of `edit`: only the fields given; lessons lists not given keep their
/// current entries (`current` is the postmortem as it is, needed only when a lessons flag
/// is given).
fn edit_body(args: &EditArgs, current: Option<&Value>) -> Value {
    let mut body = serde_json::Map::new();
    for (name, value) in [
        ("title", &args.title),
        ("summary", &args.summary),
        ("impact", &args.impact),
        ("trigger", &args.trigger),
        ("resolution", &args.resolution),
        ("detection", &args.detection),
    ] {
        if let Some(v) = value {
            body.insert(name.into(), json!(v));
        }
    }
    if !args.root_causes.is_empty() {
        let causes: Vec<Value> = args
            .root_causes
            .iter()
            .map(|c| json!({ "category": c.category, "text": c.text }))
            .collect();
        body.insert("root_causes".into(), json!(causes));
    }
    if let Some(cur) = current {
        let mut lessons = serde_json::Map::new();
        for (name, given) in [
            ("went_well", &args.went_well),
            ("went_wrong", &args.went_wrong),
            ("got_lucky", &args.got_lucky),
        ] {
            let list = if given.is_empty() {
                cur["lessons"][name].clone()
            } else {
                json!(given)
            };
            let list = if list.is_array() { list } else { json!([]) };
            lessons.insert(name.into(), list);
        }
        body.insert("lessons".into(), Value::Object(lessons));
    }
    Value::Object(body)
}

pub async fn edit(args: EditArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let lessons_given =
        !(args.went_well.is_empty() && args.went_wrong.is_empty() && args.got_lucky.is_empty());
    let current = if lessons_given {
        Some(client.get(pm_url(&client, args.id, &[])).await?)
    } else {
        None
    };
    let body = edit_body(&args, current.as_ref());
    if body.as_object().is_some_and(serde_json::Map::is_empty) {
        return Err(Failure::usage(
            "nothing to change: give at least one field (see --help)".into(),
        ));
    }
    let answer = client
        .send(Method::PATCH, pm_url(&client, args.id, &[]), Some(&body))
        .await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => println!("postmortem {}: {}", args.id, one_line(&answer)),
    }
    print_warnings(&answer);
    Ok(())
}

pub async fn action(args: ActionArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let body = json!({
        "title": args.title,
        "owner": args.owner,
        "collaborators": args.collaborators,
        "kind": args.kind.as_str(),
        "due": args.due.to_string(),
    });
    let answer = client
        .send(
            Method::POST,
            pm_url(&client, args.id, &["action-items"]),
            Some(&body),
        )
        .await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => println!(
            "postmortem {}: action item {} ({}) owned by {}, due {}",
            args.id,
            answer["id"],
            text(&answer, "kind"),
            text(&answer, "owner"),
            text(&answer, "due")
        ),
    }
    Ok(())
}

pub async fn action_status(args: ActionStatusArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let item = args.item.to_string();
    let body = json!({ "status": args.status.as_str() });
    let answer = client
        .send(
            Method::PATCH,
            pm_url(&client, args.id, &["action-items", &item]),
            Some(&body),
        )
        .await?;
    println!(
        "postmortem {}: action item {item} is {}",
        args.id,
        text(&answer, "status")
    );
    Ok(())
}

pub async fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let body = json!({ "action": "submit", "reviewers": args.reviewers });
    let answer = client
        .send(
            Method::POST,
            pm_url(&client, args.id, &["review"]),
            Some(&body),
        )
        .await?;
    println!(
        "postmortem {}: {} by {}",
        args.id,
        text(&answer, "status"),
        reviewers_text(&answer)
    );
    print_warnings(&answer);
    Ok(())
}

async fn review(args: IdArgs, action: &str) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let body = json!({ "action": action });
    let answer = client
        .send(
            Method::POST,
            pm_url(&client, args.id, &["review"]),
            Some(&body),
        )
        .await?;
    let pending: Vec<&str> = items(&answer["reviewers"])
        .iter()
        .filter(|r| r["approved_at"].is_null())
        .map(|r| text(r, "name"))
        .collect();
    let mut line = format!("postmortem {}: {}", args.id, text(&answer, "status"));
    if !pending.is_empty() {
        let _ = write!(line, " (waiting for {})", pending.join(", "));
    }
    println!("{line}");
    Ok(())
}

pub async fn markdown(args: MarkdownArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let bytes = client
        .send_raw(Method::GET, pm_url(&client, args.id, &["markdown"]), None)
        .await
        .map_err(|r| r.failure)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes)
                .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::runtime(format!("writing the Markdown: {e}")))?;
        }
    }
    Ok(())
}

pub async fn overdue(args: OutputArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let answer = client
        .get(client.url(&["api", "v1", "postmortems", "overdue"]))
        .await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let list = items(&answer["overdue"]);
    let out = match args.output {
        Format::Csv => {
            let mut rows = vec![header(&[
                "postmortem_id",
                "incident_id",
                "severity",
                "status",
                "due_at",
                "overdue_seconds",
            ])];
            for o in list {
                rows.push(vec![
                    o["postmortem_id"].to_string(),
                    o["incident_id"].to_string(),
                    text(o, "severity").into(),
                    text(o, "status").into(),
                    when(&o["due_at"]),
                    o["overdue_seconds"].to_string(),
                ]);
            }
            csv(&rows)
        }
        _ if list.is_empty() => "(no postmortem is overdue for review)\n".into(),
        _ => {
            let mut rows = vec![header(&[
                "POSTMORTEM",
                "INCIDENT",
                "SEV",
                "STATUS",
                "DUE",
                "OVERDUE BY",
            ])];
            for o in list {
                rows.push(vec![
                    o["postmortem_id"].to_string(),
                    o["incident_id"].to_string(),
                    text(o, "severity").into(),
                    text(o, "status").into(),
                    when(&o["due_at"]),
                    seconds(&o["overdue_seconds"]),
                ]);
            }
            columns(&rows)
        }
    };
    print!("{out}");
    Ok(())
}

fn counts(out: &mut String, title: &str, map: &Value) {
    let _ = writeln!(out, "\n{title}");
    let Some(m) = map.as_object().filter(|m| !m.is_empty()) else {
        out.push_str("  -\n");
        return;
    };
    let mut rows: Vec<(&String, &Value)> = m.iter().collect();
    rows.sort_by(|a, b| b.1.as_u64().cmp(&a.1.as_u64()).then_with(|| a.0.cmp(b.0)));
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    out.push_str(&indent(&columns(&table)));
}

pub async fn stats(args: StatsArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let answer = client
        .get(client.url(&["api", "v1", "postmortems", "aggregates"]))
        .await?;
    if args.output == TableOrJson::Json {
        return print_json(&answer);
    }
    let mut out = format!("postmortems: {}\n", answer["postmortems"]);
    counts(&mut out, "incidents by service", &answer["by_service"]);
    counts(&mut out, "incidents by trigger", &answer["by_trigger"]);
    counts(
        &mut out,
        "incidents by root-cause category",
        &answer["by_root_cause_category"],
    );
    counts(
        &mut out,
        "open action items by owner",
        &answer["open_action_items_by_owner"],
    );
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        edit: EditArgs,
    }

    #[test]
    fn root_causes_need_a_category_and_a_text() {
        assert_eq!(
            parse_root_cause("config: pool halved"),
            Ok(RootCause {
                category: "config".into(),
                text: "pool halved".into()
            })
        );
        assert!(parse_root_cause("no category").is_err());
        assert!(parse_root_cause(":text").is_err());
    }

    #[test]
    fn edit_sends_only_the_given_fields_and_keeps_other_lessons() {
        let t = T::try_parse_from([
            "t",
            "4",
            "--trigger",
            "deploy",
            "--root-cause",
            "config:pool halved",
            "--went-wrong",
            "paged late",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let current = json!({ "lessons": { "went_well": ["rollback was quick"], "went_wrong": ["old"], "got_lucky": [] } });
        let body = edit_body(&t.edit, Some(&current));
        assert_eq!(
            body,
            json!({
                "trigger": "deploy",
                "root_causes": [{ "category": "config", "text": "pool halved" }],
                "lessons": {
                    "went_well": ["rollback was quick"],
                    "went_wrong": ["paged late"],
                    "got_lucky": [],
                },
            })
        );
        let t = T::try_parse_from(["t", "4", "--summary", "s"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(edit_body(&t.edit, None), json!({ "summary": "s" }));
    }

    #[test]
    fn findings_become_warnings() {
        let v = json!({ "blameless_findings": [
            { "field": "summary", "phrase": "Bob's mistake", "start": 0, "suggestion": "the change" }
        ]});
        assert_eq!(
            warnings(&v),
            vec!["warning: summary: \"Bob's mistake\" blames people; try: the change"]
        );
    }
}
