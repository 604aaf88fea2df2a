package storetest

import (
	"log/slog"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/password"
)

// consoleCases are the rules the console asks of the Service: who may sign
// in and keep a session, and what the invitation page may offer.
var consoleCases = []suiteCase{
	{"SignIn_SameAnswerUnknownEmailWrongPassword", testSignInSameAnswer},
	{"SignIn_DeactivatedOrEndedRefused", testSignInRefused},
	{"Standings_HowEachAccountIsHeld", testStandings},
	{"SessionUser_RevokedAtNextRequest", testSessionUserRevoked},
	{"SessionUser_RevokedAtNextRequestFromIndex", testSessionUserRevokedIndexed},
	{"StandingIn_FindStandings_AgreeWithStandings", testStandingPages},
	{"R-EXT-6_R-EXT-7_RefusalKnownBeforeAccept", testInvitationRefusal},
}

// passwordWorld is a World whose service hashes passwords (cheaply).
func passwordWorld(t *testing.T, open Opener) *extWorld {
	x := newExtWorld(t, open)
	x.Svc.Passwords = &password.Hasher{Memory: 8 * 1024, Time: 1, Threads: 1}
	return x
}

func (x *extWorld) userWithPassword(home, email, pass string) *steward.User {
	x.T.Helper()
	u, _, err := x.Svc.CreateUser(x.Op, steward.NewUser{Email: email, Name: "Console User", HomeAccountID: home, Password: pass})
	if err != nil {
		x.T.Fatal(err)
	}
	return u
}

func testSignInSameAnswer(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	u := x.userWithPassword(x.home.ID, "sign.in@example.com", "right password")
	got, err := x.Svc.SignIn(ctx, "Sign.In@Example.com", "right password")
	if err != nil || got.ID != u.ID {
		t.Fatalf("SignIn = %v, %v; want the user", got, err)
	}
	_, errWrong := x.Svc.SignIn(ctx, u.Email, "wrong password")
	_, errUnknown := x.Svc.SignIn(ctx, "nobody@example.com", "right password")
	_, errNoPassword := x.Svc.SignIn(ctx, x.ext.Email, "right password") // a user without a console password
	for _, err := range []error{errWrong, errUnknown, errNoPassword} {
		WantCode(t, err, steward.EUNAUTHENTICATED, "sign_in_failed")
	}
	if errWrong.Error() != errUnknown.Error() || errWrong.Error() != errNoPassword.Error() {
		t.Errorf("answers differ: %q, %q, %q", errWrong, errUnknown, errNoPassword)
	}
	_, err = x.Svc.SignIn(ctx, "not an address", "x")
	WantCode(t, err, steward.EINVALID, "")
}

func testSignInRefused(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	deact := x.userWithPassword(x.home.ID, "deactivated@example.com", "pass word")
	ended := x.userWithPassword(x.home.ID, "ended@example.com", "pass word")
	if _, _, err := x.Svc.DeactivateUser(x.Op, deact.ID); err != nil {
		t.Fatal(err)
	}
	_, err := x.Svc.SignIn(ctx, deact.Email, "pass word")
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonUserDeactivated)
	_, err = x.Svc.Standings(x.As(deact.ID))
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonUserDeactivated)

	// A user whose one membership no longer holds keeps no session either.
	if _, _, err := x.Svc.DeactivateMember(x.Op, x.home.ID, ended.ID); err != nil {
		t.Fatal(err)
	}
	_, err = x.Svc.SignIn(ctx, ended.Email, "pass word")
	WantCode(t, err, steward.EFORBIDDEN, "")
	_, err = x.Svc.Standings(x.As(ended.ID))
	WantCode(t, err, steward.EFORBIDDEN, "")

	_, err = x.Svc.Standings(ctx)
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
}

