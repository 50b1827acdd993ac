//! What the outbox does after a delivery attempt, as a pure decision: done, retry at a given
//! instant (exponential backoff with jitter, or the receiver's `Retry-After` on 429/503), or
//! give up. 4xx answers other than 429 are not retried: the same request would fail again.
//! The caller supplies the random jitter, so every decision is reproducible.

use jiff::{SignedDuration, Timestamp};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// An HTTP answer (`retry_after`: the header's raw value, if any).
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// No answer: connection refused, timeout, TLS error... (the reason is kept for history).
    Transport(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the second attempt; doubles each time.
    pub initial: SignedDuration,
    /// Upper bound of the backoff and of an honoured `Retry-After`.
    pub max: SignedDuration,
    /// Attempts in total before giving up.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: SignedDuration::from_secs(1),
            max: SignedDuration::from_secs(300),
            max_attempts: 12,
        }
    }
}

/// The decision after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry { at: Timestamp, reason: String },
    Failed { reason: String },
}

/// Decides after attempt number `attempt` (1 for the first) ended at `now`; `jitter` in
/// `[0, 1)` spreads retries over the upper half of the backoff ("equal jitter").
pub fn after_attempt(
    result: &Attempt,
    attempt: u32,
    now: Timestamp,
    jitter: f64,
    policy: &RetryPolicy,
) -> Outcome {
    let (reason, retry_after) = match result {
        Attempt::Status { code, .. } if (200..300).contains(code) => return Outcome::Delivered,
        Attempt::Status { code, retry_after } if *code == 429 || *code == 503 => (
            format!("http {code}"),
            retry_after
                .as_deref()
                .and_then(|h| parse_retry_after(h, now)),
        ),
        Attempt::Status { code, .. } if (400..500).contains(code) => {
            return Outcome::Failed {
                reason: format!("http {code}: not retried"),
            }
        }
        Attempt::Status { code, .. } => (format!("http {code}"), None),
        Attempt::Transport(e) => (e.clone(), None),
    };
    if attempt >= policy.max_attempts {
        return Outcome::Failed {
            reason: format!("{reason}: gave up after {attempt} attempts"),
        };
    }
    let delay = match retry_after {
        Some(d) => d.min(policy.max).max(SignedDuration::ZERO),
        None => backoff(attempt, jitter, policy),
    };
    Outcome::Retry {
        at: now.checked_add(delay).unwrap_or(Timestamp::MAX),
        reason,
    }
}

/// `initial × 2^(attempt−1)`, capped at `max`, then jittered within its upper half.
pub fn backoff(attempt: u32, jitter: f64, policy: &RetryPolicy) -> SignedDuration {
    let exp = attempt.saturating_sub(1).min(40);
    let base_ms = policy.initial.as_millis().saturating_mul(1i128 << exp);
    let capped = base_ms.min(policy.max.as_millis()).max(0);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = capped / 2;
    let spread = (half as f64 * jitter) as i128;
    SignedDuration::from_millis(i64::try_from(capped - half + spread).unwrap_or(i64::MAX))
}

/// `Retry-After` as delta-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<SignedDuration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return (secs >= 0).then(|| SignedDuration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(at.duration_since(now).max(SignedDuration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn status(code: u16) -> Attempt {
        Attempt::Status {
            code,
            retry_after: None,
        }
    }

    const NOW: &str = "2024-01-01T12:00:00Z";

    #[test]
    fn success_and_client_errors() {
        let p = RetryPolicy::default();
        assert_eq!(
            after_attempt(&status(204), 1, ts(NOW), 0.5, &p),
            Outcome::Delivered
        );
        assert_eq!(
            after_attempt(&status(404), 1, ts(NOW), 0.5, &p),
            Outcome::Failed {
                reason: "http 404: not retried".into()
            }
        );
    }

    #[test]
    fn server_errors_back_off_exponentially_with_jitter() {
        let p = RetryPolicy::default();
        let at = |attempt, jitter| match after_attempt(&status(500), attempt, ts(NOW), jitter, &p) {
            Outcome::Retry { at, .. } => at.duration_since(ts(NOW)).as_millis(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at(1, 0.0), 500);
        assert_eq!(at(1, 0.999_999), 999);
        assert_eq!(at(3, 0.0), 2000); // 4s base
        assert_eq!(at(11, 0.0), 150_000); // capped at 300s
        let last = after_attempt(
            &Attempt::Transport("connection refused".into()),
            12,
            ts(NOW),
            0.0,
            &p,
        );
        assert_eq!(
            last,
            Outcome::Failed {
                reason: "connection refused: gave up after 12 attempts".into()
            }
        );
    }

    #[test]
    fn too_many_requests_honours_retry_after() {
        let p = RetryPolicy::default();
        let seconds = Attempt::Status {
            code: 429,
            retry_after: Some("120".into()),
        };
        assert_eq!(
            after_attempt(&seconds, 1, ts(NOW), 0.0, &p),
            Outcome::Retry {
                at: ts("2024-01-01T12:02:00Z"),
                reason: "http 429".into()
            }
        );
        let date = Attempt::Status {
            code: 503,
            retry_after: Some("Mon, 01 Jan 2024 12:00:30 GMT".into()),
        };
        assert!(
            matches!(after_attempt(&date, 1, ts(NOW), 0.0, &p), Outcome::Retry { at, .. } if at == ts("2024-01-01T12:00:30Z"))
        );
        // Capped at the policy's max; garbage falls back to the backoff.
        let long = Attempt::Status {
            code: 429,
            retry_after: Some("86400".into()),
        };
        assert!(
            matches!(after_attempt(&long, 1, ts(NOW), 0.0, &p), Outcome::Retry { at, .. } if at == ts("2024-01-01T12:05:00Z"))
        );
        assert_eq!(parse_retry_after("soon", ts(NOW)), None);
        assert_eq!(parse_retry_after("-5", ts(NOW)), None);
    }
}
