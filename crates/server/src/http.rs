//! The router and its middleware: request metrics, timeouts, panics as JSON 500s, body limits,
//! and the authorizer hook per route scope.

use crate::state::AppState;
use crate::{api, ingest_api, ApiError, Scope};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

pub fn router(state: Arc<AppState>) -> Router {
    let json_limit = DefaultBodyLimit::max(state.settings.max_json_body);
    let log_limit = DefaultBodyLimit::max(state.settings.max_log_body);

    let read = Router::new()
        .route("/api/v1/slos", get(api::list_slos))
        .route("/api/v1/slos/{service}/{slo}", get(api::get_slo))
        .route("/api/v1/slos/{service}/{slo}/history", get(api::history))
        .route("/api/v1/alerts", get(api::alerts))
        .route("/api/v1/gate", get(api::gate))
        .route("/api/v1/changes", get(api::list_changes))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    let ingest = Router::new()
        .route(
            "/api/v1/events",
            post(ingest_api::post_events).layer(json_limit),
        )
        .route("/api/v1/logs", post(ingest_api::post_logs).layer(log_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));
    let respond = Router::new()
        .route("/api/v1/changes", post(api::post_change).layer(json_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_respond,
        ));
    let admin = Router::new()
        .route("/-/reload", post(api::reload))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let open = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics));

    Router::new()
        .merge(read)
        .merge(ingest)
        .merge(respond)
        .merge(admin)
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
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

async fn require_read(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Read, request, next).await
}

async fn require_ingest(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Ingest, request, next).await
}

async fn require_respond(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Respond, request, next).await
}

async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Admin, request, next).await
}
