//! The web UI against a real server: login and sessions, CSRF, roles, every page's HTML.

mod common;

use common::TestServer;
use reqwest::StatusCode;

/// A test server that persists control-plane writes (with an audit key), as a real one does.
async fn start() -> anyhow::Result<TestServer> {
    TestServer::start_with(common::CONFIG, |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await
}

/// A browser without JavaScript: keeps the session cookie, follows no redirects.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    content_type: String,
    body: String,
}

impl Browser {
    fn new(server: &TestServer) -> anyhow::Result<Browser> {
        Ok(Browser {
            base: server.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            cookie: None,
        })
    }

    async fn page(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Page> {
        let request = match &self.cookie {
            Some(c) => request.header("cookie", format!("nines_session={c}")),
            None => request,
        };
        let r = request.send().await?;
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let set_cookie = header("set-cookie");
        if let Some(sc) = &set_cookie {
            let value = sc
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            self.cookie = (!value.is_empty()).then_some(value);
        }
        Ok(Page {
            status: r.status(),
            location: header("location"),
            content_type: header("content-type").unwrap_or_default(),
            set_cookie,
            body: r.text().await?,
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Page> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.page(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let body: String = form_encode(form);
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.page(request).await
    }

    async fn login(&mut self, token: &str) -> anyhow::Result<Page> {
        self.post("/ui/login", &[("token", token), ("next", "/ui/")])
            .await
    }

    /// The CSRF token of the current page's forms.
    async fn csrf(&mut self) -> anyhow::Result<String> {
        let page = self.get("/ui/").await?;
        field_value(&page.body, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field"))
    }
}

fn form_encode(form: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in form.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of the first `<input name="{name}" value="...">`.
fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

fn assert_html_page(page: &Page, what: &str) {
    assert_eq!(page.status, StatusCode::OK, "{what}: {}", page.body);
    assert!(
        page.content_type.starts_with("text/html"),
        "{what}: {}",
        page.content_type
    );
    assert!(page.body.starts_with("<!DOCTYPE html>"), "{what}");
    assert!(
        page.body.contains("<nav aria-label=\"Main\">"),
        "{what}: no nav"
    );
    for label in [
        "Overview",
        "Alerts",
        "Incidents",
        "Postmortems",
        "Toil",
        "Backtest",
    ] {
        assert!(
            page.body.contains(&format!(">{label}</a>")),
            "{what}: nav lacks {label}"
        );
    }
    assert!(page.body.contains("href=\"#main\""), "{what}: no skip link");
    assert!(
        !page.body.contains("{{") && !page.body.contains("{%"),
        "{what}: template residue"
    );
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_it() -> anyhow::Result<()> {
    let server = start().await?;
    let mut b = Browser::new(&server)?;

    let form = b.get("/ui/login").await?;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<label for=\"token\">API token</label>"));

    let bad = b.login("not-a-token").await?;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.set_cookie.is_none());
    assert!(bad.body.contains("unknown or revoked"));
    let revoked = b.login(&server.tokens.revoked).await?;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    let ingest = b.login(&server.tokens.ingest).await?;
    assert_eq!(ingest.status, StatusCode::FORBIDDEN);
    assert!(ingest.set_cookie.is_none());

    let good = b.login(&server.tokens.viewer).await?;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(good.location.as_deref(), Some("/ui/"));
    let cookie = good.set_cookie.unwrap_or_default();
    assert!(cookie.starts_with("nines_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/ui"), "{cookie}");
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let home = b.get("/ui/").await?;
    assert_html_page(&home, "overview as viewer");
    assert!(home.body.contains("(viewer)"));

    // Logout needs the CSRF token too.
    let csrf = b.csrf().await?;
    let refused = b.post("/ui/logout", &[("csrf", "wrong")]).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = b.post("/ui/logout", &[("csrf", &csrf)]).await?;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.set_cookie.is_some_and(|c| c.contains("Max-Age=0")));

    // A form posted from another site is refused, even with a good token.
    let foreign = b
        .page(
            b.client
                .post(format!("{}/ui/login", b.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://evil.example")
                .body(form_encode(&[("token", &server.tokens.viewer)])),
        )
        .await?;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(foreign.set_cookie.is_none());
    let same = b
        .page(
            b.client
                .post(format!("{}/ui/login", b.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", b.base.clone())
                .body(form_encode(&[("token", &server.tokens.viewer)])),
        )
        .await?;
    assert_eq!(same.status, StatusCode::SEE_OTHER);
    let csp = b
        .client
        .get(format!("{}/ui/login", b.base))
        .send()
        .await?
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );

    // Behind an https proxy the cookie is Secure.
    let secure = b
        .page(
            b.client
                .post(format!("{}/ui/login", b.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-proto", "https")
                .body(form_encode(&[("token", &server.tokens.viewer)])),
        )
        .await?;
    assert!(secure.set_cookie.is_some_and(|c| c.contains("; Secure")));
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn pages_render_as_html_with_the_navigation() -> anyhow::Result<()> {
    let server = start().await?;
    let mut b = Browser::new(&server)?;
    assert_eq!(
        b.login(&server.tokens.admin).await?.status,
        StatusCode::SEE_OTHER
    );
    let t = common::now_rfc3339();
    let (status, _) = server
        .post_json(
            "/api/v1/events",
            &serde_json::json!([{ "time": t, "slo": "checkout/availability", "good": 90, "total": 100 }]),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, _) = server
        .post_json(
            "/api/v1/changes",
            &serde_json::json!({ "service": "checkout", "version": "1.2.3", "time": t, "description": "deploy" }),
        )
        .await?;
    assert_eq!(status, 201);
    for path in [
        "/ui/",
        "/ui/?service=checkout&status=exhausted",
        "/ui/slos/checkout/availability",
        "/ui/slos/checkout/availability?range=7d",
        "/ui/slos/web/pages?range=6h",
        "/ui/alerts",
        "/ui/incidents",
        "/ui/postmortems",
        "/ui/toil",
        "/ui/backtest",
        "/ui/backtest?slo=checkout%2Favailability&range=1d&significance=2",
        "/ui/backtest?slo=web%2Fpages&range=window&policy=threshold",
    ] {
        let page = b.get(path).await?;
        assert_html_page(&page, path);
        assert!(page.body.contains("<main id=\"main\""), "{path}");
    }
    let replay = b
        .get("/ui/backtest?slo=checkout%2Favailability&range=1d")
        .await?;
    assert!(replay.body.contains("id=\"results\""));
    assert!(replay.body.contains("(configured)"));
    assert!(replay.body.contains("<title id=\"backtest-title\">"));
    let bad = b
        .get("/ui/backtest?slo=checkout%2Favailability&significance=-1")
        .await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let missing = b.get("/ui/no-such-page").await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.content_type.starts_with("text/html"));
    assert!(missing.body.contains("404"));
    let root = b.get("/").await?;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.location.as_deref(), Some("/ui/"));
    let css = b.get("/ui/static/style.css").await?;
    assert!(css.content_type.starts_with("text/css"));
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn anonymous_reads_on_loopback_but_never_writes() -> anyhow::Result<()> {
    let server = start().await?;
    let mut b = Browser::new(&server)?;
    let home = b.get("/ui/").await?;
    assert_html_page(&home, "anonymous overview");
    assert!(home.body.contains("anonymous"));
    assert!(
        !home.body.contains("name=\"csrf\""),
        "anonymous sees no forms"
    );
    let logout = b.post("/ui/logout", &[("csrf", "")]).await?;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert!(logout.content_type.starts_with("text/html"));
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn slo_page_draws_titled_charts_with_text_alternatives() -> anyhow::Result<()> {
    let server = start().await?;
    let t = common::now_rfc3339();
    server
        .post_json(
            "/api/v1/events",
            &serde_json::json!([{ "time": t, "slo": "checkout/availability", "good": 95, "total": 100 }]),
        )
        .await?;
    let (status, change) = server
        .post_json(
            "/api/v1/changes",
            &serde_json::json!({ "service": "checkout", "version": "2.0.0", "time": t, "description": "canary" }),
        )
        .await?;
    assert_eq!(status, 201, "{change}");
    let (status, inc) = server
        .post_json(
            "/api/v1/incidents",
            &serde_json::json!({ "title": "Checkout errors", "severity": "SEV2",
                                 "services": ["checkout"], "slos": ["checkout/availability"] }),
        )
        .await?;
    assert_eq!(status, 201, "{inc}");
    let mut b = Browser::new(&server)?;
    let page = b.get("/ui/slos/checkout/availability").await?;
    assert_html_page(&page, "slo page");
    // NINES_UI_DUMP=dir keeps the page for a look (the charts, the tables).
    if let Some(dir) = std::env::var_os("NINES_UI_DUMP") {
        std::fs::write(std::path::Path::new(&dir).join("slo.html"), &page.body)?;
    }
    let declared = format!("incident #{} SEV2 declared: Checkout errors", inc["id"]);
    assert!(
        page.body.contains(&declared),
        "the incident is on the time axis"
    );
    let svgs = page.body.matches("<svg class=\"chart\"").count();
    assert_eq!(svgs, 3, "SLI, budget and burn-rate charts");
    for id in ["sli", "budget", "burn"] {
        assert!(
            page.body
                .contains(&format!("aria-labelledby=\"{id}-title {id}-desc\"")),
            "{id}"
        );
        assert!(
            page.body.contains(&format!("<title id=\"{id}-title\">")),
            "{id}"
        );
    }
    assert!(page.body.contains("<figcaption>"), "text alternatives");
    assert!(
        page.body.contains("deploy 2.0.0 canary"),
        "the deploy is marked"
    );
    assert!(page.body.contains("id=\"events\""));
    assert!(page.body.contains("Before and after a change"));
    let missing = b.get("/ui/slos/checkout/nope").await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.content_type.starts_with("text/html"));

    // The comparison around the change, as the compare API computes it.
    let id = change["id"].as_u64().unwrap_or_default().to_string();
    let compared = b
        .get(&format!(
            "/ui/slos/checkout/availability?change={id}&window=1h"
        ))
        .await?;
    assert_eq!(compared.status, StatusCode::OK);
    assert!(
        compared.body.contains("id=\"comparison\""),
        "{}",
        compared.body
    );
    let bad = b
        .get("/ui/slos/checkout/availability?at=2020-01-01T00:00:00Z&window=99d")
        .await?;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(
        bad.body.contains("role=\"alert\""),
        "the compare error is shown"
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn overview_sorts_by_urgency() -> anyhow::Result<()> {
    let server = start().await?;
    let t = common::now_rfc3339();
    let (status, _) = server
        .post_json(
            "/api/v1/events",
            &serde_json::json!([
                { "time": t, "slo": "checkout/availability", "good": 50, "total": 100 },
                { "time": t, "slo": "checkout/latency", "good": 9_995, "total": 10_000 },
            ]),
        )
        .await?;
    assert_eq!(status, 200);
    let mut b = Browser::new(&server)?;
    let page = b.get("/ui/").await?;
    assert_html_page(&page, "overview");
    let at = |key: &str| page.body.find(&format!(">{key}</a>")).unwrap_or(usize::MAX);
    let (availability, latency, pages) = (
        at("checkout/availability"),
        at("checkout/latency"),
        at("web/pages"),
    );
    assert!(
        availability < latency && latency < pages,
        "{availability} {latency} {pages}"
    );
    assert!(page.body.contains("data-status=\"exhausted\""));
    assert!(page.body.contains("<svg class=\"spark\""));
    assert!(page.body.contains("<svg class=\"bar\""));

    let filtered = b.get("/ui/?service=web").await?;
    assert!(filtered.body.contains(">web/pages</a>"));
    assert!(!filtered.body.contains(">checkout/latency</a>"));
    let exhausted = b.get("/ui/?status=exhausted").await?;
    assert!(exhausted.body.contains(">checkout/availability</a>"));
    assert!(!exhausted.body.contains(">web/pages</a>"));
    server.stop().await?;
    Ok(())
}

async fn post_alert(server: &TestServer, name: &str) -> anyhow::Result<String> {
    let r = server
        .client
        .post(server.url("/api/v2/alerts"))
        .json(
            &serde_json::json!([{ "labels": { "alertname": name, "service": "checkout" },
                                    "annotations": { "summary": "disk <almost> full" } }]),
        )
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "{}", r.text().await?);
    let (_, alerts) = server.get_json("/api/v2/alerts").await?;
    alerts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["labels"]["alertname"] == name))
        .and_then(|a| a["fingerprint"].as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("alert {name} not listed"))
}

#[tokio::test]
async fn viewers_see_no_write_forms_and_responders_do() -> anyhow::Result<()> {
    let server = start().await?;
    post_alert(&server, "DiskFull").await?;
    let mut viewer = Browser::new(&server)?;
    viewer.login(&server.tokens.viewer).await?;
    let page = viewer.get("/ui/alerts").await?;
    assert_html_page(&page, "alerts as viewer");
    assert!(page.body.contains("DiskFull"));
    assert!(
        page.body.contains("almost") && !page.body.contains("<almost>"),
        "escaped"
    );
    assert!(!page.body.contains("action=\"/ui/alerts/silences\""));
    assert!(!page.body.contains("/ack\""));
    assert_eq!(
        page.body.matches("<form method=\"post\"").count(),
        1,
        "only log out"
    );

    let mut responder = Browser::new(&server)?;
    responder.login(&server.tokens.responder).await?;
    let page = responder.get("/ui/alerts").await?;
    assert!(page.body.contains("action=\"/ui/alerts/silences\""));
    assert!(page.body.contains("/ack\""));
    assert!(page.body.contains("Acknowledge"));
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn writes_need_the_sessions_csrf_token_and_a_writing_role() -> anyhow::Result<()> {
    let server = start().await?;
    let fingerprint = post_alert(&server, "HighLatency").await?;
    let mut b = Browser::new(&server)?;
    b.login(&server.tokens.responder).await?;
    let csrf = b.csrf().await?;
    let silence = |csrf: &'static str| {
        [
            ("csrf", csrf),
            ("matchers", "alertname=\"HighLatency\""),
            ("duration", "2h"),
            ("comment", "maintenance"),
        ]
    };
    let missing = b.post("/ui/alerts/silences", &silence("")[1..]).await?;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.content_type.starts_with("text/html"));
    let wrong = b.post("/ui/alerts/silences", &silence("deadbeef")).await?;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let (_, silences) = server.get_json("/api/v2/silences").await?;
    assert_eq!(
        silences.as_array().map_or(0, Vec::len),
        0,
        "nothing written"
    );

    let mut form = silence("");
    form[0].1 = &csrf;
    let ok = b.post("/ui/alerts/silences", &form).await?;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let (_, silences) = server.get_json("/api/v2/silences").await?;
    let list = silences.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{silences}");
    assert_eq!(
        list[0]["createdBy"]
            .as_str()
            .map(|s| s.starts_with("test-responder")),
        Some(true)
    );
    assert_eq!(list[0]["comment"], "maintenance");
    let page = b.get("/ui/alerts?done=silenced").await?;
    if let Some(dir) = std::env::var_os("NINES_UI_DUMP") {
        std::fs::write(std::path::Path::new(&dir).join("alerts.html"), &page.body)?;
    }
    assert!(page.body.contains("The silence was created."));
    assert!(page.body.contains("HighLatency"));

    // Invalid input is a 400 page, not a silence.
    form[1].1 = "not a matcher";
    let bad = b.post("/ui/alerts/silences", &form).await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Ack: wrong token refused, right one lands with the user's name.
    let path = format!("/ui/alerts/{fingerprint}/ack");
    let refused = b.post(&path, &[("csrf", "nope"), ("comment", "x")]).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let acked = b
        .post(&path, &[("csrf", &csrf), ("comment", "on it")])
        .await?;
    assert_eq!(acked.status, StatusCode::SEE_OTHER, "{}", acked.body);
    let (_, alerts) = server.get_json("/api/v2/alerts").await?;
    let alert = alerts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["fingerprint"] == fingerprint.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(alert["ack"]["comment"], "on it", "{alert}");

    // Expire the silence from its row.
    let id = list[0]["id"].as_str().unwrap_or_default().to_string();
    let expired = b
        .post(
            &format!("/ui/alerts/silences/{id}/expire"),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    let (_, silences) = server.get_json("/api/v2/silences").await?;
    assert_eq!(silences[0]["status"]["state"], "expired");

    // A viewer with a valid session and token still may not write.
    let mut viewer = Browser::new(&server)?;
    viewer.login(&server.tokens.viewer).await?;
    let viewer_csrf = viewer.csrf().await?;
    let mut form = silence("");
    form[0].1 = &viewer_csrf;
    let refused = viewer.post("/ui/alerts/silences", &form).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Another session's token does not work either.
    let mut other = Browser::new(&server)?;
    other.login(&server.tokens.admin).await?;
    let mut form = silence("");
    form[0].1 = &csrf;
    let refused = other.post("/ui/alerts/silences", &form).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Each write is audited under the responder's token name, as through the API.
    let me = format!(
        "test-responder-{}",
        &store::token_sha256(&server.tokens.responder)[..12]
    );
    let dir = server.stop().await?;
    let db = store::SqliteStore::open(&dir.path().join("data").join("nines.db")).await?;
    let entries = store::Store::audit_entries(&db, 1, 1000).await?;
    let mine: Vec<&str> = entries
        .iter()
        .filter(|e| e.actor == me)
        .map(|e| e.action.as_str())
        .collect();
    for action in ["silence.create", "alert.ack", "silence.expire"] {
        assert!(mine.contains(&action), "{action} missing from {mine:?}");
    }
    store::Store::close(&db).await?;
    Ok(())
}

// The overview of 1,000 SLOs is timed by `cargo run --release -p server --example
// bench_overview`, side by side with the JSON list (timings belong in benchmarks, not tests).

#[tokio::test]
async fn revoking_the_token_ends_its_sessions_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let sqlite = std::sync::Arc::new(store::SqliteStore::open(&data.join("nines.db")).await?);
    let handle = sqlite.clone();
    let config_path = dir.path().join("nines.yaml");
    std::fs::write(&config_path, common::CONFIG)?;
    // A store handle of our own, to revoke the token behind the server's back.
    let server = TestServer::start_in(dir, config_path, move |settings| {
        settings.store = Some(sqlite);
    })
    .await?;
    let mut b = Browser::new(&server)?;
    assert_eq!(
        b.login(&server.tokens.responder).await?.status,
        StatusCode::SEE_OTHER
    );
    let csrf = b.csrf().await?;
    let page = b.get("/ui/alerts").await?;
    assert!(page.body.contains("(responder)"));

    let record = store::Store::token_by_hash(
        handle.as_ref(),
        &store::token_sha256(&server.tokens.responder),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no token"))?;
    let audit = store::AuditEntry::new(server::now(), "test", "token.revoke", &record.name);
    anyhow::ensure!(store::Store::revoke_token(handle.as_ref(), &record.name, &audit).await?);

    // The next request no longer knows the session: anonymous (loopback) and no writing.
    let page = b.get("/ui/alerts").await?;
    assert!(!page.body.contains("(responder)"));
    assert!(page.body.contains("(anonymous)"));
    let refused = b
        .post(
            "/ui/alerts/silences",
            &[
                ("csrf", &csrf),
                ("matchers", "alertname=\"X\""),
                ("duration", "1h"),
                ("comment", "after revocation"),
            ],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    server.stop().await?;
    Ok(())
}
