package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// TestBrowserEveryPage runs axe-core, at desktop and phone width, on the
// pages the walk-throughs pass without stopping: lists, details and
// confirmations of both sides, the removal wizard's first step, linking an
// employee to a client by search, declining an access link, an unknown link,
// the operator's sign-in and the page for an unknown address.
func TestBrowserEveryPage(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		// Brightside manages Acme, with Sam as an employee there; another
		// access link waits; an invitation into Analyst is pending.
		link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
		e.must(err)
		_, _, err = e.svc.ApproveAccessLink(e.as(e.ada), link.URL[strings.LastIndexByte(link.URL, '/')+1:], e.acme.ID)
		e.must(err)
		_, _, err = e.svc.AddEmployees(e.as(e.pat), e.agency.ID, e.acme.ID, []string{e.sam.ID}, steward.RoleMember)
		e.must(err)
		pending, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.sam.ID)
		e.must(err)
		invs, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{"lee@example.com"},
			Consent: steward.ConsentInput{Accepted: true, Version: e.svc.Consent().Version}})
		e.must(err)

		b := newBrowser(t)
		acme, agency := e.URL+"/accounts/"+e.acme.ID, e.URL+"/accounts/"+e.agency.ID
		anon := tab(t, b)
		run(t, anon, chromedp.Navigate(e.URL+"/operator"), waitHeading("Operator sign-in"))
		checkPage(t, anon, "operator-sign-in")

		ada := tab(t, b)
		run(t, ada, chromedp.Navigate(e.URL+"/"), signIn("ada@acme.example", demoPassword), waitHeading("Your accounts"))
		for _, p := range []struct{ name, path, heading string }{
			{"roles", acme + "/roles", "Roles"},
			{"role", acme + "/roles/" + e.analyst, "Role Analyst"},
			{"confirm-delete-role", acme + "/roles/" + e.analyst + "/delete", ""},
			{"confirm-revoke-invitation", acme + "/invitations/" + invs[0].ID + "/revoke", ""},
			{"member", acme + "/users/" + e.bob.ID, "Bob Smith"},
			{"confirm-remove-member", acme + "/users/" + e.bob.ID + "/remove", ""},
			{"confirm-decline-access-link", pending.URL + "/decline", ""},
			{"access-link-unknown", e.URL + "/access-links/" + strings.Repeat("x", 40), "This access link is not known"},
			{"not-found", e.URL + "/no/such/page", "Not found"},
		} {
			wait := chromedp.WaitVisible(`//h1`)
			if p.heading != "" {
				wait = waitHeading(p.heading)
			}
			run(t, ada, chromedp.Navigate(p.path), wait)
			checkPage(t, ada, p.name)
		}

		pat := tab(t, b)
		run(t, pat, chromedp.Navigate(e.URL+"/"), signIn("pat@brightside.example", demoPassword), waitHeading("Your accounts"))
		for _, p := range []struct{ name, path, heading string }{
			{"clients", agency + "/clients", "Clients"},
			{"removal-clients", agency + "/removals?user_ids=" + e.sam.ID, "Remove from clients"},
			{"link-client", agency + "/employees/" + e.sam.ID + "/link", "Link Sam Okafor to a client"},
		} {
			run(t, pat, chromedp.Navigate(p.path), waitHeading(p.heading))
			checkPage(t, pat, p.name)
		}
		// Linking by search: the search finds the client, the link is refused
		// with its reason shown on the same page (Sam is there through Brightside).
		run(t, pat, fill("Search", "acme"), click("Search clients"), waitText("Link to Acme Corp"), click("Link to Acme Corp"),
			waitHeading("Link Sam Okafor to a client"), chromedp.WaitVisible(`//main//p[@role="alert"]`))
	})
}
