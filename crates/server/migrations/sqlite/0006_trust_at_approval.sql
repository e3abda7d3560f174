-- Trust at the moment of approval (push-fatigue defences, typed codes, user verification).
--
-- `apps.defences`: the app's push-fatigue and verification settings as JSON
-- (`crate::defences::AppDefences`); NULL means the defaults (on).
-- `approval_requests.typed_code`: typed number matching, the `TypedCode` JSON (salt and hash,
-- never the code); `code_attempts`: wrong codes typed so far; `user_verification`: approvals must
-- name a verification method.
-- `decisions.code` / `verification`: what the device signed, for duplicate detection and display.
-- `devices.last_address`: the address of the device's last authenticated call (the "same
-- network" fact); it is what any web server log keeps, nothing secret.
-- `person_guards.lifted_at`: an operator lifted this person's freeze and back-off at that time;
-- denials before it no longer count.
ALTER TABLE apps ADD COLUMN defences TEXT;
ALTER TABLE approval_requests ADD COLUMN typed_code TEXT;
ALTER TABLE approval_requests ADD COLUMN code_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approval_requests ADD COLUMN user_verification BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE decisions ADD COLUMN code TEXT;
ALTER TABLE decisions ADD COLUMN verification TEXT;
ALTER TABLE devices ADD COLUMN last_address TEXT;
CREATE TABLE person_guards (
    user_id   INTEGER PRIMARY KEY REFERENCES users (id),
    lifted_at INTEGER NOT NULL
);
CREATE INDEX approval_requests_by_user_created ON approval_requests (user_id, created_at);
CREATE INDEX approval_requests_denials ON approval_requests (user_id, processed_at)
    WHERE status = 'denied';
-- A person's own decisions, newest first: their denials and "not me" reports (push-fatigue).
CREATE INDEX decisions_by_user ON decisions (user_id, recorded_at);
