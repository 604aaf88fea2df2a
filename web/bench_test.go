package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/alexedwards/scs/v2"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/internal/sqlstore"
	"github.com/steward-iam/steward/password"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/web"
)

// Sizes of the benchmark's partner: the spec's targets name a partner of
// 10,000 clients and one of 5,000 employees; one partner has both.
const (
	benchClients   = 10000
	benchEmployees = 5000
)

// bulkStore is a store that takes rows in bulk, as synthetic worlds need.
type bulkStore interface {
	steward.Store
	authz.Source
	BulkInsert(ctx context.Context, table string, columns []string, rows sqlstore.Rows) (int, error)
}

// benchWorld is a partner of benchClients clients and benchEmployees
// employees, and its admin: a super admin of the partner who is also a
// partner admin in every client, the heaviest user for the console's
// per-request session check.
type benchWorld struct {
	console http.Handler
	cookie  string
	partner string
}

// newBenchWorld generates the world in bulk into a fresh database, loads the
// check index as `steward serve` does, and signs the admin in.
func newBenchWorld(b *testing.B, backend string) *benchWorld {
	b.Helper()
	ctx := context.Background()
	var st bulkStore
	var sessions scs.Store
	switch backend {
	case "sqlite":
		db, err := sqlite.Open(filepath.Join(b.TempDir(), "steward.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		ss := db.SessionStore(time.Hour)
		b.Cleanup(ss.StopCleanup)
		st, sessions = db, ss
	case "postgres":
		db, err := postgres.Open(ctx, pgtest.NewDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		ss := db.SessionStore(time.Hour)
		b.Cleanup(ss.StopCleanup)
		st, sessions = db, ss
	}
	hasher := &password.Hasher{Memory: 8 * 1024, Time: 1, Threads: 1}
	hash, err := hasher.Hash(demoPassword)
	if err != nil {
		b.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	us := now.UnixMicro()
	partner := steward.NewID(steward.PrefixAccount, now)
	clients := make([]string, benchClients)
	for i := range clients {
		clients[i] = steward.NewID(steward.PrefixAccount, now)
	}
	admin := steward.NewID(steward.PrefixUser, now)
	employees := make([]string, benchEmployees)
	for i := range employees {
		employees[i] = steward.NewID(steward.PrefixUser, now)
	}
	owners := make([]string, benchClients)
	for i := range owners {
		owners[i] = steward.NewID(steward.PrefixUser, now)
	}
	bulk := func(table string, columns []string, n int, row func(i int) []any) {
		b.Helper()
		_, err := st.BulkInsert(ctx, table, columns, func(yield func([]any) bool) {
			for i := range n {
				if !yield(row(i)) {
					return
				}
			}
		})
		if err != nil {
			b.Fatalf("%s: %v", table, err)
		}
	}
	account := func(i int) string {
		if i == 0 {
			return partner
		}
		return clients[i-1]
	}
	bulk("accounts", []string{"id", "name", "kind", "region", "has_billing_info", "plan", "verified_domains",
		"require_delegate_billing", "created_at", "updated_at"}, benchClients+1, func(i int) []any {
		if i == 0 {
			return []any{partner, "Big Agency", string(steward.AccountPartner), "us", 1, "pro", `["agency.example"]`, 0, us, us}
		}
		return []any{account(i), fmt.Sprintf("Client %05d", i), string(steward.AccountStandard), "us", 1, "pro", "[]", 0, us, us}
	})
	bulk("audit_heads", []string{"account_id", "seq", "hash"}, benchClients+1, func(i int) []any { return []any{account(i), 0, ""} })
	bulk("users", []string{"id", "email", "name", "home_account_id", "status", "password_hash", "created_at", "updated_at"},
		1+benchEmployees+benchClients, func(i int) []any {
			switch {
			case i == 0:
				return []any{admin, "admin@agency.example", "Agency Admin", partner, "active", hash, us, us}
			case i <= benchEmployees:
				return []any{employees[i-1], fmt.Sprintf("employee%05d@agency.example", i), fmt.Sprintf("Employee %05d", i), partner, "active", "", us, us}
			}
			c := i - 1 - benchEmployees
			return []any{owners[c], fmt.Sprintf("owner@client%05d.example", c), fmt.Sprintf("Owner %05d", c), clients[c], "active", "", us, us}
		})
	bulk("relationships", []string{"id", "partner_id", "client_id", "status", "alias", "last_activity_at",
		"ending_since", "ends_at", "ended_at", "created_at", "updated_at"}, benchClients, func(i int) []any {
		return []any{steward.NewID(steward.PrefixRelationship, now), partner, clients[i], "active", fmt.Sprintf("Alias %05d", i), us, nil, nil, nil, us, us}
	})
	// Memberships: the admin (super admin of the partner, partner admin in
	// every client), each employee (member of the partner, and partner
	// employee in two clients), each client's owner.
	type ms struct {
		account, user, kind, role, partner string
	}
	var rows []ms
	rows = append(rows, ms{partner, admin, string(steward.KindInternal), steward.RoleSuperAdmin, ""})
	for _, c := range clients {
		rows = append(rows, ms{c, admin, string(steward.KindPartner), steward.RolePartnerAdmin, partner})
	}
	for i, e := range employees {
		rows = append(rows, ms{partner, e, string(steward.KindInternal), steward.RoleMember, ""})
		for k := range 2 {
			rows = append(rows, ms{clients[(2*i+k)%benchClients], e, string(steward.KindPartner), steward.RoleMember, partner})
		}
	}
	for i, o := range owners {
		rows = append(rows, ms{clients[i], o, string(steward.KindInternal), steward.RoleSuperAdmin, ""})
	}
	bulk("memberships", []string{"id", "account_id", "user_id", "kind", "status", "role", "permissions", "ends_at",
		"granted_by", "partner_id", "parent_id", "allow_redelegation", "delegates_end_at", "managed_by", "created_at", "updated_at"},
		len(rows), func(i int) []any {
			r := rows[i]
			managed := ""
			if r.kind == string(steward.KindPartner) {
				managed = partner
			}
			return []any{steward.NewID(steward.PrefixMembership, now), r.account, r.user, r.kind, "active", r.role, "[]", nil,
				"operator", r.partner, "", 0, nil, managed, us, us}
		})

	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	svc := steward.NewService(st, cat, nil)
	svc.Passwords = hasher
	ix := authz.New(st, cat, slog.New(slog.DiscardHandler))
	if err := ix.Load(ctx); err != nil {
		b.Fatal(err)
	}
	svc.Checker, svc.Lister, svc.OnCommit = ix, ix, ix.OnCommit
	console, err := web.NewServer(svc, web.Config{BaseURL: "http://console.test", Sessions: sessions})
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWorld{console: console, partner: partner}
	form := url.Values{"email": {"admin@agency.example"}, "password": {demoPassword}}
	req := httptest.NewRequest(http.MethodPost, "http://console.test/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	console.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("sign in: status %d: %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "steward_session" {
			w.cookie = c.Name + "=" + c.Value
		}
	}
	if w.cookie == "" {
		b.Fatal("sign in set no session cookie")
	}
	return w
}

// get serves one GET through the console with the admin's session.
func (w *benchWorld) get(b *testing.B, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://console.test"+path, nil)
	req.Header.Set("Cookie", w.cookie)
	rec := httptest.NewRecorder()
	w.console.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: status %d", path, rec.Code)
	}
	return rec
}

// benchBackends runs fn on SQLite, and on PostgreSQL when
// STEWARD_TEST_POSTGRES_DSN is set.
func benchBackends(b *testing.B, fn func(b *testing.B, w *benchWorld)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			if backend == "postgres" && os.Getenv("STEWARD_TEST_POSTGRES_DSN") == "" {
				b.Skip("STEWARD_TEST_POSTGRES_DSN is not set")
			}
			fn(b, newBenchWorld(b, backend))
		})
	}
}

