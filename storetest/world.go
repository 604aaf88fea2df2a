package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// Opener returns a fresh, migrated, empty store, closed when the test ends.
type Opener func(t testing.TB) steward.Store

// World is a Service over a store with a settable clock, and helpers that
// build accounts and users as the operator.
type World struct {
	T     testing.TB
	Store steward.Store
	Svc   *steward.Service
	Now   time.Time
	Op    context.Context // the operator acting as itself
	seq   atomic.Int64
}

// NewWorld returns a World over store with the default catalogue, at a fixed time.
func NewWorld(t testing.TB, store steward.Store) *World {
	w := &World{T: t, Store: store, Now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	w.Svc = steward.NewService(store, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	w.Svc.Now = func() time.Time { return w.Now }
	w.Op = steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})
	return w
}

// As returns a context acting as the user.
func (w *World) As(userID string) context.Context {
	return steward.NewContextWithActor(context.Background(), &steward.Actor{UserID: userID})
}

// Account creates an account of the kind with a super admin owner, returning both.
func (w *World) Account(kind steward.AccountKind) (*steward.Account, *steward.User) {
	w.T.Helper()
	n := w.seq.Add(1)
	acc, _, err := w.Svc.CreateAccount(w.Op, steward.NewAccount{
		Name: fmt.Sprintf("Account %d", n), Kind: kind,
		Owner: &steward.NewOwner{Email: fmt.Sprintf("owner%d@example.com", n), Name: fmt.Sprintf("Owner %d", n)},
	})
	if err != nil {
		w.T.Fatalf("CreateAccount: %v", err)
	}
	owner, err := w.Store.FindUserByEmail(context.Background(), fmt.Sprintf("owner%d@example.com", n))
	if err != nil {
		w.T.Fatalf("FindUserByEmail: %v", err)
	}
	return acc, owner
}

// User creates a user in the home account with a built-in or custom role.
func (w *World) User(home, role string) *steward.User {
	w.T.Helper()
	n := w.seq.Add(1)
	u, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: fmt.Sprintf("user%d@example.com", n), Name: fmt.Sprintf("User %d", n), HomeAccountID: home, Role: role})
	if err != nil {
		w.T.Fatalf("CreateUser(%s): %v", role, err)
	}
	return u
}

// Role creates a custom role as the operator.
func (w *World) Role(accountID, name string, perms ...string) *steward.Role {
	w.T.Helper()
	if perms == nil {
		perms = []string{}
	}
	r, _, err := w.Svc.CreateRole(w.Op, accountID, steward.RoleInput{Name: &name, Permissions: &perms})
	if err != nil {
		w.T.Fatalf("CreateRole(%s): %v", name, err)
	}
	return r
}

// Member returns the user's membership in the account.
func (w *World) Member(accountID, userID string) *steward.Membership {
	w.T.Helper()
	m, err := w.Svc.FindMember(w.Op, accountID, userID)
	if err != nil {
		w.T.Fatalf("FindMember: %v", err)
	}
	return m
}

// Events counts the audit events of an account.
func (w *World) Events(accountID string) int64 {
	w.T.Helper()
	var n int64
	if err := w.Store.ScanEvents(context.Background(), accountID, func(*steward.Event) error { n++; return nil }); err != nil {
		w.T.Fatalf("ScanEvents: %v", err)
	}
	return n
}

// Allowed answers a check as the operator at the world's time (or at).
func (w *World) Allowed(userID, accountID, perm string, at ...time.Time) bool {
	w.T.Helper()
	req := steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: perm}
	if len(at) > 0 {
		req.At = &at[0]
	}
	res, err := w.Svc.Check(w.Op, req)
	if err != nil {
		w.T.Fatalf("Check: %v", err)
	}
	return res.Allowed
}

// WantCode fails unless err is a steward error of the kind and code.
func WantCode(t testing.TB, err error, kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s/%s", kind, code)
	}
	if got := steward.ErrorKind(err); got != kind {
		t.Fatalf("ErrorKind = %s (%v), want %s", got, err, kind)
	}
	if code != "" && steward.ErrorCode(err) != code {
		t.Fatalf("ErrorCode = %s (%v), want %s", steward.ErrorCode(err), err, code)
	}
}

// rawDB returns the store's database handle for tests that must reach past
// the Store, such as tampering with the audit log.
func rawDB(t testing.TB, st steward.Store) *sql.DB {
	t.Helper()
	h, ok := st.(interface{ DB() *sql.DB })
	if !ok {
		t.Skipf("%T exposes no database handle", st)
	}
	return h.DB()
}
