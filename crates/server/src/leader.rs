//! Which replica evaluates and notifies.
//!
//! Every replica serves the API and ingests; only the leader steps the alert state machines,
//! saves alert states, hands SLO alerts to the notifier, plans notifications and delivers
//! them. [`run`] asks the store's [`store::Leadership`] once per tick — a follower tries to
//! acquire, the leader confirms — and [`Tracker`] turns the answers into a lease:
//!
//! - leadership counts from the moment the successful request was SENT, for one lease;
//! - a confirmation that fails, says "not held", or is still out when the lease ends, loses
//!   leadership at once: [`Leader::leading`] turns false before anything else happens, the
//!   tasks see it before their next store write, and the session is given up so the lock is
//!   surely free for another replica;
//! - each gain starts a new epoch; the evaluator and the notifier compare it with the epoch
//!   their memory belongs to and restore from the store when it changed, so a new leader
//!   continues from what the old one stored instead of notifying everything again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::state::AppState;

/// What one request to the election answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The lock is held by this replica.
    Held,
    /// Another replica holds it (or this one no longer does).
    NotHeld,
    /// The request failed or overran the lease.
    Failed,
}

/// What an answer changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A follower became the leader (a new epoch).
    Gained,
    /// The leader stays the leader, its lease renewed.
    Kept,
    /// The leader lost leadership.
    Lost,
    /// A follower stays a follower.
    Stayed,
}

/// The lease, pure: no clock of its own, every `Instant` is passed in.
#[derive(Debug, Clone)]
pub struct Tracker {
    lease: Duration,
    /// Set while leading: leadership ends here unless renewed.
    valid_until: Option<Instant>,
    /// Incremented on every gain.
    epoch: u64,
}

impl Tracker {
    pub fn new(lease: Duration) -> Tracker {
        Tracker {
            lease,
            valid_until: None,
            epoch: 0,
        }
    }

    /// The epoch while leading at `now`, `None` for a follower or an expired lease.
    pub fn leading(&self, now: Instant) -> Option<u64> {
        self.valid_until
            .filter(|until| now < *until)
            .map(|_| self.epoch)
    }

    /// Whether this replica considers itself the leader (its lease may have run out at
    /// `now`: then the next request is a confirmation that [`Tracker::observe`] turns into
    /// [`Transition::Lost`]).
    pub fn holds(&self) -> bool {
        self.valid_until.is_some()
    }

    /// How long a request sent at `now` may take: the rest of the lease while leading.
    pub fn budget(&self, now: Instant) -> Duration {
        match self.valid_until {
            Some(until) => until.saturating_duration_since(now),
            None => self.lease,
        }
    }

    /// Applies the answer to a request sent at `sent` and answered at `now`.
    pub fn observe(&mut self, answer: Answer, sent: Instant, now: Instant) -> Transition {
        let was_leading = self.valid_until.is_some();
        let expired = self.valid_until.is_some_and(|until| now >= until);
        match (was_leading, answer) {
            // The confirmation came after the lease ended: someone else may have led in
            // between, so this is a loss (and a later gain restores from the store).
            (true, Answer::Held) if expired => {
                self.valid_until = None;
                Transition::Lost
            }
            (true, Answer::Held) => {
                self.valid_until = sent.checked_add(self.lease);
                Transition::Kept
            }
            (true, _) => {
                self.valid_until = None;
                Transition::Lost
            }
            (false, Answer::Held) => {
                self.epoch += 1;
                self.valid_until = sent.checked_add(self.lease);
                if self.valid_until.is_some_and(|until| now >= until) {
                    // Took longer than a lease to get: not safe to act on.
                    self.valid_until = None;
                    return Transition::Stayed;
                }
                Transition::Gained
            }
            (false, _) => Transition::Stayed,
        }
    }
}

/// This replica's leadership, shared by every task ([`AppState::leader`]).
pub struct Leader {
    /// This replica's name (`--replica-id`).
    pub replica: String,
    shared: bool,
    tracker: Mutex<Tracker>,
    transitions: AtomicU64,
    /// Answers from the election so far (start-up waits for the first).
    answers: watch::Sender<u64>,
}

impl Leader {
    pub fn new(replica: String, shared: bool, lease: Duration) -> Leader {
        Leader {
            replica,
            shared,
            tracker: Mutex::new(Tracker::new(lease)),
            transitions: AtomicU64::new(0),
            answers: watch::Sender::new(0),
        }
    }

