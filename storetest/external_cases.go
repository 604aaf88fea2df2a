package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
)

func init() {
	externalCases = append(externalCases,
		suiteCase{"R-EXT-1_InviteIntoHeldRole", testRExt1},
		suiteCase{"R-EXT-2_ConsentRequired", testRExt2},
		suiteCase{"R-EXT-3_SeveralEmailsAllOrNone", testRExt3},
		suiteCase{"R-EXT-4_Options", testRExt4},
		suiteCase{"R-EXT-5_PendingExpiresMailed", testRExt5},
		suiteCase{"R-EXT-6_OnlyInviteeAccepts", testRExt6},
		suiteCase{"R-EXT-7_DelegateBillingPolicy", testRExt7},
		suiteCase{"R-EXT-8_EditOptions", testRExt8},
		suiteCase{"R-EXT-9_Delegates", testRExt9},
		suiteCase{"R-EXT-10_AuditChain", testRExt10},
		suiteCase{"ExternalAccessEndsWithoutJobs", testExternalEndsWithoutJobs},
		suiteCase{"SchedulerJobs", testSchedulerJobs},
		suiteCase{"SchedulerLease", testSchedulerLease},
		suiteCase{"InvitationStore", testInvitationStore},
	)
}

// extWorld is a client account with an inviter, and a home account of the
// external users with two of its users.
type extWorld struct {
	*World
	client    *steward.Account
	owner     *steward.User // super admin of the client
	home      *steward.Account
	ext       *steward.User // a user of home, to be invited
	colleague *steward.User // another user of home
	stranger  *steward.User // a user of a third account
	editors   *steward.Role // a custom role of the client
}

func newExtWorld(t *testing.T, open Opener) *extWorld {
	w := NewWorld(t, open(t))
	w.Svc.BaseURL = "https://steward.example.com/"
	x := &extWorld{World: w}
	x.client, x.owner = w.Account(steward.AccountStandard)
	x.home, _ = w.Account(steward.AccountStandard)
	third, _ := w.Account(steward.AccountStandard)
	x.ext = w.User(x.home.ID, steward.RoleMember)
	x.colleague = w.User(x.home.ID, steward.RoleMember)
	x.stranger = w.User(third.ID, steward.RoleMember)
	x.editors = w.Role(x.client.ID, "Editors", "crm.contacts.view", "crm.contacts.edit", "reports.view")
	return x
}

func (x *extWorld) consent() steward.ConsentInput {
	return steward.ConsentInput{Accepted: true, Version: x.Svc.Consent().Version}
}

// invite invites emails into role as the actor and fails the test on error.
func (x *extWorld) invite(as context.Context, role string, opts steward.NewInvitations, emails ...string) []*steward.Invitation {
	x.T.Helper()
	opts.Emails = emails
	if opts.Consent == (steward.ConsentInput{}) {
		opts.Consent = x.consent()
	}
	invs, _, err := x.Svc.Invite(as, x.client.ID, role, opts)
	if err != nil {
		x.T.Fatalf("Invite: %v", err)
	}
	return invs
}

// token reads from the outbox the invitation token mailed to email: the one
// of the pending invitation if there is one, else the only one. (Messages
// written at one instant of the test clock have no order.)
func (x *extWorld) token(email string) string {
	x.T.Helper()
	msgs, err := x.Store.FindMessages(ctx, 1000)
	if err != nil {
		x.T.Fatal(err)
	}
	const prefix = "https://steward.example.com/invitations/"
	var tokens []string
	for _, m := range msgs {
		if m.To != email || m.Kind != "invitation" {
			continue
		}
		i := strings.Index(m.Text, prefix)
		if i < 0 {
			x.T.Fatalf("invitation mail to %s has no link:\n%s", email, m.Text)
		}
		tok, _, _ := strings.Cut(m.Text[i+len(prefix):], "\n")
		inv, err := x.Store.FindInvitationByTokenHash(ctx, steward.HashSecret(tok))
		if err != nil {
			x.T.Fatalf("the mailed token has no invitation: %v", err)
		}
		if inv.Status == steward.InvitationPending {
			return tok
		}
		tokens = append(tokens, tok)
	}
	if len(tokens) != 1 {
		x.T.Fatalf("%d invitation mails to %s and none pending", len(tokens), email)
	}
	return tokens[0]
}

// external invites u into role with opts as the owner and accepts as u.
func (x *extWorld) external(u *steward.User, role string, opts steward.NewInvitations) *steward.Membership {
	x.T.Helper()
	x.invite(x.As(x.owner.ID), role, opts, u.Email)
	m, _, err := x.Svc.AcceptInvitation(x.As(u.ID), x.token(u.Email))
	if err != nil {
		x.T.Fatalf("AcceptInvitation: %v", err)
	}
	return m
}

func (x *extWorld) invitations(status steward.InvitationStatus) []*steward.Invitation {
	x.T.Helper()
	invs, _, err := x.Svc.FindInvitations(x.Op, steward.InvitationFilter{AccountID: x.client.ID, Status: status})
	if err != nil {
		x.T.Fatal(err)
	}
	return invs
}

func (x *extWorld) messages() int {
	x.T.Helper()
	msgs, err := x.Store.FindMessages(ctx, 1000)
	if err != nil {
		x.T.Fatal(err)
	}
	return len(msgs)
}

// unchanged fails the test if the client's audit log, its invitations or the
// outbox changed since before: a refused request changes nothing.
func (x *extWorld) unchanged(t *testing.T, events int64, invs, msgs int) {
	t.Helper()
	if got := x.Events(x.client.ID); got != events {
		t.Errorf("events = %d, want %d: a refused request wrote an event", got, events)
	}
	if got := len(x.invitations("")); got != invs {
		t.Errorf("invitations = %d, want %d", got, invs)
	}
	if got := x.messages(); got != msgs {
		t.Errorf("messages = %d, want %d", got, msgs)
	}
}

func (x *extWorld) snapshot() (int64, int, int) {
	return x.Events(x.client.ID), len(x.invitations("")), x.messages()
}

func ptrTime(t time.Time) *time.Time { return &t }

