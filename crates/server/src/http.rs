//! The router, built from the route table ([`crate::routes`]), and its middleware: request
//! metrics, timeouts, panics as JSON 500s, body limits, and the authorizer per route scope.

use crate::routes::{BodyLimit, Route, ROUTES};
use crate::state::AppState;
use crate::{ApiError, Scope};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

/// The router: every route of [`ROUTES`] with its body limit and, unless it is open, the
/// authorizer for its scope.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new();
    for route in ROUTES {
        app = app.route(route.path, method_router(&state, route));
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

fn method_router(state: &Arc<AppState>, route: &Route) -> MethodRouter<Arc<AppState>> {
    let mut handler = (route.handler)(route.method.filter());
    handler = match route.body {
        BodyLimit::None => handler,
        BodyLimit::Json => handler.layer(DefaultBodyLimit::max(state.settings.max_json_body)),
        BodyLimit::Log => handler.layer(DefaultBodyLimit::max(state.settings.max_log_body)),
    };
    match route.scope {
        None => handler,
        Some(scope) => handler.route_layer(middleware::from_fn_with_state(
            (state.clone(), scope),
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

async fn authorize(state: &AppState, scope: Scope, mut request: Request, next: Next) -> Response {
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
    match verdict {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => {
            let challenge = e.status == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response();
            if challenge {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// Authorizes a request for its route's scope.
async fn guard(
    State((state, scope)): State<(Arc<AppState>, Scope)>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, scope, request, next).await
}
