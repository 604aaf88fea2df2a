package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// The SCIM tests replay, against a running server over the real handler and
// store, the request sequences Okta ("SCIM 2.0 protocol reference",
// developer.okta.com) and Microsoft Entra ID ("Tutorial: Develop and plan
// provisioning for a SCIM endpoint", learn.microsoft.com) document, with
// their bodies as the vendors show them, and check every answer against
// RFC 7643/7644 and what the vendor states it expects.

const (
	urnUser  = "urn:ietf:params:scim:schemas:core:2.0:User"
	urnGroup = "urn:ietf:params:scim:schemas:core:2.0:Group"
	urnList  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	urnError = "urn:ietf:params:scim:api:messages:2.0:Error"
	urnPatch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// idp is a SCIM client of one account, as a provisioning service is.
type idp struct {
	t     *testing.T
	e     *Env
	token string
	acc   string
}

func newIdP(t *testing.T, e *Env, acc, token string) *idp {
	return &idp{t: t, e: e, token: token, acc: acc}
}

// in returns the client for a subtest.
func (c *idp) in(t *testing.T) *idp { d := *c; d.t = t; return &d }

func (c *idp) path(p string) string { return "/scim/v2/" + c.acc + p }

// base is the account's SCIM base URL, which locations start with.
func (c *idp) base() string { return c.e.URL + c.path("") }

func (c *idp) do(method, p string, body any) Response {
	c.t.Helper()
	return c.e.Do(c.t, method, c.path(p), c.token, body, "Content-Type", "application/scim+json", "Accept", "application/scim+json")
}

// scimObj is a decoded SCIM document.
type scimObj map[string]any

func (o scimObj) str(k string) string { s, _ := o[k].(string); return s }

func (o scimObj) obj(k string) scimObj { m, _ := o[k].(map[string]any); return m }

func (o scimObj) list(k string) []scimObj {
	var out []scimObj
	l, _ := o[k].([]any)
	for _, e := range l {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// decode checks the status and the media type (RFC 7644 §3.1) and decodes.
func (c *idp) decode(res Response, status int, what string) scimObj {
	c.t.Helper()
	if res.Status != status {
		c.t.Fatalf("%s: status %d, want %d; body %s", what, res.Status, status, res.Body)
	}
	if status == http.StatusNoContent {
		if len(res.Body) != 0 {
			c.t.Errorf("%s: 204 with a body %s", what, res.Body)
		}
		return nil
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/scim+json" {
		c.t.Errorf("%s: Content-Type %q, want application/scim+json", what, ct)
	}
	var o scimObj
	if err := json.Unmarshal(res.Body, &o); err != nil {
		c.t.Fatalf("%s: %s: %v", what, res.Body, err)
	}
	return o
}

// resource checks a User or Group as RFC 7643 §3.1 and RFC 7644 §3.1 ask:
// its schema, a non-empty id, meta.resourceType, meta.location at the
// endpoint (and the Location header of a 201 equal to it), RFC 3339 times,
// and no password (returned "never").
func (c *idp) resource(res Response, status int, urn, typ, endpoint, what string) scimObj {
	c.t.Helper()
	o := c.decode(res, status, what)
	c.checkResource(o, urn, typ, endpoint, what)
	if status == http.StatusCreated {
		if loc := res.Header.Get("Location"); loc == "" || loc != o.obj("meta").str("location") {
			c.t.Errorf("%s: Location %q, meta.location %q; want them equal", what, loc, o.obj("meta").str("location"))
		}
	}
	if status == http.StatusCreated && res.Header.Get("Steward-Revision") == "" {
		c.t.Errorf("%s: a create without Steward-Revision", what)
	}
	return o
}

func (c *idp) checkResource(o scimObj, urn, typ, endpoint, what string) {
	c.t.Helper()
	schemas, _ := o["schemas"].([]any)
	if !slices.Contains(schemas, any(urn)) {
		c.t.Errorf("%s: schemas %v, want %s", what, schemas, urn)
	}
	id := o.str("id")
	meta := o.obj("meta")
	if id == "" || meta.str("resourceType") != typ || meta.str("location") != c.base()+endpoint+"/"+id {
		c.t.Errorf("%s: id %q, meta %v; want resourceType %s and location %s", what, id, meta, typ, c.base()+endpoint+"/"+id)
	}
	for _, k := range []string{"created", "lastModified"} {
		if v := meta.str(k); v != "" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				c.t.Errorf("%s: meta.%s %q is not RFC 3339", what, k, v)
			}
		}
	}
	if _, ok := o["password"]; ok {
		c.t.Errorf("%s: the password is returned", what)
	}
}

// listed checks a ListResponse (RFC 7644 §3.4.2): its schema, totalResults,
// startIndex as asked, no more resources than itemsPerPage, each a valid
// resource.
func (c *idp) listed(query, urn, typ, endpoint string, wantTotal, wantStart int) []scimObj {
	c.t.Helper()
	p := endpoint + query
	o := c.decode(c.do("GET", p, nil), http.StatusOK, "GET "+p)
	schemas, _ := o["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != urnList {
		c.t.Errorf("GET %s: schemas %v, want [%s]", p, schemas, urnList)
	}
	total, _ := o["totalResults"].(float64)
	start, _ := o["startIndex"].(float64)
	per, _ := o["itemsPerPage"].(float64)
	rs := o.list("Resources")
	if int(total) != wantTotal || int(start) != wantStart || len(rs) > int(per) {
		c.t.Errorf("GET %s: totalResults %v startIndex %v itemsPerPage %v with %d resources; want total %d from %d", p, total, start, per, len(rs), wantTotal, wantStart)
	}
	for _, r := range rs {
		c.checkResource(r, urn, typ, endpoint, "GET "+p)
	}
	return rs
}

// scimError checks a SCIM error body (RFC 7644 §3.12): its schema, status
// as a string, the scimType when one is expected, and the Steward code in
// the detail when one is given.
func (c *idp) scimError(res Response, status int, scimType, code, what string) {
	c.t.Helper()
	o := c.decode(res, status, what)
	schemas, _ := o["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != urnError || o.str("status") != strconv.Itoa(status) {
		c.t.Errorf("%s: %s, want a SCIM error of status %d", what, res.Body, status)
	}
	if o.str("scimType") != scimType {
		c.t.Errorf("%s: scimType %q, want %q", what, o.str("scimType"), scimType)
	}
	if code != "" && !strings.Contains(o.str("detail"), "(code: "+code+")") {
		c.t.Errorf("%s: detail %q, want the code %s", what, o.str("detail"), code)
	}
}

func filterQ(f string, extra ...string) string {
	q := "?filter=" + url.QueryEscape(f)
	for _, e := range extra {
		q += "&" + e
	}
	return q
}

func patchOps(ops ...string) string {
	return `{"schemas":["` + urnPatch + `"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// memberRole is the user's role in the account, as the members API shows it.
func memberRole(t *testing.T, e *Env, acc, user string) string {
	t.Helper()
	return e.Member(t, acc, user).Role
}

func deactivated(t *testing.T, e *Env, acc, user string) bool {
	t.Helper()
	var got steward.CheckResult
	e.MustOK(t, http.StatusOK, "POST", "/v1/check", operatorToken, map[string]string{"user_id": user, "account_id": acc, "permission": "reports.view"}, &got)
	return got.Reason.Code == steward.ReasonUserDeactivated
}

// TestSCIM_OktaSequence replays Okta's documented provisioning: it looks a
// user up by userName (startIndex=1&count=100), creates it, reads it,
// replaces it with PUT, deactivates and reactivates it with PATCH without
// path, pages through more than 100 users, and pushes a group: create,
// rename, membership changes, delete. Okta expects 201 with the created
// user, 200 with the resource on PUT and PATCH, and an empty ListResponse
// (totalResults 0) when nobody matches.
func TestSCIM_OktaSequence(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		c := newIdP(t, e, acc, e.Token(t, owner))

		// Okta asks whether the user exists first.
		c.listed(filterQ(`userName eq "test.user@okta.local"`, "startIndex=1", "count=100"), urnUser, "User", "/Users", 0, 1)

		created := c.resource(c.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
			"userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},
			"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],"displayName":"Test User",
			"locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`),
			http.StatusCreated, urnUser, "User", "/Users", "create user")
		id := created.str("id")
		if created.str("userName") != "test.user@okta.local" || created.str("externalId") != "00ujl29u0le5T6Aj10h7" ||
			created.obj("name").str("givenName") != "Test" || created["active"] != true || created.str("displayName") != "Test User" {
			t.Errorf("created = %v", created)
		}
		if emails := created.list("emails"); len(emails) != 1 || emails[0].str("value") != "test.user@okta.local" || emails[0]["primary"] != true {
			t.Errorf("created emails = %v", emails)
		}
		if groups := created.list("groups"); len(groups) != 1 || groups[0].str("value") != steward.RoleMember {
			t.Errorf("created groups = %v, want the member role", groups)
		}

		found := c.listed(filterQ(`userName eq "test.user@okta.local"`, "startIndex=1", "count=100"), urnUser, "User", "/Users", 1, 1)
		if len(found) != 1 || found[0].str("id") != id {
			t.Fatalf("by userName = %v", found)
		}
		found = c.listed(filterQ(`externalId eq "00ujl29u0le5T6Aj10h7"`), urnUser, "User", "/Users", 1, 1)
		if len(found) != 1 || found[0].str("id") != id {
			t.Errorf("by externalId = %v", found)
		}
		c.resource(c.do("GET", "/Users/"+id, nil), http.StatusOK, urnUser, "User", "/Users", "get user")

		put := c.resource(c.do("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`",
			"userName":"test.user@okta.local","name":{"givenName":"Another","middleName":"Excited","familyName":"User"},
			"emails":[{"primary":true,"value":"test.user@okta.local","type":"work","display":"test.user@okta.local"}],
			"active":true,"groups":[],"meta":{"resourceType":"User"}}`), http.StatusOK, urnUser, "User", "/Users", "replace user")
		if put.obj("name").str("givenName") != "Another" || put.str("id") != id {
			t.Errorf("replaced = %v", put)
		}

		off := c.resource(c.do("PATCH", "/Users/"+id, patchOps(`{"op":"replace","value":{"active":false}}`)), http.StatusOK, urnUser, "User", "/Users", "deactivate")
		if off["active"] != false || !deactivated(t, e, acc, id) {
			t.Errorf("after deactivation: active %v", off["active"])
		}
		on := c.resource(c.do("PATCH", "/Users/"+id, patchOps(`{"op":"replace","value":{"active":true}}`)), http.StatusOK, urnUser, "User", "/Users", "reactivate")
		if on["active"] != true || deactivated(t, e, acc, id) {
			t.Errorf("after reactivation: active %v", on["active"])
		}

		// Paging past 100 users with a true totalResults (RFC 7644 §3.4.2.4).
		const extra = 120
		for i := range extra {
			c.resource(c.do("POST", "/Users", fmt.Sprintf(`{"schemas":["%s"],"userName":"bulk%03d@okta.local",
				"name":{"givenName":"Bulk","familyName":"%03d"},"emails":[{"primary":true,"value":"bulk%03d@okta.local","type":"work"}],
				"externalId":"00ubulk%03d","active":true}`, urnUser, i, i, i, i)), http.StatusCreated, urnUser, "User", "/Users", "bulk create")
		}
		total := extra + 2 // the owner and test.user
		seen := map[string]bool{}
		first := c.listed("?startIndex=1&count=100", urnUser, "User", "/Users", total, 1)
		second := c.listed("?startIndex=101&count=100", urnUser, "User", "/Users", total, 101)
		if len(first) != 100 || len(second) != total-100 {
			t.Errorf("pages of %d and %d, want 100 and %d", len(first), len(second), total-100)
		}
		for _, r := range append(first, second...) {
			seen[r.str("id")] = true
		}
		if len(seen) != total {
			t.Errorf("%d distinct users over both pages, want %d", len(seen), total)
		}
		if all := c.listed("", urnUser, "User", "/Users", total, 1); len(all) != 100 {
			t.Errorf("a list without count holds %d, want the server's 100", len(all))
		}
		c.listed(filterQ(`userName sw "bulk"`, "startIndex=111", "count=5"), urnUser, "User", "/Users", extra, 111)

		// Group push.
		c.listed(filterQ(`displayName eq "Test SCIMv2"`, "startIndex=1", "count=100"), urnGroup, "Group", "/Groups", 0, 1)
		g := c.resource(c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`),
			http.StatusCreated, urnGroup, "Group", "/Groups", "create group")
		gid := g.str("id")
		if g.str("displayName") != "Test SCIMv2" || len(g.list("members")) != 0 {
			t.Errorf("created group = %v", g)
		}
		var role steward.Role
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+acc+"/roles/"+gid, operatorToken, nil, &role)
		if role.Name != "Test SCIMv2" || len(role.Permissions) != 0 || role.Builtin {
			t.Errorf("the group's role = %+v", role)
		}
		c.resource(c.do("GET", "/Groups/"+gid, nil), http.StatusOK, urnGroup, "Group", "/Groups", "get group")
		renamed := c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Test SCIMv20"}}`)),
			http.StatusOK, urnGroup, "Group", "/Groups", "rename group")
		if renamed.str("displayName") != "Test SCIMv20" {
			t.Errorf("renamed = %v", renamed)
		}
		other := second[0].str("id")
		c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"}]}`,
			`{"op":"add","path":"members","value":[{"value":"`+other+`","display":"bulk"}]}`)), http.StatusOK, urnGroup, "Group", "/Groups", "add members")
		if memberRole(t, e, acc, id) != gid || memberRole(t, e, acc, other) != gid {
			t.Errorf("members' roles = %s, %s; want %s", memberRole(t, e, acc, id), memberRole(t, e, acc, other), gid)
		}
		c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"remove","path":"members[value eq \"`+other+`\"]"}`)), http.StatusOK, urnGroup, "Group", "/Groups", "remove member")
		if memberRole(t, e, acc, other) != steward.RoleMember || memberRole(t, e, acc, id) != gid {
			t.Errorf("after removal: %s, %s", memberRole(t, e, acc, other), memberRole(t, e, acc, id))
		}
		// Okta's documented membership document, all three operations at once.
		got := c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"remove","path":"members[value eq \"`+other+`\"]"}`,
			`{"op":"add","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"}]}`,
			`{"op":"replace","path":"members","value":[{"value":"`+id+`","display":"test.user@okta.local"},{"value":"`+other+`","display":"bulk"}]}`)),
			http.StatusOK, urnGroup, "Group", "/Groups", "membership document")
		var ids []string
		for _, m := range got.list("members") {
			ids = append(ids, m.str("value"))
			if m.str("$ref") != c.base()+"/Users/"+m.str("value") {
				t.Errorf("member $ref %q", m.str("$ref"))
			}
		}
		slices.Sort(ids)
		if want := []string{id, other}; !slices.Equal(ids, sortedCopy(want)) {
			t.Errorf("members = %v, want %v", ids, want)
		}
		if res := c.do("DELETE", "/Groups/"+gid, nil); res.Status != http.StatusNoContent || res.Header.Get("Steward-Revision") == "" {
			t.Fatalf("delete group: %d %s", res.Status, res.Body)
		}
		if memberRole(t, e, acc, id) != steward.RoleMember || memberRole(t, e, acc, other) != steward.RoleMember {
			t.Error("the deleted group's members kept its role")
		}
		c.scimError(c.do("GET", "/Groups/"+gid, nil), http.StatusNotFound, "", "group_not_found", "get deleted group")
		c.scimError(c.do("GET", "/Users/usr_unknown", nil), http.StatusNotFound, "", "user_not_found", "get unknown user")
	})
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// TestSCIM_EntraSequence replays Microsoft Entra ID's documented requests:
// a user whose userName is not an email address (Steward's email comes
// from its work email), lookups by userName and externalId, the documented
// PATCH with paths (emails[type eq "work"].value, name.familyName, userName,
// active), Entra's string booleans ("True", "False") with and without path,
// attribute paths as keys of a path-less value, DELETE, and the group
// requests: create with externalId, lookups with excludedAttributes=members,
// "id eq … and members eq …", rename with add and remove of members in one
// PATCH, delete. Entra expects 409 uniqueness on a duplicate and 404 on an
// unknown id, both as SCIM errors.
func TestSCIM_EntraSequence(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		c := newIdP(t, e, acc, e.Token(t, owner))
		const userName = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"

		c.listed(filterQ(`userName eq "`+userName+`"`), urnUser, "User", "/Users", 0, 1)
		c.listed(filterQ(`userName eq "non-existent user"`), urnUser, "User", "/Users", 0, 1)
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"` + userName + `","active":true,
			"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
			"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]}`
		u := c.resource(c.do("POST", "/Users", body), http.StatusCreated, urnUser, "User", "/Users", "create user")
		id := u.str("id")
		if u.str("userName") != userName || u.str("externalId") != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" || u["active"] != true ||
			u.obj("name").str("familyName") != "familyName" {
			t.Errorf("created = %v", u)
		}
		var su steward.User
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+id, operatorToken, nil, &su)
		if su.Email != "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com" || su.Name != "givenName familyName" || su.HomeAccountID != acc {
			t.Errorf("Steward's user = %+v", su)
		}
		c.scimError(c.do("POST", "/Users", body), http.StatusConflict, "uniqueness", "", "duplicate userName")
		c.resource(c.do("GET", "/Users/"+id, nil), http.StatusOK, urnUser, "User", "/Users", "get user")
		for _, f := range []string{`userName eq "` + userName + `"`, `userName eq "` + strings.ToLower(userName) + `"`, `externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`} {
			if got := c.listed(filterQ(f), urnUser, "User", "/Users", 1, 1); len(got) != 1 || got[0].str("id") != id {
				t.Errorf("%s = %v", f, got)
			}
		}
		c.scimError(c.do("GET", "/Users/5171a35d82074e068ce2", nil), http.StatusNotFound, "", "", "unknown user")

		patched := c.resource(c.do("PATCH", "/Users/"+id, patchOps(
			`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"}`,
			`{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}`,
			`{"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}`,
			`{"op":"Replace","path":"active","value":false}`)), http.StatusOK, urnUser, "User", "/Users", "documented PATCH")
		if patched.str("userName") != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" || patched.obj("name").str("familyName") != "updatedFamilyName" ||
			patched.obj("name").str("givenName") != "givenName" || patched["active"] != false {
			t.Errorf("patched = %v", patched)
		}
		if emails := patched.list("emails"); len(emails) != 1 || emails[0].str("value") != "updatedEmail@microsoft.com" || emails[0].str("type") != "work" {
			t.Errorf("patched emails = %v", emails)
		}
		if !deactivated(t, e, acc, id) {
			t.Error("the PATCH of active did not deactivate")
		}
		for _, tt := range []struct {
			op   string
			want bool
		}{
			{`{"op":"Replace","path":"active","value":"True"}`, true},
			{`{"op":"Replace","value":{"active":"False"}}`, false},
			{`{"op":"replace","value":{"active":"true"}}`, true},
		} {
			got := c.resource(c.do("PATCH", "/Users/"+id, patchOps(tt.op)), http.StatusOK, urnUser, "User", "/Users", tt.op)
			if got["active"] != tt.want || deactivated(t, e, acc, id) == tt.want {
				t.Errorf("%s: active %v", tt.op, got["active"])
			}
		}
		keys := c.resource(c.do("PATCH", "/Users/"+id, patchOps(`{"op":"Add","value":{"name.givenName":"Grace","displayName":"Grace Hopper",
			"emails[type eq \"home\"].value":"grace@home.example"}}`)), http.StatusOK, urnUser, "User", "/Users", "path-less keys")
		if keys.obj("name").str("givenName") != "Grace" || keys.str("displayName") != "Grace Hopper" || len(keys.list("emails")) != 2 {
			t.Errorf("after path-less keys = %v", keys)
		}
		e.MustOK(t, http.StatusOK, "GET", "/v1/users/"+id, operatorToken, nil, &su)
		if su.Name != "Grace Hopper" || su.Email != "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com" {
			t.Errorf("Steward's user after PATCH = %+v (the email stays the one it was created with)", su)
		}
		// A PATCH that changes nothing writes nothing.
		events, rev := e.AuditCount(t, acc), e.Revision(t)
		if res := c.do("PATCH", "/Users/"+id, patchOps(`{"op":"replace","path":"active","value":true}`)); res.Status != http.StatusOK ||
			(res.Header.Get("Steward-Revision") != "" && res.Header.Get("Steward-Revision") != strconv.FormatInt(rev, 10)) {
			t.Errorf("no-op PATCH: %d, revision %q", res.Status, res.Header.Get("Steward-Revision"))
		}
		if e.AuditCount(t, acc) != events {
			t.Error("a PATCH that changes nothing recorded an event")
		}

		// Groups.
		g := c.resource(c.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
			"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}`),
			http.StatusCreated, urnGroup, "Group", "/Groups", "create group")
		gid := g.str("id")
		if g.str("externalId") != "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159" || g.str("displayName") != "displayName" {
			t.Errorf("created group = %v", g)
		}
		found := c.listed(filterQ(`displayName eq "displayName"`, "excludedAttributes=members"), urnGroup, "Group", "/Groups", 1, 1)
		if len(found) != 1 || found[0].str("id") != gid {
			t.Fatalf("group by displayName = %v", found)
		}
		if _, ok := found[0]["members"]; ok {
			t.Error("excludedAttributes=members still lists members")
		}
		if got := c.resource(c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil), http.StatusOK, urnGroup, "Group", "/Groups", "get group"); got["members"] != nil {
			t.Errorf("get with excludedAttributes=members = %v", got)
		}
		got := c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(
			`{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}`,
			`{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+id+`"}]}`,
			`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"`+id+`"}]}`)), http.StatusOK, urnGroup, "Group", "/Groups", "documented group PATCH")
		if got.str("displayName") != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" || len(got.list("members")) != 0 || memberRole(t, e, acc, id) != steward.RoleMember {
			t.Errorf("after the documented group PATCH = %v", got)
		}
		c.resource(c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+id+`"}]}`)),
			http.StatusOK, urnGroup, "Group", "/Groups", "add member")
		if memberRole(t, e, acc, id) != gid {
			t.Error("the member did not get the group's role")
		}
		if got := c.listed(filterQ(`id eq "`+gid+`" and members eq "`+id+`"`, "excludedAttributes=members"), urnGroup, "Group", "/Groups", 1, 1); len(got) != 1 {
			t.Errorf("group by id and member = %v", got)
		}
		c.listed(filterQ(`id eq "`+gid+`" and members eq "`+owner+`"`, "excludedAttributes=members"), urnGroup, "Group", "/Groups", 0, 1)
		if res := c.do("DELETE", "/Groups/"+gid, nil); res.Status != http.StatusNoContent {
			t.Fatalf("delete group: %d %s", res.Status, res.Body)
		}
		c.scimError(c.do("GET", "/Groups/"+gid, nil), http.StatusNotFound, "", "", "deleted group")

		// Entra deletes users it no longer provisions: removed from its home
		// account, the user is deleted (SPEC §4 "Removing an internal user").
		if res := c.do("DELETE", "/Users/"+id, nil); res.Status != http.StatusNoContent {
			t.Fatalf("delete user: %d %s", res.Status, res.Body)
		}
		c.scimError(c.do("GET", "/Users/"+id, nil), http.StatusNotFound, "", "", "deleted user")
		if res := e.Do(t, "POST", "/v1/check", operatorToken, map[string]string{"user_id": id, "account_id": acc, "permission": "reports.view"}); res.Status != http.StatusNotFound {
			t.Errorf("check of a deleted user: %d %s, want 404", res.Status, res.Body)
		}
	})
}

