package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/steward-iam/steward"
)

// Session lifetimes: a session ends after IdleTimeout without a request, and
// at the latest Lifetime after sign-in, whatever its use.
const (
	DefaultIdleTimeout = time.Hour
	DefaultLifetime    = 12 * time.Hour
)

// sessionCookie names the console's session cookie.
const sessionCookie = "steward_session"

// Session keys.
const (
	keyUserID = "user_id"
	keyFlash  = "flash"
	// keySeen is when the session was last used, in Unix milliseconds, to
	// within the touch interval.
	keySeen = "seen"
)

// maxTouch bounds how often a session's last use is written to the store: a
// page view reads its session without writing it back, unless the recorded
// use is older than this, or than a quarter of the idle timeout if shorter.
const maxTouch = time.Minute

// Config configures the console.
type Config struct {
	// BaseURL is the public URL of the server; with https the session cookie
	// is Secure.
	BaseURL string
	// Sessions keeps sessions in the database (package sqlite or postgres).
	Sessions scs.Store
	// IdleTimeout and Lifetime bound sessions (defaults DefaultIdleTimeout, DefaultLifetime).
	IdleTimeout, Lifetime time.Duration
	// Throttle limits sign-in attempts; nil takes NewThrottle's defaults.
	Throttle *Throttle
	// Logger receives errors; nil discards.
	Logger *slog.Logger
	// MailDir, when set, is the mail folder that outgoing mail is written to
	// (no SMTP); the mail page then shows it.
	MailDir string
	// OperatorTokenHash lets the operator sign in to the mail page.
	OperatorTokenHash string
	// OnSignIn, when set, is told of each sign-in attempt by password and
	// whether it succeeded; the server counts them in its metrics.
	OnSignIn func(ok bool)
	// OIDC, when set, adds single sign-on with an OpenID Connect provider
	// to the sign-in page.
	OIDC *OIDCConfig
}

// Server is the console: an http.Handler over a Service.
type Server struct {
	svc      *steward.Service
	sessions *scs.SessionManager
	pages    map[string]*template.Template
	assets   *assets
	throttle *Throttle
	logger   *slog.Logger
	handler  http.Handler
	// idleTimeout ends a session unused for that long.
	idleTimeout time.Duration

	mailDir           string
	operatorTokenHash string
	onSignIn          func(ok bool)
	sso               *sso
}

// NewServer returns the console over svc. It parses every template and
// hashes every static file now, so a broken one stops the server at start.
func NewServer(svc *steward.Service, cfg Config) (*Server, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("web: Config.Sessions is required")
	}
	s := &Server{svc: svc, throttle: cfg.Throttle, logger: cfg.Logger, mailDir: cfg.MailDir, operatorTokenHash: cfg.OperatorTokenHash, onSignIn: cfg.OnSignIn}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.sso = newSSO(cfg.OIDC, cfg.BaseURL)
	if s.throttle == nil {
		s.throttle = NewThrottle()
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	if s.pages, err = parseTemplates(s.assets); err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}

	sm := scs.New()
	sm.Store = cfg.Sessions
	// The idle timeout is enforced here (idle), not by scs, which would
	// write the session back to the database on every request.
	s.idleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	sm.Lifetime = orDefault(cfg.Lifetime, DefaultLifetime)
	sm.Cookie.Name = sessionCookie
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = false // a browser session: closing the browser signs out
	if u, err := url.Parse(cfg.BaseURL); err == nil && u.Scheme == "https" {
		sm.Cookie.Secure = true
	}
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.serverError(w, r, err)
	}
	s.sessions = sm

	mux := http.NewServeMux()
	s.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.crossOrigin))
	s.handler = securityHeaders(cop.Handler(sm.LoadAndSave(s.idle(mux))))
	return s, nil
}

