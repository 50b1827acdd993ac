//! Errors. `Error` is for configuration syntax (shown as `file:line:col: field: message`);
//! `ParseError` is the short, copyable reason a log line was rejected.

/// A configuration value that does not parse. Messages are lowercase and name the input,
/// because the caller prefixes them with the file position and field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid status set {input:?}: {reason}")]
    StatusSet { input: String, reason: String },
    #[error("invalid latency bound {input:?}: {reason}")]
    LatencyBound { input: String, reason: String },
    #[error("invalid series selector {input:?}: {reason}")]
    SeriesSelector { input: String, reason: String },
    #[error("invalid span selector {input:?}: {reason}")]
    SpanSelector { input: String, reason: String },
}

/// Why one log line was rejected. `Copy` and allocation-free so rejecting is cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("invalid utf-8")]
    NotUtf8,
    #[error("bad json")]
    BadJson,
    #[error("missing time")]
    MissingTime,
    #[error("bad time")]
    BadTime,
    #[error("missing request")]
    MissingRequest,
    #[error("bad request line")]
    BadRequest,
    #[error("missing path")]
    MissingPath,
    #[error("missing status")]
    MissingStatus,
    #[error("bad status")]
    BadStatus,
    #[error("bad bytes")]
    BadBytes,
    #[error("bad request time")]
    BadRequestTime,
    #[error("unterminated quoted field")]
    Unterminated,
}
