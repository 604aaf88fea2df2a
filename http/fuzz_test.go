package http_test

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// The fuzz targets send arbitrary input through the real handler, in
// process, over SQLite: request decoding and validation of every
// operation's body, path and query, and SCIM's filter and PATCH parsing.
// Bad input must be a 4xx problem document (SCIM: a SCIM error), never a
// 5xx or a panic. Their seed corpora, in testdata/fuzz/<FuzzName>/, run as
// part of go test; seeds named regression-… reproduce failures the fuzzers
// found.

// fuzzWorld is a server over a fresh SQLite database with one tenant.
type fuzzWorld struct {
	env     *Env
	handler http.Handler
	tn      *tenant
	ops     []*matrixOp
	byID    map[string]*matrixOp
	vars    *strings.Replacer
	close   []func()
	// scimUsers counts the users the client provisions; -1 until asked.
	scimUsers int
}

// worldTB lets a world outlive the fuzz iteration that builds it: its
// cleanups and temporary folders are the world's, not the iteration's.
type worldTB struct {
	testing.TB
	w   *fuzzWorld
	dir string
}

func (tb worldTB) Cleanup(fn func()) { tb.w.close = append(tb.w.close, fn) }

func (tb worldTB) TempDir() string {
	dir, err := os.MkdirTemp(tb.dir, "world")
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// shutdown releases the world's server and database.
func (w *fuzzWorld) shutdown() {
	for i := len(w.close) - 1; i >= 0; i-- {
		w.close[i]()
	}
	w.close = nil
}

// newFuzzWorld builds a world; tb's failures fail the caller, dir holds its files.
func newFuzzWorld(tb testing.TB, dir string) *fuzzWorld {
	tb.Helper()
	w := &fuzzWorld{scimUsers: -1}
	wtb := worldTB{TB: tb, w: w, dir: dir}
	w.env, w.handler = serveHandler(wtb, MustOpenSQLite(wtb))
	w.tn = buildTenant(wtb, w.env, "F")
	var consent steward.ConsentAgreement
	w.env.MustOK(tb, http.StatusOK, "GET", "/v1/consent", operatorToken, nil, &consent)
	w.ops = matrixOperations(tb, w.env, consent.Version)
	w.byID = map[string]*matrixOp{}
	for _, op := range w.ops {
		w.byID[op.id()] = op
	}
	tn := w.tn
	// Seeds name the world's ids by these placeholders.
	w.vars = strings.NewReplacer(
		"{{account}}", tn.client, "{{partner}}", tn.partner, "{{firm}}", tn.firm,
		"{{super_admin}}", tn.superAdmin, "{{member}}", tn.member, "{{partner_admin}}", tn.partnerAdmin,
		"{{employee}}", tn.employee, "{{external}}", tn.external, "{{delegate}}", tn.delegate,
		"{{role}}", tn.staffRole, "{{analyst_role}}", tn.analystRole, "{{invitation}}", tn.invitation,
		"{{link_token}}", tn.linkToken, "{{invitation_token}}", tn.invitationToken, "{{consent}}", consent.Version,
		"{{asset}}", tn.asset,
	)
	return w
}

// placeholderTenant is a tenant whose ids are the placeholders of fuzzWorld.vars.
var placeholderTenant = &tenant{
	partner: "{{partner}}", client: "{{account}}", firm: "{{firm}}",
	partnerAdmin: "{{partner_admin}}", employee: "{{employee}}", superAdmin: "{{super_admin}}", member: "{{member}}",
	external: "{{external}}", delegate: "{{delegate}}", staffRole: "{{role}}", analystRole: "{{analyst_role}}",
	invitation: "{{invitation}}", linkToken: "{{link_token}}", invitationToken: "{{invitation_token}}", asset: "{{asset}}",
}

// id names an operation in seeds: METHOD path, and its variant if any
// ("DELETE /v1/accounts/{account}/members/{user} (with its maps)").
func (o *matrixOp) id() string { return o.String() }

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

// sharedWorld is the world of a fuzz process. A target whose inputs may
// change it is given a lifetime: the world is rebuilt fresh after that many
// inputs, so that what earlier inputs changed (a deactivated super admin, a
// deleted role) does not hide the code behind it for long.
type sharedWorld struct {
	mu       sync.Mutex
	w        *fuzzWorld
	uses     int
	lifetime int // 0: forever
	dir      string
}

func (s *sharedWorld) get(t *testing.T) *fuzzWorld {
	t.Helper()
	if s.w != nil && s.lifetime > 0 && s.uses >= s.lifetime {
		s.w.shutdown()
		s.w = nil
	}
	if s.w == nil {
		s.w, s.uses = newFuzzWorld(t, s.dir), 0
	}
	s.uses++
	return s.w
}

func newSharedWorld(f *testing.F, lifetime int) *sharedWorld {
	s := &sharedWorld{dir: f.TempDir(), lifetime: lifetime}
	f.Cleanup(func() {
		if s.w != nil {
			s.w.shutdown()
		}
	})
	return s
}

// serve sends a request through the handler in process.
func (w *fuzzWorld) serve(t *testing.T, method, target, token string, body []byte, contentType string) *httptest.ResponseRecorder {
	t.Helper()
	req, err := http.NewRequest(method, "http://steward.test"+target, bytes.NewReader(body))
	if err != nil {
		t.Skipf("not a request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, req)
	return rec
}

// mustProblem fails unless a 4xx or 5xx answer is a problem document of its status.
func mustProblem(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: %d with Content-Type %q, want application/problem+json: %s", what, rec.Code, ct, rec.Body)
	}
	var p stewardhttp.Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %d answer is no problem document (%v): %s", what, rec.Code, err, rec.Body)
	}
	if p.Status != rec.Code || p.Title != http.StatusText(rec.Code) || p.Type == "" || p.Code == "" || p.Detail == "" {
		t.Fatalf("%s: problem %+v, want status %d with type, title, code and detail", what, p, rec.Code)
	}
}

// FuzzAPIRequest sends an operation of the OpenAPI document or of SCIM
// (named by "METHOD path", or picked by the name's hash) as the operator
// (actor 0), a user of each kind of the tenant (1 to 6), with no token (7)
// or an unknown one (8), with the path parameters params holds one a line
// (empty: the actor's own id; a last line "?…" is the query string) and the
// body. {{placeholders}} in params and body become the world's ids. No
// answer may be a 5xx (but SCIM's 501 for what it does not serve), every
// error is a problem document (on SCIM routes a SCIM error), nothing panics.
func FuzzAPIRequest(f *testing.F) {
	world := newSharedWorld(f, 1000)
	f.Fuzz(func(t *testing.T, opName string, actorIndex uint8, params string, body []byte) {
		world.mu.Lock()
		defer world.mu.Unlock()
		w := world.get(t)
		op, ok := w.byID[opName]
		if !ok {
			h := fnv.New32a()
			h.Write([]byte(opName))
			op = w.ops[int(h.Sum32()%uint32(len(w.ops)))]
		}
		token, self := operatorToken, actor{kind: "operator"}
		switch n := int(actorIndex) % (len(w.tn.actors) + 3); {
		case n == len(w.tn.actors)+1:
			token, self = "", actor{kind: "anonymous"}
		case n == len(w.tn.actors)+2:
			token, self = "stw_"+strings.Repeat("0", 40), actor{kind: "an unknown token"}
		case n > 0:
			self = w.tn.actors[n-1]
			token = self.token
		}
		lines := strings.Split(w.vars.Replace(params), "\n")
		query := ""
		if last := lines[len(lines)-1]; strings.HasPrefix(last, "?") {
			query, lines = last, lines[:len(lines)-1]
		}
		path := op.path
		for i, m := range pathParamRE.FindAllStringSubmatch(op.path, -1) {
			v := ""
			if i < len(lines) {
				v = lines[i]
			}
			if v == "" {
				v = op.fixed[m[1]]
				if si := slices.IndexFunc(op.slots, func(s slot) bool { return s.in == "path" && s.name == m[1] }); si >= 0 {
					v = ownID(w.tn, w.tn.actorOf("internal super admin"), op, op.slots[si])
				}
			}
			path = strings.Replace(path, m[0], escapePathValue(v), 1)
		}
		if query == "" && len(op.query) > 0 {
			query = "?" + op.query.Encode()
		}
		body = []byte(w.vars.Replace(string(body)))
		rec := w.serve(t, op.method, path+query, token, body, "application/json")
		what := op.method + " " + path + query + " as " + self.kind + " with " + strconv.Quote(string(body[:min(len(body), 2000)]))
		// SCIM answers an operation it does not serve (search by POST) with
		// 501, which RFC 7644 §3.12 names for it; any other 5xx is a bug.
		notServed := rec.Code == http.StatusNotImplemented && strings.HasPrefix(op.path, "/scim/")
		if rec.Code >= 500 && !notServed {
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && strings.HasPrefix(op.path, "/scim/") {
			scimError(t, what, rec)
		} else if rec.Code >= 400 {
			mustProblem(t, what, rec)
		}
	})
}

// escapePathValue escapes a path parameter so that it stays one segment.
func escapePathValue(v string) string {
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_~", c) >= 0 {
			sb.WriteByte(c)
		} else {
			sb.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
		}
	}
	return sb.String()
}

