package storetest

import (
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
	partnerCases = append(partnerCases,
		suiteCase{"R-PARTNER-1_PartnerAdminPermissions", testRPartner1},
		suiteCase{"R-PARTNER-2_AccessLinks", testRPartner2},
		suiteCase{"R-PARTNER-3_ApproveOrDecline", testRPartner3},
		suiteCase{"R-PARTNER-4_AddEmployees", testRPartner4},
		suiteCase{"R-PARTNER-5_EmployeeRoleFollowsRGrant2", testRPartner5},
		suiteCase{"R-PARTNER-6_EmployeesAndManagementCredit", testRPartner6},
		suiteCase{"R-PARTNER-7_ClientAliases", testRPartner7},
		suiteCase{"R-PARTNER-8_RemovalWizard", testRPartner8},
		suiteCase{"R-PARTNER-9_ConvertToPartnerAdmin", testRPartner9},
		suiteCase{"R-PARTNER-10_RelationshipLifecycle", testRPartner10},
		suiteCase{"R-PARTNER-11_ClientEndsRelationship", testRPartner11},
		suiteCase{"R-PARTNER-12_OffboardingCascade", testRPartner12},
		suiteCase{"PartnerAbuse_LinkTokens", testPartnerLinkTokens},
		suiteCase{"PartnerAbuse_ConcurrentApprovals", testPartnerConcurrentApprovals},
		suiteCase{"PartnerAbuse_NoRelationship", testPartnerNoRelationship},
		suiteCase{"PartnerAssets", testPartnerAssets},
		suiteCase{"R-AUDIT-3_PartnerSeesItsEmployees", testPartnerAudit},
	)
}

// partnerWorld is a partner account P with its owner, and a client C with its owner.
type partnerWorld struct {
	*World
	P, C           *steward.Account
	POwner, COwner *steward.User
}

func newPartnerWorld(t *testing.T, open Opener) *partnerWorld {
	w := NewWorld(t, open(t))
	pw := &partnerWorld{World: w}
	pw.P, pw.POwner = w.Account(steward.AccountPartner)
	pw.C, pw.COwner = w.Account(steward.AccountStandard)
	return pw
}

// tokenOf returns the token an access link URL ends with.
func tokenOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// Link issues an access link as asUser for forUser and returns its token.
func (w *World) Link(partnerID, asUser, forUser string) string {
	w.T.Helper()
	l, _, err := w.Svc.CreateAccessLink(w.As(asUser), partnerID, forUser)
	if err != nil {
		w.T.Fatalf("CreateAccessLink: %v", err)
	}
	return tokenOf(l.URL)
}

// PartnerAdmin makes a new user of partnerID a partner admin of clientID,
// approved by the client's super admin approver.
func (w *World) PartnerAdmin(partnerID, clientID, approver string) *steward.User {
	w.T.Helper()
	u := w.User(partnerID, steward.RoleMember)
	if _, _, err := w.Svc.ApproveAccessLink(w.As(approver), w.Link(partnerID, u.ID, u.ID), clientID); err != nil {
		w.T.Fatalf("ApproveAccessLink: %v", err)
	}
	return u
}

// Employees adds new users of partnerID to clientID with a role, as the partner admin.
func (w *World) Employees(partnerID, clientID, admin, role string, n int) []*steward.User {
	w.T.Helper()
	var us []*steward.User
	var ids []string
	for range n {
		u := w.User(partnerID, steward.RoleMember)
		us, ids = append(us, u), append(ids, u.ID)
	}
	if _, _, err := w.Svc.AddEmployees(w.As(admin), partnerID, clientID, ids, role); err != nil {
		w.T.Fatalf("AddEmployees: %v", err)
	}
	return us
}

// Relationship returns P→C as it stands at the world's time.
func (w *World) Relationship(partnerID, clientID string) *steward.Relationship {
	w.T.Helper()
	r, err := w.Store.FindRelationship(ctx, partnerID, clientID)
	if err != nil {
		w.T.Fatalf("FindRelationship: %v", err)
	}
	return r.At(w.Now)
}

// Reason answers a check as the operator and returns its reason code.
func (w *World) Reason(userID, accountID, perm string) string {
	w.T.Helper()
	res, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: perm})
	if err != nil {
		w.T.Fatalf("Check: %v", err)
	}
	return res.Reason.Code
}

// Mails returns the outbox messages to an address, newest first.
func (w *World) Mails(to string) []*steward.Message {
	w.T.Helper()
	all, err := w.Store.FindMessages(ctx, 500)
	if err != nil {
		w.T.Fatalf("FindMessages: %v", err)
	}
	var out []*steward.Message
	for _, m := range all {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// unchanged fails the test if the accounts' audit logs grew while fn ran:
// a refused request changes nothing and records nothing.
func (w *World) unchanged(t *testing.T, fn func(), accounts ...string) {
	t.Helper()
	before := make([]int64, len(accounts))
	for i, a := range accounts {
		before[i] = w.Events(a)
	}
	rev, _ := w.Store.CurrentRevision(ctx)
	fn()
	for i, a := range accounts {
		if got := w.Events(a); got != before[i] {
			t.Errorf("events of %s = %d, want %d: a refused request recorded something", a, got, before[i])
		}
	}
	if got, _ := w.Store.CurrentRevision(ctx); got != rev {
		t.Errorf("revision = %d, want %d: a refused request committed", got, rev)
	}
}

func testRPartner1(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	m := w.Member(w.C.ID, admin.ID)
	if m.Kind != steward.KindPartner || m.Role != steward.RolePartnerAdmin || m.PartnerID != w.P.ID {
		t.Fatalf("membership = %s/%s/%s, want partner/partner_admin/%s", m.Kind, m.Role, m.PartnerID, w.P.ID)
	}
	if diff := cmp.Diff(w.Svc.Catalogue.PartnerAdmin(), m.Permissions); diff != "" {
		t.Errorf("Permissions mismatch (-want +got):\n%s", diff)
	}
	for perm, want := range map[string]bool{
		steward.PermPartnersManage: true, steward.PermExternalUsersInvite: true, steward.PermUsersManage: true, "reports.view": true,
		steward.PermSuperAdminsManage: false, steward.PermBillingManage: false, steward.PermSCIMProvision: false, steward.PermRegionMigrate: false,
	} {
		if got := w.Allowed(admin.ID, w.C.ID, perm); got != want {
			t.Errorf("allowed(%s) = %v, want %v", perm, got, want)
		}
	}
	t.Run("CheckExplainsTheRelationship", func(t *testing.T) { // R-CHECK-1, R-CHECK-2
		res, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: admin.ID, AccountID: w.C.ID, Permission: "crm.deals.edit"})
		if err != nil {
			t.Fatal(err)
		}
		rel := w.Relationship(w.P.ID, w.C.ID)
		if len(res.Reason.Chain) != 2 || res.Reason.Chain[1].Type != "relationship" || res.Reason.Chain[1].ID != rel.ID || res.Reason.Chain[1].Status != "active" {
			t.Errorf("chain = %+v, want the membership then the relationship %s", res.Reason.Chain, rel.ID)
		}
		// A partner membership without a relationship does not hold.
		stranger, _ := w.Account(steward.AccountStandard)
		m := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: stranger.ID, UserID: admin.ID, Kind: steward.KindPartner,
			Status: steward.StatusActive, Role: steward.RolePartnerAdmin, Permissions: w.Svc.Catalogue.PartnerAdmin(), GrantedBy: "test", PartnerID: w.P.ID,
			CreatedAt: w.Now, UpdatedAt: w.Now}
		if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, m) }); err != nil {
			t.Fatal(err)
		}
		if got := w.Reason(admin.ID, stranger.ID, "crm.deals.edit"); got != steward.ReasonRelationshipInactive {
			t.Errorf("reason = %s, want %s", got, steward.ReasonRelationshipInactive)
		}
	})
	t.Run("ErrCannotMakeSuperAdmin", func(t *testing.T) {
		emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
		_, _, err := w.Svc.ChangeEmployeeRole(w.As(admin.ID), w.P.ID, w.C.ID, emp.ID, steward.RoleSuperAdmin)
		WantCode(t, err, steward.EFORBIDDEN, "")
	})
	t.Run("ClientNarrows", func(t *testing.T) {
		perms := steward.Minus(w.Svc.Catalogue.PartnerAdmin(), []string{"reports.view"})
		narrow := w.Role(w.C.ID, "Partner without reports", perms...)
		if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, admin.ID, narrow.ID); err != nil {
			t.Fatal(err)
		}
		if w.Allowed(admin.ID, w.C.ID, "reports.view") {
			t.Error("the client narrowed reports.view away, but the check allows it")
		}
		if !w.Allowed(admin.ID, w.C.ID, "crm.deals.edit") {
			t.Error("crm.deals.edit should stay")
		}
	})
}

