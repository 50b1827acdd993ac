//! The toil page: each team's toil as a share of its weekly capacity per ISO week (an SVG bar
//! chart with the 50% line, its title and description, and the same numbers as a table),
//! toil by category, recurring tasks before and after their automation, and the forms to log
//! toil, set a team's capacity and mark an automation. The report is `toil_api`'s; writes go
//! through its handlers as the logged-in user.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use incident::toil::{Category, ToilReport};
use serde_json::json;

use super::charts::escape;
use super::incidents::{answer, checked, json_body, label, principal, url_part};
use super::session::redirect;
use super::{render_status, short_time, Fields, Layout, UiError, UiUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::toil_api;

const WEEK: i64 = 7 * 86_400;
/// Weeks shown unless the filter asks for another number.
const DEFAULT_WEEKS: i64 = 12;
const MAX_WEEKS: i64 = 104;

pub fn routes(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.route("/ui/toil", get(toil_page).post(log_toil))
        .route("/ui/toil/teams", post(set_team))
        .route("/ui/toil/automations", post(mark_automation))
}

/// One ISO week of one team.
#[derive(Debug, Clone, PartialEq)]
struct Week {
    label: String,
    minutes: u64,
    share: Option<f64>,
}

struct WeekRow {
    week: String,
    minutes: u64,
    share: String,
    over_half: bool,
}

struct TeamChart {
    team: String,
    capacity: String,
    svg: String,
    rows: Vec<WeekRow>,
    weeks_over_half: usize,
}

struct CategoryRow {
    category: String,
    minutes: u64,
    share: String,
}

struct TeamCategoryRow {
    team: String,
    category: String,
    minutes: u64,
}

struct AutomationRow {
    team: String,
    task: String,
    at: String,
    before: String,
    after: String,
    change: String,
}

#[derive(Default)]
struct LogForm {
    team: String,
    category: String,
    minutes: String,
    description: String,
    task: String,
    date: String,
    automatable: bool,
}

#[derive(Template)]
#[template(path = "toil.html")]
struct ToilPage {
    layout: Layout,
    from: String,
    to: String,
    weeks: i64,
    team_filter: String,
    teams: Vec<String>,
    charts: Vec<TeamChart>,
    teams_over_half: Vec<String>,
    categories: Vec<CategoryRow>,
    team_categories: Vec<TeamCategoryRow>,
    automations: Vec<AutomationRow>,
    total_minutes: u64,
    automatable_minutes: u64,
    category_names: Vec<(String, String)>,
    form: LogForm,
    error: Option<String>,
}

/// The ISO weeks (Monday 00:00 UTC, label) that overlap `[from, to)`.
fn week_starts(from: i64, to: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let Some((mut start, _)) = incident::toil::iso_week(from) else {
        return out;
    };
    while start < to && out.len() <= MAX_WEEKS as usize + 1 {
        if let Some(week) = incident::toil::iso_week(start) {
            out.push(week);
        }
        start += WEEK;
    }
    out
}

fn percent(share: Option<f64>) -> String {
    super::percent(share, 0)
}

/// An SVG bar chart of a team's weekly share of capacity, with the 50% line. `id` makes the
/// title and description ids unique on the page.
fn share_chart(id: &str, team: &str, weeks: &[Week]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 34.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let top_share = weeks
        .iter()
        .filter_map(|w| w.share)
        .filter(|s| s.is_finite())
        .fold(1.0_f64, f64::max);
    let y = |share: f64| TOP + plot_h - (share.clamp(0.0, top_share) / top_share) * plot_h;
    let over: Vec<&Week> = weeks
        .iter()
        .filter(|w| w.share.is_some_and(|s| s > 0.5))
        .collect();
    let highest = weeks.iter().filter(|w| w.share.is_some()).max_by(|a, b| {
        a.share
            .unwrap_or(0.0)
            .partial_cmp(&b.share.unwrap_or(0.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let first = weeks.first().map_or("", |w| w.label.as_str());
    let last = weeks.last().map_or("", |w| w.label.as_str());
    let mut desc = format!(
        "Bars: toil as a share of {team}'s weekly capacity for {} ISO weeks, {first} to {last}; a dashed line marks 50%.",
        weeks.len()
    );
    if let Some(h) = highest {
        let _ = write!(desc, " Highest: {} in {}.", percent(h.share), h.label);
    }
    if over.is_empty() {
        desc.push_str(" No week is over 50%.");
    } else {
        let names: Vec<&str> = over.iter().map(|w| w.label.as_str()).collect();
        let _ = write!(
            desc,
            " {} week{} over 50%: {}.",
            over.len(),
            if over.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart toil-chart" role="img" viewBox="0 0 {W} {H}" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&format!("Toil share of capacity per week: {team}")),
        escape(&desc)
    );
    // Axes and grid: 0%, 50% (dashed, the limit), 100% and the top when above it.
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" stroke="#5b636e"/>"##,
        b = TOP + plot_h,
        r = W - RIGHT
    );
    let mut ticks = vec![0.0, 0.5, 1.0];
    if top_share > 1.0 {
        ticks.push(top_share);
    }
    for t in ticks {
        let ty = y(t);
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{ty:.1}" font-size="11" text-anchor="end" dominant-baseline="middle" fill="#5b636e">{}</text>"##,
            percent(Some(t)),
            x = LEFT - 6.0
        );
        if t > 0.0 && (t - 0.5).abs() > f64::EPSILON {
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{r:.1}" y2="{ty:.1}" stroke="#d9dde3"/>"##,
                r = W - RIGHT
            );
        }
    }
    let n = weeks.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).max(1.0);
    let label_every = (weeks.len() / 13).max(1);
    for (i, w) in weeks.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let share = w.share.unwrap_or(0.0);
        let top = y(share);
        let over_half = share > 0.5;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{fill}"><title>{}</title></rect>"##,
            escape(&format!(
                "{}: {} ({} min){}",
                w.label,
                percent(w.share),
                w.minutes,
                if over_half { ", over 50%" } else { "" }
            )),
            h = (TOP + plot_h - top).max(0.0),
            fill = if over_half { "#b3261e" } else { "#2f6db5" },
        );
        if i % label_every == 0 {
            let short = w.label.split('-').nth(1).unwrap_or(&w.label);
            let _ = write!(
                svg,
                r##"<text x="{cx:.1}" y="{ly:.1}" font-size="10" text-anchor="middle" fill="#5b636e">{}</text>"##,
                escape(short),
                cx = x + bar_w / 2.0,
                ly = TOP + plot_h + 14.0
            );
        }
    }
    let half = y(0.5);
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{half:.1}" x2="{r:.1}" y2="{half:.1}" stroke="#8a5300" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{r:.1}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#8a5300">50% limit</text>"##,
        r = W - RIGHT,
        ty = half - 4.0
    );
    svg.push_str("</svg>");
    svg
}

