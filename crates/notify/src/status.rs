//! Why an alert is or is not notified right now, and its API v2 shape (`GET /api/v2/alerts`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::config::AlertmanagerConfig;
use crate::inhibit::inhibited_by;
use crate::labels::{Fingerprint, LabelSet};
use crate::silence::{silenced_by, Silence};

/// What suppresses an alert at some instant (all empty: it is active).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppression {
    /// Ids of active silences matching it.
    pub silenced_by: Vec<String>,
    /// The firing alert inhibiting it, if any.
    pub inhibited_by: Vec<Fingerprint>,
    /// Names of the maintenance windows it is in.
    pub maintenance: Vec<String>,
}

impl Suppression {
    pub fn is_suppressed(&self) -> bool {
        !(self.silenced_by.is_empty()
            && self.inhibited_by.is_empty()
            && self.maintenance.is_empty())
    }

    pub fn state(&self) -> AlertState {
        if self.is_suppressed() {
            AlertState::Suppressed
        } else {
            AlertState::Active
        }
    }
}

/// Computes what suppresses `labels` at `now`; `firing` are the labels of every alert firing
/// now (a suppressed alert still inhibits others, as in Alertmanager).
pub fn suppression(
    config: &AlertmanagerConfig,
    silences: &[Silence],
    labels: &LabelSet,
    firing: &[LabelSet],
    now: Timestamp,
) -> Suppression {
    Suppression {
        silenced_by: silenced_by(silences, labels, now)
            .into_iter()
            .map(str::to_string)
            .collect(),
        inhibited_by: inhibited_by(&config.inhibit_rules, labels, firing)
            .into_iter()
            .collect(),
        maintenance: config
            .in_maintenance(labels, now)
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

/// API v2 alert state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Unprocessed,
    Active,
    Suppressed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatusJson {
    pub state: AlertState,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverName {
    pub name: String,
}

/// API v2 `GettableAlert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub annotations: LabelSet,
    pub ends_at: Timestamp,
    pub fingerprint: String,
    pub receivers: Vec<ReceiverName>,
    pub starts_at: Timestamp,
    pub status: AlertStatusJson,
    pub updated_at: Timestamp,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub labels: LabelSet,
}

impl GettableAlert {
    /// The API view of `alert`: its receivers are those of the routes it takes; maintenance
    /// windows are listed among `silencedBy` as `maintenance:<name>`.
    pub fn new(
        alert: &Alert,
        config: &AlertmanagerConfig,
        suppression: &Suppression,
        updated_at: Timestamp,
    ) -> GettableAlert {
        let mut receivers: Vec<String> = Vec::new();
        for path in config.route.matches(&alert.labels) {
            if !receivers.contains(&path.receiver) {
                receivers.push(path.receiver);
            }
        }
        let mut silenced = suppression.silenced_by.clone();
        silenced.extend(
            suppression
                .maintenance
                .iter()
                .map(|m| format!("maintenance:{m}")),
        );
        GettableAlert {
            annotations: alert.annotations.clone(),
            ends_at: alert.ends_at,
            fingerprint: alert.fingerprint().to_string(),
            receivers: receivers
                .into_iter()
                .map(|name| ReceiverName { name })
                .collect(),
            starts_at: alert.starts_at,
            status: AlertStatusJson {
                state: suppression.state(),
                silenced_by: silenced,
                inhibited_by: suppression
                    .inhibited_by
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
            updated_at,
            generator_url: alert.generator_url.clone(),
            labels: alert.labels.clone(),
        }
    }
}

/// API v2 `AlertGroup` (`GET /api/v2/alerts/groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroupJson {
    pub labels: LabelSet,
    pub receiver: ReceiverName,
    pub alerts: Vec<GettableAlert>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::silence::{apply_post, PostableSilence, SilenceChange};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const CONFIG: &str = r#"
route:
  receiver: default
  routes:
    - {matchers: ['severity="page"'], receiver: pager, continue: true}
    - {matchers: ['team="db"'], receiver: db}
receivers: [{name: default}, {name: pager}, {name: db}]
inhibit_rules:
  - {source_matchers: ['severity="page"'], target_matchers: ['severity="ticket"'], equal: [service]}
maintenance_windows:
  - name: patching
    matchers: ['team="db"']
    weekly: {weekday: saturday, start_time: '22:00', duration: 2h}
"#;

    #[test]
    fn suppressed_by_silence_inhibition_and_maintenance() {
        let cfg = AlertmanagerConfig::from_yaml_str(CONFIG).unwrap();
        let now = ts("2024-01-13T22:30:00Z"); // a Saturday, in the window (UTC)
        let page: LabelSet = [("severity", "page"), ("service", "api"), ("team", "db")]
            .into_iter()
            .collect();
        let ticket: LabelSet = [("severity", "ticket"), ("service", "api")]
            .into_iter()
            .collect();
        let posted: PostableSilence = serde_json::from_str(
            r#"{"matchers":[{"name":"service","value":"api","isRegex":false}],"startsAt":"2024-01-13T22:00:00Z",
                "endsAt":"2024-01-14T00:00:00Z","createdBy":"a","comment":"c"}"#,
        )
        .unwrap();
        let SilenceChange::Created(sil) = apply_post(None, posted, now, || "s1".into()).unwrap()
        else {
            panic!("expected a new silence")
        };
        let firing = [page.clone(), ticket.clone()];
        let s = suppression(&cfg, &[sil], &ticket, &firing, now);
        assert_eq!(s.silenced_by, ["s1"]);
        assert_eq!(s.inhibited_by, [page.fingerprint()]);
        assert!(s.maintenance.is_empty());
        assert_eq!(s.state(), AlertState::Suppressed);

        let p = suppression(&cfg, &[], &page, &firing, now);
        assert_eq!(p.maintenance, ["patching"]);
        let p_later = suppression(&cfg, &[], &page, &firing, ts("2024-01-14T00:00:00Z"));
        assert_eq!(p_later.state(), AlertState::Active);

        let alert = Alert {
            labels: page.clone(),
            annotations: LabelSet::new(),
            starts_at: ts("2024-01-13T22:00:00Z"),
            ends_at: ts("2024-01-13T22:35:00Z"),
            generator_url: String::new(),
        };
        let json = serde_json::to_value(GettableAlert::new(&alert, &cfg, &p, now)).unwrap();
        assert_eq!(
            json["receivers"],
            serde_json::json!([{"name": "pager"}, {"name": "db"}])
        );
        assert_eq!(
            json["status"],
            serde_json::json!({"state": "suppressed", "silencedBy": ["maintenance:patching"], "inhibitedBy": []})
        );
        assert_eq!(json["fingerprint"], page.fingerprint().to_string());
    }
}
