//! Leader election over a real PostgreSQL (a throw-away cluster): one holder at a time, a
//! holder whose session ends (kill -9, a terminated backend) is told so at its next check and
//! the lock is free for another at once, and a clean release hands it over.

use std::time::{Duration, Instant};

use store::leader::{Leadership, PgLeadership, PgLeaseTimes};
use store::testing::PgCluster;

fn times() -> PgLeaseTimes {
    PgLeaseTimes {
        lease: Duration::from_secs(2),
        server_timeout: Duration::from_secs(4),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_and_a_dead_session_frees_the_lock(
) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = PgCluster::start()?;
    let url = cluster.create_database("leader_election").await?;
    let a = PgLeadership::new(&url, "a", times())?;
    let b = PgLeadership::new(&url, "b", times())?;
    let c = PgLeadership::new(&url, "c", times())?;
    assert!(a.shared());
    assert_eq!(a.lease(), Some(Duration::from_secs(2)));

    assert!(a.try_acquire().await?, "the first one gets the lock");
    assert!(!b.try_acquire().await?, "the lock is held");
    assert!(!c.try_acquire().await?, "the lock is held");
    assert!(a.check().await?, "the holder sees it holds the lock");
    assert!(!b.check().await?, "a follower does not hold it");
    // Trying again while holding is still "held", and changes nothing for the others.
    assert!(a.try_acquire().await?);
    assert!(!b.try_acquire().await?);

    // The holder's session ends under it (as when its process is killed or the database
    // drops it): its next check says so, and a follower gets the lock right away.
    let killed = cluster.kill_connections("leader_election").await?;
    assert!(killed >= 3, "three sessions were open: {killed}");
    assert!(a.check().await.map_or(true, |held| !held), "a lost it");
    let started = Instant::now();
    let mut winner = None;
    while winner.is_none() && started.elapsed() < Duration::from_secs(5) {
        // b and c lost their sessions too: the first try may fail, the next reconnects.
        if b.try_acquire().await.unwrap_or(false) {
            winner = Some("b");
        } else if c.try_acquire().await.unwrap_or(false) {
            winner = Some("c");
        }
    }
    let winner = winner.ok_or("nobody took the freed lock")?;
    println!(
        "{winner} took over {:?} after the holder's session ended",
        started.elapsed()
    );
    let (holder, other) = if winner == "b" { (&b, &c) } else { (&c, &b) };
    assert!(holder.check().await?);
    assert!(!other.try_acquire().await?, "still one holder");
    assert!(
        !a.try_acquire().await?,
        "the old holder does not get it back"
    );

    // A clean release hands the lock over at once.
    holder.release().await;
    assert!(!holder.check().await?, "released");
    assert!(other.try_acquire().await?, "free after the release");
    assert!(!a.try_acquire().await?);
    other.release().await;
    a.release().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_ends_a_silent_holders_session_after_its_timeout(
) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = PgCluster::start()?;
    let url = cluster.create_database("leader_silent").await?;
    let a = PgLeadership::new(&url, "a", times())?;
    let b = PgLeadership::new(&url, "b", times())?;
    assert!(a.try_acquire().await?);
    // `a` goes quiet (as a holder cut off by the network would: it sends nothing). The
    // server's idle_session_timeout (4 s) ends its session, which frees the lock; `b` keeps
    // polling and must get it after about that long, not before the lease (2 s) ended.
    let started = Instant::now();
    let mut got = false;
    while !got && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        got = b.try_acquire().await.unwrap_or(false);
    }
    let waited = started.elapsed();
    println!("a silent holder's lock was freed after {waited:?}");
    assert!(got, "the lock of a silent holder was never freed");
    assert!(
        waited >= times().lease,
        "freed after {waited:?}, before the holder's lease (2 s) could end"
    );
    assert!(
        a.check().await.map_or(true, |held| !held),
        "the silent holder learns it lost the lock"
    );
    b.release().await;
    Ok(())
}
