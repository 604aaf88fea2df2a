package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-iam/steward"
)

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"SCIMProfiles", testSCIMProfiles},
		suiteCase{"SCIMUserMapping", testSCIMUserMapping},
		suiteCase{"SCIMGroupsAreRoles", testSCIMGroups},
		suiteCase{"R-RESTRICT-1_SCIMGroups", testRRestrict1SCIMGroups},
		suiteCase{"R-SUPER-2_SCIMGroupMembership", testRSuper2SCIMGroups},
		suiteCase{"R-GRANT-2_SCIMGroupMembershipFiltered", testRGrant2SCIMGroups},
	)
}

// testSCIMProfiles: the store keeps a user's SCIM profile, its userName
// unique per account without regard to case, and finds users by userName
// (or, without profile, by email), externalId and role.
func testSCIMProfiles(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	b, _ := w.Account(steward.AccountStandard)
	u := w.User(a.ID, steward.RoleMember)
	v := w.User(a.ID, steward.RoleMember)
	x := w.User(b.ID, steward.RoleMember)
	at := w.Now.Add(time.Minute)
	p := &steward.SCIMProfile{UserID: u.ID, AccountID: a.ID, UserName: "Ada.Lovelace", ExternalID: "ext-1", GivenName: "Ada", FamilyName: "Lovelace",
		Emails: []steward.SCIMEmail{{Value: "ada@example.com", Type: "work", Primary: true}}, CreatedAt: at, UpdatedAt: at}
	if err := w.Store.PutSCIMProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := w.Store.FindProvisionedUsers(ctx, a.ID, steward.ProvisionedUserFilter{UserName: "ADA.lovelace"})
	if err != nil || len(got) != 1 || got[0].ID != u.ID || got[0].Role != steward.RoleMember {
		t.Fatalf("by userName = %+v, %v; want the one user", got, err)
	}
	if diff := cmp.Diff(p, got[0].Profile); diff != "" {
		t.Errorf("profile (-put +found):\n%s", diff)
	}
	// Another user of the account cannot take the userName, in any case;
	// another account's user can.
	WantCode(t, w.Store.PutSCIMProfile(ctx, &steward.SCIMProfile{UserID: v.ID, AccountID: a.ID, UserName: "ada.LOVELACE", CreatedAt: at, UpdatedAt: at}), steward.ECONFLICT, "")
	if err := w.Store.PutSCIMProfile(ctx, &steward.SCIMProfile{UserID: x.ID, AccountID: b.ID, UserName: "Ada.Lovelace", CreatedAt: at, UpdatedAt: at}); err != nil {
		t.Errorf("the same userName in another account: %v", err)
	}
	// A second put replaces the profile.
	p.GivenName, p.Emails = "Augusta Ada", []steward.SCIMEmail{}
	if err := w.Store.PutSCIMProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		f    steward.ProvisionedUserFilter
		want []string
	}{
		{"All", steward.ProvisionedUserFilter{}, sortedIDs(owner.ID, u.ID, v.ID)},
		{"ByExternalID", steward.ProvisionedUserFilter{ExternalID: "ext-1"}, []string{u.ID}},
		{"ExternalIDIsExact", steward.ProvisionedUserFilter{ExternalID: "EXT-1"}, nil},
		{"ByEmailWithoutProfile", steward.ProvisionedUserFilter{UserName: v.Email}, []string{v.ID}},
		{"ByRole", steward.ProvisionedUserFilter{Role: steward.RoleSuperAdmin}, []string{owner.ID}},
		{"ByID", steward.ProvisionedUserFilter{UserID: u.ID}, []string{u.ID}},
		{"AnotherAccountsUser", steward.ProvisionedUserFilter{UserID: x.ID}, nil},
		{"Offset", steward.ProvisionedUserFilter{Offset: 1}, sortedIDs(owner.ID, u.ID, v.ID)[1:]},
		{"OffsetLimit", steward.ProvisionedUserFilter{Offset: 1, Limit: 1}, sortedIDs(owner.ID, u.ID, v.ID)[1:2]},
		{"Limit", steward.ProvisionedUserFilter{Limit: 2}, sortedIDs(owner.ID, u.ID, v.ID)[:2]},
		{"PastTheEnd", steward.ProvisionedUserFilter{Offset: 3, Limit: 10}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := w.Store.FindProvisionedUsers(ctx, a.ID, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	if n, err := w.Store.CountProvisionedUsers(ctx, a.ID); err != nil || n != 3 {
		t.Errorf("CountProvisionedUsers = %d, %v; want 3", n, err)
	}
	got, _ = w.Store.FindProvisionedUsers(ctx, a.ID, steward.ProvisionedUserFilter{UserID: u.ID})
	if got[0].Profile.GivenName != "Augusta Ada" || len(got[0].Profile.Emails) != 0 {
		t.Errorf("replaced profile = %+v", got[0].Profile)
	}

	if err := w.Store.PutSCIMGroup(ctx, a.ID, steward.RoleMember, "grp-1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Store.PutSCIMGroup(ctx, a.ID, steward.RoleMember, "grp-2"); err != nil {
		t.Fatal(err)
	}
	groups, err := w.Store.FindSCIMGroups(ctx, a.ID)
	if err != nil || !cmp.Equal(groups, map[string]string{steward.RoleMember: "grp-2"}) {
		t.Errorf("groups = %v, %v", groups, err)
	}
	if other, _ := w.Store.FindSCIMGroups(ctx, b.ID); len(other) != 0 {
		t.Errorf("another account's groups = %v", other)
	}
	if err := w.Store.DeleteSCIMGroup(ctx, a.ID, steward.RoleMember); err != nil {
		t.Fatal(err)
	}
	if groups, _ := w.Store.FindSCIMGroups(ctx, a.ID); len(groups) != 0 {
		t.Errorf("groups after delete = %v", groups)
	}
}

func sortedIDs(ids ...string) []string {
	out := append([]string{}, ids...)
	slices.Sort(out)
	return out
}

// testSCIMUserMapping: a userName that is not an email address is kept as
// sent and Steward's email comes from emails (primary, else work, else
// first); without any email the user is refused; a replace keeps Steward's
// email, records what it changes, and records nothing when nothing changes.
func testSCIMUserMapping(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	for _, tt := range []struct {
		name   string
		emails []steward.SCIMEmail
		want   string
	}{
		{"Primary", []steward.SCIMEmail{{Value: "home@example.org", Type: "home"}, {Value: "Prim@Example.com", Type: "other", Primary: true}}, "prim@example.com"},
		{"Work", []steward.SCIMEmail{{Value: "home2@example.org", Type: "home"}, {Value: "work2@example.com", Type: "work"}}, "work2@example.com"},
		{"First", []steward.SCIMEmail{{Value: "first@example.com"}, {Value: "second@example.com"}}, "first@example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, _, err := w.Svc.ProvisionUser(as, a.ID, steward.SCIMUserInput{UserName: "Login_" + tt.name, Emails: tt.emails, Active: true})
			if err != nil {
				t.Fatal(err)
			}
			if u.Email != tt.want || u.UserName() != "Login_"+tt.name || u.Name != "Login_"+tt.name {
				t.Errorf("user = %s / %s / %s, want email %s and userName as sent", u.Email, u.UserName(), u.Name, tt.want)
			}
		})
	}
	t.Run("ErrNoEmail", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.ProvisionUser(as, a.ID, steward.SCIMUserInput{UserName: "no-mail", Active: true})
			WantCode(t, err, steward.EINVALID, "email_required")
		}, a.ID)
	})
	t.Run("ErrUserNameTaken", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.ProvisionUser(as, a.ID, steward.SCIMUserInput{UserName: "login_primary", Emails: []steward.SCIMEmail{{Value: "other@example.com"}}, Active: true})
			WantCode(t, err, steward.ECONFLICT, "user_name_taken")
		}, a.ID)
	})
	t.Run("Replace", func(t *testing.T) {
		u, _, err := w.Svc.ProvisionUser(as, a.ID, steward.SCIMUserInput{UserName: "grace@example.com", GivenName: "Grace", FamilyName: "Hopper", Active: false})
		if err != nil {
			t.Fatal(err)
		}
		if u.Status != steward.UserDeactivated || u.Name != "Grace Hopper" || u.Email != "grace@example.com" {
			t.Fatalf("created inactive = %+v", u)
		}
		in := steward.SCIMUserInput{UserName: "G.Hopper", ExternalID: "e-9", GivenName: "Grace", FamilyName: "Hopper", DisplayName: "Rear Admiral Hopper",
			Emails: []steward.SCIMEmail{{Value: "g.hopper@example.com", Type: "work", Primary: true}}, Active: true}
		got, rev, err := w.Svc.ReplaceProvisionedUser(as, a.ID, u.ID, in)
		if err != nil || rev == 0 {
			t.Fatalf("replace: %v (rev %d)", err, rev)
		}
		if got.Email != "grace@example.com" || got.UserName() != "G.Hopper" || got.Name != "Rear Admiral Hopper" ||
			got.Status != steward.UserActive || got.Profile.ExternalID != "e-9" {
			t.Errorf("replaced = %+v / %+v", got.User, got.Profile)
		}
		if w.Member(a.ID, u.ID).Status != steward.StatusActive {
			t.Error("the reactivated user's membership is not active")
		}
		w.unchanged(t, func() {
			// A no-op answers the current revision and writes nothing (SPEC §4).
			if _, _, err := w.Svc.ReplaceProvisionedUser(as, a.ID, u.ID, in); err != nil {
				t.Errorf("same state again: %v; want nothing written", err)
			}
		}, a.ID)
	})
}

