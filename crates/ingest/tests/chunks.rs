//! Aggregation: counts against hand-computed values, chunk merging equals processing the
//! concatenation, and parsers never panic.

use ingest::{
    line_chunks, parse_combined, process_chunk, process_parallel, split_at_line_boundary,
    ChunkResult, Classifier, Counts, GoodCondition, JsonFields, JsonParser, LatencyBound,
    LogFormat, ParseError, Rejection, Selector, SliMatcher, StatusSet,
};
use proptest::prelude::*;

fn set(s: &str) -> Option<StatusSet> {
    StatusSet::parse(s).ok()
}

fn classifier() -> Classifier {
    let avail = SliMatcher {
        total: Selector::default(),
        good: GoodCondition {
            status: set("<500"),
            latency: None,
        },
    };
    let api = SliMatcher {
        total: Selector {
            path: regex::Regex::new("^/api/").ok(),
            methods: vec!["GET".into()],
            host: None,
            status: set("!404"),
        },
        good: GoodCondition {
            status: set("2xx"),
            latency: LatencyBound::parse("<=300ms").ok(),
        },
    };
    Classifier::new([(7, avail), (9, api)])
}

fn line(min: u32, sec: u32, method: &str, path: &str, status: u16, rt: &str) -> String {
    format!(
        "10.0.0.1 - - [02/Jan/2024:03:{min:02}:{sec:02} +0000] \"{method} {path} HTTP/1.1\" {status} 12 \"-\" \"curl/8\" {rt}\n"
    )
}

/// 2024-01-02T03:00:00Z
const T0: i64 = 1_704_164_400;

#[test]
fn counts_by_sli_and_bucket() {
    let log = [
        line(0, 1, "GET", "/api/a?x=1", 200, "0.100"),
        line(0, 2, "GET", "/api/a", 200, "0.300"),
        line(0, 3, "GET", "/api/a", 200, "0.301"),
        line(0, 4, "GET", "/api/b", 503, "0.010"),
        line(0, 5, "GET", "/api/b", 404, "0.010"),
        line(0, 6, "POST", "/api/b", 200, "0.010"),
        line(0, 7, "GET", "/web", 200, "0.010"),
        "garbage\n".to_string(),
        line(1, 0, "GET", "/api/c", 200, "-"),
        line(1, 1, "GET", "/api/c", 500, "0.2"),
        String::new(),
    ]
    .concat();
    let r = process_chunk(log.as_bytes(), &LogFormat::Combined, &classifier(), 60);
    let c = |good, total| Counts { good, total };
    let want = [
        ((7, T0), c(6, 7)),
        ((7, T0 + 60), c(1, 2)),
        ((9, T0), c(2, 4)),
        ((9, T0 + 60), c(0, 1)),
    ];
    assert_eq!(r.counts.into_iter().collect::<Vec<_>>(), want);
    assert_eq!((r.lines, r.accepted, r.rejected), (10, 9, 1));
    assert_eq!(
        r.rejections,
        vec![Rejection {
            line: 7,
            reason: ParseError::MissingTime
        }]
    );
    assert_eq!(
        r.skipped_no_latency.into_iter().collect::<Vec<_>>(),
        vec![(9, 1)]
    );
}

#[test]
fn buckets_use_utc_and_bucket_size() {
    let log = line(0, 59, "GET", "/", 200, "0.1") + &line(1, 0, "GET", "/", 200, "0.1");
    let r = process_chunk(log.as_bytes(), &LogFormat::Combined, &classifier(), 3600);
    assert_eq!(r.counts.get(&(7, T0)), Some(&Counts { good: 2, total: 2 }));
    let r = process_chunk(log.as_bytes(), &LogFormat::Combined, &classifier(), 0);
    assert_eq!(r.counts.len(), 2, "0 means 1-second buckets");
}

