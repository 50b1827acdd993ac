//! The aggregation-group state machine, pure: the server keeps one [`GroupState`] per
//! (route, group labels) and calls [`GroupState::step`] whenever alerts change or the
//! returned wake-up time is reached. Each step says whether a notification is due now and what
//! it contains; the server stores the new state and the notification in one transaction.
//!
//! Timing is Alertmanager's: the first flush comes `group_wait` after the group is created
//! (at once when the oldest alert started more than `group_wait` ago), then a flush every
//! `group_interval`. A flush notifies when Alertmanager's deduplication would:
//! - never notified: when something fires;
//! - something fires that was not in the last notification;
//! - everything resolved and the last notification had firing alerts (the resolution);
//! - with `send_resolved`, an alert the last notification reported firing has resolved (unlike
//!   Alertmanager, an alert that fired and resolved between two flushes is no reason to
//!   notify: the receiver never heard of it);
//! - otherwise when `repeat_interval` has passed since the last notification.
//!
//! nines adds: acknowledged alerts are left out of notifications and never repeat, but their
//! resolution is still sent; a flapping alert is held in the state it had at the last
//! notification; with `resolve_immediately`, a group whose alerts have all resolved notifies
//! at once instead of waiting for the next `group_interval`.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::labels::Fingerprint;

/// Timings and switches of one route/receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOptions {
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    /// Whether resolved alerts are sent (the receiver's `send_resolved`).
    pub send_resolved: bool,
    /// Notify as soon as every alert of the group has resolved.
    pub resolve_immediately: bool,
}

/// An alert as the group sees it at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAlert {
    pub fingerprint: Fingerprint,
    /// Firing at `now` (`endsAt` after `now`).
    pub firing: bool,
    /// Acknowledged by a responder.
    pub acked: bool,
    /// Flapping (see [`FlapHistory`]): held in its last notified state.
    pub flapping: bool,
    /// When it started (an old alert entering a new group skips `group_wait`).
    pub starts_at: Timestamp,
}

/// What the group last did; persisted by the server (serde), one per group key and receiver
/// integration — as Alertmanager's notification log, since `send_resolved` differs between
/// integrations of one receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub next_flush: Timestamp,
    pub last_notified: Option<Timestamp>,
    /// Alerts reported firing (acked ones included) in the last notification.
    pub notified_firing: BTreeSet<Fingerprint>,
    /// Alerts reported resolved in the last notification.
    pub notified_resolved: BTreeSet<Fingerprint>,
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Firing, not acknowledged.
    pub firing: Vec<Fingerprint>,
    /// Resolved (empty unless `send_resolved`).
    pub resolved: Vec<Fingerprint>,
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: GroupState,
    /// Some when a notification is due now.
    pub notification: Option<Notification>,
    /// Resolved alerts the group is done with (remove them after storing the step).
    pub remove: Vec<Fingerprint>,
    /// When to step again at the latest (alert changes may come earlier).
    pub wake_at: Timestamp,
}

fn add(ts: Timestamp, d: SignedDuration) -> Timestamp {
    ts.checked_add(d).unwrap_or(Timestamp::MAX)
}

impl GroupState {
    /// A new group created at `now` for alerts starting at `oldest_start`.
    pub fn new(now: Timestamp, oldest_start: Timestamp, opts: &GroupOptions) -> GroupState {
        let next_flush = if add(oldest_start, opts.group_wait) <= now {
            now
        } else {
            add(now, opts.group_wait)
        };
        GroupState {
            next_flush,
            last_notified: None,
            notified_firing: BTreeSet::new(),
            notified_resolved: BTreeSet::new(),
        }
    }

