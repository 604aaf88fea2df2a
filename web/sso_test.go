package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/web"
)

// idp is a small OpenID Connect provider for tests: discovery, keys, an
// authorization endpoint that signs in whoever the test says at once, and a
// token endpoint that checks the client, the code and its PKCE verifier and
// answers an ID token signed with go-jose.
type idp struct {
	t        *testing.T
	srv      *httptest.Server
	key      *rsa.PrivateKey
	clientID string
	secret   string

	mu sync.Mutex
	// The identity the next sign-in asserts; the subject is "sub-" and the
	// email in lower case unless subject is set.
	email    string
	verified any
	subject  string
	// nonce, when set, replaces the nonce the client sent.
	nonce string
	codes map[string]idpGrant
	// exchanged counts codes exchanged with the right verifier.
	exchanged int
}

type idpGrant struct {
	nonce, challenge, redirect string
}

func newIdP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{t: t, key: key, clientID: "steward-console", secret: "s3cret-" + rand.Text(), codes: map[string]idpGrant{}, verified: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"jwks_uri": p.srv.URL + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// authorize signs in at once and sends the browser back with a code.
func (p *idp) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != p.clientID || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = idpGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token exchanges a code once, for the right client and verifier.
func (p *idp) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g, found := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case id != p.clientID || secret != p.secret:
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	case !found || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != g.redirect,
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	p.exchanged++
	nonce := g.nonce
	if p.nonce != "" {
		nonce = p.nonce
	}
	now := time.Now()
	sub := p.subject
	if sub == "" {
		sub = "sub-" + strings.ToLower(p.email)
	}
	claims := map[string]any{"iss": p.srv.URL, "sub": sub, "aud": p.clientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce, "email": p.email, "email_verified": p.verified}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		p.t.Error(err)
		return
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
		return
	}
	idToken, _ := jws.CompactSerialize()
	writeJSON(w, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// as sets the identity the next sign-in asserts.
func (p *idp) as(email string, verified any, nonce string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.email, p.verified, p.nonce, p.subject = email, verified, nonce, ""
}

// asSubject sets the identity the next sign-in asserts: another account
// of the provider (subject) with a verified email.
func (p *idp) asSubject(subject, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.email, p.verified, p.nonce, p.subject = email, true, "", subject
}

// ssoConsole serves a console over e's service, with single sign-on at p,
// and returns its URL.
func (e *env) ssoConsole(t *testing.T, p *idp) string {
	t.Helper()
	var sessions interface {
		scs.Store
		StopCleanup()
	}
	switch db := e.store.(type) {
	case *sqlite.DB:
		sessions = db.SessionStore(time.Minute)
	case *postgres.DB:
		sessions = db.SessionStore(time.Minute)
	default:
		t.Fatalf("no session store for %T", e.store)
	}
	t.Cleanup(sessions.StopCleanup)
	var console http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { console.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	c, err := web.NewServer(e.svc, web.Config{BaseURL: ts.URL, Sessions: sessions,
		OIDC: &web.OIDCConfig{Issuer: p.srv.URL, ClientID: p.clientID, ClientSecret: p.secret}})
	if err != nil {
		t.Fatal(err)
	}
	console = c
	return ts.URL
}

// ssoSignIn runs a single sign-on from the console at base with client c:
// the console's redirect to the provider, the provider's back. tamper, when
// set, changes the callback's query. It returns the callback's answer.
func ssoSignIn(t *testing.T, c *http.Client, base, next string, tamper func(url.Values)) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(base + "/login/sso?next=" + url.QueryEscape(next))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /login/sso: status %d, want 303 to the provider", res.StatusCode)
	}
	auth := res.Header.Get("Location")
	// The provider is another site: its answer is followed by hand.
	res, err = c.Get(auth)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(cb.String(), base+"/login/sso/callback?") {
		t.Fatalf("provider: status %d to %q, want 302 to the console's callback", res.StatusCode, cb)
	}
	if tamper != nil {
		q := cb.Query()
		tamper(q)
		cb.RawQuery = q.Encode()
	}
	res, err = c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// TestConsoleSSO signs in with an OpenID Connect provider (SPEC §3 "Web
// console", optional single sign-on): the sign-in page offers it; a
// verified email signs in its user, case-insensitively, renewing the session
// id and binds the user to the provider's subject; a wrong state or nonce,
// an unverified or unknown email, another subject with the bound user's
// email and a deactivated user are refused with the sign-in page.
func TestConsoleSSO(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		p := newIdP(t)
		base := e.ssoConsole(t, p)
		signedIn := func(c *http.Client) string {
			res, body := e.getAt(c, base, "/")
			_, after, ok := strings.Cut(body, "Signed in as <strong>")
			if res.StatusCode != http.StatusOK || !ok {
				return ""
			}
			name, _, _ := strings.Cut(after, "</strong>")
			return name
		}

		_, page := e.getAt(e.client(), base, "/login")
		if !strings.Contains(page, "Sign in with single sign-on") {
			t.Fatalf("the sign-in page offers no single sign-on:\n%s", page)
		}

		t.Run("Success", func(t *testing.T) {
			c := e.client()
			p.as("ADA@acme.example", true, "")
			next := "/accounts/" + e.acme.ID
			// The session that holds the state, nonce and verifier.
			var before *http.Cookie
			res, body := ssoSignIn(t, c, base, next, func(url.Values) { before = sessionCookie(c, base) })
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != next {
				t.Fatalf("callback: status %d to %q, want 303 to %s\n%s", res.StatusCode, res.Header.Get("Location"), next, body)
			}
			if after := sessionCookie(c, base); after == nil || before == nil || after.Value == before.Value {
				t.Error("the session id was not renewed")
			}
			if got := signedIn(c); got != "Ada Lovelace" {
				t.Errorf("signed in as %q, want Ada Lovelace", got)
			}
		})
		t.Run("SecondSubjectSameEmail", func(t *testing.T) {
			// Ada is bound to the subject that signed in first: another
			// account of the provider given her verified address is not her.
			c := e.client()
			p.asSubject("another-account", "ada@acme.example")
			res, body := ssoSignIn(t, c, base, "/", nil)
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "no user of this console has the verified email address") {
				t.Errorf("status %d, want 401 and the sign-in page's generic refusal:\n%s", res.StatusCode, body)
			}
			if got := signedIn(c); got != "" {
				t.Errorf("signed in as %q", got)
			}
		})
		t.Run("BoundSubjectChangedEmail", func(t *testing.T) {
			c := e.client()
			p.asSubject("sub-ada@acme.example", "ada.lovelace@elsewhere.example")
			if res, body := ssoSignIn(t, c, base, "/", nil); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback: status %d, want 303\n%s", res.StatusCode, body)
			}
			if got := signedIn(c); got != "Ada Lovelace" {
				t.Errorf("signed in as %q, want Ada Lovelace", got)
			}
		})
		// Bob has not signed in by single sign-on: his email is what would
		// name him (a bound subject signs in whatever its email claims say).
		for _, tt := range []struct {
			name     string
			email    string
			verified any
			nonce    string
			tamper   func(url.Values)
			status   int
			want     string
		}{
			{"WrongState", "ada@acme.example", true, "", func(q url.Values) { q.Set("state", rand.Text()) }, http.StatusUnauthorized, "Single sign-on did not complete"},
			{"NoState", "ada@acme.example", true, "", func(q url.Values) { q.Del("state") }, http.StatusUnauthorized, "Single sign-on did not complete"},
			{"WrongNonce", "ada@acme.example", true, rand.Text(), nil, http.StatusUnauthorized, "Single sign-on did not complete"},
			{"UnverifiedEmail", "bob@acme.example", false, "", nil, http.StatusUnauthorized, "no user of this console has the verified email address"},
			{"UnverifiedEmailString", "bob@acme.example", "false", "", nil, http.StatusUnauthorized, "no user of this console has the verified email address"},
			{"NoVerifiedClaim", "bob@acme.example", nil, "", nil, http.StatusUnauthorized, "no user of this console has the verified email address"},
			{"UnknownEmail", "nobody@acme.example", true, "", nil, http.StatusUnauthorized, "no user of this console has the verified email address"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := e.client()
				p.as(tt.email, tt.verified, tt.nonce)
				res, body := ssoSignIn(t, c, base, "/", tt.tamper)
				if res.StatusCode != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, "<h1>Sign in</h1>") {
					t.Errorf("status %d, want %d and the sign-in page saying %q:\n%s", res.StatusCode, tt.status, tt.want, body)
				}
				if got := signedIn(c); got != "" {
					t.Errorf("signed in as %q", got)
				}
			})
		}
		t.Run("DeactivatedUser", func(t *testing.T) {
			_, _, err := e.svc.DeactivateUser(e.op(), e.bob.ID)
			e.must(err)
			c := e.client()
			p.as("bob@acme.example", true, "")
			res, body := ssoSignIn(t, c, base, "/", nil)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "deactivated") {
				t.Errorf("status %d, want 403 saying the user is deactivated:\n%s", res.StatusCode, body)
			}
			if got := signedIn(c); got != "" {
				t.Errorf("signed in as %q", got)
			}
		})
		t.Run("CallbackReplayed", func(t *testing.T) {
			// The state is used once: the same callback again is refused.
			c := e.client()
			p.as("ada@acme.example", true, "")
			var cb string
			res, _ := ssoSignIn(t, c, base, "/", func(q url.Values) { cb = base + "/login/sso/callback?" + q.Encode() })
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("first callback: status %d", res.StatusCode)
			}
			res, body := e.getAt(c, cb, "")
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Single sign-on did not complete") {
				t.Errorf("replayed callback: status %d\n%s", res.StatusCode, body)
			}
		})
	})
}

// getAt is get against another server than e's.
func (e *env) getAt(c *http.Client, base, path string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	return e.do(c, req)
}

// TestBrowserSSO signs in with single sign-on in a browser: the sign-in page
// offers the button, the provider signs in at once, and the console lands
// signed in on the page asked for first.
func TestBrowserSSO(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		p := newIdP(t)
		base := e.ssoConsole(t, p)
		p.as("ada@acme.example", true, "")
		b := newBrowser(t)
		ctx := tab(t, b)
		run(t, ctx, chromedp.Navigate(base+"/accounts/"+e.acme.ID+"/roles"), waitHeading("Sign in"))
		checkPage(t, ctx, "sign-in-sso")
		run(t, ctx, click("Sign in with single sign-on"), waitHeading("Roles"))
		if who := get(t, ctx, chromedp.Evaluate[string](`document.querySelector("header .who").textContent`)); !strings.Contains(who, "Ada Lovelace") {
			t.Errorf("signed in as %q, want Ada Lovelace", who)
		}
	})
}
