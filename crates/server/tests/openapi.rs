//! The OpenAPI document (`openapi.yaml`) against the route table and real answers: every route
//! is documented with its method and path parameters, every documented operation is a route,
//! routes that need a token document 401/403/429, and live answers have the documented shape.

mod common;

use common::TestServer;
use serde_json::Value;
use server::routes::{Method, ROUTES};
use std::collections::BTreeSet;

const METHODS: [Method; 5] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

fn document() -> anyhow::Result<Value> {
    let text = server::routes::openapi_json().map_err(anyhow::Error::msg)?;
    Ok(serde_json::from_str(text)?)
}

/// Follows a local `$ref` (`#/components/...`) until a value without one.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> anyhow::Result<&'a Value> {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| anyhow::anyhow!("non-local $ref {reference}"))?;
        value = doc
            .pointer(pointer)
            .ok_or_else(|| anyhow::anyhow!("dangling $ref {reference}"))?;
    }
    anyhow::bail!("$ref chain too long")
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_and_every_reference_resolves() -> anyhow::Result<()> {
    let text = server::routes::openapi_json().map_err(anyhow::Error::msg)?;
    let parsed: openapiv3::OpenAPI = serde_json::from_str(text)?;
    assert!(parsed.openapi.starts_with("3.0."), "{}", parsed.openapi);
    assert!(
        parsed
            .components
            .as_ref()
            .is_some_and(|c| c.security_schemes.contains_key("bearer")),
        "the bearer security scheme is missing"
    );
    let doc = document()?;
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    // Operation ids are unique.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if let Some(op) = item.get(m.openapi_key()) {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{m} {path} has no operationId");
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }
    Ok(())
}

#[test]
fn every_route_is_documented_and_every_operation_is_a_route() -> anyhow::Result<()> {
    let doc = document()?;
    let paths = doc["paths"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("no paths"))?;
    let table: BTreeSet<(String, &str)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for m in METHODS {
            if item.get(m.openapi_key()).is_some() {
                documented.insert((m.as_str().to_string(), path.as_str()));
            }
        }
    }
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations in openapi.yaml that are no route: {unrouted:?}"
    );

    // Path parameters: exactly the template's.
    for route in ROUTES {
        let op = &paths[route.path][route.method.openapi_key()];
        let mut declared = BTreeSet::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let p = resolve(&doc, p)?;
            if p["in"] == "path" {
                assert_eq!(
                    p["required"], true,
                    "{route:?}: path parameters are required"
                );
                declared.insert(p["name"].as_str().unwrap_or_default().to_string());
            }
        }
        let in_template: BTreeSet<String> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        assert_eq!(declared, in_template, "{route:?}: path parameters");
    }
    Ok(())
}

#[test]
fn routes_that_need_a_token_document_401_403_and_429() -> anyhow::Result<()> {
    let doc = document()?;
    let global_security = doc["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    assert!(
        global_security,
        "the document must require bearer by default"
    );
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method.openapi_key()];
        let responses = op["responses"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("{route:?} has no responses"))?;
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{route:?} documents no success"
        );
        let open = op["security"].as_array().is_some_and(Vec::is_empty);
        match route.scope {
            Some(scope) => {
                assert!(
                    !open,
                    "{route:?} needs a token ({scope:?}) but is documented open"
                );
                for code in ["401", "403", "429"] {
                    assert!(
                        responses.contains_key(code),
                        "{route:?} ({scope:?}) does not document {code}"
                    );
                }
                let rate_limited = resolve(&doc, &responses["429"])?;
                assert!(
                    rate_limited["headers"].get("Retry-After").is_some(),
                    "{route:?}: 429 without Retry-After"
                );
            }
            None => {
                assert!(open, "{route:?} is open but documented as needing a token");
                for code in ["401", "403", "429"] {
                    assert!(
                        !responses.contains_key(code),
                        "{route:?} is open yet documents {code}"
                    );
                }
            }
        }
        // Every error answer has a body schema.
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                let response = resolve(&doc, response)?;
                assert!(
                    response["content"]
                        .as_object()
                        .is_some_and(|c| !c.is_empty()),
                    "{route:?} {code}: no content"
                );
            }
        }
    }
    Ok(())
}

