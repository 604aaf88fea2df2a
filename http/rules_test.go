package http_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// superAdmins creates an account whose n super admins are its owner and
// n-1 users, each with a token.
func superAdmins(t *testing.T, e *Env, n int) (accountID string, ids, tokens []string) {
	t.Helper()
	acc, owner := e.Account(t, steward.AccountStandard)
	ids = []string{owner}
	for len(ids) < n {
		ids = append(ids, e.User(t, acc, steward.RoleSuperAdmin))
	}
	for _, id := range ids {
		tokens = append(tokens, e.Token(t, id))
	}
	return acc, ids, tokens
}

// activeSuperAdmins counts the account's active super admins over the API.
func activeSuperAdmins(t *testing.T, e *Env, accountID string) int {
	t.Helper()
	var l stewardhttp.List[steward.Membership]
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+accountID+"/members?limit=500&role=super_admin", operatorToken, nil, &l)
	n := 0
	for _, m := range l.Items {
		if m.Status == steward.StatusActive {
			n++
		}
	}
	return n
}

// TestRSUPER1_ConcurrentDemotions races 32 demotions of the 32 super admins
// of one account: at least one stays, whatever the interleaving.
func TestRSUPER1_ConcurrentDemotions(t *testing.T) {
	const n = 32
	eachStore(t, func(t *testing.T, e *Env) {
		// Each super admin demotes another: a demotion is refused only
		// because its actor was demoted first (403), never half-done.
		t.Run("ByAnother", func(t *testing.T) {
			acc, ids, tokens := superAdmins(t, e, n)
			events := e.AuditCount(t, acc)
			res := make([]Response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					target := ids[(i+1)%n]
					var err error
					res[i], err = e.Send("PUT", "/v1/accounts/"+acc+"/members/"+target+"/role", tokens[i], stewardhttp.RoleChange{Role: steward.RoleMember})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			left := activeSuperAdmins(t, e, acc)
			if left < 1 {
				t.Fatalf("active super admins after the race = %d, want at least 1 (R-SUPER-1)", left)
			}
			ok := 0
			for i, r := range res {
				switch r.Status {
				case http.StatusOK:
					ok++
					if r.Header.Get("Steward-Revision") == "" {
						t.Errorf("demotion %d: 200 without Steward-Revision", i)
					}
				case http.StatusConflict:
					MustProblem(t, r, http.StatusConflict, "last_super_admin", "")
				default:
					// The actor lost super_admins.manage to an earlier demotion.
					MustProblem(t, r, http.StatusForbidden, "permission_required", "")
					if m := e.Member(t, acc, ids[i]); m.Role == steward.RoleSuperAdmin {
						t.Errorf("demotion %d refused with 403 though its actor is still a super admin", i)
					}
				}
			}
			if left != n-ok {
				t.Errorf("active super admins = %d after %d of %d demotions succeeded, want %d", left, ok, n, n-ok)
			}
			if got := e.AuditCount(t, acc) - events; got != ok {
				t.Errorf("new audit events = %d, want one per accepted demotion (%d)", got, ok)
			}
		})
		// Each super admin demotes itself, which SPEC §4 allows while
		// R-SUPER-1 holds: exactly one stays, and every refusal is the 409.
		t.Run("Self", func(t *testing.T) {
			acc, ids, tokens := superAdmins(t, e, n)
			res := make([]Response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					var err error
					res[i], err = e.Send("PUT", "/v1/accounts/"+acc+"/members/"+ids[i]+"/role", tokens[i], stewardhttp.RoleChange{Role: steward.RoleMember})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			ok, refused := 0, 0
			for _, r := range res {
				if r.Status == http.StatusOK {
					ok++
					continue
				}
				refused++
				MustProblem(t, r, http.StatusConflict, "last_super_admin", "")
			}
			if ok != n-1 || refused != 1 {
				t.Errorf("accepted=%d refused=%d, want %d and 1", ok, refused, n-1)
			}
			if left := activeSuperAdmins(t, e, acc); left != 1 {
				t.Fatalf("active super admins after the race = %d, want exactly 1", left)
			}
		})
	})
}

// TestRSUPER2_UsersManagerCannotTouchSuperAdmins: account.users.manage
// without account.super_admins.manage neither makes nor unmakes a super admin.
func TestRSUPER2_UsersManagerCannotTouchSuperAdmins(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		second := e.User(t, acc, steward.RoleSuperAdmin)
		managers := e.Role(t, acc, "User managers", steward.PermUsersManage, "crm.contacts.view")
		manager := e.User(t, acc, managers)
		token := e.Token(t, manager)
		plain := e.User(t, acc, steward.RoleMember)
		events, rev := e.AuditCount(t, acc), e.Revision(t)

		for _, tc := range []struct {
			name, method, path string
			body               any
		}{
			{"ErrMake", "PUT", "/v1/accounts/" + acc + "/members/" + plain + "/role", stewardhttp.RoleChange{Role: steward.RoleSuperAdmin}},
			{"ErrUnmake", "PUT", "/v1/accounts/" + acc + "/members/" + owner + "/role", stewardhttp.RoleChange{Role: steward.RoleMember}},
			{"ErrUnmakeToCustomRole", "PUT", "/v1/accounts/" + acc + "/members/" + second + "/role", stewardhttp.RoleChange{Role: managers}},
			{"ErrDeactivate", "POST", "/v1/accounts/" + acc + "/members/" + second + "/deactivate", nil},
			{"ErrRemove", "DELETE", "/v1/accounts/" + acc + "/members/" + second, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				MustProblem(t, e.Do(t, tc.method, tc.path, token, tc.body), http.StatusForbidden, "permission_required", "")
			})
		}
		if got := e.Member(t, acc, plain).Role; got != steward.RoleMember {
			t.Errorf("plain member's role = %q, want member", got)
		}
		for _, id := range []string{owner, second} {
			if m := e.Member(t, acc, id); m.Role != steward.RoleSuperAdmin || m.Status != steward.StatusActive {
				t.Errorf("super admin %s = %s/%s, want an active super_admin", id, m.Role, m.Status)
			}
		}
		if e.AuditCount(t, acc) != events || e.Revision(t) != rev {
			t.Error("a refused change wrote something")
		}
		// The same manager may still manage plain members.
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+plain+"/role", token, stewardhttp.RoleChange{Role: managers}, nil)
	})
}

