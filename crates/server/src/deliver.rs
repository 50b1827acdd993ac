//! Delivery of the notification outbox: the body stored for each integration (`render`), one
//! attempt at sending a stored delivery (`send`), and the loop that sends what is due and
//! records every attempt (`run`).
//!
//! A delivery is looked up again in the config current at each attempt: a receiver or an
//! integration that is gone, or that now has another kind than the stored body, is a
//! permanent failure (never retried) with a reason for the history. Everything else follows
//! `notify::delivery`: 2xx delivered, 429/503 retried after `Retry-After`, other 4xx given up,
//! the rest retried with backoff. The outbox id is the `webhook-id`, unchanged across retries
//! and restarts, so a receiver can drop a duplicate sent before a crash was recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use notify::config::{EmailConfig, HttpConfig, Integration};
use notify::delivery::{after_attempt, Attempt, Outcome, RetryPolicy};
use notify::labels::LabelSet;
use notify::{AlertStatus, AlertmanagerConfig, PostableAlert, Receiver, WebhookMessage};
use serde::{Deserialize, Serialize};
use store::{AttemptOutcome, AttemptRecord, Notification, Store};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Per request (HTTP) and per SMTP command.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Sends at once, so one slow receiver holds one slot, not the loop.
const CONCURRENCY: usize = 16;
/// New deliveries taken per round.
const BATCH: usize = 64;
/// The loop looks for due deliveries at least this often (retries come due on their own).
const TICK: Duration = Duration::from_secs(1);
/// How long a stored outcome keeps its id from being claimed by a due list read before it.
const FINISHED_MEMORY: Duration = Duration::from_secs(60);

const USER_AGENT: &str = concat!("nines/", env!("CARGO_PKG_VERSION"));

/// Why a body cannot be rendered, or why a delivery is refused for good. Every variant is
/// permanent: sending again would fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    #[error("receiver {0:?} is no longer in the config")]
    ReceiverGone(String),
    #[error("receiver {receiver:?} has no integration {integration} any more")]
    IntegrationGone { receiver: String, integration: u32 },
    #[error(
        "integration {integration} of receiver {receiver:?} is now {current}, but the stored body is for {stored}"
    )]
    KindChanged {
        receiver: String,
        integration: u32,
        current: &'static str,
        stored: &'static str,
    },
    #[error("the stored body is unusable: {0}")]
    Payload(String),
    #[error(transparent)]
    Template(#[from] notify::template::TemplateError),
    #[error("invalid alert time {0:?}")]
    Time(String),
    #[error("signing the webhook: {0}")]
    Signing(String),
    #[error("invalid email: {0}")]
    Email(String),
    #[error("smtp refused the message: {0}")]
    SmtpRefused(String),
}

/// The email body stored in the outbox; the SMTP server comes from the config at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailEnvelope {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Extra headers besides `Subject`, `From` and `To`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn integration_at<'a>(
    receiver: &'a Receiver,
    integration: u32,
) -> Result<Integration<'a>, DeliverError> {
    usize::try_from(integration)
        .ok()
        .and_then(|i| receiver.integrations().get(i).copied())
        .ok_or_else(|| DeliverError::IntegrationGone {
            receiver: receiver.name.clone(),
            integration,
        })
}

