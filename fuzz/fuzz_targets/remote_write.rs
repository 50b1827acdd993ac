//! Remote-write decoding and classification on arbitrary bytes: nothing may panic, both as a
//! snappy body and as already decompressed protobuf, and the tracker state must round-trip.
#![no_main]

use ingest::remote_write::decode_write_request_uncompressed;
use ingest::{
    decode_write_request, CounterTracker, FirstSample, GoodSeries, RemoteWriteClassifier,
    SeriesSelector, SeriesSli,
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

fuzz_target!(|data: &[u8]| {
    let Some(mut c) = classifier() else { return };
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
