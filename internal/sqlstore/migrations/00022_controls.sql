-- +goose Up
-- The user each console session signs in, so that revoking a user deletes
-- its sessions (R-REVOKE-2) rather than only refusing them. The console's
-- session store writes it beside the data scs keeps; operator sessions and
-- sessions not signed in have none.
ALTER TABLE sessions ADD COLUMN user_id TEXT;
CREATE INDEX sessions_user ON sessions (user_id);

-- An account's memberships in id order, page by page (a policy change reads
-- every one, R-GUARD-4; so does the check index when many of them change):
-- without it each page sorted all of the account's memberships again.
CREATE INDEX memberships_account_id ON memberships (account_id, id);