/// The exact body stored in the outbox for integration `integration` of `receiver`.
/// Bodies depend on the receiver alone for now; `config` is there for global defaults.
pub fn render(
    _config: &AlertmanagerConfig,
    receiver: &Receiver,
    integration: u32,
    msg: &WebhookMessage,
) -> Result<String, DeliverError> {
    match integration_at(receiver, integration)? {
        Integration::Webhook(c) => to_json(&truncate(msg, c.max_alerts)),
        Integration::Slack(c) => to_json(&notify::template::slack_message(c, msg)?),
        Integration::Pagerduty(c) => to_json(&notify::template::pagerduty_event(c, msg)?),
        Integration::Alertmanager(_) => to_json(&postable_alerts(msg)?),
        Integration::Email(c) => to_json(&envelope(c, msg)?),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, DeliverError> {
    serde_json::to_string(value).map_err(|e| DeliverError::Payload(e.to_string()))
}

/// Keeps the first `max_alerts` alerts (0 = all) and counts the rest in `truncatedAlerts`;
/// status and common labels are those of the alerts sent, as `notify::webhook` builds them.
fn truncate(msg: &WebhookMessage, max_alerts: u64) -> WebhookMessage {
    let keep = usize::try_from(max_alerts).unwrap_or(usize::MAX);
    if max_alerts == 0 || msg.alerts.len() <= keep {
        return msg.clone();
    }
    let mut out = msg.clone();
    let dropped = out.alerts.split_off(keep);
    out.truncated_alerts = out.truncated_alerts.saturating_add(dropped.len() as u64);
    out.status = if out.alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        AlertStatus::Firing
    } else {
        AlertStatus::Resolved
    };
    out.common_labels = LabelSet::common(out.alerts.iter().map(|a| &a.labels));
    out.common_annotations = LabelSet::common(out.alerts.iter().map(|a| &a.annotations));
    out
}

/// The alerts as another Alertmanager's `POST /api/v2/alerts` takes them. A firing alert
/// goes without `endsAt` (the receiving Alertmanager applies its resolve timeout); a
/// resolved one carries its end, which resolves it there.
fn postable_alerts(msg: &WebhookMessage) -> Result<Vec<PostableAlert>, DeliverError> {
    let time = |s: &str| {
        s.parse::<Timestamp>()
            .map_err(|_| DeliverError::Time(s.to_string()))
    };
    msg.alerts
        .iter()
        .map(|a| {
            Ok(PostableAlert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: Some(time(&a.starts_at)?),
                ends_at: match a.status {
                    AlertStatus::Firing => None,
                    AlertStatus::Resolved => Some(time(&a.ends_at)?),
                },
                generator_url: Some(a.generator_url.clone()).filter(|u| !u.is_empty()),
            })
        })
        .collect()
}

fn envelope(cfg: &EmailConfig, msg: &WebhookMessage) -> Result<EmailEnvelope, DeliverError> {
    let mail = notify::template::email_message(cfg, msg)?;
    Ok(EmailEnvelope {
        to: mail.to,
        from: mail.from,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: mail.headers.into_iter().collect(),
    })
}

