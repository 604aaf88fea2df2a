package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
)

// TestIdempotencyKey_ReplayAfterCrash kills a real `steward serve` with
// SIGKILL after it committed a POST with an Idempotency-Key and before it
// answered. The client's retry with the same key, to a restarted server,
// gets the answer replayed and the change is made once: one role, one
// audit event.
func TestIdempotencyKey_ReplayAfterCrash(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testReplayAfterCrash(t, "sqlite:"+filepath.Join(t.TempDir(), "steward.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testReplayAfterCrash(t, pgtest.NewDSN(t))
	})
}

func testReplayAfterCrash(t *testing.T, db string) {
	crashing := startNode(t, db, "STEWARD_TEST_KILL_AFTER_COMMIT=1")
	res, body := crashing.do(t, "POST", "/v1/accounts", steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create account: %d %s", res.StatusCode, body)
	}
	var acc steward.Account
	json.Unmarshal(body, &acc)
	roles := "/v1/accounts/" + acc.ID + "/roles"
	role := map[string]any{"name": "Support", "permissions": []string{"tickets.view"}}

	// The first attempt commits, and the process dies before answering.
	if res, err := postWithKey(crashing.url+roles, role, "crash-1"); err == nil {
		t.Fatalf("the server answered %d before dying; want no answer", res.StatusCode)
	}
	crashing.cmd.Wait()
	if ws, ok := crashing.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server ended with %v, want SIGKILL after the commit", crashing.cmd.ProcessState)
	}

	// The retry, to the restarted server, gets the answer of the first.
	restarted := startNode(t, db)
	res, err := postWithKey(restarted.url+roles, role, "crash-1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	replayed, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "true" || res.Header.Get("Steward-Revision") == "" {
		t.Fatalf("retry = %d %v %s, want the first answer replayed", res.StatusCode, res.Header, replayed)
	}
	var got steward.Role
	if err := json.Unmarshal(replayed, &got); err != nil || got.Name != "Support" {
		t.Fatalf("replayed body %s, want the role created", replayed)
	}

	// The change happened once.
	_, body = restarted.do(t, "GET", roles, nil)
	var list struct{ Items []steward.Role }
	json.Unmarshal(body, &list)
	var custom []steward.Role
	for _, r := range list.Items {
		if !r.Builtin {
			custom = append(custom, r)
		}
	}
	if len(custom) != 1 || custom[0].ID != got.ID {
		t.Errorf("custom roles = %+v, want only the replayed %s", custom, got.ID)
	}
	_, body = restarted.do(t, "GET", "/v1/accounts/"+acc.ID+"/audit?action=role.created", nil)
	var events struct{ Items []steward.Event }
	json.Unmarshal(body, &events)
	if len(events.Items) != 1 || events.Items[0].TargetID != got.ID {
		t.Errorf("role.created events = %+v, want exactly one, for %s", events.Items, got.ID)
	}
}

// postWithKey sends a POST with an Idempotency-Key as the operator.
func postWithKey(url string, body any, key string) (*http.Response, error) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testOperatorToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	return http.DefaultClient.Do(req)
}
