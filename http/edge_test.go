package http_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// TestDecision_Text_NULAndInvalidUTF8Are422: strings with NUL bytes or
// invalid UTF-8, wherever they come in, are refused with 422 invalid_text
// naming the field, the same on both stores, and change nothing (SPEC §4
// "Text").
func TestDecision_Text_NULAndInvalidUTF8Are422(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		ownerTok := e.Token(t, owner)
		scimPath := "/scim/v2/" + acc + "/Users"
		for _, bad := range []struct{ name, raw, esc, json string }{
			{"NUL", "\x00", "%00", `\u0000`},
			{"InvalidUTF8", "\xff", "%FF", "\xff"},
		} {
			t.Run(bad.name, func(t *testing.T) {
				for _, tc := range []struct {
					name, method, path string
					body               any
					headers            []string
					field              string
				}{
					{name: "PathAccount", method: "GET", path: "/v1/accounts/acc_" + bad.esc, field: "account"},
					{name: "PathMember", method: "GET", path: "/v1/accounts/" + acc + "/members/usr_" + bad.esc, field: "user"},
					{name: "QueryParameter", method: "GET", path: "/v1/accounts/" + acc + "/audit?action=member" + bad.esc, field: "action"},
					{name: "BodyString", method: "POST", path: "/v1/accounts/" + acc + "/roles",
						body: `{"name":"Support` + bad.json + `","permissions":[]}`, field: "name"},
					{name: "BodyNestedString", method: "POST", path: "/v1/accounts",
						body: `{"name":"A","kind":"standard","owner":{"email":"ann@example.com","name":"Ann` + bad.json + `"}}`, field: "owner.name"},
					{name: "BodyListElement", method: "POST", path: "/v1/check/batch",
						body:  `{"checks":[{"user_id":"` + owner + `","account_id":"` + acc + `","permission":"reports.view"},{"user_id":"usr_` + bad.json + `","account_id":"` + acc + `","permission":"reports.view"}]}`,
						field: "checks[1].user_id"},
					{name: "CheckBody", method: "POST", path: "/v1/check",
						body: `{"user_id":"` + owner + `","account_id":"acc_` + bad.json + `","permission":"reports.view"}`, field: "account_id"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						before, rev := e.AuditCount(t, acc), e.Revision(t)
						for _, tok := range []string{operatorToken, ownerTok} {
							res := e.Do(t, tc.method, tc.path, tok, tc.body, tc.headers...)
							MustProblem(t, res, http.StatusUnprocessableEntity, "invalid_text", tc.field)
						}
						if e.AuditCount(t, acc) != before || e.Revision(t) != rev {
							t.Fatal("a refused request changed something")
						}
					})
				}
				// SCIM answers in its own error format, naming the field, with
				// the 400 RFC 7644 §3.12 gives invalidValue.
				for _, tc := range []struct {
					name, method, path string
					body               any
					field              string
				}{
					{name: "SCIMPathUser", method: "GET", path: scimPath + "/usr_" + bad.esc, field: "resource"},
					{name: "SCIMFilter", method: "GET", path: scimPath + "?filter=" + url.QueryEscape(`userName eq "ann`+bad.raw+`@example.com"`), field: "filter"},
					{name: "SCIMBody", method: "POST", path: scimPath,
						body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann` + bad.json + `@example.com"}`, field: "userName"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						before, rev := e.AuditCount(t, acc), e.Revision(t)
						res := e.Do(t, tc.method, tc.path, ownerTok, tc.body)
						var got struct{ Status, ScimType, Detail string }
						if err := json.Unmarshal(res.Body, &got); err != nil || res.Status != http.StatusBadRequest ||
							got.Status != "400" || got.ScimType != "invalidValue" || !strings.Contains(got.Detail, " "+tc.field+": ") {
							t.Fatalf("status %d, body %s: want a SCIM 400 invalidValue naming %s", res.Status, res.Body, tc.field)
						}
						if e.AuditCount(t, acc) != before || e.Revision(t) != rev {
							t.Fatal("a refused request changed something")
						}
					})
				}
			})
		}
		t.Run("ActAsHeader", func(t *testing.T) {
			res := e.Do(t, "GET", "/v1/accounts/"+acc, operatorToken, nil, "Steward-Act-As", "usr_\xff")
			MustProblem(t, res, http.StatusUnprocessableEntity, "invalid_text", "header.Steward-Act-As")
		})
		t.Run("IdempotencyKeyHeader", func(t *testing.T) {
			rev := e.Revision(t)
			res := e.Do(t, "POST", "/v1/accounts/"+acc+"/roles", ownerTok, map[string]any{"name": "Keyed", "permissions": []string{}}, "Idempotency-Key", "key\xff")
			MustProblem(t, res, http.StatusUnprocessableEntity, "invalid_text", "header.Idempotency-Key")
			if e.Revision(t) != rev {
				t.Fatal("a refused request changed something")
			}
		})
	})
}

