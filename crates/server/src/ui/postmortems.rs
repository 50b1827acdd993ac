//! Postmortem pages: the list with the overdue reviews, and one postmortem with every section,
//! the blameless check's findings next to the text they concern, the draft editing form,
//! action items (one owner each), the review actions its status and the user allow, and the
//! Markdown export. Writes go through `postmortems_api`'s handlers as the logged-in user.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use incident::incident::Incident;
use incident::postmortem::{
    ActionKind, ActionStatus, Overdue, Postmortem, Status, ROOT_CAUSE_CATEGORIES,
};
use serde_json::{json, Value};

use super::incidents::{
    all_incidents, answer, json_body, label, list, path_id, principal, text_area, url_part,
    when_opt,
};
use super::session::redirect;
use super::{render_status, short_time, Fields, Layout, UiError, UiUser};
use crate::error::ApiError;
use crate::postmortems_api;
use crate::state::AppState;

pub fn routes(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.route("/ui/postmortems", get(list_page))
        .route("/ui/postmortems/{id}", get(postmortem_page).post(edit))
        .route("/ui/postmortems/{id}/markdown", get(markdown))
        .route("/ui/postmortems/{id}/action-items", post(add_item))
        .route("/ui/postmortems/{id}/action-items/{item}", post(set_item))
        .route("/ui/postmortems/{id}/review", post(review))
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Draft => "status-warning",
        Status::InReview => "status-pending",
        Status::Reviewed | Status::Published => "status-ok",
    }
}

fn decode(v: Value) -> Result<Postmortem, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::internal("ui.postmortem", e.to_string()))
}

async fn all_postmortems(state: &Arc<AppState>) -> Result<Vec<Postmortem>, ApiError> {
    let v = answer(postmortems_api::list_postmortems(State(state.clone()), RawQuery(None)).await)
        .await?;
    match v["postmortems"].as_array() {
        Some(items) => items.iter().cloned().map(decode).collect(),
        None => Ok(Vec::new()),
    }
}

async fn load(state: &Arc<AppState>, id: i64) -> Result<Postmortem, ApiError> {
    decode(
        answer(postmortems_api::get_postmortem(State(state.clone()), Path(id.to_string())).await)
            .await?,
    )
}

// ---------------------------------------------------------------------------------------
// The list

struct Row {
    id: i64,
    title: String,
    status: String,
    status_class: &'static str,
    incident_id: i64,
    incident: String,
    severity: String,
    open_items: usize,
    updated: String,
}

struct OverdueRow {
    id: i64,
    title: String,
    incident_id: i64,
    severity: String,
    status: String,
    due: String,
    late: String,
}

