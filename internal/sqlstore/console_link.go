package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/steward-iam/steward"
)

const consoleLinkColumns = `id, token_hash, user_id, return_to, created_at, expires_at, used_at`

// CreateConsoleLink inserts a link by the hash of its token.
func (s *Store) CreateConsoleLink(ctx context.Context, l *steward.ConsoleLink) error {
	_, err := s.exec(ctx, "insert console link", `INSERT INTO console_links (`+consoleLinkColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		l.ID, l.TokenHash, l.UserID, l.ReturnTo, micros(l.CreatedAt), micros(l.ExpiresAt), microsPtr(l.UsedAt))
	return err
}

// FindConsoleLinkByHash returns the link with the token hash or ENOTFOUND.
func (s *Store) FindConsoleLinkByHash(ctx context.Context, hash string) (*steward.ConsoleLink, error) {
	var l steward.ConsoleLink
	var created, expires int64
	var used sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT `+consoleLinkColumns+` FROM console_links WHERE token_hash = $1`, hash).Scan(
		&l.ID, &l.TokenHash, &l.UserID, &l.ReturnTo, &created, &expires, &used)
	if err == sql.ErrNoRows {
		return nil, &steward.Error{Kind: steward.ENOTFOUND, Code: "console_link_not_found", Message: "No such console link."}
	} else if err != nil {
		return nil, s.wrap(err, "find console link")
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	return &l, nil
}

// UseConsoleLink marks a link still unused as used. The condition on
// used_at makes a concurrent second use wait for the first and then find no
// row: ECONFLICT.
func (s *Store) UseConsoleLink(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, "use console link", `UPDATE console_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, micros(at))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return &steward.Error{Kind: steward.ECONFLICT, Code: "console_link_used", Message: "This console link has been used already."}
	}
	return nil
}

// PruneConsoleLinks deletes the links that expired before before.
func (s *Store) PruneConsoleLinks(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, "prune console links", `DELETE FROM console_links WHERE expires_at < $1`, micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
