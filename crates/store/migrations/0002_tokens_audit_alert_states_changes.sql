-- Control plane: API tokens, the hash-chained audit log, persisted alert states, and changes (deployments).

-- Only the SHA-256 of a token's secret is stored. Names stay taken after revocation.
CREATE TABLE api_tokens (
    id         {id},
    name       {text} NOT NULL UNIQUE CHECK (name <> ''),
    role       {text} NOT NULL CHECK (role IN ('ingest', 'viewer', 'responder', 'admin')),
    sha256     {text} NOT NULL UNIQUE CHECK (length(sha256) = 64),
    created_at {int} NOT NULL,
    revoked_at {int}
){strict};

-- mac = HMAC-SHA256(key, prev_mac || canonical(seq, at, actor, action, target, details)); see src/audit.rs.
-- The store assigns seq = max(seq) + 1 inside the writing transaction, so numbers have no gaps.
CREATE TABLE audit_log (
    seq      {id} CHECK (seq >= 1),
    at       {int} NOT NULL,
    actor    {text} NOT NULL,
    action   {text} NOT NULL,
    target   {text} NOT NULL,
    details  {text} NOT NULL,
    prev_mac {text} NOT NULL,
    mac      {text} NOT NULL
){strict};

-- One row per SLO and alerting tier, written by the evaluator so a restart resumes where it was.
CREATE TABLE alert_states (
    slo        {text} NOT NULL CHECK (slo <> ''),
    tier       {text} NOT NULL CHECK (tier <> ''),
    state      {text} NOT NULL,
    since      {int} NOT NULL,
    updated_at {int} NOT NULL,
    PRIMARY KEY (slo, tier)
){strict_rowless};

CREATE TABLE changes (
    id          {id},
    service     {text} NOT NULL CHECK (service <> ''),
    version     {text} NOT NULL,
    at          {int} NOT NULL,
    description {text} NOT NULL,
    created_at  {int} NOT NULL
){strict};

CREATE INDEX changes_by_service_time ON changes (service, at);
CREATE INDEX changes_by_time ON changes (at);
