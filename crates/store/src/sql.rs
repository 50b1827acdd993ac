//! What the SQL backends ([`crate::SqliteStore`], [`crate::PgStore`]) share: every query both run
//! with the same text, row decoding, validation and the audit record written in the same
//! transaction as the change it records, and the migration runner.
//!
//! Both backends accept `$n` placeholders (sqlx binds SQLite's `$NNN` parameters by number), so the
//! shared statements are written once; booleans are stored as 0/1 integers and bound as `i64` on
//! both. [`sql_store!`] emits the shared code, monomorphic, for one backend. The backend keeps what
//! really differs (connection setup, its write lock, counter batching, migration locking) and gives
//! the shared code:
//! - the fields `pool` and `audit_key`,
//! - `async fn begin_write(&self, op)` / `begin_control(&self, op)`: a write transaction under the
//!   backend's write lock (derefs to the connection, has `commit`),
//! - `async fn begin_snapshot(&self, op)`: a read transaction that sees one snapshot,
//! - `async fn delete_ingested(&self, op, query)`: runs one delete of data only ingestion writes.

use crate::{DocKind, StoreError};

/// Series keys are 64-bit hashes; SQL integers are signed. The bits are kept as they are.
pub(crate) fn key_to_i64(key: u64) -> i64 {
    i64::from_ne_bytes(key.to_ne_bytes())
}

pub(crate) fn key_from_i64(key: i64) -> u64 {
    u64::from_ne_bytes(key.to_ne_bytes())
}

pub(crate) const TOKEN_COLUMNS: &str = "name, role, sha256, created_at, revoked_at";

pub(crate) const NOTIFICATION_COLUMNS: &str =
    "id, receiver, integration, group_key, payload, created_at, next_attempt_at, status";

pub(crate) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The table of a document kind (a fixed name, never input).
pub(crate) fn doc_table(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Incident => "incidents",
        DocKind::Postmortem => "postmortems",
    }
}

pub(crate) const DOC_COLUMNS: &str = "id, version, doc, status, created_at, updated_at, parent_id";

pub(crate) const TIMELINE_COLUMNS: &str = "id, incident_id, at, author, kind, text, pinned, data";

pub(crate) const TOIL_COLUMNS: &str =
    "id, team, category, minutes, at, description, automatable, task, author, source";

pub(crate) fn to_i64(value: u64) -> i64 {
    // prepare() has already rejected values above MAX_COUNT.
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({value})")))
}

