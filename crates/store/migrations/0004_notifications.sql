-- Notifications: alerts, silences, acknowledgements, aggregation-group states and the delivery
-- outbox. Shapes that belong to the notify crate (labels, matchers, a group's state) are JSON text.

-- Upserted by fingerprint on every (re-)send; not audited (Prometheus renews each alert every minute).
CREATE TABLE alerts (
    fingerprint   TEXT PRIMARY KEY CHECK (fingerprint <> ''),
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    generator_url TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('prometheus', 'nines'))
) STRICT, WITHOUT ROWID;

CREATE INDEX alerts_by_end ON alerts (ends_at);

-- Ids are chosen by the caller. Expired silences stay (history); writes are audited.
CREATE TABLE silences (
    id         TEXT PRIMARY KEY CHECK (id <> ''),
    matchers   TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One acknowledgement per alert; cleared when the alert resolves. Writes are audited.
CREATE TABLE alert_acks (
    fingerprint TEXT PRIMARY KEY CHECK (fingerprint <> ''),
    acked_by    TEXT NOT NULL CHECK (acked_by <> ''),
    comment     TEXT NOT NULL,
    at          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE group_states (
    receiver   TEXT NOT NULL CHECK (receiver <> ''),
    group_key  TEXT NOT NULL CHECK (group_key <> ''),
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (receiver, group_key)
) STRICT, WITHOUT ROWID;

-- The outbox: written in the same transaction as the group state change that caused it; the id is
-- the webhook-id, kept across retries and restarts.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY CHECK (id <> ''),
    receiver        TEXT NOT NULL CHECK (receiver <> ''),
    integration     INTEGER NOT NULL CHECK (integration >= 0),
    group_key       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'gave_up'))
) STRICT, WITHOUT ROWID;

CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notifications_by_created ON notifications (created_at, id);

-- Every attempt, numbered from 1 per notification.
CREATE TABLE notification_attempts (
    notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    n               INTEGER NOT NULL CHECK (n >= 1),
    at              INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
    reason          TEXT NOT NULL,
    next_attempt_at INTEGER,
    PRIMARY KEY (notification_id, n)
) STRICT, WITHOUT ROWID;
