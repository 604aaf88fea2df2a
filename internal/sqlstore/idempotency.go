package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/steward-iam/steward"
)

// abandonAfter is how long a reservation may stay unanswered before a retry
// may take it over (its first request died with its process).
const abandonAfter = time.Minute

// ReserveIdempotencyKey records r as in progress, or returns the known record.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, r *steward.IdempotentResponse) (*steward.IdempotentResponse, bool, error) {
	res, err := s.exec(ctx, "reserve idempotency key", `INSERT INTO idempotency_keys (scope, key, request_hash, status, header, body, created_at)
		VALUES ($1,$2,$3,0,'{}','',$4) ON CONFLICT (scope, key) DO NOTHING`, r.Scope, r.Key, r.RequestHash, micros(r.CreatedAt))
	if err != nil {
		return nil, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return r, true, nil
	}
	var got steward.IdempotentResponse
	var header, body string
	var created int64
	err = s.q.QueryRowContext(ctx, `SELECT scope, key, request_hash, status, header, body, created_at FROM idempotency_keys
		WHERE scope = $1 AND key = $2`, r.Scope, r.Key).Scan(&got.Scope, &got.Key, &got.RequestHash, &got.Status, &header, &body, &created)
	if err == sql.ErrNoRows { // released in between: try once more
		return s.ReserveIdempotencyKey(ctx, r)
	} else if err != nil {
		return nil, false, s.wrap(err, "find idempotency key")
	}
	got.Body, got.CreatedAt = []byte(body), fromMicros(created)
	if err := json.Unmarshal([]byte(header), &got.Header); err != nil {
		return nil, false, err
	}
	if got.Status == 0 && r.CreatedAt.Sub(got.CreatedAt) > abandonAfter {
		res, err := s.exec(ctx, "take over idempotency key", `UPDATE idempotency_keys SET created_at = $3, request_hash = $4
			WHERE scope = $1 AND key = $2 AND status = 0 AND created_at = $5`, r.Scope, r.Key, micros(r.CreatedAt), r.RequestHash, created)
		if err != nil {
			return nil, false, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return r, true, nil
		}
	}
	return &got, false, nil
}

// CompleteIdempotencyKey stores the answer of a reserved key.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, r *steward.IdempotentResponse) error {
	res, err := s.exec(ctx, "complete idempotency key", `UPDATE idempotency_keys SET status = $3, header = $4, body = $5
		WHERE scope = $1 AND key = $2`, r.Scope, r.Key, r.Status, jsonText(r.Header), string(r.Body))
	return mustAffect(res, err, "idempotency key", r.Key)
}

// ReleaseIdempotencyKey forgets a key whose request did not complete.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	_, err := s.exec(ctx, "release idempotency key", `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key)
	return err
}

// PruneIdempotencyKeys forgets the keys created before before.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, "prune idempotency keys", `DELETE FROM idempotency_keys WHERE created_at < $1`, micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
