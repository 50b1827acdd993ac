-- Notifications: alerts, silences, acknowledgements, aggregation-group states and the delivery
-- outbox. Shapes that belong to the notify crate (labels, matchers, a group's state) are JSON text.

-- Upserted by fingerprint on every (re-)send; not audited (Prometheus renews each alert every minute).
CREATE TABLE alerts (
    fingerprint   {text} PRIMARY KEY CHECK (fingerprint <> ''),
    labels        {text} NOT NULL,
    annotations   {text} NOT NULL,
    starts_at     {int} NOT NULL,
    ends_at       {int} NOT NULL,
    generator_url {text} NOT NULL,
    updated_at    {int} NOT NULL,
    source        {text} NOT NULL CHECK (source IN ('prometheus', 'nines'))
){strict_rowless};

CREATE INDEX alerts_by_end ON alerts (ends_at);

-- Ids are chosen by the caller. Expired silences stay (history); writes are audited.
CREATE TABLE silences (
    id         {text} PRIMARY KEY CHECK (id <> ''),
    matchers   {text} NOT NULL,
    starts_at  {int} NOT NULL,
    ends_at    {int} NOT NULL,
    created_by {text} NOT NULL,
    comment    {text} NOT NULL,
    updated_at {int} NOT NULL
){strict_rowless};

-- One acknowledgement per alert; cleared when the alert resolves. Writes are audited.
CREATE TABLE alert_acks (
    fingerprint {text} PRIMARY KEY CHECK (fingerprint <> ''),
    acked_by    {text} NOT NULL CHECK (acked_by <> ''),
    comment     {text} NOT NULL,
    at          {int} NOT NULL
){strict_rowless};

CREATE TABLE group_states (
    receiver   {text} NOT NULL CHECK (receiver <> ''),
    group_key  {text} NOT NULL CHECK (group_key <> ''),
    state      {text} NOT NULL,
    updated_at {int} NOT NULL,
    PRIMARY KEY (receiver, group_key)
){strict_rowless};

-- The outbox: written in the same transaction as the group state change that caused it; the id is
-- the webhook-id, kept across retries and restarts.
CREATE TABLE notifications (
    id              {text} PRIMARY KEY CHECK (id <> ''),
    receiver        {text} NOT NULL CHECK (receiver <> ''),
    integration     {int} NOT NULL CHECK (integration >= 0),
    group_key       {text} NOT NULL,
    payload         {text} NOT NULL,
    created_at      {int} NOT NULL,
    next_attempt_at {int} NOT NULL,
    status          {text} NOT NULL CHECK (status IN ('pending', 'delivered', 'gave_up'))
){strict_rowless};

CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notifications_by_created ON notifications (created_at, id);

-- Every attempt, numbered from 1 per notification.
CREATE TABLE notification_attempts (
    notification_id {text} NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    n               {int} NOT NULL CHECK (n >= 1),
    at              {int} NOT NULL,
    outcome         {text} NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
    reason          {text} NOT NULL,
    next_attempt_at {int},
    PRIMARY KEY (notification_id, n)
){strict_rowless};
