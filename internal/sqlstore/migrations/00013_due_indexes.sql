-- +goose Up
-- The scheduler reads only what is due. Active memberships by end date and
-- by delegates' end date: the expiry job reads those whose date has passed,
-- the reminder job those whose date falls within the reminder lead; a
-- membership leaves these indexes when it stops being active, so ended
-- memberships, however many, are never read again. They replace the indexes
-- of every membership with a date.
CREATE INDEX memberships_active_ends_at ON memberships (ends_at, id) WHERE status = 'active' AND ends_at IS NOT NULL;
CREATE INDEX memberships_active_delegates_end_at ON memberships (delegates_end_at, id) WHERE status = 'active' AND delegates_end_at IS NOT NULL;
DROP INDEX memberships_ends_at;
DROP INDEX memberships_delegates_end_at;
-- Housekeeping prunes by time.
CREATE INDEX changes_time ON changes (time);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
