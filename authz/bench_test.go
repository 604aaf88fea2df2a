package authz_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

// BenchmarkAllowed measures in-process checks over a world of 2,000 users in
// 200 accounts, for each kind of membership including a delegate chain.
func BenchmarkAllowed(b *testing.B) {
	db, err := openSQLite(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var internalU, externalU, delegateU, grantU, elevatedU, account string
	err = db.InTx(ctx, func(tx steward.Store) error {
		var accounts []string
		for i := range 200 {
			a := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: fmt.Sprint("A", i), Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
			accounts = append(accounts, a.ID)
		}
		account = accounts[0]
		// The account keeps a permission from outsiders (R-GUARD-3).
		if err := tx.PutPolicy(ctx, account, &steward.AccountPolicy{NeverDelegable: []string{"crm.deals.view"}}); err != nil {
			return err
		}
		var parent *steward.Membership
		for i := range 2000 {
			u := &steward.User{ID: steward.NewID(steward.PrefixUser, t0), Email: fmt.Sprintf("u%d@example.com", i), Name: "U", HomeAccountID: accounts[i%200], Status: steward.UserActive, CreatedAt: t0, UpdatedAt: t0}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			for j := range 5 {
				m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, t0), AccountID: accounts[(i+j*37)%200], UserID: u.ID, Kind: steward.KindInternal,
					Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{"reports.view", "crm.deals.view"}, GrantedBy: "operator", CreatedAt: t0, UpdatedAt: t0}
				switch {
				case i == 1 && j == 0:
					m.AccountID, m.Kind, m.AllowRedelegation = account, steward.KindExternal, true
					parent, externalU = m, u.ID
				case i == 2 && j == 0:
					m.AccountID, m.Kind, m.ParentID = account, steward.KindDelegate, parent.ID
					delegateU = u.ID
				case i == 3 && j == 0: // reports.view through an access request's grant with an end (R-REQUEST-2)
					end := t0.Add(1000 * 24 * time.Hour)
					m.AccountID, m.Kind, m.Permissions = account, steward.KindExternal, []string{"crm.deals.view"}
					m.Grants = []steward.Grant{{Permissions: []string{"tickets.view"}, EndsAt: &end}, {Permissions: []string{"reports.view"}, EndsAt: &end}}
					grantU = u.ID
				case i == 4 && j == 0: // reports.view through an active elevation (R-ELEVATE-2)
					start, end := t0.Add(-time.Hour), t0.Add(1000*24*time.Hour)
					m.AccountID, m.Permissions = account, []string{"crm.deals.view"}
					m.Grants = []steward.Grant{{Permissions: []string{"reports.view"}, StartsAt: &start, EndsAt: &end, ElevationID: "elv_bench"}}
					elevatedU = u.ID
				case i == 0 && j == 0:
					internalU = u.ID
				case m.AccountID == account:
					continue
				}
				if err := tx.CreateMembership(ctx, m); err != nil {
					return err
				}
			}
		}
		_, err := tx.AppendChanges(ctx, nil)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	ix := authz.New(db, cat, nil)
	if err := ix.Load(ctx); err != nil {
		b.Fatal(err)
	}
	at := time.Now().UnixMicro()
	for _, bc := range []struct{ name, user string }{{"Internal", internalU}, {"External", externalU}, {"Delegate", delegateU}, {"ExternalGrant", grantU}, {"Elevated", elevatedU}} {
		if !ix.Allowed(bc.user, account, "reports.view", at) {
			b.Fatalf("%s: not allowed", bc.name)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ix.Allowed(bc.user, account, "reports.view", at) {
					b.Fatal("denied")
				}
			}
		})
	}
	// A user's account listing without a permission (SPEC §4 "Listings"):
	// five accounts, each with its effective permissions.
	now := time.Now()
	if items, _ := ix.FindUserAccounts(internalU, "", now, "", steward.DefaultPageLimit); len(items) != 5 {
		b.Fatalf("FindUserAccounts = %d accounts, want 5", len(items))
	}
	b.Run("UserAccounts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ix.FindUserAccounts(internalU, "", now, "", steward.DefaultPageLimit)
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ix.Allowed(delegateU, account, "reports.view", at)
			}
		})
	})
}

