package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// permLabel is the visible label of a permission's checkbox: its key and description.
func (e *env) permLabel(key string) string {
	for _, p := range e.svc.Catalogue.Permissions() {
		if p.Key == key {
			return key + " " + p.Description
		}
	}
	e.t.Fatalf("no permission %s in the catalogue", key)
	return ""
}

// managed makes Pat a partner admin of Acme through Brightside, with Sam as
// a partner employee there.
func (e *env) managed() {
	e.t.Helper()
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	_, _, err = e.svc.ApproveAccessLink(e.as(e.ada), tokenOf(link.URL), e.acme.ID)
	e.must(err)
	_, _, err = e.svc.AddEmployees(e.as(e.pat), e.agency.ID, e.acme.ID, []string{e.sam.ID}, steward.RoleMember)
	e.must(err)
}

// external makes Carol an external user of Acme as Analyst.
func (e *env) external() {
	e.t.Helper()
	_, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: e.svc.Consent().Version}})
	e.must(err)
	var link string
	for deadline := time.Now().Add(10 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range e.smtp.Mails() {
			if len(m.To) == 1 && m.To[0] == e.carol.Email {
				link = linkRE.FindString(m.Body)
			}
		}
	}
	if link == "" {
		e.t.Fatal("no invitation mailed to Carol")
	}
	_, _, err = e.svc.AcceptInvitation(e.as(e.carol), tokenOf(link))
	e.must(err)
}

