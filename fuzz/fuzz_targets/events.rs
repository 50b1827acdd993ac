//! The events API body decoder on arbitrary bytes: nothing may panic, a decoded body keeps
//! every invariant the server relies on (good <= total, times not in the future, no query
//! string in paths), and every refusal names a stable code.
#![no_main]

use ingest::events::{parse_events, Event, MAX_FUTURE_SECONDS};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_767_225_600;

fuzz_target!(|data: &[u8]| {
    match parse_events(data, NOW) {
        Ok(events) => {
            for e in events {
                assert!(e.time() <= NOW + MAX_FUTURE_SECONDS);
                match e {
                    Event::Increment { good, total, .. } => assert!(good <= total),
                    Event::Request { attributes, .. } => {
                        assert!(!attributes.path.contains('?'));
                        assert!(attributes.latency.is_none_or(|l| l >= 0.0 && l.is_finite()));
                        assert!(attributes.status.is_none_or(|s| s <= 999));
                    }
                }
            }
        }
        Err(e) => assert!(e.code.contains('.'), "{e:?}"),
    }
});
