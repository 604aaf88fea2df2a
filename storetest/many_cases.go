package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/steward-iam/steward"
)

// manyReader is what a store offers to read many rows in one statement;
// the Service and the check index use it when the store has it.
type manyReader interface {
	FindUsersByIDs(ctx context.Context, ids []string) ([]*steward.User, error)
	FindMembershipsOfUsers(ctx context.Context, accountID string, userIDs []string) ([]*steward.Membership, error)
	FindUserWithMemberships(ctx context.Context, id string) (*steward.User, []*steward.Membership, error)
}

// testManyAtOnce checks that the reads of many rows at once answer what
// the reads of one row answer: unknown and deleted users are left out, and
// memberships of other accounts.
func testManyAtOnce(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	mr, ok := w.Store.(manyReader)
	if !ok {
		t.Skip("the store reads one row at a time")
	}
	a, owner := w.Account(steward.AccountStandard)
	b, _ := w.Account(steward.AccountStandard)
	u1, u2, gone := w.User(a.ID, steward.RoleMember), w.User(a.ID, steward.RoleMember), w.User(a.ID, steward.RoleMember)
	if err := w.Store.DeleteUser(ctx, gone.ID, w.Now); err != nil {
		t.Fatal(err)
	}
	ids := []string{u1.ID, "usr_unknown", gone.ID, u2.ID, owner.ID}

	users, err := mr.FindUsersByIDs(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var want []*steward.User
	for _, id := range []string{u1.ID, u2.ID, owner.ID} {
		u, err := w.Store.FindUserByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, u)
	}
	byID := func(x, y *steward.User) int { return cmpString(x.ID, y.ID) }
	slices.SortFunc(users, byID)
	slices.SortFunc(want, byID)
	if !reflect.DeepEqual(users, want) {
		t.Errorf("FindUsersByIDs = %+v, want %+v", users, want)
	}

	ms, err := mr.FindMembershipsOfUsers(ctx, a.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	var wantMs []*steward.Membership
	for _, id := range ids {
		m, err := w.Store.FindMembership(ctx, a.ID, id)
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		wantMs = append(wantMs, m)
	}
	byUser := func(x, y *steward.Membership) int { return cmpString(x.UserID, y.UserID) }
	slices.SortFunc(ms, byUser)
	slices.SortFunc(wantMs, byUser)
	if !reflect.DeepEqual(ms, wantMs) {
		t.Errorf("FindMembershipsOfUsers = %+v, want %+v", ms, wantMs)
	}
	if ms, err := mr.FindMembershipsOfUsers(ctx, b.ID, []string{u1.ID, u2.ID}); err != nil || len(ms) != 0 {
		t.Errorf("FindMembershipsOfUsers in another account = %v, %v; want none", ms, err)
	}

	for _, id := range []string{u1.ID, owner.ID} {
		u, ms, err := mr.FindUserWithMemberships(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantU, _ := w.Store.FindUserByID(ctx, id)
		wantMs, _ := w.Store.FindUserMemberships(ctx, id)
		if !reflect.DeepEqual(u, wantU) || !reflect.DeepEqual(ms, wantMs) {
			t.Errorf("FindUserWithMemberships(%s) = %+v %+v, want %+v %+v", id, u, ms, wantU, wantMs)
		}
	}
	for _, id := range []string{gone.ID, "usr_unknown"} {
		if _, _, err := mr.FindUserWithMemberships(ctx, id); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("FindUserWithMemberships(%s) = %v, want ENOTFOUND", id, err)
		}
	}

	// The memberships of many users in many accounts: those of a and b
	// (none in b), not those of c.
	c, _ := w.Account(steward.AccountStandard)
	inC := w.User(c.ID, steward.RoleMember)
	if in, ok := w.Store.(interface {
		FindMembershipsOfUsersIn(ctx context.Context, accountIDs, userIDs []string) ([]*steward.Membership, error)
	}); ok {
		ms, err := in.FindMembershipsOfUsersIn(ctx, []string{a.ID, b.ID, "acc_unknown"}, append(ids, inC.ID))
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ms, byUser)
		if !reflect.DeepEqual(ms, wantMs) {
			t.Errorf("FindMembershipsOfUsersIn = %+v, want %+v", ms, wantMs)
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testHeldBackFailure checks a statement whose answer the store may hold
// back until the transaction's next statement: its failure still fails
// that statement and the transaction, with its own error, and the store
// goes on serving writes afterwards.
func testHeldBackFailure(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	dup := func() *steward.Membership {
		return &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: owner.ID,
			Kind: steward.KindInternal, Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{}, CreatedAt: w.Now, UpdatedAt: w.Now}
	}
	heldBack, read := false, error(nil)
	err := w.Store.InTx(ctx, func(tx steward.Store) error {
		if err := tx.CreateMembership(ctx, dup()); err != nil {
			return err // answered at once
		}
		heldBack = true
		_, read = tx.FindAccountByID(ctx, a.ID)
		return read
	})
	WantCode(t, err, steward.ECONFLICT, "")
	if heldBack {
		WantCode(t, read, steward.ECONFLICT, "")
	}
	for range 8 { // more than the pool's connections: none was left in a transaction
		u := w.User(a.ID, steward.RoleMember)
		if _, err := w.Store.FindMembership(ctx, a.ID, u.ID); err != nil {
			t.Fatalf("a write after the failed one: %v", err)
		}
	}
}
