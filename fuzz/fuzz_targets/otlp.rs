//! OTLP decoding (protobuf and JSON) and classification on arbitrary bytes: nothing may panic.
#![no_main]

use ingest::otlp::{
    counter_series, decode_metrics, decode_traces, server_spans, Encoding, SpanClassifier,
    SpanSelector, SpanSli,
};
use ingest::{
    CounterTracker, FirstSample, GoodCondition, GoodSeries, LatencyBound, RemoteWriteClassifier,
    SeriesSelector, SeriesSli, StatusSet,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(total) = SpanSelector::new(Some("checkout"), Some(".*"), None) else {
        return;
    };
    let mut spans = SpanClassifier::new(
        vec![SpanSli {
            sli: 0,
            total,
            good: GoodCondition {
                status: StatusSet::parse("<500").ok(),
                latency: LatencyBound::parse("<=300ms").ok(),
            },
        }],
        60,
    );
    let Ok(sel) = SeriesSelector::parse(r#"{__name__=~".+"}"#) else {
        return;
    };
    let mut metrics = RemoteWriteClassifier::new(
        vec![SeriesSli {
            sli: 0,
            total: sel.clone(),
            good: GoodSeries::Good(sel),
        }],
        CounterTracker::new(60, FirstSample::FromZero, 64),
    );
    for enc in [Encoding::Protobuf, Encoding::Json] {
        if let Ok(req) = decode_traces(data, enc) {
            let _ = server_spans(&req).map(|s| s.duration_ns()).count();
            for inc in spans.classify(&req) {
                assert!(inc.good <= inc.total);
            }
        }
        if let Ok(req) = decode_metrics(data, enc) {
            let _ = counter_series(&req);
            for inc in metrics.classify_otlp(&req) {
                assert!(inc.good >= 0.0 && inc.good <= inc.total, "{inc:?}");
            }
        }
    }
});
