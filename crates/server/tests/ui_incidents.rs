//! The incident, postmortem and toil pages against a real server, driven like a browser
//! without JavaScript: log in with a token, read the CSRF field of a page, post its forms,
//! follow the 303 back. What the forms do is checked through the JSON API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

async fn start() -> anyhow::Result<TestServer> {
    TestServer::start_with(common::CONFIG, |s| {
        s.audit_key = store::audit_key(&s.data_dir).ok();
    })
    .await
}

/// The name the test server gave the token `secret` (see `tests/common`).
fn token_name(role: &str, secret: &str) -> String {
    format!("test-{role}-{}", &store::token_sha256(secret)[..12])
}

/// One browser session: the session cookie, no redirects followed on its own.
struct Session {
    base: String,
    http: reqwest::Client,
    cookie: String,
}

/// An answer: status, where a redirect points, the body.
struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

fn urlencode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| -> String {
                s.bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Session {
    async fn login(s: &TestServer, token: &str) -> anyhow::Result<Session> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let r = http
            .post(s.url("/ui/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(&[("token", token), ("next", "/ui/incidents")]))
            .send()
            .await?;
        anyhow::ensure!(r.status() == StatusCode::SEE_OTHER, "login: {}", r.status());
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|kv| kv.starts_with("nines_session="))
            .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
            .to_string();
        Ok(Session {
            base: s.base.clone(),
            http,
            cookie,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let r = request.header("cookie", &self.cookie).send().await?;
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Answer {
            status,
            location,
            body: r.text().await?,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a form as a browser does (without adding the CSRF field itself).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(urlencode(form)),
        )
        .await
    }

    /// The CSRF field of the page at `path`.
    async fn csrf(&self, path: &str) -> anyhow::Result<String> {
        let page = self.get(path).await?;
        input_value(&page.body, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field on {path}"))
    }

    /// Posts a form with the CSRF field of the page at `from`; follows a 303 to its page.
    async fn submit(
        &self,
        from: &str,
        action: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let csrf = self.csrf(from).await?;
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let answer = self.post(action, &fields).await?;
        if answer.status == StatusCode::SEE_OTHER {
            let to = answer.location.split('#').next().unwrap_or("").to_string();
            let mut page = self.get(&to).await?;
            page.location = answer.location;
            return Ok(page);
        }
        Ok(answer)
    }
}

/// The `value` of the first `<input ... name="{name}" value="...">` in `html`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The `value` of the hidden `base_revision` of the form that edits `section`.
fn base_revision(html: &str, section: &str) -> Option<String> {
    let at = html.find(&format!("/document/{section}\""))?;
    input_value(&html[at..], "base_revision")
}

async fn api_get(s: &TestServer, path: &str) -> anyhow::Result<Value> {
    Ok(s.client.get(s.url(path)).send().await?.json().await?)
}

/// Declares an incident through the form; returns its id and the incident page.
async fn declare(ui: &Session, title: &str) -> anyhow::Result<(i64, Answer)> {
    let page = ui
        .submit(
            "/ui/incidents",
            "/ui/incidents",
            &[
                ("title", title),
                ("severity", "SEV2"),
                ("services", "checkout, web"),
                ("slos", "checkout/availability"),
            ],
        )
        .await?;
    anyhow::ensure!(page.status == StatusCode::OK, "declare: {}", page.body);
    let id = page
        .location
        .trim_start_matches("/ui/incidents/")
        .split(['?', '#'])
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("declare went to {:?}", page.location))?;
    Ok((id, page))
}

#[tokio::test]
async fn declare_edit_conflict_note_and_status_through_the_forms() -> anyhow::Result<()> {
    let s = start().await?;
    let ui = Session::login(&s, &s.tokens.responder).await?;
    let me = token_name("responder", &s.tokens.responder);

    let (id, page) = declare(&ui, "Checkout errors <b>spike</b>").await?;
    // Escaped, shown, with the declaring user as commander.
    assert!(page.body.contains("Checkout errors &#60;b&#62;spike"));
    assert!(!page.body.contains("<b>spike</b>"));
    assert!(page.body.contains(&me));
    let listed = api_get(&s, "/api/v1/incidents").await?;
    let incident = listed["incidents"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == id))
        .expect("the declared incident is in the API's list");
    assert_eq!(incident["title"], "Checkout errors <b>spike</b>");
    assert_eq!(incident["severity"], "SEV2");
    assert_eq!(incident["services"], serde_json::json!(["checkout", "web"]));
    assert_eq!(incident["declared_by"], me.as_str());
    assert_eq!(
        incident["linked_slos"],
        serde_json::json!(["checkout/availability"])
    );

    // The list shows it, open first; the filters work.
    let list = ui.get("/ui/incidents?status=open&service=checkout").await?;
    assert!(list.body.contains(&format!("/ui/incidents/{id}")));
    let none = ui.get("/ui/incidents?status=closed").await?;
    assert!(!none.body.contains(&format!("/ui/incidents/{id}\"")));

    // Every section is there, most important first, each with its revision.
    let path = format!("/ui/incidents/{id}");
    let summary_at = page.body.find("id=\"section-summary\"").unwrap();
    let todos_at = page.body.find("id=\"section-todos\"").unwrap();
    assert!(summary_at < todos_at);
    assert_eq!(base_revision(&page.body, "summary").as_deref(), Some("0"));

    // Edit a section.
    let action = format!("/ui/incidents/{id}/document/summary");
    let page = ui
        .submit(
            &path,
            &action,
            &[
                ("base_revision", "0"),
                ("text", "Payments time out.\r\nRolling back."),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Payments time out.\nRolling back."));
    assert_eq!(base_revision(&page.body, "summary").as_deref(), Some("1"));

    // A stale edit (based on revision 0 again): refused, both texts shown, the stored one kept,
    // and the form again on the current revision.
    let stale = ui
        .submit(
            &path,
            &action,
            &[("base_revision", "0"), ("text", "My older view of things")],
        )
        .await?;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("My older view of things"));
    assert!(stale.body.contains("Payments time out.\nRolling back."));
    assert!(stale.body.contains("id=\"conflict-yours\""));
    assert!(stale.body.contains("id=\"conflict-current\""));
    assert_eq!(base_revision(&stale.body, "summary").as_deref(), Some("1"));
    let doc = api_get(&s, &format!("/api/v1/incidents/{id}/document")).await?;
    let summary = doc["document"]["sections"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "summary"))
        .cloned()
        .unwrap();
    assert_eq!(summary["text"], "Payments time out.\nRolling back.");
    assert_eq!(summary["revision"], 1);
    // Merged and sent again on the current revision: saved.
    let page = ui
        .submit(
            &path,
            &action,
            &[("base_revision", "1"), ("text", "Merged text")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(base_revision(&page.body, "summary").as_deref(), Some("2"));

    // A pinned decision on the timeline, newest first.
    let page = ui
        .submit(
            &path,
            &format!("/ui/incidents/{id}/timeline"),
            &[
                ("kind", "decision"),
                ("text", "Roll back to v41"),
                ("pinned", "true"),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    let timeline_at = page.body.find("id=\"timeline\"").unwrap();
    let decision_at = page.body[timeline_at..].find("Roll back to v41").unwrap();
    let declared_at = page.body[timeline_at..].find("declared SEV2").unwrap();
    assert!(decision_at < declared_at, "newest first");
    assert!(page.body[timeline_at..].contains("pinned"));
    let timeline = api_get(&s, &format!("/api/v1/incidents/{id}/timeline")).await?;
    let entry = timeline["timeline"][0].clone();
    assert_eq!(entry["text"], "Roll back to v41");
    assert_eq!(entry["kind"], "decision");
    assert_eq!(entry["pinned"], true);
    assert_eq!(entry["author"], me.as_str());

    // A role handed over, then a status change.
    let page = ui
        .submit(
            &path,
            &format!("/ui/incidents/{id}/roles"),
            &[("role", "communications_lead"), ("holder", "dana")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    let page = ui
        .submit(
            &path,
            &format!("/ui/incidents/{id}/status"),
            &[("status", "mitigated-ish")],
        )
        .await?;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains("role=\"alert\""));
    let page = ui
        .submit(
            &path,
            &format!("/ui/incidents/{id}/status"),
            &[("status", "monitoring")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    let got = api_get(&s, &format!("/api/v1/incidents/{id}")).await?;
    assert_eq!(got["status"], "monitoring");
    assert!(got["roles_effective"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["role"] == "communications_lead" && r["holder"] == "dana"));
    // The impact table names the linked SLO.
    assert!(page.body.contains("id=\"impact\""));
    assert!(page.body.contains("checkout/availability"));

    // Every write is in the audit log under the logged-in user, as through the API.
    let dir = s.stop().await?;
    let db = store::SqliteStore::open(&dir.path().join("data").join("nines.db")).await?;
    let entries = store::Store::audit_entries(&db, 1, 1000).await?;
    let mine: Vec<&str> = entries
        .iter()
        .filter(|e| e.actor == me)
        .map(|e| e.action.as_str())
        .collect();
    for action in [
        "incident.declare",
        "incident.document",
        "incident.timeline",
        "incident.role",
        "incident.update",
    ] {
        assert!(mine.contains(&action), "{action} missing from {mine:?}");
    }
    // The refused stale edit wrote nothing: three document edits were tried, two landed.
    assert_eq!(
        mine.iter().filter(|a| **a == "incident.document").count(),
        2,
        "{mine:?}"
    );
    store::Store::close(&db).await?;
    Ok(())
}

#[tokio::test]
async fn postmortem_from_draft_to_published_through_the_forms() -> anyhow::Result<()> {
    let s = start().await?;
    let ui = Session::login(&s, &s.tokens.responder).await?;
    let me = token_name("responder", &s.tokens.responder);
    let (id, _) = declare(&ui, "Slow checkout").await?;
    let path = format!("/ui/incidents/{id}");
    let page = ui
        .submit(
            &path,
            &format!("/ui/incidents/{id}/status"),
            &[("status", "resolved")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK);

    let page = ui
        .submit(&path, &format!("/ui/incidents/{id}/postmortem"), &[])
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let pm_path = page.location.split('?').next().unwrap().to_string();
    assert!(pm_path.starts_with("/ui/postmortems/"), "{pm_path}");
    let pm: i64 = pm_path.trim_start_matches("/ui/postmortems/").parse()?;

    // Submitting without a summary and a root cause is refused with the reason.
    let page = ui
        .submit(
            &pm_path,
            &format!("{pm_path}/review"),
            &[("action", "submit"), ("reviewers", &me)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("summary"));

    // The draft: blaming wording gets a warning next to it.
    let page = ui
        .submit(
            &pm_path,
            &pm_path,
            &[
                ("title", "Slow checkout"),
                ("summary", "A careless deploy slowed checkout."),
                ("trigger", "Deploy of v42"),
                ("resolution", "Rolled back"),
                ("detection", "Latency alert"),
                ("cause_category", "change"),
                ("cause_text", "A query lost its index"),
                ("cause_category", ""),
                ("cause_text", ""),
                ("went_well", "Rollback was quick"),
                ("went_wrong", "No canary\r\nNo load test"),
                ("got_lucky", ""),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("class=\"blameless\""));
    assert!(page.body.contains("“careless”"));
    let got = api_get(&s, &format!("/api/v1/postmortems/{pm}")).await?;
    assert_eq!(got["summary"], "A careless deploy slowed checkout.");
    assert_eq!(got["root_causes"][0]["category"], "change");
    assert_eq!(
        got["lessons"]["went_wrong"],
        serde_json::json!(["No canary", "No load test"])
    );
    assert!(!got["blameless_findings"].as_array().unwrap().is_empty());

    // An action item with its one owner.
    let page = ui
        .submit(
            &pm_path,
            &format!("{pm_path}/action-items"),
            &[
                ("title", "Add a canary stage"),
                ("owner", "sam"),
                ("kind", "prevent"),
                ("due", "2027-01-15"),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Add a canary stage"));
    let got = api_get(&s, &format!("/api/v1/postmortems/{pm}")).await?;
    assert_eq!(got["action_items"][0]["owner"], "sam");

    // Review: submit naming this user, approve (the only reviewer: reviewed), publish.
    let page = ui
        .submit(
            &pm_path,
            &format!("{pm_path}/review"),
            &[("action", "submit"), ("reviewers", &me)],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"approve-form\""));
    assert!(!page.body.contains("id=\"publish-form\""));
    let page = ui
        .submit(
            &pm_path,
            &format!("{pm_path}/review"),
            &[("action", "approve")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"publish-form\""));
    let page = ui
        .submit(
            &pm_path,
            &format!("{pm_path}/review"),
            &[("action", "publish")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        !page.body.contains("id=\"edit-form\""),
        "published is frozen"
    );
    let got = api_get(&s, &format!("/api/v1/postmortems/{pm}")).await?;
    assert_eq!(got["status"], "published");
    assert_eq!(got["reviewers"][0]["name"], me.as_str());

    // The list and the Markdown export.
    let list = ui.get("/ui/postmortems").await?;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&pm_path));
    assert!(list.body.contains("Overdue reviews"));
    let md = ui.get(&format!("{pm_path}/markdown")).await?;
    assert_eq!(md.status, StatusCode::OK);
    assert!(md.body.contains("Slow checkout"));
    Ok(())
}

#[tokio::test]
async fn toil_page_charts_each_team_with_a_text_alternative() -> anyhow::Result<()> {
    let s = start().await?;
    let ui = Session::login(&s, &s.tokens.responder).await?;
    let page = ui
        .submit(
            "/ui/toil",
            "/ui/toil/teams",
            &[("team", "sre"), ("weekly_capacity_minutes", "1000")],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = ui
        .submit(
            "/ui/toil",
            "/ui/toil",
            &[
                ("team", "sre"),
                ("category", "production_interrupts"),
                ("minutes", "600"),
                ("description", "Restarted the queue workers by hand"),
                ("task", "restart workers"),
                ("automatable", "true"),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    let svg_at = body
        .find("<svg class=\"chart toil-chart\"")
        .expect("a chart");
    assert!(body[svg_at..].contains("<title id="));
    assert!(body[svg_at..].contains("<desc id="));
    assert!(body.contains("50% limit"));
    assert!(body.contains("<table class=\"stack toil-weeks\">"));
    assert!(body.contains("60%"), "600 of 1000 minutes");
    assert!(body.contains("Production interrupts"));
    let report = api_get(&s, "/api/v1/toil/report").await?;
    assert_eq!(report["report"]["total_minutes"], 600);
    assert_eq!(
        report["report"]["teams_over_half"],
        serde_json::json!(["sre"])
    );

    // A refused entry keeps what was typed and says why.
    let page = ui
        .submit(
            "/ui/toil",
            "/ui/toil",
            &[
                ("team", "sre"),
                ("category", "production_interrupts"),
                ("minutes", "lots"),
                ("description", "Typed text"),
            ],
        )
        .await?;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Typed text"));
    Ok(())
}

#[tokio::test]
async fn viewers_see_no_forms_and_posts_need_the_csrf_field() -> anyhow::Result<()> {
    let s = start().await?;
    let responder = Session::login(&s, &s.tokens.responder).await?;
    let (id, _) = declare(&responder, "Seen by a viewer").await?;
    let page = responder
        .submit(
            &format!("/ui/incidents/{id}"),
            &format!("/ui/incidents/{id}/postmortem"),
            &[],
        )
        .await?;
    let pm_path = page.location.split('?').next().unwrap().to_string();

    let viewer = Session::login(&s, &s.tokens.viewer).await?;
    for path in [
        "/ui/incidents".to_string(),
        format!("/ui/incidents/{id}"),
        "/ui/postmortems".to_string(),
        pm_path.clone(),
        "/ui/toil".to_string(),
    ] {
        let page = viewer.get(&path).await?;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        // The only form that posts is the logout button.
        let posts = page.body.matches("method=\"post\"").count();
        assert_eq!(posts, 1, "{path} shows a write form to a viewer");
        assert!(page.body.contains("action=\"/ui/logout\""));
    }
    // A viewer's post with a valid CSRF token is still refused.
    let csrf = viewer.csrf("/ui/incidents").await?;
    let refused = viewer
        .post(
            "/ui/incidents",
            &[
                ("csrf", &csrf),
                ("title", "From a viewer"),
                ("severity", "SEV3"),
            ],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A responder's post without the CSRF field, or with a wrong one, is refused.
    let refused = responder
        .post(
            "/ui/incidents",
            &[("title", "No token"), ("severity", "SEV3")],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = responder
        .post(
            &format!("/ui/incidents/{id}/timeline"),
            &[("csrf", "0000"), ("kind", "note"), ("text", "forged")],
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let listed = api_get(&s, "/api/v1/incidents").await?;
    let titles: Vec<&str> = listed["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["Seen by a viewer"]);
    let timeline = api_get(&s, &format!("/api/v1/incidents/{id}/timeline")).await?;
    assert!(!timeline.to_string().contains("forged"));

    // Without a session the pages send the browser to the login page.
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = anon.get(s.url("/ui/incidents")).send().await?;
    assert!(
        r.status() == StatusCode::SEE_OTHER || r.status() == StatusCode::OK,
        "{}",
        r.status()
    );
    Ok(())
}
