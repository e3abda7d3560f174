-- A person's one-time code seed for an authenticator app other than Assent's
-- (`POST /protected/json/users/{id}/secret`), sealed with the key-encryption key for purpose
-- `authenticator-app-seed:<user id>`; at most one per person (generating again replaces it).
-- Its (person, time step) pairs already accepted, so a code is accepted once (the primary key
-- refuses a second use even from concurrent verifications). And the one-time codes accepted per
-- app and calendar month (UTC), for `GET /protected/json/app/stats` (accepted uses themselves are
-- forgotten after a minute).
CREATE TABLE authenticator_app_seeds (
    user_id    BIGINT  PRIMARY KEY REFERENCES users (id),
    seed       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE TABLE used_authenticator_app_codes (
    user_id BIGINT  NOT NULL REFERENCES users (id),
    step    BIGINT  NOT NULL,
    used_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, step)
);
CREATE TABLE accepted_codes_by_month (
    app_id      TEXT    NOT NULL REFERENCES apps (id),
    month_start BIGINT  NOT NULL,
    accepted    BIGINT  NOT NULL,
    PRIMARY KEY (app_id, month_start)
);
-- The monthly statistics count people and requests of one app by creation time.
CREATE INDEX users_by_app_created ON users (app_id, created_at);
CREATE INDEX approval_requests_by_app_created ON approval_requests (app_id, created_at);
