//! `nines backup` and `nines restore` for the embedded store.
//!
//! A backup is one SQLite file written by [`store::SqliteStore::backup_to`] while the server
//! goes on serving: a single read snapshot, so it holds every transaction committed before it
//! began and none after (counters of one request, an audit record and the change it covers,
//! are in it together or not at all). It is written beside the target, synced, then renamed,
//! so a crash leaves no half-written backup under the target's name.
//!
//! The audit key is deliberately not in the backup: the chain's MACs only prove something while
//! the key is kept apart from the data. Keep `<data-dir>/audit.key` (or the file given with
//! `--audit-key-file`) safe separately; `nines audit verify` on a restored store needs it.
//!
//! Exit codes: 0 done; 1 refused (target exists, data dir holds a store, not a nines backup, a
//! backup from a newer nines); 2 usage, a PostgreSQL store (use pg_dump); 3 runtime failure.

use crate::cmd_migrate::{Location, LocationArgs};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store as _;

/// Name of the embedded store's file in a data directory.
const DB_FILE: &str = "nines.db";

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    location: LocationArgs,
    /// The backup file to write; refused if it exists. `-` writes it to standard output
    /// (staged in the data directory first), e.g. through `kubectl exec` from an image
    /// without a shell or tar.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
    #[arg(short, long = "output", value_enum, default_value = "table")]
    output: Format,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A file written by `nines backup`; `-` reads it from standard input.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The data directory to restore into (created if missing). Stop its server first.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Replace the store already in the data directory; the old files are kept beside it as
    /// `nines.db.before-restore-<unix time>`.
    #[arg(long)]
    force: bool,
    #[arg(short, long = "output", value_enum, default_value = "table")]
    output: Format,
}

/// A refusal: printed as is, exit 1.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(command: &str, result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            eprintln!("nines {command}: {e}");
            Ok(ExitCode::from(crate::EXIT_INVALID))
        }
        other => other,
    }
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let db = match args.location.resolve()? {
        Location::Sqlite(db) => db,
        Location::Postgres(url) => {
            eprintln!(
                "nines backup: {} is a PostgreSQL store: back it up with PostgreSQL's own tools \
                 (pg_dump --format=custom, or your provider's snapshots); nines backup copies the \
                 embedded store only",
                crate::cmd_migrate::redact(&url)
            );
            return Ok(ExitCode::from(2));
        }
    };
    refused("backup", do_backup(&db, &args.to, args.output))
}

fn do_backup(db: &Path, to: &Path, output: Format) -> anyhow::Result<ExitCode> {
    if !db.is_file() {
        return Err(Refused(format!("there is no store at {}", db.display())).into());
    }
    let to_stdout = to == Path::new("-");
    if !to_stdout && std::fs::symlink_metadata(to).is_ok() {
        return Err(Refused(format!("{} exists; choose a new file", to.display())).into());
    }
    let partial = if to_stdout {
        sibling(db, &format!(".backup-{}", std::process::id()))?
    } else {
        sibling(to, &format!(".partial-{}", std::process::id()))?
    };
    let started = std::time::Instant::now();
    let version = crate::app::runtime()?.block_on(async {
        // As it is: a newer nines must not migrate the file under a running older server.
        let (store, version) = store::SqliteStore::open_unmigrated(db)
            .await
            .with_context(|| format!("opening {}", db.display()))?;
        let copied = store.backup_to(&partial).await;
        store.close().await?;
        copied.with_context(|| format!("writing {}", partial.display()))?;
        anyhow::Ok(version)
    });
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if to_stdout {
        let streamed = std::fs::File::open(&partial)
            .and_then(|mut f| std::io::copy(&mut f, &mut std::io::stdout().lock()));
        let _ = std::fs::remove_file(&partial);
        let bytes = streamed.context("writing the backup to standard output")?;
        eprintln!(
            "nines backup: wrote {} to standard output ({bytes} bytes, schema version {version}, {:.2}s); \
             the audit key is not in the backup: keep it safe separately",
            db.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    // VACUUM INTO does not sync its output: make the copy durable before it takes the name.
    // Only its owner may read it: it holds token hashes and the audit log.
    let installed = owner_only(&partial)
        .and_then(|()| sync_file(&partial))
        .and_then(|()| std::fs::rename(&partial, to).map_err(Into::into))
        .and_then(|()| sync_parent(to));
    if let Err(e) = installed {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context(format!("writing {}", to.display())));
    }
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    let seconds = started.elapsed().as_secs_f64();
    match output {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "store": db.display().to_string(),
                "backup": to.display().to_string(),
                "bytes": bytes,
                "schema_version": version,
                "seconds": seconds,
            }))?
        ),
        Format::Table => println!(
            "backed up {} to {} ({bytes} bytes, schema version {version}, {seconds:.2}s)",
            db.display(),
            to.display()
        ),
    }
    eprintln!(
        "nines backup: the audit key is not in the backup; keep it (<data-dir>/audit.key or your \
         --audit-key-file) safe separately"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    refused("restore", do_restore(&args))
}

