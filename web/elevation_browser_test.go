package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// TestBrowserElevation: an admin makes Bob eligible for Analyst by the page,
// previewing first; Bob activates it with a reason (too long is refused,
// naming the field); Bob's own approval is refused on the page; another
// admin approves after the approval's preview; the check allows the role's
// permission and names the elevation; Bob ends it early and the check
// denies (R-ELEVATE-1, R-ELEVATE-2).
func TestBrowserElevation(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.user(e.acme, "Erin Ortiz", "erin@acme.example", steward.RoleSuperAdmin)
		if e.check(e.bob.ID, e.acme.ID, "reports.edit").Allowed {
			t.Fatal("Bob holds reports.edit before any elevation")
		}
		b := newBrowser(t)
		acme := "/accounts/" + e.acme.ID

		ada := signedIn(t, e, b, "ada@acme.example", acme, "Acme Corp")
		run(t, ada, click("Elevation"), waitHeading("Elevation"), waitText("No member is eligible for a role yet."))
		run(t, ada, chromedp.SetValue(byLabel("Member"), e.bob.ID), chromedp.SetValue(byLabel("Role"), e.analyst),
			fill("Max minutes (1 to 480)", "600"), click("Make eligible"), waitText("Max minutes must be 1 to 480"))
		checkPage(t, ada, "elevation-refused")
		run(t, ada, fill("Max minutes (1 to 480)", "60"), click("Preview"),
			waitText("Preview: what the member would hold while elevated"), waitText("reports.edit"))
		checkPage(t, ada, "elevation-preview")
		if els, _, err := e.svc.FindEligibilities(e.as(e.ada), steward.EligibilityFilter{AccountID: e.acme.ID}); err != nil || len(els) != 0 {
			t.Fatalf("the preview made the member eligible: %d, %v", len(els), err)
		}
		run(t, ada, click("Make eligible"), waitText("Bob Smith (bob@acme.example) is now eligible for Analyst, up to 60 minutes at a time, with approval."))
		checkPage(t, ada, "elevation")

		bob := signedIn(t, e, b, "bob@acme.example", acme, "Acme Corp")
		run(t, bob, click("My elevation"), waitHeading("My elevation"), waitText("up to 60 minutes, after another admin's approval"))
		run(t, bob, fill("Minutes (1 to 60)", "90"), fill("Reason", "Fix the quarterly report before the board meeting."),
			click("Activate Analyst"), waitText("Minutes must be at most 60"))
		run(t, bob, fill("Minutes (1 to 60)", "30"), click("Activate Analyst"),
			waitText("Your request to hold Analyst waits for another admin's approval"), waitText("Pending"))
		checkPage(t, bob, "my-elevation")
		if e.check(e.bob.ID, e.acme.ID, "reports.edit").Allowed {
			t.Fatal("a pending elevation holds")
		}
		elvs, _, err := e.svc.FindElevations(e.as(e.ada), steward.ElevationFilter{AccountID: e.acme.ID, Status: steward.ElevationPending})
		e.must(err)
		if len(elvs) != 1 {
			t.Fatalf("pending elevations: %d", len(elvs))
		}
		// Bob cannot approve his own: the page says why and nothing holds.
		run(t, bob, chromedp.Navigate(e.URL+acme+"/elevations/"+elvs[0].ID+"/approve"), waitHeading("Approve the elevation?"),
			waitText("An elevation is approved by another member than the one it elevates."))
		checkPage(t, bob, "elevation-approve-own")
		if strings.Contains(mainText(t, bob), "Approve elevation") {
			t.Error("the requester is offered the approval of its own elevation")
		}
		if e.check(e.bob.ID, e.acme.ID, "reports.edit").Allowed {
			t.Fatal("the requester's own approval took effect")
		}

		erin := signedIn(t, e, b, "erin@acme.example", acme, "Acme Corp")
		run(t, erin, click("Elevation"), waitHeading("Elevation"), waitText("Fix the quarterly report before the board meeting."),
			click("Review and approve the elevation of Bob Smith (bob@acme.example)"), waitHeading("Approve the elevation?"), waitText("would gain"))
		if text := mainText(t, erin); !strings.Contains(text, "reports.edit") {
			t.Errorf("the approval's preview does not show what it adds:\n%s", text)
		}
		checkPage(t, erin, "elevation-approve")
		run(t, erin, click("Approve elevation"), waitHeading("Elevation"), waitText("The elevation was approved: Bob Smith (bob@acme.example) holds Analyst until"))
		res := e.check(e.bob.ID, e.acme.ID, "reports.edit")
		if !res.Allowed || res.Reason.Elevation == nil || res.Reason.Elevation.ID != elvs[0].ID {
			t.Fatalf("after approval, check = %+v, %+v", res.Allowed, res.Reason)
		}

		// The overview shows the elevation and its end; Bob ends it early.
		run(t, bob, click("Overview"), waitHeading("Acme Corp"), waitText("Elevated now"), waitText(elvs[0].ID))
		checkPage(t, bob, "account-elevated")
		run(t, bob, click("My elevation"), waitHeading("My elevation"), waitText("Active"),
			click("End now your elevation to Analyst…"), waitHeading("End the elevation now?"))
		checkPage(t, bob, "elevation-end")
		run(t, bob, click("End elevation now"), waitHeading("My elevation"), waitText("The elevation ended: Analyst no longer holds."), waitText("Ended"))
		if res := e.check(e.bob.ID, e.acme.ID, "reports.edit"); res.Allowed {
			t.Errorf("after ending the elevation, check = %+v", res.Reason)
		}
		run(t, bob, click("Overview"), waitHeading("Acme Corp"))
		if strings.Contains(mainText(t, bob), "Elevated now") {
			t.Error("the overview still shows an ended elevation")
		}
	})
}