/// Which integration kind a stored body was rendered for (`Integration::kind` names).
fn payload_kind(body: &serde_json::Value) -> Option<&'static str> {
    match body {
        serde_json::Value::Array(_) => Some("alertmanager"),
        serde_json::Value::Object(o) => {
            if o.get("version").and_then(|v| v.as_str()) == Some("4") && o.contains_key("groupKey")
            {
                Some("webhook")
            } else if o.contains_key("event_action") && o.contains_key("routing_key") {
                Some("pagerduty")
            } else if o.contains_key("attachments") {
                Some("slack")
            } else if o.contains_key("to") && o.contains_key("subject") && o.contains_key("text") {
                Some("email")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// One attempt at delivering `n` with the config current now. `Ok` is an answer (or its
/// absence) for `notify::delivery::after_attempt` to judge; `Err` is a permanent refusal.
pub async fn send(
    client: &reqwest::Client,
    config: &AlertmanagerConfig,
    n: &Notification,
    now: Timestamp,
) -> Result<Attempt, DeliverError> {
    let record = &n.record;
    let receiver = config
        .receiver(&record.receiver)
        .ok_or_else(|| DeliverError::ReceiverGone(record.receiver.clone()))?;
    let integration = integration_at(receiver, record.integration)?;
    let body: serde_json::Value = serde_json::from_str(&record.payload)
        .map_err(|e| DeliverError::Payload(format!("not json: {e}")))?;
    let stored = payload_kind(&body);
    if stored != Some(integration.kind()) {
        return Err(DeliverError::KindChanged {
            receiver: receiver.name.clone(),
            integration: record.integration,
            current: integration.kind(),
            stored: stored.unwrap_or("an unknown kind"),
        });
    }
    let payload = record.payload.as_bytes();
    match integration {
        Integration::Webhook(c) => {
            // The id and time go on every webhook, signed or not, so any receiver can drop a
            // re-delivery after a crash.
            let mut headers = vec![
                ("webhook-id".to_string(), record.id.clone()),
                ("webhook-timestamp".to_string(), now.as_second().to_string()),
            ];
            if let Some(secret) = &c.signing_secret {
                headers.clear();
                let signed =
                    notify::sign_standard_webhook(secret, &record.id, now.as_second(), payload)
                        .map_err(|e| DeliverError::Signing(e.to_string()))?;
                headers.extend(
                    signed
                        .pairs()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
            }
            Ok(post(client, &c.url, &c.http_config, payload, &headers).await)
        }
        Integration::Slack(c) => Ok(post(client, &c.api_url, &c.http_config, payload, &[]).await),
        Integration::Pagerduty(c) => Ok(post(client, &c.url, &c.http_config, payload, &[]).await),
        Integration::Alertmanager(c) => {
            let url = format!("{}/api/v2/alerts", c.url.trim_end_matches('/'));
            Ok(post(client, &url, &c.http_config, payload, &[]).await)
        }
        Integration::Email(c) => {
            let envelope: EmailEnvelope = serde_json::from_value(body)
                .map_err(|e| DeliverError::Payload(format!("not an email envelope: {e}")))?;
            send_email(c, &envelope).await
        }
    }
}

/// POSTs a JSON body; the answer's status (and `Retry-After` on 429/503), or why there was none.
async fn post(
    client: &reqwest::Client,
    url: &str,
    auth: &HttpConfig,
    body: &[u8],
    headers: &[(String, String)],
) -> Attempt {
    let mut request = client
        .post(url)
        .timeout(TIMEOUT)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some(token) = &auth.bearer_token {
        request = request.bearer_auth(token);
    } else if let Some((user, password)) = &auth.basic_auth {
        request = request.basic_auth(user, Some(password));
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let code = response.status().as_u16();
            let retry_after = if code == 429 || code == 503 {
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            } else {
                None
            };
            Attempt::Status { code, retry_after }
        }
        Err(e) => Attempt::Transport(transport_reason(&e)),
    }
}

/// A short, lowercase reason for a request that got no answer.
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timeout after {}s", TIMEOUT.as_secs());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                _ => {}
            }
        }
        innermost = err.to_string();
        source = err.source();
    }
    if e.is_builder() {
        return format!("invalid request: {}", lowercase(&innermost));
    }
    if e.is_connect() {
        return format!("connect: {}", lowercase(&innermost));
    }
    lowercase(&innermost)
}

fn lowercase(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `host:port` (brackets around an IPv6 host allowed).
fn split_smarthost(smarthost: &str) -> Result<(String, u16), DeliverError> {
    let (host, port) = smarthost
        .rsplit_once(':')
        .ok_or_else(|| DeliverError::Email(format!("smarthost {smarthost:?} has no port")))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| DeliverError::Email(format!("smarthost {smarthost:?} has an invalid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(DeliverError::Email(format!(
            "smarthost {smarthost:?} has no host"
        )));
    }
    Ok((host.to_string(), port))
}

fn build_email(e: &EmailEnvelope) -> Result<Message, DeliverError> {
    let from: Mailbox = e
        .from
        .parse()
        .map_err(|err| DeliverError::Email(format!("from {:?}: {err}", e.from)))?;
    let to: Mailboxes =
        e.to.parse()
            .map_err(|err| DeliverError::Email(format!("to {:?}: {err}", e.to)))?;
    let mut builder = Message::builder().from(from).subject(e.subject.clone());
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    for (name, value) in &e.headers {
        let header = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| DeliverError::Email(format!("invalid header name {name:?}")))?;
        builder = builder.raw_header(HeaderValue::new(header, value.clone()));
    }
    let message = match &e.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            e.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(e.text.clone()),
        ),
    };
    message.map_err(|err| DeliverError::Email(err.to_string()))
}

