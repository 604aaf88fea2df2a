package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/pressly/goose/v3"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite database holding Steward's state; it implements steward.Store.
type DB struct {
	*sqlstore.Store
	db       *sql.DB
	migrator *goose.Provider
}

var _ steward.Store = (*DB)(nil)

// Open opens, creating if needed, the SQLite database at path. It does not
// migrate; call Migrate or CheckSchema.
func Open(path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(NORMAL)", "cache_size(-32768)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers queue for the lock instead of failing with SQLITE_BUSY
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	migrator, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	store := sqlstore.New(db, sqlstore.Dialect{
		Name:            "sqlite",
		Translate:       translate,
		Retryable:       func(error) bool { return false },
		SerializeWrites: true,
		BulkPragma:      "PRAGMA cache_size = -1048576", // 1 GiB
		NormalPragma:    "PRAGMA cache_size = -32768",
	})
	return &DB{Store: store, db: db, migrator: migrator}, nil
}

// Migrate applies pending migrations, each in its own transaction.
func (db *DB) Migrate(ctx context.Context) error {
	if _, err := db.migrator.Up(ctx); err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
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

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

func translate(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &steward.Error{Kind: steward.ECONFLICT, Code: "duplicate", Message: "It already exists."}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &steward.Error{Kind: steward.EINVALID, Code: "unknown_reference", Message: "It refers to something that does not exist."}
		}
	}
	return nil
}
