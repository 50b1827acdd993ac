//! The incident core through its public API: concurrent edits of the state document (a
//! proptest against a model), the lifecycle under arbitrary status requests, and one incident
//! from declaration to impact.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use incident::impact::{impact, timings, Bucket};
use incident::incident::{Incident, Severity, Status, SECTIONS};
use incident::Error;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Edit {
    section: usize,
    /// Pick the current revision (a fresh read) or a stale/future one.
    fresh: bool,
    other_base: u64,
    text: String,
}

fn edit() -> impl Strategy<Value = Edit> {
    // index SECTIONS.len() stands for an unknown section
    (0..=SECTIONS.len(), any::<bool>(), 0u64..6, "[a-z ]{0,12}").prop_map(
        |(section, fresh, other_base, text)| Edit {
            section,
            fresh,
            other_base,
            text,
        },
    )
}

proptest! {
    /// Any sequence of edits: each section's revision rises by one per accepted edit, a
    /// refused edit changes nothing and hands back the current text, and the document always
    /// holds the last accepted text of every section.
    #[test]
    fn edits_never_lose_an_accepted_text(edits in prop::collection::vec(edit(), 0..60)) {
        let mut inc = Incident::declare("t", Severity::Sev3, vec![], "ic", 0).unwrap();
        // model: section → accepted texts in order (revision = count)
        let mut accepted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (n, e) in edits.iter().enumerate() {
            let at = n as i64;
            let name = SECTIONS.get(e.section).copied().unwrap_or("timeline");
            let current = accepted.get(name).map_or(0, |v| v.len() as u64);
            let base = if e.fresh { current } else { e.other_base };
            let before = inc.document.clone();
            let result = inc.edit_section(name, &e.text, base, "someone", at);
            if !SECTIONS.contains(&name) {
                prop_assert!(matches!(result, Err(Error::UnknownSection(_))));
                prop_assert_eq!(&inc.document, &before);
            } else if base == current {
                prop_assert_eq!(result.unwrap(), current + 1);
                accepted.entry(name).or_default().push(e.text.clone());
            } else {
                match result {
                    Err(Error::Conflict(c)) => {
                        prop_assert_eq!(c.section.as_str(), name);
                        prop_assert_eq!(c.base_revision, base);
                        prop_assert_eq!(c.current_revision, current);
                        let last = accepted.get(name).and_then(|v| v.last()).cloned().unwrap_or_default();
                        prop_assert_eq!(&c.current_text, &last);
                        prop_assert_eq!(&c.your_text, &e.text);
                    }
                    other => prop_assert!(false, "expected a conflict, got {:?}", other),
                }
                prop_assert_eq!(&inc.document, &before);
            }
            // revisions never go down, and only the edited section moves
            for (old, new) in before.sections.iter().zip(&inc.document.sections) {
                prop_assert!(new.revision >= old.revision);
                if new.name != name {
                    prop_assert_eq!(old, new);
                }
            }
        }
        let names: Vec<&str> = inc.document.sections.iter().map(|s| s.name.as_str()).collect();
        prop_assert_eq!(names, SECTIONS.to_vec());
        for s in &inc.document.sections {
            let texts = accepted.get(s.name.as_str()).cloned().unwrap_or_default();
            prop_assert_eq!(s.revision, texts.len() as u64);
            prop_assert_eq!(&s.text, &texts.last().cloned().unwrap_or_default());
            prop_assert_eq!(s.updated_at.is_some(), s.revision > 0);
        }
    }

    /// Arbitrary status requests: accepted ones follow the lifecycle and are each recorded
    /// with their time; refused ones change nothing; nothing follows closed.
    #[test]
    fn lifecycle_under_arbitrary_requests(reqs in prop::collection::vec(0usize..5, 0..40)) {
        let mut inc = Incident::declare("t", Severity::Sev3, vec![], "ic", 0).unwrap();
        for (n, r) in reqs.iter().enumerate() {
            let to = Status::ALL[*r];
            let from = inc.status;
            let changes = inc.status_changes.len();
            match inc.set_status(to, "x", n as i64 + 1) {
                Ok(_) => {
                    prop_assert!(from.can_become(to));
                    prop_assert_ne!(from, Status::Closed);
                    prop_assert_eq!(inc.status, to);
                    prop_assert_eq!(inc.status_changes.len(), changes + 1);
                    let last = inc.status_changes.last().unwrap();
                    prop_assert_eq!((last.status, last.at), (to, n as i64 + 1));
                }
                Err(Error::Transition { .. }) => {
                    prop_assert!(!from.can_become(to));
                    prop_assert_eq!(inc.status, from);
                    prop_assert_eq!(inc.status_changes.len(), changes);
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(inc.status_changes.first().map(|c| c.status), Some(Status::Investigating));
        prop_assert_eq!(inc.status_changes.last().map(|c| c.status), Some(inc.status));
        if let (Some(m), Some(r)) = (inc.mitigated_at(), inc.resolved_at()) {
            prop_assert!(m <= r);
        }
    }
}

#[test]
fn declaration_to_impact() {
    let mut inc = Incident::declare(
        "checkout 500s",
        "2".parse().unwrap(),
        vec!["checkout".into()],
        "alice",
        1_000,
    )
    .unwrap();
    inc.link_alert("0123456789abcdef", "alice", 1_010).unwrap();
    inc.link_slo("checkout/availability", "alice", 1_010)
        .unwrap();
    inc.assign_role("operations_lead", "bob", "alice", 1_020)
        .unwrap();
    inc.set_status(Status::Identified, "alice", 1_200).unwrap();
    inc.set_status(Status::Monitoring, "bob", 1_500).unwrap();
    inc.set_status(Status::Resolved, "alice", 1_800).unwrap();

    // 1% errors from 900 to 1500, per minute, 1000 events a minute
    let buckets: Vec<Bucket> = (0..30)
        .map(|m| {
            let start = m * 60;
            let bad = if (900..1_500).contains(&start) { 10 } else { 0 };
            Bucket {
                start,
                good: 1_000 - bad,
                total: 1_000,
            }
        })
        .collect();
    // 99.9% over 10,000 events allows 10 bad; 100 bad spent ten times the budget
    let imp = impact(&buckets, 60, 0.999, 10_000, 900, 1_800);
    assert_eq!(imp.bad_events, 100);
    assert_eq!(imp.first_bad_at, Some(900));
    assert!((imp.budget_consumed - 10.0).abs() < 1e-9);

    let t = timings(&inc, imp.first_bad_at, Some(960));
    assert_eq!(t.time_to_detect, Some(60));
    assert_eq!(t.time_to_mitigate, Some(600));
    assert_eq!(t.time_to_resolve, Some(900));
    assert_eq!(inc.acknowledged_at(), Some(1_020));

    let json = serde_json::to_value(&inc).unwrap();
    assert_eq!(json["linked_alerts"][0], "0123456789abcdef");
    assert_eq!(json["roles"]["operations_lead"], "bob");
    assert_eq!(json["handovers"][0]["from"], serde_json::Value::Null);
}
