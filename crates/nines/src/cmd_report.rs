//! `nines report`

use crate::app;
use crate::output::{render_report, Format};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration file(s).
    #[arg(short, long = "config", required = true)]
    config: Vec<PathBuf>,
    #[command(flatten)]
    store: crate::StoreArgs,
    /// Evaluation time (RFC 3339); defaults to now.
    #[arg(long)]
    at: Option<String>,
    /// Only this service's SLOs.
    #[arg(long)]
    service: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    report(
        &args.config,
        &args.store,
        args.at.as_deref(),
        args.service.as_deref(),
        args.output,
    )
}

/// The report at a fixed time (the demo's).
pub fn run_at(
    config: &[PathBuf],
    data_dir: &Path,
    at: &str,
    output: Format,
) -> anyhow::Result<ExitCode> {
    report(
        config,
        &crate::StoreArgs::embedded(data_dir),
        Some(at),
        None,
        output,
    )
}

fn report(
    config: &[PathBuf],
    store: &crate::StoreArgs,
    at: Option<&str>,
    service: Option<&str>,
    output: Format,
) -> anyhow::Result<ExitCode> {
    let config = app::load_config(config)?;
    let at = app::parse_at(at)?;
    let specs = app::selected_slos(&config, service);
    let rt = app::runtime()?;
    let reports = rt.block_on(async {
        let store = app::open_store(store).await?;
        let prometheus = app::prometheus(&config)?;
        let mut reports = Vec::with_capacity(specs.len());
        for spec in specs {
            let report = app::evaluate(store.as_ref(), prometheus.as_ref(), &config, spec, at);
            reports.push(report.await?);
        }
        anyhow::Ok(reports)
    })?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!(
        "{}",
        render_report(output, &app::format_time(at), &reports, color)
    );
    Ok(ExitCode::SUCCESS)
}
