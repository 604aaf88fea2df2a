-- +goose Up
-- Access reviews (R-REVIEW-1..3): a review of one account's access, and one
-- item per membership as it stood when the review started. Items keep the
-- membership id without a reference: the review outlives the memberships it
-- removes.
CREATE TABLE reviews (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    status           TEXT NOT NULL,
    include_internal INTEGER NOT NULL DEFAULT 0,
    reviewer_ids     TEXT NOT NULL DEFAULT '[]',
    due_at           BIGINT NOT NULL,
    default_decision TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    closed_at        BIGINT,
    closed_by        TEXT NOT NULL DEFAULT '',
    outcome          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX reviews_account ON reviews (account_id, id);
-- The scheduler reads only the open reviews that are due.
CREATE INDEX reviews_due ON reviews (status, due_at);

CREATE TABLE review_items (
    id               TEXT PRIMARY KEY,
    review_id        TEXT NOT NULL REFERENCES reviews (id),
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    membership_id    TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    email            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    role             TEXT NOT NULL,
    status           TEXT NOT NULL,
    chain            TEXT NOT NULL DEFAULT '[]',
    permissions      TEXT NOT NULL DEFAULT '[]',
    granted_by       TEXT NOT NULL DEFAULT '',
    last_activity_at BIGINT,
    decision         TEXT NOT NULL DEFAULT '',
    note             TEXT NOT NULL DEFAULT '',
    decided_by       TEXT NOT NULL DEFAULT '',
    decided_at       BIGINT,
    outcome          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX review_items_review ON review_items (account_id, review_id, id);

-- A member's last activity in an account, for review items.
CREATE INDEX audit_events_actor_user ON audit_events (account_id, actor_user_id, time);
