//! Remote-write decoding and classification on arbitrary bytes: nothing may panic, both as a
//! snappy body and as already decompressed protobuf; the borrowed walker (the server's path)
//! and prost accept and refuse the same bytes with the same series, labels and samples, and
//! classify to the same increments; the tracker state must round-trip.
#![no_main]

use ingest::remote_write::{decode_write_request_uncompressed, decompress, WriteRequestRef};
use ingest::{
    decode_write_request, CounterTracker, FirstSample, GoodSeries, RemoteWriteClassifier,
    SeriesSelector, SeriesSli, WriteRequest,
};
use libfuzzer_sys::fuzz_target;

fn classifier() -> Option<RemoteWriteClassifier> {
    let total = SeriesSelector::parse(r#"http_requests_total{job=~"a.*"}"#).ok()?;
    let bad = SeriesSelector::parse(r#"http_requests_total{code=~"5.."}"#).ok()?;
    let good = SeriesSelector::parse(r#"{__name__=~".+",code!="500"}"#).ok()?;
    Some(RemoteWriteClassifier::new(
        vec![
            SeriesSli {
                sli: 0,
                total: total.clone(),
                good: GoodSeries::Bad(bad),
            },
            SeriesSli {
                sli: 1,
                total,
                good: GoodSeries::Good(good),
            },
        ],
        CounterTracker::new(60, FirstSample::Baseline, 64),
    ))
}

/// Series, labels and samples (values as bits, so NaNs compare) of an owned request.
type Flat = Vec<(Vec<(String, String)>, Vec<(u64, i64)>)>;

fn flat_owned(req: &WriteRequest) -> Flat {
    req.timeseries
        .iter()
        .map(|t| {
            (
                t.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                t.samples
                    .iter()
                    .map(|s| (s.value.to_bits(), s.timestamp))
                    .collect(),
            )
        })
        .collect()
}

fn flat_borrowed(req: &WriteRequestRef<'_>) -> Flat {
    req.series()
        .map(|t| {
            (
                t.labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                t.samples
                    .iter()
                    .map(|s| (s.value.to_bits(), s.timestamp))
                    .collect(),
            )
        })
        .collect()
}

/// Prost and the borrowed walker agree on decompressed bytes, and so do the classifiers fed
/// by each.
fn check_agreement(raw: &[u8]) {
    let owned = decode_write_request_uncompressed(raw);
    let borrowed = WriteRequestRef::decode(raw);
    match (&owned, &borrowed) {
        (Ok(o), Ok(b)) => {
            assert_eq!(flat_owned(o), flat_borrowed(b));
            if let (Some(mut x), Some(mut y)) = (classifier(), classifier()) {
                let bits = |v: Vec<ingest::SliIncrement>| -> Vec<(usize, i64, u64, u64)> {
                    v.iter()
                        .map(|i| (i.sli, i.bucket, i.good.to_bits(), i.total.to_bits()))
                        .collect()
                };
                assert_eq!(bits(x.classify(o)), bits(y.classify_ref(b)));
                assert_eq!(x.stats(), y.stats());
                assert_eq!(x.tracker().export(), y.tracker().export());
            }
        }
        (Err(o), Err(b)) => assert_eq!(o.code(), b.code()),
        _ => panic!("prost {owned:?} but borrowed {borrowed:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut c) = classifier() else { return };
    check_agreement(data);
    if let Ok(raw) = decompress(data, 1 << 20) {
        check_agreement(&raw);
    }
    for req in [
        decode_write_request(data, 1 << 20).ok(),
        decode_write_request_uncompressed(data).ok(),
    ]
    .into_iter()
    .flatten()
    {
        for inc in c.classify(&req) {
            assert!(inc.good >= 0.0 && inc.good <= inc.total, "{inc:?}");
        }
    }
    let state = c.tracker().export();
    let mut t = CounterTracker::new(60, FirstSample::Baseline, 64);
    t.import(&state);
    assert_eq!(t.export(), state);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SeriesSelector::parse(text);
    }
});
