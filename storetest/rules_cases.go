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

// limitedAdmin returns a user of a who manages users and roles and holds only
// the extra permissions given.
func limitedAdmin(w *World, accountID string, extra ...string) *steward.User {
	w.T.Helper()
	r := w.Role(accountID, fmt.Sprintf("Admin %d", w.seq.Add(1)), append([]string{steward.PermUsersManage, steward.PermRolesManage, steward.PermAuditView}, extra...)...)
	return w.User(accountID, r.ID)
}

func testRGrant1(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	admin := limitedAdmin(w, a.ID, "crm.contacts.view")
	as := w.As(admin.ID)

	t.Run("ErrCreateRoleWithUnheldPermission", func(t *testing.T) {
		name, perms := "Deals", []string{"crm.contacts.view", "crm.deals.edit"}
		before := w.Events(a.ID)
		_, _, err := w.Svc.CreateRole(as, a.ID, steward.RoleInput{Name: &name, Permissions: &perms})
		WantCode(t, err, steward.EFORBIDDEN, "permission_not_held")
		if fs := steward.ErrorFields(err); len(fs) != 1 || fs[0].Message != `you do not hold "crm.deals.edit"` {
			t.Errorf("Fields = %+v, want crm.deals.edit named", fs)
		}
		if w.Events(a.ID) != before {
			t.Error("a refused role creation wrote an event")
		}
	})
	t.Run("ErrMakeSuperAdmin", func(t *testing.T) {
		other := w.User(a.ID, steward.RoleMember)
		_, _, err := w.Svc.ChangeMemberRole(as, a.ID, other.ID, steward.RoleSuperAdmin)
		WantCode(t, err, steward.EFORBIDDEN, "")
	})
	t.Run("AddMemberGetsOnlyHeld", func(t *testing.T) {
		wide := w.Role(a.ID, "Wide", "crm.contacts.view", "crm.deals.edit", "settings.edit")
		m, _, err := w.Svc.AddMember(as, a.ID, steward.NewMember{Email: "new@example.com", Name: "New", Role: wide.ID})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"crm.contacts.view"}, m.Permissions); diff != "" {
			t.Errorf("Permissions mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("SuperAdminHoldsEverything", func(t *testing.T) {
		_, owner := w.Account(steward.AccountStandard)
		m := w.Member(owner.HomeAccountID, owner.ID)
		if diff := cmp.Diff(w.Svc.Catalogue.All(), m.Permissions); diff != "" {
			t.Errorf("super admin permissions mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrUnknownPermission", func(t *testing.T) {
		name, perms := "Bad", []string{"crm.nope"}
		_, _, err := w.Svc.CreateRole(w.Op, a.ID, steward.RoleInput{Name: &name, Permissions: &perms})
		WantCode(t, err, steward.EINVALID, "unknown_permission")
	})
}

// testRGrant2 is SPEC's example: a partner admin (here, an admin) without
// reports.view changes an employee's permission set; a set containing
// reports.view does not grant it, and if the employee already had it it stays.
func testRGrant2(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	admin := limitedAdmin(w, a.ID, "crm.contacts.view", "crm.contacts.edit")
	as := w.As(admin.ID)
	withReports := w.Role(a.ID, "Analyst", "crm.contacts.view", "reports.view")
	without := w.Role(a.ID, "Editor", "crm.contacts.edit")

	t.Run("SetWithReportsDoesNotGrantIt", func(t *testing.T) {
		emp := w.User(a.ID, steward.RoleMember)
		m, _, err := w.Svc.ChangeMemberRole(as, a.ID, emp.ID, withReports.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"crm.contacts.view"}, m.Permissions); diff != "" {
			t.Errorf("Permissions mismatch (-want +got):\n%s", diff)
		}
		if w.Allowed(emp.ID, a.ID, "reports.view") {
			t.Error("reports.view was granted by an actor who does not hold it")
		}
	})
	t.Run("HeldReportsStays", func(t *testing.T) {
		emp := w.User(a.ID, withReports.ID) // given by the operator, who holds everything
		m, _, err := w.Svc.ChangeMemberRole(as, a.ID, emp.ID, without.ID)
		if err != nil {
			t.Fatal(err)
		}
		// (O − H) ∪ (S ∩ H): O = {contacts.view, reports.view}, H ∌ reports.view.
		if diff := cmp.Diff([]string{"crm.contacts.edit", "reports.view"}, m.Permissions); diff != "" {
			t.Errorf("Permissions mismatch (-want +got):\n%s", diff)
		}
		if !w.Allowed(emp.ID, a.ID, "reports.view") {
			t.Error("reports.view was removed by an actor who does not hold it")
		}
		if w.Allowed(emp.ID, a.ID, "crm.contacts.view") {
			t.Error("crm.contacts.view, held by the actor and not in the set, should be removed")
		}
	})
	t.Run("Arithmetic", func(t *testing.T) {
		got := steward.ApplySet([]string{"a.a", "r.v"}, []string{"b.b", "r.v"}, []string{"a.a", "b.b"})
		if diff := cmp.Diff([]string{"b.b", "r.v"}, got); diff != "" {
			t.Errorf("ApplySet mismatch (-want +got):\n%s", diff)
		}
	})
}

func testRGrant3(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	sales := w.Role(a.ID, "Sales", "crm.deals.view", "crm.contacts.view")
	var members []*steward.User
	for range 3 {
		members = append(members, w.User(a.ID, sales.ID))
	}
	other := w.User(a.ID, steward.RoleMember)

	perms := []string{"crm.deals.edit", "crm.deals.view"}
	if _, _, err := w.Svc.UpdateRole(w.As(owner.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &perms}); err != nil {
		t.Fatal(err)
	}
	for _, u := range members {
		m := w.Member(a.ID, u.ID)
		if diff := cmp.Diff(perms, m.Permissions); diff != "" {
			t.Errorf("member %s permissions mismatch (-want +got):\n%s", u.ID, diff)
		}
		if !w.Allowed(u.ID, a.ID, "crm.deals.edit") || w.Allowed(u.ID, a.ID, "crm.contacts.view") {
			t.Errorf("checks of %s do not follow the role edit", u.ID)
		}
	}
	if m := w.Member(a.ID, other.ID); len(m.Permissions) != 0 {
		t.Errorf("a member of another role changed: %v", m.Permissions)
	}

	t.Run("DelegatesOnlyNarrow", func(t *testing.T) {
		home, _ := w.Account(steward.AccountStandard)
		parentUser, delegateUser := w.User(home.ID, steward.RoleMember), w.User(home.ID, steward.RoleMember)
		parent := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: parentUser.ID, Kind: steward.KindExternal,
			Status: steward.StatusActive, Role: sales.ID, Permissions: []string{"crm.deals.edit", "crm.deals.view"}, AllowRedelegation: true,
			GrantedBy: owner.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
		delegate := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: a.ID, UserID: delegateUser.ID, Kind: steward.KindDelegate,
			Status: steward.StatusActive, Role: sales.ID, Permissions: []string{"crm.deals.view"}, ParentID: parent.ID,
			GrantedBy: parentUser.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
		if err := w.Store.InTx(ctx, func(tx steward.Store) error {
			if err := tx.CreateMembership(ctx, parent); err != nil {
				return err
			}
			return tx.CreateMembership(ctx, delegate)
		}); err != nil {
			t.Fatal(err)
		}
		wider := []string{"crm.deals.edit", "crm.deals.view", "tickets.view"}
		if _, _, err := w.Svc.UpdateRole(w.As(owner.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &wider}); err != nil {
			t.Fatal(err)
		}
		if m := w.Member(a.ID, delegateUser.ID); slices.Contains(m.Permissions, "tickets.view") {
			t.Errorf("a role edit widened a delegate: %v", m.Permissions)
		}
		if m := w.Member(a.ID, parentUser.ID); !slices.Contains(m.Permissions, "tickets.view") {
			t.Errorf("a role edit did not reach the external member: %v", m.Permissions)
		}
		narrower := []string{"crm.deals.edit", "tickets.view"}
		if _, _, err := w.Svc.UpdateRole(w.As(owner.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &narrower}); err != nil {
			t.Fatal(err)
		}
		if w.Allowed(delegateUser.ID, a.ID, "crm.deals.view") {
			t.Error("a role edit that removes a permission left it with the delegate")
		}
		// Back to what the rest of this test expects.
		perms := []string{"crm.deals.edit", "crm.deals.view"}
		if _, _, err := w.Svc.UpdateRole(w.As(owner.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Svc.RemoveMember(w.As(owner.ID), a.ID, parentUser.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrEditorLacksAdded", func(t *testing.T) {
		editor := limitedAdmin(w, a.ID, "crm.deals.view", "crm.deals.edit")
		before := w.Events(a.ID)
		perms := []string{"crm.deals.view", "crm.deals.edit", "tickets.edit"}
		_, _, err := w.Svc.UpdateRole(w.As(editor.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &perms})
		WantCode(t, err, steward.EFORBIDDEN, "permission_not_held")
		if w.Events(a.ID) != before {
			t.Error("a refused role edit wrote an event")
		}
		if m := w.Member(a.ID, members[0].ID); slices.Contains(m.Permissions, "tickets.edit") {
			t.Error("a refused role edit reached a member")
		}
	})
	t.Run("ErrEditorLacksRemoved", func(t *testing.T) {
		editor := limitedAdmin(w, a.ID, "crm.deals.view")
		perms := []string{"crm.deals.view"} // removes crm.deals.edit, which the editor lacks
		_, _, err := w.Svc.UpdateRole(w.As(editor.ID), a.ID, sales.ID, steward.RoleInput{Permissions: &perms})
		WantCode(t, err, steward.EFORBIDDEN, "permission_not_held")
	})
	t.Run("ErrBuiltin", func(t *testing.T) {
		perms := []string{}
		_, _, err := w.Svc.UpdateRole(w.As(owner.ID), a.ID, steward.RoleMember, steward.RoleInput{Permissions: &perms})
		WantCode(t, err, steward.EFORBIDDEN, "builtin_role")
	})
	t.Run("ErrDeleteInUse", func(t *testing.T) {
		_, err := w.Svc.DeleteRole(w.As(owner.ID), a.ID, sales.ID)
		WantCode(t, err, steward.ECONFLICT, "role_in_use")
	})
}

func testRGrant4(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	r := w.Role(a.ID, "Viewer", "crm.contacts.view")
	u := w.User(a.ID, steward.RoleMember)
	m, _, err := w.Svc.ChangeMemberRole(w.As(owner.ID), a.ID, u.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.GrantedBy != owner.ID {
		t.Errorf("GrantedBy = %q, want %q", m.GrantedBy, owner.ID)
	}
	events, _, err := w.Svc.FindEvents(w.Op, steward.AuditFilter{AccountID: a.ID, Action: "member.role_changed"})
	if err != nil || len(events) != 1 {
		t.Fatalf("role_changed events = %d, %v", len(events), err)
	}
	if events[0].Actor.UserID != owner.ID || !containsJSON(events[0].Details, `"granted_by":"`+owner.ID+`"`) {
		t.Errorf("event = %+v %s, want actor and granted_by %s", events[0].Actor, events[0].Details, owner.ID)
	}
}

func testRSuper1(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	member := w.User(a.ID, steward.RoleMember)

	t.Run("ErrDemote", func(t *testing.T) {
		_, _, err := w.Svc.ChangeMemberRole(as, a.ID, owner.ID, steward.RoleMember)
		WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	})
	t.Run("ErrDeactivate", func(t *testing.T) {
		_, _, err := w.Svc.DeactivateMember(as, a.ID, owner.ID)
		WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	})
	t.Run("ErrDeactivateUser", func(t *testing.T) {
		_, _, err := w.Svc.DeactivateUser(w.Op, owner.ID)
		WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	})
	t.Run("ErrRemove", func(t *testing.T) {
		_, err := w.Svc.RemoveMember(as, a.ID, owner.ID)
		if steward.ErrorKind(err) != steward.ECONFLICT {
			t.Errorf("RemoveMember(last super admin) err = %v, want ECONFLICT", err)
		}
	})
	t.Run("SelfDemotionWithAnother", func(t *testing.T) {
		if _, _, err := w.Svc.ChangeMemberRole(as, a.ID, member.ID, steward.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Svc.ChangeMemberRole(as, a.ID, owner.ID, steward.RoleMember); err != nil {
			t.Fatalf("self-demotion while another super admin remains: %v", err)
		}
		_, _, err := w.Svc.ChangeMemberRole(w.As(member.ID), a.ID, member.ID, steward.RoleMember)
		WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	})
	t.Run("ExpiredSuperAdminDoesNotCount", func(t *testing.T) {
		b, bOwner := w.Account(steward.AccountStandard)
		second := w.User(b.ID, steward.RoleSuperAdmin)
		m := w.Member(b.ID, second.ID)
		ends := w.Now.Add(time.Hour)
		m.EndsAt = &ends
		if err := w.Store.UpdateMembership(ctx, m); err != nil {
			t.Fatal(err)
		}
		w.Now = w.Now.Add(2 * time.Hour)
		_, _, err := w.Svc.ChangeMemberRole(w.As(bOwner.ID), b.ID, bOwner.ID, steward.RoleMember)
		WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	})
}

// testRSuper1Concurrent races 32 demotions of 32 different super admins: at
// least one super admin remains, and every refusal is last_super_admin.
func testRSuper1Concurrent(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	admins := []*steward.User{owner}
	for range 31 {
		admins = append(admins, w.User(a.ID, steward.RoleSuperAdmin))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(admins))
	for i, u := range admins {
		wg.Go(func() {
			_, _, errs[i] = w.Svc.ChangeMemberRole(w.As(u.ID), a.ID, u.ID, steward.RoleMember)
		})
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		if err != nil {
			refused++
			if steward.ErrorCode(err) != "last_super_admin" && steward.ErrorKind(err) != steward.EFORBIDDEN {
				t.Errorf("refusal err = %v, want last_super_admin", err)
			}
		}
	}
	n, err := w.Store.CountActiveSuperAdmins(ctx, a.ID, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Fatalf("%d active super admins remain, want at least 1", n)
	}
	if refused == 0 {
		t.Error("no demotion was refused")
	}
}

func testRSuper2(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	admin := limitedAdmin(w, a.ID) // account.users.manage without account.super_admins.manage
	as := w.As(admin.ID)
	member := w.User(a.ID, steward.RoleMember)
	second := w.User(a.ID, steward.RoleSuperAdmin)

	_, _, err := w.Svc.ChangeMemberRole(as, a.ID, member.ID, steward.RoleSuperAdmin)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, _, err = w.Svc.ChangeMemberRole(as, a.ID, second.ID, steward.RoleMember)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, err = w.Svc.RemoveMember(as, a.ID, second.ID)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, _, err = w.Svc.DeactivateMember(as, a.ID, second.ID)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, _, err = w.Svc.AddMember(as, a.ID, steward.NewMember{Email: "boss@example.com", Name: "Boss", Role: steward.RoleSuperAdmin})
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	// The owner holds account.super_admins.manage.
	if _, _, err := w.Svc.ChangeMemberRole(w.As(owner.ID), a.ID, member.ID, steward.RoleSuperAdmin); err != nil {
		t.Fatalf("super admin making a super admin: %v", err)
	}
}

func testRAudit1(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	before := w.Events(a.ID)
	rev0, _ := w.Store.CurrentRevision(ctx)

	_, _, err := w.Svc.ChangeMemberRole(as, a.ID, owner.ID, steward.RoleMember) // refused: last super admin
	WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	name, perms := "X", []string{"nope.nope"}
	_, _, err = w.Svc.CreateRole(as, a.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	WantCode(t, err, steward.EINVALID, "unknown_permission")
	if got := w.Events(a.ID); got != before {
		t.Fatalf("refused changes left %d events, want none", got-before)
	}
	if rev, _ := w.Store.CurrentRevision(ctx); rev != rev0 {
		t.Errorf("refused changes moved the revision from %d to %d", rev0, rev)
	}

	u := w.User(a.ID, steward.RoleMember) // two events: user.created, member.added
	before = w.Events(a.ID)
	r := w.Role(a.ID, "Viewer", "crm.contacts.view")
	if got := w.Events(a.ID) - before; got != 1 {
		t.Errorf("CreateRole left %d events, want 1", got)
	}
	before = w.Events(a.ID)
	if _, _, err := w.Svc.ChangeMemberRole(as, a.ID, u.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := w.Events(a.ID) - before; got != 1 {
		t.Errorf("ChangeMemberRole left %d events, want 1", got)
	}
}

func testRAudit2(t *testing.T, open Opener) {
	st := open(t)
	w := NewWorld(t, st)
	a, owner := w.Account(steward.AccountStandard)
	for i := range 5 {
		w.Role(a.ID, fmt.Sprintf("R%d", i), "crm.contacts.view")
	}
	res, err := w.Svc.VerifyAudit(w.As(owner.ID), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Events != w.Events(a.ID) {
		t.Fatalf("VerifyAudit = %+v, want ok over every event", res)
	}
	var victim string
	var seq int64
	if err := rawDB(t, st).QueryRow(`SELECT id, seq FROM audit_events WHERE account_id = $1 AND seq = 4`, a.ID).Scan(&victim, &seq); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, st).Exec(`UPDATE audit_events SET details = $1 WHERE id = $2`, `{"name":"forged"}`, victim); err != nil {
		t.Fatal(err)
	}
	res, err = steward.VerifyStoreChain(ctx, st, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.FirstBadEventID != victim || res.Events != seq {
		t.Errorf("VerifyStoreChain after tampering = %+v, want first bad %s at %d", res, victim, seq)
	}
}

func testRCheck1Internal(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	r := w.Role(a.ID, "Viewer", "crm.contacts.view")
	u := w.User(a.ID, r.ID)
	outsider := w.User(w.mustAccount().ID, steward.RoleSuperAdmin)

	if !w.Allowed(u.ID, a.ID, "crm.contacts.view") {
		t.Error("active member with the permission: denied")
	}
	if w.Allowed(u.ID, a.ID, "crm.contacts.edit") {
		t.Error("member without the permission: allowed")
	}
	if w.Allowed(outsider.ID, a.ID, "crm.contacts.view") {
		t.Error("non-member: allowed")
	}
	if _, _, err := w.Svc.DeactivateMember(w.As(owner.ID), a.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if w.Allowed(u.ID, a.ID, "crm.contacts.view") {
		t.Error("deactivated user: allowed")
	}
	if _, _, err := w.Svc.ReactivateUser(w.Op, u.ID); err != nil {
		t.Fatal(err)
	}
	if !w.Allowed(u.ID, a.ID, "crm.contacts.view") {
		t.Error("reactivated user: denied")
	}
	_, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: u.ID, AccountID: a.ID, Permission: "nope.nope"})
	WantCode(t, err, steward.EINVALID, "unknown_permission")
	_, err = w.Svc.Check(w.Op, steward.CheckRequest{UserID: "usr_nobody", AccountID: a.ID, Permission: "crm.contacts.view"})
	WantCode(t, err, steward.ENOTFOUND, "")
	_, err = w.Svc.Check(w.As(u.ID), steward.CheckRequest{UserID: owner.ID, AccountID: a.ID, Permission: "crm.contacts.view"})
	WantCode(t, err, steward.EFORBIDDEN, "")
}

func testRCheck2(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	res, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: owner.ID, AccountID: a.ID, Permission: "reports.view"})
	if err != nil {
		t.Fatal(err)
	}
	m := w.Member(a.ID, owner.ID)
	if !res.Allowed || res.Reason.Code != steward.ReasonGranted || res.Reason.Source != steward.RoleSuperAdmin ||
		res.Reason.MembershipID != m.ID || len(res.Reason.Chain) != 1 || res.Revision == 0 {
		t.Errorf("Check = %+v, want granted through the super admin membership", res)
	}
	u := w.User(a.ID, steward.RoleMember)
	res, err = w.Svc.Check(w.Op, steward.CheckRequest{UserID: u.ID, AccountID: a.ID, Permission: "reports.view"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Reason.Code != steward.ReasonPermissionMissing || res.Reason.Message == "" {
		t.Errorf("Check = %+v, want permission_missing", res)
	}
}

func (w *World) mustAccount() *steward.Account {
	a, _ := w.Account(steward.AccountStandard)
	return a
}

func containsJSON(raw []byte, fragment string) bool { return strings.Contains(string(raw), fragment) }
