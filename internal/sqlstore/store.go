package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// ForUpdate is appended to row-locking selects (" FOR UPDATE" or "").
	ForUpdate string
	// Translate turns a driver error into a *steward.Error where it has a
	// meaning (a unique violation is ECONFLICT) and returns nil otherwise.
	Translate func(error) error
	// Retryable reports whether a failed transaction may be run again
	// (serialisation failures, deadlocks).
	Retryable func(error) bool
	// Unavailable reports the driver errors that mean the database cannot
	// be reached, is shutting down or is too busy; the store answers them
	// as a retryable EUNAVAILABLE. Match on the driver's error types.
	Unavailable func(error) bool
	// Notify, when set, is run in every write transaction after its changes
	// with the revision as $1; PostgreSQL delivers the notification on commit.
	Notify string
	// TryLock, when set, takes a lock named by $1 (text) until the
	// transaction ends and answers whether it got it, without waiting.
	TryLock string
	// BulkPragma and NormalPragma, when set, are run around a bulk insert.
	BulkPragma, NormalPragma string
	// SerializeWrites makes the process run one write transaction at a time,
	// as SQLite does anyway; it spares writers the busy-wait.
	SerializeWrites bool
	// CacheStatements prepares every statement once per connection (see
	// stmtCache); for drivers that do not cache prepared statements.
	CacheStatements bool
	// AppendChanges, when set, is one statement that takes the next
	// revision, stores the transaction's changes under it and announces it:
	// $1, $2, $3 are the arrays of account ids, entities and entity ids, $4
	// the time; it returns the revision. It replaces the statement-per-row
	// path, so that the revision row stays locked only for the commit.
	AppendChanges string
	// InsertEvents, when set, is one statement that inserts a transaction's
	// audit events and writes back its chain heads: $1 … $14 are the arrays
	// of the events' columns (id, account_id, seq, time, actor, action,
	// target_type, target_id, details, prev_hash, hash, actor_user_id,
	// actor_home_account_id, actor_partner_id), $15, $16, $17 those of the
	// heads (account_id, seq, hash).
	InsertEvents string
	// InsertEventsOneHead is InsertEvents for the usual transaction, whose
	// events are in one account: $15, $16, $17 are that head's account_id,
	// seq and hash. Its plan does not depend on the arguments, so the
	// server plans it once per connection, not on every execution.
	InsertEventsOneHead string
	// Send, when set, makes write transactions run on a connection of
	// their own, opened with BEGIN, and lets them send several statements
	// in one round trip: it sends stmts and, with commit, COMMIT after them,
	// and returns the revision the statement marked Revision returned,
	// scanning the row of a statement with Row. A transaction the server rolled back is an error. The
	// revision row is then held for the last statements and the commit
	// only, with no round trip to this process in between.
	Send func(ctx context.Context, conn *sql.Conn, stmts []Stmt, commit bool) (int64, error)
}

// Stmt is one statement and its arguments, for Dialect.Send.
type Stmt struct {
	Query string
	Args  []any
	// Revision marks the statement that returns the revision (one row, one column).
	Revision bool
	// Row, when set, receives the statement's one row (sql.ErrNoRows: none).
	Row []any
	// Conflict, when set, is the error to answer instead of a unique
	// violation of this statement (a held-back insert's, say).
	Conflict error
}

// Store implements steward.Store. The zero value is not usable; use New.
type Store struct {
	db      *sql.DB
	q       querier
	inTx    bool
	dialect *Dialect
	// writeMu is a lock of capacity one that writers wait for within the timeout.
	writeMu chan struct{}
	// timeout bounds every wait for the database: a pooled connection, a
	// statement's answer, BEGIN and COMMIT, and the writer lock. Zero: none.
	timeout time.Duration
	stmts   *stmtCache // nil unless the dialect caches statements
	// fed collects, inside a transaction, a change-feed entry for every user
	// and membership row written, so that the check index cannot miss one.
	fed *[]steward.Change
	// heads holds, inside a transaction, the audit chain heads it locked.
	heads *map[string]*auditHead
	// events holds, inside a transaction, the sealed audit events not yet
	// inserted (see flushEvents).
	events *[]*steward.Event
	// conn is, with Dialect.Send, the transaction's connection; done
	// reports that the transaction was committed (AppendChangesAndCommit);
	// later holds the statements of execLater.
	conn  *sql.Conn
	done  *bool
	later *[]Stmt
	// locked holds, inside a transaction, the accounts LockAccount locked,
	// as they were read then.
	locked *map[string]*steward.Account
	// committed remembers the changes of the revisions this process
	// committed; pending holds, inside a transaction, its own until it
	// commits.
	committed *committed
	pending   **pendingChanges
}

var _ steward.Store = (*Store)(nil)

