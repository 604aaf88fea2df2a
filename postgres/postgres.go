package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/pgxstore"
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
	Pool *pgxpool.Pool
	db   *sql.DB
}

var _ steward.Store = (*DB)(nil)

// Open connects to the database at dsn (a postgres:// URL). It does not
// migrate; call Migrate or CheckSchema.
func Open(ctx context.Context, dsn string) (*DB, error) {
	pool, err := pgxpool.New(ctx, dsn)
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
		Name:      "postgres",
		ForUpdate: " FOR UPDATE",
		Translate: translate,
		Retryable: retryable,
		Notify:    `SELECT pg_notify('` + ChangesChannel + `', $1)`,
	})
	return &DB{Store: store, Migrator: migrator, Pool: pool, db: db}, nil
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
		}
	}
	return nil
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
type SessionStore struct {
	*pgxstore.PostgresStore
	stop, done chan struct{}
}

// SessionStore returns the console's session store; expired sessions are
// deleted every cleanup interval until its StopCleanup is called.
func (db *DB) SessionStore(cleanup time.Duration) *SessionStore {
	s := &SessionStore{PostgresStore: pgxstore.NewWithCleanupInterval(db.Pool, 0), stop: make(chan struct{}), done: make(chan struct{})}
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
