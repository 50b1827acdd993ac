//! Retention: once at start and then hourly, deletes counter buckets and finished
//! notifications (delivered or given up, with their attempts) older than
//! [`Settings::retention`](crate::Settings::retention). Pending deliveries are never deleted.
//!
//! Counters are kept at least as long as the running configuration reads them: the longest
//! SLO window (a calendar month counts 31 days, a quarter 92) plus the longest alert window
//! or a day, whichever is more. A start with a shorter `counters` retention is refused; a reload that
//! lengthens a window past it keeps the longer span (and says so) rather than deleting data a
//! report needs.
//!
//! Only the leader prunes: deleting is idempotent, so two replicas pruning at once would be
//! harmless, but one is enough. Deleted rows are counted in `nines_retention_pruned_rows`.

use crate::loaded::Loaded;
use crate::state::AppState;
use slo::{CalendarUnit, Window};
use std::sync::Arc;
use std::time::Duration;

/// How long data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Counter buckets starting before now − this are deleted.
    pub counters: Duration,
    /// Finished notifications created before now − this are deleted.
    pub notifications: Duration,
}

const DAY: i64 = 86_400;

impl Retention {
    /// 400 days of counters (a year and a quarter: this year against last year's same
    /// quarter) and 30 days of notification history (a month of postmortem evidence).
    pub const DEFAULT: Retention = Retention {
        counters: Duration::from_secs(400 * DAY as u64),
        notifications: Duration::from_secs(30 * DAY as u64),
    };
}

/// How often retention runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// The counters the configuration reads: the SLO that needs the longest span and that span
/// in seconds (window plus the longer of its longest alert window and a day).
pub fn needed_span(loaded: &Loaded) -> Option<(String, i64)> {
    loaded
        .slos
        .iter()
        .map(|entry| {
            let window = longest_length(&entry.config.spec.window);
            let lookback = entry
                .config
                .alert_policy
                .as_ref()
                .and_then(|p| {
                    p.conditions
                        .iter()
                        .flat_map(|c| c.tiers.iter().map(|t| t.long_window))
                        .max()
                })
                .unwrap_or(0)
                .max(DAY);
            (entry.key.clone(), window.saturating_add(lookback))
        })
        .max_by_key(|(_, span)| *span)
}

/// The longest a window can be: a rolling window's length, a calendar period's longest.
fn longest_length(window: &Window) -> i64 {
    match window {
        Window::Rolling { seconds } => *seconds,
        Window::Calendar { unit, .. } => match unit {
            CalendarUnit::Week => 7 * DAY,
            CalendarUnit::Month => 31 * DAY,
            CalendarUnit::Quarter => 92 * DAY,
        },
    }
}

/// `30d`, `36h`, `90m` or seconds: the largest unit that divides `seconds`.
fn human(seconds: i64) -> String {
    for (unit, size) in [("d", DAY), ("h", 3600), ("m", 60)] {
        if seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Refuses a counters retention shorter than what the configuration reads.
pub fn check(retention: &Retention, loaded: &Loaded) -> Result<(), Vec<spec::Diagnostic>> {
    let keep = i64::try_from(retention.counters.as_secs()).unwrap_or(i64::MAX);
    match needed_span(loaded) {
        Some((slo, needed)) if keep < needed => Err(vec![spec::Diagnostic {
            file: "--retention-counters".to_string(),
            line: 0,
            col: 0,
            path: String::new(),
            message: format!(
                "{} is shorter than the {} of counters SLO {slo} reads (its window plus its \
                 longest alert window or a day); keep at least {}",
                human(keep),
                human(needed),
                human(needed)
            ),
        }]),
        _ => Ok(()),
    }
}

/// What one run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub counters: u64,
    pub notifications: u64,
}

/// Deletes what is older than the retention at `now` (unix seconds), never counters the
/// current configuration still reads.
pub async fn prune_once(
    state: &AppState,
    retention: Retention,
    now: i64,
) -> Result<Pruned, store::StoreError> {
    let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let mut keep = seconds(retention.counters);
    if let Some((slo, needed)) = needed_span(&state.config()) {
        if needed > keep {
            tracing::warn!(
                slo = %slo,
                "retention keeps {} of counters, not {}: the SLO reads that much",
                human(needed),
                human(keep)
            );
            keep = needed;
        }
    }
    let counters = state.store.prune_counters(now.saturating_sub(keep)).await?;
    let labels = |table: &str| crate::metrics::TableLabels {
        table: table.to_string(),
    };
    state
        .metrics
        .retention_pruned
        .get_or_create(&labels("counters"))
        .inc_by(counters);
    let notifications = state
        .store
        .prune_notifications(now.saturating_sub(seconds(retention.notifications)))
        .await?;
    state
        .metrics
        .retention_pruned
        .get_or_create(&labels("notifications"))
        .inc_by(notifications);
    Ok(Pruned {
        counters,
        notifications,
    })
}

/// Prunes at once and then every [`INTERVAL`] until `stop` turns true. [`check`] runs
/// before, at start-up.
pub async fn run(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(retention) = state.settings.retention else {
        return;
    };
    // The first tick completes at once: a server that restarts often still prunes.
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if !state.leader.is_leader() {
            continue;
        }
        let outcome = match prune_once(&state, retention, crate::now()).await {
            Ok(pruned) => {
                if pruned != Pruned::default() {
                    tracing::info!(
                        counters = pruned.counters,
                        notifications = pruned.notifications,
                        "retention deleted {} counter bucket(s) and {} notification(s)",
                        pruned.counters,
                        pruned.notifications
                    );
                }
                "ok"
            }
            Err(e) => {
                tracing::error!(error = %e, "retention failed (retried in an hour)");
                "error"
            }
        };
        state
            .metrics
            .retention_runs
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_windows_count_their_longest_period() {
        let tz = jiff::tz::TimeZone::UTC;
        let calendar = |unit| Window::Calendar {
            unit,
            timezone: tz.clone(),
        };
        assert_eq!(longest_length(&calendar(CalendarUnit::Month)), 31 * DAY);
        assert_eq!(longest_length(&calendar(CalendarUnit::Quarter)), 92 * DAY);
        assert_eq!(
            longest_length(&Window::Rolling { seconds: 28 * DAY }),
            28 * DAY
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(31 * DAY), "31d");
        assert_eq!(human(36 * 3600), "36h");
        assert_eq!(human(90), "90s");
        assert_eq!(human(120), "2m");
    }

    #[test]
    fn defaults_cover_a_quarter() {
        let quarter = Window::Calendar {
            unit: CalendarUnit::Quarter,
            timezone: jiff::tz::TimeZone::UTC,
        };
        let keep = Retention::DEFAULT.counters.as_secs() as i64;
        assert!(keep >= longest_length(&quarter) + 3 * DAY);
    }
}
