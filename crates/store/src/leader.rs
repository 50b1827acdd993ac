//! Leader election among replicas that share one store.
//!
//! Any replica may ingest and serve the API (counters are additive, control-plane writes go
//! to the store first), but exactly one — the leader — may step alert state machines and send
//! notifications. [`Leadership`] is the one question the server asks, once per tick: "may I
//! (still) lead?".
//!
//! - [`SingleProcess`] (SQLite, memory): the process is always the leader. An embedded
//!   SQLite store belongs to one `nines serve` process (one data directory per server; other
//!   commands that open it, like `nines token`, neither evaluate nor notify), and a memory
//!   store cannot be shared at all.
//! - [`PgLeadership`] (PostgreSQL): a session-level advisory lock
//!   (`pg_try_advisory_lock(`[`LEADER_LOCK_KEY`]`)`) held on one dedicated connection, never
//!   one from a pool (a pooled connection would carry the lock back into the pool). The
//!   holder confirms the lock on that connection every tick; the server side bounds how long
//!   a silent holder keeps it (see [`PgLeadership::new`]). The caller adds the lease: a check
//!   that fails, answers "not held", or takes longer than the lease ends leadership at once.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use crate::StoreError;

/// The advisory lock every nines replica of one database competes for: "nines" and "LD"
/// (leader) in ASCII. Advisory locks are scoped to their database, so installations in other
/// databases of the same cluster do not compete.
pub const LEADER_LOCK_KEY: i64 = 0x006e_696e_6573_4c44;

/// Whether this replica leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderStatus {
    Leader,
    Follower,
}

impl LeaderStatus {
    pub fn is_leader(self) -> bool {
        self == LeaderStatus::Leader
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LeaderStatus::Leader => "leader",
            LeaderStatus::Follower => "follower",
        }
    }
}

/// One way of electing the leader. Calls come from one task, one at a time; a call may be
/// cancelled (dropped) when it overruns the caller's lease, and the implementation must then
/// behave as if leadership was lost (give up the lock, not keep it silently).
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Whether other processes write to the same store, so a leader must re-read what they
    /// wrote (alerts, silences, acknowledgements) instead of trusting its memory.
    fn shared(&self) -> bool;

    /// How long one successful request keeps leadership on this side, when the election
    /// dictates it (it must end before the other side frees the lock); `None` lets the
    /// caller choose.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// Tries to become the leader without waiting: `Ok(true)` when this replica leads now
    /// (also when it already did).
    async fn try_acquire(&self) -> Result<bool, StoreError>;

    /// Confirms that leadership is still held: `Ok(false)` or an error means it is lost.
    async fn check(&self) -> Result<bool, StoreError>;

    /// Gives leadership up (shutdown, or after a failed check), so another replica can take
    /// over without waiting for a timeout. Never fails: at worst the lock dies with the
    /// session.
    async fn release(&self);
}

/// The only process: always the leader (SQLite and memory stores; see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleProcess;

#[async_trait]
impl Leadership for SingleProcess {
    fn shared(&self) -> bool {
        false
    }

    async fn try_acquire(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn check(&self) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn release(&self) {}
}

/// Timing of a PostgreSQL election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgLeaseTimes {
    /// How long one confirmation stays good on the holder's side (the caller's lease).
    pub lease: Duration,
    /// How long the database keeps the session of a holder it no longer hears from
    /// (`idle_session_timeout`); must exceed `lease`, see [`PgLeadership::new`].
    pub server_timeout: Duration,
}

impl Default for PgLeaseTimes {
    fn default() -> Self {
        PgLeaseTimes {
            lease: Duration::from_secs(5),
            server_timeout: Duration::from_secs(10),
        }
    }
}

/// Leader election through a PostgreSQL session-level advisory lock.
pub struct PgLeadership {
    options: PgConnectOptions,
    times: PgLeaseTimes,
    /// The session holding (or trying for) the lock. Taken out for the duration of a call
    /// and put back only when the call completes, so a call cancelled mid-query drops the
    /// connection: its socket closes and the server frees the lock.
    session: Mutex<Option<PgConnection>>,
}

fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { operation, source }
}

/// Whole milliseconds for a server setting, at least 1.
fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

