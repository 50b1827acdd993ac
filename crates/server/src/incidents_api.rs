//! Incidents: declaration, status, roles, the live state document, the working record, impact
//! from the SLO counters and response metrics. The decisions are the `incident` crate's; this
//! module loads a stored incident, applies one change, and writes it back with a
//! compare-and-swap on its version, together with the timeline entries and the audit record
//! of the change (one transaction). A lost race re-reads and re-applies, so edits of different
//! sections both land while a stale edit of the same section is refused with both texts.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use incident::incident::{Incident, Severity, Status, TimelineEvent, TimelineKind};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{DocFilter, DocKind, TimelineRecord};

pub(crate) use crate::api::{path_id, query_pairs};
use crate::auth::Principal;
use crate::documents::{self, encode, timeline_record};
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) fn actor(principal: &Option<Extension<Principal>>) -> String {
    principal
        .as_ref()
        .map_or("api", |p| p.0.name.as_str())
        .to_string()
}

pub(crate) fn domain_error(e: incident::Error) -> ApiError {
    match e {
        incident::Error::Invalid { .. } => ApiError::unprocessable("incident.invalid", e.to_string()),
        incident::Error::Transition { .. } => {
            ApiError::new(StatusCode::CONFLICT, "incident.bad_transition", e.to_string())
        }
        incident::Error::Workflow(_) => {
            ApiError::new(StatusCode::CONFLICT, "workflow.out_of_order", e.to_string())
        }
        incident::Error::UnknownSection(_) => {
            ApiError::not_found("incident.unknown_section", e.to_string())
        }
        incident::Error::Conflict(c) => ApiError::new(
            StatusCode::CONFLICT,
            "incident.section_conflict",
            format!(
                "section {} changed since revision {} (now {}): merge your text and send it with base_revision {}",
                c.section, c.base_revision, c.current_revision, c.current_revision
            ),
        )
        .with_details(json!({
            "section": c.section,
            "base_revision": c.base_revision,
            "current_revision": c.current_revision,
            "current_text": c.current_text,
            "your_text": c.your_text,
        })),
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    crate::ingest_api::require_json(headers)?;
    let body = body?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("request.bad_json", e.to_string()))
}

pub(crate) fn time_param(name: &str, value: &str) -> Result<i64, ApiError> {
    crate::parse_time(value).ok_or_else(|| {
        ApiError::bad_request(
            "request.bad_query",
            format!("`{name}` must be an RFC 3339 time or unix seconds"),
        )
    })
}

/// Loads an incident and its version.
pub(crate) async fn load(state: &AppState, id: i64) -> Result<(Incident, i64), ApiError> {
    documents::load(state, id).await
}

/// Applies `change` to incident `id` and stores it with the timeline events it returns.
pub(crate) async fn mutate(
    state: &AppState,
    id: i64,
    actor: &str,
    action: &str,
    change: impl Fn(&mut Incident, i64) -> Result<Vec<TimelineEvent>, incident::Error>,
) -> Result<Incident, ApiError> {
    documents::mutate(state, id, actor, action, change).await
}

/// The API view: the incident, its effective roles and the document in order.
pub(crate) fn view(incident: &Incident) -> Value {
    let mut v = serde_json::to_value(incident).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("roles_effective".into(), json!(incident.effective_roles()));
        obj.insert("acknowledged_at".into(), json!(incident.acknowledged_at()));
        obj.insert("mitigated_at".into(), json!(incident.mitigated_at()));
        obj.insert("resolved_at".into(), json!(incident.resolved_at()));
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareIn {
    title: String,
    #[serde(default)]
    severity: Option<Value>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    alerts: Vec<String>,
    #[serde(default)]
    slos: Vec<String>,
}

fn severity_of(value: Option<&Value>) -> Result<Severity, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(Severity::Sev3),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    };
    text.parse::<Severity>().map_err(|_| {
        ApiError::unprocessable(
            "incident.invalid",
            format!("invalid severity {text:?}: expected SEV1..SEV5"),
        )
    })
}

