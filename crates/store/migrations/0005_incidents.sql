-- Incidents, postmortems, the incident timeline, toil. Incidents and postmortems are versioned JSON
-- documents (the incident crate's shapes) with the columns the queries need; every write is audited
-- in the same transaction. Nothing here is ever deleted.

-- Ids 1, 2, ... per kind. `version` is the compare-and-swap token of update_doc.
CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY CHECK (id >= 1),
    version    INTEGER NOT NULL CHECK (version >= 1),
    doc        TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status <> ''),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    parent_id  INTEGER CHECK (parent_id IS NULL)
) STRICT;

CREATE INDEX incidents_by_status ON incidents (status, id);
CREATE INDEX incidents_by_created ON incidents (created_at, id);

-- At most one postmortem per incident (UNIQUE ignores NULLs: a postmortem may have no incident).
CREATE TABLE postmortems (
    id         INTEGER PRIMARY KEY CHECK (id >= 1),
    version    INTEGER NOT NULL CHECK (version >= 1),
    doc        TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status <> ''),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    parent_id  INTEGER UNIQUE REFERENCES incidents (id)
) STRICT;

CREATE INDEX postmortems_by_status ON postmortems (status, id);
CREATE INDEX postmortems_by_created ON postmortems (created_at, id);

-- The working record of an incident. Ids are unique across incidents.
CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY CHECK (id >= 1),
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          INTEGER NOT NULL,
    author      TEXT NOT NULL CHECK (author <> ''),
    kind        TEXT NOT NULL CHECK (kind <> ''),
    text        TEXT NOT NULL,
    pinned      INTEGER NOT NULL CHECK (pinned IN (0, 1)),
    data        TEXT NOT NULL
) STRICT;

CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, at, id);

CREATE TABLE toil_entries (
    id          INTEGER PRIMARY KEY CHECK (id >= 1),
    team        TEXT NOT NULL CHECK (team <> ''),
    category    TEXT NOT NULL CHECK (category <> ''),
    minutes     INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 10080),
    at          INTEGER NOT NULL,
    description TEXT NOT NULL,
    automatable INTEGER NOT NULL CHECK (automatable IN (0, 1)),
    task        TEXT NOT NULL,
    author      TEXT NOT NULL CHECK (author <> ''),
    source      TEXT NOT NULL CHECK (source IN ('manual', 'page'))
) STRICT;

CREATE INDEX toil_by_time ON toil_entries (at, id);
CREATE INDEX toil_by_team_time ON toil_entries (team, at, id);

CREATE TABLE teams (
    name                    TEXT PRIMARY KEY CHECK (name <> ''),
    weekly_capacity_minutes INTEGER NOT NULL CHECK (weekly_capacity_minutes >= 1),
    updated_at              INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- When a recurring toil task was automated: one mark per (team, task), replaced when marked again.
CREATE TABLE toil_automations (
    team TEXT NOT NULL CHECK (team <> ''),
    task TEXT NOT NULL CHECK (task <> ''),
    at   INTEGER NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (team, task)
) STRICT, WITHOUT ROWID;
