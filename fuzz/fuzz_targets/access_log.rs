//! Both access-log parsers and the chunk processor on arbitrary bytes: none may panic, and
//! processing in two pieces must equal processing the whole.
#![no_main]

use ingest::{
    parse_combined, process_chunk, split_at_line_boundary, ChunkResult, Classifier, GoodCondition,
    JsonFields, JsonParser, LatencyBound, LogFormat, Selector, SliMatcher, StatusSet,
};
use libfuzzer_sys::fuzz_target;

fn build() -> Classifier {
    let avail = SliMatcher {
        total: Selector::default(),
        good: GoodCondition {
            status: StatusSet::parse("<500").ok(),
            latency: LatencyBound::parse("<=300ms").ok(),
        },
    };
    let api = SliMatcher {
        total: Selector {
            path: regex::Regex::new("^/a").ok(),
            methods: vec!["GET".into()],
            host: Some("h".into()),
            status: StatusSet::parse("!404").ok(),
        },
        good: GoodCondition::default(),
    };
    Classifier::new([(0, avail), (1, api)])
}

/// Built once: compiling regexes per input would dominate the run.
fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(build)
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_combined(data);
    let mut json = JsonParser::new(JsonFields::default());
    let _ = json.parse(data);

    let c = classifier();
    for format in [LogFormat::Combined, LogFormat::Json(JsonFields::default())] {
        let whole = process_chunk(data, &format, c, 60);
        assert_eq!(whole.accepted + whole.rejected, whole.lines);
        // Split in the middle at a line boundary: the merge must equal the whole.
        let cut = split_at_line_boundary(&data[..data.len() / 2]);
        let mut merged: ChunkResult = process_chunk(&data[..cut], &format, c, 60);
        merged.merge(process_chunk(&data[cut..], &format, c, 60));
        assert_eq!(merged, whole);
    }
});
