//! The web UI end to end in a real browser: Debian's `chromium`, headless, driven through
//! Debian's `chromedriver` against `nines serve --demo` (a real child process with its demo
//! traffic and a temporary data directory).
//!
//! The W3C WebDriver protocol is spoken with reqwest directly (a dozen JSON endpoints) rather
//! than through a WebDriver crate: reqwest, serde_json and tokio are already dependencies, so
//! the test adds nothing to compile and nothing to `Cargo.lock`.
//!
//! What "a page is clean" means here:
//! - the document answered 200 (`performance.getEntriesByType('navigation')[0].responseStatus`)
//!   and has the main navigation and a non-empty `<h1>`;
//! - no failed request: every `resource` entry of the Performance API has a `responseStatus`
//!   below 400, and every `<link href>`, `<script src>` and `<img src>` of the page answers
//!   2xx to a plain GET from the test;
//! - no JavaScript error: chromedriver collects the browser console (`goog:loggingPrefs`
//!   `{browser: "ALL"}`) and `POST /session/{id}/se/log {"type": "browser"}` hands over (and
//!   clears) the entries since the last call; any `SEVERE` entry fails the page. Chromium logs
//!   uncaught exceptions, CSP violations and failed loads (4xx/5xx) there, so a script blocked
//!   by the Content-Security-Policy is caught as well.
//!
//! A screenshot of each page is written to `target/ui-screenshots/<page>.png`.
//!
//! The flows (declare an incident, edit a section of its state document, silence an alert,
//! approve a postmortem) go through the forms as a person would, and each is verified through
//! the JSON API afterwards.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("nines")
}

/// A child process killed (with its whole process group) when dropped, so a failing test
/// leaves no chromedriver, chromium or server behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.0.id();
        // The child leads its own process group (see `spawn_group`): chromium's processes
        // are in it too.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_group(cmd: &mut Command) -> anyhow::Result<Proc> {
    use std::os::unix::process::CommandExt;
    Ok(Proc(cmd.process_group(0).spawn()?))
}

