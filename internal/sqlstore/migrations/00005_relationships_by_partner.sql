-- +goose Up
-- A partner's client list pages through its relationships in id order.
CREATE INDEX relationships_partner ON relationships (partner_id, id);
