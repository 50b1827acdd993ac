//! Silences with Alertmanager's semantics, as pure functions returning what to store.
//!
//! - State at `now`: pending before `startsAt`, active until `endsAt`, expired from `endsAt`.
//! - Posting a silence with an id updates it in place when Alertmanager would: same matchers,
//!   and for an active silence the same `startsAt` and an `endsAt` not in the past, for a
//!   pending one a `startsAt` not in the past. Otherwise (changed matchers, or an expired
//!   silence) the old one is expired and a new silence with a new id replaces it.
//! - Expiring: an active silence ends now; a pending one starts and ends now; an expired one
//!   stays as it is.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::labels::{is_valid_label_name, LabelSet};
use crate::matcher::{ApiMatcher, Matchers};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Matchers,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether this silence mutes `labels` at `now`.
    pub fn silences(&self, labels: &LabelSet, now: Timestamp) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.matches(labels)
    }

    /// From the API v2 shape (also how the server can persist silences as JSON).
    pub fn from_api(g: &GettableSilence) -> Result<Silence, Error> {
        Ok(Silence {
            id: g.id.clone(),
            matchers: Matchers::from_api(&g.matchers).map_err(|e| Error::Silence(e.to_string()))?,
            starts_at: g.starts_at,
            ends_at: g.ends_at,
            updated_at: g.updated_at,
            created_by: g.created_by.clone(),
            comment: g.comment.clone(),
        })
    }

    /// The API v2 `GettableSilence`.
    pub fn to_api(&self, now: Timestamp) -> GettableSilence {
        GettableSilence {
            id: self.id.clone(),
            status: SilenceStatus {
                state: self.state(now),
            },
            updated_at: self.updated_at,
            matchers: self.matchers.to_api(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        }
    }
}

/// Whether any silence mutes `labels` at `now`.
pub fn silenced(silences: &[Silence], labels: &LabelSet, now: Timestamp) -> bool {
    silences.iter().any(|s| s.silences(labels, now))
}

/// The ids of the silences muting `labels` at `now`.
pub fn silenced_by<'a>(silences: &'a [Silence], labels: &LabelSet, now: Timestamp) -> Vec<&'a str> {
    silences
        .iter()
        .filter(|s| s.silences(labels, now))
        .map(|s| s.id.as_str())
        .collect()
}

/// API v2 `PostableSilence` (`POST /api/v2/silences`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// API v2 `GettableSilence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    pub updated_at: Timestamp,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

/// What to store after a POST.
#[derive(Debug, Clone, PartialEq)]
pub enum SilenceChange {
    /// A new silence.
    Created(Silence),
    /// The existing silence, changed in place (same id).
    Updated(Silence),
    /// The old silence expired (store it as given) and a new one with a new id.
    Replaced { expired: Silence, created: Silence },
}

impl SilenceChange {
    /// The id to answer with (`{"silenceID": ...}`).
    pub fn id(&self) -> &str {
        match self {
            SilenceChange::Created(s) | SilenceChange::Updated(s) => &s.id,
            SilenceChange::Replaced { created, .. } => &created.id,
        }
    }
}

fn validate(posted: &PostableSilence, now: Timestamp) -> Result<Matchers, Error> {
    let bad = |m: &str| Err(Error::Silence(m.to_string()));
    if posted.matchers.is_empty() {
        return bad("at least one matcher required");
    }
    for m in &posted.matchers {
        if !is_valid_label_name(&m.name) {
            return Err(Error::Silence(format!("invalid label name {:?}", m.name)));
        }
    }
    let matchers =
        Matchers::from_api(&posted.matchers).map_err(|e| Error::Silence(e.to_string()))?;
    if matchers.0.iter().all(|m| m.matches_value("")) {
        return bad("at least one matcher must not match the empty string");
    }
    if posted.ends_at <= posted.starts_at {
        return bad("start time must be before end time");
    }
    if posted.ends_at < now {
        return bad("end time can't be in the past");
    }
    Ok(matchers)
}

