-- The last accepted sample of every tracked cumulative counter series (remote-write, OTLP sums),
-- written in the same transaction as the increases it produced, so a restart continues exactly.
CREATE TABLE counter_trackers (
    stream       {text} NOT NULL CHECK (stream <> ''),
    series_key   {int} NOT NULL,
    timestamp_ms {int} NOT NULL,
    value        {real} NOT NULL CHECK (value >= 0),
    PRIMARY KEY (stream, series_key)
){strict_rowless};

-- Ids of committed ingest requests (Idempotency-Key): a retried request is refused instead of
-- counted twice.
CREATE TABLE ingest_requests (
    id         {text} PRIMARY KEY CHECK (id <> ''),
    first_seen {int} NOT NULL
){strict_rowless};

CREATE INDEX ingest_requests_first_seen ON ingest_requests (first_seen);
