package http_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestAPITokens: tokens take expires_in, are listed without secrets by the
// operator and their user, are revoked one by one, and expired or revoked
// tokens are 401 at once (SPEC §3 "API tokens").
func TestAPITokens(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		other := e.User(t, acc, steward.RoleSuperAdmin)
		otherToken := e.Token(t, other)

		var tok stewardhttp.TokenResponse
		e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": owner, "expires_in": 3600}, &tok)
		if d := time.Until(tok.ExpiresAt); d <= 0 || d > time.Hour || tok.ID == "" || tok.Token == "" {
			t.Fatalf("token = %+v, want an id, a secret and expiry within the hour", tok)
		}
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+owner, tok.Token, nil, nil)
		MustProblem(t, e.Do(t, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": owner, "expires_in": 400 * 24 * 3600}),
			http.StatusUnprocessableEntity, "invalid_token_request", "expires_in")

		t.Run("List", func(t *testing.T) {
			for _, as := range []string{operatorToken, tok.Token} {
				var l stewardhttp.List[steward.Token]
				res := e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+owner+"/tokens", as, nil, &l)
				if len(l.Items) != 1 || l.Items[0].ID != tok.ID || !l.Items[0].ExpiresAt.Equal(tok.ExpiresAt) {
					t.Errorf("tokens = %+v, want the one issued", l.Items)
				}
				if bytes.Contains(res.Body, []byte(tok.Token[len(tok.Token)-20:])) || bytes.Contains(res.Body, []byte(steward.HashSecret(tok.Token))) {
					t.Errorf("the listing shows the secret or its hash: %s", res.Body)
				}
			}
			foreign := e.Do(t, "GET", "/v1/users/"+owner+"/tokens", otherToken, nil)
			unknown := e.Do(t, "GET", "/v1/users/usr_unknown/tokens", otherToken, nil)
			MustProblem(t, foreign, http.StatusNotFound, "user_not_found", "")
			MustProblem(t, unknown, http.StatusNotFound, "user_not_found", "")
		})
		t.Run("Revoke", func(t *testing.T) {
			MustProblem(t, e.Do(t, "DELETE", "/v1/tokens/"+tok.ID, otherToken, nil), http.StatusNotFound, "token_not_found", "")
			events := e.AuditCount(t, acc)
			res := e.MustOK(t, http.StatusNoContent, "DELETE", "/v1/tokens/"+tok.ID, tok.Token, nil, nil)
			if res.Header.Get("Steward-Revision") == "" {
				t.Error("revocation answered without Steward-Revision")
			}
			if e.AuditCount(t, acc) != events+1 {
				t.Error("revocation recorded no audit event")
			}
			MustProblem(t, e.Do(t, "GET", "/v1/users/"+owner, tok.Token, nil), http.StatusUnauthorized, "unauthenticated", "")
			e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+other, otherToken, nil, nil)
		})
		t.Run("Expired", func(t *testing.T) {
			// Issued two hours ago for one hour: expired an hour ago.
			e.Svc.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
			defer func() { e.Svc.Now = time.Now }()
			var old stewardhttp.TokenResponse
			e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": owner, "expires_in": 3600}, &old)
			MustProblem(t, e.Do(t, "GET", "/v1/users/"+owner, old.Token, nil), http.StatusUnauthorized, "token_expired", "")
		})
	})
}

// TestSecretsShownOnce_Replay: a replay of an answer that carried a secret
// carries it no more, says so, and the kept answer never held it (SPEC §4).
func TestSecretsShownOnce_Replay(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		partner, powner := e.Account(t, steward.AccountPartner)
		ptoken := e.Token(t, powner)
		for _, tc := range []struct {
			name, path, token, scope string
			body                     any
			secret                   func(map[string]any) string
		}{
			{"Token", "/v1/tokens", operatorToken, "operator", map[string]any{"user_id": owner},
				func(m map[string]any) string { s, _ := m["token"].(string); return s }},
			{"AccessLink", "/v1/partners/" + partner + "/access-links", ptoken, powner, map[string]any{},
				func(m map[string]any) string { s, _ := m["url"].(string); return s }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var first, replay map[string]any
				res1 := e.MustOK(t, http.StatusCreated, "POST", tc.path, tc.token, tc.body, &first, "Idempotency-Key", "k-"+tc.name)
				secret := tc.secret(first)
				if secret == "" {
					t.Fatalf("first answer %s has no secret", res1.Body)
				}
				res2 := e.MustOK(t, http.StatusCreated, "POST", tc.path, tc.token, tc.body, &replay, "Idempotency-Key", "k-"+tc.name)
				if res2.Header.Get("Idempotent-Replayed") != "true" || replay["id"] != first["id"] {
					t.Fatalf("retry = %s, want the replay of %s", res2.Body, res1.Body)
				}
				if tc.secret(replay) != "" || bytes.Contains(res2.Body, []byte(secret)) || replay["secret_withheld"] != true {
					t.Errorf("replay %s carries the secret or does not say it was withheld", res2.Body)
				}
				kept, err := e.Store.FindIdempotentResponse(t.Context(), tc.scope, "k-"+tc.name)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := json.Marshal(kept)
				if bytes.Contains(raw, []byte(secret[len(secret)-20:])) {
					t.Errorf("the kept answer holds the secret: %s", raw)
				}
			})
		}
		_ = acc
	})
}
