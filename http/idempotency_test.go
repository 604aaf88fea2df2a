package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestIdempotencyKey: a retry with the same key returns the first answer
// and creates nothing; the key cannot be reused for another request.
func TestIdempotencyKey(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		roles := "/v1/accounts/" + acc + "/roles"
		body := map[string]any{"name": "Support", "permissions": []string{"tickets.view"}}
		countRoles := func() int {
			t.Helper()
			var l stewardhttp.List[steward.Role]
			e.MustOK(t, http.StatusOK, "GET", roles, token, nil, &l)
			return len(l.Items)
		}

		t.Run("Retry", func(t *testing.T) {
			first := e.MustOK(t, http.StatusCreated, "POST", roles, token, body, nil, "Idempotency-Key", "k-1")
			nRoles, events, rev := countRoles(), e.AuditCount(t, acc), e.Revision(t)
			retry := e.MustOK(t, http.StatusCreated, "POST", roles, token, body, nil, "Idempotency-Key", "k-1")
			if !bytes.Equal(retry.Body, first.Body) {
				t.Errorf("retry body = %s, want the first answer %s", retry.Body, first.Body)
			}
			if got, want := retry.Header.Get("Steward-Revision"), first.Header.Get("Steward-Revision"); got != want || got == "" {
				t.Errorf("retry Steward-Revision=%q, want the first %q", got, want)
			}
			if ct := retry.Header.Get("Content-Type"); ct != first.Header.Get("Content-Type") {
				t.Errorf("retry Content-Type=%q, want %q", ct, first.Header.Get("Content-Type"))
			}
			if retry.Header.Get("Idempotent-Replayed") != "true" {
				t.Error("retry not marked Idempotent-Replayed")
			}
			if countRoles() != nRoles || e.AuditCount(t, acc) != events || e.Revision(t) != rev {
				t.Error("the retry changed something")
			}
		})
		t.Run("ErrReusedForAnotherRequest", func(t *testing.T) {
			rev := e.Revision(t)
			res := e.Do(t, "POST", roles, token, map[string]any{"name": "Billing", "permissions": []string{}}, "Idempotency-Key", "k-1")
			MustProblem(t, res, http.StatusUnprocessableEntity, "idempotency_key_reused", "header.Idempotency-Key")
			if e.Revision(t) != rev {
				t.Error("a refused reuse wrote something")
			}
		})
		t.Run("OtherSender", func(t *testing.T) {
			// The same key from the operator is another request: it runs, and
			// here finds the name taken.
			res := e.Do(t, "POST", roles, operatorToken, body, "Idempotency-Key", "k-1")
			MustProblem(t, res, http.StatusConflict, "role_name_taken", "name")
		})
		t.Run("FailureIsNotKept", func(t *testing.T) {
			// A refused request changed nothing; its key is free for the fixed request.
			MustProblem(t, e.Do(t, "POST", roles, token, map[string]any{"name": "Sales", "permissions": []string{"no.such"}}, "Idempotency-Key", "k-2"),
				http.StatusUnprocessableEntity, "unknown_permission", "permissions[0]")
			e.MustOK(t, http.StatusCreated, "POST", roles, token, map[string]any{"name": "Sales", "permissions": []string{}}, nil, "Idempotency-Key", "k-2")
		})
		t.Run("ErrInProgress", func(t *testing.T) {
			// A first request whose transaction is still running holds the key.
			data, _ := json.Marshal(map[string]any{"name": "Slow", "permissions": []string{}})
			locked, release, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			answer := []byte(`{"id":"rol_first"}`)
			go func() {
				first <- e.Store.InTx(context.Background(), func(tx steward.Store) error {
					if _, err := tx.LockIdempotencyKey(context.Background(), owner, "k-3"); err != nil {
						return err
					}
					close(locked)
					<-release
					return tx.SaveIdempotentResponse(context.Background(), &steward.IdempotentResponse{Key: "k-3", Scope: owner,
						RequestHash: stewardhttp.RequestHash("POST", roles, data), Status: http.StatusCreated,
						Header: map[string]string{"Content-Type": "application/json"}, Body: answer, CreatedAt: time.Now().UTC()})
				})
			}()
			<-locked
			rev := e.Revision(t)
			dup := make(chan Response, 1)
			go func() {
				res, err := e.Send("POST", roles, token, data, "Idempotency-Key", "k-3")
				if err != nil {
					res.Body = []byte(err.Error())
				}
				dup <- res
			}()
			if d, ok := e.Store.(interface{ Dialect() string }); ok && d.Dialect() == "sqlite" {
				// One write at a time: the retry waits for the first, then replays it.
				close(release)
				if err := <-first; err != nil {
					t.Fatal(err)
				}
				res := <-dup
				if res.Status != http.StatusCreated || !bytes.Equal(res.Body, answer) || res.Header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("retry = %d %s, want the first answer replayed", res.Status, res.Body)
				}
			} else {
				res := <-dup
				MustProblem(t, res, http.StatusConflict, "idempotency_in_progress", "")
				if res.Header.Get("Retry-After") == "" {
					t.Error("409 idempotency_in_progress without Retry-After")
				}
				close(release)
				if err := <-first; err != nil {
					t.Fatal(err)
				}
			}
			if e.Revision(t) != rev {
				t.Error("a request in progress ran twice")
			}
		})
		t.Run("NoBodyPost", func(t *testing.T) {
			// POSTs without a body take keys too.
			plain := e.User(t, acc, steward.RoleMember)
			first := e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+acc+"/members/"+plain+"/deactivate", token, nil, nil, "Idempotency-Key", "k-4")
			retry := e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+acc+"/members/"+plain+"/deactivate", token, nil, nil, "Idempotency-Key", "k-4")
			if !bytes.Equal(first.Body, retry.Body) {
				t.Errorf("retry body = %s, want %s", retry.Body, first.Body)
			}
		})
	})
}

func TestScopeOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		actor *steward.Actor
		want  string
	}{
		{"Operator", &steward.Actor{Operator: true}, "operator"},
		{"OperatorActingAs", &steward.Actor{Operator: true, UserID: "usr_x"}, "operator:usr_x"},
		{"User", &steward.Actor{UserID: "usr_x"}, "usr_x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stewardhttp.ScopeOf(tc.actor); got != tc.want {
				t.Errorf("ScopeOf=%q, want %q", got, tc.want)
			}
		})
	}
}

// TestIdempotencyKey_EveryWriteReplays sends the POST writes that the
// end-to-end tests do not, each with an Idempotency-Key and once more: every
// retry replays the first answer and changes nothing (Env.ReplayPOSTs).
func TestIdempotencyKey_EveryWriteReplays(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		e.ReplayPOSTs = true
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		base := "/v1/accounts/" + acc

		var m steward.Membership
		e.MustOK(t, http.StatusCreated, "POST", base+"/members", token, map[string]any{"email": "m@example.com", "name": "M", "role": "member"}, &m)
		e.MustOK(t, http.StatusOK, "POST", base+"/members/"+m.UserID+"/deactivate", token, nil, nil)
		e.MustOK(t, http.StatusOK, "POST", base+"/members/"+m.UserID+"/reactivate", token, nil, nil)
		e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+m.UserID+"/deactivate", operatorToken, nil, nil)
		e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+m.UserID+"/reactivate", operatorToken, nil, nil)
		e.MustOK(t, http.StatusOK, "POST", base+"/region-migrations", token, map[string]any{"region": "eu"}, nil)

		// The partner side: a link declined, another approved; employees
		// deactivated, reactivated, and one converted to partner admin.
		partner, powner := e.Account(t, steward.AccountPartner)
		ptoken := e.Token(t, powner)
		var link steward.NewAccessLink
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", ptoken, map[string]any{}, &link)
		e.MustOK(t, http.StatusNoContent, "POST", "/v1/access-links/"+link.URL[strings.LastIndex(link.URL, "/")+1:]+"/decline", token, nil, nil)
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", ptoken, map[string]any{}, &link)
		e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+link.URL[strings.LastIndex(link.URL, "/")+1:]+"/approve", token, map[string]any{"account_id": acc}, nil)
		emp := e.User(t, partner, steward.RoleMember)
		empToken := e.Token(t, emp)
		pc := "/v1/partners/" + partner
		e.MustOK(t, http.StatusCreated, "POST", pc+"/clients/"+acc+"/employees", ptoken, map[string]any{"user_ids": []string{emp}, "role": "member"}, nil)
		sel := map[string]any{"user_ids": []string{emp}, "account_ids": []string{acc}}
		e.MustOK(t, http.StatusOK, "POST", pc+"/deactivations", ptoken, sel, nil)
		e.MustOK(t, http.StatusOK, "POST", pc+"/reactivations", ptoken, sel, nil)
		e.MustOK(t, http.StatusOK, "PUT", base+"/members/"+emp+"/role", token, map[string]any{"role": steward.RoleSuperAdmin}, nil)
		e.MustOK(t, http.StatusOK, "POST", pc+"/clients/"+acc+"/convert-to-partner-admin", empToken, map[string]any{"user_id": emp}, nil)
	})
}
