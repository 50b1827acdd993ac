//! Properties over generated inputs: parsers never panic and round-trip what they print; the
//! grouping state machine keeps Alertmanager's timing guarantees whatever the alert history.
#![allow(clippy::unwrap_used)]

use jiff::{SignedDuration, Timestamp};
use notify::group::{GroupAlert, GroupOptions, GroupState};
use notify::{
    format_duration, parse_duration, AlertmanagerConfig, Fingerprint, MatchOp, Matcher, Matchers,
};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = MatchOp> {
    prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::Regex),
        Just(MatchOp::NotRegex)
    ]
}

proptest! {
    #[test]
    fn matcher_text_round_trips(name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}", value in "\\PC{0,12}", op in op()) {
        // Regex values must compile: keep those to plain words.
        let value = if op == MatchOp::Regex || op == MatchOp::NotRegex {
            value.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
        } else {
            value
        };
        let m = Matcher::new(name, op, value).unwrap();
        let parsed = Matcher::parse(&m.to_string()).unwrap();
        prop_assert_eq!(&parsed, &m);
        let list = Matchers(vec![m.clone(), m.clone()]);
        prop_assert_eq!(Matchers::parse(&list.to_string()).unwrap(), list);
    }

    #[test]
    fn matcher_parsing_never_panics(input in "\\PC{0,40}") {
        let _ = Matchers::parse(&input);
        let _ = Matcher::parse(&input);
    }

    #[test]
    fn config_reading_never_panics(input in "[a-z_:{}\\[\\]'\" ,\\n-]{0,80}") {
        let _ = AlertmanagerConfig::from_yaml_str(&input);
    }

    #[test]
    fn durations_round_trip(ms in 0i64..10_000_000_000_000) {
        let d = SignedDuration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
    }

    #[test]
    fn grouping_keeps_its_timing(
        events in proptest::collection::vec((1i64..400, 0u64..4, any::<bool>(), any::<bool>()), 1..60),
        resolve_immediately in any::<bool>(),
    ) {
        let opts = GroupOptions {
            group_wait: SignedDuration::from_secs(30),
            group_interval: SignedDuration::from_secs(300),
            repeat_interval: SignedDuration::from_secs(3600),
            send_resolved: true,
            resolve_immediately,
        };
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let mut state = GroupState::new(start, start, &opts);
        let mut alerts: Vec<GroupAlert> = Vec::new();
        let mut now = start;
        let mut sent: Vec<(Timestamp, bool)> = Vec::new();
        for (dt, fp, firing, acked) in events {
            now = now.checked_add(SignedDuration::from_secs(dt)).unwrap();
            let fp = Fingerprint(fp);
            alerts.retain(|a| a.fingerprint != fp);
            alerts.push(GroupAlert { fingerprint: fp, firing, acked, flapping: false, starts_at: start });
            let step = state.step(&alerts, now, &opts);
            if let Some(n) = &step.notification {
                let all_resolved = alerts.iter().all(|a| !a.firing);
                sent.push((now, all_resolved));
                // Acknowledged alerts are never sent as firing.
                for f in &n.firing {
                    prop_assert!(alerts.iter().any(|a| a.fingerprint == *f && a.firing && !a.acked));
                }
            }
            alerts.retain(|a| !step.remove.contains(&a.fingerprint));
            state = step.state;
        }
        // Nothing before group_wait; flushes at least group_interval apart, except an
        // immediate resolution.
        if let Some((first, _)) = sent.first() {
            prop_assert!(*first >= start.checked_add(opts.group_wait).unwrap());
        }
        for pair in sent.windows(2) {
            let ((a, _), (b, b_resolved)) = (pair[0], pair[1]);
            let gap = b.duration_since(a);
            prop_assert!(gap >= opts.group_interval || (resolve_immediately && b_resolved), "{a} -> {b}");
        }
    }
}
