//! `nines check FILE...`

use crate::EXIT_INVALID;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Configuration files; every error in every file is reported.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match spec::load_files(&args.files) {
        Ok(config) => {
            if !args.quiet {
                let slos: usize = config.services.iter().map(|s| s.slos.len()).sum();
                println!(
                    "ok: {} file(s), {} service(s), {} SLO(s)",
                    args.files.len(),
                    config.services.len(),
                    slos
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{} error(s)", diagnostics.len());
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}