// New returns a Store over db. timeout bounds every wait for the database
// (zero: no bound); a wait that runs out answers EUNAVAILABLE.
func New(db *sql.DB, d Dialect, timeout time.Duration) *Store {
	s := &Store{db: db, dialect: &d, writeMu: make(chan struct{}, 1), timeout: timeout, committed: &committed{}}
	var inner sqlQuerier = db
	if d.CacheStatements {
		s.stmts = newStmtCache(db)
		inner = cachedDB{s.stmts}
	}
	s.q = querier{q: inner, timeout: timeout, unavailable: d.Unavailable}
	return s
}

// DB returns the underlying database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the store's dialect name.
func (s *Store) Dialect() string { return s.dialect.Name }

const maxTxAttempts = 8

// InTx runs fn in a transaction. Inside a transaction it runs fn in the same one.
func (s *Store) InTx(ctx context.Context, fn func(tx steward.Store) error) error {
	if s.inTx {
		return fn(s)
	}
	if s.dialect.SerializeWrites {
		if err := s.lockWrites(ctx); err != nil {
			return err
		}
		defer func() { <-s.writeMu }()
	}
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		if err = s.runTx(ctx, fn); err == nil || !s.dialect.Retryable(err) {
			return s.q.classify(err)
		}
		select {
		case <-ctx.Done():
			return s.q.classify(ctx.Err())
		case <-time.After(time.Duration(attempt*attempt) * time.Millisecond):
		}
	}
	return s.q.classify(err)
}

// lockWrites waits for the process's writer lock, within the timeout.
func (s *Store) lockWrites(ctx context.Context) error {
	var expired <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case s.writeMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return s.q.classify(fmt.Errorf("wait for the writer lock: %w", ctx.Err()))
	case <-expired:
		return s.q.classify(fmt.Errorf("wait for the writer lock: %w", errWaitTimeout))
	}
}

