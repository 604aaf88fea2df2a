package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a PostgreSQL database holding Steward's state; it implements steward.Store.
type DB struct {
	*sqlstore.Store
	Pool     *pgxpool.Pool
	db       *sql.DB
	migrator *goose.Provider
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
	sub, _ := fs.Sub(migrations, "migrations")
	migrator, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	store := sqlstore.New(db, sqlstore.Dialect{
		Name:      "postgres",
		ForUpdate: " FOR UPDATE",
		Translate: translate,
		Retryable: retryable,
		Notify:    `SELECT pg_notify('` + ChangesChannel + `', $1)`,
	})
	return &DB{Store: store, Pool: pool, db: db, migrator: migrator}, nil
}

// Migrate applies pending migrations, each in its own transaction.
func (db *DB) Migrate(ctx context.Context) error {
	if _, err := db.migrator.Up(ctx); err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	return nil
}

// CheckSchema returns an error naming the fix when migrations are pending.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, target, err := db.migrator.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current < target {
		return fmt.Errorf("the database schema is at version %d, this steward needs %d: run `steward migrate`", current, target)
	}
	return nil
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
