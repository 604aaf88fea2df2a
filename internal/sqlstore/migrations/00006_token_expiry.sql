-- +goose Up
-- API tokens expire. A token issued before they did expires as if it had
-- been issued with the longest lifetime allowed by default (365 days).
ALTER TABLE tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE tokens SET expires_at = created_at + 31536000000000;
-- A user's tokens are listed in id order.
CREATE INDEX tokens_user ON tokens (user_id, id);