// clear empties the control labelled label.
func clear(label string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.evaluate(%s, document, null,
			XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.value = ""; return true })()`, jsq(byLabel(label))))(ctx, t)
		return err
	})
}

func signedIn(t *testing.T, e *env, b context.Context, email, path, heading string) context.Context {
	t.Helper()
	ctx := tab(t, b)
	run(t, ctx, chromedp.Navigate(e.URL+path), signIn(email, demoPassword), waitHeading(heading))
	return ctx
}

// TestBrowserPolicy sets Acme's policy by the page: a bad maximum is named,
// a preview shows before saving, and after saving a partner outside the
// allowed ones is refused and an invitation with a never-delegable
// permission is refused; the check API agrees (R-GUARD-1, R-GUARD-3, R-GUARD-4).
func TestBrowserPolicy(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.external()
		b := newBrowser(t)
		ada := signedIn(t, e, b, "ada@acme.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, ada, click("Policy"), waitHeading("Policy"))
		checkPage(t, ada, "policy")

		const partners = "Allowed partners (partner account ids or email domains, one per line; empty allows every partner)"
		const partnerDays = "Maximum partner days (empty for no maximum)"
		run(t, ada, fill(partnerDays, "0"), click("Save policy"),
			waitText("Maximum partner days must be a whole number of days from 1 to 36500"))
		checkPage(t, ada, "policy-refused")

		run(t, ada, clear(partnerDays), fill(partners, "other.example"), check(e.permLabel("reports.edit")),
			click("Preview"), waitText("Preview: what saving would change"))
		checkPage(t, ada, "policy-preview")
		if p, err := e.svc.FindPolicy(e.as(e.ada), e.acme.ID); err != nil || !p.Empty() {
			t.Fatalf("the preview saved the policy: %+v, %v", p, err)
		}
		if !e.check(e.carol.ID, e.acme.ID, "reports.edit").Allowed {
			t.Fatal("the preview took reports.edit from the external user")
		}
		run(t, ada, click("Save policy"), waitText("The policy was saved."), waitText("carol@carol.example"), waitText("lost reports.edit"))
		if res := e.check(e.carol.ID, e.acme.ID, "reports.edit"); res.Allowed {
			t.Errorf("after the policy, the external user holds reports.edit: %+v", res.Reason)
		}
		if !e.check(e.carol.ID, e.acme.ID, "reports.view").Allowed {
			t.Error("the policy took reports.view, which it does not name")
		}

		// A partner outside the allowed ones: its access link is refused.
		link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
		e.must(err)
		run(t, ada, chromedp.Navigate(link.URL), waitHeading("Access request from Brightside Digital"),
			chromedp.SetValue(byLabel("Account to give access to"), e.acme.ID), click("Approve"),
			waitText("does not allow this partner"))
		if e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Error("a partner outside allowed_partners got access")
		}

		// Inviting into a role with a never-delegable permission is refused.
		run(t, ada, chromedp.Navigate(e.URL+"/accounts/"+e.acme.ID+"/roles/"+e.analyst+"/invite"), waitHeading("Invite external users as Analyst"),
			check("I agree"), fill("Email addresses, separated by commas", "dave@carol.example"), click("Send invitations"),
			waitText("reports.edit"))
		if invs, _, err := e.svc.FindInvitations(e.as(e.ada), steward.InvitationFilter{AccountID: e.acme.ID, Status: steward.InvitationPending}); err != nil || len(invs) != 0 {
			t.Errorf("an invitation with a never-delegable permission was sent: %d, %v", len(invs), err)
		}
	})
}

// TestBrowserAccessRequest: an external user asks for a permission it lacks;
// the super admin sees the difference approval adds, then approves; the
// check API agrees at each step (R-REQUEST-1, R-REQUEST-2, R-PREVIEW-1).
func TestBrowserAccessRequest(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.external()
		b := newBrowser(t)
		carol := signedIn(t, e, b, "carol@carol.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, carol, click("Access requests"), waitHeading("Access requests"), waitText("Ask for more access"))
		checkPage(t, carol, "access-requests-ask")
		run(t, carol, click("Send request"), waitText("Reason must be"))
		run(t, carol, check(e.permLabel("crm.contacts.view")), fill("Reason", "I prepare the quarterly contact report."),
			click("Send request"), waitHeading("Access request"), waitText("Your request was sent."), waitText("Pending"))
		checkPage(t, carol, "access-request")
		if e.check(e.carol.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("asking granted the permission")
		}

		ada := signedIn(t, e, b, "ada@acme.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, ada, click("Access requests"), waitHeading("Access requests"), waitText("I prepare the quarterly contact report."))
		checkPage(t, ada, "access-requests")
		run(t, ada, click("Review and approve the request for Carol Danvers (carol@carol.example)"),
			waitHeading("Approve the access request?"), waitText("would gain"))
		if text := mainText(t, ada); !strings.Contains(text, "crm.contacts.view") {
			t.Errorf("the approval's preview does not show the difference:\n%s", text)
		}
		if e.check(e.carol.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("the approval's preview granted the permission")
		}
		checkPage(t, ada, "access-request-approve")
		run(t, ada, click("Approve and add these permissions"), waitHeading("Access requests"), waitText("The request was approved"))
		res := e.check(e.carol.ID, e.acme.ID, "crm.contacts.view")
		if !res.Allowed {
			t.Errorf("after approval, check = %+v", res.Reason)
		}
		if e.check(e.carol.ID, e.acme.ID, "crm.contacts.edit").Allowed {
			t.Error("approval added more than the difference")
		}
		run(t, carol, chromedp.Reload(), waitHeading("Access request"), waitText("Approved"))

		// A second request, declined after its confirmation: nothing is added.
		run(t, carol, click("Access requests"), waitHeading("Access requests"), check(e.permLabel("crm.contacts.edit")),
			fill("Reason", "Fix contact addresses."), click("Send request"), waitText("Your request was sent."))
		run(t, ada, click("Access requests"), waitHeading("Access requests"), waitText("Fix contact addresses."),
			click("Decline the request for Carol Danvers (carol@carol.example)…"), waitHeading("Decline the access request?"))
		checkPage(t, ada, "access-request-decline")
		run(t, ada, click("Decline request"), waitHeading("Access requests"), waitText("The request was declined."), waitText("No request is waiting."))
		if e.check(e.carol.ID, e.acme.ID, "crm.contacts.edit").Allowed {
			t.Error("a declined request granted its permission")
		}
	})
}

// TestBrowserAccessReview starts a review, marks the partner admin for
// removal with a note, sees how many removals closing applies, closes it;
// the check API agrees (R-REVIEW-1..3).
func TestBrowserAccessReview(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.managed()
		b := newBrowser(t)
		ada := signedIn(t, e, b, "ada@acme.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, ada, click("Access reviews"), waitHeading("Access reviews"), waitText("No review yet."))
		checkPage(t, ada, "reviews")
		due := time.Now().UTC().AddDate(0, 0, 14).Format("2006-01-02")
		run(t, ada, fill("Due date (the review closes by itself at the end of that day, UTC)", due), click("Start review"),
			waitHeading("Access review"), waitText("The review was started."), waitText("pat@brightside.example"), waitText("sam@brightside.example"))
		checkPage(t, ada, "review")

		run(t, ada, chromedp.SetValue(byLabel("Decision on pat@brightside.example"), "remove"),
			fill("Note on pat@brightside.example", "Left the agency"), click("Save decision on pat@brightside.example"),
			waitText("pat@brightside.example: remove."))
		run(t, ada, chromedp.SetValue(byLabel("Decision on sam@brightside.example"), "keep"), click("Save decision on sam@brightside.example"),
			waitText("sam@brightside.example: keep."))
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("a decision removed access before closing")
		}
		run(t, ada, click("Close review…"), waitHeading("Close the review?"), waitText("Closing applies 1 removal"), waitText("pat@brightside.example"))
		checkPage(t, ada, "review-close")
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("the closing's confirmation removed access")
		}
		run(t, ada, click("Close review and apply 1 removal"), waitHeading("Access review"), waitText("The review is closed."), waitText("1 removed"))
		if res := e.check(e.pat.ID, e.acme.ID, "crm.contacts.view"); res.Allowed {
			t.Errorf("after closing, the removed partner admin is allowed: %+v", res.Reason)
		}
		if !e.check(e.ada.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Error("closing removed the super admin")
		}
		checkPage(t, ada, "review-closed")
		csv := get(t, ada, chromedp.Evaluate[string](`fetch(document.querySelector("a[download]").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
		if !strings.Contains(csv, "pat@brightside.example") || !strings.Contains(csv, "Left the agency") || !strings.Contains(csv, "removed") {
			t.Errorf("the CSV export lacks the decision:\n%s", csv)
		}
		run(t, ada, click("Back to access reviews"), waitHeading("Access reviews"), waitText("Closed"))
		checkPage(t, ada, "reviews-list")
	})
}

