package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// Cases for the decisions of SPEC §4 that guard the service's edges: no-op
// writes, text, unknown and foreign ids, verified domains, and keeping
// costly work out of write transactions.
func init() {
	partnerCases = append(partnerCases,
		suiteCase{"Decision_NoOpWrites_NeedPermissionRecordNothing", testNoOpWrites},
		suiteCase{"Decision_Text_NULAndInvalidUTF8Refused", testTextRefused},
		suiteCase{"Decision_UnknownAndForeignLookAlike_Check", testCheckForeignLikeUnknown},
		suiteCase{"Decision_VerifiedDomains_ClaimedEmails", testVerifiedDomains},
		suiteCase{"Decision_PasswordHashOutsideWriteTransaction", testHashOutsideTx},
	)
}

// noop fails the test unless fn's write changed and recorded nothing in the
// accounts and answered the current revision.
func (w *World) noop(t *testing.T, fn func() (int64, error), accounts ...string) {
	t.Helper()
	var rev int64
	var err error
	w.unchanged(t, func() { rev, err = fn() }, accounts...)
	if err != nil {
		t.Fatalf("no-op write: %v", err)
	}
	if cur, _ := w.Store.CurrentRevision(ctx); rev != cur {
		t.Errorf("revision = %d, want the current %d", rev, cur)
	}
}

// refused fails the test unless fn is refused with kind and records nothing.
func (w *World) refused(t *testing.T, kind, code string, fn func() error, accounts ...string) {
	t.Helper()
	var err error
	w.unchanged(t, func() { err = fn() }, accounts...)
	WantCode(t, err, kind, code)
}