impl PgLeadership {
    /// An election over the database at `url` (`postgres://...`); `replica` names this
    /// replica in `pg_stat_activity.application_name` (`nines-leader:<replica>`), so an
    /// operator can see who holds the lock. Nothing connects until the first
    /// [`Leadership::try_acquire`].
    ///
    /// Why the lock cannot outlive its holder by much:
    /// - a killed holder (`kill -9`, a crashed pod) leaves a closed socket; the server ends
    ///   the session at once and frees the lock;
    /// - a holder cut off by the network cannot close anything. Its session is idle between
    ///   two checks, so `idle_session_timeout = server_timeout` makes the server end it (and
    ///   free the lock) once no check arrived for that long; TCP keepalives and
    ///   `tcp_user_timeout` end it too when the peer stops acknowledging. The holder counts
    ///   its lease from the moment it SENT its last successful check, which the server
    ///   received later, and `lease < server_timeout`: so the cut-off holder has stopped
    ///   leading before the server frees the lock for someone else (assuming clocks that
    ///   run at about the same rate, and a process that is not frozen between its check of
    ///   the lease and its writes — see ARCHITECTURE.md for that fencing limit).
    ///
    /// The URL must reach PostgreSQL directly or through session pooling: a transaction
    /// pooler would hand the lock's session to other clients.
    pub fn new(url: &str, replica: &str, times: PgLeaseTimes) -> Result<PgLeadership, StoreError> {
        let options: PgConnectOptions =
            url.parse().map_err(query_error("parsing the store url"))?;
        if times.server_timeout <= times.lease {
            return Err(StoreError::InvalidInput {
                what: "leader lease",
                reason: "the server timeout must be longer than the lease",
            });
        }
        let keepalive_secs = times.lease.as_secs().max(1);
        let options = options
            .application_name(&format!("nines-leader:{replica}"))
            .options([
                (
                    "idle_session_timeout",
                    format!("{}ms", millis(times.server_timeout)),
                ),
                ("tcp_keepalives_idle", keepalive_secs.to_string()),
                ("tcp_keepalives_interval", "1".to_string()),
                ("tcp_keepalives_count", "3".to_string()),
                (
                    "tcp_user_timeout",
                    format!("{}ms", millis(times.server_timeout)),
                ),
                // A check must never wait behind anything: it is bounded below the lease.
                ("statement_timeout", format!("{}ms", millis(times.lease))),
            ])
            // The statements are the same two every second; no need to prepare them.
            .statement_cache_capacity(0);
        Ok(PgLeadership {
            options,
            times,
            session: Mutex::new(None),
        })
    }
}

/// Whether `conn`'s session holds the leader lock now (a bigint advisory key is shown in
/// `pg_locks` as its high half in `classid`, its low half in `objid`, `objsubid` 1).
async fn holds_lock(conn: &mut PgConnection) -> Result<bool, StoreError> {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid = pg_backend_pid() AND objsubid = 1 \
         AND ((classid::bigint << 32) | objid::bigint) = $1)",
    )
    .bind(LEADER_LOCK_KEY)
    .fetch_one(conn)
    .await
    .map_err(query_error("confirming the leader lock"))
}

#[async_trait]
impl Leadership for PgLeadership {
    fn shared(&self) -> bool {
        true
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.times.lease)
    }

    async fn try_acquire(&self) -> Result<bool, StoreError> {
        let mut slot = self.session.lock().await;
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self
                .options
                .connect()
                .await
                .map_err(query_error("connecting the leader session"))?,
        };
        let got = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await
            .map_err(query_error("trying the leader lock"))?;
        // A follower keeps its session between tries (one connection per replica, not one
        // per second); a failed query above dropped it instead.
        *slot = Some(conn);
        Ok(got)
    }

    async fn check(&self) -> Result<bool, StoreError> {
        let mut slot = self.session.lock().await;
        let Some(mut conn) = slot.take() else {
            return Ok(false);
        };
        let held = holds_lock(&mut conn).await?;
        *slot = Some(conn);
        Ok(held)
    }

    async fn release(&self) {
        let conn = self.session.lock().await.take();
        if let Some(conn) = conn {
            // Closing the session frees every lock it holds; a failed goodbye drops the
            // socket, which the server treats the same.
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_spells_nines_leader() {
        let bytes = LEADER_LOCK_KEY.to_be_bytes();
        assert_eq!(&bytes[1..], b"ninesLD");
    }

    #[test]
    fn a_lease_not_shorter_than_the_server_timeout_is_refused() {
        let times = PgLeaseTimes {
            lease: Duration::from_secs(10),
            server_timeout: Duration::from_secs(10),
        };
        assert!(PgLeadership::new("postgres://u@127.0.0.1/db", "a", times).is_err());
        assert!(
            PgLeadership::new("postgres://u@127.0.0.1/db", "a", PgLeaseTimes::default()).is_ok()
        );
    }

    #[tokio::test]
    async fn a_single_process_always_leads() {
        let l = SingleProcess;
        assert!(!l.shared());
        assert!(l.try_acquire().await.unwrap_or(false));
        assert!(l.check().await.unwrap_or(false));
    }
}
