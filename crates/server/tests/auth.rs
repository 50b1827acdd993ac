//! Authentication: every route of the route table × {no token, ingest, viewer, responder, admin,
//! revoked}.

mod common;

use common::{client_with, now_rfc3339, TestServer};
use serde_json::json;
use server::routes::{Method, Route, ROUTES};
use server::Scope;

/// What a request to a route sends.
enum Body {
    None,
    Json(serde_json::Value),
    Ndjson(String),
    /// Snappy-compressed protobuf (remote-write).
    Snappy(Vec<u8>),
}

/// A request to `route` that succeeds when the caller is allowed: its concrete path and body,
/// and whether it must succeed (2xx). Routes without a known example still get the auth
/// checks, and allowed callers must at least reach the handler.
fn example(route: &Route) -> (String, Body, bool) {
    let t = now_rfc3339();
    let known = match (route.method, route.path) {
        (Method::Get, "/api/v1/slos/{service}/{slo}") => {
            Some(("/api/v1/slos/checkout/availability".to_string(), Body::None))
        }
        (Method::Get, "/api/v1/slos/{service}/{slo}/history") => Some((
            "/api/v1/slos/checkout/availability/history?step=3600".to_string(),
            Body::None,
        )),
        (Method::Get, "/api/v1/slos/{service}/{slo}/compare") => Some((
            "/api/v1/slos/checkout/availability/compare?at=2026-01-01T00:00:00Z&window=30m"
                .to_string(),
            Body::None,
        )),
        (Method::Get, "/api/v1/gate") => Some((
            "/api/v1/gate?slo=checkout/availability".to_string(),
            Body::None,
        )),
        (Method::Post, "/api/v1/events") => Some((
            route.path.to_string(),
            Body::Json(
                json!([{ "time": t, "slo": "checkout/availability", "good": 1, "total": 1 }]),
            ),
        )),
        (Method::Post, "/api/v1/logs") => Some((
            "/api/v1/logs?format=json&service=web".to_string(),
            Body::Ndjson(format!(
                "{{\"time\":\"{t}\",\"method\":\"GET\",\"path\":\"/\",\"status\":200}}\n"
            )),
        )),
        (Method::Post, "/api/v1/changes") => Some((
            route.path.to_string(),
            Body::Json(json!({ "service": "checkout", "version": "1.2.3" })),
        )),
        (Method::Post, "/api/v2/alerts") => Some((
            route.path.to_string(),
            Body::Json(json!([{ "labels": { "alertname": "AuthTest" } }])),
        )),
        (Method::Post, "/api/v2/silences") => Some((
            route.path.to_string(),
            Body::Json(json!({
                "matchers": [{ "name": "alertname", "value": "AuthTest", "isRegex": false }],
                "startsAt": t,
                "endsAt": "2999-01-01T00:00:00Z",
                "createdBy": "auth-test",
                "comment": "route x role",
            })),
        )),
        (_, path) if !path.contains('{') && route.method == Method::Get => {
            Some((path.to_string(), Body::None))
        }
        (Method::Post, "/-/reload") => Some((route.path.to_string(), Body::None)),
        // An empty WriteRequest: snappy's block format of zero bytes is one zero byte.
        (Method::Post, "/api/v1/write") => Some((route.path.to_string(), Body::Snappy(vec![0]))),
        // Empty OTLP/HTTP JSON exports.
        (Method::Post, "/v1/metrics" | "/v1/traces") => {
            Some((route.path.to_string(), Body::Json(json!({}))))
        }
        _ => None,
    };
    match known {
        Some((path, body)) => (path, body, true),
        None => (
            route.path.replace('{', "x").replace('}', ""),
            Body::None,
            false,
        ),
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    Role(store::TokenRole),
    Revoked,
}

#[tokio::test]
async fn every_route_by_every_role() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let tk = s.tokens.clone();
    let who = [
        (Who::Anonymous, None),
        (
            Who::Role(store::TokenRole::Ingest),
            Some(tk.ingest.as_str()),
        ),
        (
            Who::Role(store::TokenRole::Viewer),
            Some(tk.viewer.as_str()),
        ),
        (
            Who::Role(store::TokenRole::Responder),
            Some(tk.responder.as_str()),
        ),
        (Who::Role(store::TokenRole::Admin), Some(tk.admin.as_str())),
        (Who::Revoked, Some(tk.revoked.as_str())),
    ];
    let mut failures = Vec::new();
    for (who, token) in who {
        let client = client_with(token)?;
        for route in ROUTES {
            let (path, body, must_succeed) = example(route);
            let (method, scope) = (route.method, route.scope);
            let wire = reqwest::Method::from_bytes(method.as_str().as_bytes())?;
            let mut req = client.request(wire, s.url(&path));
            req = match body {
                Body::Json(b) => req.json(&b),
                Body::Ndjson(text) => req
                    .header("content-type", "application/x-ndjson")
                    .body(text),
                Body::Snappy(bytes) => req
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "snappy")
                    .header("x-prometheus-remote-write-version", "0.1.0")
                    .body(bytes),
                Body::None => req,
            };
            let r = req.send().await?;
            let status = r.status().as_u16();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let doc: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
            let code = doc["error"]["code"].as_str().unwrap_or("").to_string();
            // What should happen.
            let expected: Result<(), (u16, &str)> = match (scope, who) {
                (None, _) => Ok(()),
                (Some(Scope::Read), Who::Anonymous) => Ok(()), // loopback
                (Some(_), Who::Anonymous) => Err((401, "auth.missing_token")),
                (Some(_), Who::Revoked) => Err((401, "auth.invalid_token")),
                (Some(scope), Who::Role(role)) => {
                    if server::auth::allows(role, scope) {
                        Ok(())
                    } else {
                        Err((403, "auth.forbidden"))
                    }
                }
            };
            let ok = match expected {
                Ok(()) if must_succeed => (200..300).contains(&status),
                // Reached the handler: neither refused nor unrouted.
                Ok(()) => !matches!(status, 401 | 403 | 405 | 429) && code != "route.not_found",
                Err((want, want_code)) => {
                    status == want
                        && code == want_code
                        && (want != 401 || challenge.as_deref() == Some("Bearer"))
                }
            };
            if !ok {
                failures.push(format!(
                    "{who:?} {method} {path}: expected {expected:?}, got {status} {code} (www-authenticate {challenge:?})"
                ));
            }
        }
    }
    s.stop().await?;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[tokio::test]
