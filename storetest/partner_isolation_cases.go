package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// What a partner reaches, and what it does not: an ended relationship, a
// partner of a partner, the alias, the partner admin in the client.

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"R-PARTNER-11_EndedRelationshipStopsPartnerSide", testEndedRelationshipStopsPartnerSide},
		suiteCase{"R-PARTNER-1_NoTransitivePartnerAccess", testNoTransitivePartnerAccess},
		suiteCase{"R-PARTNER-7_AliasNeverShownToClient", testAliasNeverShownToClient},
		suiteCase{"R-PARTNER-8_ReactivationNeedsPartnerAdmin", testReactivationNeedsPartnerAdmin},
	)
}

// sameAsUnknown fails unless err is exactly what an unknown id gets: the same
// kind, code and text once the id is set aside.
func sameAsUnknown(t *testing.T, what string, err error, id string, unknownErr error, unknownID string) {
	t.Helper()
	if err == nil || unknownErr == nil {
		t.Fatalf("%s: err = %v, unknown id err = %v; want both refused", what, err, unknownErr)
	}
	got := strings.ReplaceAll(err.Error(), id, "ID")
	want := strings.ReplaceAll(unknownErr.Error(), unknownID, "ID")
	if steward.ErrorKind(err) != steward.ErrorKind(unknownErr) || steward.ErrorCode(err) != steward.ErrorCode(unknownErr) || got != want {
		t.Errorf("%s: %q, want it as for an unknown id: %q", what, got, want)
	}
	gf, wf := steward.ErrorFields(err), steward.ErrorFields(unknownErr)
	if len(gf) != len(wf) {
		t.Errorf("%s: fields %+v, want %+v", what, gf, wf)
		return
	}
	for i := range gf {
		if gf[i].Field != wf[i].Field || strings.ReplaceAll(gf[i].Message, id, "ID") != strings.ReplaceAll(wf[i].Message, unknownID, "ID") {
			t.Errorf("%s: field %+v, want %+v", what, gf[i], wf[i])
		}
	}
}

