package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/sqlstore"
)

// DB is a PostgreSQL database holding Steward's state; it implements steward.Store.
type DB struct {
	*sqlstore.Store
	*sqlstore.Migrator
	Pool    *pgxpool.Pool
	db      *sql.DB
	timeout time.Duration
}

var _ steward.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct{ timeout time.Duration }

// WithTimeout bounds every wait for the database: a pooled connection, a new
// connection, each statement's answer, BEGIN and COMMIT. A wait that runs out,
// like a database that refuses connections or shuts down, answers a
// retryable EUNAVAILABLE. Zero (the default) sets no bound.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Open connects to the database at dsn (a postgres:// URL). It does not
// migrate; call Migrate or CheckSchema.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	configure(cfg, o.timeout)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w (is the server running, and is the URL right?)", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// Nodes that start together migrate once: the session lock queues them.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	migrator, err := sqlstore.NewMigrator(db, goose.DialectPostgres, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	store := sqlstore.New(db, sqlstore.Dialect{
		Name:        "postgres",
		ForUpdate:   " FOR UPDATE",
		Translate:   translate,
		Retryable:   retryable,
		Unavailable: unavailable,
		Notify:      `SELECT pg_notify('` + ChangesChannel + `', $1)`,
		TryLock:     `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`,
		// One statement: the revision row is locked from here to the commit.
		AppendChanges: `WITH r AS (UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value),
			c AS (INSERT INTO changes (revision, n, account_id, entity, entity_id, time)
				SELECT r.value, x.n - 1, x.account_id, x.entity, x.entity_id, $4 FROM r,
				unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(account_id, entity, entity_id, n))
			SELECT r.value FROM r, LATERAL (SELECT pg_notify('` + ChangesChannel + `', r.value::text)) AS notified`,
		// One statement for a transaction's audit events and chain heads.
		InsertEvents: `WITH h AS (UPDATE audit_heads AS h SET seq = x.seq, hash = x.hash
				FROM unnest($15::text[], $16::bigint[], $17::text[]) AS x(account_id, seq, hash) WHERE h.account_id = x.account_id)
			INSERT INTO audit_events (id, account_id, seq, time, actor, action, target_type, target_id, details, prev_hash, hash,
				actor_user_id, actor_home_account_id, actor_partner_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`,
		InsertEventsOneHead: `WITH h AS (UPDATE audit_heads SET seq = $16, hash = $17 WHERE account_id = $15)
			INSERT INTO audit_events (id, account_id, seq, time, actor, action, target_type, target_id, details, prev_hash, hash,
				actor_user_id, actor_home_account_id, actor_partner_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`,
		Send: send,
	}, o.timeout)
	return &DB{Store: store, Migrator: migrator, Pool: pool, db: db, timeout: o.timeout}, nil
}

// errRolledBack is a COMMIT the server answered with ROLLBACK: the
// transaction had failed.
var errRolledBack = errors.New("the transaction was rolled back")

// send sends stmts, and with commit COMMIT after them, in one round trip
// (a pipeline of the extended protocol, one Sync at its end: a failed
// statement skips the rest, COMMIT included). It returns the revision the
// statement marked Revision returned, and scans the row of a statement
// with Row (sql.ErrNoRows when there is none).
func send(ctx context.Context, conn *sql.Conn, stmts []sqlstore.Stmt, commit bool) (rev int64, err error) {
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		done := 0 // statements that succeeded: a failure is stmts[done]'s
		for _, st := range stmts {
			q := b.Queue(st.Query, st.Args...)
			switch {
			case st.Revision:
				q.QueryRow(func(row pgx.Row) error {
					if err := row.Scan(&rev); err != nil {
						return err
					}
					done++
					return nil
				})
			case st.Row != nil:
				q.QueryRow(func(row pgx.Row) error {
					err := row.Scan(st.Row...)
					if errors.Is(err, pgx.ErrNoRows) {
						return sql.ErrNoRows
					}
					if err == nil {
						done++
					}
					return err
				})
			default:
				q.Exec(func(pgconn.CommandTag) error { done++; return nil })
			}
		}
		if commit {
			b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
				if ct.String() != "COMMIT" {
					return errRolledBack
				}
				return nil
			})
		}
		err := c.SendBatch(ctx, b).Close()
		var pe *pgconn.PgError
		if done < len(stmts) && stmts[done].Conflict != nil && errors.As(err, &pe) && pe.Code == "23505" {
			return stmts[done].Conflict
		}
		return err
	})
	return rev, err
}

