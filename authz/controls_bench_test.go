package authz_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

// BenchmarkAllowedUnderControls times the in-process check with the
// controls in play (R-GUARD-3, R-REQUEST-2): the account keeps two
// permissions from outsiders, and an external user holds reports.view
// through an access request's grant with an end date. Each sub-benchmark
// reports the median time of a check over batches of 1,000
// (median-ns/check; ns/op is a whole batch) and its allocations.
//
//	go test -run xxx -bench AllowedUnderControls -benchtime 2s ./authz
func BenchmarkAllowedUnderControls(b *testing.B) {
	db, err := openSQLite(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	acc := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: "Client", Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
	home := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: "Home", Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
	end := t0.Add(1000 * 24 * time.Hour)
	var ext, internal string
	err = db.InTx(ctx, func(tx steward.Store) error {
		for _, a := range []*steward.Account{acc, home} {
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
		}
		if err := tx.PutPolicy(ctx, acc.ID, &steward.AccountPolicy{NeverDelegable: steward.NewSet("crm.deals.edit", steward.PermBillingManage)}); err != nil {
			return err
		}
		for i := range 1000 { // other members of the account
			u := &steward.User{ID: steward.NewID(steward.PrefixUser, t0), Email: fmt.Sprintf("m%d@example.com", i), Name: "M", HomeAccountID: home.ID, Status: steward.UserActive, CreatedAt: t0, UpdatedAt: t0}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, t0), AccountID: acc.ID, UserID: u.ID, Kind: steward.KindExternal,
				Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{"crm.contacts.view", "crm.deals.edit"}, EndsAt: &end,
				GrantedBy: "operator", CreatedAt: t0, UpdatedAt: t0}
			if i == 0 {
				m.Grants = []steward.Grant{{Permissions: []string{"tickets.view"}, GrantedBy: "operator", EndsAt: &end, RequestID: "req_a", CreatedAt: t0},
					{Permissions: []string{"reports.view"}, GrantedBy: "operator", EndsAt: &end, RequestID: "req_b", CreatedAt: t0}}
				ext = u.ID
			}
			if i == 1 {
				m.Kind, m.EndsAt, m.Permissions = steward.KindInternal, nil, []string{"crm.deals.edit", "reports.view"}
				internal = u.ID
			}
			if err := tx.CreateMembership(ctx, m); err != nil {
				return err
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
	at := t0.Add(time.Hour).UnixMicro()
	for _, bc := range []struct {
		name, user, perm string
		want             bool
	}{
		{"ExternalThroughGrant", ext, "reports.view", true},
		{"ExternalNeverDelegable", ext, "crm.deals.edit", false},
		{"ExternalOwnPermission", ext, "crm.contacts.view", true},
		{"InternalUnderPolicy", internal, "crm.deals.edit", true},
	} {
		if got := ix.Allowed(bc.user, acc.ID, bc.perm, at); got != bc.want {
			b.Fatalf("%s: Allowed = %v, want %v", bc.name, got, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			const batch = 1000
			perCheck := make([]float64, 0, 1<<16) // allocated before the timed loop
			for b.Loop() {
				start := time.Now()
				ok := true
				for range batch {
					ok = ok && ix.Allowed(bc.user, acc.ID, bc.perm, at) == bc.want
				}
				if !ok {
					b.Fatal("the answer changed")
				}
				if len(perCheck) < cap(perCheck) {
					perCheck = append(perCheck, float64(time.Since(start).Nanoseconds())/batch)
				}
			}
			slices.Sort(perCheck)
			b.ReportMetric(perCheck[len(perCheck)/2], "median-ns/check")
		})
	}
}