/// Sends over SMTP: STARTTLS required when `require_tls` (TLS from the start on port 465),
/// plain otherwise; authenticated when a username and password are set. A 5xx answer is a
/// permanent refusal; anything else that fails is retried.
async fn send_email(cfg: &EmailConfig, envelope: &EmailEnvelope) -> Result<Attempt, DeliverError> {
    let message = build_email(envelope)?;
    let (host, port) = split_smarthost(&cfg.smarthost)?;
    let tls = if cfg.require_tls {
        let params = TlsParameters::new(host.clone())
            .map_err(|e| DeliverError::Email(format!("tls for {host:?}: {e}")))?;
        if port == 465 {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        }
    } else {
        Tls::None
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
        .port(port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if !cfg.hello.is_empty() {
        transport = transport.hello_name(ClientId::Domain(cfg.hello.clone()));
    }
    if let (Some(user), Some(password)) = (&cfg.auth_username, &cfg.auth_password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    match transport.build().send(message).await {
        Ok(_) => Ok(Attempt::Status {
            code: 200,
            retry_after: None,
        }),
        Err(e) if e.is_permanent() => Err(DeliverError::SmtpRefused(lowercase(&e.to_string()))),
        Err(e) if cfg.require_tls && e.to_string().contains("STARTTLS") => Ok(Attempt::Transport(
            format!("smtp server {host}:{port} does not offer starttls and require_tls is true"),
        )),
        Err(e) if e.is_timeout() => Ok(Attempt::Transport(format!(
            "smtp: timeout after {}s",
            TIMEOUT.as_secs()
        ))),
        Err(e) => Ok(Attempt::Transport(format!(
            "smtp: {}",
            lowercase(&e.to_string())
        ))),
    }
}

/// The delivery loop's shared state: one HTTP client, the ids being sent, and a wake-up.
pub struct Deliverer {
    client: reqwest::Client,
    policy: RetryPolicy,
    /// Outbox ids claimed by a send (or whose outcome is not stored yet): never sent twice
    /// at once, however long a receiver takes.
    in_flight: Mutex<HashSet<String>>,
    /// Ids whose outcome was stored, with when: a due list read before that moment is stale
    /// for them (it still shows them pending) and must not send them again.
    finished: Mutex<HashMap<String, std::time::Instant>>,
    /// Outcomes the store refused; stored again before anything else each round.
    unrecorded: Mutex<Vec<(String, AttemptRecord)>>,
    wake: tokio::sync::Notify,
}

impl Default for Deliverer {
    fn default() -> Deliverer {
        Deliverer::new()
    }
}

impl Deliverer {
    pub fn new() -> Deliverer {
        // Timeout and User-Agent are also set per request, so the fallback client keeps them.
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "building the delivery http client failed; using defaults");
                reqwest::Client::default()
            });
        Deliverer {
            client,
            policy: RetryPolicy::default(),
            in_flight: Mutex::new(HashSet::new()),
            finished: Mutex::new(HashMap::new()),
            unrecorded: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Another retry schedule (tests, or a future config option).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Deliverer {
        self.policy = policy;
        self
    }

    /// Looks for due deliveries now (after an enqueue) rather than at the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// How many deliveries are being sent (or wait for their outcome to be stored).
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// Claims `id` for one send from a due list read at `listed_at`; false when it is being
    /// sent, or its outcome was stored after the list was read (the list is stale for it).
    fn claim(&self, id: &str, listed_at: std::time::Instant) -> bool {
        if lock(&self.finished)
            .get(id)
            .is_some_and(|done| *done >= listed_at)
        {
            return false;
        }
        lock(&self.in_flight).insert(id.to_string())
    }

    /// Releases `id` once its outcome is stored.
    fn release(&self, id: &str) {
        let now = std::time::Instant::now();
        let mut finished = lock(&self.finished);
        // Entries older than any list still being walked are of no use.
        finished.retain(|_, done| now.duration_since(*done) < FINISHED_MEMORY);
        finished.insert(id.to_string(), now);
        drop(finished);
        lock(&self.in_flight).remove(id);
    }

    /// Gives `id` back without an outcome (the send never started).
    fn unclaim(&self, id: &str) {
        lock(&self.in_flight).remove(id);
    }
}

/// A poisoned lock only means a task panicked while holding it; the set itself is still valid.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this process may start a send now (it leads; see `crate::leader`).
pub type MaySend = Arc<dyn Fn() -> bool + Send + Sync>;

/// Sends what is due until `stop` turns true (or its sender is dropped). Store errors are
/// logged and tried again next round. Sends still running at stop are abandoned: they stay
/// pending in the store and go out again after a restart, with the same id. While `config`
/// gives nothing, deliveries wait (a missing config is not a removed receiver). While
/// `may_send` says no (another replica leads), nothing new is started: sends already
/// running finish and record their outcome, queued ones are given back.
pub async fn run(
    deliverer: Arc<Deliverer>,
    store: Arc<dyn Store>,
    config: Arc<dyn Fn() -> Option<Arc<AlertmanagerConfig>> + Send + Sync>,
    may_send: MaySend,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        store_unrecorded(&deliverer, store.as_ref()).await;
        let started = match config() {
            Some(cfg) if may_send() => {
                dispatch(&deliverer, &store, &cfg, &slots, &may_send, &mut tasks).await
            }
            _ => 0,
        };
        // A full batch means more may be due: go again at once.
        if started >= BATCH {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = deliverer.wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tasks.abort_all();
}

/// Starts a send for each due delivery not already in flight; returns how many started.
async fn dispatch(
    deliverer: &Arc<Deliverer>,
    store: &Arc<dyn Store>,
    config: &Arc<AlertmanagerConfig>,
    slots: &Arc<Semaphore>,
    may_send: &MaySend,
    tasks: &mut JoinSet<()>,
) -> usize {
    // In-flight ones are listed again while pending: ask for that many more.
    let limit = BATCH + deliverer.in_flight();
    let listed_at = std::time::Instant::now();
    let due = match store
        .due_notifications(Timestamp::now().as_second(), limit)
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "listing due notifications failed");
            return 0;
        }
    };
    let mut started = 0;
    for n in due {
        if !deliverer.claim(&n.record.id, listed_at) {
            continue;
        }
        started += 1;
        let (deliverer, store, config, slots, may_send) = (
            Arc::clone(deliverer),
            Arc::clone(store),
            Arc::clone(config),
            Arc::clone(slots),
            Arc::clone(may_send),
        );
        tasks.spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                deliverer.unclaim(&n.record.id);
                return;
            };
            // Leadership may have ended while this waited for a slot: the new leader sends
            // it (with the same id).
            if !may_send() {
                deliverer.unclaim(&n.record.id);
                return;
            }
            let sent = send(deliverer.client(), &config, &n, Timestamp::now()).await;
            let attempt = attempt_record(&deliverer.policy, &n, &sent, Timestamp::now());
            record(&deliverer, store.as_ref(), &n.record.id, attempt).await;
        });
    }
    started
}

