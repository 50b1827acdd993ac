//! Incident pages: the list with the declare form, and one incident with its header, roles,
//! live state document (an edit form per section carrying its `base_revision`; a stale edit
//! shows both texts and the form again on the current revision), timeline, impact per linked
//! SLO and status buttons.
//!
//! Every write goes through the JSON API's own handler functions (`incidents_api`,
//! `postmortems_api`), called with the logged-in user as the principal: the same validation,
//! compare-and-swap, timeline entries and audit records as an API client gets. The helpers
//! here (calling a handler, form lists) are shared with the postmortem and toil pages.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use incident::incident::{
    Incident, Severity, Status, TimelineKind, COMMUNICATIONS_LEAD, INCIDENT_COMMANDER,
    OPERATIONS_LEAD, SECTION_COMMAND_HIERARCHY,
};
use serde_json::{json, Value};
use store::{DocFilter, DocKind};

use super::session::redirect;
use super::{render_status, short_time, Fields, Layout, UiError, UiUser};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::incidents_api;
use crate::state::AppState;

pub fn routes(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.route("/ui/incidents", get(list_page).post(declare))
        .route("/ui/incidents/{id}", get(incident_page))
        .route("/ui/incidents/{id}/status", post(set_status))
        .route("/ui/incidents/{id}/severity", post(set_severity))
        .route("/ui/incidents/{id}/roles", post(set_role))
        .route("/ui/incidents/{id}/slos", post(link_slo))
        .route("/ui/incidents/{id}/document/{section}", post(edit_section))
        .route("/ui/incidents/{id}/timeline", post(add_entry))
        .route("/ui/incidents/{id}/timeline/{entry}/pin", post(pin_entry))
        .route("/ui/incidents/{id}/postmortem", post(draft_postmortem))
}

// ---------------------------------------------------------------------------------------
// Helpers shared with the postmortem and toil pages

/// Every value of `name`, each split on commas and new lines, trimmed, blanks dropped.
pub(super) fn list(fields: &Fields, name: &str) -> Vec<String> {
    fields
        .all(name)
        .flat_map(|v| v.split([',', '\n']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A checkbox: present with any value but "false"/"0".
pub(super) fn checked(fields: &Fields, name: &str) -> bool {
    fields.all(name).any(|v| v != "false" && v != "0")
}

/// A text area's value with the browser's CR LF line ends made LF.
pub(super) fn text_area(fields: &Fields, name: &str) -> String {
    fields.get(name).unwrap_or("").replace("\r\n", "\n")
}

/// The logged-in user as the API's principal, so the API's handlers record them as the actor.
pub(super) fn principal(user: &UiUser) -> Option<Extension<Principal>> {
    Some(Extension(Principal {
        name: user.name.clone(),
        role: user.role,
    }))
}

/// A JSON request body for an API handler.
pub(super) fn json_body(value: &Value) -> (HeaderMap, Result<Bytes, BytesRejection>) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (headers, Ok(Bytes::from(value.to_string())))
}

/// The JSON an API handler answered (`Null` for an empty body), or its error.
pub(super) async fn answer(result: Result<Response, ApiError>) -> Result<Value, ApiError> {
    let response = result?;
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::internal("ui.body", e.to_string()))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal("ui.body", e.to_string()))
}

/// `detailed_status` → `Detailed status`.
pub(super) fn label(name: &str) -> String {
    let mut out = name.replace('_', " ");
    if let Some(first) = out.get(0..1) {
        let upper = first.to_ascii_uppercase();
        out.replace_range(0..1, &upper);
    }
    out
}

/// A path id (a positive integer) or a 404 page.
pub(super) fn path_id(id: &str, what: &str) -> Result<i64, UiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| UiError::not_found(format!("There is no {what} {id:?}.")))
}

pub(super) fn when_opt(at: Option<i64>) -> String {
    at.map(short_time).unwrap_or_default()
}

/// `a b` → `a+b`, for values put into links.
pub(super) fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn decode(record: &store::DocRecord) -> Option<Incident> {
    let mut incident: Incident = serde_json::from_str(&record.doc).ok()?;
    incident.id = record.id;
    Some(incident)
}

/// Every stored incident (an unreadable one is skipped here; the API reports it).
pub(super) async fn all_incidents(state: &AppState) -> Result<Vec<Incident>, ApiError> {
    let records = state
        .store
        .docs(DocKind::Incident, &DocFilter::default())
        .await?;
    Ok(records.iter().filter_map(decode).collect())
}