func testEndedRelationshipStopsPartnerSide(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emps := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 2)
	clientStaff := w.User(w.C.ID, steward.RoleMember)
	// An employee of P who is an external member of C, linked by P (R-PARTNER-6).
	linked := w.User(w.P.ID, steward.RoleMember)
	ext := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: w.C.ID, UserID: linked.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: steward.RoleMember, Permissions: []string{}, GrantedBy: w.COwner.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, ext) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.LinkEmployee(w.As(w.POwner.ID), w.P.ID, linked.ID, w.C.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.UpdateClientAlias(w.As(w.POwner.ID), w.P.ID, w.C.ID, "Our big client"); err != nil {
		t.Fatal(err)
	}
	// The removal preview lists P's employees' memberships in C, and offers
	// only P's own employees as candidates: never C's directory.
	pv, err := w.Svc.PreviewRemoval(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emps[0].ID}, AccountIDs: []string{w.C.ID}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(pv)
	for _, u := range []*steward.User{w.COwner, clientStaff} {
		if strings.Contains(string(data), u.ID) || strings.Contains(string(data), u.Email) {
			t.Errorf("the removal preview shows the client's own member %s: %s", u.Email, data)
		}
	}
	if len(pv.Clients) != 1 || len(pv.Clients[0].Employees) != 1 || pv.Clients[0].Employees[0].UserID != emps[0].ID || len(pv.Clients[0].Candidates) == 0 {
		t.Errorf("preview = %s", data)
	}
	for _, c := range pv.Clients[0].Candidates {
		if u, err := w.Store.FindUserByID(ctx, c.UserID); err != nil || u.HomeAccountID != w.P.ID {
			t.Errorf("candidate %s is not an employee of the partner", c.UserID)
		}
	}

	if _, _, err := w.Svc.EndRelationship(w.As(w.COwner.ID), w.C.ID, w.P.ID); err != nil {
		t.Fatal(err)
	}
	// Every partner-console call about C now answers as for an unknown
	// client, whoever of P asks, also P's super admin.
	stranger, _ := w.Account(steward.AccountStandard) // a real account P has no relationship with
	unknown := steward.NewID(steward.PrefixAccount, w.Now)
	newcomer := w.User(w.P.ID, steward.RoleMember)
	calls := map[string]func(client string) error{
		"PreviewRemoval": func(c string) error {
			_, err := w.Svc.PreviewRemoval(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emps[0].ID}, AccountIDs: []string{c}})
			return err
		},
		"PreviewRemoval(all)": func(c string) error {
			_, err := w.Svc.PreviewRemoval(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{AccountIDs: []string{c}})
			return err
		},
		"RemoveEmployees": func(c string) error {
			_, _, err := w.Svc.RemoveEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{AccountIDs: []string{c}})
			return err
		},
		"DeactivateEmployees": func(c string) error {
			_, _, err := w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{linked.ID}, AccountIDs: []string{c}})
			return err
		},
		"ReactivateEmployees": func(c string) error {
			_, _, err := w.Svc.ReactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{linked.ID}, AccountIDs: []string{c}})
			return err
		},
		"AddEmployees": func(c string) error {
			_, _, err := w.Svc.AddEmployees(w.As(w.POwner.ID), w.P.ID, c, []string{newcomer.ID}, steward.RoleMember)
			return err
		},
		"ChangeEmployeeRole": func(c string) error {
			_, _, err := w.Svc.ChangeEmployeeRole(w.As(w.POwner.ID), w.P.ID, c, linked.ID, steward.RoleMember)
			return err
		},
		"LinkEmployee": func(c string) error {
			_, _, err := w.Svc.LinkEmployee(w.As(w.POwner.ID), w.P.ID, linked.ID, c)
			return err
		},
		"ConvertToPartnerAdmin": func(c string) error {
			_, _, err := w.Svc.ConvertToPartnerAdmin(w.As(w.POwner.ID), w.P.ID, c, linked.ID, false)
			return err
		},
		"UpdateClientAlias": func(c string) error {
			_, _, err := w.Svc.UpdateClientAlias(w.As(w.POwner.ID), w.P.ID, c, "Still ours")
			return err
		},
	}
	w.unchanged(t, func() {
		for name, call := range calls {
			err := call(w.C.ID)
			if steward.ErrorKind(err) != steward.ENOTFOUND || steward.ErrorCode(err) != "client_not_found" {
				t.Errorf("%s on the ended client: %v, want 404 client_not_found", name, err)
				continue
			}
			sameAsUnknown(t, name, err, w.C.ID, call(unknown), unknown)
			sameAsUnknown(t, name+" (stranger)", call(stranger.ID), stranger.ID, call(unknown), unknown)
		}
	}, w.C.ID, w.P.ID)

	// The client list keeps it, ended, under P's alias only.
	cs, _, err := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID})
	if err != nil || len(cs) != 1 {
		t.Fatalf("FindClients = %+v, %v", cs, err)
	}
	if c := cs[0]; c.ClientID != w.C.ID || c.Status != steward.RelationshipEnded || c.Alias != "Our big client" || c.ClientName != "" {
		t.Errorf("ended client row = status %s, alias %q, client name %q; want ended, the alias, no name", c.Status, c.Alias, c.ClientName)
	}
	data, _ = json.Marshal(cs)
	if strings.Contains(string(data), w.C.Name) {
		t.Errorf("the client list shows the ended client's live name: %s", data)
	}
	if cs, _, _ := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID, Search: w.C.Name}); len(cs) != 0 {
		t.Errorf("searching the ended client's live name finds %d clients, want none", len(cs))
	}
	if cs, _, _ := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID, Search: "big client"}); len(cs) != 1 {
		t.Errorf("searching the alias finds %d clients, want 1", len(cs))
	}
	// P's management credit ended with the relationship; the membership is the client's.
	if m := w.Member(w.C.ID, linked.ID); m.ManagedBy != "" || m.Status != steward.StatusActive {
		t.Errorf("linked membership = managed by %q, %s; want no credit, still active", m.ManagedBy, m.Status)
	}
	es, _, err := w.Svc.FindEmployees(w.As(w.POwner.ID), w.P.ID, steward.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Clients != 0 {
			t.Errorf("employee %s counts %d clients after the end, want 0", e.ID, e.Clients)
		}
	}
}

