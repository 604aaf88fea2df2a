package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/web"
)

// client is a browser-like HTTP client: it keeps cookies and does not follow
// redirects, so tests see each answer.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// post sends a same-origin form, as a browser would from a console page.
func (e *env) post(c *http.Client, path string, form url.Values, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(c, req)
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	return e.do(c, req)
}

func (e *env) do(c *http.Client, req *http.Request) (*http.Response, string) {
	e.t.Helper()
	res, err := c.Do(req)
	e.must(err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	e.must(err)
	return res, string(body)
}

func (e *env) login(c *http.Client, email, pass string) *http.Response {
	e.t.Helper()
	res, _ := e.post(c, "/login", url.Values{"email": {email}, "password": {pass}})
	return res
}

func sessionCookie(c *http.Client, base string) *http.Cookie {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "steward_session" {
			return ck
		}
	}
	return nil
}

// TestConsoleSessions covers the session's life: the id changes at sign-in,
// a cookie replayed after sign-out is refused, and a user deactivated in its
// home account loses its session on the next request.
func TestConsoleSessions(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		c := e.client()
		e.get(c, "/login")
		before := sessionCookie(c, e.URL)
		if res := e.login(c, "bob@acme.example", demoPassword); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in status %d, want 303", res.StatusCode)
		}
		after := sessionCookie(c, e.URL)
		if after == nil {
			t.Fatal("no session cookie after sign-in")
		}
		if before != nil && before.Value == after.Value {
			t.Error("the session id was not renewed at sign-in")
		}
		if res, body := e.get(c, "/"); res.StatusCode != http.StatusOK || !strings.Contains(body, "Acme Corp") {
			t.Fatalf("home after sign-in: status %d", res.StatusCode)
		}

		t.Run("CookieReplayedAfterLogoutRefused", func(t *testing.T) {
			c := e.client()
			e.login(c, "ada@acme.example", demoPassword)
			stolen := sessionCookie(c, e.URL)
			if res, _ := e.post(c, "/logout", nil); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-out status %d", res.StatusCode)
			}
			replay := e.client()
			u, _ := url.Parse(e.URL)
			replay.Jar.SetCookies(u, []*http.Cookie{{Name: stolen.Name, Value: stolen.Value}})
			res, _ := e.get(replay, "/accounts/"+e.acme.ID)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("replayed cookie: status %d Location %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
			}
		})

		t.Run("DeactivatedUserLosesSession", func(t *testing.T) {
			if _, _, err := e.svc.DeactivateUser(e.op(), e.bob.ID); err != nil {
				t.Fatal(err)
			}
			res, _ := e.get(c, "/")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Fatalf("deactivated user: status %d, want a redirect to /login", res.StatusCode)
			}
			_, body := e.get(c, "/login")
			if !strings.Contains(body, "deactivated") {
				t.Errorf("the sign-in page does not say why the session ended:\n%s", body)
			}
			if res := e.login(e.client(), "bob@acme.example", demoPassword); res.StatusCode != http.StatusForbidden {
				t.Errorf("deactivated user signs in: status %d, want 403", res.StatusCode)
			}
		})
	})
}

// TestConsoleCrossOriginRefused: a form posted from another site is refused
// before it reaches a handler, also with a valid session cookie.
func TestConsoleCrossOriginRefused(t *testing.T) {
	e := newEnv(t, "sqlite")
	c := e.client()
	e.login(c, "ada@acme.example", demoPassword)
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	path := strings.TrimPrefix(link.URL, e.URL)
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"SecFetchSite", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"OriginOnly", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.post(c, path+"/approve", url.Values{"account_id": {e.acme.ID}}, tc.header...)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "sent from another site") {
				t.Errorf("cross-origin approve: status %d, want 403", res.StatusCode)
			}
		})
	}
	if got := e.check(e.pat.ID, e.acme.ID, "crm.contacts.view"); got.Allowed {
		t.Error("a cross-origin post approved the access link")
	}
	// The same form from the console itself works.
	if res, _ := e.post(c, path+"/approve", url.Values{"account_id": {e.acme.ID}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin approve: status %d, want 303", res.StatusCode)
	}
}

