//! Postmortems: drafted from an incident (summary, impact from the SLO counters, pinned
//! timeline), edited, reviewed and published; action items with exactly one owner; overdue
//! reviews; aggregates; Markdown export. Stored as versioned documents with a
//! compare-and-swap, like incidents, every change audited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use incident::postmortem::{
    ActionStatus, NewActionItem, PinnedEntry, Postmortem, PostmortemPatch, SloImpact,
};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{DocFilter, DocKind};

use crate::api::{path_id, query_pairs};
use crate::auth::Principal;
use crate::documents::{self, encode, Document};
use crate::error::ApiError;
use crate::incidents_api::{actor, parse_json};
use crate::state::AppState;

/// The API view: the postmortem and what the blameless check finds in it.
fn view(pm: &Postmortem) -> Value {
    let mut v = serde_json::to_value(pm).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("blameless_findings".into(), json!(pm.blameless_findings()));
    }
    v
}

async fn load(state: &AppState, id: i64) -> Result<(Postmortem, i64), ApiError> {
    documents::load(state, id).await
}

/// Applies `change` to postmortem `id` (postmortems have no timeline of their own).
async fn mutate(
    state: &AppState,
    id: i64,
    actor: &str,
    action: &str,
    change: impl Fn(&mut Postmortem, i64) -> Result<(), incident::Error>,
) -> Result<Postmortem, ApiError> {
    documents::mutate(state, id, actor, action, |pm: &mut Postmortem, now| {
        change(pm, now).map(|()| Vec::new())
    })
    .await
}

/// `POST /api/v1/incidents/{id}/postmortem`: drafts the incident's postmortem (one per
/// incident) from its document, pinned timeline and SLO impact.
pub async fn post_postmortem(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let incident_id = path_id(&id)?;
    let (incident, _) = crate::incidents_api::load(&state, incident_id).await?;
    let existing = state
        .store
        .docs(
            DocKind::Postmortem,
            &DocFilter {
                parent_id: Some(incident_id),
                ..DocFilter::default()
            },
        )
        .await?;
    if let Some(r) = existing.first() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "postmortem.exists",
            format!("incident {incident_id} already has postmortem {}", r.id),
        )
        .with_details(json!({ "postmortem_id": r.id })));
    }
    let pinned: Vec<PinnedEntry> = state
        .store
        .timeline(incident_id)
        .await?
        .into_iter()
        .filter(|e| e.pinned)
        .map(|e| PinnedEntry {
            at: e.at,
            author: e.author,
            kind: e.kind,
            text: e.text,
        })
        .collect();
    let impact = crate::incidents_api::impact_of(&state, &incident).await?;
    let figures: Vec<SloImpact> = impact["slos"]
        .as_array()
        .map(|slos| {
            slos.iter()
                .filter(|s| s.get("impact").is_some())
                .map(|s| SloImpact {
                    slo: s["slo"].as_str().unwrap_or_default().to_string(),
                    bad_events: s["impact"]["bad_events"].as_u64().unwrap_or(0),
                    budget_consumed: s["impact"]["budget_consumed"].as_f64().unwrap_or(0.0),
                    time_to_detect: s["timings"]["time_to_detect"].as_i64(),
                    time_to_mitigate: s["timings"]["time_to_mitigate"].as_i64(),
                })
                .collect()
        })
        .unwrap_or_default();
    let now = crate::now();
    let mut pm = incident::postmortem::draft(&incident, pinned, figures, now);
    let who = actor(&principal);
    let mut audit = store::AuditEntry::new(now, &who, "postmortem.draft", "postmortem/{id}");
    audit.details = json!({ "incident": incident_id });
    let id = state
        .store
        .create_doc(
            DocKind::Postmortem,
            &encode(&pm)?,
            &pm.status_text(),
            Some(incident_id),
            now,
            &audit,
        )
        .await?;
    pm.id = id;
    Ok((StatusCode::CREATED, Json(view(&pm))).into_response())
}

/// `GET /api/v1/postmortems[?status]`.
pub async fn list_postmortems(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut filter = DocFilter::default();
    for (k, v) in query_pairs(&query) {
        if k == "status" {
            filter.status = Some(v);
        }
    }
    let records = state.store.docs(DocKind::Postmortem, &filter).await?;
    let out = records
        .iter()
        .map(|r| documents::decode::<Postmortem>(r).map(|pm| view(&pm)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "postmortems": out })).into_response())
}

/// `GET /api/v1/postmortems/{id}`.
pub async fn get_postmortem(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (pm, version) = load(&state, path_id(&id)?).await?;
    let mut v = view(&pm);
    v["version"] = json!(version);
    Ok(Json(v).into_response())
}

