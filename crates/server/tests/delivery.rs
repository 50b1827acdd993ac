//! The delivery loop (`server::deliver`) against real receivers started by each test: HTTP
//! servers on 127.0.0.1:0 (webhook, Slack, PagerDuty, a fake Alertmanager) and a minimal SMTP
//! listener, over a real SqliteStore in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use notify::webhook::{build_message, MessageContext};
use notify::{Alert, AlertmanagerConfig, LabelSet, WebhookMessage};
use serde_json::{json, Value};
use server::deliver::{render, run, Deliverer};
use sha2::{Digest, Sha256};
use store::{
    AttemptOutcome, DeliveryStatus, Notification, NotificationFilter, OutboxRecord, SqliteStore,
    Store,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

const GROUP_KEY: &str = r#"{}:{alertname="HighLatency"}"#;
/// `whsec_` + base64 of the 24 bytes "nines-test-signing-key!!".
const SECRET_KEY: &[u8] = b"nines-test-signing-key!!";

// ---------------------------------------------------------------------------------------------
// An HTTP receiver that records requests and answers from a script.

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Script {
    got: Mutex<Vec<Request>>,
    /// Answers in order (status, Retry-After); 200 once empty.
    answers: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    delay: Duration,
    /// Requests answered so far (a slow one counts once its answer is sent).
    answered: Mutex<usize>,
}

struct Http {
    base: String,
    script: Arc<Script>,
}

impl Http {
    async fn start(answers: &[(u16, Option<&'static str>)], delay: Duration) -> Http {
        let script = Arc::new(Script {
            answers: Mutex::new(answers.iter().copied().collect()),
            delay,
            ..Script::default()
        });
        let app = axum::Router::new()
            .fallback(
                |State(script): State<Arc<Script>>,
                 uri: Uri,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    script.got.lock().unwrap().push(Request {
                        path: uri.path().to_string(),
                        headers,
                        body: body.to_vec(),
                    });
                    let answer = script.answers.lock().unwrap().pop_front();
                    tokio::time::sleep(script.delay).await;
                    *script.answered.lock().unwrap() += 1;
                    let (code, retry_after) = answer.unwrap_or((200, None));
                    let mut headers = HeaderMap::new();
                    if let Some(r) = retry_after {
                        headers.insert("retry-after", r.parse().unwrap());
                    }
                    (StatusCode::from_u16(code).unwrap(), headers, "ok").into_response()
                },
            )
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Http { base, script }
    }

    fn requests(&self) -> Vec<Request> {
        self.script.got.lock().unwrap().clone()
    }

    fn answered(&self) -> usize {
        *self.script.answered.lock().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal SMTP server (no STARTTLS offered).

struct Smtp {
    addr: String,
    /// Each DATA section received.
    messages: Arc<Mutex<Vec<String>>>,
}

impl Smtp {
    /// `rcpt_code`: the answer to RCPT TO (250, or 550 to refuse for good).
    async fn start(rcpt_code: u16) -> Smtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = smtp_session(socket, rcpt_code, store).await;
                });
            }
        });
        Smtp { addr, messages }
    }
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    rcpt_code: u16,
    store: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer: String = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250-test\r\n250 8BITMIME\r\n".into()
        } else if command.starts_with("MAIL FROM") {
            "250 ok\r\n".into()
        } else if command.starts_with("RCPT TO") {
            if rcpt_code == 250 {
                "250 ok\r\n".into()
            } else {
                format!("{rcpt_code} 5.1.1 no such mailbox\r\n")
            }
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            store.lock().unwrap().push(data);
            "250 queued\r\n".into()
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if command == "RSET" || command == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
        write.write_all(answer.as_bytes()).await?;
    }
}

// ---------------------------------------------------------------------------------------------
// The loop under test, its store and config.

struct Harness {
    store: Arc<dyn Store>,
    config: Arc<Mutex<Arc<AlertmanagerConfig>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    deliverer: Arc<Deliverer>,
    _dir: tempfile::TempDir,
}

fn config(yaml: &str) -> AlertmanagerConfig {
    AlertmanagerConfig::from_yaml_str(yaml).unwrap()
}

