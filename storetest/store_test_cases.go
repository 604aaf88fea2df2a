package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
)

var ctx = context.Background()

func testTenantIsolation(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, ownerA := w.Account(steward.AccountStandard)
	b, ownerB := w.Account(steward.AccountStandard)
	roleA := w.Role(a.ID, "Sales", "crm.deals.view")
	memA := w.Member(a.ID, ownerA.ID)

	if _, err := w.Store.FindRoleByID(ctx, b.ID, roleA.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindRoleByID(other account) err = %v, want ENOTFOUND", err)
	}
	if _, err := w.Store.FindMembershipByID(ctx, b.ID, memA.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindMembershipByID(other account) err = %v, want ENOTFOUND", err)
	}
	ms, _, err := w.Store.FindMemberships(ctx, steward.MembershipFilter{AccountID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.AccountID != b.ID {
			t.Errorf("FindMemberships(b) returned a membership of %s", m.AccountID)
		}
	}
	// Through the Service: B's owner gets 404 for A's ids, never 403.
	asB := w.As(ownerB.ID)
	if _, err := w.Svc.FindAccount(asB, a.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindAccount(other tenant) err = %v, want ENOTFOUND", err)
	}
	if _, err := w.Svc.FindRole(asB, a.ID, roleA.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindRole(other tenant) err = %v, want ENOTFOUND", err)
	}
	if _, err := w.Svc.FindRole(asB, b.ID, roleA.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindRole(own account, other tenant's role) err = %v, want ENOTFOUND", err)
	}
	if _, _, err := w.Svc.ChangeMemberRole(asB, b.ID, ownerA.ID, steward.RoleMember); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("ChangeMemberRole(other tenant's user) err = %v, want ENOTFOUND", err)
	}
	if _, err := w.Svc.FindUser(asB, ownerA.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindUser(other tenant's user) err = %v, want ENOTFOUND", err)
	}
}

func testEmailUnique(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	_, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: "Ada.Lovelace@Example.com", Name: "Ada", HomeAccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = w.Svc.CreateUser(w.Op, steward.NewUser{Email: "ada.lovelace@EXAMPLE.COM", Name: "Ada 2", HomeAccountID: a.ID})
	WantCode(t, err, steward.ECONFLICT, "email_taken")
	u, err := w.Store.FindUserByEmail(ctx, "ADA.LOVELACE@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada.lovelace@example.com" {
		t.Errorf("Email = %q, want lower-cased", u.Email)
	}
}

func testOneMembership(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	err := w.Store.InTx(ctx, func(tx steward.Store) error {
		return tx.CreateMembership(ctx, &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: owner.ID,
			Kind: steward.KindInternal, Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{}, CreatedAt: w.Now, UpdatedAt: w.Now})
	})
	WantCode(t, err, steward.ECONFLICT, "")
}

func testMembershipRoundTrip(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	b, _ := w.Account(steward.AccountStandard)
	u := w.User(b.ID, steward.RoleMember)
	ends := w.Now.Add(48*time.Hour + 123*time.Microsecond)
	dends := w.Now.Add(24 * time.Hour)
	m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: u.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{"crm.deals.view", "reports.view"}, EndsAt: &ends,
		GrantedBy: "usr_x", AllowRedelegation: true, DelegatesEndAt: &dends, ManagedBy: "acc_p", CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	got, err := w.Store.FindMembership(ctx, a.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("FindMembership mismatch (-want +got):\n%s", diff)
	}
	all, err := w.Store.FindUserMemberships(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("FindUserMemberships = %d memberships, want 2", len(all))
	}
}

func testPages(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	for range 7 {
		w.User(a.ID, steward.RoleMember)
	}
	var seen []string
	p := steward.Page{Limit: 3}
	for {
		ms, next, err := w.Store.FindMemberships(ctx, steward.MembershipFilter{AccountID: a.ID, Page: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 3 {
			t.Fatalf("page of %d, want at most 3", len(ms))
		}
		for _, m := range ms {
			seen = append(seen, m.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if len(seen) != 8 {
		t.Errorf("paged through %d memberships, want 8", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Errorf("pages out of order at %d", i)
		}
	}
}

func testSuperAdminCount(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	u2 := w.User(a.ID, steward.RoleSuperAdmin)
	u3 := w.User(a.ID, steward.RoleSuperAdmin)
	count := func() int {
		n, err := w.Store.CountActiveSuperAdmins(ctx, a.ID, w.Now)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(); got != 3 {
		t.Fatalf("count = %d, want 3", got)
	}
	m := w.Member(a.ID, u2.ID)
	past := w.Now.Add(-time.Second)
	m.EndsAt = &past
	if err := w.Store.UpdateMembership(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 2 {
		t.Errorf("count after expiry = %d, want 2", got)
	}
	// R-SUPER-1: one whose access will end does not count either.
	future := w.Now.Add(time.Hour)
	m.EndsAt = &future
	if err := w.Store.UpdateMembership(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 2 {
		t.Errorf("count with an end date ahead = %d, want 2", got)
	}
	u, _ := w.Store.FindUserByID(ctx, u3.ID)
	u.Status = steward.UserDeactivated
	if err := w.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 1 {
		t.Errorf("count after user deactivation = %d, want 1", got)
	}
}

func testChangeFeed(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	rev0, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, rev1, err := w.Svc.CreateAccount(w.Op, steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard})
	if err != nil {
		t.Fatal(err)
	}
	if rev1 != rev0+1 {
		t.Errorf("revision = %d, want %d", rev1, rev0+1)
	}
	changes, err := w.Store.ChangesSince(ctx, rev0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 || changes[0].Revision != rev1 || changes[0].Entity != "account" {
		t.Errorf("ChangesSince = %+v, want the account change at revision %d", changes, rev1)
	}
	if cur, _ := w.Store.CurrentRevision(ctx); cur != rev1 {
		t.Errorf("CurrentRevision = %d, want %d", cur, rev1)
	}
}

func testConcurrentRevisions(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	const n = 16
	revs := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, rev, err := w.Svc.CreateAccount(w.Op, steward.NewAccount{Name: fmt.Sprintf("A%d", i), Kind: steward.AccountStandard})
			if err != nil {
				t.Error(err)
			}
			revs[i] = rev
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, r := range revs {
		if seen[r] {
			t.Errorf("revision %d given twice", r)
		}
		seen[r] = true
	}
	changes, err := w.Store.ChangesSince(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(changes); i++ {
		if d := changes[i].Revision - changes[i-1].Revision; d != 0 && d != 1 {
			t.Errorf("gap between revisions %d and %d", changes[i-1].Revision, changes[i].Revision)
		}
	}
}

// testConcurrentWriters runs 32 writers at once, each in an account of its
// own, while a follower reads the change feed as a node's index does. The
// feed must stay gap-free and ordered: once the follower has read revision
// n, no commit with a revision up to n appears later (R-CHECK-3 rests on
// it), and every write's revision is in it. Each account's audit chain must
// verify, with at least one event per write (R-AUDIT-1, R-AUDIT-2).
func testConcurrentWriters(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	const writers, writes = 32, 6
	accounts := make([]*steward.Account, writers)
	events := make([]int64, writers)
	for i := range accounts {
		accounts[i], _ = w.Account(steward.AccountStandard)
		res, err := steward.VerifyStoreChain(ctx, w.Store, accounts[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		events[i] = res.Events
	}
	start, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The follower: each read must go on exactly where the last one stopped.
	stop := make(chan struct{})
	followed := make(chan int64)
	go func() {
		applied := start
		defer func() { followed <- applied }()
		for done := false; !done; {
			select {
			case <-stop:
				done = true // one more read after the last commit
			default:
			}
			for {
				changes, err := w.Store.ChangesSince(ctx, applied, 50)
				if err != nil {
					t.Error(err)
					return
				}
				if len(changes) == 0 {
					break
				}
				for _, c := range changes {
					if c.Revision != applied && c.Revision != applied+1 {
						t.Errorf("after revision %d the feed showed %d: a gap, or a commit out of order", applied, c.Revision)
						return
					}
					applied = c.Revision
				}
			}
		}
	}()

	revs := make([][]int64, writers)
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Go(func() {
			for j := range writes {
				var rev int64
				var err error
				if j%2 == 0 {
					_, rev, err = w.Svc.AddMember(w.Op, a.ID, steward.NewMember{Email: fmt.Sprintf("w%d-%d@writers.example", i, j), Name: "Writer", Role: steward.RoleMember})
				} else {
					name := fmt.Sprintf("Account %d.%d", i, j)
					_, rev, err = w.Svc.UpdateAccount(w.Op, a.ID, steward.AccountUpdate{Name: &name})
				}
				if err != nil {
					t.Error(err)
					return
				}
				revs[i] = append(revs[i], rev)
			}
		})
	}
	wg.Wait()
	close(stop)
	applied := <-followed

	last, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := start + writers*writes; last != want || applied != last {
		t.Errorf("current revision %d, follower at %d; want both at %d (one revision per write)", last, applied, want)
	}
	changes, err := w.Store.ChangesSince(ctx, start, writers*writes)
	if err != nil {
		t.Fatal(err)
	}
	inFeed := map[int64]bool{}
	for _, c := range changes {
		inFeed[c.Revision] = true
	}
	for i := range accounts {
		for k, rev := range revs[i] {
			if !inFeed[rev] {
				t.Errorf("writer %d: revision %d is not in the feed", i, rev)
			}
			if k > 0 && rev <= revs[i][k-1] {
				t.Errorf("writer %d: revision %d after %d", i, rev, revs[i][k-1])
			}
		}
		res, err := steward.VerifyStoreChain(ctx, w.Store, accounts[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Events < events[i]+writes {
			t.Errorf("account %d chain = %+v, want intact with at least %d events", i, res, events[i]+writes)
		}
	}

	// R-CHECK-3: the node's index applies its own writes from what the
	// store remembers of them, which must be the feed's rows exactly.
	if own, ok := w.Store.(interface {
		CommittedChanges(from, to int64) ([]steward.Change, bool)
	}); ok {
		got, ok := own.CommittedChanges(start, last)
		if !ok {
			t.Fatalf("CommittedChanges(%d, %d) not remembered, though this process committed every revision", start, last)
		}
		if !reflect.DeepEqual(got, changes) {
			t.Errorf("CommittedChanges(%d, %d) =\n%+v\nthe feed has\n%+v", start, last, got, changes)
		}
		// A write that fails takes no revision and is not remembered; the
		// next one is.
		if _, _, err := w.Svc.AddMember(w.Op, accounts[0].ID, steward.NewMember{Email: "w0-0@writers.example", Name: "Again", Role: steward.RoleMember}); steward.ErrorKind(err) != steward.ECONFLICT {
			t.Fatalf("AddMember with a taken email: %v, want ECONFLICT", err)
		}
		_, rev, err := w.Svc.AddMember(w.Op, accounts[0].ID, steward.NewMember{Email: "after@writers.example", Name: "After", Role: steward.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		feed, err := w.Store.ChangesSince(ctx, last, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := own.CommittedChanges(last, rev); !ok || rev != last+1 || !reflect.DeepEqual(got, feed) {
			t.Errorf("after a failed write, CommittedChanges(%d, %d) = %+v, %v; the feed has %+v", last, rev, got, ok, feed)
		}
		if _, ok := own.CommittedChanges(last, rev+1); ok {
			t.Errorf("CommittedChanges answers for revision %d, which nobody committed", rev+1)
		}
	}
}

func testIdempotency(t *testing.T, open Opener) {
	st := open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := st.FindIdempotentResponse(ctx, "operator", "k1"); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Fatalf("FindIdempotentResponse(unknown) err = %v, want ENOTFOUND", err)
	}
	if _, err := st.LockIdempotencyKey(ctx, "operator", "k1"); steward.ErrorKind(err) != steward.EINTERNAL {
		t.Errorf("LockIdempotencyKey outside a transaction err = %v, want an internal error", err)
	}
	r := &steward.IdempotentResponse{Scope: "operator", Key: "k1", RequestHash: "h1", Status: 201,
		Header: map[string]string{"Steward-Revision": "7"}, Body: []byte(`{"id":"acc_1"}`), CreatedAt: now}
	err := st.InTx(ctx, func(tx steward.Store) error {
		first, err := tx.LockIdempotencyKey(ctx, "operator", "k1")
		if err != nil || first != nil {
			t.Fatalf("LockIdempotencyKey(free key) = %+v, %v; want nothing", first, err)
		}
		return tx.SaveIdempotentResponse(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(got *steward.IdempotentResponse, err error) {
		t.Helper()
		if err != nil || got == nil || got.Status != 201 || string(got.Body) != `{"id":"acc_1"}` || got.Header["Steward-Revision"] != "7" ||
			got.RequestHash != "h1" || !got.CreatedAt.Equal(now) {
			t.Fatalf("kept answer = %+v, %v", got, err)
		}
	}
	want(st.FindIdempotentResponse(ctx, "operator", "k1"))
	err = st.InTx(ctx, func(tx steward.Store) error {
		want(tx.LockIdempotencyKey(ctx, "operator", "k1"))
		return tx.SaveIdempotentResponse(ctx, r)
	})
	if steward.ErrorKind(err) != steward.ECONFLICT {
		t.Errorf("a second answer for the key err = %v, want ECONFLICT", err)
	}
	if _, err := st.FindIdempotentResponse(ctx, "usr_other", "k1"); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Error("the same key from another scope is another request")
	}
	// An answer saved in a transaction that rolls back is not kept.
	errRollback := steward.Errorf(steward.ECONFLICT, "rollback", "roll back")
	err = st.InTx(ctx, func(tx steward.Store) error {
		if err := tx.SaveIdempotentResponse(ctx, &steward.IdempotentResponse{Scope: "operator", Key: "k2", RequestHash: "h", Status: 200,
			Header: map[string]string{}, CreatedAt: now}); err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := st.FindIdempotentResponse(ctx, "operator", "k2"); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Error("an answer of a rolled back transaction was kept")
	}
}

func testSettings(t *testing.T, open Opener) {
	st := open(t)
	if _, err := st.GetSetting(ctx, "x"); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("GetSetting(unknown) err = %v, want ENOTFOUND", err)
	}
	if ok, err := st.PutSettingIfAbsent(ctx, "x", "1"); !ok || err != nil {
		t.Fatalf("PutSettingIfAbsent = %v, %v", ok, err)
	}
	if ok, err := st.PutSettingIfAbsent(ctx, "x", "2"); ok || err != nil {
		t.Fatalf("second PutSettingIfAbsent = %v, %v; want false", ok, err)
	}
	if v, _ := st.GetSetting(ctx, "x"); v != "1" {
		t.Errorf("GetSetting = %q, want 1", v)
	}
}

func testTokens(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	_, owner := w.Account(steward.AccountStandard)
	tok, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Token
	auth := &steward.Authenticator{Store: w.Store, OperatorTokenHash: steward.HashSecret("op-secret"), Now: func() time.Time { return w.Now }}
	a, err := auth.Authenticate(ctx, secret, "")
	if err != nil || a.UserID != owner.ID || a.Operator {
		t.Fatalf("Authenticate(user token) = %+v, %v", a, err)
	}
	if _, err := w.Store.FindTokenByHash(ctx, secret); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Error("the secret itself must not be stored, only its hash")
	}
	_, err = auth.Authenticate(ctx, secret+"x", "")
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
	a, err = auth.Authenticate(ctx, "op-secret", owner.ID)
	if err != nil || a.UserID != owner.ID || !a.Operator {
		t.Fatalf("Authenticate(operator act-as) = %+v, %v", a, err)
	}
	_, err = auth.Authenticate(ctx, secret, owner.ID)
	WantCode(t, err, steward.EFORBIDDEN, "act_as_forbidden")
}

func testAuditFilters(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	w.Now = w.Now.Add(time.Hour)
	w.Role(a.ID, "Viewers", "crm.contacts.view")
	name := "Renamed"
	if _, _, err := w.Svc.UpdateAccount(w.As(owner.ID), a.ID, steward.AccountUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	events, _, err := w.Svc.FindEvents(w.As(owner.ID), steward.AuditFilter{AccountID: a.ID, ActorUserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != "account.updated" || events[0].Actor.HomeAccountID != a.ID {
		t.Errorf("events by owner = %+v, want one account.updated", events)
	}
	since := w.Now
	events, _, err = w.Svc.FindEvents(w.Op, steward.AuditFilter{AccountID: a.ID, Since: &since})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Errorf("events since %v = %d, want 2", since, len(events))
	}
	events, _, err = w.Svc.FindEvents(w.Op, steward.AuditFilter{AccountID: a.ID, Action: "role.created"})
	if err != nil || len(events) != 1 {
		t.Errorf("events of action role.created = %d, %v; want 1", len(events), err)
	}
}

func testDelegationExpiry(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	home, _ := w.Account(steward.AccountStandard)
	parentUser := w.User(home.ID, steward.RoleMember)
	delegateUser := w.User(home.ID, steward.RoleMember)
	ends := w.Now.Add(10 * 24 * time.Hour)
	dends := w.Now.Add(5 * 24 * time.Hour)
	perms := []string{"crm.deals.view", "reports.view"}
	parent := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: parentUser.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: perms, EndsAt: &ends, AllowRedelegation: true, DelegatesEndAt: &dends,
		GrantedBy: "operator", CreatedAt: w.Now, UpdatedAt: w.Now}
	delegate := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: delegateUser.ID, Kind: steward.KindDelegate,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: steward.Union(perms, []string{"crm.deals.edit"}), ParentID: parent.ID,
		GrantedBy: parentUser.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
	err := w.Store.InTx(ctx, func(tx steward.Store) error {
		if err := tx.CreateMembership(ctx, parent); err != nil {
			return err
		}
		return tx.CreateMembership(ctx, delegate)
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		user        string
		perm        string
		at          time.Time
		wantAllowed bool
	}{
		{"ParentNow", parentUser.ID, "reports.view", w.Now, true},
		{"DelegateNow", delegateUser.ID, "reports.view", w.Now, true},
		{"DelegateCappedByParent", delegateUser.ID, "crm.deals.edit", w.Now, false},
		{"DelegateAfterDelegatesEndAt", delegateUser.ID, "reports.view", dends, false},
		{"ParentAfterDelegatesEndAt", parentUser.ID, "reports.view", dends, true},
		{"ParentAtEndsAt", parentUser.ID, "reports.view", ends, false},
		{"DelegateAtEndsAt", delegateUser.ID, "reports.view", ends, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.Allowed(tt.user, a.ID, tt.perm, tt.at); got != tt.wantAllowed {
				t.Errorf("Allowed = %v, want %v", got, tt.wantAllowed)
			}
		})
	}
}
