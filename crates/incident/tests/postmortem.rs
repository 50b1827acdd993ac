//! Postmortems through the public API: drafting from an incident, the one-owner rule, the
//! review workflow, overdue reviews, the blameless check, Markdown and aggregates.
#![allow(clippy::unwrap_used)]

use incident::impact::{Impact, Timings};
use incident::incident::{Incident, Severity};
use incident::postmortem::{
    aggregates, blameless_check, draft, overdue, review_due_at, ActionKind, ActionStatus, Lessons,
    NewActionItem, PinnedEntry, Postmortem, PostmortemPatch, RootCause, SloImpact, Status,
};
use incident::Error;
use jiff::civil::date;

/// Unix seconds of an RFC 3339 time.
fn ts(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn incident_with_summary(summary: Option<&str>) -> Incident {
    let t0 = ts("2026-11-27T10:00:00Z");
    let mut inc = Incident::declare(
        "Checkout errors",
        Severity::Sev1,
        vec!["checkout".into()],
        "alice",
        t0,
    )
    .unwrap();
    inc.id = 42;
    if let Some(text) = summary {
        inc.edit_section("summary", text, 0, "alice", t0 + 60)
            .unwrap();
    }
    inc
}

fn pinned(at: &str, text: &str) -> PinnedEntry {
    PinnedEntry {
        at: ts(at),
        author: "alice".into(),
        kind: "note".into(),
        text: text.into(),
    }
}

fn figures() -> Vec<SloImpact> {
    let impact = Impact {
        bad_events: 1234,
        total_events: 100_000,
        budget_allowed: 10_000.0,
        budget_consumed: 0.1234,
        first_bad_at: Some(ts("2026-11-27T09:55:00Z")),
    };
    let timings = Timings {
        time_to_detect: Some(270),
        time_to_mitigate: Some(1500),
        time_to_resolve: Some(3600),
    };
    vec![SloImpact::new("checkout-availability", &impact, &timings)]
}

fn sample() -> Postmortem {
    draft(
        &incident_with_summary(Some("Payments failed for 25 minutes.")),
        vec![
            pinned("2026-11-27T10:20:00Z", "rolled back v2.3"),
            pinned("2026-11-27T10:05:00Z", "error rate at 30%"),
        ],
        figures(),
        ts("2026-11-27T12:00:00Z"),
    )
}

fn item(title: &str, owner: &str) -> NewActionItem {
    NewActionItem {
        title: title.into(),
        owner: owner.into(),
        collaborators: vec![],
        kind: ActionKind::Prevent,
        due: date(2026, 12, 4),
    }
}

fn ready() -> Postmortem {
    let mut pm = sample();
    pm.apply_patch(
        PostmortemPatch {
            root_causes: Some(vec![RootCause {
                category: "Software Bug".into(),
                text: "a nil map in the retry path".into(),
            }]),
            trigger: Some("Deploy of v2.3".into()),
            ..PostmortemPatch::default()
        },
        ts("2026-11-27T12:10:00Z"),
    )
    .unwrap();
    pm.add_action_item(
        item("Add a canary stage", "bob"),
        ts("2026-11-27T12:11:00Z"),
    )
    .unwrap();
    pm
}

fn is_workflow(r: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(r, Err(Error::Workflow(_)))
}

#[test]
fn draft_takes_summary_title_figures_and_pinned_entries_oldest_first() {
    let pm = sample();
    assert_eq!(pm.id, 0);
    assert_eq!(pm.incident_id, 42);
    assert_eq!(pm.title, "Checkout errors");
    assert_eq!(pm.status, Status::Draft);
    assert_eq!(pm.summary, "Payments failed for 25 minutes.");
    assert!(pm.impact.contains("checkout-availability"), "{}", pm.impact);
    assert!(pm.impact.contains("1234 bad events"), "{}", pm.impact);
    assert!(pm.impact.contains("12.3%"), "{}", pm.impact);
    assert!(pm.detection.contains("4m 30s"), "{}", pm.detection);
    let texts: Vec<&str> = pm.timeline.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["error rate at 30%", "rolled back v2.3"]);
    assert_eq!(pm.created_at, ts("2026-11-27T12:00:00Z"));
    assert_eq!(pm.updated_at, pm.created_at);

    // Without a summary section the title stands in; without figures no impact text.
    let bare = draft(&incident_with_summary(None), vec![], vec![], 0);
    assert_eq!(bare.summary, "Checkout errors");
    assert!(bare.impact.is_empty());
    assert!(bare.detection.is_empty());
}

