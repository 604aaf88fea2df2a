package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/metrics"
	"github.com/steward-iam/steward/mail"
	"github.com/steward-iam/steward/password"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/web"
	"github.com/steward-iam/steward/webhook"
)

// settingOperatorTokenHash names the stored hash of the generated operator token.
const settingOperatorTokenHash = "operator_token_hash"

// Timing of the running server.
const (
	// indexPoll is how often the check index looks for changes it was not
	// told about (writes of other nodes whose notification was lost).
	indexPoll = 2 * time.Second
	// shutdownTimeout bounds how long Close waits for requests in flight.
	shutdownTimeout = 15 * time.Second
)

// Main is the server program: Run opens the store, brings its schema up to
// date, builds the service, the check index and the HTTP API, and serves
// until Close. Tests run the real program through it on 127.0.0.1:0.
type Main struct {
	// Config is read by Run; change it before calling Run.
	Config Config
	// Logger receives the operational log; it never sees a secret.
	Logger *slog.Logger
	// Stderr receives what the person who started the server must read:
	// the operator token generated at first start and where the server listens.
	Stderr io.Writer
	// Version is reported by /healthz and the OpenAPI document.
	Version string
	// JSON makes the messages for people on Stderr (the operator token
	// generated at first start) JSON lines, as under --log-format json.
	JSON bool
	// OnListening, when set, is called with the server's URL as soon as the
	// port answers: /healthz answers 200 from then on, /readyz 503 until
	// the check index is loaded and Run returns.
	OnListening func(url string)
	// Seed, when set, runs once the service is built and before the check
	// index loads, with the service of the server (its links carry the real
	// listen address); `serve --demo` seeds the demo world with it.
	Seed func(ctx context.Context, svc *steward.Service) error

	db       database
	metrics  *metrics.Metrics
	ready    atomic.Bool // the check index is loaded
	listener net.Listener
	server   *http.Server
	baseURL  string
	cancel   context.CancelFunc // stops the background goroutines
	bg       sync.WaitGroup
	errc     chan error
	closed   bool
	// tokenSource says where the operator token came from, for the banner.
	tokenSource string
}

// NewMain returns a Main with the default configuration, a discarding logger
// and os.Stderr for its messages.
func NewMain() *Main {
	return &Main{
		Config:  DefaultConfig(),
		Logger:  slog.New(slog.DiscardHandler),
		Stderr:  os.Stderr,
		Version: Version,
		errc:    make(chan error, 1),
	}
}