// TestSCIM_Discovery: /ServiceProviderConfig, /Schemas and /ResourceTypes
// (RFC 7644 §4) describe what is served: PATCH and filters supported, at
// most 100 results, bearer tokens; the User and Group schemas with their
// attributes; the User and Group resource types at /Users and /Groups.
func TestSCIM_Discovery(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		c := newIdP(t, e, acc, e.Token(t, owner))
		cfg := c.decode(c.do("GET", "/ServiceProviderConfig", nil), http.StatusOK, "ServiceProviderConfig")
		if schemas, _ := cfg["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" {
			t.Errorf("config schemas = %v", cfg["schemas"])
		}
		if cfg.obj("patch")["supported"] != true || cfg.obj("filter")["supported"] != true || cfg.obj("filter")["maxResults"] != float64(100) ||
			cfg.obj("bulk")["supported"] != false || cfg.obj("sort")["supported"] != false {
			t.Errorf("config = %v", cfg)
		}
		if auth := cfg.list("authenticationSchemes"); len(auth) != 1 || auth[0].str("type") != "oauthbearertoken" {
			t.Errorf("authenticationSchemes = %v", auth)
		}

		schemas := c.decode(c.do("GET", "/Schemas", nil), http.StatusOK, "Schemas")
		byID := map[string]scimObj{}
		for _, s := range schemas.list("Resources") {
			byID[s.str("id")] = s
		}
		user := byID[urnUser]
		var attrs []string
		for _, a := range user.list("attributes") {
			attrs = append(attrs, a.str("name"))
		}
		slices.Sort(attrs)
		if want := []string{"active", "displayName", "emails", "groups", "name", "userName"}; !slices.Equal(attrs, want) {
			t.Errorf("User attributes = %v, want %v", attrs, want)
		}
		if byID[urnGroup] == nil {
			t.Errorf("Schemas = %v, want the Group schema", schemas)
		}
		one := c.decode(c.do("GET", "/Schemas/"+urnUser, nil), http.StatusOK, "Schemas/User")
		if one.str("id") != urnUser {
			t.Errorf("Schemas/User = %v", one)
		}
		c.scimError(c.do("GET", "/Schemas/urn:unknown", nil), http.StatusNotFound, "", "", "unknown schema")

		types := c.decode(c.do("GET", "/ResourceTypes", nil), http.StatusOK, "ResourceTypes")
		endpoints := map[string]string{}
		for _, rt := range types.list("Resources") {
			endpoints[rt.str("name")] = rt.str("endpoint") + " " + rt.str("schema")
		}
		if endpoints["User"] != "/Users "+urnUser || endpoints["Group"] != "/Groups "+urnGroup || types["totalResults"] != float64(2) {
			t.Errorf("ResourceTypes = %v", endpoints)
		}
		if rt := c.decode(c.do("GET", "/ResourceTypes/Group", nil), http.StatusOK, "ResourceTypes/Group"); rt.str("endpoint") != "/Groups" {
			t.Errorf("ResourceTypes/Group = %v", rt)
		}
		c.scimError(c.do("GET", "/Nothing", nil), http.StatusNotFound, "", "", "unknown endpoint")
	})
}

