//! `nines demo`: the whole loop on example data, with nothing to set up.

use crate::demo;
use anyhow::Context;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The example SLOs the demo evaluates (also in the repository as examples/checkout.yaml).
pub const EXAMPLE_CONFIG: &str = include_str!("../../../examples/checkout.yaml");

#[derive(clap::Args)]
pub struct Args {
    /// Where the demo keeps its log, config and store.
    #[arg(long, default_value = "./nines-demo")]
    dir: PathBuf,
    /// Lines of access log to generate over the demo's two days.
    #[arg(long, default_value_t = 172_800)]
    lines: u64,
    /// Only write the access log to this file ("-" for standard output) and exit.
    #[arg(long, value_name = "FILE")]
    write_log: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = crate::output::Format::Table)]
    output: crate::output::Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(target) = &args.write_log {
        write_log(target, args.lines)?;
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let log = args.dir.join("access.log");
    let config = args.dir.join("nines.yaml");
    std::fs::write(&config, EXAMPLE_CONFIG)
        .with_context(|| format!("writing {}", config.display()))?;
    write_log(&log, args.lines)?;
    eprintln!(
        "demo: wrote {} lines of access log to {} (an error burst at 2023-11-14 14:00 UTC, a slow evening at 20:00)",
        args.lines,
        log.display()
    );
    let data_dir = args.dir.join("data");
    let status = crate::cmd_ingest::run_paths(&[log], std::slice::from_ref(&config), &data_dir)?;
    if status != ExitCode::SUCCESS {
        return Ok(status);
    }
    println!();
    crate::cmd_report::run_at(
        &[config],
        &data_dir,
        &crate::app::format_time(demo::DEMO_END),
        args.output,
    )
}

fn write_log(target: &PathBuf, lines: u64) -> anyhow::Result<()> {
    if target.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        demo::write_log(&mut out, lines)?;
        out.flush()?;
    } else {
        let file = std::fs::File::create(target)
            .with_context(|| format!("creating {}", target.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        demo::write_log(&mut out, lines)?;
        out.flush()?;
    }
    Ok(())
}