// TestBrowserRevocation revokes Brightside's access to Acme after a page
// that lists what ends, and revokes a user of Acme everywhere after its
// confirmation; the check API agrees (R-REVOKE-1, R-REVOKE-2).
func TestBrowserRevocation(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.managed()
		_, _, err := e.svc.ChangeMemberRole(e.as(e.ada), e.acme.ID, e.bob.ID, e.analyst)
		e.must(err)
		b := newBrowser(t)
		ada := signedIn(t, e, b, "ada@acme.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, ada, click("Revocation"), waitHeading("Revoke a home account"))
		checkPage(t, ada, "revocation")
		run(t, ada, fill("Or another home account's id (acc_…)", e.firm.ID), click("Review what ends…"),
			waitText("Home account has no access here"))
		run(t, ada, clear("Or another home account's id (acc_…)"), chromedp.SetValue(byLabel("Partner"), e.agency.ID), click("Review what ends…"),
			waitHeading("Revoke this home account's access?"), waitText("the partner relationship with Brightside Digital"),
			waitText("pat@brightside.example"), waitText("sam@brightside.example"))
		checkPage(t, ada, "revocation-confirm")
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("the confirmation page revoked access")
		}
		run(t, ada, click("Revoke access now"), waitHeading("Revoke a home account"), waitText("Revoked: 2 memberships ended and the partner relationship ended."))
		for _, u := range []*steward.User{e.pat, e.sam} {
			if res := e.check(u.ID, e.acme.ID, "crm.contacts.view"); res.Allowed {
				t.Errorf("after revocation, %s is allowed: %+v", u.Email, res.Reason)
			}
		}

		// A user of Acme, revoked everywhere by its home account's super admin.
		if !e.check(e.bob.ID, e.acme.ID, "reports.view").Allowed {
			t.Fatal("Bob as Analyst is refused reports.view")
		}
		run(t, ada, click("Users"), waitHeading("Users"), click("Bob Smith"), waitHeading("Bob Smith"),
			click("Revoke this user everywhere…"), waitHeading("Revoke Bob Smith everywhere?"), waitText("every API token"))
		checkPage(t, ada, "revoke-user")
		if !e.check(e.bob.ID, e.acme.ID, "reports.view").Allowed {
			t.Fatal("the confirmation page revoked Bob")
		}
		run(t, ada, click("Revoke Bob Smith everywhere"), waitHeading("Bob Smith"), waitText("was revoked everywhere"))
		if res := e.check(e.bob.ID, e.acme.ID, "reports.view"); res.Allowed {
			t.Errorf("after revoking Bob everywhere, check = %+v", res.Reason)
		}
	})
}

