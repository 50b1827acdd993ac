//! A throw-away PostgreSQL cluster for tests: Debian's `initdb` and `pg_ctl` in a temporary
//! directory, listening on a free loopback port. No installed service is assumed or touched.
//!
//! One cluster per test binary is enough: keep it in a static and give each test its own database
//! with [`PgCluster::create_database`]. Statics are never dropped, so besides [`Drop`] a small
//! watchdog process stops the cluster and removes its directory once the test process is gone,
//! however it ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::StoreError;

/// The system user PostgreSQL runs as when the tests run as root (initdb refuses root).
const SERVICE_USER: &str = "postgres";

/// A running throw-away cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Some(user) when the binaries run as another user (we are root).
    run_as: Option<&'static str>,
}

fn cluster_err(what: impl std::fmt::Display) -> StoreError {
    StoreError::TestCluster(what.to_string())
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, or `$NINES_PG_BIN`.
fn find_bin() -> Result<PathBuf, StoreError> {
    if let Some(dir) = std::env::var_os("NINES_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()
                .and_then(|v| v.parse::<u32>().ok());
            if let (Some(v), true) = (version, bin.join("initdb").is_file()) {
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, bin));
                }
            }
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(|| {
        cluster_err(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install the Debian \
             package `postgresql` (scripts/test does) or set NINES_PG_BIN",
        )
    })
}

/// Whether this process runs as root: /proc/self belongs to the effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// (uid, gid) of `user` from /etc/passwd.
fn user_ids(user: &str) -> Result<(u32, u32), StoreError> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| cluster_err(format!("reading /etc/passwd: {e}")))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            cluster_err(format!(
                "running as root needs the system user {user:?} (the postgresql package creates it)"
            ))
        })
}

fn free_port() -> Result<u16, StoreError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| cluster_err(format!("finding a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| cluster_err(format!("finding a free port: {e}")))
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

impl PgCluster {
    /// Creates and starts a cluster; waits until it accepts connections.
    pub fn start() -> Result<PgCluster, StoreError> {
        let bin = find_bin()?;
        let run_as = is_root().then_some(SERVICE_USER);
        let dir = std::env::temp_dir().join(format!(
            "nines-pg-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("sock"))
            .map_err(|e| cluster_err(format!("creating {}: {e}", dir.display())))?;
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            run_as,
        };
        if let Some(user) = run_as {
            let (uid, gid) = user_ids(user)?;
            for path in [cluster.dir.clone(), cluster.dir.join("sock")] {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| cluster_err(format!("chown {}: {e}", path.display())))?;
            }
        }
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "--username=postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--no-locale".as_ref(),
                // Only initdb's own files skip fsync; the server keeps fsync on.
                "--no-sync".as_ref(),
            ],
        )?;
        cluster.spawn_watchdog()?;
        // Another process may take the port between choosing and binding it: try a few.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=500 \
                 -c shared_buffers=32MB",
                cluster.port,
                cluster.dir.join("sock").display()
            );
            let log = cluster.dir.join("server.log");
            match cluster.run(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                ],
            ) {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| cluster_err("pg_ctl start failed")))
    }

    /// Runs one of the cluster's binaries (as the service user when we are root).
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), StoreError> {
        let mut cmd = self.command(program);
        cmd.args(args).stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| cluster_err(format!("running {program}: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(cluster_err(format!(
            "{program} failed ({}): {}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        )))
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    /// A shell that waits for this process to end, then stops the cluster and removes its files.
    fn spawn_watchdog(&self) -> Result<(), StoreError> {
        let stop = self.stop_command();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| cluster_err(format!("starting the cluster watchdog: {e}")))?;
        Ok(())
    }

    fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let base = format!(
            "'{}' stop -m immediate -D '{}'",
            pg_ctl.display(),
            self.dir.join("data").display()
        );
        match self.run_as {
            Some(user) => format!("runuser -u {user} -- {base}"),
            None => base,
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data, socket and server log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// URL of the `postgres` database as the superuser `postgres` (no password: trust).
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// URL of database `name` on this cluster.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database `name` (ASCII letters, digits, `_`; at most 63 bytes) and returns
    /// its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, StoreError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(StoreError::InvalidInput {
                what: "database name",
                reason: "it must have 1 to 63 ASCII letters, digits or underscores",
            });
        }
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .map_err(|e| cluster_err(format!("connecting to {}: {e}", self.url())))?;
        // An identifier cannot be bound; the name was checked above.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .map_err(|e| cluster_err(format!("creating database {name}: {e}")))?;
        conn.close().await.ok();
        Ok(self.database_url(name))
    }

    /// Ends every client connection to database `name` (as a crashed or partitioned replica would
    /// lose them). Returns how many were ended.
    pub async fn kill_connections(&self, name: &str) -> Result<u64, StoreError> {
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .map_err(|e| cluster_err(format!("connecting to {}: {e}", self.url())))?;
        let killed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) t",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| cluster_err(format!("ending connections to {name}: {e}")))?;
        conn.close().await.ok();
        Ok(u64::try_from(killed).unwrap_or(0))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
