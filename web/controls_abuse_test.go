package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestConsoleControlsHidden: a member without the needed permission who
// opens a control's page by URL gets the same 404 as for an unknown id, the
// navigation does not offer it, and a form posted anyway is refused with
// nothing changed.
func TestConsoleControlsHidden(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		box, err := steward.NewSecretBox(make([]byte, 32))
		e.must(err)
		e.svc.Secrets = box
		e.svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"hooks.test"}}
		e.managed()
		e.external()
		hook, _, err := e.svc.CreateWebhook(e.as(e.ada), e.acme.ID, steward.WebhookInput{URL: "https://hooks.test/in", EventTypes: []string{"*"}})
		e.must(err)
		review, _, err := e.svc.StartReview(e.as(e.ada), e.acme.ID, steward.NewReview{ReviewerIDs: []string{e.ada.ID},
			DueAt: time.Now().Add(72 * time.Hour), DefaultDecision: steward.DecisionRemove})
		e.must(err)
		req, _, err := e.svc.RequestAccess(e.as(e.carol), e.acme.ID, steward.NewAccessRequest{UserID: e.carol.ID,
			Permissions: []string{"crm.contacts.view"}, Reason: "reports"})
		e.must(err)
		items, _, err := e.svc.FindReviewItems(e.as(e.ada), e.acme.ID, review.ID, steward.Page{})
		e.must(err)
		elig, _, err := e.svc.CreateEligibility(e.as(e.ada), e.acme.ID, steward.NewEligibility{UserID: e.carol.ID, Role: e.analyst, MaxMinutes: 60, ApprovalRequired: true})
		e.must(err)
		elv, _, err := e.svc.RequestElevation(e.as(e.carol), e.acme.ID, steward.NewElevation{Role: e.analyst, Minutes: 30, Reason: "month end"})
		e.must(err)

		acme := "/accounts/" + e.acme.ID
		bob := e.client()
		e.login(bob, "bob@acme.example", demoPassword)
		_, overview := e.get(bob, acme)
		for _, nav := range []string{">Access reviews<", ">Webhooks<", ">Revocation<", ">Policy<", ">Access requests<", ">Elevation<"} {
			if strings.Contains(overview, nav) {
				t.Errorf("the navigation offers %s to a member without its permission", nav)
			}
		}
		// Ada, signed in once (sign-ins are throttled per address).
		ada := e.client()
		e.login(ada, "ada@acme.example", demoPassword)
		for _, p := range []struct{ name, path, unknown string }{
			{"reviews", acme + "/reviews", ""},
			{"review", acme + "/reviews/" + review.ID, acme + "/reviews/rev_00000000000000000000000000"},
			{"review close", acme + "/reviews/" + review.ID + "/close", acme + "/reviews/rev_00000000000000000000000000/close"},
			{"review export", acme + "/reviews/" + review.ID + "/export", acme + "/reviews/rev_00000000000000000000000000/export"},
			{"webhooks", acme + "/webhooks", ""},
			{"webhook", acme + "/webhooks/" + hook.ID, acme + "/webhooks/whk_00000000000000000000000000"},
			{"webhook delete", acme + "/webhooks/" + hook.ID + "/delete", acme + "/webhooks/whk_00000000000000000000000000/delete"},
			{"access requests", acme + "/access-requests", ""},
			{"access request", acme + "/access-requests/" + req.ID, acme + "/access-requests/req_00000000000000000000000000"},
			{"approve", acme + "/access-requests/" + req.ID + "/approve", acme + "/access-requests/req_00000000000000000000000000/approve"},
			{"elevation", acme + "/eligibilities", ""},
			{"eligibility remove", acme + "/eligibilities/" + elig.ID + "/delete", acme + "/eligibilities/elg_00000000000000000000000000/delete"},
			{"elevation approve", acme + "/elevations/" + elv.ID + "/approve", acme + "/elevations/elv_00000000000000000000000000/approve"},
			{"elevation end", acme + "/elevations/" + elv.ID + "/end", acme + "/elevations/elv_00000000000000000000000000/end"},
			{"revocations", acme + "/revocations", ""},
			{"revocation confirm", acme + "/revocations/confirm?home_account_id=" + e.agency.ID, acme + "/revocations/confirm?home_account_id=acc_00000000000000000000000000"},
			{"revoke user", acme + "/users/" + e.ada.ID + "/revoke", acme + "/users/usr_00000000000000000000000000/revoke"},
		} {
			res, body := e.get(bob, p.path)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s by URL without the permission: status %d, want 404", p.name, res.StatusCode)
				continue
			}
			if p.unknown != "" {
				ures, ubody := e.get(bob, p.unknown)
				if ures.StatusCode != http.StatusNotFound || ubody != body {
					t.Errorf("%s: a known id's page (without the permission) differs from an unknown id's (status %d)", p.name, ures.StatusCode)
				}
			}
			// Ada holds the permission: an unknown id is the same 404 to her.
			if p.unknown != "" && !strings.Contains(p.name, "revocation") {
				if ures, ubody := e.get(ada, p.unknown); ures.StatusCode != http.StatusNotFound || !strings.Contains(ubody, "There is no page at this address.") {
					t.Errorf("%s: an unknown id: status %d", p.name, ures.StatusCode)
				}
			}
		}

		// Forms posted without the permission are refused; nothing changes.
		for _, p := range []struct {
			name, path string
			form       url.Values
		}{
			{"policy", acme + "/policy", url.Values{"allowed_partners": {"other.example"}, "never_delegable": {"reports.edit"}}},
			{"start review", acme + "/reviews", url.Values{"reviewer_ids": {e.bob.ID}, "due_at": {time.Now().AddDate(0, 0, 3).Format("2006-01-02")}, "default_decision": {"remove"}}},
			{"decide", acme + "/reviews/" + review.ID + "/items/" + items[0].ID, url.Values{"decision": {"keep"}}},
			{"close review", acme + "/reviews/" + review.ID + "/close", nil},
			{"approve", acme + "/access-requests/" + req.ID + "/approve", nil},
			{"decline", acme + "/access-requests/" + req.ID + "/decline", nil},
			{"revoke home account", acme + "/revocations", url.Values{"home_account_id": {e.agency.ID}}},
			{"revoke user", acme + "/users/" + e.ada.ID + "/revoke", nil},
			{"add webhook", acme + "/webhooks", url.Values{"url": {"https://hooks.test/x"}, "event_types": {"*"}}},
			{"edit webhook", acme + "/webhooks/" + hook.ID, url.Values{"url": {"https://hooks.test/x"}, "event_types": {"*"}}},
			{"disable webhook", acme + "/webhooks/" + hook.ID + "/status", nil},
			{"delete webhook", acme + "/webhooks/" + hook.ID + "/delete", nil},
			{"make eligible", acme + "/eligibilities", url.Values{"user_id": {e.bob.ID}, "role": {e.analyst}, "max_minutes": {"60"}, "action": {"save"}}},
			{"preview eligibility", acme + "/eligibilities", url.Values{"user_id": {e.bob.ID}, "role": {e.analyst}, "max_minutes": {"60"}, "action": {"preview"}}},
			{"remove eligibility", acme + "/eligibilities/" + elig.ID + "/delete", nil},
			{"approve elevation", acme + "/elevations/" + elv.ID + "/approve", nil},
			{"end elevation", acme + "/elevations/" + elv.ID + "/end", nil},
		} {
			if res, _ := e.post(bob, p.path, p.form); res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
				t.Errorf("%s posted without the permission: status %d, want 403 or 404", p.name, res.StatusCode)
			}
		}
		if pol, err := e.svc.FindPolicy(e.as(e.ada), e.acme.ID); err != nil || !pol.Empty() {
			t.Errorf("policy changed: %+v, %v", pol, err)
		}
		if rs, _, err := e.svc.FindReviews(e.as(e.ada), e.acme.ID, steward.Page{}); err != nil || len(rs) != 1 || rs[0].Status != steward.ReviewOpen {
			t.Errorf("reviews changed: %d, %v", len(rs), err)
		}
		if it, _, err := e.svc.FindReviewItems(e.as(e.ada), e.acme.ID, review.ID, steward.Page{}); err != nil || it[0].Decision != "" {
			t.Errorf("an item was decided: %v", err)
		}
		if r, err := e.svc.FindAccessRequest(e.as(e.ada), e.acme.ID, req.ID); err != nil || r.Status != steward.RequestPending {
			t.Errorf("the request changed: %+v, %v", r, err)
		}
		if hs, _, err := e.svc.FindWebhooks(e.as(e.ada), e.acme.ID, steward.Page{}); err != nil || len(hs) != 1 || hs[0].Status != steward.WebhookActive || hs[0].URL != "https://hooks.test/in" {
			t.Errorf("webhooks changed: %d, %v", len(hs), err)
		}
		if els, _, err := e.svc.FindEligibilities(e.as(e.ada), steward.EligibilityFilter{AccountID: e.acme.ID}); err != nil || len(els) != 1 || els[0].ID != elig.ID {
			t.Errorf("eligibilities changed: %d, %v", len(els), err)
		}
		if es, _, err := e.svc.FindElevations(e.as(e.ada), steward.ElevationFilter{AccountID: e.acme.ID}); err != nil || len(es) != 1 || es[0].Status != steward.ElevationPending {
			t.Errorf("the elevation changed: %+v, %v", es, err)
		}
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed || !e.check(e.ada.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Error("a refused revocation took access")
		}
		if e.check(e.carol.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Error("a refused approval granted the request")
		}
	})
}