// TestBrowserWebhooks adds an endpoint (a refused URL named first), reads
// its secret once, sees a delivery of a change and resends it, disables and
// deletes the endpoint after confirming (R-HOOK-1..3).
func TestBrowserWebhooks(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		box, err := steward.NewSecretBox(make([]byte, 32))
		e.must(err)
		e.svc.Secrets = box
		e.svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"hooks.test"}}
		b := newBrowser(t)
		ada := signedIn(t, e, b, "ada@acme.example", "/accounts/"+e.acme.ID, "Acme Corp")
		run(t, ada, click("Webhooks"), waitHeading("Webhooks"), waitText("No endpoint yet."))
		checkPage(t, ada, "webhooks")
		const types = "Event types (audit actions such as member.role_changed, separated by commas; * for every event)"
		run(t, ada, fill("URL (https)", "http://hooks.test/in"), fill(types, "member.role_changed"), click("Add endpoint"),
			waitText("URL must use https"))
		run(t, ada, fill("URL (https)", "https://hooks.test/in"), click("Add endpoint"), waitHeading("Webhook added"), waitText("shown only once"))
		secret := get(t, ada, chromedp.Value(byLabel("Signing secret")))
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret = %q, want whsec_…", secret)
		}
		checkPage(t, ada, "webhook-created")
		run(t, ada, click("Go to the endpoint and its deliveries"), waitHeading("Webhook"), waitText("No delivery yet."))
		if strings.Contains(get(t, ada, chromedp.Evaluate[string](`document.documentElement.outerHTML`)), secret) {
			t.Error("the endpoint's page shows its secret again")
		}

		// A change of a matching type is delivered: the delivery is listed.
		_, _, err = e.svc.ChangeMemberRole(e.as(e.ada), e.acme.ID, e.bob.ID, e.analyst)
		e.must(err)
		if !e.check(e.bob.ID, e.acme.ID, "reports.view").Allowed {
			t.Fatal("the role change did not apply")
		}
		run(t, ada, chromedp.Reload(), waitHeading("Webhook"), waitText("member.role_changed"))
		checkPage(t, ada, "webhook")
		run(t, ada, clickXPath(`//button[starts-with(normalize-space(.), "Resend member.role_changed")]`), waitText("The delivery was queued again"))
		hooks, _, err := e.svc.FindWebhooks(e.as(e.ada), e.acme.ID, steward.Page{})
		e.must(err)
		ds, _, err := e.svc.FindDeliveries(e.as(e.ada), e.acme.ID, hooks[0].ID, steward.Page{})
		e.must(err)
		if len(ds) != 2 || ds[0].MessageID != ds[1].MessageID {
			t.Errorf("after resending, deliveries = %d, want 2 with the same message id", len(ds))
		}

		run(t, ada, click("Disable…"), waitHeading("Disable the webhook?"))
		checkPage(t, ada, "webhook-disable")
		run(t, ada, click("Disable webhook"), waitHeading("Webhook"), waitText("The webhook was disabled."))
		if h, err := e.svc.FindWebhook(e.as(e.ada), e.acme.ID, hooks[0].ID); err != nil || h.Status != steward.WebhookDisabled {
			t.Errorf("after disabling, webhook = %+v, %v", h, err)
		}
		run(t, ada, click("Webhooks"), waitHeading("Webhooks"), waitText("https://hooks.test/in"))
		checkPage(t, ada, "webhooks-list")
		run(t, ada, click("https://hooks.test/in"), waitHeading("Webhook"), click("Delete…"), waitHeading("Delete the webhook?"))
		checkPage(t, ada, "webhook-delete")
		run(t, ada, click("Delete webhook"), waitHeading("Webhooks"),
			waitText("The webhook was deleted."), waitText("No endpoint yet."))
	})
}
