//! Prometheus durations (`1h30m`, `5m`, `2d`, `500ms`, `0`), as Alertmanager's config uses.

use jiff::SignedDuration;

use crate::Error;

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration: units y, w, d, h, m, s, ms, each at most once and in that
/// order (`1h30m`); `0` alone is zero.
pub fn parse_duration(input: &str) -> Result<SignedDuration, Error> {
    let bad = || Error::Duration(input.to_string());
    if input == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if input.is_empty() {
        return Err(bad());
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(bad());
        }
        let number: i64 = input[start..pos].parse().map_err(|_| bad())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|i| i + next_unit)
            .ok_or_else(bad)?;
        next_unit = index + 1;
        let ms = number.checked_mul(UNITS[index].1).ok_or_else(bad)?;
        total = total.checked_add(ms).ok_or_else(bad)?;
    }
    Ok(SignedDuration::from_millis(total))
}

/// Formats like Prometheus' `Duration.String()`: largest units first, zero units left out,
/// `0s` for zero.
pub fn format_duration(d: SignedDuration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    for (unit, size) in UNITS {
        let size = i128::from(size);
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(
            parse_duration("5m").unwrap(),
            SignedDuration::from_secs(300)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            SignedDuration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("4h").unwrap(),
            SignedDuration::from_secs(14_400)
        );
        assert_eq!(
            parse_duration("1w2d").unwrap(),
            SignedDuration::from_secs(9 * 86_400)
        );
        assert_eq!(
            parse_duration("1y").unwrap(),
            SignedDuration::from_secs(365 * 86_400)
        );
        assert_eq!(
            parse_duration("1s500ms").unwrap(),
            SignedDuration::from_millis(1500)
        );
        assert_eq!(parse_duration("0").unwrap(), SignedDuration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), SignedDuration::ZERO);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "5",
            "m",
            "30m1h",
            "1h1h",
            "1.5h",
            "-5m",
            "5 m",
            "1x",
            "99999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_duration(SignedDuration::from_secs(5400)), "1h30m");
        assert_eq!(
            format_duration(SignedDuration::from_secs(14 * 86_400)),
            "2w"
        );
        assert_eq!(
            format_duration(SignedDuration::from_millis(1500)),
            "1s500ms"
        );
        assert_eq!(format_duration(SignedDuration::ZERO), "0s");
    }
}
