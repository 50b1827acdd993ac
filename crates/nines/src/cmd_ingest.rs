//! `nines ingest access-log FILE...`: stream files through the parsers into the store.
//!
//! Files are read in blocks of whole lines; each block is classified on all cores and its
//! counters are committed together with the file's new position in one transaction, so an
//! interrupted run resumes exactly where the store says it stopped: nothing is counted twice
//! and nothing is skipped.

use crate::app;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ingest::{ChunkResult, Classifier, LogFormat};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The first line (up to this many bytes) identifies a file across runs.
const FINGERPRINT_BYTES: usize = 1024;

#[derive(clap::Subcommand)]
pub enum Source {
    /// Ingest nginx/Apache access logs (combined, optionally with $request_time) or JSON lines.
    AccessLog(AccessLogArgs),
}

#[derive(clap::Args)]
pub struct AccessLogArgs {
    /// Log files; `-` reads standard input. Re-running reads only lines added since.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Configuration file(s).
    #[arg(short, long = "config", required = true)]
    config: Vec<PathBuf>,
    /// Line format; guessed from the first line when omitted.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// JSON lines: read ROLE from the key NAME (repeatable; repeating a role lists
    /// alternatives). Roles: time, method, path, request, status, request_time, host, bytes.
    /// Example: --json-field time=ts --json-field request_time=duration_s
    #[arg(long, value_name = "ROLE=NAME", value_parser = parse_json_field)]
    json_field: Vec<(JsonRole, String)>,
    /// Feed only this service's SLIs.
    #[arg(long)]
    service: Option<String>,
    /// Read every file from its first line, even if it was ingested before (counts add up again).
    #[arg(long)]
    from_start: bool,
    #[command(flatten)]
    store: crate::StoreArgs,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the summary as JSON.
    #[arg(short, long, value_enum, default_value_t = SummaryFormat::Table)]
    output: SummaryFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Combined,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum JsonRole {
    Time,
    Method,
    Path,
    Request,
    Status,
    RequestTime,
    Host,
    Bytes,
}

fn parse_json_field(text: &str) -> Result<(JsonRole, String), String> {
    let (role, name) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ROLE=NAME, got {text:?}"))?;
    let role = match role.trim() {
        "time" => JsonRole::Time,
        "method" => JsonRole::Method,
        "path" => JsonRole::Path,
        "request" => JsonRole::Request,
        "status" => JsonRole::Status,
        "request_time" => JsonRole::RequestTime,
        "host" => JsonRole::Host,
        "bytes" => JsonRole::Bytes,
        other => {
            return Err(format!(
                "unknown role {other:?}: expected time, method, path, request, status, request_time, host or bytes"
            ))
        }
    };
    if name.is_empty() {
        return Err("the JSON key name is empty".into());
    }
    Ok((role, name.to_string()))
}

/// The default JSON keys with the roles named on the command line replaced.
fn json_fields(overrides: &[(JsonRole, String)]) -> ingest::JsonFields {
    let mut fields = ingest::JsonFields::default();
    let mut replaced: Vec<JsonRole> = Vec::new();
    for (role, name) in overrides {
        let list = match role {
            JsonRole::Time => &mut fields.time,
            JsonRole::Method => &mut fields.method,
            JsonRole::Path => &mut fields.path,
            JsonRole::Request => &mut fields.request,
            JsonRole::Status => &mut fields.status,
            JsonRole::RequestTime => &mut fields.request_time,
            JsonRole::Host => &mut fields.host,
            JsonRole::Bytes => &mut fields.bytes,
        };
        if !replaced.contains(role) {
            list.clear();
            replaced.push(*role);
        }
        list.push(name.clone());
    }
    fields
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SummaryFormat {
    Table,
    Json,
}

/// One SLI fed by this run.
struct Target {
    key: String,
    good: u64,
    total: u64,
    skipped_no_latency: u64,
}

#[derive(Default, serde::Serialize)]
struct FileSummary {
    file: String,
    /// Line number (1-based) the run started at; > 1 when resuming.
    started_at_line: u64,
    lines: u64,
    accepted: u64,
    rejected: u64,
    bytes: u64,
    first_rejections: Vec<RejectionOut>,
    note: Option<String>,
}

#[derive(serde::Serialize)]
struct RejectionOut {
    line: u64,
    reason: String,
}

pub fn run(source: Source) -> anyhow::Result<ExitCode> {
    match source {
        Source::AccessLog(args) => access_log(args),
    }
}

/// Ingests access logs with default options (the demo's path through the same code).
pub fn run_paths(
    files: &[PathBuf],
    config: &[PathBuf],
    data_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    access_log(AccessLogArgs {
        files: files.to_vec(),
        config: config.to_vec(),
        format: None,
        json_field: Vec::new(),
        service: None,
        from_start: false,
        store: crate::StoreArgs::embedded(data_dir),
        threads: None,
        output: SummaryFormat::Table,
    })
}

fn access_log(args: AccessLogArgs) -> anyhow::Result<ExitCode> {
    let config = app::load_config(&args.config)?;
    let Some(server::loaded::LogTargets {
        classifier,
        keys,
        bucket_seconds,
    }) = server::loaded::access_log_targets(&config, args.service.as_deref())
    else {
        anyhow::bail!(
            "no SLO with `source: access_log`{} in the configuration: nothing to feed",
            args.service
                .as_deref()
                .map(|s| format!(" for service {s:?}"))
                .unwrap_or_default()
        );
    };
    let mut targets: Vec<Target> = keys
        .into_iter()
        .map(|key| Target {
            key,
            good: 0,
            total: 0,
            skipped_no_latency: 0,
        })
        .collect();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = app::runtime()?;
    let store = rt.block_on(app::open_store(&args.store))?;
    let started = Instant::now();
    let mut summaries = Vec::new();
    for path in &args.files {
        let summary = ingest_file(
            &rt,
            store.as_ref(),
            path,
            &args,
            &classifier,
            &mut targets,
            bucket_seconds,
            threads,
        )
        .with_context(|| format!("ingesting {}", path.display()))?;
        summaries.push(summary);
    }
    let seconds = started.elapsed().as_secs_f64();
    print_summary(&args, &summaries, &targets, seconds);
    Ok(ExitCode::SUCCESS)
}

/// FNV-1a 64 of the first line: tells "the same file, grown" from "a new file at this path".
fn fingerprint(head: &[u8]) -> String {
    let line = match memchr::memchr(b'\n', head) {
        Some(i) => &head[..=i],
        None => head,
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in line {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[allow(clippy::too_many_arguments)]
fn ingest_file(
    rt: &tokio::runtime::Runtime,
    store: &dyn store::Store,
    path: &PathBuf,
    args: &AccessLogArgs,
    classifier: &Classifier,
    targets: &mut [Target],
    bucket_seconds: u32,
    threads: usize,
) -> anyhow::Result<FileSummary> {
    let is_stdin = path.as_os_str() == "-";
    let mut summary = FileSummary {
        file: path.display().to_string(),
        started_at_line: 1,
        ..Default::default()
    };
    let (mut reader, source_key, len): (Box<dyn Read + Send>, Option<String>, Option<u64>) =
        if is_stdin {
            (Box::new(std::io::stdin()), None, None)
        } else {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let key = std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string();
            let len = file.metadata().map(|m| m.len()).ok();
            (Box::new(file), Some(key), len)
        };

    // Where to start: the recorded position, unless the file was replaced or truncated.
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    let mut offset = 0u64;
    let mut line_base = 0u64;
    let mut file_fingerprint = String::new();
    if let Some(key) = &source_key {
        let mut f = File::open(path)?;
        let n = read_full(&mut f, &mut head)?;
        head.truncate(n);
        file_fingerprint = fingerprint(&head);
        let previous = rt.block_on(store.position(key))?;
        if let Some(pos) = previous.filter(|_| !args.from_start) {
            if pos.fingerprint == file_fingerprint && len.is_some_and(|l| l >= pos.offset) {
                offset = pos.offset;
                line_base = pos.line;
            } else {
                summary.note = Some("the file was replaced or truncated since the last run: reading it from the start".into());
            }
        }
        if offset > 0 {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            reader = Box::new(file);
        }
    }
    summary.started_at_line = line_base + 1;

    let format = match args.format {
        Some(FormatArg::Combined) => LogFormat::Combined,
        Some(FormatArg::Json) => LogFormat::Json(json_fields(&args.json_field)),
        None if !args.json_field.is_empty() => LogFormat::Json(json_fields(&args.json_field)),
        None => match LogFormat::detect(&head) {
            LogFormat::Json(_) => LogFormat::Json(json_fields(&args.json_field)),
            other => other,
        },
    };

    let progress = progress_bar(len.map(|l| l.saturating_sub(offset)));
    let run = Pipeline {
        format: &format,
        classifier,
        bucket_seconds,
        threads,
        block_bytes: BLOCK,
        commit_bytes: COMMIT_BYTES,
    };
    let mut commit =
        |pending: &ChunkResult, consumed: u64, lines_so_far: u64| -> anyhow::Result<()> {
            let batch = store::IngestBatch {
                deltas: pending
                    .counts
                    .iter()
                    .map(|(&(sli, bucket_start), c)| store::CounterDelta {
                        series: targets[sli].key.clone(),
                        bucket_start,
                        good: c.good,
                        total: c.total,
                    })
                    .collect(),
                positions: source_key
                    .iter()
                    .map(|key| store::FilePosition {
                        source: key.clone(),
                        offset: offset + consumed,
                        line: line_base + lines_so_far,
                        fingerprint: file_fingerprint.clone(),
                    })
                    .collect(),
                ..Default::default()
            };
            rt.block_on(store.commit_ingest(&batch))?;
            for (&(sli, _), c) in &pending.counts {
                targets[sli].good += c.good;
                targets[sli].total += c.total;
            }
            for (&sli, n) in &pending.skipped_no_latency {
                targets[sli].skipped_no_latency += n;
            }
            progress.set_position(consumed);
            Ok(())
        };
    let (total, consumed) = run.run(reader, &mut commit)?;
    summary.bytes = consumed;
    progress.finish_and_clear();
    summary.lines = total.lines;
    summary.accepted = total.accepted;
    summary.rejected = total.rejected;
    summary.first_rejections = total
        .rejections
        .iter()
        .map(|r| RejectionOut {
            line: line_base + r.line + 1,
            reason: r.reason.to_string(),
        })
        .collect();
    Ok(summary)
}

/// Bytes read per block: big enough to amortize the channel, small enough to balance threads.
const BLOCK: u64 = 4 << 20;
/// Counters and the position are committed at least this often (in bytes of input); each
/// commit is one fsync, so fewer is faster, and nothing is lost either way: a crash replays
/// from the last committed position.
const COMMIT_BYTES: u64 = 256 << 20;

/// Reader thread → worker threads (one `ingest::Worker` each, caches kept warm) → this
/// thread, which merges results in input order and commits them.
struct Pipeline<'a> {
    format: &'a LogFormat,
    classifier: &'a Classifier,
    bucket_seconds: u32,
    threads: usize,
    block_bytes: u64,
    commit_bytes: u64,
}

impl Pipeline<'_> {
    /// Processes all of `reader`; calls `commit(pending, bytes_consumed, lines_consumed)`
    /// every [`COMMIT_BYTES`] and at the end. Returns the merged result and bytes consumed.
    fn run(
        &self,
        mut reader: Box<dyn Read + Send>,
        commit: &mut dyn FnMut(&ChunkResult, u64, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<(ChunkResult, u64)> {
        use std::sync::mpsc::{channel, sync_channel};
        use std::sync::{Arc, Mutex};

        let (block_tx, block_rx) = sync_channel::<(usize, Vec<u8>)>(self.threads * 2);
        let block_rx = Arc::new(Mutex::new(block_rx));
        let (result_tx, result_rx) = channel::<(usize, u64, ChunkResult)>();
        // Processed blocks come back for reuse: fresh multi-MiB buffers would be mapped and
        // page-faulted in again for every block.
        let (free_tx, free_rx) = channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            let read = scope.spawn(move || -> std::io::Result<()> {
                let mut carry: Vec<u8> = Vec::new();
                let mut seq = 0usize;
                loop {
                    let mut block = free_rx.try_recv().unwrap_or_default();
                    block.clear();
                    block.reserve(carry.len() + self.block_bytes as usize);
                    block.append(&mut carry);
                    let n = (&mut reader)
                        .take(self.block_bytes)
                        .read_to_end(&mut block)?;
                    let eof = n == 0;
                    // Whole lines only; at the end of input a last line without a newline counts.
                    if !eof {
                        let cut = ingest::split_at_line_boundary(&block);
                        if cut == 0 {
                            carry = block; // one line longer than a block: keep reading
                            continue;
                        }
                        carry = block.split_off(cut);
                    }
                    if !block.is_empty() {
                        if block_tx.send((seq, block)).is_err() {
                            break; // the consumer stopped (an error elsewhere)
                        }
                        seq += 1;
                    }
                    if eof {
                        break;
                    }
                }
                Ok(())
            });
            for _ in 0..self.threads.max(1) {
                let block_rx = Arc::clone(&block_rx);
                let result_tx = result_tx.clone();
                let free_tx = free_tx.clone();
                scope.spawn(move || {
                    let mut worker = ingest::Worker::new(self.format, self.classifier);
                    loop {
                        // A poisoned lock means a sibling panicked; stop quietly, the join reports it.
                        let next = match block_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok((seq, block)) = next else { break };
                        let result = worker.process(&block, self.bucket_seconds);
                        if result_tx.send((seq, block.len() as u64, result)).is_err() {
                            break;
                        }
                        // The reader may have finished; then the buffer is simply dropped.
                        let _ = free_tx.send(block);
                    }
                });
            }
            drop(result_tx);
            drop(free_tx);

            // Merge in input order: results arrive in any order from the workers.
            let mut waiting = BTreeMap::new();
            let mut next_seq = 0usize;
            let mut total = ChunkResult::default();
            let mut pending = ChunkResult::default();
            let (mut consumed, mut pending_bytes) = (0u64, 0u64);
            let mut failure = None;
            for (seq, bytes, result) in result_rx.iter() {
                waiting.insert(seq, (bytes, result));
                while let Some((bytes, result)) = waiting.remove(&next_seq) {
                    next_seq += 1;
                    pending.merge(result);
                    pending_bytes += bytes;
                    if pending_bytes >= self.commit_bytes && failure.is_none() {
                        let lines = total.lines + pending.lines;
                        if let Err(e) = commit(&pending, consumed + pending_bytes, lines) {
                            failure = Some(e);
                        }
                        consumed += pending_bytes;
                        pending_bytes = 0;
                        total.merge(std::mem::take(&mut pending));
                    }
                }
            }
            let read_result = read.join();
            if let Some(e) = failure {
                return Err(e);
            }
            match read_result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context("reading the input")),
                Err(_) => anyhow::bail!("the reader thread panicked"),
            }
            let lines = total.lines + pending.lines;
            if pending_bytes > 0 || pending.lines > 0 {
                commit(&pending, consumed + pending_bytes, lines)?;
            }
            consumed += pending_bytes;
            total.merge(pending);
            Ok((total, consumed))
        })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    }
}

fn print_summary(args: &AccessLogArgs, files: &[FileSummary], targets: &[Target], seconds: f64) {
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let mb_per_s = if seconds > 0.0 {
        bytes as f64 / 1e6 / seconds
    } else {
        0.0
    };
    if args.output == SummaryFormat::Json {
        let slis: BTreeMap<&str, serde_json::Value> = targets
            .iter()
            .map(|t| {
                (
                    t.key.as_str(),
                    serde_json::json!({"good": t.good, "total": t.total, "skipped_no_latency": t.skipped_no_latency}),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "files": files,
            "lines": files.iter().map(|f| f.lines).sum::<u64>(),
            "accepted": files.iter().map(|f| f.accepted).sum::<u64>(),
            "rejected": files.iter().map(|f| f.rejected).sum::<u64>(),
            "bytes": bytes,
            "seconds": seconds,
            "mb_per_s": mb_per_s,
            "slos": slis,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    for f in files {
        if let Some(note) = &f.note {
            eprintln!("{}: note: {note}", f.file);
        }
        for r in &f.first_rejections {
            eprintln!("{}:{}: rejected: {}", f.file, r.line, r.reason);
        }
        if f.rejected > f.first_rejections.len() as u64 {
            eprintln!(
                "{}: ... and {} more rejected line(s)",
                f.file,
                f.rejected - f.first_rejections.len() as u64
            );
        }
        let resumed = if f.started_at_line > 1 {
            format!(" (resumed at line {})", f.started_at_line)
        } else {
            String::new()
        };
        println!(
            "{}: {} lines, {} accepted, {} rejected{}",
            f.file, f.lines, f.accepted, f.rejected, resumed
        );
    }
    for t in targets {
        let skipped = if t.skipped_no_latency > 0 {
            format!(" ({} without a request time skipped)", t.skipped_no_latency)
        } else {
            String::new()
        };
        println!(
            "  {:<32} good {:>10}  total {:>10}{}",
            t.key, t.good, t.total, skipped
        );
    }
    println!(
        "{:.1} MB in {:.2} s ({:.0} MB/s)",
        bytes as f64 / 1e6,
        seconds,
        mb_per_s
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        let api = ingest::SliMatcher {
            total: ingest::Selector {
                path: regex::Regex::new("^/api/").ok(),
                ..Default::default()
            },
            good: ingest::GoodCondition {
                status: ingest::StatusSet::parse("<500").ok(),
                latency: None,
            },
        };
        Classifier::new([(0, api)])
    }

    #[test]
    fn pipeline_equals_one_pass_whatever_the_block_and_commit_sizes() {
        let mut log = Vec::new();
        crate::demo::write_log(&mut log, 20_000).unwrap_or_default();
        // A malformed line and a line longer than a block, in the middle.
        log.extend_from_slice(b"garbage\n");
        log.extend_from_slice(format!("{}\n", "x".repeat(5000)).as_bytes());
        crate::demo::write_log(&mut log, 3_000).unwrap_or_default();
        log.extend_from_slice(b"no newline at the end");
        let classifier = classifier();
        let format = LogFormat::Combined;
        let whole = ingest::process_chunk(&log, &format, &classifier, 60);

        for (block_bytes, commit_bytes, threads) in
            [(1000, 10_000, 2), (4096, 1, 3), (1 << 20, 1 << 30, 1)]
        {
            let pipeline = Pipeline {
                format: &format,
                classifier: &classifier,
                bucket_seconds: 60,
                threads,
                block_bytes,
                commit_bytes,
            };
            let mut committed = ChunkResult::default();
            let mut commits = Vec::new();
            let mut commit = |pending: &ChunkResult, consumed: u64, lines: u64| {
                committed.merge(pending.clone());
                commits.push((consumed, lines));
                anyhow::Ok(())
            };
            let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(log.clone()));
            let (total, consumed) = pipeline.run(reader, &mut commit).unwrap_or_default();
            assert_eq!(total, whole, "block {block_bytes}");
            assert_eq!(committed.counts, whole.counts);
            assert_eq!(consumed, log.len() as u64);
            assert_eq!(
                commits.last().copied(),
                Some((log.len() as u64, whole.lines))
            );
            assert!(commits
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
            if commit_bytes < 1 << 20 {
                assert!(
                    commits.len() > 3,
                    "commits happen as the input goes: {commits:?}"
                );
            }
            assert_eq!(total.rejected, 3);
        }
    }
}