/// Applies a POST: `existing` is the stored silence with `posted.id` (None when no id was
/// given; an id that is not stored is [`Error::SilenceNotFound`] — pass `None` only when
/// `posted.id` is None). `new_id` is used when a new silence is created.
pub fn apply_post(
    existing: Option<&Silence>,
    posted: PostableSilence,
    now: Timestamp,
    new_id: impl FnOnce() -> String,
) -> Result<SilenceChange, Error> {
    let matchers = validate(&posted, now)?;
    let prev = match posted.id.as_deref().filter(|id| !id.is_empty()) {
        None => None,
        Some(id) => match existing {
            Some(prev) if prev.id == id => Some(prev),
            _ => return Err(Error::SilenceNotFound(id.to_string())),
        },
    };
    if let Some(prev) = prev {
        if can_update(prev, &matchers, &posted, now) {
            return Ok(SilenceChange::Updated(Silence {
                id: prev.id.clone(),
                matchers,
                starts_at: posted.starts_at,
                ends_at: posted.ends_at,
                updated_at: now,
                created_by: posted.created_by,
                comment: posted.comment,
            }));
        }
    }
    let created = Silence {
        id: new_id(),
        matchers,
        starts_at: posted.starts_at.max(now),
        ends_at: posted.ends_at,
        updated_at: now,
        created_by: posted.created_by,
        comment: posted.comment,
    };
    match prev.and_then(|prev| expire(prev, now)) {
        Some(expired) => Ok(SilenceChange::Replaced { expired, created }),
        None => Ok(SilenceChange::Created(created)),
    }
}

