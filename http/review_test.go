package http_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestRREVIEW_OverHTTP: a review started, decided, closed and exported over
// the API (R-REVIEW-1..3); a decision on a closed review is 409 and changes
// nothing; the preview of a review's routes is refused.
func TestRREVIEW_OverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		tok := e.Token(t, owner)
		staff := e.Role(t, acc, "Staff", "crm.contacts.view")
		leaver := e.User(t, acc, staff)
		stayer := e.User(t, acc, staff)
		base := "/v1/accounts/" + acc + "/reviews"

		MustProblem(t, e.Do(t, "POST", base, tok, map[string]any{"reviewer_ids": []string{leaver}, "due_at": time.Now().Add(time.Hour), "default_decision": "keep"}),
			http.StatusUnprocessableEntity, "invalid_review", "reviewer_ids")
		var rv steward.Review
		e.MustOK(t, http.StatusCreated, "POST", base, tok, map[string]any{"include_internal": true, "reviewer_ids": []string{owner},
			"due_at": time.Now().Add(24 * time.Hour), "default_decision": "keep"}, &rv)
		var items stewardhttp.List[steward.ReviewItem]
		e.MustOK(t, http.StatusOK, "GET", base+"/"+rv.ID+"/items", tok, nil, &items)
		byUser := map[string]steward.ReviewItem{}
		for _, it := range items.Items {
			byUser[it.UserID] = it
		}
		if len(items.Items) != 3 || byUser[leaver].GrantedBy != "operator" || strings.Join(byUser[leaver].Permissions, ",") != "crm.contacts.view" {
			t.Fatalf("items = %+v", items.Items)
		}
		e.MustOK(t, http.StatusOK, "PUT", base+"/"+rv.ID+"/items/"+byUser[leaver].ID, tok, map[string]any{"decision": "remove", "note": "Left in June."}, nil)
		MustProblem(t, e.Do(t, "PUT", base+"/"+rv.ID+"/items/"+byUser[stayer].ID, tok, map[string]any{"decision": "drop"}), http.StatusUnprocessableEntity, "invalid_value", "decision")
		MustProblem(t, e.Do(t, "POST", base+"/"+rv.ID+"/close?dry_run=true", tok, nil), http.StatusBadRequest, "dry_run_not_supported", "query.dry_run")
		var closed steward.Review
		e.MustOK(t, http.StatusOK, "POST", base+"/"+rv.ID+"/close", tok, nil, &closed)
		if closed.Status != steward.ReviewClosed || closed.Outcome[steward.OutcomeDeactivated] != 1 || closed.Outcome[steward.OutcomeKept] != 2 {
			t.Fatalf("closed = %+v", closed)
		}
		if m := e.Member(t, acc, leaver); m.Status != steward.StatusDeactivated {
			t.Errorf("the removed user's home membership is %s, want deactivated", m.Status)
		}
		events := e.AuditCount(t, acc)
		MustProblem(t, e.Do(t, "PUT", base+"/"+rv.ID+"/items/"+byUser[stayer].ID, tok, map[string]any{"decision": "remove"}), http.StatusConflict, "review_closed", "")
		if e.AuditCount(t, acc) != events {
			t.Error("a refused decision wrote an event")
		}
		res := e.Do(t, "GET", base+"/"+rv.ID+"/export", tok, nil)
		if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export: %d %s", res.Status, res.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
		if err != nil || len(rows) != 4 {
			t.Fatalf("export rows = %q, %v", rows, err)
		}
	})
}
