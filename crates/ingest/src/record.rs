//! The parsed form of one access-log line. Borrowed from the line (or the parser's scratch
//! buffer) so parsing never allocates per line.

/// One request, as far as SLIs care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccessRecord<'a> {
    /// Unix seconds, UTC.
    pub time: i64,
    pub method: &'a str,
    /// Request path without the query string.
    pub path: &'a str,
    /// Virtual host, when the format carries one (combined logs do not).
    pub host: Option<&'a str>,
    pub status: u16,
    /// Seconds, when the log has it (`$request_time`); `None` for `-` or absent.
    pub request_time: Option<f64>,
    /// Response bytes, when known.
    pub bytes: Option<u64>,
}

/// What the classifier reads from a line: [`AccessRecord`] with method, path and host as bytes,
/// so the combined-log fast path can hand over request bytes it has already checked to be
/// ASCII without building `&str`s. Every constructor guarantees these bytes are valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawRecord<'a> {
    pub time: i64,
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub host: Option<&'a [u8]>,
    pub status: u16,
    pub request_time: Option<f64>,
    pub bytes: Option<u64>,
}

impl<'a> From<AccessRecord<'a>> for RawRecord<'a> {
    #[inline]
    fn from(r: AccessRecord<'a>) -> Self {
        RawRecord {
            time: r.time,
            method: r.method.as_bytes(),
            path: r.path.as_bytes(),
            host: r.host.map(str::as_bytes),
            status: r.status,
            request_time: r.request_time,
            bytes: r.bytes,
        }
    }
}
