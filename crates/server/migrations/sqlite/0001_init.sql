-- Assent schema, SQLite flavour. Times are Unix seconds. Secrets are stored only as hashes
-- (API keys, registration tokens) or as key-equivalent state that cannot give API access
-- (callback_key: the precomputed HMAC-SHA256 state of the API key).

CREATE TABLE service_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    secret      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE apps (
    serial_id       INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    logo_url        TEXT,
    accent_color    TEXT,
    callback_url    TEXT,
    callback_method TEXT    NOT NULL DEFAULT 'post' CHECK (callback_method IN ('post', 'get')),
    api_key_hash    BLOB    NOT NULL UNIQUE,
    callback_key    BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    email        TEXT,
    cellphone    TEXT,
    country_code TEXT,
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER
);
CREATE UNIQUE INDEX users_by_phone ON users (app_id, country_code, cellphone)
    WHERE cellphone IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX users_by_email ON users (app_id, email) WHERE deleted_at IS NULL;

CREATE TABLE registration_tokens (
    token_hash BLOB    PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE devices (
    id           TEXT    PRIMARY KEY,
    alias        INTEGER NOT NULL UNIQUE,
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    public_key   BLOB    NOT NULL,
    name         TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE device_nonces (
    device_id TEXT    NOT NULL,
    nonce     TEXT    NOT NULL,
    seen_at   INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX device_nonces_by_time ON device_nonces (seen_at);

CREATE TABLE approval_requests (
    id                TEXT    PRIMARY KEY,
    app_id            TEXT    NOT NULL REFERENCES apps (id),
    user_id           INTEGER NOT NULL REFERENCES users (id),
    message           TEXT    NOT NULL,
    details           TEXT    NOT NULL,
    hidden_details    TEXT    NOT NULL,
    logos             TEXT    NOT NULL,
    requester         TEXT,
    seconds_to_expire INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    quorum            INTEGER NOT NULL,
    number            INTEGER,
    canonical         BLOB    NOT NULL,
    digest            BLOB    NOT NULL,
    signature         BLOB    NOT NULL,
    status            TEXT    NOT NULL,
    reason            TEXT,
    notified          INTEGER NOT NULL DEFAULT 0,
    processed_at      INTEGER,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX approval_requests_pending ON approval_requests (status, expires_at);
CREATE INDEX approval_requests_by_user ON approval_requests (user_id, status);

CREATE TABLE request_approvers (
    request_id TEXT    NOT NULL REFERENCES approval_requests (id),
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (request_id, user_id)
);
CREATE INDEX request_approvers_by_user ON request_approvers (user_id);

CREATE TABLE decisions (
    request_id  TEXT    NOT NULL REFERENCES approval_requests (id),
    user_id     INTEGER NOT NULL,
    device_id   TEXT    NOT NULL REFERENCES devices (id),
    outcome     TEXT    NOT NULL CHECK (outcome IN ('approve', 'deny')),
    reason      TEXT,
    number      INTEGER,
    signed_at   INTEGER NOT NULL,
    payload     BLOB    NOT NULL,
    signature   BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, user_id)
);

CREATE TABLE callback_outbox (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    request_id      TEXT    NOT NULL REFERENCES approval_requests (id),
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    abandoned_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
