//! The notification pipeline around the pure `notify` core: alerts, silences, acknowledgements
//! and aggregation-group states live in memory for decisions and in the store for restarts.
//!
//! Data flows one way: API posts and the SLO evaluator put alerts in ([`Notifier::post_alerts`],
//! [`Notifier::sync_slo_alerts`]); [`run`] steps every aggregation group once a second (or when
//! woken) and writes the notifications that are due together with the group states that caused
//! them in one store transaction (the outbox); `deliver::run` sends what the outbox holds.
//!
//! Write-through: every change is stored first and applied in memory only once the store has
//! it, so an acknowledged API call survives a crash and a failed store write changes nothing.
//! After a crash, the group states are those of the last committed notification, so a
//! notification is either in the outbox (and delivered, with the same webhook id) or will be
//! decided again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use notify::group::{FlapHistory, GroupAlert, GroupOptions, GroupState};
use notify::labels::LabelSet;
use notify::silence::{GettableSilence, PostableSilence, SilenceChange};
use notify::status::{AlertGroupJson, GettableAlert, ReceiverName};
use notify::webhook::{build_message, MessageContext};
use notify::{Alert, AlertmanagerConfig, Fingerprint, PostableAlert, Silence};
use serde::Serialize;
use store::{AckRecord, AlertRecord, AlertSource, GroupStateRecord, OutboxRecord, SilenceRecord};
use tokio::sync::{watch, Mutex, Notify};

use crate::error::ApiError;
use crate::state::AppState;

/// How long resolved alerts and idle group states are kept. Finished deliveries are kept as
/// long as `--retention-notifications` says ([`crate::retention`] prunes them).
const RESOLVED_RETENTION: SignedDuration = SignedDuration::from_secs(3600);
/// nines' own SLO alerts are leases too: renewed every evaluation round, resolved at once
/// when the tier stops firing, and left to expire if nines stops evaluating.
const SLO_ALERT_LEASE: SignedDuration = SignedDuration::from_secs(300);
/// How often firing alerts are forwarded again to an Alertmanager at the latest.
const FORWARD_REPEAT: SignedDuration = SignedDuration::from_secs(60);
/// How often a replica sharing its store re-reads alerts, silences and acknowledgements.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// The `alertname` of nines' error-budget alerts.
pub const SLO_ALERTNAME: &str = "ErrorBudgetBurn";

/// One alert as the pipeline keeps it.
#[derive(Debug, Clone)]
struct Held {
    alert: Alert,
    source: AlertSource,
    updated_at: Timestamp,
}

/// One aggregation group at one integration of one receiver.
#[derive(Debug, Clone)]
struct GroupEntry {
    receiver: String,
    state: GroupState,
}

#[derive(Default)]
struct Inner {
    loaded: bool,
    alerts: BTreeMap<Fingerprint, Held>,
    silences: Vec<Silence>,
    acks: BTreeMap<Fingerprint, AckRecord>,
    /// By [`state_key`].
    groups: HashMap<String, GroupEntry>,
    /// Flap histories live in memory only: after a restart an alert starts unflapping.
    flaps: HashMap<Fingerprint, FlapHistory>,
    last_prune: Option<Timestamp>,
}

/// An alert as `GET /api/v2/alerts` shows it, with nines' additions.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: GettableAlert,
    /// Where the alert came from: `prometheus` (the API) or `nines` (the SLO evaluator).
    pub source: &'static str,
    /// Set while the alert is acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<AckView>,
    pub flapping: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AckView {
    pub by: String,
    pub comment: String,
    pub at: String,
}

/// Which alerts a listing keeps (Alertmanager's query parameters).
#[derive(Debug, Clone)]
pub struct AlertFilter {
    pub active: bool,
    pub silenced: bool,
    pub inhibited: bool,
    pub matchers: notify::Matchers,
    pub receiver: Option<regex::Regex>,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            active: true,
            silenced: true,
            inhibited: true,
            matchers: notify::Matchers(Vec::new()),
            receiver: None,
        }
    }
}

