package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// Rows yields the rows of a bulk insert; each row has one value per column.
type Rows func(yield func(row []any) bool)

// BulkInsert inserts many rows in one transaction with multi-row INSERT (SQLite)
// statements, for generating large synthetic worlds. It bypasses the
// Service: no rules, no audit events, no change feed.
func (s *Store) BulkInsert(ctx context.Context, table string, columns []string, rows Rows) (int, error) {
	perStmt := max(1, 30000/len(columns)) // SQLite allows 32,766 variables a statement
	perStmt = min(perStmt, 500)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if s.dialect.BulkPragma != "" {
		// A page cache large enough for the indexes keeps random-key inserts
		// off the disk; the connection goes back to normal afterwards.
		if _, err := conn.ExecContext(ctx, s.dialect.BulkPragma); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), s.dialect.NormalPragma)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmts := map[int]string{}
	stmt := func(n int) string {
		if q, ok := stmts[n]; ok {
			return q
		}
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(columns, ", "))
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range columns {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('?') // positional: the driver binds $N by name, slowly for thousands
			}
			b.WriteByte(')')
		}
		stmts[n] = b.String()
		return stmts[n]
	}
	args := make([]any, 0, perStmt*len(columns))
	n, pending := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, stmt(pending), args...); err != nil {
			return s.wrap(err, "bulk insert "+table)
		}
		n += pending
		args, pending = args[:0], 0
		return nil
	}
	for row := range rows {
		args = append(args, row...)
		if pending++; pending == perStmt {
			if err = flush(); err != nil {
				return n, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, tx.Commit()
}
