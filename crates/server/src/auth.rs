//! API tokens: `Authorization: Bearer <secret>`, looked up by its SHA-256 in the store on every
//! request (no cache, so a revoked token is refused at once).
//!
//! | role | scopes |
//! |---|---|
//! | `ingest` | [`Scope::Ingest`] (telemetry only) |
//! | `viewer` | [`Scope::Read`] |
//! | `responder` | [`Scope::Read`], [`Scope::Respond`] (changes; later alerts, silences, incidents) |
//! | `admin` | everything, [`Scope::Admin`] included |
//!
//! No token: reads are allowed only when the listener is on loopback; writes never. A missing
//! token is 401 `auth.missing_token`, an unknown or revoked one 401 `auth.invalid_token` (both
//! with `WWW-Authenticate: Bearer`), a token whose role lacks the scope 403 `auth.forbidden`.

use crate::{ApiError, Scope};
use axum::http::{HeaderMap, StatusCode};
use store::{Store, TokenRole};

/// Who made a request (handlers read it from the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, or `"anonymous"`.
    pub name: String,
    /// None for anonymous requests.
    pub role: Option<TokenRole>,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            role: None,
        }
    }
}

/// Whether `role` may use routes of `scope`.
pub fn allows(role: TokenRole, scope: Scope) -> bool {
    match role {
        TokenRole::Admin => true,
        TokenRole::Responder => matches!(scope, Scope::Read | Scope::Respond),
        TokenRole::Viewer => scope == Scope::Read,
        TokenRole::Ingest => scope == Scope::Ingest,
    }
}

pub(crate) fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The bearer secret of `headers`: `Ok(None)` when there is no `Authorization` header, `Err`
/// when there is one that is not a bearer token.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || {
        unauthorized(
            "auth.invalid_token",
            "the Authorization header must be `Bearer <token>`",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let (scheme, secret) = text.split_once(' ').ok_or_else(invalid)?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || secret.is_empty() {
        return Err(invalid());
    }
    Ok(Some(secret))
}

/// The default authorizer: store-backed tokens, anonymous reads on loopback only.
pub struct StoreTokens;

impl crate::Authorizer for StoreTokens {
    fn authorize<'a>(
        &'a self,
        scope: Scope,
        headers: &'a HeaderMap,
        store: &'a dyn Store,
        anonymous_read: bool,
    ) -> crate::AuthFuture<'a> {
        Box::pin(check(scope, headers, store, anonymous_read))
    }
}

async fn check(
    scope: Scope,
    headers: &HeaderMap,
    store: &dyn Store,
    anonymous_read: bool,
) -> Result<Principal, ApiError> {
    let Some(secret) = bearer(headers)? else {
        if scope == Scope::Read && anonymous_read {
            return Ok(Principal::anonymous());
        }
        return Err(unauthorized(
            "auth.missing_token",
            "this route needs `Authorization: Bearer <token>`",
        ));
    };
    let record = store
        .token_by_hash(&store::token_sha256(secret))
        .await
        .map_err(ApiError::from)?
        .filter(store::TokenRecord::is_active)
        .ok_or_else(|| unauthorized("auth.invalid_token", "the token is unknown or revoked"))?;
    if !allows(record.role, scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            format!(
                "the {} token {:?} may not use this route",
                record.role, record.name
            ),
        ));
    }
    Ok(Principal {
        name: record.name,
        role: Some(record.role),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_scopes() {
        use Scope::*;
        let all = [Read, Ingest, Respond, Admin];
        let expect = |role, ok: &[Scope]| {
            for s in all {
                assert_eq!(allows(role, s), ok.contains(&s), "{role} {s:?}");
            }
        };
        expect(TokenRole::Ingest, &[Ingest]);
        expect(TokenRole::Viewer, &[Read]);
        expect(TokenRole::Responder, &[Read, Respond]);
        expect(TokenRole::Admin, &all);
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(matches!(bearer(&h), Ok(None)));
        h.insert(
            "authorization",
            axum::http::HeaderValue::from_static("Bearer abc"),
        );
        assert!(matches!(bearer(&h), Ok(Some("abc"))));
        h.insert(
            "authorization",
            axum::http::HeaderValue::from_static("Basic abc"),
        );
        assert!(bearer(&h).is_err());
        h.insert(
            "authorization",
            axum::http::HeaderValue::from_static("Bearer "),
        );
        assert!(bearer(&h).is_err());
    }
}
