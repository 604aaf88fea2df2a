package sqlstore

import (
	"context"

	"github.com/steward-iam/steward"
)

// AppendChanges takes the next revision and stores the transaction's
// changes under it. The revision row stays locked until commit, so
// revisions commit in order and without gaps: a follower that has read
// revision n has seen everything before it.
func (s *Store) AppendChanges(ctx context.Context, changes []steward.Change) (int64, error) {
	if !s.inTx {
		return 0, &steward.Error{Kind: steward.EINTERNAL, Message: "AppendChanges outside a transaction"}
	}
	var rev int64
	if err := s.q.QueryRowContext(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev); err != nil {
		return 0, s.wrap(err, "next revision")
	}
	for i, c := range changes {
		if _, err := s.exec(ctx, "insert change", `INSERT INTO changes (revision, n, account_id, entity, entity_id, time) VALUES ($1,$2,$3,$4,$5,$6)`,
			rev, i, c.AccountID, c.Entity, c.EntityID, micros(c.Time)); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

// ChangesSince returns up to limit changes after revision rev, in order.
func (s *Store) ChangesSince(ctx context.Context, rev int64, limit int) ([]steward.Change, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT revision, account_id, entity, entity_id, time FROM changes
		WHERE revision > $1 ORDER BY revision, n LIMIT $2`, rev, limit)
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
