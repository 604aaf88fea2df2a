package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/sqlite"
)

// testOperatorToken is the STEWARD_OPERATOR_TOKEN of the end-to-end tests.
const testOperatorToken = "stw_op_test_0123456789abcdefghijklmnop"

// MustRunMain runs the real program on 127.0.0.1:0 over db (a new SQLite
// file when empty) and closes it when the test ends.
func MustRunMain(tb testing.TB, db string) *Main {
	tb.Helper()
	if db == "" {
		db = "sqlite:" + filepath.Join(tb.TempDir(), "steward.db")
	}
	m := NewMain()
	m.Config.DB = db
	m.Config.MailDir = filepath.Join(tb.TempDir(), "mail")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Stderr = io.Discard
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("Run: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return m
}

// call sends a JSON request and decodes the JSON answer into a map.
func call(tb testing.TB, method, url, token string, body any) (int, map[string]any) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			tb.Fatalf("%s %s: answer is not JSON: %v\n%s", method, url, err, data)
		}
	}
	return resp.StatusCode, out
}

// mustCall is call that fails the test unless the status is want.
func mustCall(tb testing.TB, want int, method, url, token string, body any) map[string]any {
	tb.Helper()
	status, out := call(tb, method, url, token, body)
	if status != want {
		tb.Fatalf("%s %s: status=%d, want %d; body %v", method, url, status, want, out)
	}
	return out
}

// runCLI runs the command line in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestEndToEnd(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testEndToEnd(t, "sqlite:"+filepath.Join(t.TempDir(), "steward.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testEndToEnd(t, pgtest.NewDSN(t))
	})
}

