//! `nines incident ...`, `nines postmortem ...` and `nines toil ...` against a real
//! `nines serve` child process, with responder and viewer tokens: an incident from
//! declaration to a published postmortem, a stale document edit, the one-owner rule, and a
//! toil report.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: { path: "^/api/" }
          good: { status: "<500" }
        objective: 99.9
        window: 30d
"#;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("nines")
}

/// The server child, killed when dropped (also when an assertion fails).
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(config: &Path, data: &Path) -> anyhow::Result<Server> {
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let server = Server {
        child,
        base: base.unwrap_or_default(),
    };
    anyhow::ensure!(!server.base.is_empty(), "the server did not start");
    Ok(server)
}

/// `nines token create`; the token's name is the `--name` given.
fn create_token(data: &Path, role: &str, name: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(bin())
        .args(["token", "create", "--role", role, "--name", name])
        .arg("--data-dir")
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .output()?;
    anyhow::ensure!(out.status.success(), "nines token create failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Runs `nines <args>` against `base` (through NINES_SERVER) with `token` in NINES_TOKEN.
fn nines(base: &str, token: Option<&str>, args: &[&str]) -> anyhow::Result<Output> {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .env_remove("NINES_TOKEN")
        .env("NINES_SERVER", base);
    if let Some(t) = token {
        cmd.env("NINES_TOKEN", t);
    }
    Ok(cmd.output()?)
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout of a command that must succeed.
fn ok(out: Output) -> anyhow::Result<String> {
    anyhow::ensure!(
        out.status.success(),
        "exit {:?}, stdout: {}, stderr: {}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    Ok(stdout(&out))
}

fn json(out: Output) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&ok(out)?)?)
}

/// Exit 1 (the server refused) with `code` on stderr.
fn refused(out: &Output, error_code: &str) {
    assert_eq!(code(out), Some(1), "{}{}", stdout(out), stderr(out));
    assert!(stderr(out).contains(error_code), "{}", stderr(out));
}

fn section<'a>(incident: &'a Value, name: &str) -> Option<&'a Value> {
    incident["document"]["sections"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

#[test]
fn an_incident_goes_from_declaration_to_a_published_postmortem_and_toil_is_reported(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, CONFIG)?;
    let data = dir.path().join("data");
    let responder = create_token(&data, "responder", "ana")?;
    let viewer = create_token(&data, "viewer", "dashboard")?;
    let server = spawn_server(&config, &data)?;
    let base = server.base.clone();
    let ana = Some(responder.as_str());

    let deadline = Instant::now() + Duration::from_secs(10);
    while !nines(&base, None, &["incident", "list"])?.status.success() {
        anyhow::ensure!(Instant::now() < deadline, "the server never answered");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A viewer may read but not declare; no token at all gets a hint.
    let out = nines(
        &base,
        Some(&viewer),
        &[
            "incident",
            "declare",
            "Checkout errors",
            "--sev",
            "2",
            "--service",
            "checkout",
        ],
    )?;
    refused(&out, "auth.forbidden");
    assert!(
        stderr(&out).starts_with("nines: incident declare: "),
        "{}",
        stderr(&out)
    );
    let out = nines(&base, None, &["incident", "declare", "x", "--sev", "2"])?;
    refused(&out, "auth.missing_token");
    assert!(stderr(&out).contains("NINES_TOKEN"), "{}", stderr(&out));
    // Usage errors are 2, before anything is sent; an unreachable server is 3.
    let out = nines(&base, ana, &["incident", "declare", "x", "--sev", "7"])?;
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let out = nines("http://127.0.0.1:9", ana, &["incident", "list"])?;
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(
        json(nines(
            &base,
            Some(&viewer),
            &["incident", "list", "-o", "json"]
        )?)?["incidents"],
        serde_json::json!([])
    );

    // declare: the id, then a short line; the declarer commands.
    let text = ok(nines(
        &base,
        ana,
        &[
            "incident",
            "declare",
            "Checkout errors",
            "--sev",
            "2",
            "--service",
            "checkout",
            "--slo",
            "checkout/availability",
        ],
    )?)?;
    let mut lines = text.lines();
    let id: i64 = lines.next().unwrap_or_default().trim().parse()?;
    assert!(id > 0);
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "declared incident {id}: SEV2 investigating: Checkout errors (checkout), commander ana"
            )
            .as_str()
        ),
        "{text}"
    );
    let id_s = id.to_string();
    let id_s = id_s.as_str();
    // An unknown SLO is refused by the server.
    let out = nines(
        &base,
        ana,
        &["incident", "declare", "Other", "--slo", "checkout/latency"],
    )?;
    refused(&out, "incident.unknown_slo");

    // list: the incident, as JSON and as a table; filters reach the server.
    let list = json(nines(
        &base,
        Some(&viewer),
        &["incident", "list", "-o", "json"],
    )?)?;
    let incidents = list["incidents"].as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{list}");
    assert_eq!(incidents[0]["id"], id, "{list}");
    assert_eq!(incidents[0]["severity"], "SEV2");
    assert_eq!(incidents[0]["services"], serde_json::json!(["checkout"]));
    let table = ok(nines(&base, None, &["incident", "list", "--open"])?)?;
    let row = table
        .lines()
        .find(|l| l.starts_with(id_s))
        .unwrap_or_default();
    assert!(
        row.contains("SEV2") && row.contains("investigating") && row.contains("Checkout errors"),
        "{table}"
    );
    let none = json(nines(
        &base,
        None,
        &["incident", "list", "--status", "resolved", "-o", "json"],
    )?)?;
    assert_eq!(none["incidents"], serde_json::json!([]), "{none}");
    let csv = ok(nines(&base, None, &["incident", "list", "-o", "csv"])?)?;
    assert!(csv.starts_with("id,severity,status,title,"), "{csv}");
    assert!(
        csv.lines().nth(1).is_some_and(|l| l.starts_with(&format!(
            "{id},SEV2,investigating,Checkout errors,checkout,ana,"
        ))),
        "{csv}"
    );

    // role: a handover to bo is effective.
    let out = ok(nines(
        &base,
        ana,
        &["incident", "role", id_s, "communications_lead", "bo"],
    )?)?;
    assert_eq!(
        out.trim(),
        format!("incident {id}: communications_lead is bo")
    );
    // status: forward only; an unknown status is a usage error.
    ok(nines(
        &base,
        ana,
        &["incident", "status", id_s, "identified"],
    )?)?;
    let out = nines(&base, ana, &["incident", "status", id_s, "investigating"])?;
    refused(&out, "incident.bad_transition");
    let out = nines(&base, ana, &["incident", "status", id_s, "fixed"])?;
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let out = ok(nines(&base, ana, &["incident", "severity", id_s, "SEV1"])?)?;
    assert!(out.contains("SEV1 identified: Checkout errors"), "{out}");

    // edit: the first edit reads the current revision; a second edit based on the revision
    // before it is refused with both texts; a third without --base-revision applies.
    let out = ok(nines(
        &base,
        ana,
        &[
            "incident",
            "edit",
            id_s,
            "status",
            "--text",
            "rolling back 4.2",
        ],
    )?)?;
    assert_eq!(
        out.trim(),
        format!("incident {id}: status is now at revision 1")
    );
    let out = nines(
        &base,
        ana,
        &[
            "incident",
            "edit",
            id_s,
            "status",
            "--text",
            "failing over the database",
            "--base-revision",
            "0",
        ],
    )?;
    refused(&out, "incident.section_conflict");
    let err = stderr(&out);
    assert!(
        err.contains("--- current text (revision 1) ---\nrolling back 4.2\n"),
        "{err}"
    );
    assert!(
        err.contains("--- your text (based on revision 0) ---\nfailing over the database\n"),
        "{err}"
    );
    let file = dir.path().join("summary.txt");
    std::fs::write(&file, "Checkout returns 500s for a third of requests\n")?;
    let file_arg = file.to_str().unwrap_or_default();
    let out = nines(
        &base,
        ana,
        &[
            "incident", "edit", id_s, "summary", "--text", "x", "--file", file_arg,
        ],
    )?;
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    ok(nines(
        &base,
        ana,
        &["incident", "edit", id_s, "summary", "--file", file_arg],
    )?)?;
    let out = ok(nines(
        &base,
        ana,
        &[
            "incident",
            "edit",
            id_s,
            "status",
            "--text",
            "rolled back; watching",
        ],
    )?)?;
    assert_eq!(
        out.trim(),
        format!("incident {id}: status is now at revision 2")
    );

    // show: status, severity, roles, SLO impact and the document with revisions.
    let shown = json(nines(
        &base,
        None,
        &["incident", "show", id_s, "-o", "json"],
    )?)?;
    assert_eq!(shown["status"], "identified", "{shown}");
    assert_eq!(shown["severity"], "SEV1", "{shown}");
    let comms = shown["roles_effective"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["role"] == "communications_lead"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(comms["holder"], "bo", "{shown}");
    let status = section(&shown, "status").cloned().unwrap_or_default();
    assert_eq!(status["text"], "rolled back; watching", "{shown}");
    assert_eq!(status["revision"], 2, "{shown}");
    assert_eq!(
        section(&shown, "summary").map(|s| s["revision"].clone()),
        Some(Value::from(1)),
        "{shown}"
    );
    assert_eq!(shown["impact"]["slos"][0]["slo"], "checkout/availability");
    let table = ok(nines(&base, None, &["incident", "show", id_s])?)?;
    assert!(table.contains("status:    identified"), "{table}");
    assert!(table.contains("severity:  SEV1"), "{table}");
    let role_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("communications_lead"))
        .unwrap_or_default();
    assert!(
        role_row.contains("bo") && role_row.contains("yes"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("checkout/availability")),
        "{table}"
    );
    let doc_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("status ") && l.contains("rolled back"))
        .unwrap_or_default();
    assert!(doc_row.split_whitespace().nth(1) == Some("2"), "{table}");

    // note + timeline: newest first, pinned ones filtered.
    let out = ok(nines(
        &base,
        ana,
        &[
            "incident",
            "note",
            id_s,
            "roll back to 4.1",
            "--kind",
            "decision",
            "--pin",
        ],
    )?)?;
    assert!(
        out.contains("decision") && out.contains("(pinned)"),
        "{out}"
    );
    ok(nines(
        &base,
        ana,
        &["incident", "note", id_s, "errors are down"],
    )?)?;
    let timeline = json(nines(
        &base,
        None,
        &["incident", "timeline", id_s, "-o", "json"],
    )?)?;
    let entries = timeline["timeline"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries[0]["text"], "errors are down", "{timeline}");
    assert_eq!(entries[0]["author"], "ana", "{timeline}");
    assert!(
        entries.iter().any(|e| e["kind"] == "role_change"),
        "{timeline}"
    );
    let pinned = json(nines(
        &base,
        None,
        &["incident", "timeline", id_s, "--pinned", "-o", "json"],
    )?)?;
    let pinned = pinned["timeline"].as_array().cloned().unwrap_or_default();
    assert_eq!(pinned.len(), 1, "{pinned:?}");
    assert_eq!(pinned[0]["kind"], "decision");
    let table = ok(nines(&base, None, &["incident", "timeline", id_s])?)?;
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("decision") && l.contains('*') && l.contains("roll back to 4.1")),
        "{table}"
    );

    // metrics: the incident counts under SEV1 and checkout.
    let metrics = json(nines(&base, None, &["incident", "metrics", "-o", "json"])?)?;
    let rows = metrics["metrics"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r["severity"] == "SEV1" && r["service"] == "checkout" && r["incidents"] == 1),
        "{metrics}"
    );

    // postmortem: draft, the one-owner rule, root causes, review, publish, Markdown.
    let drafted = ok(nines(&base, ana, &["postmortem", "draft", id_s])?)?;
    let pm: i64 = drafted.lines().next().unwrap_or_default().trim().parse()?;
    let pm_s = pm.to_string();
    let pm_s = pm_s.as_str();
    assert!(drafted.contains("draft: Checkout errors"), "{drafted}");
    let again = nines(&base, ana, &["postmortem", "draft", id_s])?;
    refused(&again, "postmortem.exists");
    let action = |owner: &str| -> anyhow::Result<Output> {
        nines(
            &base,
            ana,
            &[
                "postmortem",
                "action",
                pm_s,
                "--title",
                "Alert on pool saturation",
                "--owner",
                owner,
                "--kind",
                "detect",
                "--due",
                "2026-12-31",
                "--collaborator",
                "ana",
            ],
        )
    };
    let out = action("bo and ana")?;
    refused(&out, "incident.invalid");
    assert!(
        stderr(&out).contains("exactly one owner"),
        "{}",
        stderr(&out)
    );
    refused(&action("")?, "incident.invalid");
    let out = ok(action("bo")?)?;
    assert!(
        out.contains("action item 1 (detect) owned by bo, due 2026-12-31"),
        "{out}"
    );
    // Submitting needs a summary and a root cause.
    let out = nines(
        &base,
        ana,
        &["postmortem", "submit", pm_s, "--reviewer", "ana"],
    )?;
    refused(&out, "workflow.out_of_order");
    let out = nines(
        &base,
        ana,
        &[
            "postmortem",
            "edit",
            pm_s,
            "--summary",
            "Checkout failed for 20 minutes",
            "--root-cause",
            "config:the pool size was halved by a deploy",
            "--went-well",
            "the rollback was quick",
        ],
    )?;
    ok(out)?;
    let shown = json(nines(
        &base,
        None,
        &["postmortem", "show", pm_s, "-o", "json"],
    )?)?;
    assert_eq!(
        shown["root_causes"],
        serde_json::json!([{ "category": "config", "text": "the pool size was halved by a deploy" }]),
        "{shown}"
    );
    assert_eq!(shown["lessons"]["went_well"][0], "the rollback was quick");
    assert_eq!(shown["action_items"][0]["owner"], "bo");
    assert_eq!(
        shown["action_items"][0]["collaborators"],
        serde_json::json!(["ana"])
    );
    assert_eq!(shown["timeline"][0]["text"], "roll back to 4.1", "{shown}");
    // Blame shows as a warning.
    ok(nines(
        &base,
        ana,
        &[
            "postmortem",
            "edit",
            pm_s,
            "--trigger",
            "Bob's mistake in the deploy",
        ],
    )?)?;
    let out = nines(&base, None, &["postmortem", "show", pm_s])?;
    let table = ok(nines(&base, None, &["postmortem", "show", pm_s])?)?;
    assert!(table.contains("the pool size was halved"), "{table}");
    assert!(
        stderr(&out).contains("warning: trigger:"),
        "{}",
        stderr(&out)
    );
    ok(nines(
        &base,
        ana,
        &[
            "postmortem",
            "edit",
            pm_s,
            "--trigger",
            "a deploy halved the pool",
        ],
    )?)?;
    let out = nines(&base, None, &["postmortem", "show", pm_s])?;
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    let out = ok(nines(
        &base,
        ana,
        &["postmortem", "submit", pm_s, "--reviewer", "ana"],
    )?)?;
    assert!(out.contains("in_review"), "{out}");
    refused(
        &nines(&base, ana, &["postmortem", "publish", pm_s])?,
        "workflow.out_of_order",
    );
    let out = ok(nines(&base, ana, &["postmortem", "approve", pm_s])?)?;
    assert_eq!(out.trim(), format!("postmortem {pm}: reviewed"));
    let out = ok(nines(&base, ana, &["postmortem", "publish", pm_s])?)?;
    assert_eq!(out.trim(), format!("postmortem {pm}: published"));
    let listed = json(nines(
        &base,
        None,
        &["postmortem", "list", "--status", "published", "-o", "json"],
    )?)?;
    assert_eq!(listed["postmortems"][0]["id"], pm, "{listed}");
    let markdown = ok(nines(&base, None, &["postmortem", "markdown", pm_s])?)?;
    assert!(markdown.starts_with('#'), "{markdown}");
    assert!(markdown.contains("Checkout errors"), "{markdown}");
    assert!(markdown.contains("Alert on pool saturation"), "{markdown}");
    let md_file = dir.path().join("pm.md");
    ok(nines(
        &base,
        None,
        &[
            "postmortem",
            "markdown",
            pm_s,
            "--out",
            md_file.to_str().unwrap_or_default(),
        ],
    )?)?;
    assert_eq!(std::fs::read_to_string(&md_file)?, markdown);
    ok(nines(
        &base,
        ana,
        &["postmortem", "action-status", pm_s, "1", "done"],
    )?)?;
    let stats = json(nines(&base, None, &["postmortem", "stats", "-o", "json"])?)?;
    assert_eq!(stats["by_root_cause_category"]["config"], 1, "{stats}");
    assert_eq!(
        stats["open_action_items_by_owner"],
        serde_json::json!({}),
        "{stats}"
    );

    // toil: a team at 2 h a week that logged 90 minutes is at 75%, over half.
    let out = ok(nines(
        &base,
        ana,
        &["toil", "team", "sre", "--capacity-hours", "2"],
    )?)?;
    assert!(out.contains("120 min"), "{out}");
    ok(nines(
        &base,
        ana,
        &[
            "toil",
            "log",
            "--team",
            "sre",
            "--category",
            "troubleshooting",
            "--minutes",
            "90",
            "restarted the connection pool",
            "--task",
            "pool-restart",
            "--automatable",
        ],
    )?)?;
    refused(
        &nines(
            &base,
            Some(&viewer),
            &[
                "toil",
                "log",
                "--team",
                "sre",
                "--category",
                "migrations",
                "--minutes",
                "5",
                "x",
            ],
        )?,
        "auth.forbidden",
    );
    let out = nines(
        &base,
        ana,
        &[
            "toil",
            "log",
            "--team",
            "sre",
            "--category",
            "naps",
            "--minutes",
            "5",
            "x",
        ],
    )?;
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let report = json(nines(
        &base,
        None,
        &["toil", "report", "--team", "sre", "-o", "json"],
    )?)?;
    let week = report["report"]["weeks"][0].clone();
    assert_eq!(week["minutes"], 90, "{report}");
    assert_eq!(week["share"], 0.75, "{report}");
    let table = ok(nines(&base, None, &["toil", "report", "--team", "sre"])?)?;
    let row = table
        .lines()
        .find(|l| l.starts_with("sre "))
        .unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells.get(2..),
        Some(&["90", "120", "75.0%", "!"][..]),
        "{table}"
    );
    assert!(table.contains("troubleshooting"), "{table}");
    let csv = ok(nines(&base, None, &["toil", "report", "-o", "csv"])?)?;
    assert!(csv.starts_with("team,week,"), "{csv}");
    assert!(csv.contains(",90,120,0.75,true"), "{csv}");
    drop(server);
    Ok(())
}
