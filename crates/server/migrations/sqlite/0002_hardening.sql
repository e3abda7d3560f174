-- Hardening: callback claims with leases (several workers, at most one live claim per callback),
-- person de-duplication by e-mail enforced by the database, and the outbox read per app (fair
-- delivery between relying parties).
ALTER TABLE callback_outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE callback_outbox ADD COLUMN leased_by TEXT;
CREATE INDEX callback_outbox_by_app ON callback_outbox (app_id, next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE UNIQUE INDEX users_by_email_unique ON users (app_id, email)
    WHERE cellphone IS NULL AND deleted_at IS NULL;
