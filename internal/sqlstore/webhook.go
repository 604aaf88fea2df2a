package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

const webhookColumns = `id, account_id, url, event_types, status, disabled_reason, secret_cipher, created_at, updated_at, after_seq`

// CreateWebhook inserts an endpoint, following its account's audit log
// from the current head: the events the transaction records come after it.
func (s *Store) CreateWebhook(ctx context.Context, w *steward.Webhook) error {
	_, err := s.exec(ctx, "insert webhook", `INSERT INTO webhooks (`+webhookColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, COALESCE((SELECT seq FROM audit_heads WHERE account_id = $2), 0))`,
		w.ID, w.AccountID, w.URL, jsonText(w.EventTypes), w.Status, w.DisabledReason, w.SecretCipher, micros(w.CreatedAt), micros(w.UpdatedAt))
	return err
}

// FindWebhookByID returns an endpoint of the account or ENOTFOUND.
func (s *Store) FindWebhookByID(ctx context.Context, accountID, id string) (*steward.Webhook, error) {
	w, err := scanWebhook(s.q.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("webhook", id)
	}
	return w, s.wrap(err, "find webhook")
}

// FindWebhooks pages through the account's endpoints ("": all) in id order.
func (s *Store) FindWebhooks(ctx context.Context, accountID string, p steward.Page) ([]*steward.Webhook, string, error) {
	var w where
	if accountID != "" {
		w.add(`account_id = ?`, accountID)
	}
	if p.After != "" {
		w.add(`id > ?`, p.After)
	}
	out, err := s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhooks`+w.sql()+` ORDER BY id`+w.limit(p.Limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, p.Limit, func(w *steward.Webhook) string { return w.ID })
	return out, next, nil
}

// WebhooksBehind returns up to limit active endpoints whose account's audit
// log has events after the endpoint's cursor.
func (s *Store) WebhooksBehind(ctx context.Context, limit int) ([]*steward.Webhook, error) {
	return s.queryWebhooks(ctx, `SELECT `+prefixed("w.", webhookColumns)+` FROM webhooks w JOIN audit_heads h ON h.account_id = w.account_id
		WHERE w.status = 'active' AND h.seq > w.after_seq ORDER BY w.id LIMIT $1`, limit)
}

