//! Per-caller rate limits: one token bucket per (caller, class of route).
//!
//! A caller is a token, by its name, or, for requests without a valid token (anonymous
//! loopback reads, refused credentials), the client's IP address. Ingest routes have their own
//! bucket and budget ([`crate::Settings::ingest_rate_limit`]): senders of telemetry are hot
//! paths and must not compete with dashboards for one budget. The open routes (probes,
//! `/metrics`, the API description) are never limited.
//!
//! A bucket holds up to `burst` requests and refills at `per_second`; a request takes one. An
//! empty bucket answers 429 `request.rate_limited` with `Retry-After`: the whole seconds until
//! one request's worth has refilled (at least 1).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, refilled continuously (must be > 0).
    pub per_second: f64,
    /// Requests a full bucket holds (at least 1 is used).
    pub burst: u32,
}

impl RateLimit {
    /// The default for read, respond and admin routes: far above what a person, a dashboard
    /// or a CI gate sends, low enough to stop a runaway script from starving the evaluator.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 1000.0,
        burst: 2000,
    };
    /// The default for ingest routes: above what one sender reaches on one core, so batching
    /// clients, Prometheus remote-write and the demo never meet it.
    pub const DEFAULT_INGEST: RateLimit = RateLimit {
        per_second: 20_000.0,
        burst: 40_000,
    };

    fn capacity(self) -> f64 {
        f64::from(self.burst.max(1))
    }

    fn usable(self) -> bool {
        self.per_second.is_finite() && self.per_second > 0.0
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s, burst {}", self.per_second, self.burst)
    }
}

/// Which budget a route draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Read, respond and admin routes.
    Api,
    /// Telemetry ingestion.
    Ingest,
}

/// Who is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    Token(String),
    Address(IpAddr),
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token(name) => write!(f, "token {name:?}"),
            Caller::Address(ip) => write!(f, "client {ip}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_AT: usize = 4096;

/// The buckets of every caller.
#[derive(Debug)]
pub struct RateLimiter {
    api: Option<RateLimit>,
    ingest: Option<RateLimit>,
    inner: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<(Class, Caller), Bucket>,
    prune_at: usize,
}

/// A refused request: when to come back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    pub limit: RateLimit,
    /// Whole seconds, at least 1.
    pub retry_after_seconds: u64,
}

impl RateLimiter {
    /// `None` turns a class's limit off; so does a rate that is not positive.
    pub fn new(api: Option<RateLimit>, ingest: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            api: api.filter(|l| l.usable()),
            ingest: ingest.filter(|l| l.usable()),
            inner: Mutex::new(Buckets {
                map: HashMap::new(),
                prune_at: PRUNE_AT,
            }),
        }
    }

    pub fn limit(&self, class: Class) -> Option<RateLimit> {
        match class {
            Class::Api => self.api,
            Class::Ingest => self.ingest,
        }
    }

    /// Takes one request from `caller`'s bucket for `class` at `now`.
    pub fn check(&self, class: Class, caller: &Caller, now: Instant) -> Result<(), Refused> {
        let Some(limit) = self.limit(class) else {
            return Ok(());
        };
        let capacity = limit.capacity();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.map.len() >= inner.prune_at {
            inner.prune(now, |class| self.limit(class));
        }
        let bucket = inner.map.entry((class, caller.clone())).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64(((1.0 - bucket.tokens) / limit.per_second).min(1e9));
        let mut seconds = wait.as_secs();
        if wait.subsec_nanos() > 0 {
            seconds += 1;
        }
        Err(Refused {
            limit,
            retry_after_seconds: seconds.max(1),
        })
    }
}

impl Buckets {
    /// Drops the buckets that have refilled completely (their callers are idle: a fresh bucket
    /// is the same), and sets the next pruning size so pruning stays amortized O(1).
    fn prune(&mut self, now: Instant, limit: impl Fn(Class) -> Option<RateLimit>) {
        self.map.retain(|(class, _), b| {
            let Some(l) = limit(*class) else {
                return false;
            };
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            b.tokens + elapsed * l.per_second < l.capacity()
        });
        self.prune_at = (self.map.len() * 2).max(PRUNE_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> Caller {
        Caller::Token(name.to_string())
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limit = RateLimit {
            per_second: 2.0,
            burst: 3,
        };
        let rl = RateLimiter::new(Some(limit), None);
        let t0 = Instant::now();
        let a = token("a");
        for _ in 0..3 {
            assert_eq!(rl.check(Class::Api, &a, t0), Ok(()));
        }
        let refused = rl.check(Class::Api, &a, t0);
        assert_eq!(
            refused,
            Err(Refused {
                limit,
                retry_after_seconds: 1
            })
        );
        // Another caller and the other class are not affected.
        assert_eq!(rl.check(Class::Api, &token("b"), t0), Ok(()));
        assert_eq!(rl.check(Class::Ingest, &a, t0), Ok(()));
        // Half a second refills one request.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(rl.check(Class::Api, &a, t1), Ok(()));
        assert!(rl.check(Class::Api, &a, t1).is_err());
        // A long pause refills at most the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(rl.check(Class::Api, &a, t2), Ok(()));
        }
        assert!(rl.check(Class::Api, &a, t2).is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let rl = RateLimiter::new(
            Some(RateLimit {
                per_second: 0.25,
                burst: 1,
            }),
            None,
        );
        let t0 = Instant::now();
        let a = Caller::Address(IpAddr::from([127, 0, 0, 1]));
        assert!(rl.check(Class::Api, &a, t0).is_ok());
        assert_eq!(
            rl.check(Class::Api, &a, t0)
                .map_err(|r| r.retry_after_seconds),
            Err(4)
        );
        let t1 = t0 + Duration::from_millis(3500);
        assert_eq!(
            rl.check(Class::Api, &a, t1)
                .map_err(|r| r.retry_after_seconds),
            Err(1)
        );
        assert!(rl
            .check(Class::Api, &a, t0 + Duration::from_secs(4))
            .is_ok());
    }

    #[test]
    fn off_and_unusable_limits_let_everything_through() {
        let rl = RateLimiter::new(
            None,
            Some(RateLimit {
                per_second: 0.0,
                burst: 1,
            }),
        );
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(rl.check(Class::Api, &token("a"), t0).is_ok());
            assert!(rl.check(Class::Ingest, &token("a"), t0).is_ok());
        }
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let rl = RateLimiter::new(
            Some(RateLimit {
                per_second: 10.0,
                burst: 5,
            }),
            None,
        );
        let t0 = Instant::now();
        for i in 0..PRUNE_AT {
            assert!(rl.check(Class::Api, &token(&i.to_string()), t0).is_ok());
        }
        let later = t0 + Duration::from_secs(10);
        assert!(rl.check(Class::Api, &token("new"), later).is_ok());
        let inner = rl.inner.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(inner.map.len(), 1);
    }
}
