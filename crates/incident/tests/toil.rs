//! Toil through the public API: categories, validation, the weekly share of capacity per
//! team (ISO weeks, across a year boundary), the 50% flag, by-category minutes, before vs
//! after an automation, and page toil.
#![allow(clippy::unwrap_used)]

use incident::toil::{iso_week, page_toil, report, Automation, Category, Source, Team, ToilEntry};
use incident::Error;

fn ts(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn entry(team: &str, category: Category, minutes: u32, at: &str) -> ToilEntry {
    ToilEntry {
        id: 0,
        team: team.into(),
        category,
        minutes,
        at: ts(at),
        description: "rotated certificates by hand".into(),
        automatable: false,
        task: None,
        author: "alice".into(),
        source: Source::Manual,
    }
}

fn task(team: &str, name: &str, minutes: u32, at: &str) -> ToilEntry {
    ToilEntry {
        task: Some(name.into()),
        automatable: true,
        ..entry(team, Category::BusinessProcesses, minutes, at)
    }
}

#[test]
fn categories_parse_with_underscores_hyphens_and_spaces() {
    assert_eq!(
        "production-interrupts".parse::<Category>().unwrap(),
        Category::ProductionInterrupts
    );
    assert_eq!(
        " Cost Engineering ".parse::<Category>().unwrap(),
        Category::CostEngineering
    );
    for c in Category::ALL {
        assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::Value::String(c.to_string())
        );
    }
    let err = "meetings".parse::<Category>().unwrap_err();
    assert!(matches!(&err, Error::Invalid { field, .. } if field == "category"));
    assert_eq!(err.to_string(), err.to_string().to_lowercase());
}

#[test]
fn entries_validate_minutes_team_description_author() {
    let ok = entry("sre", Category::Migrations, 30, "2026-11-23T09:00:00Z");
    ok.validate().unwrap();
    let field = |e: ToilEntry| match e.validate() {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(ToilEntry {
            minutes: 0,
            ..ok.clone()
        }),
        "minutes"
    );
    assert_eq!(
        field(ToilEntry {
            minutes: 10_081,
            ..ok.clone()
        }),
        "minutes"
    );
    ToilEntry {
        minutes: 10_080,
        ..ok.clone()
    }
    .validate()
    .unwrap();
    assert_eq!(
        field(ToilEntry {
            team: " ".into(),
            ..ok.clone()
        }),
        "team"
    );
    assert_eq!(
        field(ToilEntry {
            description: String::new(),
            ..ok.clone()
        }),
        "description"
    );
    assert_eq!(
        field(ToilEntry {
            author: String::new(),
            ..ok.clone()
        }),
        "author"
    );
    assert_eq!(
        field(ToilEntry {
            task: Some(String::new()),
            ..ok.clone()
        }),
        "task"
    );
    assert_eq!(
        field(ToilEntry {
            at: i64::MAX,
            ..ok.clone()
        }),
        "at"
    );

    let parsed: ToilEntry = serde_json::from_str(
        r#"{"team":"sre","category":"troubleshooting","minutes":5,"at":0,"description":"x","author":"a"}"#,
    )
    .unwrap();
    assert_eq!(parsed.source, Source::Manual);
    assert!(!parsed.automatable);
    assert_eq!(parsed.task, None);
}

#[test]
fn iso_weeks_start_on_monday_utc_across_a_year_boundary() {
    // Thursday 2026-12-31 and Saturday 2027-01-02 are both in 2026-W53.
    let monday = ts("2026-12-28T00:00:00Z");
    assert_eq!(
        iso_week(ts("2026-12-31T12:00:00Z")),
        Some((monday, "2026-W53".to_string()))
    );
    assert_eq!(
        iso_week(ts("2027-01-03T23:59:59Z")),
        Some((monday, "2026-W53".to_string()))
    );
    assert_eq!(
        iso_week(ts("2027-01-04T00:00:00Z")),
        Some((ts("2027-01-04T00:00:00Z"), "2027-W01".to_string()))
    );
    // Monday 2025-12-29 starts 2026-W01.
    assert_eq!(
        iso_week(ts("2025-12-31T08:00:00Z")),
        Some((ts("2025-12-29T00:00:00Z"), "2026-W01".to_string()))
    );
    // Before 1970 too.
    assert_eq!(
        iso_week(ts("1969-12-31T23:00:00Z")),
        Some((ts("1969-12-29T00:00:00Z"), "1970-W01".to_string()))
    );
    assert_eq!(iso_week(i64::MAX), None);
}

