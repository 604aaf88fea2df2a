package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/mail"
)

// Config is the configuration of the server. The command line fills it from
// flags, STEWARD_* environment variables and a JSON file, in that order of
// precedence; Main takes it as a value and passes each setting to the
// constructor that needs it.
type Config struct {
	// DB names the database: sqlite:PATH or a postgres:// URL.
	DB string
	// Listen is the TCP address the API listens on.
	Listen string
	// OperatorToken, when set, is the operator token (STEWARD_OPERATOR_TOKEN);
	// otherwise one is generated at first start and only its hash is kept.
	OperatorToken string
	// SMTP is the outgoing mail server, smtp:// or smtps://; empty writes
	// mail into MailDir.
	SMTP string
	// MailDir is the folder mail is written to without SMTP.
	MailDir string
	// MailFrom is the sender address of outgoing mail (default mail.DefaultFrom).
	MailFrom string
	// BaseURL is the public URL used in links sent by mail; empty means
	// http:// and the address the server listens on.
	BaseURL string
	// AccessLinkTTL is the lifetime of partner access links (R-PARTNER-2).
	AccessLinkTTL time.Duration
	// InvitationTTL is the lifetime of invitations of external users (R-EXT-5).
	InvitationTTL time.Duration
	// RelationshipGrace is how long an ending partner relationship lasts after
	// the last partner activity (R-PARTNER-10).
	RelationshipGrace time.Duration
	// TokenTTL is the lifetime of an API token issued without expires_in;
	// TokenMaxTTL the longest one may ask for (SPEC §3 "API tokens").
	TokenTTL, TokenMaxTTL time.Duration
	// PermissionsFile declares the product permissions; empty means the demo
	// CRM catalogue.
	PermissionsFile string
	// MinRevisionWait bounds how long a check waits for its min_revision
	// before a retryable 503 (R-CHECK-3).
	MinRevisionWait time.Duration
	// ConsentFile and ConsentVersion replace the built-in delegated account
	// management agreement (R-EXT-2); both or neither.
	ConsentFile, ConsentVersion string
	// AutoMigrate applies pending migrations at start; when false the server
	// refuses to start on an old schema.
	AutoMigrate bool
	// DBTimeout bounds every wait for the database (a connection, a
	// statement, a commit); a request whose wait runs out is answered 503
	// with Retry-After instead of hanging with the database.
	DBTimeout time.Duration
	// AccessLog logs a line per request at info level: method, route,
	// status, duration, request id and actor id.
	AccessLog bool
	// SecretKey seals webhook secrets (base64 of 32 bytes); empty: one is
	// generated and printed at the first start.
	SecretKey string
	// WebhookAllowHosts are hosts webhooks may reach whatever they resolve
	// to (R-HOOK-3); WebhookTLS, when set, is the TLS configuration of
	// deliveries (tests trust their own receiver with it).
	WebhookAllowHosts []string
	WebhookTLS        *tls.Config
	// OIDCIssuer, OIDCClientID and OIDCClientSecret, when the issuer is
	// set, add single sign-on with that OpenID Connect provider to the
	// console's sign-in page (SPEC §3 "Web console").
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
}

// DefaultConfig returns the configuration of `steward serve` with no settings:
// a SQLite file in the working directory, listening on the loopback.
func DefaultConfig() Config {
	return Config{
		DB:                "sqlite:steward.db",
		Listen:            "127.0.0.1:8080",
		AccessLinkTTL:     720 * time.Hour,
		InvitationTTL:     720 * time.Hour,
		RelationshipGrace: 1440 * time.Hour,
		TokenTTL:          steward.DefaultTokenTTL,
		TokenMaxTTL:       steward.DefaultTokenMaxTTL,
		AutoMigrate:       true,
		MailDir:           mail.DefaultDir,
		MinRevisionWait:   steward.DefaultMinRevisionWait,
		DBTimeout:         DefaultDBTimeout,
		AccessLog:         true,
	}
}

// DefaultDBTimeout is the default bound of a wait for the database.
const DefaultDBTimeout = 2 * time.Second

// minOperatorTokenLen keeps a guessable operator token out of production.
const minOperatorTokenLen = 16

