//! JSON-lines access logs, e.g. nginx `log_format ... escape=json '{"time":"$time_iso8601",...}'`.
//!
//! A small hand-written scanner over one flat object: values we do not use (nested objects,
//! arrays, other keys) are skipped without being decoded, and strings are unescaped only when
//! they contain a backslash, into a scratch buffer reused across lines.

use memchr::memchr2;

use crate::combined::{path_of, split_request};
use crate::error::ParseError;
use crate::num::{parse_seconds, parse_u64};
use crate::record::AccessRecord;
use crate::time::{epoch_f64, parse_time_text};

/// Which JSON keys hold which value. For each role the first listed key present wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFields {
    /// RFC 3339, epoch seconds (number or string), or combined-log time.
    pub time: Vec<String>,
    pub method: Vec<String>,
    /// Request path or URI (a query string is dropped).
    pub path: Vec<String>,
    /// The full request line (`GET /a HTTP/1.1`), used when no path key is present.
    pub request: Vec<String>,
    pub status: Vec<String>,
    /// Seconds, number or string.
    pub request_time: Vec<String>,
    pub host: Vec<String>,
    pub bytes: Vec<String>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for JsonFields {
    fn default() -> Self {
        JsonFields {
            time: names(&[
                "time",
                "time_iso8601",
                "timestamp",
                "@timestamp",
                "time_local",
            ]),
            method: names(&["method", "request_method"]),
            path: names(&["path", "uri", "request_uri"]),
            request: names(&["request"]),
            status: names(&["status"]),
            request_time: names(&["request_time"]),
            host: names(&["host"]),
            bytes: names(&["body_bytes_sent", "bytes"]),
        }
    }
}

const ROLES: usize = 8;
const TIME: usize = 0;
const METHOD: usize = 1;
const PATH: usize = 2;
const REQUEST: usize = 3;
const STATUS: usize = 4;
const REQUEST_TIME: usize = 5;
const HOST: usize = 6;
const BYTES: usize = 7;

/// Where a value's text is: in the line, or (unescaped) in the scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Absent,
    Null,
    /// Unusable for our fields (bool, object, array).
    Other,
    Num(usize, usize),
    Str(usize, usize),
    Scratch(usize, usize),
}

/// Parser for one JSON object per line.
#[derive(Debug, Clone, Default)]
pub struct JsonParser {
    fields: JsonFields,
    scratch: Vec<u8>,
    key: Vec<u8>,
}

impl JsonParser {
    pub fn new(fields: JsonFields) -> Self {
        JsonParser {
            fields,
            scratch: Vec::new(),
            key: Vec::new(),
        }
    }

    /// For each role: the priority of `key` if it beats what was found so far.
    fn wanted(&self, key: &[u8], found: &[(usize, Val); ROLES]) -> [Option<usize>; ROLES] {
        let f = &self.fields;
        let lists: [&Vec<String>; ROLES] = [
            &f.time,
            &f.method,
            &f.path,
            &f.request,
            &f.status,
            &f.request_time,
            &f.host,
            &f.bytes,
        ];
        let mut out = [None; ROLES];
        for (role, list) in lists.iter().enumerate() {
            if let Some(prio) = list.iter().position(|n| n.as_bytes() == key) {
                if prio < found[role].0 {
                    out[role] = Some(prio);
                }
            }
        }
        out
    }