#[test]
fn far_apart_and_backwards_times() {
    let mut log = String::new();
    for (d, min) in [(2, 5), (2, 1), (2, 59), (2, 0)] {
        log += &format!("h - - [{d:02}/Jan/2024:03:{min:02}:00 +0000] \"GET / HTTP/1.1\" 200 1\n");
    }
    log += "h - - [02/Jan/1990:03:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
    log += "h - - [02/Jan/2090:03:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
    let r = process_chunk(log.as_bytes(), &LogFormat::Combined, &classifier(), 60);
    let buckets: Vec<i64> = r.counts.keys().filter(|k| k.0 == 7).map(|k| k.1).collect();
    assert_eq!(
        buckets,
        vec![631_249_200, T0, T0 + 60, T0 + 300, T0 + 3540, 3_787_009_200]
    );
}

#[test]
fn many_rejections_keep_first_ten() {
    let log = "x\n".repeat(25);
    let r = process_chunk(log.as_bytes(), &LogFormat::Combined, &classifier(), 60);
    assert_eq!((r.lines, r.rejected, r.rejections.len()), (25, 25, 10));
    assert_eq!(r.rejections[9].line, 9);
}

#[test]
fn json_format_end_to_end() {
    let log = concat!(
        r#"{"time":"2024-01-02T03:00:01Z","method":"GET","uri":"/api/x?y","status":"200","request_time":"0.05"}"#,
        "\n",
        r#"{"time":"2024-01-02T03:00:02Z","method":"GET","uri":"/api/x","status":"200","request_time":"0.5"}"#,
        "\n{}\n"
    );
    let r = process_chunk(
        log.as_bytes(),
        &LogFormat::detect(log.as_bytes()),
        &classifier(),
        60,
    );
    assert_eq!(r.counts.get(&(9, T0)), Some(&Counts { good: 1, total: 2 }));
    assert_eq!(r.rejections[0].reason, ParseError::MissingTime);
}

