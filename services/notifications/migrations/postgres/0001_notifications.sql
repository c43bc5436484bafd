-- Notifications: the reminder schedule kept from the tasks feed, the
-- notifications produced from it, their push deliveries and every attempt.
-- Times are Unix milliseconds (BIGINT) so both backends compare them the
-- same way; dates are YYYY-MM-DD text.

-- How far the tasks change feed has been applied; one row, updated in the
-- same transaction as the schedule changes it causes.
CREATE TABLE feed_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sequence BIGINT NOT NULL
);
INSERT INTO feed_cursor (id, sequence) VALUES (1, 0);

-- Stream positions, handed out inside the writing transaction so they
-- follow commit order.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('notifications', 0);

CREATE TABLE policies (
    id           TEXT PRIMARY KEY,
    directive_id TEXT,
    task_group   TEXT,
    rules        TEXT NOT NULL,
    urgent       BOOLEAN NOT NULL,
    version      INTEGER NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);
CREATE UNIQUE INDEX policies_directive ON policies (directive_id) WHERE directive_id IS NOT NULL;
CREATE UNIQUE INDEX policies_group ON policies (task_group) WHERE task_group IS NOT NULL;

-- One row per open assignment: what it is owed next.
CREATE TABLE schedules (
    task_id          TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    directive_number TEXT NOT NULL,
    title            TEXT NOT NULL,
    task_group       TEXT NOT NULL,
    period           TEXT,
    since            TEXT NOT NULL,
    deadline         TEXT,
    deadline_version INTEGER NOT NULL,
    generation       BIGINT NOT NULL,
    acked            TEXT NOT NULL DEFAULT '',
    last_date        TEXT,
    last_rank        INTEGER,
    next_due_ms      BIGINT,
    urgent           BOOLEAN NOT NULL DEFAULT FALSE,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, unit_id)
);
CREATE INDEX schedules_due ON schedules (next_due_ms) WHERE next_due_ms IS NOT NULL;
CREATE INDEX schedules_unit ON schedules (unit_id);
CREATE INDEX schedules_directive ON schedules (directive_id);

CREATE TABLE notifications (
    seq              BIGINT PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    dedupe_key       TEXT NOT NULL UNIQUE,
    unit_id          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    assignee_id      TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    directive_number TEXT NOT NULL,
    title            TEXT NOT NULL,
    deadline         TEXT,
    days_left        INTEGER NOT NULL,
    days_overdue     INTEGER NOT NULL,
    text_vi          TEXT NOT NULL,
    text_en          TEXT NOT NULL,
    digest           TEXT NOT NULL DEFAULT '',
    due_ms           BIGINT NOT NULL,
    created_ms       BIGINT NOT NULL,
    acked_ms         BIGINT
);
CREATE INDEX notifications_unit ON notifications (unit_id, seq);

CREATE TABLE deliveries (
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    unit_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Attempts made before the last redrive: the budget counts from here.
    redrive_base    INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    due_ms          BIGINT NOT NULL,
    delivered_ms    BIGINT,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_ms) WHERE state = 'PENDING';
CREATE INDEX deliveries_unit ON deliveries (unit_id, seq);
CREATE INDEX deliveries_state ON deliveries (state, seq);

-- The delivery ledger: every attempt, append-only.
CREATE TABLE attempts (
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    success         BOOLEAN NOT NULL,
    response_code   INTEGER NOT NULL,
    error           TEXT NOT NULL,
    latency_ms      BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (notification_id, channel, attempt)
);

-- Monthly digests already produced ("2025-01").
CREATE TABLE digests (
    month   TEXT PRIMARY KEY,
    done_ms BIGINT NOT NULL
);

CREATE TABLE request_log (
    method     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    result     TEXT NOT NULL,
    PRIMARY KEY (method, request_id)
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT ''
);