// testSCIMGroups: the account's roles are its groups; a group created
// through SCIM is a custom role without permissions; members join and leave
// by role changes; renaming, externalId and deletion work; built-in roles
// cannot be renamed or deleted.
func testSCIMGroups(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	u := w.User(a.ID, steward.RoleMember)
	v := w.User(a.ID, steward.RoleMember)
	b, _ := w.Account(steward.AccountStandard)
	foreign := w.User(b.ID, steward.RoleMember)

	g, _, err := w.Svc.CreateProvisionedGroup(as, a.ID, steward.SCIMGroupInput{DisplayName: "Sales", ExternalID: "okta-g1", Members: []string{u.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Role.Builtin || len(g.Role.Permissions) != 0 || g.ExternalID != "okta-g1" || !cmp.Equal(g.Members, []string{u.ID}) {
		t.Fatalf("group = %+v / %+v", g, g.Role)
	}
	if m := w.Member(a.ID, u.ID); m.Role != g.Role.ID {
		t.Errorf("member's role = %s, want %s", m.Role, g.Role.ID)
	}
	all, err := w.Svc.ProvisionedGroups(as, a.ID)
	if err != nil || len(all) != 4 || all[0].Role.ID != steward.RoleSuperAdmin || !cmp.Equal(all[0].Members, []string{owner.ID}) {
		t.Fatalf("groups = %d, %v", len(all), err)
	}
	name := "Sales EMEA"
	g, rev, err := w.Svc.UpdateProvisionedGroup(as, a.ID, g.Role.ID, steward.SCIMGroupChange{DisplayName: &name, Add: []string{v.ID}, Remove: []string{u.ID}})
	if err != nil || rev == 0 {
		t.Fatal(err)
	}
	if g.Role.Name != name || !cmp.Equal(g.Members, []string{v.ID}) || w.Member(a.ID, u.ID).Role != steward.RoleMember {
		t.Errorf("after rename and moves = %+v", g)
	}
	t.Run("NoChange", func(t *testing.T) {
		w.unchanged(t, func() {
			if _, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, g.Role.ID, steward.SCIMGroupChange{DisplayName: &name, Add: []string{v.ID}, Remove: []string{u.ID}}); err != nil {
				t.Errorf("the same state: %v", err)
			}
		}, a.ID)
	})
	t.Run("ErrForeignMember", func(t *testing.T) {
		w.unchanged(t, func() {
			_, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, g.Role.ID, steward.SCIMGroupChange{Add: []string{foreign.ID}})
			WantCode(t, err, steward.EINVALID, "unknown_member")
			_, _, err = w.Svc.UpdateProvisionedGroup(as, a.ID, g.Role.ID, steward.SCIMGroupChange{Add: []string{"usr_unknown"}})
			WantCode(t, err, steward.EINVALID, "unknown_member")
		}, a.ID, b.ID)
	})
	t.Run("ErrBuiltin", func(t *testing.T) {
		w.unchanged(t, func() {
			renamed := "Admins"
			_, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, steward.RoleSuperAdmin, steward.SCIMGroupChange{DisplayName: &renamed})
			WantCode(t, err, steward.EFORBIDDEN, "builtin_role")
			_, err = w.Svc.DeleteProvisionedGroup(as, a.ID, steward.RoleMember)
			WantCode(t, err, steward.EFORBIDDEN, "builtin_role")
			_, _, err = w.Svc.UpdateProvisionedGroup(as, a.ID, steward.RoleMember, steward.SCIMGroupChange{Remove: []string{u.ID}})
			WantCode(t, err, steward.EINVALID, "default_role")
		}, a.ID)
	})
	t.Run("ErrForeignGroup", func(t *testing.T) {
		_, err := w.Svc.ProvisionedGroup(as, b.ID, g.Role.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
		_, err = w.Svc.ProvisionedGroup(as, a.ID, "rol_unknown")
		WantCode(t, err, steward.ENOTFOUND, "")
	})
	t.Run("Delete", func(t *testing.T) {
		if _, err := w.Svc.DeleteProvisionedGroup(as, a.ID, g.Role.ID); err != nil {
			t.Fatal(err)
		}
		if m := w.Member(a.ID, v.ID); m.Role != steward.RoleMember {
			t.Errorf("the deleted group's member has role %s, want member", m.Role)
		}
		_, err := w.Svc.ProvisionedGroup(as, a.ID, g.Role.ID)
		WantCode(t, err, steward.ENOTFOUND, "")
		if ext, _ := w.Store.FindSCIMGroups(ctx, a.ID); len(ext) != 0 {
			t.Errorf("externalIds left = %v", ext)
		}
	})
}

// testRRestrict1SCIMGroups: a partner admin holds no account.scim.provision
// in the client (R-PARTNER-1), so no SCIM group call passes (R-RESTRICT-1).
func testRRestrict1SCIMGroups(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	partner, _ := w.Account(steward.AccountPartner)
	client, owner := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(partner.ID, client.ID, owner.ID)
	plain := w.User(client.ID, steward.RoleMember)
	as := w.As(admin.ID)
	name := "Renamed"
	w.unchanged(t, func() {
		WantCode(t, w.Svc.ProvisioningAllowed(as, client.ID), steward.EFORBIDDEN, "permission_required")
		_, err := w.Svc.ProvisionedGroups(as, client.ID)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, err = w.Svc.ProvisionedGroup(as, client.ID, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.CreateProvisionedGroup(as, client.ID, steward.SCIMGroupInput{DisplayName: "Partners' own"})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.UpdateProvisionedGroup(as, client.ID, steward.RoleSuperAdmin, steward.SCIMGroupChange{DisplayName: &name, Add: []string{plain.ID}})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, err = w.Svc.DeleteProvisionedGroup(as, client.ID, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.ReplaceProvisionedUser(as, client.ID, plain.ID, steward.SCIMUserInput{UserName: plain.Email, Active: false})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	}, client.ID)
	if err := w.Svc.ProvisioningAllowed(w.As(owner.ID), client.ID); err != nil {
		t.Errorf("the client's super admin: %v", err)
	}
}

// testRSuper2SCIMGroups: through SCIM groups, only a holder of
// account.super_admins.manage puts users into super_admin or takes them out
// (R-SUPER-2), asking for the state a user is in included, and the last
// active super admin stays (R-SUPER-1).
func testRSuper2SCIMGroups(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, owner := w.Account(steward.AccountStandard)
	second := w.User(a.ID, steward.RoleSuperAdmin)
	plain := w.User(a.ID, steward.RoleMember)
	prov := w.User(a.ID, w.Role(a.ID, "Provisioning", steward.PermSCIMProvision, steward.PermUsersManage).ID)
	as := w.As(prov.ID)
	for _, tt := range []struct {
		name string
		ch   steward.SCIMGroupChange
	}{
		{"ErrAdd", steward.SCIMGroupChange{Add: []string{plain.ID}}},
		{"ErrRemove", steward.SCIMGroupChange{Remove: []string{second.ID}}},
		{"ErrAddAgain", steward.SCIMGroupChange{Add: []string{second.ID}}},
		{"ErrRemoveNonMember", steward.SCIMGroupChange{Remove: []string{plain.ID}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w.unchanged(t, func() {
				_, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, steward.RoleSuperAdmin, tt.ch)
				WantCode(t, err, steward.EFORBIDDEN, "")
			}, a.ID)
		})
	}
	t.Run("ErrMoveOutThroughAnotherGroup", func(t *testing.T) {
		g, _, err := w.Svc.CreateProvisionedGroup(as, a.ID, steward.SCIMGroupInput{DisplayName: "Staff"})
		if err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, g.Role.ID, steward.SCIMGroupChange{Add: []string{second.ID}})
			WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		}, a.ID)
	})
	if w.Member(a.ID, plain.ID).Role != steward.RoleMember || w.Member(a.ID, second.ID).Role != steward.RoleSuperAdmin {
		t.Fatal("a refused change changed a role")
	}
	t.Run("SuperAdminsManager", func(t *testing.T) {
		if _, _, err := w.Svc.UpdateProvisionedGroup(w.As(owner.ID), a.ID, steward.RoleSuperAdmin, steward.SCIMGroupChange{Add: []string{plain.ID}, Remove: []string{second.ID}}); err != nil {
			t.Fatal(err)
		}
		if w.Member(a.ID, plain.ID).Role != steward.RoleSuperAdmin || w.Member(a.ID, second.ID).Role != steward.RoleMember {
			t.Error("the owner's change did not apply")
		}
	})
	t.Run("ErrLastSuperAdmin", func(t *testing.T) {
		if _, _, err := w.Svc.UpdateProvisionedGroup(w.As(owner.ID), a.ID, steward.RoleSuperAdmin, steward.SCIMGroupChange{Remove: []string{plain.ID}}); err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.UpdateProvisionedGroup(w.As(owner.ID), a.ID, steward.RoleSuperAdmin, steward.SCIMGroupChange{Remove: []string{owner.ID}})
			WantCode(t, err, steward.ECONFLICT, "last_super_admin")
		}, a.ID)
	})
}

