package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/internal/synth"
	"github.com/steward-iam/steward/sqlite"
)

// get answers the status, headers and body of a GET.
func get(t *testing.T, url string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// TestStartupTimeline starts the server on a world of 100,000 memberships:
// the port answers at once, /healthz with 200 and /readyz with 503
// index_loading while the check index loads, and /readyz 200 once it is.
func TestStartupTimeline(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "steward.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	size := synth.Size{Accounts: 200, Partners: 10, Users: 20000, MembershipsPerUser: 5, PartnerShare: 1, DelegateShare: 0.2,
		BigAccountMembers: 1000, BigPartnerClients: 50, Seed: 3}
	w, err := synth.Generate(ctx, db, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if w.Memberships != 100000 {
		t.Fatalf("Memberships = %d, want 100000", w.Memberships)
	}

	// The load waits until the probes below have looked at the server.
	release := make(chan struct{})
	testBeforeIndexLoad = func() { <-release }
	t.Cleanup(func() { testBeforeIndexLoad = nil })
	m := NewMain()
	m.Config.DB = "sqlite:" + path
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Stderr = io.Discard
	listening := make(chan string, 1)
	m.OnListening = func(url string) { listening <- url }
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	t.Cleanup(func() { m.Close() })

	var base string
	select {
	case base = <-listening:
	case err := <-ran:
		close(release)
		t.Fatalf("Run returned before listening: %v", err)
	}
	if status, _, body := get(t, base+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz while loading: status=%d, want 200; %s", status, body)
	}
	status, h, body := get(t, base+"/readyz")
	if status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"code":"index_loading"`)) || h.Get("Retry-After") == "" {
		t.Errorf("/readyz while loading: status=%d Retry-After=%q, want 503 index_loading with Retry-After; %s", status, h.Get("Retry-After"), body)
	}
	status, h, body = get(t, base+"/v1/permissions", "Authorization", "Bearer "+testOperatorToken)
	if status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"code":"not_ready"`)) || h.Get("Retry-After") == "" {
		t.Errorf("GET /v1/permissions while loading: status=%d, want 503 not_ready with Retry-After; %s", status, body)
	}
	close(release)
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if status, _, body := get(t, base+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz once loaded: status=%d, want 200; %s", status, body)
	}
	fams := scrape(t, base)
	if got := gauge(fams, "steward_index_memberships"); got != 100000 {
		t.Errorf("steward_index_memberships = %v, want 100000", got)
	}
	s := w.Samples[0]
	res := mustCall(t, http.StatusOK, "POST", base+"/v1/check", testOperatorToken,
		map[string]any{"user_id": s.UserID, "account_id": s.AccountID, "permission": s.Permission})
	if res["allowed"] != true {
		t.Errorf("check of a sample once loaded = %v, want allowed", res)
	}
}

// scrape reads /metrics and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	status, _, body := get(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status=%d", status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample returns the value of a family's metric whose labels include the
// given pairs, and whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func gauge(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	v, _ := sample(fams, name, labels...)
	return v
}

// sum adds up every metric of a family.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	if f := fams[name]; f != nil {
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// TestMetrics runs a scripted workload (an account, a role, checks allowed,
// denied and failing, an invitation mailed, console sign-ins) and finds
// every metric family on /metrics with values that fit the workload; the
// exposition passes `promtool check metrics`.
func TestMetrics(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testMetrics(t, "") })
	t.Run("PostgreSQL", func(t *testing.T) { testMetrics(t, pgtest.NewDSN(t)) })
}

