//! The web UI: server-rendered pages (askama templates in `crates/server/templates/`), SVG
//! charts drawn on the server ([`charts`]), usable without JavaScript.
//!
//! Conventions for a page:
//! - the handler takes [`UiUser`] (the session, or the anonymous reader on loopback; without
//!   either it redirects to the login page), builds a template struct with a
//!   `layout: Layout` field ([`Layout::new`]) and returns [`render`]`(&page)`;
//! - the template starts with `{% extends "layout.html" %}` and fills `{% block content %}`;
//! - a write form is shown only `{% if layout.user.can_write %}`, POSTs with a hidden
//!   `<input type="hidden" name="csrf" value="{{ layout.user.csrf }}">`, and its handler takes
//!   [`Fields`] (the urlencoded body) and calls [`UiUser::check_form`] first, then answers with
//!   [`session::redirect`] (303, post/redirect/get) or a [`UiError`] (an HTML error page);
//! - a page group lives in its own file with `pub fn routes(router) -> router`.
//!
//! These routes are not part of the JSON API's route table ([`crate::routes`]); they are
//! merged into the same router and pass through the same timeout, panic and metrics layers.

mod alerts;
mod backtest;
pub mod charts;
mod incidents;
mod overview;
mod postmortems;
pub mod session;
mod slo_page;
mod toil;

use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
pub use session::UiUser;
use std::sync::Arc;

/// The UI's stylesheet (the project's own).
const STYLE: &str = include_str!("style.css");
/// The UI's script (the project's own; every page works without it).
const SCRIPT: &str = include_str!("ui.js");

/// Every UI route; `/` redirects to `/ui/`.
pub fn router() -> Router<Arc<AppState>> {
    let router = Router::new()
        .route("/", get(|| async { session::redirect("/ui/") }))
        .route("/ui", get(|| async { session::redirect("/ui/") }))
        .route("/ui/login", get(login_page).post(login_post))
        .route("/ui/logout", post(logout))
        .route("/ui/static/style.css", get(style))
        .route("/ui/static/ui.js", get(script));
    let router = overview::routes(router);
    let router = slo_page::routes(router);
    let router = alerts::routes(router);
    let router = backtest::routes(router);
    let router = incidents::routes(router);
    let router = postmortems::routes(router);
    let router = toil::routes(router);
    // The HTML 404 for the rest of /ui/ (registered last: matchit lets an earlier catch-all
    // shadow static routes added after it).
    router
        .route("/ui/{*rest}", any(not_found))
        .layer(axum::middleware::from_fn(same_origin_posts))
        .layer(axum::middleware::map_response(security_headers))
}

/// A POST whose `Origin` names another site is refused before any handler runs (defence in
/// depth beside the SameSite=Strict cookie and the CSRF field; it also covers the login form,
/// which has no session yet). Requests without `Origin` (old browsers, scripts) go on to the
/// CSRF check.
async fn same_origin_posts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == axum::http::Method::POST {
        let headers = request.headers();
        let origin = headers.get("origin").and_then(|v| v.to_str().ok());
        // Behind a proxy that rewrites Host, the host the browser saw is X-Forwarded-Host.
        let hosts: Vec<&str> = [axum::http::header::HOST.as_str(), "x-forwarded-host"]
            .iter()
            .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
            .filter_map(|v| v.split(',').next().map(str::trim))
            .collect();
        if let Some(origin) = origin {
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            if !origin_host.is_some_and(|o| hosts.contains(&o)) {
                return UiError::forbidden("The form was sent from another site.").into_response();
            }
        }
    }
    next.run(request).await
}

/// No framing, no sniffing, no caching of pages that show alerts and tokens' names.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    // Inline <style> elements are allowed (the incident and postmortem pages carry their own
    // rules); scripts only from this server.
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
         script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cache-control", "no-store");
    response
}

async fn style() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The navigation: (path, label). A page names its entry with [`Layout::new`]'s `nav`.
pub const NAV: &[(&str, &str)] = &[
    ("/ui/", "Overview"),
    ("/ui/alerts", "Alerts"),
    ("/ui/incidents", "Incidents"),
    ("/ui/postmortems", "Postmortems"),
    ("/ui/toil", "Toil"),
    ("/ui/backtest", "Backtest"),
];

