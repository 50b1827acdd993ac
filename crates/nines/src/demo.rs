//! Deterministic example traffic: an nginx-style access log for a small shop, with a
//! realistic incident (an error burst on the checkout API and a slow evening), so the demo
//! report has budgets that moved. The same generator feeds the ingest benchmark.

use std::io::{self, Write};

/// 2023-11-13T00:00:00Z: the demo's first second.
pub const DEMO_START: i64 = 1_699_833_600;
/// The demo covers two days; the report is taken at the end.
pub const DEMO_END: i64 = DEMO_START + 2 * 86_400;
/// 2023-11-14 14:00–14:08 UTC: the checkout API fails a quarter of its requests.
pub const OUTAGE: (i64, i64) = (
    DEMO_START + 86_400 + 14 * 3600,
    DEMO_START + 86_400 + 14 * 3600 + 480,
);
/// 2023-11-14 20:00–20:12 UTC: a slow database makes some checkout answers slow.
pub const SLOW: (i64, i64) = (
    DEMO_START + 86_400 + 20 * 3600,
    DEMO_START + 86_400 + 20 * 3600 + 720,
);

/// splitmix64: tiny, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const ROUTES: [(&str, &str, u32); 8] = [
    ("GET", "/api/cart", 22),
    ("POST", "/api/pay", 8),
    ("GET", "/api/items", 20),
    ("GET", "/", 10),
    ("GET", "/products/42", 12),
    ("GET", "/static/app.js", 14),
    ("GET", "/static/style.css", 10),
    ("GET", "/healthz", 4),
];

/// Writes `lines` log lines spread evenly over the demo's two days, in time order.
/// Returns the number of lines written.
pub fn write_log(out: &mut impl Write, lines: u64) -> io::Result<u64> {
    let mut rng = Rng(0x6e69_6e65_735f_6465); // "ninesde"
    let span = (DEMO_END - DEMO_START) as f64;
    let weight_sum: u32 = ROUTES.iter().map(|r| r.2).sum();
    let mut cached_minute = i64::MIN;
    let mut stamp = String::new();
    for i in 0..lines {
        let t = DEMO_START + (i as f64 * span / lines as f64) as i64;
        if t / 60 != cached_minute {
            cached_minute = t / 60;
            stamp = minute_stamp(t);
        }
        let mut pick = rng.below(u64::from(weight_sum)) as u32;
        let mut route = ROUTES[0];
        for r in ROUTES {
            if pick < r.2 {
                route = r;
                break;
            }
            pick -= r.2;
        }
        let (method, path, _) = route;
        let api = path.starts_with("/api/");
        let roll = rng.unit();
        let in_outage = t >= OUTAGE.0 && t < OUTAGE.1;
        let status = if api && in_outage && roll < 0.25 {
            503
        } else if roll < 0.0002 {
            500
        } else if path == "/products/42" && roll > 0.999 {
            404
        } else if method == "POST" {
            201
        } else {
            200
        };
        // Log-normal-ish latency: most answers near 40-120 ms, a long tail.
        let mut latency = 0.02 + 0.03 * (-rng.unit().max(1e-9).ln()) * (1.0 + rng.unit());
        if api && t >= SLOW.0 && t < SLOW.1 && rng.unit() < 0.12 {
            latency += 0.35 + rng.unit();
        }
        let query = if path == "/api/items" { "?page=2" } else { "" };
        let bytes = 200 + rng.below(4800);
        writeln!(
            out,
            "10.{}.{}.{} - - [{}:{:02} +0000] \"{} {}{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (nines demo)\" {:.3}",
            rng.below(4),
            rng.below(256),
            1 + rng.below(254),
            stamp,
            t.rem_euclid(60),
            method,
            path,
            query,
            status,
            bytes,
            latency
        )?;
    }
    Ok(lines)
}

/// `14/Nov/2023:14:03` for the minute containing `t` (UTC).
fn minute_stamp(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}/{}/{}:{:02}:{:02}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_nginx_time_local() {
        assert_eq!(
            minute_stamp(DEMO_START + 86_400 + 14 * 3600 + 185),
            "14/Nov/2023:14:03"
        );
        assert_eq!(minute_stamp(951_782_400), "29/Feb/2000:00:00");
    }

    #[test]
    fn log_is_deterministic_and_ordered() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        assert_eq!(write_log(&mut a, 500).ok(), Some(500));
        assert_eq!(write_log(&mut b, 500).ok(), Some(500));
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap_or_default();
        assert_eq!(text.lines().count(), 500);
        assert!(text.starts_with("10."));
        assert!(text.lines().all(|l| l.contains(" HTTP/1.1\" ")));
    }
}