    /// Decides at `now`.
    pub fn step(&self, alerts: &[GroupAlert], now: Timestamp, opts: &GroupOptions) -> Step {
        // A flapping alert keeps the state the receiver last heard of.
        let effective_firing = |a: &GroupAlert| {
            if a.flapping {
                self.notified_firing.contains(&a.fingerprint)
            } else {
                a.firing
            }
        };
        let firing: BTreeSet<Fingerprint> = alerts
            .iter()
            .filter(|a| effective_firing(a) && !a.acked)
            .map(|a| a.fingerprint)
            .collect();
        let acked: BTreeSet<Fingerprint> = alerts
            .iter()
            .filter(|a| effective_firing(a) && a.acked)
            .map(|a| a.fingerprint)
            .collect();
        let resolved: BTreeSet<Fingerprint> = alerts
            .iter()
            .filter(|a| !effective_firing(a))
            .map(|a| a.fingerprint)
            .collect();

        let all_resolved = firing.is_empty() && acked.is_empty();
        let immediate = opts.resolve_immediately
            && all_resolved
            && !alerts.is_empty()
            && !self.notified_firing.is_empty();
        if now < self.next_flush && !immediate {
            return Step {
                state: self.clone(),
                notification: None,
                remove: Vec::new(),
                wake_at: self.next_flush,
            };
        }

        let due = match self.last_notified {
            None => !firing.is_empty(),
            Some(last) => {
                if !firing.is_subset(&self.notified_firing) {
                    true
                } else if all_resolved {
                    !self.notified_firing.is_empty()
                } else if opts.send_resolved
                    && !resolved
                        .iter()
                        .filter(|f| self.notified_firing.contains(f))
                        .all(|f| self.notified_resolved.contains(f))
                {
                    true
                } else {
                    !firing.is_empty() && add(last, opts.repeat_interval) <= now
                }
            }
        };

        let next_flush = add(now, opts.group_interval);
        let mut state = GroupState {
            next_flush,
            ..self.clone()
        };
        // Alertmanager drops resolved alerts after each flush (they were sent or not needed).
        let remove: Vec<Fingerprint> = alerts
            .iter()
            .filter(|a| !a.firing && !a.flapping)
            .map(|a| a.fingerprint)
            .collect();
        let notification = if due {
            state.last_notified = Some(now);
            state.notified_firing = firing.union(&acked).copied().collect();
            state.notified_resolved = resolved.clone();
            let resolved_out: Vec<Fingerprint> = if opts.send_resolved {
                resolved.into_iter().collect()
            } else {
                Vec::new()
            };
            let firing_out: Vec<Fingerprint> = firing.into_iter().collect();
            (!firing_out.is_empty() || !resolved_out.is_empty()).then_some(Notification {
                firing: firing_out,
                resolved: resolved_out,
            })
        } else {
            None
        };
        Step {
            state,
            notification,
            remove,
            wake_at: next_flush,
        }
    }
}

/// Flap detection over an alert's firing/resolved transitions (persisted with the alert).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlapHistory {
    pub last_firing: Option<bool>,
    /// Times of state changes, oldest first.
    pub transitions: Vec<Timestamp>,
}

/// An alert changing state more than `max_flips` times within `window` is flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapOptions {
    pub max_flips: usize,
    pub window: SignedDuration,
}

impl FlapHistory {
    /// Records the state seen at `at` (only changes count); forgets what left the window.
    pub fn observe(&mut self, firing: bool, at: Timestamp, opts: &FlapOptions) {
        if self.last_firing.is_some_and(|last| last != firing) {
            self.transitions.push(at);
        }
        self.last_firing = Some(firing);
        let horizon = at.checked_sub(opts.window).unwrap_or(Timestamp::MIN);
        self.transitions.retain(|t| *t > horizon);
    }

