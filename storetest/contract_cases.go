package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// contractCases test the decisions of SPEC §4 that close open questions.
var contractCases = []suiteCase{
	{"SPEC4-Listings_RolesPageInOneStableOrder", testListingsRoles},
	{"SPEC4-Listings_EveryListHonoursLimitAndCursor", testListingsEveryList},
	{"SPEC4-Listings_UserAccountsWithoutPermission", testListingsUserAccounts},
}

// lister reads one page of a listing and names its items.
type lister func(p steward.Page) ([]string, string, error)

// names turns a page of items into their names.
func names[T any](items []T, next string, err error, name func(T) string) ([]string, string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return out, next, err
}

// wantPaging reads the whole listing in one page, then again one and two
// items at a time following next_cursor: the pages never exceed the limit and
// add up to the same items in the same order.
func wantPaging(t *testing.T, name string, l lister) {
	t.Helper()
	all, next, err := l(steward.Page{Limit: steward.MaxPageLimit})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if next != "" {
		t.Fatalf("%s: one page of %d items has next cursor %q", name, len(all), next)
	}
	if len(all) < 3 {
		t.Fatalf("%s: the world has %d items, want at least 3 to page through", name, len(all))
	}
	for _, limit := range []int{1, 2} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			items, next, err := l(steward.Page{After: after, Limit: limit})
			if err != nil {
				t.Fatalf("%s (limit %d, after %q): %v", name, limit, after, err)
			}
			if len(items) > limit {
				t.Fatalf("%s: page of %d items, want at most %d", name, len(items), limit)
			}
			got = append(got, items...)
			if next == "" {
				break
			}
			if pages > len(all) {
				t.Fatalf("%s (limit %d): more pages than items", name, limit)
			}
			after = next
		}
		if !slices.Equal(got, all) {
			t.Fatalf("%s (limit %d): pages give %v, want %v", name, limit, got, all)
		}
	}
}

