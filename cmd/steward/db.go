package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
)

// database is what the commands need of a store: the Store itself, what the
// check index loads from, and the schema operations.
type database interface {
	steward.Store
	authz.Source
	// Migrate applies pending migrations.
	Migrate(ctx context.Context) error
	// CheckSchema fails, saying to run `steward migrate`, when migrations are pending.
	CheckSchema(ctx context.Context) error
	// OutboxStats counts the mail waiting in the outbox, for metrics.
	OutboxStats(ctx context.Context, givenUp time.Time) (int, time.Time, error)
	Close() error
}

// openDatabase opens the store named by dsn with no bound on its waits, for
// the commands that run once (migrate, demo, bench, audit).
func openDatabase(ctx context.Context, dsn string) (database, error) {
	return openDatabaseTimeout(ctx, dsn, 0)
}

// openDatabaseTimeout opens the store named by dsn; timeout bounds every wait
// for the database (zero: none). This is the one place that picks a
// backend: sqlite:PATH is a SQLite file (created if missing), a postgres://
// or postgresql:// URL a PostgreSQL database.
func openDatabaseTimeout(ctx context.Context, dsn string, timeout time.Duration) (database, error) {
	scheme, rest, _ := strings.Cut(dsn, ":")
	switch strings.ToLower(scheme) {
	case "sqlite":
		// sqlite:///var/lib/steward.db is accepted as well as sqlite:/var/lib/steward.db.
		path := strings.TrimPrefix(rest, "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("--db %q: give a file path after sqlite:, e.g. sqlite:steward.db or sqlite:/var/lib/steward/steward.db", dsn)
		}
		db, err := sqlite.Open(path, sqlite.WithTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("%w (check that the directory of %s exists and is writable)", err, path)
		}
		return db, nil
	case "postgres", "postgresql":
		return postgres.Open(ctx, dsn, postgres.WithTimeout(timeout))
	default:
		return nil, fmt.Errorf("--db %q: use sqlite:PATH (e.g. sqlite:steward.db) or a postgres://user:pass@host:5432/db URL", redactDSN(dsn))
	}
}

// sqlitePath returns the file of a sqlite: DSN, and whether dsn is one.
func sqlitePath(dsn string) (string, bool) {
	scheme, rest, _ := strings.Cut(dsn, ":")
	if !strings.EqualFold(scheme, "sqlite") {
		return "", false
	}
	return strings.TrimPrefix(rest, "//"), true
}

// singleProcess reports a store that one process uses at a time: SQLite.
func singleProcess(db database) bool {
	_, ok := db.(*sqlite.DB)
	return ok
}

// hostOf returns the host name of a URL as a Message-ID can end with it
// (an IPv6 address in brackets), or "" when it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if h := u.Hostname(); strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return u.Hostname()
}

// sessionStore returns the console's session store over db and the function
// that stops its cleanup.
func sessionStore(db database) (scs.Store, func()) {
	const cleanup = 5 * time.Minute
	switch db := db.(type) {
	case *sqlite.DB:
		st := db.SessionStore(cleanup)
		return st, st.StopCleanup
	case *postgres.DB:
		st := db.SessionStore(cleanup)
		return st, st.StopCleanup
	}
	panic(fmt.Sprintf("no session store for %T", db)) // openDatabase returns only these
}

// redactDSN hides the password of a database URL, for logs and messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		scheme, _, _ := strings.Cut(dsn, ":")
		return scheme + ":…"
	}
	return u.Redacted()
}