/// The stored outcome of one attempt ended at `now`.
fn attempt_record(
    policy: &RetryPolicy,
    n: &Notification,
    sent: &Result<Attempt, DeliverError>,
    now: Timestamp,
) -> AttemptRecord {
    let outcome = match sent {
        Err(e) => AttemptOutcome::GaveUp {
            reason: e.to_string(),
        },
        Ok(attempt) => {
            let number = u32::try_from(n.attempts.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            match after_attempt(attempt, number, now, jitter(&n.record.id), policy) {
                Outcome::Delivered => AttemptOutcome::Delivered,
                Outcome::Retry { at, reason } => AttemptOutcome::Failed {
                    reason,
                    next_attempt_at: ceil_seconds(at),
                },
                Outcome::Failed { reason } => AttemptOutcome::GaveUp { reason },
            }
        }
    };
    AttemptRecord {
        at: now.as_second(),
        outcome,
    }
}

/// Whole seconds, rounded up so a retry is never earlier than decided (`Retry-After`).
fn ceil_seconds(at: Timestamp) -> i64 {
    let s = at.as_second();
    if at.subsec_nanosecond() > 0 {
        s.saturating_add(1)
    } else {
        s
    }
}

/// A value in [0, 1) that differs between deliveries and attempts, so retries of many
/// deliveries failing together spread out (std's randomly keyed hasher; no RNG needed).
fn jitter(id: &str) -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(id.as_bytes());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Stores an attempt and releases the id; an outcome the store refuses keeps the id claimed
/// (so it is not sent again) and is stored again next round.
async fn record(deliverer: &Deliverer, store: &dyn Store, id: &str, attempt: AttemptRecord) {
    match store.record_attempt(id, &attempt).await {
        Ok(_) => deliverer.release(id),
        Err(e) => {
            tracing::warn!(notification = %id, error = %e, "recording a delivery attempt failed; kept to retry");
            lock(&deliverer.unrecorded).push((id.to_string(), attempt));
        }
    }
}

async fn store_unrecorded(deliverer: &Deliverer, store: &dyn Store) {
    let waiting = std::mem::take(&mut *lock(&deliverer.unrecorded));
    for (id, attempt) in waiting {
        record(deliverer, store, &id, attempt).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_due_list_read_before_an_outcome_was_stored_cannot_claim_it_again() {
        let d = Deliverer::new();
        let before = std::time::Instant::now();
        assert!(d.claim("a", before));
        assert!(!d.claim("a", before), "in flight");
        d.release("a");
        // The list read at `before` still shows "a" pending: it must not be sent again.
        assert!(!d.claim("a", before));
        // A list read after the outcome was stored is current: a due retry may go.
        let after = std::time::Instant::now();
        assert!(d.claim("a", after));
        // A send that never started gives its claim back without an outcome.
        d.unclaim("a");
        assert!(d.claim("a", after));
    }

    #[test]
    fn smarthost_and_rounding() {
        assert_eq!(
            split_smarthost("mail:587").unwrap(),
            ("mail".to_string(), 587)
        );
        assert_eq!(
            split_smarthost("[::1]:25").unwrap(),
            ("::1".to_string(), 25)
        );
        assert!(split_smarthost("mail").is_err());
        assert!(split_smarthost(":25").is_err());
        let t: Timestamp = "2024-01-01T00:00:10.2Z".parse().unwrap();
        assert_eq!(ceil_seconds(t), t.as_second() + 1);
        let j = jitter("x");
        assert!((0.0..1.0).contains(&j));
    }

    /// A replica that does not lead sends nothing, even with deliveries due; the moment it
    /// leads, it sends them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_leader_sends() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = AlertmanagerConfig::from_yaml_str(&format!(
            "route: {{receiver: team}}\nreceivers: [{{name: team, webhook_configs: [{{url: '{url}'}}]}}]"
        ))
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(store::MemoryStore::new());
        let now = Timestamp::now().as_second();
        let record = store::OutboxRecord {
            id: "n1".to_string(),
            receiver: "team".to_string(),
            integration: 0,
            group_key: "{}:{}".to_string(),
            payload: r#"{"version":"4","groupKey":"{}:{}","status":"firing","alerts":[]}"#
                .to_string(),
            created_at: now,
            next_attempt_at: now,
        };
        store.enqueue_notifications(&[record], &[]).await.unwrap();

        let leading = Arc::new(AtomicBool::new(false));
        let flag = leading.clone();
        let deliverer = Arc::new(Deliverer::new());
        let cfg = Arc::new(cfg);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(
            deliverer.clone(),
            store.clone(),
            Arc::new(move || Some(cfg.clone())),
            Arc::new(move || flag.load(Ordering::SeqCst)),
            stop_rx,
        ));
        // A few rounds as a follower (woken, and past a tick): nothing goes out.
        deliverer.wake();
        tokio::time::sleep(TICK + Duration::from_millis(300)).await;
        assert_eq!(hits.load(Ordering::SeqCst), 0, "a follower sent");

        leading.store(true, Ordering::SeqCst);
        deliverer.wake();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while hits.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the leader did not send");
        let _ = stop.send(true);
        let _ = task.await;
    }
}
