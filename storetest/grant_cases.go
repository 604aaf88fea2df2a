package storetest

import (
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

func init() {
	externalCases = append(externalCases,
		suiteCase{"R-SUPER-2_SCIMCannotTouchSuperAdmins", testRSuper2SCIM},
		suiteCase{"R-EXT-8_SelfEditRefused", testRExt8SelfEdit},
		suiteCase{"R-EXT-8_DelegateCannotEditParent", testRExt8DelegateEdit},
		suiteCase{"R-EXT-8_EditorHoldsUsersManageAndEveryPermission", testRExt8Editor},
		suiteCase{"R-GRANT-5_InviteeEndsWithInviter", testRGrant5Invitee},
		suiteCase{"R-GRANT-5_DelegateInviteBounded", testRGrant5DelegateInvite},
		suiteCase{"R-GRANT-5_BoundedMemberAddsAndWidens", testRGrant5Members},
		suiteCase{"R-GRANT-5_PartnerAdminWithEnd", testRGrant5Partner},
		suiteCase{"GrantFilters", testGrantFilters},
	)
}

// index returns a check index loaded over the world's store, so that a test
// can ask both the index and the store evaluation.
func (w *World) index(t *testing.T) *authz.Index {
	t.Helper()
	src, ok := w.Store.(authz.Source)
	if !ok {
		t.Fatalf("%T cannot feed the check index", w.Store)
	}
	ix := authz.New(src, w.Svc.Catalogue, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return ix
}

// checkBoth answers whether the user may use perm in the account at a time,
// from the store evaluation and from the index once it has caught up, and
// fails the test when the two disagree.
func (w *World) checkBoth(t *testing.T, ix *authz.Index, userID, accountID, perm string, at time.Time) bool {
	t.Helper()
	req := steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: perm, At: &at}
	fromStore, err := w.Svc.CheckFromStore(w.Op, req)
	if err != nil {
		t.Fatalf("CheckFromStore: %v", err)
	}
	if err := ix.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	fromIndex, err := ix.Check(ctx, req, w.Now)
	if err != nil {
		t.Fatalf("index Check: %v", err)
	}
	if fromStore.Allowed != fromIndex.Allowed || fromStore.Reason.Code != fromIndex.Reason.Code {
		t.Fatalf("store says %v/%s, index %v/%s", fromStore.Allowed, fromStore.Reason.Code, fromIndex.Allowed, fromIndex.Reason.Code)
	}
	return fromStore.Allowed
}

func wantEnd(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Errorf("%s ends_at = %v, want %v", what, got, want)
	}
}

// testRSuper2SCIM: a holder of account.scim.provision alone cannot
// deactivate or reactivate a super admin through SCIM, as the members API
// refuses it; R-SUPER-1 holds through SCIM too.
func testRSuper2SCIM(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	second := w.User(a.ID, steward.RoleSuperAdmin)
	plain := w.User(a.ID, steward.RoleMember)
	prov := w.User(a.ID, w.Role(a.ID, "Provisioning", steward.PermSCIMProvision).ID)
	as := w.As(prov.ID)

	t.Run("ErrDeactivate", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.SetProvisionedActive(as, a.ID, second.ID, false)
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
			_, _, err = w.Svc.SetProvisionedActive(as, a.ID, second.ID, true) // no change, same rule
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		}, a.ID)
		if !w.Allowed(second.ID, a.ID, "reports.view") {
			t.Error("the super admin lost access")
		}
	})
	t.Run("ErrReactivate", func(t *testing.T) {
		if _, _, err := w.Svc.SetProvisionedActive(w.As(owner.ID), a.ID, second.ID, false); err != nil {
			t.Fatalf("the owner deprovisions a super admin: %v", err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.SetProvisionedActive(as, a.ID, second.ID, true)
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		}, a.ID)
		if w.Allowed(second.ID, a.ID, "reports.view") {
			t.Error("the super admin was reactivated")
		}
	})
	t.Run("ErrLastSuperAdmin", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.SetProvisionedActive(w.As(owner.ID), a.ID, owner.ID, false)
			WantCode(t, err, steward.ECONFLICT, "last_super_admin")
		}, a.ID)
	})
	t.Run("PlainMember", func(t *testing.T) {
		if _, _, err := w.Svc.SetProvisionedActive(as, a.ID, plain.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Svc.SetProvisionedActive(as, a.ID, plain.ID, true); err != nil {
			t.Fatal(err)
		}
	})
}

