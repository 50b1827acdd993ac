//! Timestamp parsing to unix seconds (UTC), by hand: the combined-log form is parsed once per
//! minute thanks to [`ClfTimeCache`], since consecutive lines share `dd/Mon/yyyy:HH:MM`.

/// Days since 1970-01-01 for a proleptic Gregorian date. Counting years from March puts the
/// leap day last, so the day-of-year formula needs no leap-year branch.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Two ASCII digits at `b[i..i+2]`.
#[inline]
fn d2(b: &[u8], i: usize) -> Option<u32> {
    let hi = b.get(i)?.wrapping_sub(b'0');
    let lo = b.get(i + 1)?.wrapping_sub(b'0');
    if hi > 9 || lo > 9 {
        return None;
    }
    Some(u32::from(hi) * 10 + u32::from(lo))
}

fn d4(b: &[u8], i: usize) -> Option<u32> {
    Some(d2(b, i)? * 100 + d2(b, i + 2)?)
}

fn month_abbr(b: &[u8]) -> Option<u32> {
    Some(match b {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// Epoch seconds of a validated civil date and time (no offset applied).
fn civil_seconds(year: u32, month: u32, day: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 admits a leap second; it lands on the next minute's first second.
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

/// `+hhmm` / `-hhmm` (or `+hh:mm` when `colon`) as seconds east of UTC.
fn offset(b: &[u8], colon: bool) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hh = d2(b, 1)?;
    let mm = if colon {
        if b.get(3) != Some(&b':') {
            return None;
        }
        d2(b, 4)?
    } else {
        d2(b, 3)?
    };
    if hh > 23 || mm > 59 || b.len() != if colon { 6 } else { 5 } {
        return None;
    }
    Some(sign * i64::from(hh * 3600 + mm * 60))
}

/// Length of the combined-log time `10/Oct/2000:13:55:36 -0700`.
pub(crate) const CLF_LEN: usize = 26;

/// Parses `10/Oct/2000:13:55:36 -0700` (exactly [`CLF_LEN`] bytes) to unix seconds.
pub(crate) fn parse_clf(t: &[u8]) -> Option<i64> {
    let minute = parse_clf_minute(t)?;
    let s = d2(t, 18)?;
    (s <= 60).then_some(minute + i64::from(s))
}

/// Everything but the seconds: the part worth caching.
fn parse_clf_minute(t: &[u8]) -> Option<i64> {
    if t.len() != CLF_LEN
        || t[2] != b'/'
        || t[6] != b'/'
        || t[11] != b':'
        || t[14] != b':'
        || t[17] != b':'
        || t[20] != b' '
    {
        return None;
    }
    let day = d2(t, 0)?;
    let month = month_abbr(&t[3..6])?;
    let year = d4(t, 7)?;
    let local = civil_seconds(year, month, day, d2(t, 12)?, d2(t, 15)?, 0)?;
    Some(local - offset(&t[21..26], false)?)
}

/// Remembers the last `dd/Mon/yyyy:HH:MM` + zone and its epoch minute. The key is kept as
/// integers so a hit costs three compares rather than slice comparisons.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClfTimeCache {
    key: Option<(u128, u64, u16)>,
    minute: i64,
}

/// Bytes 16..24 of the time with the seconds (bytes 18 and 19) masked out.
const SECONDS_MASK: u64 = !(0xffff << 16);

impl ClfTimeCache {
    /// Same contract as [`parse_clf`].
    #[inline]
    pub(crate) fn parse(&mut self, t: &[u8]) -> Option<i64> {
        let t: &[u8; CLF_LEN] = t.try_into().ok()?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&t[..16]);
        let mut b = [0u8; 8];
        b.copy_from_slice(&t[16..24]);
        let key = (
            u128::from_le_bytes(a),
            u64::from_le_bytes(b) & SECONDS_MASK,
            u16::from_le_bytes([t[24], t[25]]),
        );
        if self.key != Some(key) {
            self.minute = parse_clf_minute(t)?;
            self.key = Some(key);
        }
        // The key does not cover the seconds, and a cache hit skipped the separator checks
        // only for bytes the key pins down.
        let s = d2(t, 18)?;
        (s <= 60).then_some(self.minute + i64::from(s))
    }
}

/// RFC 3339 / ISO 8601: `2024-01-02T03:04:05[.fff](Z|+01:00|+0100)`. A space may replace
/// `T`; a missing offset means UTC. Fractions are dropped (buckets are whole seconds).
pub(crate) fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let local = civil_seconds(
        d4(b, 0)?,
        d2(b, 5)?,
        d2(b, 8)?,
        d2(b, 11)?,
        d2(b, 14)?,
        d2(b, 17)?,
    )?;
    let mut rest = &b[19..];
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let off = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        _ if rest.len() == 6 => offset(rest, true)?,
        _ => offset(rest, false)?,
    };
    Some(local - off)
}