/// Checks `value` against the subset of JSON Schema the document uses; returns what differs.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = match resolve(doc, schema) {
        Ok(s) => s,
        Err(e) => return errors.push(format!("{at}: {e}")),
    };
    if value.is_null() {
        if schema["nullable"] != true && schema.get("type").is_some() {
            errors.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(doc, s, value, at, errors);
        }
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let matching = one
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                check(doc, s, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching == 0 {
            errors.push(format!("{at}: matches none of oneOf"));
        }
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => {
            errors.push(format!("{at}: unknown schema type {other}"));
            true
        }
    };
    if !type_ok {
        errors.push(format!("{at}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(map) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str() {
                if !map.contains_key(name) {
                    errors.push(format!("{at}: missing required `{name}`"));
                }
            }
        }
        let properties = schema["properties"].as_object();
        for (k, v) in map {
            match properties.and_then(|p| p.get(k)) {
                Some(s) => check(doc, s, v, &format!("{at}.{k}"), errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{at}: unexpected `{k}`")),
                    s @ Value::Object(_) => check(doc, s, v, &format!("{at}.{k}"), errors),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(doc, schema, v, &format!("{at}[{i}]"), errors);
        }
    }
}

#[test]
fn the_shape_check_finds_mismatches() -> anyhow::Result<()> {
    let doc = document()?;
    let schema = response_schema(&doc, Method::Get, "/api/v1/gate", 200)?;
    let good = serde_json::json!({
        "slo": "a/b", "allowed": true, "status": "ok", "budget_remaining": 1.0,
        "sli": null, "reason": "fine", "at": "2026-01-01T00:00:00Z"
    });
    let mut errors = Vec::new();
    check(&doc, schema, &good, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let mut bad = good.clone();
    bad["allowed"] = serde_json::json!("yes");
    bad["status"] = serde_json::json!("fine");
    if let Some(map) = bad.as_object_mut() {
        map.remove("reason");
    }
    check(&doc, schema, &bad, "$", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:?}");
    let error = response_schema(&doc, Method::Get, "/api/v1/gate", 400)?;
    let mut errors = Vec::new();
    check(
        &doc,
        error,
        &serde_json::json!({ "code": "x.y" }),
        "$",
        &mut errors,
    );
    assert!(
        !errors.is_empty(),
        "an error without the envelope must not pass"
    );
    Ok(())
}

/// The JSON schema of `status` for `method path` in the document.
fn response_schema<'a>(
    doc: &'a Value,
    method: Method,
    path: &str,
    status: u16,
) -> anyhow::Result<&'a Value> {
    let op = &doc["paths"][path][method.openapi_key()];
    let response = op["responses"]
        .get(status.to_string())
        .ok_or_else(|| anyhow::anyhow!("{method} {path} does not document {status}"))?;
    let response = resolve(doc, response)?;
    response["content"]["application/json"]
        .get("schema")
        .ok_or_else(|| anyhow::anyhow!("{method} {path} {status}: no JSON schema"))
}

async fn assert_documented(
    doc: &Value,
    method: Method,
    template: &str,
    response: reqwest::Response,
    expected_status: u16,
) -> anyhow::Result<Value> {
    let status = response.status().as_u16();
    assert_eq!(status, expected_status, "{method} {template}");
    let body: Value = response.json().await?;
    let schema = response_schema(doc, method, template, status)?;
    let mut errors = Vec::new();
    check(doc, schema, &body, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: {}\n{body}",
        errors.join("\n")
    );
    Ok(body)
}

#[tokio::test]
async fn live_answers_have_the_documented_shape() -> anyhow::Result<()> {
    let s = TestServer::start().await?;
    let doc = document()?;

    // The document itself is open and is what the table was checked against.
    let served: Value = s
        .anon
        .get(s.url("/api/openapi.json"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(served, doc);

    let t = server::format_time(server::now());
    let (status, _) = s
        .post_json(
            "/api/v1/events",
            &serde_json::json!([{ "time": t, "slo": "checkout/availability", "good": 9, "total": 10 }]),
        )
        .await?;
    assert_eq!(status, 200);

    let r = s.client.get(s.url("/api/v1/slos")).send().await?;
    let body = assert_documented(&doc, Method::Get, "/api/v1/slos", r, 200).await?;
    assert!(body["slos"].as_array().is_some_and(|a| !a.is_empty()));

    let r = s
        .client
        .get(s.url("/api/v1/slos/checkout/availability"))
        .send()
        .await?;
    assert_documented(&doc, Method::Get, "/api/v1/slos/{service}/{slo}", r, 200).await?;

    let r = s
        .client
        .get(s.url("/api/v1/gate?slo=checkout/availability"))
        .send()
        .await?;
    assert_documented(&doc, Method::Get, "/api/v1/gate", r, 200).await?;

    let r = s.client.get(s.url("/api/v1/alerts")).send().await?;
    assert_documented(&doc, Method::Get, "/api/v1/alerts", r, 200).await?;

    // Errors.
    let r = s
        .client
        .get(s.url("/api/v1/slos/nope/nothing"))
        .send()
        .await?;
    let body = assert_documented(&doc, Method::Get, "/api/v1/slos/{service}/{slo}", r, 404).await?;
    assert_eq!(body["error"]["code"], "slo.not_found");

    let r = s.client.get(s.url("/api/v1/gate")).send().await?;
    let body = assert_documented(&doc, Method::Get, "/api/v1/gate", r, 400).await?;
    assert_eq!(body["error"]["code"], "gate.missing_slo");

    let r = s
        .anon
        .post(s.url("/api/v1/changes"))
        .json(&serde_json::json!({ "service": "checkout" }))
        .send()
        .await?;
    let body = assert_documented(&doc, Method::Post, "/api/v1/changes", r, 401).await?;
    assert_eq!(body["error"]["code"], "auth.missing_token");

    let viewer = common::client_with(Some(&s.tokens.viewer))?;
    let r = viewer.post(s.url("/-/reload")).send().await?;
    let body = assert_documented(&doc, Method::Post, "/-/reload", r, 403).await?;
    assert_eq!(body["error"]["code"], "auth.forbidden");

    let r = s
        .client
        .post(s.url("/api/v1/changes"))
        .json(&serde_json::json!({ "service": "checkout", "version": "1.2.3" }))
        .send()
        .await?;
    assert_documented(&doc, Method::Post, "/api/v1/changes", r, 201).await?;

    let r = s
        .client
        .post(s.url("/api/v1/changes"))
        .header("content-type", "text/plain")
        .body("service=checkout")
        .send()
        .await?;
    assert_documented(&doc, Method::Post, "/api/v1/changes", r, 415).await?;

    // The Alertmanager API and the notification history.
    let r = s
        .client
        .post(s.url("/api/v2/alerts"))
        .json(&serde_json::json!([{ "labels": { "alertname": "Shape", "severity": "page" } }]))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = s.client.get(s.url("/api/v2/alerts")).send().await?;
    let alerts = assert_documented(&doc, Method::Get, "/api/v2/alerts", r, 200).await?;
    let fp = alerts[0]["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = s
        .client
        .post(s.url(&format!("/api/v1/alerts/{fp}/ack")))
        .json(&serde_json::json!({ "comment": "shape" }))
        .send()
        .await?;
    assert_documented(
        &doc,
        Method::Post,
        "/api/v1/alerts/{fingerprint}/ack",
        r,
        200,
    )
    .await?;
    let r = s.client.get(s.url("/api/v2/alerts")).send().await?;
    let acked = assert_documented(&doc, Method::Get, "/api/v2/alerts", r, 200).await?;
    assert_eq!(acked[0]["ack"]["comment"], "shape");
    let r = s.client.get(s.url("/api/v2/alerts/groups")).send().await?;
    assert_documented(&doc, Method::Get, "/api/v2/alerts/groups", r, 200).await?;
    let t_end = server::format_time(server::now() + 3600);
    let r = s
        .client
        .post(s.url("/api/v2/silences"))
        .json(&serde_json::json!({
            "matchers": [{ "name": "alertname", "value": "Shape", "isRegex": false, "isEqual": true }],
            "startsAt": t, "endsAt": t_end, "createdBy": "openapi", "comment": "shape",
        }))
        .send()
        .await?;
    let created = assert_documented(&doc, Method::Post, "/api/v2/silences", r, 200).await?;
    let id = created["silenceID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = s.client.get(s.url("/api/v2/silences")).send().await?;
    assert_documented(&doc, Method::Get, "/api/v2/silences", r, 200).await?;
    let r = s
        .client
        .get(s.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await?;
    assert_documented(&doc, Method::Get, "/api/v2/silence/{id}", r, 200).await?;
    let r = s.client.get(s.url("/api/v2/silence/nope")).send().await?;
    let body = assert_documented(&doc, Method::Get, "/api/v2/silence/{id}", r, 404).await?;
    assert_eq!(body["error"]["code"], "silences.not_found");
    for route in [
        "/api/v2/status",
        "/api/v2/receivers",
        "/api/v1/notifications",
    ] {
        let r = s.client.get(s.url(route)).send().await?;
        assert_documented(&doc, Method::Get, route, r, 200).await?;
    }

    s.stop().await?;
    Ok(())
}
