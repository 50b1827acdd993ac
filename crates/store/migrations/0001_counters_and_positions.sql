-- Per-bucket good/total counters and the file positions that ingestion resumes from.
-- STRICT makes SQLite refuse values of the wrong type, e.g. a sum that overflowed 64-bit integers into a REAL.

-- Series names are stored once; counter rows carry a small integer id instead of the name.
CREATE TABLE series (
    id   {id},
    name {text} NOT NULL UNIQUE CHECK (name <> '')
){strict};

-- One row per series and bucket; WITHOUT ROWID keeps rows clustered by (series, time) for range reads.
CREATE TABLE counters (
    series_id    {int} NOT NULL REFERENCES series (id),
    bucket_start {int} NOT NULL,
    good         {int} NOT NULL CHECK (good >= 0),
    total        {int} NOT NULL CHECK (total >= good),
    PRIMARY KEY (series_id, bucket_start)
){strict_rowless};

-- "offset" and "line" avoid SQL keywords as column names.
CREATE TABLE file_positions (
    source      {text} PRIMARY KEY CHECK (source <> ''),
    byte_offset {int} NOT NULL CHECK (byte_offset >= 0),
    line_number {int} NOT NULL CHECK (line_number >= 0),
    fingerprint {text} NOT NULL
){strict};
