package authz_test

import (
	"context"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
)

// node is one steward process: a service over its own store handle, with an
// index that follows the change feed.
type node struct {
	svc *steward.Service
	ix  *authz.Index
}

func startNode(t *testing.T, st steward.Store, src authz.Source, listen func(ctx context.Context, kick func())) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ix := authz.New(src, cat, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	kick := authz.NewKicker()
	svc := steward.NewService(st, cat, nil)
	svc.Checker = ix
	svc.OnCommit = func(int64) { kick.Kick() }
	go ix.Follow(ctx, kick, time.Minute) // a long poll: the test must pass on kicks alone
	if listen != nil {
		go listen(ctx, kick.Kick)
	}
	return &node{svc: svc, ix: ix}
}

// readYourWrites writes on node a and checks on every node with the write's
// revision as min_revision (R-CHECK-3).
func readYourWrites(t *testing.T, a *node, others ...*node) {
	acc, rev, err := a.svc.CreateAccount(op, steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "owner@acme.example", Name: "Owner"}})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := a.svc.Store.FindUserByEmail(context.Background(), "owner@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range append([]*node{a}, others...) {
		res, err := n.svc.Check(op, steward.CheckRequest{UserID: owner.ID, AccountID: acc.ID, Permission: "reports.view", MinRevision: rev})
		if err != nil {
			t.Fatalf("node %d: Check(min_revision=%d): %v", i, rev, err)
		}
		if !res.Allowed || res.Revision < rev {
			t.Errorf("node %d: Check = %+v, want allowed at revision ≥ %d", i, res, rev)
		}
	}
	// Without min_revision the other nodes see a write soon after, on the
	// notification alone.
	u, _, err := a.svc.CreateUser(op, steward.NewUser{Email: "second@acme.example", Name: "Second", HomeAccountID: acc.ID, Role: steward.RoleSuperAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range others {
		deadline := time.Now().Add(5 * time.Second)
		for !n.ix.Allowed(u.ID, acc.ID, "reports.view", time.Now().UnixMicro()) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: the write is not visible after 5s", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A revision from the future is a retryable refusal, not a wait forever.
	ctx, cancel := context.WithTimeout(op, 50*time.Millisecond)
	defer cancel()
	_, err = a.ix.Check(ctx, steward.CheckRequest{UserID: owner.ID, AccountID: acc.ID, Permission: "reports.view", MinRevision: 1 << 40}, time.Now())
	if steward.ErrorKind(err) != steward.EUNAVAILABLE || steward.ErrorCode(err) != "revision_not_applied" {
		t.Errorf("Check(min_revision from the future) err = %v, want EUNAVAILABLE revision_not_applied", err)
	}
}

func TestRCHECK3_ReadYourWritesSQLite(t *testing.T) {
	db, err := openSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	readYourWrites(t, startNode(t, db, db, nil))
}

func TestRCHECK3_ReadYourWritesAcrossPostgresNodes(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	var nodes []*node
	for range 3 {
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startNode(t, db, db, func(ctx context.Context, kick func()) {
			db.Listen(ctx, nil, kick, kick)
		}))
	}
	readYourWrites(t, nodes[0], nodes[1:]...)
}

// TestIndexReloadsPastRetention: an index that missed revisions the feed no
// longer holds reloads whole instead of skipping them.
func TestIndexReloadsPastRetention(t *testing.T) {
	db, err := openSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ix := authz.New(db, cat, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	svc := steward.NewService(db, cat, nil) // no OnCommit: the index falls behind
	acc, _, err := svc.CreateAccount(op, steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "ada@acme.example", Name: "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	svc.CreateUser(op, steward.NewUser{Email: "bob@acme.example", Name: "Bob", HomeAccountID: acc.ID})
	if _, err := db.PruneChanges(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ix.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if !ix.Allowed(acc.Owner.ID, acc.ID, "reports.view", time.Now().UnixMicro()) {
		t.Error("after catching up past pruned revisions the owner is not known")
	}
	if rev, _ := db.CurrentRevision(ctx); ix.Applied() != rev {
		t.Errorf("Applied = %d, want %d", ix.Applied(), rev)
	}
}

// TestRELEVATE2_ElevationAcrossPostgresNodes: an elevation approved on one
// node holds on the others within [starts_at, ends_at), decided at each
// check's time, and its early end reaches them too (R-ELEVATE-2, R-CHECK-3).
func TestRELEVATE2_ElevationAcrossPostgresNodes(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	var nodes []*node
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for range 2 {
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		n := startNode(t, db, db, func(ctx context.Context, kick func()) {
			db.Listen(ctx, nil, kick, kick)
		})
		n.svc.Now = func() time.Time { return now }
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	acc, _, err := a.svc.CreateAccount(op, steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "owner@acme.example", Name: "Owner"}})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := a.svc.CreateUser(op, steward.NewUser{Email: "second@acme.example", Name: "Second", HomeAccountID: acc.ID, Role: steward.RoleSuperAdmin})
	if err != nil {
		t.Fatal(err)
	}
	member, _, err := a.svc.CreateUser(op, steward.NewUser{Email: "member@acme.example", Name: "Member", HomeAccountID: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	as := func(u string) context.Context {
		return steward.NewContextWithActor(context.Background(), &steward.Actor{UserID: u})
	}
	if _, _, err := a.svc.CreateEligibility(as(acc.Owner.ID), acc.ID, steward.NewEligibility{UserID: member.ID, Role: steward.RolePartnerAdmin, MaxMinutes: 60}); steward.ErrorCode(err) != "role_not_assignable" {
		t.Fatalf("eligibility of an internal member for partner_admin: %v", err)
	}
	if _, _, err := a.svc.CreateEligibility(as(acc.Owner.ID), acc.ID, steward.NewEligibility{UserID: member.ID, Role: steward.RoleSuperAdmin, MaxMinutes: 60, ApprovalRequired: true}); err != nil {
		t.Fatal(err)
	}
	pending, _, err := a.svc.RequestElevation(as(member.ID), acc.ID, steward.NewElevation{Role: steward.RoleSuperAdmin, Minutes: 45, Reason: "Incident"})
	if err != nil {
		t.Fatal(err)
	}
	approved, rev, err := a.svc.ApproveElevation(as(second.ID), acc.ID, pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	start, end := *approved.StartsAt, *approved.EndsAt
	check := func(n *node, at time.Time, rev int64) bool {
		t.Helper()
		res, err := n.svc.Check(op, steward.CheckRequest{UserID: member.ID, AccountID: acc.ID, Permission: steward.PermBillingManage, At: &at, MinRevision: rev})
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed && (res.Reason.Elevation == nil || res.Reason.Elevation.ID != pending.ID || !res.Reason.Elevation.EndsAt.Equal(end)) {
			t.Errorf("reason = %+v, want the elevation %s ending %s", res.Reason, pending.ID, end)
		}
		return res.Allowed
	}
	for i, n := range nodes {
		for _, c := range []struct {
			at   time.Time
			want bool
		}{{start, true}, {end.Add(-time.Second), true}, {end, false}, {end.Add(time.Second), false}} {
			if got := check(n, c.at, rev); got != c.want {
				t.Errorf("node %d at %s: allowed = %v, want %v", i, c.at, got, c.want)
			}
		}
	}
	// Ended early on node b, it stops holding on node a.
	now = now.Add(time.Minute)
	_, rev, err = b.svc.EndElevation(as(member.ID), acc.ID, pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if check(a, now, rev) {
		t.Error("node 0: the elevation holds after it was ended on node 1")
	}
}
