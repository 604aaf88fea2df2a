-- +goose Up
-- Removing a user (SPEC §4 "Removing an internal user") looks up, across
-- accounts, the assets it owns and the pending invitations sent to or by it.
CREATE INDEX assets_owner_user ON assets (owner_user_id);
CREATE INDEX invitations_pending_invited_by ON invitations (invited_by) WHERE status = 'pending';
CREATE INDEX invitations_pending_by_email ON invitations (email) WHERE status = 'pending';
