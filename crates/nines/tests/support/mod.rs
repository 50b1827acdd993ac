//! What the end-to-end tests that drive the real binary share: the `nines` command with a
//! clean environment, `nines serve` on a free loopback port, and children killed when a test
//! ends (also on failure).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Kills the child when the test ends, also on failure.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary under test, without the environment a developer's shell may carry.
pub fn nines() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nines"));
    c.env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .env_remove("NINES_TOKEN")
        .env_remove("NINES_STORE")
        .env_remove("NINES_STORE_FILE")
        .env_remove("NINES_REPLICA_ID")
        // A log filter from the shell could hide the `listening on` line the tests wait for.
        .env_remove("NINES_LOG")
        .env_remove("RUST_LOG");
    c
}

/// `nines serve` on a free loopback port with `config` and `data`; returns the child and its
/// base URL (`http://127.0.0.1:PORT`). Its log goes to the test's stderr, prefixed `nines: `.
pub fn start_nines(config: &Path, data: &Path) -> anyhow::Result<(Killed, String)> {
    let mut command = nines();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data);
    serve(command, "nines")
}

/// Starts `command` (a `nines serve ...`), waits until it says where it listens and returns
/// the child and its base URL. Its log goes to the test's stderr, each line prefixed
/// `{label}: `.
pub fn serve(mut command: Command, label: &str) -> anyhow::Result<(Killed, String)> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let child = Killed(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line?;
        eprintln!("{label}: {line}");
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let label = label.to_string();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("{label}: {line}");
        }
    });
    let base = base.ok_or_else(|| anyhow::anyhow!("nines serve did not start"))?;
    Ok((child, base.trim_end_matches('/').to_string()))
}