    /// How long one confirmation lasts.
    pub fn lease(&self) -> Duration {
        self.tracker().lease
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current epoch while this replica leads (its lease running), else `None`.
    pub fn leading(&self) -> Option<u64> {
        self.tracker().leading(Instant::now())
    }

    pub fn is_leader(&self) -> bool {
        self.leading().is_some()
    }

    /// Whether other replicas write to the same store.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// Gains and losses so far.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    /// Applies one answer as if the election gave it now (tests drive handovers with it).
    #[cfg(test)]
    pub(crate) fn force(&self, answer: Answer) -> Transition {
        let now = Instant::now();
        self.tracker().observe(answer, now, now)
    }

    /// Ends leadership now (shutdown).
    fn step_down(&self) -> bool {
        let mut t = self.tracker();
        let was = t.holds();
        t.valid_until = None;
        was
    }
}

/// How often the election is asked by default: followers take over within this after the
/// lock is freed.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// The lease when the election does not dictate one ([`store::Leadership::lease`]).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// `HOST-PID`: unique among replicas on one host and across hosts (a Kubernetes pod's host
/// name is the pod's name).
pub fn default_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "nines".to_string());
    format!("{host}-{}", std::process::id())
}

/// Waits (at most a lease and a tick) until the election answered once, so a single process
/// already leads its first evaluation round and a follower does not start as a leader.
pub async fn first_answer(state: &AppState, tick: Duration) {
    let mut answers = state.leader.answers.subscribe();
    let wait = state.leader.lease() + tick;
    let _ = tokio::time::timeout(wait, answers.wait_for(|n| *n > 0)).await;
}

/// Asks `leadership` every `tick` until `stop`, keeping `state.leader` current; gives the
/// lock up on the way out so another replica takes over at once.
pub async fn run(
    state: Arc<AppState>,
    leadership: Arc<dyn store::Leadership>,
    tick: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let leader = &state.leader;
    let mut last_error: Option<String> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let sent = Instant::now();
        let (holds, budget) = {
            let t = leader.tracker();
            (t.holds(), t.budget(sent))
        };
        let request = async {
            if holds {
                leadership.check().await
            } else {
                leadership.try_acquire().await
            }
        };
        let answer = match tokio::time::timeout(budget, request).await {
            Ok(Ok(true)) => Answer::Held,
            Ok(Ok(false)) => Answer::NotHeld,
            Ok(Err(e)) => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    tracing::warn!(replica = %leader.replica, error = %text, "leader election failed");
                }
                last_error = Some(text);
                Answer::Failed
            }
            Err(_) => {
                tracing::warn!(
                    replica = %leader.replica,
                    "leader election: no answer within {} ms",
                    budget.as_millis()
                );
                Answer::Failed
            }
        };
        if answer != Answer::Failed {
            last_error = None;
        }
        let transition = leader.tracker().observe(answer, sent, Instant::now());
        apply(&state, transition);
        leader.answers.send_modify(|n| *n += 1);
        if transition == Transition::Lost {
            // The lock may still be held (only the lease ran out): drop the session so it is
            // free for the others.
            leadership.release().await;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
    if leader.step_down() {
        apply(&state, Transition::Lost);
    }
    leadership.release().await;
}

