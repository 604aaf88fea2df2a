package synth_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/internal/synth"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
)

type store interface {
	synth.Bulk
	authz.Source
	Migrate(ctx context.Context) error
	Close() error
}

// TestGenerate builds a small world in each store and checks that the index
// loads it and allows every sample.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
		if err != nil {
			t.Fatal(err)
		}
		testGenerate(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(ctx, pgtest.NewDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		testGenerate(t, db)
	})
}

func testGenerate(t *testing.T, db store) {
	ctx := context.Background()
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	size := synth.Size{Accounts: 50, Partners: 5, Users: 500, MembershipsPerUser: 4, PartnerShare: 1, DelegateShare: 0.3,
		BigAccountMembers: 100, BigPartnerClients: 20, Seed: 7}
	w, err := synth.Generate(ctx, db, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Memberships != 2000 {
		t.Errorf("Memberships = %d, want 2000", w.Memberships)
	}
	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	ix := authz.New(db, cat, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := map[steward.MembershipKind]bool{}
	for _, s := range w.Samples {
		kinds[s.Kind] = true
		if s.Kind == steward.KindPartner {
			continue // partner access also needs the relationship, which the caller writes
		}
		if !ix.Allowed(s.UserID, s.AccountID, s.Permission, time.Now().UnixMicro()) {
			t.Errorf("sample %+v is denied", s)
		}
	}
	for _, k := range []steward.MembershipKind{steward.KindInternal, steward.KindExternal, steward.KindDelegate, steward.KindPartner} {
		if !kinds[k] {
			t.Errorf("no sample of kind %s", k)
		}
	}
	items, _ := ix.FindAccess(w.BigAccount, synth.Perm, time.Now(), "", 500)
	if len(items) < 100 {
		t.Errorf("big account lists %d members with %s on the first page, want at least 100", len(items), synth.Perm)
	}
}