func testNoTransitivePartnerAccess(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	// Q is a partner of P; P is a partner of C.
	q, qOwner := w.Account(steward.AccountPartner)
	qAdmin := w.PartnerAdmin(q.ID, w.P.ID, w.POwner.ID)
	qEmp := w.Employees(q.ID, w.P.ID, qAdmin.ID, steward.RoleMember, 1)[0]
	// P's super admin gives Q's employee everything it may in P, partner.* included.
	wide := w.Role(w.P.ID, "Console operators", steward.PermPartnerClientsView, steward.PermPartnerEmployeesManage, steward.PermAuditView, steward.PermUsersManage)
	if _, _, err := w.Svc.ChangeMemberRole(w.As(w.POwner.ID), w.P.ID, qEmp.ID, wide.ID); err != nil {
		t.Fatal(err)
	}
	// And makes Q's partner admin a super admin of P.
	if _, _, err := w.Svc.ChangeMemberRole(w.As(w.POwner.ID), w.P.ID, qAdmin.ID, steward.RoleSuperAdmin); err != nil {
		t.Fatal(err)
	}
	// An external user of P with a role holding partner.*.
	outsider, _ := w.Account(steward.AccountStandard)
	extUser := w.User(outsider.ID, steward.RoleMember)
	ext := &steward.Membership{ID: steward.NewID(steward.PrefixMembership, w.Now), AccountID: w.P.ID, UserID: extUser.ID, Kind: steward.KindExternal,
		Status: steward.StatusActive, Role: wide.ID, Permissions: wide.Permissions, GrantedBy: w.POwner.ID, CreatedAt: w.Now, UpdatedAt: w.Now}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.CreateMembership(ctx, ext) }); err != nil {
		t.Fatal(err)
	}
	pAdmin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	pEmp := w.Employees(w.P.ID, w.C.ID, pAdmin.ID, steward.RoleMember, 1)[0]
	_ = qOwner

	for _, u := range []*steward.User{qAdmin, qEmp, extUser} {
		for _, perm := range []string{steward.PermPartnerClientsView, steward.PermPartnerEmployeesManage} {
			if w.Allowed(u.ID, w.P.ID, perm) {
				t.Errorf("%s holds %s in P through a %s membership", u.ID, perm, w.Member(w.P.ID, u.ID).Kind)
			}
		}
		for _, p := range w.Member(w.P.ID, u.ID).Permissions {
			if strings.HasPrefix(p, "partner.") {
				t.Errorf("%s's membership in P shows %s", u.ID, p)
			}
		}
	}
	if !w.Allowed(qAdmin.ID, w.P.ID, "crm.contacts.edit") || !w.Allowed(qEmp.ID, w.P.ID, steward.PermAuditView) {
		t.Error("the rest of their access in P is gone too")
	}
	for _, p := range w.Svc.Catalogue.PartnerAdmin() {
		if strings.HasPrefix(p, "partner.") {
			t.Errorf("the partner_admin role holds %s", p)
		}
	}
	sel := steward.EmployeeSelection{UserIDs: []string{pEmp.ID}, AccountIDs: []string{w.C.ID}}
	newcomer := w.User(w.P.ID, steward.RoleMember)
	w.unchanged(t, func() {
		for _, u := range []*steward.User{qAdmin, qEmp, extUser} {
			as := w.As(u.ID)
			refused := func(what string, err error) {
				t.Helper()
				if steward.ErrorKind(err) != steward.EFORBIDDEN && steward.ErrorKind(err) != steward.ENOTFOUND {
					t.Errorf("%s as %s: %v, want refused", what, u.ID, err)
				}
			}
			_, _, err := w.Svc.FindClients(as, steward.ClientFilter{PartnerID: w.P.ID})
			WantCode(t, err, steward.EFORBIDDEN, "not_a_partner_user")
			_, _, err = w.Svc.FindEmployees(as, w.P.ID, steward.Page{})
			refused("FindEmployees", err)
			_, err = w.Svc.PreviewRemoval(as, w.P.ID, sel)
			refused("PreviewRemoval", err)
			_, _, err = w.Svc.RemoveEmployees(as, w.P.ID, sel)
			refused("RemoveEmployees", err)
			_, _, err = w.Svc.DeactivateEmployees(as, w.P.ID, sel)
			refused("DeactivateEmployees", err)
			_, _, err = w.Svc.ReactivateEmployees(as, w.P.ID, sel)
			refused("ReactivateEmployees", err)
			_, _, err = w.Svc.FindPartnerEvents(as, w.P.ID, steward.AuditFilter{})
			refused("FindPartnerEvents", err)
			_, _, err = w.Svc.FindPartnerEvents(as, w.P.ID, steward.AuditFilter{AccountID: w.C.ID})
			refused("FindPartnerEvents(client)", err)
			_, _, err = w.Svc.UpdateClientAlias(as, w.P.ID, w.C.ID, "Mine now")
			refused("UpdateClientAlias", err)
			_, _, err = w.Svc.CreateAccessLink(as, w.P.ID, pEmp.ID)
			refused("CreateAccessLink", err)
			_, _, err = w.Svc.LinkEmployee(as, w.P.ID, pEmp.ID, w.C.ID)
			refused("LinkEmployee", err)
			_, _, err = w.Svc.AddEmployees(as, w.P.ID, w.C.ID, []string{newcomer.ID}, steward.RoleMember)
			refused("AddEmployees", err)
			_, _, err = w.Svc.ChangeEmployeeRole(as, w.P.ID, w.C.ID, pEmp.ID, steward.RoleMember)
			refused("ChangeEmployeeRole", err)
			_, _, err = w.Svc.ConvertToPartnerAdmin(as, w.P.ID, w.C.ID, pEmp.ID, false)
			refused("ConvertToPartnerAdmin", err)
			// Nor can they hand partner.* to anyone in P (R-GRANT-1).
			name, perms := "Back door", []string{steward.PermPartnerClientsView}
			_, _, err = w.Svc.CreateRole(as, w.P.ID, steward.RoleInput{Name: &name, Permissions: &perms})
			refused("CreateRole(partner.clients.view)", err)
		}
	}, w.P.ID, w.C.ID)
	if m := w.Member(w.C.ID, pEmp.ID); m.Status != steward.StatusActive {
		t.Errorf("P's employee in C is %s after Q's attempts", m.Status)
	}
	// P's own users still run P's console.
	if cs, _, err := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID}); err != nil || len(cs) != 1 {
		t.Errorf("P's super admin: FindClients = %d, %v", len(cs), err)
	}
	if _, _, err := w.Svc.FindPartnerEvents(w.As(w.POwner.ID), w.P.ID, steward.AuditFilter{}); err != nil {
		t.Errorf("P's super admin: FindPartnerEvents: %v", err)
	}
}