// TestDecision_NoOpWrites_HTTP: PATCH /v1/accounts/{id} {} by a plain
// member is refused and records nothing; by the owner it answers 200 and
// records nothing (SPEC §4 "No-op writes").
func TestDecision_NoOpWrites_HTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		plainTok := e.Token(t, e.User(t, acc, steward.RoleMember))
		ownerTok := e.Token(t, owner)
		before, rev := e.AuditCount(t, acc), e.Revision(t)
		MustProblem(t, e.Do(t, "PATCH", "/v1/accounts/"+acc, plainTok, map[string]any{}), http.StatusForbidden, "permission_required", "")
		res := e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+acc, ownerTok, map[string]any{}, nil)
		if got := res.Header.Get("Steward-Revision"); got == "" || got == "0" {
			t.Errorf("Steward-Revision = %q, want the current revision", got)
		}
		var a steward.Account
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc, ownerTok, nil, &a)
		e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+acc, ownerTok, map[string]any{"name": a.Name}, nil)
		if e.AuditCount(t, acc) != before || e.Revision(t) != rev {
			t.Fatalf("events %d→%d, revision %d→%d: a write that changes nothing recorded something",
				before, e.AuditCount(t, acc), rev, e.Revision(t))
		}
	})
}

// TestDecision_UnknownAndForeignLookAlike_Checks: with a user token, a
// check in another tenant's account answers exactly as one in an account
// that does not exist, from the check index as from the store (SPEC §4
// "Unknown and foreign look alike").
func TestDecision_UnknownAndForeignLookAlike_Checks(t *testing.T) {
	for _, index := range []bool{false, true} {
		name := "FromStore"
		if index {
			name = "FromIndex"
		}
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, e *Env) {
				if index {
					withIndex(t, e)
				}
				mine, me := e.Account(t, steward.AccountStandard)
				foreign, _ := e.Account(t, steward.AccountStandard)
				unknown := steward.NewID(steward.PrefixAccount, e.Svc.Now())
				tok := e.Token(t, me)
				answer := func(path string, body func(acc string) any, acc, id string) string {
					res := e.Do(t, "POST", path, tok, body(acc))
					MustProblem(t, res, http.StatusNotFound, "account_not_found", "")
					return strings.ReplaceAll(string(res.Body), id, "ID")
				}
				single := func(acc string) any {
					return map[string]any{"user_id": me, "account_id": acc, "permission": "reports.view"}
				}
				batch := func(acc string) any {
					return map[string]any{"checks": []any{single(mine), single(acc)}}
				}
				for _, c := range []struct {
					path string
					body func(string) any
				}{{"/v1/check", single}, {"/v1/check/batch", batch}} {
					if f, u := answer(c.path, c.body, foreign, foreign), answer(c.path, c.body, unknown, unknown); f != u {
						t.Errorf("%s: foreign answers %s, unknown %s", c.path, f, u)
					}
				}
				var own steward.CheckResult
				e.MustOK(t, http.StatusOK, "POST", "/v1/check", tok, single(mine), &own)
				e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken, single(foreign), &own)
				if own.Reason.Code != steward.ReasonNoMembership {
					t.Errorf("the operator's reason = %s, want %s", own.Reason.Code, steward.ReasonNoMembership)
				}
			})
		})
	}
}

// TestDecision_LogsRedactTokens: near misses on token-bearing paths
// (trailing slash, wrong method, other letter case) are logged at debug
// level without the token, and metrics never carry it.
func TestDecision_LogsRedactTokens(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	partner, alice := e.Account(t, steward.AccountPartner)
	aliceTok := e.Token(t, alice)
	var link steward.NewAccessLink
	e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", aliceTok, map[string]any{}, &link)
	token := link.URL[strings.LastIndex(link.URL, "/")+1:]
	invitation := steward.NewSecret("stwi_")
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/access-links/" + token + "/"},
		{"DELETE", "/v1/access-links/" + token},
		{"PUT", "/v1/access-links/" + token + "/approve"},
		{"POST", "/v1/access-links/" + token + "/approve/"},
		{"GET", "/v1/Access-Links/" + token},
		{"GET", "/v1//access-links/" + token + "/x"},
		{"GET", "/v1/access-links/" + token + "/" + "%00"},
		{"GET", "/v1/invitations/" + invitation + "/"},
		{"DELETE", "/v1/invitations/" + invitation + "/accept"},
		{"GET", "/v1/invitations/" + invitation},
		{"GET", "/v1/somewhere/" + invitation},
	} {
		res := e.Do(t, r.method, r.path, aliceTok, nil)
		if res.Status < 400 {
			t.Fatalf("%s %s: status %d, want a failure that is logged", r.method, r.path, res.Status)
		}
	}
	logs := e.Logs.String()
	if n := strings.Count(logs, `"msg":"request failed"`); n < 11 {
		t.Fatalf("%d failures logged, want 11 at debug level: %s", n, logs)
	}
	if !strings.Contains(logs, "{token}") {
		t.Fatalf("the logs name no redacted path: %s", logs)
	}
	for _, secret := range []string{token, invitation, aliceTok} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a token reached the log: %s", logs)
		}
	}
	metrics := e.MustOK(t, http.StatusOK, "GET", "/metrics", "", nil, nil)
	for _, secret := range []string{token, invitation} {
		if strings.Contains(string(metrics.Body), secret) {
			t.Fatal("a token became a metric label")
		}
	}
}
