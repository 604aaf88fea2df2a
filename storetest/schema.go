package storetest

import (
	"context"
	"testing"
)

// Schema is a store that migrates itself.
type Schema interface {
	Migrate(ctx context.Context) error
	CheckSchema(ctx context.Context) error
}

// RunSchema checks migrations on a store opened on an empty database: before
// Migrate, CheckSchema refuses (naming steward migrate); after, it passes,
// and migrating again changes nothing.
func RunSchema(t *testing.T, db Schema) {
	ctx := context.Background()
	if err := db.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema on an empty database = nil, want an error naming steward migrate")
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after Migrate = %v", err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("a second Migrate = %v, want nothing to do", err)
	}
}