/// Declares an incident; returns it as stored.
pub(crate) async fn declare(
    state: &AppState,
    input: DeclareIn,
    actor: &str,
) -> Result<Incident, ApiError> {
    let now = crate::now();
    let severity = severity_of(input.severity.as_ref())?;
    let mut incident = Incident::declare(&input.title, severity, input.services, actor, now)
        .map_err(domain_error)?;
    let mut events = vec![TimelineEvent {
        kind: TimelineKind::StatusChange,
        text: format!(
            "declared {} {}: {}",
            incident.severity, incident.status, incident.title
        ),
        data: json!({ "status": incident.status, "severity": incident.severity }),
    }];
    if let Some(summary) = input.summary.filter(|s| !s.trim().is_empty()) {
        incident
            .edit_section("summary", &summary, 0, actor, now)
            .map_err(domain_error)?;
    }
    for fp in &input.alerts {
        events.push(incident.link_alert(fp, actor, now).map_err(domain_error)?);
    }
    for key in &input.slos {
        check_slo(state, key)?;
        events.push(incident.link_slo(key, actor, now).map_err(domain_error)?);
    }
    let mut audit = store::AuditEntry::new(now, actor, "incident.declare", "incident/{id}");
    audit.details = json!({ "title": incident.title, "severity": incident.severity });
    let id = state
        .store
        .create_doc(
            DocKind::Incident,
            &encode(&incident)?,
            &incident.status.to_string(),
            None,
            now,
            &audit,
        )
        .await?;
    incident.id = id;
    let timeline = events
        .iter()
        .map(|e| timeline_record(id, e, actor, now))
        .collect::<Result<Vec<_>, _>>()?;
    let audit = store::AuditEntry::new(now, actor, "incident.timeline", &format!("incident/{id}"));
    state.store.append_timeline(id, &timeline, &audit).await?;
    Ok(incident)
}

fn check_slo(state: &AppState, key: &str) -> Result<(), ApiError> {
    if state.config().by_key.contains_key(key) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "incident.unknown_slo",
            format!("no SLO {key:?} in the running configuration (expected service/slo)"),
        ))
    }
}

/// `POST /api/v1/incidents`.
pub async fn post_incident(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: DeclareIn = parse_json(&headers, body)?;
    let incident = declare(&state, input, &actor(&principal)).await?;
    Ok((StatusCode::CREATED, Json(view(&incident))).into_response())
}

/// `GET /api/v1/incidents[?status&service&severity&open=true]`, newest first.
pub async fn list_incidents(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut status: Option<Status> = None;
    let mut service: Option<String> = None;
    let mut severity: Option<Severity> = None;
    let mut open_only = false;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "status" => {
                status = Some(v.parse().map_err(|_| {
                    ApiError::bad_request("request.bad_query", format!("unknown status {v:?}"))
                })?)
            }
            "service" => service = Some(v),
            "severity" => severity = Some(severity_of(Some(&Value::String(v)))?),
            "open" => open_only = v == "true" || v == "1",
            _ => {}
        }
    }
    let records = state
        .store
        .docs(DocKind::Incident, &DocFilter::default())
        .await?;
    let mut out = Vec::new();
    for r in records.iter().rev() {
        let incident = documents::decode::<Incident>(r)?;
        if status.is_some_and(|s| incident.status != s)
            || severity.is_some_and(|s| incident.severity != s)
            || service
                .as_ref()
                .is_some_and(|s| !incident.services.contains(s))
            || (open_only && matches!(incident.status, Status::Resolved | Status::Closed))
        {
            continue;
        }
        out.push(view(&incident));
    }
    Ok(Json(json!({ "incidents": out })).into_response())
}

/// `GET /api/v1/incidents/{id}`: the incident with its impact on each linked SLO.
pub async fn get_incident(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let (incident, version) = load(&state, id).await?;
    let impact = impact_of(&state, &incident).await?;
    let mut v = view(&incident);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("version".into(), json!(version));
        obj.insert("impact".into(), impact);
    }
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchIn {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    severity: Option<Value>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    link_alert: Option<String>,
    #[serde(default)]
    link_slo: Option<String>,
}