// testRGrant2SCIMGroupMembership: putting a user into a group applies the
// role as the members API does: the provisioner adds only what it holds,
// and taking the user out never removes what the provisioner does not hold.
func testRGrant2SCIMGroups(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	a, _ := w.Account(steward.AccountStandard)
	analysts := w.Role(a.ID, "Analysts", "reports.view", "crm.contacts.view")
	prov := w.User(a.ID, w.Role(a.ID, "Provisioning", steward.PermSCIMProvision, "crm.contacts.view").ID)
	u := w.User(a.ID, steward.RoleMember)
	as := w.As(prov.ID)
	if _, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, analysts.ID, steward.SCIMGroupChange{Add: []string{u.ID}}); err != nil {
		t.Fatal(err)
	}
	m := w.Member(a.ID, u.ID)
	if m.Role != analysts.ID || !cmp.Equal(m.Permissions, []string{"crm.contacts.view"}) {
		t.Errorf("after join: role %s, permissions %v; want only what the provisioner holds", m.Role, m.Permissions)
	}
	if w.Allowed(u.ID, a.ID, "reports.view") {
		t.Error("the member gained reports.view, which the provisioner does not hold")
	}
	// The operator widens the member; the provisioner taking it out of the
	// group leaves what it does not hold.
	if _, _, err := w.Svc.ChangeMemberRole(w.Op, a.ID, u.ID, analysts.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.UpdateProvisionedGroup(as, a.ID, analysts.ID, steward.SCIMGroupChange{Remove: []string{u.ID}}); err != nil {
		t.Fatal(err)
	}
	m = w.Member(a.ID, u.ID)
	if m.Role != steward.RoleMember || !cmp.Equal(m.Permissions, []string{"reports.view"}) {
		t.Errorf("after leave: role %s, permissions %v; want member keeping reports.view", m.Role, m.Permissions)
	}
}
