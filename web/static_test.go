package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/web"
)

// TestStaticHashedURLsImmutable: the sign-in page names every stylesheet and
// script by a content-hash URL and is itself never cached; a hashed URL
// answers with a year-long immutable Cache-Control, while the unhashed name
// and a stale hash get a 404 that no cache may keep as the file.
func TestStaticHashedURLsImmutable(t *testing.T) {
	e := newEnv(t, "sqlite")
	c := e.client()
	res, body := e.get(c, "/login")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /login: status %d, Cache-Control %q; want 200 and no-store", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	refs := regexp.MustCompile(`(?:href|src)="(/static/[^"]*)"`).FindAllStringSubmatch(body, -1)
	hashed := regexp.MustCompile(`^/static/[0-9a-f]{16}/[a-z.]+\.(css|js)$`)
	names := map[string]bool{}
	for _, ref := range refs {
		path := ref[1]
		if !hashed.MatchString(path) {
			t.Errorf("the sign-in page links %s, not a content-hash URL", path)
			continue
		}
		name := path[strings.LastIndexByte(path, '/')+1:]
		names[name] = true
		res, body := e.get(c, path)
		if res.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s: status %d, %d bytes", path, res.StatusCode, len(body))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q, want a year and immutable", path, cc)
		}
		// A stale hash of the same name, and the name without a hash.
		stale := "/static/0123456789abcdef/" + name
		for _, p := range []string{stale, "/static/" + name} {
			res, _ := e.get(c, p)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
			}
			if cc := res.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") || strings.Contains(cc, "max-age") {
				t.Errorf("GET %s: Cache-Control %q on a 404", p, cc)
			}
		}
	}
	for _, want := range []string{"pico.min.css", "console.css", "htmx.min.js", "console.js"} {
		if !names[want] {
			t.Errorf("the sign-in page does not link %s by its hash (links: %v)", want, refs)
		}
	}
}

// TestConsoleIdleTimeout: a session unused for the idle timeout ends, while
// one in use lives on past it, although a page view does not write the
// session back each time.
func TestConsoleIdleTimeout(t *testing.T) {
	e := newEnv(t, "sqlite")
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "sessions.db"))
	e.must(err)
	t.Cleanup(func() { db.Close() })
	e.must(db.Migrate(context.Background()))
	ss := db.SessionStore(time.Minute)
	t.Cleanup(ss.StopCleanup)
	console, err := web.NewServer(e.svc, web.Config{BaseURL: "http://console.test", Sessions: ss, IdleTimeout: 3 * time.Second})
	e.must(err)
	ts := httptest.NewServer(console)
	t.Cleanup(ts.Close)
	c := e.client()
	post := func(path string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, _ := e.do(c, req)
		return res
	}
	home := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
		res, _ := e.do(c, req)
		return res
	}
	if res := post("/login", url.Values{"email": {"ada@acme.example"}, "password": {demoPassword}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: status %d", res.StatusCode)
	}
	// In use every second for longer than the idle timeout: still signed in.
	for range 5 {
		time.Sleep(time.Second)
		if res := home(); res.StatusCode != http.StatusOK {
			t.Fatalf("a session in use ended: status %d", res.StatusCode)
		}
	}
	time.Sleep(3500 * time.Millisecond)
	if res := home(); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("after the idle timeout: status %d Location %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
}
