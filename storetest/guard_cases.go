package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// Guardrails, access requests and emergency revocation (SPEC §6).
var guardCases = []suiteCase{
	{"R-GUARD-1_AllowedPartners", testRGuard1},
	{"R-GUARD-2_MaxDays", testRGuard2},
	{"R-GUARD-3_NeverDelegable", testRGuard3},
	{"R-GUARD-4_TighteningAppliesAtOnce", testRGuard4},
	{"R-GUARD-4_TighteningManyOutsidersAtOnce", testRGuard4Many},
	{"R-REQUEST-1_AskForWhatIsLacking", testRRequest1},
	{"R-REQUEST-1_RequesterListsItsOwnRequests", testRRequest1Mine},
	{"R-REQUEST-2_ApprovalAddsTheDifference", testRRequest2},
	{"R-GRANT-5_RequestGrantsEndWithTheirApprover", testRGrant5RequestGrants},
	{"R-REVOKE-1_OneHomeAccount", testRRevoke1},
	{"R-REVOKE-2_UserEverywhere", testRRevoke2},
	{"R-REVOKE-1_PendingInvitationsToTheHomeAccountRevoked", testRRevoke1Invitations},
	{"R-REVOKE-2_PendingInvitationsToAndByTheUserRevoked", testRRevoke2Invitations},
	{"R-SUPER-1_PolicyKeepsALastingSuperAdmin", testRSuper1PolicyKeepsALastingSuperAdmin},
}

func setPolicy[T any](v T) steward.Optional[T] { return steward.Optional[T]{Set: true, Value: v} }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func (w *World) policy(t *testing.T, as string, accountID string, upd steward.PolicyUpdate) *steward.PolicyChange {
	t.Helper()
	ch, _, err := w.Svc.UpdatePolicy(w.As(as), accountID, upd)
	if err != nil {
		t.Fatalf("UpdatePolicy: %v", err)
	}
	return ch
}

