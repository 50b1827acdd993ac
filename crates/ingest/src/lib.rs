//! Pure, bounded parsers (access logs, JSON lines) and the classifier that turns records
//! into good/total increments. No IO: callers hand in bytes.

pub mod matcher;

pub use matcher::{GoodCondition, LatencyBound, SliMatcher, Selector, StatusSet};