    /// Parses one line (without its `\n`). The record borrows the line and this parser.
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<AccessRecord<'a>, ParseError> {
        let b = line.strip_suffix(b"\r").unwrap_or(line);
        if b.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError::Empty);
        }
        self.scratch.clear();
        let mut found = [(usize::MAX, Val::Absent); ROLES];
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return Err(ParseError::BadJson);
        }
        i = skip_ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                if b.get(i) != Some(&b'"') {
                    return Err(ParseError::BadJson);
                }
                let (kend, kesc) = scan_string(b, i + 1).ok_or(ParseError::BadJson)?;
                let raw_key = &b[i + 1..kend];
                i = skip_ws(b, kend + 1);
                if b.get(i) != Some(&b':') {
                    return Err(ParseError::BadJson);
                }
                i = skip_ws(b, i + 1);
                let (val, next) = scan_value(b, i).ok_or(ParseError::BadJson)?;
                i = skip_ws(b, next);

                let mut key = std::mem::take(&mut self.key);
                let key_bytes: &[u8] = if kesc {
                    key.clear();
                    unescape(raw_key, &mut key).ok_or(ParseError::BadJson)?;
                    &key
                } else {
                    raw_key
                };
                let wanted = self.wanted(key_bytes, &found);
                self.key = key;
                if wanted.iter().any(Option::is_some) {
                    // Unescape a string value only when some role uses it.
                    let val = match val {
                        Val::Str(s, e) if b[s..e].contains(&b'\\') => {
                            let start = self.scratch.len();
                            unescape(&b[s..e], &mut self.scratch).ok_or(ParseError::BadJson)?;
                            Val::Scratch(start, self.scratch.len())
                        }
                        v => v,
                    };
                    for (slot, prio) in found.iter_mut().zip(wanted) {
                        if let Some(prio) = prio {
                            *slot = (prio, val);
                        }
                    }
                }

                match b.get(i) {
                    Some(b',') => i = skip_ws(b, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return Err(ParseError::BadJson),
                }
            }
        }
        if skip_ws(b, i) != b.len() {
            return Err(ParseError::BadJson);
        }

        let this: &'a Self = self;
        let text = |v: Val| -> Option<&'a [u8]> {
            match v {
                Val::Str(s, e) | Val::Num(s, e) => b.get(s..e),
                Val::Scratch(s, e) => this.scratch.get(s..e),
                _ => None,
            }
        };
        let utf8 = |t: &'a [u8]| std::str::from_utf8(t).map_err(|_| ParseError::NotUtf8);

        let time = match found[TIME].1 {
            Val::Absent | Val::Null => return Err(ParseError::MissingTime),
            Val::Num(s, e) => std::str::from_utf8(&b[s..e])
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(epoch_f64),
            v => text(v).and_then(parse_time_text),
        }
        .ok_or(ParseError::BadTime)?;

        let status = match found[STATUS].1 {
            Val::Absent | Val::Null => return Err(ParseError::MissingStatus),
            v => match text(v) {
                Some(b"" | b"-") => return Err(ParseError::MissingStatus),
                t => t
                    .and_then(parse_u64)
                    .filter(|s| *s <= 999)
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or(ParseError::BadStatus)?,
            },
        };

        let request_time = match text(found[REQUEST_TIME].1) {
            None | Some(b"" | b"-") => match found[REQUEST_TIME].1 {
                Val::Other => return Err(ParseError::BadRequestTime),
                _ => None,
            },
            Some(t) => Some(parse_seconds(t).ok_or(ParseError::BadRequestTime)?),
        };

        let bytes = match text(found[BYTES].1) {
            None | Some(b"" | b"-") => None,
            Some(t) => Some(parse_u64(t).ok_or(ParseError::BadBytes)?),
        };

        let host = match text(found[HOST].1) {
            None | Some(b"" | b"-") => None,
            Some(t) => Some(utf8(t)?),
        };

        let method_field = match text(found[METHOD].1) {
            Some(t) => Some(utf8(t)?),
            None => None,
        };
        let (method, path) = match text(found[PATH].1) {
            Some(p) => (
                method_field.unwrap_or(""),
                utf8(path_of(p).ok_or(ParseError::MissingPath)?)?,
            ),
            None => match text(found[REQUEST].1) {
                Some(req) => {
                    let (m, p) = split_request(req)?;
                    (method_field.unwrap_or(m), p)
                }
                None => return Err(ParseError::MissingPath),
            },
        };

        Ok(AccessRecord {
            time,
            method,
            path,
            host,
            status,
            request_time,
            bytes,
        })
    }
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// From just after an opening quote: index of the closing quote and whether a backslash
/// occurred.
#[inline]
fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut esc = false;
    loop {
        i += memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some((i, esc));
        }
        esc = true;
        i += 2;
    }
}

