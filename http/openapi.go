package http

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/steward-iam/steward"
)

// describe is the description of an operation: its summary as a sentence,
// then what holds for every operation of its kind.
func describe(method, path, summary string) string {
	var b strings.Builder
	b.WriteString(summary)
	if !strings.HasSuffix(summary, ".") {
		b.WriteString(".")
	}
	if strings.Contains(path, "{") {
		b.WriteString(" An id of another tenant is answered like an unknown one, 404.")
	}
	switch method {
	case http.MethodGet:
	case http.MethodPost:
		if path == "/v1/check" || path == "/v1/check/batch" {
			b.WriteString(" Reads only: pass min_revision (a write's Steward-Revision) to read that write; until this node has applied it, the answer is 503 revision_not_applied with Retry-After.")
			break
		}
		b.WriteString(" The answer's Steward-Revision is the revision the write committed; pass it as min_revision to the checks that follow. With an Idempotency-Key, a retry returns the first answer and changes nothing again.")
	default:
		b.WriteString(" The answer's Steward-Revision is the revision the write committed; pass it as min_revision to the checks that follow.")
	}
	b.WriteString(" Errors are RFC 9457 problem documents with a stable code; 503 (the database does not answer in time, or the server is starting) carries Retry-After.")
	return b.String()
}

// Names of schemas that code generators use for their own types; a schema
// with one of them is renamed (oapi-codegen's client is "Client").
var schemaRenames = map[string]string{
	"Client": "PartnerClient",
}

// enums lists the fixed values of properties, by schema and property.
var enums = map[[2]string][]string{
	{"Account", "kind"}:          {string(steward.AccountStandard), string(steward.AccountPartner)},
	{"NewAccount", "kind"}:       {string(steward.AccountStandard), string(steward.AccountPartner)},
	{"Membership", "kind"}:       memberKinds,
	{"Reason", "kind"}:           memberKinds,
	{"Membership", "status"}:     memberStatuses,
	{"User", "status"}:           {string(steward.UserActive), string(steward.UserDeactivated), string(steward.UserDeleted)},
	{"Invitation", "status"}:     invitationStatuses,
	{"InvitationView", "status"}: invitationStatuses,
	{"Relationship", "status"}:   relationshipStatuses,
	{"Partner", "status"}:        relationshipStatuses,
	{"PartnerClient", "status"}:  relationshipStatuses,
	{"AccessLinkView", "status"}: {string(steward.AccessLinkPending), string(steward.AccessLinkApproved), string(steward.AccessLinkDeclined), string(steward.AccessLinkExpired)},
}

var (
	memberKinds          = []string{string(steward.KindInternal), string(steward.KindPartner), string(steward.KindExternal), string(steward.KindDelegate)}
	memberStatuses       = []string{string(steward.StatusActive), string(steward.StatusDeactivated), string(steward.StatusSuspended), string(steward.StatusExpired)}
	invitationStatuses   = []string{string(steward.InvitationPending), string(steward.InvitationAccepted), string(steward.InvitationRevoked), string(steward.InvitationExpired)}
	relationshipStatuses = []string{string(steward.RelationshipActive), string(steward.RelationshipEnding), string(steward.RelationshipEnded)}
)

// alwaysLists are array properties never null in an answer: the handlers
// give an empty list rather than none.
var alwaysLists = map[[2]string]bool{
	{"BatchCheckResult", "results"}: true,
}

// withheld are request properties the server always refuses, left out of
// the document so that clients are not offered them.
var withheld = map[[2]string]bool{
	{"AccountUpdate", "region"}: true, // R-RESTRICT-1: regions move only through region-migrations
}

