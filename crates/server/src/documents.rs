//! Incidents and postmortems are versioned JSON documents in the store. One change is: load,
//! apply a pure change from the `incident` crate, write back with a compare-and-swap on the
//! version together with the timeline entries and the audit record (one transaction). A
//! writer that lost the race re-reads and re-applies, so nothing is silently overwritten.

use incident::incident::{Incident, TimelineEvent};
use incident::postmortem::Postmortem;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use store::{DocKind, DocUpdate, TimelineRecord};

use crate::error::ApiError;
use crate::state::AppState;

/// How often a change is re-applied after losing a race with another writer.
const CAS_ATTEMPTS: usize = 8;

/// A document kind of the store with the error codes its API answers with.
pub(crate) trait Document: Serialize + DeserializeOwned {
    const KIND: DocKind;
    const NOT_FOUND: &'static str;
    const CORRUPT: &'static str;
    const BUSY: &'static str;
    fn set_id(&mut self, id: i64);
    /// The status column the store filters by.
    fn status_text(&self) -> String;
}

impl Document for Incident {
    const KIND: DocKind = DocKind::Incident;
    const NOT_FOUND: &'static str = "incident.not_found";
    const CORRUPT: &'static str = "incident.corrupt";
    const BUSY: &'static str = "incident.busy";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn status_text(&self) -> String {
        self.status.to_string()
    }
}

impl Document for Postmortem {
    const KIND: DocKind = DocKind::Postmortem;
    const NOT_FOUND: &'static str = "postmortem.not_found";
    const CORRUPT: &'static str = "postmortem.corrupt";
    const BUSY: &'static str = "postmortem.busy";
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn status_text(&self) -> String {
        serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::internal("document.encode", e.to_string()))
}

pub(crate) fn not_found<T: Document>(id: i64) -> ApiError {
    ApiError::not_found(T::NOT_FOUND, format!("no {} {id}", T::KIND.as_str()))
}

pub(crate) fn decode<T: Document>(record: &store::DocRecord) -> Result<T, ApiError> {
    let mut doc: T = serde_json::from_str(&record.doc).map_err(|e| {
        ApiError::internal(
            T::CORRUPT,
            format!(
                "stored {} {} is unreadable: {e}",
                T::KIND.as_str(),
                record.id
            ),
        )
    })?;
    doc.set_id(record.id);
    Ok(doc)
}

/// A document and its version.
pub(crate) async fn load<T: Document>(state: &AppState, id: i64) -> Result<(T, i64), ApiError> {
    let record = state
        .store
        .doc(T::KIND, id)
        .await?
        .ok_or_else(|| not_found::<T>(id))?;
    Ok((decode(&record)?, record.version))
}

/// The stored form of a timeline event of incident `incident_id`.
pub(crate) fn timeline_record(
    incident_id: i64,
    event: &TimelineEvent,
    author: &str,
    at: i64,
) -> Result<TimelineRecord, ApiError> {
    Ok(TimelineRecord {
        id: 0,
        incident_id,
        at,
        author: author.to_string(),
        kind: event.kind.as_str().to_string(),
        text: event.text.clone(),
        pinned: false,
        data: encode(&event.data)?,
    })
}

/// Applies `change` to document `id` and stores it with the timeline events it returns (only
/// incidents have a timeline); re-reads and re-applies when another writer got there first.
pub(crate) async fn mutate<T: Document>(
    state: &AppState,
    id: i64,
    actor: &str,
    action: &str,
    change: impl Fn(&mut T, i64) -> Result<Vec<TimelineEvent>, incident::Error>,
) -> Result<T, ApiError> {
    for _ in 0..CAS_ATTEMPTS {
        let (mut doc, version) = load::<T>(state, id).await?;
        let now = crate::now();
        let events = change(&mut doc, now).map_err(crate::incidents_api::domain_error)?;
        let timeline = events
            .iter()
            .map(|e| timeline_record(id, e, actor, now))
            .collect::<Result<Vec<_>, _>>()?;
        let target = format!("{}/{id}", T::KIND.as_str());
        let mut audit = store::AuditEntry::new(now, actor, action, &target);
        if !events.is_empty() {
            audit.details = json!({ "events": events.iter().map(|e| &e.text).collect::<Vec<_>>() });
        }
        match state
            .store
            .update_doc(
                T::KIND,
                id,
                version,
                &encode(&doc)?,
                &doc.status_text(),
                now,
                &timeline,
                &audit,
            )
            .await?
        {
            DocUpdate::Updated { .. } => return Ok(doc),
            DocUpdate::NotFound => return Err(not_found::<T>(id)),
            DocUpdate::Conflict { .. } => continue,
        }
    }
    Err(ApiError::unavailable(
        T::BUSY,
        format!(
            "the {} kept changing under this update; try again",
            T::KIND.as_str()
        ),
    )
    .with_retry_after(1))
}