func testStandings(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, x.ext.Email)
	if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), x.token(x.ext.Email)); err != nil {
		t.Fatal(err)
	}
	sts, err := x.Svc.Standings(x.As(x.ext.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[0].Account.ID != x.home.ID || sts[1].Account.ID != x.client.ID {
		t.Fatalf("standings = %d, want the home account first, then the client", len(sts))
	}
	home, ext := sts[0], sts[1]
	if home.Membership.Kind != steward.KindInternal || ext.Membership.Kind != steward.KindExternal || ext.RoleName != "Editors" {
		t.Errorf("standings = %+v / %+v", home.Membership, ext.Membership)
	}
	if !steward.Contains(ext.Permissions, "crm.contacts.edit") || len(ext.Chain) == 0 || ext.Chain[0].ID != ext.Membership.ID {
		t.Errorf("external standing: permissions %v, chain %+v", ext.Permissions, ext.Chain)
	}
	// The check agrees with every standing.
	for _, st := range sts {
		for _, p := range st.Permissions {
			if !x.Allowed(x.ext.ID, st.Account.ID, p) {
				t.Errorf("standing in %s lists %s, the check refuses it", st.Account.ID, p)
			}
		}
	}
	// Another tenant's user sees none of these accounts.
	other, err := x.Svc.Standings(x.As(x.stranger.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range other {
		if st.Account.ID == x.client.ID || st.Account.ID == x.home.ID {
			t.Errorf("a stranger stands in %s", st.Account.ID)
		}
	}
}

func testInvitationRefusal(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, x.ext.Email)
	token := x.token(x.ext.Email)
	WantCode(t, x.Svc.InvitationRefusal(x.As(x.colleague.ID), token), steward.EFORBIDDEN, "invitation_email_mismatch")
	WantCode(t, x.Svc.InvitationRefusal(x.As(x.ext.ID), "stwi_forged"), steward.ENOTFOUND, "")

	// R-EXT-7: the client admits only users whose home account has billing.
	on := steward.DelegationPolicy{RequireDelegateBilling: true}
	if _, _, err := x.Svc.UpdateAccount(x.Op, x.client.ID, steward.AccountUpdate{DelegationPolicy: &on}); err != nil {
		t.Fatal(err)
	}
	refusal := x.Svc.InvitationRefusal(x.As(x.ext.ID), token)
	WantCode(t, refusal, steward.EFORBIDDEN, "home_account_billing_required")
	_, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token)
	if steward.ErrorCode(err) != steward.ErrorCode(refusal) {
		t.Errorf("AcceptInvitation = %v, the refusal said %v", err, refusal)
	}
	off := steward.DelegationPolicy{}
	if _, _, err := x.Svc.UpdateAccount(x.Op, x.client.ID, steward.AccountUpdate{DelegationPolicy: &off}); err != nil {
		t.Fatal(err)
	}
	if err := x.Svc.InvitationRefusal(x.As(x.ext.ID), token); err != nil {
		t.Fatalf("the invitee is refused: %v", err)
	}
	if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token); err != nil {
		t.Fatal(err)
	}
	WantCode(t, x.Svc.InvitationRefusal(x.As(x.ext.ID), token), steward.ECONFLICT, "invitation_used")
}

// withIndex gives the world's service the check index, as steward serve
// does: checks, listings and the console's session check answer from it.
func withIndex(t *testing.T, x *extWorld) {
	src, ok := x.Store.(authz.Source)
	if !ok {
		t.Skip("the store cannot feed the check index")
	}
	ix := authz.New(src, x.Svc.Catalogue, slog.New(slog.DiscardHandler))
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	x.Svc.Checker, x.Svc.Lister, x.Svc.OnCommit = ix, ix, ix.OnCommit
}

func testSessionUserRevoked(t *testing.T, open Opener) {
	sessionUserRevoked(t, passwordWorld(t, open))
}

func testSessionUserRevokedIndexed(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	withIndex(t, x)
	sessionUserRevoked(t, x)
}

