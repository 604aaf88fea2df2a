package web

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits sign-in attempts per email address and per client IP, so
// that guessing passwords is slow for one account and for one machine. It is
// per node: each node keeps its own counts.
type Throttle struct {
	PerAddress, PerIP rate.Limit
	AddressBurst      int
	IPBurst           int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewThrottle returns the default throttle: 10 attempts at once per address
// then one every 30 seconds, 30 at once per IP then one every 2 seconds.
func NewThrottle() *Throttle {
	return &Throttle{PerAddress: rate.Every(30 * time.Second), AddressBurst: 10, PerIP: rate.Every(2 * time.Second), IPBurst: 30}
}

// maxBuckets bounds the memory a flood of distinct addresses can take.
const maxBuckets = 100_000

// Allow reports whether a sign-in attempt for email from ip may proceed, and
// counts it against both.
func (t *Throttle) Allow(email, ip string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buckets == nil {
		t.buckets = map[string]*bucket{}
	}
	if now.Sub(t.swept) > time.Minute || len(t.buckets) > maxBuckets {
		t.sweep(now)
	}
	a := t.bucket("a:"+strings.ToLower(strings.TrimSpace(email)), t.PerAddress, t.AddressBurst, now)
	i := t.bucket("i:"+ip, t.PerIP, t.IPBurst, now)
	// Both are counted, so that one refusal does not let the other refill.
	okA, okI := a.AllowN(now, 1), i.AllowN(now, 1)
	return okA && okI
}

func (t *Throttle) bucket(key string, limit rate.Limit, burst int, now time.Time) *rate.Limiter {
	b, ok := t.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(limit, burst)}
		t.buckets[key] = b
	}
	b.seen = now
	return b.lim
}

// sweep forgets buckets that have refilled: they hold no information.
func (t *Throttle) sweep(now time.Time) {
	t.swept = now
	for k, b := range t.buckets {
		if b.lim.TokensAt(now) >= float64(b.lim.Burst()) || len(t.buckets) > maxBuckets && now.Sub(b.seen) > time.Minute {
			delete(t.buckets, k)
		}
	}
}

// clientIP is the address the request came from. Steward does not trust
// forwarding headers: behind a proxy, the proxy throttles.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type loginData struct {
	Email string
	Next  string
	// SSO labels the single sign-on button; "" shows none.
	SSO string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessions.GetString(r.Context(), keyUserID) != "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	p := &page{Title: "Sign in", Flash: s.sessions.PopString(r.Context(), keyFlash), Data: loginData{Next: safeNext(r.URL.Query().Get("next")), SSO: s.ssoLabel()}}
	s.show(w, r, http.StatusOK, "login", p)
}

// login signs a user in by email and password. An unknown address and a
// wrong password get the same answer; the session id is renewed, so that a
// session id planted before sign-in is worth nothing after.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	email, pass, next := r.PostFormValue("email"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	data := loginData{Email: email, Next: next, SSO: s.ssoLabel()}
	if !s.throttle.Allow(email, clientIP(r), time.Now()) {
		s.countSignIn(false)
		w.Header().Set("Retry-After", "30")
		p := &page{Title: "Sign in", Data: data, Error: &formError{Message: "Too many sign-in attempts. Wait a minute, then try again."}}
		s.show(w, r, http.StatusTooManyRequests, "login", p)
		return
	}
	u, err := s.svc.SignIn(r.Context(), email, pass)
	s.countSignIn(err == nil)
	if err != nil {
		p := &page{Title: "Sign in", Data: data, Error: s.toFormError(r, err)}
		s.show(w, r, statusOf(err), "login", p)
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), keyUserID, u.ID)
	s.sessions.Put(r.Context(), keySeen, time.Now().UnixMilli())
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// countSignIn reports a sign-in attempt to Config.OnSignIn.
func (s *Server) countSignIn(ok bool) {
	if s.onSignIn != nil {
		s.onSignIn(ok)
	}
}

// logout ends the session: its row is deleted, so the cookie is worth
// nothing even if it was copied.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	// The flash starts a new session under a new id.
	s.sessions.Put(r.Context(), keyFlash, "You are signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