// testRExt8SelfEdit: an external user who holds account.users.manage and
// every permission of its own role still cannot edit its own options.
func testRExt8SelfEdit(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	admins := x.Role(x.client.ID, "External admins", steward.PermUsersManage, steward.PermExternalUsersInvite, "reports.view")
	ends := x.Now.Add(30 * 24 * time.Hour)
	x.external(x.ext, admins.ID, steward.NewInvitations{EndsAt: &ends})
	as, on := x.As(x.ext.ID), true
	for _, tt := range []struct {
		name string
		upd  steward.ExternalUpdate
	}{
		{"ErrClearEnd", steward.ExternalUpdate{ClearEndsAt: true}},
		{"ErrExtendEnd", steward.ExternalUpdate{EndsAt: ptrTime(ends.Add(30 * 24 * time.Hour))}},
		{"ErrRedelegationOn", steward.ExternalUpdate{AllowRedelegation: &on}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, tt.upd)
			WantCode(t, err, steward.EFORBIDDEN, "own_access")
			x.unchanged(t, ev, n, msgs)
		})
	}
	m := x.Member(x.client.ID, x.ext.ID)
	wantEnd(t, "external user", m.EndsAt, ends)
	if m.AllowRedelegation {
		t.Error("the external user turned its own re-delegation on")
	}
	if x.Allowed(x.ext.ID, x.client.ID, "reports.view", ends.Add(time.Hour)) {
		t.Error("the external user holds after its end")
	}
}

// testRExt8DelegateEdit: a delegate holding every permission of its parent,
// account.users.manage included, cannot edit the parent's options.
func testRExt8DelegateEdit(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	admins := x.Role(x.client.ID, "External admins", steward.PermUsersManage, steward.PermExternalUsersInvite, "reports.view")
	ends, dends := x.Now.Add(30*24*time.Hour), x.Now.Add(10*24*time.Hour)
	x.external(x.ext, admins.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
	if _, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
		t.Fatal(err)
	}
	as := x.As(x.colleague.ID)
	for _, tt := range []struct {
		name string
		upd  steward.ExternalUpdate
	}{
		{"ErrClearEnd", steward.ExternalUpdate{ClearEndsAt: true}},
		{"ErrClearDelegatesEnd", steward.ExternalUpdate{ClearDelegatesEndAt: true}},
		{"ErrExtendDelegatesEnd", steward.ExternalUpdate{DelegatesEndAt: &ends}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.UpdateExternalUser(as, x.client.ID, x.ext.ID, tt.upd)
			WantCode(t, err, steward.EFORBIDDEN, "own_access")
			x.unchanged(t, ev, n, msgs)
		})
	}
	if x.Allowed(x.colleague.ID, x.client.ID, "reports.view", dends.Add(time.Hour)) {
		t.Error("the delegate holds after its end")
	}
}

// testRExt8Editor: the editor needs account.users.manage and every
// permission of the external user, whether it lengthens or shortens.
func testRExt8Editor(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	ends := x.Now.Add(30 * 24 * time.Hour)
	x.external(x.ext, x.editors.ID, steward.NewInvitations{EndsAt: &ends})
	shorter := ends.Add(-24 * time.Hour)
	inviter := x.User(x.client.ID, x.Role(x.client.ID, "Inviters", steward.PermExternalUsersInvite, "crm.contacts.view", "crm.contacts.edit", "reports.view").ID)
	narrow := x.User(x.client.ID, x.Role(x.client.ID, "Narrow managers", steward.PermUsersManage, "crm.contacts.view").ID)
	full := x.User(x.client.ID, x.Role(x.client.ID, "Managers", steward.PermUsersManage, "crm.contacts.view", "crm.contacts.edit", "reports.view").ID)
	for _, tt := range []struct {
		name, user, code string
	}{
		{"ErrWithoutUsersManage", inviter.ID, "permission_required"},
		{"ErrWithoutEveryPermission", narrow.ID, "permission_not_held"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, n, msgs := x.snapshot()
			_, _, err := x.Svc.UpdateExternalUser(x.As(tt.user), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &shorter})
			WantCode(t, err, steward.EFORBIDDEN, tt.code)
			x.unchanged(t, ev, n, msgs)
		})
	}
	m, _, err := x.Svc.UpdateExternalUser(x.As(full.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &shorter})
	if err != nil {
		t.Fatal(err)
	}
	wantEnd(t, "edited external user", m.EndsAt, shorter)
}