// timed runs fn once per iteration and reports the median and the 99th
// percentile of the iterations' times, in milliseconds: wall-clock time
// (p50-ms, p99-ms); the CPU time of the thread that serves the request
// (cpu-p50-ms, cpu-p99-ms); and that thread's time spent runnable but
// waiting for a CPU taken by other processes (runq-p99-ms), which shows how
// much of the wall-clock time a busy machine added. The handler runs on the
// benchmark's goroutine, locked to its thread (the garbage collector's
// background work runs elsewhere and is not counted as CPU time).
func timed(b *testing.B, fn func()) {
	b.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var wall, cpu, runq []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		c0, q0 := threadCPU(), runqWait()
		fn()
		c1, q1 := threadCPU(), runqWait()
		wall = append(wall, time.Since(t))
		cpu, runq = append(cpu, c1-c0), append(runq, q1-q0)
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Nanoseconds()) / 1e6
	}
	b.ReportMetric(pct(wall, 0.50), "p50-ms")
	b.ReportMetric(pct(wall, 0.99), "p99-ms")
	b.ReportMetric(pct(cpu, 0.50), "cpu-p50-ms")
	b.ReportMetric(pct(cpu, 0.99), "cpu-p99-ms")
	b.ReportMetric(pct(runq, 0.99), "runq-p99-ms")
}

// threadCPU is the CPU time the calling thread has used
// (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// runqWait is the time the calling thread has spent runnable, waiting for a
// CPU, from Linux's /proc/thread-self/schedstat (zero elsewhere).
func runqWait() time.Duration {
	raw, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		return 0
	}
	q, _ := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(q)
}

// BenchmarkConsoleClients is the server time of the Clients tab, first
// page, of a partner of 10,000 clients, for a signed-in partner admin.
func BenchmarkConsoleClients(b *testing.B) {
	benchBackends(b, func(b *testing.B, w *benchWorld) {
		path := "/accounts/" + w.partner + "/clients"
		if body := w.get(b, path).Body.String(); !strings.Contains(body, "Alias 0") {
			b.Fatalf("the first page does not show the first client")
		}
		timed(b, func() { w.get(b, path) })
	})
}

// BenchmarkConsoleEmployees is the server time of the Employees tab, first
// page, of a partner of 5,000 employees.
func BenchmarkConsoleEmployees(b *testing.B) {
	benchBackends(b, func(b *testing.B, w *benchWorld) {
		path := "/accounts/" + w.partner + "/employees"
		if body := w.get(b, path).Body.String(); !strings.Contains(body, "Employee 0") {
			b.Fatalf("the first page does not show the first employee")
		}
		timed(b, func() { w.get(b, path) })
	})
}

// BenchmarkConsoleSession is the per-request cost of a signed-in session
// alone: the account overview of the partner, for a user in 10,001 accounts.
func BenchmarkConsoleSession(b *testing.B) {
	benchBackends(b, func(b *testing.B, w *benchWorld) {
		path := "/accounts/" + w.partner
		timed(b, func() { w.get(b, path) })
	})
}