// TestConsoleTenantIsolation: a user of another tenant who opens an
// account's page by URL gets the same 404 as for an account that does not exist.
func TestConsoleTenantIsolation(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		c := e.client()
		e.login(c, "grace@globex.example", demoPassword)
		if res, _ := e.get(c, "/accounts/"+e.globex.ID); res.StatusCode != http.StatusOK {
			t.Fatalf("own account: status %d", res.StatusCode)
		}
		foreign, fbody := e.get(c, "/accounts/"+e.acme.ID)
		unknown, ubody := e.get(c, "/accounts/acc_00000000000000000000000000")
		if foreign.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound {
			t.Fatalf("foreign account: status %d, unknown: %d, want 404 both", foreign.StatusCode, unknown.StatusCode)
		}
		if strings.Contains(fbody, "Acme") {
			t.Error("the 404 page names the foreign account")
		}
		if strings.ReplaceAll(fbody, e.acme.ID, "") != strings.ReplaceAll(ubody, "acc_00000000000000000000000000", "") {
			t.Error("a foreign account's page differs from an unknown one's")
		}
		if res, _ := e.get(c, "/switch?account="+e.acme.ID); res.Header.Get("Location") != "/" {
			t.Errorf("switching to a foreign account goes to %q", res.Header.Get("Location"))
		}
	})
}

// TestConsoleWrongUserInvitation: only the invited address's user can
// accept (R-EXT-6), even when posting the form directly.
func TestConsoleWrongUserInvitation(t *testing.T) {
	e := newEnv(t, "sqlite")
	consent := e.svc.Consent()
	_, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}})
	e.must(err)
	var link string
	for _, m := range e.smtp.Wait(1, 10*time.Second) {
		link = linkRE.FindString(m.Body)
	}
	path := strings.TrimPrefix(link, e.URL)
	c := e.client()
	e.login(c, "dave@carol.example", demoPassword)
	res, body := e.get(c, path)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Only carol@carol.example can accept it") || strings.Contains(body, "/accept") {
		t.Errorf("wrong user's invitation page: status %d\n%s", res.StatusCode, body)
	}
	res, _ = e.post(c, path+"/accept", nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("wrong user accepts: status %d, want 403", res.StatusCode)
	}
	if got := e.check(e.dave.ID, e.acme.ID, "reports.view"); got.Allowed {
		t.Error("the wrong user got access")
	}
}

// TestConsoleBillingRefusalInWords: an account that admits only external
// users whose home account has billing says so on the invitation (R-EXT-7).
func TestConsoleBillingRefusalInWords(t *testing.T) {
	e := newEnv(t, "sqlite")
	on := true
	_, _, err := e.svc.UpdateAccount(e.op(), e.acme.ID, steward.AccountUpdate{DelegationPolicy: &steward.DelegationPolicy{RequireDelegateBilling: on}})
	e.must(err)
	consent := e.svc.Consent()
	_, _, err = e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.grace.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}})
	e.must(err)
	var link string
	for _, m := range e.smtp.Wait(1, 10*time.Second) {
		link = linkRE.FindString(m.Body)
	}
	c := e.client()
	e.login(c, "grace@globex.example", demoPassword)
	_, body := e.get(c, strings.TrimPrefix(link, e.URL))
	if !strings.Contains(body, "billing information") || strings.Contains(body, "/accept") {
		t.Errorf("the invitation page does not refuse in words:\n%s", body)
	}
}

// TestConsoleLoginThrottled: 20 wrong passwords for one address are
// throttled, after which even the right password waits; an unknown address
// and a wrong password get the same answer.
func TestConsoleLoginThrottled(t *testing.T) {
	e := newEnv(t, "sqlite")
	c := e.client()
	unknownRes, unknownBody := e.post(c, "/login", url.Values{"email": {"nobody@acme.example"}, "password": {"x"}})
	wrongRes, wrongBody := e.post(c, "/login", url.Values{"email": {"ada@acme.example"}, "password": {"x"}})
	if unknownRes.StatusCode != wrongRes.StatusCode || strings.ReplaceAll(unknownBody, "nobody@acme.example", "") != strings.ReplaceAll(wrongBody, "ada@acme.example", "") {
		t.Errorf("unknown address (%d) and wrong password (%d) answer differently", unknownRes.StatusCode, wrongRes.StatusCode)
	}
	throttled := 0
	for i := 0; i < 20; i++ {
		res, _ := e.post(c, "/login", url.Values{"email": {"ada@acme.example"}, "password": {"wrong"}})
		if res.StatusCode == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("20 wrong passwords: none throttled")
	}
	res, body := e.post(c, "/login", url.Values{"email": {"ada@acme.example"}, "password": {demoPassword}})
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts") {
		t.Errorf("right password while throttled: status %d, want 429", res.StatusCode)
	}
}