func testEndToEnd(t *testing.T, db string) {
	t.Setenv("STEWARD_OPERATOR_TOKEN", "") // the CLI below is given --token
	m := MustRunMain(t, db)
	base := m.URL()

	if h := mustCall(t, http.StatusOK, "GET", base+"/healthz", "", nil); h["status"] != "ok" {
		t.Errorf("/healthz status=%v, want ok", h["status"])
	}
	mustCall(t, http.StatusOK, "GET", base+"/readyz", "", nil)
	if status, _ := call(t, "GET", base+"/v1/permissions", "", nil); status != http.StatusUnauthorized {
		t.Errorf("GET /v1/permissions without a token: status=%d, want 401", status)
	}

	acc := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Acme", "kind": "standard",
		"owner": map[string]any{"email": "ada@acme.example", "name": "Ada", "password": "correct horse battery"},
	})
	accID, _ := acc["id"].(string)
	if !strings.HasPrefix(accID, "acc_") {
		t.Fatalf("POST /v1/accounts id=%q, want acc_…", accID)
	}
	members := mustCall(t, http.StatusOK, "GET", base+"/v1/accounts/"+accID+"/members", testOperatorToken, nil)
	items, _ := members["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("members=%v, want the owner alone", members)
	}
	owner, _ := items[0].(map[string]any)["user_id"].(string)

	check := func(userID, perm string) map[string]any {
		return mustCall(t, http.StatusOK, "POST", base+"/v1/check", testOperatorToken,
			map[string]any{"user_id": userID, "account_id": accID, "permission": perm})
	}
	if res := check(owner, "crm.contacts.edit"); res["allowed"] != true {
		t.Errorf("check(owner, crm.contacts.edit)=%v, want allowed", res)
	}
	other := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Globex", "kind": "standard", "owner": map[string]any{"email": "hank@globex.example", "name": "Hank"},
	})
	// A write answers with its revision; a check that passes it reads it.
	tok := mustCall(t, http.StatusCreated, "POST", base+"/v1/tokens", testOperatorToken, map[string]any{"user_id": owner})
	userToken, _ := tok["token"].(string)
	if userToken == "" {
		t.Fatalf("POST /v1/tokens=%v, want a token", tok)
	}
	// A user token asks about its own user; another tenant's account looks
	// like one that does not exist (SPEC §4 "Unknown and foreign look alike").
	res := mustCall(t, http.StatusOK, "POST", base+"/v1/check", userToken,
		map[string]any{"user_id": owner, "account_id": accID, "permission": "crm.contacts.view"})
	if res["allowed"] != true {
		t.Errorf("check(owner of Acme in Acme)=%v, want allowed", res)
	}
	mustCall(t, http.StatusNotFound, "POST", base+"/v1/check", userToken,
		map[string]any{"user_id": owner, "account_id": other["id"], "permission": "crm.contacts.view"})

	// The command line: 0 allowed, 1 denied, 2 error.
	code, out, errOut := runCLI(t, "check", "--server", base, "--token", testOperatorToken, owner, accID, "crm.contacts.edit")
	if code != exitOK || !strings.HasPrefix(out, "allowed\n") || !strings.Contains(out, `"code": "granted"`) {
		t.Errorf("steward check (allowed): code=%d, want 0; stdout %q stderr %q", code, out, errOut)
	}
	t.Setenv("STEWARD_SERVER", base)
	t.Setenv("STEWARD_TOKEN", userToken)
	code, out, errOut = runCLI(t, "check", owner, accID, "crm.contacts.edit", "--at", "2030-01-01T00:00:00Z")
	if code != exitOK || !strings.HasPrefix(out, "allowed\n") {
		t.Errorf("steward check (user token from the environment): code=%d, want 0; stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "check", "--token", testOperatorToken, owner, other["id"].(string), "crm.contacts.edit", "--at", "2030-01-01T00:00:00Z")
	if code != exitFailed || !strings.HasPrefix(out, "denied\n") || !strings.Contains(out, `"code": "no_membership"`) {
		t.Errorf("steward check (denied): code=%d, want 1; stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "check", owner, accID, "no.such.permission")
	if code != exitError || !strings.Contains(errOut, "422") {
		t.Errorf("steward check (unknown permission): code=%d, want 2; stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "check", "--token", "wrong-token", owner, accID, "crm.contacts.edit")
	if code != exitError || !strings.Contains(errOut, "401") {
		t.Errorf("steward check (bad token): code=%d, want 2; stderr %q", code, errOut)
	}

	// The audit log verifies straight from the database, while the server runs.
	code, out, errOut = runCLI(t, "audit", "verify", "--db", db, "--account", accID)
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || !rep.OK || rep.Events < 3 || rep.AccountID != accID {
		t.Errorf("steward audit verify --account: code=%d, want 0 and ok with ≥3 events; stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "audit", "verify", "--db", db)
	if lines := strings.Count(out, "\n"); code != exitOK || lines != 2 || strings.Contains(out, `"ok":false`) {
		t.Errorf("steward audit verify: code=%d, want 0 and 2 lines; stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "audit", "verify", "--db", db, "--account", "acc_unknown")
	if code != exitError || !strings.Contains(errOut, "no account") {
		t.Errorf("steward audit verify --account unknown: code=%d, want 2; stderr %q", code, errOut)
	}
}

// A broken chain is reported with the first bad event, and exit code 1.
func TestAuditVerifyBroken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward.db")
	m := MustRunMain(t, "sqlite:"+path)
	acc := mustCall(t, http.StatusCreated, "POST", m.URL()+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Acme", "kind": "standard", "owner": map[string]any{"email": "ada@acme.example", "name": "Ada"},
	})
	m.Close()
	accID := acc["id"].(string)
	tamper(t, path, accID)

	code, out, _ := runCLI(t, "audit", "verify", "--db", "sqlite:"+path, "--account", accID)
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitFailed || err != nil || rep.OK || rep.FirstBadEventID == "" {
		t.Errorf("steward audit verify on a tampered log: code=%d, want 1 and ok=false with first_bad_event_id; stdout %q", code, out)
	}
}

// tamper rewrites the details of the account's second audit event in place,
// as someone with write access to the database file could.
func tamper(t *testing.T, path, accountID string) {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var second *steward.Event
	err = db.ScanEvents(context.Background(), accountID, func(e *steward.Event) error {
		if e.Seq == 2 {
			second = e
		}
		return nil
	})
	if err != nil || second == nil {
		t.Fatalf("ScanEvents: %v (second event %v)", err, second)
	}
	if err := execSQLite(path, `UPDATE audit_events SET details = '{"forged":true}' WHERE id = ?`, second.ID); err != nil {
		t.Skipf("cannot tamper with the audit table: %v", err)
	}
}

func TestOperatorTokenGeneratedOnce(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "steward.db")
	start := func() (*Main, string) {
		var stderr bytes.Buffer
		m := NewMain()
		m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
		m.Config.DB, m.Config.Listen, m.Config.OperatorToken = db, "127.0.0.1:0", ""
		m.Stderr = &stderr
		if err := m.Run(context.Background()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		return m, stderr.String()
	}
	tokenRE := regexp.MustCompile(`stw_op_[a-z0-9]+`)

	m, first := start()
	token := tokenRE.FindString(first)
	if token == "" || len(token) < 40 {
		t.Fatalf("first start printed no operator token; stderr %q", first)
	}
	if n := len(tokenRE.FindAllString(first, -1)); n != 1 {
		t.Errorf("the token is printed %d times, want once", n)
	}
	mustCall(t, http.StatusOK, "GET", m.URL()+"/v1/permissions", token, nil)
	if status, _ := call(t, "GET", m.URL()+"/v1/permissions", "stw_op_wrong", nil); status != http.StatusUnauthorized {
		t.Errorf("a wrong operator token: status=%d, want 401", status)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Only the hash is stored, nowhere the token itself.
	st, err := openDatabase(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := st.GetSetting(context.Background(), settingOperatorTokenHash)
	st.Close()
	if err != nil || hash != steward.HashSecret(token) {
		t.Errorf("stored %s=%q (err %v), want the SHA-256 of the printed token", settingOperatorTokenHash, hash, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if bytes.Contains(data, []byte(token)) {
			t.Errorf("%s holds the operator token in clear", filepath.Base(f))
		}
	}

	// A later start prints no token, and the first one still works.
	m, second := start()
	defer m.Close()
	if tokenRE.MatchString(second) {
		t.Errorf("a later start printed a token again: %q", second)
	}
	mustCall(t, http.StatusOK, "GET", m.URL()+"/v1/permissions", token, nil)
}

// STEWARD_OPERATOR_TOKEN replaces a generated token.
func TestOperatorTokenFromEnvironment(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "steward.db")
	for i, token := range []string{"", testOperatorToken} {
		var stderr bytes.Buffer
		m := NewMain()
		m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
		m.Config.DB, m.Config.Listen, m.Config.OperatorToken = db, "127.0.0.1:0", token
		m.Stderr = &stderr
		if err := m.Run(context.Background()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		if i == 1 {
			mustCall(t, http.StatusOK, "GET", m.URL()+"/v1/permissions", testOperatorToken, nil)
			if strings.Contains(stderr.String(), "stw_op_") {
				t.Errorf("a start with STEWARD_OPERATOR_TOKEN printed a token: %q", stderr.String())
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Without auto-migration the server refuses an old schema and says what to do.
func TestServeRefusesOldSchema(t *testing.T) {
	m := NewMain()
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.DB = "sqlite:" + filepath.Join(t.TempDir(), "steward.db")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Config.AutoMigrate = false
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "steward migrate") {
		t.Fatalf("Run on an empty database without auto-migrate: err=%v, want one that says to run `steward migrate`", err)
	}

	code, out, errOut := runCLI(t, "migrate", "--db", m.Config.DB)
	if code != exitOK || !strings.Contains(out, "up to date") {
		t.Fatalf("steward migrate: code=%d; stdout %q stderr %q", code, out, errOut)
	}
	m2 := NewMain()
	m2.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m2.Config = m.Config
	m2.Stderr = io.Discard
	defer m2.Close()
	if err := m2.Run(context.Background()); err != nil {
		t.Fatalf("Run after steward migrate: %v", err)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != exitOK || strings.TrimSpace(out) != Version {
		t.Errorf("steward version: code=%d stdout %q, want %q", code, out, Version)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ErrNoCommand", nil, "expected"},
		{"ErrUnknownCommand", []string{"serv"}, "serv"},
		{"ErrBadDB", []string{"migrate", "--db", "mysql://x"}, "sqlite:PATH"},
		{"ErrCheckArgs", []string{"check", "usr_1"}, "expected"},
		{"ErrCheckAt", []string{"check", "--token", "t", "--at", "tomorrow", "u", "a", "p"}, "RFC 3339"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code == exitOK || !strings.Contains(errOut, tc.want) {
				t.Errorf("steward %v: code=%d stderr %q, want an error mentioning %q", tc.args, code, errOut, tc.want)
			}
		})
	}
}

// execSQLite runs one statement on a SQLite file, behind the store's back.
func execSQLite(path, query string, args ...any) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(query, args...)
	return err
}

// TestConsentFile serves the operator's own agreement (R-EXT-2).
func TestConsentFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agreement.txt")
	if err := os.WriteFile(path, []byte("Our own delegated administration agreement."), 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain()
	m.Config.DB = "sqlite:" + filepath.Join(t.TempDir(), "steward.db")
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.Listen, m.Config.OperatorToken, m.Stderr = "127.0.0.1:0", testOperatorToken, io.Discard
	m.Config.ConsentFile, m.Config.ConsentVersion = path, "2026-11"
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	req, _ := http.NewRequest("GET", m.URL()+"/v1/consent", nil)
	req.Header.Set("Authorization", "Bearer "+testOperatorToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got steward.ConsentAgreement
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "2026-11" || got.Text != "Our own delegated administration agreement." {
		t.Errorf("consent = %+v, want the file's agreement at version 2026-11", got)
	}
}

// TestDemo seeds the demo world and checks what it promises: Dave, Carol's
// delegate, may view reports in Acme; a second run refuses a full database.
func TestDemo(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--db", db}, &out, &errOut); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errOut.String())
	}
	dave := regexp.MustCompile(`dave@carol-consulting\.example\s.*\s(stw_\w+)`).FindStringSubmatch(out.String())
	acme := regexp.MustCompile(`Acme Corp\s+standard\s+(acc_\w+)`).FindStringSubmatch(out.String())
	daveID := regexp.MustCompile(`"user_id": "(usr_\w+)"`).FindStringSubmatch(out.String())
	if dave == nil || acme == nil || daveID == nil {
		t.Fatalf("demo output lacks Dave's token, Acme's id or Dave's id:\n%s", out.String())
	}
	m := NewMain()
	m.Config.DB, m.Config.MailDir = db, filepath.Join(t.TempDir(), "mail")
	m.Config.Listen, m.Config.OperatorToken, m.Stderr = "127.0.0.1:0", testOperatorToken, io.Discard
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	body := `{"user_id": "` + daveID[1] + `", "account_id": "` + acme[1] + `", "permission": "reports.view"}`
	req, _ := http.NewRequest("POST", m.URL()+"/v1/check", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+dave[1])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got steward.CheckResult
	json.NewDecoder(res.Body).Decode(&got)
	if !got.Allowed || got.Reason.Kind != steward.KindDelegate || len(got.Reason.Chain) != 2 {
		t.Errorf("Dave's check = %+v, want allowed as a delegate through Carol", got)
	}
	if code := run(context.Background(), []string{"demo", "--db", db}, &out, &errOut); code == 0 {
		t.Error("a second demo run on the same database succeeded")
	}
}