fn per_week(minutes: Option<f64>) -> String {
    minutes.map_or_else(|| "–".to_string(), |m| format!("{m:.0} min"))
}

async fn toil_page(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    uri: Uri,
) -> Result<Response, UiError> {
    let query = Fields::query(&uri);
    render(&state, &user, &query, None, LogForm::default()).await
}

async fn render(
    state: &Arc<AppState>,
    user: &UiUser,
    query: &Fields,
    error: Option<ApiError>,
    form: LogForm,
) -> Result<Response, UiError> {
    let weeks = query
        .text("weeks")
        .and_then(|w| w.parse::<i64>().ok())
        .unwrap_or(DEFAULT_WEEKS)
        .clamp(1, MAX_WEEKS);
    let team_filter = query.text("team").unwrap_or("").to_string();
    let now = crate::now();
    // From the Monday of the first week shown, so every week is whole.
    let from = incident::toil::iso_week(now - (weeks - 1) * WEEK)
        .map_or(now - weeks * WEEK, |(start, _)| start);
    let to = now + 1;
    let report_query = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("from", &from.to_string());
        q.append_pair("to", &to.to_string());
        if !team_filter.is_empty() {
            q.append_pair("team", &team_filter);
        }
        q.finish()
    };
    let v = answer(toil_api::get_report(State(state.clone()), RawQuery(Some(report_query))).await)
        .await?;
    let report: ToilReport = serde_json::from_value(v["report"].clone())
        .map_err(|e| ApiError::internal("ui.toil", e.to_string()))?;
    let capacities: BTreeMap<String, i64> = state
        .store
        .teams()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|t| (t.name, t.weekly_capacity_minutes))
        .collect();
    let mut teams: Vec<String> = capacities
        .keys()
        .cloned()
        .chain(report.weeks.iter().map(|w| w.team.clone()))
        .collect();
    teams.sort();
    teams.dedup();
    let shown: Vec<&String> = teams
        .iter()
        .filter(|t| team_filter.is_empty() || **t == team_filter)
        .collect();
    let calendar = week_starts(from, to);
    let charts = shown
        .iter()
        .enumerate()
        .map(|(i, team)| {
            let capacity = capacities.get(*team).copied().filter(|c| *c > 0);
            let series: Vec<Week> = calendar
                .iter()
                .map(|(_, label)| {
                    let row = report
                        .weeks
                        .iter()
                        .find(|w| w.team == **team && w.week == *label);
                    let minutes = row.map_or(0, |r| r.minutes);
                    let share = match row {
                        Some(r) => r.share,
                        None => capacity.map(|_| 0.0),
                    };
                    Week {
                        label: label.clone(),
                        minutes,
                        share,
                    }
                })
                .collect();
            let rows: Vec<WeekRow> = series
                .iter()
                .map(|w| WeekRow {
                    week: w.label.clone(),
                    minutes: w.minutes,
                    share: percent(w.share),
                    over_half: w.share.is_some_and(|s| s > 0.5),
                })
                .collect();
            TeamChart {
                team: (*team).clone(),
                capacity: capacity.map_or_else(
                    || "no weekly capacity set".to_string(),
                    |c| format!("{c} min a week"),
                ),
                svg: if capacity.is_some() {
                    share_chart(&format!("toil-{i}"), team, &series)
                } else {
                    String::new()
                },
                weeks_over_half: rows.iter().filter(|r| r.over_half).count(),
                rows,
            }
        })
        .collect();
    let total = report.total_minutes;
    let categories = report
        .by_category
        .iter()
        .map(|c| CategoryRow {
            category: label(c.category.as_str()),
            minutes: c.minutes,
            share: if total > 0 {
                percent(Some(c.minutes as f64 / total as f64))
            } else {
                "–".into()
            },
        })
        .collect();
    let team_categories = report
        .by_team_category
        .iter()
        .map(|c| TeamCategoryRow {
            team: c.team.clone(),
            category: label(c.category.as_str()),
            minutes: c.minutes,
        })
        .collect();
    let automations = report
        .automations
        .iter()
        .map(|a| AutomationRow {
            team: a.team.clone(),
            task: a.task.clone(),
            at: short_time(a.automated_at),
            before: per_week(a.minutes_per_week_before),
            after: per_week(a.minutes_per_week_after),
            change: match (a.minutes_per_week_before, a.minutes_per_week_after) {
                (Some(b), Some(after)) if b > 0.0 => format!("{:+.0}%", (after - b) / b * 100.0),
                _ => "–".into(),
            },
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let layout =
        Layout::new("Toil", "/ui/toil", user).with_notice(query.text("notice").map(str::to_string));
    Ok(render_status(
        status,
        &ToilPage {
            layout,
            from: short_time(from),
            to: short_time(now),
            weeks,
            team_filter,
            teams,
            charts,
            teams_over_half: report.teams_over_half.clone(),
            categories,
            team_categories,
            automations,
            total_minutes: report.total_minutes,
            automatable_minutes: report.automatable_minutes,
            category_names: Category::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), label(c.as_str())))
                .collect(),
            form,
            error: error.map(|e| e.message),
        },
    ))
}

