-- +goose Up
-- Times are microseconds since the epoch (UTC); booleans are 0/1; lists are JSON text.
CREATE TABLE accounts (
    id                       TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    kind                     TEXT NOT NULL,
    region                   TEXT NOT NULL,
    has_billing_info         INTEGER NOT NULL DEFAULT 0,
    plan                     TEXT NOT NULL DEFAULT '',
    verified_domains         TEXT NOT NULL DEFAULT '[]',
    require_delegate_billing INTEGER NOT NULL DEFAULT 0,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE, -- lower-cased: unique case-insensitively
    name            TEXT NOT NULL,
    home_account_id TEXT NOT NULL REFERENCES accounts (id),
    status          TEXT NOT NULL,
    password_hash   TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX users_home_account ON users (home_account_id, id);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, name_key)
);

CREATE TABLE memberships (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    user_id            TEXT NOT NULL REFERENCES users (id),
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL,
    role               TEXT NOT NULL,
    permissions        TEXT NOT NULL,
    ends_at            BIGINT,
    granted_by         TEXT NOT NULL,
    partner_id         TEXT NOT NULL DEFAULT '',
    parent_id          TEXT NOT NULL DEFAULT '',
    allow_redelegation INTEGER NOT NULL DEFAULT 0,
    delegates_end_at   BIGINT,
    managed_by         TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_account_role ON memberships (account_id, role, id);
CREATE INDEX memberships_parent ON memberships (account_id, parent_id) WHERE parent_id <> '';

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE, -- SHA-256 of the secret; the secret is never stored
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_heads (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TABLE audit_events (
    account_id            TEXT NOT NULL,
    seq                   BIGINT NOT NULL,
    id                    TEXT NOT NULL UNIQUE,
    time                  BIGINT NOT NULL,
    actor                 TEXT NOT NULL,
    actor_user_id         TEXT NOT NULL,
    actor_home_account_id TEXT NOT NULL,
    actor_partner_id      TEXT NOT NULL,
    action                TEXT NOT NULL,
    target_type           TEXT NOT NULL,
    target_id             TEXT NOT NULL,
    details               TEXT NOT NULL,
    prev_hash             TEXT NOT NULL,
    hash                  TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX audit_events_account_id ON audit_events (account_id, id);
CREATE INDEX audit_events_actor_home ON audit_events (actor_home_account_id, id);

CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

CREATE TABLE changes (
    revision   BIGINT NOT NULL,
    n          INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    time       BIGINT NOT NULL,
    PRIMARY KEY (revision, n)
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    header       TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
