package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/steward-iam/steward"
)

// errWaitTimeout is the cause of a database call that ended because the
// database did not answer within the store's timeout.
var errWaitTimeout = errors.New("the database did not answer in time")

// CodeDatabaseUnavailable is the code of the EUNAVAILABLE error a store
// returns when the database cannot be reached or does not answer in time.
const CodeDatabaseUnavailable = "database_unavailable"

// unavailableError is what a caller gets when the database is down, hung or
// shutting down: a retryable EUNAVAILABLE error that keeps its cause for the log.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.cause.Error() }

// Unwrap gives errors.As the steward error and errors.Is the cause.
func (e *unavailableError) Unwrap() []error {
	return []error{&steward.Error{Kind: steward.EUNAVAILABLE, Code: CodeDatabaseUnavailable,
		Message: "The database is not answering; retry shortly."}, e.cause}
}

// sqlQuerier is what *sql.DB and *sql.Tx have in common.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs the store's statements. Each statement, including the wait
// for a pooled connection, gets the store's timeout (none when it is zero);
// the driver errors that mean the database is unreachable, hung or shutting
// down become unavailableError here, at the store's edge, so that every
// method reports them the same way.
type querier struct {
	q           sqlQuerier
	timeout     time.Duration
	unavailable func(error) bool
	// pre, when set, runs before each statement: a transaction sends the
	// audit events it holds back (see Store.flushEvents) before a statement
	// that might read them.
	pre func(ctx context.Context, query string) error
}

// unbounded returns the querier without a timeout, for the scans that load
// the whole check index.
func (q querier) unbounded() querier {
	q.timeout = 0
	return q
}

func (q querier) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if q.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, q.timeout, errWaitTimeout)
}

// classify turns an error that means the database is unavailable into
// unavailableError and returns any other error as it is.
func (q querier) classify(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return err
	}
	if isUnavailable(err, q.unavailable) {
		return &unavailableError{cause: err}
	}
	return err
}

// isUnavailable reports the errors of a database that does not answer:
// a wait that ran out of time (the store's timeout, a deadline of the
// caller's) or was given up (the caller went away), a connection that the
// pool could not provide, and what the dialect recognises of its driver.
func isUnavailable(err error, dialect func(error) bool) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, errWaitTimeout), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return true
	}
	return dialect != nil && dialect(err)
}

func (q querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if q.pre != nil {
		if err := q.pre(ctx, query); err != nil {
			return nil, err
		}
	}
	ctx, cancel := q.bound(ctx)
	defer cancel()
	res, err := q.q.ExecContext(ctx, query, args...)
	return res, q.classify(err)
}

// QueryContext runs a query; the rows keep the time bound until they are closed.
func (q querier) QueryContext(ctx context.Context, query string, args ...any) (*rows, error) {
	if q.pre != nil {
		if err := q.pre(ctx, query); err != nil {
			return nil, err
		}
	}
	ctx, cancel := q.bound(ctx)
	r, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		cancel()
		return nil, q.classify(err)
	}
	return &rows{Rows: r, cancel: cancel, q: q}, nil
}

// QueryRowContext runs a query of one row; the row keeps the time bound until it is scanned.
func (q querier) QueryRowContext(ctx context.Context, query string, args ...any) *row {
	if q.pre != nil {
		if err := q.pre(ctx, query); err != nil {
			return &row{err: err, cancel: func() {}, q: q}
		}
	}
	ctx, cancel := q.bound(ctx)
	return &row{row: q.q.QueryRowContext(ctx, query, args...), cancel: cancel, q: q}
}

// rows are the rows of a query.
type rows struct {
	*sql.Rows
	cancel context.CancelFunc
	q      querier
}

// Err returns the error that ended the iteration, classified.
func (r *rows) Err() error { return r.q.classify(r.Rows.Err()) }

// Scan copies the current row, classifying a failure.
func (r *rows) Scan(dest ...any) error { return r.q.classify(r.Rows.Scan(dest...)) }

// Close closes the rows and ends their time bound.
func (r *rows) Close() error {
	err := r.Rows.Close()
	r.cancel()
	return r.q.classify(err)
}

// row is the result of QueryRowContext.
type row struct {
	row    *sql.Row
	err    error // the pre hook's, which kept the query from running
	cancel context.CancelFunc
	q      querier
}

// Scan copies the row and ends its time bound; it returns sql.ErrNoRows as it is.
func (r *row) Scan(dest ...any) error {
	defer r.cancel()
	if r.err != nil {
		return r.err
	}
	return r.q.classify(r.row.Scan(dest...))
}

// txTimer bounds the waits of a transaction that no statement covers:
// BEGIN and COMMIT run under the transaction's own context, which must
// outlive them. arm starts the clock and disarm stops it; when it runs out,
// the transaction's context ends with errWaitTimeout as its cause.
type txTimer struct {
	t      *time.Timer
	d      time.Duration
	cancel context.CancelCauseFunc
}

func newTxTimer(cancel context.CancelCauseFunc, d time.Duration) *txTimer {
	return &txTimer{d: d, cancel: cancel}
}

func (t *txTimer) arm() {
	switch {
	case t.d <= 0:
	case t.t == nil:
		t.t = time.AfterFunc(t.d, func() { t.cancel(errWaitTimeout) })
	default:
		t.t.Reset(t.d)
	}
}

func (t *txTimer) disarm() {
	if t.t != nil {
		t.t.Stop()
	}
}

// timedOut wraps err with the cause of ctx when the store's timeout ended ctx,
// so that the error says so.
func timedOut(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errWaitTimeout) && !errors.Is(err, errWaitTimeout) {
		return fmt.Errorf("%w: %w", errWaitTimeout, err)
	}
	return err
}
