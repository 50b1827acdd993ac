//! The router, built from the route table ([`crate::routes`]), and its middleware: request
//! metrics, timeouts, panics as JSON 500s, body limits, and per route scope the authorizer
//! and the caller's rate limit ([`crate::ratelimit`]).

use crate::ratelimit::{Caller, Class, RateLimiter, Refused};
use crate::routes::{BodyLimit, Route, ROUTES};
use crate::state::AppState;
use crate::{ApiError, Scope};
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// The router: every route of [`ROUTES`] with its body limit and, unless it is open, the
/// authorizer for its scope.
pub fn router(state: Arc<AppState>) -> Router {
    let limiter = Arc::new(RateLimiter::new(
        state.settings.rate_limit,
        state.settings.ingest_rate_limit,
    ));
    let mut app = Router::new();
    for route in ROUTES {
        app = app.route(route.path, method_router(&state, &limiter, route));
    }
    app = app.merge(crate::ui::router()); // the web UI: HTML pages, outside the API route table
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

fn method_router(
    state: &Arc<AppState>,
    limiter: &Arc<RateLimiter>,
    route: &Route,
) -> MethodRouter<Arc<AppState>> {
    let mut handler = (route.handler)(route.method.filter());
    handler = match route.body {
        BodyLimit::None => handler,
        BodyLimit::Json => handler.layer(DefaultBodyLimit::max(state.settings.max_json_body)),
        BodyLimit::Log => handler.layer(DefaultBodyLimit::max(state.settings.max_log_body)),
    };
    match route.scope {
        None => handler,
        Some(scope) => handler.route_layer(middleware::from_fn_with_state(
            Guard {
                state: state.clone(),
                scope,
                limiter: limiter.clone(),
            },
            guard,
        )),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("route.not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "the route does not take this method",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("internal.panic", "the request failed unexpectedly").into_response()
}

/// Counts and times every request by its route template.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    if let Some(info) = response.extensions().get::<crate::error::ErrorInfo>() {
        state.request_log.log(
            &method,
            &route,
            response.status().as_u16(),
            info.code,
            &info.message,
        );
    }
    let metrics = &state.metrics;
    metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16().to_string(),
        })
        .inc();
    metrics
        .http_duration
        .get_or_create(&crate::metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn timeout(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limit = state.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "request.timeout",
            format!("the request took longer than {} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// What the guard of a route that needs a token holds.
#[derive(Clone)]
struct Guard {
    state: Arc<AppState>,
    scope: Scope,
    limiter: Arc<RateLimiter>,
}

/// Authorizes a request for its route's scope, then takes it from the caller's rate limit:
/// the token's bucket, or the client address's when there is no valid token.
async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let Guard {
        state,
        scope,
        limiter,
    } = guard;
    let verdict = state
        .settings
        .authorizer
        .authorize(
            scope,
            request.headers(),
            state.store.as_ref(),
            state.anonymous_read,
        )
        .await;
    let caller = match &verdict {
        Ok(principal) if principal.role.is_some() => Caller::Token(principal.name.clone()),
        _ => Caller::Address(
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()),
        ),
    };
    let class = match scope {
        Scope::Ingest => Class::Ingest,
        Scope::Read | Scope::Respond | Scope::Admin => Class::Api,
    };
    if let Err(refused) = limiter.check(class, &caller, Instant::now()) {
        return rate_limited(&state, class, &caller, refused);
    }
    match verdict {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => {
            let challenge = e.status == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response();
            if challenge {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

/// 429 `request.rate_limited` with `Retry-After`, counted in `/metrics`.
fn rate_limited(state: &AppState, class: Class, caller: &Caller, refused: Refused) -> Response {
    let class_name = match class {
        Class::Api => "api",
        Class::Ingest => "ingest",
    };
    state
        .metrics
        .rate_limited
        .get_or_create(&crate::metrics::ClassLabels {
            class: class_name.to_string(),
        })
        .inc();
    let seconds = refused.retry_after_seconds;
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "request.rate_limited",
        format!(
            "{caller} is over its {class_name} rate limit ({}): retry in {seconds} s",
            refused.limit
        ),
    )
    .with_details(serde_json::json!({ "retry_after_seconds": seconds }))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