func testAliasNeverShownToClient(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	const alias = "Zanzibar-Q7 (slow payer)"
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	if _, _, err := w.Svc.UpdateClientAlias(w.As(w.POwner.ID), w.P.ID, w.C.ID, alias); err != nil {
		t.Fatal(err)
	}
	// Another partner Q of C, and a partner admin of Q in P itself.
	q, _ := w.Account(steward.AccountPartner)
	qInC := w.PartnerAdmin(q.ID, w.C.ID, w.COwner.ID)
	qInP := w.PartnerAdmin(q.ID, w.P.ID, w.POwner.ID)
	noAlias := func(what string, v any) {
		t.Helper()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), alias) || strings.Contains(string(data), `"alias"`) {
			t.Errorf("%s shows the partner's alias: %s", what, data)
		}
	}
	ps, _, err := w.Svc.FindPartners(w.As(w.COwner.ID), w.C.ID, steward.Page{})
	if err != nil || len(ps) != 2 {
		t.Fatalf("FindPartners = %+v, %v", ps, err)
	}
	noAlias("the client's partner list", ps)
	// Q's partner admin in C holds account.partners.manage there (R-PARTNER-1).
	ps, _, err = w.Svc.FindPartners(w.As(qInC.ID), w.C.ID, steward.Page{})
	if err != nil {
		t.Fatal(err)
	}
	noAlias("the partner list as another partner's admin", ps)
	// A second approval of P by C answers with the relationship: no alias.
	second := w.User(w.P.ID, steward.RoleMember)
	a, _, err := w.Svc.ApproveAccessLink(w.As(w.COwner.ID), w.Link(w.P.ID, second.ID, second.ID), w.C.ID)
	if err != nil {
		t.Fatal(err)
	}
	noAlias("the approval", a)
	// The audit logs: the client's, read by the client and by Q's admin there,
	// and P's own, read by Q's partner admin in P.
	for _, c := range []struct {
		who, account string
	}{{w.COwner.ID, w.C.ID}, {qInC.ID, w.C.ID}, {qInP.ID, w.P.ID}} {
		evs, _, err := w.Svc.FindEvents(w.As(c.who), steward.AuditFilter{AccountID: c.account, Limit: steward.MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			t.Fatalf("no events in %s", c.account)
		}
		data, _ := json.Marshal(evs)
		if strings.Contains(string(data), alias) {
			t.Errorf("the audit log of %s, read by %s, shows the alias", c.account, c.who)
		}
	}
	ended, _, err := w.Svc.EndRelationship(w.As(w.COwner.ID), w.C.ID, w.P.ID)
	if err != nil {
		t.Fatal(err)
	}
	noAlias("the end of the relationship", ended)
	ps, _, _ = w.Svc.FindPartners(w.As(w.COwner.ID), w.C.ID, steward.Page{})
	noAlias("the client's partner list after the end", ps)
	// P still has it, in its own console.
	if cs, _, err := w.Svc.FindClients(w.As(w.POwner.ID), steward.ClientFilter{PartnerID: w.P.ID}); err != nil || len(cs) != 1 || cs[0].Alias != alias {
		t.Errorf("P's client list = %+v, %v", cs, err)
	}
	_ = admin
}

