//! Throughput of SQLite ingest commits: 1,000,000 counter deltas in batches, first into new buckets
//! (inserts), then the same buckets again (additive updates).
//!
//! `cargo run --release -p store --example bulk -- [DELTAS] [BATCH] [DIR]`

use std::error::Error;
use std::time::Instant;

use store::{CounterDelta, FilePosition, IngestBatch, SqliteStore, Store};

const SERIES: usize = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let deltas: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let batch_size: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    // A directory on the disk under test; a temporary one by default.
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let path = dir.join("bulk-nines.db");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).await?;
    let names: Vec<String> = (0..SERIES)
        .map(|i| format!("svc{i}/availability"))
        .collect();

    for pass in ["insert (new buckets)", "update (existing buckets)"] {
        let started = Instant::now();
        let mut done = 0;
        let mut commits = 0;
        while done < deltas {
            let n = batch_size.min(deltas - done);
            // Minute buckets, series interleaved as an aggregator emits them.
            let batch = IngestBatch {
                deltas: (done..done + n)
                    .map(|i| CounterDelta {
                        series: names[i % SERIES].clone(),
                        bucket_start: 1_700_000_000 + 60 * i64::try_from(i / SERIES).unwrap_or(0),
                        good: 99,
                        total: 100,
                    })
                    .collect(),
                positions: vec![FilePosition {
                    source: "/var/log/nginx/access.log".into(),
                    offset: u64::try_from(done + n).unwrap_or(0) * 200,
                    line: u64::try_from(done + n).unwrap_or(0),
                    fingerprint: "bulk".into(),
                }],
                ..Default::default()
            };
            store.commit_ingest(&batch).await?;
            done += n;
            commits += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{pass}: {deltas} deltas in {commits} commits of {batch_size} in {secs:.2} s = {:.0} deltas/s",
            deltas as f64 / secs
        );
    }
    let check = store.counts(&names[0], i64::MIN, i64::MAX).await?;
    let expected_buckets = deltas.div_ceil(SERIES);
    if check.len() != expected_buckets || check.iter().any(|c| c.total != 200 || c.good != 198) {
        return Err(format!("unexpected counts read back: {} buckets", check.len()).into());
    }
    store.close().await?;
    println!(
        "database: {} ({} MiB)",
        path.display(),
        std::fs::metadata(&path)?.len() / (1 << 20)
    );
    Ok(())
}
