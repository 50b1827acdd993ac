//! `/ui/alerts`: alerts, silences, acknowledgements and notification history.

use crate::state::AppState;
use axum::Router;
use std::sync::Arc;

pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
}