/// `GET /api/v1/postmortems/{id}/markdown`.
pub async fn get_markdown(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (pm, _) = load(&state, path_id(&id)?).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        pm.to_markdown(),
    )
        .into_response())
}

/// `PATCH /api/v1/postmortems/{id}`: the text fields (while a draft or in review).
pub async fn patch_postmortem(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let patch: PostmortemPatch = parse_json(&headers, body)?;
    let pm = mutate(
        &state,
        id,
        &actor(&principal),
        "postmortem.edit",
        |pm, now| pm.apply_patch(patch.clone(), now).map(|_| ()),
    )
    .await?;
    Ok(Json(view(&pm)).into_response())
}

/// `POST /api/v1/postmortems/{id}/action-items`: exactly one owner.
pub async fn post_action_item(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let item: NewActionItem = parse_json(&headers, body)?;
    let pm = mutate(
        &state,
        id,
        &actor(&principal),
        "postmortem.action_item",
        |pm, now| pm.add_action_item(item.clone(), now).map(|_| ()),
    )
    .await?;
    let added = pm.action_items.last().cloned();
    Ok((StatusCode::CREATED, Json(json!(added))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    status: ActionStatus,
}

/// `PATCH /api/v1/postmortems/{id}/action-items/{item}`: `{"status": "done"}`.
pub async fn patch_action_item(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((id, item)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let item: u32 = item.parse().map_err(|_| {
        ApiError::bad_request(
            "request.bad_path",
            format!("{item:?} is not an action item id"),
        )
    })?;
    let patch: ItemPatch = parse_json(&headers, body)?;
    let pm = mutate(
        &state,
        id,
        &actor(&principal),
        "postmortem.action_item",
        |pm, now| pm.update_action_item(item, patch.status, now).map(|_| ()),
    )
    .await?;
    let updated = pm.action_items.iter().find(|a| a.id == item).cloned();
    Ok(Json(json!(updated)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewIn {
    /// submit, approve or publish.
    action: String,
    #[serde(default)]
    reviewers: Vec<String>,
}

/// `POST /api/v1/postmortems/{id}/review`: `{"action": "submit", "reviewers": [...]}`,
/// `{"action": "approve"}` (the caller approves; it must be a named reviewer) or
/// `{"action": "publish"}`.
pub async fn post_review(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input: ReviewIn = parse_json(&headers, body)?;
    let who = actor(&principal);
    let action = input.action.clone();
    if !matches!(action.as_str(), "submit" | "approve" | "publish") {
        return Err(ApiError::unprocessable(
            "postmortem.invalid",
            format!("unknown review action {action:?}: submit, approve or publish"),
        ));
    }
    let pm = mutate(
        &state,
        id,
        &who,
        &format!("postmortem.{action}"),
        |pm, now| match action.as_str() {
            "submit" => pm.submit(input.reviewers.clone(), now),
            "approve" => pm.approve(&who, now).map(|_| ()),
            _ => pm.publish(now),
        },
    )
    .await?;
    Ok(Json(view(&pm)).into_response())
}

/// Every postmortem with its incident (severity, services, resolution time).
async fn with_incidents(
    state: &AppState,
) -> Result<Vec<(Postmortem, incident::incident::Incident)>, ApiError> {
    let records = state
        .store
        .docs(DocKind::Postmortem, &DocFilter::default())
        .await?;
    let mut out = Vec::new();
    for r in &records {
        let pm = documents::decode::<Postmortem>(r)?;
        let (incident, _) = crate::incidents_api::load(state, pm.incident_id).await?;
        out.push((pm, incident));
    }
    Ok(out)
}

/// `GET /api/v1/postmortems/overdue`: SEV1 not reviewed 3 days after resolution, SEV2 after
/// 5 business days.
pub async fn get_overdue(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let items: Vec<(Postmortem, incident::incident::Severity, i64)> = with_incidents(&state)
        .await?
        .into_iter()
        .map(|(pm, inc)| {
            let since = inc.resolved_at().unwrap_or(inc.declared_at);
            (pm, inc.severity, since)
        })
        .collect();
    let overdue = incident::postmortem::overdue(&items, crate::now());
    Ok(Json(json!({ "overdue": overdue })).into_response())
}

/// `GET /api/v1/postmortems/aggregates`: incidents by service, trigger and root-cause
/// category; open action items by owner.
pub async fn get_aggregates(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let items: Vec<(Postmortem, Vec<String>)> = with_incidents(&state)
        .await?
        .into_iter()
        .map(|(pm, inc)| (pm, inc.services))
        .collect();
    Ok(Json(json!(incident::postmortem::aggregates(&items))).into_response())
}
