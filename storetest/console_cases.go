package storetest

import (
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/password"
)

// consoleCases are the rules the console asks of the Service: who may sign
// in and keep a session, and what the invitation page may offer.
var consoleCases = []suiteCase{
	{"SignIn_SameAnswerUnknownEmailWrongPassword", testSignInSameAnswer},
	{"SignIn_DeactivatedOrEndedRefused", testSignInRefused},
	{"Standings_HowEachAccountIsHeld", testStandings},
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
