package sqlstore

import (
	"context"
	"database/sql"

	"github.com/steward-iam/steward"
)

// CreateToken stores a token by the hash of its secret.
func (s *Store) CreateToken(ctx context.Context, t *steward.Token) error {
	_, err := s.exec(ctx, "insert token", `INSERT INTO tokens (id, hash, user_id, created_at) VALUES ($1,$2,$3,$4)`,
		t.ID, t.Hash, t.UserID, micros(t.CreatedAt))
	return err
}

// FindTokenByHash returns the token with the hash or ENOTFOUND.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*steward.Token, error) {
	var t steward.Token
	var created int64
	err := s.q.QueryRowContext(ctx, `SELECT id, hash, user_id, created_at FROM tokens WHERE hash = $1`, hash).Scan(&t.ID, &t.Hash, &t.UserID, &created)
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("token", "")
	} else if err != nil {
		return nil, s.wrap(err, "find token")
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// GetSetting returns a named value or ENOTFOUND.
func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if err == sql.ErrNoRows {
		return "", steward.NotFound("setting", name)
	}
	return v, s.wrap(err, "get setting")
}

// PutSettingIfAbsent stores a value unless the name exists.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name, value string) (bool, error) {
	res, err := s.exec(ctx, "put setting", `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
