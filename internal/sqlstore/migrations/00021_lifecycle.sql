-- +goose Up
-- Durations and renewal (R-LIFE-1, R-LIFE-2). A relationship's ends_at is
-- now also the client's end date of an active relationship. auto_extend
-- renews a relationship or an external user at its end by its current term,
-- which began at term_started_at; approved_at is when the client approved
-- the relationship last, from which max_partner_days counts (R-GUARD-2).
ALTER TABLE relationships ADD COLUMN auto_extend INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relationships ADD COLUMN term_started_at BIGINT;
ALTER TABLE relationships ADD COLUMN approved_at BIGINT;
ALTER TABLE memberships ADD COLUMN auto_extend INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN term_started_at BIGINT;

-- The scheduler reads only what is due: active relationships by end date
-- (ends, extensions, warnings), and auto-extending memberships by end date.
CREATE INDEX relationships_active_ends_at ON relationships (ends_at, id) WHERE status = 'active' AND ends_at IS NOT NULL;
CREATE INDEX memberships_auto_extend_ends_at ON memberships (ends_at, id) WHERE status = 'active' AND auto_extend = 1 AND ends_at IS NOT NULL;

-- Each end-date warning once: per subject (a membership or a relationship),
-- the end it is about and its threshold in days. A changed end date gets
-- fresh warnings. It replaces the single reminder of expiry_reminders.
CREATE TABLE end_warnings (
    subject_id     TEXT NOT NULL,
    ends_at        BIGINT NOT NULL,
    threshold_days INTEGER NOT NULL,
    sent_at        BIGINT NOT NULL,
    PRIMARY KEY (subject_id, ends_at, threshold_days)
);
DROP TABLE expiry_reminders;
