//! `nines rules prometheus`: Prometheus recording and alert rules for `source: prometheus` SLOs.

use crate::app;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a Prometheus rule file (check it with `promtool check rules`).
    Prometheus(PrometheusArgs),
}

#[derive(clap::Args)]
pub struct PrometheusArgs {
    /// Configuration file(s).
    #[arg(short, long = "config", required = true)]
    config: Vec<PathBuf>,
    /// Write here instead of standard output.
    #[arg(short, long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Prometheus(args) = command;
    let config = app::load_config(&args.config)?;
    let slos: Vec<rulegen::RuleSlo> = config
        .slos()
        .filter(|s| s.sli.source == spec::SourceKind::Prometheus)
        .filter_map(|s| {
            let spec::SliQuery::Queries { total, good, bad } = &s.sli.query else {
                return None;
            };
            let sli = match (good, bad) {
                (_, Some(bad)) => rulegen::RuleSli::ErrorRatio {
                    error_query: bad.clone(),
                    total_query: total.clone(),
                },
                (Some(good), None) => rulegen::RuleSli::GoodRatio {
                    good_query: good.clone(),
                    total_query: total.clone(),
                },
                (None, None) => return None,
            };
            Some(rulegen::RuleSlo {
                service: s.spec.service.clone(),
                slo: s.spec.name.clone(),
                objective: s.spec.objective.floor(),
                period_seconds: s.spec.window.nominal_seconds(),
                sli,
                policy: s.alert_policy.clone(),
                labels: Default::default(),
            })
        })
        .collect();
    if slos.is_empty() {
        eprintln!(
            "nines: no SLO with `source: prometheus` in the configuration: the rule file is empty"
        );
    }
    let text = rulegen::prometheus_rules(&slos)?;
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
