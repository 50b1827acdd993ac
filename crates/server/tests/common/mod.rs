//! A real server on 127.0.0.1:0 with a temporary data directory.
#![allow(dead_code)]

use server::{ConfigSource, Settings};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const CONFIG: &str = r#"
apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: events
          total: { path: "^/api/" }
          good: { status: "<500" }
        objective: 99.9
        window: 30d
      - name: latency
        sli:
          kind: latency
          source: events
          total: { path: "^/api/" }
          good: { latency: "<=300ms" }
        objective: 99
        window: 30d
  - name: web
    slos:
      - name: pages
        sli:
          kind: availability
          source: access_log
          total: { path: "^/" }
          good: { status: "<500" }
        objective: 99
        window: 7d
"#;

/// The secrets of the tokens every test server starts with.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub ingest: String,
    pub viewer: String,
    pub responder: String,
    pub admin: String,
    /// An admin token revoked before the server started.
    pub revoked: String,
}

pub struct TestServer {
    pub base: String,
    pub tokens: Tokens,
    /// Sends no token.
    pub anon: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::Error>>>,
    /// Sends the admin token.
    pub client: reqwest::Client,
}

/// Creates one token of each role (and a revoked admin one) in `store`.
async fn create_tokens(
    store: &dyn store::Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<Tokens> {
    store.set_audit_key(store::audit_key(data_dir)?);
    let now = server::now();
    let make = async |role: store::TokenRole| -> anyhow::Result<(String, String)> {
        let secret = store::new_token_secret()?;
        let sha256 = store::token_sha256(&secret);
        let name = format!("test-{role}-{}", &sha256[..12]);
        let record = store::TokenRecord {
            name: name.clone(),
            role,
            sha256,
            created_at: now,
            revoked_at: None,
        };
        let audit = store::AuditEntry::new(now, "test", "token.create", &name);
        store.insert_token(&record, &audit).await?;
        Ok((name, secret))
    };
    let (_, ingest) = make(store::TokenRole::Ingest).await?;
    let (_, viewer) = make(store::TokenRole::Viewer).await?;
    let (_, responder) = make(store::TokenRole::Responder).await?;
    let (_, admin) = make(store::TokenRole::Admin).await?;
    let (name, revoked) = make(store::TokenRole::Admin).await?;
    let audit = store::AuditEntry::new(now, "test", "token.revoke", &name);
    anyhow::ensure!(store.revoke_token(&name, &audit).await?);
    Ok(Tokens {
        ingest,
        viewer,
        responder,
        admin,
        revoked,
    })
}

pub fn client_with(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

impl TestServer {
    pub async fn start() -> anyhow::Result<TestServer> {
        Self::start_with(CONFIG, |_| {}).await
    }

    pub async fn start_with(
        config: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("nines.yaml");
        std::fs::write(&config_path, config)?;
        Self::start_in(dir, config_path, tweak).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<TestServer> {
        Self::start_on("127.0.0.1:0", dir, config_path, tweak).await
    }

    /// Listens on `bind` (connecting through 127.0.0.1 on its port).
    pub async fn start_on(
        bind: &str,
        dir: tempfile::TempDir,
        config_path: PathBuf,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<TestServer> {
        let mut settings = Settings::new(
            ConfigSource::Files(vec![config_path.clone()]),
            dir.path().join("data"),
        );
        settings.eval_interval = Some(Duration::from_millis(200));
        tweak(&mut settings);
        let tokens = match settings.store.clone() {
            Some(store) => create_tokens(store.as_ref(), &settings.data_dir).await?,
            None => {
                let store = store::SqliteStore::open(&settings.data_dir.join("nines.db")).await?;
                let tokens = create_tokens(&store, &settings.data_dir).await;
                store::Store::close(&store).await?;
                tokens?
            }
        };
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, settings, async move {
            let _ = stopped.await;
        }));
        let client = client_with(Some(&tokens.admin))?;
        let anon = client_with(None)?;
        // Wait until ready.
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(TestServer {
            base,
            dir,
            config_path,
            stop: Some(stop),
            task: Some(task),
            client,
            anon,
            tokens,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let r = self.client.post(self.url(path)).json(body).send().await?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let r = self.client.get(self.url(path)).send().await?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// Stops the server and waits for its shutdown path; returns the data directory.
    pub async fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(self.dir)
    }
}

/// The SLO document of `key` from `GET /api/v1/slos`.
pub fn slo<'a>(doc: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    doc["slos"].as_array()?.iter().find(|s| {
        format!(
            "{}/{}",
            s["service"].as_str().unwrap_or(""),
            s["slo"].as_str().unwrap_or("")
        ) == key
    })
}

pub fn now_rfc3339() -> String {
    jiff_now()
}

fn jiff_now() -> String {
    // Seconds since the epoch, as RFC 3339 via the server's own formatter.
    server::format_time(server::now())
}
