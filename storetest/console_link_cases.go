package storetest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// The console hand-off (SPEC §3 "console hand-off"): the platform's
// single-use, 60-second link that signs a user in to the console.
func init() {
	consoleCases = append(consoleCases,
		suiteCase{"ConsoleLink_SignsInOnceWithin60s", testConsoleLinkOnce},
		suiteCase{"ConsoleLink_OperatorOnly", testConsoleLinkOperatorOnly},
		suiteCase{"ConsoleLink_ReturnToIsAConsolePath", testConsoleLinkReturnTo},
		suiteCase{"ConsoleLink_RefusedUsers", testConsoleLinkRefused},
		suiteCase{"ConsoleLink_ConcurrentRedeemsOneWins", testConsoleLinkConcurrent},
		suiteCase{"SSO_VerifiedEmailThenPasswordSignInChecks", testSignInWithIdentity},
		suiteCase{"SSO_IdentityBindsIssuerAndSubject", testSSOIdentityBinding},
		suiteCase{"ConsoleLink_PrunedADayAfterExpiry", testConsoleLinkPruned},
	)
}

// consoleLinkToken is the token a console link's URL ends with.
func consoleLinkToken(t testing.TB, l *steward.NewConsoleLink) string {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(u.Path, "/console-links/")
	if !ok || !steward.WellFormedConsoleLinkToken(tok) {
		t.Fatalf("console link URL %q does not end with a console link token", l.URL)
	}
	return tok
}

func testConsoleLinkOnce(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	before := x.Events(x.home.ID)
	l, rev, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID, ReturnTo: "/accounts/" + x.home.ID + "?tab=users"})
	if err != nil {
		t.Fatal(err)
	}
	if rev == 0 || !l.ExpiresAt.Equal(x.Now.Add(60*time.Second)) || l.UserID != x.ext.ID {
		t.Errorf("link = %+v, rev %d; want it to expire 60 s from now", l, rev)
	}
	if !strings.HasPrefix(l.URL, "https://steward.example.com/console-links/") {
		t.Errorf("URL = %q, want the console's /console-links/ page under the base URL", l.URL)
	}
	tok := consoleLinkToken(t, l)
	// Creating is audited in the user's home account, as issuing a token is.
	if got := x.Events(x.home.ID); got != before+1 {
		t.Errorf("events in the home account = %d, want %d", got, before+1)
	}
	// Only the hash is kept.
	if _, err := x.Store.FindConsoleLinkByHash(ctx, tok); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindConsoleLinkByHash(the token itself) = %v, want ENOTFOUND: only the hash is kept", err)
	}
	kept, err := x.Store.FindConsoleLinkByHash(ctx, steward.HashSecret(tok))
	if err != nil || kept.UserID != x.ext.ID || kept.UsedAt != nil || kept.ReturnTo != l.ReturnTo {
		t.Fatalf("kept link = %+v, %v", kept, err)
	}

	x.Now = x.Now.Add(59 * time.Second)
	u, next, err := x.Svc.RedeemConsoleLink(context.Background(), tok)
	if err != nil || u.ID != x.ext.ID || next != "/accounts/"+x.home.ID+"?tab=users" {
		t.Fatalf("RedeemConsoleLink = %v, %q, %v; want the user and its return_to", u, next, err)
	}
	evs, _, err := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.home.ID, Action: "console_link.used", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Actor.UserID != x.ext.ID {
		t.Errorf("console_link.used events = %+v, %v; want one by the user", evs, err)
	}
	// Single use.
	_, _, err = x.Svc.RedeemConsoleLink(context.Background(), tok)
	WantCode(t, err, steward.ECONFLICT, "console_link_used")

	// Valid 60 s: at 60 s it is gone.
	l2, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID})
	if err != nil {
		t.Fatal(err)
	}
	if l2.ReturnTo != "/" {
		t.Errorf("default return_to = %q, want /", l2.ReturnTo)
	}
	x.Now = x.Now.Add(60 * time.Second)
	_, _, err = x.Svc.RedeemConsoleLink(context.Background(), consoleLinkToken(t, l2))
	WantCode(t, err, steward.EGONE, "console_link_expired")

	// Unknown and malformed tokens are unknown.
	for _, tok := range []string{steward.NewSecret(steward.ConsoleLinkTokenPrefix), "stwc_short", "", tok + "x"} {
		_, _, err = x.Svc.RedeemConsoleLink(context.Background(), tok)
		WantCode(t, err, steward.ENOTFOUND, "console_link_not_found")
	}
}

