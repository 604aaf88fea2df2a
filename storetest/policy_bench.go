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
	client, owner := w.Account(steward.AccountStandard)
	partner, _ := w.Account(steward.AccountPartner)
	home, _ := w.Account(steward.AccountStandard)
	staff := w.Role(client.ID, "Staff", "crm.contacts.view", "reports.view")
	created := w.Now
	var sample string
	err := st.InTx(ctx, func(tx steward.Store) error {
		rel := &steward.Relationship{ID: steward.NewID(steward.PrefixRelationship, created), PartnerID: partner.ID, ClientID: client.ID, Alias: "Client",
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
			m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, created), AccountID: client.ID, UserID: u.ID, Kind: kind,
				Status: steward.StatusActive, Role: staff.ID, Permissions: []string{"crm.contacts.view", "reports.view"}, GrantedBy: owner.ID,
				CreatedAt: created, UpdatedAt: created}
			if kind == steward.KindPartner {
				m.PartnerID, m.ManagedBy = partner.ID, partner.ID
			}
			if err := tx.CreateMembership(ctx, m); err != nil {
				return err
			}
			sample = u.ID
		}
		_, err := tx.AppendChanges(ctx, []steward.Change{{AccountID: client.ID, Entity: "account", EntityID: client.ID, Time: created}})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
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
			MaxPartnerDays: Optional(days), MaxExternalDays: Optional(days), NeverDelegable: Optional(never)})
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

// Optional returns a set field of a partial update.
func Optional[T any](v T) steward.Optional[T] { return steward.Optional[T]{Set: true, Value: v} }