func testRPartner2(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	emp := w.User(w.P.ID, steward.RoleMember)
	other := w.User(w.P.ID, steward.RoleMember)
	manager := w.User(w.P.ID, w.Role(w.P.ID, "Employee managers", steward.PermPartnerEmployeesManage).ID)
	w.Svc.BaseURL = "https://steward.example.com/"

	t.Run("ForItself", func(t *testing.T) {
		l, rev, err := w.Svc.CreateAccessLink(w.As(emp.ID), w.P.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l.URL, "https://steward.example.com/access-links/stwl_") || !steward.WellFormedAccessLinkToken(tokenOf(l.URL)) {
			t.Errorf("URL = %s, want the base URL and a token", l.URL)
		}
		if want := w.Now.Add(steward.DefaultAccessLinkTTL); !l.ExpiresAt.Equal(want) || l.UserID != emp.ID || rev == 0 {
			t.Errorf("link = %+v rev %d, want expiry %s for %s", l, rev, want, emp.ID)
		}
		v, err := w.Svc.FindAccessLink(w.As(w.COwner.ID), tokenOf(l.URL))
		if err != nil || v.User.ID != emp.ID || v.Partner.ID != w.P.ID {
			t.Errorf("FindAccessLink = %+v, %v", v, err)
		}
		// Only the hash is kept.
		if _, err := w.Store.FindAccessLinkByHash(ctx, tokenOf(l.URL)); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("the token itself finds a link: %v", err)
		}
	})
	t.Run("ErrForAnotherWithoutManage", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.CreateAccessLink(w.As(emp.ID), w.P.ID, other.ID)
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		}, w.P.ID)
	})
	t.Run("OnBehalfWithManage", func(t *testing.T) {
		l, _, err := w.Svc.CreateAccessLink(w.As(manager.ID), w.P.ID, other.ID)
		if err != nil || l.UserID != other.ID {
			t.Fatalf("CreateAccessLink = %+v, %v", l, err)
		}
	})
	t.Run("ErrNotAnEmployee", func(t *testing.T) {
		_, _, err := w.Svc.CreateAccessLink(w.As(manager.ID), w.P.ID, w.COwner.ID)
		WantCode(t, err, steward.EINVALID, "invalid_access_link")
	})
	t.Run("ErrStandardAccount", func(t *testing.T) {
		_, _, err := w.Svc.CreateAccessLink(w.As(w.COwner.ID), w.C.ID, "")
		WantCode(t, err, steward.ENOTFOUND, "")
	})
	t.Run("ConfigurableTTLAndSingleUse", func(t *testing.T) {
		w.Svc.AccessLinkTTL = time.Hour
		defer func() { w.Svc.AccessLinkTTL = 0 }()
		l, _, err := w.Svc.CreateAccessLink(w.As(emp.ID), w.P.ID, "")
		if err != nil || !l.ExpiresAt.Equal(w.Now.Add(time.Hour)) {
			t.Fatalf("link = %+v, %v; want a one-hour link", l, err)
		}
		c2, o2 := w.Account(steward.AccountStandard)
		if _, _, err := w.Svc.ApproveAccessLink(w.As(o2.ID), tokenOf(l.URL), c2.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = w.Svc.ApproveAccessLink(w.As(o2.ID), tokenOf(l.URL), c2.ID)
		WantCode(t, err, steward.ECONFLICT, "access_link_used")
	})
}

