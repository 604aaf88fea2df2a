-- +goose Up
-- Partner access (R-PARTNER-…). Times are microseconds since the epoch (UTC).
CREATE TABLE relationships (
    id               TEXT PRIMARY KEY,
    partner_id       TEXT NOT NULL REFERENCES accounts (id),
    client_id        TEXT NOT NULL REFERENCES accounts (id),
    status           TEXT NOT NULL,
    alias            TEXT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    ending_since     BIGINT,
    ends_at          BIGINT,
    ended_at         BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (partner_id, client_id)
);
CREATE INDEX relationships_client ON relationships (client_id, id);
CREATE INDEX relationships_ending ON relationships (ends_at) WHERE status = 'ending';

CREATE TABLE access_links (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE, -- SHA-256 of the token; the token is never stored
    partner_id   TEXT NOT NULL REFERENCES accounts (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    requested_by TEXT NOT NULL,
    status       TEXT NOT NULL,
    client_id    TEXT NOT NULL DEFAULT '',
    decided_by   TEXT NOT NULL DEFAULT '',
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE assets (
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    type          TEXT NOT NULL,
    asset_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    owner_user_id TEXT NOT NULL REFERENCES users (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, type, asset_id)
);
CREATE INDEX assets_owner ON assets (account_id, owner_user_id);

-- Memberships suspended by a cascade (R-PARTNER-12), so that reactivation
-- restores exactly those.
CREATE TABLE suspensions (
    membership_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    prior_status  TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX suspensions_user ON suspensions (user_id);

CREATE INDEX memberships_partner ON memberships (account_id, partner_id) WHERE partner_id <> '';