// lastEvent returns the newest event of an action in the account.
func (w *World) lastEvent(t *testing.T, accountID, action string) *steward.Event {
	t.Helper()
	var last *steward.Event
	if err := w.Store.ScanEvents(ctx, accountID, func(e *steward.Event) error {
		if e.Action == action {
			last = e
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last == nil {
		t.Fatalf("no %s event in %s", action, accountID)
	}
	return last
}

func testRGuard1(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	other, _ := w.Account(steward.AccountPartner)
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)

	t.Run("ErrOnlySuperAdminsManage", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "permission_required", func() error {
			_, _, err := w.Svc.UpdatePolicy(w.As(admin.ID), pw.C.ID, steward.PolicyUpdate{AllowedPartners: setPolicy([]string{pw.P.ID})})
			return err
		}, pw.C.ID)
	})
	t.Run("ErrEntryNeitherIDNorDomain", func(t *testing.T) {
		w.refused(t, steward.EINVALID, "invalid_policy", func() error {
			_, _, err := w.Svc.UpdatePolicy(w.As(pw.COwner.ID), pw.C.ID, steward.PolicyUpdate{AllowedPartners: setPolicy([]string{"not a partner!"})})
			return err
		}, pw.C.ID)
	})
	ch := w.policy(t, pw.COwner.ID, pw.C.ID, steward.PolicyUpdate{AllowedPartners: setPolicy([]string{pw.P.ID, "Agency.Example"})})
	if !slices.Equal(ch.Policy.AllowedPartners, []string{pw.P.ID, "agency.example"}) {
		t.Errorf("AllowedPartners = %v", ch.Policy.AllowedPartners)
	}
	if e := w.lastEvent(t, pw.C.ID, "policy.updated"); e.Actor.UserID != pw.COwner.ID {
		t.Errorf("policy.updated actor = %+v", e.Actor)
	}
	u := w.User(other.ID, steward.RoleMember)
	link := w.Link(other.ID, u.ID, u.ID)
	w.refused(t, steward.EFORBIDDEN, "partner_not_allowed", func() error {
		_, _, err := w.Svc.ApproveAccessLink(w.As(pw.COwner.ID), link, pw.C.ID)
		return err
	}, pw.C.ID, other.ID)
	// A verified domain of the partner admits it too.
	if _, _, err := w.Svc.UpdateAccount(w.Op, other.ID, steward.AccountUpdate{VerifiedDomains: &[]string{"agency.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ApproveAccessLink(w.As(pw.COwner.ID), link, pw.C.ID); err != nil {
		t.Fatalf("approval of an allowed domain's partner: %v", err)
	}
	// Clearing with null admits everyone.
	ch = w.policy(t, pw.COwner.ID, pw.C.ID, steward.PolicyUpdate{AllowedPartners: steward.Optional[[]string]{Set: true, Null: true}})
	if len(ch.Policy.AllowedPartners) != 0 {
		t.Errorf("cleared AllowedPartners = %v", ch.Policy.AllowedPartners)
	}
}

func testRGuard2(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	owner := x.owner.ID
	t.Run("ErrZeroOrNegative", func(t *testing.T) {
		for _, n := range []int{0, -3} {
			w.refused(t, steward.EINVALID, "invalid_policy", func() error {
				_, _, err := w.Svc.UpdatePolicy(w.As(owner), x.client.ID, steward.PolicyUpdate{MaxExternalDays: setPolicy(n)})
				return err
			}, x.client.ID)
		}
	})
	w.policy(t, owner, x.client.ID, steward.PolicyUpdate{MaxExternalDays: setPolicy(30), MaxPartnerDays: setPolicy(10)})
	invite := func(end *time.Time) error {
		_, _, err := w.Svc.Invite(w.As(owner), x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{x.ext.Email}, Consent: x.consent(), EndsAt: end})
		return err
	}
	late := w.Now.Add(days(31))
	for name, end := range map[string]*time.Time{"ErrNoEndDate": nil, "ErrBeyondMaximum": &late} {
		t.Run(name, func(t *testing.T) {
			var err error
			w.unchanged(t, func() { err = invite(end) }, x.client.ID)
			WantCode(t, err, steward.EINVALID, "")
			if f := steward.ErrorFields(err); len(f) != 1 || f[0].Field != "ends_at" {
				t.Errorf("fields = %+v, want ends_at", f)
			}
		})
	}
	in := w.Now.Add(days(20))
	m := x.external(x.ext, x.editors.ID, steward.NewInvitations{EndsAt: &in})
	t.Run("ErrExtensionBeyondMaximum", func(t *testing.T) {
		w.Now = w.Now.Add(days(5))
		far := m.CreatedAt.Add(days(31))
		w.refused(t, steward.EINVALID, "end_date_beyond_policy", func() error {
			_, _, err := w.Svc.UpdateExternalUser(w.As(owner), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &far})
			return err
		}, x.client.ID)
		w.refused(t, steward.EINVALID, "end_date_required", func() error {
			_, _, err := w.Svc.UpdateExternalUser(w.As(owner), x.client.ID, x.ext.ID, steward.ExternalUpdate{ClearEndsAt: true})
			return err
		}, x.client.ID)
		ok := m.CreatedAt.Add(days(29))
		if _, _, err := w.Svc.UpdateExternalUser(w.As(owner), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &ok}); err != nil {
			t.Fatalf("extension within the maximum: %v", err)
		}
	})
	t.Run("PartnerApproval", func(t *testing.T) {
		p, _ := w.Account(steward.AccountPartner)
		u := w.User(p.ID, steward.RoleMember)
		link := w.Link(p.ID, u.ID, u.ID)
		w.refused(t, steward.EINVALID, "end_date_required", func() error {
			_, _, err := w.Svc.ApproveAccessLinkUntil(w.As(owner), link, x.client.ID, nil)
			return err
		}, x.client.ID)
		end := w.Now.Add(days(10))
		a, _, err := w.Svc.ApproveAccessLinkUntil(w.As(owner), link, x.client.ID, &end)
		if err != nil {
			t.Fatal(err)
		}
		// R-LIFE-1: the end date is the relationship's, which the partner
		// admin's access hangs on.
		if a.Relationship.EndsAt == nil || !a.Relationship.EndsAt.Equal(end) {
			t.Errorf("relationship ends_at = %v, want %v", a.Relationship.EndsAt, end)
		}
		if w.Allowed(u.ID, x.client.ID, "reports.view", end) {
			t.Error("the partner admin still holds after its end")
		}
	})
}