/// The path of a program that must be installed (Debian puts chromium and
/// chromedriver in /usr/bin).
fn find_program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{name} not found: install Debian's {package} (scripts/test does this when run as root)"
    );
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Creates a token with `nines token create` in `data`; returns its secret.
fn create_token(data: &Path, role: &str, name: &str) -> anyhow::Result<String> {
    let out = Command::new(bin())
        .args([
            "token",
            "create",
            "--role",
            role,
            "--name",
            name,
            "--data-dir",
        ])
        .arg(data)
        .env_remove("NINES_DATA_DIR")
        .env_remove("NINES_AUDIT_KEY_FILE")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "nines token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// `nines serve --demo` on a free port; returns the process and its base URL.
fn spawn_server(data: &Path) -> anyhow::Result<(Proc, String)> {
    let mut proc = spawn_group(
        Command::new(bin())
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env_remove("NINES_DATA_DIR")
            .env_remove("NINES_AUDIT_KEY_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    let stderr = proc
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let base = base.ok_or_else(|| anyhow::anyhow!("the server did not start"))?;
    Ok((proc, base))
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("the server is not ready")
}

/// A JSON API client sending `Authorization: Bearer <secret>`.
fn api_client(secret: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {secret}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = client.request(method, &url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

/// Standard base64 (screenshots arrive base64-encoded); no crate for twenty lines.
fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => anyhow::bail!("not base64: {:?}", c as char),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}

/// chromedriver (on a free port, in its own process group) and one headless chromium session.
struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> anyhow::Result<Browser> {
        let chromium = find_program("chromium", "chromium");
        let chromedriver = find_program("chromedriver", "chromium-driver");
        let profile = tempfile::tempdir()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        // A port taken between the probe and chromedriver's bind: try another.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let driver = spawn_group(
                Command::new(&chromedriver)
                    .arg(format!("--port={port}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
            let base = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut ready = false;
            while Instant::now() < deadline {
                if let Ok(r) = http.get(format!("{base}/status")).send().await {
                    if let Ok(v) = r.json::<Value>().await {
                        if v["value"]["ready"] == true {
                            ready = true;
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !ready {
                last_error = Some(anyhow::anyhow!(
                    "chromedriver on port {port} never got ready"
                ));
                continue;
            }
            let caps = json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "unhandledPromptBehavior": "accept",
                    "timeouts": { "pageLoad": 30000, "script": 10000, "implicit": 0 },
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-extensions",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1280,1024",
                            format!("--user-data-dir={}", profile.path().display()),
                        ],
                    },
                }}
            });
            let r = http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await?;
            let status = r.status();
            let v: Value = r.json().await?;
            let Some(id) = v["value"]["sessionId"].as_str() else {
                anyhow::bail!("chromedriver refused the session ({status}): {v}");
            };
            return Ok(Browser {
                http,
                session: format!("{base}/session/{id}"),
                _driver: driver,
                _profile: profile,
            });
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let r = req.send().await?;
        let status = r.status();
        let mut v: Value = r.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "webdriver {method} {path}: {status}: {}",
            v["value"]
        );
        Ok(v["value"].take())
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.cmd(reqwest::Method::POST, path, body).await
    }

    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({ "url": url })).await?;
        self.wait_loaded().await
    }

    async fn exec(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls `script` (a function body returning a truthy value when done); errors while a
    /// navigation is under way count as "not yet".
    async fn wait_for(&self, script: &str, what: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        loop {
            match self.exec(script, json!([])).await {
                Ok(v) if !v.is_null() && v != false => return Ok(v),
                Ok(_) => {}
                Err(e) => last = Some(e),
            }
            if Instant::now() > deadline {
                anyhow::bail!("timed out waiting for {what} (last error: {last:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_loaded(&self) -> anyhow::Result<()> {
        self.wait_for(
            "return document.readyState === 'complete';",
            "the page to load",
        )
        .await
        .map(drop)
    }

    async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .cmd(reqwest::Method::GET, "/url", Value::Null)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn find(&self, css: &str) -> anyhow::Result<String> {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await
            .map_err(|e| anyhow::anyhow!("no element {css:?}: {e}"))?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no element id for {css:?}: {v}"))
    }

    async fn click(&self, css: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        self.post(&format!("/element/{el}/click"), json!({}))
            .await?;
        Ok(())
    }

    /// Replaces the value of a text field by typing `text` into it.
    async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        self.post(&format!("/element/{el}/clear"), json!({}))
            .await?;
        self.post(&format!("/element/{el}/value"), json!({ "text": text }))
            .await?;
        Ok(())
    }

    /// Clicks a submit button and waits for the next page (post/redirect/get) to load.
    async fn submit(&self, css: &str) -> anyhow::Result<()> {
        self.exec("window.__ninesOldPage = true; return true;", json!([]))
            .await?;
        self.click(css).await?;
        self.wait_for(
            "return !window.__ninesOldPage && document.readyState === 'complete';",
            &format!("the page after clicking {css:?}"),
        )
        .await
        .map(drop)
    }

    /// The browser console since the last call (chromedriver clears what it hands over).
    async fn console(&self) -> anyhow::Result<Vec<Value>> {
        let v = self.post("/se/log", json!({ "type": "browser" })).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let png = base64_decode(v.as_str().unwrap_or_default())?;
        anyhow::ensure!(
            png.starts_with(b"\x89PNG"),
            "the screenshot of {name} is no PNG"
        );
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn quit(&self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", Value::Null).await;
    }
}

/// A console entry that fails a page: any `SEVERE` one except the browser's own request for
/// `/favicon.ico` (the page asks for no icon; whether chromium fetches it before the log is
/// read depends on timing, so it would make the test flaky without saying anything about
/// the page).
fn is_error(entry: &Value) -> bool {
    entry["level"] == "SEVERE"
        && !(entry["source"] == "network"
            && entry["message"]
                .as_str()
                .is_some_and(|m| m.contains("/favicon.ico ")))
}

/// The page's facts, gathered in the browser in one script.
const PAGE_FACTS: &str = r#"
const nav = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource').map(r => ({
  name: r.name, status: (typeof r.responseStatus === 'number') ? r.responseStatus : null,
}));
const urls = [];
for (const el of document.querySelectorAll('link[href]')) urls.push(el.href);
for (const el of document.querySelectorAll('script[src]')) urls.push(el.src);
for (const el of document.querySelectorAll('img[src]')) urls.push(el.src);
const h1 = document.querySelector('h1');
return {
  url: location.href,
  status: nav && typeof nav.responseStatus === 'number' ? nav.responseStatus : null,
  nav: document.querySelectorAll('nav[aria-label="Main"] a[href="/ui/"]').length > 0,
  navLinks: Array.from(document.querySelectorAll('nav[aria-label="Main"] a[href]')).map(a => a.getAttribute('href')),
  h1: h1 ? h1.textContent.trim() : null,
  resources: resources,
  urls: urls,
  stylesheets: document.styleSheets.length,
};
"#;

/// Pages built already: a 404 from one of them fails the test. Any other navigation entry
/// answering 404 is reported as not built yet.
const BUILT: &[&str] = &[
    "/ui/",
    "/ui/alerts",
    "/ui/incidents",
    "/ui/postmortems",
    "/ui/toil",
    "/ui/backtest",
];

/// Loads `path`, checks it is clean, writes its screenshot. Returns the page's facts, or
/// `None` when the page is not built yet (404 and not in [`BUILT`]).
async fn check_page(
    b: &Browser,
    http: &reqwest::Client,
    base: &str,
    name: &str,
    path: &str,
    must_exist: bool,
) -> anyhow::Result<Option<Value>> {
    b.console().await?; // drop whatever came before
    b.goto(&format!("{base}{path}")).await?;
    let facts = b.exec(PAGE_FACTS, json!([])).await?;
    let status = facts["status"].as_u64();
    if status == Some(404) && !must_exist {
        b.console().await?;
        return Ok(None);
    }
    anyhow::ensure!(
        status == Some(200),
        "{name} ({path}): the document answered {status:?}, not 200: {facts}"
    );
    anyhow::ensure!(
        !facts["url"].as_str().unwrap_or("").contains("/ui/login"),
        "{name} ({path}): redirected to the login page"
    );
    anyhow::ensure!(facts["nav"] == true, "{name} ({path}): no main navigation");
    anyhow::ensure!(
        facts["h1"].as_str().is_some_and(|h| !h.is_empty()),
        "{name} ({path}): no <h1>"
    );
    anyhow::ensure!(
        facts["stylesheets"].as_u64().unwrap_or(0) > 0,
        "{name} ({path}): no stylesheet applied"
    );
    for r in facts["resources"].as_array().into_iter().flatten() {
        // 0 is "not known" (a cache hit may report it); a failed load shows as 4xx/5xx here
        // or as a network error in the console.
        if let Some(s) = r["status"].as_u64() {
            anyhow::ensure!(
                s < 400,
                "{name} ({path}): request {} answered {s}",
                r["name"]
            );
        }
    }
    for url in facts["urls"].as_array().into_iter().flatten() {
        let url = url.as_str().unwrap_or_default();
        if url.starts_with("data:") {
            continue;
        }
        let r = http.get(url).send().await?;
        anyhow::ensure!(
            r.status().is_success(),
            "{name} ({path}): {url} answered {}",
            r.status()
        );
    }
    // Give late errors (deferred scripts, async loads) a moment to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let severe: Vec<Value> = b.console().await?.into_iter().filter(is_error).collect();
    anyhow::ensure!(
        severe.is_empty(),
        "{name} ({path}): console errors: {}",
        Value::Array(severe)
    );
    b.screenshot(name).await?;
    Ok(Some(facts))
}

/// The test's shared set-up: a demo server with a responder, an ingest and an admin token.
struct Env {
    _server: Proc,
    _dir: tempfile::TempDir,
    base: String,
    responder_name: String,
    responder_secret: String,
    responder: reqwest::Client,
    ingest: reqwest::Client,
}

async fn env() -> anyhow::Result<Env> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let responder_name = "browser-responder".to_string();
    let responder_secret = create_token(&data, "responder", &responder_name)?;
    let ingest_secret = create_token(&data, "ingest", "browser-ingest")?;
    let (server, base) = spawn_server(&data)?;
    let responder = api_client(&responder_secret)?;
    wait_ready(&responder, &base).await?;
    Ok(Env {
        _server: server,
        _dir: dir,
        base,
        responder_name,
        responder_secret,
        ingest: api_client(&ingest_secret)?,
        responder,
    })
}

