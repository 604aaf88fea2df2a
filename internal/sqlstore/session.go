package sqlstore

import (
	"context"

	"github.com/alexedwards/scs/v2"
)

// SessionUserKey is the session value that names the signed-in user (the
// console keeps the user id under it).
const SessionUserKey = "user_id"

// SessionUser returns the user id a console session's data (scs's gob
// encoding) signs in, or nil (SQL NULL) for a session of no user: the
// operator's, or one not signed in yet. Data it cannot read names none.
func SessionUser(b []byte) any {
	_, values, err := scs.GobCodec{}.Decode(b)
	if err != nil {
		return nil
	}
	if id, ok := values[SessionUserKey].(string); ok && id != "" {
		return id
	}
	return nil
}

// DeleteUserSessions deletes every console session signed in as the user
// and returns how many there were (R-REVOKE-2).
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