/// Emits, for one SQL backend, the shared row decoders and transaction helpers and the
/// `Store` implementation: the shared methods plus the backend's own ones (given in `own`).
macro_rules! sql_store {
    (
        store: $store:ident,
        conn: $conn:ty,
        row: $row:ty,
        own: { $($own:tt)* }
    ) => {
        mod shared {
            use sqlx::{AssertSqlSafe, Row};

            use super::*;
            use $crate::audit::{prepare_audit, PreparedAudit};
            use $crate::migrations::{
                expand, now_secs, AppliedMigration, Dialect, MigrationReport, LATEST_VERSION,
                MIGRATIONS, SCHEMA_MIGRATIONS,
            };
            use $crate::control::{validate_alert_states, validate_change, validate_sha256, validate_token};
            use $crate::incidents::{
                validate_automation, validate_doc, validate_parent, validate_team, validate_timeline,
                validate_toil, validate_update_timeline, with_id,
            };
            use $crate::notifications::{
                validate_ack, validate_alerts, validate_group_states, validate_outbox, validate_silences,
            };
            use $crate::sql::{
                doc_table, key_from_i64, limit_i64, to_i64, to_u64, DOC_COLUMNS, NOTIFICATION_COLUMNS,
                TIMELINE_COLUMNS, TOIL_COLUMNS, TOKEN_COLUMNS,
            };
            use $crate::{
                AckRecord, AlertRecord, AlertSource, AlertStateRecord, AttemptOutcome, AttemptRecord,
                AuditEntry, AuditKey, AuditRecord, AutomationRecord, BucketCount, Change, ChangeRecord,
                DeliveryStatus, DocFilter, DocKind, DocRecord, DocUpdate, FilePosition, GroupStateRecord,
                Notification, NotificationFilter, OutboxRecord, SilenceRecord, Store, StoreError,
                TeamRecord, TimelineRecord, ToilRecord, TokenRecord, TokenRole, TrackerSample, GENESIS_MAC,
            };

            /// Brings the schema up to date inside `tx`, which holds the backend's migration lock; the
            /// caller commits.
            pub(super) async fn migrate_in(
                tx: &mut $conn,
                dialect: Dialect,
                path: &std::path::Path,
            ) -> Result<MigrationReport, StoreError> {
                let migrate_err = |version| {
                    let path = path.to_path_buf();
                    move |source| StoreError::Migrate {
                        path,
                        version,
                        source,
                    }
                };
                sqlx::raw_sql(AssertSqlSafe(expand(SCHEMA_MIGRATIONS, dialect)))
                    .execute(&mut *tx)
                    .await
                    .map_err(migrate_err(LATEST_VERSION))?;
                let current: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(migrate_err(LATEST_VERSION))?;
                if current > i64::from(LATEST_VERSION) {
                    return Err(StoreError::SchemaTooNew {
                        path: path.to_path_buf(),
                        found: current,
                        supported: LATEST_VERSION,
                    });
                }
                let applied_at = now_secs();
                let mut applied = Vec::new();
                for m in MIGRATIONS.iter().filter(|m| i64::from(m.version) > current) {
                    // DDL is transactional in both: a failed migration leaves the schema as it was.
                    sqlx::raw_sql(AssertSqlSafe(m.sql(dialect)))
                        .execute(&mut *tx)
                        .await
                        .map_err(migrate_err(m.version))?;
                    sqlx::query(
                        "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
                    )
                    .bind(i64::from(m.version))
                    .bind(m.description)
                    .bind(applied_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(migrate_err(m.version))?;
                    applied.push(AppliedMigration {
                        version: m.version,
                        description: m.description,
                    });
                }
                // `current` is at most LATEST_VERSION here.
                Ok(MigrationReport::new(
                    u32::try_from(current).unwrap_or(0),
                    applied,
                ))
            }

            /// Appends the sealed audit record inside `tx` (which holds the backend's write lock); returns
            /// its number.
            async fn append_in(
                tx: &mut $conn,
                key: &AuditKey,
                prepared: &PreparedAudit<'_>,
            ) -> Result<u64, StoreError> {
                let last = sqlx::query("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading the end of the audit log"))?;
                let (seq, prev) = match last {
                    Some(row) => {
                        let read = || StoreError::query("reading the end of the audit log");
                        let seq: i64 = row.try_get(0).map_err(read())?;
                        let mac: String = row.try_get(1).map_err(read())?;
                        (to_u64(seq, "an audit sequence number")? + 1, mac)
                    }
                    None => (1, GENESIS_MAC.to_owned()),
                };
                let record = prepared.seal(key, seq, &prev);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_mac, mac) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(to_i64(record.seq))
                .bind(record.at)
                .bind(&record.actor)
                .bind(&record.action)
                .bind(&record.target)
                .bind(&record.details)
                .bind(&record.prev_mac)
                .bind(&record.mac)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("appending to the audit log"))?;
                Ok(seq)
            }

            fn token_from_row(row: &$row) -> Result<TokenRecord, StoreError> {
                let read = || StoreError::query("reading a token");
                let role: String = row.try_get("role").map_err(read())?;
                Ok(TokenRecord {
                    name: row.try_get("name").map_err(read())?,
                    role: role
                        .parse::<TokenRole>()
                        .map_err(|_| StoreError::Corrupt(format!("unknown token role {role:?}")))?,
                    sha256: row.try_get("sha256").map_err(read())?,
                    created_at: row.try_get("created_at").map_err(read())?,
                    revoked_at: row.try_get("revoked_at").map_err(read())?,
                })
            }

            async fn upsert_group_states_in(
                tx: &mut $conn,
                states: &[GroupStateRecord],
            ) -> Result<(), StoreError> {
                for g in states {
                    sqlx::query(
                        "INSERT INTO group_states (receiver, group_key, state, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (receiver, group_key) DO UPDATE SET state = excluded.state, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(&g.receiver)
                    .bind(&g.group_key)
                    .bind(&g.state)
                    .bind(g.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("saving a group state"))?;
                }
                Ok(())
            }

            /// The deliveries of `rows` (selected with [`NOTIFICATION_COLUMNS`]), each with its attempts.
            async fn notifications_with_attempts(
                conn: &mut $conn,
                rows: &[$row],
            ) -> Result<Vec<Notification>, StoreError> {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let read = || StoreError::query("reading notifications");
                    let integration: i64 = row.try_get(2).map_err(read())?;
                    let status: String = row.try_get(7).map_err(read())?;
                    let record = OutboxRecord {
                        id: row.try_get(0).map_err(read())?,
                        receiver: row.try_get(1).map_err(read())?,
                        integration: u32::try_from(integration).map_err(|_| {
                            StoreError::Corrupt(format!("integration index {integration} is out of range"))
                        })?,
                        group_key: row.try_get(3).map_err(read())?,
                        payload: row.try_get(4).map_err(read())?,
                        created_at: row.try_get(5).map_err(read())?,
                        next_attempt_at: row.try_get(6).map_err(read())?,
                    };
                    let status = status
                        .parse::<DeliveryStatus>()
                        .map_err(StoreError::Corrupt)?;
                    let attempt_rows = sqlx::query(
                        "SELECT at, outcome, reason, next_attempt_at FROM notification_attempts \
                         WHERE notification_id = $1 ORDER BY n",
                    )
                    .bind(&record.id)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(StoreError::query("reading delivery attempts"))?;
                    let mut attempts = Vec::with_capacity(attempt_rows.len());
                    for a in &attempt_rows {
                        let read = || StoreError::query("reading delivery attempts");
                        let kind: String = a.try_get(1).map_err(read())?;
                        attempts.push(AttemptRecord {
                            at: a.try_get(0).map_err(read())?,
                            outcome: AttemptOutcome::from_parts(
                                &kind,
                                a.try_get(2).map_err(read())?,
                                a.try_get(3).map_err(read())?,
                            )?,
                        });
                    }
                    out.push(Notification {
                        record,
                        status,
                        attempts,
                    });
                }
                Ok(out)
            }

            fn doc_from_row(kind: DocKind, row: &$row) -> Result<DocRecord, StoreError> {
                let read = || StoreError::query("reading a document");
                Ok(DocRecord {
                    kind,
                    id: row.try_get(0).map_err(read())?,
                    version: row.try_get(1).map_err(read())?,
                    doc: row.try_get(2).map_err(read())?,
                    status: row.try_get(3).map_err(read())?,
                    created_at: row.try_get(4).map_err(read())?,
                    updated_at: row.try_get(5).map_err(read())?,
                    parent_id: row.try_get(6).map_err(read())?,
                })
            }

            fn timeline_from_row(row: &$row) -> Result<TimelineRecord, StoreError> {
                let read = || StoreError::query("reading the timeline");
                Ok(TimelineRecord {
                    id: row.try_get(0).map_err(read())?,
                    incident_id: row.try_get(1).map_err(read())?,
                    at: row.try_get(2).map_err(read())?,
                    author: row.try_get(3).map_err(read())?,
                    kind: row.try_get(4).map_err(read())?,
                    text: row.try_get(5).map_err(read())?,
                    pinned: row.try_get::<i64, _>(6).map_err(read())? != 0,
                    data: row.try_get(7).map_err(read())?,
                })
            }

            /// Whether incident `id` is stored (inside a transaction).
            async fn incident_exists(tx: &mut $conn, id: i64) -> Result<bool, StoreError> {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM incidents WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("looking up an incident"))?;
                Ok(found.is_some())
            }

            /// Inserts timeline entries of `incident_id`; returns their ids in order.
            async fn insert_timeline_in(
                tx: &mut $conn,
                incident_id: i64,
                entries: &[TimelineRecord],
            ) -> Result<Vec<i64>, StoreError> {
                let mut ids = Vec::with_capacity(entries.len());
                for e in entries {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO incident_timeline (incident_id, at, author, kind, text, pinned, data) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(incident_id)
                    .bind(e.at)
                    .bind(&e.author)
                    .bind(&e.kind)
                    .bind(&e.text)
                    .bind(i64::from(e.pinned))
                    .bind(&e.data)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("appending to the timeline"))?;
                    ids.push(id);
                }
                Ok(ids)
            }

            fn toil_from_row(row: &$row) -> Result<ToilRecord, StoreError> {
                let read = || StoreError::query("reading toil");
                Ok(ToilRecord {
                    id: row.try_get(0).map_err(read())?,
                    team: row.try_get(1).map_err(read())?,
                    category: row.try_get(2).map_err(read())?,
                    minutes: row.try_get(3).map_err(read())?,
                    at: row.try_get(4).map_err(read())?,
                    description: row.try_get(5).map_err(read())?,
                    automatable: row.try_get::<i64, _>(6).map_err(read())? != 0,
                    task: row.try_get(7).map_err(read())?,
                    author: row.try_get(8).map_err(read())?,
                    source: row.try_get(9).map_err(read())?,
                })
            }

            impl $store {
                /// Sets the audit key (see [`Store::set_audit_key`]).
                pub fn with_audit_key(self, key: AuditKey) -> Self {
                    self.set_audit_key(key);
                    self
                }

                fn key(&self) -> Result<AuditKey, StoreError> {
                    self.audit_key
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                        .ok_or(StoreError::NoAuditKey)
                }
            }

            #[async_trait::async_trait]
            impl Store for $store {
                $($own)*

                async fn counts(
                    &self,
                    series: &str,
                    from: i64,
                    to: i64,
                ) -> Result<Vec<BucketCount>, StoreError> {
                    if from >= to {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(
                        "SELECT c.bucket_start, c.good, c.total FROM counters c \
                         JOIN series s ON s.id = c.series_id \
                         WHERE s.name = $1 AND c.bucket_start >= $2 AND c.bucket_start < $3 \
                         ORDER BY c.bucket_start",
                    )
                    .bind(series)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading counters"))?;
                    rows.iter()
                        .map(|row| {
                            let get = |i: usize| {
                                row.try_get::<i64, _>(i)
                                    .map_err(StoreError::query("reading counters"))
                            };
                            Ok(BucketCount {
                                bucket_start: get(0)?,
                                good: to_u64(get(1)?, "a good count")?,
                                total: to_u64(get(2)?, "a total count")?,
                            })
                        })
                        .collect()
                }

                async fn tracker_samples(&self, stream: &str) -> Result<Vec<TrackerSample>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT series_key, timestamp_ms, value FROM counter_trackers WHERE stream = $1 \
                         ORDER BY series_key",
                    )
                    .bind(stream)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading counter tracker samples"))?;
                    let mut out = Vec::with_capacity(rows.len());
                    for row in rows {
                        let read = || StoreError::query("reading counter tracker samples");
                        let key: i64 = row.try_get(0).map_err(read())?;
                        out.push(TrackerSample {
                            stream: stream.to_owned(),
                            series_key: key_from_i64(key),
                            timestamp_ms: row.try_get(1).map_err(read())?,
                            value: row.try_get(2).map_err(read())?,
                        });
                    }
                    // Stored as signed integers; callers expect unsigned key order.
                    out.sort_by_key(|t| t.series_key);
                    Ok(out)
                }

                async fn forget_tracker_samples(
                    &self,
                    stream: &str,
                    before_ms: i64,
                ) -> Result<u64, StoreError> {
                    let query = sqlx::query(
                        "DELETE FROM counter_trackers WHERE stream = $1 AND timestamp_ms < $2",
                    )
                    .bind(stream)
                    .bind(before_ms);
                    self.delete_ingested("forgetting counter tracker samples", query)
                        .await
                }

                async fn prune_counters(&self, bucket_before: i64) -> Result<u64, StoreError> {
                    let query =
                        sqlx::query("DELETE FROM counters WHERE bucket_start < $1").bind(bucket_before);
                    self.delete_ingested("pruning counters", query).await
                }

                async fn prune_request_ids(&self, before: i64) -> Result<u64, StoreError> {
                    let query =
                        sqlx::query("DELETE FROM ingest_requests WHERE first_seen < $1").bind(before);
                    self.delete_ingested("pruning request ids", query).await
                }

                async fn position(&self, source: &str) -> Result<Option<FilePosition>, StoreError> {
                    let row = sqlx::query(
                        "SELECT source, byte_offset, line_number, fingerprint FROM file_positions WHERE source = $1",
                    )
                    .bind(source)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::query("reading a file position"))?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let read = || StoreError::query("reading a file position");
                    let source: String = row.try_get(0).map_err(read())?;
                    let offset: i64 = row.try_get(1).map_err(read())?;
                    let line: i64 = row.try_get(2).map_err(read())?;
                    let fingerprint: String = row.try_get(3).map_err(read())?;
                    Ok(Some(FilePosition {
                        source,
                        offset: to_u64(offset, "a file offset")?,
                        line: to_u64(line, "a line number")?,
                        fingerprint,
                    }))
                }

                async fn series(&self) -> Result<Vec<String>, StoreError> {
                    sqlx::query_scalar(
                        "SELECT s.name FROM series s \
                         WHERE EXISTS (SELECT 1 FROM counters c WHERE c.series_id = s.id) ORDER BY s.name",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("listing series"))
                }

                async fn schema_version(&self) -> Result<u32, StoreError> {
                    let version: i64 =
                        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                            .fetch_one(&self.pool)
                            .await
                            .map_err(StoreError::query("reading the schema version"))?;
                    u32::try_from(version)
                        .map_err(|_| StoreError::Corrupt(format!("schema version {version} is out of range")))
                }


                fn set_audit_key(&self, key: AuditKey) {
                    *self
                        .audit_key
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key);
                }

                async fn append_audit(&self, audit: &AuditEntry) -> Result<u64, StoreError> {
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting an audit transaction").await?;
                    let seq = append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing an audit record"))?;
                    Ok(seq)
                }

                async fn insert_token(
                    &self,
                    token: &TokenRecord,
                    audit: &AuditEntry,
                ) -> Result<(), StoreError> {
                    validate_token(token)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a token transaction").await?;
                    let taken: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE name = $1 OR sha256 = $2")
                            .bind(&token.name)
                            .bind(&token.sha256)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(StoreError::query("checking for an existing token"))?;
                    if taken > 0 {
                        return Err(StoreError::TokenExists {
                            name: token.name.clone(),
                        });
                    }
                    sqlx::query(
                        "INSERT INTO api_tokens (name, role, sha256, created_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, NULL)",
                    )
                    .bind(&token.name)
                    .bind(token.role.as_str())
                    .bind(&token.sha256)
                    .bind(token.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("storing a token"))?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a token"))
                }

                async fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
                    if validate_sha256(sha256).is_err() {
                        return Ok(None);
                    }
                    let row = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE sha256 = $1 AND revoked_at IS NULL"
                    )))
                    .bind(sha256)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::query("looking up a token"))?;
                    row.as_ref().map(token_from_row).transpose()
                }

                async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name"
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("listing tokens"))?;
                    rows.iter().map(token_from_row).collect()
                }

                async fn revoke_token(&self, name: &str, audit: &AuditEntry) -> Result<bool, StoreError> {
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a token transaction").await?;
                    let done = sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                    )
                    .bind(audit.at)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("revoking a token"))?;
                    if done.rows_affected() == 0 {
                        return Ok(false); // dropping tx rolls back (nothing was written)
                    }
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a token revocation"))?;
                    Ok(true)
                }

                async fn record_change(&self, change: &Change, audit: &AuditEntry) -> Result<i64, StoreError> {
                    validate_change(change)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a change transaction").await?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO changes (service, version, at, description, created_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(&change.service)
                    .bind(&change.version)
                    .bind(change.at)
                    .bind(&change.description)
                    .bind(change.created_at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording a change"))?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a change"))?;
                    Ok(id)
                }

                async fn changes(
                    &self,
                    service: Option<&str>,
                    from: i64,
                    to: i64,
                ) -> Result<Vec<ChangeRecord>, StoreError> {
                    if from >= to {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(
                        "SELECT id, service, version, at, description, created_at FROM changes \
                         WHERE ($1 IS NULL OR service = $1) AND at >= $2 AND at < $3 ORDER BY at, id",
                    )
                    .bind(service)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading changes"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading changes");
                            Ok(ChangeRecord {
                                id: row.try_get(0).map_err(read())?,
                                change: Change {
                                    service: row.try_get(1).map_err(read())?,
                                    version: row.try_get(2).map_err(read())?,
                                    at: row.try_get(3).map_err(read())?,
                                    description: row.try_get(4).map_err(read())?,
                                    created_at: row.try_get(5).map_err(read())?,
                                },
                            })
                        })
                        .collect()
                }

                async fn save_alert_states(
                    &self,
                    states: &[AlertStateRecord],
                    audit: &AuditEntry,
                ) -> Result<(), StoreError> {
                    validate_alert_states(states)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting an alert state transaction")
                        .await?;
                    for s in states {
                        sqlx::query(
                            "INSERT INTO alert_states (slo, tier, state, since, updated_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (slo, tier) DO UPDATE SET state = excluded.state, \
                             since = excluded.since, updated_at = excluded.updated_at",
                        )
                        .bind(&s.slo)
                        .bind(&s.tier)
                        .bind(&s.state)
                        .bind(s.since)
                        .bind(s.updated_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("saving an alert state"))?;
                    }
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing alert states"))
                }

                async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT slo, tier, state, since, updated_at FROM alert_states ORDER BY slo, tier",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading alert states"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading alert states");
                            Ok(AlertStateRecord {
                                slo: row.try_get(0).map_err(read())?,
                                tier: row.try_get(1).map_err(read())?,
                                state: row.try_get(2).map_err(read())?,
                                since: row.try_get(3).map_err(read())?,
                                updated_at: row.try_get(4).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn upsert_alerts(&self, alerts: &[AlertRecord]) -> Result<(), StoreError> {
                    validate_alerts(alerts)?;
                    if alerts.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write("starting an alert transaction").await?;
                    for a in alerts {
                        sqlx::query(
                            "INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, \
                             generator_url, updated_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                             ON CONFLICT (fingerprint) DO UPDATE SET labels = excluded.labels, \
                             annotations = excluded.annotations, starts_at = excluded.starts_at, \
                             ends_at = excluded.ends_at, generator_url = excluded.generator_url, \
                             updated_at = excluded.updated_at, source = excluded.source",
                        )
                        .bind(&a.fingerprint)
                        .bind(&a.labels)
                        .bind(&a.annotations)
                        .bind(a.starts_at)
                        .bind(a.ends_at)
                        .bind(&a.generator_url)
                        .bind(a.updated_at)
                        .bind(a.source.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("saving an alert"))?;
                    }
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing alerts"))
                }

                async fn alerts(&self, active_at: Option<i64>) -> Result<Vec<AlertRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT fingerprint, labels, annotations, starts_at, ends_at, generator_url, \
                         updated_at, source FROM alerts WHERE $1 IS NULL OR ends_at > $1 ORDER BY fingerprint",
                    )
                    .bind(active_at)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading alerts"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading alerts");
                            let source: String = row.try_get(7).map_err(read())?;
                            Ok(AlertRecord {
                                fingerprint: row.try_get(0).map_err(read())?,
                                labels: row.try_get(1).map_err(read())?,
                                annotations: row.try_get(2).map_err(read())?,
                                starts_at: row.try_get(3).map_err(read())?,
                                ends_at: row.try_get(4).map_err(read())?,
                                generator_url: row.try_get(5).map_err(read())?,
                                updated_at: row.try_get(6).map_err(read())?,
                                source: source.parse::<AlertSource>().map_err(StoreError::Corrupt)?,
                            })
                        })
                        .collect()
                }

                async fn prune_alerts(&self, ended_before: i64) -> Result<u64, StoreError> {
                    let mut tx = self.begin_write("pruning alerts").await?;
                    let done = sqlx::query("DELETE FROM alerts WHERE ends_at < $1")
                        .bind(ended_before)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("pruning alerts"))?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("pruning alerts"))?;
                    Ok(done.rows_affected())
                }

                async fn save_silences(
                    &self,
                    silences: &[SilenceRecord],
                    audit: &AuditEntry,
                ) -> Result<(), StoreError> {
                    validate_silences(silences)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a silence transaction").await?;
                    for s in silences {
                        sqlx::query(
                            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, \
                             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
                             matchers = excluded.matchers, starts_at = excluded.starts_at, \
                             ends_at = excluded.ends_at, created_by = excluded.created_by, \
                             comment = excluded.comment, updated_at = excluded.updated_at",
                        )
                        .bind(&s.id)
                        .bind(&s.matchers)
                        .bind(s.starts_at)
                        .bind(s.ends_at)
                        .bind(&s.created_by)
                        .bind(&s.comment)
                        .bind(s.updated_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("saving a silence"))?;
                    }
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing silences"))
                }

                async fn expire_silence(
                    &self,
                    id: &str,
                    at: i64,
                    audit: &AuditEntry,
                ) -> Result<bool, StoreError> {
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a silence transaction").await?;
                    let done = sqlx::query(
                        "UPDATE silences SET ends_at = $1, updated_at = $1 WHERE id = $2 AND ends_at > $1",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("expiring a silence"))?;
                    if done.rows_affected() == 0 {
                        return Ok(false); // dropping tx rolls back (nothing was written)
                    }
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a silence expiry"))?;
                    Ok(true)
                }

                async fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at \
                         FROM silences ORDER BY id",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading silences"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading silences");
                            Ok(SilenceRecord {
                                id: row.try_get(0).map_err(read())?,
                                matchers: row.try_get(1).map_err(read())?,
                                starts_at: row.try_get(2).map_err(read())?,
                                ends_at: row.try_get(3).map_err(read())?,
                                created_by: row.try_get(4).map_err(read())?,
                                comment: row.try_get(5).map_err(read())?,
                                updated_at: row.try_get(6).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn ack_alert(&self, ack: &AckRecord, audit: &AuditEntry) -> Result<(), StoreError> {
                    validate_ack(ack)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting an ack transaction").await?;
                    sqlx::query(
                        "INSERT INTO alert_acks (fingerprint, acked_by, comment, at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (fingerprint) DO UPDATE SET acked_by = excluded.acked_by, \
                         comment = excluded.comment, at = excluded.at",
                    )
                    .bind(&ack.fingerprint)
                    .bind(&ack.by)
                    .bind(&ack.comment)
                    .bind(ack.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("acknowledging an alert"))?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing an acknowledgement"))
                }

                async fn acks(&self) -> Result<Vec<AckRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT fingerprint, acked_by, comment, at FROM alert_acks ORDER BY fingerprint",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading acknowledgements"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading acknowledgements");
                            Ok(AckRecord {
                                fingerprint: row.try_get(0).map_err(read())?,
                                by: row.try_get(1).map_err(read())?,
                                comment: row.try_get(2).map_err(read())?,
                                at: row.try_get(3).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn clear_acks(&self, fingerprints: &[String]) -> Result<u64, StoreError> {
                    if fingerprints.is_empty() {
                        return Ok(0);
                    }
                    let mut tx = self.begin_write("clearing acknowledgements").await?;
                    let mut cleared = 0;
                    for f in fingerprints {
                        let done = sqlx::query("DELETE FROM alert_acks WHERE fingerprint = $1")
                            .bind(f)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::query("clearing acknowledgements"))?;
                        cleared += done.rows_affected();
                    }
                    tx.commit()
                        .await
                        .map_err(StoreError::query("clearing acknowledgements"))?;
                    Ok(cleared)
                }

                async fn save_group_states(&self, states: &[GroupStateRecord]) -> Result<(), StoreError> {
                    validate_group_states(states)?;
                    if states.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self
                        .begin_write("starting a group state transaction")
                        .await?;
                    upsert_group_states_in(&mut tx, states).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing group states"))
                }

                async fn group_states(&self) -> Result<Vec<GroupStateRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT receiver, group_key, state, updated_at FROM group_states \
                         ORDER BY receiver, group_key",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading group states"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading group states");
                            Ok(GroupStateRecord {
                                receiver: row.try_get(0).map_err(read())?,
                                group_key: row.try_get(1).map_err(read())?,
                                state: row.try_get(2).map_err(read())?,
                                updated_at: row.try_get(3).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn prune_group_states(&self, updated_before: i64) -> Result<u64, StoreError> {
                    let mut tx = self.begin_write("pruning group states").await?;
                    let done = sqlx::query("DELETE FROM group_states WHERE updated_at < $1")
                        .bind(updated_before)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("pruning group states"))?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("pruning group states"))?;
                    Ok(done.rows_affected())
                }

                async fn enqueue_notifications(
                    &self,
                    records: &[OutboxRecord],
                    group_states: &[GroupStateRecord],
                ) -> Result<(), StoreError> {
                    validate_outbox(records)?;
                    validate_group_states(group_states)?;
                    if records.is_empty() && group_states.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write("starting an outbox transaction").await?;
                    for r in records {
                        let inserted = sqlx::query(
                            "INSERT INTO notifications (id, receiver, integration, group_key, payload, \
                             created_at, next_attempt_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') \
                             ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(&r.id)
                        .bind(&r.receiver)
                        .bind(i64::from(r.integration))
                        .bind(&r.group_key)
                        .bind(&r.payload)
                        .bind(r.created_at)
                        .bind(r.next_attempt_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("enqueueing a notification"))?;
                        if inserted.rows_affected() == 0 {
                            return Err(StoreError::DuplicateNotification { id: r.id.clone() });
                        }
                    }
                    upsert_group_states_in(&mut tx, group_states).await?;
                    // On any error above, dropping `tx` rolls back: neither deliveries nor states are kept.
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing notifications"))
                }

                async fn due_notifications(
                    &self,
                    now: i64,
                    limit: usize,
                ) -> Result<Vec<Notification>, StoreError> {
                    // One read transaction: the deliveries and their attempts come from the same snapshot.
                    let mut read = self.begin_snapshot("reading due notifications").await?;
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                         WHERE status = 'pending' AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at, id LIMIT $2"
                    )))
                    .bind(now)
                    .bind(limit_i64(limit))
                    .fetch_all(&mut *read)
                    .await
                    .map_err(StoreError::query("reading due notifications"))?;
                    notifications_with_attempts(&mut read, &rows).await
                }

                async fn record_attempt(&self, id: &str, attempt: &AttemptRecord) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write("starting a delivery attempt").await?;
                    let next = match attempt.outcome {
                        AttemptOutcome::Failed {
                            next_attempt_at, ..
                        } => Some(next_attempt_at),
                        _ => None,
                    };
                    let done = sqlx::query(
                        "UPDATE notifications SET status = $1, \
                         next_attempt_at = COALESCE($2, next_attempt_at) WHERE id = $3 AND status = 'pending'",
                    )
                    .bind(attempt.outcome.status().as_str())
                    .bind(next)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording a delivery attempt"))?;
                    if done.rows_affected() == 0 {
                        return Ok(false); // dropping tx rolls back (nothing was written)
                    }
                    sqlx::query(
                        "INSERT INTO notification_attempts (notification_id, n, at, outcome, reason, \
                         next_attempt_at) VALUES ($1, (SELECT COALESCE(MAX(n), 0) + 1 FROM \
                         notification_attempts WHERE notification_id = $1), $2, $3, $4, $5)",
                    )
                    .bind(id)
                    .bind(attempt.at)
                    .bind(attempt.outcome.kind())
                    .bind(attempt.outcome.reason())
                    .bind(next)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording a delivery attempt"))?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a delivery attempt"))?;
                    Ok(true)
                }

                async fn notifications(
                    &self,
                    filter: &NotificationFilter,
                    limit: usize,
                ) -> Result<Vec<Notification>, StoreError> {
                    // One read transaction: the deliveries and their attempts come from the same snapshot.
                    let mut read = self.begin_snapshot("reading notifications").await?;
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                         WHERE ($1 IS NULL OR receiver = $1) AND ($2 IS NULL OR group_key = $2) \
                         AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR created_at >= $4) \
                         ORDER BY created_at DESC, id DESC LIMIT $5"
                    )))
                    .bind(filter.receiver.as_deref())
                    .bind(filter.group_key.as_deref())
                    .bind(filter.status.map(DeliveryStatus::as_str))
                    .bind(filter.created_from)
                    .bind(limit_i64(limit))
                    .fetch_all(&mut *read)
                    .await
                    .map_err(StoreError::query("reading notifications"))?;
                    notifications_with_attempts(&mut read, &rows).await
                }

                async fn prune_notifications(&self, created_before: i64) -> Result<u64, StoreError> {
                    let mut tx = self.begin_write("pruning notifications").await?;
                    // Attempts go with their notification (ON DELETE CASCADE).
                    let done =
                        sqlx::query("DELETE FROM notifications WHERE status <> 'pending' AND created_at < $1")
                            .bind(created_before)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::query("pruning notifications"))?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("pruning notifications"))?;
                    Ok(done.rows_affected())
                }

                async fn create_doc(
                    &self,
                    kind: DocKind,
                    doc: &str,
                    status: &str,
                    parent_id: Option<i64>,
                    at: i64,
                    audit: &AuditEntry,
                ) -> Result<i64, StoreError> {
                    validate_doc(kind, doc, status)?;
                    validate_parent(kind, parent_id)?;
                    prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting a document transaction")
                        .await?;
                    if let Some(parent) = parent_id {
                        if !incident_exists(&mut tx, parent).await? {
                            return Err(StoreError::InvalidInput {
                                what: "postmortem",
                                reason: "its incident does not exist",
                            });
                        }
                        let taken: i64 =
                            sqlx::query_scalar("SELECT COUNT(*) FROM postmortems WHERE parent_id = $1")
                                .bind(parent)
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(StoreError::query("looking up a postmortem"))?;
                        if taken > 0 {
                            return Err(StoreError::InvalidInput {
                                what: "postmortem",
                                reason: "the incident already has a postmortem",
                            });
                        }
                    }
                    let table = doc_table(kind);
                    let id: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                        "INSERT INTO {table} (id, version, doc, status, created_at, updated_at, parent_id) \
                         VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), 1, $1, $2, $3, $3, $4) \
                         RETURNING id"
                    )))
                    .bind(doc)
                    .bind(status)
                    .bind(at)
                    .bind(parent_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("creating a document"))?;
                    let entry = with_id(audit, id);
                    append_in(&mut tx, &key, &prepare_audit(&entry)?).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a document"))?;
                    Ok(id)
                }

                async fn doc(&self, kind: DocKind, id: i64) -> Result<Option<DocRecord>, StoreError> {
                    let table = doc_table(kind);
                    let row = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {DOC_COLUMNS} FROM {table} WHERE id = $1"
                    )))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::query("reading a document"))?;
                    row.as_ref().map(|r| doc_from_row(kind, r)).transpose()
                }

                async fn docs(&self, kind: DocKind, filter: &DocFilter) -> Result<Vec<DocRecord>, StoreError> {
                    let table = doc_table(kind);
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {DOC_COLUMNS} FROM {table} \
                         WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR parent_id = $2) \
                         AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4) \
                         ORDER BY id"
                    )))
                    .bind(filter.status.as_deref())
                    .bind(filter.parent_id)
                    .bind(filter.created_from)
                    .bind(filter.created_to)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("listing documents"))?;
                    rows.iter().map(|r| doc_from_row(kind, r)).collect()
                }

                async fn update_doc(
                    &self,
                    kind: DocKind,
                    id: i64,
                    expected_version: i64,
                    doc: &str,
                    status: &str,
                    at: i64,
                    timeline: &[TimelineRecord],
                    audit: &AuditEntry,
                ) -> Result<DocUpdate, StoreError> {
                    validate_doc(kind, doc, status)?;
                    validate_update_timeline(kind, id, timeline)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting a document transaction")
                        .await?;
                    let table = doc_table(kind);
                    let done = sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {table} SET doc = $1, status = $2, version = version + 1, updated_at = $3 \
                         WHERE id = $4 AND version = $5"
                    )))
                    .bind(doc)
                    .bind(status)
                    .bind(at)
                    .bind(id)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("updating a document"))?;
                    if done.rows_affected() == 0 {
                        // Nothing was written; dropping tx rolls back.
                        let current: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                            "SELECT version FROM {table} WHERE id = $1"
                        )))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::query("reading a document's version"))?;
                        return Ok(match current {
                            Some(current_version) => DocUpdate::Conflict { current_version },
                            None => DocUpdate::NotFound,
                        });
                    }
                    insert_timeline_in(&mut tx, id, timeline).await?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a document update"))?;
                    Ok(DocUpdate::Updated {
                        version: expected_version + 1,
                    })
                }

                async fn append_timeline(
                    &self,
                    incident_id: i64,
                    entries: &[TimelineRecord],
                    audit: &AuditEntry,
                ) -> Result<Vec<i64>, StoreError> {
                    validate_timeline(incident_id, entries)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting a timeline transaction")
                        .await?;
                    if !incident_exists(&mut tx, incident_id).await? {
                        return Err(StoreError::InvalidInput {
                            what: "timeline entry",
                            reason: "the incident does not exist",
                        });
                    }
                    let ids = insert_timeline_in(&mut tx, incident_id, entries).await?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing timeline entries"))?;
                    Ok(ids)
                }

                async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineRecord>, StoreError> {
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {TIMELINE_COLUMNS} FROM incident_timeline WHERE incident_id = $1 \
                         ORDER BY at, id"
                    )))
                    .bind(incident_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading the timeline"))?;
                    rows.iter().map(timeline_from_row).collect()
                }

                async fn set_timeline_pinned(
                    &self,
                    incident_id: i64,
                    entry_id: i64,
                    pinned: bool,
                    audit: &AuditEntry,
                ) -> Result<bool, StoreError> {
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting a timeline transaction")
                        .await?;
                    let done = sqlx::query(
                        "UPDATE incident_timeline SET pinned = $1 WHERE id = $2 AND incident_id = $3",
                    )
                    .bind(i64::from(pinned))
                    .bind(entry_id)
                    .bind(incident_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("pinning a timeline entry"))?;
                    if done.rows_affected() == 0 {
                        return Ok(false); // dropping tx rolls back (nothing was written)
                    }
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a timeline pin"))?;
                    Ok(true)
                }

                async fn record_toil(&self, entry: &ToilRecord, audit: &AuditEntry) -> Result<i64, StoreError> {
                    validate_toil(entry)?;
                    prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a toil transaction").await?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO toil_entries (team, category, minutes, at, description, automatable, \
                         task, author, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    )
                    .bind(&entry.team)
                    .bind(&entry.category)
                    .bind(entry.minutes)
                    .bind(entry.at)
                    .bind(&entry.description)
                    .bind(i64::from(entry.automatable))
                    .bind(&entry.task)
                    .bind(&entry.author)
                    .bind(&entry.source)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("recording toil"))?;
                    let audit = with_id(audit, id);
                    append_in(&mut tx, &key, &prepare_audit(&audit)?).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing toil"))?;
                    Ok(id)
                }

                async fn toil(
                    &self,
                    team: Option<&str>,
                    from: i64,
                    to: i64,
                ) -> Result<Vec<ToilRecord>, StoreError> {
                    if from >= to {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {TOIL_COLUMNS} FROM toil_entries \
                         WHERE ($1 IS NULL OR team = $1) AND at >= $2 AND at < $3 ORDER BY at, id"
                    )))
                    .bind(team)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading toil"))?;
                    rows.iter().map(toil_from_row).collect()
                }

                async fn save_team(&self, team: &TeamRecord, audit: &AuditEntry) -> Result<(), StoreError> {
                    validate_team(team)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self.begin_control("starting a team transaction").await?;
                    sqlx::query(
                        "INSERT INTO teams (name, weekly_capacity_minutes, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET \
                         weekly_capacity_minutes = excluded.weekly_capacity_minutes, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(&team.name)
                    .bind(team.weekly_capacity_minutes)
                    .bind(team.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("saving a team"))?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing a team"))
                }

                async fn teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT name, weekly_capacity_minutes, updated_at FROM teams ORDER BY name",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading teams"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading teams");
                            Ok(TeamRecord {
                                name: row.try_get(0).map_err(read())?,
                                weekly_capacity_minutes: row.try_get(1).map_err(read())?,
                                updated_at: row.try_get(2).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn mark_automation(
                    &self,
                    automation: &AutomationRecord,
                    audit: &AuditEntry,
                ) -> Result<(), StoreError> {
                    validate_automation(automation)?;
                    let prepared = prepare_audit(audit)?;
                    let key = self.key()?;
                    let mut tx = self
                        .begin_control("starting an automation transaction")
                        .await?;
                    sqlx::query(
                        "INSERT INTO toil_automations (team, task, at, note) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (team, task) DO UPDATE SET at = excluded.at, note = excluded.note",
                    )
                    .bind(&automation.team)
                    .bind(&automation.task)
                    .bind(automation.at)
                    .bind(&automation.note)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("marking an automation"))?;
                    append_in(&mut tx, &key, &prepared).await?;
                    tx.commit()
                        .await
                        .map_err(StoreError::query("committing an automation mark"))
                }

                async fn automations(&self) -> Result<Vec<AutomationRecord>, StoreError> {
                    let rows =
                        sqlx::query("SELECT team, task, at, note FROM toil_automations ORDER BY team, task")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(StoreError::query("reading automations"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading automations");
                            Ok(AutomationRecord {
                                team: row.try_get(0).map_err(read())?,
                                task: row.try_get(1).map_err(read())?,
                                at: row.try_get(2).map_err(read())?,
                                note: row.try_get(3).map_err(read())?,
                            })
                        })
                        .collect()
                }

                async fn audit_entries(
                    &self,
                    from_seq: u64,
                    limit: usize,
                ) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT seq, at, actor, action, target, details, prev_mac, mac FROM audit_log \
                         WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    )
                    .bind(to_i64(from_seq))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("reading the audit log"))?;
                    rows.iter()
                        .map(|row| {
                            let read = || StoreError::query("reading the audit log");
                            let seq: i64 = row.try_get(0).map_err(read())?;
                            Ok(AuditRecord {
                                seq: to_u64(seq, "an audit sequence number")?,
                                at: row.try_get(1).map_err(read())?,
                                actor: row.try_get(2).map_err(read())?,
                                action: row.try_get(3).map_err(read())?,
                                target: row.try_get(4).map_err(read())?,
                                details: row.try_get(5).map_err(read())?,
                                prev_mac: row.try_get(6).map_err(read())?,
                                mac: row.try_get(7).map_err(read())?,
                            })
                        })
                        .collect()
                }
            }
        }
    };
}

pub(crate) use sql_store;
