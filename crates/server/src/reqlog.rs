//! The log of refused requests: every 4xx/5xx answer is one line on standard error with the
//! method, route, status, stable code and message, so an operator sees bad input without
//! turning on anything. A client sending garbage in a loop must not flood the log: at most
//! [`LINES_PER_SECOND`] lines a second, then one line saying how many were left out.

use std::sync::Mutex;
use std::time::Instant;

/// Most lines written per second.
pub const LINES_PER_SECOND: u32 = 20;

struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

/// A rate-limited writer of refused-request lines.
pub struct RequestLog {
    window: Mutex<Window>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
        }
    }
}

impl RequestLog {
    /// Logs one refused request (or counts it when over the rate). Returns the lines to
    /// write, so tests can check them; the caller prints them.
    pub fn refused(
        &self,
        method: &str,
        route: &str,
        status: u16,
        code: &str,
        message: &str,
    ) -> Vec<String> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        if w.started.elapsed().as_secs() >= 1 {
            if w.suppressed > 0 {
                out.push(format!(
                    "nines serve: {} more refused requests not logged in the last second",
                    w.suppressed
                ));
            }
            w.started = Instant::now();
            w.written = 0;
            w.suppressed = 0;
        }
        if w.written < LINES_PER_SECOND {
            w.written += 1;
            // The message comes from input (it may quote it): keep it on one line.
            let message: String = message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(300)
                .collect();
            out.push(format!(
                "nines serve: refused {method} {route} → {status} {code}: {message}"
            ));
        } else {
            w.suppressed += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_single_and_rate_limited() {
        let log = RequestLog::default();
        let first = log.refused(
            "POST",
            "/api/v1/write",
            400,
            "remote_write.bad_snappy",
            "bad\nsnappy",
        );
        assert_eq!(
            first,
            vec![
                "nines serve: refused POST /api/v1/write → 400 remote_write.bad_snappy: bad snappy"
            ]
        );
        let mut written = 1;
        for _ in 0..100 {
            written += log.refused("POST", "/x", 400, "c", "m").len();
        }
        assert_eq!(written, LINES_PER_SECOND as usize);
    }
}