func testNoOpWrites(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	acc, owner := w.Account(steward.AccountStandard)
	plain := w.User(acc.ID, steward.RoleMember)
	support := w.Role(acc.ID, "Support", "tickets.view")

	t.Run("AccountEmptyPatchNeedsPermission", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "permission_required", func() error {
			_, _, err := w.Svc.UpdateAccount(w.As(plain.ID), acc.ID, steward.AccountUpdate{})
			return err
		}, acc.ID)
	})
	t.Run("AccountUnchangedRecordsNothing", func(t *testing.T) {
		name := acc.Name
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.UpdateAccount(w.As(owner.ID), acc.ID, steward.AccountUpdate{})
			return rev, err
		}, acc.ID)
		w.noop(t, func() (int64, error) {
			got, rev, err := w.Svc.UpdateAccount(w.As(owner.ID), acc.ID, steward.AccountUpdate{Name: &name})
			if err == nil && got.Name != name {
				t.Errorf("Name = %q, want %q", got.Name, name)
			}
			return rev, err
		}, acc.ID)
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.UpdateAccount(w.Op, acc.ID, steward.AccountUpdate{Name: &name})
			return rev, err
		}, acc.ID)
	})
	t.Run("AccountChangeStillRecorded", func(t *testing.T) {
		before := w.Events(acc.ID)
		name := acc.Name + " Ltd"
		if _, _, err := w.Svc.UpdateAccount(w.As(owner.ID), acc.ID, steward.AccountUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if got := w.Events(acc.ID); got != before+1 {
			t.Fatalf("events = %d, want %d", got, before+1)
		}
	})
	t.Run("RoleEmptyPatchNeedsPermission", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "permission_required", func() error {
			_, _, err := w.Svc.UpdateRole(w.As(plain.ID), acc.ID, support.ID, steward.RoleInput{})
			return err
		}, acc.ID)
	})
	t.Run("RoleUnchangedRecordsNothing", func(t *testing.T) {
		name, perms := support.Name, []string{"tickets.view"}
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.UpdateRole(w.As(owner.ID), acc.ID, support.ID, steward.RoleInput{Name: &name, Permissions: &perms})
			return rev, err
		}, acc.ID)
	})
	t.Run("SameRoleAgainRecordsNothing", func(t *testing.T) {
		if _, _, err := w.Svc.ChangeMemberRole(w.As(owner.ID), acc.ID, plain.ID, support.ID); err != nil {
			t.Fatal(err)
		}
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.ChangeMemberRole(w.As(owner.ID), acc.ID, plain.ID, support.ID)
			return rev, err
		}, acc.ID)
		w.refused(t, steward.EFORBIDDEN, "permission_required", func() error {
			_, _, err := w.Svc.ChangeMemberRole(w.As(plain.ID), acc.ID, plain.ID, support.ID)
			return err
		}, acc.ID)
	})
	t.Run("AssetUnchangedRecordsNothing", func(t *testing.T) {
		in := steward.AssetInput{Name: "Pipeline", OwnerUserID: owner.ID}
		if _, _, err := w.Svc.PutAsset(w.Op, acc.ID, "report", "r1", in); err != nil {
			t.Fatal(err)
		}
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.PutAsset(w.Op, acc.ID, "report", "r1", in)
			return rev, err
		}, acc.ID)
	})
	t.Run("AliasUnchangedRecordsNothing", func(t *testing.T) {
		pw.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
		if _, _, err := w.Svc.UpdateClientAlias(w.As(pw.POwner.ID), pw.P.ID, pw.C.ID, "Acme"); err != nil {
			t.Fatal(err)
		}
		w.noop(t, func() (int64, error) {
			r, rev, err := w.Svc.UpdateClientAlias(w.As(pw.POwner.ID), pw.P.ID, pw.C.ID, "Acme")
			if err == nil && r.Alias != "Acme" {
				t.Errorf("Alias = %q, want Acme", r.Alias)
			}
			return rev, err
		}, pw.P.ID, pw.C.ID)
		employee := w.User(pw.P.ID, steward.RoleMember)
		w.refused(t, steward.EFORBIDDEN, "", func() error {
			_, _, err := w.Svc.UpdateClientAlias(w.As(employee.ID), pw.P.ID, pw.C.ID, "Acme")
			return err
		}, pw.P.ID, pw.C.ID)
	})
	t.Run("ExternalUserUnchangedRecordsNothing", func(t *testing.T) {
		x := newExtWorld(t, open)
		x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
		yes := true
		x.noop(t, func() (int64, error) {
			_, rev, err := x.Svc.UpdateExternalUser(x.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{AllowRedelegation: &yes})
			return rev, err
		}, x.client.ID)
		x.noop(t, func() (int64, error) {
			_, rev, err := x.Svc.UpdateExternalUser(x.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{})
			return rev, err
		}, x.client.ID)
		member := x.User(x.client.ID, steward.RoleMember)
		x.refused(t, steward.EFORBIDDEN, "permission_required", func() error {
			_, _, err := x.Svc.UpdateExternalUser(x.As(member.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{})
			return err
		}, x.client.ID)
	})
}

