//! UI sessions: an API token is exchanged once (`POST /ui/login`) for a random session id kept
//! in memory and sent back as the `nines_session` cookie (HttpOnly, SameSite=Strict, Path=/ui,
//! Secure behind https, 12 h). The session keeps the token's SHA-256, not the token, and every
//! request looks the token up again, so a revoked token ends its sessions at once (the API's
//! rule). Each session has its own CSRF token that every UI form carries in a hidden `csrf`
//! field ([`UiUser::check_form`]).

use super::{Fields, UiError};
use crate::state::AppState;
use crate::Scope;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::TokenRole;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "nines_session";
/// How long a session lives (seconds).
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// The most sessions kept at once; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    token_sha256: String,
    csrf: String,
    expires_at: i64,
}

/// The UI sessions of one server (a field of `AppState`): lost on restart, which only means
/// logging in again.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// 32 random bytes as hex; an error when the system has no entropy (never a guessable id).
pub fn random_token() -> Result<String, UiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| UiError::internal("no entropy source for a session id"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request reached the proxy in front of us (or us) over https.
fn over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|p| p.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

fn cookie_header(value: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Checks `secret` as the API does (SHA-256 lookup, active, a role that may read) and starts a
/// session for it: the redirect to `next` with the cookie set.
pub async fn login(
    state: &AppState,
    headers: &HeaderMap,
    secret: &str,
    next: &str,
) -> Result<Response, UiError> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(UiError::unauthorized("Enter an API token."));
    }
    let sha256 = store::token_sha256(secret);
    let record = state
        .store
        .token_by_hash(&sha256)
        .await
        .map_err(|e| UiError::internal(e.to_string()))?
        .filter(store::TokenRecord::is_active)
        .ok_or_else(|| UiError::unauthorized("The token is unknown or revoked."))?;
    if !crate::auth::allows(record.role, Scope::Read) {
        return Err(UiError::forbidden(format!(
            "The {} token {:?} may not read: the UI needs a viewer, responder or admin token.",
            record.role, record.name
        )));
    }
    let id = random_token()?;
    let csrf = random_token()?;
    let now = crate::now();
    {
        let mut map = state.ui_sessions.lock();
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                token_sha256: sha256,
                csrf,
                expires_at: now + SESSION_SECONDS,
            },
        );
    }
    let mut response = redirect(safe_next(next));
    if let Some(v) = cookie_header(&id, SESSION_SECONDS, over_https(headers)) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(response)
}

/// Ends the caller's session and clears the cookie.
pub fn logout(state: &AppState, user: &UiUser, headers: &HeaderMap) -> Response {
    if let Some(id) = &user.session {
        state.ui_sessions.lock().remove(id);
    }
    let mut response = redirect("/ui/login");
    if let Some(v) = cookie_header("", 0, over_https(headers)) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

/// Only a local path may follow a login (no open redirect).
pub fn safe_next(next: &str) -> &str {
    if next.starts_with("/ui") && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/ui/"
    }
}

/// A 303 to `to`.
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// Who is looking at a page: a logged-in token (by name and role) or, on a loopback listener,
/// the anonymous reader. Extracting it from a request without a valid session redirects to
/// the login page (or, on loopback, yields the anonymous reader).
#[derive(Debug, Clone)]
pub struct UiUser {
    /// The token's name, or `"anonymous"`.
    pub name: String,
    /// None for the anonymous reader.
    pub role: Option<TokenRole>,
    /// May use write forms (responder or admin): viewers and anonymous readers see none.
    pub can_write: bool,
    /// The session's CSRF token (empty for the anonymous reader, who has no session).
    pub csrf: String,
    /// The session id (None for the anonymous reader).
    pub session: Option<String>,
}

impl UiUser {
    /// The anonymous reader of a loopback listener.
    pub fn anonymous() -> UiUser {
        UiUser {
            name: "anonymous".into(),
            role: None,
            can_write: false,
            csrf: String::new(),
            session: None,
        }
    }

    /// The role as text (`anonymous` without one).
    pub fn role_name(&self) -> &'static str {
        self.role.map_or("anonymous", TokenRole::as_str)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Some(TokenRole::Admin)
    }

    /// Checks a POSTed form: a session whose CSRF token equals the form's `csrf` field, and a
    /// role that may write. Every UI write handler calls this first (403 page otherwise).
    pub fn check_form(&self, fields: &Fields) -> Result<(), UiError> {
        self.check_csrf(fields.get("csrf").unwrap_or(""))?;
        if !self.can_write {
            return Err(UiError::forbidden(format!(
                "The {} token {:?} may only read.",
                self.role_name(),
                self.name
            )));
        }
        Ok(())
    }

    /// Checks only the CSRF token (for logout, which any logged-in user may do).
    pub fn check_csrf(&self, token: &str) -> Result<(), UiError> {
        if self.session.is_none() || self.csrf.is_empty() || !same_secret(&self.csrf, token) {
            return Err(UiError::forbidden(
                "The form's security token is missing or stale: reload the page and try again.",
            ));
        }
        Ok(())
    }
}

/// The user of a request's session cookie, if it names a live session whose token is active.
pub async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<UiUser>, UiError> {
    let Some(id) = cookie(headers, COOKIE_NAME) else {
        return Ok(None);
    };
    let now = crate::now();
    let found = {
        let mut map = state.ui_sessions.lock();
        match map.get(id) {
            Some(s) if s.expires_at > now => Some((s.token_sha256.clone(), s.csrf.clone())),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    };
    let Some((sha256, csrf)) = found else {
        return Ok(None);
    };
    let record = state
        .store
        .token_by_hash(&sha256)
        .await
        .map_err(|e| UiError::internal(e.to_string()))?;
    let Some(record) = record.filter(|r| r.is_active() && crate::auth::allows(r.role, Scope::Read))
    else {
        state.ui_sessions.lock().remove(id);
        return Ok(None);
    };
    Ok(Some(UiUser {
        name: record.name,
        role: Some(record.role),
        can_write: crate::auth::allows(record.role, Scope::Respond),
        csrf,
        session: Some(id.to_string()),
    }))
}

impl FromRequestParts<Arc<AppState>> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<UiUser, Response> {
        match session_user(state, &parts.headers).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) if state.anonymous_read => Ok(UiUser::anonymous()),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/ui/", |p| p.as_str())
                    .to_string();
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", safe_next(&next))
                    .finish();
                Err(redirect(&format!("/ui/login?{query}")))
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; nines_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE_NAME), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert_eq!(safe_next("//evil.example"), "/ui/");
        assert_eq!(safe_next("https://evil.example"), "/ui/");
        assert_eq!(safe_next("/ui/alerts"), "/ui/alerts");
    }

    #[test]
    fn secure_behind_https() {
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&h));
        let c = cookie_header("x", 10, true).map(|v| v.to_str().map(str::to_string));
        assert!(matches!(c, Some(Ok(s)) if s.contains("Secure") && s.contains("HttpOnly")));
    }
}