// Run starts the server and returns once it listens. Call Close afterwards,
// also when Run fails: it releases whatever Run had opened.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	cat, err := loadCatalogue(cfg.PermissionsFile)
	if err != nil {
		return err
	}

	if m.db, err = openDatabaseTimeout(ctx, cfg.DB, cfg.DBTimeout); err != nil {
		return err
	}
	if cfg.AutoMigrate {
		if err := m.db.Migrate(ctx); err != nil {
			return err
		}
	} else if err := m.db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("%w (or start with --auto-migrate)", err)
	}

	tokenHash, err := m.operatorTokenHash(ctx)
	if err != nil {
		return err
	}

	// Listen before building the service: with port 0, links in mail need the real port.
	if m.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w (is another server using it? choose another with --listen)", cfg.Listen, err)
	}
	m.baseURL = cfg.BaseURL
	if m.baseURL == "" {
		m.baseURL = m.URL()
	}

	// The background goroutines live until Close, not until ctx ends, so that
	// checks keep working while requests in flight drain.
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel

	svc := steward.NewService(m.db, cat, m.Logger.With("component", "service"))
	svc.Passwords = password.New()
	svc.BaseURL = m.baseURL
	svc.AccessLinkTTL = cfg.AccessLinkTTL
	svc.InvitationTTL = cfg.InvitationTTL
	svc.RelationshipGrace = cfg.RelationshipGrace
	svc.TokenTTL, svc.TokenMaxTTL = cfg.TokenTTL, cfg.TokenMaxTTL
	if svc.Secrets, err = m.secretBox(ctx); err != nil {
		return err
	}
	svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: cfg.WebhookAllowHosts}
	if cfg.ConsentFile != "" {
		text, err := os.ReadFile(cfg.ConsentFile)
		if err != nil {
			return fmt.Errorf("--consent-file: %w", err)
		}
		svc.ConsentVersion, svc.ConsentText = cfg.ConsentVersion, string(text)
	}

	m.metrics = metrics.New()
	// The check index answers checks from memory and follows the change feed:
	// this node's writes kick it at once, other nodes' through notifications.
	// It loads once the port answers (see below).
	index := authz.New(m.db, cat, m.Logger.With("component", "authz"))
	kick := authz.NewKicker()
	svc.Checker, svc.Lister = m.metrics.Checker(index), index
	svc.MinRevisionWait = cfg.MinRevisionWait
	// On SQLite this process is the database's only one: the outbox lease
	// a predecessor left is taken over at once instead of lapsing.
	sender, err := mail.NewSender(m.db, mail.Config{SMTP: cfg.SMTP, Dir: cfg.MailDir, From: cfg.MailFrom,
		TakeOver: singleProcess(m.db), MessageIDHost: hostOf(m.baseURL), OnAttempt: m.metrics.MailAttempt}, m.Logger.With("component", "mail"))
	if err != nil {
		return fmt.Errorf("outgoing mail: %w", err)
	}
	// A write answers once this node's index has applied it, so that a check
	// sent to the same node after the answer sees the write even without
	// min_revision; other nodes need min_revision (R-CHECK-3). Before the
	// index has loaded, its load reads the write anyway.
	hooks := webhook.NewSender(m.db, svc, webhook.Config{Guard: svc.WebhookGuard, TLSConfig: cfg.WebhookTLS,
		TakeOver: singleProcess(m.db)}, m.Logger.With("component", "webhooks"))
	svc.OnCommit = func(rev int64) {
		if m.ready.Load() {
			index.OnCommit(rev)
		}
	}
	// The senders wake for a commit that gave them work: mail it queued,
	// events in an account with endpoints (R-HOOK-2); they poll otherwise.
	svc.OnQueued = func(q steward.Queued) {
		if q.Mail {
			sender.Kick()
		}
		hooks.Wake(q)
	}
	m.metrics.Observe(index, m.db, poolStats(m.db), cfg.DBTimeout, m.Logger.With("component", "metrics"))

	// Tokens resolve from memory; the index tells the cache of every user
	// the feed changed, on this node before a write answers (R-REVOKE-2).
	tokens := steward.NewTokenCache()
	index.Watch(tokens.Changed)
	auth := &steward.Authenticator{Store: m.db, OperatorTokenHash: tokenHash, Now: svc.Now, Cache: tokens}
	opts := append([]stewardhttp.Option{
		stewardhttp.WithVersion(m.Version),
		stewardhttp.WithRegistry(m.metrics.Registry),
		stewardhttp.WithAccessLog(cfg.AccessLog),
		stewardhttp.WithReadiness(func(ctx context.Context) error {
			if !m.ready.Load() {
				return steward.Errorf(steward.EUNAVAILABLE, "index_loading", "The check index is loading; the server answers once it is loaded.")
			}
			ctx, cancel := context.WithTimeout(ctx, cfg.DBTimeout)
			defer cancel()
			if err := m.db.CheckSchema(ctx); err != nil {
				return steward.Errorf(steward.EUNAVAILABLE, "database_unavailable", "The database does not answer, or its schema is not current.")
			}
			return nil
		}),
	}, testServerOptions...)
	handler := stewardhttp.NewServer(svc, auth, m.Logger.With("component", "http"), opts...)

	// The console shares the database for its sessions; expired ones are
	// deleted every few minutes.
	sessions, stopSessions := sessionStore(m.db)
	m.goBackground(func() { <-bgctx.Done(); stopSessions() })
	webCfg := web.Config{BaseURL: m.baseURL, Sessions: sessions, Logger: m.Logger.With("component", "web"), OperatorTokenHash: tokenHash,
		OnSignIn: m.metrics.Login}
	if cfg.SMTP == "" {
		webCfg.MailDir = cfg.MailDir // the console shows the mail folder at /mail
	}
	if cfg.OIDCIssuer != "" {
		webCfg.OIDC = &web.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret}
	}
	console, err := web.NewServer(svc, webCfg)
	if err != nil {
		return err
	}

	// The port answers before the index loads, which takes a while on a
	// large database: /healthz says the process lives, /readyz says why it
	// is not ready yet, and everything else answers 503 with Retry-After.
	var consoleHandler http.Handler = console
	if cfg.AccessLog {
		consoleHandler = accessLog(m.Logger.With("component", "web"), console)
	}
	m.server = &http.Server{
		Handler:           m.untilReady(mountConsole(handler, consoleHandler)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.goBackground(func() {
		if err := m.server.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.errc <- fmt.Errorf("serve http: %w", err)
		}
	})
	if m.OnListening != nil {
		m.OnListening(m.URL())
	}

	if m.Seed != nil {
		if err := m.Seed(ctx, svc); err != nil {
			return err
		}
	}
	if testBeforeIndexLoad != nil {
		testBeforeIndexLoad()
	}
	if err := index.Load(ctx); err != nil {
		return fmt.Errorf("load the check index: %w", err)
	}
	// Loading reads the whole world through buffers the index does not
	// keep: hand that memory back to the system now rather than leave the
	// node's RSS at its peak until the scavenger gets to it.
	debug.FreeOSMemory()
	m.ready.Store(true)

	m.goBackground(func() { index.Follow(bgctx, kick, indexPoll) })
	if l, ok := m.db.(interface {
		Listen(ctx context.Context, logger *slog.Logger, onNotify, onReconnect func())
	}); ok {
		// After a lost connection the index reloads whole: whatever the
		// notifications missed, it starts again from the database.
		reload := func() {
			if err := index.Load(bgctx); err != nil && bgctx.Err() == nil {
				m.Logger.Warn("check index reload after a lost connection failed; the follower catches up instead", slog.Any("err", err))
				kick.Kick()
			}
		}
		notify := func() {
			m.metrics.Notified()
			kick.Kick()
		}
		m.goBackground(func() { l.Listen(bgctx, m.Logger.With("component", "listen"), notify, reload) })
	}

	// The scheduler (expiries, reminders) runs on one node at a time, under
	// a lease in the database.
	jobs := steward.NewJobRunner(svc)
	jobs.OnJob = m.metrics.JobRun
	for _, j := range svc.Jobs() {
		m.metrics.Jobs(j.Name)
	}
	m.goBackground(func() { jobs.Run(bgctx) })
	// The outbox is delivered by one node at a time, also under a lease.
	m.goBackground(func() {
		if err := sender.Run(bgctx); err != nil && bgctx.Err() == nil {
			m.Logger.Error("mail sender stopped", slog.Any("err", err))
		}
	})
	m.Logger.Info("outgoing mail", slog.String("to", sender.Describe()))
	// Webhook deliveries too: one node at a time, in order per endpoint.
	if svc.Secrets != nil {
		m.goBackground(func() {
			if err := hooks.Run(bgctx); err != nil && bgctx.Err() == nil {
				m.Logger.Error("webhook sender stopped", slog.Any("err", err))
			}
		})
	}

	m.Logger.Info("steward started", slog.String("version", m.Version), slog.String("url", m.URL()),
		slog.String("db", redactDSN(cfg.DB)), slog.String("base_url", m.baseURL), slog.Int("permissions", cat.Len()))
	return nil
}