fn can_update(
    prev: &Silence,
    matchers: &Matchers,
    posted: &PostableSilence,
    now: Timestamp,
) -> bool {
    if prev.matchers != *matchers {
        return false;
    }
    match prev.state(now) {
        SilenceState::Active => posted.starts_at == prev.starts_at && posted.ends_at >= now,
        SilenceState::Pending => posted.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// Expires a silence (`DELETE /api/v2/silence/{id}`): the silence to store, or None when it
/// had already expired (nothing changes; Alertmanager 0.25 still answers 200).
pub fn expire(silence: &Silence, now: Timestamp) -> Option<Silence> {
    let mut s = silence.clone();
    match silence.state(now) {
        SilenceState::Expired => return None,
        SilenceState::Active => s.ends_at = now,
        SilenceState::Pending => {
            s.starts_at = now;
            s.ends_at = now;
        }
    }
    s.updated_at = now;
    Some(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn posted(json: &str) -> PostableSilence {
        serde_json::from_str(json).unwrap()
    }

    const NOW: &str = "2024-01-01T12:00:00Z";

    fn create() -> Silence {
        let p = posted(
            r#"{"matchers":[{"name":"alertname","value":"Disk.*","isRegex":true}],
                "startsAt":"2024-01-01T11:00:00Z","endsAt":"2024-01-01T14:00:00Z",
                "createdBy":"ana","comment":"maintenance"}"#,
        );
        match apply_post(None, p, ts(NOW), || "s1".into()).unwrap() {
            SilenceChange::Created(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn creation_moves_a_past_start_to_now_and_states_follow_time() {
        let s = create();
        assert_eq!(s.id, "s1");
        assert_eq!(s.starts_at, ts(NOW));
        assert_eq!(s.state(ts("2024-01-01T11:59:59Z")), SilenceState::Pending);
        assert_eq!(s.state(ts(NOW)), SilenceState::Active);
        assert_eq!(s.state(ts("2024-01-01T14:00:00Z")), SilenceState::Expired);
        let disk: LabelSet = [("alertname", "DiskFull")].into_iter().collect();
        let cpu: LabelSet = [("alertname", "CPU")].into_iter().collect();
        assert!(s.silences(&disk, ts("2024-01-01T13:00:00Z")));
        assert!(!s.silences(&cpu, ts("2024-01-01T13:00:00Z")));
        assert!(!s.silences(&disk, ts("2024-01-01T14:00:00Z")));
        assert!(silenced(std::slice::from_ref(&s), &disk, ts(NOW)));
        assert!(!silenced(std::slice::from_ref(&s), &cpu, ts(NOW)));
        assert_eq!(silenced_by(&[s], &disk, ts(NOW)), ["s1"]);
    }

    #[test]
    fn same_matchers_update_in_place() {
        let s = create();
        let now = ts("2024-01-01T13:00:00Z");
        let p = posted(
            r#"{"id":"s1","matchers":[{"name":"alertname","value":"Disk.*","isRegex":true,"isEqual":true}],
                "startsAt":"2024-01-01T12:00:00Z","endsAt":"2024-01-01T18:00:00Z",
                "createdBy":"bo","comment":"longer"}"#,
        );
        match apply_post(Some(&s), p, now, || "s2".into()).unwrap() {
            SilenceChange::Updated(u) => {
                assert_eq!(u.id, "s1");
                assert_eq!(u.ends_at, ts("2024-01-01T18:00:00Z"));
                assert_eq!(u.comment, "longer");
                assert_eq!(u.updated_at, now);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changed_matchers_expire_the_old_and_issue_a_new_id() {
        let s = create();
        let now = ts("2024-01-01T13:00:00Z");
        let p = posted(
            r#"{"id":"s1","matchers":[{"name":"alertname","value":"Disk","isRegex":false}],
                "startsAt":"2024-01-01T12:00:00Z","endsAt":"2024-01-01T18:00:00Z",
                "createdBy":"bo","comment":"narrower"}"#,
        );
        let change = apply_post(Some(&s), p, now, || "s2".into()).unwrap();
        assert_eq!(change.id(), "s2");
        match change {
            SilenceChange::Replaced { expired, created } => {
                assert_eq!(expired.id, "s1");
                assert_eq!(expired.ends_at, now);
                assert_eq!(expired.state(now), SilenceState::Expired);
                assert_eq!(created.starts_at, now);
                assert_eq!(created.matchers.to_string(), r#"{alertname="Disk"}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changing_the_start_of_an_active_silence_replaces_it() {
        let s = create();
        let now = ts("2024-01-01T13:00:00Z");
        let p = posted(
            r#"{"id":"s1","matchers":[{"name":"alertname","value":"Disk.*","isRegex":true}],
                "startsAt":"2024-01-01T12:30:00Z","endsAt":"2024-01-01T18:00:00Z","createdBy":"bo","comment":""}"#,
        );
        assert!(matches!(
            apply_post(Some(&s), p, now, || "s2".into()).unwrap(),
            SilenceChange::Replaced { .. }
        ));
    }

    #[test]
    fn expiring() {
        let s = create();
        let now = ts("2024-01-01T13:00:00Z");
        let e = expire(&s, now).unwrap();
        assert_eq!((e.starts_at, e.ends_at), (ts(NOW), now));
        assert_eq!(expire(&e, now), None);
        let pending = expire(&s, ts("2024-01-01T11:30:00Z")).unwrap();
        assert_eq!(
            (pending.starts_at, pending.ends_at),
            (ts("2024-01-01T11:30:00Z"), ts("2024-01-01T11:30:00Z"))
        );
        // An update of an expired silence creates a new one and leaves the old as it is.
        let p = posted(
            r#"{"id":"s1","matchers":[{"name":"alertname","value":"Disk.*","isRegex":true}],
                "startsAt":"2024-01-01T13:00:00Z","endsAt":"2024-01-01T18:00:00Z","createdBy":"bo","comment":""}"#,
        );
        assert!(
            matches!(apply_post(Some(&e), p, now, || "s3".into()).unwrap(), SilenceChange::Created(c) if c.id == "s3")
        );
    }

    #[test]
    fn validation_messages() {
        let now = ts(NOW);
        let bad = |json: &str| {
            apply_post(None, posted(json), now, || "x".into())
                .unwrap_err()
                .to_string()
        };
        let times = r#""startsAt":"2024-01-01T12:00:00Z","endsAt":"2024-01-01T13:00:00Z","createdBy":"a","comment":"c""#;
        assert_eq!(
            bad(&format!(r#"{{"matchers":[],{times}}}"#)),
            "invalid silence: at least one matcher required"
        );
        assert_eq!(
            bad(&format!(
                r#"{{"matchers":[{{"name":"a","value":".*","isRegex":true}}],{times}}}"#
            )),
            "invalid silence: at least one matcher must not match the empty string"
        );
        assert_eq!(
            bad(
                r#"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2024-01-01T12:00:00Z","endsAt":"2024-01-01T12:00:00Z","createdBy":"a","comment":"c"}"#
            ),
            "invalid silence: start time must be before end time"
        );
        assert_eq!(
            bad(
                r#"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2024-01-01T10:00:00Z","endsAt":"2024-01-01T11:00:00Z","createdBy":"a","comment":"c"}"#
            ),
            "invalid silence: end time can't be in the past"
        );
        assert_eq!(
            bad(&format!(
                r#"{{"id":"nope","matchers":[{{"name":"a","value":"b","isRegex":false}}],{times}}}"#
            )),
            "silence nope not found"
        );
    }

    #[test]
    fn gettable_json_shape() {
        let s = create();
        let json = serde_json::to_value(s.to_api(ts(NOW))).unwrap();
        assert_eq!(json["status"]["state"], "active");
        assert_eq!(json["matchers"][0]["isRegex"], true);
        assert_eq!(json["matchers"][0]["isEqual"], true);
        assert_eq!(json["createdBy"], "ana");
        assert_eq!(json["startsAt"], "2024-01-01T12:00:00Z");
        let back: GettableSilence = serde_json::from_value(json).unwrap();
        assert_eq!(Silence::from_api(&back).unwrap(), s);
    }
}