func testRGuard3(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	owner := x.owner.ID
	ix := w.index(t)
	m := x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
	if !w.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", w.Now) {
		t.Fatal("the external user lacks reports.view before the policy")
	}
	t.Run("ErrUnknownKey", func(t *testing.T) {
		w.refused(t, steward.EINVALID, "invalid_policy", func() error {
			_, _, err := w.Svc.UpdatePolicy(w.As(owner), x.client.ID, steward.PolicyUpdate{NeverDelegable: setPolicy([]string{"no.such.permission"})})
			return err
		}, x.client.ID)
	})
	w.policy(t, owner, x.client.ID, steward.PolicyUpdate{NeverDelegable: setPolicy([]string{"reports.view"})})
	if w.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", w.Now) {
		t.Error("a never-delegable permission still holds for an external user")
	}
	if !w.checkBoth(t, ix, x.ext.ID, x.client.ID, "crm.contacts.view", w.Now) {
		t.Error("the rest of the external user's permissions stopped holding")
	}
	if !w.checkBoth(t, ix, owner, x.client.ID, "reports.view", w.Now) {
		t.Error("an internal member lost a never-delegable permission")
	}
	if got := w.Member(x.client.ID, x.ext.ID).Permissions; slices.Contains(got, "reports.view") {
		t.Errorf("the membership shows %v", got)
	}
	t.Run("ErrInvite", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "permission_not_delegable", func() error {
			_, _, err := w.Svc.Invite(w.As(owner), x.client.ID, x.editors.ID, steward.NewInvitations{Emails: steward.EmailList{x.colleague.Email}, Consent: x.consent()})
			return err
		}, x.client.ID)
	})
	t.Run("ErrDelegate", func(t *testing.T) {
		perms := []string{"reports.view"}
		w.refused(t, steward.EFORBIDDEN, "permission_not_delegable", func() error {
			_, _, err := w.Svc.AddDelegates(w.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}, Permissions: &perms})
			return err
		}, x.client.ID)
	})
	t.Run("RoleApplicationFilters", func(t *testing.T) {
		all := w.Role(x.client.ID, "Reporters", "reports.view", "tickets.view")
		got, _, err := w.Svc.ChangeMemberRole(w.As(owner), x.client.ID, x.ext.ID, all.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := w.Store.FindMembership(ctx, x.client.ID, x.ext.ID)
		if slices.Contains(stored.Permissions, "reports.view") || !slices.Contains(got.Permissions, "tickets.view") {
			t.Errorf("after the role change: stored %v, shown %v", stored.Permissions, got.Permissions)
		}
	})
	_ = m
}

func testRGuard4(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	owner := x.owner.ID
	ix := w.index(t)
	m := x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
	d, _, err := w.Svc.AddDelegates(w.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
	if err != nil {
		t.Fatal(err)
	}
	x.invite(w.As(owner), x.editors.ID, steward.NewInvitations{}, x.stranger.Email)
	ch := w.policy(t, owner, x.client.ID, steward.PolicyUpdate{MaxExternalDays: setPolicy(10), NeverDelegable: setPolicy([]string{"crm.contacts.edit"})})
	limit := m.CreatedAt.Add(days(10))
	got := map[string]string{}
	for _, a := range ch.Affected {
		got[a.MembershipID+"/"+a.Reason] = a.UserID
	}
	for _, want := range []string{m.ID + "/max_days", m.ID + "/never_delegable", d[0].ID + "/parent_end", d[0].ID + "/never_delegable"} {
		if _, ok := got[want]; !ok {
			t.Errorf("affected lacks %s: %+v", want, ch.Affected)
		}
	}
	if len(ch.Invitations) != 1 {
		t.Errorf("invitations clipped = %v, want the pending one", ch.Invitations)
	}
	if cur := w.Member(x.client.ID, x.ext.ID); cur.EndsAt == nil || !cur.EndsAt.Equal(limit) {
		t.Errorf("ends_at = %v, want clipped to %v", cur.EndsAt, limit)
	}
	e := w.lastEvent(t, x.client.ID, "policy.updated")
	var details struct {
		Affected []steward.AffectedMember `json:"affected"`
	}
	if err := json.Unmarshal(e.Details, &details); err != nil || len(details.Affected) != len(ch.Affected) {
		t.Errorf("the event lists %d affected (%v), want %d", len(details.Affected), err, len(ch.Affected))
	}
	if w.checkBoth(t, ix, x.ext.ID, x.client.ID, "crm.contacts.edit", w.Now) || w.checkBoth(t, ix, x.colleague.ID, x.client.ID, "crm.contacts.edit", w.Now) {
		t.Error("a newly never-delegable permission still holds")
	}
	if !w.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", limit.Add(-time.Second)) || w.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", limit) ||
		w.checkBoth(t, ix, x.colleague.ID, x.client.ID, "reports.view", limit) {
		t.Error("the clipped end is not decided at the check's time")
	}
	t.Run("NoOpRecordsNothing", func(t *testing.T) {
		w.noop(t, func() (int64, error) {
			_, rev, err := w.Svc.UpdatePolicy(w.As(owner), x.client.ID, steward.PolicyUpdate{MaxExternalDays: setPolicy(10)})
			return rev, err
		}, x.client.ID)
	})
}