// TestRGUARD3_AllowedDoesNotAllocate checks that the in-process check stays
// free of allocations with a policy's never-delegable permissions and
// request grants with an end (R-GUARD-3, R-REQUEST-2).
func TestRGUARD3_AllowedDoesNotAllocate(t *testing.T) {
	db, err := openSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acc := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: "A", Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
	home := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: "H", Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
	u := &steward.User{ID: steward.NewID(steward.PrefixUser, t0), Email: "x@example.com", Name: "X", HomeAccountID: home.ID, Status: steward.UserActive, CreatedAt: t0, UpdatedAt: t0}
	end := t0.Add(time.Hour)
	m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, t0), AccountID: acc.ID, UserID: u.ID, Kind: steward.KindExternal, Status: steward.StatusActive,
		Role: steward.RoleMember, Permissions: []string{"crm.deals.view"}, GrantedBy: "operator", CreatedAt: t0, UpdatedAt: t0,
		Grants: []steward.Grant{{Permissions: []string{"reports.view"}, GrantedBy: "operator", EndsAt: &end}}}
	err = db.InTx(ctx, func(tx steward.Store) error {
		for _, a := range []*steward.Account{acc, home} {
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateMembership(ctx, m); err != nil {
			return err
		}
		if err := tx.PutPolicy(ctx, acc.ID, &steward.AccountPolicy{NeverDelegable: []string{"crm.deals.view"}}); err != nil {
			return err
		}
		_, err := tx.AppendChanges(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ix := authz.New(db, cat, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	at := t0.UnixMicro()
	for _, c := range []struct {
		perm string
		at   int64
		want bool
	}{{"reports.view", at, true}, {"reports.view", end.UnixMicro(), false}, {"crm.deals.view", at, false}} {
		if got := ix.Allowed(u.ID, acc.ID, c.perm, c.at); got != c.want {
			t.Errorf("Allowed(%s at %d) = %v, want %v", c.perm, c.at, got, c.want)
		}
		if n := testing.AllocsPerRun(100, func() { ix.Allowed(u.ID, acc.ID, c.perm, c.at) }); n != 0 {
			t.Errorf("Allowed(%s) allocates %v times, want 0", c.perm, n)
		}
	}
}

// TestRELEVATE2_AllowedDoesNotAllocate checks that the in-process check
// stays free of allocations for an elevated membership, and that the
// elevation holds only within [starts_at, ends_at) (R-ELEVATE-2).
func TestRELEVATE2_AllowedDoesNotAllocate(t *testing.T) {
	db, err := openSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acc := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: "A", Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
	u := &steward.User{ID: steward.NewID(steward.PrefixUser, t0), Email: "x@example.com", Name: "X", HomeAccountID: acc.ID, Status: steward.UserActive, CreatedAt: t0, UpdatedAt: t0}
	start, end := t0.Add(time.Hour), t0.Add(2*time.Hour)
	m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, t0), AccountID: acc.ID, UserID: u.ID, Kind: steward.KindInternal, Status: steward.StatusActive,
		Role: steward.RoleMember, Permissions: []string{"crm.deals.view"}, GrantedBy: "operator", CreatedAt: t0, UpdatedAt: t0,
		Grants: []steward.Grant{{Permissions: []string{"reports.view"}, GrantedBy: "operator", StartsAt: &start, EndsAt: &end, ElevationID: "elv_x"}}}
	err = db.InTx(ctx, func(tx steward.Store) error {
		if err := tx.CreateAccount(ctx, acc); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateMembership(ctx, m); err != nil {
			return err
		}
		_, err := tx.AppendChanges(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ix := authz.New(db, cat, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		perm string
		at   time.Time
		want bool
	}{
		{"reports.view", start.Add(-time.Second), false}, {"reports.view", start, true}, {"reports.view", end.Add(-time.Second), true},
		{"reports.view", end, false}, {"reports.view", end.Add(time.Second), false}, {"crm.deals.view", t0, true},
	} {
		at := c.at.UnixMicro()
		if got := ix.Allowed(u.ID, acc.ID, c.perm, at); got != c.want {
			t.Errorf("Allowed(%s at %s) = %v, want %v", c.perm, c.at, got, c.want)
		}
		if n := testing.AllocsPerRun(100, func() { ix.Allowed(u.ID, acc.ID, c.perm, at) }); n != 0 {
			t.Errorf("Allowed(%s) allocates %v times, want 0", c.perm, n)
		}
	}
	res, err := ix.Check(ctx, steward.CheckRequest{UserID: u.ID, AccountID: acc.ID, Permission: "reports.view", At: &start}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason.Source != "elevation" || res.Reason.Elevation == nil || res.Reason.Elevation.ID != "elv_x" || !res.Reason.Elevation.EndsAt.Equal(end) {
		t.Errorf("reason = %+v, want the elevation elv_x ending %s", res.Reason, end)
	}
}
