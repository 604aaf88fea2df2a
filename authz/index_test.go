package authz_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/sqlite"
	"pgregory.net/rapid"
)

var (
	ctx = context.Background()
	cat = steward.MustCatalogue(steward.DefaultProductPermissions())
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	op  = steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})
)

func openSQLite(dir string) (*sqlite.DB, error) {
	db, err := sqlite.Open(filepath.Join(dir, "steward.db"))
	if err != nil {
		return nil, err
	}
	return db, db.Migrate(ctx)
}

// world is a randomized set of accounts, users and memberships written
// straight to the store, so that every state a membership can be in occurs.
type world struct {
	accounts, users []string
	members         []*steward.Membership
}

var perms = cat.All()

func drawPerms(t *rapid.T, label string) []string {
	return steward.NewSet(rapid.SliceOfN(rapid.SampledFrom(perms), 0, 6).Draw(t, label)...)
}

func drawTime(t *rapid.T, label string) *time.Time {
	if rapid.Bool().Draw(t, label+"?") {
		return nil
	}
	v := t0.Add(time.Duration(rapid.IntRange(-48, 96).Draw(t, label)) * time.Hour)
	return &v
}

func drawMembership(t *rapid.T, w *world, account, userID string, kind steward.MembershipKind, parent *steward.Membership) *steward.Membership {
	m := &steward.Membership{
		ID: steward.NewID(steward.PrefixMembership, t0), AccountID: account, UserID: userID, Kind: kind,
		Status:      rapid.SampledFrom([]steward.MembershipStatus{steward.StatusActive, steward.StatusActive, steward.StatusActive, steward.StatusDeactivated, steward.StatusSuspended, steward.StatusExpired}).Draw(t, "status"),
		Role:        rapid.SampledFrom([]string{steward.RoleMember, steward.RoleMember, steward.RoleSuperAdmin}).Draw(t, "role"),
		Permissions: drawPerms(t, "perms"), EndsAt: drawTime(t, "ends"), GrantedBy: "operator", CreatedAt: t0, UpdatedAt: t0,
	}
	if kind == steward.KindExternal {
		m.Role = steward.RoleMember
		m.AllowRedelegation = rapid.Bool().Draw(t, "redelegate")
		m.DelegatesEndAt = drawTime(t, "delegatesEnd")
	}
	if parent != nil {
		m.Role, m.ParentID = steward.RoleMember, parent.ID
	}
	if kind == steward.KindPartner || kind == steward.KindExternal {
		m.Grants = drawGrants(t)
	}
	if kind != steward.KindDelegate {
		m.Grants = append(m.Grants, drawElevations(t)...)
	}
	return m
}

// drawElevations draws the grants of active elevations (R-ELEVATE-2):
// windows [starts_at, ends_at) of up to 8 hours, often starting or ending
// right at a time the comparisons ask about.
func drawElevations(t *rapid.T) []steward.Grant {
	var gs []steward.Grant
	for i := range rapid.IntRange(0, 2).Draw(t, "elevations") {
		start := t0.Add(time.Duration(rapid.SampledFrom([]int{-8, -3, -1, 0, 40, 46, 47, 195}).Draw(t, "elevStart")) * time.Hour)
		end := start.Add(time.Duration(rapid.IntRange(1, 8).Draw(t, "elevHours")) * time.Hour)
		gs = append(gs, steward.Grant{Permissions: drawPerms(t, "elevPerms"), GrantedBy: "operator", StartsAt: &start, EndsAt: &end,
			ElevationID: fmt.Sprintf("elv_%d", i), CreatedAt: t0})
	}
	return gs
}

// drawGrants draws the grants of approved access requests (R-REQUEST-2):
// some without end, some ending before, at or after the times compared.
func drawGrants(t *rapid.T) []steward.Grant {
	var gs []steward.Grant
	for range rapid.IntRange(0, 2).Draw(t, "grants") {
		gs = append(gs, steward.Grant{Permissions: drawPerms(t, "grantPerms"), GrantedBy: "operator", EndsAt: drawTime(t, "grantEnds"), RequestID: "req_x", CreatedAt: t0})
	}
	return gs
}

// drawPolicy draws an account policy whose never-delegable permissions
// (R-GUARD-3) are often among those the comparisons ask about.
func drawPolicy(t *rapid.T) *steward.AccountPolicy {
	never := steward.NewSet(rapid.SliceOfN(rapid.SampledFrom([]string{"reports.view", "crm.deals.edit", steward.PermUsersManage, steward.PermPartnerClientsView, "tickets.view"}), 0, 3).Draw(t, "never")...)
	return &steward.AccountPolicy{AllowedPartners: []string{}, NeverDelegable: never}
}

