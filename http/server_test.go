package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
)

// operatorToken is the operator's bearer token in every test server.
const operatorToken = "stw_operator_test_token"

// Env is a Server over a real store behind httptest.
type Env struct {
	Store steward.Store
	Svc   *steward.Service
	URL   string
	Logs  *syncBuffer
	seq   atomic.Int64
	// ReplayPOSTs sends every POST with an Idempotency-Key and, when it
	// succeeds, once more: the retry must replay the first answer.
	ReplayPOSTs bool
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// store is one backend the tests run on.
type store struct {
	name string
	open func(tb testing.TB) steward.Store
}

// stores are the backends: SQLite always, PostgreSQL when
// STEWARD_TEST_POSTGRES_DSN is set (the subtest skips otherwise).
var stores = []store{
	{"sqlite", MustOpenSQLite},
	{"postgres", MustOpenPostgres},
}

// MustOpenSQLite opens and migrates a fresh SQLite database in a temporary folder.
func MustOpenSQLite(tb testing.TB) steward.Store {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "steward.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// MustOpenPostgres opens and migrates a fresh PostgreSQL database.
func MustOpenPostgres(tb testing.TB) steward.Store {
	tb.Helper()
	db, err := postgres.Open(context.Background(), pgtest.NewDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// eachStore runs fn as a subtest per backend.
func eachStore(t *testing.T, fn func(t *testing.T, e *Env)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { fn(t, MustServe(t, st.open(t))) })
	}
}

// MustServe starts a test server over st.
func MustServe(tb testing.TB, st steward.Store, opts ...stewardhttp.Option) *Env {
	tb.Helper()
	e := &Env{Store: st, Logs: &syncBuffer{}}
	e.Svc = steward.NewService(st, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(operatorToken)}
	logger := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(stewardhttp.NewServer(e.Svc, auth, logger, opts...))
	tb.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// Response is an answer of the server.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request. body is sent as is when it is a string or []byte,
// and as JSON otherwise; headers are name, value pairs.
func (e *Env) Do(tb testing.TB, method, path, token string, body any, headers ...string) Response {
	tb.Helper()
	res, err := e.Send(method, path, token, body, headers...)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// Send is Do for goroutines other than the test's, which may not call Fatal.
func (e *Env) Send(method, path, token string, body any, headers ...string) (Response, error) {
	if e.ReplayPOSTs && method == http.MethodPost && !slices.Contains(headers, "Idempotency-Key") {
		return e.sendTwice(path, token, body, headers)
	}
	return e.send(method, path, token, body, headers...)
}

// sendTwice sends a POST with a new Idempotency-Key and, if it wrote
// something (its answer has a Steward-Revision), retries it: the retry must
// replay the answer (without its secret, if it carried one) and change
// nothing. POSTs that only read (checks, previews) keep no answer.
func (e *Env) sendTwice(path, token string, body any, headers []string) (Response, error) {
	headers = append(slices.Clip(headers), "Idempotency-Key", fmt.Sprintf("replay-%d", e.seq.Add(1)))
	first, err := e.send(http.MethodPost, path, token, body, headers...)
	if err != nil || first.Status/100 != 2 || first.Header.Get("Steward-Revision") == "" {
		return first, err
	}
	rev, err := e.Store.CurrentRevision(context.Background())
	if err != nil {
		return first, err
	}
	retry, err := e.send(http.MethodPost, path, token, body, headers...)
	if err != nil {
		return first, err
	}
	after, err := e.Store.CurrentRevision(context.Background())
	if err != nil {
		return first, err
	}
	same := retry.Status == first.Status && retry.Header.Get("Steward-Revision") == first.Header.Get("Steward-Revision") &&
		retry.Header.Get("Content-Type") == first.Header.Get("Content-Type") && retry.Header.Get("Idempotent-Replayed") == "true"
	if same && !bytes.Equal(retry.Body, first.Body) {
		var withheld struct {
			SecretWithheld bool `json:"secret_withheld"`
		}
		same = json.Unmarshal(retry.Body, &withheld) == nil && withheld.SecretWithheld
	}
	if !same || after != rev {
		return first, fmt.Errorf("POST %s: the retry with its Idempotency-Key answered %d %v %s (revision %d → %d), want the replay of %d %v %s",
			path, retry.Status, retry.Header, retry.Body, rev, after, first.Status, first.Header, first.Body)
	}
	return first, nil
}

func (e *Env) send(method, path, token string, body any, headers ...string) (Response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		return Response{}, err
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: data}, nil
}

// MustOK sends a request that must answer want, and decodes the answer into out.
func (e *Env) MustOK(tb testing.TB, want int, method, path, token string, body, out any, headers ...string) Response {
	tb.Helper()
	res := e.Do(tb, method, path, token, body, headers...)
	if res.Status != want {
		tb.Fatalf("%s %s: status=%d, want %d; body: %s", method, path, res.Status, want, res.Body)
	}
	if out != nil {
		if err := json.Unmarshal(res.Body, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, res.Body, err)
		}
	}
	return res
}

// MustProblem checks that res is a problem document of the status and code
// that names field (when field is not empty), and returns it.
func MustProblem(tb testing.TB, res Response, status int, code, field string) stewardhttp.Problem {
	tb.Helper()
	if res.Status != status {
		tb.Fatalf("Status=%d, want %d; body: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type=%q, want application/problem+json; body: %s", ct, res.Body)
	}
	var p stewardhttp.Problem
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("problem %s: %v", res.Body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type == "" || p.Detail == "" {
		tb.Fatalf("problem = %+v, want status %d with type, title and detail", p, status)
	}
	if p.Code != code {
		tb.Fatalf("Code=%q, want %q; body: %s", p.Code, code, res.Body)
	}
	if field != "" && !slices.ContainsFunc(p.Errors, func(f steward.FieldError) bool { return f.Field == field }) {
		tb.Fatalf("Errors=%+v, want one naming %q", p.Errors, field)
	}
	return p
}

// Account creates an account with an owner as the operator and returns its
// id and the owner's user id.
func (e *Env) Account(tb testing.TB, kind steward.AccountKind) (accountID, ownerID string) {
	tb.Helper()
	n := e.seq.Add(1)
	var acc steward.Account
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts", operatorToken, steward.NewAccount{
		Name: fmt.Sprintf("Account %d", n), Kind: kind,
		Owner: &steward.NewOwner{Email: fmt.Sprintf("owner%d@example.com", n), Name: fmt.Sprintf("Owner %d", n)},
	}, &acc)
	var members stewardhttp.List[steward.Membership]
	e.MustOK(tb, http.StatusOK, "GET", "/v1/accounts/"+acc.ID+"/members", operatorToken, nil, &members)
	if len(members.Items) != 1 || members.Items[0].Role != steward.RoleSuperAdmin {
		tb.Fatalf("members of a new account = %+v, want its owner as super admin", members.Items)
	}
	return acc.ID, members.Items[0].UserID
}

// User creates a user of the home account with a role, as the operator.
func (e *Env) User(tb testing.TB, home, role string) string {
	tb.Helper()
	n := e.seq.Add(1)
	var u steward.User
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/users", operatorToken, steward.NewUser{
		Email: fmt.Sprintf("user%d@example.com", n), Name: fmt.Sprintf("User %d", n), HomeAccountID: home, Role: role,
	}, &u)
	return u.ID
}