#[test]
fn report_gives_share_per_team_and_week_and_flags_over_half() {
    let teams = vec![
        Team {
            name: "SRE".into(),
            weekly_capacity_minutes: 2400,
        },
        Team {
            name: "db".into(),
            weekly_capacity_minutes: 0,
        },
    ];
    let entries = vec![
        // 2026-W48: 600 + 300 = 900 of 2400 = 37.5%.
        entry(
            "sre",
            Category::ProductionInterrupts,
            600,
            "2026-11-23T09:00:00Z",
        ),
        entry(
            " SRE ",
            Category::Troubleshooting,
            300,
            "2026-11-29T23:59:00Z",
        ),
        // 2026-W53 across the year boundary: 1000 + 500 = 1500 = 62.5% (over half).
        ToilEntry {
            automatable: true,
            ..entry(
                "sre",
                Category::ProductReleases,
                1000,
                "2026-12-31T12:00:00Z",
            )
        },
        entry(
            "sre",
            Category::ProductionInterrupts,
            500,
            "2027-01-02T12:00:00Z",
        ),
        // A team without capacity and one unknown to the team list.
        entry("db", Category::Migrations, 120, "2026-11-24T10:00:00Z"),
        entry(
            "web",
            Category::CapacityPlanning,
            60,
            "2026-11-24T10:00:00Z",
        ),
        // Outside the range.
        entry("sre", Category::Migrations, 5000, "2027-01-11T10:00:00Z"),
    ];
    let r = report(
        &entries,
        &teams,
        &[],
        ts("2026-11-23T00:00:00Z"),
        ts("2027-01-11T00:00:00Z"),
    );
    let rows: Vec<(&str, &str, u64, Option<f64>, bool)> = r
        .weeks
        .iter()
        .map(|w| {
            (
                w.team.as_str(),
                w.week.as_str(),
                w.minutes,
                w.share,
                w.over_half,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("SRE", "2026-W48", 900, Some(0.375), false),
            ("SRE", "2026-W53", 1500, Some(0.625), true),
            ("db", "2026-W48", 120, None, false),
            ("web", "2026-W48", 60, None, false),
        ]
    );
    assert_eq!(r.weeks[1].week_start, ts("2026-12-28T00:00:00Z"));
    assert_eq!(r.weeks[1].capacity_minutes, Some(2400));
    assert_eq!(r.weeks[2].capacity_minutes, None);
    assert_eq!(r.teams_over_half, ["SRE"]);
    assert_eq!(r.total_minutes, 900 + 1500 + 120 + 60);
    assert_eq!(r.automatable_minutes, 1000);

    let by_category: Vec<(Category, u64)> = r
        .by_category
        .iter()
        .map(|c| (c.category, c.minutes))
        .collect();
    assert_eq!(
        by_category,
        [
            (Category::ProductionInterrupts, 1100),
            (Category::ProductReleases, 1000),
            (Category::Migrations, 120),
            (Category::CapacityPlanning, 60),
            (Category::Troubleshooting, 300),
        ]
    );
    let sre: Vec<(Category, u64)> = r
        .by_team_category
        .iter()
        .filter(|c| c.team == "SRE")
        .map(|c| (c.category, c.minutes))
        .collect();
    assert_eq!(
        sre,
        [
            (Category::ProductionInterrupts, 1100),
            (Category::ProductReleases, 1000),
            (Category::Troubleshooting, 300),
        ]
    );

    // The share serializes as null without a capacity.
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["weeks"][2]["share"].is_null());
    assert_eq!(json["by_category"][0]["category"], "production_interrupts");
}

#[test]
fn before_and_after_an_automation_compare_four_weeks_each() {
    let automated = "2026-11-01T00:00:00Z";
    let mut entries = Vec::new();
    // Four weeks before: 60 minutes a week.
    for at in [
        "2026-10-05T10:00:00Z",
        "2026-10-12T10:00:00Z",
        "2026-10-19T10:00:00Z",
        "2026-10-26T10:00:00Z",
    ] {
        entries.push(task("sre", "Rotate certs", 60, at));
    }
    // Older than four weeks, other task, other team: not counted.
    entries.push(task("sre", "rotate certs", 999, "2026-10-03T10:00:00Z"));
    entries.push(task("sre", "restart workers", 50, "2026-10-20T10:00:00Z"));
    entries.push(task("db", "rotate certs", 70, "2026-10-20T10:00:00Z"));
    entries.push(entry(
        "sre",
        Category::Migrations,
        40,
        "2026-10-20T10:00:00Z",
    ));
    // After: 20 minutes in four weeks.
    entries.push(task("sre", " rotate certs ", 15, "2026-11-01T00:00:00Z"));
    entries.push(task("sre", "ROTATE CERTS", 5, "2026-11-20T10:00:00Z"));
    entries.push(task("sre", "rotate certs", 999, "2026-11-29T00:00:00Z"));

    let automations = vec![Automation {
        team: "sre".into(),
        task: "rotate certs".into(),
        at: ts(automated),
    }];
    let teams = [Team {
        name: "sre".into(),
        weekly_capacity_minutes: 2400,
    }];
    let r = report(
        &entries,
        &teams,
        &automations,
        ts("2026-09-01T00:00:00Z"),
        ts("2027-01-01T00:00:00Z"),
    );
    assert_eq!(r.automations.len(), 1);
    let ba = &r.automations[0];
    assert_eq!(
        (ba.team.as_str(), ba.task.as_str()),
        ("sre", "rotate certs")
    );
    assert_eq!(ba.automated_at, ts(automated));
    assert_eq!((ba.weeks_before, ba.minutes_before), (4.0, 240));
    assert_eq!(ba.minutes_per_week_before, Some(60.0));
    assert_eq!((ba.weeks_after, ba.minutes_after), (4.0, 20));
    assert_eq!(ba.minutes_per_week_after, Some(5.0));

    // A range ending two weeks after the automation cuts the after window to two weeks.
    let r = report(
        &entries,
        &teams,
        &automations,
        ts("2026-09-01T00:00:00Z"),
        ts("2026-11-15T00:00:00Z"),
    );
    let ba = &r.automations[0];
    assert_eq!((ba.weeks_after, ba.minutes_after), (2.0, 15));
    assert_eq!(ba.minutes_per_week_after, Some(7.5));

    // An automation outside the range is left out.
    let r = report(
        &entries,
        &teams,
        &automations,
        0,
        ts("2026-10-01T00:00:00Z"),
    );
    assert!(r.automations.is_empty());
}

