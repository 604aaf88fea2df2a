package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
		// One statement: the revision row is locked from here to the commit.
		AppendChanges: `WITH r AS (UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value),
			c AS (INSERT INTO changes (revision, n, account_id, entity, entity_id, time)
				SELECT r.value, x.n - 1, x.account_id, x.entity, x.entity_id, $4 FROM r,
				unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(account_id, entity, entity_id, n))
			SELECT r.value FROM r, LATERAL (SELECT pg_notify('` + ChangesChannel + `', r.value::text)) AS notified`,
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