/// A date field (`YYYY-MM-DD`) as the API's time (noon UTC that day), or None when empty.
fn date_time(fields: &Fields, name: &str) -> Option<String> {
    fields.text(name).map(|d| format!("{d}T12:00:00Z"))
}

async fn log_toil(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let minutes = fields.text("minutes").unwrap_or("");
    let result = match minutes.parse::<u32>() {
        Ok(minutes) => {
            let input = json!({
                "team": fields.get("team").unwrap_or(""),
                "category": fields.get("category").unwrap_or(""),
                "minutes": minutes,
                "description": fields.get("description").unwrap_or("").replace("\r\n", "\n"),
                "automatable": checked(&fields, "automatable"),
                "task": fields.text("task"),
                "at": date_time(&fields, "date"),
            });
            let (headers, body) = json_body(&input);
            answer(toil_api::post_toil(State(state.clone()), principal(&user), headers, body).await)
                .await
        }
        Err(_) => Err(ApiError::unprocessable(
            "toil.invalid",
            format!("minutes must be a whole number of minutes, not {minutes:?}"),
        )),
    };
    match result {
        Ok(_) => Ok(redirect("/ui/toil?notice=Toil+logged#log")),
        Err(e) => {
            let form = LogForm {
                team: fields.get("team").unwrap_or("").to_string(),
                category: fields.get("category").unwrap_or("").to_string(),
                minutes: minutes.to_string(),
                description: fields.get("description").unwrap_or("").to_string(),
                task: fields.get("task").unwrap_or("").to_string(),
                date: fields.get("date").unwrap_or("").to_string(),
                automatable: checked(&fields, "automatable"),
            };
            render(&state, &user, &Fields::default(), Some(e), form).await
        }
    }
}