// ---------------------------------------------------------------------------------------
// The list

pub(super) struct Row {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub open: bool,
    pub services: String,
    pub declared: String,
    pub commander: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    statuses: Vec<(String, bool)>,
    services: Vec<(String, bool)>,
    severities: Vec<(String, bool)>,
    filtered: bool,
    error: Option<String>,
    form: DeclareForm,
    slo_keys: Vec<String>,
}

#[derive(Default)]
struct DeclareForm {
    title: String,
    services: String,
    slos: String,
    summary: String,
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    render_list(&state, &user, &query, None, DeclareForm::default(), "SEV3").await
}

async fn render_list(
    state: &AppState,
    user: &UiUser,
    query: &Fields,
    error: Option<ApiError>,
    form: DeclareForm,
    severity: &str,
) -> Result<Response, UiError> {
    let status_filter = query.text("status").unwrap_or("");
    let service_filter = query.text("service").unwrap_or("");
    let mut incidents = all_incidents(state).await?;
    let mut services: Vec<String> = incidents
        .iter()
        .flat_map(|i| i.services.iter().cloned())
        .chain(
            state
                .config()
                .slos
                .iter()
                .map(|s| s.config.spec.service.clone()),
        )
        .collect();
    services.sort();
    services.dedup();
    // Open first (worst severity first, then newest), then closed ones newest first.
    incidents.sort_by(|a, b| {
        b.status
            .is_open()
            .cmp(&a.status.is_open())
            .then_with(|| {
                if a.status.is_open() {
                    a.severity.cmp(&b.severity)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then(b.declared_at.cmp(&a.declared_at))
            .then(b.id.cmp(&a.id))
    });
    let rows = incidents
        .iter()
        .filter(|i| match status_filter {
            "" => true,
            "open" => i.status.is_open(),
            s => i.status.as_str() == s,
        })
        .filter(|i| service_filter.is_empty() || i.services.iter().any(|s| s == service_filter))
        .map(|i| Row {
            id: i.id,
            title: i.title.clone(),
            severity: i.severity.to_string(),
            status: i.status.to_string(),
            open: i.status.is_open(),
            services: i.services.join(", "),
            declared: short_time(i.declared_at),
            commander: i.commander().to_string(),
        })
        .collect();
    let statuses = std::iter::once("open")
        .chain(Status::ALL.iter().map(|s| s.as_str()))
        .map(|s| (s.to_string(), s == status_filter))
        .collect();
    let services = services
        .into_iter()
        .map(|s| {
            let selected = s == service_filter;
            (s, selected)
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let layout = Layout::new("Incidents", "/ui/incidents", user)
        .with_notice(query.text("notice").map(str::to_string));
    Ok(render_status(
        status,
        &ListPage {
            layout,
            rows,
            statuses,
            services,
            severities: Severity::ALL
                .iter()
                .map(|s| (s.to_string(), s.as_str().eq_ignore_ascii_case(severity)))
                .collect(),
            filtered: !status_filter.is_empty() || !service_filter.is_empty(),
            error: error.map(|e| e.message),
            form,
            slo_keys: state.config().by_key.keys().cloned().collect(),
        },
    ))
}

async fn declare(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let input = json!({
        "title": fields.get("title").unwrap_or(""),
        "severity": fields.text("severity"),
        "services": list(&fields, "services"),
        "slos": list(&fields, "slos"),
        "summary": fields.text("summary").map(|_| text_area(&fields, "summary")),
    });
    let (headers, body) = json_body(&input);
    let result = answer(
        incidents_api::post_incident(State(state.clone()), principal(&user), headers, body).await,
    )
    .await;
    match result {
        Ok(v) => Ok(match v["id"].as_i64() {
            Some(id) => redirect(&format!("/ui/incidents/{id}?notice=Incident+{id}+declared")),
            None => redirect("/ui/incidents"),
        }),
        Err(e) => {
            let form = DeclareForm {
                title: fields.get("title").unwrap_or("").to_string(),
                services: fields.get("services").unwrap_or("").to_string(),
                slos: fields.get("slos").unwrap_or("").to_string(),
                summary: text_area(&fields, "summary"),
            };
            let severity = fields.get("severity").unwrap_or("SEV3").to_string();
            render_list(&state, &user, &Fields::default(), Some(e), form, &severity).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// One incident

pub(super) struct RoleRow {
    pub label: String,
    pub is_commander: bool,
    pub holder: String,
    pub delegated: bool,
}

pub(super) struct SectionView {
    pub name: String,
    pub label: String,
    pub text: String,
    /// What the form's text area starts with.
    pub draft: String,
    pub revision: u64,
    pub updated: String,
    /// The command hierarchy nobody wrote: the effective roles are shown instead.
    pub generated: bool,
    pub conflict: Option<Stale>,
}

/// A section edit refused as stale, shown with both texts.
#[derive(Clone)]
pub(super) struct Stale {
    pub section: String,
    pub base_revision: u64,
    pub current_revision: u64,
    pub your_text: String,
    pub current_text: String,
}

pub(super) struct EntryView {
    pub id: i64,
    pub at: String,
    pub author: String,
    pub kind: String,
    pub text: String,
    pub pinned: bool,
}

pub(super) struct ImpactView {
    pub slo: String,
    pub error: Option<String>,
    pub bad_events: String,
    pub total_events: String,
    pub budget_consumed: String,
    pub first_bad_at: String,
    pub time_to_detect: String,
    pub time_to_mitigate: String,
    pub time_to_resolve: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    layout: Layout,
    id: i64,
    severity: String,
    status: String,
    open: bool,
    closed: bool,
    services: String,
    declared: String,
    declared_by: String,
    acknowledged: String,
    mitigated: String,
    resolved: String,
    roles: Vec<RoleRow>,
    standard_roles: Vec<(String, String)>,
    next_statuses: Vec<String>,
    severities: Vec<(String, bool)>,
    sections: Vec<SectionView>,
    timeline: Vec<EntryView>,
    entry_kinds: Vec<String>,
    impact_from: String,
    impact_to: String,
    impact: Vec<ImpactView>,
    linked_alerts: Vec<String>,
    unlinked_slos: Vec<String>,
    postmortem_id: Option<i64>,
    error: Option<String>,
}

async fn incident_page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, UiError> {
    let id = path_id(&id, "incident")?;
    let notice = Fields::query(&uri).text("notice").map(str::to_string);
    render_incident(&state, &user, id, None, None, notice).await
}

fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "–".to_string(), incident::postmortem::format_duration)
}

fn impact_rows(impact: &Value) -> Vec<ImpactView> {
    let Some(slos) = impact["slos"].as_array() else {
        return Vec::new();
    };
    slos.iter()
        .map(|s| {
            let i = &s["impact"];
            let t = &s["timings"];
            ImpactView {
                slo: s["slo"].as_str().unwrap_or_default().to_string(),
                error: s["error"].as_str().map(str::to_string),
                bad_events: i["bad_events"].as_u64().unwrap_or(0).to_string(),
                total_events: i["total_events"].as_u64().unwrap_or(0).to_string(),
                budget_consumed: super::percent(i["budget_consumed"].as_f64(), 1),
                first_bad_at: i["first_bad_at"]
                    .as_i64()
                    .map_or_else(|| "–".to_string(), short_time),
                time_to_detect: duration(t["time_to_detect"].as_i64()),
                time_to_mitigate: duration(t["time_to_mitigate"].as_i64()),
                time_to_resolve: duration(t["time_to_resolve"].as_i64()),
            }
        })
        .collect()
}

async fn render_incident(
    state: &AppState,
    user: &UiUser,
    id: i64,
    stale: Option<Stale>,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Result<Response, UiError> {
    let (incident, _) = incidents_api::load(state, id).await?;
    let impact = incidents_api::impact_of(state, &incident).await?;
    let entries = state.store.timeline(id).await.map_err(ApiError::from)?;
    let postmortem_id = state
        .store
        .docs(
            DocKind::Postmortem,
            &DocFilter {
                parent_id: Some(id),
                ..DocFilter::default()
            },
        )
        .await
        .map_err(ApiError::from)?
        .first()
        .map(|r| r.id);
    let sections = incident
        .document
        .sections
        .iter()
        .map(|s| {
            let generated = s.name == SECTION_COMMAND_HIERARCHY && s.revision == 0;
            let conflict = stale.clone().filter(|c| c.section == s.name);
            SectionView {
                name: s.name.clone(),
                label: label(&s.name),
                text: if generated {
                    incident.command_hierarchy_text()
                } else {
                    s.text.clone()
                },
                draft: conflict
                    .as_ref()
                    .map_or_else(|| s.text.clone(), |c| c.your_text.clone()),
                revision: s.revision,
                updated: match (&s.updated_by, s.updated_at) {
                    (Some(by), Some(at)) => {
                        format!("revision {} by {by}, {}", s.revision, short_time(at))
                    }
                    _ => "not written yet".to_string(),
                },
                generated,
                conflict,
            }
        })
        .collect();
    let timeline = entries
        .iter()
        .rev()
        .map(|e| EntryView {
            id: e.id,
            at: short_time(e.at),
            author: e.author.clone(),
            kind: label(&e.kind),
            text: e.text.clone(),
            pinned: e.pinned,
        })
        .collect();
    let roles = incident
        .effective_roles()
        .into_iter()
        .map(|r| RoleRow {
            label: label(&r.role),
            is_commander: r.role == INCIDENT_COMMANDER,
            holder: r.holder,
            delegated: r.delegated,
        })
        .collect();
    let unlinked_slos = state
        .config()
        .by_key
        .keys()
        .filter(|k| !incident.linked_slos.contains(k))
        .cloned()
        .collect();
    let status = match (&error, &stale) {
        (Some(e), _) => e.status,
        (None, Some(_)) => StatusCode::CONFLICT,
        (None, None) => StatusCode::OK,
    };
    let layout = Layout::new(
        format!("Incident {id}: {}", incident.title),
        "/ui/incidents",
        user,
    )
    .with_notice(notice);
    Ok(render_status(
        status,
        &IncidentPage {
            layout,
            id,
            severity: incident.severity.to_string(),
            status: incident.status.to_string(),
            open: incident.status.is_open(),
            closed: incident.status == Status::Closed,
            services: incident.services.join(", "),
            declared: short_time(incident.declared_at),
            declared_by: incident.declared_by.clone(),
            acknowledged: when_opt(incident.acknowledged_at()),
            mitigated: when_opt(incident.mitigated_at()),
            resolved: when_opt(incident.resolved_at()),
            roles,
            standard_roles: [INCIDENT_COMMANDER, COMMUNICATIONS_LEAD, OPERATIONS_LEAD]
                .iter()
                .map(|r| (r.to_string(), label(r)))
                .collect(),
            next_statuses: Status::ALL
                .iter()
                .filter(|s| incident.status.can_become(**s))
                .map(|s| s.to_string())
                .collect(),
            severities: Severity::ALL
                .iter()
                .map(|s| (s.to_string(), *s == incident.severity))
                .collect(),
            sections,
            timeline,
            entry_kinds: TimelineKind::ALL
                .iter()
                .filter(|k| k.user_postable())
                .map(|k| k.to_string())
                .collect(),
            impact_from: impact["from"].as_str().unwrap_or_default().to_string(),
            impact_to: impact["to"].as_str().unwrap_or_default().to_string(),
            impact: impact_rows(&impact),
            linked_alerts: incident.linked_alerts.clone(),
            unlinked_slos,
            postmortem_id,
            error: error.map(|e| e.message),
        },
    ))
}

/// After a write of incident `id`: back to its page (at `anchor`) with a notice, or the page
/// again with the API's refusal.
async fn finish(
    state: &AppState,
    user: &UiUser,
    id: i64,
    notice: &str,
    anchor: &str,
    result: Result<Value, ApiError>,
) -> Result<Response, UiError> {
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/ui/incidents/{id}?notice={}{anchor}",
            url_part(notice)
        ))),
        Err(e) => render_incident(state, user, id, None, Some(e), None).await,
    }
}

/// `PATCH /api/v1/incidents/{id}` with `patch`, as the user.
async fn patch(
    state: &Arc<AppState>,
    user: &UiUser,
    id: i64,
    patch: Value,
) -> Result<Value, ApiError> {
    let (headers, body) = json_body(&patch);
    answer(
        incidents_api::patch_incident(
            State(state.clone()),
            principal(user),
            Path(id.to_string()),
            headers,
            body,
        )
        .await,
    )
    .await
}

async fn set_status(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let to = fields.get("status").unwrap_or("").to_string();
    let result = patch(&state, &user, id, json!({ "status": to })).await;
    finish(&state, &user, id, &format!("Status: {to}"), "", result).await
}

async fn set_severity(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let to = fields.get("severity").unwrap_or("").to_string();
    let result = patch(&state, &user, id, json!({ "severity": to })).await;
    finish(&state, &user, id, &format!("Severity: {to}"), "", result).await
}

async fn link_slo(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let slo = fields.get("slo").unwrap_or("").to_string();
    let result = patch(&state, &user, id, json!({ "link_slo": slo })).await;
    finish(
        &state,
        &user,
        id,
        &format!("SLO {slo} linked"),
        "#impact",
        result,
    )
    .await
}

async fn set_role(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    // A free-form role name, when given, wins over the list.
    let role = fields
        .text("custom_role")
        .or_else(|| fields.text("role"))
        .unwrap_or("")
        .to_string();
    let holder = fields.get("holder").unwrap_or("").to_string();
    let (headers, body) = json_body(&json!({ "holder": holder }));
    let result = answer(
        incidents_api::put_role(
            State(state.clone()),
            principal(&user),
            Path((id.to_string(), role.clone())),
            headers,
            body,
        )
        .await,
    )
    .await;
    let notice = format!("{}: {}", label(&role), holder.trim());
    finish(&state, &user, id, &notice, "#roles", result).await
}

async fn edit_section(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path((id, section)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let Some(base_revision) = fields
        .text("base_revision")
        .and_then(|r| r.parse::<u64>().ok())
    else {
        return Err(UiError::bad_request(
            "The form lost its base revision: reload the page and edit again.",
        ));
    };
    let text = text_area(&fields, "text");
    let (headers, body) = json_body(&json!({ "text": text, "base_revision": base_revision }));
    let result = answer(
        incidents_api::put_section(
            State(state.clone()),
            principal(&user),
            Path((id.to_string(), section.clone())),
            headers,
            body,
        )
        .await,
    )
    .await;
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/ui/incidents/{id}?notice={}#section-{}",
            url_part(&format!("{} saved", label(&section))),
            url_part(&section)
        ))),
        Err(e) if e.code == "incident.section_conflict" => {
            let d = e.details.clone().unwrap_or(Value::Null);
            let stale = Stale {
                section: section.clone(),
                base_revision: d["base_revision"].as_u64().unwrap_or(base_revision),
                current_revision: d["current_revision"].as_u64().unwrap_or(0),
                your_text: d["your_text"].as_str().unwrap_or(&text).to_string(),
                current_text: d["current_text"].as_str().unwrap_or_default().to_string(),
            };
            render_incident(&state, &user, id, Some(stale), None, None).await
        }
        Err(e) => render_incident(&state, &user, id, None, Some(e), None).await,
    }
}

