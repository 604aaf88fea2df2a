package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/steward-iam/steward"
)

// AppendChanges takes the next revision and stores the transaction's
// changes under it. The revision row stays locked until commit, so
// revisions commit in order and without gaps: a follower that has read
// revision n has seen everything before it. The Service calls it last, just
// before the commit, so that writers of unrelated accounts wait for one
// another only while one commits; with the dialect's single statement
// (PostgreSQL) the lock is held for that statement and the commit, not for a
// round trip per row.
func (s *Store) AppendChanges(ctx context.Context, changes []steward.Change) (int64, error) {
	if !s.inTx {
		return 0, &steward.Error{Kind: steward.EINTERNAL, Message: "AppendChanges outside a transaction"}
	}
	if err := s.flushAuditHeads(ctx); err != nil { // before the revision is taken
		return 0, err
	}
	changes, now := s.allChanges(changes)
	if q := s.dialect.AppendChanges; q != "" {
		var rev int64
		if err := s.q.QueryRowContext(ctx, q, changeArgs(changes, now)...).Scan(&rev); err != nil {
			return 0, s.wrap(err, "append changes")
		}
		*s.pending = &pendingChanges{rev: rev, changes: changes, at: now}
		return rev, nil
	}
	var rev int64
	if err := s.q.QueryRowContext(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev); err != nil {
		return 0, s.wrap(err, "next revision")
	}
	*s.pending = &pendingChanges{rev: rev, changes: changes, at: now}
	for i, c := range changes {
		if _, err := s.exec(ctx, "insert change", `INSERT INTO changes (revision, n, account_id, entity, entity_id, time) VALUES ($1,$2,$3,$4,$5,$6)`,
			rev, i, c.AccountID, c.Entity, c.EntityID, micros(now)); err != nil {
			return 0, err
		}
	}
	if s.dialect.Notify != "" {
		if _, err := s.exec(ctx, "notify", s.dialect.Notify, fmt.Sprint(rev)); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

// AppendChangesAndCommit is AppendChanges as the transaction's last
// statement: no statement may follow it. Where the dialect allows it
// (Dialect.Send), it commits the transaction in the same round trip as
// the audit events still held back and the changes, so that the revision
// row is held for no round trip to this process; otherwise the
// transaction commits when its function returns, as after AppendChanges.
func (s *Store) AppendChangesAndCommit(ctx context.Context, changes []steward.Change) (int64, error) {
	if !s.inTx || s.conn == nil || s.dialect.AppendChanges == "" {
		return s.AppendChanges(ctx, changes)
	}
	changes, now := s.allChanges(changes)
	*s.pending = &pendingChanges{changes: changes, at: now}
	return s.commit(ctx, nil, []Stmt{{Query: s.dialect.AppendChanges, Args: changeArgs(changes, now), Revision: true}})
}

// allChanges adds the rows the transaction fed (see feed) to changes, and
// returns them with their time.
func (s *Store) allChanges(changes []steward.Change) ([]steward.Change, time.Time) {
	if s.fed != nil {
		changes = append(changes, dedupe(*s.fed, changes)...)
		*s.fed = nil
	}
	if len(changes) == 0 { // every revision has a row, so followers can see it
		changes = []steward.Change{{Entity: "none"}}
	}
	now := time.Now()
	if !changes[0].Time.IsZero() {
		now = changes[0].Time
	}
	return changes, now
}

// changeArgs are the arguments of Dialect.AppendChanges.
func changeArgs(changes []steward.Change, now time.Time) []any {
	accounts, entities, ids := make([]string, len(changes)), make([]string, len(changes)), make([]string, len(changes))
	for i, c := range changes {
		accounts[i], entities[i], ids[i] = c.AccountID, c.Entity, c.EntityID
	}
	return []any{accounts, entities, ids, micros(now)}
}

// ChangesSince returns the changes of revisions rev+1 … rev+n, in order.
// Revisions have no gaps, so a follower that applies them all has applied
// everything up to the last revision returned.
func (s *Store) ChangesSince(ctx context.Context, rev int64, n int) ([]steward.Change, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT revision, account_id, entity, entity_id, time FROM changes
		WHERE revision > $1 AND revision <= $2 ORDER BY revision, n`, rev, rev+int64(n))
	if err != nil {
		return nil, s.wrap(err, "changes since")
	}
	defer rows.Close()
	var out []steward.Change
	for rows.Next() {
		var c steward.Change
		var at int64
		if err := rows.Scan(&c.Revision, &c.AccountID, &c.Entity, &c.EntityID, &at); err != nil {
			return nil, err
		}
		c.Time = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CurrentRevision returns the last committed revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.q.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev)
	return rev, s.wrap(err, "current revision")
}

// dedupe returns the entries of fed that are neither repeated nor already in have.
func dedupe(fed, have []steward.Change) []steward.Change {
	type key struct{ entity, account, id string }
	seen := map[key]bool{}
	for _, c := range have {
		seen[key{c.Entity, c.AccountID, c.EntityID}] = true
	}
	var out []steward.Change
	for _, c := range fed {
		if k := (key{c.Entity, c.AccountID, c.EntityID}); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// pruneChangesSQL goes through the index on the changes' time.
const pruneChangesSQL = `DELETE FROM changes WHERE time < $1 AND revision < (SELECT value FROM revision WHERE id = 1)`

// PruneChanges deletes changes committed before before, keeping the last
// revision's so that the feed always shows where it stands.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, "prune changes", pruneChangesSQL, micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
