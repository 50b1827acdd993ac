//! Micro-benchmark: decode (snappy + protobuf) and classify remote-write requests shaped like
//! a real Prometheus sender's: 2,000 series × 10 samples each, with 10 labels per series.
//!
//! `cargo run --release -p ingest --example bench_remote_write [series] [samples] [rounds]`

use std::time::Instant;

use ingest::remote_write::{encode_write_request, Label, Sample, TimeSeries};
use ingest::{
    decode_write_request, CounterTracker, FirstSample, GoodSeries, RemoteWriteClassifier,
    SeriesSelector, SeriesSli, WriteRequest,
};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Series `i` of the request sent at `round`: counters that grow, with a reset now and then.
fn request(series: usize, samples: usize, round: usize) -> WriteRequest {
    const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];
    const JOBS: [&str; 4] = ["checkout", "cart", "search", "auth"];
    let timeseries = (0..series)
        .map(|i| {
            let mut labels = vec![
                Label::new(
                    "__name__",
                    if i % 3 == 0 {
                        "up"
                    } else {
                        "http_requests_total"
                    },
                ),
                Label::new("code", CODES[i % CODES.len()]),
                Label::new("env", "prod"),
                Label::new("handler", format!("/api/v1/handler/{}", i % 50)),
                Label::new("instance", format!("10.0.{}.{}:9100", i / 250, i % 250)),
                Label::new("job", JOBS[i % JOBS.len()]),
                Label::new("method", if i % 2 == 0 { "GET" } else { "POST" }),
                Label::new("pod", format!("{}-{:05x}", JOBS[i % JOBS.len()], i * 7919)),
                Label::new("region", "eu-west-1"),
                Label::new("series", i.to_string()),
            ];
            labels.sort();
            let samples = (0..samples)
                .map(|k| {
                    let n = (round * samples + k) as f64;
                    Sample {
                        value: (n * (1 + i % 7) as f64) % 100_000.0,
                        timestamp: 1_700_000_000_000 + (round * samples + k) as i64 * 15_000,
                    }
                })
                .collect();
            TimeSeries { labels, samples }
        })
        .collect();
    WriteRequest { timeseries }
}

fn main() {
    let (series, samples, rounds) = (arg(1, 2_000), arg(2, 10), arg(3, 50));
    let sel = |s: &str| SeriesSelector::parse(s).unwrap_or_else(|e| panic!("{e}"));
    let slis = vec![
        SeriesSli {
            sli: 0,
            total: sel(r#"http_requests_total{job="checkout"}"#),
            good: GoodSeries::Bad(sel(r#"http_requests_total{job="checkout",code=~"5.."}"#)),
        },
        SeriesSli {
            sli: 1,
            total: sel(r#"http_requests_total{job=~"cart|search",env="prod"}"#),
            good: GoodSeries::Good(sel(
                r#"http_requests_total{job=~"cart|search",env="prod",code!~"5.."}"#,
            )),
        },
        SeriesSli {
            sli: 2,
            total: sel(r#"http_requests_total{handler=~"/api/v1/handler/1.*"}"#),
            good: GoodSeries::Bad(sel(r#"http_requests_total{code="503"}"#)),
        },
    ];
    let mut c = RemoteWriteClassifier::new(
        slis,
        CounterTracker::new(60, FirstSample::Baseline, 1_000_000),
    );
    let bodies: Vec<Vec<u8>> = (0..rounds)
        .map(|r| encode_write_request(&request(series, samples, r)))
        .collect();
    let raw_len = {
        use prost::Message;
        request(series, samples, 0).encoded_len()
    };
    println!(
        "payload: {series} series × {samples} samples, {} bytes compressed, {raw_len} bytes raw",
        bodies[0].len()
    );

    // Best of three alternating passes: the machine may be shared.
    let mut decode_only = std::time::Duration::MAX;
    let mut both = std::time::Duration::MAX;
    let (mut decoded, mut increments) = (0usize, 0usize);
    for pass in 0..3 {
        let start = Instant::now();
        decoded = 0;
        for b in &bodies {
            let req = decode_write_request(b, 32 << 20).unwrap_or_else(|e| panic!("{e}"));
            decoded += req.timeseries.len();
        }
        decode_only = decode_only.min(start.elapsed());

        // A fresh classifier per pass so every pass sees the same baselines.
        let mut fresh = c.clone();
        let start = Instant::now();
        increments = 0;
        for b in &bodies {
            let req = decode_write_request(b, 32 << 20).unwrap_or_else(|e| panic!("{e}"));
            increments += fresh.classify(&req).len();
        }
        both = both.min(start.elapsed());
        if pass == 2 {
            c = fresh;
        }
    }

    let total_samples = (series * samples * rounds) as f64;
    println!(
        "decode only:       {:>12.0} samples/s ({} requests, {decoded} series, {:.2} ms/request)",
        total_samples / decode_only.as_secs_f64(),
        rounds,
        decode_only.as_secs_f64() * 1e3 / rounds as f64
    );
    println!(
        "decode + classify: {:>12.0} samples/s ({increments} sli-bucket increments, {:.2} ms/request)",
        total_samples / both.as_secs_f64(),
        both.as_secs_f64() * 1e3 / rounds as f64
    );
    let st = c.stats();
    println!(
        "stats: {} matched series, {} unmatched, {} increases, {} baselines, tracker {} series",
        st.series_matched,
        st.series_unmatched,
        st.increases,
        st.baselines,
        c.tracker().len()
    );
}
