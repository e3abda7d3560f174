-- The approval log (an RFC 6962 Merkle tree, docs/protocol.md "The approval log"), the
-- service-signed enrollment records it publishes, receipts, and the per-app opt-in to callbacks
-- for expired and cancelled requests. The same tables and meanings as migrations/sqlite.

-- One row: the number of leaves. Appending locks it FOR UPDATE, so leaf indexes have no gap and
-- no duplicate whatever the number of instances writing.
CREATE TABLE log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT  NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

-- Leaf bytes: the canonical JSON of a log entry. The tree is rebuilt from them.
CREATE TABLE log_leaves (
    idx        BIGINT PRIMARY KEY,
    leaf       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- Signed checkpoints (C2SP signed notes), one per tree size signed.
CREATE TABLE log_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA  NOT NULL,
    note       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE enrollment_records (
    device_id  TEXT   PRIMARY KEY REFERENCES devices (id),
    record     BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL,
    leaf_index BIGINT NOT NULL UNIQUE
);

-- Countersigned receipts (canonical JSON, without the inclusion proof added when handed out).
CREATE TABLE receipts (
    request_id TEXT   PRIMARY KEY REFERENCES approval_requests (id),
    leaf_index BIGINT NOT NULL UNIQUE,
    receipt    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE apps ADD COLUMN callback_expired_cancelled BOOLEAN NOT NULL DEFAULT FALSE;