/// Metrics, a log line, and on a gain an immediate round of every leader task.
fn apply(state: &AppState, transition: Transition) {
    let leader = &state.leader;
    match transition {
        Transition::Gained => {
            leader.transitions.fetch_add(1, Ordering::Relaxed);
            state.metrics.leader_changed(&leader.replica, true);
            tracing::info!(replica = %leader.replica, "this replica is the leader");
            state.eval_now.notify_one();
            state.notifier.wake();
            state.deliverer.wake();
        }
        Transition::Lost => {
            leader.transitions.fetch_add(1, Ordering::Relaxed);
            state.metrics.leader_changed(&leader.replica, false);
            tracing::info!(
                replica = %leader.replica,
                "this replica is no longer the leader: evaluating and sending stop"
            );
        }
        Transition::Kept | Transition::Stayed => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(5);

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_follower_gains_keeps_and_loses_on_a_failed_check() {
        let t0 = Instant::now();
        let mut t = Tracker::new(LEASE);
        assert_eq!(t.leading(t0), None);
        assert_eq!(
            t.observe(Answer::NotHeld, t0, at(t0, 10)),
            Transition::Stayed
        );
        assert_eq!(t.leading(at(t0, 20)), None);
        assert_eq!(
            t.observe(Answer::Held, at(t0, 1000), at(t0, 1010)),
            Transition::Gained
        );
        assert_eq!(t.leading(at(t0, 1020)), Some(1));
        assert_eq!(
            t.observe(Answer::Held, at(t0, 2000), at(t0, 2005)),
            Transition::Kept
        );
        assert_eq!(t.leading(at(t0, 6999)), Some(1), "renewed from the send");
        assert_eq!(
            t.observe(Answer::Failed, at(t0, 3000), at(t0, 3001)),
            Transition::Lost
        );
        assert_eq!(t.leading(at(t0, 3002)), None, "lost at once");
        assert_eq!(
            t.observe(Answer::Held, at(t0, 4000), at(t0, 4001)),
            Transition::Gained
        );
        assert_eq!(t.leading(at(t0, 4002)), Some(2), "a new epoch");
    }

    #[test]
    fn not_held_any_more_is_a_loss() {
        let t0 = Instant::now();
        let mut t = Tracker::new(LEASE);
        t.observe(Answer::Held, t0, t0);
        assert_eq!(
            t.observe(Answer::NotHeld, at(t0, 1000), at(t0, 1001)),
            Transition::Lost
        );
        assert!(!t.holds());
    }

    #[test]
    fn the_lease_counts_from_the_send_and_ends_without_an_answer() {
        let t0 = Instant::now();
        let mut t = Tracker::new(LEASE);
        // Sent at 0, answered 2 s later: the lease ends at 5 s, not 7 s.
        assert_eq!(
            t.observe(Answer::Held, t0, at(t0, 2000)),
            Transition::Gained
        );
        assert_eq!(t.leading(at(t0, 4999)), Some(1));
        // No confirmation came: leadership is over although nothing answered "lost".
        assert_eq!(t.leading(at(t0, 5000)), None);
        assert_eq!(t.budget(at(t0, 4000)), Duration::from_secs(1));
        // A confirmation that arrives after the lease ended does not revive it.
        assert_eq!(
            t.observe(Answer::Held, at(t0, 4000), at(t0, 5500)),
            Transition::Lost
        );
        assert_eq!(t.leading(at(t0, 5501)), None);
    }

    #[test]
    fn a_gain_that_took_longer_than_the_lease_is_not_acted_on() {
        let t0 = Instant::now();
        let mut t = Tracker::new(LEASE);
        assert_eq!(
            t.observe(Answer::Held, t0, at(t0, 6000)),
            Transition::Stayed
        );
        assert_eq!(t.leading(at(t0, 6001)), None);
        assert!(!t.holds());
    }

    /// The loop against a scripted election: transitions reach `Leader` and the metrics,
    /// and a check that hangs loses leadership when the lease ends, not later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_loop_loses_leadership_when_a_check_hangs() {
        use std::sync::atomic::AtomicUsize;
        const LEASE: Duration = Duration::from_millis(600);
        const TICK: Duration = Duration::from_millis(100);
        struct Script {
            acquires: AtomicUsize,
            checks: AtomicUsize,
            released: AtomicUsize,
        }
        #[async_trait::async_trait]
        impl store::Leadership for Script {
            fn shared(&self) -> bool {
                true
            }
            fn lease(&self) -> Option<Duration> {
                Some(LEASE)
            }
            async fn try_acquire(&self) -> Result<bool, store::StoreError> {
                // Only the first try wins: after the loss another replica holds the lock.
                Ok(self.acquires.fetch_add(1, Ordering::SeqCst) == 0)
            }
            async fn check(&self) -> Result<bool, store::StoreError> {
                // The third check never answers (a partitioned database).
                if self.checks.fetch_add(1, Ordering::SeqCst) >= 2 {
                    std::future::pending::<()>().await;
                }
                Ok(true)
            }
            async fn release(&self) {
                self.released.fetch_add(1, Ordering::SeqCst);
            }
        }
        let script = Arc::new(Script {
            acquires: AtomicUsize::new(0),
            checks: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
        });
        let state = crate::test_state(script.clone()).await;
        assert!(!state.leader.is_leader());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(state.clone(), script.clone(), TICK, stop_rx));
        first_answer(&state, TICK).await;
        assert!(state.leader.is_leader(), "the first try won");

        // Wait for the hanging check, then for the loss.
        let deadline = Instant::now() + Duration::from_secs(5);
        while script.checks.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let hung_at = Instant::now();
        assert!(
            state.leader.is_leader(),
            "the lease from the last good check still runs"
        );
        while state.leader.is_leader() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let lost_after = hung_at.elapsed();
        assert!(!state.leader.is_leader(), "never lost leadership");
        assert!(
            lost_after <= LEASE,
            "lost {lost_after:?} after the check hung: later than the lease"
        );
        // The loop notices too: it gives the session up and counts the transition.
        while script.released.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            script.released.load(Ordering::SeqCst) >= 1,
            "the session is given up"
        );
        assert_eq!(state.leader.transitions(), 2);
        let metrics = state.metrics.encode().unwrap_or_default();
        assert!(
            metrics.contains("nines_leader{replica=\"test-replica\"} 0"),
            "{metrics}"
        );
        assert!(
            metrics.contains("nines_leader_transitions_total 2"),
            "{metrics}"
        );
        // Still a follower a few ticks later: the lock is someone else's now.
        tokio::time::sleep(TICK * 3).await;
        assert!(!state.leader.is_leader());
        let _ = stop_tx.send(true);
        let _ = task.await;
    }

    /// An election the tests decide through [`Leader::force`]: shared, a long lease.
    struct Shared;

    #[async_trait::async_trait]
    impl store::Leadership for Shared {
        fn shared(&self) -> bool {
            true
        }
        fn lease(&self) -> Option<Duration> {
            Some(Duration::from_secs(3600))
        }
        async fn try_acquire(&self) -> Result<bool, store::StoreError> {
            Ok(false)
        }
        async fn check(&self) -> Result<bool, store::StoreError> {
            Ok(false)
        }
        async fn release(&self) {}
    }

    const SLO: &str = "apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: { path: \"^/api/\" }
          good: { status: \"<500\" }
        objective: 99.9
        window: 30d
";

    fn routed() -> String {
        format!(
            "{SLO}alertmanager:
  route:
    receiver: team
    group_by: [alertname, instance]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: team
      webhook_configs:
        - url: http://127.0.0.1:9/hook
"
        )
    }

    async fn two_replicas(config: &str) -> (Arc<AppState>, Arc<AppState>, Arc<dyn store::Store>) {
        let store: Arc<dyn store::Store> = Arc::new(store::MemoryStore::new());
        let a = crate::test_state_with(config, store.clone(), Arc::new(Shared), "a").await;
        let b = crate::test_state_with(config, store.clone(), Arc::new(Shared), "b").await;
        (a, b, store)
    }

    async fn outbox(store: &dyn store::Store) -> usize {
        store
            .notifications(&store::NotificationFilter::default(), 100)
            .await
            .map_or(0, |n| n.len())
    }

    fn alert(instance: &str) -> notify::PostableAlert {
        let doc = serde_json::json!({
            "labels": { "alertname": "Down", "instance": instance },
        });
        match serde_json::from_value(doc) {
            Ok(a) => a,
            Err(e) => panic!("test alert: {e}"),
        }
    }

    /// The notifier of a replica that becomes the leader continues from the stored group
    /// states (no second notification of what the old leader sent), sees alerts that other
    /// replicas accepted, and the old leader writes nothing once it lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_leader_continues_the_notifications_of_the_old_one() {
        let (a, b, store) = two_replicas(&routed()).await;
        let mut rounds_a = crate::notifier::Rounds::default();
        let mut rounds_b = crate::notifier::Rounds::default();
        assert_eq!(a.leader.force(Answer::Held), Transition::Gained);
        // b has read the store while it was still empty.
        crate::notifier::round(&b, &mut rounds_b).await;

        let cfg = a.config().alertmanager.clone();
        let now = jiff::Timestamp::now();
        let refused = a
            .notifier
            .post_alerts(a.store.as_ref(), cfg.as_deref(), vec![alert("x1")], now)
            .await;
        assert!(refused.is_ok_and(|r| r.is_empty()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while outbox(store.as_ref()).await == 0 && Instant::now() < deadline {
            crate::notifier::round(&a, &mut rounds_a).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(outbox(store.as_ref()).await, 1, "the leader notified x1");

        // A follower never notifies, whatever it holds.
        tokio::time::sleep(REFRESH).await;
        crate::notifier::round(&b, &mut rounds_b).await;
        assert_eq!(outbox(store.as_ref()).await, 1);
        let listed = b
            .notifier
            .alerts(
                b.store.as_ref(),
                cfg.as_deref(),
                &crate::notifier::AlertFilter::default(),
                jiff::Timestamp::now(),
            )
            .await
            .map_or(0, |v| v.len());
        assert_eq!(
            listed, 1,
            "the follower shows the alert another replica accepted"
        );

        // Handover.
        assert_eq!(a.leader.force(Answer::Failed), Transition::Lost);
        assert_eq!(b.leader.force(Answer::Held), Transition::Gained);
        for _ in 0..3 {
            crate::notifier::round(&b, &mut rounds_b).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            outbox(store.as_ref()).await,
            1,
            "the new leader notified x1 again: it did not restore the group states"
        );

        // An alert accepted by the old leader (now a follower) is notified by the new one;
        // the old one plans nothing.
        let refused = a
            .notifier
            .post_alerts(a.store.as_ref(), cfg.as_deref(), vec![alert("x2")], now)
            .await;
        assert!(refused.is_ok_and(|r| r.is_empty()));
        crate::notifier::round(&a, &mut rounds_a).await;
        assert_eq!(outbox(store.as_ref()).await, 1, "a follower enqueued");
        tokio::time::sleep(REFRESH).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while outbox(store.as_ref()).await < 2 && Instant::now() < deadline {
            crate::notifier::round(&b, &mut rounds_b).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            outbox(store.as_ref()).await,
            2,
            "x2 was not notified by the new leader"
        );
    }

    /// Slightly more than the notifier's refresh period.
    const REFRESH: Duration = Duration::from_millis(1100);

    /// A replica that becomes the leader continues the alert states the old leader saved: a
    /// firing tier keeps firing from its original start, with no new transition (which would
    /// notify again); a follower steps nothing and saves nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_leader_continues_the_alert_states_of_the_old_one() {
        let (a, b, store) = two_replicas(SLO).await;
        let c = crate::test_state_with(SLO, store.clone(), Arc::new(Shared), "c").await;
        assert_eq!(a.leader.force(Answer::Held), Transition::Gained);
        // b evaluates once before anything fires: its machines are inactive.
        crate::evaluator::evaluate_all(&b).await;
        // A total outage over the last minutes.
        let now = crate::now();
        let deltas = (1..=5)
            .map(|m| store::CounterDelta {
                series: "checkout/availability".to_string(),
                bucket_start: (now / 60 - m) * 60,
                good: 0,
                total: 1000,
            })
            .collect();
        let batch = store::IngestBatch {
            deltas,
            ..Default::default()
        };
        assert!(store.commit_ingest(&batch).await.is_ok());

        crate::evaluator::evaluate_all(&a).await;
        let tier_state = |s: &AppState| {
            let eval = s.eval_read();
            eval.slos
                .get("checkout/availability")
                .and_then(|r| r.alerts.as_ref())
                .map(|al| (al.machine.state(0), al.machine.since(0)))
        };
        let fired = tier_state(&a);
        assert!(
            matches!(fired, Some((Some(slo::AlertState::Firing), Some(_)))),
            "the outage fires the page tier on the leader: {fired:?}"
        );
        assert!(!a.eval_read().history.is_empty());
        let saved = store.alert_states().await.map_or(0, |s| s.len());
        assert!(saved > 0, "the leader saved its transitions");

        // A follower's round shows the leader's state and writes nothing.
        crate::evaluator::evaluate_all(&c).await;
        assert_eq!(tier_state(&c), fired);
        assert!(c.eval_read().history.is_empty(), "a follower stepped");
        assert_eq!(store.alert_states().await.map_or(0, |s| s.len()), saved);

        // Handover to b, whose machines are stale (inactive): the new leader must reload.
        let more = store::IngestBatch {
            deltas: vec![store::CounterDelta {
                series: "checkout/availability".to_string(),
                bucket_start: (now / 60) * 60,
                good: 0,
                total: 1000,
            }],
            ..Default::default()
        };
        assert!(store.commit_ingest(&more).await.is_ok());
        assert_eq!(a.leader.force(Answer::NotHeld), Transition::Lost);
        crate::evaluator::evaluate_all(&a).await;
        assert_eq!(b.leader.force(Answer::Held), Transition::Gained);
        crate::evaluator::evaluate_all(&b).await;
        assert_eq!(tier_state(&b), fired, "the tier keeps its original start");
        assert!(
            b.eval_read().history.is_empty(),
            "the new leader fired again: {:?}",
            b.eval_read().history
        );
    }
}