func testConsoleLinkOperatorOnly(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	for _, as := range []context.Context{x.As(x.owner.ID), x.As(x.ext.ID)} {
		_, _, err := x.Svc.CreateConsoleLink(as, steward.ConsoleLinkRequest{UserID: x.ext.ID})
		WantCode(t, err, steward.EFORBIDDEN, "operator_only")
	}
	_, _, err := x.Svc.CreateConsoleLink(context.Background(), steward.ConsoleLinkRequest{UserID: x.ext.ID})
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
	// An unknown user is 404 like any unknown id.
	_, _, err = x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: "usr_0000000000000000000000000"})
	WantCode(t, err, steward.ENOTFOUND, "")
}

func testConsoleLinkReturnTo(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", "/x\r\nSet-Cookie: a=b",
		"javascript:alert(1)", "/" + strings.Repeat("a", 2048)} {
		_, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID, ReturnTo: bad})
		WantCode(t, err, steward.EINVALID, "")
		var e *steward.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "return_to" {
			t.Errorf("return_to %q: error %v does not name the field return_to", bad, err)
		}
	}
}

func testConsoleLinkRefused(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	deact := x.User(x.home.ID, steward.RoleMember)
	revoked := x.User(x.home.ID, steward.RoleMember)
	ended := x.User(x.home.ID, steward.RoleMember)
	late := x.User(x.home.ID, steward.RoleMember)
	// A link issued before the user lost its access signs in no one.
	lateLink, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: late.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Svc.DeactivateUser(x.Op, deact.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Svc.RevokeUser(x.Op, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Svc.DeactivateMember(x.Op, x.home.ID, ended.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Svc.DeactivateUser(x.Op, late.ID); err != nil {
		t.Fatal(err)
	}
	before := x.Events(x.home.ID)
	for _, tt := range []struct {
		u    *steward.User
		code string
	}{{deact, steward.ReasonUserDeactivated}, {revoked, steward.ReasonUserDeactivated}, {ended, ""}} {
		_, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: tt.u.ID})
		WantCode(t, err, steward.ECONFLICT, tt.code)
	}
	if got := x.Events(x.home.ID); got != before {
		t.Errorf("refused links recorded %d events", got-before)
	}
	_, _, err = x.Svc.RedeemConsoleLink(context.Background(), consoleLinkToken(t, lateLink))
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonUserDeactivated)
	// Refused, the link is not used: nothing half-done.
	kept, err := x.Store.FindConsoleLinkByHash(ctx, steward.HashSecret(consoleLinkToken(t, lateLink)))
	if err != nil || kept.UsedAt != nil {
		t.Errorf("refused link = %+v, %v; want it unused", kept, err)
	}
}

func testConsoleLinkConcurrent(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	l, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok := consoleLinkToken(t, l)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = x.Svc.RedeemConsoleLink(context.Background(), tok) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case steward.ErrorCode(err) != "console_link_used":
			t.Errorf("a losing redeem = %v, want console_link_used", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d redeems signed in, want exactly 1", ok)
	}
}

// testSignInWithIdentity: single sign-on (SPEC §3 "Web console") matches a
// verified email case-insensitively, refuses unverified and unknown ones
// alike, and applies the checks of password sign-in.
func testSignInWithIdentity(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	u := x.userWithPassword(x.home.ID, "sso.user@example.com", "pass word")
	deact := x.userWithPassword(x.home.ID, "sso.deactivated@example.com", "pass word")
	if _, _, err := x.Svc.DeactivateUser(x.Op, deact.ID); err != nil {
		t.Fatal(err)
	}
	id := func(email string, verified bool) steward.Identity {
		return steward.Identity{Issuer: "https://idp.example.com", Subject: "sub-" + email, Email: email, EmailVerified: verified}
	}
	got, err := x.Svc.SignInWithIdentity(ctx, id("SSO.User@Example.COM", true))
	if err != nil || got.ID != u.ID {
		t.Fatalf("SignInWithIdentity = %v, %v; want the user", got, err)
	}
	_, errUnverified := x.Svc.SignInWithIdentity(ctx, id(u.Email, false))
	_, errUnknown := x.Svc.SignInWithIdentity(ctx, id("nobody@example.com", true))
	_, errNoEmail := x.Svc.SignInWithIdentity(ctx, id("", true))
	for _, err := range []error{errUnverified, errUnknown, errNoEmail} {
		WantCode(t, err, steward.EUNAUTHENTICATED, "sso_sign_in_failed")
	}
	if errUnverified.Error() != errUnknown.Error() {
		t.Errorf("answers differ: %q, %q", errUnverified, errUnknown)
	}
	_, err = x.Svc.SignInWithIdentity(ctx, id(deact.Email, true))
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonUserDeactivated)
	_, errPassword := x.Svc.SignIn(ctx, deact.Email, "pass word")
	if err.Error() != errPassword.Error() {
		t.Errorf("a deactivated user: single sign-on answers %q, password sign-in %q", err, errPassword)
	}
}