#[derive(Template)]
#[template(path = "postmortems.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    overdue: Vec<OverdueRow>,
    /// Resolved incidents without a postmortem: (id, title, severity).
    missing: Vec<(i64, String, String)>,
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let postmortems = all_postmortems(&state).await?;
    let incidents: BTreeMap<i64, Incident> = all_incidents(&state)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let overdue_v = answer(postmortems_api::get_overdue(State(state.clone())).await).await?;
    let overdue: Vec<Overdue> = serde_json::from_value(overdue_v["overdue"].clone())
        .map_err(|e| ApiError::internal("ui.postmortem", e.to_string()))?;
    let title_of = |id: i64| {
        postmortems
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.title.clone())
            .unwrap_or_default()
    };
    let overdue = overdue
        .iter()
        .map(|o| OverdueRow {
            id: o.postmortem_id,
            title: title_of(o.postmortem_id),
            incident_id: o.incident_id,
            severity: o.severity.to_string(),
            status: label(o.status.as_str()),
            due: short_time(o.due_at),
            late: incident::postmortem::format_duration(o.overdue_seconds),
        })
        .collect();
    let mut rows: Vec<Row> = postmortems
        .iter()
        .map(|p| {
            let inc = incidents.get(&p.incident_id);
            Row {
                id: p.id,
                title: p.title.clone(),
                status: label(p.status.as_str()),
                status_class: status_class(p.status),
                incident_id: p.incident_id,
                incident: inc.map(|i| i.title.clone()).unwrap_or_default(),
                severity: inc.map(|i| i.severity.to_string()).unwrap_or_default(),
                open_items: p
                    .action_items
                    .iter()
                    .filter(|a| a.status != ActionStatus::Done)
                    .count(),
                updated: short_time(p.updated_at),
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    let missing = incidents
        .values()
        .rev()
        .filter(|i| !i.status.is_open() && !postmortems.iter().any(|p| p.incident_id == i.id))
        .map(|i| (i.id, i.title.clone(), i.severity.to_string()))
        .collect();
    let layout = Layout::new("Postmortems", "/ui/postmortems", &user)
        .with_notice(Fields::query(&uri).text("notice").map(str::to_string));
    Ok(render_status(
        StatusCode::OK,
        &ListPage {
            layout,
            rows,
            overdue,
            missing,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// One postmortem

/// A text with the blameless check's warnings about it.
struct Text {
    text: String,
    warnings: Vec<String>,
}

struct CauseView {
    category: String,
    text: Text,
}

struct ItemView {
    id: u32,
    title: Text,
    owner: String,
    collaborators: String,
    kind: String,
    due: String,
    status: String,
    done: bool,
}

struct ReviewerView {
    name: String,
    approved: String,
}

struct FigureView {
    slo: String,
    bad_events: u64,
    budget_consumed: String,
    time_to_detect: String,
    time_to_mitigate: String,
}

struct PinView {
    at: String,
    author: String,
    kind: String,
    text: Text,
}

struct LessonList {
    heading: &'static str,
    items: Vec<Text>,
}

/// What the edit form starts with (the stored values, or what was posted when refused).
#[derive(Default)]
struct EditForm {
    title: String,
    summary: String,
    impact: String,
    trigger: String,
    resolution: String,
    detection: String,
    causes: Vec<(String, String)>,
    went_well: String,
    went_wrong: String,
    got_lucky: String,
}

#[derive(Template)]
#[template(path = "postmortem.html")]
struct PostmortemPage {
    layout: Layout,
    id: i64,
    incident_id: i64,
    status: String,
    status_class: &'static str,
    editable: bool,
    created: String,
    submitted: String,
    reviewed: String,
    published: String,
    title_warnings: Vec<String>,
    summary: Text,
    impact: Text,
    figures: Vec<FigureView>,
    pinned: Vec<PinView>,
    trigger: Text,
    resolution: Text,
    detection: Text,
    causes: Vec<CauseView>,
    lessons: Vec<LessonList>,
    items: Vec<ItemView>,
    reviewers: Vec<ReviewerView>,
    finding_count: usize,
    form: EditForm,
    categories: Vec<&'static str>,
    kinds: Vec<&'static str>,
    item_statuses: Vec<String>,
    can_submit: bool,
    can_approve: bool,
    /// In review, the user may write but is not a named reviewer.
    not_reviewer: bool,
    can_publish: bool,
    error: Option<String>,
}

fn form_of(pm: &Postmortem) -> EditForm {
    let mut causes: Vec<(String, String)> = pm
        .root_causes
        .iter()
        .map(|c| (c.category.clone(), c.text.clone()))
        .collect();
    // Room for two more causes without script.
    causes.push((String::new(), String::new()));
    causes.push((String::new(), String::new()));
    EditForm {
        title: pm.title.clone(),
        summary: pm.summary.clone(),
        impact: pm.impact.clone(),
        trigger: pm.trigger.clone(),
        resolution: pm.resolution.clone(),
        detection: pm.detection.clone(),
        causes,
        went_well: pm.lessons.went_well.join("\n"),
        went_wrong: pm.lessons.went_wrong.join("\n"),
        got_lucky: pm.lessons.got_lucky.join("\n"),
    }
}

/// The form as posted (to show it again when the API refused it).
fn form_posted(fields: &Fields) -> EditForm {
    let mut causes: Vec<(String, String)> = fields
        .all("cause_category")
        .zip(fields.all("cause_text"))
        .map(|(c, t)| (c.to_string(), t.replace("\r\n", "\n")))
        .collect();
    causes.push((String::new(), String::new()));
    EditForm {
        title: fields.get("title").unwrap_or("").to_string(),
        summary: text_area(fields, "summary"),
        impact: text_area(fields, "impact"),
        trigger: text_area(fields, "trigger"),
        resolution: text_area(fields, "resolution"),
        detection: text_area(fields, "detection"),
        causes,
        went_well: text_area(fields, "went_well"),
        went_wrong: text_area(fields, "went_wrong"),
        got_lucky: text_area(fields, "got_lucky"),
    }
}

async fn postmortem_page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, UiError> {
    let id = path_id(&id, "postmortem")?;
    let notice = Fields::query(&uri).text("notice").map(str::to_string);
    render_postmortem(&state, &user, id, None, None, notice).await
}

async fn render_postmortem(
    state: &Arc<AppState>,
    user: &UiUser,
    id: i64,
    error: Option<ApiError>,
    form: Option<EditForm>,
    notice: Option<String>,
) -> Result<Response, UiError> {
    let pm = load(state, id).await?;
    let findings = pm.blameless_findings();
    let warnings = |field: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f.field == field)
            .map(|f| format!("“{}”: {}", f.finding.phrase, f.finding.suggestion))
            .collect()
    };
    let text = |field: &str, value: &str| Text {
        text: value.to_string(),
        warnings: warnings(field),
    };
    let lessons = [
        ("What went well", "went_well", &pm.lessons.went_well),
        ("What went wrong", "went_wrong", &pm.lessons.went_wrong),
        ("Where we got lucky", "got_lucky", &pm.lessons.got_lucky),
    ]
    .into_iter()
    .map(|(heading, field, items)| LessonList {
        heading,
        items: items
            .iter()
            .enumerate()
            .map(|(i, t)| text(&format!("lessons.{field}[{i}]"), t))
            .collect(),
    })
    .collect();
    let reviewer = pm
        .reviewers
        .iter()
        .find(|r| r.name.to_lowercase() == user.name.to_lowercase());
    let status = match &error {
        Some(e) => e.status,
        None => StatusCode::OK,
    };
    let layout = Layout::new(
        format!("Postmortem {id}: {}", pm.title),
        "/ui/postmortems",
        user,
    )
    .with_notice(notice);
    let page = PostmortemPage {
        layout,
        id,
        incident_id: pm.incident_id,
        status: label(pm.status.as_str()),
        status_class: status_class(pm.status),
        editable: pm.status.editable(),
        created: short_time(pm.created_at),
        submitted: when_opt(pm.submitted_at),
        reviewed: when_opt(pm.reviewed_at),
        published: when_opt(pm.published_at),
        title_warnings: warnings("title"),
        summary: text("summary", &pm.summary),
        impact: text("impact", &pm.impact),
        figures: pm
            .impact_figures
            .iter()
            .map(|f| FigureView {
                slo: f.slo.clone(),
                bad_events: f.bad_events,
                budget_consumed: super::percent(Some(f.budget_consumed), 1),
                time_to_detect: f
                    .time_to_detect
                    .map_or_else(|| "–".into(), incident::postmortem::format_duration),
                time_to_mitigate: f
                    .time_to_mitigate
                    .map_or_else(|| "–".into(), incident::postmortem::format_duration),
            })
            .collect(),
        pinned: pm
            .timeline
            .iter()
            .enumerate()
            .map(|(i, e)| PinView {
                at: short_time(e.at),
                author: e.author.clone(),
                kind: label(&e.kind),
                text: text(&format!("timeline[{i}].text"), &e.text),
            })
            .collect(),
        trigger: text("trigger", &pm.trigger),
        resolution: text("resolution", &pm.resolution),
        detection: text("detection", &pm.detection),
        causes: pm
            .root_causes
            .iter()
            .enumerate()
            .map(|(i, c)| CauseView {
                category: label(&c.category),
                text: text(&format!("root_causes[{i}].text"), &c.text),
            })
            .collect(),
        lessons,
        items: pm
            .action_items
            .iter()
            .enumerate()
            .map(|(i, a)| ItemView {
                id: a.id,
                title: text(&format!("action_items[{i}].title"), &a.title),
                owner: a.owner.clone(),
                collaborators: a.collaborators.join(", "),
                kind: a.kind.to_string(),
                due: a.due.to_string(),
                status: a.status.to_string(),
                done: a.status == ActionStatus::Done,
            })
            .collect(),
        reviewers: pm
            .reviewers
            .iter()
            .map(|r| ReviewerView {
                name: r.name.clone(),
                approved: r.approved_at.map_or_else(
                    || "not yet".to_string(),
                    |at| format!("approved {}", short_time(at)),
                ),
            })
            .collect(),
        finding_count: findings.len(),
        form: form.unwrap_or_else(|| form_of(&pm)),
        categories: ROOT_CAUSE_CATEGORIES.to_vec(),
        kinds: [
            ActionKind::Prevent,
            ActionKind::Mitigate,
            ActionKind::Detect,
            ActionKind::Process,
        ]
        .iter()
        .map(|k| k.as_str())
        .collect(),
        item_statuses: [
            ActionStatus::Open,
            ActionStatus::InProgress,
            ActionStatus::Done,
        ]
        .iter()
        .map(|s| s.as_str().to_string())
        .collect(),
        can_submit: user.can_write && pm.status == Status::Draft,
        can_approve: user.can_write
            && pm.status == Status::InReview
            && reviewer.is_some_and(|r| r.approved_at.is_none()),
        not_reviewer: user.can_write && pm.status == Status::InReview && reviewer.is_none(),
        can_publish: user.can_write && pm.status == Status::Reviewed,
        error: error.map(|e| e.message),
    };
    Ok(render_status(status, &page))
}

/// After a write: back to the page with a notice, or the page again with the refusal.
async fn finish(
    state: &Arc<AppState>,
    user: &UiUser,
    id: i64,
    notice: &str,
    anchor: &str,
    result: Result<Value, ApiError>,
    form: Option<EditForm>,
) -> Result<Response, UiError> {
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/ui/postmortems/{id}?notice={}{anchor}",
            url_part(notice)
        ))),
        Err(e) => render_postmortem(state, user, id, Some(e), form, None).await,
    }
}

