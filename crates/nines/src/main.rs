//! `nines`: the command line. Argument parsing, output formats and exit codes only; the work
//! happens in the library crates.

mod app;
mod chart;
mod cmd_alerts;
mod cmd_audit;
mod cmd_backtest;
mod cmd_backup;
mod cmd_check;
mod cmd_demo;
mod cmd_gate;
mod cmd_incident;
mod cmd_ingest;
mod cmd_migrate;
mod cmd_postmortem;
mod cmd_report;
mod cmd_rules;
mod cmd_serve;
mod cmd_toil;
mod cmd_token;
mod demo;
mod output;
mod remote;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes: 0 success, 1 the input is invalid or the check failed, 2 usage error
/// (clap's own), 3 a runtime failure (IO, database).
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Parser)]
#[command(
    name = "nines",
    version,
    about = "SLOs, error budgets and burn-rate alerts from the telemetry you already have",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate configuration files (native nines/v1 and OpenSLO v1) and report every error.
    Check(cmd_check::Args),
    /// Feed telemetry into the store.
    #[command(subcommand)]
    Ingest(cmd_ingest::Source),
    /// Print SLIs, error budgets and burn rates.
    Report(cmd_report::Args),
    /// Alerts: explain policies in numbers; list, acknowledge and silence a server's alerts and
    /// show its notification deliveries.
    #[command(subcommand)]
    Alerts(cmd_alerts::Command),
    /// Replay stored counters through alert policies: precision, recall, detection and reset times.
    Backtest(cmd_backtest::Args),
    /// Compile SLOs to rules for other systems.
    #[command(subcommand)]
    Rules(cmd_rules::Command),
    /// Write a deterministic example access log with an outage, ingest it and print the report.
    Demo(cmd_demo::Args),
    /// Run the server: ingestion endpoints, evaluator and HTTP API.
    Serve(cmd_serve::Args),
    /// Ask a server whether releases may proceed (exit 0) or the error budget is exhausted (exit 1).
    Gate(cmd_gate::Args),
    /// Create, list and revoke API tokens (only their SHA-256 is stored).
    #[command(subcommand)]
    Token(cmd_token::Command),
    /// Verify or export the hash-chained audit log.
    #[command(subcommand)]
    Audit(cmd_audit::Command),
    /// Incidents on a server: declare, list, show, status, severity, roles, the live document,
    /// the working record and response metrics.
    #[command(subcommand)]
    Incident(cmd_incident::Command),
    /// Postmortems on a server: draft from an incident, edit, action items, review, publish,
    /// Markdown, overdue reviews and aggregates.
    #[command(subcommand)]
    Postmortem(cmd_postmortem::Command),
    /// Toil on a server: log it, set team capacities, mark automations, report shares.
    #[command(subcommand)]
    Toil(cmd_toil::Command),
    /// Copy the embedded store to a file while the server runs (a consistent snapshot).
    Backup(cmd_backup::BackupArgs),
    /// Put a backup in place as a data directory's store (stop its server first).
    Restore(cmd_backup::RestoreArgs),
    /// Apply pending schema migrations to a store (embedded or PostgreSQL) and say which.
    Migrate(cmd_migrate::Args),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Options shared by commands that open the store: the embedded store of a data directory,
/// or a shared store (PostgreSQL) named by `--store` / `--store-file` as `nines serve` takes it.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded store (created on first use).
    #[arg(long, env = "NINES_DATA_DIR", default_value = "./nines-data")]
    pub data_dir: PathBuf,
    /// A shared store instead: a PostgreSQL URL (postgres://USER:PASSWORD@HOST/DB). Prefer
    /// --store-file for a URL with a password.
    #[arg(
        long,
        value_name = "URL",
        env = "NINES_STORE",
        hide_env_values = true,
        conflicts_with = "store_file"
    )]
    pub store: Option<String>,
    /// A file holding the store's URL (a mounted Kubernetes Secret, a systemd credential).
    #[arg(long, value_name = "FILE", env = "NINES_STORE_FILE")]
    pub store_file: Option<PathBuf>,
}

impl StoreArgs {
    /// The embedded store of `data_dir`.
    pub fn embedded(data_dir: &std::path::Path) -> StoreArgs {
        StoreArgs {
            data_dir: data_dir.to_path_buf(),
            store: None,
            store_file: None,
        }
    }

    /// What `store::open` takes: the URL given or read from its file, else the data
    /// directory's `nines.db`.
    pub fn location(&self) -> anyhow::Result<String> {
        if let Some(url) = app::store_url(self.store.as_deref(), self.store_file.as_deref())? {
            return Ok(url);
        }
        let path = self.data_dir.join("nines.db");
        path.to_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("{} is not valid UTF-8", path.display()))
    }

    /// Whether the store is shared by several servers (its audit key must then be given).
    pub fn is_shared(&self) -> bool {
        self.store_file.is_some() || self.store.as_deref().is_some_and(store::is_postgres_url)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd_check::run(args),
        Command::Ingest(source) => cmd_ingest::run(source),
        Command::Report(args) => cmd_report::run(args),
        Command::Demo(args) => cmd_demo::run(args),
        Command::Alerts(command) => cmd_alerts::run(command),
        Command::Backtest(args) => cmd_backtest::run(args),
        Command::Rules(command) => cmd_rules::run(command),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Gate(args) => cmd_gate::run(args),
        Command::Token(command) => cmd_token::run(command),
        Command::Audit(command) => cmd_audit::run(command),
        Command::Incident(command) => cmd_incident::run(command),
        Command::Postmortem(command) => cmd_postmortem::run(command),
        Command::Toil(command) => cmd_toil::run(command),
        Command::Backup(args) => cmd_backup::backup(args),
        Command::Restore(args) => cmd_backup::restore(args),
        Command::Migrate(args) => cmd_migrate::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "nines", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<app::UnknownSlo>().is_some() => {
            eprintln!("nines: {err}");
            ExitCode::from(2)
        }
        Err(err) if err.downcast_ref::<app::InvalidConfig>().is_some() => {
            eprintln!("nines: {err}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(err) => {
            eprintln!("nines: error: {err:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
