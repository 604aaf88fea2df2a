package http_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestAccountsAndUsers drives the operator's endpoints and the field names
// of SPEC §3.
func TestAccountsAndUsers(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		var acc steward.Account
		res := e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts", operatorToken, map[string]any{
			"name": "Acme", "kind": "partner", "region": "eu",
			"billing":           map[string]any{"has_billing_info": true, "plan": "pro"},
			"verified_domains":  []string{"Acme.example"},
			"delegation_policy": map[string]any{"require_delegate_billing": true},
		}, &acc)
		want := steward.Account{ID: acc.ID, Name: "Acme", Kind: steward.AccountPartner, Region: "eu", Billing: steward.Billing{HasBillingInfo: true, Plan: "pro"},
			VerifiedDomains: []string{"acme.example"}, DelegationPolicy: steward.DelegationPolicy{RequireDelegateBilling: true}, CreatedAt: acc.CreatedAt, UpdatedAt: acc.UpdatedAt}
		if diff := cmp.Diff(want, acc); diff != "" {
			t.Errorf("account (-want +got):\n%s", diff)
		}
		if res.Header.Get("Steward-Revision") == "" {
			t.Error("POST /v1/accounts without Steward-Revision")
		}

		var got steward.Account
		e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+acc.ID, operatorToken, map[string]any{"name": "Acme Ltd"}, &got)
		if got.Name != "Acme Ltd" || got.Region != "eu" {
			t.Errorf("after PATCH name=%q region=%q", got.Name, got.Region)
		}

		var u steward.User
		e.MustOK(t, http.StatusCreated, "POST", "/v1/users", operatorToken, map[string]any{
			"email": "Ada@Acme.example", "name": "Ada", "home_account_id": acc.ID, "role": "super_admin",
		}, &u)
		if u.Email != "ada@acme.example" || u.HomeAccountID != acc.ID || u.Status != steward.UserActive {
			t.Errorf("user = %+v", u)
		}
		token := e.Token(t, u.ID)
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+u.ID, token, nil, nil)

		// The user's own token, and the operator acting as the user, see the account.
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc.ID, token, nil, nil)
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc.ID, operatorToken, nil, nil, "Steward-Act-As", u.ID)

		// A second super admin so that Ada may be deactivated (R-SUPER-1).
		e.User(t, acc.ID, steward.RoleSuperAdmin)
		e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+u.ID+"/deactivate", operatorToken, nil, &u)
		if u.Status != steward.UserDeactivated {
			t.Errorf("status after deactivate = %q", u.Status)
		}
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc.ID, token, nil), http.StatusForbidden, "user_deactivated", "")
		e.MustOK(t, http.StatusOK, "POST", "/v1/users/"+u.ID+"/reactivate", operatorToken, nil, &u)
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc.ID, token, nil, nil)

		var perms stewardhttp.List[steward.Permission]
		e.MustOK(t, http.StatusOK, "GET", "/v1/permissions", token, nil, &perms)
		if len(perms.Items) != 27 || perms.Items[0] != (steward.Permission{Key: steward.PermSuperAdminsManage, Description: "Add and remove super admins", System: true}) {
			t.Errorf("permissions = %d items, first %+v", len(perms.Items), perms.Items[0])
		}

		var check steward.CheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken, steward.CheckRequest{UserID: u.ID, AccountID: acc.ID, Permission: "reports.view"}, &check)
		if !check.Allowed || check.Reason.Code != steward.ReasonGranted || check.Revision == 0 {
			t.Errorf("check = %+v, want allowed (super admin) with a revision", check)
		}
	})
}

// TestRolesAndMembers walks a custom role's life and pages through members.
func TestRolesAndMembers(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		base := "/v1/accounts/" + acc

		var r steward.Role
		e.MustOK(t, http.StatusCreated, "POST", base+"/roles", token, map[string]any{"name": "Support", "permissions": []string{"tickets.view", "tickets.edit"}}, &r)
		e.MustOK(t, http.StatusOK, "GET", base+"/roles/"+r.ID, token, nil, &r)
		if diff := cmp.Diff([]string{"tickets.edit", "tickets.view"}, r.Permissions); diff != "" {
			t.Errorf("role permissions (-want +got):\n%s", diff)
		}
		var builtin steward.Role
		e.MustOK(t, http.StatusOK, "GET", base+"/roles/member", token, nil, &builtin)
		if !builtin.Builtin || len(builtin.Permissions) != 0 {
			t.Errorf("member role = %+v, want built-in with no permission", builtin)
		}
		var roles stewardhttp.List[steward.Role]
		e.MustOK(t, http.StatusOK, "GET", base+"/roles", token, nil, &roles)
		if len(roles.Items) != 4 {
			t.Errorf("roles = %d, want 3 built-in and 1 custom", len(roles.Items))
		}

		var m steward.Membership
		e.MustOK(t, http.StatusCreated, "POST", base+"/members", token, steward.NewMember{Email: "sam@example.com", Name: "Sam", Role: r.ID}, &m)
		if m.AccountID != acc || m.Kind != steward.KindInternal || m.Role != r.ID {
			t.Errorf("member = %+v", m)
		}
		MustProblem(t, e.Do(t, "DELETE", base+"/roles/"+r.ID, token, nil), http.StatusConflict, "role_in_use", "")
		e.MustOK(t, http.StatusOK, "PUT", base+"/members/"+m.UserID+"/role", token, stewardhttp.RoleChange{Role: steward.RoleMember}, nil)
		res := e.MustOK(t, http.StatusNoContent, "DELETE", base+"/roles/"+r.ID, token, nil, nil)
		if res.Header.Get("Steward-Revision") == "" || len(res.Body) != 0 {
			t.Errorf("DELETE answered revision %q and body %q, want a revision and no body", res.Header.Get("Steward-Revision"), res.Body)
		}
		MustProblem(t, e.Do(t, "GET", base+"/roles/"+r.ID, token, nil), http.StatusNotFound, "role_not_found", "")

		// Pages of 2 over 5 members: every member once, then an empty cursor.
		for range 3 {
			e.User(t, acc, steward.RoleMember)
		}
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			var l stewardhttp.List[steward.Membership]
			e.MustOK(t, http.StatusOK, "GET", base+"/members?limit=2&cursor="+url.QueryEscape(cursor), token, nil, &l)
			if len(l.Items) > 2 {
				t.Fatalf("page of %d items, want at most 2", len(l.Items))
			}
			for _, m := range l.Items {
				seen = append(seen, m.UserID)
			}
			if l.NextCursor == "" {
				break
			}
			cursor = l.NextCursor
		}
		if len(seen) != 5 {
			t.Errorf("paged through %d members, want 5: %v", len(seen), seen)
		}
		var all stewardhttp.List[steward.Membership]
		e.MustOK(t, http.StatusOK, "GET", base+"/members?limit="+strconv.Itoa(500), token, nil, &all)
		if len(all.Items) != 5 || all.NextCursor != "" {
			t.Errorf("one page of 500 = %d items, cursor %q", len(all.Items), all.NextCursor)
		}
	})
}
