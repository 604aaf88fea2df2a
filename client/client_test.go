package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/client"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/sqlite"
)

const operatorToken = "stw_op_client_test_0123456789"

// steward starts a real Steward API over a fresh SQLite database and
// returns its URL and a function that stops it.
func startSteward() (string, func()) {
	dir, err := os.MkdirTemp("", "steward-client-")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(dir, "steward.db"))
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	auth := &steward.Authenticator{Store: db, OperatorTokenHash: steward.HashSecret(operatorToken)}
	srv := httptest.NewServer(stewardhttp.NewServer(svc, auth, nil))
	return srv.URL, func() { srv.Close(); db.Close(); os.RemoveAll(dir) }
}

// account is the part of an account this example reads.
type account struct {
	ID    string `json:"id"`
	Owner struct {
		ID string `json:"id"`
	} `json:"owner"`
}

// createAccount creates an account with its owner, through the client so
// that the checks that follow wait for it.
func createAccount(c *client.Client, name, ownerEmail string) account {
	var acc account
	if _, err := c.Write(context.Background(), http.MethodPost, "/v1/accounts", map[string]any{
		"name": name, "kind": "standard", "owner": map[string]any{"email": ownerEmail, "name": "Owner"},
	}, &acc); err != nil {
		log.Fatal(err)
	}
	return acc
}

// A product asks Steward whether a user may use a permission in an account.
func ExampleClient_Check() {
	url, stop := startSteward()
	defer stop()

	c, err := client.New(url, operatorToken)
	if err != nil {
		log.Fatal(err)
	}
	acme := createAccount(c, "Acme", "ada@acme.example") // the write's revision is carried into the check
	res, err := c.Check(context.Background(), steward.CheckRequest{UserID: acme.Owner.ID, AccountID: acme.ID, Permission: "reports.view"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Allowed, res.Reason.Code, res.Reason.Source)
	// Output: true granted super_admin
}

// Require guards a product's handler: each request is let through only
// when its user may use the permission in its account.
func ExampleClient_Require() {
	url, stop := startSteward()
	defer stop()
	c, err := client.New(url, operatorToken)
	if err != nil {
		log.Fatal(err)
	}
	acme := createAccount(c, "Acme", "ada@acme.example")
	globex := createAccount(c, "Globex", "hank@globex.example")

	// The product knows who is signed in and which account the page is
	// about; here, two headers say it.
	subject := func(r *http.Request) (string, string, error) {
		if r.Header.Get("X-User") == "" {
			return "", "", errors.New("not signed in")
		}
		return r.Header.Get("X-User"), r.Header.Get("X-Account"), nil
	}
	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "reports (%s)", client.ResultFromContext(r.Context()).Reason.Code)
	})
	product := httptest.NewServer(c.Require("reports.view", subject)(reports))
	defer product.Close()

	for _, who := range []struct{ user, account string }{{acme.Owner.ID, acme.ID}, {acme.Owner.ID, globex.ID}, {"", ""}} {
		req, _ := http.NewRequest(http.MethodGet, product.URL, nil)
		req.Header.Set("X-User", who.user)
		req.Header.Set("X-Account", who.account)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
		fmt.Println()
	}
	// Output:
	// 200 reports (granted)
	// 403 Forbidden.
	//
	// 401 Unauthenticated.
	//
}

// fake is a scripted server: it answers each request with the next answer
// and records what it was sent.
type fake struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  []map[string]any
	keys    []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	f.bodies = append(f.bodies, body)
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	answer := f.answers[0]
	if len(f.answers) > 1 {
		f.answers = f.answers[1:]
	}
	answer(w)
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Retry-After", "0")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"status":503,"title":"Service Unavailable","code":"revision_not_applied","detail":"Revision 7 is not applied yet."}`))
}

