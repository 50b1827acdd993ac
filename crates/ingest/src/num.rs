//! Small number parsers for the hot path. They avoid `str::parse` (UTF-8 check, generic
//! grammar) and stay exact: a decimal becomes the nearest `f64`, so `0.300` from a log and
//! `300ms` from a config compare equal.

/// Powers of ten that are exact in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest integer below which every integer is exact in `f64`.
const EXACT: u64 = 1 << 53;

/// ASCII digits to `u64`; `None` when empty, not all digits, or overflowing.
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// `digits[.digits]` as (mantissa, number of fraction digits). `None` for anything else,
/// including mantissas too large to be exact in `f64`.
pub(crate) fn parse_decimal(b: &[u8]) -> Option<(u64, usize)> {
    let mut mant: u64 = 0;
    let mut scale = 0usize;
    let mut seen_dot = false;
    let mut digits = 0usize;
    for &c in b {
        if c == b'.' {
            if seen_dot {
                return None;
            }
            seen_dot = true;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        mant = mant.checked_mul(10)?.checked_add(u64::from(d))?;
        digits += 1;
        if seen_dot {
            scale += 1;
        }
    }
    if digits == 0 || mant >= EXACT || scale >= POW10.len() {
        return None;
    }
    Some((mant, scale))
}

/// The nearest `f64` to `mant * num / (10^scale * den)`, computed with one correctly rounded
/// division when every operand is exact.
pub(crate) fn decimal_to_f64(mant: u64, scale: usize, num: u64, den: u64) -> Option<f64> {
    let top = mant.checked_mul(num)?;
    let pow = POW10.get(scale)?;
    if top >= EXACT {
        return None;
    }
    let bottom = pow * den as f64;
    Some(top as f64 / bottom)
}

/// A non-negative number of seconds such as `0.123`, `12`, `1e-3`; `None` when not a finite,
/// non-negative number.
pub(crate) fn parse_seconds(b: &[u8]) -> Option<f64> {
    if let Some((mant, scale)) = parse_decimal(b) {
        if let Some(v) = decimal_to_f64(mant, scale, 1, 1) {
            return Some(v);
        }
    }
    // Rare forms (exponents, very long fractions): the general parser.
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// Most digits [`scan_seconds`] takes: any such mantissa is below [`EXACT`].
const SCAN_MAX_DIGITS: usize = 15;

/// The hot-path form of [`parse_seconds`]: `digits[.digits]` starting at `b[i]`, at most 15
/// digits in all. Returns the value and the index just after the number; the caller checks
/// what follows. `None` means "not this simple form" (the caller falls back to
/// [`parse_seconds`] on the whole token), never "invalid". Where it answers, the value is the
/// one [`parse_seconds`] gives.
#[inline]
pub(crate) fn scan_seconds(b: &[u8], mut i: usize) -> Option<(f64, usize)> {
    let mut mant: u64 = 0;
    let mut digits = 0usize;
    while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
        mant = mant * 10 + u64::from(d);
        digits += 1;
        i += 1;
        if digits > SCAN_MAX_DIGITS {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    let mut scale = 0usize;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            mant = mant * 10 + u64::from(d);
            digits += 1;
            scale += 1;
            i += 1;
            if digits > SCAN_MAX_DIGITS {
                return None;
            }
        }
    }
    // Same arithmetic as `decimal_to_f64(mant, scale, 1, 1)`: one correctly rounded division.
    Some((mant as f64 / *POW10.get(scale)?, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"2326"), Some(2326));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn seconds_match_std_parse() {
        for s in [
            "0.300",
            "0.3",
            "1",
            "12.5",
            "0.001",
            "0",
            "0.000",
            "123456.789",
            "1e-3",
            "2.",
        ] {
            let want: f64 = s.parse().unwrap_or(f64::NAN);
            assert_eq!(parse_seconds(s.as_bytes()), Some(want), "{s}");
        }
        for s in ["", ".", "-1", "abc", "1.2.3", "inf", "NaN", "-0.5", "1 "] {
            assert_eq!(parse_seconds(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn milliseconds_equal_seconds() {
        let ms = decimal_to_f64(300, 0, 1, 1000);
        assert_eq!(ms, Some(0.3));
        assert_eq!(parse_seconds(b"0.300"), ms);
    }

    #[test]
    fn scan_seconds_agrees_with_parse_seconds() {
        for s in [
            "0.041",
            "0.5",
            "12",
            "2.",
            "0",
            "0.000",
            "123456.789",
            "999999999999999",
            "99999999.9999999",
            "0.300",
        ] {
            let got = scan_seconds(s.as_bytes(), 0);
            assert_eq!(
                got,
                parse_seconds(s.as_bytes()).map(|v| (v, s.len())),
                "{s}"
            );
        }
        // Where it stops, and forms it leaves to the general parser.
        assert_eq!(scan_seconds(b"0.041 x", 0), Some((0.041, 5)));
        assert_eq!(scan_seconds(b" 1.5\n", 1), Some((1.5, 4)));
        assert_eq!(
            scan_seconds(b"1e3", 0),
            Some((1.0, 1)),
            "stops at the exponent"
        );
        for s in [
            "",
            "-",
            ".5",
            "-0.5",
            "1234567890123456",
            "0.1234567890123456",
        ] {
            assert_eq!(scan_seconds(s.as_bytes(), 0), None, "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn scan_seconds_matches(s in "[0-9]{1,9}(\\.[0-9]{0,8})?") {
            let got = scan_seconds(s.as_bytes(), 0);
            if let Some((v, end)) = got {
                proptest::prop_assert_eq!(end, s.len());
                proptest::prop_assert_eq!(Some(v), parse_seconds(s.as_bytes()));
                let std: f64 = s.parse().unwrap_or(f64::NAN);
                proptest::prop_assert_eq!(v, std);
            }
        }
    }
}