func testRExt1(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	inviterRole := x.Role(x.client.ID, "Inviter", steward.PermExternalUsersInvite, "crm.contacts.view", "crm.contacts.edit")
	inviter := x.User(x.client.ID, inviterRole.ID)
	as := x.As(inviter.ID)
	narrow := x.Role(x.client.ID, "Contacts", "crm.contacts.view")

	t.Run("CustomRoleHeld", func(t *testing.T) {
		invs := x.invite(as, narrow.ID, steward.NewInvitations{}, x.ext.Email)
		if len(invs) != 1 || invs[0].Role != narrow.ID || invs[0].Status != steward.InvitationPending || invs[0].InvitedBy != inviter.ID {
			t.Fatalf("Invite = %+v, want one pending invitation into %s by %s", invs, narrow.ID, inviter.ID)
		}
	})
	t.Run("BuiltinMember", func(t *testing.T) {
		x.invite(as, steward.RoleMember, steward.NewInvitations{}, "member-invitee@example.org")
	})
	t.Run("SuperAdminAdmin", func(t *testing.T) {
		// Even a super admin cannot make an external user a super admin.
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(x.As(x.owner.ID), x.client.ID, steward.RoleSuperAdmin, steward.NewInvitations{Emails: steward.EmailList{"boss@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "role_not_assignable")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrSuperAdmin", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(as, x.client.ID, steward.RoleSuperAdmin, steward.NewInvitations{Emails: steward.EmailList{"boss@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "role_not_assignable")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrPartnerAdmin", func(t *testing.T) {
		_, _, err := x.Svc.Invite(x.As(x.owner.ID), x.client.ID, steward.RolePartnerAdmin, steward.NewInvitations{Emails: steward.EmailList{"p@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "role_not_assignable")
	})
	t.Run("ErrRoleWithUnheldPermissions", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{"e@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EFORBIDDEN, "permission_not_held")
		if fs := steward.ErrorFields(err); len(fs) != 1 || !strings.Contains(fs[0].Message, "reports.view") {
			t.Errorf("Fields = %+v, want reports.view named", fs)
		}
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrWithoutInvitePermission", func(t *testing.T) {
		plain := x.User(x.client.ID, x.editors.ID)
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(x.As(plain.ID), x.client.ID, narrow.ID, steward.NewInvitations{Emails: steward.EmailList{"e@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrUnknownRole", func(t *testing.T) {
		_, _, err := x.Svc.Invite(as, x.client.ID, "rol_nope", steward.NewInvitations{Emails: steward.EmailList{"e@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "unknown_role")
	})
	t.Run("ErrOtherTenant", func(t *testing.T) {
		other, _ := x.Account(steward.AccountStandard)
		_, _, err := x.Svc.Invite(as, other.ID, steward.RoleMember, steward.NewInvitations{Emails: steward.EmailList{"e@example.org"}, Consent: x.consent()})
		WantCode(t, err, steward.ENOTFOUND, "")
	})
}

func testRExt2(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	as := x.As(x.owner.ID)
	t.Run("DefaultAgreement", func(t *testing.T) {
		c := x.Svc.Consent()
		if c.Version != steward.DefaultConsentVersion || c.Text == "" {
			t.Errorf("Consent = %+v, want the default agreement", c)
		}
	})
	t.Run("InvitationKeepsVersionInviterTime", func(t *testing.T) {
		inv := x.invite(as, x.editors.ID, steward.NewInvitations{}, x.ext.Email)[0]
		want := steward.Consent{Version: steward.DefaultConsentVersion, AcceptedBy: x.owner.ID, AcceptedAt: x.Now}
		if diff := cmp.Diff(want, inv.Consent); diff != "" {
			t.Errorf("Consent mismatch (-want +got):\n%s", diff)
		}
		stored, err := x.Store.FindInvitationByID(ctx, x.client.ID, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, stored.Consent); diff != "" {
			t.Errorf("stored Consent mismatch (-want +got):\n%s", diff)
		}
		// The audit log, which exports, carries it too.
		evs, _, err := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "consent.accepted", Limit: 10})
		if err != nil || len(evs) != 1 {
			t.Fatalf("consent.accepted events = %d, %v; want 1", len(evs), err)
		}
		var got steward.Consent
		if err := json.Unmarshal(evs[0].Details, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event Consent mismatch (-want +got):\n%s", diff)
		}
		if evs[0].Actor.UserID != x.owner.ID {
			t.Errorf("event actor = %s, want the inviter", evs[0].Actor.UserID)
		}
	})
	for _, tt := range []struct {
		name       string
		consent    steward.ConsentInput
		kind, code string
	}{
		{"ErrNotAccepted", steward.ConsentInput{Accepted: false, Version: steward.DefaultConsentVersion}, steward.EINVALID, "consent_required"},
		{"ErrNoVersion", steward.ConsentInput{Accepted: true}, steward.EINVALID, "consent_required"},
		{"ErrOldVersion", steward.ConsentInput{Accepted: true, Version: "2020-01"}, steward.ECONFLICT, "consent_outdated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{"c@example.org"}, Consent: tt.consent})
			WantCode(t, err, tt.kind, tt.code)
			x.unchanged(t, ev, n, msgs)
		})
	}
	t.Run("OperatorAgreement", func(t *testing.T) {
		x.Svc.ConsentVersion, x.Svc.ConsentText = "acme-3", "Acme's own terms."
		t.Cleanup(func() { x.Svc.ConsentVersion, x.Svc.ConsentText = "", "" })
		if c := x.Svc.Consent(); c.Version != "acme-3" || c.Text != "Acme's own terms." {
			t.Errorf("Consent = %+v, want the operator's", c)
		}
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{"c@example.org"},
			Consent: steward.ConsentInput{Accepted: true, Version: steward.DefaultConsentVersion}})
		WantCode(t, err, steward.ECONFLICT, "consent_outdated")
		x.unchanged(t, ev, n, msgs)
		inv := x.invite(as, x.editors.ID, steward.NewInvitations{Consent: steward.ConsentInput{Accepted: true, Version: "acme-3"}}, "c@example.org")[0]
		if inv.Consent.Version != "acme-3" {
			t.Errorf("Consent.Version = %s, want acme-3", inv.Consent.Version)
		}
	})
}

func testRExt3(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	as := x.As(x.owner.ID)
	t.Run("CommasSpacesCaseDuplicates", func(t *testing.T) {
		invs := x.invite(as, x.editors.ID, steward.NewInvitations{},
			" Ada@Example.com, bob@example.com ,ada@example.COM,, ", "carol@example.com; dave@example.com")
		var got []string
		for _, inv := range invs {
			got = append(got, inv.Email)
		}
		want := []string{"ada@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("emails mismatch (-want +got):\n%s", diff)
		}
		if n := len(x.invitations(steward.InvitationPending)); n != 4 {
			t.Errorf("pending = %d, want 4", n)
		}
	})
	t.Run("ErrBadAddressesNamedNothingCreated", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{
			Emails: steward.EmailList{"good@example.org, not-an-email, also@bad@, Eve <eve@example.org>"}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "invalid_emails")
		want := []string{"emails[1]", "emails[2]", "emails[3]"}
		var got []string
		for _, f := range steward.ErrorFields(err) {
			got = append(got, f.Field)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fields mismatch (-want +got):\n%s", diff)
		}
		for _, bad := range []string{"not-an-email", "also@bad@"} {
			if !strings.Contains(steward.ErrorMessage(err), bad) {
				t.Errorf("message %q does not name %q", steward.ErrorMessage(err), bad)
			}
		}
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{" , "}, Consent: x.consent()})
		WantCode(t, err, steward.EINVALID, "invalid_emails")
	})
	t.Run("ErrAlreadyMemberNothingCreated", func(t *testing.T) {
		member := x.User(x.client.ID, steward.RoleMember)
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{"fresh@example.org, FRESH@example.org", member.Email}, Consent: x.consent()})
		WantCode(t, err, steward.ECONFLICT, "already_member")
		if fs := steward.ErrorFields(err); len(fs) != 1 || fs[0].Field != "emails[2]" {
			t.Errorf("Fields = %+v, want emails[2], the address as given", fs)
		}
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ReinviteReplacesPending", func(t *testing.T) {
		first := x.invite(as, x.editors.ID, steward.NewInvitations{}, "again@example.org")[0]
		oldToken := x.token("again@example.org")
		x.invite(as, steward.RoleMember, steward.NewInvitations{}, "Again@example.org")
		old, err := x.Store.FindInvitationByID(ctx, x.client.ID, first.ID)
		if err != nil || old.Status != steward.InvitationRevoked {
			t.Fatalf("first invitation = %+v, %v; want revoked", old, err)
		}
		if x.token("again@example.org") == oldToken {
			t.Error("the new invitation reuses the old token")
		}
	})
	t.Run("ConcurrentInvitesOnePending", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				_, _, errs[i] = x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{"race@example.org"}, Consent: x.consent()})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("concurrent invite: %v", err)
			}
		}
		invs, _, err := x.Svc.FindInvitations(as, steward.InvitationFilter{AccountID: x.client.ID, Email: "race@example.org", Status: steward.InvitationPending})
		if err != nil || len(invs) != 1 {
			t.Errorf("pending invitations of one address = %d, %v; want 1", len(invs), err)
		}
	})
	t.Run("ParseEmailsList", func(t *testing.T) {
		var l steward.EmailList
		if err := json.Unmarshal([]byte(`"a@example.com, b@example.com"`), &l); err != nil || len(l) != 1 {
			t.Fatalf("string: %v, %v", l, err)
		}
		if err := json.Unmarshal([]byte(`["a@example.com", "b@example.com"]`), &l); err != nil || len(l) != 2 {
			t.Fatalf("list: %v, %v", l, err)
		}
		if err := json.Unmarshal([]byte(`42`), &l); err == nil {
			t.Fatal("a number is accepted as emails")
		}
	})
}

func testRExt4(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	as := x.As(x.owner.ID)
	ends, dends := x.Now.Add(60*24*time.Hour), x.Now.Add(30*24*time.Hour)
	t.Run("OptionsCarriedToMembership", func(t *testing.T) {
		m := x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
		if m.Kind != steward.KindExternal || !m.AllowRedelegation || !m.EndsAt.Equal(ends) || !m.DelegatesEndAt.Equal(dends) {
			t.Errorf("membership = %+v, want external with the invitation's options", m)
		}
	})
	for _, tt := range []struct {
		name         string
		ends, dends  *time.Time
		field        string
		wantAccepted bool
	}{
		{"ErrDelegatesEndAfterEnds", ptrTime(x.Now.Add(time.Hour)), ptrTime(x.Now.Add(2 * time.Hour)), "delegates_end_at", false},
		{"ErrEndInPast", ptrTime(x.Now.Add(-time.Hour)), nil, "ends_at", false},
		{"ErrEndNow", ptrTime(x.Now), nil, "ends_at", false},
		{"ErrDelegatesEndInPast", nil, ptrTime(x.Now.Add(-time.Minute)), "delegates_end_at", false},
		{"DelegatesEndWithoutEnds", nil, ptrTime(x.Now.Add(time.Hour)), "", true},
		{"DelegatesEndEqualsEnds", ptrTime(x.Now.Add(time.Hour)), ptrTime(x.Now.Add(time.Hour)), "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.Invite(as, x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{strings.ToLower(tt.name) + "@example.org"},
				Consent: x.consent(), EndsAt: tt.ends, DelegatesEndAt: tt.dends})
			if tt.wantAccepted {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			WantCode(t, err, steward.EINVALID, "invalid_end_dates")
			if fs := steward.ErrorFields(err); len(fs) == 0 || fs[0].Field != tt.field {
				t.Errorf("Fields = %+v, want %s", fs, tt.field)
			}
			x.unchanged(t, ev, n, msgs)
		})
	}
}

