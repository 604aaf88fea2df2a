package http_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// partnerAdminOver makes a new user of partner a partner admin of client,
// approved by the client's super admin, over HTTP; it returns the user and its token.
func partnerAdminOver(t *testing.T, e *Env, partner, client, clientOwnerTok string) (string, string) {
	t.Helper()
	u := e.User(t, partner, steward.RoleMember)
	tok := e.Token(t, u)
	var link steward.NewAccessLink
	e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", tok, map[string]any{}, &link)
	e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+link.URL[strings.LastIndex(link.URL, "/")+1:]+"/approve", clientOwnerTok, map[string]any{"account_id": client}, nil)
	return u, tok
}

// partnerCall is one partner-console request with an id put in its place.
type partnerCall struct {
	name, method string
	path         func(id string) string
	body         func(id string) any
	token        string
}

// sameAnswer fails unless the two answers are identical once each id is set aside.
func sameAnswer(t *testing.T, name string, a Response, aID string, b Response, bID string) {
	t.Helper()
	na, nb := bytes.ReplaceAll(a.Body, []byte(aID), []byte("ID")), bytes.ReplaceAll(b.Body, []byte(bID), []byte("ID"))
	if a.Status != b.Status || !bytes.Equal(na, nb) {
		t.Errorf("%s:\n  %d %s\nwant it as for an unknown id:\n  %d %s", name, a.Status, na, b.Status, nb)
	}
}

// TestPartnerRoutes_ForeignUserLikeUnknown: every /v1/partners/… route that
// names a user answers a user of another tenant exactly as an unknown user
// id: same status, code and text (no existence oracle).
func TestPartnerRoutes_ForeignUserLikeUnknown(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, pOwner := e.Account(t, steward.AccountPartner)
		client, cOwner := e.Account(t, steward.AccountStandard)
		elsewhere, _ := e.Account(t, steward.AccountStandard)
		pOwnerTok, cOwnerTok := e.Token(t, pOwner), e.Token(t, cOwner)
		_, adminTok := partnerAdminOver(t, e, partner, client, cOwnerTok)
		// Users of other tenants: a member of the client, a super admin of
		// the client, and a user of an account unrelated to both.
		clientMember := e.User(t, client, steward.RoleMember)
		foreign := map[string]string{"client member": clientMember, "client super admin": cOwner, "unrelated user": e.User(t, elsewhere, steward.RoleMember)}
		unknown := steward.NewID(steward.PrefixUser, time.Now())
		p := "/v1/partners/" + partner
		sel := func(id string) any { return map[string]any{"user_ids": []string{id}, "account_ids": []string{client}} }
		calls := []partnerCall{
			{"access link", "POST", func(string) string { return p + "/access-links" }, func(id string) any { return map[string]any{"user_id": id} }, pOwnerTok},
			{"add employees", "POST", func(string) string { return p + "/clients/" + client + "/employees" },
				func(id string) any { return map[string]any{"user_ids": []string{id}, "role": steward.RoleMember} }, adminTok},
			{"employee role", "PUT", func(id string) string { return p + "/clients/" + client + "/employees/" + id + "/role" },
				func(string) any { return map[string]any{"role": steward.RoleMember} }, adminTok},
			{"convert", "POST", func(string) string { return p + "/clients/" + client + "/convert-to-partner-admin" },
				func(id string) any { return map[string]any{"user_id": id} }, adminTok},
			{"link", "POST", func(id string) string { return p + "/employees/" + id + "/link" }, func(string) any { return map[string]any{"account_id": client} }, pOwnerTok},
			{"removal preview", "POST", func(string) string { return p + "/removals/preview" }, sel, pOwnerTok},
			{"removal", "POST", func(string) string { return p + "/removals" }, sel, pOwnerTok},
			{"deactivation", "POST", func(string) string { return p + "/deactivations" }, sel, pOwnerTok},
			{"reactivation", "POST", func(string) string { return p + "/reactivations" }, sel, adminTok},
			{"audit by actor", "GET", func(id string) string { return p + "/audit?actor=" + id }, func(string) any { return nil }, pOwnerTok},
			{"audit export by actor", "GET", func(id string) string { return p + "/audit/export?format=ndjson&actor=" + id }, func(string) any { return nil }, pOwnerTok},
		}
		before := e.Revision(t)
		for _, c := range calls {
			want := e.Do(t, c.method, c.path(unknown), c.token, c.body(unknown))
			if c.method != "GET" && (want.Status < 400 || want.Status >= 500) {
				t.Errorf("%s with an unknown user: %d %s, want a 4xx", c.name, want.Status, want.Body)
			}
			for who, id := range foreign {
				got := e.Do(t, c.method, c.path(id), c.token, c.body(id))
				sameAnswer(t, c.name+" / "+who, got, id, want, unknown)
			}
		}
		if e.Revision(t) != before {
			t.Error("a refused partner call committed a change")
		}
	})
}