/// The pipeline's state; one per server.
#[derive(Default)]
pub struct Notifier {
    inner: Mutex<Inner>,
    wake: Notify,
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn store_err(e: store::StoreError) -> ApiError {
    ApiError::from(e)
}

/// A random id in the UUID v4 text form (silences, outbox entries).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: fall back to the clock and a counter, still unique per process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Timestamp::now().as_nanosecond() as u64;
        b[..8].copy_from_slice(&t.to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn alert_record(h: &Held) -> Result<AlertRecord, ApiError> {
    let json = |l: &LabelSet| {
        serde_json::to_string(l)
            .map_err(|e| ApiError::internal("alerts.encode", format!("encoding labels: {e}")))
    };
    Ok(AlertRecord {
        fingerprint: h.alert.fingerprint().to_string(),
        labels: json(&h.alert.labels)?,
        annotations: json(&h.alert.annotations)?,
        starts_at: h.alert.starts_at.as_second(),
        ends_at: h.alert.ends_at.as_second(),
        generator_url: h.alert.generator_url.clone(),
        updated_at: h.updated_at.as_second(),
        source: h.source,
    })
}

fn held_from_record(r: &AlertRecord) -> Option<Held> {
    Some(Held {
        alert: Alert {
            labels: serde_json::from_str(&r.labels).ok()?,
            annotations: serde_json::from_str(&r.annotations).ok()?,
            starts_at: ts(r.starts_at),
            ends_at: ts(r.ends_at),
            generator_url: r.generator_url.clone(),
        },
        source: r.source,
        updated_at: ts(r.updated_at),
    })
}

fn silence_record(s: &Silence) -> Result<SilenceRecord, ApiError> {
    Ok(SilenceRecord {
        id: s.id.clone(),
        matchers: serde_json::to_string(&s.matchers.to_api()).map_err(|e| {
            ApiError::internal("silences.encode", format!("encoding matchers: {e}"))
        })?,
        starts_at: s.starts_at.as_second(),
        ends_at: s.ends_at.as_second(),
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        updated_at: s.updated_at.as_second(),
    })
}

fn silence_from_record(r: &SilenceRecord) -> Option<Silence> {
    let api: Vec<notify::ApiMatcher> = serde_json::from_str(&r.matchers).ok()?;
    Some(Silence {
        id: r.id.clone(),
        matchers: notify::Matchers::from_api(&api).ok()?,
        starts_at: ts(r.starts_at),
        ends_at: ts(r.ends_at),
        updated_at: ts(r.updated_at),
        created_by: r.created_by.clone(),
        comment: r.comment.clone(),
    })
}

/// Reads alerts, silences and acknowledgements from the store into `inner`, replacing what
/// it held. An alert some group told its receiver about stays even when the store pruned it,
/// so the group can still tell the resolution.
async fn read_shared(inner: &mut Inner, store: &dyn store::Store) -> Result<(), store::StoreError> {
    let alerts = store.alerts(None).await?;
    let silences = store.silences().await?;
    let acks = store.acks().await?;
    let told: BTreeSet<Fingerprint> = inner
        .groups
        .values()
        .flat_map(|g| g.state.notified_firing.iter().copied())
        .collect();
    let mut held = BTreeMap::new();
    for r in &alerts {
        match held_from_record(r) {
            Some(h) => {
                held.insert(h.alert.fingerprint(), h);
            }
            // Said once, at the first load, not at every refresh.
            None if !inner.loaded => tracing::warn!(
                fingerprint = %r.fingerprint,
                "skipping an unreadable stored alert"
            ),
            None => {}
        }
    }
    for (fp, h) in std::mem::take(&mut inner.alerts) {
        if told.contains(&fp) {
            held.entry(fp).or_insert(h);
        }
    }
    inner.alerts = held;
    inner.silences = silences.iter().filter_map(silence_from_record).collect();
    inner.acks = acks
        .into_iter()
        .filter_map(|a| Some((a.fingerprint.parse::<Fingerprint>().ok()?, a)))
        .collect();
    Ok(())
}

/// Merges a re-sent alert into the held one as Alertmanager does: while the two overlap the
/// alert keeps its first start and takes the newer end (the renewed lease, or its resolution).
fn merge(old: &Alert, new: Alert) -> Alert {
    let overlaps = new.starts_at <= old.ends_at && old.starts_at <= new.ends_at;
    if !overlaps {
        return new;
    }
    Alert {
        starts_at: old.starts_at.min(new.starts_at),
        ..new
    }
}

/// The key of a group's state: receiver, integration, route and group labels.
fn state_key(receiver: &str, integration: usize, route_id: &str, group_key: &str) -> String {
    format!("{receiver}\u{1f}{integration}\u{1f}{route_id}\u{1f}{group_key}")
}

impl Notifier {
    pub fn new() -> Notifier {
        Notifier::default()
    }

    /// When the first alert about an incident started: the earliest start among the linked
    /// alerts and the alerts labelled with the SLO (`service`, `slo`) that started after
    /// `from`.
    pub async fn first_alert_start(
        &self,
        service: &str,
        slo: &str,
        linked: &[String],
        from: i64,
    ) -> Option<i64> {
        let inner = self.inner.lock().await;
        inner
            .alerts
            .iter()
            .filter(|(fp, h)| {
                linked.contains(&fp.to_string())
                    || (h.alert.labels.get("service") == Some(service)
                        && h.alert.labels.get("slo") == Some(slo)
                        && h.alert.starts_at.as_second() >= from)
            })
            .map(|(_, h)| h.alert.starts_at.as_second())
            .min()
    }

    /// Firing alerts matching `matchers` (fingerprint, labels, annotations, start).
    pub async fn firing_matching(
        &self,
        matchers: &notify::Matchers,
        now: Timestamp,
    ) -> Vec<(String, Alert)> {
        let inner = self.inner.lock().await;
        inner
            .alerts
            .iter()
            .filter(|(_, h)| !h.alert.is_resolved(now) && matchers.matches(&h.alert.labels))
            .map(|(fp, h)| (fp.to_string(), h.alert.clone()))
            .collect()
    }

    /// How many alerts are held (firing and recently resolved).
    pub async fn held(&self) -> usize {
        self.inner.lock().await.alerts.len()
    }

    /// Steps the groups now instead of at the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Loads everything from the store the first time it is needed.
    async fn ensure_loaded(
        &self,
        inner: &mut Inner,
        store: &dyn store::Store,
    ) -> Result<(), store::StoreError> {
        if inner.loaded {
            return Ok(());
        }
        let groups = store.group_states().await?;
        inner.groups.clear();
        for g in groups {
            if let Ok(state) = serde_json::from_str::<GroupState>(&g.state) {
                inner.groups.insert(
                    g.group_key.clone(),
                    GroupEntry {
                        receiver: g.receiver,
                        state,
                    },
                );
            }
        }
        read_shared(inner, store).await?;
        inner.loaded = true;
        Ok(())
    }

    /// Forgets everything in memory: the next use loads it all from the store. A replica
    /// that gains leadership starts here, so it continues from the group states, alerts,
    /// silences and acknowledgements the previous leader stored (flap histories, kept in
    /// memory only, start afresh).
    pub async fn reset(&self) {
        *self.inner.lock().await = Inner::default();
    }

    /// Re-reads what every replica writes — alerts, silences, acknowledgements — from a
    /// shared store, so this replica acts on (and shows) what the others accepted. Group
    /// states are not re-read: only the leader writes them, and it holds them in memory.
    pub async fn refresh(&self, store: &dyn store::Store) -> Result<(), store::StoreError> {
        let mut inner = self.inner.lock().await;
        if !inner.loaded {
            return self.ensure_loaded(&mut inner, store).await;
        }
        read_shared(&mut inner, store).await
    }

    /// `POST /api/v2/alerts`: normalizes each alert (Alertmanager's defaults), stores the
    /// valid ones and returns the reasons the others were refused (index: reason).
    pub async fn post_alerts(
        &self,
        store: &dyn store::Store,
        config: Option<&AlertmanagerConfig>,
        posted: Vec<PostableAlert>,
        now: Timestamp,
    ) -> Result<Vec<String>, ApiError> {
        let resolve_timeout =
            config.map_or(SignedDuration::from_secs(300), |c| c.global.resolve_timeout);
        let mut valid = Vec::with_capacity(posted.len());
        let mut errors = Vec::new();
        for (i, p) in posted.into_iter().enumerate() {
            match p.normalize(now, resolve_timeout) {
                Ok(a) => valid.push(a),
                Err(e) => errors.push(format!("alert {i}: {e}")),
            }
        }
        self.put_alerts(store, valid, AlertSource::Prometheus, now)
            .await?;
        Ok(errors)
    }

    async fn put_alerts(
        &self,
        store: &dyn store::Store,
        alerts: Vec<Alert>,
        source: AlertSource,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let mut merged: BTreeMap<Fingerprint, Held> = BTreeMap::new();
        for a in alerts {
            let fp = a.fingerprint();
            let alert = match merged
                .get(&fp)
                .map(|h| &h.alert)
                .or(inner.alerts.get(&fp).map(|h| &h.alert))
            {
                Some(old) => merge(old, a),
                None => a,
            };
            merged.insert(
                fp,
                Held {
                    alert,
                    source,
                    updated_at: now,
                },
            );
        }
        let records = merged
            .values()
            .map(alert_record)
            .collect::<Result<Vec<_>, _>>()?;
        store.upsert_alerts(&records).await.map_err(store_err)?;
        let changed_firing = merged.iter().any(|(fp, h)| {
            inner
                .alerts
                .get(fp)
                .is_none_or(|old| old.alert.is_resolved(now) != h.alert.is_resolved(now))
        });
        inner.alerts.extend(merged);
        drop(inner);
        if changed_firing {
            self.wake();
        }
        Ok(())
    }

    /// Brings nines' own SLO alerts in line with the evaluator: `firing` is every (SLO,
    /// severity) firing now; held SLO alerts not in it are resolved at `now`.
    pub async fn sync_slo_alerts(
        &self,
        store: &dyn store::Store,
        firing: Vec<Alert>,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let lease_end = now.checked_add(SLO_ALERT_LEASE).unwrap_or(now);
        let firing_fps: BTreeSet<Fingerprint> = firing.iter().map(Alert::fingerprint).collect();
        let mut out: Vec<Alert> = firing
            .into_iter()
            .map(|a| Alert {
                ends_at: lease_end,
                ..a
            })
            .collect();
        {
            let mut inner = self.inner.lock().await;
            self.ensure_loaded(&mut inner, store)
                .await
                .map_err(store_err)?;
            for (fp, h) in &inner.alerts {
                if h.source == AlertSource::Nines
                    && !h.alert.is_resolved(now)
                    && !firing_fps.contains(fp)
                {
                    out.push(Alert {
                        ends_at: now,
                        ..h.alert.clone()
                    });
                }
            }
        }
        self.put_alerts(store, out, AlertSource::Nines, now).await
    }

    /// Alerts for `GET /api/v2/alerts`: unresolved ones, filtered, in fingerprint order.
    pub async fn alerts(
        &self,
        store: &dyn store::Store,
        config: Option<&AlertmanagerConfig>,
        filter: &AlertFilter,
        now: Timestamp,
    ) -> Result<Vec<AlertView>, ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        Ok(views(&inner, config, filter, now))
    }

    /// `GET /api/v2/alerts/groups`: the aggregation groups of the unresolved alerts.
    pub async fn alert_groups(
        &self,
        store: &dyn store::Store,
        config: Option<&AlertmanagerConfig>,
        filter: &AlertFilter,
        now: Timestamp,
    ) -> Result<Vec<AlertGroupJson>, ApiError> {
        let Some(config) = config else {
            return Ok(Vec::new());
        };
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let shown: BTreeMap<String, GettableAlert> = views(&inner, Some(config), filter, now)
            .into_iter()
            .map(|v| (v.alert.fingerprint.clone(), v.alert))
            .collect();
        let alerts: Vec<Alert> = inner
            .alerts
            .values()
            .filter(|h| shown.contains_key(&h.alert.fingerprint().to_string()))
            .map(|h| h.alert.clone())
            .collect();
        let mut out = Vec::new();
        for g in notify::group_alerts(&config.route, &alerts) {
            if filter
                .receiver
                .as_ref()
                .is_some_and(|r| !r.is_match(&g.path.receiver))
            {
                continue;
            }
            out.push(AlertGroupJson {
                labels: g.group_labels.clone(),
                receiver: ReceiverName {
                    name: g.path.receiver.clone(),
                },
                alerts: g
                    .alerts
                    .iter()
                    .filter_map(|a| shown.get(&a.fingerprint().to_string()).cloned())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Every silence in the API v2 shape, newest update first (as Alertmanager sorts them
    /// within a state: active, pending, expired).
    pub async fn silences(
        &self,
        store: &dyn store::Store,
        now: Timestamp,
    ) -> Result<Vec<GettableSilence>, ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let mut out: Vec<GettableSilence> = inner.silences.iter().map(|s| s.to_api(now)).collect();
        let rank = |s: &GettableSilence| match s.status.state {
            notify::SilenceState::Active => 0,
            notify::SilenceState::Pending => 1,
            notify::SilenceState::Expired => 2,
        };
        out.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.updated_at.cmp(&a.updated_at)));
        Ok(out)
    }

    pub async fn silence(
        &self,
        store: &dyn store::Store,
        id: &str,
        now: Timestamp,
    ) -> Result<GettableSilence, ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        inner
            .silences
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.to_api(now))
            .ok_or_else(|| silence_not_found(id))
    }

    /// `POST /api/v2/silences`: creates, updates or replaces (changed matchers) a silence,
    /// audited; returns its id.
    pub async fn post_silence(
        &self,
        store: &dyn store::Store,
        persist: bool,
        posted: PostableSilence,
        actor: &str,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let existing = posted
            .id
            .as_deref()
            .filter(|id| !id.is_empty())
            .and_then(|id| inner.silences.iter().find(|s| s.id == id));
        let change =
            notify::silence::apply_post(existing, posted, now, new_id).map_err(|e| match e {
                notify::Error::SilenceNotFound(id) => silence_not_found(&id),
                other => ApiError::bad_request("silences.invalid", other.to_string()),
            })?;
        let changed: Vec<Silence> = match &change {
            SilenceChange::Created(s) | SilenceChange::Updated(s) => vec![s.clone()],
            SilenceChange::Replaced { expired, created } => vec![expired.clone(), created.clone()],
        };
        if persist {
            let records = changed
                .iter()
                .map(silence_record)
                .collect::<Result<Vec<_>, _>>()?;
            let action = match &change {
                SilenceChange::Created(_) => "silence.create",
                SilenceChange::Updated(_) => "silence.update",
                SilenceChange::Replaced { .. } => "silence.replace",
            };
            let mut audit = store::AuditEntry::new(now.as_second(), actor, action, change.id());
            audit.details = serde_json::json!({
                "matchers": changed.last().map(|s| s.matchers.to_string()),
                "starts_at": changed.last().map(|s| s.starts_at.to_string()),
                "ends_at": changed.last().map(|s| s.ends_at.to_string()),
            });
            store
                .save_silences(&records, &audit)
                .await
                .map_err(store_err)?;
        }
        for s in changed {
            match inner.silences.iter_mut().find(|x| x.id == s.id) {
                Some(slot) => *slot = s,
                None => inner.silences.push(s),
            }
        }
        drop(inner);
        self.wake();
        Ok(change.id().to_string())
    }

    /// `DELETE /api/v2/silence/{id}`: expires it (again: still 200, like Alertmanager 0.25).
    pub async fn expire_silence(
        &self,
        store: &dyn store::Store,
        persist: bool,
        id: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let Some(current) = inner.silences.iter().find(|s| s.id == id) else {
            return Err(silence_not_found(id));
        };
        let Some(expired) = notify::silence::expire(current, now) else {
            return Ok(());
        };
        if persist {
            let audit = store::AuditEntry::new(now.as_second(), actor, "silence.expire", id);
            // The whole silence is saved, so a pending one (start moved to now) is right too.
            let record = silence_record(&expired)?;
            store
                .save_silences(&[record], &audit)
                .await
                .map_err(store_err)?;
        }
        if let Some(slot) = inner.silences.iter_mut().find(|x| x.id == id) {
            *slot = expired;
        }
        drop(inner);
        self.wake();
        Ok(())
    }

    /// `POST /api/v1/alerts/{fingerprint}/ack`: the alert stops repeating; its resolution is
    /// still sent. Only firing alerts can be acknowledged.
    pub async fn ack(
        &self,
        store: &dyn store::Store,
        persist: bool,
        fingerprint: &str,
        by: &str,
        comment: &str,
        now: Timestamp,
    ) -> Result<AckRecord, ApiError> {
        let fp: Fingerprint = fingerprint.parse().map_err(|e: notify::Error| {
            ApiError::bad_request("alerts.bad_fingerprint", e.to_string())
        })?;
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        match inner.alerts.get(&fp) {
            None => {
                return Err(ApiError::not_found(
                    "alerts.not_found",
                    format!("no alert with fingerprint {fingerprint}"),
                ))
            }
            Some(h) if h.alert.is_resolved(now) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "alerts.resolved",
                    format!("alert {fingerprint} has resolved: there is nothing to acknowledge"),
                ))
            }
            Some(_) => {}
        }
        let ack = AckRecord {
            fingerprint: fp.to_string(),
            by: by.to_string(),
            comment: comment.to_string(),
            at: now.as_second(),
        };
        if persist {
            let mut audit =
                store::AuditEntry::new(now.as_second(), by, "alert.ack", &ack.fingerprint);
            audit.details = serde_json::json!({ "comment": comment });
            store.ack_alert(&ack, &audit).await.map_err(store_err)?;
        }
        inner.acks.insert(fp, ack.clone());
        drop(inner);
        self.wake();
        Ok(ack)
    }

    /// One step of every aggregation group at `now`: the notifications due are written to the
    /// outbox with the new group states in one transaction. Returns how many were enqueued.
    ///
    /// `leading` is asked again right before each store write: a replica that lost
    /// leadership while planning writes nothing.
    pub async fn tick(
        &self,
        store: &dyn store::Store,
        config: Option<&AlertmanagerConfig>,
        external_url: &str,
        leading: &(dyn Fn() -> bool + Sync),
        now: Timestamp,
    ) -> Result<usize, ApiError> {
        let mut inner = self.inner.lock().await;
        self.ensure_loaded(&mut inner, store)
            .await
            .map_err(store_err)?;
        let inner = &mut *inner;

        // Flap histories see every alert's state once per tick.
        if let Some(cfg) = config {
            for (fp, h) in &inner.alerts {
                inner.flaps.entry(*fp).or_default().observe(
                    !h.alert.is_resolved(now),
                    now,
                    &cfg.nines.flap,
                );
            }
        }
        // Acknowledgements end with the alert.
        let ended: Vec<Fingerprint> = inner
            .acks
            .keys()
            .filter(|fp| {
                inner
                    .alerts
                    .get(fp)
                    .is_none_or(|h| h.alert.is_resolved(now))
            })
            .copied()
            .collect();
        if !ended.is_empty() && leading() {
            let ids: Vec<String> = ended.iter().map(ToString::to_string).collect();
            // A page handled from ack to resolution is production-interrupt toil.
            let toil: Vec<store::ToilRecord> = ended
                .iter()
                .filter_map(|fp| {
                    let ack = inner.acks.get(fp)?;
                    let held = inner.alerts.get(fp)?;
                    page_toil(ack, &held.alert)
                })
                .collect();
            store.clear_acks(&ids).await.map_err(store_err)?;
            for fp in ended {
                inner.acks.remove(&fp);
            }
            for entry in toil {
                let audit =
                    store::AuditEntry::new(now.as_second(), "notifier", "toil.page", &entry.team);
                if let Err(e) = store.record_toil(&entry, &audit).await {
                    tracing::error!(team = %entry.team, error = %e, "recording page toil failed");
                }
            }
        }

        let mut enqueued = 0;
        if let Some(cfg) = config {
            let plan = plan(inner, cfg, external_url, now)?;
            if (!plan.records.is_empty() || !plan.states.is_empty()) && leading() {
                let records: Vec<GroupStateRecord> = plan
                    .states
                    .iter()
                    .map(|(key, e)| {
                        Ok(GroupStateRecord {
                            receiver: e.receiver.clone(),
                            group_key: key.clone(),
                            state: serde_json::to_string(&e.state).map_err(|err| {
                                ApiError::internal(
                                    "notify.encode",
                                    format!("encoding a group state: {err}"),
                                )
                            })?,
                            updated_at: now.as_second(),
                        })
                    })
                    .collect::<Result<_, ApiError>>()?;
                store
                    .enqueue_notifications(&plan.records, &records)
                    .await
                    .map_err(store_err)?;
                enqueued = plan.records.len();
                for (key, e) in plan.states {
                    inner.groups.insert(key, e);
                }
            }
            for key in plan.idle {
                inner.groups.remove(&key);
            }
        }
        if leading() {
            self.prune(inner, store, now).await;
        }
        Ok(enqueued)
    }

    /// Hourly: drops resolved alerts and idle group states.
    async fn prune(&self, inner: &mut Inner, store: &dyn store::Store, now: Timestamp) {
        if inner
            .last_prune
            .is_some_and(|t| now.duration_since(t) < SignedDuration::from_secs(3600))
        {
            return;
        }
        inner.last_prune = Some(now);
        let horizon = now.checked_sub(RESOLVED_RETENTION).unwrap_or(now);
        let needed: BTreeSet<Fingerprint> = inner
            .groups
            .values()
            .flat_map(|g| g.state.notified_firing.iter().copied())
            .collect();
        let cut = horizon.as_second();
        match store.prune_alerts(cut).await {
            Ok(_) => inner
                .alerts
                .retain(|fp, h| h.alert.ends_at.as_second() >= cut || needed.contains(fp)),
            Err(e) => tracing::error!(error = %e, "pruning resolved alerts failed"),
        }
        inner.flaps.retain(|fp, _| inner.alerts.contains_key(fp));
        if let Err(e) = store.prune_group_states(cut).await {
            tracing::error!(error = %e, "pruning group states failed");
        }
    }
}

