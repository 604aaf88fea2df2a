package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/mail"
	"github.com/steward-iam/steward/mail/mailtest"
	"github.com/steward-iam/steward/password"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/web"
)

// demoPassword is every test user's password.
const demoPassword = "correct horse battery"

// env is a running server (API and console, as steward serve mounts them)
// over a fresh database, with a small world and an SMTP server that captures mail.
type env struct {
	t       testing.TB
	store   steward.Store
	svc     *steward.Service
	URL     string
	opToken string
	smtp    *mailtest.Server

	agency, acme, globex, firm *steward.Account
	pat, sam, ada, bob         *steward.User
	grace, carol, dave         *steward.User
	analyst                    string // a custom role of Acme
}

// backends runs fn on SQLite, and on PostgreSQL when STEWARD_TEST_POSTGRES_DSN is set.
func backends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func newEnv(t testing.TB, backend string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, opToken: "stw_op_" + rand16()}
	var sessions scs.Store
	switch backend {
	case "sqlite":
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		ss := db.SessionStore(time.Minute)
		t.Cleanup(ss.StopCleanup)
		e.store, sessions = db, ss
	case "postgres":
		db, err := postgres.Open(ctx, pgtest.NewDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		ss := db.SessionStore(time.Minute)
		t.Cleanup(ss.StopCleanup)
		e.store, sessions = db, ss
	}

	e.svc = steward.NewService(e.store, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	// A cheap hash keeps sign-ins fast in tests; the format is the same.
	e.svc.Passwords = &password.Hasher{Memory: 8 * 1024, Time: 1, Threads: 1}

	e.smtp = mailtest.NewServer(t)
	sender, err := mail.NewSender(e.store, mail.Config{SMTP: e.smtp.URL(), Poll: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sender.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })
	e.svc.OnCommit = func(int64) { sender.Kick() }

	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	e.svc.BaseURL = ts.URL

	auth := &steward.Authenticator{Store: e.store, OperatorTokenHash: steward.HashSecret(e.opToken)}
	api := stewardhttp.NewServer(e.svc, auth, nil)
	console, err := web.NewServer(e.svc, web.Config{BaseURL: ts.URL, Sessions: sessions,
		MailDir: t.TempDir(), OperatorTokenHash: steward.HashSecret(e.opToken)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/v1/", "/scim/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", console)
	handler = mux

	e.seed()
	return e
}

func rand16() string { return steward.NewSecret("")[:16] }

func (e *env) op() context.Context {
	return steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})
}

func (e *env) as(u *steward.User) context.Context {
	return steward.NewContextWithActor(context.Background(), &steward.Actor{UserID: u.ID})
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) account(name string, kind steward.AccountKind, ownerName, ownerEmail string, billing bool) (*steward.Account, *steward.User) {
	e.t.Helper()
	acc, _, err := e.svc.CreateAccount(e.op(), steward.NewAccount{Name: name, Kind: kind,
		Billing: steward.Billing{HasBillingInfo: billing, Plan: "pro"},
		Owner:   &steward.NewOwner{Email: ownerEmail, Name: ownerName, Password: demoPassword}})
	e.must(err)
	u, err := e.store.FindUserByEmail(context.Background(), ownerEmail)
	e.must(err)
	return acc, u
}

func (e *env) user(home *steward.Account, name, email, role string) *steward.User {
	e.t.Helper()
	u, _, err := e.svc.CreateUser(e.op(), steward.NewUser{Email: email, Name: name, HomeAccountID: home.ID, Role: role, Password: demoPassword})
	e.must(err)
	return u
}

// seed builds an agency that manages nothing yet, two clients, and a
// consulting firm whose owner will be invited.
func (e *env) seed() {
	e.agency, e.pat = e.account("Brightside Digital", steward.AccountPartner, "Pat Morgan", "pat@brightside.example", true)
	domains := []string{"brightside.example"}
	_, _, err := e.svc.UpdateAccount(e.op(), e.agency.ID, steward.AccountUpdate{VerifiedDomains: &domains})
	e.must(err)
	e.sam = e.user(e.agency, "Sam Okafor", "sam@brightside.example", steward.RoleMember)
	e.acme, e.ada = e.account("Acme Corp", steward.AccountStandard, "Ada Lovelace", "ada@acme.example", true)
	e.bob = e.user(e.acme, "Bob Smith", "bob@acme.example", steward.RoleMember)
	e.globex, e.grace = e.account("Globex", steward.AccountStandard, "Grace Hopper", "grace@globex.example", false)
	e.firm, e.carol = e.account("Carol Consulting", steward.AccountStandard, "Carol Danvers", "carol@carol.example", true)
	e.dave = e.user(e.firm, "Dave Park", "dave@carol.example", steward.RoleMember)
	name, perms := "Analyst", []string{"reports.view", "reports.edit", "crm.deals.view"}
	r, _, err := e.svc.CreateRole(e.as(e.ada), e.acme.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	e.must(err)
	e.analyst = r.ID
}

// check asks POST /v1/check with the operator token, as the product would.
func (e *env) check(userID, accountID, perm string) steward.CheckResult {
	e.t.Helper()
	body, _ := json.Marshal(steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: perm})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/check", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.opToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	e.must(err)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("POST /v1/check: status %d", res.StatusCode)
	}
	var out steward.CheckResult
	e.must(json.NewDecoder(res.Body).Decode(&out))
	return out
}
