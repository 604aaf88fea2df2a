package http_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// The isolation matrix calls every operation of the served OpenAPI document
// (and the SCIM routes, which describe themselves outside it) as a user of
// each kind, with another tenant's real ids and with unknown ids of the same
// shape, and requires the same answer for both (SPEC §4 "Unknown and
// foreign look alike") and no change to the store.
//
// It fills parameters and body fields by their names. A parameter, an
// id-like field or a map field it does not know fails the test, and so does
// a SCIM resource type it does not call: teach the matrix below which ids it
// takes, so that no route slips through.

// Kinds of ids a slot of a request takes.
const (
	kindAccount         = "account"
	kindUser            = "user"
	kindRole            = "role"
	kindInvitation      = "invitation"
	kindLinkToken       = "access link token"
	kindInvitationToken = "invitation token"
	kindReview          = "review"
	kindReviewItem      = "review item"
	kindToken           = "API token id"
	kindAccessRequest   = "access request"
	kindWebhook         = "webhook"
	kindDelivery        = "webhook delivery"
	kindEligibility     = "eligibility"
	kindElevation       = "elevation"
)

// bearerKinds are the kinds whose values are secrets that act as
// capabilities: SPEC §3 has whoever holds an access link or an invitation
// link open it (the service shows a pending link to any signed-in holder and
// lets any holder decline it). Another tenant's token is therefore not a
// foreign id; the matrix sends only unknown tokens for them, which must be
// refused and change nothing.
var bearerKinds = []string{kindLinkToken, kindInvitationToken}

// matrixQueryKinds are the query parameters that take ids.
var matrixQueryKinds = map[string]string{
	"role": kindRole, "actor": kindUser, "owner_user_id": kindUser, "partner": kindAccount, "account": kindAccount,
	"user_id": kindUser,
}

// matrixQueryOther are the query parameters that take no id; the matrix
// leaves them out, but for those it sends with a plausible value.
var matrixQueryOther = []string{"limit", "cursor", "permission", "at", "status", "kind", "since", "until", "format", "q", "access_type", "action", "dry_run", "mine"}

// matrixQueryValues are the plausible values of query parameters the matrix sends.
var matrixQueryValues = map[string]string{"permission": "crm.contacts.view"}

// matrixHeaders are the header parameters the matrix knows and leaves out:
// acting on behalf of a user is the operator's, and retries are not its subject.
var matrixHeaders = []string{"Steward-Act-As", "Idempotency-Key"}

// matrixBodyKinds are the body fields that take ids; the list ones take a list.
var matrixBodyKinds = map[string]string{
	"user_id": kindUser, "owner_user_id": kindUser, "account_id": kindAccount, "home_account_id": kindAccount,
	"user_ids": kindUser, "account_ids": kindAccount, "client_ids": kindAccount, "role": kindRole, "reviewer_ids": kindUser,
}

// matrixBodyMaps are the body fields that are maps from ids to ids: the
// kinds of their keys and of their values. A map field not named here fails
// the test, as an unknown id-like field does.
var matrixBodyMaps = map[string][2]string{
	"reassign_to": {kindAccount, kindUser},
}

// matrixPathKind returns the kind of ids a path parameter takes, or a fixed
// value for parameters that name no resource of Steward (an asset's type
// and product id), or ok false when the matrix does not know it.
func matrixPathKind(path, name string) (kind, fixed string, ok bool) {
	i := strings.Index(path, "{"+name+"}")
	segs := strings.Split(strings.Trim(path[:max(i, 0)], "/"), "/")
	prev := segs[len(segs)-1]
	switch {
	case name == "account" || name == "partner" || name == "client":
		return kindAccount, "", true
	case name == "user" || name == "delegate":
		return kindUser, "", true
	case name == "role":
		return kindRole, "", true
	case name == "invitation":
		return kindInvitation, "", true
	case name == "review":
		return kindReview, "", true
	case name == "item" && prev == "items":
		return kindReviewItem, "", true
	case name == "request":
		return kindAccessRequest, "", true
	case name == "webhook":
		return kindWebhook, "", true
	case name == "delivery":
		return kindDelivery, "", true
	case name == "eligibility":
		return kindEligibility, "", true
	case name == "elevation":
		return kindElevation, "", true
	case name == "token" && strings.HasPrefix(path, "/v1/access-links/"):
		return kindLinkToken, "", true
	case name == "token" && strings.HasPrefix(path, "/v1/invitations/"):
		return kindInvitationToken, "", true
	case name == "token_id" && path == "/v1/tokens/{token_id}":
		return kindToken, "", true
	case name == "type" && prev == "assets":
		return "", "workflow", true
	case name == "id" && strings.HasSuffix(path, "/assets/{type}/{id}"):
		return "", "wf-matrix", true
	case name == "id" && prev == "Users" && strings.HasPrefix(path, "/scim/v2/"):
		return kindUser, "", true
	case name == "id" && prev == "Groups" && strings.HasPrefix(path, "/scim/v2/"):
		return kindRole, "", true
	}
	return "", "", false
}