/// The toil of handling an acknowledged alert: from the ack to the resolution, booked to the
/// alert's `team` label (else its `service`, else "unassigned").
fn page_toil(ack: &AckRecord, alert: &Alert) -> Option<store::ToilRecord> {
    let team = alert
        .labels
        .get("team")
        .or_else(|| alert.labels.get("service"))
        .unwrap_or("unassigned");
    let what = format!(
        "page {} handled by {}",
        alert.labels.get("alertname").unwrap_or("alert"),
        ack.by
    );
    let entry = incident::toil::page_toil(team, ack.at, alert.ends_at.as_second(), &what)?;
    Some(store::ToilRecord {
        id: 0,
        team: entry.team,
        category: "production_interrupts".to_string(),
        minutes: i64::from(entry.minutes),
        at: alert.ends_at.as_second(),
        description: entry.description,
        automatable: false,
        task: String::new(),
        author: ack.by.clone(),
        source: "page".to_string(),
    })
}

fn silence_not_found(id: &str) -> ApiError {
    ApiError::not_found("silences.not_found", format!("silence {id} not found"))
}

fn views(
    inner: &Inner,
    config: Option<&AlertmanagerConfig>,
    filter: &AlertFilter,
    now: Timestamp,
) -> Vec<AlertView> {
    let cfg = config.unwrap_or_else(|| no_routing());
    let firing: Vec<&LabelSet> = inner
        .alerts
        .values()
        .filter(|h| !h.alert.is_resolved(now))
        .map(|h| &h.alert.labels)
        .collect();
    let firing_owned: Vec<LabelSet> = firing.iter().map(|l| (*l).clone()).collect();
    let mut out = Vec::new();
    for (fp, h) in &inner.alerts {
        if h.alert.is_resolved(now) || !filter.matchers.matches(&h.alert.labels) {
            continue;
        }
        let suppression =
            notify::suppression(cfg, &inner.silences, &h.alert.labels, &firing_owned, now);
        let silenced = !suppression.silenced_by.is_empty() || !suppression.maintenance.is_empty();
        let inhibited = !suppression.inhibited_by.is_empty();
        let keep = (filter.active || suppression.is_suppressed())
            && (filter.silenced || !silenced)
            && (filter.inhibited || !inhibited);
        if !keep {
            continue;
        }
        let mut alert = GettableAlert::new(&h.alert, cfg, &suppression, h.updated_at);
        if config.is_none() {
            alert.receivers.clear();
        }
        if let Some(re) = &filter.receiver {
            if !alert.receivers.iter().any(|r| re.is_match(&r.name)) {
                continue;
            }
        }
        let flapping = config.is_some_and(|c| {
            inner
                .flaps
                .get(fp)
                .is_some_and(|f| f.is_flapping(now, &c.nines.flap))
        });
        out.push(AlertView {
            alert,
            source: h.source.as_str(),
            ack: inner.acks.get(fp).map(|a| AckView {
                by: a.by.clone(),
                comment: a.comment.clone(),
                at: crate::format_time(a.at),
            }),
            flapping,
        });
    }
    out
}

