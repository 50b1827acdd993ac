-- Incidents, postmortems, the incident timeline, toil. Incidents and postmortems are versioned JSON
-- documents (the incident crate's shapes) with the columns the queries need; every write is audited
-- in the same transaction. Nothing here is ever deleted.

-- Ids 1, 2, ... per kind. `version` is the compare-and-swap token of update_doc.
CREATE TABLE incidents (
    id         {id} CHECK (id >= 1),
    version    {int} NOT NULL CHECK (version >= 1),
    doc        {text} NOT NULL,
    status     {text} NOT NULL CHECK (status <> ''),
    created_at {int} NOT NULL,
    updated_at {int} NOT NULL,
    parent_id  {int} CHECK (parent_id IS NULL)
){strict};

CREATE INDEX incidents_by_status ON incidents (status, id);
CREATE INDEX incidents_by_created ON incidents (created_at, id);

-- At most one postmortem per incident (UNIQUE ignores NULLs: a postmortem may have no incident).
CREATE TABLE postmortems (
    id         {id} CHECK (id >= 1),
    version    {int} NOT NULL CHECK (version >= 1),
    doc        {text} NOT NULL,
    status     {text} NOT NULL CHECK (status <> ''),
    created_at {int} NOT NULL,
    updated_at {int} NOT NULL,
    parent_id  {int} UNIQUE REFERENCES incidents (id)
){strict};

CREATE INDEX postmortems_by_status ON postmortems (status, id);
CREATE INDEX postmortems_by_created ON postmortems (created_at, id);

-- The working record of an incident. Ids are unique across incidents.
CREATE TABLE incident_timeline (
    id          {id} CHECK (id >= 1),
    incident_id {int} NOT NULL REFERENCES incidents (id),
    at          {int} NOT NULL,
    author      {text} NOT NULL CHECK (author <> ''),
    kind        {text} NOT NULL CHECK (kind <> ''),
    text        {text} NOT NULL,
    pinned      {int} NOT NULL CHECK (pinned IN (0, 1)),
    data        {text} NOT NULL
){strict};

CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, at, id);

CREATE TABLE toil_entries (
    id          {id} CHECK (id >= 1),
    team        {text} NOT NULL CHECK (team <> ''),
    category    {text} NOT NULL CHECK (category <> ''),
    minutes     {int} NOT NULL CHECK (minutes BETWEEN 1 AND 10080),
    at          {int} NOT NULL,
    description {text} NOT NULL,
    automatable {int} NOT NULL CHECK (automatable IN (0, 1)),
    task        {text} NOT NULL,
    author      {text} NOT NULL CHECK (author <> ''),
    source      {text} NOT NULL CHECK (source IN ('manual', 'page'))
){strict};

CREATE INDEX toil_by_time ON toil_entries (at, id);
CREATE INDEX toil_by_team_time ON toil_entries (team, at, id);

CREATE TABLE teams (
    name                    {text} PRIMARY KEY CHECK (name <> ''),
    weekly_capacity_minutes {int} NOT NULL CHECK (weekly_capacity_minutes >= 1),
    updated_at              {int} NOT NULL
){strict_rowless};

-- When a recurring toil task was automated: one mark per (team, task), replaced when marked again.
CREATE TABLE toil_automations (
    team {text} NOT NULL CHECK (team <> ''),
    task {text} NOT NULL CHECK (task <> ''),
    at   {int} NOT NULL,
    note {text} NOT NULL,
    PRIMARY KEY (team, task)
){strict_rowless};
