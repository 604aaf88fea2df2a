package http_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/steward-iam/steward"
)

// TestRGUARD4_PolicyOverHTTP changes a policy over the API: a field left out
// stays, null clears it, bad input is a 4xx that changes nothing, and a
// never-delegable permission stops holding for an outsider at the next check.
func TestRGUARD4_PolicyOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		ownerTok := e.Token(t, owner)
		path := "/v1/accounts/" + acc + "/policy"

		var p steward.AccountPolicy
		e.MustOK(t, http.StatusOK, "GET", path, ownerTok, nil, &p)
		if p.MaxExternalDays != nil || len(p.NeverDelegable) != 0 {
			t.Fatalf("new account's policy = %+v", p)
		}
		var ch steward.PolicyChange
		e.MustOK(t, http.StatusOK, "PATCH", path, ownerTok, map[string]any{"max_external_days": 30, "never_delegable": []string{"reports.view"}}, &ch)
		if ch.Policy.MaxExternalDays == nil || *ch.Policy.MaxExternalDays != 30 || !slices.Equal(ch.Policy.NeverDelegable, []string{"reports.view"}) {
			t.Fatalf("policy = %+v", ch.Policy)
		}
		e.MustOK(t, http.StatusOK, "PATCH", path, ownerTok, map[string]any{"max_external_days": nil}, &ch)
		if ch.Policy.MaxExternalDays != nil || !slices.Equal(ch.Policy.NeverDelegable, []string{"reports.view"}) {
			t.Fatalf("after clearing max_external_days: %+v", ch.Policy)
		}
		for _, bad := range []struct {
			body   any
			status int
		}{
			{map[string]any{"max_partner_days": 0}, http.StatusUnprocessableEntity},
			{map[string]any{"max_partner_days": -1}, http.StatusUnprocessableEntity},
			{map[string]any{"never_delegable": []string{"no.such.key"}}, http.StatusUnprocessableEntity},
			{map[string]any{"allowed_partners": []string{"not a domain"}}, http.StatusUnprocessableEntity},
			{map[string]any{"unknown_field": true}, http.StatusBadRequest},
			{`{"max_partner_days": "ten"}`, http.StatusBadRequest},
		} {
			before := e.AuditCount(t, acc)
			if res := e.Do(t, "PATCH", path, ownerTok, bad.body); res.Status != bad.status {
				t.Errorf("PATCH %v: %d %s, want %d", bad.body, res.Status, res.Body, bad.status)
			}
			if e.AuditCount(t, acc) != before {
				t.Errorf("PATCH %v changed the audit log", bad.body)
			}
		}
		member := e.User(t, acc, steward.RoleMember)
		if res := e.Do(t, "PATCH", path, e.Token(t, member), map[string]any{"max_partner_days": 5}); res.Status != http.StatusForbidden {
			t.Errorf("a plain member's PATCH: %d %s", res.Status, res.Body)
		}
		var got map[string]any
		e.MustOK(t, http.StatusOK, "GET", path, ownerTok, nil, &got)
		if raw, _ := json.Marshal(got); got["max_partner_days"] != nil {
			t.Errorf("policy after refusals = %s", raw)
		}
	})
}