// Token issues a user token, as the operator.
func (e *Env) Token(tb testing.TB, userID string) string {
	tb.Helper()
	var tok stewardhttp.TokenResponse
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/tokens", operatorToken, stewardhttp.TokenRequest{UserID: userID}, &tok)
	if !strings.HasPrefix(tok.Token, "stw_") {
		tb.Fatalf("token = %q, want stw_…", tok.Token)
	}
	return tok.Token
}

// Role creates a custom role, as the operator.
func (e *Env) Role(tb testing.TB, accountID, name string, perms ...string) string {
	tb.Helper()
	if perms == nil {
		perms = []string{}
	}
	var r steward.Role
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+accountID+"/roles", operatorToken, map[string]any{"name": name, "permissions": perms}, &r)
	return r.ID
}

// Member returns a membership as the operator sees it.
func (e *Env) Member(tb testing.TB, accountID, userID string) steward.Membership {
	tb.Helper()
	var m steward.Membership
	e.MustOK(tb, http.StatusOK, "GET", "/v1/accounts/"+accountID+"/members/"+userID, operatorToken, nil, &m)
	return m
}

// AuditCount counts an account's audit events, straight from the store.
func (e *Env) AuditCount(tb testing.TB, accountID string) int {
	tb.Helper()
	n := 0
	if err := e.Store.ScanEvents(context.Background(), accountID, func(*steward.Event) error { n++; return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Revision returns the store's last committed revision.
func (e *Env) Revision(tb testing.TB) int64 {
	tb.Helper()
	rev, err := e.Store.CurrentRevision(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return rev
}

func TestHealthAndRequestID(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t), stewardhttp.WithVersion("1.2.3"))
	var h stewardhttp.Health
	res := e.MustOK(t, http.StatusOK, "GET", "/healthz", "", nil, &h)
	if h != (stewardhttp.Health{Status: "ok", Version: "1.2.3"}) {
		t.Fatalf("health = %+v", h)
	}
	if !strings.HasPrefix(res.Header.Get("Request-Id"), "req_") {
		t.Fatalf("Request-Id=%q, want a generated req_ id", res.Header.Get("Request-Id"))
	}
	res = e.Do(t, "GET", "/healthz", "", nil, "Request-Id", "abc-123")
	if got := res.Header.Get("Request-Id"); got != "abc-123" {
		t.Fatalf("Request-Id=%q, want the caller's abc-123", got)
	}
	e.MustOK(t, http.StatusOK, "GET", "/readyz", "", nil, nil)
}

func TestReadyz_NotReady(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t), stewardhttp.WithReadiness(func(context.Context) error { return fmt.Errorf("schema is old") }))
	res := e.Do(t, "GET", "/readyz", "", nil)
	MustProblem(t, res, http.StatusServiceUnavailable, "not_ready", "")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("a 503 without Retry-After")
	}
	if strings.Contains(string(res.Body), "schema is old") {
		t.Fatalf("the probe's error reached the caller: %s", res.Body)
	}
	if !strings.Contains(e.Logs.String(), "schema is old") {
		t.Fatalf("the probe's error was not logged: %s", e.Logs)
	}
}