/// Without an `alertmanager:` section alerts are kept and listed but routed nowhere; views
/// use this config (no inhibition, no maintenance) and show no receivers.
fn no_routing() -> &'static AlertmanagerConfig {
    static EMPTY: std::sync::OnceLock<Option<AlertmanagerConfig>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| {
            AlertmanagerConfig::from_yaml_str("route: {receiver: none}\nreceivers: [{name: none}]")
                .ok()
        })
        .as_ref()
        .unwrap_or_else(|| unreachable!("the built-in empty routing config is valid"))
}

/// What one tick decided.
struct Plan {
    records: Vec<OutboxRecord>,
    /// Group states to store (changed ones only).
    states: Vec<(String, GroupEntry)>,
    /// Groups with nothing left to tell their receiver: dropped from memory (their stored
    /// state is pruned later, and an idle state restored after a restart is harmless).
    idle: Vec<String>,
}

/// Steps every aggregation group × integration: pure apart from reading `inner`.
fn plan(
    inner: &Inner,
    cfg: &AlertmanagerConfig,
    external_url: &str,
    now: Timestamp,
) -> Result<Plan, ApiError> {
    let firing_labels: Vec<LabelSet> = inner
        .alerts
        .values()
        .filter(|h| !h.alert.is_resolved(now))
        .map(|h| h.alert.labels.clone())
        .collect();
    // Resolved alerts stay in play while some group told its receiver they fire.
    let told: BTreeSet<Fingerprint> = inner
        .groups
        .values()
        .flat_map(|g| g.state.notified_firing.iter().copied())
        .collect();
    let candidates: Vec<Alert> = inner
        .alerts
        .iter()
        .filter(|(fp, h)| !h.alert.is_resolved(now) || told.contains(fp))
        .filter(|(_, h)| {
            !notify::suppression(cfg, &inner.silences, &h.alert.labels, &firing_labels, now)
                .is_suppressed()
        })
        .map(|(_, h)| h.alert.clone())
        .collect();

    let mut plan = Plan {
        records: Vec::new(),
        states: Vec::new(),
        idle: Vec::new(),
    };
    // Groups still open: something fires in them, or their receiver has yet to hear a
    // resolution. The others are dropped from memory.
    let mut open: BTreeSet<String> = BTreeSet::new();
    for group in notify::group_alerts(&cfg.route, &candidates) {
        let Some(receiver) = cfg.receiver(&group.path.receiver) else {
            continue;
        };
        let muted = cfg.route_muted(&group.path, now);
        for (index, integration) in receiver.integrations().iter().enumerate() {
            let key = state_key(&receiver.name, index, &group.path.id, &group.group_key);
            if muted {
                // Muted: no step, the state waits for the end of the interval.
                if inner.groups.contains_key(&key) {
                    open.insert(key);
                }
                continue;
            }
            // A forwarded alert is a lease at the other Alertmanager (its resolve_timeout,
            // 5m by default): forwarding repeats at least every minute, as Prometheus
            // re-sends, so it stays firing there.
            let repeat_interval = match integration {
                notify::config::Integration::Alertmanager(_) => {
                    group.path.repeat_interval.min(FORWARD_REPEAT)
                }
                _ => group.path.repeat_interval,
            };
            let opts = GroupOptions {
                group_wait: group.path.group_wait,
                group_interval: group.path.group_interval,
                repeat_interval,
                send_resolved: integration.send_resolved(),
                resolve_immediately: cfg.nines.resolve_immediately,
            };
            let existing = inner.groups.get(&key).map(|g| &g.state);
            let members: Vec<GroupAlert> = group
                .alerts
                .iter()
                .filter(|a| {
                    let fp = a.fingerprint();
                    !a.is_resolved(now) || existing.is_some_and(|s| s.notified_firing.contains(&fp))
                })
                .map(|a| {
                    let fp = a.fingerprint();
                    GroupAlert {
                        fingerprint: fp,
                        firing: !a.is_resolved(now),
                        acked: inner.acks.contains_key(&fp),
                        flapping: inner
                            .flaps
                            .get(&fp)
                            .is_some_and(|f| f.is_flapping(now, &cfg.nines.flap)),
                        starts_at: a.starts_at,
                    }
                })
                .collect();
            if members.is_empty() {
                continue;
            }
            // A group the receiver has nothing open in starts afresh (group_wait), as
            // Alertmanager's does after it is emptied; one still waiting for its first flush
            // keeps waiting.
            let state = match existing
                .filter(|s| !s.notified_firing.is_empty() || s.last_notified.is_none())
            {
                Some(s) => s.clone(),
                None => {
                    if members.iter().all(|m| !m.firing) {
                        continue;
                    }
                    let oldest = members.iter().map(|m| m.starts_at).min().unwrap_or(now);
                    GroupState::new(now, oldest, &opts)
                }
            };
            let step = state.step(&members, now, &opts);
            if let Some(n) = &step.notification {
                let alerts = notify::dispatch::notification_alerts(&group.alerts, n);
                let msg = build_message(
                    &MessageContext {
                        receiver: &receiver.name,
                        group_key: &group.group_key,
                        group_labels: &group.group_labels,
                        external_url,
                        max_alerts: 0,
                    },
                    &alerts,
                    now,
                );
                let payload =
                    crate::deliver::render(cfg, receiver, index as u32, &msg).map_err(|e| {
                        ApiError::internal(
                            "notify.render",
                            format!("rendering for receiver {}: {e}", receiver.name),
                        )
                    })?;
                plan.records.push(OutboxRecord {
                    id: new_id(),
                    receiver: receiver.name.clone(),
                    integration: index as u32,
                    group_key: group.group_key.clone(),
                    payload,
                    created_at: now.as_second(),
                    next_attempt_at: now.as_second(),
                });
            }
            if members.iter().any(|m| m.firing) || !step.state.notified_firing.is_empty() {
                open.insert(key.clone());
            }
            if existing != Some(&step.state) {
                plan.states.push((
                    key,
                    GroupEntry {
                        receiver: receiver.name.clone(),
                        state: step.state,
                    },
                ));
            }
        }
    }
    for key in inner.groups.keys() {
        if !open.contains(key) {
            plan.idle.push(key.clone());
        }
    }
    Ok(plan)
}

