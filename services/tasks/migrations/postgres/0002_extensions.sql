-- Deadline extension requests and their decisions.
CREATE TABLE extensions (
    id                 TEXT PRIMARY KEY,
    task_id            TEXT NOT NULL,
    unit_id            TEXT NOT NULL,
    requested_deadline DATE NOT NULL,
    previous_deadline  DATE NOT NULL,
    reason             TEXT NOT NULL,
    state              TEXT NOT NULL,
    granted_deadline   DATE,
    decision_note      TEXT NOT NULL DEFAULT '',
    requested_by       TEXT NOT NULL,
    decided_by         TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    decided_at         TIMESTAMPTZ
);
CREATE INDEX extensions_assignment ON extensions (task_id, unit_id, created_at);
-- At most one pending request per assignment.
CREATE UNIQUE INDEX extensions_one_pending ON extensions (task_id, unit_id) WHERE state = 'PENDING';
