package postgres

import (
	"context"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/steward-iam/steward/internal/sqlstore"
)

// BulkInsert copies many rows into a table with COPY, for generating large
// synthetic worlds. It bypasses the Service: no rules, no audit events, no
// change feed.
func (db *DB) BulkInsert(ctx context.Context, table string, columns []string, rows sqlstore.Rows) (int, error) {
	next, stop := pullRows(rows)
	defer stop()
	n, err := db.Pool.CopyFrom(ctx, pgx.Identifier{table}, columns, &copySource{next: next})
	return int(n), err
}

type copySource struct {
	next func() ([]any, bool)
	row  []any
}

func (c *copySource) Next() bool {
	var ok bool
	c.row, ok = c.next()
	return ok
}

func (c *copySource) Values() ([]any, error) { return c.row, nil }

func (c *copySource) Err() error { return nil }

func pullRows(rows sqlstore.Rows) (func() ([]any, bool), func()) {
	return iter.Pull(iter.Seq[[]any](rows))
}