// testListingsRoles: the built-in roles and the custom roles come in one
// stable order, and every page holds at most limit roles (SPEC §4 "Listings").
func testListingsRoles(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	var custom []string
	for i := range 4 {
		custom = append(custom, w.Role(acc.ID, fmt.Sprintf("Role %d", i), "reports.view").ID)
	}
	slices.Sort(custom)
	want := append([]string{steward.RoleSuperAdmin, steward.RolePartnerAdmin, steward.RoleMember}, custom...)
	l := func(p steward.Page) ([]string, string, error) {
		rs, next, err := w.Svc.FindRoles(w.As(owner.ID), acc.ID, p)
		return names(rs, next, err, func(r *steward.Role) string { return r.ID })
	}
	for _, limit := range []int{1, 2, 3, 4, 7, 50} {
		var got []string
		for after := ""; ; {
			items, next, err := l(steward.Page{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(items) > limit {
				t.Fatalf("limit %d: page of %d roles", limit, len(items))
			}
			if len(items) == 0 {
				t.Fatalf("limit %d: an empty page after %q", limit, after)
			}
			got = append(got, items...)
			if next == "" {
				break
			}
			after = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: roles %v, want %v", limit, got, want)
		}
	}
	// An account with no custom role ends on member.
	bare, bareOwner := w.Account(steward.AccountStandard)
	rs, next, err := w.Svc.FindRoles(w.As(bareOwner.ID), bare.ID, steward.Page{Limit: 3})
	if err != nil || len(rs) != 3 || next != "" {
		t.Fatalf("FindRoles(no custom role, limit 3) = %d roles, next %q, %v; want 3, none", len(rs), next, err)
	}
}

// testListingsEveryList pages through every list of the API with limit and
// cursor (SPEC §4 "Listings": every list endpoint honours them).
func testListingsEveryList(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w, c, owner := x.World, x.client.ID, x.owner
	asOwner := w.As(owner.ID)

	// Three partners of the client; the first manages two more clients,
	// through one partner admin, who adds an employee in each.
	var partners []*steward.Account
	var admins []*steward.User
	for range 3 {
		p, _ := w.Account(steward.AccountPartner)
		partners = append(partners, p)
		admins = append(admins, w.PartnerAdmin(p.ID, c, owner.ID))
	}
	p1, pa := partners[0], admins[0]
	clients := []string{c}
	for range 2 {
		c2, o2 := w.Account(steward.AccountStandard)
		if _, _, err := w.Svc.ApproveAccessLink(w.As(o2.ID), w.Link(p1.ID, pa.ID, pa.ID), c2.ID); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c2.ID)
	}
	for _, cl := range clients {
		w.Employees(p1.ID, cl, pa.ID, steward.RoleMember, 1)
	}
	// Assets, invitations into a role, and an external user with delegates.
	for i := range 3 {
		if _, _, err := w.Svc.PutAsset(w.Op, c, "report", fmt.Sprintf("r-%d", i), steward.AssetInput{Name: fmt.Sprintf("Report %d", i), OwnerUserID: owner.ID}); err != nil {
			t.Fatal(err)
		}
	}
	x.invite(asOwner, x.editors.ID, steward.NewInvitations{}, "a@example.org", "b@example.org", "c@example.org")
	x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
	var delegates []string
	for range 3 {
		delegates = append(delegates, w.User(x.home.ID, steward.RoleMember).ID)
	}
	if _, _, err := w.Svc.AddDelegates(w.As(x.ext.ID), c, x.ext.ID, steward.NewDelegates{UserIDs: delegates}); err != nil {
		t.Fatal(err)
	}

	memberID := func(m *steward.Membership) string { return m.ID }
	invID := func(i *steward.Invitation) string { return i.ID }
	eventID := func(e *steward.Event) string { return e.ID }
	accessName := func(a steward.Access) string { return a.UserID + "@" + a.AccountID }
	lists := []struct {
		name string
		l    lister
	}{
		{"permissions", func(p steward.Page) ([]string, string, error) {
			ps, next := w.Svc.Catalogue.FindPermissions(p)
			return names(ps, next, nil, func(p steward.Permission) string { return p.Key })
		}},
		{"members", func(p steward.Page) ([]string, string, error) {
			ms, next, err := w.Svc.FindMembers(asOwner, steward.MembershipFilter{AccountID: c, Page: p})
			return names(ms, next, err, memberID)
		}},
		{"roles", func(p steward.Page) ([]string, string, error) {
			rs, next, err := w.Svc.FindRoles(asOwner, c, p)
			return names(rs, next, err, func(r *steward.Role) string { return r.ID })
		}},
		{"role members", func(p steward.Page) ([]string, string, error) {
			ms, next, err := w.Svc.FindRoleMembers(asOwner, c, steward.RolePartnerAdmin, p)
			return names(ms, next, err, memberID)
		}},
		{"role invitations", func(p steward.Page) ([]string, string, error) {
			is, next, err := w.Svc.FindRoleInvitations(asOwner, c, x.editors.ID, p)
			return names(is, next, err, invID)
		}},
		{"invitations", func(p steward.Page) ([]string, string, error) {
			is, next, err := w.Svc.FindInvitations(asOwner, steward.InvitationFilter{AccountID: c, Page: p})
			return names(is, next, err, invID)
		}},
		{"delegates", func(p steward.Page) ([]string, string, error) {
			ms, next, err := w.Svc.FindDelegates(asOwner, c, x.ext.ID, p)
			return names(ms, next, err, memberID)
		}},
		{"clients", func(p steward.Page) ([]string, string, error) {
			cs, next, err := w.Svc.FindClients(w.Op, steward.ClientFilter{PartnerID: p1.ID, Page: p})
			return names(cs, next, err, func(c *steward.Client) string { return c.ClientID })
		}},
		{"employees", func(p steward.Page) ([]string, string, error) {
			es, next, err := w.Svc.FindEmployees(w.Op, p1.ID, p)
			return names(es, next, err, func(e *steward.Employee) string { return e.ID })
		}},
		{"partners", func(p steward.Page) ([]string, string, error) {
			ps, next, err := w.Svc.FindPartners(asOwner, c, p)
			return names(ps, next, err, func(p *steward.Partner) string { return p.PartnerID })
		}},
		{"assets", func(p steward.Page) ([]string, string, error) {
			as, next, err := w.Svc.FindAssets(asOwner, steward.AssetFilter{AccountID: c, Page: p})
			return names(as, next, err, func(a *steward.Asset) string { return a.Type + "/" + a.ID })
		}},
		{"audit", func(p steward.Page) ([]string, string, error) {
			es, next, err := w.Svc.FindEvents(asOwner, steward.AuditFilter{AccountID: c, After: p.After, Limit: p.Limit})
			return names(es, next, err, eventID)
		}},
		{"partner audit", func(p steward.Page) ([]string, string, error) {
			es, next, err := w.Svc.FindPartnerEvents(w.Op, p1.ID, steward.AuditFilter{After: p.After, Limit: p.Limit})
			return names(es, next, err, eventID)
		}},
		{"access", func(p steward.Page) ([]string, string, error) {
			as, next, err := w.Svc.FindAccess(asOwner, c, steward.AccessQuery{Permission: steward.PermUsersManage, Page: p})
			return names(as, next, err, accessName)
		}},
		{"user accounts", func(p steward.Page) ([]string, string, error) {
			as, next, err := w.Svc.FindUserAccounts(w.Op, pa.ID, steward.AccessQuery{Permission: steward.PermUsersManage, Page: p})
			return names(as, next, err, accessName)
		}},
		{"user accounts without permission", func(p steward.Page) ([]string, string, error) {
			as, next, err := w.Svc.FindUserAccounts(w.Op, pa.ID, steward.AccessQuery{Page: p})
			return names(as, next, err, accessName)
		}},
	}
	for _, tt := range lists {
		wantPaging(t, tt.name, tt.l)
	}
}

// testListingsUserAccounts: without a permission, a user's account listing
// holds every account where a membership of the user holds at that time, each
// with its effective permissions and the reason; with one, only those where
// it holds that one (SPEC §4 "Listings").
func testListingsUserAccounts(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	// x.ext: internal member of home (no permission), external editor of the
	// client; a super admin of a third account; a deactivated membership in a
	// fourth; an expired one in a fifth.
	x.external(x.ext, x.editors.ID, steward.NewInvitations{})
	third, thirdOwner := w.Account(steward.AccountStandard)
	reports := w.Role(third.ID, "Reports", "reports.view")
	fourth, fourthOwner := w.Account(steward.AccountStandard)
	for _, a := range []struct {
		acc, owner, role string
	}{{third.ID, thirdOwner.ID, reports.ID}, {fourth.ID, fourthOwner.ID, steward.RoleMember}} {
		opts := steward.NewInvitations{Emails: []string{x.ext.Email}, Consent: x.consent()}
		if a.acc == third.ID {
			opts.EndsAt = ptrTime(w.Now.Add(24 * time.Hour))
		}
		if _, _, err := w.Svc.Invite(w.As(a.owner), a.acc, a.role, opts); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Svc.AcceptInvitation(w.As(x.ext.ID), x.token(x.ext.Email)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := w.Svc.DeactivateMember(w.As(fourthOwner.ID), fourth.ID, x.ext.ID); err != nil {
		t.Fatal(err)
	}

	list := func(perm string) map[string]steward.Access {
		t.Helper()
		items, next, err := w.Svc.FindUserAccounts(w.As(x.ext.ID), x.ext.ID, steward.AccessQuery{Permission: perm})
		if err != nil || next != "" {
			t.Fatalf("FindUserAccounts(%q) = next %q, %v", perm, next, err)
		}
		out := map[string]steward.Access{}
		for _, it := range items {
			out[it.AccountID] = it
		}
		return out
	}
	all := list("")
	if len(all) != 3 || all[fourth.ID].AccountID != "" {
		t.Fatalf("accounts without permission = %v, want home, client and third (not the deactivated one)", all)
	}
	for acc, want := range map[string][]string{
		x.home.ID:   {},
		x.client.ID: {"crm.contacts.edit", "crm.contacts.view", "reports.view"},
		third.ID:    {"reports.view"},
	} {
		got := all[acc]
		if !slices.Equal(got.Permissions, want) && !(len(want) == 0 && len(got.Permissions) == 0) {
			t.Errorf("%s: permissions %v, want %v", acc, got.Permissions, want)
		}
		if got.Reason.Code != steward.ReasonHolds || got.Reason.MembershipID == "" || got.Reason.Source != "membership" {
			t.Errorf("%s: reason %+v, want holds through a membership", acc, got.Reason)
		}
	}
	if k := all[x.client.ID].Reason.Kind; k != steward.KindExternal {
		t.Errorf("client: reason kind %s, want external", k)
	}
	// With a permission: only where it holds that one.
	reportsView := list("reports.view")
	if len(reportsView) != 2 || reportsView[x.client.ID].AccountID == "" || reportsView[third.ID].AccountID == "" {
		t.Fatalf("accounts with reports.view = %v, want client and third", reportsView)
	}
	if len(reportsView[third.ID].Permissions) != 0 || reportsView[third.ID].Reason.Code != steward.ReasonGranted {
		t.Errorf("with a permission: %+v, want granted and no permissions list", reportsView[third.ID])
	}
	// A super admin holds everything; an unknown permission is still 422.
	items, _, err := w.Svc.FindUserAccounts(w.Op, thirdOwner.ID, steward.AccessQuery{})
	if err != nil || len(items) != 1 || items[0].Reason.Source != steward.RoleSuperAdmin || !slices.Equal(items[0].Permissions, w.Svc.Catalogue.All()) {
		t.Fatalf("super admin listing = %+v, %v; want every permission from super_admin", items, err)
	}
	_, _, err = w.Svc.FindUserAccounts(w.Op, x.ext.ID, steward.AccessQuery{Permission: "no.such"})
	WantCode(t, err, steward.EINVALID, "unknown_permission")
	// At a time: a membership that has ended by then is left out.
	later := w.Now.Add(48 * time.Hour)
	items, _, err = w.Svc.FindUserAccounts(w.Op, x.ext.ID, steward.AccessQuery{At: &later})
	if err != nil || len(items) != 2 || slices.ContainsFunc(items, func(a steward.Access) bool { return a.AccountID == third.ID }) {
		t.Fatalf("listing two days later = %+v, %v; want home and client, not third", items, err)
	}
}