func testRRequest1(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	x.external(x.ext, x.editors.ID, steward.NewInvitations{})
	w.policy(t, x.owner.ID, x.client.ID, steward.PolicyUpdate{NeverDelegable: setPolicy([]string{"settings.edit"})})
	ask := func(as, user string, perms ...string) error {
		_, _, err := w.Svc.RequestAccess(w.As(as), x.client.ID, steward.NewAccessRequest{UserID: user, Permissions: perms, Reason: "Quarterly reporting"})
		return err
	}
	cases := []struct {
		name, as, user, kind, code string
		perms                      []string
	}{
		{"ErrAlreadyHeld", x.ext.ID, x.ext.ID, steward.EINVALID, "permission_already_held", []string{"reports.view", "crm.deals.edit"}},
		{"ErrNeverDelegable", x.ext.ID, x.ext.ID, steward.EFORBIDDEN, "permission_not_delegable", []string{"settings.edit"}},
		{"ErrUnknownPermission", x.ext.ID, x.ext.ID, steward.EINVALID, "unknown_permission", []string{"no.such.permission"}},
		{"ErrPartnerConsole", x.ext.ID, x.ext.ID, steward.EINVALID, "permission_not_grantable", []string{steward.PermPartnerClientsView}},
		{"ErrForSomeoneElse", x.ext.ID, x.owner.ID, steward.EFORBIDDEN, "requester_not_allowed", []string{"crm.deals.edit"}},
		{"ErrInternalMember", x.owner.ID, x.owner.ID, steward.EFORBIDDEN, "requester_not_allowed", []string{"crm.deals.edit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.refused(t, c.kind, c.code, func() error { return ask(c.as, c.user, c.perms...) }, x.client.ID)
		})
	}
	r, _, err := w.Svc.RequestAccess(w.As(x.ext.ID), x.client.ID, steward.NewAccessRequest{UserID: x.ext.ID, Permissions: []string{"crm.deals.edit"}, Reason: "Quarterly reporting"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != steward.RequestPending || !r.ExpiresAt.Equal(w.Now.Add(7*24*time.Hour)) {
		t.Errorf("request = %+v", r)
	}
	if len(w.Mails(x.owner.Email)) == 0 || len(w.Mails(x.ext.Email)) == 0 {
		t.Error("both sides were not mailed")
	}
	// A partner admin asks for an employee of its own partner.
	pw := &partnerWorld{World: w, C: x.client, COwner: x.owner}
	pw.P, pw.POwner = w.Account(steward.AccountPartner)
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	staff := w.Role(pw.C.ID, "Staff", "tickets.view")
	emp := w.Employees(pw.P.ID, pw.C.ID, admin.ID, staff.ID, 1)[0]
	if _, _, err := w.Svc.RequestAccess(w.As(admin.ID), pw.C.ID, steward.NewAccessRequest{UserID: emp.ID, Permissions: []string{"tickets.edit"}, Reason: "Support rota"}); err != nil {
		t.Fatalf("partner admin for its employee: %v", err)
	}
	w.refused(t, steward.ENOTFOUND, "", func() error { return ask(admin.ID, x.ext.ID, "crm.deals.edit") }, x.client.ID)
}

// testRRequest1Mine: a requester without the list permissions follows its
// own requests (Mine, or Party set to itself), paged; the account's other
// requests stay hidden, and asking for another user's answers the same
// refusal whether that user exists or not.
func testRRequest1Mine(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	x.external(x.ext, x.editors.ID, steward.NewInvitations{})
	x.external(x.colleague, x.editors.ID, steward.NewInvitations{})
	ask := func(as *steward.User, perm string) *steward.AccessRequest {
		t.Helper()
		r, _, err := w.Svc.RequestAccess(w.As(as.ID), x.client.ID, steward.NewAccessRequest{UserID: as.ID, Permissions: []string{perm}, Reason: "Quarterly reporting"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mine := []string{ask(x.ext, "crm.deals.edit").ID}
	other := ask(x.colleague, "crm.deals.edit")
	pending := ask(x.ext, "tickets.edit")
	mine = append(mine, pending.ID)
	if _, _, err := w.Svc.DeclineAccessRequest(w.As(x.owner.ID), x.client.ID, mine[0]); err != nil {
		t.Fatal(err)
	}

	// Page by page, one at a time: exactly its own, in id order, whatever their status.
	slices.Sort(mine)
	var got []string
	for page := (steward.Page{Limit: 1}); ; {
		rs, next, err := w.Svc.FindAccessRequests(w.As(x.ext.ID), steward.AccessRequestFilter{AccountID: x.client.ID, Mine: true, Page: page})
		if err != nil {
			t.Fatalf("Mine: %v", err)
		}
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		page.After = next
	}
	if !slices.Equal(got, mine) {
		t.Errorf("its own requests = %v, want %v (not %s)", got, mine, other.ID)
	}
	rs, _, err := w.Svc.FindAccessRequests(w.As(x.ext.ID), steward.AccessRequestFilter{AccountID: x.client.ID, Party: x.ext.ID, Status: steward.RequestPending})
	if err != nil || len(rs) != 1 || rs[0].ID != pending.ID {
		t.Errorf("Party itself, pending: %v, %v", rs, err)
	}
	for name, f := range map[string]steward.AccessRequestFilter{
		"ErrAll":          {AccountID: x.client.ID},
		"ErrOtherUser":    {AccountID: x.client.ID, Party: x.colleague.ID},
		"ErrUnknownUser":  {AccountID: x.client.ID, Party: "usr_00000000000000000000000000"},
		"ErrStrangerUser": {AccountID: x.client.ID, Party: x.stranger.ID},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := w.Svc.FindAccessRequests(w.As(x.ext.ID), f)
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		})
	}
	// A member of another account sees nothing of this one.
	t.Run("ErrOutsider", func(t *testing.T) {
		_, _, err := w.Svc.FindAccessRequests(w.As(x.stranger.ID), steward.AccessRequestFilter{AccountID: x.client.ID, Mine: true})
		if k := steward.ErrorKind(err); k != steward.ENOTFOUND && k != steward.EFORBIDDEN {
			t.Errorf("an outsider listing its own requests in another account: %v", err)
		}
	})
	// The approver lists every request, and its own (none) with Mine.
	if rs, _, err := w.Svc.FindAccessRequests(w.As(x.owner.ID), steward.AccessRequestFilter{AccountID: x.client.ID}); err != nil || len(rs) != 3 {
		t.Errorf("the approver's list: %d, %v", len(rs), err)
	}
	if rs, _, err := w.Svc.FindAccessRequests(w.As(x.owner.ID), steward.AccessRequestFilter{AccountID: x.client.ID, Mine: true}); err != nil || len(rs) != 0 {
		t.Errorf("the approver's own: %d, %v", len(rs), err)
	}
	// A partner admin's request for its employee is the admin's and the employee's.
	pw := &partnerWorld{World: w, C: x.client, COwner: x.owner}
	pw.P, pw.POwner = w.Account(steward.AccountPartner)
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	staff := w.Role(pw.C.ID, "Staff", "tickets.view")
	emp := w.Employees(pw.P.ID, pw.C.ID, admin.ID, staff.ID, 1)[0]
	forEmp, _, err := w.Svc.RequestAccess(w.As(admin.ID), pw.C.ID, steward.NewAccessRequest{UserID: emp.ID, Permissions: []string{"tickets.edit"}, Reason: "Support rota"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*steward.User{admin, emp} {
		rs, _, err := w.Svc.FindAccessRequests(w.As(u.ID), steward.AccessRequestFilter{AccountID: x.client.ID, Mine: true})
		if err != nil || len(rs) != 1 || rs[0].ID != forEmp.ID {
			t.Errorf("%s's own requests: %v, %v", u.ID, rs, err)
		}
	}
}

func testRRequest2(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	ix := w.index(t)
	m := x.external(x.ext, x.editors.ID, steward.NewInvitations{})
	limited := w.User(x.client.ID, steward.RoleMember)
	mgr := w.Role(x.client.ID, "Managers", steward.PermUsersManage, "reports.view")
	if _, _, err := w.Svc.ChangeMemberRole(w.As(x.owner.ID), x.client.ID, limited.ID, mgr.ID); err != nil {
		t.Fatal(err)
	}
	end := w.Now.Add(days(3))
	r, _, err := w.Svc.RequestAccess(w.As(x.ext.ID), x.client.ID, steward.NewAccessRequest{UserID: x.ext.ID, Permissions: []string{"crm.deals.edit", "tickets.edit"}, Reason: "Deal desk", EndsAt: &end})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrApproverLacksPermission", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "permission_not_held", func() error {
			_, _, err := w.Svc.ApproveAccessRequest(w.As(limited.ID), x.client.ID, r.ID)
			return err
		}, x.client.ID)
	})
	t.Run("ErrSubjectApproves", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "", func() error {
			_, _, err := w.Svc.ApproveAccessRequest(w.As(x.ext.ID), x.client.ID, r.ID)
			return err
		}, x.client.ID)
	})
	before := w.Member(x.client.ID, x.ext.ID)
	if _, _, err := w.Svc.ApproveAccessRequest(w.As(x.owner.ID), x.client.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := w.Store.FindMembership(ctx, x.client.ID, x.ext.ID)
	if !slices.Equal(after.Permissions, m.Permissions) || after.GrantedBy != before.GrantedBy || after.Role != before.Role || !sameEnd(after.EndsAt, before.EndsAt) {
		t.Errorf("approval changed the membership's own fields: %+v", after)
	}
	if len(after.Grants) != 1 || !slices.Equal(after.Grants[0].Permissions, []string{"crm.deals.edit", "tickets.edit"}) ||
		after.Grants[0].GrantedBy != x.owner.ID || !sameEnd(after.Grants[0].EndsAt, &end) {
		t.Errorf("grants = %+v", after.Grants)
	}
	if !w.checkBoth(t, ix, x.ext.ID, x.client.ID, "crm.deals.edit", w.Now) || w.checkBoth(t, ix, x.ext.ID, x.client.ID, "crm.deals.edit", end) {
		t.Error("the grant does not hold until its own end")
	}
	if !w.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", end) {
		t.Error("the membership's own permissions ended with the grant")
	}
	t.Run("ErrSecondDecision", func(t *testing.T) {
		w.refused(t, steward.ECONFLICT, "request_not_pending", func() error {
			_, _, err := w.Svc.DeclineAccessRequest(w.As(x.owner.ID), x.client.ID, r.ID)
			return err
		}, x.client.ID)
	})
	var decided bool
	for _, msg := range w.Mails(x.ext.Email) {
		decided = decided || msg.Kind == "access_request.approved"
	}
	if !decided {
		t.Error("the requester was not mailed the decision")
	}
	t.Run("ExpiresAfterSevenDays", func(t *testing.T) {
		r2, _, err := w.Svc.RequestAccess(w.As(x.ext.ID), x.client.ID, steward.NewAccessRequest{UserID: x.ext.ID, Permissions: []string{"settings.edit"}, Reason: "Setup"})
		if err != nil {
			t.Fatal(err)
		}
		w.Now = w.Now.Add(7 * 24 * time.Hour)
		if err := w.Svc.ExpireAccessRequests(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := w.Store.FindAccessRequest(ctx, x.client.ID, r2.ID)
		if err != nil || got.Status != steward.RequestExpired {
			t.Fatalf("status = %v (%v), want expired", got, err)
		}
		w.refused(t, steward.ECONFLICT, "request_not_pending", func() error {
			_, _, err := w.Svc.ApproveAccessRequest(w.As(x.owner.ID), x.client.ID, r2.ID)
			return err
		}, x.client.ID)
	})
}