// TestSCIM_Filters: every operator of RFC 7644 §3.4.2.2 (eq ne co sw ew
// pr gt ge lt le, and, or, not, grouping, value paths), attribute names
// and operators in any case, externalId, emails[type eq "work"].value,
// and invalid filters refused with 400 invalidFilter.
func TestSCIM_Filters(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, owner := e.Account(t, steward.AccountStandard)
		c := newIdP(t, e, acc, e.Token(t, owner))
		mk := func(userName, ext, work, home string) string {
			emails := `{"value":"` + work + `","type":"work","primary":true}`
			if home != "" {
				emails += `,{"value":"` + home + `","type":"home"}`
			}
			return c.resource(c.do("POST", "/Users", `{"schemas":["`+urnUser+`"],"userName":"`+userName+`","externalId":"`+ext+`",
				"name":{"givenName":"G","familyName":"F"},"emails":[`+emails+`],"active":true}`), http.StatusCreated, urnUser, "User", "/Users", "create").str("id")
		}
		ada := mk("ada@analytical.example", "ext-ada", "ada@analytical.example", "ada@home.example")
		bob := mk("Bob", "ext-bob", "bob@works.example", "")
		cyd := mk("cyd@works.example", "EXT-cyd", "cyd@works.example", "")
		c.resource(c.do("PATCH", "/Users/"+cyd, patchOps(`{"op":"replace","path":"active","value":false}`)), http.StatusOK, urnUser, "User", "/Users", "deactivate cyd")
		for _, tt := range []struct {
			filter string
			want   []string
		}{
			{`userName eq "ADA@analytical.example"`, []string{ada}},
			{`USERNAME EQ "bob"`, []string{bob}},
			{`userName ne "bob" and not (userName sw "owner")`, []string{ada, cyd}},
			{`userName co "works"`, []string{cyd}},
			{`userName sw "ada"`, []string{ada}},
			{`userName ew ".example" and not (userName sw "owner")`, []string{ada, cyd}},
			{`externalId eq "ext-bob"`, []string{bob}},
			{`externalId eq "ext-cyd"`, nil}, // externalId is case-exact
			{`externalId pr and userName lt "c"`, []string{ada, bob}},
			{`userName gt "b" and externalId pr`, []string{bob, cyd}},
			{`userName ge "cyd@works.example" and externalId pr`, []string{cyd}},
			{`userName le "Ada@analytical.example"`, []string{ada}},
			{`emails[type eq "work"].value ew "works.example"`, []string{bob, cyd}},
			{`emails[type eq "home"].value pr or userName eq "bob"`, []string{ada, bob}},
			{`emails[value co "or"].type eq "work"`, []string{bob, cyd}},
			{`emails[type eq "home" and value co "home"]`, []string{ada}},
			{`emails co "works.example"`, []string{bob, cyd}},
			{`emails.value sw "ada@home"`, []string{ada}},
			{`emails.type eq "home"`, []string{ada}},
			{`active eq false`, []string{cyd}},
			{`userName eq "bob" or externalId eq "ext-ada"`, []string{ada, bob}},
			{`(userName eq "bob" or userName eq "cyd@works.example") and active eq true`, []string{bob}},
			{`name.givenName eq "g" and externalId sw "ext-"`, []string{ada, bob}},
			{`meta.created pr and externalId Eq "ext-ada"`, []string{ada}},
			{`id eq "` + bob + `"`, []string{bob}},
		} {
			got := c.listed(filterQ(tt.filter), urnUser, "User", "/Users", len(tt.want), 1)
			var ids []string
			for _, r := range got {
				ids = append(ids, r.str("id"))
			}
			if !slices.Equal(sortedCopy(ids), sortedCopy(tt.want)) {
				t.Errorf("%s = %v, want %v", tt.filter, ids, tt.want)
			}
		}
		for _, f := range []string{`userName zz "x"`, `nickName eq "x"`, `userName eq`, `active gt true`, `(userName eq "x"`,
			`emails[type eq "work" or type eq "home"].value co "x"`} {
			c.scimError(c.do("GET", "/Users"+filterQ(f), nil), http.StatusBadRequest, "invalidFilter", "", f)
		}
		// Groups filter too.
		if got := c.listed(filterQ(`displayName co "admin"`), urnGroup, "Group", "/Groups", 2, 1); len(got) != 2 {
			t.Errorf("groups whose name holds admin = %v", got)
		}
		if got := c.listed(filterQ(`members eq "`+owner+`"`), urnGroup, "Group", "/Groups", 1, 1); len(got) != 1 || got[0].str("id") != steward.RoleSuperAdmin {
			t.Errorf("the owner's group = %v", got)
		}
	})
}