// sessionUserRevoked: the console's per-request check keeps a session while
// one membership holds, and refuses it at the next request once the user is
// deactivated or its last membership ended.
func sessionUserRevoked(t *testing.T, x *extWorld) {
	// The external user holds two memberships: its home one and the client's.
	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, x.ext.Email)
	if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), x.token(x.ext.Email)); err != nil {
		t.Fatal(err)
	}
	if u, err := x.Svc.SessionUser(x.As(x.ext.ID)); err != nil || u.ID != x.ext.ID {
		t.Fatalf("SessionUser = %v, %v; want the user", u, err)
	}
	// One membership ended: the other still holds.
	if _, _, err := x.Svc.DeactivateMember(x.As(x.owner.ID), x.client.ID, x.ext.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Svc.SessionUser(x.As(x.ext.ID)); err != nil {
		t.Fatalf("with its home membership holding, SessionUser = %v", err)
	}
	// Its last membership ended: refused at the next request.
	if _, _, err := x.Svc.DeactivateMember(x.Op, x.home.ID, x.ext.ID); err != nil {
		t.Fatal(err)
	}
	_, err := x.Svc.SessionUser(x.As(x.ext.ID))
	WantCode(t, err, steward.EFORBIDDEN, "")
	if _, _, err := x.Svc.ReactivateMember(x.Op, x.home.ID, x.ext.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Svc.SessionUser(x.As(x.ext.ID)); err != nil {
		t.Fatalf("after reactivating its home membership, SessionUser = %v", err)
	}
	// Deactivated in its home account: refused at once, and back on reactivation.
	if _, _, err := x.Svc.DeactivateUser(x.Op, x.ext.ID); err != nil {
		t.Fatal(err)
	}
	_, err = x.Svc.SessionUser(x.As(x.ext.ID))
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonUserDeactivated)
	if _, _, err := x.Svc.ReactivateUser(x.Op, x.ext.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Svc.SessionUser(x.As(x.ext.ID)); err != nil {
		t.Fatalf("after reactivation, SessionUser = %v", err)
	}
	_, err = x.Svc.SessionUser(ctx)
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
	_, err = x.Svc.SessionUser(x.As("usr_unknown"))
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
}

func testStandingPages(t *testing.T, open Opener) {
	for _, indexed := range []bool{false, true} {
		x := passwordWorld(t, open)
		if indexed {
			withIndex(t, x)
		}
		x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, x.ext.Email)
		if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), x.token(x.ext.Email)); err != nil {
			t.Fatal(err)
		}
		all, err := x.Svc.Standings(x.As(x.ext.ID))
		if err != nil {
			t.Fatal(err)
		}
		// Pages of one agree with the whole list, in account id order.
		var paged []*steward.Standing
		page := steward.Page{Limit: 1}
		for {
			sts, next, err := x.Svc.FindStandings(x.As(x.ext.ID), page)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, sts...)
			if next == "" {
				break
			}
			page.After = next
		}
		if len(paged) != len(all) || len(paged) != 2 || paged[0].Account.ID > paged[1].Account.ID {
			t.Fatalf("indexed %v: %d standings in pages, %d in all", indexed, len(paged), len(all))
		}
		for _, want := range all {
			got, err := x.Svc.StandingIn(x.As(x.ext.ID), want.Account.ID)
			if err != nil || got.Membership.ID != want.Membership.ID || len(got.Permissions) != len(want.Permissions) {
				t.Errorf("indexed %v: StandingIn(%s) = %v, %v", indexed, want.Account.ID, got, err)
			}
		}
		accs, more, err := x.Svc.SwitchAccounts(x.As(x.ext.ID), 1)
		if err != nil || len(accs) != 1 || !more {
			t.Errorf("indexed %v: SwitchAccounts(1) = %d accounts, more %v, %v", indexed, len(accs), more, err)
		}
		if accs, more, _ = x.Svc.SwitchAccounts(x.As(x.ext.ID), 5); len(accs) != 2 || more || accs[0].ID != x.home.ID {
			t.Errorf("indexed %v: SwitchAccounts(5) = %d accounts, more %v; want the home account first", indexed, len(accs), more)
		}
		// An account where the user holds nothing looks unknown.
		_, err = x.Svc.StandingIn(x.As(x.stranger.ID), x.client.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
		if _, _, err := x.Svc.DeactivateMember(x.As(x.owner.ID), x.client.ID, x.ext.ID); err != nil {
			t.Fatal(err)
		}
		_, err = x.Svc.StandingIn(x.As(x.ext.ID), x.client.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
	}
}