// idle ends a session unused for the idle timeout, and records its use at
// most once a touch interval, so that reading pages does not write to the
// database on every request.
func (s *Server) idle(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := time.Now().UnixMilli()
		seen := s.sessions.GetInt64(ctx, keySeen)
		touch := min(maxTouch, s.idleTimeout/4).Milliseconds()
		switch {
		case seen != 0 && now-seen > s.idleTimeout.Milliseconds():
			if err := s.sessions.Destroy(ctx); err != nil {
				s.serverError(w, r, err)
				return
			}
		case seen == 0 && len(s.sessions.Keys(ctx)) > 0, seen != 0 && now-seen >= touch:
			s.sessions.Put(ctx, keySeen, now)
		}
		next.ServeHTTP(w, r)
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ServeHTTP serves the console.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(mux *http.ServeMux) {
	mux.Handle("GET /static/{hash}/{name...}", s.assets)
	// A name without its hash is not served (nor redirected): only the
	// content-hash URL may be cached.
	mux.HandleFunc("GET /static/{name}", s.notFound)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /console-links/{token}", s.consoleLink)
	mux.HandleFunc("GET /login/sso", s.ssoStart)
	mux.HandleFunc("GET "+ssoCallbackPath, s.ssoCallback)
	mux.HandleFunc("GET /{$}", s.signedIn(s.home))
	mux.HandleFunc("GET /switch", s.signedIn(s.switchAccount))
	mux.HandleFunc("GET /accounts/{account}", s.signedIn(s.accountPage))
	mux.HandleFunc("GET /access-links/{token}", s.signedIn(s.accessLinkPage))
	mux.HandleFunc("POST /access-links/{token}/approve", s.signedIn(s.approveAccessLink))
	mux.HandleFunc("GET /access-links/{token}/decline", s.signedIn(s.confirmDecline))
	mux.HandleFunc("POST /access-links/{token}/decline", s.signedIn(s.declineAccessLink))
	mux.HandleFunc("GET /invitations/{token}", s.signedIn(s.invitationPage))
	mux.HandleFunc("POST /invitations/{token}/accept", s.signedIn(s.acceptInvitation))
	s.customerRoutes(mux)
	s.roleRoutes(mux)
	s.clientSideRoutes(mux)
	s.partnerRoutes(mux)
	s.mailRoutes(mux)
	s.controlRoutes(mux)
	mux.HandleFunc("/", s.notFound)
}

// contentSecurityPolicy allows scripts and styles from this origin only: no
// inline script anywhere, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// page is what every template receives.
type page struct {
	Title string
	// User is the signed-in user; nil on the sign-in page.
	User *steward.User
	// Accounts are accounts the user can act in, for the switcher: at most
	// switcherLimit of them (and Current), MoreAccounts when there are more.
	Accounts     []*steward.Account
	MoreAccounts bool
	// Current is the account the page is about, if any.
	Current *steward.Standing
	// Flash is a one-time message from the previous request.
	Flash string
	// MailPage says the server writes mail to its folder, shown at /mail.
	MailPage bool
	// Error is the failure of the request, shown above the form.
	Error *formError
	Data  any
}

// FieldError returns what is wrong with a field of the failed form, if anything.
func (p *page) FieldError(name string) string { return p.Error.Field(name) }

// formError is a failed request as a page shows it: a sentence, and per
// field what is wrong with it.
type formError struct {
	Message string
	Fields  map[string]string
	List    []steward.FieldError
}

// FieldErrors returns the messages of every field named prefix or
// prefix[i], in order: one per bad address of a list, say.
func (p *page) FieldErrors(prefix string) []string {
	if p.Error == nil {
		return nil
	}
	var out []string
	for _, f := range p.Error.List {
		if f.Field == prefix || strings.HasPrefix(f.Field, prefix+"[") || strings.HasPrefix(f.Field, prefix+".") {
			out = append(out, f.Message)
		}
	}
	return out
}

// Field returns the message for a field, for templates.
func (e *formError) Field(name string) string {
	if e == nil {
		return ""
	}
	return e.Fields[name]
}

// session is a signed-in request: the user acting, and the context that
// carries it as the service's actor.
type session struct {
	ctx  context.Context
	page *page
}

// switcherLimit bounds the account switcher drawn on every page; a user in
// more accounts finds them all, paged, on the home page.
const switcherLimit = 20

// signedIn wraps a page that needs a user. It asks the service on every
// request whether the user may still act anywhere: a user deactivated in its
// home account or whose every membership ended loses the session at once.
// The question is cheap whatever the number of the user's memberships; the
// page then reads only the account it is about and a few for the switcher.
func (s *Server) signedIn(h func(w http.ResponseWriter, r *http.Request, ss *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid := s.sessions.GetString(r.Context(), keyUserID)
		if uid == "" {
			s.toLogin(w, r, "")
			return
		}
		ctx := steward.NewContextWithActor(r.Context(), &steward.Actor{UserID: uid})
		u, err := s.svc.SessionUser(ctx)
		var accounts []*steward.Account
		var more bool
		if err == nil {
			accounts, more, err = s.svc.SwitchAccounts(ctx, switcherLimit)
		}
		if err != nil {
			switch steward.ErrorKind(err) {
			case steward.EUNAUTHENTICATED, steward.EFORBIDDEN, steward.ENOTFOUND:
				if derr := s.sessions.Destroy(r.Context()); derr != nil {
					s.serverError(w, r, derr)
					return
				}
				s.toLogin(w, r, steward.ErrorMessage(err))
			default:
				s.serverError(w, r, err)
			}
			return
		}
		p := &page{User: u, Accounts: accounts, MoreAccounts: more, Flash: s.sessions.PopString(r.Context(), keyFlash), MailPage: s.mailDir != ""}
		h(w, r, &session{ctx: ctx, page: p})
	}
}

// toLogin sends the browser to the sign-in page, to come back here after.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request, msg string) {
	if msg != "" {
		s.sessions.Put(r.Context(), keyFlash, msg)
	}
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.RequestURI())
	}
	target := "/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next if it is a path on this site, else "/" (the rule
