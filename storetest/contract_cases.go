package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

// contractCases test the decisions of SPEC §4 that close open questions.
var contractCases = []suiteCase{
	{"SPEC4-Listings_RolesPageInOneStableOrder", testListingsRoles},
	{"SPEC4-Listings_EveryListHonoursLimitAndCursor", testListingsEveryList},
	{"SPEC4-Listings_UserAccountsWithoutPermission", testListingsUserAccounts},
	{"SPEC4-RemovingAnInternalUser_DeletesTheUser", testRemovingInternalUser},
	{"SPEC4-RemovingAnInternalUser_R-SUPER-1InEveryAccount", testRemovingInternalUserSuper1},
	{"SPEC4-RemovingAnInternalUser_WhoMay", testRemovingInternalUserWhoMay},
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

// actions returns the audit actions of an account, oldest first.
func (w *World) actions(accountID string) []string {
	w.T.Helper()
	var out []string
	if err := w.Store.ScanEvents(ctx, accountID, func(e *steward.Event) error { out = append(out, e.Action); return nil }); err != nil {
		w.T.Fatal(err)
	}
	return out
}

// testRemovingInternalUser: removing an internal user from its home account
// deletes the user. Every membership it holds anywhere ends in the same
// transaction, its delegates with it; its assets are listed first and may be
// reassigned; its tokens stop working; the audit log of every account it left
// records it; the pending invitations to it are revoked; the check index
// forgets it; its email can be used again (SPEC §4 "Removing an internal user").
func testRemovingInternalUser(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w, u := x.World, x.ext
	admins := w.Role(x.home.ID, "User admins", steward.PermUsersManage)
	admin := w.User(x.home.ID, admins.ID)
	asAdmin := w.As(admin.ID)
	// u: internal member of home, external editor of the client with a
	// delegate, owner of assets in both, invited into a third account.
	x.external(u, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
	if _, _, err := w.Svc.AddDelegates(w.As(u.ID), x.client.ID, u.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
		t.Fatal(err)
	}
	for _, acc := range []string{x.client.ID, x.home.ID} {
		if _, _, err := w.Svc.PutAsset(w.Op, acc, "workflow", "wf-1", steward.AssetInput{Name: "Flow", OwnerUserID: u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	third, thirdOwner := w.Account(steward.AccountStandard)
	if _, _, err := w.Svc.Invite(w.As(thirdOwner.ID), third.ID, steward.RoleMember, steward.NewInvitations{Emails: []string{u.Email}, Consent: x.consent()}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	auth := &steward.Authenticator{Store: w.Store, OperatorTokenHash: steward.HashSecret("stw_operator"), Now: func() time.Time { return w.Now }}
	if _, err := auth.Authenticate(ctx, tok.Token, ""); err != nil {
		t.Fatalf("Authenticate before: %v", err)
	}
	var ix *authz.Index
	if src, ok := w.Store.(authz.Source); ok {
		ix = authz.New(src, w.Svc.Catalogue, nil)
		if err := ix.Load(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The preview lists, per account, what the user leaves and owns.
	p, err := w.Svc.PreviewMemberRemoval(asAdmin, x.home.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !p.DeletesUser || len(p.Accounts) != 2 || p.InvitationsRevoked != 1 || len(p.Blocked) != 0 {
		t.Fatalf("preview = %+v, want a deletion leaving two accounts, revoking one invitation", p)
	}
	for _, a := range p.Accounts {
		if len(a.Assets) != 1 || a.MembershipID == "" {
			t.Errorf("preview of %s = %+v, want its membership and one asset", a.AccountID, a)
		}
		// The admin manages users at home, not in the client: it may
		// reassign only at home, and sees candidates only there.
		if home := a.AccountID == x.home.ID; a.Reassignable != home || (len(a.Candidates) > 0) != home {
			t.Errorf("preview of %s: reassignable %v with %d candidates, want %v", a.AccountID, a.Reassignable, len(a.Candidates), home)
		}
		if a.AccountID == x.client.ID && (a.Kind != steward.KindExternal || a.Delegates != 1) {
			t.Errorf("preview of the client = %+v, want the external membership with one delegate", a)
		}
	}
	// A reassignment it may not make, or to someone who is no member, changes nothing.
	before := w.Events(x.client.ID) + w.Events(x.home.ID)
	_, err = w.Svc.RemoveMemberWith(asAdmin, x.home.ID, u.ID, steward.MemberRemoval{ReassignTo: map[string]string{x.client.ID: x.owner.ID}})
	WantCode(t, err, steward.EINVALID, "invalid_reassignment")
	_, err = w.Svc.RemoveMemberWith(asAdmin, x.home.ID, u.ID, steward.MemberRemoval{ReassignTo: map[string]string{x.home.ID: thirdOwner.ID}})
	WantCode(t, err, steward.EINVALID, "invalid_reassignment")
	_, err = w.Svc.RemoveMemberWith(asAdmin, x.home.ID, u.ID, steward.MemberRemoval{ReassignTo: map[string]string{x.home.ID: u.ID}})
	WantCode(t, err, steward.EINVALID, "invalid_reassignment")
	if after := w.Events(x.client.ID) + w.Events(x.home.ID); after != before {
		t.Fatalf("refused removals recorded %d events", after-before)
	}
	if _, err := w.Svc.FindMember(w.Op, x.client.ID, u.ID); err != nil {
		t.Fatalf("a refused removal removed: %v", err)
	}

	rev0, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.RemoveMemberWith(asAdmin, x.home.ID, u.ID, steward.MemberRemoval{ReassignTo: map[string]string{x.home.ID: admin.ID}}); err != nil {
		t.Fatalf("RemoveMember(home): %v", err)
	}
	// Every membership ended, the delegate's with it.
	for _, m := range []struct{ acc, user string }{{x.home.ID, u.ID}, {x.client.ID, u.ID}, {x.client.ID, x.colleague.ID}} {
		if _, err := w.Store.FindMembership(ctx, m.acc, m.user); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("membership of %s in %s: %v, want gone", m.user, m.acc, err)
		}
	}
	// The user is gone: unknown to every lookup, its token, checks and listings.
	if _, err := w.Svc.FindUser(w.Op, u.ID); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindUser = %v, want not found", err)
	}
	if _, err := w.Store.FindUserByEmail(ctx, u.Email); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindUserByEmail = %v, want not found", err)
	}
	if _, err := auth.Authenticate(ctx, tok.Token, ""); steward.ErrorKind(err) != steward.EUNAUTHENTICATED {
		t.Errorf("Authenticate with the deleted user's token = %v, want unauthenticated", err)
	}
	if _, err := auth.Authenticate(ctx, "stw_operator", u.ID); steward.ErrorCode(err) != "act_as_unknown" {
		t.Errorf("acting as the deleted user = %v, want act_as_unknown", err)
	}
	if _, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: u.ID, AccountID: x.home.ID, Permission: "reports.view"}); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("Check about the deleted user = %v, want not found", err)
	}
	if _, _, err := w.Svc.FindUserAccounts(w.Op, u.ID, steward.AccessQuery{}); steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Errorf("FindUserAccounts = %v, want not found", err)
	}
	// Assets: reassigned at home; in the client they stay with the deleted
	// user's id until someone who manages users there reassigns them.
	if a, err := w.Store.FindAsset(ctx, x.home.ID, "workflow", "wf-1"); err != nil || a.OwnerUserID != admin.ID {
		t.Errorf("home asset = %+v, %v; want it reassigned to %s", a, err, admin.ID)
	}
	if a, err := w.Store.FindAsset(ctx, x.client.ID, "workflow", "wf-1"); err != nil || a.OwnerUserID != u.ID {
		t.Errorf("client asset = %+v, %v; want it left with the deleted user", a, err)
	}
	// The audit log of every account it left records it.
	for _, acc := range []string{x.home.ID, x.client.ID} {
		if !slices.Contains(w.actions(acc), "user.deleted") {
			t.Errorf("audit of %s = %v, want user.deleted", acc, w.actions(acc))
		}
	}
	if !slices.Contains(w.actions(x.client.ID), "delegate.removed") || !slices.Contains(w.actions(x.home.ID), "asset.reassigned") {
		t.Errorf("audit lacks the delegate's removal or the reassignment")
	}
	// The invitation to its email is revoked.
	invs, _, err := w.Svc.FindInvitations(w.As(thirdOwner.ID), steward.InvitationFilter{AccountID: third.ID})
	if err != nil || len(invs) != 1 || invs[0].Status != steward.InvitationRevoked {
		t.Errorf("invitations of the third account = %+v, %v; want the one to the deleted user revoked", invs, err)
	}
	// The change feed names the user, and the index following it forgets it.
	changes, err := w.Store.ChangesSince(ctx, rev0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(changes, func(c steward.Change) bool { return c.Entity == steward.ChangeUser && c.EntityID == u.ID }) {
		t.Errorf("change feed %+v has no user entry for the deleted user", changes)
	}
	if ix != nil {
		if err := ix.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if ix.HasUser(u.ID) || ix.Allowed(x.colleague.ID, x.client.ID, "reports.view", w.Now.UnixMicro()) {
			t.Errorf("the index still knows the deleted user or its delegate")
		}
		if items, _ := ix.FindAccess(x.client.ID, "reports.view", w.Now, "", 50); slices.ContainsFunc(items, func(a steward.Access) bool { return a.UserID == u.ID }) {
			t.Errorf("the access review still lists the deleted user")
		}
	}
	// Removing again: the member is unknown. The email can be used again.
	_, err = w.Svc.RemoveMember(asAdmin, x.home.ID, u.ID)
	WantCode(t, err, steward.ENOTFOUND, "")
	again, _, err := w.Svc.CreateUser(w.Op, steward.NewUser{Email: u.Email, Name: "Again", HomeAccountID: x.home.ID})
	if err != nil || again.ID == u.ID {
		t.Fatalf("CreateUser with the deleted user's email = %+v, %v; want a new user", again, err)
	}
}

// testRemovingInternalUserSuper1: R-SUPER-1 holds in every account the user
// leaves: the last active super admin anywhere is refused, naming the account.
func testRemovingInternalUserSuper1(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	// A partner admin of the client whom the client's owner makes super
	// admin and then leaves to it alone.
	pa := w.PartnerAdmin(pw.P.ID, pw.C.ID, pw.COwner.ID)
	if _, _, err := w.Svc.ChangeMemberRole(w.As(pw.COwner.ID), pw.C.ID, pa.ID, steward.RoleSuperAdmin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.ChangeMemberRole(w.As(pw.COwner.ID), pw.C.ID, pw.COwner.ID, steward.RoleMember); err != nil {
		t.Fatal(err)
	}
	p, err := w.Svc.PreviewMemberRemoval(w.As(pw.POwner.ID), pw.P.ID, pa.ID)
	if err != nil || !slices.Equal(p.Blocked, []string{pw.C.ID}) {
		t.Fatalf("preview = %+v, %v; want it blocked by %s", p, err, pw.C.ID)
	}
	events := w.Events(pw.C.ID) + w.Events(pw.P.ID)
	_, err = w.Svc.RemoveMember(w.As(pw.POwner.ID), pw.P.ID, pa.ID)
	WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	if !strings.Contains(err.Error(), pw.C.ID) {
		t.Errorf("error %q does not name %s", err, pw.C.ID)
	}
	if w.Events(pw.C.ID)+w.Events(pw.P.ID) != events {
		t.Error("the refused removal recorded events")
	}
	w.Member(pw.C.ID, pa.ID)
	w.Member(pw.P.ID, pa.ID)
	// Its home's own last super admin is refused the same way.
	_, err = w.Svc.RemoveMember(w.Op, pw.P.ID, pw.POwner.ID)
	WantCode(t, err, steward.ECONFLICT, "last_super_admin")
	// With another super admin in the client, the deletion goes through and
	// the last partner membership leaving makes the relationship ending.
	// (The operator restores it: a partner employee made super admin holds
	// no partner.* permission, so it cannot make super admins, R-PARTNER-1.)
	if _, _, err := w.Svc.ChangeMemberRole(w.Op, pw.C.ID, pw.COwner.ID, steward.RoleSuperAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.RemoveMember(w.As(pw.POwner.ID), pw.P.ID, pa.ID); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if r := w.Relationship(pw.P.ID, pw.C.ID); r.Status != steward.RelationshipEnding {
		t.Errorf("relationship %s, want ending", r.Status)
	}
}

// testRemovingInternalUserWhoMay: a holder of account.users.manage in the
// home account, and account.super_admins.manage for a super admin there
// (R-SUPER-2), or the operator; nobody from another account.
func testRemovingInternalUserWhoMay(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	home, owner := w.Account(steward.AccountStandard)
	admins := w.Role(home.ID, "User admins", steward.PermUsersManage)
	admin := w.User(home.ID, admins.ID)
	plain := w.User(home.ID, steward.RoleMember)
	super := w.User(home.ID, steward.RoleSuperAdmin)
	_, otherOwner := w.Account(steward.AccountStandard)

	_, err := w.Svc.RemoveMember(w.As(plain.ID), home.ID, admin.ID)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, err = w.Svc.PreviewMemberRemoval(w.As(plain.ID), home.ID, admin.ID)
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, err = w.Svc.RemoveMember(w.As(admin.ID), home.ID, super.ID) // R-SUPER-2
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	_, err = w.Svc.RemoveMember(w.As(otherOwner.ID), home.ID, plain.ID)
	WantCode(t, err, steward.ENOTFOUND, "")
	_, err = w.Svc.PreviewMemberRemoval(w.As(admin.ID), home.ID, "usr_unknown")
	WantCode(t, err, steward.ENOTFOUND, "")

	if _, err := w.Svc.RemoveMember(w.As(admin.ID), home.ID, plain.ID); err != nil {
		t.Fatalf("a users manager removing a member: %v", err)
	}
	if _, err := w.Svc.RemoveMember(w.As(owner.ID), home.ID, super.ID); err != nil {
		t.Fatalf("a super admin removing a super admin: %v", err)
	}
	if _, err := w.Svc.RemoveMember(w.Op, home.ID, admin.ID); err != nil {
		t.Fatalf("the operator removing a member: %v", err)
	}
}
