package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clearEnv unsets every STEWARD_* variable but the test ones for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "STEWARD_") && !strings.HasPrefix(k, "STEWARD_TEST_") {
			t.Setenv(k, "") // restores the value after the test
			os.Unsetenv(k)
		}
	}
}

// parseServe parses `steward serve args…` and returns its Config.
func parseServe(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	p, c, err := newParser(io.Discard, io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(append([]string{"serve"}, args...)); err != nil {
		return Config{}, err
	}
	return c.Serve.config(), nil
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// APITokens: the lifetimes of API tokens are flags of serve (SPEC §3).
func TestConfigAPITokens_Flags(t *testing.T) {
	clearEnv(t)
	got, err := parseServe(t, "--token-ttl", "1h", "--token-max-ttl", "48h")
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenTTL != time.Hour || got.TokenMaxTTL != 48*time.Hour {
		t.Errorf("token lifetimes = %s, %s; want 1h, 48h", got.TokenTTL, got.TokenMaxTTL)
	}
	t.Setenv("STEWARD_TOKEN_MAX_TTL", "72h")
	if got, _ := parseServe(t); got.TokenMaxTTL != 72*time.Hour {
		t.Errorf("STEWARD_TOKEN_MAX_TTL: TokenMaxTTL = %s, want 72h", got.TokenMaxTTL)
	}
}

func TestConfigDefaults(t *testing.T) {
	clearEnv(t)
	got, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultConfig(), got); diff != "" {
		t.Errorf("serve with no settings differs from DefaultConfig (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate()=%v, want nil", err)
	}
}

// A flag beats an environment variable, which beats the config file, which
// beats the default.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "steward.json", `{
		"listen": "127.0.0.1:1001",
		"db": "sqlite:file.db",
		"access_link_ttl": "1h",
		"auto-migrate": false,
		"base_url": "https://file.example"
	}`)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want func(*Config)
	}{
		{"Default", nil, nil, func(c *Config) {}},
		{"File", nil, []string{"--config", file}, func(c *Config) {
			c.Listen, c.DB, c.AccessLinkTTL, c.AutoMigrate, c.BaseURL = "127.0.0.1:1001", "sqlite:file.db", time.Hour, false, "https://file.example"
		}},
		{"FileFromEnv", map[string]string{"STEWARD_CONFIG": file}, nil, func(c *Config) {
			c.Listen, c.DB, c.AccessLinkTTL, c.AutoMigrate, c.BaseURL = "127.0.0.1:1001", "sqlite:file.db", time.Hour, false, "https://file.example"
		}},
		{"EnvOverFile", map[string]string{"STEWARD_LISTEN": "127.0.0.1:1002", "STEWARD_AUTO_MIGRATE": "true", "STEWARD_ACCESS_LINK_TTL": "2h"},
			[]string{"--config", file}, func(c *Config) {
				c.Listen, c.DB, c.AccessLinkTTL, c.AutoMigrate, c.BaseURL = "127.0.0.1:1002", "sqlite:file.db", 2*time.Hour, true, "https://file.example"
			}},
		{"FlagOverEnvOverFile", map[string]string{"STEWARD_LISTEN": "127.0.0.1:1002", "STEWARD_DB": "sqlite:env.db"},
			[]string{"--config", file, "--listen", "127.0.0.1:1003", "--access-link-ttl", "3h", "--auto-migrate"}, func(c *Config) {
				c.Listen, c.DB, c.AccessLinkTTL, c.AutoMigrate, c.BaseURL = "127.0.0.1:1003", "sqlite:env.db", 3*time.Hour, true, "https://file.example"
			}},
		{"FlagOverEnv", map[string]string{"STEWARD_DB": "sqlite:env.db", "STEWARD_AUTO_MIGRATE": "true"},
			[]string{"--db", "sqlite:flag.db", "--no-auto-migrate"}, func(c *Config) {
				c.DB, c.AutoMigrate = "sqlite:flag.db", false
			}},
		{"DBTimeout", map[string]string{"STEWARD_DB_TIMEOUT": "5s"}, []string{"--db-timeout", "750ms"}, func(c *Config) {
			c.DBTimeout = 750 * time.Millisecond
		}},
		{"DBTimeoutFromEnv", map[string]string{"STEWARD_DB_TIMEOUT": "5s"}, nil, func(c *Config) {
			c.DBTimeout = 5 * time.Second
		}},
		{"OperatorTokenFromEnv", map[string]string{"STEWARD_OPERATOR_TOKEN": "stw_op_from_the_environment"}, nil, func(c *Config) {
			c.OperatorToken = "stw_op_from_the_environment"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := parseServe(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"ErrUnknownKey", `{"lisen": "127.0.0.1:1"}`, "unknown settings lisen"},
		{"ErrNotJSON", `listen = "127.0.0.1:1"`, "not a JSON object"},
		{"ErrBadDuration", `{"invitation_ttl": "a month"}`, "invitation-ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			_, err := parseServe(t, "--config", writeFile(t, "steward.json", tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err=%v, want one mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("ErrMissingFile", func(t *testing.T) {
		clearEnv(t)
		_, err := parseServe(t, "--config", filepath.Join(t.TempDir(), "none.json"))
		if err == nil || !strings.Contains(err.Error(), "none.json") {
			t.Errorf("err=%v, want one naming the file", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // empty: valid
	}{
		{"Default", func(c *Config) {}, ""},
		{"Postgres", func(c *Config) { c.DB = "postgres://steward@db:5432/steward" }, ""},
		{"SMTP", func(c *Config) { c.SMTP = "smtp://relay:25" }, ""},
		{"SMTPS", func(c *Config) { c.SMTP = "smtps://user:pass@mail.example:465" }, ""},
		{"ErrDB", func(c *Config) { c.DB = " " }, "--db"},
		{"ErrListen", func(c *Config) { c.Listen = "8080" }, "--listen"},
		{"ErrConsentWithoutVersion", func(c *Config) { c.ConsentFile = "agreement.txt" }, "--consent-version"},
		{"ErrShortToken", func(c *Config) { c.OperatorToken = "secret" }, "STEWARD_OPERATOR_TOKEN"},
		{"ErrSMTP", func(c *Config) { c.SMTP = "mail.example:25" }, "--smtp"},
		{"ErrBaseURL", func(c *Config) { c.BaseURL = "steward.example" }, "--base-url"},
		{"ErrTTL", func(c *Config) { c.InvitationTTL = 0 }, "--invitation-ttl"},
		{"ErrGrace", func(c *Config) { c.RelationshipGrace = -time.Hour }, "--relationship-grace"},
		{"ErrTokenTTL", func(c *Config) { c.TokenTTL = 0 }, "--token-ttl"},
		{"ErrTokenTTLAboveMax", func(c *Config) { c.TokenTTL, c.TokenMaxTTL = 48*time.Hour, 24*time.Hour }, "--token-max-ttl"},
		{"ErrTokenTTLFraction", func(c *Config) { c.TokenMaxTTL = time.Hour + time.Millisecond }, "whole seconds"},
		{"ErrDBTimeout", func(c *Config) { c.DBTimeout = 0 }, "--db-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate()=%v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate()=%v, want an error mentioning %s", err, tc.want)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:steward.db", "sqlite:steward.db"},
		{"postgres://steward:s3cret@db:5432/steward", "postgres://steward:xxxxx@db:5432/steward"},
		{"postgres://steward:s3cret@db:5432/%zz", "postgres:…"},
	} {
		if got := redactDSN(tc.in); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("redactDSN(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}
