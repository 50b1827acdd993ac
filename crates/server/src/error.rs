//! Errors: [`Error`] for the composition root, [`ApiError`] for everything that crosses the
//! HTTP API as `{"error": {"code": "stable.code", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Failures of the server as a whole (start-up, shutdown).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the configuration is invalid:\n{}", join_diagnostics(.0))]
    Config(Vec<spec::Diagnostic>),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
    #[error("evaluating {slo}: {source}")]
    Evaluate {
        slo: String,
        #[source]
        source: slo::Error,
    },
    #[error("reading {slo} from prometheus: {message}")]
    Prometheus { slo: String, message: String },
}

fn join_diagnostics(diags: &[spec::Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Attached to every error response, so the request log can say which error it was.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

/// An error answer of the API. `code` is part of the interface: clients match on it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra structured detail (e.g. the diagnostics of a rejected config).
    pub details: Option<serde_json::Value>,
    /// Seconds for the `Retry-After` header (429, 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds `Retry-After: seconds` (at least 1).
    pub fn with_retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn internal(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let (Some(details), Some(map)) = (&self.details, error.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        serde_json::json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        // For the request log (see `http::observe`): which error, without parsing the body.
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message.clone(),
        });
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "request.body_too_large",
                "the request body is larger than the configured limit",
            )
        } else {
            ApiError::new(status, "request.body_unreadable", rejection.body_text())
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request("request.bad_query", rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::bad_request("request.bad_path", rejection.body_text())
    }
}

/// Seconds a client should wait after the disk filled up (space rarely returns at once).
pub const DISK_FULL_RETRY_SECONDS: u32 = 30;

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> ApiError {
        let status = match err {
            store::StoreError::InvalidInput { .. }
            | store::StoreError::InvalidDelta { .. }
            | store::StoreError::CounterOverflow { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            store::StoreError::DuplicateRequest { .. } => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry = match err {
            store::StoreError::DiskFull { .. } => Some(DISK_FULL_RETRY_SECONDS),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        let api = ApiError::new(status, err.code(), err.to_string());
        match retry {
            Some(seconds) => api.with_retry_after(seconds),
            None => api,
        }
    }
}