/// Any time text a log may carry: combined-log form, RFC 3339, or epoch seconds (with an
/// optional fraction, as nginx `$msec` writes).
pub(crate) fn parse_time_text(b: &[u8]) -> Option<i64> {
    let b = b.strip_prefix(b"[").unwrap_or(b);
    let b = b.strip_suffix(b"]").unwrap_or(b);
    if b.len() == CLF_LEN && b.get(2) == Some(&b'/') {
        return parse_clf(b);
    }
    if b.get(4) == Some(&b'-') {
        return parse_rfc3339(b);
    }
    epoch_text(b)
}

/// `1700000000` or `1700000000.123` → whole seconds (floor).
fn epoch_text(b: &[u8]) -> Option<i64> {
    let int = match memchr::memchr(b'.', b) {
        Some(i) => {
            let frac = &b[i + 1..];
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            &b[..i]
        }
        None => b,
    };
    let v = crate::num::parse_u64(int)?;
    i64::try_from(v).ok().filter(|v| *v <= MAX_EPOCH)
}

/// 9999-12-31T23:59:59Z: later times are garbage, and the bound keeps bucket maths in range.
pub(crate) const MAX_EPOCH: i64 = 253_402_300_799;

/// Epoch seconds from a JSON number (may be fractional or negative).
pub(crate) fn epoch_f64(v: f64) -> Option<i64> {
    if !v.is_finite() || v < -(MAX_EPOCH as f64) || v > MAX_EPOCH as f64 {
        return None;
    }
    Some(v.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jiff_epoch(s: &str) -> i64 {
        let ts: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        ts.as_second()
    }

    #[test]
    fn clf_known_values() {
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36 -0700"), Some(971_211_336));
        assert_eq!(
            parse_clf(b"01/Jan/1970:00:00:00 +0000"),
            Some(0),
            "the epoch itself"
        );
        assert_eq!(
            parse_clf(b"29/Feb/2024:23:59:59 +0100"),
            Some(jiff_epoch("2024-02-29T23:59:59+01:00"))
        );
        assert_eq!(parse_clf(b"30/Feb/2024:00:00:00 +0000"), None);
        assert_eq!(parse_clf(b"29/Feb/2023:00:00:00 +0000"), None);
        assert_eq!(parse_clf(b"10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf(b"10/Oct/2000:24:55:36 -0700"), None);
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36 0700x"), None);
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36"), None);
    }

    #[test]
    fn cache_agrees_with_uncached() {
        let mut c = ClfTimeCache::default();
        for t in [
            "10/Oct/2000:13:55:36 -0700",
            "10/Oct/2000:13:55:37 -0700",
            "10/Oct/2000:13:55:37 +0000",
            "10/Oct/2000:13:56:00 +0000",
            "10/Oct/2000:13:56:6x +0000",
            "10/Oct/2000:13:56:61 +0000",
            "10/Oct/2000:13:56:59 +0000",
        ] {
            assert_eq!(c.parse(t.as_bytes()), parse_clf(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn rfc3339_forms() {
        for s in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05+00:00",
            "2024-01-02T03:04:05.123456-05:30",
            "1999-12-31T23:59:59+14:00",
        ] {
            assert_eq!(parse_rfc3339(s.as_bytes()), Some(jiff_epoch(s)), "{s}");
        }
        assert_eq!(
            parse_rfc3339(b"2024-01-02 03:04:05+0100"),
            Some(jiff_epoch("2024-01-02T03:04:05+01:00"))
        );
        assert_eq!(
            parse_rfc3339(b"2024-01-02T03:04:05"),
            Some(jiff_epoch("2024-01-02T03:04:05Z"))
        );
        assert_eq!(parse_rfc3339(b"2024-13-02T03:04:05Z"), None);
        assert_eq!(parse_rfc3339(b"2024-01-02T03:04:05.Z"), None);
        assert_eq!(parse_rfc3339(b"2024-01-02T03:04:05+1"), None);
    }

    #[test]
    fn time_text_dispatch() {
        assert_eq!(parse_time_text(b"1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time_text(b"1700000000.999"), Some(1_700_000_000));
        assert_eq!(
            parse_time_text(b"[10/Oct/2000:13:55:36 -0700]"),
            Some(971_211_336)
        );
        assert_eq!(parse_time_text(b"2000-10-10T20:55:36Z"), Some(971_211_336));
        assert_eq!(parse_time_text(b"yesterday"), None);
        assert_eq!(parse_time_text(b""), None);
        assert_eq!(parse_time_text(b"1."), None);
    }

    proptest::proptest! {
        #[test]
        fn civil_matches_jiff(y in 1i16..=9999, m in 1i8..=12, d in 1i8..=28, h in 0i8..24, mi in 0i8..60, s in 0i8..60) {
            let dt = jiff::civil::datetime(y, m, d, h, mi, s, 0);
            let want = jiff::tz::TimeZone::UTC.to_timestamp(dt).map(|t| t.as_second());
            let got = civil_seconds(y as u32, m as u32, d as u32, h as u32, mi as u32, s as u32);
            proptest::prop_assert_eq!(got, want.ok());
        }
    }
}