func testRExt5(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	as := x.As(x.owner.ID)
	inv := x.invite(as, x.editors.ID, steward.NewInvitations{}, x.ext.Email)[0]
	token := x.token(x.ext.Email)
	t.Run("PendingWithRoleMembers", func(t *testing.T) {
		invs, _, err := x.Svc.FindRoleInvitations(as, x.client.ID, x.editors.ID, steward.Page{})
		if err != nil || len(invs) != 1 || invs[0].ID != inv.ID || invs[0].Status != steward.InvitationPending {
			t.Fatalf("FindRoleInvitations = %+v, %v; want the pending invitation", invs, err)
		}
		if !inv.ExpiresAt.Equal(x.Now.Add(steward.DefaultInvitationTTL)) {
			t.Errorf("ExpiresAt = %v, want 30 days on", inv.ExpiresAt)
		}
	})
	t.Run("TokenOnlyInMailHashedAtRest", func(t *testing.T) {
		if !strings.HasPrefix(token, "stwi_") || len(token) < 40 {
			t.Errorf("token %q is not a long random secret", token)
		}
		stored, err := x.Store.FindInvitationByID(ctx, x.client.ID, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.TokenHash != steward.HashSecret(token) || strings.Contains(stored.TokenHash, token) {
			t.Errorf("TokenHash = %q, want the SHA-256 of the token", stored.TokenHash)
		}
		b, _ := json.Marshal(inv)
		if strings.Contains(string(b), token) || strings.Contains(string(b), stored.TokenHash) {
			t.Errorf("the inviter's answer %s carries the token or its hash", b)
		}
		evs, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Limit: 500})
		for _, e := range evs {
			if strings.Contains(string(e.Details), token) {
				t.Errorf("event %s carries the token", e.Action)
			}
		}
	})
	t.Run("ErrListWithoutPermission", func(t *testing.T) {
		plain := x.User(x.client.ID, x.editors.ID)
		_, _, err := x.Svc.FindInvitations(x.As(plain.ID), steward.InvitationFilter{AccountID: x.client.ID})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	})
	t.Run("ViewByToken", func(t *testing.T) {
		v, err := x.Svc.FindInvitationByToken(x.As(x.ext.ID), token)
		if err != nil {
			t.Fatal(err)
		}
		if v.AccountName != x.client.Name || v.RoleName != "Editors" || v.InviterEmail != x.owner.Email || len(v.Permissions) != 3 {
			t.Errorf("view = %+v", v)
		}
	})
	t.Run("RevokeThenAcceptGone", func(t *testing.T) {
		other := x.invite(as, x.editors.ID, steward.NewInvitations{}, x.colleague.Email)[0]
		if _, err := x.Svc.RevokeInvitation(as, x.client.ID, other.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := x.Svc.AcceptInvitation(x.As(x.colleague.ID), x.token(x.colleague.Email))
		WantCode(t, err, steward.EGONE, "invitation_revoked")
		_, err = x.Svc.RevokeInvitation(as, x.client.ID, other.ID)
		WantCode(t, err, steward.ECONFLICT, "invitation_not_pending")
		if _, err := x.Store.FindMembership(ctx, x.client.ID, x.colleague.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("a revoked invitation made a member: %v", err)
		}
	})
	t.Run("ExpiresAfterTTL", func(t *testing.T) {
		x.Now = x.Now.Add(steward.DefaultInvitationTTL)
		// Lapsed at once, before any job runs.
		if invs, _, _ := x.Svc.FindRoleInvitations(as, x.client.ID, x.editors.ID, steward.Page{}); len(invs) != 0 {
			t.Errorf("pending after the TTL = %+v, want none", invs)
		}
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token)
		WantCode(t, err, steward.EGONE, "invitation_expired")
		x.unchanged(t, ev, n, msgs)
		if err := x.Svc.RunDueJobs(ctx); err != nil {
			t.Fatal(err)
		}
		stored, _ := x.Store.FindInvitationByID(ctx, x.client.ID, inv.ID)
		if stored.Status != steward.InvitationExpired || stored.ResolvedAt == nil {
			t.Errorf("after the job: %+v, want expired", stored)
		}
		evs, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "invitation.expired", Limit: 10})
		if len(evs) != 1 || evs[0].TargetID != inv.ID {
			t.Errorf("invitation.expired events = %+v, want one for %s", evs, inv.ID)
		}
	})
	t.Run("ErrAcceptAfterOfferedEnd", func(t *testing.T) {
		soon := x.Now.Add(time.Hour)
		x.invite(as, x.editors.ID, steward.NewInvitations{EndsAt: &soon}, x.colleague.Email)
		tok := x.token(x.colleague.Email)
		x.Now = soon
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.AcceptInvitation(x.As(x.colleague.ID), tok)
		WantCode(t, err, steward.EGONE, "invitation_access_ended")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ConfigurableTTL", func(t *testing.T) {
		x.Svc.InvitationTTL = time.Hour
		t.Cleanup(func() { x.Svc.InvitationTTL = 0 })
		short := x.invite(as, x.editors.ID, steward.NewInvitations{}, "short@example.org")[0]
		if !short.ExpiresAt.Equal(x.Now.Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want an hour on", short.ExpiresAt)
		}
	})
}