// TestConsoleHeaders: every page carries the security headers, and static
// files are served under their content hash with a long cache life.
func TestConsoleHeaders(t *testing.T) {
	e := newEnv(t, "sqlite")
	res, body := e.get(e.client(), "/login")
	for h, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	} {
		if !strings.Contains(res.Header.Get(h), want) {
			t.Errorf("%s = %q, want %q in it", h, res.Header.Get(h), want)
		}
	}
	if strings.Contains(res.Header.Get("Content-Security-Policy"), "unsafe-inline") {
		t.Error("the CSP allows inline script or style")
	}
	i := strings.Index(body, "/static/")
	if i < 0 {
		t.Fatal("no static file linked")
	}
	path := body[i : i+strings.IndexByte(body[i:], '"')]
	sres, _ := e.get(e.client(), path)
	if sres.StatusCode != http.StatusOK || !strings.Contains(sres.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: status %d Cache-Control %q", path, sres.StatusCode, sres.Header.Get("Cache-Control"))
	}
	stale := strings.Replace(path, "/static/", "/static/0000", 1)
	if sres, _ := e.get(e.client(), stale); sres.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s (a stale hash): status %d, want 404", stale, sres.StatusCode)
	}
}

// TestConsoleMailPage: without SMTP the console shows the mail folder: a
// user reads only its own mail, the operator (signed in with its token) all.
func TestConsoleMailPage(t *testing.T) {
	e := newEnv(t, "sqlite")
	consent := e.svc.Consent()
	_, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}})
	e.must(err)
	const subject = "Invitation to administer Acme Corp"

	carol := e.client()
	e.login(carol, "carol@carol.example", demoPassword)
	if res, body := e.get(carol, "/mail"); res.StatusCode != http.StatusOK || !strings.Contains(body, subject) || !strings.Contains(body, "/invitations/") {
		t.Errorf("the invitee's mail page: status %d, lacks the invitation", res.StatusCode)
	}
	dave := e.client()
	e.login(dave, "dave@carol.example", demoPassword)
	if _, body := e.get(dave, "/mail"); strings.Contains(body, subject) || !strings.Contains(body, "No mail yet.") {
		t.Error("another user reads the invitee's mail")
	}
	if res, _ := e.get(e.client(), "/mail"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous mail page: status %d, want a redirect to sign in", res.StatusCode)
	}

	op := e.client()
	if res, _ := e.post(op, "/operator", url.Values{"token": {"stw_op_wrong"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong operator token: status %d, want 401", res.StatusCode)
	}
	if res, _ := e.post(op, "/operator", url.Values{"token": {e.opToken}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator sign-in: status %d", res.StatusCode)
	}
	if res, body := e.get(op, "/mail"); res.StatusCode != http.StatusOK || !strings.Contains(body, subject) || !strings.Contains(body, "every message") {
		t.Errorf("operator's mail page: status %d", res.StatusCode)
	}
	// The operator session is no user session.
	if res, _ := e.get(op, "/accounts/"+e.acme.ID); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the operator session opens an account page: status %d", res.StatusCode)
	}
}

// TestConsoleSecureCookie: behind an https base URL the session cookie is
// Secure; it is always HttpOnly and SameSite=Lax.
func TestConsoleSecureCookie(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, tc := range []struct {
		name, base string
		secure     bool
	}{{"HTTPS", "https://steward.example", true}, {"HTTP", "http://127.0.0.1:8080", false}} {
		t.Run(tc.name, func(t *testing.T) {
			console, err := web.NewServer(e.svc, web.Config{BaseURL: tc.base, Sessions: memstore.New()})
			e.must(err)
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"email": {"ada@acme.example"}, "password": {demoPassword}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			console.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("sign-in: status %d", rec.Code)
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies = %v", cookies)
			}
			c := cookies[0]
			if c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie Secure=%v HttpOnly=%v SameSite=%v, want Secure=%v, HttpOnly, Lax", c.Secure, c.HttpOnly, c.SameSite, tc.secure)
			}
		})
	}
}
