package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// TestConsoleManyClientsAndEmployees: a partner with more clients and
// employees than a select should hold gets, instead of a select per row, a
// page that searches its clients to link an employee to, and an access link
// form for oneself that points to the Employees tab; the switcher lists a
// bounded number of accounts and offers the home page, which pages them.
func TestConsoleManyClientsAndEmployees(t *testing.T) {
	e := newEnv(t, "sqlite")
	const n = 51
	for i := range n {
		acc, owner := e.account(fmt.Sprintf("Client %02d", i), steward.AccountStandard, fmt.Sprintf("Owner %02d", i), fmt.Sprintf("owner%02d@client%02d.example", i, i), true)
		link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
		e.must(err)
		_, _, err = e.svc.ApproveAccessLink(e.as(owner), link.URL[strings.LastIndexByte(link.URL, '/')+1:], acc.ID)
		e.must(err)
		e.user(e.agency, fmt.Sprintf("Employee %02d", i), fmt.Sprintf("employee%02d@brightside.example", i), steward.RoleMember)
	}
	pat := e.client()
	e.login(pat, "pat@brightside.example", demoPassword)
	agency := "/accounts/" + e.agency.ID

	_, body := e.get(pat, agency+"/employees")
	linkPage := agency + "/employees/" + e.sam.ID + "/link"
	if strings.Contains(body, `name="account_id"`) || !strings.Contains(body, `href="`+linkPage+`"`) {
		t.Errorf("the Employees tab of a partner of %d clients: want a link to %s per row and no client select", n, linkPage)
	}
	if strings.Count(body, "<option") > 21 {
		t.Errorf("the page holds %d options; the switcher should hold at most 20 accounts and the current one", strings.Count(body, "<option"))
	}
	if !strings.Contains(body, "All your accounts…") {
		t.Error("the switcher does not offer the list of all accounts")
	}
	_, body = e.get(pat, agency+"/clients")
	if strings.Contains(body, `id="link-user"`) || !strings.Contains(body, "This link is for you") {
		t.Error("the Clients tab of a partner of many employees still offers a select of them")
	}
	res, body := e.get(pat, linkPage+"?q=client+07")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Link to Client 07") || strings.Contains(body, "Link to Client 08") {
		t.Fatalf("searching clients to link Sam to: status %d", res.StatusCode)
	}
	// Sam is no member of Client 07: the link is refused on the same page.
	const attr = `name="account_id" value="`
	i := strings.Index(body, attr)
	if i < 0 {
		t.Fatal("the search result has no link form")
	}
	client07 := body[i+len(attr):]
	client07 = client07[:strings.IndexByte(client07, '"')]
	res, body = e.post(pat, linkPage, map[string][]string{"account_id": {client07}, "from": {"search"}})
	if res.StatusCode == http.StatusSeeOther || !strings.Contains(body, "Link Sam Okafor to a client") || !strings.Contains(body, `role="alert"`) {
		t.Errorf("linking Sam to a client he is not a member of: status %d", res.StatusCode)
	}
	// Another account's user, and another tenant's user, get a 404.
	if res, _ := e.get(pat, agency+"/employees/"+e.bob.ID+"/link"); res.StatusCode != http.StatusNotFound {
		t.Errorf("linking another account's user: status %d, want 404", res.StatusCode)
	}
	grace := e.client()
	e.login(grace, "grace@globex.example", demoPassword)
	if res, _ := e.get(grace, linkPage); res.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant opens the link page: status %d, want 404", res.StatusCode)
	}

	// The home page pages the accounts: 52 of them, 25 a page.
	_, body = e.get(pat, "/")
	if !strings.Contains(body, "Next page") || strings.Count(body, `<th scope="row">`) != 25 {
		t.Errorf("home page: %d rows, want 25 and a next page", strings.Count(body, `<th scope="row">`))
	}
}