func testRExt6(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	inviterRole := x.Role(x.client.ID, "Inviter", steward.PermExternalUsersInvite, "crm.contacts.view", "crm.contacts.edit", "reports.view")
	inviter := x.User(x.client.ID, inviterRole.ID)
	x.invite(x.As(inviter.ID), x.editors.ID, steward.NewInvitations{}, strings.ToUpper(x.ext.Email))
	token := x.token(x.ext.Email)
	t.Run("ErrAnotherUser", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.AcceptInvitation(x.As(x.colleague.ID), token)
		WantCode(t, err, steward.EFORBIDDEN, "invitation_email_mismatch")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ErrOperatorItself", func(t *testing.T) {
		_, _, err := x.Svc.AcceptInvitation(x.Op, token)
		WantCode(t, err, steward.EFORBIDDEN, "invitee_only")
	})
	t.Run("ErrForgedToken", func(t *testing.T) {
		for _, forged := range []string{"", "stwi_forged", token + "x", strings.ToUpper(token)} {
			_, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), forged)
			WantCode(t, err, steward.ENOTFOUND, "")
		}
	})
	t.Run("InviteeBecomesExternal", func(t *testing.T) {
		m, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != steward.KindExternal || m.Role != x.editors.ID || m.GrantedBy != inviter.ID || m.Status != steward.StatusActive {
			t.Errorf("membership = %+v, want external editors granted by the inviter", m)
		}
		if diff := cmp.Diff(x.editors.Permissions, m.Permissions); diff != "" {
			t.Errorf("permissions mismatch (-want +got):\n%s", diff)
		}
		if !x.Allowed(x.ext.ID, x.client.ID, "crm.contacts.edit") || x.Allowed(x.ext.ID, x.client.ID, "settings.edit") {
			t.Error("the external member's checks do not follow the role")
		}
		acc, _ := x.Store.FindInvitationByTokenHash(ctx, steward.HashSecret(token))
		if acc.Status != steward.InvitationAccepted || acc.AcceptedByUserID != x.ext.ID {
			t.Errorf("invitation = %+v, want accepted by the invitee", acc)
		}
	})
	t.Run("ErrTwice", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token)
		WantCode(t, err, steward.ECONFLICT, "invitation_used")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("ConcurrentAcceptsOnce", func(t *testing.T) {
		x.invite(x.As(inviter.ID), x.editors.ID, steward.NewInvitations{}, x.colleague.Email)
		tok := x.token(x.colleague.Email)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = x.Svc.AcceptInvitation(x.As(x.colleague.ID), tok)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if steward.ErrorCode(err) != "invitation_used" {
				t.Errorf("concurrent accept: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d accepts succeeded, want 1", ok)
		}
	})
}