/// What `layout.html` needs; every page template has it as its `layout` field.
pub struct Layout {
    /// The page's `<title>` and `<h1>`.
    pub title: String,
    /// The path of the navigation entry this page belongs to (one of [`NAV`]'s).
    pub nav: &'static str,
    pub user: UiUser,
    /// Whether the header shows who is logged in (not on the login and error pages).
    pub show_user: bool,
    /// A one-line message at the top (after a form was handled), shown in a status region.
    pub notice: Option<String>,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, user: &UiUser) -> Layout {
        Layout {
            title: title.into(),
            nav,
            user: user.clone(),
            show_user: true,
            notice: None,
        }
    }

    /// With the notice `?notice=` carried after a post/redirect/get, if any.
    pub fn with_notice(mut self, notice: Option<String>) -> Layout {
        self.notice = notice.filter(|n| !n.is_empty());
        self
    }

    pub fn nav_items(&self) -> &'static [(&'static str, &'static str)] {
        NAV
    }

    pub fn is_current(&self, path: &str) -> bool {
        self.nav == path
    }
}

/// Renders a template as a 200 HTML page (a 500 page if rendering fails).
pub fn render<T: Template>(page: &T) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => UiError::internal(format!("rendering the page failed: {e}")).into_response(),
    }
}

/// An HTML error page with its status.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn forbidden(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn bad_request(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn conflict(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// An API error (from a function the JSON API shares) as an HTML error page.
impl From<crate::ApiError> for UiError {
    fn from(e: crate::ApiError) -> UiError {
        UiError::new(e.status, e.message)
    }
}

impl From<store::StoreError> for UiError {
    fn from(e: store::StoreError) -> UiError {
        crate::ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let reason = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let mut layout = Layout::new(
            format!("{} {reason}", self.status.as_u16()),
            "",
            &UiUser::anonymous(),
        );
        layout.show_user = false;
        let page = ErrorPage {
            layout,
            status: self.status.as_u16(),
            reason,
            message: self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, "error").into_response(),
        }
    }
}

async fn not_found() -> UiError {
    UiError::not_found("There is no such page.")
}

/// The fields of an `application/x-www-form-urlencoded` body or a query string, in order.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(text: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The query string of a request URI.
    pub fn query(uri: &axum::http::Uri) -> Fields {
        Fields::parse(uri.query().unwrap_or("").as_bytes())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, None when empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A POSTed form (the urlencoded body, at most 1 MiB).
impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Fields, UiError> {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .map_err(|_| UiError::bad_request("The form is too large or was cut off."))?;
        let _ = state;
        Ok(Fields::parse(&body))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

fn login_form(next: &str, error: Option<String>) -> LoginPage {
    let mut layout = Layout::new("Log in", "", &UiUser::anonymous());
    layout.show_user = false;
    LoginPage {
        layout,
        next: session::safe_next(next).to_string(),
        error,
    }
}

async fn login_page(uri: axum::http::Uri) -> Response {
    let query = Fields::query(&uri);
    render(&login_form(query.get("next").unwrap_or("/ui/"), None))
}

async fn login_post(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    let next = fields.get("next").unwrap_or("/ui/").to_string();
    match session::login(&state, &headers, fields.get("token").unwrap_or(""), &next).await {
        Ok(response) => response,
        Err(e) if e.status.is_client_error() => {
            render_status(e.status, &login_form(&next, Some(e.message)))
        }
        Err(e) => e.into_response(),
    }
}

async fn logout(
    State(state): State<Arc<AppState>>,
    user: UiUser,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, UiError> {
    user.check_csrf(fields.get("csrf").unwrap_or(""))?;
    Ok(session::logout(&state, &user, &headers))
}

/// A percentage for display: `99.95%` (None → `–`).
pub fn percent(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{:.*}%", decimals, v * 100.0),
        _ => "–".to_string(),
    }
}

/// A short local rendering of unix seconds (UTC, minutes).
pub fn short_time(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// An approximate duration for reading: `45s`, `8.6m`, `3.2h`, `4.5d`.
pub fn approx_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".to_string();
    }
    let s = seconds.abs();
    if s < 120.0 {
        format!("{seconds:.0}s")
    } else if s < 7200.0 {
        format!("{:.1}m", seconds / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1}h", seconds / 3600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

/// A duration in seconds as `3d`, `6h`, `5m`, `30s`.
pub fn short_duration(seconds: i64) -> String {
    slo::format_duration(seconds)
}