// scimError checks a SCIM error answer (RFC 7644 §3.12).
func scimError(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/scim+json" {
		t.Fatalf("%s: %d with Content-Type %q, want application/scim+json: %s", what, rec.Code, ct, rec.Body)
	}
	var e struct {
		Schemas []string `json:"schemas"`
		Status  string   `json:"status"`
		Detail  string   `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%s: %d answer is no SCIM error (%v): %s", what, rec.Code, err, rec.Body)
	}
	if !slices.Contains(e.Schemas, "urn:ietf:params:scim:api:messages:2.0:Error") || e.Status != strconv.Itoa(rec.Code) || e.Detail == "" {
		t.Fatalf("%s: SCIM error %+v, want the Error schema, status %d and a detail", what, e, rec.Code)
	}
}

// scimUser is what the SCIM targets read of a User.
type scimUser struct {
	Schemas  []string `json:"schemas"`
	ID       string   `json:"id"`
	UserName string   `json:"userName"`
	Active   *bool    `json:"active"`
}

// FuzzSCIMFilter lists SCIM Users with an arbitrary filter and paging, as
// a holder of account.scim.provision: a 200 is a ListResponse as RFC 7644
// §3.4.2 describes it, anything else a SCIM 4xx error. count and startIndex
// that are not integers are a 400; a negative count is 0 and a startIndex
// below 1 is 1 (§3.4.2.4); cursor is no SCIM parameter and is ignored.
func FuzzSCIMFilter(f *testing.F) {
	world := newSharedWorld(f, 0) // it only reads
	f.Fuzz(func(t *testing.T, filter, count, cursor, startIndex string) {
		world.mu.Lock()
		defer world.mu.Unlock()
		w := world.get(t)
		filter, count, cursor, startIndex = w.vars.Replace(filter), w.vars.Replace(count), w.vars.Replace(cursor), w.vars.Replace(startIndex)
		q := make([]string, 0, 4)
		for _, kv := range [][2]string{{"filter", filter}, {"count", count}, {"cursor", cursor}, {"startIndex", startIndex}} {
			if kv[1] != "" {
				q = append(q, kv[0]+"="+queryEscape(kv[1]))
			}
		}
		target := "/scim/v2/" + w.tn.client + "/Users?" + strings.Join(q, "&")
		rec := w.serve(t, "GET", target, w.tn.actorOf("internal super admin").token, nil, "application/scim+json")
		what := "GET " + target
		// The page asked for, as RFC 7644 §3.4.2.4 reads count and startIndex.
		wantCount, countOK := scimPagingParam(count, stewardhttp.SCIMMaxResults)
		wantStart, startOK := scimPagingParam(startIndex, 1)
		wantCount, wantStart = min(max(wantCount, 0), stewardhttp.SCIMMaxResults), max(wantStart, 1)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		case rec.Code >= 400:
			scimError(t, what, rec)
			if (!countOK || !startOK) && rec.Code != http.StatusBadRequest {
				t.Fatalf("%s: a count or startIndex that is no integer answered %d, want 400: %s", what, rec.Code, rec.Body)
			}
		case rec.Code == http.StatusOK:
			if !countOK || !startOK {
				t.Fatalf("%s: a count or startIndex that is no integer answered 200, want 400: %s", what, rec.Body)
			}
			list := scimList(t, what, rec)
			if list.StartIndex != wantStart {
				t.Fatalf("%s: startIndex %d, want %d: %s", what, list.StartIndex, wantStart, rec.Body)
			}
			// The page holds every match from startIndex on, up to count.
			if want := min(wantCount, max(list.TotalResults-(wantStart-1), 0)); len(list.Resources) != want {
				t.Fatalf("%s: %d resources of %d from startIndex %d with count %d, want %d: %s", what, len(list.Resources), list.TotalResults, wantStart, wantCount, want, rec.Body)
			}
			// A filter only narrows: it never matches more than the account has.
			if all := w.scimUserCount(t); list.TotalResults > all {
				t.Fatalf("%s: totalResults %d, but the account provisions %d users: %s", what, list.TotalResults, all, rec.Body)
			}
		default:
			t.Fatalf("%s: %d, want 200 or an error: %s", what, rec.Code, rec.Body)
		}
	})
}

// scimPagingParam reads a count or startIndex as the SCIM library does:
// absent is def, and ok is false for what is no integer.
func scimPagingParam(v string, def int) (n int, ok bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// scimListResponse is what the SCIM targets read of a ListResponse.
type scimListResponse struct {
	Schemas      []string   `json:"schemas"`
	TotalResults int        `json:"totalResults"`
	ItemsPerPage int        `json:"itemsPerPage"`
	StartIndex   int        `json:"startIndex"`
	Resources    []scimUser `json:"Resources"`
}

// scimList reads a 200 list of Users and checks what RFC 7644 §3.4.2 asks
// of every one: the ListResponse schema, totalResults counting at least the
// resources returned, itemsPerPage (as the server reports it, the page's
// size) at least as many and at most the server's maximum, startIndex from
// 1, and Users with an id, their schema, a userName and active, each once.
func scimList(t *testing.T, what string, rec *httptest.ResponseRecorder) scimListResponse {
	t.Helper()
	var list scimListResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatalf("%s: %v: %s", what, err, rec.Body)
	}
	switch {
	case !slices.Contains(list.Schemas, "urn:ietf:params:scim:api:messages:2.0:ListResponse"):
		t.Fatalf("%s: no ListResponse schema: %s", what, rec.Body)
	case list.TotalResults < len(list.Resources):
		t.Fatalf("%s: totalResults %d < %d resources: %s", what, list.TotalResults, len(list.Resources), rec.Body)
	case list.ItemsPerPage < len(list.Resources) || list.ItemsPerPage > stewardhttp.SCIMMaxResults:
		t.Fatalf("%s: itemsPerPage %d with %d resources, at most %d: %s", what, list.ItemsPerPage, len(list.Resources), stewardhttp.SCIMMaxResults, rec.Body)
	case list.StartIndex < 1:
		t.Fatalf("%s: startIndex %d < 1: %s", what, list.StartIndex, rec.Body)
	}
	seen := map[string]bool{}
	for _, u := range list.Resources {
		if u.ID == "" || seen[u.ID] || !slices.Contains(u.Schemas, "urn:ietf:params:scim:schemas:core:2.0:User") || u.UserName == "" || u.Active == nil {
			t.Fatalf("%s: user %+v lacks an id, the User schema, userName or active, or comes twice: %s", what, u, rec.Body)
		}
		seen[u.ID] = true
	}
	return list
}

// scimUserCount counts the users the world's client provisions, once.
func (w *fuzzWorld) scimUserCount(t *testing.T) int {
	t.Helper()
	if w.scimUsers < 0 {
		target := "/scim/v2/" + w.tn.client + "/Users"
		rec := w.serve(t, "GET", target, w.tn.actorOf("internal super admin").token, nil, "application/scim+json")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
		list := scimList(t, "GET "+target, rec)
		if list.TotalResults != len(list.Resources) || list.TotalResults == 0 {
			t.Fatalf("GET %s: %d of %d users on the first page, want them all: %s", target, len(list.Resources), list.TotalResults, rec.Body)
		}
		w.scimUsers = list.TotalResults
	}
	return w.scimUsers
}

// queryEscape escapes a query value byte by byte, invalid UTF-8 included.
func queryEscape(v string) string {
	return strings.ReplaceAll(escapePathValue(v), "%20", "+")
}

// FuzzSCIMPatch sends an arbitrary body as SCIM PATCH (put false) or PUT
// (put true) of an internal member, as a holder of account.scim.provision:
// a 200 is the User, whose active then reads back the same; anything else a
// SCIM 4xx error.
func FuzzSCIMPatch(f *testing.F) {
	world := newSharedWorld(f, 0) // it only turns one member's active on and off
	f.Fuzz(func(t *testing.T, put bool, body []byte) {
		world.mu.Lock()
		defer world.mu.Unlock()
		w := world.get(t)
		method := "PATCH"
		if put {
			method = "PUT"
		}
		target := "/scim/v2/" + w.tn.client + "/Users/" + w.tn.member
		token := w.tn.actorOf("internal super admin").token
		body = []byte(w.vars.Replace(string(body)))
		rec := w.serve(t, method, target, token, body, "application/scim+json")
		what := method + " " + target + " with " + strconv.Quote(string(body[:min(len(body), 2000)]))
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		case rec.Code >= 400:
			scimError(t, what, rec)
		case rec.Code == http.StatusOK:
			var u scimUser
			if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil || u.ID != w.tn.member || u.Active == nil {
				t.Fatalf("%s: answer %s (%v), want the user with active", what, rec.Body, err)
			}
			back := w.serve(t, "GET", target, token, nil, "application/scim+json")
			var got scimUser
			if err := json.Unmarshal(back.Body.Bytes(), &got); err != nil || got.Active == nil || *got.Active != *u.Active {
				t.Fatalf("%s answered active=%v; reading back: %d %s", what, *u.Active, back.Code, back.Body)
			}
		default:
			t.Fatalf("%s: %d, want 200 or an error: %s", what, rec.Code, rec.Body)
		}
	})
}
