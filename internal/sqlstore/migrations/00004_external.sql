-- +goose Up
-- External users (R-EXT-…): invitations, the scheduler's lease, sent reminders.
CREATE TABLE invitations (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    role                TEXT NOT NULL,
    email               TEXT NOT NULL, -- lower-cased
    status              TEXT NOT NULL,
    token_hash          TEXT NOT NULL UNIQUE, -- SHA-256 of the token; the token is never stored
    expires_at          BIGINT NOT NULL,
    invited_by          TEXT NOT NULL,
    consent_version     TEXT NOT NULL,
    consent_accepted_by TEXT NOT NULL,
    consent_accepted_at BIGINT NOT NULL,
    allow_redelegation  INTEGER NOT NULL DEFAULT 0,
    ends_at             BIGINT,
    delegates_end_at    BIGINT,
    accepted_by_user_id TEXT NOT NULL DEFAULT '',
    resolved_at         BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX invitations_account_role ON invitations (account_id, role, id);
-- One pending invitation per address and account.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (account_id, email) WHERE status = 'pending';
CREATE INDEX invitations_pending_expiry ON invitations (expires_at, id) WHERE status = 'pending';

-- One row per lease; the holder runs the scheduler's jobs until expires_at.
CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The expiry reminders sent, once per membership and end date.
CREATE TABLE expiry_reminders (
    membership_id TEXT NOT NULL,
    ends_at       BIGINT NOT NULL,
    sent_at       BIGINT NOT NULL,
    PRIMARY KEY (membership_id, ends_at)
);

CREATE INDEX memberships_ends_at ON memberships (ends_at) WHERE ends_at IS NOT NULL;
CREATE INDEX memberships_delegates_end_at ON memberships (delegates_end_at) WHERE delegates_end_at IS NOT NULL;