/// The draft editing form: every field it carries replaces the stored one.
async fn edit(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "postmortem")?;
    let mut patch = serde_json::Map::new();
    for name in [
        "title",
        "summary",
        "impact",
        "trigger",
        "resolution",
        "detection",
    ] {
        if fields.get(name).is_some() {
            patch.insert(name.into(), json!(text_area(&fields, name)));
        }
    }
    if fields.get("cause_text").is_some() {
        let causes: Vec<Value> = fields
            .all("cause_category")
            .zip(fields.all("cause_text"))
            .filter(|(_, t)| !t.trim().is_empty())
            .map(|(c, t)| json!({ "category": c.trim(), "text": t.replace("\r\n", "\n").trim() }))
            .collect();
        patch.insert("root_causes".into(), Value::Array(causes));
    }
    if fields.get("went_well").is_some() {
        let lines = |name: &str| -> Vec<String> {
            text_area(&fields, name)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        patch.insert(
            "lessons".into(),
            json!({
                "went_well": lines("went_well"),
                "went_wrong": lines("went_wrong"),
                "got_lucky": lines("got_lucky"),
            }),
        );
    }
    let (headers, body) = json_body(&Value::Object(patch));
    let result = answer(
        postmortems_api::patch_postmortem(
            State(state.clone()),
            principal(&user),
            Path(id.to_string()),
            headers,
            body,
        )
        .await,
    )
    .await;
    let form = form_posted(&fields);
    finish(&state, &user, id, "Draft saved", "", result, Some(form)).await
}