func sameEnd(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func testRRevoke1(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	staff := w.Role(pw.C.ID, "Staff", "tickets.view")
	emps := w.Employees(pw.P.ID, pw.C.ID, admin.ID, staff.ID, 2)
	// A user of P who is also an external user of C, and one of another home.
	w.Svc.BaseURL = "https://steward.example.com/"
	x := &extWorld{World: w, client: pw.C, owner: pw.COwner, editors: staff}
	extU := w.User(pw.P.ID, steward.RoleMember)
	x.external(extU, staff.ID, steward.NewInvitations{})
	third, _ := w.Account(steward.AccountStandard)
	bystander := w.User(third.ID, steward.RoleMember)
	x.external(bystander, staff.ID, steward.NewInvitations{})

	t.Run("ErrOwnHomeAccount", func(t *testing.T) {
		w.refused(t, steward.EINVALID, "own_home_account", func() error {
			_, _, err := w.Svc.RevokeHomeAccount(w.As(admin.ID), pw.C.ID, pw.P.ID)
			return err
		}, pw.C.ID)
	})
	t.Run("ErrUnknownHome", func(t *testing.T) {
		w.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := w.Svc.RevokeHomeAccount(w.As(pw.COwner.ID), pw.C.ID, "acc_unknown")
			return err
		}, pw.C.ID)
	})
	before := w.Events(pw.C.ID)
	rv, _, err := w.Svc.RevokeHomeAccount(w.As(pw.COwner.ID), pw.C.ID, pw.P.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.Ended) != 4 || rv.Relationship == nil || rv.Relationship.Status != steward.RelationshipEnded {
		t.Fatalf("revocation = %+v", rv)
	}
	for _, u := range []*steward.User{admin, emps[0], emps[1], extU} {
		if _, err := w.Store.FindMembership(ctx, pw.C.ID, u.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("%s still a member: %v", u.Email, err)
		}
	}
	if !w.Allowed(bystander.ID, pw.C.ID, "tickets.view") {
		t.Error("a user of another home account lost access")
	}
	if got := w.Events(pw.C.ID) - before; got != 5 {
		t.Errorf("%d events, want one per membership ended and one for the action", got)
	}
	w.lastEvent(t, pw.C.ID, "access.revoked")
}

