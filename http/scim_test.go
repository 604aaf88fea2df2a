package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// TestRRESTRICT1_SCIM provisions, finds, deactivates and deletes a user
// through SCIM 2.0, and refuses a caller without account.scim.provision.
func TestRRESTRICT1_SCIM(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		base := "/scim/v2/" + acc + "/Users"

		res := e.Do(t, "POST", base, token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
			"userName":"Lin.Wu@acme.example","name":{"givenName":"Lin","familyName":"Wu"},"active":true,"externalId":"okta-1"}`)
		if res.Status != http.StatusCreated || res.Header.Get("Content-Type") != "application/scim+json" {
			t.Fatalf("create: %d %s %s", res.Status, res.Header.Get("Content-Type"), res.Body)
		}
		var created struct {
			ID       string `json:"id"`
			UserName string `json:"userName"`
			Active   bool   `json:"active"`
		}
		json.Unmarshal(res.Body, &created)
		if created.UserName != "Lin.Wu@acme.example" || !created.Active || created.ID == "" {
			t.Fatalf("created = %+v", created)
		}
		if m := e.Member(t, acc, created.ID); m.Kind != steward.KindInternal || m.Role != steward.RoleMember {
			t.Errorf("provisioned membership = %+v, want an internal member", m)
		}

		var list struct {
			TotalResults int `json:"totalResults"`
			Resources    []struct {
				ID string `json:"id"`
			} `json:"Resources"`
		}
		e.MustOK(t, http.StatusOK, "GET", base+"?filter="+url.QueryEscape(`userName eq "lin.wu@acme.example"`), token, nil, &list)
		if list.TotalResults != 1 || list.Resources[0].ID != created.ID {
			t.Errorf("filtered list = %+v, want the one user", list)
		}

		res = e.Do(t, "POST", base, token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"lin.wu@ACME.example","name":{"formatted":"Lin Again"}}`)
		var scimErr struct {
			Schemas  []string `json:"schemas"`
			Status   string   `json:"status"`
			ScimType string   `json:"scimType"`
		}
		json.Unmarshal(res.Body, &scimErr)
		if res.Status != http.StatusConflict || scimErr.ScimType != "uniqueness" || scimErr.Status != "409" {
			t.Errorf("duplicate = %d %s, want 409 uniqueness", res.Status, res.Body)
		}

		res = e.Do(t, "PATCH", base+"/"+created.ID, token, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","path":"active","value":false}]}`)
		if res.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", res.Status, res.Body)
		}
		var got steward.CheckResult
		e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken, map[string]string{"user_id": created.ID, "account_id": acc, "permission": "reports.view"}, &got)
		if got.Reason.Code != steward.ReasonUserDeactivated {
			t.Errorf("check after SCIM deactivation = %+v, want user_deactivated", got.Reason)
		}
		// DELETE removes the user from its home account, which deletes it
		// (SPEC §4); a second DELETE finds nothing and changes nothing.
		if res := e.Do(t, "DELETE", base+"/"+created.ID, token, nil); res.Status != http.StatusNoContent {
			t.Errorf("delete of a deactivated user: %d %s", res.Status, res.Body)
		}
		before := e.AuditCount(t, acc)
		if res := e.Do(t, "DELETE", base+"/"+created.ID, token, nil); res.Status != http.StatusNotFound {
			t.Errorf("second delete: %d %s, want 404", res.Status, res.Body)
		}
		if e.AuditCount(t, acc) != before {
			t.Error("deleting a deleted user recorded an event")
		}

		// Without account.scim.provision: refused, in SCIM's error format.
		admin := e.User(t, acc, e.Role(t, acc, "User admins", steward.PermUsersManage))
		res = e.Do(t, "POST", base, e.Token(t, admin), `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"eve@acme.example","name":{"formatted":"Eve"}}`)
		json.Unmarshal(res.Body, &scimErr)
		if res.Status != http.StatusForbidden || len(scimErr.Schemas) != 1 || scimErr.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
			t.Errorf("without scim.provision: %d %s, want a 403 SCIM error", res.Status, res.Body)
		}
		// Another tenant's account is not found.
		other, _ := e.Account(t, steward.AccountStandard)
		if res := e.Do(t, "GET", "/scim/v2/"+other+"/Users", token, nil); res.Status != http.StatusNotFound {
			t.Errorf("another tenant's SCIM: %d, want 404", res.Status)
		}
		for _, f := range []string{`userName zz "x"`, `nickName eq "x"`, `userName eq`} {
			res := e.Do(t, "GET", base+"?filter="+url.QueryEscape(f), token, nil)
			if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), `"invalidFilter"`) {
				t.Errorf("filter %s: %d %s, want 400 invalidFilter", f, res.Status, res.Body)
			}
		}
	})
}