func buildWorld(t *rapid.T, st steward.Store) *world {
	w := &world{}
	err := st.InTx(ctx, func(tx steward.Store) error {
		for i := range rapid.IntRange(1, 4).Draw(t, "accounts") {
			a := &steward.Account{ID: steward.NewID(steward.PrefixAccount, t0), Name: fmt.Sprint("A", i), Kind: steward.AccountStandard, Region: "us", VerifiedDomains: []string{}, CreatedAt: t0, UpdatedAt: t0}
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
			w.accounts = append(w.accounts, a.ID)
			if rapid.Bool().Draw(t, "policy?") {
				if err := tx.PutPolicy(ctx, a.ID, drawPolicy(t)); err != nil {
					return err
				}
			}
		}
		for i := range rapid.IntRange(1, 8).Draw(t, "users") {
			u := &steward.User{ID: steward.NewID(steward.PrefixUser, t0), Email: fmt.Sprintf("u%d@example.com", i), Name: "U",
				HomeAccountID: rapid.SampledFrom(w.accounts).Draw(t, "home"), CreatedAt: t0, UpdatedAt: t0,
				Status: rapid.SampledFrom([]steward.UserStatus{steward.UserActive, steward.UserActive, steward.UserDeactivated}).Draw(t, "userStatus")}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			w.users = append(w.users, u.ID)
		}
		taken := map[string]bool{}
		var externals []*steward.Membership
		for range rapid.IntRange(0, 16).Draw(t, "memberships") {
			account, userID := rapid.SampledFrom(w.accounts).Draw(t, "account"), rapid.SampledFrom(w.users).Draw(t, "user")
			if taken[account+userID] {
				continue
			}
			kind := rapid.SampledFrom([]steward.MembershipKind{steward.KindInternal, steward.KindExternal, steward.KindDelegate, steward.KindPartner}).Draw(t, "kind")
			var parent *steward.Membership
			if kind == steward.KindDelegate {
				var candidates []*steward.Membership
				for _, e := range externals {
					if e.AccountID == account {
						candidates = append(candidates, e)
					}
				}
				if len(candidates) == 0 {
					continue
				}
				parent = rapid.SampledFrom(candidates).Draw(t, "parent")
			}
			m := drawMembership(t, w, account, userID, kind, parent)
			if kind == steward.KindPartner {
				m.PartnerID = rapid.SampledFrom(w.accounts).Draw(t, "partner")
				if err := ensureRelationship(t, tx, m.PartnerID, account); err != nil {
					return err
				}
			}
			if err := tx.CreateMembership(ctx, m); err != nil {
				return err
			}
			taken[account+userID] = true
			w.members = append(w.members, m)
			if kind == steward.KindExternal {
				externals = append(externals, m)
			}
		}
		_, err := tx.AppendChanges(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// ensureRelationship gives P→C a relationship in a random state, or none.
func ensureRelationship(t *rapid.T, tx steward.Store, partner, client string) error {
	if _, err := tx.FindRelationship(ctx, partner, client); err == nil || rapid.IntRange(0, 5).Draw(t, "noRelationship") == 0 {
		return nil
	}
	r := &steward.Relationship{ID: steward.NewID(steward.PrefixRelationship, t0), PartnerID: partner, ClientID: client, Alias: "Client",
		Status:         rapid.SampledFrom([]steward.RelationshipStatus{steward.RelationshipActive, steward.RelationshipActive, steward.RelationshipEnding, steward.RelationshipEnded}).Draw(t, "relStatus"),
		LastActivityAt: t0, CreatedAt: t0, UpdatedAt: t0}
	if r.Status == steward.RelationshipEnding {
		r.EndsAt = drawTime(t, "relEnds")
	}
	return tx.CreateRelationship(ctx, r)
}

// compare checks every user, account, a sample of permissions and times in
// the index against the store evaluation.
func compare(t *rapid.T, ix *authz.Index, svc *steward.Service, w *world) {
	times := []time.Time{t0.Add(-72 * time.Hour), t0, t0.Add(47 * time.Hour), t0.Add(200 * time.Hour)}
	for _, u := range w.users {
		for _, a := range w.accounts {
			for _, p := range []string{"reports.view", "crm.deals.edit", steward.PermUsersManage, rapid.SampledFrom(perms).Draw(t, "perm")} {
				for _, at := range times {
					want, err := svc.Check(op, steward.CheckRequest{UserID: u, AccountID: a, Permission: p, At: &at})
					if err != nil {
						t.Fatalf("store Check: %v", err)
					}
					got, err := ix.Check(ctx, steward.CheckRequest{UserID: u, AccountID: a, Permission: p, At: &at}, t0)
					if err != nil {
						t.Fatalf("index Check: %v", err)
					}
					if got.Allowed != want.Allowed || got.Reason.Code != want.Reason.Code || got.Reason.Source != want.Reason.Source {
						t.Fatalf("user %s account %s %s at %s: index says %v/%s/%s, store says %v/%s/%s", u, a, p, at,
							got.Allowed, got.Reason.Code, got.Reason.Source, want.Allowed, want.Reason.Code, want.Reason.Source)
					}
					// R-ELEVATE-2, R-CHECK-2: both name the same elevation and end.
					if (got.Reason.Elevation == nil) != (want.Reason.Elevation == nil) ||
						(got.Reason.Elevation != nil && *got.Reason.Elevation != *want.Reason.Elevation) {
						t.Fatalf("user %s account %s %s at %s: index names elevation %+v, store %+v", u, a, p, at, got.Reason.Elevation, want.Reason.Elevation)
					}
					if ix.Allowed(u, a, p, at.UnixMicro()) != want.Allowed {
						t.Fatalf("Allowed disagrees with Check")
					}
				}
			}
		}
	}
	// Without a permission, a user's account listing holds where the
	// membership holds, with the same effective permissions and reason
	// (SPEC §4 "Listings").
	for _, at := range times {
		q := steward.AccessQuery{At: &at, Page: steward.Page{Limit: 2}}
		for _, u := range w.users {
			want := collect(t, func(after string) ([]steward.Access, string, error) {
				q.After = after
				return svc.FindUserAccounts(op, u, q)
			})
			got := collect(t, func(after string) ([]steward.Access, string, error) {
				items, next := ix.FindUserAccounts(u, "", at, after, 2)
				return items, next, nil
			})
			if !slices.Equal(got, want) {
				t.Fatalf("FindUserAccounts(%s, any permission, %s): index %v, store %v", u, at, got, want)
			}
		}
	}
	// The listings agree with the store too, page by page.
	for _, p := range []string{"reports.view", steward.PermUsersManage} {
		for _, at := range times {
			q := steward.AccessQuery{Permission: p, At: &at, Page: steward.Page{Limit: 2}}
			for _, a := range w.accounts {
				want := collect(t, func(after string) ([]steward.Access, string, error) {
					q.After = after
					return svc.FindAccess(op, a, q)
				})
				got := collect(t, func(after string) ([]steward.Access, string, error) {
					items, next := ix.FindAccess(a, p, at, after, 2)
					return items, next, nil
				})
				if !slices.Equal(got, want) {
					t.Fatalf("FindAccess(%s, %s, %s): index %v, store %v", a, p, at, got, want)
				}
			}
			for _, u := range w.users {
				want := collect(t, func(after string) ([]steward.Access, string, error) {
					q.After = after
					return svc.FindUserAccounts(op, u, q)
				})
				got := collect(t, func(after string) ([]steward.Access, string, error) {
					items, next := ix.FindUserAccounts(u, p, at, after, 2)
					return items, next, nil
				})
				if !slices.Equal(got, want) {
					t.Fatalf("FindUserAccounts(%s, %s, %s): index %v, store %v", u, p, at, got, want)
				}
			}
		}
	}
}

// collect pages through a listing and returns for each entry
// "user@account", its reason's code, source and end, and its permissions.
func collect(t *rapid.T, page func(after string) ([]steward.Access, string, error)) []string {
	var out []string
	for after := ""; ; {
		items, next, err := page(after)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 2 {
			t.Fatalf("page of %d, want at most 2", len(items))
		}
		for _, it := range items {
			out = append(out, fmt.Sprintf("%s@%s %s/%s/%v %v", it.UserID, it.AccountID, it.Reason.Code, it.Reason.Source, it.Reason.EndsAt, it.Permissions))
		}
		if next == "" {
			slices.Sort(out)
			return out
		}
		after = next
	}
}

// TestRCHECK1_IndexAgreesWithStore builds random worlds, compares the index
// with the store evaluation, mutates the world through the store, follows the
// change feed, and compares again: zero disagreements.
func TestRCHECK1_IndexAgreesWithStore(t *testing.T) {
	if f := flag.Lookup("rapid.checks"); raceEnabled && f != nil && f.Value.String() == f.DefValue {
		// Under the race detector fewer worlds, each still checked whole;
		// without it (go test ./authz) the full default count runs.
		f.Value.Set("25")
		defer f.Value.Set(f.DefValue)
	}
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "authz")
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
		compare(t, ix, svc, w)

		// Mutate: flip statuses, narrow parents, remove memberships, deactivate users.
		err = db.InTx(ctx, func(tx steward.Store) error {
			for range rapid.IntRange(1, 6).Draw(t, "mutations") {
				switch rapid.IntRange(0, 7).Draw(t, "op") {
				case 7: // R-ELEVATE-2: an activation adds an elevation, an early end takes one away
					if len(w.members) == 0 {
						continue
					}
					m := rapid.SampledFrom(w.members).Draw(t, "em")
					cur, err := tx.FindMembershipByID(ctx, m.AccountID, m.ID)
					if err != nil || cur.Kind == steward.KindDelegate {
						continue
					}
					if n := len(cur.Grants); n > 0 && rapid.Bool().Draw(t, "endOne") {
						cur.Grants = cur.Grants[:n-1]
					} else {
						cur.Grants = append(cur.Grants, drawElevations(t)...)
					}
					if err := tx.UpdateMembership(ctx, cur); err != nil {
						return err
					}
				case 5: // R-GUARD-4: a policy change reaches what exists
					if err := tx.PutPolicy(ctx, rapid.SampledFrom(w.accounts).Draw(t, "pa"), drawPolicy(t)); err != nil {
						return err
					}
				case 6: // R-REQUEST-2: an approval adds a grant
					if len(w.members) == 0 {
						continue
					}
					m := rapid.SampledFrom(w.members).Draw(t, "gm")
					cur, err := tx.FindMembershipByID(ctx, m.AccountID, m.ID)
					if err != nil || cur.Kind == steward.KindDelegate || cur.Kind == steward.KindInternal {
						continue
					}
					cur.Grants = append(cur.Grants, drawGrants(t)...)
					if err := tx.UpdateMembership(ctx, cur); err != nil {
						return err
					}
				case 4:
					a, p := rapid.SampledFrom(w.accounts).Draw(t, "rc"), rapid.SampledFrom(w.accounts).Draw(t, "rp")
					r, err := tx.FindRelationship(ctx, p, a)
					if err != nil {
						if err := ensureRelationship(t, tx, p, a); err != nil {
							return err
						}
						continue
					}
					r.Status = rapid.SampledFrom([]steward.RelationshipStatus{steward.RelationshipActive, steward.RelationshipEnding, steward.RelationshipEnded}).Draw(t, "newRel")
					if err := tx.UpdateRelationship(ctx, r); err != nil {
						return err
					}
				case 0:
					if len(w.members) == 0 {
						continue
					}
					m := rapid.SampledFrom(w.members).Draw(t, "m")
					cur, err := tx.FindMembershipByID(ctx, m.AccountID, m.ID)
					if err != nil {
						continue
					}
					cur.Permissions = drawPerms(t, "newPerms")
					cur.Status = rapid.SampledFrom([]steward.MembershipStatus{steward.StatusActive, steward.StatusDeactivated}).Draw(t, "newStatus")
					cur.AllowRedelegation = rapid.Bool().Draw(t, "newRedelegate")
					cur.EndsAt = drawTime(t, "newEnds")
					if err := tx.UpdateMembership(ctx, cur); err != nil {
						return err
					}
				case 1:
					if len(w.members) == 0 {
						continue
					}
					m := rapid.SampledFrom(w.members).Draw(t, "del")
					if err := tx.DeleteMembership(ctx, m.AccountID, m.ID); err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
						return err
					}
				case 2:
					u, err := tx.FindUserByID(ctx, rapid.SampledFrom(w.users).Draw(t, "u"))
					if err != nil {
						return err
					}
					u.Status = rapid.SampledFrom([]steward.UserStatus{steward.UserActive, steward.UserDeactivated}).Draw(t, "us")
					if err := tx.UpdateUser(ctx, u); err != nil {
						return err
					}
				case 3:
					account, userID := rapid.SampledFrom(w.accounts).Draw(t, "na"), rapid.SampledFrom(w.users).Draw(t, "nu")
					m := drawMembership(t, w, account, userID, steward.KindInternal, nil)
					if err := tx.CreateMembership(ctx, m); err != nil && steward.ErrorKind(err) != steward.ECONFLICT {
						return err
					}
					w.members = append(w.members, m)
				}
			}
			_, err := tx.AppendChanges(ctx, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if rev, _ := db.CurrentRevision(ctx); ix.Applied() != rev {
			t.Fatalf("Applied = %d, want %d", ix.Applied(), rev)
		}
		compare(t, ix, svc, w)
	})
}
