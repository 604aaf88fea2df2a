package postgres_test

import (
	"context"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/storetest"
)

// MustOpen opens and migrates a fresh database on the test server.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), pgtest.NewDSN(tb))
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
	db, err := postgres.Open(context.Background(), pgtest.NewDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.RunSchema(t, db)
}