async fn add_entry(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let kind = fields.text("kind").unwrap_or("note").to_string();
    let input = json!({
        "kind": kind,
        "text": text_area(&fields, "text"),
        "pinned": checked(&fields, "pinned"),
    });
    let (headers, body) = json_body(&input);
    let result = answer(
        incidents_api::post_timeline(
            State(state.clone()),
            principal(&user),
            Path(id.to_string()),
            headers,
            body,
        )
        .await,
    )
    .await;
    let notice = format!("{} added to the timeline", label(&kind));
    finish(&state, &user, id, &notice, "#timeline", result).await
}

async fn pin_entry(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path((id, entry)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let pinned = checked(&fields, "pinned");
    let (headers, body) = json_body(&json!({ "pinned": pinned }));
    let result = answer(
        incidents_api::pin_timeline(
            State(state.clone()),
            principal(&user),
            Path((id.to_string(), entry)),
            headers,
            body,
        )
        .await,
    )
    .await;
    let notice = if pinned {
        "Entry pinned"
    } else {
        "Entry unpinned"
    };
    finish(&state, &user, id, notice, "#timeline", result).await
}

async fn draft_postmortem(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "incident")?;
    let result = answer(
        crate::postmortems_api::post_postmortem(
            State(state.clone()),
            principal(&user),
            Path(id.to_string()),
        )
        .await,
    )
    .await;
    match result {
        Ok(v) => Ok(match v["id"].as_i64() {
            Some(pm) => redirect(&format!("/ui/postmortems/{pm}?notice=Postmortem+drafted")),
            None => redirect("/ui/postmortems"),
        }),
        // Already drafted: go to it.
        Err(e) if e.code == "postmortem.exists" => Ok(
            match e.details.as_ref().and_then(|d| d["postmortem_id"].as_i64()) {
                Some(pm) => redirect(&format!("/ui/postmortems/{pm}")),
                None => redirect("/ui/postmortems"),
            },
        ),
        Err(e) => render_incident(&state, &user, id, None, Some(e), None).await,
    }
}