// testRGrant5Invitee: an external user whose access ends invites; the
// invitee's access ends no later than the inviter's, follows it when it is
// shortened, and ends when the inviter is removed; index and store agree.
func testRGrant5Invitee(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	inviters := x.Role(x.client.ID, "Inviters", steward.PermExternalUsersInvite, "reports.view")
	ends := x.Now.Add(10 * 24 * time.Hour)
	x.external(x.ext, inviters.ID, steward.NewInvitations{EndsAt: &ends})
	asExt, owner := x.As(x.ext.ID), x.As(x.owner.ID)
	ix := x.index(t)

	t.Run("ErrLaterEnd", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		later := ends.Add(24 * time.Hour)
		_, _, err := x.Svc.Invite(asExt, x.client.ID, inviters.ID, steward.NewInvitations{Emails: steward.EmailList{x.stranger.Email}, Consent: x.consent(), EndsAt: &later})
		WantCode(t, err, steward.EINVALID, "ends_after_granter")
		if fs := steward.ErrorFields(err); len(fs) != 1 || fs[0].Field != "ends_at" {
			t.Errorf("Fields = %+v, want ends_at", fs)
		}
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("NoEndTakesTheInviters", func(t *testing.T) {
		inv := x.invite(asExt, inviters.ID, steward.NewInvitations{}, x.stranger.Email)[0]
		wantEnd(t, "invitation", inv.EndsAt, ends)
		m, _, err := x.Svc.AcceptInvitation(x.As(x.stranger.ID), x.token(x.stranger.Email))
		if err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "invitee", m.EndsAt, ends)
		if !x.checkBoth(t, ix, x.stranger.ID, x.client.ID, "reports.view", ends.Add(-time.Hour)) {
			t.Error("the invitee does not hold before the inviter's end")
		}
		if x.checkBoth(t, ix, x.stranger.ID, x.client.ID, "reports.view", ends.Add(time.Hour)) {
			t.Error("the invitee holds after the inviter's end")
		}
	})
	shorter := ends.Add(-5 * 24 * time.Hour)
	t.Run("ShortenedWithTheInviter", func(t *testing.T) {
		pending := x.invite(asExt, inviters.ID, steward.NewInvitations{}, "pending@example.org")[0]
		if _, _, err := x.Svc.UpdateExternalUser(owner, x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &shorter}); err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "invitee", x.Member(x.client.ID, x.stranger.ID).EndsAt, shorter)
		inv, err := x.Store.FindInvitationByID(ctx, x.client.ID, pending.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "pending invitation", inv.EndsAt, shorter)
		for _, u := range []string{x.ext.ID, x.stranger.ID} {
			if x.checkBoth(t, ix, u, x.client.ID, "reports.view", shorter.Add(time.Hour)) {
				t.Errorf("%s holds after the inviter's shortened end", u)
			}
		}
		// Extending the inviter later does not extend what it gave.
		if _, _, err := x.Svc.UpdateExternalUser(owner, x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &ends}); err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "invitee", x.Member(x.client.ID, x.stranger.ID).EndsAt, shorter)
	})
	t.Run("EndsWhenTheInviterIsRemoved", func(t *testing.T) {
		if !x.checkBoth(t, ix, x.stranger.ID, x.client.ID, "reports.view", x.Now) {
			t.Fatal("the invitee does not hold before the removal")
		}
		if _, err := x.Svc.RemoveMember(owner, x.client.ID, x.ext.ID); err != nil {
			t.Fatal(err)
		}
		if x.checkBoth(t, ix, x.stranger.ID, x.client.ID, "reports.view", x.Now) {
			t.Error("the invitee holds after its inviter was removed")
		}
		if invs := x.invitations(steward.InvitationPending); len(invs) != 0 {
			t.Errorf("pending invitations of the removed inviter = %d, want none", len(invs))
		}
	})
}

