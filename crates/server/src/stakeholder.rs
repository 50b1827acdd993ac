//! Stakeholder updates go out through a notification receiver (`incidents:
//! stakeholder_receiver:` in the config), as a version-4 message about one synthetic alert
//! (`alertname="IncidentUpdate"`, `incident`, `severity`), so every receiver kind — webhook,
//! Slack, email, PagerDuty — can carry them. They take the durable outbox like any
//! notification: written before the API answers, delivered with retries.

use incident::incident::{Incident, Status};
use jiff::Timestamp;
use notify::webhook::{build_message, MessageContext};
use notify::{Alert, LabelSet};

use crate::error::ApiError;
use crate::state::AppState;

/// Enqueues `text` for every integration of the stakeholder receiver; returns the receiver's
/// name, or None when none is configured.
pub async fn send_update(
    state: &AppState,
    incident: &Incident,
    text: &str,
    at: i64,
) -> Result<Option<String>, ApiError> {
    let loaded = state.config();
    let Some(name) = loaded.incidents.stakeholder_receiver.clone() else {
        return Ok(None);
    };
    let Some(config) = loaded.alertmanager.clone() else {
        return Ok(None);
    };
    let Some(receiver) = config.receiver(&name) else {
        return Ok(None);
    };
    let now = Timestamp::from_second(at).unwrap_or_else(|_| Timestamp::now());
    let mut labels = LabelSet::new();
    labels.insert("alertname", "IncidentUpdate");
    labels.insert("incident", incident.id.to_string());
    labels.insert("severity", incident.severity.to_string());
    let mut annotations = LabelSet::new();
    annotations.insert(
        "summary",
        format!("{} ({})", incident.title, incident.status),
    );
    annotations.insert("description", text);
    let declared = Timestamp::from_second(incident.declared_at).unwrap_or(now);
    let resolved = matches!(incident.status, Status::Resolved | Status::Closed);
    let alert = Alert {
        labels,
        annotations,
        starts_at: declared,
        // A resolved incident's update reads as resolved; otherwise it is firing.
        ends_at: if resolved {
            now
        } else {
            now.checked_add(jiff::SignedDuration::from_secs(3600))
                .unwrap_or(now)
        },
        generator_url: format!(
            "{}/api/v1/incidents/{}",
            state.settings.external_url, incident.id
        ),
    };
    let mut group_labels = LabelSet::new();
    group_labels.insert("incident", incident.id.to_string());
    let group_key = format!("{{}}:{{incident=\"{}\"}}", incident.id);
    let msg = build_message(
        &MessageContext {
            receiver: &receiver.name,
            group_key: &group_key,
            group_labels: &group_labels,
            external_url: &state.settings.external_url,
            max_alerts: 0,
        },
        &[alert],
        now,
    );
    let mut records = Vec::new();
    for (index, _) in receiver.integrations().iter().enumerate() {
        let payload =
            crate::deliver::render(&config, receiver, index as u32, &msg).map_err(|e| {
                ApiError::unprocessable(
                    "incident.stakeholder_render",
                    format!("rendering the update for receiver {name}: {e}"),
                )
            })?;
        records.push(store::OutboxRecord {
            id: crate::notifier::new_id(),
            receiver: receiver.name.clone(),
            integration: index as u32,
            group_key: group_key.clone(),
            payload,
            created_at: at,
            next_attempt_at: at,
        });
    }
    state.store.enqueue_notifications(&records, &[]).await?;
    state.deliverer.wake();
    Ok(Some(name))
}