func testRExt7(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	policy := steward.DelegationPolicy{RequireDelegateBilling: true}
	if _, _, err := x.Svc.UpdateAccount(x.Op, x.client.ID, steward.AccountUpdate{DelegationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{AllowRedelegation: true}, x.ext.Email)
	token := x.token(x.ext.Email)
	t.Run("ErrHomeWithoutBilling", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token)
		WantCode(t, err, steward.EFORBIDDEN, "home_account_billing_required")
		if !strings.Contains(steward.ErrorMessage(err), "billing information") {
			t.Errorf("message %q does not name the reason", steward.ErrorMessage(err))
		}
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("HomeWithBilling", func(t *testing.T) {
		billing := steward.Billing{HasBillingInfo: true, Plan: "pro"}
		if _, _, err := x.Svc.UpdateAccount(x.Op, x.home.ID, steward.AccountUpdate{Billing: &billing}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), token); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DelegatesToo", func(t *testing.T) {
		none := steward.Billing{}
		if _, _, err := x.Svc.UpdateAccount(x.Op, x.home.ID, steward.AccountUpdate{Billing: &none}); err != nil {
			t.Fatal(err)
		}
		_, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
		WantCode(t, err, steward.EFORBIDDEN, "home_account_billing_required")
	})
	t.Run("NoPolicyNoCheck", func(t *testing.T) {
		other, owner := x.Account(steward.AccountStandard)
		x.client, x.owner = other, owner
		x.external(x.colleague, steward.RoleMember, steward.NewInvitations{})
	})
}

func testRExt8(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	ends, dends := x.Now.Add(60*24*time.Hour), x.Now.Add(30*24*time.Hour)
	x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
	if _, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
		t.Fatal(err)
	}
	as := x.As(x.owner.ID)
	t.Run("ErrEditorNeedsHeldPermissions", func(t *testing.T) {
		// A manager of users who lacks reports.view edits nothing of an
		// external editor's options, shortening included.
		narrowRole := x.Role(x.client.ID, "External managers", steward.PermUsersManage, "crm.contacts.view")
		narrow := x.As(x.User(x.client.ID, narrowRole.ID).ID)
		shorter, longer := ends.Add(-24*time.Hour), ends.Add(24*time.Hour)
		for _, upd := range []steward.ExternalUpdate{{EndsAt: &shorter}, {EndsAt: &longer}, {ClearEndsAt: true}, {ClearDelegatesEndAt: true}} {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.UpdateExternalUser(narrow, x.client.ID, x.ext.ID, upd)
			WantCode(t, err, steward.EFORBIDDEN, "permission_not_held")
			x.unchanged(t, ev, n, msgs)
		}
	})
	t.Run("ExtendEndDates", func(t *testing.T) {
		later, dlater := ends.Add(30*24*time.Hour), ends.Add(10*24*time.Hour)
		m, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &later, DelegatesEndAt: &dlater})
		if err != nil {
			t.Fatal(err)
		}
		if !m.EndsAt.Equal(later) || !m.DelegatesEndAt.Equal(dlater) {
			t.Errorf("membership = %+v", m)
		}
		if !x.Allowed(x.ext.ID, x.client.ID, "reports.view", ends.Add(time.Hour)) || !x.Allowed(x.colleague.ID, x.client.ID, "reports.view", ends.Add(time.Hour)) {
			t.Error("extended access does not hold after the old end")
		}
	})
	for _, tt := range []struct {
		name string
		upd  steward.ExternalUpdate
	}{
		{"ErrDelegatesEndAfterEnds", steward.ExternalUpdate{DelegatesEndAt: ptrTime(ends.Add(365 * 24 * time.Hour))}},
		{"ErrEndInPast", steward.ExternalUpdate{EndsAt: ptrTime(x.Now.Add(-time.Hour))}},
		{"ErrEndsBeforeDelegatesEnd", steward.ExternalUpdate{EndsAt: ptrTime(x.Now.Add(time.Hour))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, tt.upd)
			WantCode(t, err, steward.EINVALID, "invalid_end_dates")
			x.unchanged(t, ev, n, msgs)
		})
	}
	t.Run("ErrNotAllowedToEdit", func(t *testing.T) {
		plain := x.User(x.client.ID, x.editors.ID)
		off := false
		_, _, err := x.Svc.UpdateExternalUser(x.As(plain.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{AllowRedelegation: &off})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = x.Svc.UpdateExternalUser(as, x.client.ID, plain.ID, steward.ExternalUpdate{AllowRedelegation: &off})
		WantCode(t, err, steward.ENOTFOUND, "external_user_not_found")
	})
	t.Run("RedelegationOffEndsDelegates", func(t *testing.T) {
		off, on := false, true
		if _, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, steward.ExternalUpdate{AllowRedelegation: &off}); err != nil {
			t.Fatal(err)
		}
		if x.Allowed(x.colleague.ID, x.client.ID, "reports.view") {
			t.Error("the delegate still holds after re-delegation was turned off")
		}
		if m := x.Member(x.client.ID, x.colleague.ID); m.Status != steward.StatusExpired {
			t.Errorf("delegate status = %s, want expired", m.Status)
		}
		if !x.Allowed(x.ext.ID, x.client.ID, "reports.view") {
			t.Error("the external user lost access")
		}
		if _, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, steward.ExternalUpdate{AllowRedelegation: &on}); err != nil {
			t.Fatal(err)
		}
		if x.Allowed(x.colleague.ID, x.client.ID, "reports.view") {
			t.Error("turning re-delegation back on revived the ended delegate")
		}
		// The external user may delegate to the same colleague again.
		if _, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
			t.Fatal(err)
		}
		if !x.Allowed(x.colleague.ID, x.client.ID, "reports.view") {
			t.Error("a new delegation of the same colleague does not hold")
		}
	})
	t.Run("ClearEndDates", func(t *testing.T) {
		m, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, steward.ExternalUpdate{ClearEndsAt: true, ClearDelegatesEndAt: true})
		if err != nil {
			t.Fatal(err)
		}
		if m.EndsAt != nil || m.DelegatesEndAt != nil {
			t.Errorf("membership = %+v, want no end dates", m)
		}
	})
}

