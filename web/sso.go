package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/steward-iam/steward"
	"golang.org/x/oauth2"
)

// OIDCConfig offers sign-in with an OpenID Connect provider beside the
// password (SPEC §3 "Web console", optional single sign-on).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// at the first sign-in.
	Issuer string
	// ClientID and ClientSecret are the console's client at the provider,
	// whose redirect URL is BaseURL + "/login/sso/callback".
	ClientID, ClientSecret string
	// Name, when set, labels the button "Sign in with Name"; otherwise
	// "Sign in with single sign-on".
	Name string
	// HTTPClient, when set, is the client that reaches the provider.
	HTTPClient *http.Client
}

// Session keys of a single sign-on in progress: the state, nonce and PKCE
// verifier sent to the provider, and the page to land on.
const (
	keySSOState    = "sso_state"
	keySSONonce    = "sso_nonce"
	keySSOVerifier = "sso_verifier"
	keySSONext     = "sso_next"
)

// ssoCallbackPath is where the provider sends the browser back.
const ssoCallbackPath = "/login/sso/callback"

// sso is the console's client of its OpenID Connect provider.
type sso struct {
	cfg      OIDCConfig
	redirect string

	mu       sync.Mutex
	provider *oidc.Provider
}

func newSSO(cfg *OIDCConfig, baseURL string) *sso {
	if cfg == nil || cfg.Issuer == "" {
		return nil
	}
	return &sso{cfg: *cfg, redirect: strings.TrimRight(baseURL, "/") + ssoCallbackPath}
}

// label is the text of the sign-in button.
func (o *sso) label() string {
	if o.cfg.Name != "" {
		return "Sign in with " + o.cfg.Name
	}
	return "Sign in with single sign-on"
}

func (o *sso) context(ctx context.Context) context.Context {
	if o.cfg.HTTPClient != nil {
		return oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	return ctx
}

// oauth returns the OAuth 2.0 configuration, reading the provider's
// discovery document the first time; a failed read is tried again at the
// next sign-in.
func (o *sso) oauth(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(o.context(ctx), o.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("single sign-on: discover %s: %w", o.cfg.Issuer, err)
		}
		o.provider = p
	}
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: o.provider.Endpoint(),
		RedirectURL: o.redirect, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}, o.provider, nil
}

// errSSO is the sign-in page's answer to a single sign-on that failed on
// the way (a wrong state, nonce or token): start again.
var errSSO = steward.Errorf(steward.EUNAUTHENTICATED, "sso_failed", "Single sign-on did not complete. Please try again.")

// ssoStart sends the browser to the provider, with a fresh state, nonce and
// PKCE verifier kept in the session (SPEC §3 "Web console"). It is a GET (a
// link on the sign-in page): the console's Content-Security-Policy lets
// forms post only to this site, redirects included. Starting a sign-in
// changes nothing but the session's pending values.
func (s *Server) ssoStart(w http.ResponseWriter, r *http.Request) {
	if s.sso == nil {
		s.notFound(w, r)
		return
	}
	cfg, _, err := s.sso.oauth(r.Context())
	if err != nil {
		s.logError(r, err)
		s.ssoFailed(w, r, safeNext(r.URL.Query().Get("next")), steward.Errorf(steward.EUNAVAILABLE, "sso_unavailable",
			"Single sign-on is not available now. Try again in a moment, or sign in with your password."))
		return
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	ctx := r.Context()
	s.sessions.Put(ctx, keySSOState, state)
	s.sessions.Put(ctx, keySSONonce, nonce)
	s.sessions.Put(ctx, keySSOVerifier, verifier)
	s.sessions.Put(ctx, keySSONext, safeNext(r.URL.Query().Get("next")))
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// ssoClaims are the ID token claims sign-in reads.
type ssoClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
}

// verified reads email_verified, which some providers send as a string.
func (c ssoClaims) verified() bool {
	v := strings.TrimSpace(string(c.EmailVerified))
	return v == "true" || v == `"true"`
}

// ssoCallback finishes a single sign-on: the state must be the session's,
// the code is exchanged with the PKCE verifier, the ID token is verified
// (signature, issuer, audience, expiry) and must carry the session's nonce.
// The service then matches the verified email to a user and applies the
// checks of password sign-in; the session id is renewed as at /login.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	if s.sso == nil {
		s.notFound(w, r)
		return
	}
	ctx := r.Context()
	// The values are used once, whatever the outcome.
	state, nonce := s.sessions.PopString(ctx, keySSOState), s.sessions.PopString(ctx, keySSONonce)
	verifier, next := s.sessions.PopString(ctx, keySSOVerifier), safeNext(s.sessions.PopString(ctx, keySSONext))
	q := r.URL.Query()
	if state == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		s.ssoFailed(w, r, next, errSSO)
		return
	}
	if q.Get("error") != "" {
		s.ssoFailed(w, r, next, steward.Errorf(steward.EUNAUTHENTICATED, "sso_refused", "Your single sign-on provider did not sign you in."))
		return
	}
	id, err := s.ssoIdentity(ctx, q.Get("code"), verifier, nonce)
	if err != nil {
		s.logger.Warn("single sign-on failed", "err", err)
		s.ssoFailed(w, r, next, errSSO)
		return
	}
	u, err := s.svc.SignInWithIdentity(ctx, *id)
	s.countSignIn(err == nil)
	if err != nil {
		s.ssoFailed(w, r, next, err)
		return
	}
	if err := s.sessions.RenewToken(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(ctx, keyUserID, u.ID)
	s.sessions.Put(ctx, keySeen, time.Now().UnixMilli())
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ssoIdentity exchanges the code and returns what the verified ID token says.
func (s *Server) ssoIdentity(ctx context.Context, code, verifier, nonce string) (*steward.Identity, error) {
	cfg, provider, err := s.sso.oauth(ctx)
	if err != nil {
		return nil, err
	}
	if code == "" || verifier == "" || nonce == "" {
		return nil, errors.New("no code, verifier or nonce")
	}
	ctx, cancel := context.WithTimeout(s.sso.context(ctx), 10*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the token answer has no id_token")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: s.sso.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("verify the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("the ID token's nonce is not the one sent")
	}
	var c ssoClaims
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("read the ID token's claims: %w", err)
	}
	return &steward.Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: c.Email, EmailVerified: c.verified()}, nil
}

// ssoFailed shows the sign-in page with why single sign-on failed.
func (s *Server) ssoFailed(w http.ResponseWriter, r *http.Request, next string, err error) {
	p := &page{Title: "Sign in", Data: loginData{Next: next, SSO: s.ssoLabel()}, Error: s.toFormError(r, err)}
	s.show(w, r, statusOf(err), "login", p)
}

// ssoLabel is the single sign-on button's text, "" without single sign-on.
func (s *Server) ssoLabel() string {
	if s.sso == nil {
		return ""
	}
	return s.sso.label()
}
