//! `load_str` never panics, whatever the input.

use proptest::prelude::*;

const SEED: &str = "apiVersion: nines/v1\nservices:\n  - name: checkout\n    slos:\n      - name: availability\n        sli:\n          kind: availability\n          source: access_log\n          total: { path: \"^/api/\", method: [GET] }\n          good: { status: \"<500\", latency: \"<=300ms\" }\n        objective: { min: 99.0, max: 99.95 }\n        window: { calendar: month, timezone: Europe/Berlin }\n        budgeting: timeslices\n        slice_target: 95\n        exclude:\n          - { from: \"2023-11-14T23:00:00Z\", to: \"2023-11-14T23:10:00Z\" }\n---\napiVersion: openslo/v1\nkind: SLO\nmetadata: { name: a }\nspec:\n  service: web\n  indicatorRef: x\n  timeWindow: [{ duration: 1M, calendar: { timeZone: UTC } }]\n  budgetingMethod: Timeslices\n  objectives: [{ target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 1m }]\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = spec::load_str("fuzz.yaml", &text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(text in "([a-zA-Z:{}\\[\\],\\-\"' \n#&*!|>0-9.]|apiVersion: |nines/v1|openslo/v1|services|slos|objective|window){0,200}") {
        let _ = spec::load_str("fuzz.yaml", &text);
    }

    #[test]
    fn mutated_valid_configs_never_panic(cut in 0usize..2000, insert in "[ -~\n]{0,8}") {
        let mut text = SEED.to_string();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &insert);
        let result = spec::load_str("fuzz.yaml", &text);
        if let Err(diags) = result {
            for d in diags {
                prop_assert!(!d.message.is_empty());
                prop_assert!(!d.to_string().contains('\n'), "{}", d);
            }
        }
    }
}

#[test]
fn the_seed_is_valid_apart_from_the_dangling_reference() {
    let diags = spec::load_str("seed.yaml", SEED).expect_err("indicatorRef x is dangling");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].message.contains("points to no SLI"));
}
