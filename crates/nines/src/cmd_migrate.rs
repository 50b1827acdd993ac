//! `nines migrate`: brings a store's schema up to this binary's version and says what changed.
//! `nines serve` migrates on start too; running it first (a Kubernetes init container, a
//! deploy step) moves the schema change out of the servers' start-up, and fails loudly before
//! any server of the new version starts when the database is from a newer nines.
//!
//! Exit codes: 0 the schema is current (changed now or already), 1 the database was written by
//! a newer nines (nothing changed), 2 usage, 3 the store could not be opened or migrated.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the store is: a PostgreSQL URL (given, or read from a file) or the embedded store of a
/// data directory.
#[derive(clap::Args, Clone)]
#[group(required = true, multiple = false)]
pub struct LocationArgs {
    /// The store: a PostgreSQL URL (postgres://USER:PASSWORD@HOST/DB) or a SQLite file. Prefer
    /// --store-file for a URL with a password: arguments and the environment are visible to
    /// other processes.
    #[arg(long, value_name = "URL", env = "NINES_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// A file holding the store's URL (e.g. a mounted Kubernetes Secret or a systemd
    /// credential); surrounding whitespace is ignored.
    #[arg(long, value_name = "FILE")]
    pub store_file: Option<PathBuf>,
    /// Directory of the embedded store (nines.db in it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A resolved [`LocationArgs`].
pub enum Location {
    Postgres(String),
    Sqlite(PathBuf),
}

impl LocationArgs {
    pub fn resolve(&self) -> anyhow::Result<Location> {
        if let Some(url) = crate::app::store_url(self.store.as_deref(), self.store_file.as_deref())?
        {
            return Ok(Location::parse(&url));
        }
        match &self.data_dir {
            Some(dir) => Ok(Location::Sqlite(dir.join("nines.db"))),
            None => anyhow::bail!("give --store, --store-file or --data-dir"),
        }
    }
}

impl Location {
    /// A `--store` value: a PostgreSQL URL, else the path of a SQLite file (as `nines serve`
    /// reads it).
    fn parse(location: &str) -> Location {
        if store::is_postgres_url(location) {
            Location::Postgres(location.to_string())
        } else {
            Location::Sqlite(PathBuf::from(location))
        }
    }

    /// What `store::open` / `store::migrate` take.
    fn as_store_location(&self) -> anyhow::Result<String> {
        match self {
            Location::Postgres(url) => Ok(url.clone()),
            Location::Sqlite(path) => path
                .to_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("{} is not valid UTF-8", path.display())),
        }
    }

    /// For messages: the file, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Postgres(url) => redact(url),
            Location::Sqlite(path) => path.display().to_string(),
        }
    }
}

/// The URL with any password replaced by `***`, for output and errors (the store's own).
pub use store::redact_location as redact;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    location: LocationArgs,
    #[arg(short, long = "output", value_enum, default_value = "table")]
    output: Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let location = args.location.resolve()?;
    if let Location::Sqlite(path) = &location {
        // A typo in --data-dir should not create an empty store somewhere.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    }
    let target = location.as_store_location()?;
    let shown = location.display();
    let result = crate::app::runtime()?.block_on(store::migrate(&target));
    let report = match result {
        Ok(report) => report,
        Err(e @ store::StoreError::SchemaTooNew { .. }) => {
            eprintln!("nines migrate: {shown}: {e}");
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("migrating {shown}")));
        }
    };
    match args.output {
        Format::Json => {
            let doc = serde_json::json!({
                "store": shown,
                "from": report.from,
                "to": report.to,
                "applied": report.applied.iter().map(|m| serde_json::json!({
                    "version": m.version,
                    "description": m.description,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table if report.applied.is_empty() => {
            println!("{shown}: schema version {} is current", report.to);
        }
        Format::Table => {
            println!(
                "{shown}: schema version {} -> {} ({} migration(s))",
                report.from,
                report.to,
                report.applied.len()
            );
            for m in &report.applied {
                println!("  {:>3}  {}", m.version, m.description);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_output() {
        assert_eq!(
            redact("postgres://nines:s3cr:et@db.example.com:5432/nines?sslmode=require"),
            "postgres://nines:***@db.example.com:5432/nines?sslmode=require"
        );
        assert_eq!(redact("postgres://p%40ss@db/x"), "postgres://p%40ss@db/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("postgresql://u:p@h"), "postgresql://u:***@h");
        assert_eq!(redact("/var/lib/nines/nines.db"), "/var/lib/nines/nines.db");
        // A '/' in the password: the host starts after the last '@', not at the first '/'.
        assert_eq!(redact("postgres://u:pa/ss@db/x"), "postgres://u:***@db/x");
    }
}