impl Harness {
    async fn start(cfg: AlertmanagerConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("nines.db"))
                .await
                .unwrap(),
        );
        let config = Arc::new(Mutex::new(Arc::new(cfg)));
        let (stop, stop_rx) = watch::channel(false);
        let deliverer = Arc::new(Deliverer::new());
        let current = config.clone();
        let task = tokio::spawn(run(
            deliverer.clone(),
            store.clone(),
            Arc::new(move || Some(current.lock().unwrap().clone())),
            // A single process: always the leader.
            Arc::new(|| true),
            stop_rx,
        ));
        Harness {
            store,
            config,
            stop,
            task,
            deliverer,
            _dir: dir,
        }
    }

    fn config(&self) -> Arc<AlertmanagerConfig> {
        self.config.lock().unwrap().clone()
    }

    /// Renders `msg` for integration `integration` of `receiver` and enqueues it as `id`.
    async fn enqueue(&self, id: &str, receiver: &str, integration: u32, msg: &WebhookMessage) {
        let cfg = self.config();
        let r = cfg.receiver(receiver).unwrap();
        let payload = render(&cfg, r, integration, msg).unwrap();
        self.enqueue_payload(id, receiver, integration, payload)
            .await;
    }

    async fn enqueue_payload(&self, id: &str, receiver: &str, integration: u32, payload: String) {
        let now = Timestamp::now().as_second();
        let record = OutboxRecord {
            id: id.into(),
            receiver: receiver.into(),
            integration,
            group_key: GROUP_KEY.into(),
            payload,
            created_at: now,
            next_attempt_at: now,
        };
        self.store
            .enqueue_notifications(&[record], &[])
            .await
            .unwrap();
        self.deliverer.wake();
    }

    async fn notification(&self, id: &str) -> Notification {
        self.store
            .notifications(&NotificationFilter::default(), 1000)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.record.id == id)
            .unwrap()
    }

    /// Polls until `done` holds for the delivery `id` (panics with its state at the deadline).
    async fn wait(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Notification) -> bool,
    ) -> Notification {
        let deadline = Instant::now() + within;
        loop {
            let n = self.notification(id).await;
            if done(&n) {
                return n;
            }
            assert!(Instant::now() < deadline, "timed out; delivery is {n:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .expect("the loop returns promptly on stop")
            .unwrap();
    }
}

fn attempts(n: &Notification) -> usize {
    n.attempts.len()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// `HighLatency` on service api: instance i0 firing (ends in the future), i1 resolved.
fn message(receiver: &str, resolved_only: bool) -> WebhookMessage {
    let now = Timestamp::now();
    let ends = if resolved_only {
        ["2024-01-01T10:05:00Z", "2024-01-01T10:06:00Z"]
    } else {
        ["2999-01-01T00:00:00Z", "2024-01-01T10:05:00Z"]
    };
    let alerts: Vec<Alert> = ends
        .iter()
        .enumerate()
        .map(|(i, e)| Alert {
            labels: [
                ("alertname", "HighLatency".to_string()),
                ("service", "api".to_string()),
                ("instance", format!("i{i}")),
            ]
            .into_iter()
            .collect(),
            annotations: [("summary", "p99 over 1s")].into_iter().collect(),
            starts_at: ts("2024-01-01T10:00:00.5Z"),
            ends_at: ts(e),
            generator_url: "http://prom/g".into(),
        })
        .collect();
    let gl: LabelSet = [("alertname", "HighLatency")].into_iter().collect();
    build_message(
        &MessageContext {
            receiver,
            group_key: GROUP_KEY,
            group_labels: &gl,
            external_url: "http://nines:9898",
            max_alerts: 0,
        },
        &alerts,
        now,
    )
}

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(SECRET_KEY)
    )
}

