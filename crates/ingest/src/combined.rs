//! nginx/Apache "combined" (and "common") access logs, optionally followed by nginx's
//! `$request_time`:
//!
//! ```text
//! 1.2.3.4 - user [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "ref" "agent" 0.123
//! ```
//!
//! Hand-written byte scanning: this is the ingestion hot path.

use memchr::{memchr, memchr2, memrchr};

use crate::error::ParseError;
use crate::num::{parse_seconds, parse_u64, scan_seconds};
use crate::record::{AccessRecord, RawRecord};
use crate::time::{ClfTimeCache, CLF_LEN};

/// Parser state carried between lines: the timestamp cache, the byte searchers and the last
/// referer and agent.
#[derive(Debug, Clone)]
pub struct CombinedParser {
    time: ClfTimeCache,
    find: Finders,
    /// The last referer and agent the fast path searched, each with its closing quote. Logs
    /// repeat them from line to line; matching the remembered bytes gives the field's end
    /// without waiting for a search, so the rest of the line can be parsed meanwhile.
    quoted: [Vec<u8>; 2],
}

/// Longest referer or agent remembered (with its closing quote).
const QUOTED_CACHE_MAX: usize = 512;

impl Default for CombinedParser {
    fn default() -> Self {
        CombinedParser {
            time: ClfTimeCache::default(),
            find: Finders::new(),
            quoted: [const { Vec::new() }; 2],
        }
    }
}

/// The fast path's two searches, `[`-or-newline and quote-or-backslash-or-newline, with the
/// CPU dispatch and needle setup done once rather than per call.
#[derive(Debug, Clone, Copy)]
struct Finders {
    #[cfg(target_arch = "x86_64")]
    open_time: Option<memchr::arch::x86_64::avx2::memchr::Two>,
    #[cfg(target_arch = "x86_64")]
    quote_end: Option<memchr::arch::x86_64::avx2::memchr::Two>,
}

impl Finders {
    fn new() -> Self {
        Finders {
            #[cfg(target_arch = "x86_64")]
            open_time: memchr::arch::x86_64::avx2::memchr::Two::new(b'[', b'\n'),
            #[cfg(target_arch = "x86_64")]
            quote_end: memchr::arch::x86_64::avx2::memchr::Two::new(b'"', b'\n'),
        }
    }

    /// First `[` or `\n`.
    #[inline]
    fn open_time(&self, b: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = &self.open_time {
            return f.find(b);
        }
        memchr2(b'[', b'\n', b)
    }

    /// First `"` or `\n`.
    #[inline]
    fn quote_end(&self, b: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = &self.quote_end {
            return f.find(b);
        }
        memchr2(b'"', b'\n', b)
    }
}

/// Parses one line without a cache; convenient for tests and one-offs.
pub fn parse_combined(line: &[u8]) -> Result<AccessRecord<'_>, ParseError> {
    CombinedParser::new().parse(line)
}

