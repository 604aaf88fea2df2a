package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/steward-iam/steward"
)

// FindIdempotentResponse returns the answer kept for scope and key.
func (s *Store) FindIdempotentResponse(ctx context.Context, scope, key string) (*steward.IdempotentResponse, error) {
	got := steward.IdempotentResponse{}
	var header, body string
	var created int64
	err := s.q.QueryRowContext(ctx, `SELECT scope, key, request_hash, status, header, body, created_at FROM idempotency_keys
		WHERE scope = $1 AND key = $2`, scope, key).Scan(&got.Scope, &got.Key, &got.RequestHash, &got.Status, &header, &body, &created)
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("idempotency key", "")
	} else if err != nil {
		return nil, s.wrap(err, "find idempotency key")
	}
	got.Body, got.CreatedAt = []byte(body), fromMicros(created)
	if err := json.Unmarshal([]byte(header), &got.Header); err != nil {
		return nil, err
	}
	return &got, nil
}

// LockIdempotencyKey holds scope and key for the rest of the transaction.
// Where the dialect has a lock for it (PostgreSQL: an advisory lock of the
// transaction, released by commit, rollback or a lost connection), a second
// holder is refused at once; SQLite runs one write transaction at a time, so
// the holder is alone already. Then it reads the answer a committed holder
// kept.
func (s *Store) LockIdempotencyKey(ctx context.Context, scope, key string) (*steward.IdempotentResponse, error) {
	if !s.inTx {
		return nil, steward.Errorf(steward.EINTERNAL, "internal", "LockIdempotencyKey outside a transaction")
	}
	if s.dialect.TryLock != "" {
		var got bool
		if err := s.q.QueryRowContext(ctx, s.dialect.TryLock, "idempotency\x1f"+scope+"\x1f"+key).Scan(&got); err != nil {
			return nil, s.wrap(err, "lock idempotency key")
		}
		if !got {
			return nil, steward.Errorf(steward.ECONFLICT, "idempotency_in_progress", "A request with this Idempotency-Key is still being answered; retry shortly.")
		}
	}
	r, err := s.FindIdempotentResponse(ctx, scope, key)
	if steward.ErrorKind(err) == steward.ENOTFOUND {
		return nil, nil
	}
	return r, err
}

// SaveIdempotentResponse keeps the answer of a key with the change it answers.
func (s *Store) SaveIdempotentResponse(ctx context.Context, r *steward.IdempotentResponse) error {
	_, err := s.exec(ctx, "save idempotency key", `INSERT INTO idempotency_keys (scope, key, request_hash, status, header, body, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7)`, r.Scope, r.Key, r.RequestHash, r.Status, jsonText(r.Header), string(r.Body), micros(r.CreatedAt))
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