// testBeforeIndexLoad, when set, is called after the port answers and
// before the check index loads. Only tests set it.
var testBeforeIndexLoad func()

// untilReady answers 503 not_ready, with Retry-After, to every request but
// the health probes and the metrics until the check index is loaded.
func (m *Main) untilReady(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case m.ready.Load(), r.URL.Path == "/healthz", r.URL.Path == "/readyz", r.URL.Path == "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"title":"Service Unavailable","status":503,"detail":"The server is starting: the check index is loading. Retry shortly.","code":"not_ready"}`)
	})
}

// poolStats returns how to read the connection pool of db, for metrics.
func poolStats(db database) func() metrics.PoolStats {
	switch db := db.(type) {
	case *sqlite.DB:
		return func() metrics.PoolStats {
			st := db.Stats()
			return metrics.PoolStats{Acquired: st.InUse, Idle: st.Idle, Waits: st.WaitCount, WaitTime: st.WaitDuration}
		}
	case *postgres.DB:
		return func() metrics.PoolStats {
			st := db.Pool.Stat()
			return metrics.PoolStats{Acquired: int(st.AcquiredConns()), Idle: int(st.IdleConns()),
				Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime()}
		}
	}
	panic(fmt.Sprintf("no pool statistics for %T", db)) // openDatabase returns only these
}

