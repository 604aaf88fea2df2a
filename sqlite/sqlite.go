package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
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

// Option configures Open.
type Option func(*options)

type options struct{ timeout time.Duration }

// WithTimeout bounds every wait for the database: the process's writer lock,
// the file lock another process holds (SQLite's busy timeout) and each
// statement. A wait that runs out answers a retryable EUNAVAILABLE. Zero
// (the default) sets no bound of the store's own and a busy timeout of 5 s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Open opens, creating if needed, the SQLite database at path. It does not
// migrate; call Migrate or CheckSchema.
func Open(path string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	busy := 5 * time.Second
	if o.timeout > 0 {
		busy = o.timeout
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()), "foreign_keys(1)", "synchronous(NORMAL)", "cache_size(-32768)"} {
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
		Unavailable:     unavailable,
		SerializeWrites: true,
		CacheStatements: true,                           // the driver parses every statement it is handed otherwise
		BulkPragma:      "PRAGMA cache_size = -1048576", // 1 GiB
		NormalPragma:    "PRAGMA cache_size = -32768",
	}, o.timeout)
	return &DB{Store: store, Migrator: migrator, db: db}, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Stats returns the statistics of the connection pool, for metrics.
func (db *DB) Stats() sql.DBStats { return db.db.Stats() }

// unavailable reports a database file that stayed locked by another process
// beyond the busy timeout, or a statement interrupted because its wait ran out.
func unavailable(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
			return true
		}
	}
	return false
}

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

// SessionStore is the console's session store over this database (the
// sessions table): sqlite3store's, which also writes the user each session
// signs in, so that revoking the user deletes its sessions (R-REVOKE-2).
type SessionStore struct {
	*sqlite3store.SQLite3Store
	db *sql.DB
}

// SessionStore returns the console's session store over this database;
// expired sessions are deleted every cleanup interval until its StopCleanup
// is called.
func (db *DB) SessionStore(cleanup time.Duration) *SessionStore {
	return &SessionStore{SQLite3Store: sqlite3store.NewWithCleanupInterval(db.db, cleanup), db: db.db}
}

// Commit keeps the session and the user it signs in.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	if err := s.SQLite3Store.Commit(token, b, expiry); err != nil {
		return err
	}
	_, err := s.db.Exec(`UPDATE sessions SET user_id = ? WHERE token = ?`, sqlstore.SessionUser(b), token)
	return err
}
