package authz_test

import (
	"testing"

	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/synth"
)

// BenchmarkLoad loads the index from a world of 200,000 memberships.
func BenchmarkLoad(b *testing.B) {
	db, err := openSQLite(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	size := synth.Default
	size.Accounts, size.Partners, size.Users, size.MembershipsPerUser = 4000, 200, 40000, 5
	if _, err := synth.Generate(ctx, db, size, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := authz.New(db, cat, nil).Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
