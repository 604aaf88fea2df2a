package http_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestOpenAPI(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	res := e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, nil)
	if path := os.Getenv("STEWARD_DUMP_OPENAPI"); path != "" {
		os.WriteFile(path, res.Body, 0o644)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi=%q, want 3.1.x", doc.OpenAPI)
	}
	want := map[string][]string{
		"/v1/accounts":                                     {"post"},
		"/v1/accounts/{account}":                           {"get", "patch"},
		"/v1/users":                                        {"post"},
		"/v1/users/{user}":                                 {"get"},
		"/v1/users/{user}/deactivate":                      {"post"},
		"/v1/users/{user}/reactivate":                      {"post"},
		"/v1/tokens":                                       {"post"},
		"/v1/permissions":                                  {"get"},
		"/v1/accounts/{account}/members":                   {"get", "post"},
		"/v1/accounts/{account}/members/{user}":            {"get", "delete"},
		"/v1/accounts/{account}/members/{user}/role":       {"put"},
		"/v1/accounts/{account}/members/{user}/deactivate": {"post"},
		"/v1/accounts/{account}/members/{user}/reactivate": {"post"},
		"/v1/accounts/{account}/roles":                     {"get", "post"},
		"/v1/accounts/{account}/roles/{role}":              {"get", "patch", "delete"},
		"/v1/accounts/{account}/roles/{role}/members":      {"get"},
		"/v1/check":                                        {"post"},
		"/v1/partners/{partner}/employees/assignments":     {"post"},
		"/v1/accounts/{account}/audit":                     {"get"},
		"/v1/accounts/{account}/audit/verify":              {"get"},
		"/healthz":                                         {"get"},
		"/readyz":                                          {"get"},
	}
	for path, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi.json lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}
	// Errors are documented as problem documents with a code.
	if !strings.Contains(string(res.Body), `"application/problem+json"`) || !strings.Contains(string(res.Body), `"code"`) {
		t.Error("openapi.json does not document problem documents")
	}
}
