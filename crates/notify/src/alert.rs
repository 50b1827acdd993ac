//! Alerts as Alertmanager's API v2 receives them, and the defaults it applies.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::labels::{is_valid_label_name, Fingerprint, LabelSet};
use crate::Error;

/// Firing or resolved at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// A normalised alert: both timestamps set; `ends_at` is a lease renewed by each re-send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        self.labels.fingerprint()
    }

    /// Resolved once `ends_at` is not after `now` (Alertmanager's `ResolvedAt`).
    pub fn is_resolved(&self, now: Timestamp) -> bool {
        self.ends_at <= now
    }

    pub fn status(&self, now: Timestamp) -> AlertStatus {
        if self.is_resolved(now) {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    }
}

/// The API v2 `PostableAlert` (what Prometheus sends to `POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

/// The body item for forwarding to another Alertmanager (`POST /api/v2/alerts`).
impl From<&Alert> for PostableAlert {
    fn from(a: &Alert) -> PostableAlert {
        PostableAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: Some(a.starts_at),
            ends_at: Some(a.ends_at),
            generator_url: Some(a.generator_url.clone()),
        }
    }
}

/// Go's zero time, which clients send for "unset".
fn is_go_zero(ts: Timestamp) -> bool {
    ts.as_second() == -62_135_596_800
}

impl PostableAlert {
    /// Applies Alertmanager's defaults and checks: labels with empty values are dropped; a
    /// missing (or Go-zero) `startsAt` is `endsAt` when only that is given, else `now`; a
    /// missing `endsAt` is `now + resolve_timeout` (a lease the sender renews by re-sending).
    pub fn normalize(
        self,
        now: Timestamp,
        resolve_timeout: SignedDuration,
    ) -> Result<Alert, Error> {
        let starts = self.starts_at.filter(|t| !is_go_zero(*t));
        let ends = self.ends_at.filter(|t| !is_go_zero(*t));
        let starts_at = starts.or(ends).unwrap_or(now);
        let ends_at = match ends {
            Some(e) => e,
            None => now
                .checked_add(resolve_timeout)
                .map_err(|_| Error::Alert("endsAt out of range".into()))?,
        };
        let labels: LabelSet = self
            .labels
            .0
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if labels.is_empty() {
            return Err(Error::Alert("at least one label pair required".into()));
        }
        for (name, _) in labels.iter().chain(self.annotations.iter()) {
            if !is_valid_label_name(name) {
                return Err(Error::Alert(format!("invalid label name {name:?}")));
            }
        }
        if ends_at < starts_at {
            return Err(Error::Alert("start time must be before end time".into()));
        }
        Ok(Alert {
            labels,
            annotations: self.annotations,
            starts_at,
            ends_at,
            generator_url: self.generator_url.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_like_alertmanager() {
        let now = ts("2024-01-01T12:00:00Z");
        let five = SignedDuration::from_secs(300);
        let a: PostableAlert =
            serde_json::from_str(r#"{"labels":{"alertname":"X","empty":""}}"#).unwrap();
        let a = a.normalize(now, five).unwrap();
        assert_eq!(a.starts_at, now);
        assert_eq!(a.ends_at, ts("2024-01-01T12:05:00Z"));
        assert_eq!(a.labels.len(), 1);
        assert_eq!(a.status(now), AlertStatus::Firing);
        assert_eq!(a.status(ts("2024-01-01T12:05:00Z")), AlertStatus::Resolved);

        // Only endsAt: startsAt is endsAt (a resolved alert).
        let r: PostableAlert = serde_json::from_str(
            r#"{"labels":{"a":"b"},"endsAt":"2024-01-01T11:00:00Z","startsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p/g"}"#,
        )
        .unwrap();
        let r = r.normalize(now, five).unwrap();
        assert_eq!(r.starts_at, ts("2024-01-01T11:00:00Z"));
        assert!(r.is_resolved(now));
        assert_eq!(r.generator_url, "http://p/g");
        // Stored as JSON in the API's field names.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["generatorURL"], "http://p/g");
        assert_eq!(json["endsAt"], "2024-01-01T11:00:00Z");
        assert_eq!(serde_json::from_value::<Alert>(json).unwrap(), r);
        // Forwarded to an Alertmanager, it normalises back to itself.
        let forwarded = serde_json::to_value(PostableAlert::from(&r)).unwrap();
        assert_eq!(forwarded["generatorURL"], "http://p/g");
        let back: PostableAlert = serde_json::from_value(forwarded).unwrap();
        assert_eq!(back.normalize(now, five).unwrap(), r);
    }

    #[test]
    fn rejects_invalid_alerts() {
        let now = ts("2024-01-01T12:00:00Z");
        let five = SignedDuration::from_secs(300);
        let bad = |json: &str| {
            let a: PostableAlert = serde_json::from_str(json).unwrap();
            a.normalize(now, five).unwrap_err().to_string()
        };
        assert_eq!(
            bad(r#"{"labels":{}}"#),
            "invalid alert: at least one label pair required"
        );
        assert_eq!(
            bad(r#"{"labels":{"a-b":"x"}}"#),
            "invalid alert: invalid label name \"a-b\""
        );
        assert_eq!(
            bad(
                r#"{"labels":{"a":"x"},"startsAt":"2024-01-01T12:00:00Z","endsAt":"2024-01-01T11:00:00Z"}"#
            ),
            "invalid alert: start time must be before end time"
        );
    }
}
