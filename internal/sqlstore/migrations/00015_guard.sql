-- +goose Up
-- An account's guardrails over outsiders (SPEC §6, R-GUARD-1..4), as JSON:
-- allowed_partners, max_partner_days, max_external_days, never_delegable.
ALTER TABLE accounts ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
-- Permissions added to a membership by approved access requests, each with
-- its own granter and optional end (R-REQUEST-2), as a JSON list.
ALTER TABLE memberships ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';

-- Access requests (R-REQUEST-1): pending until approved, declined or expired.
CREATE TABLE access_requests (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    user_id       TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    reason        TEXT NOT NULL,
    ends_at       BIGINT,
    status        TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    decided_by    TEXT NOT NULL DEFAULT '',
    decided_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX access_requests_account ON access_requests (account_id, status, id);
-- The expiry job reads only what is due.
CREATE INDEX access_requests_due ON access_requests (status, expires_at);
