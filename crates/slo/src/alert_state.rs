//! The alert state machine of one SLO's policy, one slot per tier:
//!
//! ```text
//! inactive ──cond──► pending ──cond held `for`──► firing ──¬cond──► resolved ──► inactive
//!     └──────────cond, for = 0─────────────────────►┘                    └─cond─► pending/firing
//! ```
//!
//! It is stepped at bucket resolution with "is the tier's condition true now" for every
//! tier; it keeps no clock of its own. **Inhibition** (when the policy's
//! `inhibit_lower_tiers` is set): while any tier of a higher severity rank fires, a tier of a
//! lower rank does not start firing; it stays pending (or becomes pending) and fires at the
//! first step where its condition still holds and no higher tier fires. A lower tier that was
//! already firing keeps firing: its notification went out already, and muting it would only
//! resolve and re-open it. This matches Alertmanager's inhibition as the receiver sees it.
//! Tiers of the same rank never inhibit each other.

use crate::alerting::{AlertPolicy, Severity};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    /// The condition holds, but not yet for `for`, or a higher tier inhibits it.
    Pending,
    Firing,
    /// Stopped firing at this step; becomes inactive (or pending/firing) at the next.
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<AlertState> {
        [
            AlertState::Inactive,
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One change of state of one tier at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Index of the tier over the whole policy (conditions flattened in order).
    pub tier: usize,
    pub severity: Severity,
    pub from: AlertState,
    pub to: AlertState,
    /// The step's time (unix seconds).
    pub at: i64,
}

#[derive(Debug, Clone)]
struct Slot {
    severity: Severity,
    for_seconds: i64,
    state: AlertState,
    /// When the condition started to hold (pending or firing), or when it resolved.
    since: i64,
}

/// The state of every tier of one policy.
#[derive(Debug, Clone)]
pub struct AlertStateMachine {
    slots: Vec<Slot>,
    inhibit: bool,
    /// Tier indices from the highest severity rank to the lowest (stable).
    order: Vec<usize>,
}

impl AlertStateMachine {
    pub fn new(policy: &AlertPolicy) -> AlertStateMachine {
        let slots: Vec<Slot> = policy
            .tiers()
            .map(|(_, t)| Slot {
                severity: t.severity,
                for_seconds: t.for_seconds.max(0),
                state: AlertState::Inactive,
                since: 0,
            })
            .collect();
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(slots[i].severity.rank()));
        AlertStateMachine {
            slots,
            inhibit: policy.inhibit_lower_tiers,
            order,
        }
    }

    pub fn tier_count(&self) -> usize {
        self.slots.len()
    }

    /// The current state of tier `tier` (`None` when out of range).
    pub fn state(&self, tier: usize) -> Option<AlertState> {
        self.slots.get(tier).map(|s| s.state)
    }

    /// Since when tier `tier` has been pending or firing, or when it resolved.
    pub fn since(&self, tier: usize) -> Option<i64> {
        self.slots.get(tier).map(|s| s.since)
    }

    /// Puts tier `tier` back into a saved state (after a restart), so a firing alert keeps
    /// firing without waiting for `for` again and a pending one keeps its start. A saved
    /// `resolved` becomes inactive. Refused (false) when the tier does not exist or has another
    /// severity: the policy changed, and the tier starts fresh.
    pub fn restore(
        &mut self,
        tier: usize,
        severity: Severity,
        state: AlertState,
        since: i64,
    ) -> bool {
        let Some(slot) = self.slots.get_mut(tier) else {
            return false;
        };
        if slot.severity != severity {
            return false;
        }
        slot.state = match state {
            AlertState::Resolved => AlertState::Inactive,
            other => other,
        };
        slot.since = since;
        true
    }

    /// Steps every tier to `now` given whether its condition holds (`conditions[i]` for tier
    /// `i`; missing entries count as false) and returns the transitions, ordered by tier rank
    /// (highest first), then by tier index.
    pub fn step(&mut self, now: i64, conditions: &[bool]) -> Vec<Transition> {
        let mut out = Vec::new();
        self.step_into(now, conditions, &mut out);
        out
    }

    /// [`step`](Self::step) appending to `out`, for callers that reuse one buffer.
    pub fn step_into(&mut self, now: i64, conditions: &[bool], out: &mut Vec<Transition>) {
        // Highest rank firing after this step among the tiers already stepped.
        let mut firing_rank: u8 = 0;
        for &i in &self.order {
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            let cond = conditions.get(i).copied().unwrap_or(false);
            let rank = slot.severity.rank();
            let inhibited = self.inhibit && firing_rank > rank;
            let from = slot.state;
            let to = match (from, cond) {
                (AlertState::Firing, true) => AlertState::Firing,
                (AlertState::Firing, false) => AlertState::Resolved,
                (AlertState::Pending, false) => AlertState::Inactive,
                (AlertState::Inactive | AlertState::Resolved, false) => AlertState::Inactive,
                (AlertState::Pending, true) => {
                    if !inhibited && now.saturating_sub(slot.since) >= slot.for_seconds {
                        AlertState::Firing
                    } else {
                        AlertState::Pending
                    }
                }
                (AlertState::Inactive | AlertState::Resolved, true) => {
                    if !inhibited && slot.for_seconds == 0 {
                        AlertState::Firing
                    } else {
                        AlertState::Pending
                    }
                }
            };
            if from != to {
                let starts = matches!(from, AlertState::Inactive | AlertState::Resolved);
                if starts || to == AlertState::Resolved {
                    slot.since = now;
                }
                slot.state = to;
                out.push(Transition {
                    tier: i,
                    severity: slot.severity,
                    from,
                    to,
                    at: now,
                });
            }
            if slot.state == AlertState::Firing {
                firing_rank = firing_rank.max(rank);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::{AlertTier, Strategy};

    fn tier(severity: Severity, for_seconds: i64) -> AlertTier {
        AlertTier {
            severity,
            long_window: 3600,
            short_window: None,
            burn_rate: 1.0,
            for_seconds,
        }
    }

    fn states(m: &AlertStateMachine) -> Vec<AlertState> {
        (0..m.tier_count()).filter_map(|i| m.state(i)).collect()
    }

    use AlertState::*;

    #[test]
    fn restored_states_continue_where_they_left_off() {
        let mut policy = AlertPolicy::single(
            Strategy::Multiwindow,
            vec![tier(Severity::Page, 0), tier(Severity::Ticket, 600)],
        );
        policy.inhibit_lower_tiers = false;
        let mut m = AlertStateMachine::new(&policy);
        assert!(m.restore(0, Severity::Page, Firing, 100));
        assert!(m.restore(1, Severity::Ticket, Pending, 50));
        assert!(!m.restore(1, Severity::Page, Firing, 50), "wrong severity");
        assert!(!m.restore(2, Severity::Page, Firing, 50), "no such tier");
        // Still firing: no transition, the start is kept.
        assert!(m.step(200, &[true, true]).iter().all(|t| t.tier != 0));
        assert_eq!(m.since(0), Some(100));
        // The ticket's `for` counts from the restored start: 50 + 600 = 650.
        assert!(m.step(640, &[true, true]).iter().all(|t| t.tier != 1));
        let t = m.step(650, &[true, true]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].tier, t[0].to), (1, Firing));
        // A restored firing tier resolves like any other.
        let t = m.step(700, &[false, true]);
        assert_eq!((t[0].tier, t[0].to), (0, Resolved));
        for s in ["inactive", "pending", "firing", "resolved"] {
            assert_eq!(AlertState::parse(s).map(AlertState::as_str), Some(s));
        }
        assert_eq!(AlertState::parse("on fire"), None);
    }

    #[test]
    fn pending_for_then_firing_then_resolved() {
        let p = AlertPolicy::single(Strategy::Duration, vec![tier(Severity::Page, 120)]);
        let mut m = AlertStateMachine::new(&p);
        let t = m.step(0, &[true]);
        assert_eq!((t[0].from, t[0].to, t[0].at), (Inactive, Pending, 0));
        assert!(m.step(60, &[true]).is_empty());
        let t = m.step(120, &[true]);
        assert_eq!((t[0].from, t[0].to), (Pending, Firing));
        assert_eq!(m.since(0), Some(0));
        let t = m.step(180, &[false]);
        assert_eq!((t[0].from, t[0].to), (Firing, Resolved));
        let t = m.step(240, &[false]);
        assert_eq!((t[0].from, t[0].to), (Resolved, Inactive));
        // A condition that drops while pending never fires.
        m.step(300, &[true]);
        let t = m.step(360, &[false]);
        assert_eq!((t[0].from, t[0].to), (Pending, Inactive));
    }

    #[test]
    fn for_zero_fires_at_once_and_missing_conditions_are_false() {
        let p = AlertPolicy::single(Strategy::BurnRate, vec![tier(Severity::Page, 0)]);
        let mut m = AlertStateMachine::new(&p);
        let t = m.step(0, &[true]);
        assert_eq!((t[0].from, t[0].to), (Inactive, Firing));
        let t = m.step(60, &[]);
        assert_eq!((t[0].from, t[0].to), (Firing, Resolved));
        let t = m.step(120, &[true, true, true]);
        assert_eq!((t[0].from, t[0].to), (Resolved, Firing));
    }

    #[test]
    fn a_firing_page_keeps_a_ticket_pending() {
        let p = AlertPolicy::single(
            Strategy::Multiwindow,
            vec![tier(Severity::Ticket, 0), tier(Severity::Page, 0)],
        );
        let mut m = AlertStateMachine::new(&p);
        m.step(0, &[true, true]);
        assert_eq!(states(&m), [Pending, Firing]);
        // The page resolves: the ticket, still true, fires at the same step.
        let t = m.step(60, &[true, false]);
        assert_eq!(states(&m), [Firing, Resolved]);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].tier, t[0].to), (1, Resolved));
        assert_eq!((t[1].tier, t[1].to), (0, Firing));
        // An already firing ticket is not silenced by a new page.
        m.step(120, &[true, true]);
        assert_eq!(states(&m), [Firing, Firing]);
    }

    #[test]
    fn inhibition_can_be_turned_off() {
        let mut p = AlertPolicy::single(
            Strategy::Multiwindow,
            vec![tier(Severity::Page, 0), tier(Severity::Ticket, 0)],
        );
        p.inhibit_lower_tiers = false;
        let mut m = AlertStateMachine::new(&p);
        m.step(0, &[true, true]);
        assert_eq!(states(&m), [Firing, Firing]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::alerting::{AlertTier, Strategy};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fires_only_on_a_condition_held_for_for(
            fors in proptest::collection::vec(0i64..5, 1..4),
            steps in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 0..5), 0..60),
            inhibit in any::<bool>(),
        ) {
            let tiers: Vec<AlertTier> = fors.iter().enumerate().map(|(i, f)| AlertTier {
                severity: if i % 2 == 0 { Severity::Page } else { Severity::Ticket },
                long_window: 60,
                short_window: None,
                burn_rate: 1.0,
                for_seconds: f * 60,
            }).collect();
            let mut policy = AlertPolicy::single(Strategy::Duration, tiers);
            policy.inhibit_lower_tiers = inhibit;
            let mut m = AlertStateMachine::new(&policy);
            // Consecutive steps each tier's condition has held.
            let mut held = vec![0i64; fors.len()];
            for (k, conds) in steps.iter().enumerate() {
                let now = k as i64 * 60;
                for (i, h) in held.iter_mut().enumerate() {
                    *h = if conds.get(i).copied().unwrap_or(false) { *h + 1 } else { 0 };
                }
                for tr in m.step(now, conds) {
                    prop_assert!(tr.from != tr.to);
                    prop_assert_eq!(tr.at, now);
                    if tr.to == AlertState::Firing {
                        // Held at least `for` (in steps of 60 s) before this step.
                        prop_assert!((held[tr.tier] - 1) * 60 >= fors[tr.tier] * 60);
                    }
                }
                for (i, h) in held.iter().enumerate() {
                    if m.state(i) == Some(AlertState::Firing) {
                        prop_assert!(*h > 0);
                    }
                }
            }
        }
    }
}