// configure makes the pool notice a dead or hung server within the timeout:
// new connections give up after it, TCP keepalives find a peer that is gone
// without a word, and the pool checks its idle connections often, so that
// those a restart broke are replaced before a request gets them.
func configure(cfg *pgxpool.Config, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > timeout {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: max(timeout, time.Second), Interval: max(timeout/2, time.Second), Count: 3}}
	cfg.ConnConfig.DialFunc = dialer.DialContext
	// A session left inside a transaction by a node that hung holds its
	// locks against every other node: the server ends it.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(max(10*timeout, 30*time.Second).Milliseconds(), 10)
	}
	cfg.HealthCheckPeriod = max(timeout, time.Second)
}

// Close closes the connections.
func (db *DB) Close() error {
	err := db.db.Close()
	db.Pool.Close()
	return err
}

func translate(err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			return &steward.Error{Kind: steward.ECONFLICT, Code: "duplicate", Message: "It already exists."}
		case "23503": // foreign_key_violation
			return &steward.Error{Kind: steward.EINVALID, Code: "unknown_reference", Message: "It refers to something that does not exist."}
		case "22021", "22P05": // character_not_in_repertoire (NUL, invalid UTF-8), untranslatable_character
			// The service refuses such text first (SPEC §4 "Text"); should
			// any slip through, it is still the caller's bad input, not a 500.
			return steward.TextError("body")
		}
	}
	return nil
}

// unavailable reports the errors of a server that cannot be reached (refused,
// reset, timed out, a failed connect), that is shutting down or starting up
// (SQLSTATE class 08, 57P01-57P03), that has no connection left (53300), or
// that cancelled a statement (57014); the request may succeed on retry.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" ||
			pe.Code == "53300" || pe.Code == "57014"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.Timeout(err)
}

// retryable reports serialisation failures and deadlocks, which a
// transaction survives by running again.
func retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
}

// SessionStore is the console's session store over this database (the
// sessions table), with its own cleanup of expired sessions: the one of
// pgxstore starts its stop channel inside its goroutine, which races with
// StopCleanup.
// It also writes the user each session signs in, so that revoking the user
// deletes its sessions (R-REVOKE-2).
type SessionStore struct {
	*pgxstore.PostgresStore
	pool       *pgxpool.Pool
	stop, done chan struct{}
}

// Commit keeps the session and the user it signs in.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	if err := s.PostgresStore.Commit(token, b, expiry); err != nil {
		return err
	}
	_, err := s.pool.Exec(context.Background(), `UPDATE sessions SET user_id = $2 WHERE token = $1`, token, sqlstore.SessionUser(b))
	return err
}

// SessionStore returns the console's session store; expired sessions are
// deleted every cleanup interval until its StopCleanup is called.
func (db *DB) SessionStore(cleanup time.Duration) *SessionStore {
	s := &SessionStore{PostgresStore: pgxstore.NewWithCleanupInterval(db.Pool, 0), pool: db.Pool, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(cleanup)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				// A failed cleanup is retried at the next tick; expired rows
				// are never found meanwhile (Find checks the expiry).
				db.Pool.Exec(context.Background(), "DELETE FROM sessions WHERE expiry < current_timestamp")
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// StopCleanup stops the cleanup and waits for it to end.
func (s *SessionStore) StopCleanup() {
	close(s.stop)
	<-s.done
}
