//! Pure, bounded parsers (access logs, JSON lines, remote-write, OTLP) and the classifier that turns records
//! into good/total increments. No IO: callers hand in bytes.
//!
//! Nothing here panics on input, allocates per line, or uses `unsafe`.

mod classify;
mod combined;
pub mod counter;
mod error;
pub mod events;
mod json;
pub mod matcher;
mod num;
pub mod otlp;
mod pathcache;
mod record;
pub mod remote_write;
pub mod series;
mod series_classify;
mod time;

pub use classify::{
    line_chunks, process_chunk, process_parallel, split_at_line_boundary, ChunkResult, Classifier,
    Counts, LogFormat, Rejection, Worker, MAX_REJECTIONS,
};
pub use combined::{parse_combined, CombinedParser};
pub use counter::{CounterTracker, FirstSample, SeriesKey, TrackerState};
pub use error::{Error, ParseError};
pub use json::{JsonFields, JsonParser};
pub use matcher::{GoodCondition, LatencyBound, Selector, SliMatcher, StatusSet};
pub use record::AccessRecord;
pub use remote_write::{decode_write_request, RemoteWriteError, WriteRequest};
pub use series::SeriesSelector;
pub use series_classify::{
    GoodSeries, RemoteWriteClassifier, SeriesSli, SeriesStats, SliIncrement, Temporality,
};
