//! `nines alerts list|ack|silence|silences|unsilence|history`: the alerts, silences and
//! deliveries of a running server, through its HTTP API (Alertmanager's API v2 plus nines'
//! acknowledgements and delivery history).
//!
//! Requests carry the token in `NINES_TOKEN` as a Bearer token. Exit codes: 0 done, 1 the
//! server refused (its error code and message on stderr), 2 usage error, 3 the server could
//! not be reached or failed.

use super::TableOrJson;
use crate::output::Format;
use crate::remote::{
    age, columns, csv, decode, or_dash, print_json, shorten, Client, Failure, Remote,
};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only alerts matching this matcher: name=value, name!=value, name=~regex or name!~regex
    /// (repeat for several; all must match).
    #[arg(long = "filter", value_name = "MATCHER", value_parser = parse_matcher)]
    filters: Vec<notify::Matcher>,
    /// Leave out silenced alerts.
    #[arg(long)]
    no_silenced: bool,
    /// Leave out inhibited alerts.
    #[arg(long)]
    no_inhibited: bool,
    /// Leave out active (unsuppressed) alerts: only silenced and inhibited ones.
    #[arg(long)]
    no_active: bool,
    /// Only alerts routed to a receiver whose name matches this regex.
    #[arg(long, value_name = "REGEX")]
    receiver: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct AckArgs {
    /// The alert's fingerprint (the FINGERPRINT column of `nines alerts list`).
    fingerprint: String,
    /// Why, or what is being done about it.
    #[arg(long, default_value = "")]
    comment: String,
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("end").required(true).args(["duration", "until"]))]
pub struct SilenceArgs {
    /// Alerts to silence, all matchers applying: name=value, name!=value, name=~regex,
    /// name!~regex (quote the value when it has spaces or commas: 'team="a, b"').
    #[arg(required = true, value_name = "MATCHER", value_parser = parse_matchers)]
    matchers: Vec<notify::Matchers>,
    /// How long from the start, e.g. 2h, 1h30m, 1d.
    #[arg(long, value_parser = parse_positive_duration)]
    duration: Option<SignedDuration>,
    /// When it ends (RFC 3339, e.g. 2026-11-27T18:00:00Z).
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
    /// When it starts (RFC 3339); now by default.
    #[arg(long, value_parser = parse_time)]
    start: Option<Timestamp>,
    /// Why the alerts are silenced.
    #[arg(long)]
    comment: String,
    /// Who silences them; $USER by default, else "nines-cli".
    #[arg(long)]
    author: Option<String>,
    /// table prints the silence id alone; json prints {"silenceID": ...}.
    #[arg(short, long, value_enum, default_value_t = TableOrJson::Table)]
    output: TableOrJson,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct SilencesArgs {
    /// Also list expired silences.
    #[arg(long)]
    expired: bool,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct UnsilenceArgs {
    /// The silence id (printed by `nines alerts silence`, listed by `nines alerts silences`).
    id: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Only deliveries to this receiver.
    #[arg(long)]
    receiver: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_enum)]
    status: Option<DeliveryStatus>,
    /// Only deliveries of this aggregation group.
    #[arg(long)]
    group_key: Option<String>,
    /// Only deliveries created since this time: RFC 3339, or a duration back from now (e.g. 1h).
    #[arg(long, value_parser = parse_since)]
    since: Option<Timestamp>,
    /// At most this many, newest first (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    #[value(name = "gave_up")]
    GaveUp,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::GaveUp => "gave_up",
        }
    }
}

fn parse_matcher(text: &str) -> Result<notify::Matcher, String> {
    notify::Matcher::parse(text).map_err(|e| e.to_string())
}

fn parse_matchers(text: &str) -> Result<notify::Matchers, String> {
    let ms = notify::Matchers::parse(text).map_err(|e| e.to_string())?;
    if ms.is_empty() {
        return Err("expected a matcher such as alertname=DiskFull".into());
    }
    Ok(ms)
}