// testServerOptions are added to the API server's options. Only tests set
// them, before the program starts (see TestMain).
var testServerOptions []stewardhttp.Option

// mountConsole serves the JSON API under /v1 and /scim with its operations
// paths, and the console everywhere else.
func mountConsole(api, console http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/v1/", "/scim/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", console)
	return mux
}

func (m *Main) goBackground(fn func()) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		fn()
	}()
}

// URL returns the address the server listens on as an http:// URL; the
// port is the real one when Config.Listen asked for port 0.
func (m *Main) URL() string {
	if m.listener == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(m.listener.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// BaseURL returns the public URL used in links: Config.BaseURL, or URL.
func (m *Main) BaseURL() string { return m.baseURL }

// OperatorTokenSource says where the operator token comes from, as the end
// of a sentence that starts "The operator token "; valid after Run.
func (m *Main) OperatorTokenSource() string { return m.tokenSource }

// Err delivers an error that stopped the server while it ran.
func (m *Main) Err() <-chan error { return m.errc }

// Close stops accepting requests, waits for those in flight, stops the
// background work and closes the database. It is safe to call after a
// failed Run, and more than once.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down http: %w", err))
		}
		cancel()
	} else if m.listener != nil {
		m.listener.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.bg.Wait()
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
	}
	return errors.Join(errs...)
}

// operatorTokenHash returns the hash the operator token must match. A token
// given in STEWARD_OPERATOR_TOKEN wins. Otherwise the first start generates
// one, stores only its hash and prints the token once; later starts (and
// other nodes on the same database) read the stored hash.
func (m *Main) operatorTokenHash(ctx context.Context) (string, error) {
	if m.Config.OperatorToken != "" {
		m.Logger.Info("operator token taken from STEWARD_OPERATOR_TOKEN")
		m.tokenSource = "is the value of STEWARD_OPERATOR_TOKEN"
		return steward.HashSecret(m.Config.OperatorToken), nil
	}
	token := steward.NewSecret("stw_op_")
	created, err := m.db.PutSettingIfAbsent(ctx, settingOperatorTokenHash, steward.HashSecret(token))
	if err != nil {
		return "", fmt.Errorf("store the operator token hash: %w", err)
	}
	if created && m.JSON {
		// Shown once, on the stream the person who started the server reads;
		// never through Logger, which may be shipped elsewhere.
		slog.New(slog.NewJSONHandler(m.Stderr, nil)).Warn("Steward generated an operator token. It is shown only this once: keep it in your secret store now. Only its hash is kept; to replace it, set STEWARD_OPERATOR_TOKEN and restart.",
			slog.String("operator_token", token))
		m.tokenSource = "is the one printed above"
		return steward.HashSecret(token), nil
	}
	if created {
		fmt.Fprintf(m.Stderr, `
Steward generated an operator token. It is shown only this once: keep it in
your secret store now. Use it as "Authorization: Bearer <token>".

    %s

Only its hash is kept. To replace it, set STEWARD_OPERATOR_TOKEN to a long
random value and restart.

`, token)
		m.tokenSource = "is the one printed above"
		return steward.HashSecret(token), nil
	}
	hash, err := m.db.GetSetting(ctx, settingOperatorTokenHash)
	if err != nil {
		return "", fmt.Errorf("read the operator token hash: %w", err)
	}
	m.Logger.Info("using the operator token printed at first start; set STEWARD_OPERATOR_TOKEN to replace it")
	m.tokenSource = "was printed at the first start (set STEWARD_OPERATOR_TOKEN to replace it)"
	return hash, nil
}

