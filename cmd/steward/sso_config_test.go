package main

import (
	"strings"
	"testing"
)

// TestConfigOIDC: single sign-on's flags have environment variables, and go
// together (SPEC §3 "Web console").
func TestConfigOIDC(t *testing.T) {
	clearEnv(t)
	got, err := parseServe(t, "--oidc-issuer", "https://login.example.com", "--oidc-client-id", "steward")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STEWARD_OIDC_CLIENT_SECRET", "from-the-environment")
	if got, _ = parseServe(t, "--oidc-issuer", "https://login.example.com", "--oidc-client-id", "steward"); got.OIDCIssuer != "https://login.example.com" ||
		got.OIDCClientID != "steward" || got.OIDCClientSecret != "from-the-environment" {
		t.Errorf("OIDC settings = %q, %q, %q", got.OIDCIssuer, got.OIDCClientID, got.OIDCClientSecret)
	}
	t.Setenv("STEWARD_OIDC_ISSUER", "https://idp.example.com")
	t.Setenv("STEWARD_OIDC_CLIENT_ID", "console")
	if got, _ = parseServe(t); got.OIDCIssuer != "https://idp.example.com" || got.OIDCClientID != "console" {
		t.Errorf("from the environment: %q, %q", got.OIDCIssuer, got.OIDCClientID)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	for _, tc := range []struct {
		name, issuer, client string
	}{{"NoClientID", "https://idp.example.com", ""}, {"NoIssuer", "", "console"}, {"RelativeIssuer", "idp.example.com", "console"}} {
		c := DefaultConfig()
		c.OIDCIssuer, c.OIDCClientID = tc.issuer, tc.client
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--oidc-") {
			t.Errorf("%s: Validate() = %v, want an error naming the --oidc- flags", tc.name, err)
		}
	}
}
