package sqlstore

import (
	"context"
	"strings"

	"github.com/steward-iam/steward"
)

// inIDs is the condition that column is one of a list of ids bound to
// param, and the list's argument: an array on PostgreSQL, a JSON list
// elsewhere (SQLite reads it with json_each).
func (s *Store) inIDs(column, param string, ids []string) (string, any) {
	if s.dialect.Name == "postgres" {
		return column + ` = ANY(` + param + `::text[])`, ids
	}
	return column + ` IN (SELECT value FROM json_each(` + param + `))`, jsonText(ids)
}

// FindUsersByIDs returns the users of ids that exist and are not deleted,
// in no particular order: one statement for a list that a request would
// otherwise read a user at a time.
func (s *Store) FindUsersByIDs(ctx context.Context, ids []string) ([]*steward.User, error) {
	out := []*steward.User{}
	if len(ids) == 0 {
		return out, nil
	}
	cond, arg := s.inIDs("id", "$1", ids)
	rows, err := s.q.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond+` AND status <> $2`, arg, string(steward.UserDeleted))
	if err != nil {
		return nil, s.wrap(err, "find users")
	}
	defer rows.Close()
	for rows.Next() {
		var u steward.User
		var status string
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.HomeAccountID, &status, &u.PasswordHash, &created, &updated); err != nil {
			return nil, err
		}
		u.Status, u.CreatedAt, u.UpdatedAt = steward.UserStatus(status), fromMicros(created), fromMicros(updated)
		out = append(out, &u)
	}
	return out, rows.Err()
}

// FindMembershipsOfUsers returns the memberships in the account of any of
// the users, in no particular order.
func (s *Store) FindMembershipsOfUsers(ctx context.Context, accountID string, userIDs []string) ([]*steward.Membership, error) {
	if len(userIDs) == 0 {
		return []*steward.Membership{}, nil
	}
	cond, arg := s.inIDs("user_id", "$2", userIDs)
	return s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE account_id = $1 AND `+cond, accountID, arg)
}

// execLater runs a statement whose answer the caller does not need, other
// than its error. In a transaction of Dialect.Commit it is held back and
// sent with the other held-back statements in one round trip before the
// transaction's next statement or with its commit, and a failure is that
// statement's (or the commit's) error; elsewhere it runs at once.
func (s *Store) execLater(ctx context.Context, what, query string, args ...any) error {
	if s.conn == nil || s.later == nil {
		_, err := s.exec(ctx, what, query, args...)
		return err
	}
	if *s.done {
		return &steward.Error{Kind: steward.EINTERNAL, Message: "a statement after the transaction's commit"}
	}
	*s.later = append(*s.later, Stmt{Query: query, Args: args})
	return nil
}

// FlushHeldBack sends the statements the transaction held back, so that
// their errors show now (a dry run that rolls back would not send them).
func (s *Store) FlushHeldBack(ctx context.Context) error { return s.flushLater(ctx) }

// flushLater sends the statements execLater held back, in one round trip.
func (s *Store) flushLater(ctx context.Context) error {
	if s.later == nil || len(*s.later) == 0 {
		return nil
	}
	stmts := *s.later
	*s.later = nil
	ctx, cancel := s.q.bound(ctx)
	defer cancel()
	if _, err := s.dialect.Send(ctx, s.conn, stmts, false); err != nil {
		return s.wrap(s.q.classify(err), "held-back statements")
	}
	return nil
}

// qualified returns a list of columns, each prefixed with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

var userWithMembershipsSQL = `SELECT ` + qualified("m", membershipColumns) + `, ` + qualified("u", userColumns) + `
	FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.user_id = $1 AND u.status <> $2 ORDER BY m.account_id`

// withUser scans a membership row followed by the columns of its user.
type withUser struct {
	row interface{ Scan(...any) error }
	u   *steward.User
}

func (w withUser) Scan(dest ...any) error {
	var status string
	var created, updated int64
	u := w.u
	if err := w.row.Scan(append(dest, &u.ID, &u.Email, &u.Name, &u.HomeAccountID, &status, &u.PasswordHash, &created, &updated)...); err != nil {
		return err
	}
	u.Status, u.CreatedAt, u.UpdatedAt = steward.UserStatus(status), fromMicros(created), fromMicros(updated)
	return nil
}

// FindUserWithMemberships returns a user that is not deleted and its
// memberships in account order (FindUserByID and FindUserMemberships): one
// statement for a user who has memberships, two for one who has none.
func (s *Store) FindUserWithMemberships(ctx context.Context, id string) (*steward.User, []*steward.Membership, error) {
	rows, err := s.q.QueryContext(ctx, userWithMembershipsSQL, id, string(steward.UserDeleted))
	if err != nil {
		return nil, nil, s.wrap(err, "find user with memberships")
	}
	defer rows.Close()
	u := &steward.User{}
	ms := []*steward.Membership{}
	for rows.Next() {
		m, err := scanMembership(withUser{rows, u})
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(ms) > 0 {
		return u, ms, nil
	}
	if u, err = s.FindUserByID(ctx, id); err != nil {
		return nil, nil, err
	}
	return u, ms, nil
}

// FindMembershipsOfUsersIn returns the memberships in any of the accounts
// of any of the users, in no particular order: one statement for a request
// that would otherwise read them an account at a time.
func (s *Store) FindMembershipsOfUsersIn(ctx context.Context, accountIDs, userIDs []string) ([]*steward.Membership, error) {
	if len(accountIDs) == 0 || len(userIDs) == 0 {
		return []*steward.Membership{}, nil
	}
	acc, accArg := s.inIDs("account_id", "$1", accountIDs)
	usr, usrArg := s.inIDs("user_id", "$2", userIDs)
	return s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE `+acc+` AND `+usr, accArg, usrArg)
}
