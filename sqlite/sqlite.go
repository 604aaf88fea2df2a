package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/pressly/goose/v3"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is a SQLite database holding Steward's state; it implements steward.Store.
type DB struct {
	*sqlstore.Store
	*sqlstore.Migrator
	db *sql.DB
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
	migrator, err := sqlstore.NewMigrator(db, goose.DialectSQLite3)
	if err != nil {
		db.Close()
		return nil, err
	}
	store := sqlstore.New(db, sqlstore.Dialect{
		Name:            "sqlite",
		Translate:       translate,
		Retryable:       func(error) bool { return false },
		SerializeWrites: true,
		CacheStatements: true,                           // the driver parses every statement it is handed otherwise
		BulkPragma:      "PRAGMA cache_size = -1048576", // 1 GiB
		NormalPragma:    "PRAGMA cache_size = -32768",
	})
	return &DB{Store: store, Migrator: migrator, db: db}, nil
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