func testMetrics(t *testing.T, db string) {
	m := MustRunMain(t, db)
	base := m.URL()
	// On PostgreSQL the node hears its own writes' notifications too.
	maxNotifications := 0.0
	if db != "" {
		maxNotifications = 1e9
	}

	acc := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Acme", "kind": "standard",
		"owner": map[string]any{"email": "ada@acme.example", "name": "Ada", "password": "correct horse battery"},
	})
	accID := acc["id"].(string)
	owner := mustCall(t, http.StatusOK, "GET", base+"/v1/accounts/"+accID+"/members", testOperatorToken, nil)["items"].([]any)[0].(map[string]any)["user_id"].(string)
	role := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts/"+accID+"/roles", testOperatorToken,
		map[string]any{"name": "Analyst", "permissions": []string{"reports.view"}})
	mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts/"+accID+"/roles/"+role["id"].(string)+"/invitations", testOperatorToken,
		map[string]any{"emails": []string{"carol@consulting.example"}, "consent": map[string]any{"accepted": true, "version": steward.DefaultConsentVersion}})
	for range 3 {
		mustCall(t, http.StatusOK, "POST", base+"/v1/check", testOperatorToken, map[string]any{"user_id": owner, "account_id": accID, "permission": "reports.view"})
	}
	other := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Globex", "kind": "standard", "owner": map[string]any{"email": "hank@globex.example", "name": "Hank"},
	})
	mustCall(t, http.StatusOK, "POST", base+"/v1/check", testOperatorToken, map[string]any{"user_id": owner, "account_id": other["id"], "permission": "reports.view"})
	mustCall(t, http.StatusNotFound, "POST", base+"/v1/check", testOperatorToken, map[string]any{"user_id": "usr_nobody", "account_id": accID, "permission": "reports.view"})
	for _, pass := range []string{"correct horse battery", "wrong"} {
		resp, err := http.PostForm(base+"/login", url.Values{"email": {"ada@acme.example"}, "password": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// The mail and the scheduler work in the background: wait until they
	// have done their first round.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(30 * time.Second); ; {
		fams = scrape(t, base)
		if gauge(fams, "steward_mail_sent_total") >= 1 && sum(fams, "steward_job_runs_total") >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	tests := []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"steward_check_decisions_total", []string{"result", "allowed", "reason", "granted"}, 3, 3},
		{"steward_check_decisions_total", []string{"result", "denied", "reason", "no_membership"}, 1, 1},
		{"steward_check_decisions_total", []string{"result", "error", "reason", "not_found"}, 1, 1},
		{"steward_check_duration_seconds", nil, 5, 5},
		{"steward_index_users", nil, 2, 2},
		{"steward_index_memberships", nil, 2, 2},
		{"steward_index_applied_revision", nil, 1, 1e9},
		{"steward_database_revision", nil, 1, 1e9},
		{"steward_index_reloads_total", nil, 0, 0},
		{"steward_change_notifications_total", nil, 0, maxNotifications},
		{"steward_db_pool_connections", []string{"state", "acquired"}, 0, 100},
		{"steward_db_pool_connections", []string{"state", "idle"}, 0, 100},
		{"steward_db_pool_waits_total", nil, 0, 1e9},
		{"steward_db_pool_wait_seconds_total", nil, 0, 1e9},
		{"steward_outbox_messages", nil, 0, 0},
		{"steward_outbox_oldest_message_age_seconds", nil, 0, 0},
		{"steward_mail_sent_total", nil, 1, 1},
		{"steward_mail_failures_total", nil, 0, 0},
		{"steward_mail_given_up_total", nil, 0, 0},
		{"steward_job_runs_total", []string{"job", "expire_memberships"}, 1, 1e9},
		{"steward_job_failures_total", []string{"job", "expire_memberships"}, 0, 0},
		{"steward_console_logins_total", []string{"result", "success"}, 1, 1},
		{"steward_console_logins_total", []string{"result", "failure"}, 1, 1},
		{"steward_http_requests_total", []string{"route", "/v1/check", "status", "200"}, 4, 4},
		{"steward_http_request_duration_seconds", []string{"route", "/v1/check"}, 5, 5},
	}
	for _, tt := range tests {
		v, ok := sample(fams, tt.name, tt.labels...)
		if !ok {
			t.Errorf("%s%v: missing from /metrics", tt.name, tt.labels)
			continue
		}
		if v < tt.min || v > tt.max {
			t.Errorf("%s%v = %v, want %v to %v", tt.name, tt.labels, v, tt.min, tt.max)
		}
	}
	// The database and the index agree once the writes are applied.
	if a, d := gauge(fams, "steward_index_applied_revision"), gauge(fams, "steward_database_revision"); a != d {
		t.Errorf("steward_index_applied_revision = %v, steward_database_revision = %v, want equal", a, d)
	}
	// Every family of the dashboard is on /metrics.
	dash, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range dashboardFamilies(t, dash) {
		if fams[name] == nil {
			t.Errorf("the dashboard uses %s, which /metrics does not have", name)
		}
	}

	promtool(t, base)
}

// dashboardFamilies returns the metric families the dashboard's queries name.
func dashboardFamilies(t *testing.T, dash []byte) []string {
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	var names []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, w := range strings.FieldsFunc(tg.Expr, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
			}) {
				if strings.HasPrefix(w, "steward_") {
					names = append(names, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(w, "_bucket"), "_count"), "_sum"))
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("docs/grafana-dashboard.json queries no steward_ metric")
	}
	return names
}

// promtool runs `promtool check metrics` on the exposition: when promtool
// is missing the test skips this step, except in CI where it fails.
func promtool(t *testing.T, base string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing; .ci/run installs it (Debian package prometheus)")
		}
		t.Log("promtool not found: skipping `promtool check metrics` (apt-get install prometheus)")
		return
	}
	_, _, body := get(t, base+"/metrics")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestAccessLog finds one JSON line per request with the route pattern, the
