package http_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestSPEC4_Listings_EveryListTakesLimitAndCursor reads the OpenAPI document:
// every operation that answers a list ({items, next_cursor}) takes limit and
// cursor (SPEC §4 "Listings").
func TestSPEC4_Listings_EveryListTakesLimitAndCursor(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	res := e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	lists := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			ok := op.Responses["200"].Content["application/json"].Schema.Ref
			schema := doc.Components.Schemas[strings.TrimPrefix(ok, "#/components/schemas/")]
			_, items := schema.Properties["items"]
			_, next := schema.Properties["next_cursor"]
			if !items || !next {
				continue
			}
			lists++
			var query []string
			for _, p := range op.Parameters {
				if p.In == "query" {
					query = append(query, p.Name)
				}
			}
			if !slices.Contains(query, "limit") || !slices.Contains(query, "cursor") {
				t.Errorf("%s %s answers a list but takes query %v, want limit and cursor", strings.ToUpper(method), path, query)
			}
		}
	}
	if lists < 10 {
		t.Fatalf("found %d list operations in the OpenAPI document; the test reads it wrong", lists)
	}
}

// TestSPEC4_Listings_RolesOverHTTP pages through the roles with limit and
// cursor: the built-in roles, then the custom ones, never more than limit.
func TestSPEC4_Listings_RolesOverHTTP(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	acc, _ := e.Account(t, steward.AccountStandard)
	e.Role(t, acc, "Viewer", "reports.view")
	e.Role(t, acc, "Editor", "reports.edit")
	var got []string
	for cursor, pages := "", 0; ; pages++ {
		var page stewardhttp.List[steward.Role]
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/roles?limit=2&cursor="+cursor, operatorToken, nil, &page)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d roles with limit=2", len(page.Items))
		}
		for _, r := range page.Items {
			got = append(got, r.ID)
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the roles never end")
		}
		cursor = page.NextCursor
	}
	if len(got) != 5 || !slices.Equal(got[:3], []string{steward.RoleSuperAdmin, steward.RolePartnerAdmin, steward.RoleMember}) {
		t.Fatalf("roles = %v, want the three built-in roles then the two custom ones", got)
	}
	res := e.Do(t, "GET", "/v1/accounts/"+acc+"/roles?cursor="+base64.RawURLEncoding.EncodeToString([]byte("\x01")), operatorToken, nil)
	MustProblem(t, res, http.StatusBadRequest, "bad_cursor", "cursor")
}

// TestSPEC4_Listings_UserAccountsWithoutPermission: GET
// /v1/users/{user}/accounts without permission lists every account where the
// user holds, with its effective permissions and the reason, from the index
// as from the store (SPEC §4 "Listings").
func TestSPEC4_Listings_UserAccountsWithoutPermission(t *testing.T) {
	for _, index := range []bool{false, true} {
		e := MustServe(t, MustOpenSQLite(t))
		if index {
			withIndex(t, e)
		}
		acc, _ := e.Account(t, steward.AccountStandard)
		viewer := e.Role(t, acc, "Viewer", "reports.view", "crm.deals.view")
		u := e.User(t, acc, viewer)
		other, _ := e.Account(t, steward.AccountStandard)
		var page stewardhttp.List[steward.Access]
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+u+"/accounts", operatorToken, nil, &page)
		if len(page.Items) != 1 || page.Items[0].AccountID != acc || !slices.Equal(page.Items[0].Permissions, []string{"crm.deals.view", "reports.view"}) ||
			page.Items[0].Reason.Code != steward.ReasonHolds || page.Items[0].Reason.MembershipID == "" {
			t.Fatalf("index=%v: accounts = %+v, want %s with crm.deals.view and reports.view", index, page.Items, acc)
		}
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+u+"/accounts?permission=reports.edit", operatorToken, nil, &page)
		if len(page.Items) != 0 {
			t.Fatalf("index=%v: accounts with reports.edit = %+v, want none", index, page.Items)
		}
		res := e.Do(t, "GET", "/v1/users/"+u+"/accounts?permission=no.such", operatorToken, nil)
		MustProblem(t, res, http.StatusUnprocessableEntity, "unknown_permission", "permission")
		// The access review still needs its permission.
		res = e.Do(t, "GET", "/v1/accounts/"+other+"/access", operatorToken, nil)
		if res.Status < 400 || res.Status >= 500 {
			t.Fatalf("access review without permission: %d, want a 4xx", res.Status)
		}
	}
}