func testRExt9(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	ends, dends := x.Now.Add(60*24*time.Hour), x.Now.Add(30*24*time.Hour)
	parent := x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
	asParent := x.As(x.ext.ID)
	third := x.User(x.home.ID, steward.RoleMember)
	t.Run("DefaultAllParentHolds", func(t *testing.T) {
		ds, _, err := x.Svc.AddDelegates(asParent, x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
		if err != nil {
			t.Fatal(err)
		}
		d := ds[0]
		if d.Kind != steward.KindDelegate || d.ParentID != parent.ID || d.GrantedBy != x.ext.ID || d.Role != x.editors.ID {
			t.Errorf("delegate = %+v", d)
		}
		if diff := cmp.Diff(parent.Permissions, d.Permissions); diff != "" {
			t.Errorf("permissions mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("Fewer", func(t *testing.T) {
		perms := []string{"crm.contacts.view"}
		ds, _, err := x.Svc.AddDelegates(asParent, x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{third.ID}, Permissions: &perms})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(perms, ds[0].Permissions); diff != "" {
			t.Errorf("permissions mismatch (-want +got):\n%s", diff)
		}
		if x.Allowed(third.ID, x.client.ID, "reports.view") || !x.Allowed(third.ID, x.client.ID, "crm.contacts.view") {
			t.Error("the narrow delegate's checks are wrong")
		}
	})
	abuse := []struct {
		name       string
		as         context.Context
		parent     string
		in         steward.NewDelegates
		kind, code string
	}{
		{"ErrMoreThanParent", asParent, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}, Permissions: &[]string{"crm.contacts.view", "settings.edit"}}, steward.EFORBIDDEN, "permission_not_held"},
		{"ErrUserOfAnotherAccount", asParent, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.stranger.ID}}, steward.EINVALID, "invalid_delegates"},
		{"ErrUnknownUser", asParent, x.ext.ID, steward.NewDelegates{UserIDs: []string{"usr_nope"}}, steward.EINVALID, "invalid_delegates"},
		{"ErrBeyondDepth", x.As(x.colleague.ID), x.colleague.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}}, steward.EFORBIDDEN, "redelegation_depth_exceeded"},
		{"ErrOnBehalfOfAnother", x.As(x.owner.ID), x.ext.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}}, steward.EFORBIDDEN, "delegator_only"},
		{"ErrUnknownPermission", asParent, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}, Permissions: &[]string{"crm.nope"}}, steward.EINVALID, "unknown_permission"},
		{"ErrAlreadyMember", asParent, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}, steward.ECONFLICT, "already_member"},
	}
	for _, tt := range abuse {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.AddDelegates(tt.as, x.client.ID, tt.parent, tt.in)
			WantCode(t, err, tt.kind, tt.code)
			x.unchanged(t, ev, n, msgs)
		})
	}
	t.Run("ErrNotAllowed", func(t *testing.T) {
		other := x.User(x.home.ID, steward.RoleMember)
		x.external(other, x.editors.ID, steward.NewInvitations{})
		_, _, err := x.Svc.AddDelegates(x.As(other.ID), x.client.ID, other.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}})
		WantCode(t, err, steward.EFORBIDDEN, "redelegation_not_allowed")
		internal := x.User(x.client.ID, x.editors.ID)
		_, _, err = x.Svc.AddDelegates(x.As(internal.ID), x.client.ID, internal.ID, steward.NewDelegates{UserIDs: []string{x.User(x.client.ID, steward.RoleMember).ID}})
		WantCode(t, err, steward.EFORBIDDEN, "redelegation_not_allowed")
	})
	t.Run("ParentNarrowedNarrowsDelegate", func(t *testing.T) {
		perms := []string{"crm.contacts.view", "crm.contacts.edit"}
		if _, _, err := x.Svc.UpdateRole(x.As(x.owner.ID), x.client.ID, x.editors.ID, steward.RoleInput{Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
		if x.Allowed(x.colleague.ID, x.client.ID, "reports.view") {
			t.Error("the delegate kept a permission the role lost")
		}
		// Narrowing the parent alone (not the role) narrows the delegate too.
		pm, err := x.Store.FindMembership(ctx, x.client.ID, x.ext.ID)
		if err != nil {
			t.Fatal(err)
		}
		pm.Permissions = []string{"crm.contacts.view"}
		if err := x.Store.InTx(ctx, func(tx steward.Store) error { return tx.UpdateMembership(ctx, pm) }); err != nil {
			t.Fatal(err)
		}
		if x.Allowed(x.colleague.ID, x.client.ID, "crm.contacts.edit") || !x.Allowed(x.colleague.ID, x.client.ID, "crm.contacts.view") {
			t.Error("the delegate is not capped by its narrowed parent")
		}
		if got := x.Member(x.client.ID, x.colleague.ID).Permissions; !slices.Equal(got, []string{"crm.contacts.view"}) {
			t.Errorf("presented delegate permissions = %v, want capped", got)
		}
	})
	t.Run("EndsWithParent", func(t *testing.T) {
		justBefore := dends.Add(-time.Microsecond)
		if !x.Allowed(x.colleague.ID, x.client.ID, "crm.contacts.view", justBefore) {
			t.Error("delegate denied before delegates_end_at")
		}
		if x.Allowed(x.colleague.ID, x.client.ID, "crm.contacts.view", dends) || !x.Allowed(x.ext.ID, x.client.ID, "crm.contacts.view", dends) {
			t.Error("at delegates_end_at the delegate must be denied and the parent allowed")
		}
		if x.Allowed(x.ext.ID, x.client.ID, "crm.contacts.view", ends) {
			t.Error("parent allowed at ends_at")
		}
	})
	t.Run("ConfigurableDepth", func(t *testing.T) {
		x.Svc.RedelegationDepth = 2
		t.Cleanup(func() { x.Svc.RedelegationDepth = 0 })
		deep := x.User(x.home.ID, steward.RoleMember)
		mid := x.User(x.home.ID, steward.RoleMember)
		if _, _, err := x.Svc.AddDelegates(asParent, x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{mid.ID}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := x.Svc.AddDelegates(x.As(mid.ID), x.client.ID, mid.ID, steward.NewDelegates{UserIDs: []string{deep.ID}}); err != nil {
			t.Fatalf("depth 2: %v", err)
		}
		if !x.Allowed(deep.ID, x.client.ID, "crm.contacts.view") {
			t.Error("a second-level delegate does not hold")
		}
		_, _, err := x.Svc.AddDelegates(x.As(deep.ID), x.client.ID, deep.ID, steward.NewDelegates{UserIDs: []string{x.User(x.home.ID, steward.RoleMember).ID}})
		WantCode(t, err, steward.EFORBIDDEN, "redelegation_depth_exceeded")
	})
	t.Run("RemoveDelegate", func(t *testing.T) {
		if _, err := x.Svc.RemoveDelegate(asParent, x.client.ID, x.ext.ID, third.ID); err != nil {
			t.Fatal(err)
		}
		if x.Allowed(third.ID, x.client.ID, "crm.contacts.view") {
			t.Error("a removed delegate holds")
		}
		_, err := x.Svc.RemoveDelegate(asParent, x.client.ID, x.ext.ID, third.ID)
		WantCode(t, err, steward.ENOTFOUND, "delegate_not_found")
		_, err = x.Svc.RemoveDelegate(asParent, x.client.ID, x.ext.ID, x.owner.ID)
		WantCode(t, err, steward.ENOTFOUND, "delegate_not_found")
		// A user manager may remove delegates too.
		if _, err := x.Svc.RemoveDelegate(x.As(x.owner.ID), x.client.ID, x.ext.ID, x.colleague.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func testRExt10(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	admins := x.Role(x.client.ID, "Role admins", steward.PermRolesManage, "crm.contacts.view")
	parent := x.external(x.ext, admins.ID, steward.NewInvitations{AllowRedelegation: true})
	ds, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
	if err != nil {
		t.Fatal(err)
	}
	delegate := ds[0]
	name, perms := "Made by a delegate", []string{"crm.contacts.view"}
	r, _, err := x.Svc.CreateRole(x.As(x.colleague.ID), x.client.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	if err != nil {
		t.Fatal(err)
	}
	name2 := "Made by the external user"
	r2, _, err := x.Svc.CreateRole(x.As(x.ext.ID), x.client.ID, steward.RoleInput{Name: &name2, Permissions: &perms})
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "role.created", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]steward.EventActor{}
	for _, e := range evs {
		byTarget[e.TargetID] = e.Actor
	}
	want := steward.EventActor{UserID: x.colleague.ID, Email: x.colleague.Email, HomeAccountID: x.home.ID, MembershipID: delegate.ID,
		Kind: steward.KindDelegate, Chain: []string{delegate.ID, parent.ID}}
	if diff := cmp.Diff(want, byTarget[r.ID]); diff != "" {
		t.Errorf("delegate's actor mismatch (-want +got):\n%s", diff)
	}
	want = steward.EventActor{UserID: x.ext.ID, Email: x.ext.Email, HomeAccountID: x.home.ID, MembershipID: parent.ID,
		Kind: steward.KindExternal, Chain: []string{parent.ID}}
	if diff := cmp.Diff(want, byTarget[r2.ID]); diff != "" {
		t.Errorf("external user's actor mismatch (-want +got):\n%s", diff)
	}
	// The delegation itself is recorded with the external user's chain, and
	// the acceptance with the new external membership.
	added, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "delegate.added", Limit: 10})
	if len(added) != 1 || added[0].Actor.UserID != x.ext.ID || !slices.Equal(added[0].Actor.Chain, []string{parent.ID}) {
		t.Errorf("delegate.added = %+v", added)
	}
	accepted, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "invitation.accepted", Limit: 10})
	if len(accepted) != 1 || accepted[0].Actor.HomeAccountID != x.home.ID || accepted[0].Actor.Kind != steward.KindExternal {
		t.Errorf("invitation.accepted = %+v", accepted)
	}
	// Audit filters find the external users by their home account.
	home, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, ActorHomeAccountID: x.home.ID, Limit: 50})
	if len(home) < 4 {
		t.Errorf("events of home-account actors = %d, want at least 4", len(home))
	}
	// The chain verifies.
	v := &steward.ChainVerifier{}
	x.Store.ScanEvents(ctx, x.client.ID, func(e *steward.Event) error { v.Add(e); return nil })
	if !v.Result().OK {
		t.Errorf("chain = %+v", v.Result())
	}
}