/// One value starting at `i`: what it is and the index after it. Nested containers are
/// skipped with a depth counter, so deep nesting cannot overflow the stack.
fn scan_value(b: &[u8], i: usize) -> Option<(Val, usize)> {
    match *b.get(i)? {
        b'"' => {
            let (end, _) = scan_string(b, i + 1)?;
            Some((Val::Str(i + 1, end), end + 1))
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((Val::Other, j + 1));
                        }
                    }
                    b'"' => j = scan_string(b, j + 1)?.0,
                    _ => {}
                }
                j += 1;
            }
        }
        b't' if b[i..].starts_with(b"true") => Some((Val::Other, i + 4)),
        b'f' if b[i..].starts_with(b"false") => Some((Val::Other, i + 5)),
        b'n' if b[i..].starts_with(b"null") => Some((Val::Null, i + 4)),
        b'-' | b'0'..=b'9' => {
            let n = b[i..]
                .iter()
                .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .count();
            Some((Val::Num(i, i + n), i + n))
        }
        _ => None,
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// JSON string escapes into `out`. Unknown escapes (nginx's default `\x22`) are kept as
/// written rather than rejected.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < s.len() {
        let Some(off) = memchr::memchr(b'\\', &s[i..]) else {
            out.extend_from_slice(&s[i..]);
            break;
        };
        out.extend_from_slice(&s[i..i + off]);
        i += off;
        let c = *s.get(i + 1)?;
        i += 2;
        let simple = match c {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        if c != b'u' {
            out.extend_from_slice(&[b'\\', c]);
            continue;
        }
        let hi = hex4(&s[i..])?;
        i += 4;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if s.get(i..i + 2) != Some(b"\\u") {
                return None;
            }
            let lo = hex4(&s[i + 2..])?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            i += 6;
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        let ch = char::from_u32(code)?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (time, method, path, host, status, request_time, bytes), owned for easy comparison.
    type Owned = (
        i64,
        String,
        String,
        Option<String>,
        u16,
        Option<f64>,
        Option<u64>,
    );

    fn parse(line: &str) -> Result<Owned, ParseError> {
        let mut p = JsonParser::new(JsonFields::default());
        p.parse(line.as_bytes()).map(|r| {
            (
                r.time,
                r.method.to_string(),
                r.path.to_string(),
                r.host.map(str::to_string),
                r.status,
                r.request_time,
                r.bytes,
            )
        })
    }

    #[test]
    fn nginx_escape_json() {
        // log_format j escape=json '{"time":"$time_iso8601","host":"$host","method":"$request_method",
        //   "uri":"$request_uri","status":"$status","request_time":"$request_time","body_bytes_sent":"$body_bytes_sent"}';
        let line = r#"{"time":"2024-01-02T03:04:05+00:00","host":"example.com","method":"GET","uri":"/api/v1/x?id=3","status":"200","request_time":"0.012","body_bytes_sent":"612"}"#;
        assert_eq!(
            parse(line),
            Ok((
                1_704_164_645,
                "GET".into(),
                "/api/v1/x".into(),
                Some("example.com".into()),
                200,
                Some(0.012),
                Some(612)
            ))
        );
    }

    #[test]
    fn numbers_and_alternatives() {
        let line = r#"{"timestamp": 1704164645.5, "request": "POST /a/b?c HTTP/2.0", "status": 503, "request_time": 1.25, "extra": {"nested": [1, {"x": "}"}]}, "ok": true, "n": null}"#;
        assert_eq!(
            parse(line),
            Ok((
                1_704_164_645,
                "POST".into(),
                "/a/b".into(),
                None,
                503,
                Some(1.25),
                None
            ))
        );
        let line = r#"{"time_local":"02/Jan/2024:03:04:05 +0000","request_method":"DELETE","path":"/x","status":"404","request_time":"-","host":""}"#;
        assert_eq!(
            parse(line),
            Ok((
                1_704_164_645,
                "DELETE".into(),
                "/x".into(),
                None,
                404,
                None,
                None
            ))
        );
        let line = r#"{"@timestamp":"1704164645","path":"/x","status":204}"#;
        assert_eq!(
            parse(line),
            Ok((1_704_164_645, "".into(), "/x".into(), None, 204, None, None))
        );
    }

    #[test]
    fn first_listed_key_wins() {
        let line = r#"{"time_local":"02/Jan/2024:03:04:05 +0000","time":"2024-01-02T03:04:06Z","uri":"/u","path":"/p","status":200}"#;
        let r = parse(line);
        assert_eq!(r.as_ref().map(|r| r.0), Ok(1_704_164_646));
        assert_eq!(r.map(|r| r.2), Ok("/p".to_string()));
    }

    #[test]
    fn escapes() {
        let line = r#"{"time":"2024-01-02T03:04:05Z","path":"\/caf\u00e9\"\ud83d\ude00","status":"200","host":"a\\b","x":"\x22"}"#;
        let r = parse(line);
        assert_eq!(r.as_ref().map(|r| r.2.clone()), Ok("/café\"😀".to_string()));
        assert_eq!(r.map(|r| r.3), Ok(Some("a\\b".to_string())));
        let line = r#"{"tim\u0065":"2024-01-02T03:04:05Z","path":"/","status":200}"#;
        assert_eq!(parse(line).map(|r| r.0), Ok(1_704_164_645));
    }

    #[test]
    fn custom_fields() {
        let fields = JsonFields {
            time: vec!["ts".into()],
            status: vec!["code".into()],
            path: vec!["route".into()],
            ..JsonFields::default()
        };
        let mut p = JsonParser::new(fields);
        let r = p
            .parse(br#"{"ts":1,"code":500,"route":"/r"}"#)
            .map(|r| (r.time, r.status, r.path.to_string()));
        assert_eq!(r, Ok((1, 500, "/r".to_string())));
        assert_eq!(
            p.parse(br#"{"time":1,"status":500,"path":"/r"}"#).err(),
            Some(ParseError::MissingTime)
        );
    }

    #[test]
    fn rejections() {
        let t = r#""time":"2024-01-02T03:04:05Z""#;
        for (line, want) in [
            ("", ParseError::Empty),
            ("not json", ParseError::BadJson),
            ("{", ParseError::BadJson),
            (r#"{"a":1,}"#, ParseError::BadJson),
            (r#"{"a" 1}"#, ParseError::BadJson),
            (r#"{"a":"unterminated}"#, ParseError::BadJson),
            (r#"{"a":1} x"#, ParseError::BadJson),
            (r#"{"a":[1,2}"#, ParseError::BadJson),
            (r#"{"path":"/","status":200}"#, ParseError::MissingTime),
            (
                r#"{"time":"soon","path":"/","status":200}"#,
                ParseError::BadTime,
            ),
            (
                r#"{"time":1e400,"path":"/","status":200}"#,
                ParseError::BadTime,
            ),
            (&format!(r#"{{{t},"path":"/"}}"#), ParseError::MissingStatus),
            (
                &format!(r#"{{{t},"path":"/","status":"abc"}}"#),
                ParseError::BadStatus,
            ),
            (
                &format!(r#"{{{t},"path":"/","status":70000}}"#),
                ParseError::BadStatus,
            ),
            (&format!(r#"{{{t},"status":200}}"#), ParseError::MissingPath),
            (
                &format!(r#"{{{t},"request":"-","status":200}}"#),
                ParseError::MissingRequest,
            ),
            (
                &format!(r#"{{{t},"path":"/","status":200,"request_time":"x"}}"#),
                ParseError::BadRequestTime,
            ),
            (
                &format!(r#"{{{t},"path":"/","status":200,"request_time":true}}"#),
                ParseError::BadRequestTime,
            ),
            (
                &format!(r#"{{{t},"path":"/","status":200,"bytes":"x"}}"#),
                ParseError::BadBytes,
            ),
            (
                &format!(r#"{{{t},"path":"\ud800","status":200}}"#),
                ParseError::BadJson,
            ),
        ] {
            assert_eq!(parse(line).err(), Some(want), "{line}");
        }
        let mut p = JsonParser::new(JsonFields::default());
        let bad_utf8 = b"{\"time\":1,\"path\":\"/\xff\",\"status\":200}";
        assert_eq!(p.parse(bad_utf8).err(), Some(ParseError::NotUtf8));
    }
}