// TestConsolePolicyLastSuperAdminNamed: a policy that would give the
// account's last lasting super admin an end date is refused (409
// last_super_admin, R-SUPER-1 with R-GUARD-4); the page says so at the
// field that caused it and nothing changes.
func TestConsolePolicyLastSuperAdminNamed(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.managed()
		_, _, err := e.svc.ChangeMemberRole(e.as(e.ada), e.acme.ID, e.pat.ID, steward.RoleSuperAdmin)
		e.must(err)
		_, _, err = e.svc.ChangeMemberRole(e.as(e.pat), e.acme.ID, e.ada.ID, steward.RoleMember)
		e.must(err)
		pat := e.client()
		e.login(pat, "pat@brightside.example", demoPassword)
		res, body := e.post(pat, "/accounts/"+e.acme.ID+"/policy", url.Values{"max_partner_days": {"30"}, "action": {"save"}})
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "Maximum partner days would give the account&#39;s last super admin an end date") {
			t.Errorf("status %d, want 409 naming the field:\n%s", res.StatusCode, body)
		}
		if pol, err := e.svc.FindPolicy(e.as(e.pat), e.acme.ID); err != nil || !pol.Empty() {
			t.Errorf("the refused policy was saved: %+v, %v", pol, err)
		}
		if !e.check(e.pat.ID, e.acme.ID, "account.super_admins.manage").Allowed {
			t.Error("the last super admin lost its role")
		}
	})
}

