//! nginx/Apache "combined" (and "common") access logs, optionally followed by nginx's
//! `$request_time`:
//!
//! ```text
//! 1.2.3.4 - user [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "ref" "agent" 0.123
//! ```
//!
//! Hand-written byte scanning: this is the ingestion hot path.

use memchr::{memchr, memrchr};

use crate::error::ParseError;
use crate::num::{parse_seconds, parse_u64};
use crate::record::AccessRecord;
use crate::time::{ClfTimeCache, CLF_LEN};

/// Parser state carried between lines: the timestamp cache.
#[derive(Debug, Clone, Default)]
pub struct CombinedParser {
    time: ClfTimeCache,
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
}