func allowed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"allowed":true,"reason":{"code":"granted"},"revision":7}`))
}

func TestCheckRetriesAfter503(t *testing.T) {
	f := &fake{answers: []func(http.ResponseWriter){unavailable, unavailable, allowed}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, "t")
	res, err := c.Check(context.Background(), steward.CheckRequest{UserID: "usr_a", AccountID: "acc_a", Permission: "p", MinRevision: 7})
	if err != nil || !res.Allowed {
		t.Fatalf("Check = %+v, %v; want allowed after the retries", res, err)
	}
	if len(f.bodies) != 3 {
		t.Errorf("requests = %d, want 3 (two 503, then the answer)", len(f.bodies))
	}
}

func TestCheckGivesUpAfterRetries(t *testing.T) {
	f := &fake{answers: []func(http.ResponseWriter){unavailable}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, "t", client.WithRetries(2))
	_, err := c.Check(context.Background(), steward.CheckRequest{UserID: "usr_a", AccountID: "acc_a", Permission: "p"})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != "revision_not_applied" {
		t.Fatalf("err = %v, want the 503 revision_not_applied", err)
	}
	if len(f.bodies) != 3 {
		t.Errorf("requests = %d, want 3 (the first and two retries)", len(f.bodies))
	}
}

func TestWriteWithoutKeyIsNotRetried(t *testing.T) {
	f := &fake{answers: []func(http.ResponseWriter){unavailable}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, "t")
	if _, err := c.Do(context.Background(), http.MethodPost, "/v1/accounts", map[string]any{}, nil); err == nil {
		t.Fatal("Do answered no error for a 503")
	}
	if len(f.bodies) != 1 {
		t.Errorf("requests = %d, want 1: a write without Idempotency-Key is not sent twice", len(f.bodies))
	}
	f.bodies, f.keys = nil, nil
	c.Write(context.Background(), http.MethodPost, "/v1/accounts", map[string]any{}, nil)
	if len(f.keys) != 4 || f.keys[0] == "" || f.keys[0] != f.keys[3] {
		t.Errorf("Write sent keys %q, want 4 tries under one Idempotency-Key", f.keys)
	}
}

func TestMinRevisionCarriedFromWrite(t *testing.T) {
	written := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Steward-Revision", "42")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{}`))
	}
	f := &fake{answers: []func(http.ResponseWriter){written, allowed}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, "t")
	rev, err := c.Write(context.Background(), http.MethodPost, "/v1/accounts/acc_a/roles", map[string]any{"name": "r"}, nil)
	if err != nil || rev != 42 {
		t.Fatalf("Write = %d, %v; want revision 42", rev, err)
	}
	if _, err := c.Check(context.Background(), steward.CheckRequest{UserID: "usr_a", AccountID: "acc_a", Permission: "p"}); err != nil {
		t.Fatal(err)
	}
	if got := f.bodies[1]["min_revision"]; got != float64(42) {
		t.Errorf("the check after the write sent min_revision=%v, want 42", got)
	}
	if c.Revision() != 42 {
		t.Errorf("Revision() = %d, want 42", c.Revision())
	}
}

func TestRequireUnavailable(t *testing.T) {
	srv := httptest.NewServer(&fake{answers: []func(http.ResponseWriter){unavailable}})
	defer srv.Close()
	c, _ := client.New(srv.URL, "t", client.WithRetries(0))
	h := c.Require("p", func(*http.Request) (string, string, error) { return "usr_a", "acc_a", nil })(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status = %d, want 503 with Retry-After", rec.Code)
	}
}

