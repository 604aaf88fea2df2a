package postgres

import (
	"context"
	"runtime"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/steward-iam/steward/internal/sqlstore"
)

// BulkInsert copies many rows into a table with COPY, for generating large
// synthetic worlds: several COPY streams at once, one per core, since index
// upkeep keeps a server process busy. It bypasses the Service (no rules, no
// audit events, no change feed), and each stream commits on its own.
func (db *DB) BulkInsert(ctx context.Context, table string, columns []string, rows sqlstore.Rows) (int, error) {
	const batch = 1000
	streams := max(1, runtime.NumCPU())
	feeds := make([]chan [][]any, streams)
	counts := make([]int64, streams)
	g, gctx := errgroup.WithContext(ctx)
	for i := range feeds {
		feeds[i] = make(chan [][]any, 4)
		g.Go(func() error {
			n, err := db.Pool.CopyFrom(gctx, pgx.Identifier{table}, columns, &copySource{feed: feeds[i]})
			counts[i] = n
			for range feeds[i] { // let the producer finish if this stream failed
			}
			return err
		})
	}
	g.Go(func() error {
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		buf, next := make([][]any, 0, batch), 0
		for row := range rows {
			if buf = append(buf, row); len(buf) == batch {
				select {
				case feeds[next%streams] <- buf:
				case <-gctx.Done():
					return gctx.Err()
				}
				buf, next = make([][]any, 0, batch), next+1
			}
		}
		if len(buf) > 0 {
			feeds[next%streams] <- buf
		}
		return nil
	})
	err := g.Wait()
	total := 0
	for _, n := range counts {
		total += int(n)
	}
	return total, err
}

// copySource feeds one COPY stream from batches of rows.
type copySource struct {
	feed  chan [][]any
	batch [][]any
	row   []any
}

func (c *copySource) Next() bool {
	for len(c.batch) == 0 {
		b, ok := <-c.feed
		if !ok {
			return false
		}
		c.batch = b
	}
	c.row, c.batch = c.batch[0], c.batch[1:]
	return true
}

func (c *copySource) Values() ([]any, error) { return c.row, nil }

func (c *copySource) Err() error { return nil }
