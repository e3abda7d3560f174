-- Assent schema, PostgreSQL flavour: the same tables, columns and meanings as the SQLite one
-- (migrations/sqlite), so both engines share their row mapping. Times are Unix seconds (BIGINT);
-- ids and UUIDs are text; secrets are stored hashed (API keys, registration tokens) or sealed with
-- the key-encryption key (the service key, callback keys).

CREATE TABLE service_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    secret      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE apps (
    serial_id       BIGSERIAL PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    logo_url        TEXT,
    accent_color    TEXT,
    callback_url    TEXT,
    callback_method TEXT    NOT NULL DEFAULT 'post' CHECK (callback_method IN ('post', 'get')),
    api_key_hash    BYTEA   NOT NULL UNIQUE,
    callback_key    BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL
);

-- Person ids (Authy's authy_id) are random, chosen by the service (see store/rows.rs).
CREATE TABLE users (
    id           BIGINT  PRIMARY KEY,
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    email        TEXT,
    cellphone    TEXT,
    country_code TEXT,
    created_at   BIGINT  NOT NULL,
    deleted_at   BIGINT
);
-- The database decides who wins when two instances create the same person at once.
CREATE UNIQUE INDEX users_by_phone ON users (app_id, country_code, cellphone)
    WHERE cellphone IS NOT NULL AND deleted_at IS NULL;
CREATE UNIQUE INDEX users_by_email_unique ON users (app_id, email)
    WHERE cellphone IS NULL AND deleted_at IS NULL;

CREATE TABLE registration_tokens (
    token_hash BYTEA   PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id),
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);

CREATE TABLE devices (
    id           TEXT    PRIMARY KEY,
    -- Authy's integer device id: random (chosen by the service), so one relying party's aliases
    -- say nothing about another's.
    alias        BIGINT  NOT NULL UNIQUE,
    app_id       TEXT    NOT NULL REFERENCES apps (id),
    user_id      BIGINT  NOT NULL REFERENCES users (id),
    public_key   BYTEA   NOT NULL,
    name         TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE device_nonces (
    device_id TEXT    NOT NULL,
    nonce     TEXT    NOT NULL,
    seen_at   BIGINT  NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX device_nonces_by_time ON device_nonces (seen_at);

CREATE TABLE approval_requests (
    id                TEXT    PRIMARY KEY,
    app_id            TEXT    NOT NULL REFERENCES apps (id),
    user_id           BIGINT  NOT NULL REFERENCES users (id),
    message           TEXT    NOT NULL,
    -- JSON as text, not JSONB: detail order is part of what the person is shown.
    details           TEXT    NOT NULL,
    hidden_details    TEXT    NOT NULL,
    logos             TEXT    NOT NULL,
    requester         TEXT,
    seconds_to_expire BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT,
    quorum            BIGINT  NOT NULL,
    number            BIGINT,
    canonical         BYTEA   NOT NULL,
    digest            BYTEA   NOT NULL,
    signature         BYTEA   NOT NULL,
    status            TEXT    NOT NULL,
    reason            TEXT,
    notified          BOOLEAN NOT NULL DEFAULT FALSE,
    processed_at      BIGINT,
    updated_at        BIGINT  NOT NULL,
    -- Insertion order, for requests created in the same second (SQLite uses its rowid).
    seq               BIGSERIAL
);
CREATE INDEX approval_requests_pending ON approval_requests (status, expires_at);
CREATE INDEX approval_requests_by_user ON approval_requests (user_id, status);

CREATE TABLE request_approvers (
    request_id TEXT    NOT NULL REFERENCES approval_requests (id),
    user_id    BIGINT  NOT NULL,
    PRIMARY KEY (request_id, user_id)
);
CREATE INDEX request_approvers_by_user ON request_approvers (user_id);

CREATE TABLE decisions (
    request_id  TEXT    NOT NULL REFERENCES approval_requests (id),
    user_id     BIGINT  NOT NULL,
    device_id   TEXT    NOT NULL REFERENCES devices (id),
    outcome     TEXT    NOT NULL CHECK (outcome IN ('approve', 'deny')),
    reason      TEXT,
    number      BIGINT,
    signed_at   BIGINT  NOT NULL,
    payload     BYTEA   NOT NULL,
    signature   BYTEA   NOT NULL,
    recorded_at BIGINT  NOT NULL,
    PRIMARY KEY (request_id, user_id)
);

CREATE TABLE callback_outbox (
    id              BIGSERIAL PRIMARY KEY,
    app_id          TEXT    NOT NULL REFERENCES apps (id),
    request_id      TEXT    NOT NULL REFERENCES approval_requests (id),
    payload         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    delivered_at    BIGINT,
    abandoned_at    BIGINT,
    last_error      TEXT,
    -- A claim: the instance delivering it and until when (then anyone may take it over).
    lease_until     BIGINT,
    leased_by       TEXT
);
CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX callback_outbox_by_app ON callback_outbox (app_id, next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
