-- Units, their lineage and delivery contacts, request ids for idempotent
-- retries, the audit log, and load markers.
CREATE TABLE units (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    level         TEXT NOT NULL,
    name_vi       TEXT NOT NULL,
    name_en       TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    search_name   TEXT NOT NULL,
    parent_id     TEXT REFERENCES units(id),
    supervisor_id TEXT REFERENCES units(id),
    valid_from    DATE,
    valid_until   DATE,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX units_code_level ON units (code, level);
CREATE INDEX units_kind_code ON units (kind, code);
CREATE INDEX units_parent ON units (parent_id);

CREATE TABLE unit_lineage (
    predecessor_id TEXT NOT NULL REFERENCES units(id),
    successor_id   TEXT NOT NULL REFERENCES units(id),
    effective_date DATE NOT NULL,
    is_primary     BOOLEAN NOT NULL,
    PRIMARY KEY (predecessor_id, successor_id)
);
CREATE INDEX unit_lineage_successor ON unit_lineage (successor_id);

CREATE TABLE unit_contacts (
    unit_id         TEXT PRIMARY KEY REFERENCES units(id),
    webhook_url     TEXT NOT NULL DEFAULT '',
    webhook_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_secrets TEXT NOT NULL DEFAULT '[]',
    email_addresses TEXT NOT NULL DEFAULT '[]',
    email_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    version         BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
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

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