async fn login(b: &Browser, e: &Env) -> anyhow::Result<()> {
    b.goto(&format!("{}/ui/login", e.base)).await?;
    b.fill("#token", &e.responder_secret).await?;
    b.submit("form[action='/ui/login'] button[type=submit]")
        .await?;
    let url = b.url().await?;
    anyhow::ensure!(
        !url.contains("/ui/login"),
        "still on the login page after logging in: {url}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_loads_clean_and_the_flows_work_in_chromium() -> anyhow::Result<()> {
    let e = env().await?;
    let b = Browser::start().await?;
    let result = run(&b, &e).await;
    b.quit().await;
    result
}

async fn run(b: &Browser, e: &Env) -> anyhow::Result<()> {
    let base = &e.base;
    // Plain GETs of the pages' assets, without a session (static files need none).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = |p: &str| format!("{base}{p}");
    use reqwest::Method;

    // Data for the detail pages: an incident and a postmortem made through the API.
    let (status, inc) = call(
        &e.responder,
        Method::POST,
        api("/api/v1/incidents"),
        Some(
            json!({ "title": "Checkout errors (browser test)", "severity": "SEV2",
                     "services": ["checkout"], "slos": ["checkout/availability"],
                     "summary": "Checkout answered 500s" }),
        ),
    )
    .await?;
    anyhow::ensure!(status == 201, "declaring through the API: {status} {inc}");
    let api_incident = inc["id"].as_i64().unwrap_or_default();
    let (status, body) = call(
        &e.responder,
        Method::PATCH,
        api(&format!("/api/v1/incidents/{api_incident}")),
        Some(json!({ "status": "resolved" })),
    )
    .await?;
    anyhow::ensure!(status == 200, "resolving: {status} {body}");
    let (status, pm) = call(
        &e.responder,
        Method::POST,
        api(&format!("/api/v1/incidents/{api_incident}/postmortem")),
        Some(json!({})),
    )
    .await?;
    anyhow::ensure!(status == 201, "drafting the postmortem: {status} {pm}");
    let pm_id = pm["id"].as_i64().unwrap_or_default();

    // The login page itself is clean too.
    b.console().await?;
    b.goto(&api("/ui/login")).await?;
    b.screenshot("login").await?;
    let severe: Vec<Value> = b.console().await?.into_iter().filter(is_error).collect();
    anyhow::ensure!(severe.is_empty(), "login page: console errors: {severe:?}");
    login(b, e).await?;

    // Every page of the navigation, then one SLO, incident and postmortem page.
    let facts = check_page(b, &http, base, "overview", "/ui/", true)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no overview"))?;
    let nav: Vec<String> = facts["navLinks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for required in BUILT {
        anyhow::ensure!(
            nav.iter().any(|n| n == required),
            "{required} is not in the navigation: {nav:?}"
        );
    }
    let mut missing = Vec::new();
    for path in &nav {
        if path == "/ui/" {
            continue;
        }
        let name = path.trim_start_matches("/ui/").replace('/', "-");
        let must = BUILT.contains(&path.as_str());
        if check_page(b, &http, base, &name, path, must)
            .await?
            .is_none()
        {
            missing.push(path.clone());
        }
    }
    for (name, path) in [
        ("slo", "/ui/slos/checkout/availability".to_string()),
        ("incident", format!("/ui/incidents/{api_incident}")),
        ("postmortem", format!("/ui/postmortems/{pm_id}")),
    ] {
        check_page(b, &http, base, name, &path, true).await?;
    }
    if !missing.is_empty() {
        eprintln!("ui_browser: navigation entries not built yet (404): {missing:?}");
    }

    // Flow 1: declare an incident with the form.
    b.goto(&api("/ui/incidents")).await?;
    b.fill(
        "#d-title",
        "Storefront pages failing (declared in the browser)",
    )
    .await?;
    b.exec(
        "document.querySelector('#d-severity').value = 'SEV3'; return true;",
        json!([]),
    )
    .await?;
    b.fill("#d-services", "storefront").await?;
    b.fill("#d-summary", "Product pages answer 503").await?;
    b.submit("form#declare button[type=submit]").await?;
    let url = b.url().await?;
    let declared: i64 = url
        .split("/ui/incidents/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '#']).next())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("declaring did not lead to the incident's page: {url}"))?;
    let (status, inc) = call(
        &e.responder,
        Method::GET,
        api(&format!("/api/v1/incidents/{declared}")),
        None,
    )
    .await?;
    anyhow::ensure!(status == 200, "the declared incident: {status} {inc}");
    anyhow::ensure!(
        inc.to_string()
            .contains("Storefront pages failing (declared in the browser)"),
        "the declared incident's title: {inc}"
    );
    anyhow::ensure!(inc.to_string().contains("SEV3"), "severity: {inc}");
    check_page(
        b,
        &http,
        base,
        "incident-declared",
        &format!("/ui/incidents/{declared}"),
        true,
    )
    .await?;

    // Flow 2: edit the "status" section of its state document.
    b.click("#section-status details > summary").await?;
    let text = "Rolled back the storefront to 4.1.0; error ratio falling.";
    b.fill("#text-status", text).await?;
    b.submit("#section-status form button[type=submit]").await?;
    let (status, doc) = call(
        &e.responder,
        Method::GET,
        api(&format!("/api/v1/incidents/{declared}/document")),
        None,
    )
    .await?;
    anyhow::ensure!(status == 200, "the state document: {status} {doc}");
    let section = doc["document"]["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "status")
        .cloned()
        .unwrap_or(Value::Null);
    anyhow::ensure!(
        section.to_string().contains(text),
        "the status section was not saved: {section}"
    );
    b.screenshot("incident-edited").await?;

    // Flow 3: silence an alert from the alerts page.
    let (status, body) = call(
        &e.ingest,
        Method::POST,
        api("/api/v2/alerts"),
        Some(
            json!([{ "labels": { "alertname": "BrowserTestDown", "service": "storefront",
                                  "severity": "page" },
                      "annotations": { "summary": "posted by the browser test" } }]),
        ),
    )
    .await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "posting an alert: {status} {body}"
    );
    b.goto(&api("/ui/alerts")).await?;
    // The alert row's "Silence…" link pre-fills the matchers.
    let href = b
        .wait_for(
            r#"for (const row of document.querySelectorAll('tr.alert-row')) {
                 if (row.textContent.includes('BrowserTestDown')) {
                   const a = Array.from(row.querySelectorAll('a')).find(a => a.textContent.includes('Silence'));
                   if (a) return a.getAttribute('href');
                 }
               }
               location.reload();
               return null;"#,
            "the posted alert on the alerts page",
        )
        .await?;
    let href = href.as_str().unwrap_or_default().to_string();
    b.goto(&if href.starts_with("http") {
        href
    } else {
        api(&href)
    })
    .await?;
    let matchers = b
        .exec(
            "return document.querySelector('#s-matchers').value;",
            json!([]),
        )
        .await?;
    anyhow::ensure!(
        matchers
            .as_str()
            .is_some_and(|m| m.contains("BrowserTestDown")),
        "the silence form is not pre-filled with the alert's labels: {matchers}"
    );
    b.fill("#s-duration", "1h").await?;
    b.fill("#s-comment", "silenced from the browser test")
        .await?;
    b.submit("#silence-form button[type=submit]").await?;
    let (status, silences) = call(&e.responder, Method::GET, api("/api/v2/silences"), None).await?;
    anyhow::ensure!(status == 200, "silences: {status} {silences}");
    let silence = silences
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["comment"] == "silenced from the browser test")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no silence made in the browser: {silences}"))?;
    anyhow::ensure!(silence["status"]["state"] == "active", "{silence}");
    anyhow::ensure!(
        silence["matchers"].to_string().contains("BrowserTestDown"),
        "{silence}"
    );
    anyhow::ensure!(
        silence["createdBy"].as_str() == Some(e.responder_name.as_str()),
        "the silence is not by the logged-in user: {silence}"
    );
    check_page(b, &http, base, "alerts-silenced", "/ui/alerts", true).await?;

    // Flow 4: approve a postmortem. Summary and root cause through the API, submitted for
    // review with the logged-in responder as reviewer, approved with the page's button.
    let (status, body) = call(
        &e.responder,
        Method::PATCH,
        api(&format!("/api/v1/postmortems/{pm_id}")),
        Some(json!({
            "summary": "Checkout answered 500s for 20 minutes after a configuration change.",
            "root_causes": [{ "category": "change", "text": "A configuration change removed the database pool limit." }],
        })),
    )
    .await?;
    anyhow::ensure!(status == 200, "editing the postmortem: {status} {body}");
    let (status, body) = call(
        &e.responder,
        Method::POST,
        api(&format!("/api/v1/postmortems/{pm_id}/review")),
        Some(json!({ "action": "submit", "reviewers": [e.responder_name] })),
    )
    .await?;
    anyhow::ensure!(status == 200, "submitting for review: {status} {body}");
    anyhow::ensure!(body["status"] == "in_review", "{body}");
    b.goto(&api(&format!("/ui/postmortems/{pm_id}"))).await?;
    b.submit("#approve-form button[type=submit]").await?;
    let (status, body) = call(
        &e.responder,
        Method::GET,
        api(&format!("/api/v1/postmortems/{pm_id}")),
        None,
    )
    .await?;
    anyhow::ensure!(status == 200, "the postmortem: {status} {body}");
    anyhow::ensure!(
        body["status"] == "reviewed",
        "the postmortem was not approved: {body}"
    );
    check_page(
        b,
        &http,
        base,
        "postmortem-approved",
        &format!("/ui/postmortems/{pm_id}"),
        true,
    )
    .await?;
    Ok(())
}
