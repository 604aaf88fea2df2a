package http_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/steward-iam/steward"
)

// TestRAUDIT3_Export exports an account's log as NDJSON and CSV, filtered
// and whole, and refuses a member who may not read it.
func TestRAUDIT3_Export(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		for _, name := range []string{"Sales", "Support", "Finance"} {
			e.Role(t, acc, name, "reports.view")
		}
		member := e.User(t, acc, steward.RoleMember)
		total := e.AuditCount(t, acc)

		res := e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit/export", operatorToken, nil, nil)
		if ct := res.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type = %q, want application/x-ndjson", ct)
		}
		var events []steward.Event
		sc := bufio.NewScanner(bytes.NewReader(res.Body))
		for sc.Scan() {
			var ev steward.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			events = append(events, ev)
		}
		if len(events) != total || events[0].Seq != int64(total) || events[len(events)-1].Seq != 1 {
			t.Errorf("NDJSON export has %d events (first seq %d), want all %d newest first", len(events), events[0].Seq, total)
		}
		// The exported events still verify: the hash of each is its own.
		for _, ev := range events {
			if ev.ComputeHash() != ev.Hash {
				t.Errorf("exported event %s does not hash to its hash", ev.ID)
			}
		}

		res = e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit/export?format=csv&action=role.created", operatorToken, nil, nil)
		rows, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0][0] != "id" || rows[1][4] != "role.created" || rows[1][7] != "" || rows[1][10] != "true" {
			t.Errorf("CSV export of role.created = %v, want a header and 3 rows by the operator", rows)
		}
		res = e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit/export?format=csv&actor="+owner, operatorToken, nil, nil)
		if rows, _ := csv.NewReader(bytes.NewReader(res.Body)).ReadAll(); len(rows) != 1 {
			t.Errorf("export of the owner's own events = %d rows, want only the header", len(rows))
		}

		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/audit/export", e.Token(t, member), nil), http.StatusForbidden, "permission_required", "")
		other, _ := e.Account(t, steward.AccountStandard)
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+other+"/audit/export", e.Token(t, member), nil), http.StatusNotFound, "account_not_found", "")
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/audit/export?format=xml", operatorToken, nil), http.StatusUnprocessableEntity, "invalid_value", "format")
	})
}