/// Steps the groups once a second, or at once when woken, until `stop` — on the leader
/// only. A replica that gains leadership first forgets its memory and loads everything from
/// the store (the epoch changed); with a shared store the leader re-reads alerts, silences
/// and acknowledgements every tick, so what other replicas accepted counts, and followers
/// do the same so their API answers stay current.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut rounds = Rounds::default();
    loop {
        round(&state, &mut rounds).await;
        tokio::select! {
            _ = state.notifier.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// What [`round`] remembers between rounds.
#[derive(Default)]
pub(crate) struct Rounds {
    /// The leadership epoch the notifier's memory was loaded for.
    epoch_loaded: Option<u64>,
    refreshed: Option<std::time::Instant>,
}

/// One round of [`run`].
pub(crate) async fn round(state: &AppState, rounds: &mut Rounds) {
    let leading = state.leader.leading();
    if let Some(epoch) = leading {
        if rounds.epoch_loaded != Some(epoch) {
            state.notifier.reset().await;
            rounds.epoch_loaded = Some(epoch);
            rounds.refreshed = None;
        }
    }
    // At most once a second: a wake-up after a local write needs no store read (the
    // write is in memory already), and a storm of posts must not become a storm of reads.
    let due = rounds
        .refreshed
        .is_none_or(|t| t.elapsed() >= REFRESH_EVERY);
    if state.leader.shared() && due {
        rounds.refreshed = Some(std::time::Instant::now());
        if let Err(e) = state.notifier.refresh(state.store.as_ref()).await {
            tracing::error!(error = %e, "re-reading alerts, silences and acks failed");
        }
    }
    if let Some(epoch) = leading {
        let config = state.config().alertmanager.clone();
        let now = Timestamp::now();
        let still_leading = || state.leader.leading() == Some(epoch);
        match state
            .notifier
            .tick(
                state.store.as_ref(),
                config.as_deref(),
                &state.settings.external_url,
                &still_leading,
                now,
            )
            .await
        {
            Ok(n) => {
                if n > 0 {
                    state.metrics.notifications_enqueued.inc_by(n as u64);
                    state.deliverer.wake();
                }
            }
            Err(e) => tracing::error!(error = %e.message, "notification step failed"),
        }
        if still_leading() {
            if let Err(e) = crate::incidents_api::auto_declare(state).await {
                tracing::error!(error = %e.message, "declaring incidents from alerts failed");
            }
        }
    }
    state
        .metrics
        .notify_alerts
        .set(i64::try_from(state.notifier.held().await).unwrap_or(i64::MAX));
}
