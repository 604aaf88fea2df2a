package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

// BenchPolicyChange times a policy change over an account with n outside
// memberships (half partner employees, half external users), from the
// request to the moment a check on the index following the change feed
// answers under it (R-GUARD-4): each iteration lowers the maximum days of
// partners and externals by one, which clips every membership's end, and
// toggles a never-delegable permission that all of them hold. The index is
// kicked on commit as `steward serve` does. It reports the memberships
// each change affected.
//
//	go test -run xxx -bench PolicyChange ./sqlite ./postgres
func BenchPolicyChange(b *testing.B, st steward.Store, n int) {
	w := NewWorld(b, st)
	o := newOutsiders(b, w, n)
	client, owner, created := o.client, o.owner, o.created
	sample := o.users[len(o.users)-1]
	src, ok := st.(authz.Source)
	if !ok {
		b.Fatalf("%T cannot feed the check index", st)
	}
	ix := authz.New(src, w.Svc.Catalogue, nil)
	if err := ix.Load(ctx); err != nil {
		b.Fatal(err)
	}
	w.Svc.Checker = ix
	w.Svc.OnCommit = ix.OnCommit // a write answers once this node's index applied it

	as := w.As(owner.ID)
	days, affected := 3000, 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		days--
		never := []string{}
		if i%2 == 0 {
			never = []string{"reports.view"}
		}
		ch, rev, err := w.Svc.UpdatePolicy(as, client.ID, steward.PolicyUpdate{
			MaxPartnerDays: setPolicy(days), MaxExternalDays: setPolicy(days), NeverDelegable: setPolicy(never)})
		if err != nil {
			b.Fatal(err)
		}
		affected = len(ch.Affected)

		// Visible to checks: the index has applied the change and answers under it.
		if ix.Applied() < rev {
			if err := ix.CatchUp(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		res, err := ix.Check(ctx, steward.CheckRequest{UserID: sample, AccountID: client.ID, Permission: "crm.contacts.view"}, w.Now)
		if err != nil {
			b.Fatal(err)
		}
		want := created.Add(time.Duration(days) * 24 * time.Hour)
		if !res.Allowed || res.Reason.EndsAt == nil || !res.Reason.EndsAt.Equal(want) {
			b.Fatalf("after the change the check answers %v ending %v, want allowed ending %s", res.Allowed, res.Reason.EndsAt, want)
		}
		if ix.Allowed(sample, client.ID, "reports.view", w.Now.UnixMicro()) != (len(never) == 0) {
			b.Fatalf("reports.view after never_delegable %v", never)
		}
	}
	b.ReportMetric(float64(affected), "memberships/op")
}

// outsiders is an account with many outside memberships, written straight
// to the store: half partner employees (of one partner, with an active
// relationship), half external users, all created at the same time.
type outsiders struct {
	client  *steward.Account
	owner   *steward.User
	partner string
	users   []string
	created time.Time
}

func newOutsiders(tb testing.TB, w *World, n int) *outsiders {
	o := &outsiders{created: w.Now}
	o.client, o.owner = w.Account(steward.AccountStandard)
	partner, _ := w.Account(steward.AccountPartner)
	o.partner = partner.ID
	home, _ := w.Account(steward.AccountStandard)
	staff := w.Role(o.client.ID, "Staff", "crm.contacts.view", "reports.view")
	created := o.created
	err := w.Store.InTx(ctx, func(tx steward.Store) error {
		rel := &steward.Relationship{ID: steward.NewID(steward.PrefixRelationship, created), PartnerID: partner.ID, ClientID: o.client.ID, Alias: "Client",
			Status: steward.RelationshipActive, LastActivityAt: created, CreatedAt: created, UpdatedAt: created}
		if err := tx.CreateRelationship(ctx, rel); err != nil {
			return err
		}
		for i := range n {
			h, kind := home.ID, steward.KindExternal
			if i%2 == 0 {
				h, kind = partner.ID, steward.KindPartner
			}
			u := &steward.User{ID: steward.NewID(steward.PrefixUser, created), Email: fmt.Sprintf("outsider%d@bench.example", i), Name: "Outsider",
				HomeAccountID: h, Status: steward.UserActive, CreatedAt: created, UpdatedAt: created}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, created), AccountID: o.client.ID, UserID: u.ID, Kind: kind,
				Status: steward.StatusActive, Role: staff.ID, Permissions: []string{"crm.contacts.view", "reports.view"}, GrantedBy: o.owner.ID,
				CreatedAt: created, UpdatedAt: created}
			if kind == steward.KindPartner {
				m.PartnerID, m.ManagedBy = partner.ID, partner.ID
			}
			if err := tx.CreateMembership(ctx, m); err != nil {
				return err
			}
			o.users = append(o.users, u.ID)
		}
		_, err := tx.AppendChanges(ctx, []steward.Change{{AccountID: o.client.ID, Entity: "account", EntityID: o.client.ID, Time: created}})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// testRGuard4Many: a tightening that clips a hundred outsiders at once (the
// store writes their ends together, the index reads the account's
// memberships in pages) reaches every one of them in the index and the
// store alike.
func testRGuard4Many(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	o := newOutsiders(t, w, 100)
	ix := w.index(t)
	ch := w.policy(t, o.owner.ID, o.client.ID, steward.PolicyUpdate{MaxPartnerDays: setPolicy(10), MaxExternalDays: setPolicy(10),
		NeverDelegable: setPolicy([]string{"reports.view"})})
	if len(ch.Affected) != 200 {
		t.Errorf("%d affected, want 100 clipped and 100 losing reports.view", len(ch.Affected))
	}
	end := o.created.Add(10 * 24 * time.Hour)
	for _, u := range o.users {
		if !w.checkBoth(t, ix, u, o.client.ID, "crm.contacts.view", end.Add(-time.Second)) || w.checkBoth(t, ix, u, o.client.ID, "crm.contacts.view", end) ||
			w.checkBoth(t, ix, u, o.client.ID, "reports.view", w.Now) {
			t.Fatalf("user %s after the tightening: not clipped to %s or still holding reports.view", u, end)
		}
		m := w.Member(o.client.ID, u)
		if m.Kind == steward.KindPartner {
			continue // R-LIFE-1: it ends with its relationship, checked below
		}
		if m.EndsAt == nil || !m.EndsAt.Equal(end) {
			t.Fatalf("user %s ends_at = %v, want %s", u, m.EndsAt, end)
		}
	}
	if r, err := w.Store.FindRelationship(ctx, o.partner, o.client.ID); err != nil || r.EndsAt == nil || !r.EndsAt.Equal(end) {
		t.Fatalf("relationship after the tightening: %v, %v; want it ending %s", r, err, end)
	}
	// Loosening gives reports.view back, everywhere at once.
	w.policy(t, o.owner.ID, o.client.ID, steward.PolicyUpdate{NeverDelegable: setPolicy([]string{})})
	for _, u := range o.users {
		if !w.checkBoth(t, ix, u, o.client.ID, "reports.view", w.Now) {
			t.Fatalf("user %s lacks reports.view after the loosening", u)
		}
	}
}
