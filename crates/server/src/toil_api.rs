//! Toil: entries (logged by people, and pages handled from ack to resolution, booked by the
//! notifier), team capacities, automation dates, and the report (share of capacity per team
//! and ISO week, categories, before/after an automation). The maths is `incident::toil`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use incident::toil::{Automation, Category, Source, Team, ToilEntry};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::query_pairs;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::incidents_api::{actor, parse_json, time_param};
use crate::state::AppState;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("toil.invalid", message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToilIn {
    team: String,
    category: String,
    minutes: u32,
    description: String,
    #[serde(default)]
    automatable: bool,
    #[serde(default)]
    task: Option<String>,
    /// RFC 3339 or unix seconds (default now).
    #[serde(default)]
    at: Option<Value>,
}

fn time_of(v: &Option<Value>) -> Result<i64, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(crate::now()),
        Some(v) => ingest::events::time_of(v)
            .ok_or_else(|| invalid("`at` must be an RFC 3339 time or unix seconds")),
    }
}

/// `POST /api/v1/toil`.
pub async fn post_toil(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: ToilIn = parse_json(&headers, body)?;
    let category: Category = input
        .category
        .parse()
        .map_err(|e: incident::Error| invalid(e.to_string()))?;
    let who = actor(&principal);
    let entry = ToilEntry {
        id: 0,
        team: input.team.trim().to_string(),
        category,
        minutes: input.minutes,
        at: time_of(&input.at)?,
        description: input.description.trim().to_string(),
        automatable: input.automatable,
        task: input
            .task
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        author: who.clone(),
        source: Source::Manual,
    };
    entry.validate().map_err(|e| invalid(e.to_string()))?;
    let record = store::ToilRecord {
        id: 0,
        team: entry.team.clone(),
        category: category_text(entry.category),
        minutes: i64::from(entry.minutes),
        at: entry.at,
        description: entry.description.clone(),
        automatable: entry.automatable,
        task: entry.task.clone().unwrap_or_default(),
        author: who.clone(),
        source: "manual".to_string(),
    };
    let mut audit = store::AuditEntry::new(crate::now(), &who, "toil.log", &entry.team);
    audit.details = json!({ "minutes": entry.minutes, "category": record.category });
    let id = state.store.record_toil(&record, &audit).await?;
    let mut out = serde_json::to_value(&entry).unwrap_or(Value::Null);
    out["id"] = json!(id);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

fn category_text(c: Category) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    weekly_capacity_minutes: u32,
}

/// `PUT /api/v1/toil/teams/{team}`: the team's weekly capacity (what toil is a share of).
pub async fn put_team(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(team): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: TeamIn = parse_json(&headers, body)?;
    if team.trim().is_empty() || input.weekly_capacity_minutes == 0 {
        return Err(invalid(
            "a team needs a name and a weekly capacity above 0 minutes",
        ));
    }
    let who = actor(&principal);
    let record = store::TeamRecord {
        name: team.clone(),
        weekly_capacity_minutes: i64::from(input.weekly_capacity_minutes),
        updated_at: crate::now(),
    };
    let mut audit = store::AuditEntry::new(crate::now(), &who, "toil.team", &team);
    audit.details = json!({ "weekly_capacity_minutes": input.weekly_capacity_minutes });
    state.store.save_team(&record, &audit).await?;
    Ok(
        Json(json!({ "team": team, "weekly_capacity_minutes": input.weekly_capacity_minutes }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationIn {
    team: String,
    task: String,
    #[serde(default)]
    at: Option<Value>,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/toil/automations`: marks when a recurring task was automated.
pub async fn post_automation(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: AutomationIn = parse_json(&headers, body)?;
    if input.team.trim().is_empty() || input.task.trim().is_empty() {
        return Err(invalid("an automation needs a team and a task"));
    }
    let at = time_of(&input.at)?;
    let who = actor(&principal);
    let record = store::AutomationRecord {
        team: input.team.trim().to_string(),
        task: input.task.trim().to_string(),
        at,
        note: input.note,
    };
    let mut audit = store::AuditEntry::new(crate::now(), &who, "toil.automation", &record.team);
    audit.details = json!({ "task": record.task, "at": crate::format_time(at) });
    state.store.mark_automation(&record, &audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "team": record.team, "task": record.task, "at": crate::format_time(at) })),
    )
        .into_response())
}

/// `GET /api/v1/toil/report[?from&to&team]` (default: the last 12 weeks).
pub async fn get_report(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now = crate::now();
    let mut from = now - 12 * 7 * 86400;
    let mut to = now + 1;
    let mut team: Option<String> = None;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "from" => from = time_param("from", &v)?,
            "to" => to = time_param("to", &v)?,
            "team" => team = Some(v),
            _ => {}
        }
    }
    if from >= to {
        return Err(ApiError::bad_request(
            "request.bad_query",
            "`from` must be before `to`",
        ));
    }
    let records = state.store.toil(team.as_deref(), from, to).await?;
    let entries: Vec<ToilEntry> = records
        .into_iter()
        .filter_map(|r| {
            Some(ToilEntry {
                id: r.id,
                team: r.team,
                category: r.category.parse().ok()?,
                minutes: u32::try_from(r.minutes).ok()?,
                at: r.at,
                description: r.description,
                automatable: r.automatable,
                task: Some(r.task).filter(|t| !t.is_empty()),
                author: r.author,
                source: if r.source == "page" {
                    Source::Page
                } else {
                    Source::Manual
                },
            })
        })
        .collect();
    let teams: Vec<Team> = state
        .store
        .teams()
        .await?
        .into_iter()
        .map(|t| Team {
            name: t.name,
            weekly_capacity_minutes: u32::try_from(t.weekly_capacity_minutes).unwrap_or(u32::MAX),
        })
        .collect();
    let automations: Vec<Automation> = state
        .store
        .automations()
        .await?
        .into_iter()
        .filter(|a| team.as_ref().is_none_or(|t| *t == a.team))
        .map(|a| Automation {
            team: a.team,
            task: a.task,
            at: a.at,
        })
        .collect();
    // Before/after needs the weeks around each automation, not only the asked range.
    let report = incident::toil::report(&entries, &teams, &automations, from, to);
    Ok(Json(json!({
        "from": crate::format_time(from),
        "to": crate::format_time(to),
        "report": report,
    }))
    .into_response())
}
