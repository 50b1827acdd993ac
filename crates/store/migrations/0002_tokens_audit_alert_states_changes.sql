-- Control plane: API tokens, the hash-chained audit log, persisted alert states, and changes (deployments).

-- Only the SHA-256 of a token's secret is stored. Names stay taken after revocation.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    role       TEXT NOT NULL CHECK (role IN ('ingest', 'viewer', 'responder', 'admin')),
    sha256     TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- mac = HMAC-SHA256(key, prev_mac || canonical(seq, at, actor, action, target, details)); see src/audit.rs.
-- The store assigns seq = max(seq) + 1 inside the writing transaction, so numbers have no gaps.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY CHECK (seq >= 1),
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    details  TEXT NOT NULL,
    prev_mac TEXT NOT NULL,
    mac      TEXT NOT NULL
) STRICT;

-- One row per SLO and alerting tier, written by the evaluator so a restart resumes where it was.
CREATE TABLE alert_states (
    slo        TEXT NOT NULL CHECK (slo <> ''),
    tier       TEXT NOT NULL CHECK (tier <> ''),
    state      TEXT NOT NULL,
    since      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (slo, tier)
) STRICT, WITHOUT ROWID;

CREATE TABLE changes (
    id          INTEGER PRIMARY KEY,
    service     TEXT NOT NULL CHECK (service <> ''),
    version     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX changes_by_service_time ON changes (service, at);
CREATE INDEX changes_by_time ON changes (at);
