package http_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestConsoleLinks: POST /v1/console-links is the operator's; it answers
// 201 {url, expires_at} with a URL valid 60 s, refuses a return_to that is
// not a console path naming the field, answers an unknown user like any
// unknown id, and a replay withholds the URL (SPEC §3 "console hand-off").
func TestConsoleLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		member := e.User(t, acc, steward.RoleMember)
		events := e.AuditCount(t, acc)

		var l map[string]any
		start := time.Now()
		res := e.MustOK(t, http.StatusCreated, "POST", "/v1/console-links", operatorToken,
			map[string]any{"user_id": member, "return_to": "/accounts/" + acc}, &l)
		url, _ := l["url"].(string)
		if !strings.Contains(url, "/console-links/"+steward.ConsoleLinkTokenPrefix) || res.Header.Get("Steward-Revision") == "" {
			t.Errorf("answer %s: want a console link URL and a revision", res.Body)
		}
		exp, err := time.Parse(time.RFC3339, l["expires_at"].(string))
		if err != nil || exp.Before(start.Add(59*time.Second)) || exp.After(time.Now().Add(61*time.Second)) {
			t.Errorf("expires_at = %v (%v), want 60 s from now", l["expires_at"], err)
		}
		if got := e.AuditCount(t, acc); got != events+1 {
			t.Errorf("audit events = %d, want %d: creating a console link is audited", got, events+1)
		}

		// Only the operator token: a user, even a super admin, is refused as
		// for any operator action.
		MustProblem(t, e.Do(t, "POST", "/v1/console-links", e.Token(t, owner), map[string]any{"user_id": member}),
			http.StatusForbidden, "operator_only", "")
		MustProblem(t, e.Do(t, "POST", "/v1/console-links", "", map[string]any{"user_id": member}),
			http.StatusUnauthorized, "unauthenticated", "")
		MustProblem(t, e.Do(t, "POST", "/v1/console-links", operatorToken, map[string]any{"user_id": "usr_unknown"}),
			http.StatusNotFound, "user_not_found", "")
		for _, bad := range []string{"https://evil.example/", "//evil.example", "accounts"} {
			MustProblem(t, e.Do(t, "POST", "/v1/console-links", operatorToken, map[string]any{"user_id": member, "return_to": bad}),
				http.StatusUnprocessableEntity, "invalid_console_link", "return_to")
		}
		if _, _, err := e.Svc.DeactivateUser(steward.NewContextWithActor(t.Context(), &steward.Actor{Operator: true}), member); err != nil {
			t.Fatal(err)
		}
		MustProblem(t, e.Do(t, "POST", "/v1/console-links", operatorToken, map[string]any{"user_id": member}),
			http.StatusConflict, steward.ReasonUserDeactivated, "")

		// A replay withholds the URL.
		var first, replay map[string]any
		e.MustOK(t, http.StatusCreated, "POST", "/v1/console-links", operatorToken, map[string]any{"user_id": owner}, &first, "Idempotency-Key", "k-console")
		res2 := e.MustOK(t, http.StatusCreated, "POST", "/v1/console-links", operatorToken, map[string]any{"user_id": owner}, &replay, "Idempotency-Key", "k-console")
		secret, _ := first["url"].(string)
		if secret == "" || replay["url"] != nil || bytes.Contains(res2.Body, []byte(secret)) || replay["secret_withheld"] != true {
			t.Errorf("replay %s carries the URL or does not say it was withheld", res2.Body)
		}
	})
}