func (s *Store) runTx(ctx context.Context, fn func(tx steward.Store) error) (err error) {
	// The transaction's context outlives BEGIN and COMMIT; the timer bounds
	// the waits for those two, and each statement has its own bound.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := newTxTimer(cancel, s.timeout)
	defer timer.disarm()
	if s.dialect.Send != nil {
		return s.runConnTx(ctx, timer, fn)
	}
	timer.arm()
	tx, err := s.db.BeginTx(ctx, nil)
	timer.disarm()
	if err != nil {
		return fmt.Errorf("begin: %w", timedOut(ctx, err))
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	var inner sqlQuerier = tx
	if s.stmts != nil {
		inner = &cachedTx{c: s.stmts, tx: tx}
	}
	t := s.txStore(inner, nil)
	if err := fn(t); err != nil {
		return err
	}
	if err := t.flushAuditHeads(ctx); err != nil {
		return err
	}
	timer.arm()
	err = tx.Commit()
	timer.disarm()
	if err != nil {
		return s.wrap(timedOut(ctx, err), "commit")
	}
	t.remember()
	return nil
}

// txStore returns the store a transaction's fn gets: its statements go
// through inner, those of the audit tables preceded by the insert of the
// audit events held back.
func (s *Store) txStore(inner sqlQuerier, conn *sql.Conn) *Store {
	q := querier{q: inner, timeout: s.timeout, unavailable: s.dialect.Unavailable}
	t := &Store{db: s.db, q: q, inTx: true, dialect: s.dialect, writeMu: s.writeMu, timeout: s.timeout, stmts: s.stmts,
		fed: new([]steward.Change), heads: new(map[string]*auditHead), events: new([]*steward.Event), conn: conn, done: new(bool),
		locked: new(map[string]*steward.Account), committed: s.committed, pending: new(*pendingChanges)}
	if conn != nil {
		t.later = new([]Stmt)
	}
	flusher := *t // runs without the hook
	t.q.pre = func(ctx context.Context, query string) error {
		if *t.done {
			return &steward.Error{Kind: steward.EINTERNAL, Message: "a statement after the transaction's commit"}
		}
		if err := flusher.flushLater(ctx); err != nil {
			return err
		}
		if *t.locked != nil && strings.Contains(query, "UPDATE accounts") {
			*t.locked = nil // what LockAccount read is no longer the row
		}
		// Only the audit tables' statements can see the events (nothing
		// refers to them); the others leave them for the commit's round trip.
		if strings.Contains(query, "audit_") {
			return flusher.flushEvents(ctx)
		}
		return nil
	}
	return t
}

// runConnTx runs fn in a transaction on a connection of its own, for
// Dialect.Send: BEGIN is held back to go with the transaction's first
// statement, ROLLBACK is a statement, and COMMIT is sent with the
// transaction's last statements.
func (s *Store) runConnTx(ctx context.Context, timer *txTimer, fn func(tx steward.Store) error) (err error) {
	timer.arm()
	conn, err := s.db.Conn(ctx)
	timer.disarm()
	if err != nil {
		return fmt.Errorf("begin: %w", timedOut(ctx, err))
	}
	t := s.txStore(conn, conn)
	*t.later = append(*t.later, Stmt{Query: "BEGIN"})
	defer func() {
		p := recover()
		if begun := len(*t.later) == 0 || (*t.later)[0].Query != "BEGIN"; (err != nil || p != nil) && !*t.done && begun {
			// Whatever failed, the connection goes back to the pool
			// outside a transaction or not at all.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(s.timeout, 5*time.Second))
			if _, rerr := conn.ExecContext(rctx, "ROLLBACK"); rerr != nil {
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			cancel()
		}
		conn.Close()
		if p != nil {
			panic(p)
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if *t.done {
		return nil
	}
	_, err = t.commit(ctx, timer, nil)
	return err
}

// commit ends a transaction of Dialect.Send: the held-back statements,
// events and chain heads, then stmts, then COMMIT, in one round trip. It
// returns the revision the last of stmts returned.
func (s *Store) commit(ctx context.Context, timer *txTimer, stmts []Stmt) (int64, error) {
	all := *s.later
	*s.later = nil
	if st, ok := s.eventsStmt(); ok {
		all = append(all, Stmt{Query: st.query, Args: st.args})
	}
	for _, id := range s.dirtyHeads() { // only without Dialect.InsertEvents
		h := (*s.heads)[id]
		all = append(all, Stmt{Query: `UPDATE audit_heads SET seq = $2, hash = $3 WHERE account_id = $1`, Args: []any{id, h.seq, h.hash}})
		h.dirty = false
	}
	all = append(all, stmts...)
	*s.done = true
	if timer == nil {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		timer = newTxTimer(cancel, s.timeout)
	}
	timer.arm()
	rev, err := s.dialect.Send(ctx, s.conn, all, true)
	timer.disarm()
	if err != nil {
		*s.done = false // not committed: roll back
		return 0, s.wrap(timedOut(ctx, err), "commit")
	}
	if p := *s.pending; p != nil && p.rev == 0 {
		p.rev = rev // the revision came with the commit
	}
	s.remember()
	return rev, nil
}

// feed records that the row of a user (its status) changed.
func (s *Store) feed(accountID, userID string) {
	if s.fed != nil {
		*s.fed = append(*s.fed, steward.Change{AccountID: accountID, Entity: steward.ChangeUser, EntityID: userID})
	}
}

// feedMember records that the user's membership row in the account changed:
// the index reloads that one membership, not all of the user's.
func (s *Store) feedMember(accountID, userID string) {
	if s.fed != nil {
		*s.fed = append(*s.fed, steward.Change{AccountID: accountID, Entity: steward.ChangeMember, EntityID: userID})
	}
}

// wrap translates a driver error at the store's edge.
// Wrap classifies an error of a statement the caller ran on the store's
// database itself, as the store's own errors are: not found, unavailable
// (503, retryable), a translated constraint, or an internal error naming
// what failed.
func (s *Store) Wrap(err error, what string) error { return s.wrap(err, what) }

func (s *Store) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &steward.Error{Kind: steward.ENOTFOUND, Code: "not_found", Message: "Not found."}
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return &unavailableError{cause: fmt.Errorf("%s: %w", what, ue.cause)}
	}
	var se *steward.Error
	if errors.As(err, &se) {
		return err
	}
	if t := s.dialect.Translate(err); t != nil {
		return t
	}
	return s.q.classify(fmt.Errorf("%s: %w", what, err))
}

func (s *Store) exec(ctx context.Context, what, query string, args ...any) (sql.Result, error) {
	res, err := s.q.ExecContext(ctx, query, args...)
	return res, s.wrap(err, what)
}

// mustAffect returns ENOTFOUND when res touched no row.
func mustAffect(res sql.Result, err error, what, id string) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return steward.NotFound(what, id)
	}
	return nil
}

// Times are kept as microseconds since the epoch, UTC, in both databases.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: marshal %T: %v", v, err))
	}
	return string(b)
}

// strings2 reads a JSON list of strings. Lists of plain keys (permission
// keys, domains: no escapes) are split directly, which loading millions of
// memberships notices; anything else goes through encoding/json.
func strings2(text string) ([]string, error) {
	out := []string{}
	if text == "" || text == "[]" {
		return out, nil
	}
	if inner, ok := strings.CutPrefix(text, `["`); ok && !strings.ContainsAny(text, `\ `) {
		if inner, ok = strings.CutSuffix(inner, `"]`); ok {
			return strings.Split(inner, `","`), nil
		}
	}
	return out, json.Unmarshal([]byte(text), &out)
}

// where builds a conjunction of conditions with $N placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit appends a LIMIT placeholder for one more row than the page, which
// tells whether there is a next page.
func (w *where) limit(n int) string {
	w.args = append(w.args, n+1)
	return fmt.Sprintf(" LIMIT $%d", len(w.args))
}

// page trims a result of limit+1 rows and returns the next cursor.
func page[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, id(items[len(items)-1])
}
