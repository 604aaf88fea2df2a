package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// SCIM 2.0 (RFC 7643, RFC 7644): the Users resource of one account, under
// /scim/v2/{account}/. Every call needs account.scim.provision in the
// account (R-RESTRICT-1). Served: ServiceProviderConfig; Users list (filter
// `userName eq "…"`, count, and cursor pages as RFC 9865 defines them),
// create, get, PATCH and PUT of `active`, and DELETE, which deactivates
// (a user cannot leave its home account). Groups are not served.

const (
	scimUser     = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimList     = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimError    = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimPatchOp  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimConfig   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	scimMimeType = "application/scim+json"
)

type scimName struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type scimEmail struct {
	Value   string `json:"value"`
	Primary bool   `json:"primary,omitempty"`
}

type scimMeta struct {
	ResourceType string    `json:"resourceType"`
	Created      time.Time `json:"created"`
	LastModified time.Time `json:"lastModified"`
	Location     string    `json:"location"`
}

// scimUserResource is a User as SCIM shows it.
type scimUserResource struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id,omitempty"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *scimName   `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Emails      []scimEmail `json:"emails,omitempty"`
	Active      *bool       `json:"active,omitempty"`
	Meta        *scimMeta   `json:"meta,omitempty"`
}

func (s *Server) scimRoutes() {
	const base = "/scim/v2/{account}"
	s.mux.HandleFunc("GET "+base+"/ServiceProviderConfig", s.scimConfig)
	s.mux.HandleFunc("GET "+base+"/Users", s.scimListUsers)
	s.mux.HandleFunc("POST "+base+"/Users", s.scimCreateUser)
	s.mux.HandleFunc("GET "+base+"/Users/{id}", s.scimGetUser)
	s.mux.HandleFunc("PATCH "+base+"/Users/{id}", s.scimPatchUser)
	s.mux.HandleFunc("PUT "+base+"/Users/{id}", s.scimPutUser)
	s.mux.HandleFunc("DELETE "+base+"/Users/{id}", s.scimDeleteUser)
}

func scimResource(r *http.Request, u *steward.User) scimUserResource {
	active := u.Status == steward.UserActive
	return scimUserResource{
		Schemas: []string{scimUser}, ID: u.ID, UserName: u.Email, DisplayName: u.Name,
		Name: &scimName{Formatted: u.Name}, Emails: []scimEmail{{Value: u.Email, Primary: true}}, Active: &active,
		Meta: &scimMeta{ResourceType: "User", Created: u.CreatedAt, LastModified: u.UpdatedAt,
			Location: "/scim/v2/" + r.PathValue("account") + "/Users/" + u.ID},
	}
}

func (s *Server) scimWrite(w http.ResponseWriter, status int, rev int64, v any) {
	w.Header().Set("Content-Type", scimMimeType)
	if rev > 0 {
		w.Header().Set("Steward-Revision", strconv.FormatInt(rev, 10))
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// scimFail answers an error in SCIM's own format, with the stable code as
// scimType where SCIM has none of its own, and logs it once.
func (s *Server) scimFail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	s.logProblem(r.Context(), r.Method, r.URL.Path, p)
	scimType := p.Code
	switch p.Code {
	case "email_taken", "domain_claimed":
		scimType = "uniqueness"
	case "bad_filter":
		scimType = "invalidFilter"
	case "wrong_type", "malformed_json", "invalid_user", "invalid_value", "invalid_text":
		scimType = "invalidValue"
	}
	detail := p.Detail
	for _, f := range p.Errors {
		detail += fmt.Sprintf(" %s: %s.", f.Field, f.Message)
	}
	s.scimWrite(w, p.Status, 0, map[string]any{"schemas": []string{scimError}, "status": strconv.Itoa(p.Status), "scimType": scimType, "detail": detail})
}

func (s *Server) scimConfig(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.svc.ProvisionedUsers(r.Context(), r.PathValue("account"), "none@invalid.example", steward.Page{}); err != nil {
		s.scimFail(w, r, err)
		return
	}
	no := map[string]bool{"supported": false}
	s.scimWrite(w, http.StatusOK, 0, map[string]any{
		"schemas": []string{scimConfig}, "patch": map[string]bool{"supported": true}, "bulk": map[string]any{"supported": false},
		"filter": map[string]any{"supported": true, "maxResults": steward.MaxPageLimit}, "changePassword": no, "sort": no, "etag": no,
		"pagination":            map[string]any{"cursor": true, "index": false, "defaultPaginationMethod": "cursor", "cursorTimeout": 0},
		"authenticationSchemes": []map[string]string{{"type": "oauthbearertoken", "name": "Bearer token", "description": "A Steward user token of a holder of account.scim.provision."}},
	})
}

var scimUserNameFilter = regexp.MustCompile(`^\s*userName\s+eq\s+"([^"]+)"\s*$`)

func (s *Server) scimListUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	email := ""
	if f := q.Get("filter"); f != "" {
		m := scimUserNameFilter.FindStringSubmatch(f)
		if m == nil {
			s.scimFail(w, r, &steward.Error{Kind: steward.EBADREQUEST, Code: "bad_filter", Message: `Only the filter userName eq "…" is supported.`})
			return
		}
		email = m[1]
	}
	page, err := PageQuery{Limit: q.Get("count"), Cursor: q.Get("cursor")}.page()
	if err == nil && q.Get("startIndex") != "" && q.Get("startIndex") != "1" {
		err = &steward.Error{Kind: steward.EBADREQUEST, Code: "bad_filter", Message: "Pages go by cursor (RFC 9865); startIndex is only 1."}
	}
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	users, next, err := s.svc.ProvisionedUsers(r.Context(), r.PathValue("account"), email, page)
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	resources := make([]scimUserResource, len(users))
	for i, u := range users {
		resources[i] = scimResource(r, u)
	}
	out := map[string]any{"schemas": []string{scimList}, "totalResults": len(resources), "itemsPerPage": len(resources), "Resources": resources}
	if next != "" {
		out["nextCursor"] = encodeCursor(next)
	}
	s.scimWrite(w, http.StatusOK, 0, out)
}

