package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

const userColumns = `id, email, name, home_account_id, status, password_hash, created_at, updated_at`

// CreateUser inserts a user; a taken email (any case) is ECONFLICT.
func (s *Store) CreateUser(ctx context.Context, u *steward.User) error {
	_, err := s.exec(ctx, "insert user", insertUserSQL,
		u.ID, strings.ToLower(u.Email), u.Name, u.HomeAccountID, string(u.Status), u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt))
	s.feed(u.HomeAccountID, u.ID)
	return err
}

const insertUserSQL = `INSERT INTO users (` + userColumns + `) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`

// CreateUserHeldBack is CreateUser sent with the transaction's next round
// trip where the dialect allows it; a unique violation (the email is
// taken) then fails the transaction with taken.
func (s *Store) CreateUserHeldBack(ctx context.Context, u *steward.User, taken error) error {
	if s.conn == nil || s.later == nil {
		if err := s.CreateUser(ctx, u); err != nil {
			if steward.ErrorKind(err) == steward.ECONFLICT {
				return taken
			}
			return err
		}
		return nil
	}
	if err := s.execLater(ctx, "insert user", insertUserSQL, u.ID, strings.ToLower(u.Email), u.Name, u.HomeAccountID, string(u.Status),
		u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt)); err != nil {
		return err
	}
	(*s.later)[len(*s.later)-1].Conflict = taken
	s.feed(u.HomeAccountID, u.ID)
	return nil
}

// FindUserByID returns a user or ENOTFOUND.
func (s *Store) FindUserByID(ctx context.Context, id string) (*steward.User, error) {
	return s.findUser(ctx, `id = $1`, id, id)
}

// FindUserByEmail returns the user with the email, compared case-insensitively.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*steward.User, error) {
	return s.findUser(ctx, `email = $1`, strings.ToLower(email), email)
}

func (s *Store) findUser(ctx context.Context, cond string, arg any, name string) (*steward.User, error) {
	var u steward.User
	var status string
	var created, updated int64
	// A deleted user's row is a tombstone: it answers no lookup.
	err := s.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond+` AND status <> $2`, arg, string(steward.UserDeleted)).
		Scan(&u.ID, &u.Email, &u.Name, &u.HomeAccountID, &status, &u.PasswordHash, &created, &updated)
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("user", name)
	} else if err != nil {
		return nil, s.wrap(err, "find user")
	}
	u.Status, u.CreatedAt, u.UpdatedAt = steward.UserStatus(status), fromMicros(created), fromMicros(updated)
	return &u, nil
}

// UpdateUser writes the user's name, status and password hash.
func (s *Store) UpdateUser(ctx context.Context, u *steward.User) error {
	res, err := s.exec(ctx, "update user", `UPDATE users SET name=$2, status=$3, password_hash=$4, updated_at=$5 WHERE id=$1 AND status <> $6`,
		u.ID, u.Name, string(u.Status), u.PasswordHash, micros(u.UpdatedAt), string(steward.UserDeleted))
	s.feed(u.HomeAccountID, u.ID)
	return mustAffect(res, err, "user", u.ID)
}

// DeleteUser turns the user's row into a tombstone: status deleted, the email
// replaced by one no address can equal (so that it can be used again), no
// password. The row stays so that assets and audit references keep a user to
// point at; every lookup answers ENOTFOUND from then on. The user's API
// tokens, console sessions and single sign-on bindings are deleted with it.
func (s *Store) DeleteUser(ctx context.Context, id string, at time.Time) error {
	var home string
	err := s.q.QueryRowContext(ctx, `UPDATE users SET status=$2, email=$3, password_hash='', updated_at=$4 WHERE id=$1 AND status <> $2
		RETURNING home_account_id`, id, string(steward.UserDeleted), "deleted:"+id, micros(at)).Scan(&home)
	if err == sql.ErrNoRows {
		return steward.NotFound("user", id)
	} else if err != nil {
		return s.wrap(err, "delete user")
	}
	s.feed(home, id)
	if _, err = s.exec(ctx, "delete user tokens", `DELETE FROM tokens WHERE user_id = $1`, id); err != nil {
		return err
	}
	if _, err = s.DeleteUserSessions(ctx, id); err != nil { // SPEC §4: its sessions stop working
		return err
	}
	// Its single sign-on bindings go too, so that a later user with its
	// email binds afresh.
	_, err = s.DeleteUserIdentities(ctx, id)
	return err
}
