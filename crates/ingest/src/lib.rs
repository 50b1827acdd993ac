//! Pure, bounded parsers (access logs, JSON lines) and the classifier that turns records
//! into good/total increments. No IO: callers hand in bytes.
//!
//! Nothing here panics on input, allocates per line, or uses `unsafe`.

mod classify;
mod combined;
mod error;
mod json;
pub mod matcher;
mod num;
mod pathcache;
mod record;
mod time;

pub use classify::{
    line_chunks, process_chunk, process_parallel, split_at_line_boundary, ChunkResult, Classifier,
    Counts, LogFormat, Rejection, Worker, MAX_REJECTIONS,
};
pub use combined::{parse_combined, CombinedParser};
pub use error::{Error, ParseError};
pub use json::{JsonFields, JsonParser};
pub use matcher::{GoodCondition, LatencyBound, Selector, SliMatcher, StatusSet};
pub use record::AccessRecord;