func testRPartner3(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	emp := w.User(w.P.ID, steward.RoleMember)
	token := w.Link(w.P.ID, emp.ID, emp.ID)

	t.Run("ShowsWhoAndWhat", func(t *testing.T) {
		v, err := w.Svc.FindAccessLink(w.As(w.COwner.ID), token)
		if err != nil {
			t.Fatal(err)
		}
		if v.Partner.Name != w.P.Name || v.User.Email != emp.Email || v.Grants.Role != steward.RolePartnerAdmin {
			t.Errorf("view = %+v", v)
		}
		if diff := cmp.Diff(w.Svc.Catalogue.PartnerAdmin(), v.Grants.Permissions); diff != "" {
			t.Errorf("Grants mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrNotSuperAdmin", func(t *testing.T) {
		admin := limitedAdmin(w.World, w.C.ID, steward.PermPartnersManage)
		w.unchanged(t, func() {
			_, _, err := w.Svc.ApproveAccessLink(w.As(admin.ID), token, w.C.ID)
			WantCode(t, err, steward.EFORBIDDEN, "super_admin_required")
		}, w.C.ID, w.P.ID)
	})
	t.Run("ErrOperatorAsItself", func(t *testing.T) {
		_, _, err := w.Svc.ApproveAccessLink(w.Op, token, w.C.ID)
		WantCode(t, err, steward.EFORBIDDEN, "super_admin_required")
	})
	t.Run("ErrNotAMemberOfTheClient", func(t *testing.T) {
		_, _, err := w.Svc.ApproveAccessLink(w.As(w.POwner.ID), token, w.C.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
	})
	t.Run("Approve", func(t *testing.T) {
		if w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") {
			t.Fatal("allowed before approval")
		}
		evC, evP := w.Events(w.C.ID), w.Events(w.P.ID)
		a, rev, err := w.Svc.ApproveAccessLink(w.As(w.COwner.ID), token, w.C.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Relationship.Status != steward.RelationshipActive || w.Relationship(w.P.ID, w.C.ID).Alias != w.C.Name || a.Membership.Role != steward.RolePartnerAdmin || rev == 0 {
			t.Errorf("approval = %+v / %+v", a.Relationship, a.Membership)
		}
		if !w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") {
			t.Error("not allowed after approval")
		}
		if w.Events(w.C.ID) <= evC || w.Events(w.P.ID) <= evP {
			t.Error("approval left no audit event in the client and the partner")
		}
		mails := w.Mails(emp.Email)
		if len(mails) != 1 || !strings.Contains(mails[0].Text, w.C.Name) || !strings.Contains(mails[0].Text, w.P.Name) || mails[0].Kind != "access_link.approved" {
			t.Errorf("mails = %+v, want one approval mail naming client and partner", mails)
		}
		evs, _, err := w.Store.FindEvents(ctx, steward.AuditFilter{AccountID: w.C.ID, Action: "access_link.approved"})
		if err != nil || len(evs) != 1 || evs[0].Actor.UserID != w.COwner.ID || evs[0].Actor.MembershipID == "" {
			t.Errorf("approval events = %+v, %v", evs, err)
		}
	})
	t.Run("Decline", func(t *testing.T) {
		other := w.User(w.P.ID, steward.RoleMember)
		tok := w.Link(w.P.ID, other.ID, other.ID)
		if _, err := w.Svc.DeclineAccessLink(w.As(w.COwner.ID), tok); err != nil {
			t.Fatal(err)
		}
		_, _, err := w.Svc.ApproveAccessLink(w.As(w.COwner.ID), tok, w.C.ID)
		WantCode(t, err, steward.ECONFLICT, "access_link_used")
		if w.Allowed(other.ID, w.C.ID, "crm.contacts.view") {
			t.Error("a declined link gave access")
		}
		if mails := w.Mails(other.Email); len(mails) != 1 || mails[0].Kind != "access_link.declined" {
			t.Errorf("mails = %+v, want the decline mail", mails)
		}
	})
	t.Run("ReactivatesEndedRelationship", func(t *testing.T) {
		before := w.Relationship(w.P.ID, w.C.ID)
		if _, _, err := w.Svc.EndRelationship(w.As(w.COwner.ID), w.C.ID, w.P.ID); err != nil {
			t.Fatal(err)
		}
		if w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") {
			t.Fatal("allowed after the relationship ended")
		}
		a, _, err := w.Svc.ApproveAccessLink(w.As(w.COwner.ID), w.Link(w.P.ID, emp.ID, emp.ID), w.C.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Relationship.ID != before.ID || a.Relationship.Status != steward.RelationshipActive || a.Relationship.EndedAt != nil {
			t.Errorf("relationship = %+v, want %s active again", a.Relationship, before.ID)
		}
		if !w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") {
			t.Error("not allowed after re-approval")
		}
	})
}

func testRPartner4(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	// The client narrows the partner admin: no reports.view.
	narrow := w.Role(w.C.ID, "Narrow partner", steward.Minus(w.Svc.Catalogue.PartnerAdmin(), []string{"reports.view"})...)
	if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, admin.ID, narrow.ID); err != nil {
		t.Fatal(err)
	}
	analyst := w.Role(w.C.ID, "Analyst", "crm.contacts.view", "reports.view")
	e1, e2 := w.User(w.P.ID, steward.RoleMember), w.User(w.P.ID, steward.RoleMember)

	t.Run("TwoAtOnceFilteredByRGrant1", func(t *testing.T) {
		ms, _, err := w.Svc.AddEmployees(w.As(admin.ID), w.P.ID, w.C.ID, []string{e1.ID, e2.ID}, analyst.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if diff := cmp.Diff([]string{"crm.contacts.view"}, m.Permissions); diff != "" || m.Kind != steward.KindPartner || m.ManagedBy != w.P.ID {
				t.Errorf("%s: kind %s managed by %q, permissions (-want +got):\n%s", m.UserID, m.Kind, m.ManagedBy, diff)
			}
		}
		if !w.Allowed(e1.ID, w.C.ID, "crm.contacts.view") || w.Allowed(e2.ID, w.C.ID, "reports.view") {
			t.Error("checks disagree with the grant")
		}
		if len(w.Mails(e1.Email)) != 1 {
			t.Error("the added employee was not mailed")
		}
	})
	t.Run("ErrUserOfAnotherPartnerOrDeactivated", func(t *testing.T) {
		p2, _ := w.Account(steward.AccountPartner)
		stranger := w.User(p2.ID, steward.RoleMember)
		gone := w.User(w.P.ID, steward.RoleMember)
		if _, _, err := w.Svc.DeactivateUser(w.Op, gone.ID); err != nil {
			t.Fatal(err)
		}
		fresh := w.User(w.P.ID, steward.RoleMember)
		w.unchanged(t, func() {
			_, _, err := w.Svc.AddEmployees(w.As(admin.ID), w.P.ID, w.C.ID, []string{fresh.ID, stranger.ID, gone.ID, e1.ID}, steward.RoleMember)
			WantCode(t, err, steward.EINVALID, "invalid_employees")
			if fs := steward.ErrorFields(err); len(fs) != 3 || fs[0].Field != "user_ids[1]" || fs[1].Field != "user_ids[2]" || fs[2].Field != "user_ids[3]" {
				t.Errorf("Fields = %+v, want user_ids[1..3] named", fs)
			}
		}, w.C.ID)
		if _, err := w.Store.FindMembership(ctx, w.C.ID, fresh.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Error("a refused batch added its valid user")
		}
	})
	t.Run("ErrNotPartnerAdmin", func(t *testing.T) {
		_, _, err := w.Svc.AddEmployees(w.As(e1.ID), w.P.ID, w.C.ID, []string{w.User(w.P.ID, steward.RoleMember).ID}, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required") // a partner employee, not an admin
		// The client's own super admin is no user of P: P's console is unknown to it.
		_, _, err = w.Svc.AddEmployees(w.As(w.COwner.ID), w.P.ID, w.C.ID, []string{w.User(w.P.ID, steward.RoleMember).ID}, steward.RoleMember)
		WantCode(t, err, steward.ENOTFOUND, "")
		// P's super admin is not a partner admin in C (R-PARTNER-8).
		_, _, err = w.Svc.AddEmployees(w.As(w.POwner.ID), w.P.ID, w.C.ID, []string{w.User(w.P.ID, steward.RoleMember).ID}, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required")
	})
}

func testRPartner5(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	narrow := w.Role(w.C.ID, "Narrow partner", steward.Minus(w.Svc.Catalogue.PartnerAdmin(), []string{"reports.view"})...)
	withReports := w.Role(w.C.ID, "Analyst", "crm.contacts.view", "reports.view")
	without := w.Role(w.C.ID, "Editor", "crm.contacts.edit")
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, withReports.ID, 1)[0] // granted reports.view while the admin held it
	if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, admin.ID, narrow.ID); err != nil {
		t.Fatal(err)
	}
	m, rev, err := w.Svc.ChangeEmployeeRole(w.As(admin.ID), w.P.ID, w.C.ID, emp.ID, without.ID)
	if err != nil || rev == 0 {
		t.Fatal(err)
	}
	// (O − H) ∪ (S ∩ H): the admin lacks reports.view, so it stays.
	if diff := cmp.Diff([]string{"crm.contacts.edit", "reports.view"}, m.Permissions); diff != "" {
		t.Errorf("Permissions mismatch (-want +got):\n%s", diff)
	}
	if !w.Allowed(emp.ID, w.C.ID, "reports.view") || w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") || !w.Allowed(emp.ID, w.C.ID, "crm.contacts.edit") {
		t.Error("checks disagree with R-GRANT-2")
	}
	evs, _, _ := w.Store.FindEvents(ctx, steward.AuditFilter{AccountID: w.C.ID, Action: "partner_member.role_changed"})
	if len(evs) != 1 || evs[0].Actor.UserID != admin.ID || evs[0].Actor.PartnerID != w.P.ID || !containsJSON(evs[0].Details, `"granted_by":"`+admin.ID+`"`) {
		t.Errorf("role change events = %+v", evs)
	}
	t.Run("ErrNotAnEmployeeOfThePartner", func(t *testing.T) {
		internal := w.User(w.C.ID, steward.RoleMember)
		_, _, err := w.Svc.ChangeEmployeeRole(w.As(admin.ID), w.P.ID, w.C.ID, internal.ID, without.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
	})
}

func testRPartner6(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	domains := []string{"agency.example"}
	if _, _, err := w.Svc.UpdateAccount(w.Op, w.P.ID, steward.AccountUpdate{VerifiedDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	verified, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: "Vera@Agency.example", Name: "Vera", HomeAccountID: w.P.ID})
	if err != nil {
		t.Fatal(err)
	}
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	manager := w.User(w.P.ID, w.Role(w.P.ID, "Employee managers", steward.PermPartnerEmployeesManage).ID)

	// The employee is a member of C through another door: an external membership.
	ext := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: w.C.ID, UserID: verified.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{"tickets.view"}, GrantedBy: w.COwner.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, ext) }); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]*steward.Employee {
		es, _, err := w.Svc.FindEmployees(w.As(manager.ID), w.P.ID, steward.Page{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*steward.Employee{}
		for _, e := range es {
			out[e.ID] = e
		}
		return out
	}
	es := list()
	if !es[verified.ID].Verified || es[admin.ID].Verified || es[admin.ID].Clients != 1 || es[verified.ID].Clients != 0 {
		t.Errorf("employees = vera %+v, admin %+v", es[verified.ID], es[admin.ID])
	}
	t.Run("ErrWithoutManage", func(t *testing.T) {
		_, _, err := w.Svc.LinkEmployee(w.As(admin.ID), w.P.ID, verified.ID, w.C.ID)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	})
	t.Run("ErrWithoutRelationship", func(t *testing.T) {
		c2, o2 := w.Account(steward.AccountStandard)
		_ = o2
		w.unchanged(t, func() {
			_, _, err := w.Svc.LinkEmployee(w.As(manager.ID), w.P.ID, verified.ID, c2.ID)
			WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		}, c2.ID, w.P.ID)
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		_, _, err := w.Svc.LinkEmployee(w.As(manager.ID), w.P.ID, manager.ID, w.C.ID)
		WantCode(t, err, steward.ENOTFOUND, "member_not_found")
	})
	t.Run("Link", func(t *testing.T) {
		m, _, err := w.Svc.LinkEmployee(w.As(manager.ID), w.P.ID, verified.ID, w.C.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.ManagedBy != w.P.ID || m.Kind != steward.KindExternal {
			t.Errorf("membership = %+v, want managed by P and still external", m)
		}
		if es := list(); es[verified.ID].Clients != 1 {
			t.Errorf("client count = %d, want 1", es[verified.ID].Clients)
		}
		_, _, err = w.Svc.LinkEmployee(w.As(manager.ID), w.P.ID, verified.ID, w.C.ID)
		WantCode(t, err, steward.ECONFLICT, "already_linked")
		if !w.Allowed(verified.ID, w.C.ID, "tickets.view") {
			t.Error("linking changed the access")
		}
	})
}

func testRPartner7(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	viewer := w.User(w.P.ID, w.Role(w.P.ID, "Client viewers", steward.PermPartnerClientsView).ID)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	c2, o2 := w.Account(steward.AccountStandard)
	w.PartnerAdmin(w.P.ID, c2.ID, o2.ID)
	c3, o3 := w.Account(steward.AccountStandard)
	a3 := w.PartnerAdmin(w.P.ID, c3.ID, o3.ID)
	emps := w.Employees(w.P.ID, c3.ID, a3.ID, steward.RoleMember, 2)
	// C3 keeps only employees, no active partner admin.
	if _, _, err := w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{a3.ID}, AccountIDs: []string{c3.ID}}); err != nil {
		t.Fatal(err)
	}
	_ = emps
	as := w.As(viewer.ID)

	r, _, err := w.Svc.UpdateClientAlias(as, w.P.ID, w.C.ID, "  Acme (north)  ")
	if err != nil || r.Alias != "Acme (north)" {
		t.Fatalf("UpdateClientAlias = %+v, %v", r, err)
	}
	find := func(f steward.ClientFilter) []*steward.Client {
		t.Helper()
		f.PartnerID = w.P.ID
		cs, _, err := w.Svc.FindClients(as, f)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	byClient := map[string]*steward.Client{}
	for _, c := range find(steward.ClientFilter{}) {
		byClient[c.ClientID] = c
	}
	c1, cl2, cl3 := byClient[w.C.ID], byClient[c2.ID], byClient[c3.ID]
	if len(byClient) != 3 || c1 == nil || cl2 == nil || cl3 == nil {
		t.Fatalf("clients = %v", byClient)
	}
	if c1.Alias != "Acme (north)" || c1.ClientName != w.C.Name || cl2.Alias != c2.Name || cl2.ClientName != c2.Name {
		t.Errorf("alias/name = %q/%q and %q/%q", c1.Alias, c1.ClientName, cl2.Alias, cl2.ClientName)
	}
	if c1.PartnerAdmins != 1 || c1.Employees != 1 || c1.AccessType != steward.AccessTypePartnerAdmin ||
		cl3.AccessType != steward.AccessTypeEmployees || cl3.Employees != 3 || cl3.Active != 2 || cl3.PartnerAdmins != 0 {
		t.Errorf("counts = %+v / %+v", c1, cl3)
	}
	if cs := find(steward.ClientFilter{Search: "ACME"}); len(cs) != 1 || cs[0].ClientID != w.C.ID {
		t.Errorf("search by alias = %+v", cs)
	}
	if cs := find(steward.ClientFilter{Search: c2.Name}); len(cs) != 1 || cs[0].ClientID != c2.ID {
		t.Errorf("search by the client's own name = %+v", cs)
	}
	if cs := find(steward.ClientFilter{Search: "%"}); len(cs) != 0 {
		t.Errorf("search %% = %d clients, want none: LIKE wildcards are literal", len(cs))
	}
	if cs := find(steward.ClientFilter{AccessType: steward.AccessTypePartnerAdmin}); len(cs) != 2 {
		t.Errorf("access type partner_admin = %d clients, want 2", len(cs))
	}
	if cs := find(steward.ClientFilter{AccessType: steward.AccessTypeEmployees}); len(cs) != 1 || cs[0].ClientID != c3.ID {
		t.Errorf("access type employees = %+v", cs)
	}
	var pages []string
	for p := (steward.Page{Limit: 2}); ; {
		cs, next, err := w.Svc.FindClients(as, steward.ClientFilter{PartnerID: w.P.ID, Page: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			pages = append(pages, c.ClientID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	slices.Sort(pages)
	if diff := cmp.Diff(steward.NewSet(w.C.ID, c2.ID, c3.ID), pages); diff != "" {
		t.Errorf("pages mismatch (-want +got):\n%s", diff)
	}
	// The client's own name is untouched.
	if acc, _ := w.Store.FindAccountByID(ctx, w.C.ID); acc.Name != w.C.Name {
		t.Errorf("client name = %q, want %q", acc.Name, w.C.Name)
	}
	t.Run("ErrWithoutClientsView", func(t *testing.T) {
		emp := w.User(w.P.ID, steward.RoleMember)
		_, _, err := w.Svc.FindClients(w.As(emp.ID), steward.ClientFilter{PartnerID: w.P.ID})
		WantCode(t, err, steward.EFORBIDDEN, "")
		_, _, err = w.Svc.UpdateClientAlias(w.As(emp.ID), w.P.ID, w.C.ID, "x")
		WantCode(t, err, steward.EFORBIDDEN, "")
	})
	t.Run("ErrBadInput", func(t *testing.T) {
		_, _, err := w.Svc.UpdateClientAlias(as, w.P.ID, w.C.ID, "  ")
		WantCode(t, err, steward.EINVALID, "invalid_alias")
		_, _, err = w.Svc.FindClients(as, steward.ClientFilter{PartnerID: w.P.ID, AccessType: "everything"})
		WantCode(t, err, steward.EINVALID, "invalid_filter")
		_, _, err = w.Svc.UpdateClientAlias(as, w.P.ID, w.POwner.HomeAccountID, "self")
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
	})
	_ = admin
}

func testRPartner8(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	c2, o2 := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	if _, _, err := w.Svc.ApproveAccessLink(w.As(o2.ID), w.Link(w.P.ID, admin.ID, admin.ID), c2.ID); err != nil {
		t.Fatal(err)
	}
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	if _, _, err := w.Svc.AddEmployees(w.As(admin.ID), w.P.ID, c2.ID, []string{emp.ID}, steward.RoleMember); err != nil {
		t.Fatal(err)
	}
	stays := w.User(w.C.ID, steward.RoleMember)
	stays2 := w.User(c2.ID, steward.RoleMember)
	for i, acc := range []string{w.C.ID, w.C.ID, c2.ID} {
		if _, _, err := w.Svc.PutAsset(w.Op, acc, "workflow", fmt.Sprintf("wf-%d", i), steward.AssetInput{Name: fmt.Sprintf("Flow %d", i), OwnerUserID: emp.ID}); err != nil {
			t.Fatal(err)
		}
	}
	manager := w.User(w.P.ID, w.Role(w.P.ID, "Employee managers", steward.PermPartnerEmployeesManage).ID)
	plain := w.User(w.P.ID, steward.RoleMember)
	sel := steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{w.C.ID, c2.ID}}

	t.Run("PreviewListsAssetsPerClient", func(t *testing.T) {
		pv, err := w.Svc.PreviewRemoval(w.As(manager.ID), w.P.ID, sel)
		if err != nil {
			t.Fatal(err)
		}
		if len(pv.Clients) != 2 || len(pv.Clients[0].Employees[0].Assets) != 2 || len(pv.Clients[1].Employees[0].Assets) != 1 {
			t.Fatalf("preview = %+v", pv.Clients)
		}
		// Candidates are P's own employees who stay, never the client's directory.
		if cs := pv.Clients[0].Candidates; len(cs) != 1 || cs[0].UserID != admin.ID {
			t.Errorf("candidates = %+v, want only the partner admin %s", cs, admin.ID)
		}
	})
	t.Run("ErrPermissionSplit", func(t *testing.T) {
		_, err := w.Svc.PreviewRemoval(w.As(plain.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "")
		_, _, err = w.Svc.RemoveEmployees(w.As(plain.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "")
		_, _, err = w.Svc.DeactivateEmployees(w.As(plain.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "")
	})
	t.Run("ErrReassignToNonMember", func(t *testing.T) {
		bad := sel
		bad.ReassignTo = map[string]string{w.C.ID: stays2.ID}
		w.unchanged(t, func() {
			_, _, err := w.Svc.RemoveEmployees(w.As(manager.ID), w.P.ID, bad)
			WantCode(t, err, steward.EINVALID, "invalid_reassignment")
		}, w.C.ID, c2.ID, w.P.ID)
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		c3, o3 := w.Account(steward.AccountStandard)
		w.PartnerAdmin(w.P.ID, c3.ID, o3.ID)
		bad := steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{w.C.ID, c3.ID}}
		w.unchanged(t, func() {
			_, _, err := w.Svc.RemoveEmployees(w.As(manager.ID), w.P.ID, bad)
			WantCode(t, err, steward.EINVALID, "not_a_member")
		}, w.C.ID, c3.ID, w.P.ID)
	})
	t.Run("DeactivateThenReactivateNeedsPartnerAdmin", func(t *testing.T) {
		res, _, err := w.Svc.DeactivateEmployees(w.As(manager.ID), w.P.ID, sel)
		if err != nil || res.Changed != 2 {
			t.Fatalf("DeactivateEmployees = %+v, %v", res, err)
		}
		if w.Allowed(emp.ID, w.C.ID, "crm.contacts.view") || w.Reason(emp.ID, c2.ID, "crm.contacts.view") != steward.ReasonMembershipDeactivated {
			t.Error("a deactivated employee still has access")
		}
		_, _, err = w.Svc.ReactivateEmployees(w.As(manager.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required") // the manager is no member of the clients at all
		if _, _, err := w.Svc.ReactivateEmployees(w.As(admin.ID), w.P.ID, sel); err != nil {
			t.Fatal(err)
		}
		if w.Reason(emp.ID, w.C.ID, "settings.edit") != steward.ReasonPermissionMissing {
			t.Errorf("reactivated employee: %s", w.Reason(emp.ID, w.C.ID, "settings.edit"))
		}
	})
	t.Run("RemoveWithReassignment", func(t *testing.T) {
		ok := sel
		ok.ReassignTo = map[string]string{w.C.ID: stays.ID}
		res, _, err := w.Svc.RemoveEmployees(w.As(manager.ID), w.P.ID, ok)
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 2 || res.Reassigned != 2 {
			t.Errorf("result = %+v, want 2 removed, 2 reassigned", res)
		}
		if as, _, _ := w.Svc.FindAssets(w.Op, steward.AssetFilter{AccountID: w.C.ID, OwnerUserID: stays.ID}); len(as) != 2 {
			t.Errorf("assets of the new owner = %d, want 2", len(as))
		}
		if as, _, _ := w.Svc.FindAssets(w.Op, steward.AssetFilter{AccountID: c2.ID, OwnerUserID: emp.ID}); len(as) != 1 {
			t.Errorf("assets left in c2 = %d, want 1 (no reassignment asked)", len(as))
		}
		for _, acc := range []string{w.C.ID, c2.ID} {
			if w.Reason(emp.ID, acc, "crm.contacts.view") != steward.ReasonNoMembership {
				t.Errorf("%s: the removed employee still has a membership", acc)
			}
		}
		evs, _, _ := w.Store.FindEvents(ctx, steward.AuditFilter{AccountID: w.C.ID, Action: "asset.reassigned"})
		if len(evs) != 1 || evs[0].Actor.UserID != manager.ID {
			t.Errorf("reassignment events = %+v", evs)
		}
	})
	t.Run("RemoveAllWhenEveryoneDeactivated", func(t *testing.T) {
		w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 2)
		everyone := steward.EmployeeSelection{AccountIDs: []string{w.C.ID}} // no user_ids: all of P's
		res, _, err := w.Svc.DeactivateEmployees(w.As(manager.ID), w.P.ID, everyone)
		if err != nil || res.Changed != 3 {
			t.Fatalf("DeactivateEmployees = %+v, %v; want the admin and two employees", res, err)
		}
		// Nobody of P can act in C now, not even to reactivate.
		_, _, err = w.Svc.ReactivateEmployees(w.As(admin.ID), w.P.ID, everyone)
		WantCode(t, err, steward.EFORBIDDEN, steward.ReasonMembershipDeactivated)
		rm, _, err := w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, everyone)
		if err != nil || rm.Removed != 3 {
			t.Fatalf("RemoveEmployees = %+v, %v", rm, err)
		}
		if n, _ := w.Store.CountPartnerMemberships(ctx, w.P.ID, w.C.ID); n != 0 {
			t.Errorf("%d partner memberships left", n)
		}
		if r := w.Relationship(w.P.ID, w.C.ID); r.Status != steward.RelationshipEnding {
			t.Errorf("relationship = %s, want ending", r.Status)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, everyone)
			WantCode(t, err, steward.ECONFLICT, "nothing_to_remove")
		}, w.C.ID, w.P.ID)
	})
}

func testRPartner9(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emps := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 2)
	for _, e := range emps {
		if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, e.ID, steward.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("ErrNotSuperAdmin", func(t *testing.T) {
		_, _, err := w.Svc.ConvertToPartnerAdmin(w.As(admin.ID), w.P.ID, w.C.ID, admin.ID, false)
		WantCode(t, err, steward.ECONFLICT, "not_super_admin")
	})
	t.Run("SelfWithBilling", func(t *testing.T) {
		m, _, err := w.Svc.ConvertToPartnerAdmin(w.As(emps[0].ID), w.P.ID, w.C.ID, emps[0].ID, true)
		if err != nil {
			t.Fatal(err)
		}
		want := steward.Union(w.Svc.Catalogue.PartnerAdmin(), []string{steward.PermBillingManage})
		if diff := cmp.Diff(want, m.Permissions); diff != "" || m.Role != steward.RolePartnerAdmin {
			t.Errorf("role %s, permissions (-want +got):\n%s", m.Role, diff)
		}
		if !w.Allowed(emps[0].ID, w.C.ID, steward.PermBillingManage) || w.Allowed(emps[0].ID, w.C.ID, steward.PermSuperAdminsManage) {
			t.Error("checks disagree with the conversion")
		}
	})
	t.Run("PartnerAdminConvertsAnother", func(t *testing.T) {
		m, _, err := w.Svc.ConvertToPartnerAdmin(w.As(emps[0].ID), w.P.ID, w.C.ID, emps[1].ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Role != steward.RolePartnerAdmin || steward.Contains(m.Permissions, steward.PermBillingManage) {
			t.Errorf("membership = %+v", m)
		}
	})
	t.Run("ErrInternalSuperAdmin", func(t *testing.T) {
		_, _, err := w.Svc.ConvertToPartnerAdmin(w.As(admin.ID), w.P.ID, w.C.ID, w.COwner.ID, false)
		WantCode(t, err, steward.ENOTFOUND, "employee_not_found") // as an unknown user
	})
	t.Run("ErrLastSuperAdmin", func(t *testing.T) {
		c2, o2 := w.Account(steward.AccountStandard)
		a2 := w.PartnerAdmin(w.P.ID, c2.ID, o2.ID)
		if _, _, err := w.Svc.ChangeMemberRole(w.As(o2.ID), c2.ID, a2.ID, steward.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Svc.DeactivateUser(w.Op, o2.ID); err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.ConvertToPartnerAdmin(w.As(a2.ID), w.P.ID, c2.ID, a2.ID, true)
			WantCode(t, err, steward.ECONFLICT, "last_super_admin")
		}, c2.ID)
	})
}

func testRPartner10(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	w.Svc.RelationshipGrace = 48 * time.Hour
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	sel := steward.EmployeeSelection{UserIDs: []string{admin.ID, emp.ID}, AccountIDs: []string{w.C.ID}}

	t.Run("ActivityIsKept", func(t *testing.T) {
		w.Now = w.Now.Add(time.Hour)
		if _, _, err := w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: emp.ID, Action: "contact.updated", Target: "contact/42"}); err != nil {
			t.Fatal(err)
		}
		if r := w.Relationship(w.P.ID, w.C.ID); !r.LastActivityAt.Equal(w.Now) {
			t.Errorf("last activity = %s, want %s (product activity)", r.LastActivityAt, w.Now)
		}
		w.Now = w.Now.Add(time.Hour)
		name := "Partner-made"
		perms := []string{"tickets.view"}
		if _, _, err := w.Svc.CreateRole(w.As(admin.ID), w.C.ID, steward.RoleInput{Name: &name, Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
		if r := w.Relationship(w.P.ID, w.C.ID); !r.LastActivityAt.Equal(w.Now) {
			t.Errorf("last activity = %s, want %s (a change by a partner user)", r.LastActivityAt, w.Now)
		}
		w.Now = w.Now.Add(time.Hour)
		if _, _, err := w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: w.COwner.ID, Action: "contact.updated"}); err != nil {
			t.Fatal(err)
		}
		if r := w.Relationship(w.P.ID, w.C.ID); r.LastActivityAt.Equal(w.Now) {
			t.Error("the client's own activity counted as partner activity")
		}
		_, _, err := w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: w.POwner.ID, Action: "contact.updated"})
		WantCode(t, err, steward.EINVALID, "invalid_activity")
		_, _, err = w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: emp.ID, Action: "Bad Action"})
		WantCode(t, err, steward.EINVALID, "invalid_activity")
		_, _, err = w.Svc.ReportActivity(w.As(emp.ID), w.C.ID, steward.ActivityReport{UserID: emp.ID, Action: "x.y"})
		WantCode(t, err, steward.EFORBIDDEN, "operator_only")
	})
	t.Run("DeactivationDoesNotEnd", func(t *testing.T) {
		if _, _, err := w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, sel); err != nil {
			t.Fatal(err)
		}
		if r := w.Relationship(w.P.ID, w.C.ID); r.Status != steward.RelationshipActive {
			t.Errorf("status = %s, want active", r.Status)
		}
	})
	t.Run("EndingThenEnded", func(t *testing.T) {
		w.Now = w.Now.Add(time.Hour)
		removedAt := w.Now
		if _, _, err := w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, sel); err != nil {
			t.Fatal(err)
		}
		r := w.Relationship(w.P.ID, w.C.ID)
		if r.Status != steward.RelationshipEnding || r.EndsAt == nil || !r.EndsAt.Equal(removedAt.Add(48*time.Hour)) {
			t.Fatalf("relationship = %+v, want ending until %s", r, removedAt.Add(48*time.Hour))
		}
		if n, err := w.Svc.EndLapsedRelationships(ctx); err != nil || n != 0 {
			t.Errorf("EndLapsedRelationships before the grace = %d, %v", n, err)
		}
		w.Now = removedAt.Add(48 * time.Hour)
		// Decided from time at read, before the job has run.
		cs, _, err := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID, Status: steward.RelationshipEnded})
		if err != nil || len(cs) != 1 || cs[0].Status != steward.RelationshipEnded {
			t.Fatalf("ended clients = %+v, %v", cs, err)
		}
		evP := w.Events(w.P.ID)
		if n, err := w.Svc.EndLapsedRelationships(ctx); err != nil || n != 1 {
			t.Fatalf("EndLapsedRelationships = %d, %v; want 1", n, err)
		}
		if n, _ := w.Svc.EndLapsedRelationships(ctx); n != 0 {
			t.Errorf("second run ended %d, want 0", n)
		}
		raw, _ := w.Store.FindRelationship(ctx, w.P.ID, w.C.ID)
		if raw.Status != steward.RelationshipEnded || raw.EndedAt == nil || !raw.EndedAt.Equal(removedAt.Add(48*time.Hour)) {
			t.Errorf("stored relationship = %+v", raw)
		}
		if w.Events(w.P.ID) != evP+1 {
			t.Error("the job's end left no audit event in the partner")
		}
		// Ended relationships stay listed.
		if ps, _, _ := w.Svc.FindPartners(w.As(w.COwner.ID), w.C.ID, steward.Page{}); len(ps) != 1 || ps[0].Status != steward.RelationshipEnded {
			t.Errorf("partners = %+v", ps)
		}
	})
	t.Run("ClientRemovesTheLastOne", func(t *testing.T) {
		c2, o2 := w.Account(steward.AccountStandard)
		approvedAt := w.Now
		a2 := w.PartnerAdmin(w.P.ID, c2.ID, o2.ID)
		w.Now = w.Now.Add(time.Hour)
		if _, err := w.Svc.RemoveMember(w.As(o2.ID), c2.ID, a2.ID); err != nil {
			t.Fatal(err)
		}
		r := w.Relationship(w.P.ID, c2.ID)
		if r.Status != steward.RelationshipEnding || !r.EndsAt.Equal(approvedAt.Add(48*time.Hour)) {
			t.Errorf("relationship = %+v, want ending 48h after the approval, the last partner activity", r)
		}
	})
}

