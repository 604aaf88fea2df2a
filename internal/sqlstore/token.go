package sqlstore

import (
	"context"
	"database/sql"

	"github.com/steward-iam/steward"
)

const tokenColumns = `id, hash, user_id, created_at, expires_at`

// CreateToken stores a token by the hash of its secret.
func (s *Store) CreateToken(ctx context.Context, t *steward.Token) error {
	_, err := s.exec(ctx, "insert token", `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1,$2,$3,$4,$5)`,
		t.ID, t.Hash, t.UserID, micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

func scanToken(row interface{ Scan(...any) error }) (*steward.Token, error) {
	var t steward.Token
	var created, expires int64
	if err := row.Scan(&t.ID, &t.Hash, &t.UserID, &created, &expires); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &t, nil
}

// FindTokenByHash returns the token with the hash or ENOTFOUND.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*steward.Token, error) {
	t, err := scanToken(s.q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("token", "")
	}
	return t, s.wrap(err, "find token")
}

// FindTokenByID returns the token with the id or ENOTFOUND.
func (s *Store) FindTokenByID(ctx context.Context, id string) (*steward.Token, error) {
	t, err := scanToken(s.q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("token", id)
	}
	return t, s.wrap(err, "find token")
}

// FindTokens pages through a user's tokens in id order.
func (s *Store) FindTokens(ctx context.Context, userID string, p steward.Page) ([]*steward.Token, string, error) {
	var w where
	w.add(`user_id = ?`, userID)
	if p.After != "" {
		w.add(`id > ?`, p.After)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens`+w.sql()+` ORDER BY id`+w.limit(p.Limit), w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find tokens")
	}
	defer rows.Close()
	var out []*steward.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, "", s.wrap(err, "find tokens")
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find tokens")
	}
	out, next := page(out, p.Limit, func(t *steward.Token) string { return t.ID })
	return out, next, nil
}

// DeleteToken forgets a token or returns ENOTFOUND.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res, err := s.exec(ctx, "delete token", `DELETE FROM tokens WHERE id = $1`, id)
	return mustAffect(res, err, "token", id)
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