// TestConsolePolicyPreviewListsPartnerEnds: the preview of a tighter
// max_partner_days names the partner whose access would end sooner and
// when (R-PREVIEW-1 with R-GUARD-4, R-LIFE-1), saves nothing, and the date
// it shows is the one saving then stores.
func TestConsolePolicyPreviewListsPartnerEnds(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.managed()
		ada := e.client()
		e.login(ada, "ada@acme.example", demoPassword)
		res, body := e.post(ada, "/accounts/"+e.acme.ID+"/policy", url.Values{"max_partner_days": {"30"}, "action": {"preview"}})
		const shown = "Brightside Digital's access will end on "
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Partners whose access would end sooner") || !strings.Contains(body, shown) {
			t.Fatalf("status %d, want the preview naming Brightside Digital:\n%s", res.StatusCode, body)
		}
		if pol, err := e.svc.FindPolicy(e.as(e.ada), e.acme.ID); err != nil || !pol.Empty() {
			t.Fatalf("the preview saved the policy: %+v, %v", pol, err)
		}
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("the preview ended the partner's access")
		}
		ch, _, err := e.svc.UpdatePolicy(e.as(e.ada), e.acme.ID, steward.PolicyUpdate{MaxPartnerDays: steward.Optional[int]{Set: true, Value: 30}})
		e.must(err)
		ps, _, err := e.svc.FindPartners(e.as(e.ada), e.acme.ID, steward.Page{Limit: steward.MaxPageLimit})
		e.must(err)
		if len(ps) != 1 || ps[0].EndsAt == nil || len(ch.Relationships) != 1 {
			t.Fatalf("after saving: partners %+v, relationships_clipped %v", ps, ch.Relationships)
		}
		if want := shown + ps[0].EndsAt.UTC().Format("2 Jan 2006 15:04 UTC") + " instead of having no end date."; !strings.Contains(body, want) {
			t.Errorf("the preview does not say %q:\n%s", want, body)
		}
	})
}

// TestConsoleMyRequests: an external user without the list permissions sees
// its own access requests under My requests (R-REQUEST-1), whatever their
// status, and none of another requester's.
func TestConsoleMyRequests(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.managed()
		e.external()
		ask := func(u *steward.User, perm, reason string) *steward.AccessRequest {
			r, _, err := e.svc.RequestAccess(e.as(u), e.acme.ID, steward.NewAccessRequest{UserID: u.ID, Permissions: []string{perm}, Reason: reason})
			e.must(err)
			return r
		}
		declined := ask(e.carol, "crm.contacts.edit", "contacts")
		_, _, err := e.svc.DeclineAccessRequest(e.as(e.ada), e.acme.ID, declined.ID)
		e.must(err)
		pending := ask(e.carol, "crm.contacts.view", "reports")
		other, _, err := e.svc.RequestAccess(e.as(e.pat), e.acme.ID, steward.NewAccessRequest{UserID: e.sam.ID, Permissions: []string{"reports.edit"}, Reason: "rota"})
		e.must(err)

		carol := e.client()
		e.login(carol, "carol@carol.example", demoPassword)
		res, body := e.get(carol, "/accounts/"+e.acme.ID+"/access-requests")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		mine := body[strings.Index(body, "My requests"):]
		for _, r := range []*steward.AccessRequest{declined, pending} {
			if !strings.Contains(mine, "/access-requests/"+r.ID) {
				t.Errorf("My requests lacks %s (%s)", r.ID, r.Status)
			}
		}
		if strings.Contains(body, other.ID) {
			t.Error("My requests shows another requester's request")
		}
		if !strings.Contains(mine, "Declined") || !strings.Contains(mine, "Pending") {
			t.Error("My requests does not show each request's status")
		}
	})
}