func testRPartner11(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emps := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 2)
	custom := w.Role(w.C.ID, "Viewer", "crm.contacts.view")
	if _, _, err := w.Svc.ChangeEmployeeRole(w.As(admin.ID), w.P.ID, w.C.ID, emps[0].ID, custom.ID); err != nil {
		t.Fatal(err)
	}
	plain := w.User(w.C.ID, steward.RoleMember)

	ps, _, err := w.Svc.FindPartners(w.As(w.COwner.ID), w.C.ID, steward.Page{})
	if err != nil || len(ps) != 1 || ps[0].PartnerName != w.P.Name || ps[0].Employees != 3 {
		t.Fatalf("FindPartners = %+v, %v", ps, err)
	}
	t.Run("ErrWithoutPartnersManage", func(t *testing.T) {
		_, _, err := w.Svc.EndRelationship(w.As(plain.ID), w.C.ID, w.P.ID)
		WantCode(t, err, steward.EFORBIDDEN, "")
	})
	t.Run("ErrLastSuperAdminIsAPartnerEmployee", func(t *testing.T) {
		c2, o2 := w.Account(steward.AccountStandard)
		a2 := w.PartnerAdmin(w.P.ID, c2.ID, o2.ID)
		if _, _, err := w.Svc.ChangeMemberRole(w.As(o2.ID), c2.ID, a2.ID, steward.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Svc.DeactivateUser(w.Op, o2.ID); err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.EndRelationship(w.As(a2.ID), c2.ID, w.P.ID)
			WantCode(t, err, steward.ECONFLICT, "last_super_admin")
		}, c2.ID, w.P.ID)
	})
	t.Run("EndsAtOnce", func(t *testing.T) {
		r, _, err := w.Svc.EndRelationship(w.As(w.COwner.ID), w.C.ID, w.P.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != steward.RelationshipEnded || r.EndedAt == nil || !r.EndedAt.Equal(w.Now) {
			t.Errorf("relationship = %+v", r)
		}
		for _, u := range append(emps, admin) {
			if w.Reason(u.ID, w.C.ID, "crm.contacts.view") != steward.ReasonNoMembership {
				t.Errorf("%s keeps a membership after the end", u.ID)
			}
		}
		if len(w.Mails(admin.Email)) != 2 {
			t.Errorf("partner admin mails = %d, want approval and end", len(w.Mails(admin.Email)))
		}
		_, _, err = w.Svc.EndRelationship(w.As(w.COwner.ID), w.C.ID, w.P.ID)
		WantCode(t, err, steward.ECONFLICT, "relationship_ended")
		if ps, _, _ := w.Svc.FindPartners(w.As(w.COwner.ID), w.C.ID, steward.Page{}); len(ps) != 1 || ps[0].Status != steward.RelationshipEnded || ps[0].Employees != 0 {
			t.Errorf("partners = %+v", ps)
		}
		_, _, err = w.Svc.AddEmployees(w.As(admin.ID), w.P.ID, w.C.ID, []string{w.User(w.P.ID, steward.RoleMember).ID}, steward.RoleMember)
		WantCode(t, err, steward.ENOTFOUND, "")
	})
}

