//! Inhibition as in Alertmanager: an alert matching a rule's target matchers is muted while a
//! firing alert matches its source matchers and has the same values for the `equal` labels
//! (a missing label equals a missing label). An alert matching both sides does not inhibit
//! itself, nor any alert through a source that also matches the target.

use crate::labels::{Fingerprint, LabelSet};
use crate::matcher::Matchers;

#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub source_matchers: Matchers,
    pub target_matchers: Matchers,
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// The fingerprint of a firing alert (from `firing`) that inhibits `target` under this rule.
    pub fn inhibited_by<'a>(
        &self,
        target: &LabelSet,
        firing: impl IntoIterator<Item = &'a LabelSet>,
    ) -> Option<Fingerprint> {
        if !self.target_matchers.matches(target) {
            return None;
        }
        // When the target also matches the source side, a source that matches the target side
        // too cannot inhibit it (so such alerts never inhibit each other or themselves).
        let two_sided = self.source_matchers.matches(target);
        firing
            .into_iter()
            .filter(|source| self.source_matchers.matches(source))
            .filter(|source| {
                self.equal
                    .iter()
                    .all(|n| source.value(n) == target.value(n))
            })
            .find(|source| !(two_sided && self.target_matchers.matches(source)))
            .map(LabelSet::fingerprint)
    }
}

/// The first rule/firing alert pair inhibiting `target`; `firing` are the labels of all alerts
/// firing now (silenced ones included, as in Alertmanager).
pub fn inhibited_by(
    rules: &[InhibitRule],
    target: &LabelSet,
    firing: &[LabelSet],
) -> Option<Fingerprint> {
    rules.iter().find_map(|r| r.inhibited_by(target, firing))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source_matchers: Matchers::parse(source).unwrap(),
            target_matchers: Matchers::parse(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn critical_inhibits_warning_of_the_same_cluster() {
        let r = rule(
            r#"severity="critical""#,
            r#"severity="warning""#,
            &["alertname", "cluster"],
        );
        let crit = ls(&[
            ("alertname", "Down"),
            ("cluster", "a"),
            ("severity", "critical"),
        ]);
        let warn_a = ls(&[
            ("alertname", "Down"),
            ("cluster", "a"),
            ("severity", "warning"),
        ]);
        let warn_b = ls(&[
            ("alertname", "Down"),
            ("cluster", "b"),
            ("severity", "warning"),
        ]);
        let firing = [crit.clone()];
        assert_eq!(
            inhibited_by(std::slice::from_ref(&r), &warn_a, &firing),
            Some(crit.fingerprint())
        );
        assert_eq!(
            inhibited_by(std::slice::from_ref(&r), &warn_b, &firing),
            None
        );
        // The source does not inhibit itself.
        assert_eq!(inhibited_by(std::slice::from_ref(&r), &crit, &firing), None);
        // No firing source, no inhibition.
        assert_eq!(inhibited_by(&[r], &warn_a, &[]), None);
    }

    #[test]
    fn missing_equal_labels_are_equal() {
        let r = rule(r#"severity="critical""#, r#"severity="warning""#, &["zone"]);
        let firing = [ls(&[("severity", "critical")])];
        assert!(r
            .inhibited_by(&ls(&[("severity", "warning")]), &firing)
            .is_some());
        assert!(r
            .inhibited_by(&ls(&[("severity", "warning"), ("zone", "x")]), &firing)
            .is_none());
    }

    #[test]
    fn alerts_matching_both_sides_do_not_inhibit_each_other() {
        // Source and target both `team="db"`: an alert matching both sides is not inhibited by
        // another alert that also matches both sides, but is by a source-only alert.
        let r = rule(
            r#"team="db""#,
            r#"team="db", severity=~"warning|info""#,
            &[],
        );
        let warn1 = ls(&[("team", "db"), ("severity", "warning"), ("n", "1")]);
        let warn2 = ls(&[("team", "db"), ("severity", "warning"), ("n", "2")]);
        assert_eq!(
            r.inhibited_by(&warn1, &[warn1.clone(), warn2.clone()]),
            None
        );
        let crit = ls(&[("team", "db"), ("severity", "critical")]);
        assert_eq!(
            r.inhibited_by(&warn1, &[warn2, crit.clone()]),
            Some(crit.fingerprint())
        );
    }
}