// TestPartnerRoutes_EndedRelationship: once the client ended P→C
// (R-PARTNER-11), every partner-console call about C is a 404 identical to
// an unknown client's, the client list keeps C under P's alias only, and
// the client's partner list never shows the alias (R-PARTNER-7).
func TestPartnerRoutes_EndedRelationship(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, pOwner := e.Account(t, steward.AccountPartner)
		client, cOwner := e.Account(t, steward.AccountStandard)
		pOwnerTok, cOwnerTok := e.Token(t, pOwner), e.Token(t, cOwner)
		admin, adminTok := partnerAdminOver(t, e, partner, client, cOwnerTok)
		emp := e.User(t, partner, steward.RoleMember)
		p := "/v1/partners/" + partner
		e.MustOK(t, http.StatusCreated, "POST", p+"/clients/"+client+"/employees", adminTok, map[string]any{"user_ids": []string{emp}, "role": steward.RoleMember}, nil)
		const alias = "Northwind (do not tell)"
		e.MustOK(t, http.StatusOK, "PATCH", p+"/clients/"+client, pOwnerTok, map[string]any{"alias": alias}, nil)
		var clientAcc steward.Account
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client, cOwnerTok, nil, &clientAcc)

		// R-PARTNER-8: P's super admin deactivates, but only a partner admin in C re-activates.
		sel := map[string]any{"user_ids": []string{emp}, "account_ids": []string{client}}
		e.MustOK(t, http.StatusOK, "POST", p+"/deactivations", pOwnerTok, sel, nil)
		MustProblem(t, e.Do(t, "POST", p+"/reactivations", pOwnerTok, sel), http.StatusForbidden, "partner_admin_required", "")
		e.MustOK(t, http.StatusOK, "POST", p+"/reactivations", adminTok, sel, nil)

		// R-PARTNER-7: the client's partner list carries no alias.
		res := e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/partners", cOwnerTok, nil, nil)
		if bytes.Contains(res.Body, []byte(alias)) || bytes.Contains(res.Body, []byte(`"alias"`)) {
			t.Errorf("the client's partner list shows the alias: %s", res.Body)
		}
		res = e.MustOK(t, http.StatusOK, "DELETE", "/v1/accounts/"+client+"/partners/"+partner, cOwnerTok, nil, nil)
		if bytes.Contains(res.Body, []byte(alias)) || bytes.Contains(res.Body, []byte(`"alias"`)) {
			t.Errorf("the end of the relationship shows the alias: %s", res.Body)
		}

		stranger, _ := e.Account(t, steward.AccountStandard)
		unknown := steward.NewID(steward.PrefixAccount, time.Now())
		sel1 := func(id string) any { return map[string]any{"user_ids": []string{emp}, "account_ids": []string{id}} }
		calls := []partnerCall{
			{"removal preview", "POST", func(string) string { return p + "/removals/preview" }, sel1, pOwnerTok},
			{"removal", "POST", func(string) string { return p + "/removals" }, sel1, pOwnerTok},
			{"remove all", "POST", func(string) string { return p + "/removals" }, func(id string) any { return map[string]any{"account_ids": []string{id}} }, pOwnerTok},
			{"deactivation", "POST", func(string) string { return p + "/deactivations" }, sel1, pOwnerTok},
			{"reactivation", "POST", func(string) string { return p + "/reactivations" }, sel1, pOwnerTok},
			{"add employees", "POST", func(id string) string { return p + "/clients/" + id + "/employees" },
				func(string) any { return map[string]any{"user_ids": []string{emp}, "role": steward.RoleMember} }, pOwnerTok},
			{"employee role", "PUT", func(id string) string { return p + "/clients/" + id + "/employees/" + emp + "/role" },
				func(string) any { return map[string]any{"role": steward.RoleMember} }, adminTok},
			{"link", "POST", func(string) string { return p + "/employees/" + emp + "/link" }, func(id string) any { return map[string]any{"account_id": id} }, pOwnerTok},
			{"convert", "POST", func(id string) string { return p + "/clients/" + id + "/convert-to-partner-admin" },
				func(string) any { return map[string]any{"user_id": admin} }, adminTok},
			{"alias", "PATCH", func(id string) string { return p + "/clients/" + id }, func(string) any { return map[string]any{"alias": "Still ours"} }, pOwnerTok},
		}
		before := e.Revision(t)
		for _, c := range calls {
			want := e.Do(t, c.method, c.path(unknown), c.token, c.body(unknown))
			MustProblem(t, want, http.StatusNotFound, "client_not_found", "")
			sameAnswer(t, c.name, e.Do(t, c.method, c.path(client), c.token, c.body(client)), client, want, unknown)
			sameAnswer(t, c.name+" (no relationship)", e.Do(t, c.method, c.path(stranger), c.token, c.body(stranger)), stranger, want, unknown)
		}
		if e.Revision(t) != before {
			t.Error("a refused partner call committed a change")
		}

		// The client list keeps the ended relationship, under the alias only.
		res = e.MustOK(t, http.StatusOK, "GET", p+"/clients", pOwnerTok, nil, nil)
		if !bytes.Contains(res.Body, []byte(alias)) || !bytes.Contains(res.Body, []byte(`"status":"ended"`)) || bytes.Contains(res.Body, []byte(clientAcc.Name)) {
			t.Errorf("client list after the end = %s; want it ended, under the alias, without %q", res.Body, clientAcc.Name)
		}
	})
}

