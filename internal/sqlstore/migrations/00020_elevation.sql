-- +goose Up
-- Just-in-time elevation (R-ELEVATE-1..2). An eligibility lets one
-- membership activate one role; an elevation is one activation. The
-- permissions an active elevation adds live on the membership, as a grant
-- with a start and an end, where checks read them; these tables are the
-- record the API lists and the scheduler expires.
CREATE TABLE eligibilities (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    user_id           TEXT NOT NULL,
    membership_id     TEXT NOT NULL,
    role              TEXT NOT NULL,
    max_minutes       INTEGER NOT NULL,
    approval_required INTEGER NOT NULL DEFAULT 0,
    granted_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX eligibilities_membership_role ON eligibilities (account_id, membership_id, role);
CREATE INDEX eligibilities_account ON eligibilities (account_id, id);
-- What a removed member granted goes with it (R-GRANT-5).
CREATE INDEX eligibilities_granted_by ON eligibilities (account_id, granted_by);

CREATE TABLE elevations (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    user_id        TEXT NOT NULL,
    membership_id  TEXT NOT NULL,
    eligibility_id TEXT NOT NULL,
    role           TEXT NOT NULL,
    minutes        INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    status         TEXT NOT NULL,
    permissions    TEXT NOT NULL DEFAULT '[]',
    expires_at     BIGINT,
    starts_at      BIGINT,
    ends_at        BIGINT,
    approved_by    TEXT NOT NULL DEFAULT '',
    approved_at    BIGINT,
    ended_by       TEXT NOT NULL DEFAULT '',
    ended_at       BIGINT,
    end_reason     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX elevations_account ON elevations (account_id, id);
CREATE INDEX elevations_eligibility ON elevations (account_id, eligibility_id, status);
-- The expiry job reads only the pending elevations that are due.
CREATE INDEX elevations_pending_expiry ON elevations (expires_at, id) WHERE status = 'pending';
