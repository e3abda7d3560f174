-- The approval log (an RFC 6962 Merkle tree, docs/protocol.md "The approval log"), the
-- service-signed enrollment records it publishes, receipts, and the per-app opt-in to callbacks
-- for expired and cancelled requests.

-- One row: the number of leaves. Appending locks it (SQLite: the writer holds the database lock),
-- so leaf indexes have no gap and no duplicate.
CREATE TABLE log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

-- Leaf bytes: the canonical JSON of a log entry. The tree is rebuilt from them.
CREATE TABLE log_leaves (
    idx        INTEGER PRIMARY KEY,
    leaf       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Signed checkpoints (C2SP signed notes), one per tree size signed.
CREATE TABLE log_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB    NOT NULL,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE enrollment_records (
    device_id  TEXT    PRIMARY KEY REFERENCES devices (id),
    record     BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    leaf_index INTEGER NOT NULL UNIQUE
);

-- Countersigned receipts (canonical JSON, without the inclusion proof added when handed out).
CREATE TABLE receipts (
    request_id TEXT    PRIMARY KEY REFERENCES approval_requests (id),
    leaf_index INTEGER NOT NULL UNIQUE,
    receipt    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

ALTER TABLE apps ADD COLUMN callback_expired_cancelled INTEGER NOT NULL DEFAULT 0;