// TestRGRANT_NoEscalation walks SPEC's "reports" example over HTTP: an
// actor without reports.view applies a set containing it.
func TestRGRANT_NoEscalation(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, _ := e.Account(t, steward.AccountStandard)
		// The actor manages users and roles and sees contacts, but lacks reports.view.
		actorRole := e.Role(t, acc, "Admins without reports", steward.PermUsersManage, steward.PermRolesManage, "crm.contacts.view", "crm.deals.view")
		actor := e.User(t, acc, actorRole)
		token := e.Token(t, actor)
		set := e.Role(t, acc, "Sales", "crm.contacts.view", "reports.view")
		analysts := e.Role(t, acc, "Analysts", "reports.view", "crm.contacts.edit")
		fresh := e.User(t, acc, steward.RoleMember)
		analyst := e.User(t, acc, analysts)

		t.Run("RGRANT2_NotGranted", func(t *testing.T) {
			var m steward.Membership
			e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+fresh+"/role", token, stewardhttp.RoleChange{Role: set}, &m)
			if diff := cmp.Diff([]string{"crm.contacts.view"}, m.Permissions); diff != "" {
				t.Errorf("permissions (-want +got):\n%s", diff)
			}
			if m.Role != set || m.GrantedBy != actor {
				t.Errorf("Role=%q GrantedBy=%q, want %q and the actor (R-GRANT-4)", m.Role, m.GrantedBy, set)
			}
		})
		t.Run("RGRANT2_Kept", func(t *testing.T) {
			var m steward.Membership
			e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+analyst+"/role", token, stewardhttp.RoleChange{Role: set}, &m)
			// (O − H) ∪ (S ∩ H): reports.view and crm.contacts.edit stay, crm.contacts.view comes.
			if diff := cmp.Diff([]string{"crm.contacts.edit", "crm.contacts.view", "reports.view"}, m.Permissions); diff != "" {
				t.Errorf("permissions (-want +got):\n%s", diff)
			}
		})
		t.Run("RGRANT1_AddMember", func(t *testing.T) {
			var m steward.Membership
			e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+acc+"/members", token, steward.NewMember{Email: "new.sales@example.com", Name: "New Sales", Role: set}, &m)
			if diff := cmp.Diff([]string{"crm.contacts.view"}, m.Permissions); diff != "" {
				t.Errorf("permissions (-want +got):\n%s", diff)
			}
		})
		t.Run("RGRANT1_ErrCreateRoleWithUnheld", func(t *testing.T) {
			events := e.AuditCount(t, acc)
			res := e.Do(t, "POST", "/v1/accounts/"+acc+"/roles", token, map[string]any{"name": "Reporters", "permissions": []string{"crm.contacts.view", "reports.view"}})
			MustProblem(t, res, http.StatusForbidden, "permission_not_held", "permissions")
			if e.AuditCount(t, acc) != events {
				t.Error("a refused role was recorded")
			}
			e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+acc+"/roles", token, map[string]any{"name": "Viewers", "permissions": []string{"crm.contacts.view"}}, nil)
		})
		t.Run("RGRANT1_ErrMakeSuperAdmin", func(t *testing.T) {
			MustProblem(t, e.Do(t, "PUT", "/v1/accounts/"+acc+"/members/"+fresh+"/role", token, stewardhttp.RoleChange{Role: steward.RoleSuperAdmin}),
				http.StatusForbidden, "permission_required", "")
		})
		t.Run("RGRANT3_ErrEditUnheld", func(t *testing.T) {
			events := e.AuditCount(t, acc)
			for _, perms := range [][]string{
				{"crm.contacts.view", "reports.view", "reports.edit"}, // adds reports.edit
				{"crm.contacts.view"}, // removes reports.view
			} {
				res := e.Do(t, "PATCH", "/v1/accounts/"+acc+"/roles/"+set, token, map[string]any{"permissions": perms})
				MustProblem(t, res, http.StatusForbidden, "permission_not_held", "permissions")
			}
			if e.AuditCount(t, acc) != events {
				t.Error("a refused role edit was recorded")
			}
		})
		t.Run("RGRANT3_Propagates", func(t *testing.T) {
			// The actor adds crm.deals.view, which it holds, to the role: every
			// member holding the role gains it, and keeps what it had.
			var r steward.Role
			res := e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+acc+"/roles/"+set, token,
				map[string]any{"permissions": []string{"crm.contacts.view", "crm.deals.view", "reports.view"}}, &r)
			if res.Header.Get("Steward-Revision") == "" {
				t.Error("PATCH without Steward-Revision")
			}
			for user, want := range map[string][]string{
				fresh:   {"crm.contacts.view", "crm.deals.view"},
				analyst: {"crm.contacts.edit", "crm.contacts.view", "crm.deals.view", "reports.view"},
			} {
				if diff := cmp.Diff(want, e.Member(t, acc, user).Permissions); diff != "" {
					t.Errorf("%s permissions (-want +got):\n%s", user, diff)
				}
			}
			var l stewardhttp.List[steward.Membership]
			e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/roles/"+set+"/members", token, nil, &l)
			if len(l.Items) != 3 { // fresh, analyst and the member added above
				t.Errorf("role members = %d, want 3", len(l.Items))
			}
		})
	})
}

