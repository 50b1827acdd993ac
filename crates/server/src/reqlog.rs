//! The log of refused requests: every 4xx/5xx answer is one `warn` event (a line on standard
//! error) with the method, route, status, stable code and message, so an operator sees bad
//! input without turning on anything. A client sending garbage in a loop must not flood the log: at most
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

/// One line of the refused-request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A refused request; `message` is already on one line and shortened.
    Refused {
        method: String,
        route: String,
        status: u16,
        code: String,
        message: String,
    },
    /// How many refused requests the last second left out.
    Suppressed(u64),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Refused {
                method,
                route,
                status,
                code,
                message,
            } => write!(f, "refused {method} {route} → {status} {code}: {message}"),
            Line::Suppressed(n) => {
                write!(f, "{n} more refused requests not logged in the last second")
            }
        }
    }
}

impl RequestLog {
    /// Counts one refused request and returns the lines it is worth (none when over the
    /// rate), so tests can check them; [`RequestLog::log`] writes them.
    pub fn refused(
        &self,
        method: &str,
        route: &str,
        status: u16,
        code: &str,
        message: &str,
    ) -> Vec<Line> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        if w.started.elapsed().as_secs() >= 1 {
            if w.suppressed > 0 {
                out.push(Line::Suppressed(w.suppressed));
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
            out.push(Line::Refused {
                method: method.to_string(),
                route: route.to_string(),
                status,
                code: code.to_string(),
                message,
            });
        } else {
            w.suppressed += 1;
        }
        out
    }

    /// [`RequestLog::refused`], written as `warn` events with the request's fields.
    pub fn log(&self, method: &str, route: &str, status: u16, code: &str, message: &str) {
        for line in self.refused(method, route, status, code, message) {
            match &line {
                Line::Refused { .. } => {
                    tracing::warn!(method, route, status, code, "{line}");
                }
                Line::Suppressed(n) => tracing::warn!(suppressed = n, "{line}"),
            }
        }
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
        let first: Vec<String> = first.iter().map(ToString::to_string).collect();
        assert_eq!(
            first,
            vec!["refused POST /api/v1/write → 400 remote_write.bad_snappy: bad snappy"]
        );
        let mut written = 1;
        for _ in 0..100 {
            written += log.refused("POST", "/x", 400, "c", "m").len();
        }
        assert_eq!(written, LINES_PER_SECOND as usize);
    }
}