// polishOpenAPI completes the generated document where the Go types cannot
// say it: integer paging parameters (parsed by the handlers, so that a bad
// one is this API's own 400), fixed values, lists that are never null, the
// 503 every operation may answer with its Retry-After, the media types of
// the audit exports, and schema names that code generators keep for
// themselves.
func polishOpenAPI(raw []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }

	components := obj(doc["components"])
	schemas := obj(components["schemas"])
	for from, to := range schemaRenames {
		if s, ok := schemas[from]; ok {
			delete(schemas, from)
			schemas[to] = s
		}
	}
	for name, s := range schemas {
		s := obj(s)
		props := obj(s["properties"])
		required, _ := s["required"].([]any)
		for pname, p := range props {
			p := obj(p)
			key := [2]string{name, pname}
			if vals := enums[key]; vals != nil {
				p["enum"] = vals
			}
			if withheld[key] {
				delete(props, pname)
				continue
			}
			isList := strings.HasPrefix(name, "List") && pname == "items"
			if (isList || alwaysLists[key]) && slices.Contains(required, any(pname)) {
				p["type"] = "array"
			}
		}
	}
	components["headers"] = map[string]any{
		"Retry-After": map[string]any{
			"description": "Seconds to wait before retrying.",
			"schema":      map[string]any{"type": "integer", "minimum": 0},
		},
	}

	problem := func(description string) map[string]any {
		return map[string]any{
			"description": description,
			"content":     map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}},
		}
	}
	for path, item := range obj(doc["paths"]) {
		for method, op := range obj(item) {
			op := obj(op)
			if op == nil {
				continue
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := obj(p)
				if p["name"] == "limit" && p["in"] == "query" {
					p["schema"] = map[string]any{"type": "integer", "minimum": 1, "default": steward.DefaultPageLimit,
						"description": fmt.Sprintf("Above %d counts as %d.", steward.MaxPageLimit, steward.MaxPageLimit)}
				}
			}
			responses := obj(op["responses"])
			if path != pathHealth {
				unavailable := problem("Service Unavailable: the database did not answer in time, or the server is starting; retry after Retry-After.")
				if path == "/v1/check" || path == "/v1/check/batch" {
					unavailable["description"] = "Service Unavailable: revision_not_applied (this node has not applied min_revision yet), or the database did not answer in time; retry after Retry-After."
				}
				if path == pathReady {
					unavailable["description"] = "Not ready: index_loading (the check index is loading), or database_unavailable."
				}
				unavailable["headers"] = map[string]any{"Retry-After": map[string]any{"$ref": "#/components/headers/Retry-After"}}
				responses["503"] = unavailable
			}
			if strings.HasPrefix(path, "/v1/invitations/{token}") {
				responses["410"] = problem("Gone: the invitation was revoked or has expired, or the access it offered has ended.")
			}
			if _, hasBody := op["requestBody"]; hasBody {
				responses["415"] = problem("Unsupported Media Type: the body must be JSON.")
			}
			if method == "post" || method == "put" || method == "patch" || method == "delete" {
				if c := obj(responses["409"]); c != nil {
					c["description"] = "Conflict; idempotency_in_progress (a request with the same Idempotency-Key is under way) carries Retry-After."
					c["headers"] = map[string]any{"Retry-After": map[string]any{"$ref": "#/components/headers/Retry-After"}}
				}
			}
			if strings.HasSuffix(path, "/audit/export") {
				responses["200"] = map[string]any{
					"description": "The events, newest first: NDJSON (format=ndjson, one event a line) or CSV (format=csv, a header, then one event a row).",
					"content": map[string]any{
						"application/x-ndjson":    map[string]any{"schema": map[string]any{"type": "string", "description": "One Event (see the schema Event) as JSON per line."}},
						"text/csv; charset=utf-8": map[string]any{"schema": map[string]any{"type": "string"}},
					},
				}
			}
		}
	}

	out, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	for _, from := range slices.Sorted(maps.Keys(schemaRenames)) {
		out = []byte(strings.ReplaceAll(string(out), `"#/components/schemas/`+from+`"`, `"#/components/schemas/`+schemaRenames[from]+`"`))
	}
	return out, nil
}
