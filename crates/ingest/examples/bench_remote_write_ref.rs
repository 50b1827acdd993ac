//! Micro-benchmark of the server's remote-write path against the owned one: snappy + prost
//! into `WriteRequest` (a `String` per label) and classify, versus snappy + the borrowed
//! `WriteRequestRef` and `classify_ref`. Requests: `series` series × `samples` samples with
//! 10 sorted labels each, a third of them matching no SLI.
//!
//! `cargo run --release -p ingest --example bench_remote_write_ref [series] [samples] [rounds]`

use std::time::{Duration, Instant};

use ingest::remote_write::{
    decompress, encode_write_request, Label, Sample, TimeSeries, WriteRequestRef,
};
use ingest::{
    decode_write_request, CounterTracker, FirstSample, GoodSeries, RemoteWriteClassifier,
    SeriesSelector, SeriesSli, SliIncrement, WriteRequest,
};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn request(series: usize, samples: usize, round: usize) -> WriteRequest {
    const JOBS: [&str; 4] = ["checkout", "cart", "search", "auth"];
    let timeseries = (0..series)
        .map(|i| {
            let job = JOBS[i % JOBS.len()];
            let name = if i % 3 == 0 {
                "up"
            } else {
                "http_requests_total"
            };
            let mut labels = vec![
                Label::new("__name__", name),
                Label::new("code", ["200", "404", "500", "503"][i % 4]),
                Label::new("env", "prod"),
                Label::new("handler", format!("/api/v1/h/{}", i % 40)),
                Label::new("instance", format!("10.1.{}.{}:8080", i / 200, i % 200)),
                Label::new("job", job),
                Label::new("method", ["GET", "POST"][i % 2]),
                Label::new("pod", format!("{job}-{:06x}", i * 104_729)),
                Label::new("region", "us-east-2"),
                Label::new("shard", (i % 16).to_string()),
            ];
            labels.sort();
            let samples = (0..samples)
                .map(|k| {
                    let step = (round * samples + k) as i64;
                    Sample {
                        value: (step * (1 + (i % 5) as i64)) as f64,
                        timestamp: 1_750_000_000_000 + step * 10_000,
                    }
                })
                .collect();
            TimeSeries { labels, samples }
        })
        .collect();
    WriteRequest { timeseries }
}

fn classifier() -> RemoteWriteClassifier {
    let sel = |s: &str| SeriesSelector::parse(s).unwrap_or_else(|e| panic!("{e}"));
    RemoteWriteClassifier::new(
        vec![
            SeriesSli {
                sli: 0,
                total: sel(r#"http_requests_total{job="checkout"}"#),
                good: GoodSeries::Bad(sel(r#"http_requests_total{job="checkout",code=~"5.."}"#)),
            },
            SeriesSli {
                sli: 1,
                total: sel(r#"http_requests_total{job="cart",env="prod"}"#),
                good: GoodSeries::Good(sel(
                    r#"http_requests_total{job="cart",env="prod",code!~"5.."}"#,
                )),
            },
        ],
        CounterTracker::new(60, FirstSample::Baseline, 1_000_000),
    )
}

/// Best of `passes` runs of `f` over all bodies, each with a fresh classifier.
fn best(
    bodies: &[Vec<u8>],
    passes: usize,
    f: impl Fn(&mut RemoteWriteClassifier, &[u8]) -> Vec<SliIncrement>,
) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut increments = 0;
    for _ in 0..passes {
        let mut c = classifier();
        let start = Instant::now();
        increments = bodies.iter().map(|b| f(&mut c, b).len()).sum();
        best = best.min(start.elapsed());
    }
    (best, increments)
}

fn main() {
    let (series, samples, rounds) = (arg(1, 2_000), arg(2, 1), arg(3, 100));
    let bodies: Vec<Vec<u8>> = (0..rounds)
        .map(|r| encode_write_request(&request(series, samples, r)))
        .collect();
    println!(
        "payload: {series} series × {samples} samples, {} bytes compressed; {rounds} requests",
        bodies.first().map_or(0, Vec::len)
    );
    let total = (series * samples * rounds) as f64;
    let owned = best(&bodies, 5, |c, b| {
        let req = decode_write_request(b, 64 << 20).unwrap_or_else(|e| panic!("{e}"));
        c.classify(&req)
    });
    let borrowed = best(&bodies, 5, |c, b| {
        let raw = decompress(b, 64 << 20).unwrap_or_else(|e| panic!("{e}"));
        let req = WriteRequestRef::decode(&raw).unwrap_or_else(|e| panic!("{e}"));
        c.classify_ref(&req)
    });
    assert_eq!(owned.1, borrowed.1, "both paths give the same increments");
    for (what, (t, incs)) in [("owned (prost)", owned), ("borrowed", borrowed)] {
        println!(
            "{what:<14} decode + classify: {:>11.0} samples/s ({:.2} ms/request, {incs} increments)",
            total / t.as_secs_f64(),
            t.as_secs_f64() * 1e3 / rounds as f64
        );
    }
}
