package http_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/mail/mailtest"
)

// servePartner starts the end-to-end server of the partner tests, with a
// relationship grace of two hours.
func servePartner(tb testing.TB, st steward.Store, clock *extClock, smtpURL string, index bool) *Env {
	tb.Helper()
	return serveWithMail(tb, st, clock, smtpURL, index, func(s *steward.Service) { s.RelationshipGrace = 2 * time.Hour })
}

// TestPartnerEndToEnd is issue 3's walk through the Client Access Manager
// over HTTP, with a real SMTP server capturing the mail (R-PARTNER-1 … R-PARTNER-12).
func TestPartnerEndToEnd(t *testing.T) {
	for _, st := range stores {
		for _, checks := range []string{"store", "index"} {
			t.Run(st.name+"/checks_from_"+checks, func(t *testing.T) {
				clock := &extClock{}
				clock.Set(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
				smtp := mailtest.NewServer(t)
				e := servePartner(t, st.open(t), clock, smtp.URL(), checks == "index")
				testPartnerEndToEnd(t, e, clock, smtp)
			})
		}
	}
}

// partnerCheck asserts a check answer, as the operator, read-your-writes.
func partnerCheck(t *testing.T, e *Env, clock *extClock, userID, accountID, perm string, want bool) {
	t.Helper()
	if got := allowed(t, e, userID, accountID, perm, clock.Now()); got != want {
		t.Fatalf("check(%s, %s, %s) = %v, want %v", userID, accountID, perm, got, want)
	}
}

func testPartnerEndToEnd(t *testing.T, e *Env, clock *extClock, smtp *mailtest.Server) {
	partner, partnerOwner := e.Account(t, steward.AccountPartner)
	client1, owner1 := e.Account(t, steward.AccountStandard)
	client2, owner2 := e.Account(t, steward.AccountStandard)
	other, _ := e.Account(t, steward.AccountPartner)
	alice, bob, carol, gone := e.User(t, partner, steward.RoleMember), e.User(t, partner, steward.RoleMember), e.User(t, partner, steward.RoleMember), e.User(t, partner, steward.RoleMember)
	stranger := e.User(t, other, steward.RoleMember)
	aliceTok, owner1Tok, owner2Tok, partnerOwnerTok := e.Token(t, alice), e.Token(t, owner1), e.Token(t, owner2), e.Token(t, partnerOwner)
	aliceMail := userEmail(t, e, alice)
	helper := e.User(t, client1, e.Role(t, client1, "Partner managers", steward.PermPartnersManage, steward.PermUsersManage))
	helperTok := e.Token(t, helper)
	p := "/v1/partners/" + partner

	// 1. A partner user gets a link for itself.
	var link steward.NewAccessLink
	e.MustOK(t, http.StatusCreated, "POST", p+"/access-links", aliceTok, map[string]any{}, &link)
	token := link.URL[strings.LastIndex(link.URL, "/")+1:]
	if !strings.HasPrefix(link.URL, e2eBaseURL+"/access-links/") || !steward.WellFormedAccessLinkToken(token) ||
		!link.ExpiresAt.Equal(clock.Now().Add(steward.DefaultAccessLinkTTL)) {
		t.Fatalf("link = %+v", link)
	}
	partnerCheck(t, e, clock, alice, client1, "crm.contacts.view", false)

	// 2. The client's super admin opens it: who asks, for which partner, what it grants.
	var view steward.AccessLinkView
	e.MustOK(t, http.StatusOK, "GET", "/v1/access-links/"+token, owner1Tok, nil, &view)
	if view.User.ID != alice || view.Partner.ID != partner || view.Grants.Role != steward.RolePartnerAdmin ||
		steward.Contains(view.Grants.Permissions, steward.PermSuperAdminsManage) || !steward.Contains(view.Grants.Permissions, steward.PermPartnersManage) {
		t.Fatalf("view = %+v", view)
	}
	// Abuse: a member who is not super admin, malformed and forged tokens: 4xx, nothing changed.
	events1 := e.AuditCount(t, client1)
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/"+token+"/approve", helperTok, map[string]any{"account_id": client1}), http.StatusForbidden, "super_admin_required", "")
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/"+token+"/approve", operatorToken, map[string]any{"account_id": client1}), http.StatusForbidden, "super_admin_required", "")
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/not-a-token/approve", owner1Tok, map[string]any{"account_id": client1}), http.StatusUnprocessableEntity, "malformed_access_link", "token")
	MustProblem(t, e.Do(t, "GET", "/v1/access-links/"+steward.NewSecret(steward.AccessLinkTokenPrefix), owner1Tok, nil), http.StatusNotFound, "access_link_not_found", "")
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/"+token+"/approve", owner1Tok, map[string]any{}), http.StatusUnprocessableEntity, "missing_field", "account_id")
	if e.AuditCount(t, client1) != events1 {
		t.Fatal("a refused approval recorded an event")
	}

	// 3. Approval: the relationship and a partner admin; the mail arrives.
	var approval steward.Approval
	res := e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+token+"/approve", owner1Tok, map[string]any{"account_id": client1}, &approval)
	if res.Header.Get("Steward-Revision") == "" || approval.Relationship.Status != steward.RelationshipActive || approval.Membership.Role != steward.RolePartnerAdmin {
		t.Fatalf("approval = %+v / %+v", approval.Relationship, approval.Membership)
	}
	partnerCheck(t, e, clock, alice, client1, "crm.contacts.edit", true)
	partnerCheck(t, e, clock, alice, client1, steward.PermPartnersManage, true)
	partnerCheck(t, e, clock, alice, client1, steward.PermSuperAdminsManage, false)
	partnerCheck(t, e, clock, alice, client1, steward.PermBillingManage, false)
	got := smtp.Wait(1, 10*time.Second)[0]
	var client1Acc steward.Account
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client1, owner1Tok, nil, &client1Acc)
	client1Name := client1Acc.Name
	if got.To[0] != aliceMail || !strings.Contains(got.Subject, client1Name) || !strings.Contains(got.Body, "partner admin of "+client1Name) {
		t.Fatalf("approval mail = %+v", got)
	}
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/"+token+"/approve", owner1Tok, map[string]any{"account_id": client1}), http.StatusConflict, "access_link_used", "")
	// The same partner admin for client 2.
	e.MustOK(t, http.StatusCreated, "POST", p+"/access-links", aliceTok, map[string]any{"user_id": alice}, &link)
	e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+link.URL[strings.LastIndex(link.URL, "/")+1:]+"/approve", owner2Tok, map[string]any{"account_id": client2}, &approval)
	partnerCheck(t, e, clock, alice, client2, "crm.contacts.edit", true)

	// 4. The client narrows the partner admin: no reports.view. The partner
	// admin adds two employees with a role that holds it (R-GRANT-1).
	var perms []string
	for _, k := range e.Svc.Catalogue.PartnerAdmin() {
		if k != "reports.view" {
			perms = append(perms, k)
		}
	}
	narrow := e.Role(t, client1, "Partner without reports", perms...)
	e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+client1+"/members/"+alice+"/role", owner1Tok, map[string]any{"role": narrow}, nil)
	analyst := e.Role(t, client1, "Analyst", "crm.contacts.view", "reports.view")
	editors := e.Role(t, client1, "Editors", "crm.contacts.edit")
	MustProblem(t, e.Do(t, "POST", p+"/clients/"+client1+"/employees", aliceTok, map[string]any{"user_ids": []string{bob, stranger}, "role": analyst}),
		http.StatusUnprocessableEntity, "invalid_employees", "user_ids[1]")
	e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+gone+"/deactivate", operatorToken, nil, nil)
	MustProblem(t, e.Do(t, "POST", p+"/clients/"+client1+"/employees", aliceTok, map[string]any{"user_ids": []string{bob, gone}, "role": analyst}),
		http.StatusUnprocessableEntity, "invalid_employees", "user_ids[1]")
	partnerCheck(t, e, clock, bob, client1, "crm.contacts.view", false) // nothing half-done
	var added stewardhttp.List[steward.Membership]
	e.MustOK(t, http.StatusCreated, "POST", p+"/clients/"+client1+"/employees", aliceTok, map[string]any{"user_ids": []string{bob, carol}, "role": analyst}, &added)
	if len(added.Items) != 2 || strings.Join(added.Items[0].Permissions, ",") != "crm.contacts.view" {
		t.Fatalf("added = %+v", added.Items)
	}
	partnerCheck(t, e, clock, bob, client1, "crm.contacts.view", true)
	partnerCheck(t, e, clock, bob, client1, "reports.view", false)
	e.MustOK(t, http.StatusCreated, "POST", p+"/clients/"+client2+"/employees", aliceTok, map[string]any{"user_ids": []string{bob}, "role": steward.RoleMember}, nil)

	// 5. R-GRANT-2: carol holds reports.view from the client; the partner
	// admin, who lacks it, applies Editors: reports.view stays.
	e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+client1+"/members/"+carol+"/role", owner1Tok, map[string]any{"role": analyst}, nil)
	var carolM steward.Membership
	e.MustOK(t, http.StatusOK, "PUT", p+"/clients/"+client1+"/employees/"+carol+"/role", aliceTok, map[string]any{"role": editors}, &carolM)
	if strings.Join(carolM.Permissions, ",") != "crm.contacts.edit,reports.view" {
		t.Fatalf("carol = %v, want crm.contacts.edit,reports.view", carolM.Permissions)
	}
	partnerCheck(t, e, clock, carol, client1, "reports.view", true)
	partnerCheck(t, e, clock, carol, client1, "crm.contacts.view", false)
	partnerCheck(t, e, clock, carol, client1, "crm.contacts.edit", true)

	// 6. The product reports activity of a partner employee.
	clock.Add(10 * time.Minute)
	var act stewardhttp.ActivityRecorded
	e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+client1+"/activity", operatorToken,
		map[string]any{"user_id": bob, "action": "contact.updated", "target": "contact/7"}, &act)
	if act.Action != "product.contact.updated" {
		t.Errorf("activity = %+v", act)
	}
	var clients stewardhttp.List[steward.Client]
	e.MustOK(t, http.StatusOK, "GET", p+"/clients?q="+strings.ReplaceAll(client1Name, " ", "+"), partnerOwnerTok, nil, &clients)
	if len(clients.Items) != 1 || !clients.Items[0].LastActivityAt.Equal(clock.Now()) || clients.Items[0].ClientName != client1Name {
		t.Fatalf("clients = %+v", clients.Items)
	}
	var alias steward.Relationship
	e.MustOK(t, http.StatusOK, "PATCH", p+"/clients/"+client1, partnerOwnerTok, map[string]any{"alias": "Acme North"}, &alias)
	e.MustOK(t, http.StatusOK, "GET", p+"/clients?access_type=partner_admin", partnerOwnerTok, nil, &clients)
	if len(clients.Items) != 1 || clients.Items[0].ClientID != client2 {
		t.Errorf("partner-admin clients = %+v (alice was narrowed in client 1)", clients.Items)
	}

	// 7. Assets, the removal wizard and reassignment.
	for _, a := range []struct{ acc, typ, id string }{{client1, "workflow", "wf-1"}, {client1, "report", "r-1"}, {client2, "workflow", "wf-9"}} {
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+a.acc+"/assets/"+a.typ+"/"+a.id, operatorToken, map[string]any{"name": "Asset " + a.id, "owner_user_id": bob}, nil)
	}
	sel := map[string]any{"user_ids": []string{bob}, "account_ids": []string{client1, client2}}
	var preview steward.RemovalPreview
	e.MustOK(t, http.StatusOK, "POST", p+"/removals/preview", partnerOwnerTok, sel, &preview)
	if len(preview.Clients) != 2 || len(preview.Clients[0].Employees[0].Assets) != 2 || len(preview.Clients[1].Employees[0].Assets) != 1 {
		t.Fatalf("preview = %+v", preview.Clients)
	}
	before := e.AuditCount(t, client1)
	bad := map[string]any{"user_ids": []string{bob}, "account_ids": []string{client1, client2}, "reassign_to": map[string]string{client1: owner2}}
	MustProblem(t, e.Do(t, "POST", p+"/removals", partnerOwnerTok, bad), http.StatusUnprocessableEntity, "invalid_reassignment", "reassign_to."+client1)
	MustProblem(t, e.Do(t, "POST", p+"/removals", partnerOwnerTok, map[string]any{"user_ids": []string{carol}, "account_ids": []string{client1, client2}}),
		http.StatusUnprocessableEntity, "not_a_member", "user_ids[0]")
	if e.AuditCount(t, client1) != before {
		t.Fatal("a refused removal recorded an event")
	}
	partnerCheck(t, e, clock, bob, client1, "crm.contacts.view", true)
	ok := map[string]any{"user_ids": []string{bob}, "account_ids": []string{client1, client2}, "reassign_to": map[string]string{client1: owner1, client2: owner2}}
	var removed steward.RemovalResult
	e.MustOK(t, http.StatusOK, "POST", p+"/removals", partnerOwnerTok, ok, &removed)
	if removed.Removed != 2 || removed.Reassigned != 3 {
		t.Fatalf("removal = %+v, want 2 removed and 3 assets reassigned", removed)
	}
	var assets stewardhttp.List[steward.Asset]
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client2+"/assets?owner_user_id="+owner2, operatorToken, nil, &assets)
	if len(assets.Items) != 1 || assets.Items[0].ID != "wf-9" {
		t.Errorf("client 2 assets of its owner = %+v", assets.Items)
	}
	partnerCheck(t, e, clock, bob, client1, "crm.contacts.view", false)
	partnerCheck(t, e, clock, bob, client2, "crm.contacts.view", false)
	// The partner's log of its employees across clients (R-AUDIT-3).
	var evs stewardhttp.List[steward.Event]
	e.MustOK(t, http.StatusOK, "GET", p+"/audit?action=partner_member.removed", partnerOwnerTok, nil, &evs)
	if len(evs.Items) != 2 || evs.Items[0].Actor.PartnerID != partner {
		t.Fatalf("partner audit = %+v, want the two removals", evs.Items)
	}

	// 8. The last partner membership leaves client 2: ending, then ended
	// after the grace (2h here).
	clock.Add(time.Minute)
	leftAt := clock.Now()
	e.MustOK(t, http.StatusOK, "POST", p+"/removals", partnerOwnerTok, map[string]any{"user_ids": []string{alice}, "account_ids": []string{client2}}, nil)
	partnerCheck(t, e, clock, alice, client2, "crm.contacts.view", false)
	var rels stewardhttp.List[steward.Partner]
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client2+"/partners", owner2Tok, nil, &rels)
	if len(rels.Items) != 1 || rels.Items[0].Status != steward.RelationshipEnding || !rels.Items[0].EndsAt.Equal(leftAt.Add(2*time.Hour)) {
		t.Fatalf("client 2 partners = %+v, want ending until %s", rels.Items, leftAt.Add(2*time.Hour))
	}
	clock.Add(2 * time.Hour)
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client2+"/partners", owner2Tok, nil, &rels)
	if rels.Items[0].Status != steward.RelationshipEnded {
		t.Fatalf("after the grace: %+v, want ended", rels.Items[0])
	}
	if n, err := e.Svc.EndLapsedRelationships(context.Background()); err != nil || n != 1 {
		t.Fatalf("EndLapsedRelationships = %d, %v", n, err)
	}
	// Client 1 is untouched: alice is still a (narrowed) partner admin there.
	partnerCheck(t, e, clock, alice, client1, "crm.contacts.edit", true)

	// 9. Expired and used links; an employee of another partner gets none.
	e.MustOK(t, http.StatusCreated, "POST", p+"/access-links", aliceTok, map[string]any{}, &link)
	clock.Add(steward.DefaultAccessLinkTTL)
	MustProblem(t, e.Do(t, "POST", "/v1/access-links/"+link.URL[strings.LastIndex(link.URL, "/")+1:]+"/approve", owner2Tok, map[string]any{"account_id": client2}),
		http.StatusGone, "access_link_expired", "")
	MustProblem(t, e.Do(t, "POST", p+"/access-links", aliceTok, map[string]any{"user_id": stranger}), http.StatusForbidden, "permission_required", "")
	MustProblem(t, e.Do(t, "POST", p+"/clients/"+other+"/employees", aliceTok, map[string]any{"user_ids": []string{carol}, "role": steward.RoleMember}),
		http.StatusNotFound, "client_not_found", "")

	// 10. The client ends the relationship with client 1 at once (R-PARTNER-11).
	var ended steward.SharedRelationship
	e.MustOK(t, http.StatusOK, "DELETE", "/v1/accounts/"+client1+"/partners/"+partner, owner1Tok, nil, &ended)
	if ended.Status != steward.RelationshipEnded {
		t.Fatalf("ended = %+v", ended)
	}
	partnerCheck(t, e, clock, alice, client1, "crm.contacts.edit", false)
	partnerCheck(t, e, clock, carol, client1, "reports.view", false)
	// Nothing of the partner works in client 1 any more (R-PARTNER-11).
	MustProblem(t, e.Do(t, "POST", p+"/removals", partnerOwnerTok, map[string]any{"account_ids": []string{client1}}), http.StatusNotFound, "client_not_found", "")
	// Every mail went out over SMTP: two approvals, three employees added,
	// and the end to the two whose access it ended.
	smtp.Wait(7, 10*time.Second)
}