// TestRSUPER2_SCIMCannotTouchSuperAdmins: a holder of account.scim.provision
// alone neither deactivates nor reactivates a super admin through SCIM's
// DELETE, PATCH of active or PUT, as the members API refuses the same user;
// it still manages plain members, and R-SUPER-1 holds for the owner.
func TestRSUPER2_SCIMCannotTouchSuperAdmins(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		second := e.User(t, acc, steward.RoleSuperAdmin)
		plain := e.User(t, acc, steward.RoleMember)
		provisioner := e.User(t, acc, e.Role(t, acc, "Provisioning", steward.PermSCIMProvision))
		token, ownerToken := e.Token(t, provisioner), e.Token(t, owner)
		base := "/scim/v2/" + acc + "/Users/"
		patch := func(active bool) string {
			return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":` + strconv.FormatBool(active) + `}]}`
		}
		put := func(id string, active bool) string {
			return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + id + `@example.com","active":` + strconv.FormatBool(active) + `}`
		}
		refused := func(t *testing.T, method, id, body string) {
			t.Helper()
			events, rev := e.AuditCount(t, acc), e.Revision(t)
			res := e.Do(t, method, base+id, token, body)
			var scimErr struct {
				Status string `json:"status"`
				Detail string `json:"detail"`
			}
			json.Unmarshal(res.Body, &scimErr)
			if res.Status != http.StatusForbidden || scimErr.Status != "403" || !strings.Contains(scimErr.Detail, "(code: permission_required)") {
				t.Errorf("%s of a super admin: %d %s, want a 403 SCIM error", method, res.Status, res.Body)
			}
			if e.AuditCount(t, acc) != events || e.Revision(t) != rev {
				t.Errorf("a refused %s wrote something", method)
			}
		}
		active := func(id string) bool {
			return e.Member(t, acc, id).Status == steward.StatusActive
		}

		t.Run("ErrDeactivate", func(t *testing.T) {
			refused(t, "DELETE", second, "")
			refused(t, "PATCH", second, patch(false))
			refused(t, "PUT", second, put(second, false))
			if !active(second) {
				t.Fatal("the super admin was deactivated")
			}
		})
		t.Run("ErrReactivate", func(t *testing.T) {
			e.MustOK(t, http.StatusOK, "PATCH", base+second, ownerToken, patch(false), nil)
			refused(t, "PATCH", second, patch(true))
			refused(t, "PUT", second, put(second, true))
			if active(second) {
				t.Fatal("the super admin was reactivated")
			}
			// Asking for the state it is in needs the permission too.
			refused(t, "DELETE", second, "")
			e.MustOK(t, http.StatusOK, "PUT", base+second, ownerToken, put(second, true), nil)
		})
		t.Run("PlainMembers", func(t *testing.T) {
			e.MustOK(t, http.StatusOK, "PATCH", base+plain, token, patch(false), nil)
			e.MustOK(t, http.StatusOK, "PUT", base+plain, token, put(plain, true), nil)
			e.MustOK(t, http.StatusOK, "PUT", base+plain, token, put(plain, false), nil)
			if active(plain) {
				t.Error("the plain member is still active")
			}
			if res := e.Do(t, "DELETE", base+plain, token, nil); res.Status != http.StatusNoContent {
				t.Fatalf("DELETE of a plain member: %d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrLastSuperAdmin", func(t *testing.T) {
			e.MustOK(t, http.StatusOK, "PATCH", base+second, ownerToken, patch(false), nil)
			res := e.Do(t, "DELETE", base+owner, ownerToken, nil)
			if res.Status != http.StatusConflict || !strings.Contains(string(res.Body), "last_super_admin") {
				t.Errorf("deactivating the last super admin: %d %s, want 409 last_super_admin", res.Status, res.Body)
			}
		})
	})
}

// scimEndpoints are one request to every SCIM endpoint of an account, the
// discovery ones included; user and group name existing resources.
func scimEndpoints(user, group string) [][3]string {
	userBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@acme.example","active":true}`
	groupBody := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"X"}`
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	groupPatch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Y"}]}`
	return [][3]string{
		{"GET", "/ServiceProviderConfig", ""}, {"GET", "/Schemas", ""}, {"GET", "/ResourceTypes", ""},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", ""}, {"GET", "/ResourceTypes/User", ""},
		{"GET", "/Users", ""}, {"POST", "/Users", userBody}, {"GET", "/Users/" + user, ""}, {"PUT", "/Users/" + user, userBody},
		{"PATCH", "/Users/" + user, patch}, {"DELETE", "/Users/" + user, ""},
		{"GET", "/Groups", ""}, {"POST", "/Groups", groupBody}, {"GET", "/Groups/" + group, ""}, {"PUT", "/Groups/" + group, groupBody},
		{"PATCH", "/Groups/" + group, groupPatch}, {"DELETE", "/Groups/" + group, ""},
	}
}

