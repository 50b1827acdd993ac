//! Prometheus-style durations ("5m", "30d", "1h30m") as whole seconds.

use crate::Error;

/// Parses `30d`, `5m`, `1h30m`, `90s`, `2w` into seconds. Zero and negative are refused.
pub fn parse_duration(text: &str) -> Result<i64, Error> {
    let invalid = || Error::InvalidDuration(text.to_string());
    let bytes = text.trim().as_bytes();
    if bytes.is_empty() {
        return Err(invalid());
    }
    let mut total: i64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i || i == bytes.len() {
            return Err(invalid());
        }
        let number: i64 = std::str::from_utf8(&bytes[start..i])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        let unit = match (bytes[i], bytes.get(i + 1)) {
            (b'm', Some(b's')) => {
                // milliseconds are below bucket resolution; accept only whole seconds
                return Err(invalid());
            }
            (b's', _) => 1,
            (b'm', _) => 60,
            (b'h', _) => 3600,
            (b'd', _) => 86_400,
            (b'w', _) => 7 * 86_400,
            _ => return Err(invalid()),
        };
        i += 1;
        total = number
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
    }
    if total <= 0 {
        return Err(invalid());
    }
    Ok(total)
}

/// Formats seconds in the largest exact unit: 2592000 -> "30d", 300 -> "5m", 5400 -> "90m".
pub fn format_duration(seconds: i64) -> String {
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 && !(unit == "w" && seconds % 86_400 == 0) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration("45s"), Ok(45));
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "d",
            "30",
            "30x",
            "0m",
            "-5m",
            "5ms",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formats_in_largest_exact_unit() {
        assert_eq!(format_duration(30 * 86_400), "30d");
        assert_eq!(format_duration(300), "5m");
        assert_eq!(format_duration(5400), "90m");
        assert_eq!(format_duration(7200), "2h");
        assert_eq!(format_duration(61), "61s");
    }
}