// TestRAUDIT1_OneEventPerChange: a refused change leaves no event, an
// accepted one exactly one, and the log over the API shows it.
func TestRAUDIT1_OneEventPerChange(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		events, rev := e.AuditCount(t, acc), e.Revision(t)

		// Refused: the last super admin demotes itself; a role with an unknown permission.
		MustProblem(t, e.Do(t, "PUT", "/v1/accounts/"+acc+"/members/"+owner+"/role", token, stewardhttp.RoleChange{Role: steward.RoleMember}),
			http.StatusConflict, "last_super_admin", "")
		MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+acc+"/roles", token, map[string]any{"name": "X", "permissions": []string{"no.such"}}),
			http.StatusUnprocessableEntity, "unknown_permission", "permissions[0]")
		if got := e.AuditCount(t, acc); got != events {
			t.Fatalf("events after refused changes = %d, want %d", got, events)
		}
		if got := e.Revision(t); got != rev {
			t.Fatalf("revision after refused changes = %d, want %d", got, rev)
		}

		var r steward.Role
		res := e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+acc+"/roles", token, map[string]any{"name": "Support", "permissions": []string{"tickets.view"}}, &r)
		if got := e.AuditCount(t, acc); got != events+1 {
			t.Fatalf("events after one accepted change = %d, want %d", got, events+1)
		}
		var revision int64
		if err := json.Unmarshal([]byte(res.Header.Get("Steward-Revision")), &revision); err != nil || revision <= rev {
			t.Fatalf("Steward-Revision=%q, want a revision above %d", res.Header.Get("Steward-Revision"), rev)
		}

		var l stewardhttp.List[steward.Event]
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit?action=role.created", token, nil, &l)
		if len(l.Items) != 1 || l.Items[0].TargetID != r.ID || l.Items[0].Actor.UserID != owner {
			t.Fatalf("role.created events = %+v, want one for %s by %s", l.Items, r.ID, owner)
		}
		var v steward.VerifyResult
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit/verify", token, nil, &v)
		if !v.OK || v.Events != int64(events+1) {
			t.Fatalf("verify = %+v, want ok over %d events", v, events+1)
		}
	})
}