impl CombinedParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored).
    #[inline]
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessRecord<'a>, ParseError> {
        if let Some((r, end)) = self.parse_fast(line) {
            if end == line.len() {
                if let (Ok(method), Ok(path)) =
                    (std::str::from_utf8(r.method), std::str::from_utf8(r.path))
                {
                    return Ok(AccessRecord {
                        time: r.time,
                        method,
                        path,
                        host: None,
                        status: r.status,
                        request_time: r.request_time,
                        bytes: r.bytes,
                    });
                }
            }
        }
        self.parse_general(line)
    }

    /// Parses the line that starts at `buf[0]` and returns it with the index where it ends
    /// (its `\n`, or `buf.len()`). The same result as [`CombinedParser::parse`] on that line,
    /// but the usual nginx/Apache shape is parsed in one forward pass that also finds the end
    /// of the line, and the request is handed over as bytes already checked to be ASCII.
    #[inline]
    pub(crate) fn parse_next<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> (Result<RawRecord<'a>, ParseError>, usize) {
        if let Some((r, end)) = self.parse_fast(buf) {
            return (Ok(r), end);
        }
        let end = memchr(b'\n', buf).unwrap_or(buf.len());
        let line = buf.get(..end).unwrap_or(buf);
        (self.parse_general(line).map(RawRecord::from), end)
    }

    /// The fast path: `Some` only for lines of the usual shape (plain ASCII request target,
    /// ` HTTP/x.y`, numeric or `-` bytes, simple quoted referer and agent, a `d+[.d+]` or `-`
    /// request time) and then equal to what [`CombinedParser::parse_general`] returns. `None`
    /// means "not sure", never "invalid": the caller re-parses the line the general way.
    /// Every byte it passes over is checked not to be `\n`, so the returned end is the line's.
    #[inline]
    fn parse_fast<'a>(&mut self, b: &'a [u8]) -> Option<(RawRecord<'a>, usize)> {
        // Remote address, identity, user: up to the first `[`.
        let lb = self.find.open_time(b)?;
        if b.get(lb) != Some(&b'[') {
            return None;
        }
        let t_start = lb + 1;
        let t_end = t_start + CLF_LEN;
        // A time the cache accepts has no `\n` in it.
        let time = self.time.parse(b.get(t_start..t_end)?)?;
        let mut p = t_end;
        if b.get(p..p + 3)? != b"] \"" {
            return None;
        }
        p += 3;

        // `METHOD SP path[?query] SP HTTP/x.y"`, with no quote, backslash, control or
        // non-ASCII byte anywhere, so the quote found is the one `closing_quote` finds and
        // method and path are ASCII (hence UTF-8).
        let m_start = p;
        while b
            .get(p)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            p += 1;
        }
        let m_len = p - m_start;
        if m_len == 0 || m_len > 32 || b.get(p) != Some(&b' ') {
            return None;
        }
        let method = b.get(m_start..p)?;
        p += 1;
        let path_start = p;
        p = skip_path_bytes(b, p, true);
        let path = b.get(path_start..p)?;
        match path.first() {
            Some(b'/') => {}
            // `http://host/p` and the like: the general path strips the authority.
            Some(_) if path.len() >= 7 && path[..7].eq_ignore_ascii_case(b"http://") => {
                return None
            }
            Some(_) if path.len() >= 8 && path[..8].eq_ignore_ascii_case(b"https://") => {
                return None
            }
            Some(_) => {}
            None => return None,
        }
        if b.get(p) == Some(&b'?') {
            p = skip_path_bytes(b, p + 1, false);
        }
        let proto = b.get(p..p + 10)?;
        if &proto[..6] != b" HTTP/"
            || !proto_byte(proto[6])
            || !proto_byte(proto[7])
            || !proto_byte(proto[8])
            || proto[9] != b'"'
        {
            return None;
        }
        p += 10;

        // ` 200 `
        let Some(&[b' ', s0, s1, s2, b' ']) = b.get(p..p + 5) else {
            return None;
        };
        let [s0, s1, s2] = [s0, s1, s2].map(|c| c.wrapping_sub(b'0'));
        if s0 > 9 || s1 > 9 || s2 > 9 {
            return None;
        }
        let status = u16::from(s0) * 100 + u16::from(s1) * 10 + u16::from(s2);
        p += 5;

        // Bytes: `-` or up to 19 digits (no overflow check needed).
        let bytes = if b.get(p) == Some(&b'-') {
            p += 1;
            None
        } else {
            let d_start = p;
            let mut v: u64 = 0;
            while let Some(d) = b.get(p).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
                if p - d_start == 19 {
                    return None;
                }
                v = v * 10 + u64::from(d);
                p += 1;
            }
            if p == d_start {
                return None;
            }
            Some(v)
        };
        let done = |request_time, end| {
            let r = RawRecord {
                time,
                method,
                path,
                host: None,
                status,
                request_time,
                bytes,
            };
            Some((r, end))
        };
        if let Some(end) = line_end(b, p) {
            return done(None, end);
        }

        // Up to two quoted fields (referer, agent), each after one space.
        for known in &mut self.quoted {
            if b.get(p) != Some(&b' ') {
                return None;
            }
            if b.get(p + 1) != Some(&b'"') {
                break;
            }
            let inner = p + 2;
            let q = if b.get(inner..inner + 2) == Some(b"-\"") {
                inner + 1
            } else if !known.is_empty()
                && b.get(inner..inner + known.len())
                    .is_some_and(|f| f == &known[..])
            {
                // The bytes of a field found before, closing quote included: no quote, no
                // newline, no escape in them.
                inner + known.len() - 1
            } else {
                // The first quote closes the field unless a backslash escapes it.
                let q = inner + self.find.quote_end(b.get(inner..)?)?;
                if b.get(q) != Some(&b'"') || (q > inner && b.get(q - 1) == Some(&b'\\')) {
                    return None;
                }
                if let Some(field) = b.get(inner..=q).filter(|f| f.len() <= QUOTED_CACHE_MAX) {
                    known.clear();
                    known.extend_from_slice(field);
                }
                q
            };
            p = q + 1;
            if let Some(end) = line_end(b, p) {
                return done(None, end);
            }
        }

        // ` 0.123` or ` -`, then the end of the line or a space (later fields are ignored).
        if b.get(p) != Some(&b' ') {
            return None;
        }
        p += 1;
        let (request_time, after) = if let Some(&[i, b'.', f1, f2, f3]) = b.get(p..p + 5) {
            // nginx writes milliseconds: `d.ddd`.
            let d = [i, f1, f2, f3].map(|c| c.wrapping_sub(b'0'));
            if d.iter().any(|d| *d > 9) {
                let (v, after) = scan_seconds(b, p)?;
                (Some(v), after)
            } else {
                let mant = u32::from(d[0]) * 1000
                    + u32::from(d[1]) * 100
                    + u32::from(d[2]) * 10
                    + u32::from(d[3]);
                // What `scan_seconds` computes for this form.
                (Some(f64::from(mant) / 1000.0), p + 5)
            }
        } else if b.get(p) == Some(&b'-') {
            (None, p + 1)
        } else {
            let (v, after) = scan_seconds(b, p)?;
            (Some(v), after)
        };
        let end = match b.get(after) {
            Some(b' ') => after + memchr(b'\n', b.get(after..)?).unwrap_or(b.len() - after),
            _ => line_end(b, after)?,
        };
        done(request_time, end)
    }

    /// The general parser: any line, every rejection reason.
    fn parse_general<'a>(&mut self, line: &'a [u8]) -> Result<AccessRecord<'a>, ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError::Empty);
        }
        let lb = memchr(b'[', line).ok_or(ParseError::MissingTime)?;
        let t_start = lb + 1;
        let t_end = t_start + CLF_LEN;
        let t = line.get(t_start..t_end).ok_or(ParseError::BadTime)?;
        if line.get(t_end) != Some(&b']') {
            return Err(ParseError::BadTime);
        }
        let time = self.time.parse(t).ok_or(ParseError::BadTime)?;

        let mut p = t_end + 1;
        if line.get(p..p + 2) != Some(b" \"") {
            return Err(ParseError::MissingRequest);
        }
        p += 2;
        let q = closing_quote(line, p).ok_or(ParseError::Unterminated)?;
        let (method, path) = split_request(&line[p..q])?;
        p = q + 1;

        // ` 200 2326`
        let status_b = line.get(p + 1..p + 4).ok_or(ParseError::MissingStatus)?;
        if line[p] != b' ' {
            return Err(ParseError::MissingStatus);
        }
        let status = parse_status3(status_b).ok_or(ParseError::BadStatus)?;
        p += 4;
        let rest = &line[p..];
        let (bytes, rest) = match rest {
            [] => (None, rest),
            [b' ', tail @ ..] => {
                let end = tail.iter().position(|c| *c == b' ').unwrap_or(tail.len());
                let tok = &tail[..end];
                let bytes = match tok {
                    b"-" => None,
                    _ => Some(parse_u64(tok).ok_or(ParseError::BadBytes)?),
                };
                (bytes, &tail[end..])
            }
            _ => return Err(ParseError::BadStatus),
        };

        // Referer and agent are skipped (quote-aware); a token after them is the request time.
        let mut tail = rest;
        for _ in 0..2 {
            match tail {
                [b' ', b'"', inner @ ..] => {
                    let q = closing_quote(inner, 0).ok_or(ParseError::Unterminated)?;
                    tail = &inner[q + 1..];
                }
                _ => break,
            }
        }
        if !matches!(tail, [] | [b' ' | b'\t', ..]) {
            return Err(ParseError::Unterminated);
        }
        let tail = trim_start(tail);
        let tok = &tail[..tail.iter().position(|c| *c == b' ').unwrap_or(tail.len())];
        let request_time = match tok {
            b"" | b"-" => None,
            _ => Some(parse_seconds(tok).ok_or(ParseError::BadRequestTime)?),
        };

        Ok(AccessRecord {
            time,
            method,
            path,
            host: None,
            status,
            request_time,
            bytes,
        })
    }
}

