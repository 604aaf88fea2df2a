package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// TestBrowserCustomerSide walks Acme's super admin through the customer
// side: users (add, the last super admin's refusal, role change), roles
// (create with permission checkboxes), inviting external users (every bad
// address named), partners (end a relationship after confirming) and the
// activity log (filter, verify). After each step the check API agrees.
func TestBrowserCustomerSide(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
		e.must(err)
		_, _, err = e.svc.ApproveAccessLink(e.as(e.ada), tokenOf(link.URL), e.acme.ID)
		e.must(err)

		ada := tab(t, b)
		acme := e.URL + "/accounts/" + e.acme.ID
		run(t, ada, chromedp.Navigate(acme), signIn("ada@acme.example", demoPassword), waitHeading("Acme Corp"))

		// Users: the last super admin cannot demote herself; the page says why.
		run(t, ada, click("Users"), waitHeading("Users"))
		checkPage(t, ada, "users")
		run(t, ada, click("Ada Lovelace"), waitHeading("Ada Lovelace"),
			chromedp.SetValue(byLabel("Role"), steward.RoleMember), click("Change role"),
			waitText("super admin"))
		if !e.check(e.ada.ID, e.acme.ID, "account.super_admins.manage").Allowed {
			t.Fatal("the last super admin was demoted")
		}
		checkPage(t, ada, "member-refused")

		// Add a user, with a bad address first: the field is named.
		run(t, ada, chromedp.Navigate(acme+"/users"), waitHeading("Users"),
			fill("Name", "Eve Stone"), fill("Email address", "eve@localhost"), click("Add user"), waitText("Email address must be"))
		run(t, ada, fill("Email address", "eve@acme.example"), click("Add user"), waitHeading("Eve Stone"), waitText("eve@acme.example was added."))
		eve, err := e.store.FindUserByEmail(t.Context(), "eve@acme.example")
		e.must(err)
		if res := e.check(eve.ID, e.acme.ID, "crm.contacts.view"); res.Reason.Code != steward.ReasonPermissionMissing {
			t.Errorf("new member check = %+v, want a member without permissions", res.Reason)
		}
		run(t, ada, chromedp.SetValue(byLabel("Role"), e.analyst), click("Change role"), waitText("The role was changed."))
		if !e.check(eve.ID, e.acme.ID, "reports.view").Allowed {
			t.Error("after the role change to Analyst, reports.view is refused")
		}

		// Roles: create one by checkboxes.
		run(t, ada, click("Roles"), waitHeading("Roles"), click("New role"), waitHeading("New role"))
		checkPage(t, ada, "role-new")
		run(t, ada, fill("Name", "Support"),
			check("tickets.view View support tickets"), check("tickets.edit Create, edit and close support tickets"),
			click("Create role"), waitHeading("Role Support"), waitText("was created"))
		roles, _, err := e.svc.FindRoles(e.as(e.ada), e.acme.ID, steward.Page{})
		e.must(err)
		var support *steward.Role
		for _, r := range roles {
			if r.Name == "Support" {
				support = r
			}
		}
		if support == nil || strings.Join(support.Permissions, ",") != "tickets.edit,tickets.view" {
			t.Fatalf("created role = %+v, want Support with tickets.edit and tickets.view", support)
		}

		// Invite external users into Analyst: the agreement first, every bad address named.
		run(t, ada, chromedp.Navigate(acme+"/roles/"+e.analyst+"/invite"), waitHeading("Invite external users as Analyst"))
		checkPage(t, ada, "invite")
		run(t, ada, check("I agree"), fill("Email addresses, separated by commas", "carol@carol.example, not-an-email, dave@"),
			click("Send invitations"), waitText(`"not-an-email" is not an email address`), waitText(`"dave@" is not an email address`))
		for _, m := range e.smtp.Mails() {
			if strings.Contains(m.Subject, "nvit") {
				t.Fatalf("a refused batch sent an invitation to %v", m.To)
			}
		}
		run(t, ada, fill("Email addresses, separated by commas", "carol@carol.example"), click("Send invitations"),
			waitHeading("Members of Analyst"), waitText("Invited by email: carol@carol.example."), waitText("Revoke invitation of carol@carol.example"))
		checkPage(t, ada, "role-members")

		// Partners: ending the relationship asks first, then Pat loses access.
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("before ending, the partner admin is refused")
		}
		run(t, ada, click("Partners"), waitHeading("Partners"), waitText("Brightside Digital"))
		checkPage(t, ada, "partners")
		run(t, ada, click("End relationship with Brightside Digital…"), waitHeading("End the relationship with Brightside Digital?"))
		checkPage(t, ada, "confirm-end-relationship")
		if !e.check(e.pat.ID, e.acme.ID, "crm.contacts.view").Allowed {
			t.Fatal("the confirmation page ended the relationship")
		}
		run(t, ada, click("End relationship"), waitHeading("Partners"), waitText("The relationship has ended."))
		if res := e.check(e.pat.ID, e.acme.ID, "crm.contacts.view"); res.Allowed {
			t.Errorf("after ending, the partner admin is allowed: %+v", res.Reason)
		}

		// Activity: filter by action, verify the chain.
		run(t, ada, click("Activity log"), waitHeading("Activity log"), fill("Action", "member.role_changed"), click("Filter"),
			waitText("member.role_changed"))
		if text := mainText(t, ada); strings.Contains(text, "role.created") {
			t.Error("the action filter let other actions through")
		}
		checkPage(t, ada, "activity")
		run(t, ada, click("Verify the log"), waitText("The log verifies"))
	})
}

// tokenOf returns the token an access link or invitation URL ends with.
func tokenOf(u string) string { return u[strings.LastIndexByte(u, '/')+1:] }
