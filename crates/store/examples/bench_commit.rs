//! commit_ingest throughput, SQLite against PostgreSQL, on the same batches: first into new
//! buckets (inserts), then the same buckets again (additive updates). PostgreSQL runs in a
//! throw-away cluster ([`store::testing::PgCluster`]) on this machine, so both pay for durable
//! commits (fsync) on the same disk.
//!
//! `cargo run --release -p store --example bench_commit -- [DELTAS] [BATCH]`

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use store::testing::PgCluster;
use store::{CounterDelta, FilePosition, IngestBatch, PgStore, SqliteStore, Store};

const SERIES: usize = 50;

fn batches(deltas: usize, batch_size: usize) -> Vec<IngestBatch> {
    let names: Vec<String> = (0..SERIES)
        .map(|i| format!("svc{i}/availability"))
        .collect();
    let mut out = Vec::new();
    let mut done = 0;
    while done < deltas {
        let n = batch_size.min(deltas - done);
        out.push(IngestBatch {
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
                fingerprint: "bench".into(),
            }],
            ..Default::default()
        });
        done += n;
    }
    out
}

/// Deltas per second of (insert pass, update pass).
async fn run(store: &dyn Store, batches: &[IngestBatch]) -> Result<[f64; 2], Box<dyn Error>> {
    let deltas: usize = batches.iter().map(|b| b.deltas.len()).sum();
    let mut rates = [0.0; 2];
    for rate in &mut rates {
        let started = Instant::now();
        for batch in batches {
            store.commit_ingest(batch).await?;
        }
        *rate = deltas as f64 / started.elapsed().as_secs_f64();
    }
    Ok(rates)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let deltas: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let batch_size: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let batches = batches(deltas, batch_size);

    let temp = tempfile::tempdir()?;
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&temp.path().join("bench.db")).await?);
    let cluster = PgCluster::start()?;
    let url = cluster.create_database("bench").await?;
    let postgres: Arc<dyn Store> = Arc::new(PgStore::open(&url).await?);

    println!(
        "{deltas} deltas in {} commits of {batch_size}, {SERIES} series",
        batches.len()
    );
    let s = run(sqlite.as_ref(), &batches).await?;
    let p = run(postgres.as_ref(), &batches).await?;
    for (i, pass) in ["insert (new buckets)", "update (existing buckets)"]
        .iter()
        .enumerate()
    {
        println!(
            "{pass}: sqlite {:.0} deltas/s, postgres {:.0} deltas/s, postgres/sqlite = {:.2}",
            s[i],
            p[i],
            p[i] / s[i]
        );
    }
    sqlite.close().await?;
    postgres.close().await?;
    Ok(())
}
