package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// TestBrowserPartnerSide walks the agency's owner through the Client Access
// Manager: get an access link (approved by the client), see the client with
// its alias and real name, add an employee, see the employee's verified
// mark and client count, and remove the employee through the wizard that
// shows the assets first and reassigns them. The check API agrees at each step.
func TestBrowserPartnerSide(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		pat := tab(t, b)
		clients := e.URL + "/accounts/" + e.agency.ID + "/clients"
		run(t, pat, chromedp.Navigate(clients), signIn("pat@brightside.example", demoPassword), waitHeading("Clients"),
			waitText("No clients yet"))
		checkPage(t, pat, "clients-empty")

		// Get access link: the dialog shows the link once, with a Copy button.
		run(t, pat, clickXPath(`//summary[normalize-space(.)="Get access link"]`), click("Create access link"), waitHeading("Access link"),
			chromedp.WaitVisible(`//button[normalize-space(.)="Copy"]`))
		url := get(t, pat, chromedp.Evaluate[string](`document.getElementById("access-link").value`))
		checkPage(t, pat, "access-link-created")
		ada := tab(t, b)
		run(t, ada, chromedp.Navigate(url), signIn("ada@acme.example", demoPassword), waitHeading("Access request from Brightside Digital"),
			click("Approve"), waitText("Access approved"))
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("after approval, the partner admin is refused")
		}

		// The Clients tab, filtered, then the client's details and alias.
		run(t, pat, chromedp.Navigate(clients), waitHeading("Clients"), fill("Search", "acme"),
			chromedp.SetValue(byLabel("Access type"), "partner_admin"), click("Filter clients"), waitText("Details of Acme Corp"))
		get(t, pat, chromedp.Evaluate[bool](`window.samePage = true`))
		run(t, pat, chromedp.SetValue(byLabel("Access type"), "none"), click("Filter clients"), waitText("No client matches."))
		// htmx swapped the results in place (the page was not reloaded) and
		// kept the address bookmarkable.
		if !get(t, pat, chromedp.Evaluate[bool](`window.samePage === true && location.search.includes("access=none") && location.search.includes("q=acme")`)) {
			t.Error("the filtered client list is not at a bookmarkable address, or htmx did not load")
		}
		run(t, pat, chromedp.Navigate(clients), waitHeading("Clients"), click("Details of Acme Corp"), waitHeading("Acme Corp"),
			fill("Alias", "ACME (retail)"), click("Save alias"), waitHeading("ACME (retail) (Acme Corp)"), waitText("The alias was saved."))
		checkPage(t, pat, "client")

		// Add employees, with a role of the client.
		run(t, pat, check("Sam Okafor (sam@brightside.example)"), chromedp.SetValue(byLabel("Role in Acme Corp"), e.analyst),
			click("Add employees"), waitText("The employees were added."))
		if res := e.check(e.sam.ID, e.acme.ID, "reports.view"); !res.Allowed || res.Reason.Kind != steward.KindPartner {
			t.Fatalf("after adding, Sam's check = %+v", res)
		}
		_, _, err := e.svc.PutAsset(e.op(), e.acme.ID, "workflow", "wf-1", steward.AssetInput{Name: "Spring campaign", OwnerUserID: e.sam.ID})
		e.must(err)

		// Employees: the verified mark and the client count; then the removal wizard.
		run(t, pat, click("Employees"), waitHeading("Employees"), waitText("Verified domain"))
		checkPage(t, pat, "employees")
		run(t, pat, clickXPath(`//input[@aria-label="Select Sam Okafor"]`), click("Remove selected from clients…"),
			waitHeading("Remove from clients"), check("ACME (retail) (Acme Corp)"), click("Show what they own"),
			waitText(`workflow “Spring campaign”`))
		checkPage(t, pat, "removal-assets")
		// The new owner is one of the partner's own people who stay in the
		// client: the wizard never lists the client's directory (R-PARTNER-8).
		run(t, pat, chromedp.SetValue(byLabel("New owner of their assets in Acme Corp"), e.pat.ID), click("Review"),
			waitHeading("Review the removal"), waitText("Their assets go to: Pat Morgan (pat@brightside.example)"))
		if !e.check(e.sam.ID, e.acme.ID, "reports.view").Allowed {
			t.Fatal("the review step removed the employee")
		}
		checkPage(t, pat, "removal-review")
		run(t, pat, click("Remove employees"), waitHeading("Employees"), waitText("Removed 1 memberships and reassigned 1 assets."))
		if res := e.check(e.sam.ID, e.acme.ID, "reports.view"); res.Allowed {
			t.Errorf("after removal, Sam is allowed: %+v", res.Reason)
		}
		assets, _, err := e.svc.FindAssets(e.op(), steward.AssetFilter{AccountID: e.acme.ID})
		e.must(err)
		if len(assets) != 1 || assets[0].OwnerUserID != e.pat.ID {
			t.Errorf("assets after removal = %+v, want the workflow owned by Pat", assets)
		}
	})
}