// TestRRESTRICT1_SCIMEveryEndpoint: every SCIM endpoint, discovery
// included, needs account.scim.provision in the account: a partner admin
// of the client (who never holds it, R-PARTNER-1), a member with every
// other permission the owner can give, a caller without a token and one of
// another tenant are refused, in SCIM's error format, and nothing is
// written; routes outside SCIM keep answering problem documents.
func TestRRESTRICT1_SCIMEveryEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, _ := e.Account(t, steward.AccountPartner)
		acc, owner := e.Account(t, steward.AccountStandard)
		ownerTok := e.Token(t, owner)
		_, partnerTok := partnerAdminOver(t, e, partner, acc, ownerTok)
		var others []string
		for _, p := range steward.DefaultProductPermissions() {
			others = append(others, p.Key)
		}
		others = append(others, steward.PermUsersManage, steward.PermRolesManage, steward.PermSuperAdminsManage)
		almost := e.Token(t, e.User(t, acc, e.Role(t, acc, "Everything but SCIM", others...)))
		outsider, outsiderOwner := e.Account(t, steward.AccountStandard)
		_ = outsider
		user := e.User(t, acc, steward.RoleMember)
		group := e.Role(t, acc, "Support")
		for _, caller := range []struct {
			name, token string
			status      int
		}{
			{"PartnerAdmin", partnerTok, http.StatusForbidden},
			{"WithoutSCIMProvision", almost, http.StatusForbidden},
			{"AnotherTenant", e.Token(t, outsiderOwner), http.StatusNotFound},
			{"NoToken", "", http.StatusUnauthorized},
		} {
			t.Run(caller.name, func(t *testing.T) {
				c := newIdP(t, e, acc, caller.token)
				for _, ep := range scimEndpoints(user, group) {
					events, rev := e.AuditCount(t, acc), e.Revision(t)
					var body any
					if ep[2] != "" {
						body = ep[2]
					}
					c.scimError(c.do(ep[0], ep[1], body), caller.status, "", "", ep[0]+" "+ep[1])
					if e.AuditCount(t, acc) != events || e.Revision(t) != rev {
						t.Errorf("%s %s by %s wrote something", ep[0], ep[1], caller.name)
					}
				}
			})
		}
		if m := e.Member(t, acc, user); m.Status != steward.StatusActive || m.Role != steward.RoleMember {
			t.Errorf("the user after refused calls = %+v", m)
		}
		// The client's super admin holds account.scim.provision.
		c := newIdP(t, e, acc, ownerTok)
		for _, ep := range scimEndpoints(user, group)[:6] {
			if res := c.do(ep[0], ep[1], nil); res.Status != http.StatusOK {
				t.Errorf("%s %s by the owner: %d %s", ep[0], ep[1], res.Status, res.Body)
			}
		}
		// Outside SCIM, errors stay problem documents.
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc+"/members", "", nil), http.StatusUnauthorized, "unauthenticated", "")
		MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+acc+"/region-migrations", partnerTok, map[string]string{"region": "eu"}), http.StatusForbidden, "permission_required", "")
	})
}