// Validate checks every setting and says how to fix the first bad ones.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.DB) == "" {
		bad("--db is empty: use sqlite:PATH (e.g. sqlite:steward.db) or a postgres:// URL")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("--listen %q is not a host:port address such as 127.0.0.1:8080: %v", c.Listen, err)
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < minOperatorTokenLen {
		bad("STEWARD_OPERATOR_TOKEN is shorter than %d characters: use a long random value, e.g. from `openssl rand -hex 32`", minOperatorTokenLen)
	}
	if c.MinRevisionWait <= 0 || c.MinRevisionWait > time.Minute {
		bad("--min-revision-wait %s: give a duration from 1ms to 1m, e.g. 2s", c.MinRevisionWait)
	}
	if c.DBTimeout < 100*time.Millisecond || c.DBTimeout > time.Minute {
		bad("--db-timeout %s: give a duration from 100ms to 1m, e.g. 2s", c.DBTimeout)
	}
	if c.SecretKey != "" {
		if _, err := steward.ParseSecretKey(c.SecretKey); err != nil {
			bad("--secret-key: %v; generate one with `openssl rand -base64 32`", err)
		}
	}
	if (c.ConsentFile == "") != (c.ConsentVersion == "") {
		bad("--consent-file and --consent-version go together: the version is what inviters accept")
	}
	if c.SMTP != "" {
		u, err := url.Parse(c.SMTP)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("--smtp must look like smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
		}
	}
	if c.OIDCIssuer != "" || c.OIDCClientID != "" || c.OIDCClientSecret != "" {
		u, err := url.Parse(c.OIDCIssuer)
		switch {
		case c.OIDCIssuer == "" || c.OIDCClientID == "":
			bad("--oidc-issuer and --oidc-client-id go together (with --oidc-client-secret for a confidential client): single sign-on needs the provider and the console's client there")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			bad("--oidc-issuer %q must be the provider's absolute issuer URL, e.g. https://login.example.com", c.OIDCIssuer)
		}
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--base-url %q must be an absolute http:// or https:// URL, e.g. https://steward.example.com", c.BaseURL)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--access-link-ttl", c.AccessLinkTTL},
		{"--invitation-ttl", c.InvitationTTL},
		{"--relationship-grace", c.RelationshipGrace},
		{"--token-ttl", c.TokenTTL},
		{"--token-max-ttl", c.TokenMaxTTL},
	} {
		if d.v <= 0 {
			bad("%s must be a positive duration such as 720h", d.flag)
		}
	}
	if c.TokenTTL > c.TokenMaxTTL {
		bad("--token-ttl %s is longer than --token-max-ttl %s: the default lifetime must be allowed", hours(c.TokenTTL), hours(c.TokenMaxTTL))
	}
	if c.TokenMaxTTL%time.Second != 0 || c.TokenTTL%time.Second != 0 {
		bad("--token-ttl and --token-max-ttl are whole seconds, e.g. 2160h")
	}
	return errors.Join(errs...)
}

// configFile is the --config flag: a JSON file whose keys are flag names
// (snake_case or as written), read after flags and environment variables.
type configFile string

// BeforeResolve loads the file as a resolver of the lowest precedence.
func (f configFile) BeforeResolve(k *kong.Kong, ctx *kong.Context, trace *kong.Path) error {
	path := string(ctx.FlagValue(trace.Flag).(configFile))
	if path == "" {
		return nil
	}
	r, err := k.LoadConfig(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w (give --config a readable JSON file, e.g. {\"db\": \"sqlite:steward.db\"})", path, err)
	}
	ctx.AddResolver(r)
	return nil
}

// loadJSONConfig is the kong configuration loader. Unlike kong.JSON it gives
// way to environment variables, so that a variable beats the file, and it
// refuses keys that name no flag, so that a typo is not silently ignored.
func loadJSONConfig(r io.Reader) (kong.Resolver, error) {
	values := map[string]any{}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return jsonResolver(values), nil
}

type jsonResolver map[string]any

// key returns the config key of a flag: its name with dashes as underscores.
func key(f *kong.Flag) string { return strings.ReplaceAll(f.Name, "-", "_") }

func (v jsonResolver) Validate(app *kong.Application) error {
	known := map[string]bool{}
	_ = kong.Visit(app, func(node kong.Visitable, next kong.Next) error {
		if f, ok := node.(*kong.Flag); ok {
			known[key(f)] = true
			known[f.Name] = true
		}
		return next(nil)
	})
	var unknown []string
	for k := range v {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config file: unknown settings %s; the keys are flag names, see `steward --help`", strings.Join(unknown, ", "))
	}
	return nil
}

func (v jsonResolver) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	for _, env := range f.Envs {
		if _, ok := os.LookupEnv(env); ok {
			return nil, nil // the environment takes precedence over the file
		}
	}
	raw, ok := v[key(f)]
	if !ok {
		raw, ok = v[f.Name]
	}
	if !ok {
		return nil, nil
	}
	if n, isNum := raw.(json.Number); isNum {
		return n.String(), nil
	}
	return raw, nil
}