func testRRevoke2(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	plain := w.User(pw.P.ID, steward.RoleMember)
	tok, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: admin.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth().Authenticate(ctx, tok.Token, ""); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrNotASuperAdminOfTheHome", func(t *testing.T) {
		w.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := w.Svc.RevokeUser(w.As(pw.COwner.ID), admin.ID) // a super admin of a client, not of its home
			return err
		}, pw.P.ID, pw.C.ID)
		w.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := w.Svc.RevokeUser(w.As(plain.ID), admin.ID)
			return err
		}, pw.P.ID, pw.C.ID)
	})
	rv, _, err := w.Svc.RevokeUser(w.As(pw.POwner.ID), admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rv.TokensRevoked != 1 || rv.User.Status != steward.UserDeactivated {
		t.Errorf("revocation = %+v", rv)
	}
	if _, err := w.auth().Authenticate(ctx, tok.Token, ""); steward.ErrorKind(err) != steward.EUNAUTHENTICATED {
		t.Errorf("the revoked token authenticates: %v", err)
	}
	if w.Allowed(admin.ID, pw.C.ID, "reports.view") {
		t.Error("the revoked user still holds in a client")
	}
	// Reactivation does not bring the tokens back.
	if _, _, err := w.Svc.ReactivateUser(w.Op, admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth().Authenticate(ctx, tok.Token, ""); steward.ErrorKind(err) != steward.EUNAUTHENTICATED {
		t.Errorf("a revoked token works again after reactivation: %v", err)
	}
	// The operator revokes too.
	if _, _, err := w.Svc.RevokeUser(w.Op, plain.ID); err != nil {
		t.Errorf("operator revocation: %v", err)
	}
}

func testRGrant5RequestGrants(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	ix := w.index(t)
	managers := w.Role(x.client.ID, "Managers", steward.PermUsersManage, "crm.deals.edit", "reports.view")
	tenDays := w.Now.Add(days(10))
	x.external(x.ext, managers.ID, steward.NewInvitations{EndsAt: &tenDays})
	x.external(x.colleague, x.editors.ID, steward.NewInvitations{})
	r, _, err := w.Svc.RequestAccess(w.As(x.colleague.ID), x.client.ID, steward.NewAccessRequest{UserID: x.colleague.ID, Permissions: []string{"crm.deals.edit"}, Reason: "Deals"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ApproveAccessRequest(w.As(x.ext.ID), x.client.ID, r.ID); err != nil {
		t.Fatalf("approval by an external manager: %v", err)
	}
	if m, _ := w.Store.FindMembership(ctx, x.client.ID, x.colleague.ID); len(m.Grants) != 1 || !sameEnd(m.Grants[0].EndsAt, &tenDays) {
		t.Fatalf("the grant does not end with its approver: %+v", m.Grants)
	}
	fiveDays := w.Now.Add(days(5))
	if _, _, err := w.Svc.UpdateExternalUser(w.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &fiveDays}); err != nil {
		t.Fatal(err)
	}
	if !w.checkBoth(t, ix, x.colleague.ID, x.client.ID, "crm.deals.edit", fiveDays.Add(-time.Hour)) ||
		w.checkBoth(t, ix, x.colleague.ID, x.client.ID, "crm.deals.edit", fiveDays) {
		t.Error("the grant outlives its approver's shortened access")
	}
	if !w.checkBoth(t, ix, x.colleague.ID, x.client.ID, "reports.view", fiveDays.Add(days(1))) {
		t.Error("the membership's own permissions ended with its grant's approver")
	}
	w.lastEvent(t, x.client.ID, "grant.end_clipped")
}

// testRSuper1PolicyKeepsALastingSuperAdmin: a policy whose maximum would
// give the account's last lasting super admin (here a partner employee the
// client made super admin, who then demoted the owner) an end date is
// refused, so the account is never left to expire without one (R-SUPER-1
// with R-GUARD-4).
func testRSuper1PolicyKeepsALastingSuperAdmin(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	pa := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	if _, _, err := w.Svc.ChangeMemberRole(w.As(pw.COwner.ID), pw.C.ID, pa.ID, steward.RoleSuperAdmin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ChangeMemberRole(w.As(pa.ID), pw.C.ID, pw.COwner.ID, steward.RoleMember); err != nil {
		t.Fatal(err)
	}
	events := w.Events(pw.C.ID)
	_, _, err := w.Svc.UpdatePolicy(w.As(pa.ID), pw.C.ID, steward.PolicyUpdate{MaxPartnerDays: setPolicy(30)})
	WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	if w.Events(pw.C.ID) != events {
		t.Error("the refused policy recorded events")
	}
	if m := w.Member(pw.C.ID, pa.ID); m.EndsAt != nil || m.Role != steward.RoleSuperAdmin {
		t.Errorf("the last super admin after the refused policy = %+v", m)
	}
}

// testRRevoke1Invitations: revoking a home account also revokes the
// account's pending invitations to that home's users, and to addresses of
// its verified domains that are no user yet, so that none of them can come
// back in by accepting one; invitations to others stay.
func testRRevoke1Invitations(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	w.Svc.BaseURL = "https://steward.example.com/"
	if _, _, err := w.Svc.UpdateAccount(w.Op, pw.P.ID, steward.AccountUpdate{VerifiedDomains: &[]string{"revoked-agency.example"}}); err != nil {
		t.Fatal(err)
	}
	staff := w.Role(pw.C.ID, "Staff", "tickets.view")
	x := &extWorld{World: w, client: pw.C, owner: pw.COwner, editors: staff}
	w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	ofP := w.User(pw.P.ID, steward.RoleMember)
	third, _ := w.Account(steward.AccountStandard)
	bystander := w.User(third.ID, steward.RoleMember)
	invs := x.invite(w.As(pw.COwner.ID), staff.ID, steward.NewInvitations{}, ofP.Email, "newcomer@revoked-agency.example", bystander.Email)

	rv, _, err := w.Svc.RevokeHomeAccount(w.As(pw.COwner.ID), pw.C.ID, pw.P.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{invs[0].ID, invs[1].ID}; !sameIDs(rv.Invitations, want) {
		t.Errorf("invitations_revoked = %v, want %v", rv.Invitations, want)
	}
	for i, want := range []steward.InvitationStatus{steward.InvitationRevoked, steward.InvitationRevoked, steward.InvitationPending} {
		got, err := w.Store.FindInvitationByID(ctx, pw.C.ID, invs[i].ID)
		if err != nil || got.Status != want {
			t.Errorf("invitation to %s: %v (%v), want %s", invs[i].Email, got, err, want)
		}
	}
	_, _, err = w.Svc.AcceptInvitation(w.As(ofP.ID), x.token(ofP.Email))
	WantCode(t, err, steward.EGONE, "invitation_revoked")
	var details struct {
		Invitations []string `json:"invitations_revoked"`
	}
	if err := json.Unmarshal(w.lastEvent(t, pw.C.ID, "access.revoked").Details, &details); err != nil || len(details.Invitations) != 2 {
		t.Errorf("access.revoked lists invitations %v (%v)", details.Invitations, err)
	}
	if e := w.lastEvent(t, pw.C.ID, "invitation.revoked"); !strings.Contains(string(e.Details), "home_account_revoked") {
		t.Errorf("invitation.revoked details = %s", e.Details)
	}
	// A home account with nothing here but a pending invitation to one of
	// its users answers as an unknown one: the answer does not tell whose
	// user the invitee is, and the invitation stays.
	t.Run("ErrOnlyInvitationsAsUnknown", func(t *testing.T) {
		w.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := w.Svc.RevokeHomeAccount(w.As(pw.COwner.ID), pw.C.ID, third.ID)
			return err
		}, pw.C.ID)
		if got, err := w.Store.FindInvitationByID(ctx, pw.C.ID, invs[2].ID); err != nil || got.Status != steward.InvitationPending {
			t.Errorf("the bystander's invitation: %v (%v), want pending", got, err)
		}
	})
}

// testRRevoke2Invitations: revoking a user also revokes the pending
// invitations, of every account, addressed to it or sent by it.
func testRRevoke2Invitations(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	w.Svc.BaseURL = "https://steward.example.com/"
	admin := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	staff := w.Role(pw.C.ID, "Staff", "tickets.view")
	x := &extWorld{World: w, client: pw.C, owner: pw.COwner, editors: staff}
	third, thirdOwner := w.Account(steward.AccountStandard)
	stranger := w.User(third.ID, steward.RoleMember)
	sent := x.invite(w.As(admin.ID), staff.ID, steward.NewInvitations{}, stranger.Email)                 // by the user
	bystander := x.invite(w.As(pw.COwner.ID), staff.ID, steward.NewInvitations{}, "someone@example.org") // neither
	viewers := w.Role(third.ID, "Viewers", "reports.view")
	to, _, err := w.Svc.Invite(w.As(thirdOwner.ID), third.ID, viewers.ID, steward.NewInvitations{Emails: steward.EmailList{admin.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: w.Svc.Consent().Version}}) // to the user
	if err != nil {
		t.Fatal(err)
	}
	rv, _, err := w.Svc.RevokeUser(w.As(pw.POwner.ID), admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{sent[0].ID, to[0].ID}; !sameIDs(rv.Invitations, want) {
		t.Errorf("invitations_revoked = %v, want %v", rv.Invitations, want)
	}
	for _, c := range []struct {
		account, id string
		want        steward.InvitationStatus
	}{{pw.C.ID, sent[0].ID, steward.InvitationRevoked}, {third.ID, to[0].ID, steward.InvitationRevoked}, {pw.C.ID, bystander[0].ID, steward.InvitationPending}} {
		got, err := w.Store.FindInvitationByID(ctx, c.account, c.id)
		if err != nil || got.Status != c.want {
			t.Errorf("invitation %s: %v (%v), want %s", c.id, got, err, c.want)
		}
	}
	w.lastEvent(t, third.ID, "invitation.revoked")
	_, _, err = w.Svc.AcceptInvitation(w.As(stranger.ID), x.token(stranger.Email))
	WantCode(t, err, steward.EGONE, "invitation_revoked")
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