// testRGrant5DelegateInvite: a delegate ends with its parent, and what a
// delegate gives ends with the delegate.
func testRGrant5DelegateInvite(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	inviters := x.Role(x.client.ID, "Inviters", steward.PermExternalUsersInvite, "reports.view")
	ends, dends := x.Now.Add(20*24*time.Hour), x.Now.Add(10*24*time.Hour)
	x.external(x.ext, inviters.ID, steward.NewInvitations{AllowRedelegation: true, EndsAt: &ends, DelegatesEndAt: &dends})
	if _, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
		t.Fatal(err)
	}
	asDelegate := x.As(x.colleague.ID)
	ix := x.index(t)

	t.Run("DelegateEndsWithParent", func(t *testing.T) {
		if !x.checkBoth(t, ix, x.colleague.ID, x.client.ID, "reports.view", dends.Add(-time.Hour)) {
			t.Error("the delegate does not hold before its end")
		}
		if x.checkBoth(t, ix, x.colleague.ID, x.client.ID, "reports.view", dends.Add(time.Hour)) {
			t.Error("the delegate holds after delegates_end_at")
		}
	})
	t.Run("ErrLaterEnd", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.Invite(asDelegate, x.client.ID, inviters.ID, steward.NewInvitations{Emails: steward.EmailList{x.stranger.Email}, Consent: x.consent(), EndsAt: &ends})
		WantCode(t, err, steward.EINVALID, "ends_after_granter")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("InviteeEndsWithDelegate", func(t *testing.T) {
		inv := x.invite(asDelegate, inviters.ID, steward.NewInvitations{}, x.stranger.Email)[0]
		wantEnd(t, "invitation", inv.EndsAt, dends)
		m, _, err := x.Svc.AcceptInvitation(x.As(x.stranger.ID), x.token(x.stranger.Email))
		if err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "invitee", m.EndsAt, dends)
		if x.checkBoth(t, ix, x.stranger.ID, x.client.ID, "reports.view", dends.Add(time.Hour)) {
			t.Error("the delegate's invitee holds after the delegate's end")
		}
	})
	t.Run("EndsWhenRedelegationEnds", func(t *testing.T) {
		off := false
		if _, _, err := x.Svc.UpdateExternalUser(x.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{AllowRedelegation: &off}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{x.colleague.ID, x.stranger.ID} {
			if x.checkBoth(t, ix, u, x.client.ID, "reports.view", x.Now) {
				t.Errorf("%s holds after re-delegation was turned off", u)
			}
		}
	})
}

