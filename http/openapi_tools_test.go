package http_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// servedOpenAPI writes the served document into a temporary file.
func servedOpenAPI(t *testing.T) (string, []byte) {
	t.Helper()
	e := MustServe(t, MustOpenSQLite(t))
	res := e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, nil)
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, res.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, res.Body
}

// TestOpenAPIContract checks what code generators and readers rely on:
// every operation has a summary, a description and a tag; integers are
// integers; fixed values are enums; lists are never null; every status the
// server answers is documented (503 with Retry-After among them); the audit
// exports name their media types; no schema takes a generator's own name;
// AccountUpdate does not offer region, which is always refused.
func TestOpenAPIContract(t *testing.T) {
	_, body := servedOpenAPI(t)
	type response struct {
		Description string                     `json:"description"`
		Headers     map[string]json.RawMessage `json:"headers"`
		Content     map[string]json.RawMessage `json:"content"`
	}
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths map[string]map[string]struct {
			Summary     string   `json:"summary"`
			Description string   `json:"description"`
			Tags        []string `json:"tags"`
			Parameters  []struct {
				Name   string         `json:"name"`
				Schema map[string]any `json:"schema"`
			} `json:"parameters"`
			RequestBody json.RawMessage     `json:"requestBody"`
			Responses   map[string]response `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 {
		t.Error("no servers")
	}
	for path, item := range doc.Paths {
		for method, op := range item {
			name := strings.ToUpper(method) + " " + path
			if op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
				t.Errorf("%s: summary %q, description %q, tags %v; want all three", name, op.Summary, op.Description, op.Tags)
			}
			for _, p := range op.Parameters {
				if p.Name == "limit" && p.Schema["type"] != "integer" {
					t.Errorf("%s: limit is %v, want an integer", name, p.Schema["type"])
				}
			}
			if path != "/healthz" {
				r, ok := op.Responses["503"]
				if _, retry := r.Headers["Retry-After"]; !ok || !retry {
					t.Errorf("%s: no 503 with Retry-After", name)
				}
			}
			if op.RequestBody != nil {
				if _, ok := op.Responses["415"]; !ok {
					t.Errorf("%s: takes a body, does not document 415", name)
				}
			}
		}
	}
	if _, ok := doc.Paths["/v1/invitations/{token}/accept"]["post"].Responses["410"]; !ok {
		t.Error("POST /v1/invitations/{token}/accept does not document 410 (revoked or expired invitations)")
	}
	if d := doc.Paths["/v1/check"]["post"].Responses["503"].Description; !strings.Contains(d, "revision_not_applied") {
		t.Errorf("POST /v1/check 503 = %q, want revision_not_applied named", d)
	}
	for _, path := range []string{"/v1/accounts/{account}/audit/export", "/v1/partners/{partner}/audit/export"} {
		c := doc.Paths[path]["get"].Responses["200"].Content
		if _, ok := c["application/x-ndjson"]; !ok {
			t.Errorf("GET %s: no application/x-ndjson answer", path)
		}
		if _, ok := c["text/csv; charset=utf-8"]; !ok {
			t.Errorf("GET %s: no text/csv answer", path)
		}
	}
	for _, reserved := range []string{"Client", "ClientInterface", "ClientWithResponses", "ClientOption", "HttpRequestDoer", "RequestEditorFn", "ServerInterface"} {
		if _, ok := doc.Components.Schemas[reserved]; ok {
			t.Errorf("a schema is named %s, which oapi-codegen generates itself", reserved)
		}
	}
	if _, ok := doc.Components.Schemas["AccountUpdate"].Properties["region"]; ok {
		t.Error("AccountUpdate offers region, which is always refused")
	}
	for _, p := range [][2]string{{"Account", "kind"}, {"Membership", "kind"}, {"Membership", "status"}, {"User", "status"}, {"Relationship", "status"}} {
		if doc.Components.Schemas[p[0]].Properties[p[1]]["enum"] == nil {
			t.Errorf("%s.%s has no enum", p[0], p[1])
		}
	}
	if typ := doc.Components.Schemas["ListAccess"].Properties["items"]["type"]; typ != "array" {
		t.Errorf("ListAccess.items type = %v, want array (never null)", typ)
	}
}

// repoRoot is the module's root, where tools/go.mod is.
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestOpenAPIGeneratesGoClient generates a Go client from the served
// document with oapi-codegen (tools/go.mod) and compiles it.
func TestOpenAPIGeneratesGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: generating and compiling a client takes a while")
	}
	doc, _ := servedOpenAPI(t)
	root := repoRoot(t)
	dir := t.TempDir()
	gen := exec.Command("go", "tool", "-modfile=tools/go.mod", "oapi-codegen", "-generate", "types,client", "-package", "stewardapi", doc)
	gen.Dir = root
	gen.Env = append(os.Environ(), "GOWORK=off")
	code, err := gen.Output()
	if err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, stderrOf(err))
	}
	if err := os.WriteFile(filepath.Join(dir, "client.gen.go"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	// The generated code compiles in a module of its own with the tools'
	// requirements (github.com/oapi-codegen/runtime among them).
	mod, err := os.ReadFile(filepath.Join(root, "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module stewardapi"))
	mod = regexp.MustCompile(`(?m)^tool .*$`).ReplaceAll(mod, nil)
	sum, err := os.ReadFile(filepath.Join(root, "tools", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
	build := exec.Command("go", "build", "-mod=mod", "./...")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the generated client does not compile: %v\n%s", err, out)
	}
	if !strings.Contains(string(code), "func (c *Client) Check(") {
		t.Error("the generated client has no Check method")
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestOpenAPIRedoclyLint lints the served document with Redocly's CLI
// (npm @redocly/cli@2.77.0, ruleset recommended): no error. Without redocly
// the test skips, except in CI, where .ci/run installs it.
func TestOpenAPIRedoclyLint(t *testing.T) {
	bin, err := exec.LookPath("redocly")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redocly is missing: npm install -g @redocly/cli@2.77.0 (.ci/run does)")
		}
		t.Skip("redocly not found: npm install -g @redocly/cli@2.77.0")
	}
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.Contains(string(out), "2.77.0") {
		t.Logf("redocly --version = %q, want 2.77.0", strings.TrimSpace(string(out)))
	}
	doc, _ := servedOpenAPI(t)
	cmd := exec.Command(bin, "lint", "--extends", "recommended", "--format", "json", doc)
	out, err := cmd.Output()
	var report struct {
		Totals struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
		} `json:"problems"`
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("redocly lint: %v; output not JSON (%v):\n%s%s", err, jerr, out, stderrOf(err))
	}
	for _, p := range report.Problems {
		if p.Severity == "error" {
			t.Errorf("redocly: %s: %s", p.RuleID, p.Message)
		}
	}
	if report.Totals.Errors != 0 {
		t.Errorf("redocly lint: %d errors", report.Totals.Errors)
	}
}