fn webhook_config(url: &str) -> AlertmanagerConfig {
    config(&format!(
        "route: {{receiver: hook}}\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: '{url}'\n    signing_secret: '{}'\n    http_config: {{authorization: {{type: Bearer, credentials: tok123}}}}\n  - url: '{url}'\n    max_alerts: 1\n",
        secret()
    ))
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_gets_v4_signed_with_the_outbox_id_and_bearer_auth() {
    let hook = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    let before = Timestamp::now().as_second();
    h.enqueue("msg_1", "hook", 0, &message("hook", false)).await;
    let n = h
        .wait("msg_1", Duration::from_secs(5), |n| {
            n.status == DeliveryStatus::Delivered
        })
        .await;
    assert_eq!(n.attempts.len(), 1);
    assert_eq!(n.attempts[0].outcome, AttemptOutcome::Delivered);

    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.path, "/hook");
    // The body is exactly the stored payload, and Alertmanager's version 4.
    assert_eq!(r.body, n.record.payload.as_bytes());
    let fp = |i: &str| {
        LabelSet::from_iter([
            ("alertname", "HighLatency"),
            ("instance", i),
            ("service", "api"),
        ])
        .fingerprint()
        .to_string()
    };
    assert_eq!(
        r.json(),
        json!({
            "receiver": "hook",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "instance": "i0", "service": "api"},
                    "annotations": {"summary": "p99 over 1s"},
                    "startsAt": "2024-01-01T10:00:00.5Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom/g",
                    "fingerprint": fp("i0"),
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "HighLatency", "instance": "i1", "service": "api"},
                    "annotations": {"summary": "p99 over 1s"},
                    "startsAt": "2024-01-01T10:00:00.5Z",
                    "endsAt": "2024-01-01T10:05:00Z",
                    "generatorURL": "http://prom/g",
                    "fingerprint": fp("i1"),
                },
            ],
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency", "service": "api"},
            "commonAnnotations": {"summary": "p99 over 1s"},
            "externalURL": "http://nines:9898",
            "version": "4",
            "groupKey": GROUP_KEY,
            "truncatedAlerts": 0,
        })
    );
    assert_eq!(r.header("authorization"), "Bearer tok123");
    assert!(
        r.header("user-agent").starts_with("nines/"),
        "{}",
        r.header("user-agent")
    );
    assert_eq!(r.header("content-type"), "application/json");

    // Standard Webhooks: HMAC-SHA256 over "id.timestamp.body", recomputed here.
    assert_eq!(r.header("webhook-id"), "msg_1");
    let stamp: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!(
        stamp >= before && stamp <= Timestamp::now().as_second(),
        "{stamp}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET_KEY).unwrap();
    mac.update(format!("msg_1.{stamp}.").as_bytes());
    mac.update(&r.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(r.header("webhook-signature"), format!("v1,{expected}"));
    h.stop().await;
}

#[tokio::test]
async fn webhook_max_alerts_truncates_and_unsigned_has_no_signature() {
    let hook = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    h.enqueue("msg_trunc", "hook", 1, &message("hook", false))
        .await;
    h.wait("msg_trunc", Duration::from_secs(5), |n| {
        n.status == DeliveryStatus::Delivered
    })
    .await;
    let r = &hook.requests()[0];
    let body = r.json();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["truncatedAlerts"], 1);
    assert_eq!(body["alerts"][0]["labels"]["instance"], "i0");
    // Common labels are those of the alerts sent.
    assert_eq!(body["commonLabels"]["instance"], "i0");
    assert_eq!(body["status"], "firing");
    assert_eq!(r.header("webhook-signature"), "");
    assert_eq!(r.header("authorization"), "");
    h.stop().await;
}

