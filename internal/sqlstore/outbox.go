package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/steward-iam/steward"
)

const messageColumns = `id, recipient, subject, body, account_id, kind, created_at, attempts, next_attempt_at, sent_at, last_error`

// EnqueueMessage stores a message for sending.
func (s *Store) EnqueueMessage(ctx context.Context, m *steward.Message) error {
	err := s.execLater(ctx, "enqueue message", `INSERT INTO outbox (`+messageColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		m.ID, m.To, m.Subject, m.Text, m.AccountID, m.Kind, micros(m.CreatedAt), m.Attempts, micros(m.NextAttemptAt), microsPtr(m.SentAt), m.LastError)
	return err
}

// DueMessages returns unsent messages due at now, oldest first.
func (s *Store) DueMessages(ctx context.Context, now time.Time, limit int) ([]*steward.Message, error) {
	return s.queryMessages(ctx, `SELECT `+messageColumns+` FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id LIMIT $2`, micros(now), limit)
}

// FindMessages returns the newest messages.
func (s *Store) FindMessages(ctx context.Context, limit int) ([]*steward.Message, error) {
	return s.queryMessages(ctx, `SELECT `+messageColumns+` FROM outbox ORDER BY id DESC LIMIT $1`, limit)
}

// UpdateMessage records a send attempt.
func (s *Store) UpdateMessage(ctx context.Context, m *steward.Message) error {
	res, err := s.exec(ctx, "update message", `UPDATE outbox SET attempts=$2, next_attempt_at=$3, sent_at=$4, last_error=$5 WHERE id=$1`,
		m.ID, m.Attempts, micros(m.NextAttemptAt), microsPtr(m.SentAt), m.LastError)
	return mustAffect(res, err, "message", m.ID)
}

func (s *Store) queryMessages(ctx context.Context, query string, args ...any) ([]*steward.Message, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find messages")
	}
	defer rows.Close()
	var out []*steward.Message
	for rows.Next() {
		var m steward.Message
		var created, next int64
		var sent sql.NullInt64
		if err := rows.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.AccountID, &m.Kind, &created, &m.Attempts, &next, &sent, &m.LastError); err != nil {
			return nil, err
		}
		m.CreatedAt, m.NextAttemptAt, m.SentAt = fromMicros(created), fromMicros(next), fromNullMicros(sent)
		out = append(out, &m)
	}
	return out, rows.Err()
}

// OutboxStats returns how many unsent messages wait in the outbox, leaving
// out those given up on (next attempt at or after givenUp), and when the
// oldest of them was queued; zero when none waits. Metrics read it.
func (s *Store) OutboxStats(ctx context.Context, givenUp time.Time) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND next_attempt_at < $1`,
		micros(givenUp)).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, s.wrap(err, "outbox stats")
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMicros(oldest.Int64), nil
}
