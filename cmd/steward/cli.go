package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kong"
	"github.com/steward-iam/steward"
)

// cli is the command line. Each setting is declared once, here, with its
// flag, its STEWARD_* variable and its default, so `steward --help` is the
// reference. A --config file fills what neither gives.
type cli struct {
	Config    configFile `help:"Read settings from a JSON file whose keys are flag names, e.g. {\"db\": \"postgres://…\", \"access_link_ttl\": \"168h\"}. Flags and environment variables take precedence." env:"STEWARD_CONFIG" placeholder:"FILE"`
	LogLevel  string     `help:"Log level: debug, info, warn or error." enum:"debug,info,warn,error" default:"info" env:"STEWARD_LOG_LEVEL"`
	LogFormat string     `help:"Log format: text or json." enum:"text,json" default:"text" env:"STEWARD_LOG_FORMAT"`

	Serve    serveCmd    `cmd:"" help:"Run the API server. It migrates the database first unless --no-auto-migrate. The operator token is STEWARD_OPERATOR_TOKEN, or one generated and printed at the first start."`
	Migrate  migrateCmd  `cmd:"" help:"Apply pending database migrations and exit."`
	Check    checkCmd    `cmd:"" help:"Ask a running server whether a user may use a permission in an account. Exit code 0 allowed, 1 denied, 2 error."`
	Audit    auditCmd    `cmd:"" help:"Audit log tools."`
	Webhooks webhooksCmd `cmd:"" help:"Webhook tools."`
	Demo     demoCmd     `cmd:"" help:"Seed an empty database with a realistic demo world (an agency, its clients, an external consultant and her delegate) and print how to log in."`
	Bench    benchCmd    `cmd:"" help:"Generate a synthetic world of a chosen size and measure checks, listings and cross-node visibility; prints a Markdown report."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

// newParser builds the kong parser over a fresh cli. exit is called instead
// of os.Exit by --help.
func newParser(stdout, stderr io.Writer, exit func(int)) (*kong.Kong, *cli, error) {
	def := DefaultConfig()
	c := &cli{}
	p, err := kong.New(c,
		kong.Name("steward"),
		kong.Description("Steward: delegated administration for multi-tenant products."),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.Configuration(loadJSONConfig),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{
			"db_default":                 def.DB,
			"listen_default":             def.Listen,
			"access_link_ttl_default":    hours(def.AccessLinkTTL),
			"invitation_ttl_default":     hours(def.InvitationTTL),
			"relationship_grace_default": hours(def.RelationshipGrace),
			"token_ttl_default":          hours(def.TokenTTL),
			"token_max_ttl_default":      hours(def.TokenMaxTTL),
			"auto_migrate_default":       fmt.Sprint(def.AutoMigrate),
			"access_log_default":         fmt.Sprint(def.AccessLog),
			"server_default":             "http://" + def.Listen,
			"mail_dir_default":           def.MailDir,
			"min_revision_wait_default":  def.MinRevisionWait.String(),
			"db_timeout_default":         def.DBTimeout.String(),
		},
	)
	return p, c, err
}

// hours writes a whole number of hours as "720h" rather than "720h0m0s".
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// DBFlag is the --db setting shared by the commands that open the database.
type DBFlag struct {
	DB string `name:"db" help:"Database: sqlite:PATH (a file, created if missing) or a postgres:// URL." default:"${db_default}" env:"STEWARD_DB"`
}

type serveCmd struct {
	DBFlag            `embed:""`
	Listen            string        `help:"Address to listen on." default:"${listen_default}" env:"STEWARD_LISTEN"`
	SMTP              string        `name:"smtp" help:"Outgoing mail: smtp://[user:pass@]host:port (plain, STARTTLS if offered) or smtps://… (TLS). Without it mail is written as .eml files into --mail-dir." env:"STEWARD_SMTP" placeholder:"URL"`
	MailDir           string        `name:"mail-dir" help:"Folder for outgoing mail when there is no --smtp; the console shows it at /mail." default:"${mail_dir_default}" env:"STEWARD_MAIL_DIR" placeholder:"DIR"`
	MailFrom          string        `name:"mail-from" help:"Sender address of outgoing mail, e.g. \"Steward <steward@example.com>\" (default: Steward <steward@localhost>)." env:"STEWARD_MAIL_FROM" placeholder:"ADDRESS"`
	BaseURL           string        `name:"base-url" help:"Public base URL used in links sent by mail (default: http:// and the listen address)." env:"STEWARD_BASE_URL" placeholder:"URL"`
	AccessLinkTTL     time.Duration `name:"access-link-ttl" help:"Lifetime of partner access links." default:"${access_link_ttl_default}" env:"STEWARD_ACCESS_LINK_TTL"`
	InvitationTTL     time.Duration `name:"invitation-ttl" help:"Lifetime of invitations of external users." default:"${invitation_ttl_default}" env:"STEWARD_INVITATION_TTL"`
	RelationshipGrace time.Duration `name:"relationship-grace" help:"How long an ending partner relationship lasts after the last partner activity." default:"${relationship_grace_default}" env:"STEWARD_RELATIONSHIP_GRACE"`
	TokenTTL          time.Duration `name:"token-ttl" help:"Lifetime of an API token issued without expires_in." default:"${token_ttl_default}" env:"STEWARD_TOKEN_TTL"`
	TokenMaxTTL       time.Duration `name:"token-max-ttl" help:"Longest lifetime an API token may ask for with expires_in." default:"${token_max_ttl_default}" env:"STEWARD_TOKEN_MAX_TTL"`
	Permissions       string        `help:"Product permission catalogue: a JSON array of {\"key\", \"description\"} or one key per line (default: a demo CRM catalogue)." env:"STEWARD_PERMISSIONS" placeholder:"FILE" type:"existingfile"`
	MinRevisionWait   time.Duration `name:"min-revision-wait" help:"How long a check waits for its min_revision before a retryable 503." default:"${min_revision_wait_default}" env:"STEWARD_MIN_REVISION_WAIT"`
	ConsentFile       string        `name:"consent-file" help:"The delegated account management agreement invitations must accept (R-EXT-2), as plain text; needs --consent-version (default: the built-in agreement)." env:"STEWARD_CONSENT_FILE" placeholder:"FILE" type:"existingfile"`
	ConsentVersion    string        `name:"consent-version" help:"The version of --consent-file, e.g. 2026-11; invitations naming another version are refused as outdated." env:"STEWARD_CONSENT_VERSION"`
	Demo              bool          `help:"Seed the demo world first if the database holds no account (see steward demo), and print how to log in." env:"STEWARD_DEMO"`
	DBTimeout         time.Duration `name:"db-timeout" help:"Longest wait for the database (a connection, a statement, a commit); a request that waits longer is answered 503 with Retry-After." default:"${db_timeout_default}" env:"STEWARD_DB_TIMEOUT"`
	AccessLog         bool          `name:"access-log" help:"Log one line per request at info level (method, route, status, duration, request id, actor id); --access-log=false turns it off." default:"${access_log_default}" negatable:"" env:"STEWARD_ACCESS_LOG"`
	SecretKey         string        `name:"secret-key" help:"Key that seals webhook secrets in the database: the base64 of 32 random bytes (prefer the environment variable). Without it one is generated and printed at the first start." env:"STEWARD_SECRET_KEY" placeholder:"KEY"`
	WebhookAllowHost  []string      `name:"webhook-allow-host" help:"A host webhooks may reach even though it resolves to a loopback, private or link-local address (R-HOOK-3); repeatable." env:"STEWARD_WEBHOOK_ALLOW_HOSTS" placeholder:"HOST"`
	OIDCIssuer        string        `name:"oidc-issuer" help:"Single sign-on to the console: the issuer URL of an OpenID Connect provider (with --oidc-client-id); its redirect URL is --base-url + /login/sso/callback." env:"STEWARD_OIDC_ISSUER" placeholder:"URL"`
	OIDCClientID      string        `name:"oidc-client-id" help:"The console's client id at the --oidc-issuer provider." env:"STEWARD_OIDC_CLIENT_ID" placeholder:"ID"`
	OIDCClientSecret  string        `name:"oidc-client-secret" help:"The console's client secret at the --oidc-issuer provider (prefer the environment variable)." env:"STEWARD_OIDC_CLIENT_SECRET" placeholder:"SECRET"`
	AutoMigrate       bool          `name:"auto-migrate" help:"Apply pending migrations at start; with --no-auto-migrate the server refuses to start on an old schema." default:"${auto_migrate_default}" negatable:"" env:"STEWARD_AUTO_MIGRATE"`
}

// config turns the flags into a Config. The operator token comes only from
// the environment, so that it never shows in a process listing.
func (c *serveCmd) config() Config {
	return Config{
		DB:                c.DB,
		Listen:            c.Listen,
		OperatorToken:     os.Getenv("STEWARD_OPERATOR_TOKEN"),
		SMTP:              c.SMTP,
		MailDir:           c.MailDir,
		MailFrom:          c.MailFrom,
		BaseURL:           c.BaseURL,
		AccessLinkTTL:     c.AccessLinkTTL,
		InvitationTTL:     c.InvitationTTL,
		RelationshipGrace: c.RelationshipGrace,
		TokenTTL:          c.TokenTTL,
		TokenMaxTTL:       c.TokenMaxTTL,
		PermissionsFile:   c.Permissions,
		MinRevisionWait:   c.MinRevisionWait,
		ConsentFile:       c.ConsentFile,
		ConsentVersion:    c.ConsentVersion,
		AutoMigrate:       c.AutoMigrate,
		DBTimeout:         c.DBTimeout,
		AccessLog:         c.AccessLog,
		SecretKey:         c.SecretKey,
		WebhookAllowHosts: c.WebhookAllowHost,
		OIDCIssuer:        c.OIDCIssuer,
		OIDCClientID:      c.OIDCClientID,
		OIDCClientSecret:  c.OIDCClientSecret,
	}
}

// Run serves until the process is told to stop (SIGINT, SIGTERM).
func (c *serveCmd) Run(e *env) error {
	m := NewMain()
	m.Config, m.Logger, m.Stderr, m.JSON = c.config(), e.logger, e.stderr, e.json
	var seeded *demo
	if c.Demo {
		// The demo is seeded by the server's own service once it listens,
		// so that mailed links carry the real address.
		m.Seed = func(ctx context.Context, svc *steward.Service) error {
			d, err := seedDemo(ctx, svc)
			seeded = d
			return err
		}
	}
	if err := m.Run(e.ctx); err != nil {
		m.Close()
		return err
	}
	u := m.URL()
	if e.json {
		// Under --log-format json every line of stderr is a JSON log line,
		// the banner too.
		e.logger.Info("listening", slog.String("version", m.Version), slog.String("url", u), slog.String("db", redactDSN(m.Config.DB)),
			slog.String("console", u+"/"), slog.String("health", u+"/healthz"), slog.String("openapi", u+"/v1/openapi.json"),
			slog.String("operator_token", "The operator token "+m.OperatorTokenSource()+"."))
	} else {
		fmt.Fprintf(e.stderr, `
Steward %s is listening on %s (database %s).
Console: %s/
The operator token %s. With it:
    curl -H "Authorization: Bearer $TOKEN" %s/v1/permissions
Health: %s/healthz   API description: %s/v1/openapi.json
Stop with Ctrl-C.

`, m.Version, u, redactDSN(m.Config.DB), u, m.OperatorTokenSource(), u, u, u)
	}
	switch {
	case c.Demo && seeded == nil && e.json:
		e.logger.Info("the database already holds accounts; --demo seeds only an empty one")
	case c.Demo && seeded == nil:
		fmt.Fprintf(e.stderr, "The database already holds accounts; --demo seeds only an empty one.\n")
	case seeded != nil && e.json:
		for _, a := range seeded.accounts {
			e.logger.Info("demo account", slog.String("name", a.Name), slog.String("kind", string(a.Kind)), slog.String("id", a.ID))
		}
		for _, l := range seeded.tokens {
			e.logger.Info("demo user", slog.String("email", l.email), slog.String("who", l.who), slog.String("user_id", l.userID),
				slog.String("password", demoPassword), slog.String("api_token", l.token))
		}
		e.logger.Info("demo check", slog.String("command", seeded.curl(u)))
	case seeded != nil:
		fmt.Fprintf(e.stderr, "The demo world is seeded:\n")
		seeded.print(e.stderr)
		fmt.Fprintln(e.stderr)
		printDemoSignIns(e.stderr, u, seeded.tokens)
		fmt.Fprintf(e.stderr, "Ask the API something, e.g. as Dave:\n%s\n\n", seeded.curl(u))
	}
	var err error
	select {
	case <-e.ctx.Done():
		e.logger.Info("shutting down")
	case err = <-m.Err():
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		e.logger.Info("stopped")
	}
	return err
}

type migrateCmd struct {
	DBFlag `embed:""`
}

// Run applies the migrations and reports.
func (c *migrateCmd) Run(e *env) error {
	db, err := openDatabase(e.ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(e.ctx); err != nil {
		return err
	}
	if err := db.CheckSchema(e.ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "The schema of %s is up to date.\n", redactDSN(c.DB))
	return nil
}

type auditCmd struct {
	Verify auditVerifyCmd `cmd:"" help:"Verify the hash chain of audit logs, reading the database directly. Exit code 1 when a chain is broken."`
}

type auditVerifyCmd struct {
	DBFlag  `embed:""`
	Account string `help:"The account whose log to verify (default: every account)." placeholder:"ID"`
}

// auditReport is one line of `steward audit verify`.
type auditReport struct {
	AccountID string `json:"account_id"`
	steward.VerifyResult
}

// Run verifies one account's chain, or every account's, printing one JSON
// object per account.
func (c *auditVerifyCmd) Run(e *env) error {
	// Verifying reads: a database that is not there is an error (exit 2),
	// and opening SQLite must not leave an empty file behind.
	if path, ok := sqlitePath(c.DB); ok {
		if _, err := os.Stat(path); err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("no database at %s: check --db (%v)", path, err)}
		}
	}
	db, err := openDatabase(e.ctx, c.DB)
	if err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	defer db.Close()
	if err := db.CheckSchema(e.ctx); err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	ids := []string{c.Account}
	if c.Account == "" {
		ids = nil
		if err := db.ScanAccountIDs(e.ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
	} else if _, err := db.FindAccountByID(e.ctx, c.Account); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			return &exitCodeError{code: exitError, err: fmt.Errorf("no account %q in %s: check the id and --db", c.Account, redactDSN(c.DB))}
		}
		return err
	}
	enc := json.NewEncoder(e.stdout)
	broken := 0
	for _, id := range ids {
		res, err := steward.VerifyStoreChain(e.ctx, db, id)
		if err != nil {
			return fmt.Errorf("verify account %s: %w", id, err)
		}
		if !res.OK {
			broken++
		}
		if err := enc.Encode(auditReport{AccountID: id, VerifyResult: res}); err != nil {
			return err
		}
	}
	if broken > 0 {
		fmt.Fprintf(e.stderr, "%d of %d audit chains are broken; first_bad_event_id names where each stops verifying.\n", broken, len(ids))
		return silentExit(exitFailed)
	}
	return nil
}

type versionCmd struct{}

// Run prints the version.
func (versionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, Version)
	return nil
}
