-- +goose Up
-- The user each console session signs in, so that revoking a user deletes
-- its sessions (R-REVOKE-2) rather than only refusing them. The console's
-- session store writes it beside the data scs keeps; operator sessions and
-- sessions not signed in have none.
ALTER TABLE sessions ADD COLUMN user_id TEXT;
CREATE INDEX sessions_user ON sessions (user_id);