#[test]
fn an_action_item_has_exactly_one_owner() {
    let mut pm = sample();
    for owner in [
        "",
        "   ",
        "alice, bob",
        "alice and bob",
        "Alice AND Bob",
        "alice & bob",
        "alice; bob",
    ] {
        let err = pm.add_action_item(item("Fix it", owner), 1).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "owner"),
            "{owner:?}: {err:?}"
        );
        assert_eq!(err.to_string(), err.to_string().to_lowercase());
    }
    assert!(pm.action_items.is_empty());

    // "and" inside a name is not two owners.
    let a = pm
        .add_action_item(item("Fix it", " Sandy Anderson "), 2)
        .unwrap();
    assert_eq!((a.id, a.owner.as_str()), (1, "Sandy Anderson"));
    let mut with_collaborators = item("Alert on retries", "bob");
    with_collaborators.collaborators = vec!["carol".into(), " carol ".into(), "bob".into()];
    with_collaborators.kind = ActionKind::Detect;
    let b = pm.add_action_item(with_collaborators, 3).unwrap();
    assert_eq!(b.id, 2);
    assert_eq!(b.collaborators, ["carol"]);
    assert_eq!(b.status, ActionStatus::Open);

    // Empty titles and blank collaborators are refused too.
    assert!(matches!(
        pm.add_action_item(item(" ", "bob"), 4),
        Err(Error::Invalid { field, .. }) if field == "title"
    ));
    let mut blank = item("x", "bob");
    blank.collaborators = vec![String::new()];
    assert!(matches!(
        pm.add_action_item(blank, 4),
        Err(Error::Invalid { field, .. }) if field == "collaborators"
    ));

    let json = serde_json::to_value(&pm.action_items[1]).unwrap();
    assert_eq!(json["due"], "2026-12-04");
    assert_eq!(json["kind"], "detect");
    assert_eq!(json["status"], "open");

    let done = pm.update_action_item(2, ActionStatus::Done, 5).unwrap();
    assert_eq!((done.status, done.updated_at), (ActionStatus::Done, 5));
    assert!(matches!(
        pm.update_action_item(9, ActionStatus::Done, 5),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn review_workflow_every_step_in_order() {
    let mut pm = sample();
    // Out of order from draft.
    assert!(is_workflow(pm.approve("bob", 1)));
    assert!(is_workflow(pm.publish(1)));
    assert!(is_workflow(pm.withdraw(1)));
    // A draft without a root cause cannot be submitted.
    assert!(is_workflow(pm.submit(vec!["bob".into()], 1)));

    let mut pm = ready();
    assert!(matches!(
        pm.submit(vec![], 1),
        Err(Error::Invalid { field, .. }) if field == "reviewers"
    ));
    assert!(matches!(
        pm.submit(vec!["bob".into(), "Bob ".into()], 1),
        Err(Error::Invalid { field, .. }) if field == "reviewers"
    ));
    assert_eq!(pm.status, Status::Draft);

    pm.submit(vec!["bob".into(), "carol".into()], 100).unwrap();
    assert_eq!(pm.status, Status::InReview);
    assert_eq!(pm.submitted_at, Some(100));
    assert!(is_workflow(pm.submit(vec!["dave".into()], 101)));
    assert!(is_workflow(pm.publish(101)));

    // Only named reviewers approve; reviewed only when all have.
    assert!(is_workflow(pm.approve("mallory", 102)));
    assert_eq!(pm.approve("bob", 103).unwrap(), Status::InReview);
    assert_eq!(pm.approve("bob", 104).unwrap(), Status::InReview);
    assert_eq!(pm.reviewers[0].approved_at, Some(103));
    assert_eq!(pm.reviewers[1].approved_at, None);
    assert_eq!(pm.approve("Carol", 105).unwrap(), Status::Reviewed);
    assert_eq!(pm.reviewed_at, Some(105));

    // Reviewed is frozen; approving again is out of order.
    assert!(is_workflow(pm.apply_patch(PostmortemPatch::default(), 106)));
    assert!(is_workflow(pm.approve("bob", 106)));

    pm.publish(107).unwrap();
    assert_eq!(pm.status, Status::Published);
    assert_eq!(pm.published_at, Some(107));

    // Published is frozen, except for action-item progress.
    let patch = PostmortemPatch {
        summary: Some("rewritten".into()),
        ..PostmortemPatch::default()
    };
    assert!(is_workflow(pm.apply_patch(patch, 108)));
    assert!(is_workflow(pm.add_action_item(item("late", "bob"), 108)));
    assert!(is_workflow(pm.publish(108)));
    assert!(is_workflow(pm.withdraw(108)));
    assert!(is_workflow(pm.submit(vec!["bob".into()], 108)));
    assert_eq!(pm.summary, "Payments failed for 25 minutes.");
    pm.update_action_item(1, ActionStatus::Done, 109).unwrap();
    assert_eq!(pm.action_items[0].status, ActionStatus::Done);

    let json = serde_json::to_value(&pm).unwrap();
    assert_eq!(json["status"], "published");
}

#[test]
fn an_edit_in_review_withdraws_approvals_and_withdraw_goes_back_to_draft() {
    let mut pm = ready();
    pm.submit(vec!["bob".into(), "carol".into()], 100).unwrap();
    pm.approve("bob", 101).unwrap();
    // A patch that changes nothing keeps the approval.
    let same = PostmortemPatch {
        trigger: Some(pm.trigger.clone()),
        ..PostmortemPatch::default()
    };
    assert!(!pm.apply_patch(same, 101).unwrap());
    assert_eq!(pm.reviewers[0].approved_at, Some(101));
    pm.apply_patch(
        PostmortemPatch {
            resolution: Some("Rolled back to v2.2.".into()),
            ..PostmortemPatch::default()
        },
        102,
    )
    .unwrap();
    assert_eq!(pm.status, Status::InReview);
    assert!(pm.reviewers.iter().all(|r| r.approved_at.is_none()));
    assert_eq!(pm.updated_at, 102);
    pm.approve("bob", 103).unwrap();
    pm.approve("carol", 104).unwrap();
    assert_eq!(pm.status, Status::Reviewed);

    pm.withdraw(105).unwrap();
    assert_eq!(pm.status, Status::Draft);
    assert_eq!(pm.reviewed_at, None);
    assert!(pm.reviewers.iter().all(|r| r.approved_at.is_none()));
}

#[test]
fn patch_validates_everything_before_changing_anything() {
    let mut pm = sample();
    let before = pm.clone();
    let bad = PostmortemPatch {
        summary: Some("new".into()),
        title: Some("  ".into()),
        ..PostmortemPatch::default()
    };
    assert!(
        matches!(pm.apply_patch(bad, 1), Err(Error::Invalid { field, .. }) if field == "title")
    );
    let bad = PostmortemPatch {
        summary: Some("new".into()),
        root_causes: Some(vec![RootCause {
            category: "change".into(),
            text: " ".into(),
        }]),
        ..PostmortemPatch::default()
    };
    assert!(pm.apply_patch(bad, 1).is_err());
    assert_eq!(pm, before);

    let patch: PostmortemPatch = serde_json::from_str(
        r#"{"lessons": {"went_well": ["rollback took 2 minutes"], "got_lucky": ["low traffic", " "]}}"#,
    )
    .unwrap();
    pm.apply_patch(patch, 2).unwrap();
    assert_eq!(pm.lessons.went_well, ["rollback took 2 minutes"]);
    assert_eq!(pm.lessons.got_lucky, ["low traffic"]);
    assert!(serde_json::from_str::<PostmortemPatch>(r#"{"sumary": "typo"}"#).is_err());
}

fn with_status(status: Status, id: i64) -> Postmortem {
    let mut pm = sample();
    pm.id = id;
    pm.status = status;
    pm
}

#[test]
fn overdue_sev1_after_three_days_sev2_after_five_business_days() {
    // Friday 10:00 UTC.
    let fri = ts("2026-11-27T10:00:00Z");
    assert_eq!(
        review_due_at(Severity::Sev1, fri),
        Some(ts("2026-11-30T10:00:00Z"))
    );
    // Friday + 5 business days = next Friday; Thursday + 5 = next Thursday (weekend skipped).
    assert_eq!(
        review_due_at(Severity::Sev2, fri),
        Some(ts("2026-12-04T10:00:00Z"))
    );
    let thu = ts("2026-11-26T10:00:00Z");
    assert_eq!(
        review_due_at(Severity::Sev2, thu),
        Some(ts("2026-12-03T10:00:00Z"))
    );
    // Resolved on a Saturday: the business days start on Monday.
    let sat = ts("2026-11-28T09:00:00Z");
    assert_eq!(
        review_due_at(Severity::Sev2, sat),
        Some(ts("2026-12-04T09:00:00Z"))
    );
    for sev in [Severity::Sev3, Severity::Sev4, Severity::Sev5] {
        assert_eq!(review_due_at(sev, fri), None);
    }

    let items = vec![
        (with_status(Status::Draft, 1), Severity::Sev1, fri),
        (with_status(Status::InReview, 2), Severity::Sev2, thu),
        (
            with_status(Status::Draft, 3),
            Severity::Sev3,
            fri - 90 * 86_400,
        ),
        (
            with_status(Status::Reviewed, 4),
            Severity::Sev1,
            fri - 30 * 86_400,
        ),
        (
            with_status(Status::Published, 5),
            Severity::Sev1,
            fri - 30 * 86_400,
        ),
        (with_status(Status::Draft, 6), Severity::Sev2, fri),
    ];
    // Exactly at the SEV1 due time: nothing yet.
    assert!(overdue(&items, ts("2026-11-30T10:00:00Z")).is_empty());
    let late = overdue(&items, ts("2026-11-30T10:00:01Z"));
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].postmortem_id, late[0].overdue_seconds), (1, 1));
    assert_eq!(late[0].incident_id, 42);
    assert_eq!(late[0].severity, Severity::Sev1);

    // Wednesday: the SEV2 resolved Thursday is not due until Thursday.
    assert_eq!(overdue(&items, ts("2026-12-02T12:00:00Z")).len(), 1);
    let late = overdue(&items, ts("2026-12-04T11:00:00Z"));
    let ids: Vec<i64> = late.iter().map(|o| o.postmortem_id).collect();
    assert_eq!(ids, [1, 2, 6], "most overdue first");
    assert_eq!(late[1].due_at, ts("2026-12-03T10:00:00Z"));
    assert_eq!(late[2].overdue_seconds, 3600);
}

fn phrases(text: &str) -> Vec<String> {
    blameless_check(text)
        .into_iter()
        .map(|f| f.phrase)
        .collect()
}

#[test]
fn blameless_check_flags_each_pattern_with_a_suggestion() {
    let cases = [
        ("It was Bob's fault.", "Bob's fault"),
        ("It was Bob’s fault.", "Bob’s fault"),
        ("Dave is to blame for the outage", "to blame"),
        ("We BLAMED the deploy", "BLAMED"),
        ("a careless command", "careless"),
        ("negligent handling of keys", "negligent"),
        ("Ops should have known better", "should have known"),
        ("The on-call failed to notice", "failed to"),
        ("Someone forgot to renew the certificate", "forgot to"),
        ("root cause: human error", "human error"),
        ("an incompetent rollout", "incompetent"),
        ("a stupid typo", "stupid"),
        ("sloppy review", "sloppy"),
        ("he didn't bother to check", "didn't bother"),
        ("they did not bother with the canary", "did not bother"),
        (
            "the outage happened when Alice caused a restart loop",
            "Alice caused",
        ),
        ("@mallory broke the build", "@mallory broke"),
        ("she caused the failover", "she caused"),
        ("it was his mistake", "his mistake"),
        ("the team lead was at fault", "at fault"),
    ];
    for (text, phrase) in cases {
        let found = blameless_check(text);
        assert_eq!(found.len(), 1, "{text:?}: {found:?}");
        let f = &found[0];
        assert_eq!(f.phrase, phrase, "{text:?}");
        assert_eq!(&text[f.start..f.start + f.phrase.len()], phrase);
        assert!(f.suggestion.len() > 20, "{text:?}: {}", f.suggestion);
    }
    // Several in one text, in order, with byte offsets after multibyte text.
    let text = "Ünïcode: Bob's fault; Carol forgot to page. Human error.";
    let found = blameless_check(text);
    let got: Vec<(&str, usize)> = found.iter().map(|f| (f.phrase.as_str(), f.start)).collect();
    assert_eq!(
        got,
        [
            ("Bob's fault", text.find("Bob").unwrap()),
            ("forgot to", text.find("forgot").unwrap()),
            ("Human error", text.find("Human").unwrap()),
        ]
    );
}

#[test]
fn blameless_check_leaves_neutral_text_and_other_words_alone() {
    for text in [
        "The deploy of v2.3 introduced a nil map in the retry path; the canary stage was missing.",
        "We run blameless postmortems.",
        "The service is fault tolerant and faultless after the fix; default settings applied.",
        "The database failed over to the replica.",
        "An unforgettable week. The node failed.",
        "This caused a restart loop. It caused alerts. The config change caused errors.",
        "No one's fault: the runbook did not list the step.",
        "DNS caused the timeouts.",
        "Careful work: the blameworthiness question is out of scope.",
    ] {
        assert_eq!(phrases(text), Vec::<String>::new(), "{text:?}");
    }
    assert_eq!(phrases("careful, not reckless"), ["reckless"]);
    // Words split by punctuation are not one phrase.
    assert!(phrases("the retry failed. To fix it we rolled back").is_empty());
}

#[test]
fn blameless_findings_name_the_field() {
    let mut pm = ready();
    pm.apply_patch(
        PostmortemPatch {
            summary: Some("Human error during the deploy.".into()),
            lessons: Some(Lessons {
                went_wrong: vec!["ok".into(), "Bob forgot to check".into()],
                ..Lessons::default()
            }),
            ..PostmortemPatch::default()
        },
        1,
    )
    .unwrap();
    let fields: Vec<(String, String)> = pm
        .blameless_findings()
        .into_iter()
        .map(|f| (f.field, f.finding.phrase))
        .collect();
    assert_eq!(
        fields,
        [
            ("summary".to_string(), "Human error".to_string()),
            ("lessons.went_wrong[1]".to_string(), "forgot to".to_string()),
        ]
    );
}

#[test]
fn markdown_has_every_section_and_the_action_item_table() {
    let mut pm = ready();
    pm.apply_patch(
        PostmortemPatch {
            resolution: Some("Rolled back to v2.2.".into()),
            lessons: Some(Lessons {
                went_well: vec!["rollback was quick".into()],
                went_wrong: vec!["no canary".into()],
                got_lucky: vec!["low | traffic".into()],
            }),
            ..PostmortemPatch::default()
        },
        1,
    )
    .unwrap();
    let mut collab = item("Alert on retry storms", "carol");
    collab.kind = ActionKind::Detect;
    collab.collaborators = vec!["dave".into()];
    pm.add_action_item(collab, 2).unwrap();
    pm.submit(vec!["bob".into(), "erin".into()], 3).unwrap();
    pm.approve("bob", ts("2026-11-28T09:30:00Z")).unwrap();

    let md = pm.to_markdown();
    for heading in [
        "# Postmortem: Checkout errors",
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Root causes",
        "## Trigger",
        "## Resolution",
        "## Detection",
        "## Action items",
        "## Lessons",
        "### What went well",
        "### What went wrong",
        "### Where we got lucky",
        "## Reviewers",
    ] {
        assert!(
            md.lines().any(|l| l == heading),
            "missing {heading:?} in\n{md}"
        );
    }
    assert!(md.contains("| # | title | owner | collaborators | kind | due | status |"));
    assert!(
        md.contains("| 1 | Add a canary stage | bob |  | prevent | 2026-12-04 | open |"),
        "{md}"
    );
    assert!(
        md.contains("| 2 | Alert on retry storms | carol | dave | detect | 2026-12-04 | open |"),
        "{md}"
    );
    assert!(
        md.contains("| checkout-availability | 1234 | 12.3% | 4m 30s | 25m |"),
        "{md}"
    );
    assert!(md.contains("- **software_bug**: a nil map in the retry path"));
    assert!(md.contains("- low | traffic"));
    assert!(
        md.contains("- [x] bob — approved 2026-11-28 09:30 UTC"),
        "{md}"
    );
    assert!(md.contains("- [ ] erin — pending"));
    assert!(md.contains("Payments failed for 25 minutes."));
    assert!(md.contains("Rolled back to v2.2."));
    let first = md.find("error rate at 30%").unwrap();
    let second = md.find("rolled back v2.3").unwrap();
    assert!(first < second, "timeline oldest first");
    assert!(md.contains("- 2026-11-27 10:05 UTC — alice (note): error rate at 30%"));
}

#[test]
fn aggregates_count_services_triggers_categories_and_open_items() {
    let mut a = ready(); // trigger "Deploy of v2.3", software_bug, bob open
    a.add_action_item(item("Second", "carol"), 1).unwrap();
    a.update_action_item(2, ActionStatus::Done, 2).unwrap();

    let mut b = sample();
    b.apply_patch(
        PostmortemPatch {
            trigger: Some("  deploy   OF v2.3 ".into()),
            root_causes: Some(vec![
                RootCause {
                    category: "change".into(),
                    text: "x".into(),
                },
                RootCause {
                    category: "Change".into(),
                    text: "y".into(),
                },
                RootCause {
                    category: "software-bug".into(),
                    text: "z".into(),
                },
            ]),
            ..PostmortemPatch::default()
        },
        1,
    )
    .unwrap();
    b.add_action_item(item("Third", "bob"), 1).unwrap();
    let mut third = item("Fourth", "dave");
    third.kind = ActionKind::Process;
    b.add_action_item(third, 1).unwrap();
    b.update_action_item(2, ActionStatus::InProgress, 2)
        .unwrap();

    let c = sample(); // no trigger, no root causes, no items

    let agg = aggregates(&[
        (a, vec!["checkout".into(), "payments".into()]),
        (b, vec!["checkout".into(), " checkout ".into()]),
        (c, vec![]),
    ]);
    assert_eq!(agg.postmortems, 3);
    let pairs = |m: &std::collections::BTreeMap<String, usize>| -> Vec<(String, usize)> {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    assert_eq!(
        pairs(&agg.by_service),
        [
            ("checkout".into(), 2),
            ("payments".into(), 1),
            ("unknown".into(), 1)
        ]
    );
    assert_eq!(
        pairs(&agg.by_trigger),
        [("deploy of v2.3".into(), 2), ("unknown".into(), 1)]
    );
    assert_eq!(
        pairs(&agg.by_root_cause_category),
        [
            ("change".into(), 1),
            ("software_bug".into(), 2),
            ("unknown".into(), 1)
        ]
    );
    assert_eq!(
        pairs(&agg.open_action_items_by_owner),
        [("bob".into(), 2), ("dave".into(), 1)]
    );
}

proptest::proptest! {
    /// Any text: findings in order, never overlapping, each phrase exactly the text at its
    /// offset, and the same findings whatever the letter case.
    #[test]
    fn blameless_check_is_well_formed(text in "(?s)[a-zA-Z' ’.,@\\nÜé-]{0,80}|((Bob's|fault|to|blame|human|error|failed|He|caused|forgot|should|have|known|didn't|bother|Ünï|\\.| |,)){0,20}") {
        let found = blameless_check(&text);
        let mut end = 0;
        for f in &found {
            proptest::prop_assert!(f.start >= end);
            proptest::prop_assert_eq!(text.get(f.start..f.start + f.phrase.len()), Some(f.phrase.as_str()));
            proptest::prop_assert!(!f.suggestion.is_empty());
            end = f.start + f.phrase.len();
        }
    }
}