// status, the request id the caller sent, the actor, and never the token.
func TestAccessLog(t *testing.T) {
	var buf syncBuffer
	m := NewMain()
	m.Config.DB = "sqlite:" + filepath.Join(t.TempDir(), "steward.db")
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Config.AccessLog = true
	m.Stderr = io.Discard
	m.Logger = newLogger(&buf, "info", "json")
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	status, h, _ := get(t, m.URL()+"/v1/accounts/acc_nothere", "Authorization", "Bearer "+testOperatorToken, "X-Request-Id", "trace-42")
	if status != http.StatusNotFound || h.Get("X-Request-Id") != "trace-42" {
		t.Errorf("status=%d X-Request-Id=%q, want 404 and the id sent back", status, h.Get("X-Request-Id"))
	}
	m.Close()
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if strings.Contains(line, testOperatorToken) {
			t.Errorf("log line holds the token: %s", line)
		}
		if rec["msg"] == "request" && rec["request_id"] == "trace-42" {
			found = true
			if rec["route"] != "/v1/accounts/{account}" || rec["method"] != "GET" || rec["status"] != float64(404) ||
				rec["actor_id"] != "operator" || rec["level"] != slog.LevelInfo.String() || rec["duration"] == nil {
				t.Errorf("access log line = %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no access log line for the request; log:\n%s", buf.String())
	}
}

// syncBuffer is a bytes.Buffer that the server's goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeDemo runs `steward serve --demo` on a free port: the printed
// command works when pasted, the mailed links carry the real address, and
// a JSON body is taken without Content-Type, or with the form type curl -d
// sends.
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	t.Setenv("STEWARD_OPERATOR_TOKEN", testOperatorToken)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "demo.db"),
			"--mail-dir", filepath.Join(dir, "mail"), "--log-level", "warn"}, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	urlRE := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(stderr.String()); m != nil && strings.Contains(stderr.String(), "curl -s -X POST") {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no banner with the address and the demo's command:\n%s", stderr.String())
	}
	out := stderr.String()
	i := strings.Index(out, "  curl -s -X POST")
	command := strings.TrimSpace(strings.SplitN(out[i:], "\n\n", 2)[0])
	if !strings.Contains(command, base+"/v1/check") {
		t.Fatalf("the printed command does not call %s:\n%s", base, command)
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		got, err := exec.Command("sh", "-c", strings.Replace(command, "curl", curl, 1)).Output()
		if err != nil || !bytes.Contains(got, []byte(`"allowed":true`)) {
			t.Errorf("the pasted command: %v; answer %s\ncommand:\n%s", err, got, command)
		}
	}

	// The same body with no Content-Type, and with curl -d's form type.
	body := regexp.MustCompile(`-d '([^']*)'`).FindStringSubmatch(command)[1]
	token := regexp.MustCompile(`Bearer (\S+)'`).FindStringSubmatch(command)[1]
	for _, ct := range []string{"", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/check", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"allowed":true`)) {
			t.Errorf("Content-Type %q: status=%d, want 200 allowed; %s", ct, resp.StatusCode, got)
		}
	}

	// The mail written for the demo's invitation links to the real address.
	// The outbox sends the demo's mail in the background, the invitation's
	// among others: wait until it is there.
	linked := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mails, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
		linked = 0
		for _, f := range mails {
			b, _ := os.ReadFile(f)
			b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("=\r\n"), nil), []byte("=\n"), nil) // quoted-printable soft breaks
			if bytes.Contains(b, []byte("http://127.0.0.1:8080")) {
				t.Fatalf("%s links to the default address, not %s:\n%s", filepath.Base(f), base, b)
			}
			if bytes.Contains(b, []byte(base+"/")) {
				linked++
			}
		}
		if linked > 0 {
			break
		}
	}
	if linked == 0 {
		t.Errorf("no mail links to %s", base)
	}
}

// TestAuditVerifyMissingDatabase: verifying a database that is not there
// exits 2 and creates nothing.
func TestAuditVerifyMissingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	code, _, errOut := runCLI(t, "audit", "verify", "--db", "sqlite:"+path)
	if code != exitError || !strings.Contains(errOut, "no database") {
		t.Errorf("exit %d, want 2; stderr %q", code, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists after the verify: %v", path, err)
	}
}

// TestJSONLogFormat: under --log-format json every line on stderr is a JSON
// object, the banner and the generated operator token included.
func TestJSONLogFormat(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	t.Setenv("STEWARD_OPERATOR_TOKEN", "")
	go func() {
		done <- run(ctx, []string{"--log-format", "json", "serve", "--demo", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "s.db"),
			"--mail-dir", filepath.Join(dir, "mail")}, io.Discard, &stderr)
	}()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stderr.String(), `"msg":"demo check"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exit %d", code)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		msgs = append(msgs, rec["msg"].(string))
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"Steward generated an operator token", "listening", "demo user", "demo check", "stopped"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q line among:\n%s", want, joined)
		}
	}
}