func (s *Server) scimCreateUser(w http.ResponseWriter, r *http.Request) {
	var in scimUserResource
	if err := decodeSCIM(r, &in); err != nil {
		s.scimFail(w, r, err)
		return
	}
	name := in.DisplayName
	if in.Name != nil && name == "" {
		name = in.Name.Formatted
		if name == "" {
			name = strings.TrimSpace(in.Name.GivenName + " " + in.Name.FamilyName)
		}
	}
	// With an Idempotency-Key the write that gives the answer keeps it: the
	// creation, or the deactivation of a user created inactive.
	ctx := r.Context()
	if k := steward.IdempotencyKeyFromContext(ctx); k != nil {
		k.Status = http.StatusCreated
		k.Render = func(result any, rev int64) (map[string]string, []byte, error) {
			u, ok := result.(*steward.User)
			if !ok {
				return nil, nil, fmt.Errorf("idempotency key: the write answered %T, SCIM renders a user", result)
			}
			var b bytes.Buffer
			if err := json.NewEncoder(&b).Encode(scimResource(r, u)); err != nil { // as scimWrite
				return nil, nil, err
			}
			return map[string]string{"Content-Type": scimMimeType, "Steward-Revision": strconv.FormatInt(rev, 10)}, b.Bytes(), nil
		}
	}
	inactive := in.Active != nil && !*in.Active
	createCtx := ctx
	if inactive {
		createCtx = steward.NewContextWithIdempotencyKey(ctx, nil)
	}
	u, rev, err := s.svc.ProvisionUser(createCtx, r.PathValue("account"), steward.NewMember{Email: in.UserName, Name: name})
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	if inactive {
		if u, rev, err = s.svc.SetProvisionedActive(ctx, r.PathValue("account"), u.ID, false); err != nil {
			s.scimFail(w, r, err)
			return
		}
	}
	s.scimWrite(w, http.StatusCreated, rev, scimResource(r, u))
}

func (s *Server) scimGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.svc.ProvisionedUser(r.Context(), r.PathValue("account"), r.PathValue("id"))
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	s.scimWrite(w, http.StatusOK, 0, scimResource(r, u))
}

// scimPatchUser applies replace operations on active: {"op":"replace",
// "path":"active","value":false} or {"op":"replace","value":{"active":false}}.
func (s *Server) scimPatchUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := decodeSCIM(r, &in); err != nil {
		s.scimFail(w, r, err)
		return
	}
	unsupported := &steward.Error{Kind: steward.EINVALID, Code: "invalid_value", Message: "Only replacing active is supported."}
	var active *bool
	for _, op := range in.Operations {
		if !strings.EqualFold(op.Op, "replace") && !strings.EqualFold(op.Op, "add") {
			s.scimFail(w, r, unsupported)
			return
		}
		var obj struct {
			Active *bool `json:"active"`
		}
		if strings.EqualFold(op.Path, "active") {
			obj.Active = new(bool)
			if err := json.Unmarshal(op.Value, obj.Active); err != nil {
				obj.Active = nil
			}
		} else if op.Path == "" {
			json.Unmarshal(op.Value, &obj)
		}
		if obj.Active == nil {
			s.scimFail(w, r, unsupported)
			return
		}
		active = obj.Active
	}
	if active == nil {
		s.scimFail(w, r, unsupported)
		return
	}
	s.scimSetActive(w, r, *active)
}

// scimPutUser replaces a user; of its attributes only active can change.
func (s *Server) scimPutUser(w http.ResponseWriter, r *http.Request) {
	var in scimUserResource
	if err := decodeSCIM(r, &in); err != nil {
		s.scimFail(w, r, err)
		return
	}
	s.scimSetActive(w, r, in.Active == nil || *in.Active)
}

func (s *Server) scimSetActive(w http.ResponseWriter, r *http.Request, active bool) {
	u, rev, err := s.svc.SetProvisionedActive(r.Context(), r.PathValue("account"), r.PathValue("id"), active)
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	s.scimWrite(w, http.StatusOK, rev, scimResource(r, u))
}

func (s *Server) scimDeleteUser(w http.ResponseWriter, r *http.Request) {
	_, rev, err := s.svc.SetProvisionedActive(r.Context(), r.PathValue("account"), r.PathValue("id"), false)
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	if rev > 0 {
		w.Header().Set("Steward-Revision", strconv.FormatInt(rev, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeSCIM reads a SCIM body; unknown attributes are ignored, as SCIM
// clients send extensions freely.
func decodeSCIM(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return &steward.Error{Kind: steward.EBADREQUEST, Code: "malformed_json", Message: "The body is not a SCIM JSON document: " + err.Error()}
	}
	return nil
}
