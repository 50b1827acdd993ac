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
    /// Also ask the `prometheus:` API for the last bucket of every `source: prometheus` SLO:
    /// exit 1 when it cannot be reached or refuses a query.
    #[arg(long)]
    live: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match spec::load_files(&args.files) {
        Ok(config) => {
            if !args.quiet {
                for line in summary(&config, args.files.len()) {
                    println!("{line}");
                }
            }
            if args.live && !live(&config, args.quiet)? {
                return Ok(ExitCode::from(EXIT_INVALID));
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

/// `--live`: one instant query per query of every Prometheus SLO; false when any failed.
fn live(config: &spec::Config, quiet: bool) -> anyhow::Result<bool> {
    let Some(prometheus) = crate::app::prometheus(config)? else {
        anyhow::bail!("--live: the configuration has no `prometheus:` section to query");
    };
    let at = jiff::Timestamp::now().as_second();
    let rt = crate::app::runtime()?;
    let mut ok = true;
    for slo in config.slos() {
        let Some(queries) = server::prom_source::SliQueries::of(slo) else {
            continue;
        };
        let key = slo.spec.key();
        match rt.block_on(prometheus.check(&slo.spec, &queries, at)) {
            Ok((good, total)) if !quiet => println!(
                "live: {key}: {total:.0} events, {:.0} bad in the last {}",
                (total - good).max(0.0),
                slo::format_duration(slo.spec.bucket_seconds)
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!("live: {key}: {e}");
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// What a valid configuration holds: files, services and SLOs, then the notification
/// routing when the config has an `alertmanager:` section (its routes count every node of
/// the tree, the root included).
fn summary(config: &spec::Config, files: usize) -> Vec<String> {
    let slos: usize = config.services.iter().map(|s| s.slos.len()).sum();
    let mut lines = vec![format!(
        "ok: {files} file(s), {} service(s), {slos} SLO(s)",
        config.services.len(),
    )];
    if let Some(am) = &config.alertmanager {
        lines.push(format!(
            "alertmanager: {} receiver(s), {} route(s)",
            am.receivers.len(),
            am.route.walk().len()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::summary;

    const SLOS: &str = "apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli: { kind: availability, source: events, good: { status: \"<500\" } }
        objective: 99.9
        window: 30d
";

    #[test]
    fn the_summary_mentions_the_routing_when_present() -> Result<(), String> {
        let text = format!(
            "{SLOS}alertmanager:
  route:
    receiver: team
    routes:
      - {{ receiver: pager, matchers: ['severity=\"page\"'] }}
      - receiver: team
        matchers: ['env=\"prod\"']
        routes: [{{ receiver: pager, matchers: ['team=\"db\"'] }}]
  receivers: [{{ name: team }}, {{ name: pager }}, {{ name: unused }}]
"
        );
        let config = spec::load_str("nines.yaml", &text).map_err(|e| format!("{e:?}"))?;
        assert_eq!(
            summary(&config, 2),
            [
                "ok: 2 file(s), 1 service(s), 1 SLO(s)",
                "alertmanager: 3 receiver(s), 4 route(s)",
            ]
        );
        Ok(())
    }

    #[test]
    fn without_routing_the_summary_is_one_line() -> Result<(), String> {
        let config = spec::load_str("nines.yaml", SLOS).map_err(|e| format!("{e:?}"))?;
        assert_eq!(
            summary(&config, 1),
            ["ok: 1 file(s), 1 service(s), 1 SLO(s)"]
        );
        Ok(())
    }
}
