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
