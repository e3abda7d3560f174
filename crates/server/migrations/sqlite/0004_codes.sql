-- One-time codes (RFC 6238): each device's code seed, sealed with the key-encryption key for
-- purpose `code-seed:<device id>`; the (device, time step) pairs already accepted, so a code is
-- accepted once (the primary key refuses a second use even from concurrent verifications); and
-- the per-person failure count behind the verification lock-out.
CREATE TABLE device_code_seeds (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    seed      BLOB NOT NULL
);
CREATE TABLE used_codes (
    device_id TEXT    NOT NULL REFERENCES devices (id),
    step      INTEGER NOT NULL,
    used_at   INTEGER NOT NULL,
    PRIMARY KEY (device_id, step)
);
CREATE TABLE code_failures (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id),
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);
