//! The route table: every route of the server once, with its method, path template, scope and
//! body limit. `http::router` builds the router from it, the route × role test walks
//! it, and the OpenAPI sync test checks `openapi.yaml` against it, so a route cannot be added
//! without being authorized, tested and documented.

use crate::state::AppState;
use crate::{
    alertmanager_api, api, compare_api, incidents_api, ingest_api, postmortems_api, telemetry_api,
    toil_api, Scope,
};
use axum::routing::{on, MethodFilter, MethodRouter};
use std::sync::{Arc, OnceLock};

/// An HTTP method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Upper case, as on the wire (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Lower case, as the key of an OpenAPI path item (`get`).
    pub fn openapi_key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    pub(crate) fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest request body a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// No body expected: axum's default limit applies.
    None,
    /// [`crate::Settings::max_json_body`].
    Json,
    /// [`crate::Settings::max_log_body`].
    Log,
}

/// One route.
pub struct Route {
    pub method: Method,
    /// The axum path template (`/api/v1/slos/{service}/{slo}`), which is also the OpenAPI one.
    pub path: &'static str,
    /// `None` for the open routes (probes, scrapers, the API description): no token, no rate
    /// limit.
    pub scope: Option<Scope>,
    pub body: BodyLimit,
    /// Builds the method router for `method`'s filter.
    pub(crate) handler: fn(MethodFilter) -> MethodRouter<Arc<AppState>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("scope", &self.scope)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// Every route of the server.
pub static ROUTES: &[Route] = &[
    // Open: probes, scrapers and the API description.
    Route {
        method: Method::Get,
        path: "/healthz",
        scope: None,
        body: BodyLimit::None,
        handler: |m| on(m, api::healthz),
    },
    Route {
        method: Method::Get,
        path: "/readyz",
        scope: None,
        body: BodyLimit::None,
        handler: |m| on(m, api::readyz),
    },
    Route {
        method: Method::Get,
        path: "/metrics",
        scope: None,
        body: BodyLimit::None,
        handler: |m| on(m, api::metrics),
    },
    Route {
        method: Method::Get,
        path: "/api/openapi.json",
        scope: None,
        body: BodyLimit::None,
        handler: |m| on(m, api::openapi),
    },
    // Read.
    Route {
        method: Method::Get,
        path: "/api/v1/slos",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::list_slos),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/slos/{service}/{slo}",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::get_slo),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/slos/{service}/{slo}/history",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::history),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/slos/{service}/{slo}/compare",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, compare_api::compare),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/alerts",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::alerts),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/gate",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::gate),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/changes",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, api::list_changes),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/alerts",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_alerts),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/alerts/groups",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_alert_groups),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/silences",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_silences),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/silence/{id}",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_silence),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/receivers",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_receivers),
    },
    Route {
        method: Method::Get,
        path: "/api/v2/status",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_status),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/notifications",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::get_notifications),
    },
    // Respond: alert actions.
    Route {
        method: Method::Post,
        path: "/api/v2/silences",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, alertmanager_api::post_silence),
    },
    Route {
        method: Method::Delete,
        path: "/api/v2/silence/{id}",
        scope: Some(Scope::Respond),
        body: BodyLimit::None,
        handler: |m| on(m, alertmanager_api::delete_silence),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/alerts/{fingerprint}/ack",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, alertmanager_api::post_ack),
    },
    // Incidents, postmortems, toil.
    Route {
        method: Method::Get,
        path: "/api/v1/incidents",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, incidents_api::list_incidents),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/incidents/metrics",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, incidents_api::get_metrics),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/incidents/{id}",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, incidents_api::get_incident),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/incidents/{id}/document",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, incidents_api::get_document),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/incidents/{id}/timeline",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, incidents_api::get_timeline),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/postmortems",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, postmortems_api::list_postmortems),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/postmortems/overdue",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, postmortems_api::get_overdue),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/postmortems/aggregates",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, postmortems_api::get_aggregates),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/postmortems/{id}",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, postmortems_api::get_postmortem),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/postmortems/{id}/markdown",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, postmortems_api::get_markdown),
    },
    Route {
        method: Method::Get,
        path: "/api/v1/toil/report",
        scope: Some(Scope::Read),
        body: BodyLimit::None,
        handler: |m| on(m, toil_api::get_report),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/incidents",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::post_incident),
    },
    Route {
        method: Method::Patch,
        path: "/api/v1/incidents/{id}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::patch_incident),
    },
    Route {
        method: Method::Put,
        path: "/api/v1/incidents/{id}/roles/{role}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::put_role),
    },
    Route {
        method: Method::Put,
        path: "/api/v1/incidents/{id}/document/{section}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::put_section),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/incidents/{id}/timeline",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::post_timeline),
    },
    Route {
        method: Method::Put,
        path: "/api/v1/incidents/{id}/timeline/{entry}/pin",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, incidents_api::pin_timeline),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/incidents/{id}/postmortem",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, postmortems_api::post_postmortem),
    },
    Route {
        method: Method::Patch,
        path: "/api/v1/postmortems/{id}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, postmortems_api::patch_postmortem),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/postmortems/{id}/action-items",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, postmortems_api::post_action_item),
    },
    Route {
        method: Method::Patch,
        path: "/api/v1/postmortems/{id}/action-items/{item}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, postmortems_api::patch_action_item),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/postmortems/{id}/review",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, postmortems_api::post_review),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/toil",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, toil_api::post_toil),
    },
    Route {
        method: Method::Put,
        path: "/api/v1/toil/teams/{team}",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, toil_api::put_team),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/toil/automations",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, toil_api::post_automation),
    },
    // Ingest.
    Route {
        method: Method::Post,
        path: "/api/v2/alerts",
        scope: Some(Scope::Ingest),
        body: BodyLimit::Json,
        handler: |m| on(m, alertmanager_api::post_alerts),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/events",
        scope: Some(Scope::Ingest),
        body: BodyLimit::Json,
        handler: |m| on(m, ingest_api::post_events),
    },
    Route {
        method: Method::Post,
        path: "/api/v1/logs",
        scope: Some(Scope::Ingest),
        body: BodyLimit::Log,
        handler: |m| on(m, ingest_api::post_logs),
    },
    // Telemetry (remote-write, OTLP/HTTP): the handlers read and limit their bodies
    // themselves (`Settings::max_remote_write_body`, after decompression).
    Route {
        method: Method::Post,
        path: "/api/v1/write",
        scope: Some(Scope::Ingest),
        body: BodyLimit::None,
        handler: |m| on(m, telemetry_api::post_write),
    },
    Route {
        method: Method::Post,
        path: "/v1/metrics",
        scope: Some(Scope::Ingest),
        body: BodyLimit::None,
        handler: |m| on(m, telemetry_api::post_metrics),
    },
    Route {
        method: Method::Post,
        path: "/v1/traces",
        scope: Some(Scope::Ingest),
        body: BodyLimit::None,
        handler: |m| on(m, telemetry_api::post_traces),
    },
    // Respond.
    Route {
        method: Method::Post,
        path: "/api/v1/changes",
        scope: Some(Scope::Respond),
        body: BodyLimit::Json,
        handler: |m| on(m, api::post_change),
    },
    // Admin.
    Route {
        method: Method::Post,
        path: "/-/reload",
        scope: Some(Scope::Admin),
        body: BodyLimit::None,
        handler: |m| on(m, api::reload),
    },
];

/// The API description as written (OpenAPI 3.0, YAML).
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// The API description as JSON text, converted from [`OPENAPI_YAML`] once. An error names
/// what is wrong with the embedded YAML (the OpenAPI test keeps it from happening).
pub fn openapi_json() -> Result<&'static str, &'static str> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| {
        let doc: serde_json::Value = serde_saphyr::from_str(OPENAPI_YAML)
            .map_err(|e| format!("openapi.yaml does not parse: {e}"))?;
        serde_json::to_string(&doc).map_err(|e| format!("openapi.yaml as JSON: {e}"))
    })
    .as_deref()
    .map_err(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn routes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for r in ROUTES {
            assert!(r.path.starts_with('/'), "{r:?}");
            assert!(seen.insert((r.method, r.path)), "duplicate route {r:?}");
        }
    }
}