func TestMetrics(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	acc, _ := e.Account(t, steward.AccountStandard)
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc, operatorToken, nil, nil)
	e.Do(t, "GET", "/v1/accounts/acc_nope", operatorToken, nil)
	res := e.MustOK(t, http.StatusOK, "GET", "/metrics", "", nil, nil)
	for _, want := range []string{
		`steward_http_requests_total{method="GET",route="/v1/accounts/{account}",status="200"} 1`,
		`steward_http_requests_total{method="GET",route="/v1/accounts/{account}",status="404"} 1`,
		`steward_http_requests_total{method="POST",route="/v1/accounts",status="201"} 1`,
		`steward_http_request_duration_seconds_count{method="GET",route="/v1/accounts/{account}"} 2`,
	} {
		if !strings.Contains(string(res.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(res.Body), "acc_") {
		t.Error("an account id became a label value")
	}
}

func TestInternalErrorIsLoggedNotShown(t *testing.T) {
	db := MustOpenSQLite(t)
	e := MustServe(t, db)
	acc, _ := e.Account(t, steward.AccountStandard)
	db.(*sqlite.DB).Close()
	res := e.Do(t, "GET", "/v1/accounts/"+acc, operatorToken, nil)
	p := MustProblem(t, res, http.StatusInternalServerError, "internal", "")
	if p.Detail != "Internal error." {
		t.Fatalf("Detail=%q, want only Internal error.", p.Detail)
	}
	logs := e.Logs.String()
	if n := strings.Count(logs, `"msg":"request failed"`); n != 1 {
		t.Fatalf("request failed logged %d times, want once: %s", n, logs)
	}
	if !strings.Contains(logs, "database is closed") || !strings.Contains(logs, `"path":"/v1/accounts/`+acc+`"`) {
		t.Fatalf("log lacks the cause or the request: %s", logs)
	}
	if strings.Contains(logs, operatorToken) {
		t.Fatal("the token was logged")
	}
}

func TestUnknownRoute(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	MustProblem(t, e.Do(t, "GET", "/v1/nothing-here", operatorToken, nil), http.StatusNotFound, "route_not_found", "")
	res := e.Do(t, "DELETE", "/v1/accounts", operatorToken, nil)
	MustProblem(t, res, http.StatusMethodNotAllowed, "method_not_allowed", "")
	if res.Header.Get("Allow") == "" {
		t.Fatal("405 without Allow")
	}
}