async fn set_team(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let team = fields.text("team").unwrap_or("").to_string();
    let capacity = fields.text("weekly_capacity_minutes").unwrap_or("");
    let result = match capacity.parse::<u32>() {
        Ok(c) => {
            let (headers, body) = json_body(&json!({ "weekly_capacity_minutes": c }));
            answer(
                toil_api::put_team(
                    State(state.clone()),
                    principal(&user),
                    Path(team.clone()),
                    headers,
                    body,
                )
                .await,
            )
            .await
        }
        Err(_) => Err(ApiError::unprocessable(
            "toil.invalid",
            format!("the weekly capacity must be a whole number of minutes, not {capacity:?}"),
        )),
    };
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/ui/toil?notice={}",
            url_part(&format!("Capacity of {team} saved"))
        ))),
        Err(e) => {
            render(
                &state,
                &user,
                &Fields::default(),
                Some(e),
                LogForm::default(),
            )
            .await
        }
    }
}

async fn mark_automation(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_form(&fields)?;
    let input = json!({
        "team": fields.get("team").unwrap_or(""),
        "task": fields.get("task").unwrap_or(""),
        "at": date_time(&fields, "date"),
        "note": fields.get("note").unwrap_or(""),
    });
    let (headers, body) = json_body(&input);
    let result = answer(
        toil_api::post_automation(State(state.clone()), principal(&user), headers, body).await,
    )
    .await;
    match result {
        Ok(_) => Ok(redirect("/ui/toil?notice=Automation+marked#automations")),
        Err(e) => {
            render(
                &state,
                &user,
                &Fields::default(),
                Some(e),
                LogForm::default(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_title_desc_and_half_line() {
        let weeks = vec![
            Week {
                label: "2026-W47".into(),
                minutes: 600,
                share: Some(0.25),
            },
            Week {
                label: "2026-W48".into(),
                minutes: 1500,
                share: Some(0.75),
            },
        ];
        let svg = share_chart("t", "ops <team>", &weeks);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title id=\"t-title\">"));
        assert!(svg.contains("<desc id=\"t-desc\">"));
        assert!(svg.contains("ops &lt;team&gt;"));
        assert!(svg.contains("50% limit"));
        assert!(svg.contains("1 week over 50%: 2026-W48"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn weeks_cover_the_range() {
        // 2026-11-23 is a Monday.
        let monday = 1_795_392_000;
        let w = week_starts(monday + 3600, monday + 2 * WEEK + 10);
        assert_eq!(w.len(), 3);
    }
}
