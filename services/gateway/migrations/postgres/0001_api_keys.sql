-- API keys (only a SHA-256 hash of each secret is kept) and the create
-- requests remembered for idempotent retries (AIP-155). Times are
-- microseconds since the Unix epoch, UTC.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    unit         TEXT NOT NULL,
    role         TEXT NOT NULL,
    creator      TEXT NOT NULL,
    create_time  BIGINT NOT NULL,
    revoke_time  BIGINT
);
CREATE INDEX api_keys_by_create_time ON api_keys (create_time, id);

-- request_hash = SHA-256 of (creator, request_id); the request id itself is
-- not stored, and the secret is sealed with a key derived from it.
CREATE TABLE create_requests (
    request_hash  TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL REFERENCES api_keys(id),
    fingerprint   TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    create_time   BIGINT NOT NULL
);
CREATE INDEX create_requests_by_create_time ON create_requests (create_time);