// TestRSUPER2_SCIMGroups: through SCIM's Groups, a provisioner without
// account.super_admins.manage can neither put a user into super_admin nor
// take a super admin out of it (directly, by PUT, or by moving it into
// another group), and nothing is written; the owner can, but never takes
// the last active super admin out (R-SUPER-1). Joining a group applies its
// role under R-GRANT-2: the provisioner adds only what it holds.
func TestRSUPER2_SCIMGroups(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		second := e.User(t, acc, steward.RoleSuperAdmin)
		plain := e.User(t, acc, steward.RoleMember)
		prov := e.User(t, acc, e.Role(t, acc, "Provisioning", steward.PermSCIMProvision, "crm.contacts.view"))
		c, oc := newIdP(t, e, acc, e.Token(t, prov)), newIdP(t, e, acc, e.Token(t, owner))
		staff := c.resource(c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Staff"}`),
			http.StatusCreated, urnGroup, "Group", "/Groups", "create group").str("id")
		member := func(id string) string { return `{"value":"` + id + `"}` }
		refused := []struct{ name, method, path, body string }{
			{"AddToSuperAdmin", "PATCH", "/Groups/super_admin", patchOps(`{"op":"add","path":"members","value":[` + member(plain) + `]}`)},
			{"RemoveFromSuperAdmin", "PATCH", "/Groups/super_admin", patchOps(`{"op":"remove","path":"members[value eq \"` + second + `\"]"}`)},
			{"ReplaceSuperAdmins", "PATCH", "/Groups/super_admin", patchOps(`{"op":"replace","path":"members","value":[` + member(owner) + `]}`)},
			{"PutSuperAdmins", "PUT", "/Groups/super_admin", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Super admin","members":[` + member(owner) + `,` + member(second) + `,` + member(plain) + `]}`},
			{"MoveIntoAnotherGroup", "PATCH", "/Groups/" + staff, patchOps(`{"op":"add","path":"members","value":[` + member(second) + `]}`)},
			{"AlreadyMember", "PATCH", "/Groups/super_admin", patchOps(`{"op":"add","path":"members","value":[` + member(second) + `]}`)},
		}
		for _, tt := range refused {
			t.Run("Err"+tt.name, func(t *testing.T) {
				c := c.in(t)
				events, rev := e.AuditCount(t, acc), e.Revision(t)
				c.scimError(c.do(tt.method, tt.path, tt.body), http.StatusForbidden, "", "permission_required", tt.name)
				if e.AuditCount(t, acc) != events || e.Revision(t) != rev {
					t.Errorf("a refused %s wrote something", tt.name)
				}
			})
		}
		if memberRole(t, e, acc, second) != steward.RoleSuperAdmin || memberRole(t, e, acc, plain) != steward.RoleMember {
			t.Fatal("a refused request changed a role")
		}
		t.Run("RenameBuiltin", func(t *testing.T) {
			oc := oc.in(t)
			oc.scimError(oc.do("PATCH", "/Groups/super_admin", patchOps(`{"op":"replace","path":"displayName","value":"Gods"}`)), http.StatusBadRequest, "mutability", "builtin_role", "rename super_admin")
			oc.scimError(oc.do("DELETE", "/Groups/member", nil), http.StatusBadRequest, "mutability", "builtin_role", "delete member")
		})
		t.Run("Owner", func(t *testing.T) {
			oc := oc.in(t)
			got := oc.resource(oc.do("PATCH", "/Groups/super_admin", patchOps(`{"op":"add","path":"members","value":[`+member(plain)+`]}`,
				`{"op":"remove","path":"members[value eq \"`+second+`\"]"}`)), http.StatusOK, urnGroup, "Group", "/Groups", "owner's change")
			if memberRole(t, e, acc, plain) != steward.RoleSuperAdmin || memberRole(t, e, acc, second) != steward.RoleMember || len(got.list("members")) != 2 {
				t.Errorf("after the owner's change: %v", got)
			}
			oc.resource(oc.do("PATCH", "/Groups/super_admin", patchOps(`{"op":"remove","path":"members[value eq \"`+plain+`\"]"}`)), http.StatusOK, urnGroup, "Group", "/Groups", "demote")
			events := e.AuditCount(t, acc)
			oc.scimError(oc.do("PATCH", "/Groups/super_admin", patchOps(`{"op":"remove","path":"members[value eq \"`+owner+`\"]"}`)), http.StatusConflict, "", "last_super_admin", "last super admin")
			if e.AuditCount(t, acc) != events || memberRole(t, e, acc, owner) != steward.RoleSuperAdmin {
				t.Error("the last super admin left")
			}
		})
		t.Run("R-GRANT-2", func(t *testing.T) {
			c := c.in(t)
			analysts := e.Role(t, acc, "Analysts", "reports.view", "crm.contacts.view")
			c.resource(c.do("PATCH", "/Groups/"+analysts, patchOps(`{"op":"add","path":"members","value":[`+member(plain)+`]}`)), http.StatusOK, urnGroup, "Group", "/Groups", "join analysts")
			m := e.Member(t, acc, plain)
			if m.Role != analysts || !slices.Equal(m.Permissions, []string{"crm.contacts.view"}) {
				t.Errorf("after joining: %s %v, want only what the provisioner holds", m.Role, m.Permissions)
			}
		})
	})
}

// unavailableUsers is a store whose provisioned-user lookups fail as a
// database that is down does.
type unavailableUsers struct{ steward.Store }

func (unavailableUsers) FindProvisionedUsers(context.Context, string, steward.ProvisionedUserFilter) ([]*steward.ProvisionedUser, error) {
	return nil, steward.Errorf(steward.EUNAVAILABLE, "unavailable", "The database is unavailable; retry.")
}

// TestSCIM_UnavailableIs503: a failure the client should retry answers 503
// with Retry-After inside SCIM too, as a SCIM error, not a 500.
func TestSCIM_UnavailableIs503(t *testing.T) {
	base := MustOpenSQLite(t)
	e := MustServe(t, unavailableUsers{base})
	e.Store = base
	acc, owner := e.Account(t, steward.AccountStandard)
	c := newIdP(t, e, acc, e.Token(t, owner))
	for _, p := range []string{"/Users", "/Users/" + owner, "/Groups"} {
		res := c.do("GET", p, nil)
		c.scimError(res, http.StatusServiceUnavailable, "", "unavailable", "GET "+p)
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: no Retry-After", p)
		}
	}
}