func testRPartner12(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	c2, o2 := w.Account(steward.AccountStandard)
	c3, o3 := w.Account(steward.AccountStandard)
	u := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	for _, c := range []struct{ acc, owner string }{{c2.ID, o2.ID}, {c3.ID, o3.ID}} {
		if _, _, err := w.Svc.ApproveAccessLink(w.As(c.owner), w.Link(w.P.ID, u.ID, u.ID), c.acc); err != nil {
			t.Fatal(err)
		}
	}
	// In C3 the partner deactivated the membership before the offboarding.
	if _, _, err := w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{u.ID}, AccountIDs: []string{c3.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.DeactivateUser(w.Op, u.ID); err != nil {
		t.Fatal(err)
	}
	for acc, want := range map[string]steward.MembershipStatus{w.C.ID: steward.StatusSuspended, c2.ID: steward.StatusSuspended, c3.ID: steward.StatusDeactivated} {
		if m := w.Member(acc, u.ID); m.Status != want {
			t.Errorf("after offboarding, status in %s = %s, want %s", acc, m.Status, want)
		}
		if w.Allowed(u.ID, acc, "crm.contacts.view") {
			t.Errorf("an offboarded employee keeps access to %s", acc)
		}
	}
	evs, _, _ := w.Store.FindEvents(ctx, steward.AuditFilter{AccountID: c2.ID, Action: "partner_member.suspended"})
	if len(evs) != 1 {
		t.Errorf("suspension events in c2 = %d, want 1", len(evs))
	}
	if r := w.Relationship(w.P.ID, w.C.ID); r.Status != steward.RelationshipActive {
		t.Errorf("the relationship is %s, want active: suspension does not end it", r.Status)
	}
	if _, _, err := w.Svc.ReactivateUser(w.Op, u.ID); err != nil {
		t.Fatal(err)
	}
	for acc, want := range map[string]steward.MembershipStatus{w.C.ID: steward.StatusActive, c2.ID: steward.StatusActive, c3.ID: steward.StatusDeactivated} {
		if m := w.Member(acc, u.ID); m.Status != want {
			t.Errorf("after reactivation, status in %s = %s, want %s", acc, m.Status, want)
		}
	}
	if !w.Allowed(u.ID, w.C.ID, "crm.contacts.view") || w.Allowed(u.ID, c3.ID, "crm.contacts.view") {
		t.Error("reactivation restored the wrong access")
	}
	if sps, _ := w.Store.FindSuspensions(ctx, u.ID); len(sps) != 0 {
		t.Errorf("%d markers left after reactivation", len(sps))
	}
}

func testPartnerLinkTokens(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	emp := w.User(w.P.ID, steward.RoleMember)
	as := w.As(w.COwner.ID)
	t.Run("ErrMalformed", func(t *testing.T) {
		for _, tok := range []string{"", "x", "stwl_", "stwl_" + strings.Repeat("A", 52), "stwl_" + strings.Repeat("a", 53), "../../etc/passwd"} {
			_, err := w.Svc.FindAccessLink(as, tok)
			WantCode(t, err, steward.EINVALID, "malformed_access_link")
			_, _, err = w.Svc.ApproveAccessLink(as, tok, w.C.ID)
			WantCode(t, err, steward.EINVALID, "malformed_access_link")
		}
	})
	t.Run("ErrForged", func(t *testing.T) {
		forged := steward.NewSecret(steward.AccessLinkTokenPrefix)
		w.unchanged(t, func() {
			_, _, err := w.Svc.ApproveAccessLink(as, forged, w.C.ID)
			WantCode(t, err, steward.ENOTFOUND, "access_link_not_found")
			_, err = w.Svc.DeclineAccessLink(as, forged)
			WantCode(t, err, steward.ENOTFOUND, "access_link_not_found")
		}, w.C.ID, w.P.ID)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		tok := w.Link(w.P.ID, emp.ID, emp.ID)
		w.Now = w.Now.Add(steward.DefaultAccessLinkTTL)
		defer func() { w.Now = w.Now.Add(-steward.DefaultAccessLinkTTL) }()
		w.unchanged(t, func() {
			_, err := w.Svc.FindAccessLink(as, tok)
			WantCode(t, err, steward.EGONE, "access_link_expired")
			_, _, err = w.Svc.ApproveAccessLink(as, tok, w.C.ID)
			WantCode(t, err, steward.EGONE, "access_link_expired")
		}, w.C.ID, w.P.ID)
	})
	t.Run("ErrUsed", func(t *testing.T) {
		tok := w.Link(w.P.ID, emp.ID, emp.ID)
		if _, _, err := w.Svc.ApproveAccessLink(as, tok, w.C.ID); err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.ApproveAccessLink(as, tok, w.C.ID)
			WantCode(t, err, steward.ECONFLICT, "access_link_used")
			_, err = w.Svc.DeclineAccessLink(as, tok)
			WantCode(t, err, steward.ECONFLICT, "access_link_used")
			_, err = w.Svc.FindAccessLink(as, tok)
			WantCode(t, err, steward.ECONFLICT, "access_link_used")
		}, w.C.ID, w.P.ID)
	})
	t.Run("ErrEmployeeDeactivatedSince", func(t *testing.T) {
		other := w.User(w.P.ID, steward.RoleMember)
		tok := w.Link(w.P.ID, other.ID, other.ID)
		if _, _, err := w.Svc.DeactivateUser(w.Op, other.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := w.Svc.ApproveAccessLink(as, tok, w.C.ID)
		WantCode(t, err, steward.ECONFLICT, "employee_inactive")
	})
	t.Run("ErrOwnClient", func(t *testing.T) {
		_, _, err := w.Svc.ApproveAccessLink(w.As(w.POwner.ID), w.Link(w.P.ID, emp.ID, emp.ID), w.P.ID)
		WantCode(t, err, steward.EINVALID, "invalid_approval")
	})
}