// testExternalEndsWithoutJobs: access ends exactly at ends_at whether or not
// any job ran (a check at t decides with t).
func testExternalEndsWithoutJobs(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	ends := x.Now.Add(48 * time.Hour)
	x.external(x.ext, x.editors.ID, steward.NewInvitations{EndsAt: &ends})
	if !x.Allowed(x.ext.ID, x.client.ID, "reports.view", ends.Add(-time.Microsecond)) {
		t.Error("denied just before ends_at")
	}
	if x.Allowed(x.ext.ID, x.client.ID, "reports.view", ends) {
		t.Error("allowed at ends_at")
	}
	x.Now = ends
	if x.Allowed(x.ext.ID, x.client.ID, "reports.view") {
		t.Error("allowed now that ends_at passed, before any job")
	}
	_, _, err := x.Svc.FindRoles(x.As(x.ext.ID), x.client.ID, steward.Page{})
	WantCode(t, err, steward.EFORBIDDEN, steward.ReasonMembershipExpired)
}

func testSchedulerJobs(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	ends, dends := x.Now.Add(20*24*time.Hour), x.Now.Add(10*24*time.Hour)
	parent := x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
	ds, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
	if err != nil {
		t.Fatal(err)
	}
	delegate := ds[0]
	reminders := func() map[string]int {
		msgs, _ := x.Store.FindMessages(ctx, 1000)
		n := map[string]int{}
		for _, m := range msgs {
			if m.Kind == "end_warning" { // R-LIFE-2
				n[m.To]++
			}
		}
		return n
	}
	run := func(at time.Time) {
		t.Helper()
		x.Now = at
		if err := x.Svc.RunDueJobs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("NothingDueAfterTheFirstWarnings", func(t *testing.T) {
		run(x.Now.Add(time.Hour)) // both ends are within 30 days: the 30-day warnings
		if got := reminders(); got[x.colleague.Email] != 1 || got[x.ext.Email] != 1 {
			t.Errorf("warnings = %v, want the 30-day one to each", got)
		}
		before := x.Events(x.client.ID)
		run(x.Now.Add(time.Hour))
		if got := x.Events(x.client.ID); got != before {
			t.Errorf("a run with nothing due wrote %d events", got-before)
		}
	})
	t.Run("DelegateReminderOnce", func(t *testing.T) {
		run(dends.Add(-7*24*time.Hour + time.Minute))
		run(dends.Add(-6 * 24 * time.Hour))
		if got := reminders(); got[x.colleague.Email] != 2 || got[x.ext.Email] != 1 {
			t.Errorf("warnings = %v, want the 7-day one to the delegate only", got)
		}
	})
	t.Run("DelegatesEndAtExpiresDelegate", func(t *testing.T) {
		run(dends)
		if m := x.Member(x.client.ID, x.colleague.ID); m.Status != steward.StatusExpired {
			t.Errorf("delegate status = %s, want expired", m.Status)
		}
		if m := x.Member(x.client.ID, x.ext.ID); m.Status != steward.StatusActive {
			t.Errorf("parent status = %s, want active", m.Status)
		}
		evs, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "delegate.ended", Limit: 10})
		if len(evs) != 1 || evs[0].TargetID != delegate.ID {
			t.Errorf("delegate.ended = %+v", evs)
		}
	})
	t.Run("ParentReminderOnceThenExpiry", func(t *testing.T) {
		run(ends.Add(-7 * 24 * time.Hour))
		run(ends.Add(-time.Hour))
		if got := reminders(); got[x.ext.Email] != 3 {
			t.Errorf("warnings = %v, want the 30-, 7- and 1-day ones to the external user", got)
		}
		run(ends)
		if m := x.Member(x.client.ID, x.ext.ID); m.Status != steward.StatusExpired {
			t.Errorf("parent status = %s, want expired", m.Status)
		}
		evs, _, _ := x.Store.FindEvents(ctx, steward.AuditFilter{AccountID: x.client.ID, Action: "member.expired", Limit: 10})
		if len(evs) != 1 || evs[0].TargetID != parent.ID {
			t.Errorf("member.expired = %+v", evs)
		}
		before := x.Events(x.client.ID)
		run(ends.Add(time.Hour))
		if got := x.Events(x.client.ID); got != before {
			t.Errorf("a second run wrote %d events", got-before)
		}
	})
	t.Run("ReinviteAfterExpiry", func(t *testing.T) {
		m := x.external(x.ext, x.editors.ID, steward.NewInvitations{})
		if m.Status != steward.StatusActive || m.ID == parent.ID {
			t.Errorf("re-invited membership = %+v", m)
		}
	})
	t.Run("Runner", func(t *testing.T) {
		r := steward.NewJobRunner(x.Svc)
		x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, "late@example.org")
		x.Now = x.Now.Add(steward.DefaultInvitationTTL)
		// Another node holds the lease: this one runs nothing.
		if ok, err := x.Store.AcquireJobLease(ctx, steward.JobLeaseName, "other-node", x.Now, x.Now.Add(5*time.Minute)); err != nil || !ok {
			t.Fatalf("AcquireJobLease = %v, %v", ok, err)
		}
		if ran, err := r.RunOnce(ctx); err != nil || ran {
			t.Fatalf("RunOnce while another node holds the lease = %v, %v; want false", ran, err)
		}
		if n := len(x.invitations(steward.InvitationExpired)); n != 0 {
			t.Errorf("expired invitations = %d while another node held the lease, want 0", n)
		}
		// Its lease lapses (the node died): this one takes over.
		x.Now = x.Now.Add(5 * time.Minute)
		ran, err := r.RunOnce(ctx)
		if err != nil || !ran {
			t.Fatalf("RunOnce = %v, %v", ran, err)
		}
		if n := len(x.invitations(steward.InvitationExpired)); n != 1 {
			t.Errorf("expired invitations = %d, want 1", n)
		}
	})
}

