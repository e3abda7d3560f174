-- One-time codes (RFC 6238): each device's code seed, sealed with the key-encryption key for
-- purpose `code-seed:<device id>`; the (device, time step) pairs already accepted, so a code is
-- accepted once (the primary key refuses a second use even from concurrent verifications); and
-- the per-person failure count behind the verification lock-out.
CREATE TABLE device_code_seeds (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    seed      BYTEA NOT NULL
);
CREATE TABLE used_codes (
    device_id TEXT    NOT NULL REFERENCES devices (id),
    step      BIGINT  NOT NULL,
    used_at   BIGINT  NOT NULL,
    PRIMARY KEY (device_id, step)
);
CREATE TABLE code_failures (
    user_id      BIGINT  PRIMARY KEY REFERENCES users (id),
    failures     BIGINT  NOT NULL,
    window_start BIGINT  NOT NULL,
    locked_until BIGINT
);