// TestSPEC4_RemovingAnInternalUser_OverHTTP: the removal preview, then DELETE
// …/members/{user} in the user's home account with or without a body: the
// user is deleted, its assets go where reassign_to says, its token stops
// working, and it is unknown to checks (SPEC §4 "Removing an internal user").
func TestSPEC4_RemovingAnInternalUser_OverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		u := e.User(t, acc, steward.RoleMember)
		token := e.Token(t, u)
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc, token, nil, nil)
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/assets/report/r-1", operatorToken, steward.AssetInput{Name: "Report", OwnerUserID: u}, nil)
		members := "/v1/accounts/" + acc + "/members/"

		var p steward.MemberRemovalPreview
		e.MustOK(t, http.StatusOK, "GET", members+u+"/removal-preview", operatorToken, nil, &p)
		if !p.DeletesUser || len(p.Accounts) != 1 || len(p.Accounts[0].Assets) != 1 || !p.Accounts[0].Reassignable ||
			!slices.ContainsFunc(p.Accounts[0].Candidates, func(c steward.Candidate) bool { return c.UserID == owner }) {
			t.Fatalf("preview = %+v, want the home account with its asset and the owner as a candidate", p)
		}
		res := e.Do(t, "DELETE", members+u, operatorToken, map[string]any{"reassign_to": map[string]string{acc: owner}})
		if res.Status != http.StatusNoContent || res.Header.Get("Steward-Revision") == "" {
			t.Fatalf("DELETE = %d %s, want 204 with a revision", res.Status, res.Body)
		}
		var assets stewardhttp.List[steward.Asset]
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/assets", operatorToken, nil, &assets)
		if len(assets.Items) != 1 || assets.Items[0].OwnerUserID != owner {
			t.Errorf("assets = %+v, want the report reassigned to the owner", assets.Items)
		}
		MustProblem(t, e.Do(t, "GET", "/v1/accounts/"+acc, token, nil), http.StatusUnauthorized, "unauthenticated", "")
		MustProblem(t, e.Do(t, "GET", "/v1/users/"+u, operatorToken, nil), http.StatusNotFound, "user_not_found", "")
		MustProblem(t, e.Do(t, "GET", members+u, operatorToken, nil), http.StatusNotFound, "member_not_found", "")
		MustProblem(t, e.Do(t, "POST", "/v1/check", operatorToken, steward.CheckRequest{UserID: u, AccountID: acc, Permission: "reports.view"}),
			http.StatusNotFound, "user_not_found", "")
		var audit stewardhttp.List[steward.Event]
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/audit?action=user.deleted", operatorToken, nil, &audit)
		if len(audit.Items) != 1 || audit.Items[0].TargetID != u {
			t.Errorf("audit user.deleted = %+v, want one event about %s", audit.Items, u)
		}

		// Without a body.
		v := e.User(t, acc, steward.RoleMember)
		if res := e.Do(t, "DELETE", members+v, operatorToken, nil); res.Status != http.StatusNoContent {
			t.Fatalf("DELETE without a body = %d %s, want 204", res.Status, res.Body)
		}
		MustProblem(t, e.Do(t, "GET", "/v1/users/"+v, operatorToken, nil), http.StatusNotFound, "user_not_found", "")
	})
}

// TestSPEC4_RemovingAnInternalUser_OpenAPI: the preview and the optional
// body of DELETE …/members/{user} are in the OpenAPI document.
func TestSPEC4_RemovingAnInternalUser_OpenAPI(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	res := e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Required bool `json:"required"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/v1/accounts/{account}/members/{user}/removal-preview"]["get"]; !ok {
		t.Error("openapi.json lacks GET …/members/{user}/removal-preview")
	}
	del, ok := doc.Paths["/v1/accounts/{account}/members/{user}"]["delete"]
	if !ok || del.RequestBody == nil || del.RequestBody.Required {
		t.Errorf("DELETE …/members/{user} requestBody = %+v, want an optional body", del.RequestBody)
	}
	if !strings.Contains(string(res.Body), `"reassign_to"`) {
		t.Error("openapi.json does not document reassign_to")
	}
}