// slot is one place of a request that takes an id.
type slot struct {
	in   string // path, query or body
	name string // the parameter, or the body field's path (checks[0].user_id)
	kind string
	list bool
	at   []any // body: keys and indices down to the field
	// part is "key" or "value" for the one entry of a map field at at (see
	// matrixBodyMaps), empty for a plain field.
	part string
	// format, when set, holds the id inside a string: a SCIM filter or
	// PATCH path, `members[value eq "%s"]`.
	format string
}

// matrixOp is one operation to call.
type matrixOp struct {
	method, path string
	fixed        map[string]string // path parameters that name no resource
	query        url.Values        // query parameters that name no resource
	slots        []slot
	body         any    // a plausible body, nil for none
	variant      string // what sets apart operations of the same route
}

func (o *matrixOp) String() string {
	if o.variant != "" {
		return o.method + " " + o.path + " (" + o.variant + ")"
	}
	return o.method + " " + o.path
}

// foreignIDs are the other tenant's real ids of each kind.
func foreignIDs(b *tenant, kind string) []string {
	switch kind {
	case kindAccount:
		return b.accounts()
	case kindUser:
		return b.users()
	case kindRole:
		return []string{b.staffRole, b.analystRole}
	case kindInvitation:
		return []string{b.invitation, b.acceptedInvitation}
	case kindWebhook:
		return []string{b.webhook}
	case kindDelivery:
		return []string{b.delivery}
	case kindLinkToken:
		return []string{b.linkToken}
	case kindInvitationToken:
		return []string{b.invitationToken}
	case kindReview:
		return []string{b.review}
	case kindReviewItem:
		return []string{b.reviewItem}
	case kindToken:
		ids := make([]string, 0, len(b.users()))
		for _, u := range b.users() {
			ids = append(ids, b.tokenIDs[u])
		}
		return ids
	case kindAccessRequest:
		return []string{b.accessRequest}
	case kindEligibility:
		return []string{b.eligibility}
	case kindElevation:
		return []string{b.elevation}
	}
	panic("no ids of kind " + kind)
}

// ownID is the value the actor of tenant tn would put in s on op: its own
// tenant's id that lets the call reach the slot under test.
func ownID(tn *tenant, a actor, op *matrixOp, s slot) string {
	switch s.kind {
	case kindAccount:
		if s.name == "partner" {
			return tn.partner
		}
		return tn.client
	case kindRole:
		return tn.staffRole
	case kindInvitation:
		return tn.invitation
	case kindAccessRequest:
		return tn.accessRequest
	case kindEligibility:
		return tn.eligibility
	case kindElevation:
		return tn.elevation
	case kindWebhook:
		return tn.webhook
	case kindDelivery:
		return tn.delivery
	case kindLinkToken:
		return tn.linkToken
	case kindInvitationToken:
		return tn.invitationToken
	case kindReview:
		return tn.review
	case kindReviewItem:
		return tn.reviewItem
	case kindToken:
		// The actor's spare token, so that a call with it never takes away
		// the token the actor signs in with.
		return tn.spareTokenIDs[a.self]
	case kindUser:
		switch {
		case s.part == "value":
			return tn.superAdmin // stays in the client and may receive assets
		case strings.HasPrefix(op.path, "/scim/") && s.in != "path":
			return tn.member // a user the client provisions
		}
		switch s.name {
		case "owner_user_id":
			return tn.member
		case "user_ids":
			if strings.Contains(op.path, "/delegates") {
				return tn.delegate
			}
			return tn.employee
		case "delegate":
			return tn.delegate
		case "user", "id":
			i := strings.Index(op.path, "{"+s.name+"}")
			segs := strings.Split(strings.Trim(op.path[:i], "/"), "/")
			switch segs[len(segs)-1] {
			case "members", "Users":
				return tn.member
			case "external-users":
				return tn.external
			case "employees":
				return tn.employee
			}
		}
		return a.self
	}
	panic("no own id of kind " + s.kind)
}

