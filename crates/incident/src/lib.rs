//! The pure core of incidents, postmortems and toil. Nothing here does IO or reads a clock:
//! every function that needs "now" takes it (unix seconds), and every value serializes with
//! serde so the server stores it as JSON and the API shows it.
//!
//! - [`incident`]: an incident — title, severity, services, status with a time per change,
//!   roles (the commander holds every role not delegated) and handovers, linked alerts and
//!   SLOs — and the live state document with per-section revisions (a stale edit is a
//!   [`SectionConflict`], never a silent overwrite). Every change returns the
//!   [`TimelineEvent`] the working record gets.
//! - [`impact`]: error budget consumed and bad events during an incident from SLO counters;
//!   time to detect and to mitigate; response metrics (MTTA, MTTM, MTTR).
//! - [`postmortem`]: drafting from an incident, action items (exactly one owner), the review
//!   workflow, overdue reviews, the blameless check, Markdown export and aggregates.
//! - [`toil`]: toil entries, categories, team capacity and the toil reports.
#![forbid(unsafe_code)]

pub mod impact;
pub mod incident;
pub mod postmortem;
pub mod toil;

use serde::{Deserialize, Serialize};

/// A stale edit of a section of the state document: both texts, so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionConflict {
    pub section: String,
    /// The revision the edit was based on.
    pub base_revision: u64,
    /// The section as it is now.
    pub current_revision: u64,
    pub current_text: String,
    /// The text the refused edit carried.
    pub your_text: String,
}

/// Errors of the incident core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A field value the domain refuses (`field` is the API's field name).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A status change the lifecycle does not allow.
    #[error("an incident cannot go from {from} to {to}")]
    Transition { from: String, to: String },
    /// A workflow step out of order (e.g. approving a draft).
    #[error("{0}")]
    Workflow(String),
    #[error("unknown section {0:?}")]
    UnknownSection(String),
    #[error("section {} changed since revision {} (now {})", .0.section, .0.base_revision, .0.current_revision)]
    Conflict(Box<SectionConflict>),
}