// TestPartnerConcurrentApprovals: two super admins approve one link at the
// same moment; exactly one succeeds, the other is 409.
func TestPartnerConcurrentApprovals(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, _ := e.Account(t, steward.AccountPartner)
		c1, o1 := e.Account(t, steward.AccountStandard)
		c2, o2 := e.Account(t, steward.AccountStandard)
		alice := e.User(t, partner, steward.RoleMember)
		aliceTok, o1Tok, o2Tok := e.Token(t, alice), e.Token(t, o1), e.Token(t, o2)
		var link steward.NewAccessLink
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", aliceTok, map[string]any{}, &link)
		path := "/v1/access-links/" + link.URL[strings.LastIndex(link.URL, "/")+1:] + "/approve"
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		start := make(chan struct{})
		for i, c := range []struct{ acc, tok string }{{c1, o1Tok}, {c2, o2Tok}} {
			wg.Go(func() {
				<-start
				res, err := e.Send("POST", path, c.tok, map[string]any{"account_id": c.acc})
				if err == nil {
					statuses[i] = res.Status
				}
			})
		}
		close(start)
		wg.Wait()
		if !(statuses[0] == http.StatusOK && statuses[1] == http.StatusConflict) && !(statuses[0] == http.StatusConflict && statuses[1] == http.StatusOK) {
			t.Fatalf("statuses = %v, want one 200 and one 409", statuses)
		}
	})
}
