-- +goose Up
-- What a provisioning client (SCIM 2.0) keeps about one of an account's own
-- users beyond Steward's user row: the userName exactly as sent (unique per
-- account, case-insensitively, through user_name_key), the client's
-- externalId, the name parts and the email list (JSON). Status, display name
-- and the Steward email stay on the users row.
CREATE TABLE scim_users (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT NOT NULL DEFAULT '',
    given_name    TEXT NOT NULL DEFAULT '',
    family_name   TEXT NOT NULL DEFAULT '',
    emails        TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (account_id, user_name_key)
);
CREATE INDEX scim_users_external ON scim_users (account_id, external_id);

-- A group's externalId as its provisioning client sent it (groups are the
-- account's roles; built-in roles have rows here only once a client names them).
CREATE TABLE scim_groups (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    role_id     TEXT NOT NULL,
    external_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, role_id)
);