    pub fn is_flapping(&self, now: Timestamp, opts: &FlapOptions) -> bool {
        let horizon = now.checked_sub(opts.window).unwrap_or(Timestamp::MIN);
        self.transitions
            .iter()
            .filter(|t| **t > horizon && **t <= now)
            .count()
            > opts.max_flips
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn opts() -> GroupOptions {
        GroupOptions {
            group_wait: SignedDuration::from_secs(30),
            group_interval: SignedDuration::from_secs(300),
            repeat_interval: SignedDuration::from_secs(3600),
            send_resolved: true,
            resolve_immediately: false,
        }
    }

    fn alert(n: u64, firing: bool) -> GroupAlert {
        GroupAlert {
            fingerprint: Fingerprint(n),
            firing,
            acked: false,
            flapping: false,
            starts_at: t(0),
        }
    }

    fn fps(ns: &[u64]) -> Vec<Fingerprint> {
        ns.iter().map(|n| Fingerprint(*n)).collect()
    }

    #[test]
    fn group_wait_then_interval_then_repeat() {
        let o = opts();
        let s = GroupState::new(t(0), t(0), &o);
        assert_eq!(s.next_flush, t(30));
        let alerts = [alert(1, true)];
        let early = s.step(&alerts, t(10), &o);
        assert_eq!((early.notification.clone(), early.wake_at), (None, t(30)));
        let first = s.step(&alerts, t(30), &o);
        assert_eq!(first.notification.as_ref().unwrap().firing, fps(&[1]));
        assert_eq!(first.wake_at, t(330));
        // The state survives a restart as JSON.
        let json = serde_json::to_string(&first.state).unwrap();
        assert_eq!(
            serde_json::from_str::<GroupState>(&json).unwrap(),
            first.state
        );
        assert!(
            json.contains(r#""notified_firing":["0000000000000001"]"#),
            "{json}"
        );
        // Nothing new at the next interval.
        let quiet = first.state.step(&alerts, t(330), &o);
        assert_eq!(quiet.notification, None);
        // A new alert waits for the next interval, then is sent with the old one.
        let two = [alert(1, true), alert(2, true)];
        let waiting = quiet.state.step(&two, t(400), &o);
        assert_eq!(waiting.notification, None);
        let sent = waiting.state.step(&two, t(630), &o);
        assert_eq!(sent.notification.as_ref().unwrap().firing, fps(&[1, 2]));
        // Repeat after repeat_interval (checked on interval ticks).
        let mut st = sent.state;
        let mut at = 630;
        let mut repeats = Vec::new();
        while at < 630 + 2 * 3600 {
            at += 300;
            let step = st.step(&two, t(at), &o);
            if step.notification.is_some() {
                repeats.push(at);
            }
            st = step.state;
        }
        assert_eq!(repeats, [630 + 3600, 630 + 3600 + 3600]);
    }

    #[test]
    fn old_alert_skips_group_wait() {
        let s = GroupState::new(t(100), t(0), &opts());
        assert_eq!(s.next_flush, t(100));
    }

    #[test]
    fn resolution_is_sent_and_the_group_empties() {
        let o = opts();
        let s = GroupState::new(t(0), t(0), &o);
        let first = s.step(&[alert(1, true), alert(2, true)], t(30), &o);
        let part = first
            .state
            .step(&[alert(1, true), alert(2, false)], t(330), &o);
        let n = part.notification.unwrap();
        assert_eq!((n.firing, n.resolved), (fps(&[1]), fps(&[2])));
        assert_eq!(part.remove, fps(&[2]));
        let all = part.state.step(&[alert(1, false)], t(630), &o);
        let n = all.notification.unwrap();
        assert_eq!((n.firing, n.resolved), (fps(&[]), fps(&[1])));
        assert_eq!(all.remove, fps(&[1]));
    }

    #[test]
    fn without_send_resolved_only_the_state_is_cleared() {
        let o = GroupOptions {
            send_resolved: false,
            ..opts()
        };
        let s = GroupState::new(t(0), t(0), &o);
        let first = s.step(&[alert(1, true), alert(2, true)], t(30), &o);
        let part = first
            .state
            .step(&[alert(1, true), alert(2, false)], t(330), &o);
        assert_eq!(part.notification, None);
        let all = part.state.step(&[alert(1, false)], t(630), &o);
        assert_eq!(all.notification, None);
        assert!(all.state.notified_firing.is_empty());
    }

    #[test]
    fn fired_and_resolved_between_flushes_is_not_sent() {
        let o = opts();
        let s = GroupState::new(t(0), t(0), &o);
        assert_eq!(s.step(&[alert(1, false)], t(30), &o).notification, None);
    }

    #[test]
    fn acked_alert_stops_repeating_but_its_resolution_is_sent() {
        let o = opts();
        let s = GroupState::new(t(0), t(0), &o);
        let first = s.step(&[alert(1, true)], t(30), &o);
        let acked = GroupAlert {
            acked: true,
            ..alert(1, true)
        };
        let mut st = first.state;
        for i in 1..=24 {
            let step = st.step(std::slice::from_ref(&acked), t(30 + i * 300), &o);
            assert_eq!(step.notification, None, "no repeat at tick {i}");
            st = step.state;
        }
        let resolved = GroupAlert {
            firing: false,
            ..acked
        };
        let end = st.step(&[resolved], t(30 + 25 * 300), &o);
        assert_eq!(end.notification.unwrap().resolved, fps(&[1]));
    }

    #[test]
    fn resolve_immediately_does_not_wait_for_the_interval() {
        let o = GroupOptions {
            resolve_immediately: true,
            ..opts()
        };
        let s = GroupState::new(t(0), t(0), &o);
        let first = s.step(&[alert(1, true), alert(2, true)], t(30), &o);
        // One resolved: waits for the interval.
        let one = first
            .state
            .step(&[alert(1, false), alert(2, true)], t(60), &o);
        assert_eq!(one.notification, None);
        // All resolved: at once.
        let all = one
            .state
            .step(&[alert(1, false), alert(2, false)], t(90), &o);
        assert_eq!(all.notification.unwrap().resolved, fps(&[1, 2]));
        assert_eq!(all.wake_at, t(390));
        // Without the switch it waits until 330.
        let o2 = opts();
        let later = first
            .state
            .step(&[alert(1, false), alert(2, false)], t(90), &o2);
        assert_eq!((later.notification, later.wake_at), (None, t(330)));
    }

    #[test]
    fn flapping_alert_is_held() {
        let o = opts();
        let s = GroupState::new(t(0), t(0), &o);
        let first = s.step(&[alert(1, true)], t(30), &o);
        let flapping_resolved = GroupAlert {
            flapping: true,
            ..alert(1, false)
        };
        // Held as firing: no resolution, not removed.
        let held = first
            .state
            .step(std::slice::from_ref(&flapping_resolved), t(330), &o);
        assert_eq!((held.notification, held.remove), (None, vec![]));
        // A flapping alert never notified stays silent even while firing.
        let s2 = GroupState::new(t(0), t(0), &o);
        let quiet = s2.step(
            &[GroupAlert {
                flapping: true,
                ..alert(2, true)
            }],
            t(30),
            &o,
        );
        assert_eq!(quiet.notification, None);
    }

    #[test]
    fn flap_history_counts_changes_in_the_window() {
        let fo = FlapOptions {
            max_flips: 3,
            window: SignedDuration::from_secs(600),
        };
        let mut h = FlapHistory::default();
        h.observe(true, t(0), &fo);
        for (i, state) in [false, true, false].iter().enumerate() {
            h.observe(*state, t(60 * (i as i64 + 1)), &fo);
        }
        assert!(!h.is_flapping(t(180), &fo)); // 3 changes: not more than 3
        h.observe(true, t(240), &fo);
        assert!(h.is_flapping(t(240), &fo)); // 4 changes within 10m
        h.observe(true, t(300), &fo); // no change
        assert_eq!(h.transitions.len(), 4);
        assert!(!h.is_flapping(t(661), &fo)); // the first change (at 60) left the window
    }
}
