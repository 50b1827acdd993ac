//! `nines audit verify|export`: check the hash-chained audit log, and write checkpoints to keep
//! elsewhere so that a truncated log is detected too.

use crate::app;
use crate::cmd_token::AuditKeyArgs;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check every record's MAC and link; exit 0 when intact, 1 naming the first bad record.
    Verify(VerifyArgs),
    /// Write the current checkpoint (JSON: seq, mac, at); keep it outside the data directory.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A checkpoint written earlier by `nines audit export`: the log must still contain it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditKeyArgs,
    #[command(flatten)]
    store: crate::StoreArgs,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write here instead of standard output.
    #[arg(short, long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    store: crate::StoreArgs,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    app::runtime()?.block_on(async move {
        match command {
            Command::Verify(args) => verify(args).await,
            Command::Export(args) => export(args).await,
        }
    })
}

fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<store::Checkpoint> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let bad = || {
        anyhow::anyhow!(
            "{} is not a checkpoint: expected {{\"seq\": N, \"mac\": \"<64 hex digits>\", \"at\": ...}}",
            path.display()
        )
    };
    let seq = value
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(bad)?;
    let mac = value
        .get("mac")
        .and_then(serde_json::Value::as_str)
        .filter(|m| m.len() == 64 && m.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(bad)?
        .to_ascii_lowercase();
    let at = value
        .get("at_unix")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    Ok(store::Checkpoint { seq, mac, at })
}

async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let checkpoint = args
        .checkpoint
        .as_deref()
        .map(read_checkpoint)
        .transpose()?;
    let key = args.audit.load_for(&args.store)?;
    let store = app::open_store(&args.store).await?;
    let report = store.verify_audit(&key, checkpoint.as_ref()).await;
    store.close().await?;
    let report = report.context("reading the audit log")?;
    match &report.first_bad {
        None => {
            let against = match &checkpoint {
                Some(cp) => format!(", including checkpoint record {}", cp.seq),
                None => String::new(),
            };
            println!(
                "audit log intact: {} record(s){against}; newest is record {}",
                report.records, report.last.seq
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(fault) => {
            println!(
                "audit log TAMPERED: first bad record is {}: {}",
                fault.seq, fault.reason
            );
            if report.last.seq > 0 {
                println!("records 1..{} verified before it", report.last.seq);
            }
            Ok(ExitCode::from(crate::EXIT_INVALID))
        }
    }
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&args.store).await?;
    let checkpoint = store.audit_checkpoint().await;
    store.close().await?;
    let checkpoint = checkpoint.context("reading the end of the audit log")?;
    let doc = serde_json::json!({
        "seq": checkpoint.seq,
        "mac": checkpoint.mac,
        "at": app::format_time(checkpoint.at),
        "at_unix": checkpoint.at,
    });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