async fn a_non_loopback_listener_refuses_anonymous_reads() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("nines.yaml");
    std::fs::write(&config_path, common::CONFIG)?;
    let s = TestServer::start_on("0.0.0.0:0", dir, config_path, |_| {}).await?;
    let r = s.anon.get(s.url("/api/v1/slos")).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let doc: serde_json::Value = r.json().await?;
    assert_eq!(doc["error"]["code"], "auth.missing_token");
    // Probes stay open; a viewer token reads.
    assert_eq!(
        s.anon
            .get(s.url("/healthz"))
            .send()
            .await?
            .status()
            .as_u16(),
        200
    );
    let viewer = client_with(Some(&s.tokens.viewer))?;
    assert_eq!(
        viewer
            .get(s.url("/api/v1/slos"))
            .send()
            .await?
            .status()
            .as_u16(),
        200
    );
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn malformed_or_unknown_tokens_are_refused_even_for_loopback_reads() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    for header in ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer not-a-real-token"] {
        let r = s
            .anon
            .get(s.url("/api/v1/slos"))
            .header("authorization", header)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 401, "{header}");
        let doc: serde_json::Value = r.json().await?;
        assert_eq!(doc["error"]["code"], "auth.invalid_token", "{header}");
    }
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn revocation_takes_effect_at_once() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let viewer = client_with(Some(&s.tokens.viewer))?;
    assert_eq!(
        viewer
            .get(s.url("/api/v1/slos"))
            .send()
            .await?
            .status()
            .as_u16(),
        200
    );
    let data = s.dir.path().join("data");
    let store = store::SqliteStore::open(&data.join("nines.db")).await?;
    store::Store::set_audit_key(&store, store::audit_key(&data)?);
    let sha = store::token_sha256(&s.tokens.viewer);
    let tokens = store::Store::list_tokens(&store).await?;
    let name = tokens
        .iter()
        .find(|t| t.sha256 == sha)
        .map(|t| t.name.clone())
        .ok_or_else(|| anyhow::anyhow!("no viewer token"))?;
    let audit = store::AuditEntry::new(server::now(), "test", "token.revoke", &name);
    assert!(store::Store::revoke_token(&store, &name, &audit).await?);
    store::Store::close(&store).await?;
    let r = viewer.get(s.url("/api/v1/slos")).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    s.stop().await?;
    Ok(())
}
