-- +goose Up
-- An endpoint follows its account's audit log (R-HOOK-2): after_seq is the
-- sequence number of the last event of the account the endpoint has been
-- considered for. The sender turns the events after it into deliveries, so
-- that a write records its audit events and nothing more for webhooks.
-- Existing endpoints start at the current head: every earlier event already
-- has its delivery.
ALTER TABLE webhooks ADD COLUMN after_seq BIGINT NOT NULL DEFAULT 0;
UPDATE webhooks SET after_seq = COALESCE((SELECT seq FROM audit_heads h WHERE h.account_id = webhooks.account_id), 0);

-- +goose Down
ALTER TABLE webhooks DROP COLUMN after_seq;
