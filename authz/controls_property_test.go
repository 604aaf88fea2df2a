package authz_test

import (
	"flag"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"pgregory.net/rapid"
)

// controlsOps counts the random operations TestRCHECK1_RGUARD_RREQUEST2_RREVOKE_IndexFollowsTheControls ran.
var controlsOps int

// TestRCHECK1_RGUARD_RREQUEST2_RREVOKE_IndexFollowsTheControls: long random
// runs of the writes the controls of SPEC §6 make — policy changes through
// the service (never-delegable permissions, R-GUARD-3; maximum days that
// clip outsiders' ends, R-GUARD-4), access-request grants with end dates
// (R-REQUEST-2), revocations of a home account and of a user through the
// service (R-REVOKE-1, R-REVOKE-2), mixed with raw changes of memberships,
// users and relationships — each followed by the index over the change
// feed and compared with the store evaluation (R-CHECK-1): spot checks
// after every round, everything at the end of each world. At least 10,000
// operations run under the race detector (go test -race, as CI runs it),
// four times as many without it.
func TestRCHECK1_RGUARD_RREQUEST2_RREVOKE_IndexFollowsTheControls(t *testing.T) {
	worlds, perWorld := 40, 1000
	if raceEnabled {
		worlds, perWorld = 20, 500
	}
	f := flag.Lookup("rapid.checks")
	chosen := f != nil && f.Value.String() != f.DefValue // -rapid.checks given: run that many worlds
	if f != nil && !chosen {
		f.Value.Set(strconv.Itoa(worlds))
		defer f.Value.Set(f.DefValue)
	}
	controlsOps = 0
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp(memDir(), "authz")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		db, err := openSQLite(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		svc := steward.NewService(db, cat, nil)
		svc.Now = func() time.Time { return t0 }
		w := buildWorld(t, db)
		ix := authz.New(db, cat, nil)
		if err := ix.Load(ctx); err != nil {
			t.Fatal(err)
		}
		ops := 0
		for ops < perWorld {
			ops += controlsRound(t, db, svc, w)
			if err := ix.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			if rev, _ := db.CurrentRevision(ctx); ix.Applied() != rev {
				t.Fatalf("Applied = %d, want %d", ix.Applied(), rev)
			}
			spotCompare(t, ix, svc, w)
		}
		controlsOps += ops
		compare(t, ix, svc, w)
	})
	if !chosen && controlsOps < worlds*perWorld {
		t.Fatalf("%d random operations ran, want at least %d", controlsOps, worlds*perWorld)
	}
	t.Logf("%d random operations over %d worlds", controlsOps, worlds)
}

