-- KPI indicators and the values units record for them (append-only).
CREATE TABLE indicators (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    measure         TEXT NOT NULL,
    target          REAL NOT NULL,
    target_date     TEXT NOT NULL,
    lower_is_better BOOLEAN NOT NULL,
    directive_id    TEXT,
    task_group      TEXT,
    created_at      TEXT NOT NULL
);
CREATE TABLE indicator_values (
    indicator_id TEXT NOT NULL REFERENCES indicators (id),
    unit_id      TEXT NOT NULL,
    value        REAL NOT NULL,
    as_of        TEXT NOT NULL,
    note         TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX indicator_values_latest ON indicator_values (indicator_id, unit_id, as_of, recorded_at);