func testTextRefused(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	for _, bad := range []struct{ name, s string }{{"NUL", "a\x00b"}, {"InvalidUTF8", "a\xffb"}} {
		t.Run(bad.name, func(t *testing.T) {
			for _, tc := range []struct {
				name, field string
				fn          func() error
			}{
				{"AccountName", "name", func() error {
					_, _, err := w.Svc.CreateAccount(w.Op, steward.NewAccount{Name: bad.s, Kind: steward.AccountStandard})
					return err
				}},
				{"AccountID", "account", func() error { _, err := w.Svc.FindAccount(as, "acc_"+bad.s); return err }},
				{"AccountIDByOperator", "account", func() error { _, err := w.Svc.FindAccount(w.Op, "acc_"+bad.s); return err }},
				{"MemberName", "name", func() error {
					_, _, err := w.Svc.AddMember(as, acc.ID, steward.NewMember{Email: "ann@example.com", Name: bad.s, Role: steward.RoleMember})
					return err
				}},
				{"MemberEmail", "email", func() error {
					_, _, err := w.Svc.AddMember(as, acc.ID, steward.NewMember{Email: "ann" + bad.s + "@example.com", Name: "Ann", Role: steward.RoleMember})
					return err
				}},
				{"MemberID", "user", func() error { _, err := w.Svc.FindMember(as, acc.ID, "usr_"+bad.s); return err }},
				{"MemberRoleChange", "user", func() error {
					_, _, err := w.Svc.ChangeMemberRole(as, acc.ID, "usr_"+bad.s, steward.RoleMember)
					return err
				}},
				{"RoleID", "role", func() error {
					_, _, err := w.Svc.ChangeMemberRole(as, acc.ID, owner.ID, "rol_"+bad.s)
					return err
				}},
				{"RoleName", "name", func() error {
					name, perms := bad.s, []string{}
					_, _, err := w.Svc.CreateRole(as, acc.ID, steward.RoleInput{Name: &name, Permissions: &perms})
					return err
				}},
				{"UserID", "user", func() error { _, err := w.Svc.FindUser(w.Op, "usr_"+bad.s); return err }},
				{"CheckUser", "user_id", func() error {
					_, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: "usr_" + bad.s, AccountID: acc.ID, Permission: "reports.view"})
					return err
				}},
				{"CheckAccount", "account_id", func() error {
					_, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: owner.ID, AccountID: "acc_" + bad.s, Permission: "reports.view"})
					return err
				}},
				{"SCIMFilter", "filter", func() error {
					_, err := w.Svc.ProvisionedUsers(as, acc.ID, steward.ProvisionedUserFilter{UserName: "ann" + bad.s + "@example.com"})
					return err
				}},
				{"AssetName", "name", func() error {
					_, _, err := w.Svc.PutAsset(w.Op, acc.ID, "report", "r1", steward.AssetInput{Name: bad.s, OwnerUserID: owner.ID})
					return err
				}},
				{"AuditFilter", "action", func() error {
					_, _, err := w.Svc.FindEvents(as, steward.AuditFilter{AccountID: acc.ID, Action: "member" + bad.s})
					return err
				}},
				{"ActivityTarget", "target", func() error {
					_, _, err := w.Svc.ReportActivity(w.Op, acc.ID, steward.ActivityReport{UserID: owner.ID, Action: "contact.updated", Target: bad.s})
					return err
				}},
				{"ActAs", "header.Steward-Act-As", func() error {
					au := &steward.Authenticator{Store: w.Store, OperatorTokenHash: steward.HashSecret("op")}
					_, err := au.Authenticate(ctx, "op", "usr_"+bad.s)
					return err
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var err error
					w.unchanged(t, func() { err = tc.fn() }, acc.ID)
					WantCode(t, err, steward.EINVALID, "invalid_text")
					if !slices.ContainsFunc(steward.ErrorFields(err), func(f steward.FieldError) bool { return f.Field == tc.field }) {
						t.Fatalf("Fields = %+v, want one naming %q", steward.ErrorFields(err), tc.field)
					}
				})
			}
		})
	}
}

func testCheckForeignLikeUnknown(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	mine, me := w.Account(steward.AccountStandard)
	foreign, _ := w.Account(steward.AccountStandard)
	unknown := steward.NewID(steward.PrefixAccount, w.Now)
	as := w.As(me.ID)
	ask := func(accountID string) error {
		_, err := w.Svc.Check(as, steward.CheckRequest{UserID: me.ID, AccountID: accountID, Permission: "reports.view"})
		return err
	}
	askBatch := func(accountID string) error {
		_, err := w.Svc.CheckBatch(as, steward.BatchCheckRequest{Checks: []steward.CheckRequest{
			{UserID: me.ID, AccountID: mine.ID, Permission: "reports.view"},
			{UserID: me.ID, AccountID: accountID, Permission: "reports.view"},
		}})
		return err
	}
	same := func(t *testing.T, a, b error) {
		t.Helper()
		WantCode(t, a, steward.ENOTFOUND, "account_not_found")
		WantCode(t, b, steward.ENOTFOUND, "account_not_found")
		ma := strings.ReplaceAll(steward.ErrorMessage(a), foreign.ID, "ID")
		mb := strings.ReplaceAll(steward.ErrorMessage(b), unknown, "ID")
		if ma != mb {
			t.Fatalf("foreign answers %q, unknown %q: they must look alike", ma, mb)
		}
	}
	t.Run("Check", func(t *testing.T) { same(t, ask(foreign.ID), ask(unknown)) })
	t.Run("Batch", func(t *testing.T) { same(t, askBatch(foreign.ID), askBatch(unknown)) })
	t.Run("CheckFromStore", func(t *testing.T) {
		_, errF := w.Svc.CheckFromStore(as, steward.CheckRequest{UserID: me.ID, AccountID: foreign.ID, Permission: "reports.view"})
		_, errU := w.Svc.CheckFromStore(as, steward.CheckRequest{UserID: me.ID, AccountID: unknown, Permission: "reports.view"})
		same(t, errF, errU)
	})
	t.Run("OperatorSeesNoMembership", func(t *testing.T) {
		if got := w.Reason(me.ID, foreign.ID, "reports.view"); got != steward.ReasonNoMembership {
			t.Fatalf("operator's reason = %s, want %s", got, steward.ReasonNoMembership)
		}
	})
	t.Run("OwnAccountStillAnswers", func(t *testing.T) {
		if err := ask(mine.ID); err != nil {
			t.Fatalf("a check in the user's own account: %v", err)
		}
	})
}