func testReactivationNeedsPartnerAdmin(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	admin := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	emp := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	sel := steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{w.C.ID}}
	// P's super admin deactivates the employee in C (R-PARTNER-8)…
	if _, _, err := w.Svc.DeactivateEmployees(w.As(w.POwner.ID), w.P.ID, sel); err != nil {
		t.Fatal(err)
	}
	other := w.Employees(w.P.ID, w.C.ID, admin.ID, steward.RoleMember, 1)[0]
	newcomer := w.User(w.P.ID, steward.RoleMember)
	// …but re-activating, changing permissions and adding employees needs a
	// partner admin in C: 403, not an unknown client.
	w.unchanged(t, func() {
		_, _, err := w.Svc.ReactivateEmployees(w.As(w.POwner.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required")
		_, _, err = w.Svc.ChangeEmployeeRole(w.As(w.POwner.ID), w.P.ID, w.C.ID, emp.ID, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required")
		_, _, err = w.Svc.AddEmployees(w.As(w.POwner.ID), w.P.ID, w.C.ID, []string{newcomer.ID}, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required")
		// An employee in C without account.users.manage is no partner admin either.
		_, _, err = w.Svc.ReactivateEmployees(w.As(other.ID), w.P.ID, sel)
		WantCode(t, err, steward.EFORBIDDEN, "")
	}, w.C.ID)
	// A client P has no relationship with stays unknown.
	stranger, _ := w.Account(steward.AccountStandard)
	_, _, err := w.Svc.ReactivateEmployees(w.As(w.POwner.ID), w.P.ID, steward.EmployeeSelection{UserIDs: []string{emp.ID}, AccountIDs: []string{stranger.ID}})
	WantCode(t, err, steward.ENOTFOUND, "client_not_found")
	// The partner admin re-activates.
	if res, _, err := w.Svc.ReactivateEmployees(w.As(admin.ID), w.P.ID, sel); err != nil || res.Changed != 1 {
		t.Fatalf("ReactivateEmployees = %+v, %v", res, err)
	}
	if got := w.Member(w.C.ID, emp.ID).Status; got != steward.StatusActive {
		t.Errorf("the employee is %s after the partner admin re-activated it", got)
	}
}