fn parse_positive_duration(text: &str) -> Result<SignedDuration, String> {
    match notify::parse_duration(text) {
        Ok(d) if d.is_positive() => Ok(d),
        Ok(_) => Err("the duration must be longer than zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>()
        .map_err(|_| format!("{text:?} is not an RFC 3339 time like 2026-11-27T18:00:00Z"))
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let back = parse_positive_duration(text)
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a duration like 1h"))?;
    Timestamp::now()
        .checked_sub(back)
        .map_err(|e| format!("{text:?} reaches too far back: {e}"))
}

// ---------------------------------------------------------------------------------------------
// list

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<Timestamp>,
    #[serde(default)]
    ends_at: Option<Timestamp>,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    receivers: Vec<Named>,
    #[serde(default)]
    status: AlertStatus,
    #[serde(default)]
    source: String,
    #[serde(default)]
    ack: Option<Ack>,
    #[serde(default)]
    flapping: bool,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AlertStatus {
    #[serde(default)]
    silenced_by: Vec<String>,
    #[serde(default)]
    inhibited_by: Vec<String>,
}

#[derive(Deserialize)]
struct Ack {
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

impl Alert {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// One word per condition: silenced and/or inhibited when suppressed, else acked or
    /// firing (resolved once it ended); flapping added when it flaps.
    fn state(&self, now: Timestamp) -> String {
        let mut words: Vec<&str> = Vec::new();
        if self.ends_at.is_some_and(|end| end <= now) {
            words.push("resolved");
        }
        if !self.status.silenced_by.is_empty() {
            words.push("silenced");
        }
        if !self.status.inhibited_by.is_empty() {
            words.push("inhibited");
        }
        if self.ack.is_some() {
            words.push("acked");
        }
        if words.is_empty() {
            words.push("firing");
        }
        if self.flapping {
            words.push("flapping");
        }
        words.join(",")
    }

    /// The labels other than alertname and severity, as `k=v` joined by commas.
    fn other_labels(&self) -> String {
        self.labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn alert_query(args: &ListArgs) -> Vec<(&'static str, String)> {
    let mut query: Vec<(&'static str, String)> = args
        .filters
        .iter()
        .map(|m| ("filter", m.to_string()))
        .collect();
    for (name, leave_out) in [
        ("silenced", args.no_silenced),
        ("inhibited", args.no_inhibited),
        ("active", args.no_active),
    ] {
        if leave_out {
            query.push((name, "false".into()));
        }
    }
    if let Some(r) = &args.receiver {
        query.push(("receiver", r.clone()));
    }
    query
}

pub async fn list(args: ListArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v2", "alerts"]);
    url.query_pairs_mut().extend_pairs(alert_query(&args));
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let alerts: Vec<Alert> = decode(answer, "alert list")?;
    let now = Timestamp::now();
    let text = match args.output {
        Format::Csv => alerts_csv(&alerts, now),
        _ => alerts_table(&alerts, now),
    };
    print!("{text}");
    Ok(())
}

fn alerts_table(alerts: &[Alert], now: Timestamp) -> String {
    if alerts.is_empty() {
        return "(no alerts)\n".into();
    }
    let mut rows = vec![[
        "FINGERPRINT",
        "ALERTNAME",
        "SEVERITY",
        "STATE",
        "SINCE",
        "LABELS",
    ]
    .map(String::from)
    .to_vec()];
    for a in alerts {
        rows.push(vec![
            a.fingerprint.clone(),
            or_dash(a.label("alertname")),
            or_dash(a.label("severity")),
            a.state(now),
            a.starts_at.map_or_else(|| "-".into(), |t| age(now, t)),
            shorten(&a.other_labels(), 60),
        ]);
    }
    columns(&rows)
}

fn alerts_csv(alerts: &[Alert], now: Timestamp) -> String {
    let mut rows = vec![[
        "fingerprint",
        "alertname",
        "severity",
        "state",
        "starts_at",
        "ends_at",
        "source",
        "receivers",
        "acked_by",
        "ack_comment",
        "silenced_by",
        "inhibited_by",
        "labels",
    ]
    .map(String::from)
    .to_vec()];
    for a in alerts {
        rows.push(vec![
            a.fingerprint.clone(),
            a.label("alertname").to_string(),
            a.label("severity").to_string(),
            a.state(now),
            a.starts_at.map(|t| t.to_string()).unwrap_or_default(),
            a.ends_at.map(|t| t.to_string()).unwrap_or_default(),
            a.source.clone(),
            a.receivers
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            a.ack.as_ref().map(|x| x.by.clone()).unwrap_or_default(),
            a.ack
                .as_ref()
                .map(|x| x.comment.clone())
                .unwrap_or_default(),
            a.status.silenced_by.join(" "),
            a.status.inhibited_by.join(" "),
            a.other_labels(),
        ]);
    }
    csv(&rows)
}

// ---------------------------------------------------------------------------------------------
// ack

pub async fn ack(args: AckArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&["api", "v1", "alerts", &args.fingerprint, "ack"]);
    let body = serde_json::json!({ "comment": args.comment });
    let answer = client.send(Method::POST, url, Some(&body)).await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => println!(
            "acknowledged {} as {} at {}",
            answer["fingerprint"].as_str().unwrap_or(&args.fingerprint),
            answer["by"].as_str().unwrap_or("?"),
            answer["at"].as_str().unwrap_or("?"),
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// silence, silences, unsilence

fn author(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "nines-cli".into())
}

pub async fn silence(args: SilenceArgs) -> Result<(), Failure> {
    let starts_at = args.start.unwrap_or_else(Timestamp::now);
    let ends_at = match (args.until, args.duration) {
        (Some(until), _) => until,
        (None, Some(d)) => starts_at
            .checked_add(d)
            .map_err(|e| Failure::usage(format!("--duration is too long: {e}")))?,
        (None, None) => return Err(Failure::usage("give --duration or --until".into())),
    };
    if ends_at <= starts_at {
        return Err(Failure::usage(format!(
            "the silence would end ({ends_at}) before it starts ({starts_at})"
        )));
    }
    let matchers = notify::Matchers(args.matchers.into_iter().flat_map(|m| m.0).collect());
    let posted = notify::PostableSilence {
        id: None,
        matchers: matchers.to_api(),
        starts_at,
        ends_at,
        created_by: author(args.author),
        comment: args.comment,
    };
    let body = serde_json::to_value(&posted)
        .map_err(|e| Failure::runtime(format!("writing the silence: {e}")))?;
    let client = Client::new(&args.remote)?;
    let answer = client
        .send(
            Method::POST,
            client.url(&["api", "v2", "silences"]),
            Some(&body),
        )
        .await?;
    match args.output {
        TableOrJson::Json => print_json(&answer)?,
        TableOrJson::Table => match answer["silenceID"].as_str() {
            Some(id) => println!("{id}"),
            None => {
                return Err(Failure::runtime(format!(
                    "the server answered without a silenceID: {answer}"
                )))
            }
        },
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Silence {
    id: String,
    status: SilenceStatus,
    #[serde(default)]
    matchers: Vec<notify::ApiMatcher>,
    starts_at: Timestamp,
    ends_at: Timestamp,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize)]
struct SilenceStatus {
    state: String,
}

impl Silence {
    fn matchers_text(&self) -> String {
        self.matchers
            .iter()
            .map(|m| match notify::Matcher::from_api(m) {
                Ok(m) => m.to_string(),
                Err(_) => format!("{}?{:?}", m.name, m.value),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub async fn silences(args: SilencesArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let answer = client.get(client.url(&["api", "v2", "silences"])).await?;
    let keep = |state: &str| args.expired || state != "expired";
    if args.output == Format::Json {
        let kept: Vec<Value> = match answer {
            Value::Array(items) => items
                .into_iter()
                .filter(|s| keep(s["status"]["state"].as_str().unwrap_or("")))
                .collect(),
            other => return Err(Failure::runtime(format!("expected a list, got {other}"))),
        };
        return print_json(&Value::Array(kept));
    }
    let mut list: Vec<Silence> = decode(answer, "silence list")?;
    list.retain(|s| keep(&s.status.state));
    let now = Timestamp::now();
    let text = match args.output {
        Format::Csv => {
            let mut rows = vec![[
                "id",
                "state",
                "matchers",
                "starts_at",
                "ends_at",
                "created_by",
                "comment",
            ]
            .map(String::from)
            .to_vec()];
            for s in &list {
                rows.push(vec![
                    s.id.clone(),
                    s.status.state.clone(),
                    s.matchers_text(),
                    s.starts_at.to_string(),
                    s.ends_at.to_string(),
                    s.created_by.clone(),
                    s.comment.clone(),
                ]);
            }
            csv(&rows)
        }
        _ if list.is_empty() => "(no silences)\n".into(),
        _ => {
            let mut rows = vec![["ID", "STATE", "MATCHERS", "ENDS", "CREATED BY", "COMMENT"]
                .map(String::from)
                .to_vec()];
            for s in &list {
                let ends = if s.ends_at > now {
                    format!("in {}", age(s.ends_at, now))
                } else {
                    format!("{} ago", age(now, s.ends_at))
                };
                rows.push(vec![
                    s.id.clone(),
                    s.status.state.clone(),
                    s.matchers_text(),
                    ends,
                    or_dash(&s.created_by),
                    shorten(&s.comment, 50),
                ]);
            }
            columns(&rows)
        }
    };
    print!("{text}");
    Ok(())
}

pub async fn unsilence(args: UnsilenceArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let url = client.url(&["api", "v2", "silence", &args.id]);
    client.send(Method::DELETE, url, None).await?;
    println!("expired {}", args.id);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// history

#[derive(Deserialize)]
struct Notifications {
    notifications: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    integration: Option<u64>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    next_attempt_at: Option<String>,
    #[serde(default)]
    attempts: Vec<Attempt>,
    #[serde(default)]
    summary: Summary,
}

#[derive(Deserialize)]
struct Attempt {
    #[serde(default)]
    at: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize, Default)]
struct Summary {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    alerts: Option<Vec<String>>,
}

impl Notification {
    fn id_text(&self) -> String {
        match &self.id {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    fn kind_text(&self) -> String {
        match (&self.kind, self.integration) {
            (Some(k), _) => k.clone(),
            (None, Some(i)) => format!("#{i}"),
            (None, None) => "-".into(),
        }
    }

    /// "2 firing", "1 resolved", or what is known of it.
    fn alerts_text(&self) -> String {
        let status = self.summary.status.as_deref();
        match (&self.summary.alerts, status) {
            (Some(fps), Some(s)) => format!("{} {s}", fps.len()),
            (Some(fps), None) => fps.len().to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => "-".into(),
        }
    }

    fn last_reason(&self) -> &str {
        self.attempts.last().map_or("", |a| a.reason.as_str())
    }
}

pub async fn history(args: HistoryArgs) -> Result<(), Failure> {
    let client = Client::new(&args.remote)?;
    let mut url = client.url(&["api", "v1", "notifications"]);
    {
        let mut q = url.query_pairs_mut();
        if let Some(r) = &args.receiver {
            q.append_pair("receiver", r);
        }
        if let Some(s) = args.status {
            q.append_pair("status", s.as_str());
        }
        if let Some(g) = &args.group_key {
            q.append_pair("group_key", g);
        }
        if let Some(t) = args.since {
            q.append_pair("since", &t.to_string());
        }
        q.append_pair("limit", &args.limit.to_string());
    }
    let answer = client.get(url).await?;
    if args.output == Format::Json {
        return print_json(&answer);
    }
    let doc: Notifications = decode(answer, "delivery history")?;
    let list = doc.notifications;
    let text = match args.output {
        Format::Csv => {
            let mut rows = vec![[
                "id",
                "created_at",
                "receiver",
                "kind",
                "group_key",
                "status",
                "attempts",
                "last_attempt_at",
                "last_reason",
                "next_attempt_at",
                "alerts_status",
                "alerts",
            ]
            .map(String::from)
            .to_vec()];
            for n in &list {
                rows.push(vec![
                    n.id_text(),
                    n.created_at.clone(),
                    n.receiver.clone(),
                    n.kind_text(),
                    n.group_key.clone(),
                    n.status.clone(),
                    n.attempts.len().to_string(),
                    n.attempts.last().map(|a| a.at.clone()).unwrap_or_default(),
                    n.last_reason().to_string(),
                    n.next_attempt_at.clone().unwrap_or_default(),
                    n.summary.status.clone().unwrap_or_default(),
                    n.summary.alerts.clone().unwrap_or_default().join(" "),
                ]);
            }
            csv(&rows)
        }
        _ if list.is_empty() => "(no deliveries)\n".into(),
        _ => {
            let mut rows = vec![[
                "CREATED",
                "RECEIVER",
                "KIND",
                "STATUS",
                "ATTEMPTS",
                "ALERTS",
                "LAST REASON",
            ]
            .map(String::from)
            .to_vec()];
            for n in &list {
                rows.push(vec![
                    n.created_at.clone(),
                    n.receiver.clone(),
                    n.kind_text(),
                    n.status.clone(),
                    n.attempts.len().to_string(),
                    n.alerts_text(),
                    or_dash(&shorten(n.last_reason(), 70)),
                ]);
            }
            columns(&rows)
        }
    };
    print!("{text}");
    Ok(())
}

/// Runs one remote subcommand, printing a failure to stderr as `nines: alerts <what>: ...`.
pub fn run(what: &str, work: impl std::future::Future<Output = Result<(), Failure>>) -> ExitCode {
    crate::remote::run(&format!("alerts {what}"), work)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(json: Value) -> Alert {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn state_names_suppression_acks_and_flapping() {
        let now: Timestamp = "2026-01-01T12:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let firing = alert(serde_json::json!({ "status": { "state": "active" } }));
        assert_eq!(firing.state(now), "firing");
        let acked = alert(serde_json::json!({ "ack": { "by": "ana" }, "flapping": true }));
        assert_eq!(acked.state(now), "acked,flapping");
        let both = alert(serde_json::json!({
            "status": { "silencedBy": ["s1"], "inhibitedBy": ["f1"] }
        }));
        assert_eq!(both.state(now), "silenced,inhibited");
        let ended = alert(serde_json::json!({ "endsAt": "2026-01-01T11:00:00Z" }));
        assert_eq!(ended.state(now), "resolved");
    }

    #[test]
    fn matchers_and_durations_are_checked_before_anything_is_sent() {
        assert!(parse_matchers("alertname=DiskFull").is_ok());
        assert_eq!(
            parse_matchers("{a=\"1\",b=~\"x|y\"}").map(|m| m.0.len()),
            Ok(2)
        );
        assert!(parse_matchers("=oops").is_err());
        assert!(parse_matchers("a=~(").is_err());
        assert!(parse_positive_duration("0").is_err());
        assert_eq!(
            parse_positive_duration("1h30m"),
            Ok(SignedDuration::from_mins(90))
        );
    }

    #[test]
    fn list_flags_become_alertmanager_query_parameters() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            list: ListArgs,
        }
        let t = T::try_parse_from([
            "t",
            "--filter",
            "severity=~page|ticket",
            "--filter",
            "team=db",
            "--no-silenced",
            "--receiver",
            "team-.*",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            alert_query(&t.list),
            vec![
                ("filter", "severity=~\"page|ticket\"".to_string()),
                ("filter", "team=\"db\"".to_string()),
                ("silenced", "false".to_string()),
                ("receiver", "team-.*".to_string()),
            ]
        );
    }
}
