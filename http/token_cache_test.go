package http_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
)

// serveCached starts a server as `steward serve` runs one: checks from the
// index, bearer tokens resolved through a TokenCache the index keeps
// current. The clock the tokens expire by is clock.
func serveCached(t *testing.T, st steward.Store, clock *extClock) *Env {
	t.Helper()
	e := &Env{Store: st, Logs: &syncBuffer{}}
	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	e.Svc = steward.NewService(st, cat, nil)
	e.Svc.Now = clock.Now
	ix := authz.New(st.(authz.Source), cat, nil)
	if err := ix.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.Svc.Checker, e.Svc.Lister, e.Svc.OnCommit = ix, ix, ix.OnCommit
	go ix.Follow(ctx, authz.NewKicker(), time.Second)
	tokens := steward.NewTokenCache()
	ix.Watch(tokens.Changed)
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(operatorToken), Now: clock.Now, Cache: tokens}
	logger := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(stewardhttp.NewServer(e.Svc, auth, logger))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// TestTokenCache_RevocationOnTheNextRequest: with tokens resolved from
// memory, a revoked token, a deactivated user's and a deleted user's stop
// working on the very next request to the node that made the change, and an
// expired token at its expiry (R-REVOKE-2, SPEC §3 "API tokens").
func TestTokenCache_RevocationOnTheNextRequest(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			clock := &extClock{}
			clock.Set(time.Now().UTC())
			e := serveCached(t, st.open(t), clock)
			acc, owner := e.Account(t, steward.AccountStandard)
			viewer := e.Role(t, acc, "Viewer", "reports.view")
			// used twice: the second answer comes from the cache
			use := func(token, userID string) Response {
				return e.Do(t, "POST", "/v1/check", token, steward.CheckRequest{UserID: userID, AccountID: acc, Permission: "reports.view"})
			}
			warm := func(t *testing.T, token, userID string, headers ...string) {
				t.Helper()
				for range 2 {
					e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+userID, token, nil, nil, headers...)
				}
			}

			t.Run("Revoked", func(t *testing.T) {
				u := e.User(t, acc, viewer)
				var tok stewardhttp.TokenResponse
				e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": u}, &tok)
				other := e.Token(t, u)
				warm(t, tok.Token, u)
				warm(t, other, u)
				e.MustOK(t, http.StatusNoContent, "DELETE", "/v1/tokens/"+tok.ID, operatorToken, nil, nil)
				MustProblem(t, use(tok.Token, u), http.StatusUnauthorized, "unauthenticated", "")
				MustProblem(t, e.Do(t, "GET", "/v1/users/"+u, tok.Token, nil), http.StatusUnauthorized, "unauthenticated", "")
				e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+u, other, nil, nil) // the user's other token still works
			})
			t.Run("RevokedByItself", func(t *testing.T) {
				u := e.User(t, acc, viewer)
				var tok stewardhttp.TokenResponse
				e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": u}, &tok)
				warm(t, tok.Token, u)
				e.MustOK(t, http.StatusNoContent, "DELETE", "/v1/tokens/"+tok.ID, tok.Token, nil, nil)
				MustProblem(t, use(tok.Token, u), http.StatusUnauthorized, "unauthenticated", "")
			})
			t.Run("UserDeactivatedAndReactivated", func(t *testing.T) {
				u := e.User(t, acc, viewer)
				token := e.Token(t, u)
				warm(t, token, u)
				warm(t, operatorToken, u, "Steward-Act-As", u)
				e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+u+"/deactivate", operatorToken, nil, nil)
				MustProblem(t, use(token, u), http.StatusForbidden, "user_deactivated", "")
				MustProblem(t, e.Do(t, "GET", "/v1/users/"+u, operatorToken, nil, "Steward-Act-As", u), http.StatusForbidden, "user_deactivated", "")
				e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+u+"/reactivate", operatorToken, nil, nil)
				warm(t, token, u)
				warm(t, operatorToken, u, "Steward-Act-As", u)
			})
			t.Run("UserDeleted", func(t *testing.T) {
				u := e.User(t, acc, viewer)
				token := e.Token(t, u)
				warm(t, token, u)
				e.MustOK(t, http.StatusNoContent, "DELETE", "/v1/accounts/"+acc+"/members/"+u, operatorToken, nil, nil)
				MustProblem(t, use(token, u), http.StatusUnauthorized, "unauthenticated", "")
				MustProblem(t, e.Do(t, "GET", "/v1/users/"+owner, operatorToken, nil, "Steward-Act-As", u), http.StatusUnauthorized, "act_as_unknown", "")
			})
			t.Run("Expired", func(t *testing.T) {
				u := e.User(t, acc, viewer)
				var tok stewardhttp.TokenResponse
				e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]any{"user_id": u, "expires_in": 60}, &tok)
				warm(t, tok.Token, u)
				clock.Add(61 * time.Second)
				MustProblem(t, use(tok.Token, u), http.StatusUnauthorized, "token_expired", "")
			})
		})
	}
}
