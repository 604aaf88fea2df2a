package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/synth"
)

// BulkFigure is a partner adding its employees to many clients in one
// request (one transaction).
type BulkFigure struct {
	Clients, Employees, Memberships int
	Total                           time.Duration
}

// stewardServer starts a Steward HTTP server over st whose writes the index
// follows at once, and returns its URL and operator token.
func stewardServer(st Store, cat *steward.Catalogue, ix *authz.Index) (string, string, func(), error) {
	token := steward.NewSecret("stw_op_")
	svc := steward.NewService(st, cat, nil)
	svc.Checker, svc.Lister, svc.OnCommit = ix, ix, ix.OnCommit
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(token)}
	url, stop, err := serve(stewardhttp.NewServer(svc, auth, nil))
	return url, token, stop, err
}

// httpListings measures the first page (50) of GET
// /v1/accounts/{account}/access on the big account and of GET
// /v1/users/{user}/accounts over the sample users, at each concurrency level.
func httpListings(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World, cfg Config) ([]HTTPFigure, error) {
	base, token, stop, err := stewardServer(st, cat, ix)
	if err != nil {
		return nil, err
	}
	defer stop()
	q := "?permission=" + url.QueryEscape(synth.Perm) + "&limit=50"
	targets := []struct {
		name string
		url  func(i int) string
	}{
		{"GET /v1/accounts/{account}/access", func(int) string { return base + "/v1/accounts/" + w.BigAccount + "/access" + q }},
		{"GET /v1/users/{user}/accounts", func(i int) string {
			return base + "/v1/users/" + w.Samples[i%len(w.Samples)].UserID + "/accounts" + q
		}},
	}
	var out []HTTPFigure
	for _, conns := range cfg.Connections {
		for _, tg := range targets {
			runtime.GC()
			fig, err := hammer(ctx, conns, cfg.Duration, http.StatusOK, func(i int) *http.Request {
				return jsonRequest(ctx, http.MethodGet, tg.url(i), token, nil)
			})
			if err != nil {
				return nil, fmt.Errorf("%s at %d connections: %w", tg.name, conns, err)
			}
			fig.Target = tg.name
			out = append(out, fig)
			fmt.Fprintf(cfg.Progress, "%-34s %3d connections: %8.0f req/s\n", tg.name, conns, fig.RPS)
		}
	}
	return out, nil
}

// writeLoad measures grants through the HTTP API: each request is POST
// /v1/accounts/{account}/members as the operator, which creates a user with
// a membership, its audit event and its change-feed entry in one
// transaction, and answers once the node's index has applied it. Request i
// goes to account i mod the number of accounts, so concurrent writers work
// in different accounts: unrelated tenants.
func writeLoad(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World, cfg Config) ([]HTTPFigure, error) {
	base, token, stop, err := stewardServer(st, cat, ix)
	if err != nil {
		return nil, err
	}
	defer stop()
	var out []HTTPFigure
	for run, conns := range cfg.Connections {
		runtime.GC()
		fig, err := hammer(ctx, conns, cfg.Duration, http.StatusCreated, func(i int) *http.Request {
			body, _ := json.Marshal(steward.NewMember{Email: fmt.Sprintf("grant%d-%d@bench.example", run, i), Name: "Bench grant", Role: steward.RoleMember})
			return jsonRequest(ctx, http.MethodPost, base+"/v1/accounts/"+w.Accounts[i%len(w.Accounts)]+"/members", token, body)
		})
		if err != nil {
			return nil, fmt.Errorf("grants at %d connections: %w", conns, err)
		}
		fig.Target = "grant"
		out = append(out, fig)
		fmt.Fprintf(cfg.Progress, "grants %3d connections: %8.0f grants/s\n", conns, fig.RPS)
	}
	return out, nil
}

// bulkEmployees measures a partner adding 100 new employees to 100 of its
// clients (fewer in a small world) through the Service, as the operator:
// one AddEmployeesToClients call, one transaction, 10,000 memberships.
func bulkEmployees(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World) (*BulkFigure, error) {
	const employees, clients = 100, 100
	svc := steward.NewService(st, cat, nil)
	svc.Checker, svc.Lister, svc.OnCommit = ix, ix, ix.OnCommit
	op := steward.NewContextWithActor(ctx, &steward.Actor{Operator: true})
	var cs []string
	for _, pc := range w.Relationships {
		if pc[0] == w.BigPartner && len(cs) < clients {
			cs = append(cs, pc[1])
		}
	}
	ids := make([]string, employees)
	for i := range ids {
		u, _, err := svc.CreateUser(op, steward.NewUser{Email: fmt.Sprintf("employee%d@bulk.bench.example", i), Name: "Bulk employee",
			HomeAccountID: w.BigPartner, Role: steward.RoleMember})
		if err != nil {
			return nil, fmt.Errorf("create employee: %w", err)
		}
		ids[i] = u.ID
	}
	runtime.GC()
	start := time.Now()
	a, _, err := svc.AddEmployeesToClients(op, w.BigPartner, cs, ids, steward.RoleMember)
	if err != nil {
		return nil, fmt.Errorf("add employees to %d clients: %w", len(cs), err)
	}
	total := time.Since(start)
	return &BulkFigure{Clients: len(cs), Employees: employees, Memberships: a.Added, Total: total}, nil
}