// unknownLike returns an id nothing holds, of the same prefix, length and
// time as id: only its random tail differs.
func unknownLike(id string) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	cut := strings.LastIndex(id, "_") + 1
	keep := min(len(id), cut+10)
	if len(id)-keep < 8 {
		keep = max(cut, len(id)-8)
	}
	tail := make([]byte, len(id)-keep)
	rand.Read(tail)
	for i := range tail {
		tail[i] = alphabet[int(tail[i])%len(alphabet)]
	}
	return id[:keep] + string(tail)
}

// matrixDoc is what the matrix reads of the OpenAPI document.
type matrixDoc struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Name     string `json:"name"`
			In       string `json:"in"`
			Required bool   `json:"required"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// schema is the part of a JSON schema the matrix reads.
type schema struct {
	Ref        string             `json:"$ref"`
	Type       any                `json:"type"`
	Format     string             `json:"format"`
	Properties map[string]*schema `json:"properties"`
	Required   []string           `json:"required"`
	Items      *schema            `json:"items"`
	Examples   []any              `json:"examples"`
	Enum       []any              `json:"enum"`
	Default    any                `json:"default"`
	MinItems   *int               `json:"minItems"`
	// AdditionalProperties is false on objects, a schema on maps.
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// isMap reports whether s is a map (an object with additionalProperties).
func (s *schema) isMap() bool {
	a := strings.TrimSpace(string(s.AdditionalProperties))
	return a != "" && a != "false"
}

func (s *schema) typ() string {
	switch t := s.Type.(type) {
	case string:
		return t
	case []any:
		for _, v := range t {
			if v != "null" {
				return fmt.Sprint(v)
			}
		}
	}
	if s.Properties != nil {
		return "object"
	}
	return "string"
}

// bodyBuilder derives a plausible body from a schema, noting the id slots.
type bodyBuilder struct {
	doc     *matrixDoc
	consent string
	// maps fills the optional map fields of matrixBodyMaps; sawMap tells
	// that a body left one out.
	maps, sawMap bool
	slots        []slot
	errs         []string
}

func (b *bodyBuilder) resolve(s *schema) *schema {
	for s != nil && s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		var r schema
		if err := json.Unmarshal(b.doc.Components.Schemas[name], &r); err != nil {
			b.errs = append(b.errs, fmt.Sprintf("schema %s: %v", s.Ref, err))
			return &schema{}
		}
		s = &r
	}
	return s
}

// plausible values of fields whose type default would be refused as invalid.
func (b *bodyBuilder) plausible(name string) (any, bool) {
	switch name {
	case "email", "emails":
		return "matrix-invitee@example.net", true
	case "name":
		return "Matrix", true
	case "alias":
		return "Matrix alias", true
	case "permission":
		return "crm.contacts.view", true
	case "permissions":
		return []any{"crm.contacts.view"}, true
	case "kind":
		return string(steward.AccountStandard), true
	case "action":
		return "matrix.tested", true
	case "region":
		return "eu", true
	case "consent":
		return map[string]any{"accepted": true, "version": b.consent}, true
	}
	return nil, false
}

// idLike reports whether a field name looks like it holds ids.
func idLike(name string) bool {
	return name == "id" || strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_ids")
}

// value builds the value of a field; at is where it sits in the body.
func (b *bodyBuilder) value(name string, s *schema, at []any) any {
	s = b.resolve(s)
	if kind, ok := matrixBodyKinds[name]; ok {
		b.slots = append(b.slots, slot{in: "body", name: bodyPathName(at), kind: kind, list: s.typ() == "array", at: slices.Clone(at)})
		return nil // set per call
	}
	if kinds, ok := matrixBodyMaps[name]; ok && s.isMap() {
		// One entry, whose key and value are set per call.
		b.slots = append(b.slots,
			slot{in: "body", name: bodyPathName(at) + "{key}", kind: kinds[0], at: slices.Clone(at), part: "key"},
			slot{in: "body", name: bodyPathName(at) + "{value}", kind: kinds[1], at: slices.Clone(at), part: "value"})
		return map[string]any{"": nil}
	}
	if s.isMap() { // a body that is a map, or a map in a list
		b.errs = append(b.errs, fmt.Sprintf("body field %q is a map, which may take ids as keys or values (matrixBodyMaps)", bodyPathName(at)))
		return map[string]any{}
	}
	if v, ok := b.plausible(name); ok {
		return v
	}
	switch {
	case len(s.Examples) > 0:
		return s.Examples[0]
	case len(s.Enum) > 0:
		return s.Enum[0]
	case s.Default != nil:
		return s.Default
	}
	switch s.typ() {
	case "object":
		obj := map[string]any{}
		for _, p := range sortedKeys(s.Properties) {
			if p == "$schema" {
				continue
			}
			_, isSlot := matrixBodyKinds[p]
			_, isMap := matrixBodyMaps[p]
			_, isPlausible := b.plausible(p)
			required := slices.Contains(s.Required, p)
			switch {
			case idLike(p) && !isSlot:
				b.errs = append(b.errs, fmt.Sprintf("body field %q looks like it takes ids (matrixBodyKinds)", bodyPathName(append(at, p))))
			case !isMap && b.resolve(s.Properties[p]).isMap():
				b.errs = append(b.errs, fmt.Sprintf("body field %q is a map, which may take ids as keys or values (matrixBodyMaps)", bodyPathName(append(at, p))))
			case isMap && !required && !b.maps:
				b.sawMap = true // left out here; matrixOperations adds the operation with it
			case required || isSlot || isPlausible || isMap:
				obj[p] = b.value(p, s.Properties[p], append(slices.Clone(at), p))
			}
		}
		return obj
	case "array":
		n := 1
		if s.MinItems != nil && *s.MinItems > 1 {
			n = *s.MinItems
		}
		arr := make([]any, n)
		for i := range arr {
			arr[i] = b.value(name, s.Items, append(slices.Clone(at), i))
		}
		return arr
	case "boolean":
		return false
	case "integer", "number":
		return 0
	}
	if s.Format == "date-time" {
		return time.Now().UTC().Add(24 * time.Hour).Format(time.RFC3339)
	}
	return "matrix"
}

func bodyPathName(at []any) string {
	var sb strings.Builder
	for _, k := range at {
		switch k := k.(type) {
		case int:
			fmt.Fprintf(&sb, "[%d]", k)
		default:
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			fmt.Fprint(&sb, k)
		}
	}
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// matrixOperations reads the served OpenAPI document into the operations
// to call; what it cannot fill fails the test.
func matrixOperations(t testing.TB, e *Env, consent string) []*matrixOp {
	t.Helper()
	res := e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, nil)
	var doc matrixDoc
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var ops []*matrixOp
	for _, path := range sortedKeys(doc.Paths) {
		for _, method := range sortedKeys(doc.Paths[path]) {
			o := doc.Paths[path][method]
			op := &matrixOp{method: strings.ToUpper(method), path: path, fixed: map[string]string{}, query: url.Values{}}
			var extra *matrixOp // the operation again, with its optional maps
			teach := func(format string, args ...any) {
				t.Errorf("%s: %s: teach the isolation matrix (http/matrix_test.go) which ids it takes, so that the route is tested for tenant isolation", op, fmt.Sprintf(format, args...))
			}
			for _, p := range o.Parameters {
				switch p.In {
				case "path":
					kind, fixed, ok := matrixPathKind(path, p.Name)
					switch {
					case !ok:
						teach("path parameter %q is unknown", p.Name)
					case kind == "":
						op.fixed[p.Name] = fixed
					default:
						op.slots = append(op.slots, slot{in: "path", name: p.Name, kind: kind})
					}
				case "query":
					if kind, ok := matrixQueryKinds[p.Name]; ok {
						op.slots = append(op.slots, slot{in: "query", name: p.Name, kind: kind})
					} else if !slices.Contains(matrixQueryOther, p.Name) {
						teach("query parameter %q is unknown", p.Name)
					} else if v, ok := matrixQueryValues[p.Name]; ok {
						op.query.Set(p.Name, v)
					} else if p.Required {
						teach("query parameter %q is required and the matrix has no value for it (matrixQueryValues)", p.Name)
					}
				case "header":
					if !slices.Contains(matrixHeaders, p.Name) {
						teach("header parameter %q is unknown", p.Name)
					}
				default:
					teach("parameter %q in %s is unknown", p.Name, p.In)
				}
			}
			if o.RequestBody != nil {
				c, ok := o.RequestBody.Content["application/json"]
				if !ok {
					teach("the body is not application/json")
					continue
				}
				var s schema
				if err := json.Unmarshal(c.Schema, &s); err != nil {
					t.Fatalf("%s: body schema: %v", op, err)
				}
				b := &bodyBuilder{doc: &doc, consent: consent}
				op.body = b.value("", &s, nil)
				params := op.slots
				op.slots = append(slices.Clone(params), b.slots...)
				for _, msg := range b.errs {
					teach("%s", msg)
				}
				if b.sawMap {
					// The operation once more, with an entry in each
					// optional map (reassign_to), whose ids it checks too.
					bm := &bodyBuilder{doc: &doc, consent: consent, maps: true}
					withMaps := &matrixOp{method: op.method, path: op.path, fixed: op.fixed, query: op.query, variant: "with its maps",
						body: bm.value("", &s, nil)}
					withMaps.slots = append(slices.Clone(params), bm.slots...)
					extra = withMaps
				}
			}
			ops = append(ops, op)
			for _, p := range o.Parameters {
				if p.In == "query" && p.Name == "dry_run" {
					// The preview of the request (R-PREVIEW-1) is called too.
					dry := *op
					dry.query = url.Values{}
					for k, v := range op.query {
						dry.query[k] = v
					}
					dry.query.Set("dry_run", "true")
					ops = append(ops, &dry)
				}
			}
			if extra != nil {
				ops = append(ops, extra)
			}
		}
	}
	return append(ops, scimMatrixOps()...)
}

// scimMatrixOps are the SCIM routes, served outside the OpenAPI document:
// discovery, and each resource type's list, search, create, get, patch,
// replace and delete (scimCovered checks that no resource type is left
// out). Ids sit in paths, in filters (`id eq "…"`), in group members and in
// PATCH paths.
func scimMatrixOps() []*matrixOp {
	const (
		base       = "/scim/v2/{account}"
		userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
	)
	account := slot{in: "path", name: "account", kind: kindAccount}
	user, group := slot{in: "path", name: "id", kind: kindUser}, slot{in: "path", name: "id", kind: kindRole}
	userFilter := slot{in: "query", name: "filter", kind: kindUser, format: `id eq "%s"`}
	memberFilter := slot{in: "query", name: "filter", kind: kindUser, format: `members[value eq "%s"]`}
	userRes := map[string]any{"schemas": []any{userSchema}, "userName": "scim-matrix@example.net",
		"name": map[string]any{"formatted": "Matrix"}, "active": false}
	patch := map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}
	groupRes := map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Matrix group",
		"members": []any{map[string]any{"value": nil}}}
	groupMember := slot{in: "body", name: "members[0].value", kind: kindUser, at: []any{"members", 0, "value"}}
	groupPatch := map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{
			map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": nil}}},
			map[string]any{"op": "remove", "path": nil},
		}}
	search := map[string]any{"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": "active eq true"}
	patchAdd := slot{in: "body", name: "Operations[0].value[0].value", kind: kindUser, at: []any{"Operations", 0, "value", 0, "value"}}
	patchRemove := slot{in: "body", name: "Operations[1].path", kind: kindUser, at: []any{"Operations", 1, "path"}, format: `members[value eq "%s"]`}
	return []*matrixOp{
		{method: "GET", path: base + "/ServiceProviderConfig", slots: []slot{account}},
		{method: "GET", path: base + "/ResourceTypes", slots: []slot{account}},
		{method: "GET", path: base + "/ResourceTypes/{type}", fixed: map[string]string{"type": "User"}, slots: []slot{account}},
		{method: "GET", path: base + "/Schemas", slots: []slot{account}},
		{method: "GET", path: base + "/Schemas/{schema}", fixed: map[string]string{"schema": userSchema}, slots: []slot{account}},
		{method: "GET", path: base + "/Users", slots: []slot{account, userFilter}},
		{method: "POST", path: base + "/Users", slots: []slot{account}, body: userRes},
		{method: "GET", path: base + "/Users/{id}", slots: []slot{account, user}},
		{method: "PATCH", path: base + "/Users/{id}", slots: []slot{account, user}, body: patch},
		{method: "PUT", path: base + "/Users/{id}", slots: []slot{account, user}, body: userRes},
		{method: "DELETE", path: base + "/Users/{id}", slots: []slot{account, user}},
		{method: "GET", path: base + "/Groups", slots: []slot{account, memberFilter}},
		{method: "POST", path: base + "/Groups", slots: []slot{account, groupMember}, body: groupRes},
		{method: "GET", path: base + "/Groups/{id}", slots: []slot{account, group}},
		{method: "PATCH", path: base + "/Groups/{id}", slots: []slot{account, group, patchAdd, patchRemove}, body: groupPatch},
		{method: "PUT", path: base + "/Groups/{id}", slots: []slot{account, group, groupMember}, body: groupRes},
		{method: "DELETE", path: base + "/Groups/{id}", slots: []slot{account, group}},
		// Searching by POST is not served (501), after the account's checks.
		{method: "POST", path: base + "/Users/.search", slots: []slot{account}, body: search},
		{method: "POST", path: base + "/Groups/.search", slots: []slot{account}, body: search},
	}
}

// scimCovered fails unless scimMatrixOps covers every resource type the
// account's SCIM service describes (GET /ResourceTypes), so that a new one
// cannot slip past the matrix.
func scimCovered(t *testing.T, e *Env, tn *tenant, ops []*matrixOp) {
	t.Helper()
	var types struct {
		Resources []struct {
			Name     string `json:"name"`
			Endpoint string `json:"endpoint"`
		} `json:"Resources"`
	}
	res := e.Do(t, "GET", "/scim/v2/"+tn.client+"/ResourceTypes", tn.actorOf("internal super admin").token, nil)
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &types) != nil || len(types.Resources) == 0 {
		t.Fatalf("SCIM resource types: %d %s", res.Status, res.Body)
	}
	for _, rt := range types.Resources {
		coll := "/scim/v2/{account}" + rt.Endpoint
		for _, want := range []string{"GET " + coll, "POST " + coll, "POST " + coll + "/.search",
			"GET " + coll + "/{id}", "PATCH " + coll + "/{id}", "PUT " + coll + "/{id}", "DELETE " + coll + "/{id}"} {
			if !slices.ContainsFunc(ops, func(o *matrixOp) bool { return o.String() == want }) {
				t.Errorf("SCIM resource type %s: %s is not in scimMatrixOps: teach the isolation matrix (http/matrix_test.go) its ids", rt.Name, want)
			}
		}
	}
}

// request builds the path and body of op with the slots' values.
func (o *matrixOp) request(values []string) (string, []byte, error) {
	path := o.path
	for name, v := range o.fixed {
		path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(v))
	}
	query := url.Values{}
	for k, v := range o.query {
		query[k] = v
	}
	var body any
	if o.body != nil {
		data, _ := json.Marshal(o.body)
		json.Unmarshal(data, &body) // a deep copy
	}
	for i, s := range o.slots {
		value := values[i]
		if s.format != "" {
			value = fmt.Sprintf(s.format, value)
		}
		switch s.in {
		case "path":
			path = strings.ReplaceAll(path, "{"+s.name+"}", url.PathEscape(value))
		case "query":
			query.Set(s.name, value)
		case "body":
			var v any = value
			if s.list {
				v = []any{value}
			}
			var err error
			if s.part != "" {
				err = setMapEntry(body, s.at, s.part, value)
			} else {
				err = setAt(&body, s.at, v)
			}
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	if o.body == nil {
		return path, nil, nil
	}
	data, err := json.Marshal(body)
	return path, data, err
}

// setAt sets the value at a path of keys and indices in a decoded JSON value.
func setAt(root *any, at []any, v any) error {
	if len(at) == 0 {
		*root = v
		return nil
	}
	switch k := at[0].(type) {
	case string:
		obj, ok := (*root).(map[string]any)
		if !ok {
			return fmt.Errorf("not an object at %v", k)
		}
		child := obj[k]
		if err := setAt(&child, at[1:], v); err != nil {
			return err
		}
		obj[k] = child
	case int:
		arr, ok := (*root).([]any)
		if !ok || k >= len(arr) {
			return fmt.Errorf("not an array at [%d]", k)
		}
		return setAt(&arr[k], at[1:], v)
	}
	return nil
}

// setMapEntry sets the key or the value of the one entry of the map at a
// path of keys and indices in a decoded JSON value.
func setMapEntry(root any, at []any, part, v string) error {
	node := root
	for _, k := range at {
		switch k := k.(type) {
		case string:
			obj, ok := node.(map[string]any)
			if !ok {
				return fmt.Errorf("not an object at %v", k)
			}
			node = obj[k]
		case int:
			arr, ok := node.([]any)
			if !ok || k >= len(arr) {
				return fmt.Errorf("not an array at [%d]", k)
			}
			node = arr[k]
		}
	}
	m, ok := node.(map[string]any)
	if !ok || len(m) != 1 {
		return fmt.Errorf("not a map of one entry: %v", node)
	}
	var key string
	var value any
	for key, value = range m {
	}
	if part == "key" {
		delete(m, key)
		m[v] = value
	} else {
		m[key] = v
	}
	return nil
}

// answer is what the matrix compares of a response.
type answer struct {
	status int
	ctype  string
	body   string // normalized: ids and times replaced
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

var rfc3339RE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// normalize replaces the ids (and times) that may differ between a foreign
// and an unknown call, so the rest must be equal.
func normalize(res Response, ids ...string) answer {
	body := string(res.Body)
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) > len(ids[j]) })
	for _, id := range ids {
		if id != "" {
			body = strings.ReplaceAll(body, id, "<id>")
		}
	}
	body = rfc3339RE.ReplaceAllString(body, "<time>")
	return answer{status: res.Status, ctype: res.Header.Get("Content-Type"), body: strings.TrimSpace(body)}
}

// cell is one comparison of the matrix.
type cell struct {
	op, actor, variant string
	foreign, unknown   answer
	failure            string
}

// TestIsolationMatrix calls every operation of GET /v1/openapi.json and the
// SCIM routes as a user of each kind of tenant A, with tenant B's ids and
// with unknown ids, one slot at a time and all at once: both must answer the
// same (status, code, detail and fields, modulo the id) and change nothing
// (SPEC §4: unknown and foreign look alike; 404 for ids of another tenant).
// STEWARD_MATRIX_DUMP=1 logs every comparison's answer (with -v).
func TestIsolationMatrix(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e, _ := serveHandler(t, st.open(t))
			a, b := buildTenant(t, e, "A"), buildTenant(t, e, "B")
			var consent steward.ConsentAgreement
			e.MustOK(t, http.StatusOK, "GET", "/v1/consent", operatorToken, nil, &consent)
			ops := matrixOperations(t, e, consent.Version)
			scimCovered(t, e, a, ops)
			if len(ops) < 60 {
				t.Fatalf("the matrix found %d operations, want every route of the API", len(ops))
			}
			var failed []cell
			compared := 0
			for _, op := range ops {
				if len(op.slots) == 0 {
					continue // nothing names a resource: no tenant to cross
				}
				if op.method == http.MethodGet {
					reachable(t, e, op, a)
				}
				for _, act := range append(slices.Clone(a.actors), a.actAs...) {
					for _, c := range runMatrixOp(t, e, op, a, b, act) {
						compared++
						if os.Getenv("STEWARD_MATRIX_DUMP") != "" {
							t.Logf("DUMP %s | %s | %s | %d %s", c.op, c.actor, c.variant, c.foreign.status, c.foreign.body[:min(len(c.foreign.body), 160)])
						}
						if c.failure != "" || c.foreign != c.unknown {
							failed = append(failed, c)
						}
					}
				}
			}
			t.Logf("%d operations, %d comparisons, %d differ or change the store", len(ops), compared, len(failed))
			for _, c := range failed {
				if c.failure != "" {
					t.Errorf("%s as %s, %s: %s", c.op, c.actor, c.variant, c.failure)
					continue
				}
				t.Errorf("%s as %s, %s:\n\tforeign: %s\n\tunknown: %s", c.op, c.actor, c.variant, c.foreign, c.unknown)
			}
		})
	}
}

// runMatrixOp calls op as act with each slot in turn foreign and unknown,
// the other slots holding act's own ids, then with every slot foreign (the
// other tenant's counterpart of each own id) and every slot unknown.
func runMatrixOp(t *testing.T, e *Env, op *matrixOp, a, b *tenant, act actor) []cell {
	t.Helper()
	own := make([]string, len(op.slots))
	counterpart := make([]string, len(op.slots))
	for i, s := range op.slots {
		own[i] = ownID(a, act, op, s)
		counterpart[i] = ownID(b, b.actorOf(act.kind), op, s)
	}
	var cells []cell
	// call sends one request and reports a change of the store.
	call := func(values []string) (Response, string) {
		path, body, err := op.request(values)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		var send any
		if body != nil {
			send = body
		}
		before := e.Revision(t)
		res := e.Do(t, op.method, path, act.token, send, act.headers...)
		if after := e.Revision(t); after != before {
			return res, fmt.Sprintf("%s %s (body %s) changed the store: revision %d → %d, answer %d %s", op.method, path, body, before, after, res.Status, res.Body)
		}
		return res, ""
	}
	compare := func(variant string, foreign, unknown []string, ids []string) {
		c := cell{op: op.String(), actor: act.kind, variant: variant}
		var resF, resU Response
		resF, c.failure = call(foreign)
		var changedU string
		resU, changedU = call(unknown)
		if c.failure == "" {
			c.failure = changedU
		}
		c.foreign, c.unknown = normalize(resF, ids...), normalize(resU, ids...)
		cells = append(cells, c)
	}
	for i, s := range op.slots {
		if slices.Contains(bearerKinds, s.kind) {
			// Only unknown tokens (see bearerKinds): refused, and nothing changes.
			values := slices.Clone(own)
			tok := foreignIDs(b, s.kind)[0]
			values[i] = steward.NewSecret(tok[:strings.Index(tok, "_")+1])
			res, changed := call(values)
			c := cell{op: op.String(), actor: act.kind, variant: fmt.Sprintf("%s %s=%s (unknown)", s.in, s.name, s.kind), failure: changed}
			c.foreign, c.unknown = normalize(res, values[i]), normalize(res, values[i])
			if res.Status != http.StatusNotFound {
				c.failure = strings.TrimSpace(fmt.Sprintf("an unknown %s answered %d, want 404: %s; %s", s.kind, res.Status, res.Body, changed))
			}
			cells = append(cells, c)
			continue
		}
		for _, f := range foreignIDs(b, s.kind) {
			u := unknownLike(f)
			foreign, unknown := slices.Clone(own), slices.Clone(own)
			foreign[i], unknown[i] = f, u
			compare(fmt.Sprintf("%s %s=%s", s.in, s.name, f), foreign, unknown, []string{f, u})
		}
	}
	if len(op.slots) > 1 && !slices.ContainsFunc(op.slots, func(s slot) bool { return slices.Contains(bearerKinds, s.kind) }) {
		unknown := make([]string, len(counterpart))
		var ids []string
		for i, f := range counterpart {
			unknown[i] = unknownLike(f)
			ids = append(ids, f, unknown[i])
		}
		compare("every slot foreign: "+strings.Join(counterpart, ","), counterpart, unknown, ids)
	}
	return cells
}

// reachable fails unless some actor of tn reads op with its own ids: the
// guard that the matrix's own ids are real, so that its foreign and unknown
// calls reach the slot they test rather than all failing early alike.
func reachable(t *testing.T, e *Env, op *matrixOp, tn *tenant) {
	t.Helper()
	var answers []string
	for _, act := range tn.actors {
		values := make([]string, len(op.slots))
		for i, s := range op.slots {
			values[i] = ownID(tn, act, op, s)
		}
		path, _, err := op.request(values)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		res := e.Do(t, op.method, path, act.token, nil, act.headers...)
		if res.Status < 300 {
			return
		}
		answers = append(answers, fmt.Sprintf("%s: %d %s", act.kind, res.Status, res.Body))
	}
	t.Errorf("%s: no actor reads it with its own ids, so the matrix's own ids for it are wrong:\n\t%s", op, strings.Join(answers, "\n\t"))
}