// testRGrant5Members: an external user holding account.users.manage adds an
// internal member, who ends with it; it cannot widen a member or a role
// whose access lasts longer than its own, and may narrow them.
func testRGrant5Members(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	admins := x.Role(x.client.ID, "External admins", steward.PermUsersManage, steward.PermRolesManage, "reports.view")
	viewers := x.Role(x.client.ID, "Viewers")
	ends := x.Now.Add(10 * 24 * time.Hour)
	x.external(x.ext, admins.ID, steward.NewInvitations{EndsAt: &ends})
	asExt, owner := x.As(x.ext.ID), x.As(x.owner.ID)
	long := x.User(x.client.ID, viewers.ID)
	ix := x.index(t)

	t.Run("AddedMemberEndsWithAdder", func(t *testing.T) {
		m, _, err := x.Svc.AddMember(asExt, x.client.ID, steward.NewMember{Email: "hire@client.example", Name: "Hire", Role: admins.ID})
		if err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "added member", m.EndsAt, ends)
		if !x.checkBoth(t, ix, m.UserID, x.client.ID, "reports.view", ends.Add(-time.Hour)) {
			t.Error("the added member does not hold before the adder's end")
		}
		if x.checkBoth(t, ix, m.UserID, x.client.ID, "reports.view", ends.Add(time.Hour)) {
			t.Error("the added member holds after the adder's end")
		}
	})
	t.Run("ErrWidenLongerMember", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.ChangeMemberRole(asExt, x.client.ID, long.ID, admins.ID)
		WantCode(t, err, steward.EFORBIDDEN, "outlives_granter")
		x.unchanged(t, ev, n, msgs)
		if x.checkBoth(t, ix, long.ID, x.client.ID, "reports.view", x.Now) {
			t.Error("the refused role change gave reports.view")
		}
	})
	t.Run("ErrWidenRoleWithLongerMembers", func(t *testing.T) {
		ev, n, msgs := x.snapshot()
		perms := []string{"reports.view"}
		_, _, err := x.Svc.UpdateRole(asExt, x.client.ID, viewers.ID, steward.RoleInput{Permissions: &perms})
		WantCode(t, err, steward.EFORBIDDEN, "outlives_granter")
		x.unchanged(t, ev, n, msgs)
	})
	t.Run("NarrowLongerMember", func(t *testing.T) {
		if _, _, err := x.Svc.ChangeMemberRole(owner, x.client.ID, long.ID, admins.ID); err != nil {
			t.Fatal(err)
		}
		m, _, err := x.Svc.ChangeMemberRole(asExt, x.client.ID, long.ID, viewers.ID)
		if err != nil {
			t.Fatalf("narrowing: %v", err)
		}
		if m.EndsAt != nil || m.GrantedBy != x.owner.ID {
			t.Errorf("narrowed member ends_at = %v, granted_by = %s; want no end, granted by the owner", m.EndsAt, m.GrantedBy)
		}
	})
	t.Run("ErrReactivateLongerMember", func(t *testing.T) {
		if _, _, err := x.Svc.DeactivateMember(asExt, x.client.ID, long.ID); err != nil {
			t.Fatalf("deactivating narrows: %v", err)
		}
		ev, n, msgs := x.snapshot()
		_, _, err := x.Svc.ReactivateMember(asExt, x.client.ID, long.ID)
		WantCode(t, err, steward.EFORBIDDEN, "outlives_granter")
		x.unchanged(t, ev, n, msgs)
		if _, _, err := x.Svc.ReactivateMember(owner, x.client.ID, long.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// testRGrant5Partner: a partner admin whose access ends adds employees who
// end with it, and cannot reactivate an employee whose access lasts longer.
func testRGrant5Partner(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	partner, pOwner := w.Account(steward.AccountPartner)
	client, owner := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(partner.ID, client.ID, owner.ID)
	lasting := w.Employees(partner.ID, client.ID, admin.ID, steward.RoleMember, 1)[0] // before the admin's end is set
	sel := steward.EmployeeSelection{UserIDs: []string{lasting.ID}, AccountIDs: []string{client.ID}}
	if _, _, err := w.Svc.DeactivateEmployees(w.As(pOwner.ID), partner.ID, sel); err != nil {
		t.Fatal(err)
	}
	ends := w.Now.Add(7 * 24 * time.Hour)
	m, err := w.Store.FindMembership(ctx, client.ID, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.EndsAt = &ends
	if err := w.Store.UpdateMembership(ctx, m); err != nil {
		t.Fatal(err)
	}
	ix := w.index(t)
	emp := w.Employees(partner.ID, client.ID, admin.ID, steward.RoleMember, 1)[0]
	wantEnd(t, "employee", w.Member(client.ID, emp.ID).EndsAt, ends)
	viewers := w.Role(client.ID, "Viewers", "reports.view")
	if _, _, err := w.Svc.ChangeEmployeeRole(w.As(admin.ID), partner.ID, client.ID, emp.ID, viewers.ID); err != nil {
		t.Fatal(err)
	}
	if !w.checkBoth(t, ix, emp.ID, client.ID, "reports.view", ends.Add(-time.Hour)) {
		t.Error("the employee does not hold before the partner admin's end")
	}
	if w.checkBoth(t, ix, emp.ID, client.ID, "reports.view", ends.Add(time.Hour)) {
		t.Error("the employee holds after the partner admin's end")
	}
	w.unchanged(t, func() {
		_, _, err := w.Svc.ReactivateEmployees(w.As(admin.ID), partner.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "outlives_granter")
	}, client.ID, partner.ID)
}

// testGrantFilters: memberships filter by granter, invitations by inviter.
func testGrantFilters(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{}, x.ext.Email)
	u := x.User(x.client.ID, steward.RoleMember) // granted by the operator
	ms, _, err := x.Store.FindMemberships(ctx, steward.MembershipFilter{AccountID: x.client.ID, GrantedBy: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		found = found || m.UserID == u.ID
		if m.GrantedBy != "operator" {
			t.Errorf("membership granted by %s listed for the operator", m.GrantedBy)
		}
	}
	if !found {
		t.Error("the operator's grant is not listed")
	}
	invs, _, err := x.Store.FindInvitations(ctx, steward.InvitationFilter{AccountID: x.client.ID, InvitedBy: x.owner.ID})
	if err != nil || len(invs) != 1 || invs[0].Email != x.ext.Email {
		t.Errorf("invitations by the owner = %v, %v; want the one", invs, err)
	}
	invs, _, err = x.Store.FindInvitations(ctx, steward.InvitationFilter{AccountID: x.client.ID, InvitedBy: x.ext.ID})
	if err != nil || len(invs) != 0 {
		t.Errorf("invitations by another user = %v, %v; want none", invs, err)
	}
}