// controlsRound makes one round of changes and returns how many operations
// it made: a service write of the controls, or a transaction of raw store
// changes.
func controlsRound(t *rapid.T, db steward.Store, svc *steward.Service, w *world) int {
	switch rapid.IntRange(0, 9).Draw(t, "round") {
	case 0, 1: // R-GUARD-3, R-GUARD-4: a policy change through the service
		upd := steward.PolicyUpdate{NeverDelegable: steward.Optional[[]string]{Set: true, Value: drawPolicy(t).NeverDelegable}}
		for _, field := range []*steward.Optional[int]{&upd.MaxPartnerDays, &upd.MaxExternalDays} {
			switch rapid.IntRange(0, 3).Draw(t, "maxDays") {
			case 0:
				*field = steward.Optional[int]{Set: true, Value: rapid.IntRange(1, 5).Draw(t, "days")}
			case 1:
				*field = steward.Optional[int]{Set: true, Null: true}
			}
		}
		svc.UpdatePolicy(op, rapid.SampledFrom(w.accounts).Draw(t, "policyAccount"), upd) // refusals (last_super_admin) change nothing
	case 2: // R-REVOKE-1: everything of one home account in one account
		svc.RevokeHomeAccount(op, rapid.SampledFrom(w.accounts).Draw(t, "revokeIn"), rapid.SampledFrom(w.accounts).Draw(t, "revokeHome"))
	case 3: // R-REVOKE-2: a user everywhere
		svc.RevokeUser(op, rapid.SampledFrom(w.users).Draw(t, "revokeUser"))
	default:
		n := rapid.IntRange(1, 12).Draw(t, "mutations")
		if err := db.InTx(ctx, func(tx steward.Store) error {
			for range n {
				if err := rawMutation(t, tx, w); err != nil {
					return err
				}
			}
			_, err := tx.AppendChanges(ctx, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 1
}

// rawMutation makes one change straight in the store: access-request grants
// with end dates (R-REQUEST-2), new memberships of every kind, changed and
// deleted ones, users deactivated and reactivated, relationships changed.
func rawMutation(t *rapid.T, tx steward.Store, w *world) error {
	pickMember := func(label string) *steward.Membership {
		if len(w.members) == 0 {
			return nil
		}
		m := rapid.SampledFrom(w.members).Draw(t, label)
		cur, err := tx.FindMembershipByID(ctx, m.AccountID, m.ID)
		if err != nil {
			return nil
		}
		return cur
	}
	switch rapid.IntRange(0, 6).Draw(t, "raw") {
	case 0: // R-REQUEST-2: an approval adds a grant, with or without an end
		m := pickMember("grantTo")
		if m == nil || m.Kind == steward.KindDelegate || m.Kind == steward.KindInternal {
			return nil
		}
		m.Grants = append(m.Grants, drawGrants(t)...)
		return tx.UpdateMembership(ctx, m)
	case 1:
		m := pickMember("change")
		if m == nil {
			return nil
		}
		m.Permissions = drawPerms(t, "newPerms")
		m.Status = rapid.SampledFrom([]steward.MembershipStatus{steward.StatusActive, steward.StatusActive, steward.StatusDeactivated}).Draw(t, "newStatus")
		m.EndsAt = drawTime(t, "newEnds")
		if m.Kind == steward.KindExternal {
			m.AllowRedelegation = rapid.Bool().Draw(t, "newRedelegate")
		}
		return tx.UpdateMembership(ctx, m)
	case 2:
		m := pickMember("delete")
		if m == nil {
			return nil
		}
		if err := tx.DeleteMembership(ctx, m.AccountID, m.ID); err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
			return err
		}
	case 3:
		u, err := tx.FindUserByID(ctx, rapid.SampledFrom(w.users).Draw(t, "u"))
		if err != nil {
			return err
		}
		u.Status = rapid.SampledFrom([]steward.UserStatus{steward.UserActive, steward.UserActive, steward.UserDeactivated}).Draw(t, "us")
		return tx.UpdateUser(ctx, u)
	case 4: // a new membership of any kind, so that revocations do not empty the world
		account, userID := rapid.SampledFrom(w.accounts).Draw(t, "na"), rapid.SampledFrom(w.users).Draw(t, "nu")
		if _, err := tx.FindMembership(ctx, account, userID); err == nil {
			return nil
		}
		kind := rapid.SampledFrom([]steward.MembershipKind{steward.KindInternal, steward.KindExternal, steward.KindPartner, steward.KindDelegate}).Draw(t, "nk")
		var parent *steward.Membership
		if kind == steward.KindDelegate {
			ext, _, err := tx.FindMemberships(ctx, steward.MembershipFilter{AccountID: account, Kind: steward.KindExternal, Page: steward.Page{Limit: 10}})
			if err != nil {
				return err
			}
			if len(ext) == 0 {
				return nil
			}
			parent = rapid.SampledFrom(ext).Draw(t, "np")
		}
		m := drawMembership(t, w, account, userID, kind, parent)
		if kind == steward.KindPartner {
			m.PartnerID = rapid.SampledFrom(w.accounts).Draw(t, "npartner")
			if err := ensureRelationship(t, tx, m.PartnerID, account); err != nil {
				return err
			}
		}
		if err := tx.CreateMembership(ctx, m); err != nil {
			return err
		}
		w.members = append(w.members, m)
	case 5:
		a, p := rapid.SampledFrom(w.accounts).Draw(t, "rc"), rapid.SampledFrom(w.accounts).Draw(t, "rp")
		r, err := tx.FindRelationship(ctx, p, a)
		if err != nil {
			return ensureRelationship(t, tx, p, a)
		}
		r.Status = rapid.SampledFrom([]steward.RelationshipStatus{steward.RelationshipActive, steward.RelationshipEnding, steward.RelationshipEnded}).Draw(t, "newRel")
		return tx.UpdateRelationship(ctx, r)
	case 6: // R-GUARD-3: a raw policy write, as a migration or another node might leave
		return tx.PutPolicy(ctx, rapid.SampledFrom(w.accounts).Draw(t, "pa"), drawPolicy(t))
	}
	return nil
}

// spotCompare checks a few random (user, account, permission, time)
// questions and one user's listing in the index against the store.
func spotCompare(t *rapid.T, ix *authz.Index, svc *steward.Service, w *world) {
	times := []time.Time{t0.Add(-72 * time.Hour), t0, t0.Add(47 * time.Hour), t0.Add(200 * time.Hour)}
	for range 8 {
		u, a := rapid.SampledFrom(w.users).Draw(t, "su"), rapid.SampledFrom(w.accounts).Draw(t, "sa")
		p := rapid.SampledFrom([]string{"reports.view", "crm.deals.edit", steward.PermUsersManage, "tickets.view", rapid.SampledFrom(perms).Draw(t, "sp")}).Draw(t, "sperm")
		at := rapid.SampledFrom(times).Draw(t, "st")
		want, err := svc.Check(op, steward.CheckRequest{UserID: u, AccountID: a, Permission: p, At: &at})
		if err != nil {
			t.Fatalf("store Check: %v", err)
		}
		got, err := ix.Check(ctx, steward.CheckRequest{UserID: u, AccountID: a, Permission: p, At: &at}, t0)
		if err != nil {
			t.Fatalf("index Check: %v", err)
		}
		if got.Allowed != want.Allowed || got.Reason.Code != want.Reason.Code || got.Reason.Source != want.Reason.Source || !sameTimePtr(got.Reason.EndsAt, want.Reason.EndsAt) {
			t.Fatalf("user %s account %s %s at %s: index says %v/%s/%s/%v, store says %v/%s/%s/%v", u, a, p, at,
				got.Allowed, got.Reason.Code, got.Reason.Source, got.Reason.EndsAt, want.Allowed, want.Reason.Code, want.Reason.Source, want.Reason.EndsAt)
		}
		if ix.Allowed(u, a, p, at.UnixMicro()) != want.Allowed {
			t.Fatalf("Allowed disagrees with Check")
		}
	}
	u, at := rapid.SampledFrom(w.users).Draw(t, "lu"), rapid.SampledFrom(times).Draw(t, "lt")
	q := steward.AccessQuery{At: &at, Page: steward.Page{Limit: 2}}
	want := collect(t, func(after string) ([]steward.Access, string, error) {
		q.After = after
		return svc.FindUserAccounts(op, u, q)
	})
	got := collect(t, func(after string) ([]steward.Access, string, error) {
		items, next := ix.FindUserAccounts(u, "", at, after, 2)
		return items, next, nil
	})
	if !slices.Equal(got, want) {
		t.Fatalf("FindUserAccounts(%s, %s): index %v, store %v", u, at, got, want)
	}
}

// memDir is a memory-backed folder where there is one (/dev/shm), so
// that thousands of commits do not wait for the disk; else the default
// temporary folder.
func memDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