#[test]
fn classifier_agrees_with_selector_and_condition() {
    let c = classifier();
    let matchers = [
        SliMatcher {
            total: Selector::default(),
            good: GoodCondition {
                status: set("<500"),
                latency: None,
            },
        },
        SliMatcher {
            total: Selector {
                path: regex::Regex::new("^/api/").ok(),
                methods: vec!["GET".into()],
                host: None,
                status: set("!404"),
            },
            good: GoodCondition {
                status: set("2xx"),
                latency: LatencyBound::parse("<=300ms").ok(),
            },
        },
    ];
    for l in [
        line(0, 1, "GET", "/api/a", 200, "0.3"),
        line(0, 1, "GET", "/api/a", 404, "0.3"),
        line(0, 1, "PUT", "/api/a", 200, "0.3"),
        line(0, 1, "GET", "/x/api/a", 200, "0.3"),
        line(0, 1, "GET", "/api/a", 201, "-"),
        line(0, 1, "GET", "/api/a", 302, "0.1"),
    ] {
        let rec = parse_combined(l.trim_end().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let r = process_chunk(l.as_bytes(), &LogFormat::Combined, &c, 60);
        for (m, idx) in matchers.iter().zip([7usize, 9]) {
            let got = r.counts.get(&(idx, T0)).copied().unwrap_or_default();
            let want = match (m.total.matches(&rec), m.good.classify(&rec)) {
                (true, Some(g)) => Counts {
                    good: u64::from(g),
                    total: 1,
                },
                _ => Counts::default(),
            };
            assert_eq!(got, want, "sli {idx} on {l}");
        }
    }
}

#[test]
fn line_boundaries() {
    assert_eq!(split_at_line_boundary(b""), 0);
    assert_eq!(split_at_line_boundary(b"abc"), 0);
    assert_eq!(split_at_line_boundary(b"a\nbc"), 2);
    assert_eq!(split_at_line_boundary(b"a\nb\n"), 4);
    let pieces: Vec<&[u8]> = line_chunks(b"aaaa\nb\nc\nddddddd\ne", 3).collect();
    assert_eq!(
        pieces,
        vec![&b"aaaa\n"[..], b"b\n", b"c\n", b"ddddddd\n", b"e"]
    );
    let pieces: Vec<&[u8]> = line_chunks(b"a\nb\nc\n", 4).collect();
    assert_eq!(pieces, vec![&b"a\nb\n"[..], b"c\n"]);
}

/// Lines mixing valid, invalid and latency-less records across a few minutes.
fn arb_log() -> impl Strategy<Value = String> {
    let valid = (
        0u32..3,
        0u32..60,
        prop::sample::select(vec!["GET", "POST"]),
        prop::sample::select(vec!["/api/a", "/api/b?q=1", "/web", "/"]),
        prop::sample::select(vec![200u16, 201, 302, 404, 500, 503]),
        prop::sample::select(vec!["0.001", "0.300", "0.301", "2", "-", ""]),
    )
        .prop_map(|(m, s, meth, p, st, rt)| line(m, s, meth, p, st, rt));
    let junk = "[^\n]{0,40}".prop_map(|s| s + "\n");
    prop::collection::vec(prop_oneof![4 => valid, 1 => junk], 0..60).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn merge_equals_concatenation(log in arb_log(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5)) {
        let c = classifier();
        let whole = process_chunk(log.as_bytes(), &LogFormat::Combined, &c, 60);
        // Cut at arbitrary line boundaries.
        let bounds: Vec<usize> = std::iter::once(0)
            .chain(log.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut at: Vec<usize> = cuts.iter().map(|i| bounds[i.index(bounds.len())]).collect();
        at.push(0);
        at.push(log.len());
        at.sort_unstable();
        at.dedup();
        let mut merged = ChunkResult::default();
        for w in at.windows(2) {
            merged.merge(process_chunk(&log.as_bytes()[w[0]..w[1]], &LogFormat::Combined, &c, 60));
        }
        prop_assert_eq!(&merged, &whole);
        let par = process_parallel(log.as_bytes(), &LogFormat::Combined, &c, 60, 2, 64);
        prop_assert_eq!(&par, &whole);
        prop_assert_eq!(whole.accepted + whole.rejected, whole.lines);
    }

    #[test]
    fn combined_never_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_combined(&b);
    }

    #[test]
    fn combined_never_panics_on_near_valid(s in r#"[0-9.]{1,8} - [a-z-]{1,3} \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\] "[A-Z]{0,4} ?[/a-z?\\"]{0,8} ?(HTTP/1.1)?" [0-9]{1,4} [0-9-]{1,3}( "[^"]{0,5}"){0,3}( [0-9.-]{0,6})?"#) {
        let _ = parse_combined(s.as_bytes());
    }

    #[test]
    fn json_never_panics(s in r#"\{("[a-z_]{1,12}" ?: ?("[^"]{0,12}"|[0-9.eE+-]{1,8}|null|true|\{[^\n]{0,10}\}|\[[^\n]{0,10}\]),?){0,6}\}?"#) {
        let mut p = JsonParser::new(JsonFields::default());
        let _ = p.parse(s.as_bytes());
    }

    #[test]
    fn json_never_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut p = JsonParser::new(JsonFields::default());
        let _ = p.parse(&b);
    }

    #[test]
    fn process_never_panics(b in prop::collection::vec(any::<u8>(), 0..600)) {
        let c = classifier();
        let r = process_chunk(&b, &LogFormat::Combined, &c, 60);
        prop_assert_eq!(r.accepted + r.rejected, r.lines);
        let r = process_chunk(&b, &LogFormat::Json(JsonFields::default()), &c, 60);
        prop_assert_eq!(r.accepted + r.rejected, r.lines);
    }

    #[test]
    fn matcher_parsers_never_panic(s in "\\PC{0,12}") {
        let _ = StatusSet::parse(&s);
        let _ = LatencyBound::parse(&s);
    }
}
