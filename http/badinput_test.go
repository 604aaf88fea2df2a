package http_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestBadInput walks bad requests: each is a problem document of the
// status SPEC §4 names, with its code and bad field, and writes nothing.
func TestBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		other, otherOwner := e.Account(t, steward.AccountStandard)
		ownerToken := e.Token(t, owner)
		plain := e.User(t, acc, steward.RoleMember)
		plainToken := e.Token(t, plain)
		e.Role(t, acc, "Support", "tickets.view")
		var ownerUser steward.User
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+owner, operatorToken, nil, &ownerUser)

		roles := "/v1/accounts/" + acc + "/roles"
		members := "/v1/accounts/" + acc + "/members"
		huge := `{"name":"` + strings.Repeat("x", 1<<20) + `","permissions":[]}`

		for _, tc := range []struct {
			name          string
			method, path  string
			token         string
			body          any
			status        int
			code, field   string
			extraHeaders  []string
			wantHeaderKey string
		}{
			{name: "ErrUnknownPermission", method: "POST", path: roles, token: ownerToken,
				body: map[string]any{"name": "Bad", "permissions": []string{"tickets.view", "no.such.permission"}}, status: 422, code: "unknown_permission", field: "permissions[1]"},
			{name: "ErrUnknownPermissionInCheck", method: "POST", path: "/v1/check", token: operatorToken,
				body: steward.CheckRequest{UserID: owner, AccountID: acc, Permission: "no.such"}, status: 422, code: "unknown_permission", field: "permission"},
			{name: "ErrMalformedEmail", method: "POST", path: members, token: ownerToken,
				body: steward.NewMember{Email: "not-an-email", Name: "N", Role: steward.RoleMember}, status: 422, code: "invalid_user", field: "email"},
			{name: "ErrMalformedOwnerEmail", method: "POST", path: "/v1/accounts", token: operatorToken,
				body: steward.NewAccount{Name: "A", Kind: steward.AccountStandard, Owner: &steward.NewOwner{Email: "ada@", Name: "Ada"}}, status: 422, code: "invalid_user", field: "owner.email"},
			{name: "ErrDuplicateEmailOtherCase", method: "POST", path: members, token: ownerToken,
				body: steward.NewMember{Email: strings.ToUpper(ownerUser.Email), Name: "Twin", Role: steward.RoleMember}, status: 409, code: "email_taken", field: "email"},
			{name: "ErrMissingField", method: "POST", path: members, token: ownerToken,
				body: map[string]any{"email": "x@example.com", "name": "X"}, status: 422, code: "missing_field", field: "role"},
			{name: "ErrMissingNestedField", method: "POST", path: "/v1/accounts", token: operatorToken,
				body: map[string]any{"name": "A", "kind": "standard", "owner": map[string]any{"name": "Ada"}}, status: 422, code: "missing_field", field: "owner.email"},
			{name: "ErrBadKind", method: "POST", path: "/v1/accounts", token: operatorToken,
				body: map[string]any{"name": "A", "kind": "galactic"}, status: 422, code: "invalid_account", field: "kind"},
			{name: "ErrUnknownField", method: "POST", path: roles, token: ownerToken,
				body: `{"name":"Extra","permissions":[],"colour":"red"}`, status: 400, code: "unknown_field", field: "colour"},
			{name: "ErrUnknownNestedField", method: "POST", path: "/v1/accounts", token: operatorToken,
				body: `{"name":"A","kind":"standard","billing":{"has_billing_info":true,"plan":"p","iban":"x"}}`, status: 400, code: "unknown_field", field: "billing.iban"},
			{name: "ErrWrongType", method: "POST", path: roles, token: ownerToken,
				body: `{"name":5,"permissions":[]}`, status: 400, code: "wrong_type", field: "name"},
			{name: "ErrWrongTypeNested", method: "POST", path: "/v1/accounts", token: operatorToken,
				body: `{"name":"A","kind":"standard","billing":{"has_billing_info":"yes","plan":"p"}}`, status: 400, code: "wrong_type", field: "billing.has_billing_info"},
			{name: "ErrWrongTypeArray", method: "POST", path: roles, token: ownerToken,
				body: `{"name":"A","permissions":"tickets.view"}`, status: 400, code: "wrong_type", field: "permissions"},
			{name: "ErrWrongTypeAndMissing", method: "PUT", path: members + "/" + plain + "/role", token: ownerToken,
				body: `{"rol":1}`, status: 400, code: "unknown_field", field: "rol"},
			{name: "ErrMalformedJSON", method: "POST", path: roles, token: ownerToken,
				body: `{"name": "Broken",`, status: 400, code: "malformed_json", field: "body"},
			{name: "ErrNotJSON", method: "PATCH", path: "/v1/accounts/" + acc, token: ownerToken,
				body: `name=x`, status: 400, code: "malformed_json", field: "body"},
			{name: "ErrEmptyBody", method: "POST", path: roles, token: ownerToken,
				body: ``, status: 400, code: "body_required", field: "body"},
			{name: "ErrBodyTooLarge", method: "POST", path: roles, token: ownerToken,
				body: huge, status: 413, code: "body_too_large", field: "body"},
			{name: "ErrBadLimit", method: "GET", path: members + "?limit=many", token: ownerToken,
				status: 400, code: "wrong_type", field: "limit"},
			{name: "ErrBadCursor", method: "GET", path: members + "?cursor=%21%21", token: ownerToken,
				status: 400, code: "bad_cursor", field: "cursor"},
			{name: "ErrBadSince", method: "GET", path: "/v1/accounts/" + acc + "/audit?since=yesterday", token: ownerToken,
				status: 400, code: "wrong_type", field: "since"},
			{name: "ErrUnknownAccount", method: "GET", path: "/v1/accounts/acc_nope", token: ownerToken,
				status: 404, code: "account_not_found"},
			{name: "ErrUnknownAccountAsOperator", method: "PATCH", path: "/v1/accounts/acc_nope", token: operatorToken,
				body: map[string]any{"name": "X"}, status: 404, code: "account_not_found"},
			{name: "ErrUnknownMember", method: "GET", path: members + "/usr_nope", token: ownerToken,
				status: 404, code: "member_not_found"},
			{name: "ErrUnknownRole", method: "PATCH", path: roles + "/rol_nope", token: ownerToken,
				body: map[string]any{"name": "X"}, status: 404, code: "role_not_found"},
			{name: "ErrUnknownUser", method: "POST", path: "/v1/users/usr_nope/deactivate", token: operatorToken,
				status: 404, code: "user_not_found"},
			{name: "ErrAssignUnknownRole", method: "PUT", path: members + "/" + plain + "/role", token: ownerToken,
				body: stewardhttp.RoleChange{Role: "rol_nope"}, status: 422, code: "unknown_role", field: "role"},
			{name: "ErrOtherTenantAccount", method: "GET", path: "/v1/accounts/" + other, token: ownerToken,
				status: 404, code: "account_not_found"},
			{name: "ErrOtherTenantMembers", method: "POST", path: "/v1/accounts/" + other + "/members", token: ownerToken,
				body: steward.NewMember{Email: "intruder@example.com", Name: "I", Role: steward.RoleSuperAdmin}, status: 404, code: "account_not_found"},
			{name: "ErrOtherTenantDemotion", method: "PUT", path: "/v1/accounts/" + other + "/members/" + otherOwner + "/role", token: ownerToken,
				body: stewardhttp.RoleChange{Role: steward.RoleMember}, status: 404, code: "account_not_found"},
			{name: "ErrOtherTenantUserInOwnAccount", method: "GET", path: members + "/" + otherOwner, token: ownerToken,
				status: 404, code: "member_not_found"},
			{name: "ErrOtherTenantUser", method: "GET", path: "/v1/users/" + otherOwner, token: ownerToken,
				status: 404, code: "user_not_found"},
			{name: "ErrOtherTenantAudit", method: "GET", path: "/v1/accounts/" + other + "/audit", token: ownerToken,
				status: 404, code: "account_not_found"},
			{name: "ErrMissingToken", method: "POST", path: roles, token: "",
				body: map[string]any{"name": "X", "permissions": []string{}}, status: 401, code: "unauthenticated", wantHeaderKey: "WWW-Authenticate"},
			{name: "ErrWrongToken", method: "POST", path: roles, token: "stw_not_a_token",
				body: map[string]any{"name": "X", "permissions": []string{}}, status: 401, code: "unauthenticated", wantHeaderKey: "WWW-Authenticate"},
			{name: "ErrActAsUnknownUser", method: "GET", path: "/v1/accounts/" + acc, token: operatorToken,
				extraHeaders: []string{"Steward-Act-As", "usr_nope"}, status: 401, code: "act_as_unknown"},
			{name: "ErrActAsWithUserToken", method: "GET", path: "/v1/accounts/" + acc, token: plainToken,
				extraHeaders: []string{"Steward-Act-As", owner}, status: 403, code: "act_as_forbidden"},
			{name: "ErrForbidden", method: "POST", path: roles, token: plainToken,
				body: map[string]any{"name": "X", "permissions": []string{}}, status: 403, code: "permission_required"},
			{name: "ErrForbiddenActingAs", method: "POST", path: roles, token: operatorToken, extraHeaders: []string{"Steward-Act-As", plain},
				body: map[string]any{"name": "X", "permissions": []string{}}, status: 403, code: "permission_required"},
			{name: "ErrOperatorOnly", method: "POST", path: "/v1/accounts", token: ownerToken,
				body: steward.NewAccount{Name: "Mine", Kind: steward.AccountStandard}, status: 403, code: "operator_only"},
			{name: "ErrCheckOtherUser", method: "POST", path: "/v1/check", token: plainToken,
				body: steward.CheckRequest{UserID: owner, AccountID: acc, Permission: "tickets.view"}, status: 403, code: "operator_only"},
			{name: "ErrAuditNeedsPermission", method: "GET", path: "/v1/accounts/" + acc + "/audit", token: plainToken,
				status: 403, code: "permission_required"},
			{name: "ErrLastSuperAdmin", method: "PUT", path: members + "/" + owner + "/role", token: operatorToken,
				body: stewardhttp.RoleChange{Role: steward.RoleMember}, status: 409, code: "last_super_admin"},
			{name: "ErrDuplicateRoleName", method: "POST", path: roles, token: ownerToken,
				body: map[string]any{"name": "Support", "permissions": []string{}}, status: 409, code: "role_name_taken", field: "name"},
			{name: "ErrAlreadyActive", method: "POST", path: members + "/" + plain + "/reactivate", token: ownerToken,
				status: 409, code: "already_active"},
			{name: "ErrRemoveLastSuperAdminUser", method: "DELETE", path: members + "/" + owner, token: operatorToken,
				status: 409, code: "last_super_admin"},
			{name: "ErrRemoveReassigningElsewhere", method: "DELETE", path: members + "/" + plain, token: ownerToken,
				body: map[string]any{"reassign_to": map[string]string{other: otherOwner}}, status: 422, code: "invalid_reassignment", field: "reassign_to." + other},
			{name: "ErrIdempotencyKeyTooLong", method: "POST", path: roles, token: ownerToken, extraHeaders: []string{"Idempotency-Key", strings.Repeat("k", 256)},
				body: map[string]any{"name": "X", "permissions": []string{}}, status: 400, code: "bad_idempotency_key"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				events, otherEvents, rev := e.AuditCount(t, acc), e.AuditCount(t, other), e.Revision(t)
				res := e.Do(t, tc.method, tc.path, tc.token, tc.body, tc.extraHeaders...)
				MustProblem(t, res, tc.status, tc.code, tc.field)
				if tc.wantHeaderKey != "" && res.Header.Get(tc.wantHeaderKey) == "" {
					t.Errorf("no %s header", tc.wantHeaderKey)
				}
				if res.Header.Get("Steward-Revision") != "" {
					t.Errorf("a refusal answered Steward-Revision %s", res.Header.Get("Steward-Revision"))
				}
				if got := e.AuditCount(t, acc); got != events {
					t.Errorf("events of the account = %d, want %d (unchanged)", got, events)
				}
				if got := e.AuditCount(t, other); got != otherEvents {
					t.Errorf("events of the other account = %d, want %d (unchanged)", got, otherEvents)
				}
				if got := e.Revision(t); got != rev {
					t.Errorf("revision = %d, want %d (nothing written)", got, rev)
				}
			})
		}
	})
}