func testVerifiedDomains(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acme, acmeOwner := w.Account(steward.AccountStandard)
	domains := []string{"acme.example", "kite.example"}
	if _, _, err := w.Svc.UpdateAccount(w.Op, acme.ID, steward.AccountUpdate{VerifiedDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	other, otherOwner := w.Account(steward.AccountPartner)
	// A user of the other account who may create users there, but is no super admin.
	admins := w.Role(other.ID, "User admins", steward.PermUsersManage, steward.PermSCIMProvision)
	admin := w.User(other.ID, admins.ID)

	const kelvin = "\u212a" // KELVIN SIGN: NFKC folds it to "k"
	for _, tc := range []struct{ name, email string }{
		{"Plain", "someone@acme.example"},
		{"UpperCase", "Someone@ACME.example"},
		{"KelvinSignInDomain", "someone@" + kelvin + "ite.example"},
		{"FullWidthDomain", "someone@\uff41\uff43\uff4d\uff45.example"},
	} {
		t.Run("ErrMemberOfOtherAccount_"+tc.name, func(t *testing.T) {
			for _, as := range []string{admin.ID, otherOwner.ID} {
				w.refused(t, steward.ECONFLICT, "domain_claimed", func() error {
					_, _, err := w.Svc.AddMember(w.As(as), other.ID, steward.NewMember{Email: tc.email, Name: "Squatter", Role: steward.RoleMember})
					return err
				}, other.ID, acme.ID)
			}
		})
		t.Run("ErrSCIM_"+tc.name, func(t *testing.T) {
			w.refused(t, steward.ECONFLICT, "domain_claimed", func() error {
				_, _, err := w.Svc.ProvisionUser(w.As(admin.ID), other.ID, steward.SCIMUserInput{UserName: tc.email, DisplayName: "Squatter", Active: true})
				return err
			}, other.ID, acme.ID)
		})
	}
	t.Run("OperatorMay", func(t *testing.T) {
		if _, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: "consultant@acme.example", Name: "C", HomeAccountID: other.ID}); err != nil {
			t.Fatalf("the operator creating a user in a claimed domain: %v", err)
		}
	})
	t.Run("HomeAccountMay", func(t *testing.T) {
		u, _, err := w.Svc.ProvisionUser(w.As(acmeOwner.ID), acme.ID, steward.SCIMUserInput{UserName: "kim@" + kelvin + "ite.example", DisplayName: "Kim", Active: true})
		if err != nil {
			t.Fatalf("the domain's own account creating a user: %v", err)
		}
		if u.Email != "kim@kite.example" {
			t.Fatalf("Email = %q, want it NFKC case folded to kim@kite.example", u.Email)
		}
		if _, _, err := w.Svc.AddMember(w.As(acmeOwner.ID), acme.ID, steward.NewMember{Email: "kate@acme.example", Name: "Kate", Role: steward.RoleMember}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrDuplicateDiffersByKelvinSign", func(t *testing.T) {
		w.refused(t, steward.ECONFLICT, "email_taken", func() error {
			_, _, err := w.Svc.AddMember(w.As(acmeOwner.ID), acme.ID, steward.NewMember{Email: kelvin + "ate@acme.example", Name: "Twin", Role: steward.RoleMember})
			return err
		}, acme.ID)
		w.refused(t, steward.ECONFLICT, "email_taken", func() error {
			_, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: "\uff4bate@acme.example", Name: "Twin", HomeAccountID: acme.ID})
			return err
		}, acme.ID)
	})
	t.Run("UnclaimedDomainIsFree", func(t *testing.T) {
		if _, _, err := w.Svc.AddMember(w.As(admin.ID), other.ID, steward.NewMember{Email: "someone@acme-partners.example", Name: "S", Role: steward.RoleMember}); err != nil {
			t.Fatal(err)
		}
	})
}

