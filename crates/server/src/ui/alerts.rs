//! `/ui/alerts`: active, silenced, acknowledged and flapping alerts; silences (create from a
//! form, expire); an ack button per firing alert; the notification history. Writes call the
//! notifier exactly as the API does (stored and audited under the user's token name).

use super::session::redirect;
use super::{render, short_time, Fields, Layout, UiError, UiUser};
use crate::notifier::{AlertFilter, AlertView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use jiff::Timestamp;
use serde_json::Value;
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
        .route("/ui/alerts", get(page))
        .route("/ui/alerts/silences", post(create_silence))
        .route("/ui/alerts/silences/{id}/expire", post(expire_silence))
        .route("/ui/alerts/{fingerprint}/ack", post(ack))
}

/// The longest silence the form creates.
const MAX_SILENCE_SECONDS: i64 = 366 * 86_400;

pub struct AlertRow {
    pub fingerprint: String,
    pub name: String,
    pub labels: String,
    /// This page with the silence form prefilled with the alert's labels.
    pub silence_href: String,
    pub summary: String,
    pub since: String,
    pub state: &'static str,
    pub source: &'static str,
    pub receivers: String,
    pub suppressed_by: String,
    pub ack: Option<String>,
    pub flapping: bool,
}

pub struct SilenceRow {
    pub id: String,
    pub state: &'static str,
    pub matchers: String,
    pub starts: String,
    pub ends: String,
    pub created_by: String,
    pub comment: String,
    pub expirable: bool,
}

pub struct NotificationRow {
    pub created: String,
    pub receiver: String,
    pub kind: String,
    pub status: String,
    pub summary: String,
    pub attempts: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    active: Vec<AlertRow>,
    acknowledged: Vec<AlertRow>,
    silenced: Vec<AlertRow>,
    flapping: Vec<AlertRow>,
    silences: Vec<SilenceRow>,
    notifications: Vec<NotificationRow>,
    prefill: String,
    duration: String,
    comment: String,
}

fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn row(view: &AlertView) -> AlertRow {
    let a = &view.alert;
    let labels: Vec<(&str, &str)> = a.labels.iter().collect();
    let name = labels
        .iter()
        .find(|(k, _)| *k == "alertname")
        .map_or("", |(_, v)| *v)
        .to_string();
    let annotation = |key: &str| {
        a.annotations
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let suppressed: Vec<String> = a
        .status
        .silenced_by
        .iter()
        .map(|s| format!("silence {s}"))
        .chain(
            a.status
                .inhibited_by
                .iter()
                .map(|s| format!("inhibited by {s}")),
        )
        .collect();
    AlertRow {
        fingerprint: a.fingerprint.clone(),
        name,
        labels: labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        silence_href: format!(
            "/ui/alerts?{}#silence",
            form_urlencoded::Serializer::new(String::new())
                .append_pair(
                    "matchers",
                    &labels
                        .iter()
                        .map(|(k, v)| format!("{k}={}", quote(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .finish()
        ),
        summary: annotation("summary")
            .or_else(|| annotation("description"))
            .unwrap_or_default(),
        since: short_time(a.starts_at.as_second()),
        state: if suppressed.is_empty() {
            "active"
        } else {
            "suppressed"
        },
        source: view.source,
        receivers: a
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        suppressed_by: suppressed.join("; "),
        ack: view
            .ack
            .as_ref()
            .map(|k| format!("by {} at {}: {}", k.by, k.at, k.comment)),
        flapping: view.flapping,
    }
}

fn done_message(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "silenced" => "The silence was created.",
            "expired" => "The silence was expired.",
            "acked" => {
                "The alert was acknowledged: it stops repeating; its resolution is still sent."
            }
            _ => return None,
        }
        .to_string(),
    )
}

async fn page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    let now = Timestamp::now();
    let config = state.config();
    let views = state
        .notifier
        .alerts(
            state.store.as_ref(),
            config.alertmanager.as_deref(),
            &AlertFilter::default(),
            now,
        )
        .await?;
    let (mut active, mut acknowledged, mut silenced, mut flapping) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for view in &views {
        let r = row(view);
        if r.flapping {
            flapping.push(row(view));
        }
        if r.state == "suppressed" {
            silenced.push(r);
        } else if r.ack.is_some() {
            acknowledged.push(r);
        } else {
            active.push(r);
        }
    }
    let silences = state
        .notifier
        .silences(state.store.as_ref(), now)
        .await?
        .into_iter()
        .take(200)
        .map(|s| {
            let st = match s.status.state {
                notify::SilenceState::Active => "active",
                notify::SilenceState::Pending => "pending",
                notify::SilenceState::Expired => "expired",
            };
            SilenceRow {
                matchers: notify::Matchers::from_api(&s.matchers)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|_| format!("{} matchers", s.matchers.len())),
                id: s.id,
                state: st,
                starts: short_time(s.starts_at.as_second()),
                ends: short_time(s.ends_at.as_second()),
                created_by: s.created_by,
                comment: s.comment,
                expirable: st != "expired",
            }
        })
        .collect();
    let notifications = notifications(&state).await?;
    let page = AlertsPage {
        layout: Layout::new("Alerts", "/ui/alerts", &user)
            .with_notice(done_message(query.get("done"))),
        active,
        acknowledged,
        silenced,
        flapping,
        silences,
        notifications,
        prefill: query.get("matchers").unwrap_or("").to_string(),
        duration: "2h".into(),
        comment: String::new(),
    };
    Ok(render(&page))
}

/// The last 50 notifications, through the API's own listing.
async fn notifications(state: &Arc<AppState>) -> Result<Vec<NotificationRow>, UiError> {
    let response = crate::alertmanager_api::get_notifications(
        State(state.clone()),
        RawQuery(Some("limit=50".into())),
    )
    .await?;
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| UiError::internal(e.to_string()))?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| UiError::internal(e.to_string()))?;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    Ok(doc["notifications"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|n| NotificationRow {
                    created: text(&n["created_at"]),
                    receiver: text(&n["receiver"]),
                    kind: text(&n["kind"]),
                    status: text(&n["status"]),
                    summary: format!(
                        "{} {}",
                        n["summary"]["status"].as_str().unwrap_or(""),
                        n["summary"]["alerts"]
                            .as_array()
                            .map(|a| format!("{} alert(s)", a.len()))
                            .unwrap_or_default()
                    )
                    .trim()
                    .to_string(),
                    attempts: n["attempts"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| {
                                    let reason = text(&x["reason"]);
                                    if reason.is_empty() {
                                        text(&x["outcome"])
                                    } else {
                                        format!("{} ({reason})", text(&x["outcome"]))
                                    }
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn create_silence(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let matchers_text = fields
        .text("matchers")
        .ok_or_else(|| UiError::bad_request("Give at least one matcher, like alertname=\"X\"."))?;
    let matchers = notify::Matchers::parse(matchers_text)
        .map_err(|e| UiError::bad_request(format!("The matchers are not valid: {e}")))?;
    if matchers.0.is_empty() {
        return Err(UiError::bad_request(
            "Give at least one matcher, like alertname=\"X\".",
        ));
    }
    let duration_text = fields.text("duration").unwrap_or("2h");
    let seconds = slo::parse_duration(duration_text)
        .ok()
        .filter(|s| (60..=MAX_SILENCE_SECONDS).contains(s))
        .ok_or_else(|| {
            UiError::bad_request(format!(
                "The duration {duration_text:?} must be like 30m, 2h or 1d (1 minute to 366 days)."
            ))
        })?;
    let comment = fields
        .text("comment")
        .ok_or_else(|| UiError::bad_request("Say why in the comment."))?;
    let now = Timestamp::now();
    let ends = Timestamp::from_second(now.as_second().saturating_add(seconds))
        .map_err(|e| UiError::bad_request(e.to_string()))?;
    let posted = notify::PostableSilence {
        id: None,
        matchers: matchers.to_api(),
        starts_at: now,
        ends_at: ends,
        created_by: user.name.clone(),
        comment: comment.to_string(),
    };
    state
        .notifier
        .post_silence(
            state.store.as_ref(),
            state.persists_control(),
            posted,
            &user.name,
            now,
        )
        .await?;
    Ok(redirect("/ui/alerts?done=silenced"))
}

async fn expire_silence(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    state
        .notifier
        .expire_silence(
            state.store.as_ref(),
            state.persists_control(),
            &id,
            &user.name,
            Timestamp::now(),
        )
        .await?;
    Ok(redirect("/ui/alerts?done=expired"))
}

async fn ack(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(fingerprint): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    state
        .notifier
        .ack(
            state.store.as_ref(),
            state.persists_control(),
            &fingerprint,
            &user.name,
            fields.text("comment").unwrap_or(""),
            Timestamp::now(),
        )
        .await?;
    Ok(redirect("/ui/alerts?done=acked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_the_matcher_parser() {
        let text = format!("a={}, b={}", quote(r#"x "y", z\"#), quote("plain"));
        let parsed = notify::Matchers::parse(&text).map(|m| m.0.len());
        assert!(matches!(parsed, Ok(2)), "{text}: {parsed:?}");
        assert!(done_message(Some("acked")).is_some());
        assert!(done_message(Some("<script>")).is_none());
    }
}
