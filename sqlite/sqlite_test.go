package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/storetest"
)

// MustOpen opens and migrates a fresh SQLite database in a temporary folder.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "steward.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB) steward.Store { return MustOpen(t) })
}

func TestCheckSchema(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.RunSchema(t, db)
}