func TestListingsAndBatch(t *testing.T) {
	url, stop := startSteward()
	defer stop()
	c, err := client.New(url, operatorToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acme := createAccount(c, "Acme", "ada@acme.example")
	var role struct {
		ID string `json:"id"`
	}
	if _, err := c.Write(ctx, http.MethodPost, "/v1/accounts/"+acme.ID+"/roles", map[string]any{"name": "Analyst", "permissions": []string{"reports.view"}}, &role); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, email := range []string{"bob@acme.example", "cy@acme.example"} {
		var u struct {
			ID string `json:"id"`
		}
		if _, err := c.Write(ctx, http.MethodPost, "/v1/users", map[string]any{"email": email, "name": email, "home_account_id": acme.ID, "role": role.ID}, &u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var seen []string
	for a, err := range c.AllAccess(ctx, acme.ID, "reports.view", client.ListOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, a.UserID)
	}
	if len(seen) != 3 {
		t.Errorf("AllAccess page by page = %v, want the owner and the two members", seen)
	}
	page, err := c.FindUserAccounts(ctx, acme.Owner.ID, "", client.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].AccountID != acme.ID {
		t.Errorf("FindUserAccounts = %+v, %v; want Acme", page, err)
	}
	batch, err := c.CheckBatch(ctx, steward.BatchCheckRequest{Checks: []steward.CheckRequest{
		{UserID: acme.Owner.ID, AccountID: acme.ID, Permission: "reports.view"},
		{UserID: ids[0], AccountID: acme.ID, Permission: "crm.deals.edit"},
	}})
	if err != nil || len(batch.Results) != 2 || !batch.Results[0].Allowed || batch.Results[1].Allowed {
		t.Fatalf("CheckBatch = %+v, %v", batch, err)
	}
	if _, err := c.Check(ctx, steward.CheckRequest{UserID: acme.Owner.ID, AccountID: acme.ID, Permission: "no.such"}); client.ErrorCode(err) != "unknown_permission" {
		t.Errorf("Check of an unknown permission: %v, want unknown_permission", err)
	}
}

// TestConsoleLink: the platform asks for a user's console hand-off and gets
// a single-use URL; a bad return_to is an *Error naming the field.
func TestConsoleLink(t *testing.T) {
	url, stop := startSteward()
	defer stop()
	c, err := client.New(url, operatorToken)
	if err != nil {
		t.Fatal(err)
	}
	acme := createAccount(c, "Acme", "ada@acme.example")
	l, err := c.ConsoleLink(context.Background(), acme.Owner.ID, "/accounts/"+acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(l.URL, "/console-links/"+steward.ConsoleLinkTokenPrefix) || l.ReturnTo != "/accounts/"+acme.ID || l.ExpiresAt.IsZero() {
		t.Errorf("console link = %+v", l)
	}
	_, err = c.ConsoleLink(context.Background(), acme.Owner.ID, "https://evil.example/")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || len(e.Errors) != 1 || e.Errors[0].Field != "return_to" {
		t.Errorf("bad return_to: %v, want a 422 naming return_to", err)
	}
}

// TestAddEmployeesToClients: a partner's employees are added to two of its
// clients in one request; a client that is not the partner's is an *Error
// naming it, and nothing is added.
func TestAddEmployeesToClients(t *testing.T) {
	url, stop := startSteward()
	defer stop()
	c, err := client.New(url, operatorToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tokenOf := func(userID string) *client.Client {
		var nt steward.NewToken
		if _, err := c.Write(ctx, http.MethodPost, "/v1/tokens", steward.TokenRequest{UserID: userID}, &nt); err != nil {
			t.Fatal(err)
		}
		uc, err := client.New(url, nt.Token)
		if err != nil {
			t.Fatal(err)
		}
		return uc
	}
	var partner account
	if _, err := c.Write(ctx, http.MethodPost, "/v1/accounts", map[string]any{
		"name": "Agency", "kind": "partner", "owner": map[string]any{"email": "pat@agency.example", "name": "Pat"},
	}, &partner); err != nil {
		t.Fatal(err)
	}
	pc := tokenOf(partner.Owner.ID)
	var clients []string
	for i, name := range []string{"Acme", "Globex"} {
		acc := createAccount(c, name, fmt.Sprintf("owner%d@%s.example", i, strings.ToLower(name)))
		var link steward.NewAccessLink
		if _, err := pc.Write(ctx, http.MethodPost, "/v1/partners/"+partner.ID+"/access-links", map[string]any{}, &link); err != nil {
			t.Fatal(err)
		}
		token := link.URL[strings.LastIndex(link.URL, "/")+1:]
		if _, err := tokenOf(acc.Owner.ID).Write(ctx, http.MethodPost, "/v1/access-links/"+token+"/approve", map[string]any{"account_id": acc.ID}, nil); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, acc.ID)
	}
	var emp steward.Membership
	if _, err := c.Write(ctx, http.MethodPost, "/v1/accounts/"+partner.ID+"/members", map[string]any{"email": "sam@agency.example", "name": "Sam", "role": "member"}, &emp); err != nil {
		t.Fatal(err)
	}

	_, _, err = pc.AddEmployeesToClients(ctx, partner.ID, client.Assignment{ClientIDs: []string{clients[0], "acc_unknown"}, UserIDs: []string{emp.UserID}, Role: "member"})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || len(e.Errors) != 1 || e.Errors[0].Field != "client_ids[1]" {
		t.Fatalf("a client that is not the partner's: %v, want a 404 naming client_ids[1]", err)
	}
	a, rev, err := pc.AddEmployeesToClients(ctx, partner.ID, client.Assignment{ClientIDs: clients, UserIDs: []string{emp.UserID}, Role: "member"})
	if err != nil || rev == 0 {
		t.Fatalf("AddEmployeesToClients: %v (revision %d)", err, rev)
	}
	if a.Added != 2 || len(a.Clients) != 2 || a.Clients[1].ClientID != clients[1] || len(a.Clients[1].MembershipIDs) != 1 {
		t.Errorf("answer = %+v, want the employee added to both clients", a)
	}
	res, err := c.Check(ctx, steward.CheckRequest{UserID: emp.UserID, AccountID: clients[1], Permission: "crm.contacts.view"})
	// The check that follows reads the write: the new membership answers it.
	if err != nil || res.Reason.MembershipID != a.Clients[1].MembershipIDs[0] || res.Reason.Kind != steward.KindPartner {
		t.Errorf("check after the write: %+v, %v", res, err)
	}
}
