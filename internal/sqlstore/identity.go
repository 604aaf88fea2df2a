package sqlstore

import (
	"context"
	"database/sql"

	"github.com/steward-iam/steward"
)

// CreateUserIdentity inserts a binding; a taken (issuer, subject) or
// (user, issuer) is ECONFLICT.
func (s *Store) CreateUserIdentity(ctx context.Context, b *steward.UserIdentity) error {
	_, err := s.exec(ctx, "insert user identity", `INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES ($1,$2,$3,$4)`,
		b.Issuer, b.Subject, b.UserID, micros(b.CreatedAt))
	if steward.ErrorKind(err) == steward.ECONFLICT {
		return &steward.Error{Kind: steward.ECONFLICT, Code: "identity_bound", Message: "This identity, or the user at this provider, is bound already."}
	}
	return err
}

// FindUserIdentity returns the binding of the issuer's subject or ENOTFOUND.
func (s *Store) FindUserIdentity(ctx context.Context, issuer, subject string) (*steward.UserIdentity, error) {
	return s.findUserIdentity(ctx, `issuer = $1 AND subject = $2`, issuer, subject)
}

// FindUserIdentityOf returns the user's binding at the issuer or ENOTFOUND.
func (s *Store) FindUserIdentityOf(ctx context.Context, issuer, userID string) (*steward.UserIdentity, error) {
	return s.findUserIdentity(ctx, `issuer = $1 AND user_id = $2`, issuer, userID)
}

func (s *Store) findUserIdentity(ctx context.Context, cond, issuer, arg string) (*steward.UserIdentity, error) {
	var b steward.UserIdentity
	var created int64
	err := s.q.QueryRowContext(ctx, `SELECT issuer, subject, user_id, created_at FROM user_identities WHERE `+cond, issuer, arg).
		Scan(&b.Issuer, &b.Subject, &b.UserID, &created)
	if err == sql.ErrNoRows {
		return nil, &steward.Error{Kind: steward.ENOTFOUND, Code: "identity_not_found", Message: "No user is bound to this identity."}
	} else if err != nil {
		return nil, s.wrap(err, "find user identity")
	}
	b.CreatedAt = fromMicros(created)
	return &b, nil
}

// DeleteUserIdentities deletes every binding of the user and returns how
// many there were.
func (s *Store) DeleteUserIdentities(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, "delete user identities", `DELETE FROM user_identities WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
