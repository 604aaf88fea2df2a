-- +goose Up
-- Console links: the platform's single-use hand-off of a user to the
-- console (SPEC §3 "console hand-off"). Only the SHA-256 of the token is
-- kept; used_at marks the one use.
CREATE TABLE console_links (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    return_to  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX console_links_expiry ON console_links (expires_at);

-- +goose Down
DROP TABLE console_links;
