//! The web UI against a real server: login and sessions, CSRF, roles, every page's HTML.

mod common;

use common::TestServer;
use reqwest::StatusCode;

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
    let server = TestServer::start().await?;
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
    let server = TestServer::start().await?;
    let mut b = Browser::new(&server)?;
    assert_eq!(
        b.login(&server.tokens.admin).await?.status,
        StatusCode::SEE_OTHER
    );
    for path in ["/ui/"] {
        let page = b.get(path).await?;
        assert_html_page(&page, path);
        assert!(page.body.contains("<main id=\"main\""), "{path}");
    }
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
    let server = TestServer::start().await?;
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