func testPartnerConcurrentApprovals(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	c2, o2 := w.Account(steward.AccountStandard)
	emp := w.User(w.P.ID, steward.RoleMember)
	for round := range 5 {
		tok := w.Link(w.P.ID, emp.ID, emp.ID)
		// Two clients' super admins approve the same link at the same moment.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, c := range []struct{ acc, owner string }{{w.C.ID, w.COwner.ID}, {c2.ID, o2.ID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[i] = w.Svc.ApproveAccessLink(w.As(c.owner), tok, c.acc)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if steward.ErrorCode(err) != "access_link_used" {
				t.Errorf("round %d: err = %v, want access_link_used", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d approvals succeeded, want exactly 1 (%v)", round, ok, errs)
		}
		// Clean up for the next round: end whichever relationship was made.
		for _, c := range []struct{ acc, owner string }{{w.C.ID, w.COwner.ID}, {c2.ID, o2.ID}} {
			if r, err := w.Store.FindRelationship(ctx, w.P.ID, c.acc); err == nil && r.Status == steward.RelationshipActive {
				if _, _, err := w.Svc.EndRelationship(w.As(c.owner), c.acc, w.P.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func testPartnerNoRelationship(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	stranger, strangerOwner := w.Account(steward.AccountStandard)
	as := w.As(admin.ID)
	w.unchanged(t, func() {
		_, _, err := w.Svc.AddEmployees(as, w.P.ID, stranger.ID, []string{emp.ID}, steward.RoleMember)
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.ChangeEmployeeRole(as, w.P.ID, stranger.ID, emp.ID, steward.RoleMember)
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.ConvertToPartnerAdmin(as, w.P.ID, stranger.ID, strangerOwner.ID, false)
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{stranger.ID}})
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{"acc_unknown"}})
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.UpdateClientAlias(w.As(w.POwner.ID), w.P.ID, stranger.ID, "Mine")
		WantCode(t, err, steward.ENOTFOUND, "client_not_found")
		_, _, err = w.Svc.EndRelationship(w.As(strangerOwner.ID), stranger.ID, w.P.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
	}, stranger.ID, w.P.ID, w.C.ID)
}

func testPartnerAssets(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	member := w.User(w.C.ID, steward.RoleMember)
	outsider := w.User(w.P.ID, steward.RoleMember)
	a, _, err := w.Svc.PutAsset(w.Op, w.C.ID, "report", "r-1", steward.AssetInput{Name: "Pipeline", OwnerUserID: member.ID})
	if err != nil || a.Name != "Pipeline" {
		t.Fatalf("PutAsset = %+v, %v", a, err)
	}
	if _, _, err := w.Svc.PutAsset(w.Op, w.C.ID, "report", "r-1", steward.AssetInput{Name: "Pipeline", OwnerUserID: w.COwner.ID}); err != nil {
		t.Fatal(err)
	}
	evs, _, _ := w.Store.FindEvents(ctx, steward.AuditFilter{AccountID: w.C.ID, Action: "asset.reassigned"})
	if len(evs) != 1 {
		t.Errorf("reassignment events = %d, want 1", len(evs))
	}
	for i := range 3 {
		if _, _, err := w.Svc.PutAsset(w.Op, w.C.ID, "contact", fmt.Sprintf("c-%d", i), steward.AssetInput{Name: "C", OwnerUserID: member.ID}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for p := (steward.Page{Limit: 2}); ; {
		as, next, err := w.Svc.FindAssets(w.As(member.ID), steward.AssetFilter{AccountID: w.C.ID, Page: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			got = append(got, a.Type+"/"+a.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if diff := cmp.Diff([]string{"contact/c-0", "contact/c-1", "contact/c-2", "report/r-1"}, got); diff != "" {
		t.Errorf("pages mismatch (-want +got):\n%s", diff)
	}
	t.Run("ErrBadInput", func(t *testing.T) {
		_, _, err := w.Svc.PutAsset(w.Op, w.C.ID, "report", "r-2", steward.AssetInput{Name: "X", OwnerUserID: outsider.ID})
		WantCode(t, err, steward.EINVALID, "invalid_asset")
		_, _, err = w.Svc.PutAsset(w.Op, w.C.ID, "Bad Type", "r-2", steward.AssetInput{Name: "X", OwnerUserID: member.ID})
		WantCode(t, err, steward.EINVALID, "invalid_asset")
		_, _, err = w.Svc.PutAsset(w.As(w.COwner.ID), w.C.ID, "report", "r-2", steward.AssetInput{Name: "X", OwnerUserID: member.ID})
		WantCode(t, err, steward.EFORBIDDEN, "operator_only")
		_, _, err = w.Svc.FindAssets(w.As(outsider.ID), steward.AssetFilter{AccountID: w.C.ID})
		WantCode(t, err, steward.ENOTFOUND, "")
	})
}

func testPartnerAudit(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	if _, _, err := w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: emp.ID, Action: "deal.closed"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ReportActivity(w.Op, w.C.ID, steward.ActivityReport{UserID: w.COwner.ID, Action: "deal.closed"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{w.C.ID}}); err != nil {
		t.Fatal(err)
	}
	// An employee of P acting in an account that is not P's client stays private.
	other, otherOwner := w.Account(steward.AccountStandard)
	ext := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: other.ID, UserID: emp.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{}, GrantedBy: otherOwner.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, ext) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ReportActivity(w.Op, other.ID, steward.ActivityReport{UserID: emp.ID, Action: "deal.closed"}); err != nil {
		t.Fatal(err)
	}

	evs, _, err := w.Svc.FindPartnerEvents(w.As(w.POwner.ID), w.P.ID, steward.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range evs {
		if e.AccountID != w.C.ID {
			t.Errorf("the partner sees an event of %s: %s", e.AccountID, e.Action)
		}
		actions[e.Action]++
	}
	for _, want := range []string{"partner_member.added", "product.deal.closed", "partner_member.removed"} {
		if actions[want] != 1 {
			t.Errorf("partner view: %d %s events, want 1 (all: %v)", actions[want], want, actions)
		}
	}
	// The client filters its own log by partner and finds the console's removal.
	cevs, _, err := w.Svc.FindEvents(w.As(w.COwner.ID), steward.AuditFilter{AccountID: w.C.ID, ActorPartnerID: w.P.ID, Action: "partner_member.removed"})
	if err != nil || len(cevs) != 1 || cevs[0].Actor.UserID != w.POwner.ID || cevs[0].Actor.HomeAccountID != w.P.ID {
		t.Errorf("client view = %+v, %v", cevs, err)
	}
	t.Run("ErrWithoutAuditView", func(t *testing.T) {
		_, _, err := w.Svc.FindPartnerEvents(w.As(emp.ID), w.P.ID, steward.AuditFilter{})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.FindPartnerEvents(w.As(w.COwner.ID), w.P.ID, steward.AuditFilter{})
		WantCode(t, err, steward.ENOTFOUND, "")
	})
}
