-- The last accepted sample of every tracked cumulative counter series (remote-write, OTLP sums),
-- written in the same transaction as the increases it produced, so a restart continues exactly.
CREATE TABLE counter_trackers (
    stream       TEXT NOT NULL CHECK (stream <> ''),
    series_key   INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    value        REAL NOT NULL CHECK (value >= 0),
    PRIMARY KEY (stream, series_key)
) STRICT, WITHOUT ROWID;

-- Ids of committed ingest requests (Idempotency-Key): a retried request is refused instead of
-- counted twice.
CREATE TABLE ingest_requests (
    id         TEXT PRIMARY KEY CHECK (id <> ''),
    first_seen INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX ingest_requests_first_seen ON ingest_requests (first_seen);
