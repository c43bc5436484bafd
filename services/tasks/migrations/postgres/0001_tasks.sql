-- Directives, tasks, their assignments to units, the change feed with its
-- counter, the working-day calendar, request ids for idempotent retries and
-- the audit log.
CREATE TABLE directives (
    id         TEXT PRIMARY KEY,
    number     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    issue_date DATE NOT NULL,
    title      TEXT NOT NULL,
    link       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX directives_issued ON directives (issue_date, id);

CREATE TABLE tasks (
    id                    TEXT PRIMARY KEY,
    directive_id          TEXT NOT NULL REFERENCES directives(id),
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    task_group            TEXT NOT NULL,
    deadline_date         DATE,
    deadline_working_days INTEGER,
    period                TEXT,
    created_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_directive ON tasks (directive_id);

-- One row per (task, unit), with the task's directive, group and title
-- copied so that lists and summaries read one table.
CREATE TABLE assignments (
    task_id          TEXT NOT NULL REFERENCES tasks(id),
    unit_id          TEXT NOT NULL,
    role             TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    task_group       TEXT NOT NULL,
    title            TEXT NOT NULL,
    deadline         DATE,
    deadline_version INTEGER NOT NULL DEFAULT 1,
    period           TEXT,
    progress         INTEGER NOT NULL DEFAULT 0,
    completed_on     DATE,
    cancelled_on     DATE,
    last_report_on   DATE,
    created_on       DATE NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, unit_id)
);
CREATE INDEX assignments_unit_deadline ON assignments (unit_id, deadline);
CREATE INDEX assignments_unit_task ON assignments (unit_id, task_id);
CREATE INDEX assignments_directive ON assignments (directive_id);
CREATE INDEX assignments_deadline ON assignments (deadline);
-- The deadline order of lists (recurring duties last), written exactly as
-- the store's ORDER BY and keyset.
CREATE INDEX assignments_deadline_order ON assignments ((COALESCE(deadline, '9999-12-31')), task_id, unit_id);
CREATE INDEX assignments_group ON assignments (task_group);
CREATE INDEX assignments_created ON assignments (created_at, task_id, unit_id);

-- The change feed. Sequence numbers come from feed_counter inside the
-- writing transaction (never from a sequence or serial), so they are handed
-- out in commit order.
CREATE TABLE changes (
    sequence         BIGINT PRIMARY KEY,
    kind             TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    deadline         DATE,
    deadline_version INTEGER NOT NULL,
    percent          INTEGER NOT NULL DEFAULT 0,
    note             TEXT NOT NULL DEFAULT '',
    evidence_link    TEXT NOT NULL DEFAULT '',
    actor            TEXT NOT NULL,
    at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX changes_assignment ON changes (task_id, unit_id, sequence);

CREATE TABLE feed_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO feed_counter (id, value) VALUES (1, 0);

-- Exceptions to the Monday–Friday week.
CREATE TABLE calendar_days (
    date DATE PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('DAY_OFF', 'WORKING_DAY')),
    name TEXT NOT NULL DEFAULT ''
);

-- Years whose exceptions were loaded or replaced, so that seeding never
-- brings back days an administrator removed (even a whole year's).
CREATE TABLE calendar_years (
    year       INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE request_log (
    method     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (method, request_id)
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);