async fn add_item(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "postmortem")?;
    let input = json!({
        "title": fields.get("title").unwrap_or(""),
        "owner": fields.get("owner").unwrap_or(""),
        "collaborators": list(&fields, "collaborators"),
        "kind": fields.text("kind").unwrap_or("prevent"),
        "due": fields.get("due").unwrap_or("").trim(),
    });
    let (headers, body) = json_body(&input);
    let result = answer(
        postmortems_api::post_action_item(
            State(state.clone()),
            principal(&user),
            Path(id.to_string()),
            headers,
            body,
        )
        .await,
    )
    .await;
    // A body the API could not read (a missing due date, say) is the user's to fix.
    let result = result.map_err(|mut e| {
        if e.code == "request.bad_json" {
            e.status = StatusCode::UNPROCESSABLE_ENTITY;
            e.message = format!("The action item is incomplete: {}", e.message);
        }
        e
    });
    finish(
        &state,
        &user,
        id,
        "Action item added",
        "#action-items",
        result,
        None,
    )
    .await
}

async fn set_item(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path((id, item)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "postmortem")?;
    let (headers, body) = json_body(&json!({ "status": fields.get("status").unwrap_or("") }));
    let result = answer(
        postmortems_api::patch_action_item(
            State(state.clone()),
            principal(&user),
            Path((id.to_string(), item.clone())),
            headers,
            body,
        )
        .await,
    )
    .await;
    let notice = format!("Action item {item} updated");
    finish(&state, &user, id, &notice, "#action-items", result, None).await
}

async fn review(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    Path(id): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let id = path_id(&id, "postmortem")?;
    let action = fields.get("action").unwrap_or("").to_string();
    let input = if action == "submit" {
        json!({ "action": action, "reviewers": list(&fields, "reviewers") })
    } else {
        json!({ "action": action })
    };
    let (headers, body) = json_body(&input);
    let result = answer(
        postmortems_api::post_review(
            State(state.clone()),
            principal(&user),
            Path(id.to_string()),
            headers,
            body,
        )
        .await,
    )
    .await;
    let notice = match action.as_str() {
        "submit" => "Submitted for review",
        "approve" => "Approved",
        "publish" => "Published",
        _ => "Done",
    };
    finish(&state, &user, id, notice, "#review", result, None).await
}

/// The Markdown export (the API's), for a logged-in browser.
async fn markdown(
    State(state): State<Arc<AppState>>,
    _user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = path_id(&id, "postmortem")?;
    Ok(postmortems_api::get_markdown(State(state), Path(id.to_string())).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_causes_pair_up() {
        let f = Fields::parse(
            b"cause_category=change&cause_text=a%0D%0Ab&cause_category=&cause_text=&title=T",
        );
        let form = form_posted(&f);
        assert_eq!(form.causes[0], ("change".to_string(), "a\nb".to_string()));
        assert_eq!(form.title, "T");
        assert!(!super::super::incidents::checked(&f, "x"));
    }
}
