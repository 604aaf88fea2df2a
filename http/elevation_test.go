package http_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestRELEVATE_OverHTTP: an eligibility previewed and created, an
// elevation asked for with an Idempotency-Key, approved by another member
// and ended, over the API (R-ELEVATE-1..2), with the problem documents of
// the refusals.
func TestRELEVATE_OverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		ownerTok := e.Token(t, owner)
		second := e.User(t, acc, steward.RoleSuperAdmin)
		billing := e.Role(t, acc, "Billing", steward.PermBillingManage, "reports.view")
		member := e.User(t, acc, steward.RoleMember)
		memberTok := e.Token(t, member)
		base := "/v1/accounts/" + acc

		MustProblem(t, e.Do(t, "POST", base+"/eligibilities", ownerTok, map[string]any{"user_id": member, "role": billing, "max_minutes": 481}),
			http.StatusUnprocessableEntity, "invalid_eligibility", "max_minutes")
		MustProblem(t, e.Do(t, "POST", base+"/eligibilities", memberTok, map[string]any{"user_id": member, "role": billing, "max_minutes": 60}),
			http.StatusForbidden, "permission_required", "")
		events := e.AuditCount(t, acc)
		var preview steward.Preview
		e.MustOK(t, http.StatusOK, "POST", base+"/eligibilities?dry_run=true", ownerTok,
			map[string]any{"user_id": member, "role": billing, "max_minutes": 60, "approval_required": true}, &preview)
		if !preview.DryRun || len(preview.Changes) != 1 || len(preview.Changes[0].Gained) != 2 || e.AuditCount(t, acc) != events {
			t.Fatalf("preview = %+v", preview)
		}
		var el steward.Eligibility
		e.MustOK(t, http.StatusCreated, "POST", base+"/eligibilities", ownerTok,
			map[string]any{"user_id": member, "role": billing, "max_minutes": 60, "approval_required": true}, &el)
		var els stewardhttp.List[steward.Eligibility]
		e.MustOK(t, http.StatusOK, "GET", base+"/eligibilities?limit=1", memberTok, nil, &els)
		if len(els.Items) != 1 || els.Items[0].ID != el.ID {
			t.Fatalf("the member's eligibilities = %+v", els.Items)
		}

		MustProblem(t, e.Do(t, "POST", base+"/elevations", memberTok, map[string]any{"role": billing, "minutes": 61, "reason": "Close"}),
			http.StatusUnprocessableEntity, "elevation_too_long", "minutes")
		MustProblem(t, e.Do(t, "POST", base+"/elevations", e.Token(t, second), map[string]any{"role": billing, "minutes": 30, "reason": "Close"}),
			http.StatusForbidden, "not_eligible", "")
		body := map[string]any{"role": billing, "minutes": 30, "reason": "Close the quarter"}
		first := e.MustOK(t, http.StatusCreated, "POST", base+"/elevations", memberTok, body, nil, "Idempotency-Key", "elev-1")
		retry := e.MustOK(t, http.StatusCreated, "POST", base+"/elevations", memberTok, body, nil, "Idempotency-Key", "elev-1")
		if !bytes.Equal(first.Body, retry.Body) || retry.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry = %s, want the first answer %s replayed", retry.Body, first.Body)
		}
		var list stewardhttp.List[steward.Elevation]
		e.MustOK(t, http.StatusOK, "GET", base+"/elevations?status=pending", ownerTok, nil, &list)
		if len(list.Items) != 1 || list.Items[0].Status != steward.ElevationPending {
			t.Fatalf("pending elevations = %+v", list.Items)
		}
		pending := list.Items[0]
		MustProblem(t, e.Do(t, "POST", base+"/elevations/"+pending.ID+"/approve", memberTok, nil), http.StatusForbidden, "own_elevation", "")
		var approved steward.Elevation
		res := e.MustOK(t, http.StatusOK, "POST", base+"/elevations/"+pending.ID+"/approve", e.Token(t, second), nil, &approved)
		if approved.Status != steward.ElevationActive || approved.EndsAt == nil || res.Header.Get("Steward-Revision") == "" {
			t.Fatalf("approved = %+v", approved)
		}
		var check steward.CheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken, map[string]any{"user_id": member, "account_id": acc,
			"permission": steward.PermBillingManage, "min_revision": revisionOf(t, res)}, &check)
		if !check.Allowed || check.Reason.Source != "elevation" || check.Reason.Elevation == nil || check.Reason.Elevation.ID != pending.ID {
			t.Fatalf("check while elevated = %+v", check)
		}
		var ended steward.Elevation
		e.MustOK(t, http.StatusOK, "POST", base+"/elevations/"+pending.ID+"/end", memberTok, nil, &ended)
		if ended.Status != steward.ElevationEnded {
			t.Fatalf("ended = %+v", ended)
		}
		MustProblem(t, e.Do(t, "POST", base+"/elevations/"+pending.ID+"/end", memberTok, nil), http.StatusConflict, "elevation_ended", "")
		e.MustOK(t, http.StatusNoContent, "DELETE", base+"/eligibilities/"+el.ID, ownerTok, nil, nil)
		MustProblem(t, e.Do(t, "DELETE", base+"/eligibilities/"+el.ID, ownerTok, nil), http.StatusNotFound, "eligibility_not_found", "")
	})
}

func revisionOf(t *testing.T, res Response) int64 {
	t.Helper()
	rev, err := strconv.ParseInt(res.Header.Get("Steward-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("Steward-Revision %q: %v", res.Header.Get("Steward-Revision"), err)
	}
	return rev
}