// TestPartnerRoutes_NoTransitiveAccess: a partner admin of Q in the partner
// account P holds no partner.* there and reaches none of P's console
// (R-PARTNER-1), the partner audit view included.
func TestPartnerRoutes_NoTransitiveAccess(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		q, _ := e.Account(t, steward.AccountPartner)
		partner, pOwner := e.Account(t, steward.AccountPartner)
		client, cOwner := e.Account(t, steward.AccountStandard)
		pOwnerTok, cOwnerTok := e.Token(t, pOwner), e.Token(t, cOwner)
		qAdmin, qTok := partnerAdminOver(t, e, q, partner, pOwnerTok)
		partnerAdminOver(t, e, partner, client, cOwnerTok)
		emp := e.User(t, partner, steward.RoleMember)
		p := "/v1/partners/" + partner
		// P makes Q's partner admin a super admin of P: still no partner console.
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+partner+"/members/"+qAdmin+"/role", pOwnerTok, map[string]any{"role": steward.RoleSuperAdmin}, nil)
		for _, perm := range []string{steward.PermPartnerClientsView, steward.PermPartnerEmployeesManage} {
			if allowed(t, e, qAdmin, partner, perm, time.Now()) {
				t.Errorf("Q's admin holds %s in P", perm)
			}
		}
		sel := map[string]any{"account_ids": []string{client}}
		before := e.Revision(t)
		for _, c := range []struct{ method, path string }{
			{"GET", p + "/clients"}, {"GET", p + "/employees"}, {"GET", p + "/audit"}, {"GET", p + "/audit?account=" + client},
			{"GET", p + "/audit/export?format=ndjson"}, {"POST", p + "/removals/preview"}, {"POST", p + "/removals"}, {"POST", p + "/deactivations"},
		} {
			var body any
			if c.method == "POST" {
				body = sel
			}
			MustProblem(t, e.Do(t, c.method, c.path, qTok, body), http.StatusForbidden, "not_a_partner_user", "")
		}
		MustProblem(t, e.Do(t, "POST", p+"/access-links", qTok, map[string]any{"user_id": emp}), http.StatusForbidden, "not_a_partner_user", "")
		MustProblem(t, e.Do(t, "PATCH", p+"/clients/"+client, qTok, map[string]any{"alias": "Ours"}), http.StatusForbidden, "not_a_partner_user", "")
		if e.Revision(t) != before {
			t.Error("a refused partner call committed a change")
		}
		e.MustOK(t, http.StatusOK, "GET", p+"/clients", pOwnerTok, nil, nil)
		e.MustOK(t, http.StatusOK, "GET", p+"/audit", pOwnerTok, nil, nil)
	})
}