func testSchedulerLease(t *testing.T, open Opener) {
	st := open(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	take := func(holder string, at time.Time) bool {
		t.Helper()
		ok, err := st.AcquireJobLease(ctx, "scheduler", holder, at, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("a", now) {
		t.Fatal("a free lease was refused")
	}
	if take("b", now.Add(30*time.Second)) {
		t.Error("b took a lease a holds")
	}
	if !take("a", now.Add(30*time.Second)) {
		t.Error("a could not renew its own lease")
	}
	if !take("b", now.Add(2*time.Minute)) {
		t.Error("b could not take an expired lease")
	}
	if err := st.ReleaseJobLease(ctx, "scheduler", "a"); err != nil {
		t.Fatal(err)
	}
	if take("c", now.Add(2*time.Minute)) {
		t.Error("a released b's lease")
	}
	if err := st.ReleaseJobLease(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if !take("c", now.Add(2*time.Minute)) {
		t.Error("c could not take a released lease")
	}
	t.Run("OneOfManyAtOnce", func(t *testing.T) {
		at := now.Add(time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.AcquireJobLease(ctx, "race", fmt.Sprintf("node-%d", i), at, at.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Errorf("%d nodes took the lease, want 1", winners)
		}
	})
}

func testInvitationStore(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	b, _ := w.Account(steward.AccountStandard)
	ends := w.Now.Add(time.Hour)
	inv := &steward.Invitation{ID: steward.NewID(steward.PrefixInvitation, w.Now), AccountID: a.ID, Role: steward.RoleMember, Email: "x@example.com",
		Status: steward.InvitationPending, TokenHash: steward.HashSecret("t1"), ExpiresAt: w.Now.Add(time.Minute), InvitedBy: "operator",
		Consent: steward.Consent{Version: "v", AcceptedBy: "operator", AcceptedAt: w.Now}, AllowRedelegation: true, EndsAt: &ends,
		CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateInvitation(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	got, err := w.Store.FindInvitationByTokenHash(ctx, inv.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if _, err := w.Store.FindInvitationByID(ctx, b.ID, inv.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("another account's invitation: %v, want ENOTFOUND", err)
	}
	dup := *inv
	dup.ID, dup.TokenHash = steward.NewID(steward.PrefixInvitation, w.Now), steward.HashSecret("t2")
	err = w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateInvitation(ctx, &dup) })
	WantCode(t, err, steward.ECONFLICT, "")
	if due, err := w.Store.DueInvitations(ctx, w.Now.Add(time.Minute), 10); err != nil || len(due) != 1 {
		t.Errorf("DueInvitations = %v, %v; want the invitation", due, err)
	}
	if due, _ := w.Store.DueInvitations(ctx, w.Now, 10); len(due) != 0 {
		t.Errorf("an invitation is due before it expires")
	}
	inv.Status = steward.InvitationAccepted
	if err := w.Store.UpdateInvitation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	// Once the first is no longer pending, the address may be invited again.
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateInvitation(ctx, &dup) }); err != nil {
		t.Errorf("a second invitation after the first was accepted: %v", err)
	}
	if invs, _, _ := w.Store.FindInvitations(ctx, steward.InvitationFilter{AccountID: b.ID}); len(invs) != 0 {
		t.Errorf("account b lists a's invitations")
	}
}
