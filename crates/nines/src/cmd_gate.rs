//! `nines gate --server URL --slo service/slo`: may a release proceed? Exit 0 yes, 1 no (the
//! error budget is exhausted), 2 unknown SLO, 3 the server could not answer.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The nines server.
    #[arg(long, env = "NINES_SERVER", default_value = "http://127.0.0.1:9797")]
    server: String,
    /// The SLO whose budget gates the release, as service/slo.
    #[arg(long)]
    slo: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = crate::app::runtime()?;
    rt.block_on(gate(args))
}

async fn gate(args: Args) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(args.timeout))
        .build()?;
    let url = format!("{}/api/v1/gate", args.server.trim_end_matches('/'));
    let response = client
        .get(&url)
        .query(&[("slo", args.slo.as_str())])
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("asking {url}: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("{url} answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("unknown error");
        let code = body["error"]["code"].as_str().unwrap_or("");
        eprintln!("nines: gate: {message} ({code})");
        return Ok(ExitCode::from(if code == "slo.not_found" {
            2
        } else {
            crate::EXIT_RUNTIME
        }));
    }
    let reason = body["reason"].as_str().unwrap_or("");
    if body["allowed"].as_bool() == Some(true) {
        println!("proceed: {reason}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("blocked: {reason}");
        Ok(ExitCode::from(crate::EXIT_INVALID))
    }
}