/// Bytes that end the fast path's path (`stop_at_query`) or query scan: space, `"`, `?` (path
/// only), and, so that it gives up, control bytes (`\n` among them) and non-ASCII. Anything
/// else is taken as is, as the general parser does (a backslash only matters right before a
/// quote, and the quote the fast path accepts follows ` HTTP/x.y`).
#[inline]
fn ends_path(c: u8, stop_at_query: bool) -> bool {
    !(0x21..0x80).contains(&c) || c == b'"' || (stop_at_query && c == b'?')
}

/// A protocol-version byte the fast path accepts (`1.1`, `2.0`, ...): printable ASCII, not a
/// quote or backslash.
#[inline]
fn proto_byte(c: u8) -> bool {
    (0x21..0x7f).contains(&c) && c != b'"' && c != b'\\'
}

/// Index of the first byte at or after `p` for which [`ends_path`] holds, or `b.len()`. Eight
/// bytes at a time: in each word, the lowest flagged byte is exact (borrows only run upward).
#[inline]
fn skip_path_bytes(b: &[u8], mut p: usize, stop_at_query: bool) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn zero_bytes(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    while let Some(w) = b.get(p..p + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let w = u64::from_le_bytes(a);
        // Below 0x21 or from 0x80, then `"`, then maybe `?`.
        let mut special =
            (w.wrapping_sub(LO * 0x21) | w) & HI | zero_bytes(w ^ (LO * u64::from(b'"')));
        if stop_at_query {
            special |= zero_bytes(w ^ (LO * u64::from(b'?')));
        }
        if special != 0 {
            return p + (special.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    while b.get(p).is_some_and(|c| !ends_path(*c, stop_at_query)) {
        p += 1;
    }
    p
}

/// When the line ends at `b[p]` (`\n`, `\r\n`, a final `\r` or the end of `b`): the index
/// of its `\n`, or `b.len()`.
#[inline]
fn line_end(b: &[u8], p: usize) -> Option<usize> {
    match b.get(p) {
        None => (p == b.len()).then_some(p),
        Some(b'\n') => Some(p),
        Some(b'\r') => match b.get(p + 1) {
            None | Some(b'\n') => Some(p + 1),
            Some(_) => None,
        },
        Some(_) => None,
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    &b[n..]
}

/// Exactly three ASCII digits.
#[inline]
pub(crate) fn parse_status3(b: &[u8]) -> Option<u16> {
    let [a, b, c] = *b else { return None };
    let (a, b, c) = (
        a.wrapping_sub(b'0'),
        b.wrapping_sub(b'0'),
        c.wrapping_sub(b'0'),
    );
    if a > 9 || b > 9 || c > 9 {
        return None;
    }
    Some(u16::from(a) * 100 + u16::from(b) * 10 + u16::from(c))
}

/// Index of the `"` closing a quoted field that starts at `from`, skipping `\"` (Apache
/// escapes quotes that way; nginx writes `\x22`).
#[inline]
fn closing_quote(line: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let q = at + memchr(b'"', line.get(at..)?)?;
        let backslashes = line[from..q]
            .iter()
            .rev()
            .take_while(|c| **c == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(q);
        }
        at = q + 1;
    }
}

#[inline]
/// `METHOD URI [PROTOCOL]` → (method, path without query). Shared with the JSON parser for
/// its `request` field.
pub(crate) fn split_request(req: &[u8]) -> Result<(&str, &str), ParseError> {
    if req.is_empty() || req == b"-" {
        return Err(ParseError::MissingRequest);
    }
    // A byte loop beats memchr on tokens this short.
    let sp = req
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'))
        .ok_or(ParseError::BadRequest)?;
    if sp == 0 || sp > 32 || req[sp] != b' ' {
        return Err(ParseError::BadRequest);
    }
    let method = &req[..sp];
    let mut uri = &req[sp + 1..];
    // Drop the protocol; a URI may itself contain raw spaces, so cut at the last one.
    // Fast path for the usual ` HTTP/x.y`.
    let n = uri.len();
    if n > 9 && &uri[n - 9..n - 3] == b" HTTP/" {
        uri = &uri[..n - 9];
    } else if let Some(last) = memrchr(b' ', uri) {
        if uri[last + 1..].starts_with(b"HTTP/") {
            uri = &uri[..last];
        }
    }
    let path = path_of(uri).ok_or(ParseError::BadRequest)?;
    if path.as_ptr() == uri.as_ptr() && uri.as_ptr() == req[sp + 1..].as_ptr() {
        // Usual case: method and path are one contiguous span, so one UTF-8 check covers both.
        let both =
            std::str::from_utf8(&req[..sp + 1 + path.len()]).map_err(|_| ParseError::NotUtf8)?;
        return match (both.get(..sp), both.get(sp + 1..)) {
            (Some(m), Some(p)) => Ok((m, p)),
            _ => Err(ParseError::BadRequest),
        };
    }
    let method = std::str::from_utf8(method).map_err(|_| ParseError::BadRequest)?;
    let path = std::str::from_utf8(path).map_err(|_| ParseError::NotUtf8)?;
    Ok((method, path))
}

/// The path part of a request target: no query, no scheme and authority (proxy requests).
#[inline]
pub(crate) fn path_of(uri: &[u8]) -> Option<&[u8]> {
    let mut uri = match uri.iter().position(|c| *c == b'?') {
        Some(q) => &uri[..q],
        None => uri,
    };
    for scheme in [&b"http://"[..], b"https://"] {
        if uri.len() >= scheme.len() && uri[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let after = &uri[scheme.len()..];
            uri = match memchr(b'/', after) {
                Some(s) => &after[s..],
                None => b"/",
            };
            break;
        }
    }
    (!uri.is_empty()).then_some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> AccessRecord<'_> {
        parse_combined(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> ParseError {
        match parse_combined(line.as_bytes()) {
            Ok(r) => panic!("{line} parsed as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn apache_example() {
        let r = ok(
            r#"1.2.3.4 - user [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "referer" "agent""#,
        );
        assert_eq!(
            r,
            AccessRecord {
                time: 971_211_336,
                method: "GET",
                path: "/a",
                host: None,
                status: 200,
                request_time: None,
                bytes: Some(2326),
            }
        );
    }

    #[test]
    fn nginx_with_request_time() {
        // log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status
        //                   $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
        let r = ok(
            r#"127.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "POST /api/v1/items HTTP/1.1" 503 0 "-" "curl/8.5.0" 0.123"#,
        );
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/v1/items");
        assert_eq!(r.status, 503);
        assert_eq!(r.bytes, Some(0));
        assert_eq!(r.request_time, Some(0.123));
        assert_eq!(r.time, 1_704_164_645);
        let r = ok(
            r#"127.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0 (X11)" 0.000"#,
        );
        assert_eq!(r.request_time, Some(0.0));
        let r = ok(
            "127.0.0.1 - - [02/Jan/2024:03:04:05 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"a\" -\r",
        );
        assert_eq!(r.request_time, None);
        // Further nginx fields after the request time are ignored.
        let r = ok(
            r#"127.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 612 "-" "a" 1.5 0.004 "x""#,
        );
        assert_eq!(r.request_time, Some(1.5));
    }

    #[test]
    fn dashes_and_common_format() {
        let r = ok(r#"::1 - - [02/Jan/2024:03:04:05 +0000] "HEAD /x HTTP/1.0" 304 - "-" "-""#);
        assert_eq!((r.status, r.bytes), (304, None));
        let r = ok(r#"::1 - - [02/Jan/2024:03:04:05 +0000] "GET /x HTTP/1.0" 200 5"#);
        assert_eq!((r.status, r.bytes, r.request_time), (200, Some(5), None));
        let r = ok(r#"::1 - - [02/Jan/2024:03:04:05 +0000] "GET /x HTTP/1.0" 200 -"#);
        assert_eq!(r.bytes, None);
    }

    #[test]
    fn escaped_quotes() {
        let r = ok(
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.1" 200 1 "x \"y\" z" "ag\"ent" 0.5"#,
        );
        assert_eq!(r.path, r#"/a\"b"#);
        assert_eq!(r.request_time, Some(0.5));
        let r = ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\\ HTTP/1.1" 200 1 "-" "-""#);
        assert_eq!(r.path, r"/a\\");
        // nginx's own escaping.
        let r =
            ok(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /\x22q HTTP/1.1" 200 1 "-" "-""#);
        assert_eq!(r.path, r"/\x22q");
    }

    #[test]
    fn request_line_variants() {
        let r =
            ok(r#"h - - [10/Oct/2000:13:55:36 -0700] "GET http://example.com/p?q HTTP/1.1" 200 1"#);
        assert_eq!(r.path, "/p");
        let r =
            ok(r#"h - - [10/Oct/2000:13:55:36 -0700] "CONNECT http://example.com HTTP/1.1" 200 1"#);
        assert_eq!(r.path, "/");
        let r = ok(r#"h - - [10/Oct/2000:13:55:36 -0700] "GET /old" 200 1"#);
        assert_eq!(r.path, "/old");
        let r = ok(r#"h - - [10/Oct/2000:13:55:36 -0700] "OPTIONS * HTTP/1.1" 200 1"#);
        assert_eq!(r.path, "*");
    }

    #[test]
    fn rejections() {
        let t = "h - - [10/Oct/2000:13:55:36 -0700]";
        assert_eq!(err(""), ParseError::Empty);
        assert_eq!(err("  \r"), ParseError::Empty);
        assert_eq!(err("garbage"), ParseError::MissingTime);
        assert_eq!(err("h - - [10/Oct/2000:13:55:36]"), ParseError::BadTime);
        assert_eq!(
            err("h - - [10/Oct/2000:13:55:99 -0700] \"GET / HTTP/1.1\" 200 1"),
            ParseError::BadTime
        );
        assert_eq!(
            err(&format!("{t} \"-\" 400 0 \"-\" \"-\"")),
            ParseError::MissingRequest
        );
        assert_eq!(err(&format!("{t} \"\" 400 0")), ParseError::MissingRequest);
        assert_eq!(
            err(&format!(
                r#"{t} "\x16\x03\x01\x00\xA5\x01\x00\x00" 400 157 "-" "-""#
            )),
            ParseError::BadRequest
        );
        assert_eq!(err(&format!("{t} \"GET\" 400 0")), ParseError::BadRequest);
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1")),
            ParseError::Unterminated
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\"")),
            ParseError::MissingStatus
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 2x0 1")),
            ParseError::BadStatus
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 2000 1")),
            ParseError::BadStatus
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 200 1k")),
            ParseError::BadBytes
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 200 1 \"-\" \"a")),
            ParseError::Unterminated
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 200 1 \"-\" \"a\" fast")),
            ParseError::BadRequestTime
        );
        assert_eq!(
            err(&format!("{t} \"GET / HTTP/1.1\" 200 1 \"-\" \"a\" -0.1")),
            ParseError::BadRequestTime
        );
        assert_eq!(
            err(&format!("{t}x\"GET / HTTP/1.1\" 200 1")),
            ParseError::MissingRequest
        );
    }

    #[test]
    fn cache_reuse_across_lines() {
        let mut p = CombinedParser::new();
        let a = p
            .parse(br#"h - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#)
            .map(|r| r.time);
        let b = p
            .parse(br#"h - - [10/Oct/2000:13:55:59 -0700] "GET / HTTP/1.1" 200 1"#)
            .map(|r| r.time);
        let c = p
            .parse(br#"h - - [10/Oct/2000:13:55:59 +0000] "GET / HTTP/1.1" 200 1"#)
            .map(|r| r.time);
        assert_eq!(a, Ok(971_211_336));
        assert_eq!(b, Ok(971_211_359));
        assert_eq!(c, Ok(971_211_359 - 7 * 3600));
    }

    /// `parse_next` on `line` followed by more lines: the general parser's answer for the
    /// line, and the line's end.
    fn check_next(line: &[u8]) {
        let mut buf = line.to_vec();
        buf.extend_from_slice(
            b"\nh - - [10/Oct/2000:13:55:36 -0700] \"GET /next HTTP/1.1\" 200 1\n",
        );
        let want_end = memchr(b'\n', line).unwrap_or(line.len());
        let want = CombinedParser::new()
            .parse_general(&line[..want_end])
            .map(RawRecord::from);
        let mut p = CombinedParser::new();
        let (got, end) = p.parse_next(&buf);
        assert_eq!(end, want_end, "{:?}", String::from_utf8_lossy(line));
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
        // The public entry point agrees too, and so does a line at the end of the buffer.
        assert_eq!(
            CombinedParser::new().parse(line),
            CombinedParser::new().parse_general(line),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        let (got, end) = CombinedParser::new().parse_next(line);
        assert_eq!((got, end), (want, want_end));
    }

    #[test]
    fn fast_path_edge_cases() {
        let t = "h - - [10/Oct/2000:13:55:36 -0700]";
        let base = |rest: &str| format!("{t} \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"{rest}");
        // Request times: milliseconds, other decimals, integers, `-`, exponents, junk.
        for (rest, want) in [
            (" 0.041", Ok(Some(0.041))),
            (" 0.5", Ok(Some(0.5))),
            (" 12", Ok(Some(12.0))),
            (" 12.", Ok(Some(12.0))),
            (" 0.0415", Ok(Some(0.0415))),
            (" 1234.567", Ok(Some(1234.567))),
            (" -", Ok(None)),
            ("", Ok(None)),
            (" ", Ok(None)),
            (" 1e3", Ok(Some(1000.0))),
            (" 0.5 0.004 \"x\"", Ok(Some(0.5))),
            ("\t0.5", Ok(Some(0.5))),
            ("  0.5", Ok(Some(0.5))),
            (" .5", Ok(Some(0.5))),
            (" -0.5", Err(ParseError::BadRequestTime)),
            (" 0.5x", Err(ParseError::BadRequestTime)),
            (" -x", Err(ParseError::BadRequestTime)),
            ("x", Err(ParseError::Unterminated)),
        ] {
            let line = base(rest);
            let got = parse_combined(line.as_bytes()).map(|r| r.request_time);
            assert_eq!(got, want, "{line}");
            check_next(line.as_bytes());
        }
        // Status must be exactly three digits; bytes digits or `-`.
        for (mid, want) in [
            ("200 5", Ok(200)),
            ("999 -", Ok(999)),
            ("20 5", Err(ParseError::BadStatus)),
            ("2000 5", Err(ParseError::BadStatus)),
            ("2a0 5", Err(ParseError::BadStatus)),
            ("200", Err(ParseError::BadBytes)),
            ("200 5x", Err(ParseError::BadBytes)),
            ("200 99999999999999999999", Err(ParseError::BadBytes)),
            ("200 18446744073709551615", Ok(200)),
        ] {
            let line = format!("{t} \"GET /a HTTP/1.1\" {mid} \"-\" \"ua\" 0.1");
            assert_eq!(
                parse_combined(line.as_bytes()).map(|r| r.status),
                want,
                "{line}"
            );
            check_next(line.as_bytes());
        }
        // Paths: non-ASCII (valid and not), backslashes, queries, proxies, raw spaces.
        for (path, want) in [
            ("/caf\u{e9}", Ok("/caf\u{e9}")),
            ("/a\\b", Ok("/a\\b")),
            ("/a?b=\u{e9}", Ok("/a")),
            ("/a?b?c", Ok("/a")),
            ("HTTP://h/x?y", Ok("/x")),
            ("https://h", Ok("/")),
            ("/a b", Ok("/a b")),
            ("*", Ok("*")),
            ("/a\tb", Ok("/a\tb")),
            ("?x", Err(ParseError::BadRequest)),
        ] {
            let line = base(" 0.1").replace("/a HTTP", &format!("{path} HTTP"));
            assert_eq!(
                parse_combined(line.as_bytes()).map(|r| r.path),
                want,
                "{line}"
            );
            check_next(line.as_bytes());
        }
        let mut bad = base(" 0.1").into_bytes();
        bad[t.len() + 7] = 0xff;
        assert_eq!(parse_combined(&bad), Err(ParseError::NotUtf8));
        check_next(&bad);
        // Line endings: `\r\n`, a lone final `\r`, two of them.
        for end in ["\r", "\r\r", "\r \r"] {
            for rest in [" 0.1", "", " -"] {
                check_next((base(rest) + end).as_bytes());
            }
            check_next(format!("{t} \"GET /a HTTP/1.1\" 200 5{end}").as_bytes());
            check_next(format!("{t} \"GET /a HTTP/1.1\" 200 -{end}").as_bytes());
        }
        assert_eq!(
            parse_combined((base(" 0.1") + "\r").as_bytes()).map(|r| r.request_time),
            Ok(Some(0.1))
        );
        // Quotes and newlines inside quoted fields.
        for ua in [r#"a\"b"#, r#"a\\"#, "a\nb", "", "-", "\"", r#"\""#] {
            let line = format!("{t} \"GET /a HTTP/1.1\" 200 5 \"-\" \"{ua}\" 0.2");
            check_next(line.as_bytes());
            let line = format!("{t} \"GET /a HTTP/1.1\" 200 5 \"{ua}\" \"x\" 0.2");
            check_next(line.as_bytes());
        }
        // Remembered referers and agents: a repeat, a longer field starting with the same
        // bytes, a shorter one, an escaped quote.
        let mut p = CombinedParser::new();
        let mut buf = Vec::new();
        let agents = ["ua", "ua", "uax", "u", r#"ua\"x"#, "ua", "", "", "ua"];
        for (i, ua) in agents.iter().enumerate() {
            buf.extend_from_slice(
                format!(
                    "{t} \"GET /a HTTP/1.1\" 200 5 \"r{}\" \"{ua}\" 0.{i}\n",
                    i % 2
                )
                .as_bytes(),
            );
        }
        let mut start = 0;
        for ua in agents {
            let rest = &buf[start..];
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            let want = CombinedParser::new()
                .parse_general(&rest[..end])
                .map(RawRecord::from);
            assert_eq!(p.parse_next(rest), (want, end), "{ua}");
            start += end + 1;
        }
        // A newline where the fast path looks for something else.
        for cut in 0..base(" 0.1").len() {
            let mut l = base(" 0.1").into_bytes();
            l[cut] = b'\n';
            check_next(&l);
        }
    }

    /// One of `options`, the first (the usual form) most of the time.
    fn arb_part(options: &[&'static str]) -> impl Strategy<Value = &'static str> {
        let mut v = options.to_vec();
        if let Some(first) = options.first() {
            v.extend(std::iter::repeat_n(*first, options.len() * 3));
        }
        prop::sample::select(v)
    }

    /// Lines near the shape the fast path takes, with one optional byte changed.
    fn arb_near_line() -> impl Strategy<Value = Vec<u8>> {
        let parts = (
            arb_part(&["10.0.0.1 - - ", "::1 - u ", "", "a[b ", "x\"y - - "]),
            arb_part(&[
                "[10/Oct/2000:13:55:36 -0700]",
                "[10/Oct/2000:13:55:99 -0700]",
                "[10/Oct/2000:13:55:36]",
                "[10/Oct/2000:13:55:36 -0700 ]",
            ]),
            arb_part(&[" \"", "\"", "  \""]),
            arb_part(&["GET", "POST", "", "G-T_1", "get", "GE\tT", "-"]),
            prop_oneof![
                4 => "/[a-z0-9/._-]{0,10}(\\?[a-z=&?]{0,6})?",
                1 => "[ -~\t\r\u{e9}]{0,12}",
            ],
            arb_part(&[
                " HTTP/1.1",
                " HTTP/2",
                "",
                " HTTP/1.1 x",
                " HTTP/1\"1",
                " HTTP/\\\\1",
            ]),
        );
        let tail = (
            arb_part(&["\"", "", "\\\""]),
            arb_part(&[" 200", " 20", " 2000", " 2x0", "", "200"]),
            arb_part(&[" 123", " -", " 123456789012345678901", "", " 1k", " 0"]),
            arb_part(&[
                " \"-\"",
                " \"https://e/\"",
                " \"a\\\"b\"",
                " \"x",
                "",
                "\t\"x\"",
                " \"\"",
            ]),
            arb_part(&[
                " \"Mozilla/5.0 (X11)\"",
                " \"-\"",
                " \"a\\\\\"",
                " \"\u{e9}\"",
                "",
            ]),
            arb_part(&[
                " 0.041",
                " 0.5",
                " 12",
                " -",
                " 1e3",
                " 0.0415",
                " .5",
                "",
                "  0.1",
                " 0.1 x",
                " 0.1\t",
                " -0.1",
                " 9999999999999999",
                " 0.1.2",
            ]),
            arb_part(&["", "\r", "\r\r", " "]),
        );
        let mutation = prop::option::weighted(
            0.3,
            (
                any::<prop::sample::Index>(),
                prop::sample::select(vec![b'\n', b'"', b'\\', 0xff, b' ', b'?', b'\r', b'0', 0]),
            ),
        );
        (parts, tail, mutation).prop_map(|(p, t, m)| {
            let mut v = [
                p.0, p.1, p.2, p.3, " ", &p.4, p.5, t.0, t.1, t.2, t.3, t.4, t.5, t.6,
            ]
            .concat()
            .into_bytes();
            if let Some((i, c)) = m {
                if !v.is_empty() {
                    let i = i.index(v.len());
                    v[i] = c;
                }
            }
            v
        })
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_general(line in arb_near_line()) {
            check_next(&line);
        }

        #[test]
        fn fast_path_agrees_across_lines(lines in prop::collection::vec(arb_near_line(), 1..10)) {
            // One parser for all lines, so its caches (time, referer, agent) carry over.
            let buf = lines.join(&b'\n');
            let mut p = CombinedParser::new();
            let mut start = 0;
            while let Some(rest) = buf.get(start..).filter(|r| !r.is_empty()) {
                let want_end = memchr(b'\n', rest).unwrap_or(rest.len());
                let want = CombinedParser::new()
                    .parse_general(&rest[..want_end])
                    .map(RawRecord::from);
                let (got, end) = p.parse_next(rest);
                prop_assert_eq!(end, want_end);
                prop_assert_eq!(got, want);
                start += end + 1;
            }
        }

        #[test]
        fn fast_path_agrees_on_bytes(line in prop::collection::vec(any::<u8>(), 0..200)) {
            check_next(&line);
        }
    }
}