// interleavingHasher runs a write of another account while it hashes and
// waits for it to commit. A hash inside a write transaction holds the
// store's writer (SQLite has one), so the other write could not commit
// until the hash ended: the wait then fails instead of deadlocking.
type interleavingHasher struct {
	during func() error
	calls  atomic.Int64
}

func (h *interleavingHasher) Hash(password string) (string, error) {
	h.calls.Add(1)
	done := make(chan error, 1)
	go func() { done <- h.during() }()
	select {
	case err := <-done:
		if err != nil {
			return "", fmt.Errorf("another account's write failed while a password was hashed: %w", err)
		}
		return "hashed:" + password, nil
	case <-time.After(20 * time.Second):
		return "", errors.New("another account's write could not commit while a password was hashed: the hash ran inside a write transaction")
	}
}

func (h *interleavingHasher) Verify(hash, password string) bool { return hash == "hashed:"+password }

func testHashOutsideTx(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	bystander, _ := w.Account(steward.AccountStandard)
	n := 0
	h := &interleavingHasher{during: func() error {
		n++
		name := fmt.Sprintf("Concurrent %d", n)
		_, _, err := w.Svc.UpdateAccount(w.Op, bystander.ID, steward.AccountUpdate{Name: &name})
		return err
	}}
	w.Svc.Passwords = h
	for _, tc := range []struct {
		name, email string
		fn          func(email string) error
	}{
		{"CreateAccountOwner", "first@example.com", func(email string) error {
			_, _, err := w.Svc.CreateAccount(w.Op, steward.NewAccount{Name: "New", Kind: steward.AccountStandard,
				Owner: &steward.NewOwner{Email: email, Name: "First", Password: "correct horse"}})
			return err
		}},
		{"CreateUser", "second@example.com", func(email string) error {
			_, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: email, Name: "Second", HomeAccountID: acc.ID, Password: "correct horse"})
			return err
		}},
		{"AddMember", "third@example.com", func(email string) error {
			_, _, err := w.Svc.AddMember(w.As(owner.ID), acc.ID, steward.NewMember{Email: email, Name: "Third", Role: steward.RoleMember, Password: "correct horse"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := h.calls.Load()
			if err := tc.fn(tc.email); err != nil {
				t.Fatal(err)
			}
			if h.calls.Load() != calls+1 {
				t.Fatalf("the password was hashed %d times, want once", h.calls.Load()-calls)
			}
			u, err := w.Store.FindUserByEmail(ctx, tc.email)
			if err != nil {
				t.Fatal(err)
			}
			if !h.Verify(u.PasswordHash, "correct horse") {
				t.Fatalf("PasswordHash = %q, want the hasher's", u.PasswordHash)
			}
		})
	}
	t.Run("ErrShortPasswordHashesNothing", func(t *testing.T) {
		calls := h.calls.Load()
		_, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: "short@example.com", Name: "S", HomeAccountID: acc.ID, Password: "short"})
		WantCode(t, err, steward.EINVALID, "invalid_user")
		if h.calls.Load() != calls {
			t.Fatal("a refused password was hashed")
		}
	})
}
