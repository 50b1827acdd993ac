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

/// Bytes read and classified per step; bounds memory whatever the file size.
const BLOCK_BYTES: usize = 16 << 20;
/// Piece of a block one thread classifies at a time.
const PIECE_BYTES: usize = 1 << 20;
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
        service: None,
        from_start: false,
        store: crate::StoreArgs {
            data_dir: data_dir.to_path_buf(),
        },
        threads: None,
        output: SummaryFormat::Table,
    })
}

fn access_log(args: AccessLogArgs) -> anyhow::Result<ExitCode> {
    let config = app::load_config(&args.config)?;
    let (classifier, mut targets, bucket_seconds) =
        access_log_targets(&config, args.service.as_deref());
    if targets.is_empty() {
        anyhow::bail!(
            "no SLO with `source: access_log`{} in the configuration: nothing to feed",
            args.service
                .as_deref()
                .map(|s| format!(" for service {s:?}"))
                .unwrap_or_default()
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = app::runtime()?;
    let store = rt.block_on(app::open_store(&args.store.data_dir))?;
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

/// The classifier over every access-log SLI, the series each feeds, and the bucket width
/// that all of their widths are multiples of.
fn access_log_targets(
    config: &spec::Config,
    service: Option<&str>,
) -> (Classifier, Vec<Target>, u32) {
    let mut matchers = Vec::new();
    let mut targets = Vec::new();
    let mut bucket: i64 = 0;
    for svc in config
        .services
        .iter()
        .filter(|s| service.is_none_or(|n| s.name == n))
    {
        for slo in &svc.slos {
            if let (spec::SourceKind::AccessLog, spec::SliQuery::Matchers(m)) =
                (&slo.sli.source, &slo.sli.query)
            {
                matchers.push((targets.len(), m.clone()));
                targets.push(Target {
                    key: slo.spec.key(),
                    good: 0,
                    total: 0,
                    skipped_no_latency: 0,
                });
                bucket = gcd(bucket, slo.spec.bucket_seconds);
            }
        }
    }
    let bucket = u32::try_from(bucket.max(1)).unwrap_or(60);
    (Classifier::new(matchers), targets, bucket)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
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
    let (mut reader, source_key, len): (Box<dyn Read>, Option<String>, Option<u64>) = if is_stdin {
        (Box::new(std::io::stdin().lock()), None, None)
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
        Some(FormatArg::Json) => LogFormat::Json(ingest::JsonFields::default()),
        None => LogFormat::detect(&head),
    };

    let progress = progress_bar(len.map(|l| l.saturating_sub(offset)));
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK_BYTES);
    let mut carry: Vec<u8> = Vec::new();
    let mut block = vec![0u8; BLOCK_BYTES];
    let mut total = ChunkResult::default();
    loop {
        let n = read_full(&mut reader, &mut block)?;
        let eof = n < block.len();
        buf.clear();
        buf.extend_from_slice(&carry);
        buf.extend_from_slice(&block[..n]);
        // Only whole lines now; at end of input the last line counts even without a newline.
        let cut = if eof {
            buf.len()
        } else {
            ingest::split_at_line_boundary(&buf)
        };
        carry = buf[cut..].to_vec();
        let data = &buf[..cut];
        if !data.is_empty() {
            let result = ingest::process_parallel(
                data,
                &format,
                classifier,
                bucket_seconds,
                threads,
                PIECE_BYTES,
            );
            let consumed = data.len() as u64;
            offset += consumed;
            summary.bytes += consumed;
            let lines_before = line_base + total.lines;
            let batch = store::IngestBatch {
                deltas: result
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
                        offset,
                        line: lines_before + result.lines,
                        fingerprint: file_fingerprint.clone(),
                    })
                    .collect(),
            };
            rt.block_on(store.commit_ingest(&batch))?;
            for (&(sli, _), c) in &result.counts {
                targets[sli].good += c.good;
                targets[sli].total += c.total;
            }
            for (&sli, n) in &result.skipped_no_latency {
                targets[sli].skipped_no_latency += n;
            }
            total.merge(result);
            progress.inc(consumed);
        }
        if eof {
            break;
        }
    }
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