// testConsoleLinkPruned: the housekeeping job deletes console links a day
// after they expired, used or not, and keeps younger ones.
func testConsoleLinkPruned(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	old, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Svc.RedeemConsoleLink(context.Background(), consoleLinkToken(t, old)); err != nil {
		t.Fatal(err)
	}
	x.Now = x.Now.Add(steward.ConsoleLinkRetention + steward.ConsoleLinkTTL + time.Second)
	young, _, err := x.Svc.CreateConsoleLink(x.Op, steward.ConsoleLinkRequest{UserID: x.ext.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Svc.RunDueJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Store.FindConsoleLinkByHash(ctx, steward.HashSecret(consoleLinkToken(t, old))); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("a link expired a day ago: %v, want it deleted", err)
	}
	if _, err := x.Store.FindConsoleLinkByHash(ctx, steward.HashSecret(consoleLinkToken(t, young))); err != nil {
		t.Errorf("a live link: %v, want it kept", err)
	}
}

// testSSOIdentityBinding: the first single sign-on of a user binds the
// provider's (issuer, subject) to it (SPEC §3 "Web console"); that subject
// then signs in as the user whatever email it asserts, and another subject
// asserting the user's verified email is refused and audited, binding
// nothing. Removing or revoking the user deletes its bindings.
func testSSOIdentityBinding(t *testing.T, open Opener) {
	x := passwordWorld(t, open)
	const iss = "https://idp.example.com"
	u := x.userWithPassword(x.home.ID, "bound.user@example.com", "pass word")
	events := func(action string) int {
		t.Helper()
		evs, _, err := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.home.ID, Action: action, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	boundTo := func(issuer, subject string) string {
		t.Helper()
		b, err := x.Store.FindUserIdentity(ctx, issuer, subject)
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			return ""
		} else if err != nil {
			t.Fatal(err)
		}
		return b.UserID
	}
	signIn := func(subject, email string, verified bool) (*steward.User, error) {
		return x.Svc.SignInWithIdentity(ctx, steward.Identity{Issuer: iss, Subject: subject, Email: email, EmailVerified: verified})
	}

	t.Run("FirstSignInBinds", func(t *testing.T) {
		got, err := signIn("subject-a", "Bound.User@example.com", true)
		if err != nil || got.ID != u.ID {
			t.Fatalf("first sign-in = %v, %v; want the user", got, err)
		}
		if id := boundTo(iss, "subject-a"); id != u.ID {
			t.Errorf("subject-a is bound to %q, want %s", id, u.ID)
		}
		evs, _, err := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.home.ID, Action: "user.identity_bound", Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].TargetID != u.ID || evs[0].Actor.UserID != u.ID {
			t.Errorf("user.identity_bound events = %+v, %v; want one by the user", evs, err)
		}
		if _, err := signIn("subject-a", u.Email, true); err != nil {
			t.Fatal(err)
		}
		if n := events("user.identity_bound"); n != 1 {
			t.Errorf("a second sign-in: %d user.identity_bound events, want still 1", n)
		}
	})

	t.Run("SameSubjectChangedEmailSignsInTheUser", func(t *testing.T) {
		for _, c := range []struct {
			email    string
			verified bool
		}{{"renamed@example.com", true}, {"renamed@example.com", false}, {"", false}} {
			got, err := signIn("subject-a", c.email, c.verified)
			if err != nil || got.ID != u.ID {
				t.Errorf("the bound subject asserting %q (verified %v) = %v, %v; want the user", c.email, c.verified, got, err)
			}
		}
	})

	t.Run("AnotherSubjectWithTheEmailIsRefused", func(t *testing.T) {
		_, err := signIn("subject-b", u.Email, true)
		WantCode(t, err, steward.EUNAUTHENTICATED, "sso_sign_in_failed")
		_, errUnknown := signIn("subject-c", "nobody@example.com", true)
		if err == nil || errUnknown == nil || err.Error() != errUnknown.Error() {
			t.Errorf("answers differ: %v, %v", err, errUnknown)
		}
		if id := boundTo(iss, "subject-b"); id != "" {
			t.Errorf("subject-b is bound to %s, want nothing bound", id)
		}
		if b, err := x.Store.FindUserIdentityOf(ctx, iss, u.ID); err != nil || b.Subject != "subject-a" {
			t.Errorf("the user's binding = %+v, %v; want subject-a still", b, err)
		}
		if n := events("user.identity_refused"); n != 1 {
			t.Errorf("%d user.identity_refused events, want 1", n)
		}
		// Another issuer is another provider: its first sign-in binds.
		got, err := x.Svc.SignInWithIdentity(ctx, steward.Identity{Issuer: "https://other-idp.example.com", Subject: "subject-b", Email: u.Email, EmailVerified: true})
		if err != nil || got.ID != u.ID {
			t.Errorf("another issuer's first sign-in = %v, %v; want the user", got, err)
		}
		// The password sign-in is unaffected.
		if got, err := x.Svc.SignIn(ctx, u.Email, "pass word"); err != nil || got.ID != u.ID {
			t.Errorf("password sign-in = %v, %v; want the user", got, err)
		}
	})

	t.Run("RemovalClearsTheBinding", func(t *testing.T) {
		if _, err := x.Svc.RemoveMemberWith(x.Op, x.home.ID, u.ID, steward.MemberRemoval{}); err != nil {
			t.Fatal(err)
		}
		if id := boundTo(iss, "subject-a"); id != "" {
			t.Errorf("after the user's removal subject-a is bound to %s, want nothing", id)
		}
		if _, err := signIn("subject-a", "renamed@example.com", true); err == nil {
			t.Error("the removed user's subject still signs in")
		}
		// A later user with the address binds afresh, to the subject that
		// signs in first.
		v := x.userWithPassword(x.home.ID, u.Email, "pass word")
		got, err := signIn("subject-b", u.Email, true)
		if err != nil || got.ID != v.ID {
			t.Fatalf("the new user's first sign-in = %v, %v; want the new user", got, err)
		}
		_, err = signIn("subject-a", u.Email, true)
		WantCode(t, err, steward.EUNAUTHENTICATED, "sso_sign_in_failed")
	})

	t.Run("ConcurrentFirstSignInsBindOnce", func(t *testing.T) {
		c := x.userWithPassword(x.home.ID, "concurrent.sso@example.com", "pass word")
		before := events("user.identity_bound")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := signIn("subject-c1", c.Email, true)
				if err == nil && got.ID != c.ID {
					err = errors.New("signed in as " + got.ID)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("a concurrent first sign-in: %v, want the user", err)
			}
		}
		if id := boundTo(iss, "subject-c1"); id != c.ID {
			t.Errorf("subject-c1 is bound to %q, want %s", id, c.ID)
		}
		if n := events("user.identity_bound") - before; n != 1 {
			t.Errorf("%d user.identity_bound events, want 1", n)
		}
	})

	t.Run("RevocationClearsTheBinding", func(t *testing.T) {
		w := x.userWithPassword(x.home.ID, "revoked.sso@example.com", "pass word")
		if got, err := signIn("subject-w", w.Email, true); err != nil || got.ID != w.ID {
			t.Fatalf("first sign-in = %v, %v", got, err)
		}
		if _, _, err := x.Svc.RevokeUser(x.Op, w.ID); err != nil {
			t.Fatal(err)
		}
		if id := boundTo(iss, "subject-w"); id != "" {
			t.Errorf("after the user's revocation subject-w is bound to %s, want nothing", id)
		}
	})
}
