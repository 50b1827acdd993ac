-- Per-bucket good/total counters and the file positions that ingestion resumes from.
-- STRICT makes SQLite refuse values of the wrong type, e.g. a sum that overflowed 64-bit integers into a REAL.

-- Series names are stored once; counter rows carry a small integer id instead of the name.
CREATE TABLE series (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> '')
) STRICT;

-- One row per series and bucket; WITHOUT ROWID keeps rows clustered by (series, time) for range reads.
CREATE TABLE counters (
    series_id    INTEGER NOT NULL REFERENCES series (id),
    bucket_start INTEGER NOT NULL,
    good         INTEGER NOT NULL CHECK (good >= 0),
    total        INTEGER NOT NULL CHECK (total >= good),
    PRIMARY KEY (series_id, bucket_start)
) STRICT, WITHOUT ROWID;

-- "offset" and "line" avoid SQL keywords as column names.
CREATE TABLE file_positions (
    source      TEXT PRIMARY KEY CHECK (source <> ''),
    byte_offset INTEGER NOT NULL CHECK (byte_offset >= 0),
    line_number INTEGER NOT NULL CHECK (line_number >= 0),
    fingerprint TEXT NOT NULL
) STRICT;