#[test]
fn page_toil_counts_ack_to_resolve_as_production_interrupts() {
    let acked = ts("2026-11-27T10:00:00Z");
    let e = page_toil(" sre ", acked, acked + 61, "page: checkout burn").unwrap();
    assert_eq!(e.minutes, 2);
    assert_eq!(e.category, Category::ProductionInterrupts);
    assert_eq!(e.source, Source::Page);
    assert_eq!(e.team, "sre");
    assert_eq!(e.at, acked);
    assert_eq!(e.description, "page: checkout burn");
    e.validate().unwrap();

    assert_eq!(page_toil("sre", acked, acked + 60, "x").unwrap().minutes, 1);
    assert_eq!(page_toil("sre", acked, acked + 1, "x").unwrap().minutes, 1);
    assert_eq!(
        page_toil("sre", acked, acked + 30 * 86_400, "x")
            .unwrap()
            .minutes,
        10_080
    );
    assert_eq!(page_toil("sre", acked, acked, "x"), None);
    assert_eq!(page_toil("sre", acked, acked - 5, "x"), None);
    assert_eq!(page_toil("sre", i64::MIN, i64::MAX, "x"), None);
    let json = serde_json::to_value(page_toil("sre", acked, acked + 600, "").unwrap()).unwrap();
    assert_eq!(json["source"], "page");
    assert_eq!(json["category"], "production_interrupts");
}

proptest::proptest! {
    /// Whatever the entries: the weeks add up to the total, each entry's minutes land in the
    /// ISO week holding it, and a share exists exactly when the team has a capacity.
    #[test]
    fn weeks_add_up(raw in proptest::collection::vec((0usize..3, 1u32..=10_080, -100_000_000i64..100_000_000, proptest::bool::ANY), 0..40)) {
        let names = ["sre", "db", "web"];
        let entries: Vec<ToilEntry> = raw
            .iter()
            .map(|(t, minutes, at, automatable)| ToilEntry {
                team: names[*t].into(),
                minutes: *minutes,
                at: 1_790_000_000 + at,
                automatable: *automatable,
                ..entry("x", Category::Troubleshooting, 1, "2026-01-01T00:00:00Z")
            })
            .collect();
        let teams = [
            Team { name: "sre".into(), weekly_capacity_minutes: 2400 },
            Team { name: "db".into(), weekly_capacity_minutes: 0 },
        ];
        let r = report(&entries, &teams, &[], i64::MIN, i64::MAX);
        let total: u64 = entries.iter().map(|e| u64::from(e.minutes)).sum();
        proptest::prop_assert_eq!(r.total_minutes, total);
        proptest::prop_assert_eq!(r.weeks.iter().map(|w| w.minutes).sum::<u64>(), total);
        for w in &r.weeks {
            proptest::prop_assert_eq!(w.share.is_some(), w.team == "sre");
            let in_week: u64 = entries
                .iter()
                .filter(|e| e.team == w.team && e.at >= w.week_start && e.at < w.week_start + 7 * 86_400)
                .map(|e| u64::from(e.minutes))
                .sum();
            proptest::prop_assert_eq!(in_week, w.minutes);
            proptest::prop_assert_eq!(iso_week(w.week_start).map(|(_, label)| label), Some(w.week.clone()));
        }
    }
}

#[test]
fn an_automation_younger_than_a_week_has_no_after_rate_yet() {
    let at = ts("2026-11-20T12:00:00Z");
    let entries = vec![
        task("sre", "rotate", 120, "2026-11-10T09:00:00Z"),
        task("sre", "rotate", 30, "2026-11-21T09:00:00Z"),
    ];
    let automations = vec![Automation {
        team: "sre".into(),
        task: "rotate".into(),
        at,
    }];
    let r = report(
        &entries,
        &[],
        &automations,
        ts("2026-10-01T00:00:00Z"),
        ts("2026-11-23T00:00:00Z"),
    );
    let ba = &r.automations[0];
    assert_eq!(ba.minutes_after, 30);
    assert!(ba.weeks_after < 1.0);
    assert_eq!(
        ba.minutes_per_week_after, None,
        "2.5 days cannot give a weekly rate"
    );
    assert_eq!(
        ba.minutes_per_week_before,
        Some(30.0),
        "120 minutes over 4 weeks"
    );
}
