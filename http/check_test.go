package http_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
)

// withIndex makes the Env's service answer checks and listings from a check
// index that follows every write, as `steward serve` does.
func withIndex(t *testing.T, e *Env) *authz.Index {
	t.Helper()
	ix := authz.New(e.Store.(authz.Source), e.Svc.Catalogue, nil)
	if err := ix.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kick := authz.NewKicker()
	e.Svc.Checker, e.Svc.Lister, e.Svc.OnCommit = ix, ix, ix.OnCommit
	go ix.Follow(ctx, kick, time.Second)
	return ix
}

func TestRCHECK2_ExplainsOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		viewer := e.Role(t, acc, "Viewer", "reports.view")
		u := e.User(t, acc, viewer)
		res := e.MustOK(t, http.StatusCreated, "POST", "/v1/tokens", operatorToken, map[string]string{"user_id": u}, nil)
		rev := res.Header.Get("Steward-Revision")
		var got steward.CheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken,
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":%s}`, u, acc, rev), &got)
		m := e.Member(t, acc, u)
		if !got.Allowed || got.Reason.Code != steward.ReasonGranted || got.Reason.MembershipID != m.ID || got.Reason.Kind != steward.KindInternal ||
			got.Reason.Role != viewer || got.Reason.Source != "membership" || len(got.Reason.Chain) != 1 || got.Reason.Message == "" {
			t.Errorf("check = %+v, want granted through %s with its chain", got, m.ID)
		}
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken,
			map[string]string{"user_id": u, "account_id": acc, "permission": "reports.edit"}, &got)
		if got.Allowed || got.Reason.Code != steward.ReasonPermissionMissing {
			t.Errorf("check = %+v, want permission_missing", got)
		}
		res = e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+acc+"/members/"+u+"/deactivate", operatorToken, nil, nil)
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken,
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":%s}`, u, acc, res.Header.Get("Steward-Revision")), &got)
		if got.Allowed || got.Reason.Code != steward.ReasonUserDeactivated {
			t.Errorf("check after deactivation = %+v, want user_deactivated", got)
		}
		_ = owner
	})
}

func TestRCHECK3_MinRevisionOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		res := e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+acc+"/roles", operatorToken,
			map[string]any{"name": "Viewer", "permissions": []string{"reports.view"}}, nil)
		rev := res.Header.Get("Steward-Revision")
		if rev == "" {
			t.Fatal("a write answered no Steward-Revision")
		}
		var got steward.CheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken,
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":%s}`, owner, acc, rev), &got)
		if fmt.Sprint(got.Revision) < rev && len(fmt.Sprint(got.Revision)) <= len(rev) {
			t.Errorf("revision = %d, want at least %s", got.Revision, rev)
		}
		res = e.Do(t, "POST", "/v1/check", operatorToken,
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":1099511627776}`, owner, acc))
		p := MustProblem(t, res, http.StatusServiceUnavailable, "revision_not_applied", "")
		if p.Headers()["Retry-After"] == nil && res.Header.Get("Retry-After") == "" {
			t.Error("a retryable refusal has no Retry-After")
		}
	})
}

func TestCheckBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		member := e.User(t, acc, steward.RoleMember)
		checks := []map[string]string{
			{"user_id": owner, "account_id": acc, "permission": "reports.view"},
			{"user_id": member, "account_id": acc, "permission": "reports.view"},
			{"user_id": owner, "account_id": acc, "permission": "account.billing.manage", "at": "2020-01-01T00:00:00Z"},
		}
		var got steward.BatchCheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check/batch", operatorToken, map[string]any{"checks": checks}, &got)
		if len(got.Results) != 3 || !got.Results[0].Allowed || got.Results[1].Allowed || !got.Results[2].Allowed {
			t.Errorf("results = %+v, want allowed, denied, allowed in request order", got.Results)
		}

		tests := []struct {
			name        string
			body        any
			status      int
			code, field string
		}{
			{"ErrUnknownPermission", map[string]any{"checks": []map[string]string{checks[0], {"user_id": owner, "account_id": acc, "permission": "nope.nope"}}},
				http.StatusUnprocessableEntity, "unknown_permission", "checks[1].permission"},
			{"ErrUnknownUser", map[string]any{"checks": []map[string]string{{"user_id": "usr_nobody", "account_id": acc, "permission": "reports.view"}}},
				http.StatusNotFound, "user_not_found", "checks[0]"},
			{"ErrUnknownAccount", map[string]any{"checks": []map[string]string{{"user_id": owner, "account_id": "acc_nowhere", "permission": "reports.view"}}},
				http.StatusNotFound, "account_not_found", "checks[0]"},
			{"ErrMalformedAt", `{"checks":[{"user_id":"` + owner + `","account_id":"` + acc + `","permission":"reports.view","at":"yesterday"}]}`,
				http.StatusUnprocessableEntity, "", ""},
			{"ErrTooMany", map[string]any{"checks": slices.Repeat(checks[:1], 1001)}, http.StatusUnprocessableEntity, "", "checks"},
			{"ErrEmpty", map[string]any{"checks": []map[string]string{}}, http.StatusUnprocessableEntity, "", "checks"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := e.Do(t, "POST", "/v1/check/batch", operatorToken, tt.body)
				if res.Status != tt.status || !strings.Contains(res.Header.Get("Content-Type"), "problem+json") {
					t.Fatalf("status = %d (%s), want %d problem", res.Status, res.Body, tt.status)
				}
				if tt.code != "" {
					MustProblem(t, res, tt.status, tt.code, tt.field)
				}
			})
		}
	})
}

func TestAccessListings(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		viewer := e.Role(t, acc, "Viewer", "reports.view")
		var viewers []string
		for range 5 {
			viewers = append(viewers, e.User(t, acc, viewer))
		}
		e.User(t, acc, steward.RoleMember) // holds nothing
		seen := map[string]bool{}
		for cursor := ""; ; {
			var page stewardhttp.List[steward.Access]
			e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/access?permission=reports.view&limit=2&cursor="+cursor, operatorToken, nil, &page)
			if len(page.Items) > 2 {
				t.Fatalf("page of %d, want at most 2", len(page.Items))
			}
			for _, it := range page.Items {
				if it.Reason.Code != steward.ReasonGranted || it.AccountID != acc {
					t.Errorf("entry %+v is not a granted access to %s", it, acc)
				}
				seen[it.UserID] = true
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(seen) != 6 || !seen[owner] {
			t.Errorf("access review lists %d users, want the owner and the 5 viewers", len(seen))
		}
		var mine stewardhttp.List[steward.Access]
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+viewers[0]+"/accounts?permission=reports.view", operatorToken, nil, &mine)
		if len(mine.Items) != 1 || mine.Items[0].AccountID != acc {
			t.Errorf("accounts of a viewer = %+v, want %s", mine.Items, acc)
		}
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/access?permission=nope.nope", operatorToken, nil), http.StatusUnprocessableEntity, "unknown_permission", "permission")
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/access?permission=reports.view&at=soon", operatorToken, nil), http.StatusBadRequest, "wrong_type", "at")
		// A member without account.users.manage may not review access.
		token := e.Token(t, viewers[0])
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/access?permission=reports.view", token, nil), http.StatusForbidden, "permission_required", "")
		// Another tenant's account is not found, never forbidden.
		other, _ := e.Account(t, steward.AccountStandard)
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+other+"/access?permission=reports.view", token, nil), http.StatusNotFound, "account_not_found", "")
	})
}