fn do_restore(args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let from = &args.from;
    let from_stdin = from == Path::new("-");
    if !from_stdin && !from.is_file() {
        return Err(Refused(format!("{} is not a file", from.display())).into());
    }
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join(DB_FILE);
    let existing: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| dir.join(format!("{DB_FILE}{suffix}")))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(Refused(format!(
            "{} already holds a store ({DB_FILE}); stop its server and pass --force to replace it",
            dir.display()
        ))
        .into());
    }

    // Work on a copy in the target directory: the backup file itself stays untouched, and the
    // final step is a rename within one file system.
    let staged = dir.join(format!(".{DB_FILE}.restore-{}", std::process::id()));
    let cleanup = |staged: &Path| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
        }
    };
    let copied = if from_stdin {
        std::fs::File::create(&staged)
            .and_then(|mut f| std::io::copy(&mut std::io::stdin().lock(), &mut f))
    } else {
        std::fs::copy(from, &staged)
    };
    if let Err(e) = copied {
        cleanup(&staged);
        return Err(anyhow::Error::new(e).context(format!(
            "copying {} to {}",
            from.display(),
            staged.display()
        )));
    }
    let opened = crate::app::runtime()?.block_on(async {
        let (store, report) = store::SqliteStore::open_and_migrate(&staged).await?;
        store.close().await?;
        Ok::<_, store::StoreError>(report)
    });
    let report = match opened {
        Ok(report) if report.from == 0 => {
            cleanup(&staged);
            return Err(Refused(format!(
                "{} is not a nines backup (it holds no nines schema)",
                from.display()
            ))
            .into());
        }
        Ok(report) => report,
        Err(store::StoreError::SchemaTooNew {
            found, supported, ..
        }) => {
            cleanup(&staged);
            return Err(Refused(format!(
                "{} was written by a newer nines (schema version {found}; this binary knows up to \
                 {supported}): restore it with that version or a later one",
                from.display()
            ))
            .into());
        }
        Err(e) => {
            cleanup(&staged);
            return Err(Refused(format!(
                "{} is not a usable nines backup: {e}",
                from.display()
            ))
            .into());
        }
    };
    owner_only(&staged)?;
    sync_file(&staged)?;

    let mut kept = None;
    if !existing.is_empty() {
        let stamp = jiff::Timestamp::now().as_second();
        let aside = dir.join(format!("{DB_FILE}.before-restore-{stamp}"));
        for path in &existing {
            let suffix = path
                .to_string_lossy()
                .strip_prefix(&db.to_string_lossy().to_string())
                .unwrap_or("")
                .to_string();
            let target = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(path, &target)
                .with_context(|| format!("moving {} aside", path.display()))?;
        }
        kept = Some(aside);
    }
    // A write-ahead log left by the check travels with its database (SQLite finds it by name).
    let staged_wal = PathBuf::from(format!("{}-wal", staged.display()));
    if staged_wal.exists() {
        std::fs::rename(&staged_wal, format!("{}-wal", db.display()))
            .context("moving the restored write-ahead log")?;
    }
    let _ = std::fs::remove_file(format!("{}-shm", staged.display()));
    std::fs::rename(&staged, &db).with_context(|| format!("installing {}", db.display()))?;
    sync_parent(&db)?;

    match args.output {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "backup": from.display().to_string(),
                "store": db.display().to_string(),
                "schema_from": report.from,
                "schema_to": report.to,
                "replaced": kept.as_ref().map(|p| p.display().to_string()),
            }))?
        ),
        Format::Table => {
            print!("restored {} into {}", from.display(), db.display());
            if report.applied.is_empty() {
                println!(" (schema version {})", report.to);
            } else {
                println!(" (schema version {} -> {})", report.from, report.to);
            }
            if let Some(p) = &kept {
                println!("the replaced store is kept as {}", p.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} names no file", path.display()))?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(path.with_file_name(name))
}

fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
    }
    Ok(())
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}