// settingSecretKeyHash names the stored hash of the secret key that seals webhook secrets.
const settingSecretKeyHash = "secret_key_hash"

// secretBox returns the box that seals webhook secrets. A key given in
// --secret-key (STEWARD_SECRET_KEY) must be the one the database was first
// started with (its hash is kept, like the operator token's). Without one,
// the first start generates a key and prints it once; a later start
// without it runs with webhooks off, since their secrets cannot be opened.
func (m *Main) secretBox(ctx context.Context) (*steward.SecretBox, error) {
	printed := m.Config.SecretKey
	generated := printed == ""
	if generated {
		printed = steward.NewSecretKey()
	}
	key, err := steward.ParseSecretKey(printed)
	if err != nil {
		return nil, fmt.Errorf("--secret-key: %w", err)
	}
	hash := steward.HashSecret(printed)
	created, err := m.db.PutSettingIfAbsent(ctx, settingSecretKeyHash, hash)
	if err != nil {
		return nil, fmt.Errorf("store the secret key hash: %w", err)
	}
	switch {
	case created && generated && m.JSON:
		// Shown once, like the operator token, on the stream the person who
		// started the server reads; never through Logger.
		slog.New(slog.NewJSONHandler(m.Stderr, nil)).Warn("Steward generated a secret key, which seals webhook secrets in the database. It is shown only this once: keep it in your secret store now and start the server with STEWARD_SECRET_KEY set to it from now on.",
			slog.String("secret_key", printed))
	case created && generated:
		fmt.Fprintf(m.Stderr, `
Steward generated a secret key, which seals webhook secrets in the database.
It is shown only this once: keep it in your secret store now and start the
server with STEWARD_SECRET_KEY set to it from now on.

    %s

`, printed)
	case !created:
		stored, err := m.db.GetSetting(ctx, settingSecretKeyHash)
		if err != nil {
			return nil, fmt.Errorf("read the secret key hash: %w", err)
		}
		if generated {
			m.Logger.Warn("webhooks are off: set STEWARD_SECRET_KEY to the key printed at the first start")
			return nil, nil
		}
		if stored != hash {
			return nil, errors.New("--secret-key is not the key this database was first started with: webhook secrets would not open")
		}
	}
	return steward.NewSecretBox(key)
}

// loadCatalogue reads the product permissions from path, or returns the
// demo CRM catalogue when path is empty.
func loadCatalogue(path string) (*steward.Catalogue, error) {
	product := steward.DefaultProductPermissions()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--permissions: %w", err)
		}
		defer f.Close()
		if product, err = steward.ParseCatalogue(f); err != nil {
			return nil, fmt.Errorf("--permissions %s: %w (use a JSON array of {\"key\", \"description\"} or one key per line)", path, err)
		}
	}
	cat, err := steward.NewCatalogue(product)
	if err != nil {
		return nil, fmt.Errorf("--permissions %s: %w", path, err)
	}
	return cat, nil
}

// accessLog logs a line per console request. The path is left out: console
// paths carry access-link and invitation tokens.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || !steward.ValidText(id) {
			id = steward.NewID("req_", start)
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("route", "console"),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)), slog.String("request_id", id))
	})
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
