//! `nines token create|list|revoke`: API tokens. The secret is printed once; the store keeps only its
//! SHA-256. Every change is written to the audit log (actor `cli`) in the same transaction.

use crate::app;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a token and print its secret (shown only this once).
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Revoke a token: requests bearing it are refused from now on.
    Revoke(RevokeArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// ingest (telemetry only), viewer, responder (viewer + alerts, silences, incidents) or admin.
    #[arg(long, value_parser = parse_role)]
    role: store::TokenRole,
    /// A unique name, e.g. who or what uses the token.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    audit: AuditKeyArgs,
    #[command(flatten)]
    store: crate::StoreArgs,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(short, long = "output", value_enum, default_value = "table")]
    output: ListFormat,
    #[command(flatten)]
    store: crate::StoreArgs,
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// Name of the token to revoke.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    audit: AuditKeyArgs,
    #[command(flatten)]
    store: crate::StoreArgs,
}

/// Where the audit log's key comes from.
#[derive(clap::Args)]
pub struct AuditKeyArgs {
    /// Read the audit key (64 hex digits) from this file instead of `<data-dir>/audit.key` (which is
    /// created on first use).
    #[arg(long, value_name = "FILE", env = "NINES_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

impl AuditKeyArgs {
    pub fn load(&self, data_dir: &Path) -> anyhow::Result<store::AuditKey> {
        Ok(match &self.audit_key_file {
            Some(path) => store::AuditKey::from_file(path)?,
            None => store::audit_key(data_dir)?,
        })
    }

    /// The key for `store`: a shared store has no data directory of its own, and a key made
    /// up here would not be the one its servers chain the log with.
    pub fn load_for(&self, store: &crate::StoreArgs) -> anyhow::Result<store::AuditKey> {
        anyhow::ensure!(
            !store.is_shared() || self.audit_key_file.is_some(),
            "a shared store needs --audit-key-file: the key every `nines serve` of it uses"
        );
        self.load(&store.data_dir)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn parse_role(text: &str) -> Result<store::TokenRole, String> {
    text.parse()
}

/// Who the CLI acts as in the audit log.
const ACTOR: &str = "cli";

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    app::runtime()?.block_on(async move {
        match command {
            Command::Create(args) => create(args).await,
            Command::List(args) => list(args).await,
            Command::Revoke(args) => revoke(args).await,
        }
    })
}

async fn open_keyed(
    store: &crate::StoreArgs,
    audit: &AuditKeyArgs,
) -> anyhow::Result<Arc<dyn store::Store>> {
    let key = audit.load_for(store)?;
    let opened = app::open_store(store).await?;
    opened.set_audit_key(key);
    Ok(opened)
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.name.trim().is_empty() {
        anyhow::bail!("--name must not be empty");
    }
    let store = open_keyed(&args.store, &args.audit).await?;
    let secret = store::new_token_secret()?;
    let now = jiff::Timestamp::now().as_second();
    let record = store::TokenRecord {
        name: args.name.clone(),
        role: args.role,
        sha256: store::token_sha256(&secret),
        created_at: now,
        revoked_at: None,
    };
    let audit = store::AuditEntry::new(now, ACTOR, "token.create", &args.name)
        .with_details(serde_json::json!({ "role": args.role.as_str() }));
    let result = store.insert_token(&record, &audit).await;
    store.close().await?;
    result.with_context(|| format!("creating the token {}", args.name))?;
    println!("{secret}");
    eprintln!(
        "nines: created the {} token {:?}; this is the only time its secret is shown. \
         Send it as `Authorization: Bearer <token>`.",
        args.role, args.name
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = app::open_store(&args.store).await?;
    let tokens = store.list_tokens().await;
    store.close().await?;
    let tokens = tokens.context("listing tokens")?;
    match args.output {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "name": t.name,
                        "role": t.role.as_str(),
                        "created_at": app::format_time(t.created_at),
                        "revoked_at": t.revoked_at.map(app::format_time),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        ListFormat::Table => {
            let name_width = tokens
                .iter()
                .map(|t| t.name.chars().count())
                .chain([4])
                .max()
                .unwrap_or(4);
            println!(
                "{:<name_width$}  {:<9}  {:<20}  REVOKED",
                "NAME", "ROLE", "CREATED"
            );
            for t in &tokens {
                println!(
                    "{:<name_width$}  {:<9}  {:<20}  {}",
                    t.name,
                    t.role.as_str(),
                    app::format_time(t.created_at),
                    t.revoked_at
                        .map_or_else(|| "-".to_owned(), app::format_time),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let store = open_keyed(&args.store, &args.audit).await?;
    let now = jiff::Timestamp::now().as_second();
    let audit = store::AuditEntry::new(now, ACTOR, "token.revoke", &args.name);
    let result = store.revoke_token(&args.name, &audit).await;
    store.close().await?;
    if result.with_context(|| format!("revoking the token {}", args.name))? {
        eprintln!("nines: revoked the token {:?}", args.name);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("nines: there is no active token named {:?}", args.name);
        Ok(ExitCode::from(crate::EXIT_INVALID))
    }
}