#[tokio::test]
async fn server_error_is_retried_with_the_same_webhook_id() {
    let hook = Http::start(&[(500, None)], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    h.enqueue("msg_retry", "hook", 0, &message("hook", false))
        .await;
    let n = h
        .wait("msg_retry", Duration::from_secs(8), |n| {
            n.status == DeliveryStatus::Delivered
        })
        .await;
    assert_eq!(n.attempts.len(), 2, "{n:#?}");
    match &n.attempts[0].outcome {
        AttemptOutcome::Failed {
            reason,
            next_attempt_at,
        } => {
            assert_eq!(reason, "http 500");
            assert!(*next_attempt_at >= n.attempts[0].at, "{n:#?}");
            assert!(*next_attempt_at <= n.attempts[0].at + 2, "{n:#?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(n.attempts[1].outcome, AttemptOutcome::Delivered);
    let got = hook.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), "msg_retry");
    assert_eq!(got[1].header("webhook-id"), "msg_retry");
    assert_eq!(got[0].body, got[1].body);
    h.stop().await;
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let hook = Http::start(&[(429, Some("120"))], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    h.enqueue("msg_429", "hook", 0, &message("hook", false))
        .await;
    let n = h
        .wait("msg_429", Duration::from_secs(5), |n| attempts(n) == 1)
        .await;
    assert_eq!(n.status, DeliveryStatus::Pending);
    let at = n.attempts[0].at;
    match &n.attempts[0].outcome {
        AttemptOutcome::Failed {
            reason,
            next_attempt_at,
        } => {
            assert_eq!(reason, "http 429");
            assert!((at + 120..=at + 121).contains(next_attempt_at), "{n:#?}");
            assert_eq!(n.record.next_attempt_at, *next_attempt_at);
        }
        other => panic!("{other:?}"),
    }
    // Not due: a wake-up does not send it again.
    h.deliverer.wake();
    let due = h
        .store
        .due_notifications(Timestamp::now().as_second(), 10)
        .await
        .unwrap();
    assert!(due.is_empty(), "{due:#?}");
    assert_eq!(hook.requests().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn client_error_gives_up_without_retrying() {
    let hook = Http::start(&[(400, None)], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    h.enqueue("msg_400", "hook", 0, &message("hook", false))
        .await;
    let n = h
        .wait("msg_400", Duration::from_secs(5), |n| {
            n.status != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(n.status, DeliveryStatus::GaveUp);
    assert_eq!(
        n.attempts
            .iter()
            .map(|a| a.outcome.clone())
            .collect::<Vec<_>>(),
        [AttemptOutcome::GaveUp {
            reason: "http 400: not retried".into()
        }]
    );
    assert_eq!(hook.requests().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn connection_refused_is_retried_with_a_reason() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = Harness::start(webhook_config(&format!("http://127.0.0.1:{port}/hook"))).await;
    h.enqueue("msg_refused", "hook", 0, &message("hook", false))
        .await;
    let n = h
        .wait("msg_refused", Duration::from_secs(5), |n| attempts(n) >= 1)
        .await;
    assert!(
        matches!(&n.attempts[0].outcome, AttemptOutcome::Failed { reason, .. } if reason == "connection refused"),
        "{n:#?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_receiver_gone_from_the_config_gives_up_with_the_reason() {
    let hook = Http::start(&[], Duration::ZERO).await;
    let slack = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", hook.base))).await;
    let payload = render(
        &h.config(),
        h.config().receiver("hook").unwrap(),
        0,
        &message("hook", false),
    )
    .unwrap();
    // Reloaded before the send: "hook" is gone, and "other"'s first integration is Slack now.
    *h.config.lock().unwrap() = Arc::new(config(&format!(
        "route: {{receiver: other}}\nreceivers:\n- name: other\n  slack_configs: [{{api_url: '{}/slack'}}]\n",
        slack.base
    )));
    h.enqueue_payload("msg_gone", "hook", 0, payload.clone())
        .await;
    h.enqueue_payload("msg_kind", "other", 0, payload.clone())
        .await;
    h.enqueue_payload("msg_index", "other", 3, payload).await;
    let gone = h
        .wait("msg_gone", Duration::from_secs(5), |n| {
            n.status != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(
        gone.attempts[0].outcome,
        AttemptOutcome::GaveUp {
            reason: "receiver \"hook\" is no longer in the config".into()
        }
    );
    let kind = h
        .wait("msg_kind", Duration::from_secs(5), |n| {
            n.status != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(
        kind.attempts[0].outcome,
        AttemptOutcome::GaveUp {
            reason: "integration 0 of receiver \"other\" is now slack, but the stored body is for webhook".into()
        }
    );
    let index = h
        .wait("msg_index", Duration::from_secs(5), |n| {
            n.status != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(
        index.attempts[0].outcome,
        AttemptOutcome::GaveUp {
            reason: "receiver \"other\" has no integration 3 any more".into()
        }
    );
    assert!(hook.requests().is_empty());
    assert!(slack.requests().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_does_not_delay_another_nor_get_sent_twice() {
    let slow = Http::start(&[], Duration::from_secs(4)).await;
    let fast = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(config(&format!(
        "route: {{receiver: slow}}\nreceivers:\n- name: slow\n  webhook_configs: [{{url: '{}/s'}}]\n- name: fast\n  webhook_configs: [{{url: '{}/f'}}]\n",
        slow.base, fast.base
    )))
    .await;
    h.enqueue("msg_slow", "slow", 0, &message("slow", false))
        .await;
    // The slow send is under way before the fast one is even enqueued.
    let deadline = Instant::now() + Duration::from_secs(3);
    while slow.requests().is_empty() {
        assert!(Instant::now() < deadline, "the slow receiver got nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.enqueue("msg_fast", "fast", 0, &message("fast", false))
        .await;
    h.wait("msg_fast", Duration::from_secs(2), |n| {
        n.status == DeliveryStatus::Delivered
    })
    .await;
    // The slow one has not answered yet, and is still pending.
    assert_eq!(slow.answered(), 0);
    assert_eq!(
        h.notification("msg_slow").await.status,
        DeliveryStatus::Pending
    );
    // Later it is delivered, having been sent once although it was due on every tick.
    h.wait("msg_slow", Duration::from_secs(8), |n| {
        n.status == DeliveryStatus::Delivered
    })
    .await;
    assert_eq!(slow.requests().len(), 1);
    assert_eq!(fast.requests().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn forwarding_posts_postable_alerts_to_another_alertmanager() {
    let am = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(config(&format!(
        "route: {{receiver: fwd}}\nreceivers:\n- name: fwd\n  alertmanager_configs: [{{url: '{}/'}}]\n",
        am.base
    )))
    .await;
    h.enqueue("msg_fwd", "fwd", 0, &message("fwd", false)).await;
    h.wait("msg_fwd", Duration::from_secs(5), |n| {
        n.status == DeliveryStatus::Delivered
    })
    .await;
    let got = am.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/api/v2/alerts");
    // What Alertmanager's API accepts, parsed with the same type nines' own API reads.
    let alerts: Vec<notify::PostableAlert> = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].labels.get("instance"), Some("i0"));
    assert_eq!(alerts[0].annotations.get("summary"), Some("p99 over 1s"));
    assert_eq!(alerts[0].starts_at, Some(ts("2024-01-01T10:00:00.5Z")));
    assert_eq!(alerts[0].ends_at, None, "a firing alert carries no end");
    assert_eq!(alerts[0].generator_url.as_deref(), Some("http://prom/g"));
    assert_eq!(alerts[1].ends_at, Some(ts("2024-01-01T10:05:00Z")));
    let raw = got[0].json();
    assert_eq!(raw[0]["startsAt"], "2024-01-01T10:00:00.5Z");
    assert_eq!(raw[0]["generatorURL"], "http://prom/g");
    h.stop().await;
}

#[tokio::test]
async fn pagerduty_and_slack_bodies() {
    let pd = Http::start(&[], Duration::ZERO).await;
    let slack = Http::start(&[], Duration::ZERO).await;
    let h = Harness::start(config(&format!(
        "route: {{receiver: ops}}\nreceivers:\n- name: ops\n  slack_configs:\n  - api_url: '{}/services/x'\n    channel: '#ops'\n    title: '{{{{ commonLabels.alertname }}}} ({{{{ firingAlerts | length }}}} firing)'\n  pagerduty_configs:\n  - routing_key: rk\n    url: '{}/v2/enqueue'\n",
        slack.base, pd.base
    )))
    .await;
    // Slack is integration 0, PagerDuty 1 (webhooks, emails, slack, pagerduty, alertmanagers).
    h.enqueue("msg_slack", "ops", 0, &message("ops", false))
        .await;
    h.enqueue("msg_pd", "ops", 1, &message("ops", false)).await;
    h.enqueue("msg_pd_resolved", "ops", 1, &message("ops", true))
        .await;
    for id in ["msg_slack", "msg_pd", "msg_pd_resolved"] {
        h.wait(id, Duration::from_secs(5), |n| {
            n.status == DeliveryStatus::Delivered
        })
        .await;
    }
    let s = &slack.requests()[0];
    assert_eq!(s.path, "/services/x");
    let body = s.json();
    assert_eq!(body["channel"], "#ops");
    assert_eq!(body["username"], "nines");
    assert_eq!(body["attachments"][0]["title"], "HighLatency (1 firing)");
    assert_eq!(body["attachments"][0]["color"], "danger");
    assert_eq!(
        body["attachments"][0]["title_link"],
        "http://nines:9898/#/alerts?receiver=ops"
    );

    let events: Vec<Value> = pd.requests().iter().map(Request::json).collect();
    assert_eq!(events.len(), 2);
    assert!(pd.requests().iter().all(|r| r.path == "/v2/enqueue"));
    let dedup: String = Sha256::digest(GROUP_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let trigger = events
        .iter()
        .find(|e| e["event_action"] == "trigger")
        .unwrap();
    assert_eq!(trigger["routing_key"], "rk");
    assert_eq!(trigger["dedup_key"], dedup.as_str());
    assert_eq!(
        trigger["payload"]["summary"],
        "[FIRING:1] HighLatency (api)"
    );
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(trigger["payload"]["custom_details"]["num_firing"], "1");
    let resolve = events
        .iter()
        .find(|e| e["event_action"] == "resolve")
        .unwrap();
    assert_eq!(resolve["dedup_key"], dedup.as_str());
    assert!(resolve.get("payload").is_none());
    h.stop().await;
}

fn email_config(smarthost: &str, require_tls: bool) -> AlertmanagerConfig {
    config(&format!(
        "global: {{smtp_from: 'nines@example.com', smtp_smarthost: '{smarthost}', smtp_require_tls: {require_tls}}}\nroute: {{receiver: mail}}\nreceivers:\n- name: mail\n  email_configs: [{{to: 'oncall@example.com', headers: {{X-Team: checkout}}}}]\n"
    ))
}

#[tokio::test]
async fn email_over_plain_smtp_carries_the_subject() {
    let smtp = Smtp::start(250).await;
    let h = Harness::start(email_config(&smtp.addr, false)).await;
    h.enqueue("msg_mail", "mail", 0, &message("mail", false))
        .await;
    h.wait("msg_mail", Duration::from_secs(5), |n| {
        n.status == DeliveryStatus::Delivered
    })
    .await;
    let messages = smtp.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(
        m.contains("Subject: [FIRING:1] HighLatency (api)\r\n"),
        "{m}"
    );
    assert!(m.contains("To: oncall@example.com\r\n"), "{m}");
    assert!(m.contains("From: nines@example.com\r\n"), "{m}");
    assert!(m.contains("X-Team: checkout\r\n"), "{m}");
    assert!(m.contains("Alerts Firing:"), "{m}");
    h.stop().await;
}

#[tokio::test]
async fn email_requiring_tls_fails_clearly_without_starttls() {
    let smtp = Smtp::start(250).await;
    let h = Harness::start(email_config(&smtp.addr, true)).await;
    h.enqueue("msg_tls", "mail", 0, &message("mail", false))
        .await;
    let n = h
        .wait("msg_tls", Duration::from_secs(5), |n| attempts(n) >= 1)
        .await;
    match &n.attempts[0].outcome {
        AttemptOutcome::Failed { reason, .. } => assert_eq!(
            reason,
            &format!(
                "smtp server {} does not offer starttls and require_tls is true",
                smtp.addr
            )
        ),
        other => panic!("{other:?}"),
    }
    assert!(smtp.messages.lock().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn email_refused_for_good_is_not_retried() {
    let smtp = Smtp::start(550).await;
    let h = Harness::start(email_config(&smtp.addr, false)).await;
    h.enqueue("msg_550", "mail", 0, &message("mail", false))
        .await;
    let n = h
        .wait("msg_550", Duration::from_secs(5), |n| {
            n.status != DeliveryStatus::Pending
        })
        .await;
    assert_eq!(n.status, DeliveryStatus::GaveUp);
    match &n.attempts[0].outcome {
        AttemptOutcome::GaveUp { reason } => {
            assert!(
                reason.starts_with("smtp refused the message: permanent error (550)"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn stop_returns_promptly_and_an_abandoned_send_stays_pending() {
    let slow = Http::start(&[], Duration::from_secs(8)).await;
    let h = Harness::start(webhook_config(&format!("{}/hook", slow.base))).await;
    h.enqueue("msg_abandoned", "hook", 0, &message("hook", false))
        .await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while slow.requests().is_empty() {
        assert!(Instant::now() < deadline, "the receiver got nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let store = h.store.clone();
    // `stop` fails the test if the loop takes more than 2 s to return.
    h.stop().await;
    let n = store
        .notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.record.id == "msg_abandoned")
        .unwrap();
    assert_eq!(n.status, DeliveryStatus::Pending);
    assert!(n.attempts.is_empty());
    assert_eq!(slow.answered(), 0);
}
