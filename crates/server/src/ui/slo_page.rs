//! `/ui/slos/{service}/{slo}`: one SLO over time.

use crate::state::AppState;
use axum::Router;
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
}