// ActiveWebhookAccounts returns the accounts that have an active endpoint.
func (s *Store) ActiveWebhookAccounts(ctx context.Context) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT DISTINCT account_id FROM webhooks WHERE status = 'active'`)
	if err != nil {
		return nil, s.wrap(err, "find webhook accounts")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AdvanceWebhook moves the endpoint's cursor to seq.
func (s *Store) AdvanceWebhook(ctx context.Context, accountID, id string, seq int64) error {
	res, err := s.exec(ctx, "advance webhook", `UPDATE webhooks SET after_seq = $3 WHERE account_id = $1 AND id = $2`, accountID, id, seq)
	return mustAffect(res, err, "webhook", id)
}

// SkipWebhookEvents moves the endpoint's cursor to its account's audit head.
func (s *Store) SkipWebhookEvents(ctx context.Context, accountID, id string) error {
	res, err := s.exec(ctx, "skip webhook events", `UPDATE webhooks SET after_seq = COALESCE((SELECT seq FROM audit_heads WHERE account_id = $1), 0)
		WHERE account_id = $1 AND id = $2`, accountID, id)
	return mustAffect(res, err, "webhook", id)
}

// EventsAfter returns up to limit events of the account after seq, in order.
func (s *Store) EventsAfter(ctx context.Context, accountID string, seq int64, limit int) ([]*steward.Event, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		accountID, seq, limit)
	if err != nil {
		return nil, s.wrap(err, "find events")
	}
	defer rows.Close()
	var out []*steward.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// UpdateWebhook writes an endpoint's URL, event types and status.
func (s *Store) UpdateWebhook(ctx context.Context, w *steward.Webhook) error {
	res, err := s.exec(ctx, "update webhook", `UPDATE webhooks SET url=$3, event_types=$4, status=$5, disabled_reason=$6, updated_at=$7
		WHERE account_id=$1 AND id=$2`, w.AccountID, w.ID, w.URL, jsonText(w.EventTypes), w.Status, w.DisabledReason, micros(w.UpdatedAt))
	return mustAffect(res, err, "webhook", w.ID)
}

// DeleteWebhook deletes an endpoint and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, accountID, id string) error {
	if _, err := s.exec(ctx, "delete deliveries", `DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2`, id, accountID); err != nil {
		return err
	}
	res, err := s.exec(ctx, "delete webhook", `DELETE FROM webhooks WHERE account_id = $1 AND id = $2`, accountID, id)
	return mustAffect(res, err, "webhook", id)
}

func (s *Store) queryWebhooks(ctx context.Context, query string, args ...any) ([]*steward.Webhook, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find webhooks")
	}
	defer rows.Close()
	var out []*steward.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func scanWebhook(r interface{ Scan(...any) error }) (*steward.Webhook, error) {
	var w steward.Webhook
	var types string
	var created, updated int64
	if err := r.Scan(&w.ID, &w.AccountID, &w.URL, &types, &w.Status, &w.DisabledReason, &w.SecretCipher, &created, &updated, &w.AfterSeq); err != nil {
		return nil, err
	}
	var err error
	if w.EventTypes, err = strings2(types); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &w, nil
}

const deliveryColumns = `id, webhook_id, account_id, message_id, event_type, payload, seq, status, attempts, created_at,
	next_attempt_at, delivered_at, last_status, last_error, failing_since`

// deliveryInserts are the INSERTs of 1, 2, 4 … 64 deliveries at once.
var deliveryInserts = func() (out [7]string) {
	const cols = 15
	for k := range out {
		var q strings.Builder
		q.WriteString(`INSERT INTO webhook_deliveries (` + deliveryColumns + `) VALUES `)
		for i := range 1 << k {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("(")
			for c := range cols {
				if c > 0 {
					q.WriteString(",")
				}
				fmt.Fprintf(&q, "$%d", i*cols+c+1)
			}
			q.WriteString(")")
		}
		out[k] = q.String()
	}
	return out
}()

// EnqueueDeliveries inserts deliveries, many rows to a statement: 64 at a
// time, then the rest by halves (32, 16 … 1), so that a pass over many
// events pays a few round trips and the store's SQL stays a fixed set of
// texts that the statement cache prepares once.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*steward.WebhookDelivery) error {
	for len(ds) > 0 {
		k := len(deliveryInserts) - 1
		for 1<<k > len(ds) {
			k--
		}
		chunk := ds[:1<<k]
		ds = ds[len(chunk):]
		args := make([]any, 0, len(chunk)*15)
		for _, d := range chunk {
			args = append(args, d.ID, d.WebhookID, d.AccountID, d.MessageID, d.EventType, string(d.Payload), d.Seq, d.Status, d.Attempts,
				micros(d.CreatedAt), micros(d.NextAttemptAt), microsPtr(d.DeliveredAt), d.LastStatus, d.LastError, microsPtr(d.FailingSince))
		}
		if _, err := s.exec(ctx, "enqueue deliveries", deliveryInserts[k], args...); err != nil {
			return err
		}
	}
	return nil
}

// deliverySelect reads deliveries with their events: a delivery stores
// no copy of its event, whose body the payload is built from.
var deliverySelect = `SELECT ` + prefixed("d.", deliveryColumns) + `, ` + prefixed("ev.", eventColumns) + ` FROM webhook_deliveries d
	JOIN audit_events ev ON ev.id = d.message_id AND ev.account_id = d.account_id`

// FindDeliveryByID returns a delivery of the endpoint or ENOTFOUND.
func (s *Store) FindDeliveryByID(ctx context.Context, webhookID, id string) (*steward.WebhookDelivery, error) {
	ds, err := s.queryDeliveries(ctx, deliverySelect+` WHERE d.webhook_id = $1 AND d.id = $2`, webhookID, id)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, steward.NotFound("delivery", id)
	}
	return ds[0], nil
}

// FindDeliveries pages through an endpoint's deliveries, newest first.
func (s *Store) FindDeliveries(ctx context.Context, webhookID string, p steward.Page) ([]*steward.WebhookDelivery, string, error) {
	var w where
	w.add(`d.webhook_id = ?`, webhookID)
	if p.After != "" {
		w.add(`d.id < ?`, p.After)
	}
	out, err := s.queryDeliveries(ctx, deliverySelect+w.sql()+` ORDER BY d.id DESC`+w.limit(p.Limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, p.Limit, func(d *steward.WebhookDelivery) string { return d.ID })
	return out, next, nil
}

// DueDeliveries returns pending deliveries of active endpoints none of
// whose pending deliveries waits for a retry, by endpoint and in order.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*steward.WebhookDelivery, error) {
	return s.queryDeliveries(ctx, deliverySelect+` JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.status = 'pending' AND w.status = 'active'
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries h WHERE h.webhook_id = d.webhook_id AND h.status = 'pending' AND h.next_attempt_at > $1)
		ORDER BY d.webhook_id, d.seq, d.id LIMIT $2`, micros(now), limit)
}

// UpdateDelivery records an attempt.
func (s *Store) UpdateDelivery(ctx context.Context, d *steward.WebhookDelivery) error {
	res, err := s.exec(ctx, "update delivery", `UPDATE webhook_deliveries SET status=$2, attempts=$3, next_attempt_at=$4, delivered_at=$5,
		last_status=$6, last_error=$7, failing_since=$8 WHERE id=$1`,
		d.ID, d.Status, d.Attempts, micros(d.NextAttemptAt), microsPtr(d.DeliveredAt), d.LastStatus, d.LastError, microsPtr(d.FailingSince))
	return mustAffect(res, err, "delivery", d.ID)
}

func (s *Store) queryDeliveries(ctx context.Context, query string, args ...any) ([]*steward.WebhookDelivery, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find deliveries")
	}
	defer rows.Close()
	var out []*steward.WebhookDelivery
	for rows.Next() {
		var d steward.WebhookDelivery
		var payload string
		var created, next int64
		var delivered, failing sql.NullInt64
		var e steward.Event
		var at int64
		var actor, details string
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.AccountID, &d.MessageID, &d.EventType, &payload, &d.Seq, &d.Status, &d.Attempts,
			&created, &next, &delivered, &d.LastStatus, &d.LastError, &failing,
			&e.ID, &e.AccountID, &e.Seq, &at, &actor, &e.Action, &e.TargetType, &e.TargetID, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		d.Payload = []byte(payload)
		if payload == "" {
			e.Time, e.Details = fromMicros(at), json.RawMessage(details)
			if err := json.Unmarshal([]byte(actor), &e.Actor); err != nil {
				return nil, err
			}
			if d.Payload, err = steward.WebhookPayload(&e); err != nil {
				return nil, err
			}
		}
		d.CreatedAt, d.NextAttemptAt = fromMicros(created), fromMicros(next)
		d.DeliveredAt, d.FailingSince = fromNullMicros(delivered), fromNullMicros(failing)
		out = append(out, &d)
	}
	return out, rows.Err()
}

// prefixed qualifies every column of a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