// the console hand-off's return_to follows too, steward.IsConsolePath).
func safeNext(next string) string {
	if !steward.IsConsolePath(next) {
		return "/"
	}
	return next
}

// show renders a page with status.
func (s *Server) show(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	body, err := s.render(name, p)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// redirect ends a successful POST: the browser loads target with a GET, and
// the flash says what happened.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target, flash string) {
	if flash != "" {
		s.sessions.Put(r.Context(), keyFlash, flash)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// statusOf maps a service error to the page's status, like the API's table.
func statusOf(err error) int {
	switch steward.ErrorKind(err) {
	case steward.EBADREQUEST:
		return http.StatusBadRequest
	case steward.EINVALID:
		return http.StatusUnprocessableEntity
	case steward.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case steward.EFORBIDDEN:
		return http.StatusForbidden
	case steward.ENOTFOUND:
		return http.StatusNotFound
	case steward.ECONFLICT:
		return http.StatusConflict
	case steward.EGONE:
		return http.StatusGone
	case steward.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// toFormError turns a service error into what a form shows. Internal errors
// show a generic sentence; the detail goes to the log.
func (s *Server) toFormError(r *http.Request, err error) *formError {
	if steward.ErrorKind(err) == steward.EINTERNAL {
		s.logError(r, err)
		return &formError{Message: "Something went wrong on our side. Please try again."}
	}
	fe := &formError{Message: steward.ErrorMessage(err), Fields: map[string]string{}}
	var e *steward.Error
	if errors.As(err, &e) {
		fe.List = e.Fields
		for _, f := range e.Fields {
			if fe.Fields[f.Field] != "" {
				fe.Fields[f.Field] += "; "
			}
			fe.Fields[f.Field] += f.Message
		}
	}
	return fe
}

func (s *Server) logError(r *http.Request, err error) {
	s.logger.LogAttrs(r.Context(), slog.LevelError, "console request failed", slog.Any("err", err),
		slog.Group("req", slog.String("method", r.Method), slog.String("path", redactPath(r.URL.Path))))
}

// redactPath hides the tokens of access-link and invitation paths.
func redactPath(p string) string {
	for _, prefix := range []string{"/access-links/", "/invitations/", "/console-links/"} {
		if strings.HasPrefix(p, prefix) {
			return prefix + "…"
		}
	}
	return p
}

// errorPage shows a service error as a whole page.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, p *page, err error) {
	if p == nil {
		p = &page{}
	}
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		s.serverError(w, r, err)
		return
	}
	p.Title = http.StatusText(status)
	if status == http.StatusNotFound {
		p.Title = "Not found"
	}
	p.Error = s.toFormError(r, err)
	s.show(w, r, status, "error", p)
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintln(w, "Internal error. Please try again; if it persists, tell the operator of this server.")
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Not found", Error: &formError{Message: "There is no page at this address."}}
	s.show(w, r, http.StatusNotFound, "error", p)
}

// crossOrigin answers a state-changing request from another site.
func (s *Server) crossOrigin(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Refused", Error: &formError{Message: "This form was sent from another site, so it was refused. Open the page on this site and send it again."}}
	s.show(w, r, http.StatusForbidden, "error", p)
}