/// `PATCH /api/v1/incidents/{id}`: status, severity, title (and links).
pub async fn patch_incident(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let patch: PatchIn = parse_json(&headers, body)?;
    let status: Option<Status> = match &patch.status {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| {
            ApiError::unprocessable(
                "incident.invalid",
                format!("unknown status {s:?}: investigating, identified, monitoring, resolved or closed"),
            )
        })?),
    };
    let severity = match &patch.severity {
        None => None,
        Some(v) => Some(severity_of(Some(v))?),
    };
    if let Some(key) = &patch.link_slo {
        check_slo(&state, key)?;
    }
    let who = actor(&principal);
    let incident = mutate(&state, id, &who, "incident.update", |inc, now| {
        let mut events = Vec::new();
        if let Some(t) = &patch.title {
            events.push(inc.set_title(t, &who, now)?);
        }
        if let Some(s) = severity {
            events.push(inc.set_severity(s, &who, now)?);
        }
        if let Some(s) = status {
            events.push(inc.set_status(s, &who, now)?);
        }
        if let Some(fp) = &patch.link_alert {
            events.push(inc.link_alert(fp, &who, now)?);
        }
        if let Some(key) = &patch.link_slo {
            events.push(inc.link_slo(key, &who, now)?);
        }
        Ok(events)
    })
    .await?;
    Ok(Json(view(&incident)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    holder: String,
}

/// `PUT /api/v1/incidents/{id}/roles/{role}`: `{"holder": "..."}`; handovers are recorded.
pub async fn put_role(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((id, role)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input: RoleIn = parse_json(&headers, body)?;
    let who = actor(&principal);
    let incident = mutate(&state, id, &who, "incident.role", |inc, now| {
        Ok(vec![inc.assign_role(&role, &input.holder, &who, now)?])
    })
    .await?;
    Ok(
        Json(json!({ "roles": incident.effective_roles(), "handovers": incident.handovers }))
            .into_response(),
    )
}

/// `GET /api/v1/incidents/{id}/document`: the sections, most important first.
pub async fn get_document(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let (incident, _) = load(&state, id).await?;
    Ok(Json(document_view(&incident)).into_response())
}

fn document_view(incident: &Incident) -> Value {
    let mut doc = serde_json::to_value(&incident.document).unwrap_or(Value::Null);
    // An unwritten command hierarchy shows who holds what now.
    if let Some(sections) = doc.get_mut("sections").and_then(Value::as_array_mut) {
        for s in sections {
            if s["name"] == "command_hierarchy" && s["revision"] == 0 {
                s["text"] = json!(incident.command_hierarchy_text());
            }
        }
    }
    json!({ "incident_id": incident.id, "title": incident.title, "status": incident.status, "document": doc })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionIn {
    text: String,
    base_revision: u64,
}

/// `PUT /api/v1/incidents/{id}/document/{section}`: `{"text", "base_revision"}`; 409 with
/// both texts when the section changed since `base_revision`.
pub async fn put_section(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((id, section)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input: SectionIn = parse_json(&headers, body)?;
    let who = actor(&principal);
    let revision = std::sync::Mutex::new(0u64);
    mutate(&state, id, &who, "incident.document", |inc, now| {
        let r = inc.edit_section(&section, &input.text, input.base_revision, &who, now)?;
        *revision.lock().unwrap_or_else(|e| e.into_inner()) = r;
        // Document edits are their own record; the timeline keeps the decisions.
        Ok(Vec::new())
    })
    .await?;
    let revision = *revision.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Json(json!({ "section": section, "revision": revision })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineIn {
    #[serde(default)]
    kind: Option<String>,
    text: String,
    #[serde(default)]
    pinned: bool,
}

/// `POST /api/v1/incidents/{id}/timeline`: a note, action, decision or stakeholder update
/// (sent through the configured stakeholder receiver).
pub async fn post_timeline(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input: TimelineIn = parse_json(&headers, body)?;
    let kind = TimelineKind::parse_user(input.kind.as_deref().unwrap_or("note"))
        .map_err(|e| ApiError::unprocessable("timeline.invalid", e.to_string()))?;
    let text = input.text.trim();
    if text.is_empty() || text.len() > 64 * 1024 {
        return Err(ApiError::unprocessable(
            "timeline.invalid",
            "text must be 1 byte to 64 KiB",
        ));
    }
    let (incident, _) = load(&state, id).await?;
    let who = actor(&principal);
    // Stakeholders hear one voice: the communications lead (the commander until delegated).
    let comms = incident.holder_of(incident::incident::COMMUNICATIONS_LEAD);
    if kind == TimelineKind::StakeholderUpdate && comms != who {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "incident.not_communications_lead",
            format!(
                "stakeholder updates are written by the communications lead ({comms}), not {who}"
            ),
        ));
    }
    let now = crate::now();
    let mut record = timeline_record(
        id,
        &TimelineEvent {
            kind,
            text: text.to_string(),
            data: Value::Null,
        },
        &who,
        now,
    )?;
    record.pinned = input.pinned;
    let mut audit =
        store::AuditEntry::new(now, &who, "incident.timeline", &format!("incident/{id}"));
    audit.details = json!({ "kind": record.kind });
    let ids = state
        .store
        .append_timeline(id, &[record.clone()], &audit)
        .await?;
    record.id = ids.first().copied().unwrap_or(0);
    let mut sent_to = Value::Null;
    if kind == TimelineKind::StakeholderUpdate {
        sent_to = json!(crate::stakeholder::send_update(&state, &incident, text, now).await?);
    }
    let mut v = timeline_view(&record);
    v["sent_to"] = sent_to;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

fn timeline_view(r: &TimelineRecord) -> Value {
    json!({
        "id": r.id,
        "at": crate::format_time(r.at),
        "author": r.author,
        "kind": r.kind,
        "text": r.text,
        "pinned": r.pinned,
        "data": serde_json::from_str::<Value>(&r.data).unwrap_or(Value::Null),
    })
}

/// `GET /api/v1/incidents/{id}/timeline[?pinned=true]`: newest first.
pub async fn get_timeline(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    load(&state, id).await?;
    let pinned_only = query_pairs(&query)
        .iter()
        .any(|(k, v)| k == "pinned" && (v == "true" || v == "1"));
    let entries = state.store.timeline(id).await?;
    let out: Vec<Value> = entries
        .iter()
        .rev()
        .filter(|e| !pinned_only || e.pinned)
        .map(timeline_view)
        .collect();
    Ok(Json(json!({ "incident_id": id, "timeline": out })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinIn {
    pinned: bool,
}

/// `PUT /api/v1/incidents/{id}/timeline/{entry}/pin`: `{"pinned": true|false}`.
pub async fn pin_timeline(
    State(state): State<Arc<AppState>>,
    principal: Option<Extension<Principal>>,
    Path((id, entry)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let entry = path_id(&entry)?;
    let input: PinIn = parse_json(&headers, body)?;
    let who = actor(&principal);
    let audit = store::AuditEntry::new(
        crate::now(),
        &who,
        if input.pinned {
            "incident.pin"
        } else {
            "incident.unpin"
        },
        &format!("incident/{id}/timeline/{entry}"),
    );
    if !state
        .store
        .set_timeline_pinned(id, entry, input.pinned, &audit)
        .await?
    {
        return Err(ApiError::not_found(
            "timeline.not_found",
            format!("incident {id} has no timeline entry {entry}"),
        ));
    }
    Ok(Json(json!({ "id": entry, "pinned": input.pinned })).into_response())
}

/// The range an incident's impact is measured over: from an hour before it was declared (the
/// problem usually starts before anyone declares) to its resolution, or now.
fn impact_range(incident: &Incident) -> (i64, i64) {
    let from = incident.declared_at - 3600;
    let to = incident
        .resolved_at()
        .unwrap_or_else(crate::now)
        .max(from + 1);
    (from, to)
}

/// Impact on every linked SLO, from the stored counters.
pub(crate) async fn impact_of(state: &AppState, incident: &Incident) -> Result<Value, ApiError> {
    let (from, to) = impact_range(incident);
    let loaded = state.config();
    let mut out = Vec::new();
    for key in &incident.linked_slos {
        let Some(entry) = loaded.by_key.get(key).and_then(|i| loaded.slos.get(*i)) else {
            out.push(json!({ "slo": key, "error": "not in the running configuration" }));
            continue;
        };
        let spec = &entry.config.spec;
        let window = spec.window.nominal_seconds();
        let rows =
            crate::prom_source::api_counts(state, &entry.config, (to - window).min(from), to)
                .await?;
        let window_total: u64 = rows
            .iter()
            .filter(|r| r.bucket_start >= to - window)
            .map(|r| r.total)
            .sum();
        let buckets: Vec<incident::impact::Bucket> = rows
            .iter()
            .map(|r| incident::impact::Bucket {
                start: r.bucket_start,
                good: r.good,
                total: r.total,
            })
            .collect();
        let impact = incident::impact::impact(
            &buckets,
            spec.bucket_seconds,
            spec.objective.floor(),
            window_total,
            from,
            to,
        );
        let first_alert = state
            .notifier
            .first_alert_start(&spec.service, &spec.name, &incident.linked_alerts, from)
            .await;
        let timings = incident::impact::timings(incident, impact.first_bad_at, first_alert);
        out.push(json!({ "slo": key, "impact": impact, "timings": timings, "first_alert_at": first_alert }));
    }
    Ok(json!({ "from": crate::format_time(from), "to": crate::format_time(to), "slos": out }))
}

/// `GET /api/v1/incidents/metrics?from&to`: MTTA, MTTM, MTTR by severity and service.
pub async fn get_metrics(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now = crate::now();
    let mut from = now - 90 * 86400;
    let mut to = now + 1;
    for (k, v) in query_pairs(&query) {
        match k.as_str() {
            "from" => from = time_param("from", &v)?,
            "to" => to = time_param("to", &v)?,
            _ => {}
        }
    }
    if from >= to {
        return Err(ApiError::bad_request(
            "request.bad_query",
            "`from` must be before `to`",
        ));
    }
    let records = state
        .store
        .docs(DocKind::Incident, &DocFilter::default())
        .await?;
    let incidents = records
        .iter()
        .map(documents::decode::<Incident>)
        .collect::<Result<Vec<_>, _>>()?;
    let rows = incident::impact::response_metrics(&incidents, from, to);
    Ok(Json(json!({
        "from": crate::format_time(from),
        "to": crate::format_time(to),
        "metrics": rows,
    }))
    .into_response())
}

/// Declares an incident for each firing alert matching `incidents.auto_declare` that no
/// incident links yet (one incident per alert; the alert's labels give title and services).
pub(crate) async fn auto_declare(state: &AppState) -> Result<(), ApiError> {
    let Some(rule) = state.config().incidents.auto_declare.clone() else {
        return Ok(());
    };
    if !state.persists_control() {
        return Ok(());
    }
    let firing = state
        .notifier
        .firing_matching(&rule.matchers, jiff::Timestamp::now())
        .await;
    // Most ticks find only alerts already linked: answered from memory, no store read.
    let known = {
        let cache = state
            .incident_links
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .is_some_and(|c| firing.iter().all(|(fp, _)| c.contains(fp)))
    };
    if firing.is_empty() || known {
        return Ok(());
    }
    let records = state
        .store
        .docs(DocKind::Incident, &DocFilter::default())
        .await?;
    let mut linked = std::collections::BTreeSet::new();
    for r in &records {
        let incident = documents::decode::<Incident>(r)?;
        linked.extend(incident.linked_alerts.iter().cloned());
    }
    for (fp, alert) in firing {
        if linked.contains(&fp) {
            continue;
        }
        let name = alert.labels.get("alertname").unwrap_or("alert");
        let title = match alert.annotations.get("summary") {
            Some(summary) => summary.to_string(),
            None => format!("{name} firing"),
        };
        let services: Vec<String> = alert
            .labels
            .get("service")
            .map(str::to_string)
            .into_iter()
            .collect();
        let slos: Vec<String> = match (alert.labels.get("service"), alert.labels.get("slo")) {
            (Some(service), Some(slo)) => {
                let key = format!("{service}/{slo}");
                if state.config().by_key.contains_key(&key) {
                    vec![key]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        let input = DeclareIn {
            title,
            severity: Some(json!(format!("SEV{}", rule.severity))),
            services,
            summary: alert.annotations.get("description").map(str::to_string),
            alerts: vec![fp.clone()],
            slos,
        };
        declare(state, input, "auto-declare").await?;
        linked.insert(fp);
    }
    *state
        .incident_links
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(linked);
    Ok(())
}
