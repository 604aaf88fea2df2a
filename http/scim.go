package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	scimfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/steward-iam/steward"
)

// SCIM 2.0 (RFC 7643, RFC 7644) under /scim/v2/{account}/: the account's own
// users as Users and its roles as Groups, served by
// github.com/elimity-com/scim, which parses filters, PATCH operations and
// pages, and answers discovery (/Schemas, /ResourceTypes,
// /ServiceProviderConfig) and SCIM errors. Every call, discovery included,
// needs account.scim.provision in the account (R-RESTRICT-1); the rules are
// the Service's. Errors on these routes are SCIM error bodies, not problem
// documents.

const (
	scimPrefix   = "/scim/v2/"
	scimMimeType = "application/scim+json"
	// scimMaxResults is the largest page; a list without count gets it.
	scimMaxResults = 100
)

func init() {
	// Microsoft Entra ID sends booleans as strings ("False"); the library
	// accepts them only when told to.
	schema.SetAllowStringValues(true)
}

// scimUserSchema is the core User schema cut to the attributes Steward
// keeps: what a client sends beyond them is ignored.
var scimUserSchema = func() schema.Schema {
	s := schema.CoreUserSchema()
	keep := map[string]bool{"userName": true, "name": true, "displayName": true, "emails": true, "active": true, "groups": true}
	var attrs []schema.CoreAttribute
	for _, a := range s.Attributes {
		if keep[a.Name()] {
			attrs = append(attrs, a)
		}
	}
	s.Attributes = attrs
	return s
}()

var scimGroupSchema = schema.CoreGroupSchema()

// scimExternalID is the common attribute externalId, which PATCH may target.
var scimExternalID = schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
	CaseExact: true, Mutability: schema.AttributeMutabilityReadWrite(), Name: "externalId", Uniqueness: schema.AttributeUniquenessNone(),
}))

var scimConfig = scim.ServiceProviderConfig{
	AuthenticationSchemes: []scim.AuthenticationScheme{{
		Type: scim.AuthenticationTypeOauthBearerToken, Name: "Bearer token", Primary: true,
		Description: "A Steward user token (POST /v1/tokens) of a holder of account.scim.provision in the account.",
	}},
	MaxResults:       scimMaxResults,
	SupportFiltering: true,
	SupportPatch:     true,
}

func (s *Server) scimRoutes() {
	s.mux.HandleFunc(scimPrefix+"{account}/{resource...}", s.serveSCIM)
}

// isSCIM reports whether path is a SCIM route, whose errors are SCIM's.
func isSCIM(path string) bool { return strings.HasPrefix(path, scimPrefix) }

// scimState carries, through the library, what a handler learned that the
// answer needs: the revision a write committed, and a failure whose status
// the library does not carry for the method (it answers 500 for them, a
// 503 among them) with its headers (Retry-After).
type scimState struct {
	rev    int64
	failed *scimerrors.ScimError
	header http.Header
}

type scimStateKey struct{}

func scimStateOf(ctx context.Context) *scimState {
	if st, ok := ctx.Value(scimStateKey{}).(*scimState); ok {
		return st
	}
	return &scimState{}
}

// scimWriter adds Steward-Revision to a write's answer, and answers a
// failure the library turned into a 500 as it was.
type scimWriter struct {
	http.ResponseWriter
	st      *scimState
	swallow bool
}

func (w *scimWriter) WriteHeader(code int) {
	if f := w.st.failed; f != nil && code == http.StatusInternalServerError && f.Status != code {
		for k, vs := range w.st.header {
			w.Header()[k] = vs
		}
		w.ResponseWriter.WriteHeader(f.Status)
		json.NewEncoder(w.ResponseWriter).Encode(f)
		w.swallow = true
		return
	}
	if w.st.rev > 0 && code < 300 {
		w.Header().Set("Steward-Revision", strconv.FormatInt(w.st.rev, 10))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *scimWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// serveSCIM answers one SCIM request of an account with the library's
// server, built for the account: its resource handlers act there, and its
// locations start at the account's SCIM base URL.
func (s *Server) serveSCIM(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	if err := s.svc.ProvisioningAllowed(r.Context(), account); err != nil { // R-RESTRICT-1
		s.scimFail(w, r, err)
		return
	}
	base := s.scimBase(r, account)
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scimConfig,
		ResourceTypes: []scim.ResourceType{{
			ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
			Description: optional.NewString("The account's own users (those whose home it is)."),
			Schema:      scimUserSchema, Handler: &scimUsers{s: s, account: account, base: base},
		}, {
			ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
			Description: optional.NewString("The account's roles; a user is in the group of its role."),
			Schema:      scimGroupSchema, Handler: &scimGroups{s: s, account: account, base: base},
		}},
	}, scim.WithBaseURL(base), scim.WithLogger(scimLogger{s: s, ctx: r.Context()}))
	if err != nil {
		s.scimFail(w, r, err)
		return
	}
	st := &scimState{}
	inner := r.WithContext(context.WithValue(r.Context(), scimStateKey{}, st))
	u := *r.URL
	u.Path, u.RawPath = "/"+r.PathValue("resource"), ""
	if q := u.Query(); q.Get("filter") != "" {
		q.Set("filter", valuePathSubAttributes(q.Get("filter")))
		u.RawQuery = q.Encode()
	}
	inner.URL = &u
	srv.ServeHTTP(&scimWriter{ResponseWriter: w, st: st}, inner)
}

// subAttrOfValuePath finds a comparison with a sub-attribute of a value
// path, `emails[type eq "work"].value ew "@example.com"`, which clients send
// and the filter grammar of RFC 7644 §3.4.2.2 lacks.
var subAttrOfValuePath = regexp.MustCompile(`(?i)([a-z][\w$-]*)\[([^\]]*)\]\.([a-z][\w$-]*)\s+(?:(pr)\b|(eq|ne|co|sw|ew|gt|lt|ge|le)\s+("(?:[^"\\]|\\.)*"|true\b|false\b|null\b|-?[0-9][0-9.eE+-]*))`)

// quoted and orWord find an or outside quoted strings.
var (
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	orWord = regexp.MustCompile(`(?i)\bor\b`)
)

// valuePathSubAttributes rewrites each such comparison into the value path
// that means the same, `emails[type eq "work" and value ew "@example.com"]`.
// The parser takes no parentheses inside a value path, so a value filter
// with or is left as it is, which the library then refuses as invalid.
func valuePathSubAttributes(f string) string {
	return subAttrOfValuePath.ReplaceAllStringFunc(f, func(m string) string {
		g := subAttrOfValuePath.FindStringSubmatch(m)
		if orWord.MatchString(quoted.ReplaceAllString(g[2], `""`)) {
			return m
		}
		cmp := g[3] + " " + g[4]
		if g[4] == "" {
			cmp = g[3] + " " + g[5] + " " + g[6]
		}
		return g[1] + "[" + g[2] + " and " + cmp + "]"
	})
}

// scimBase is the account's SCIM base URL: the configured public base URL,
// else the one the request came to.
func (s *Server) scimBase(r *http.Request, account string) string {
	base := strings.TrimRight(s.svc.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + scimPrefix + account
}

type scimLogger struct {
	s   *Server
	ctx context.Context
}

func (l scimLogger) Error(args ...any) {
	l.s.logger.ErrorContext(l.ctx, "scim", "detail", fmt.Sprint(args...))
}

// scimErrorOf turns a Service error into the SCIM error the client sees
// (RFC 7644 §3.12), and logs it once.
func (s *Server) scimErrorOf(r *http.Request, err error) scimerrors.ScimError {
	var se scimerrors.ScimError
	if errors.As(err, &se) {
		return se
	}
	p := problemOf(err)
	s.logProblem(r.Context(), r.Method, r.URL.Path, "", p)
	out := scimerrors.ScimError{Status: p.Status, Detail: scimDetail(p)}
	switch {
	case p.kind == steward.ECONFLICT && (strings.HasSuffix(p.Code, "_taken") || p.Code == "duplicate" || p.Code == "domain_claimed"):
		out.ScimType = scimerrors.ScimTypeUniqueness
	case p.Code == "builtin_role":
		out.Status, out.ScimType = http.StatusBadRequest, scimerrors.ScimTypeMutability
	case p.kind == steward.EINVALID:
		// SCIM answers invalid values with 400 (RFC 7644 §3.12).
		out.Status, out.ScimType = http.StatusBadRequest, scimerrors.ScimTypeInvalidValue
	case p.kind == steward.EBADREQUEST:
		out.ScimType = scimerrors.ScimTypeInvalidSyntax
	}
	st := scimStateOf(r.Context())
	st.failed, st.header = &out, p.header
	return out
}

// scimDetail is a problem's detail with its fields and its stable code,
// which SCIM's error body has no member for: "… (code: last_super_admin)".
func scimDetail(p *Problem) string {
	d := p.Detail
	for _, f := range p.Errors {
		d += fmt.Sprintf(" %s: %s.", f.Field, f.Message)
	}
	return d + " (code: " + p.Code + ")"
}

// scimFail answers an error outside the library (before it runs) as a SCIM
// error body.
func (s *Server) scimFail(w http.ResponseWriter, r *http.Request, err error) {
	se := s.scimErrorOf(r, err)
	for k, vs := range problemOf(err).header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", scimMimeType)
	w.Header().Del("Content-Length")
	w.WriteHeader(se.Status)
	json.NewEncoder(w).Encode(se)
}

// writeSCIMProblem answers a problem the middleware raised on a SCIM route.
func (s *Server) writeSCIMProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	s.logProblem(r.Context(), r.Method, r.URL.Path, "", p)
	for k, vs := range p.header {
		w.Header()[k] = vs
	}
	se := scimerrors.ScimError{Status: p.Status, Detail: scimDetail(p)}
	if p.kind == steward.EBADREQUEST {
		se.ScimType = scimerrors.ScimTypeInvalidSyntax
	}
	w.Header().Set("Content-Type", scimMimeType)
	w.Header().Del("Content-Length")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(se)
}

// ---- Users ----

type scimUsers struct {
	s       *Server
	account string
	base    string
}

func (h *scimUsers) fail(r *http.Request, err error) error { return h.s.scimErrorOf(r, err) }

// attributes is the user as a SCIM resource's attributes (without id,
// externalId and meta), with lists as []any so that filters and PATCH work
// on them as on a decoded request.
func (h *scimUsers) attributes(u *steward.ProvisionedUser) scim.ResourceAttributes {
	a := scim.ResourceAttributes{
		"userName":    u.UserName(),
		"displayName": u.Name,
		"active":      u.Status == steward.UserActive,
		"groups": []any{map[string]any{
			"value": u.Role, "$ref": h.base + "/Groups/" + u.Role, "type": "direct",
		}},
	}
	emails := []any{}
	if u.Profile == nil {
		emails = append(emails, map[string]any{"value": u.Email, "type": "work", "primary": true})
	} else {
		name := map[string]any{}
		if u.Profile.GivenName != "" {
			name["givenName"] = u.Profile.GivenName
		}
		if u.Profile.FamilyName != "" {
			name["familyName"] = u.Profile.FamilyName
		}
		if len(name) > 0 {
			a["name"] = name
		}
		for _, e := range u.Profile.Emails {
			m := map[string]any{"value": e.Value}
			if e.Type != "" {
				m["type"] = e.Type
			}
			if e.Primary {
				m["primary"] = true
			}
			emails = append(emails, m)
		}
	}
	if len(emails) > 0 {
		a["emails"] = emails
	}
	return a
}

func (h *scimUsers) resource(u *steward.ProvisionedUser) scim.Resource {
	res := scim.Resource{ID: u.ID, Attributes: h.attributes(u)}
	created, modified := u.CreatedAt, u.UpdatedAt
	if u.Profile != nil {
		if u.Profile.ExternalID != "" {
			res.ExternalID = optional.NewString(u.Profile.ExternalID)
		}
		if u.Profile.UpdatedAt.After(modified) {
			modified = u.Profile.UpdatedAt
		}
	}
	res.Meta = scim.Meta{Created: &created, LastModified: &modified}
	return res
}

// userInput reads a User's attributes, as the library validated them or as
// a PATCH left them.
func userInput(a map[string]any) steward.SCIMUserInput {
	in := steward.SCIMUserInput{Active: true}
	in.UserName, _ = a["userName"].(string)
	in.ExternalID, _ = a["externalId"].(string)
	in.DisplayName, _ = a["displayName"].(string)
	if n, ok := a["name"].(map[string]any); ok {
		in.GivenName, _ = n["givenName"].(string)
		in.FamilyName, _ = n["familyName"].(string)
		in.Formatted, _ = n["formatted"].(string)
	}
	if v, ok := a["active"].(bool); ok {
		in.Active = v
	}
	if list, ok := a["emails"].([]any); ok {
		for _, e := range list {
			m, _ := e.(map[string]any)
			value, _ := m["value"].(string)
			if value == "" {
				continue
			}
			typ, _ := m["type"].(string)
			primary, _ := m["primary"].(bool)
			in.Emails = append(in.Emails, steward.SCIMEmail{Value: value, Type: typ, Primary: primary})
		}
	}
	return in
}

// Create provisions a user; the library validated attrs against the User
// schema (externalId among them).
func (h *scimUsers) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	u, rev, err := h.s.svc.ProvisionUser(r.Context(), h.account, userInput(attrs))
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return h.resource(u), nil
}

func (h *scimUsers) Get(r *http.Request, id string) (scim.Resource, error) {
	u, err := h.s.svc.ProvisionedUser(r.Context(), h.account, id)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	return h.resource(u), nil
}

// GetAll filters and pages the account's users. Without a filter the
// store pages; a filter that pins
// userName or externalId with eq is first narrowed in the store; the
// library's filter then decides on every user.
func (h *scimUsers) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	if params.FilterValidator == nil {
		// Without a filter the store pages and counts.
		users, total, err := h.s.svc.ProvisionedUserPage(r.Context(), h.account, max(params.StartIndex-1, 0), params.Count)
		if err != nil {
			return scim.Page{}, h.fail(r, err)
		}
		page := scim.Page{TotalResults: total, Resources: make([]scim.Resource, len(users))}
		for i, u := range users {
			page.Resources[i] = h.resource(u)
		}
		return page, nil
	}
	var f steward.ProvisionedUserFilter
	if params.FilterValidator != nil {
		narrow(params.FilterValidator.GetFilter(), &f)
	}
	users, err := h.s.svc.ProvisionedUsers(r.Context(), h.account, f)
	if err != nil {
		return scim.Page{}, h.fail(r, err)
	}
	var matched []scim.Resource
	passes := matcher(params.FilterValidator, scimUserSchema)
	for _, u := range users {
		res := h.resource(u)
		ok, err := passes(res)
		if err != nil {
			return scim.Page{}, err
		}
		if ok {
			matched = append(matched, res)
		}
	}
	return pageOf(matched, params), nil
}

// matcher returns the test of a list request's filter (nil: everything
// passes). Comparisons with a multi-valued complex attribute compare its
// values' sub-attribute, its value one when none is named, as RFC 7644
// §3.4.2.2 does in `emails co "example.com"` and Entra in `members eq "…"`:
// they become value paths (`emails[value co "example.com"]`), which the
// library evaluates. A comparison the library cannot make is an invalid
// filter, never a crash.
func matcher(v *scimfilter.Validator, sc schema.Schema) func(scim.Resource) (bool, error) {
	if v == nil {
		return func(scim.Resource) (bool, error) { return true, nil }
	}
	withCommon := sc
	withCommon.Attributes = append(append(schema.Attributes{}, sc.Attributes...), schema.CommonAttributes()...)
	f := scimfilter.NewFilterValidator(valuePaths(v.GetFilter(), sc), withCommon)
	return func(res scim.Resource) (ok bool, err error) {
		defer func() {
			if recover() != nil {
				ok, err = false, scimerrors.ScimErrorInvalidFilter
			}
		}()
		return f.PassesFilter(filterable(res)) == nil, nil
	}
}

// valuePaths rewrites comparisons with multi-valued complex attributes
// into value paths; see matcher.
func valuePaths(e filter.Expression, sc schema.Schema) filter.Expression {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		a, ok := sc.Attributes.ContainsAttribute(e.AttributePath.AttributeName)
		if !ok || !a.MultiValued() || a.AttributeType() != "complex" {
			return e
		}
		sub := e.AttributePath.SubAttributeName()
		if sub == "" {
			sub = "value"
		}
		return &filter.ValuePath{
			AttributePath: filter.AttributePath{URIPrefix: e.AttributePath.URIPrefix, AttributeName: e.AttributePath.AttributeName},
			ValueFilter:   &filter.AttributeExpression{AttributePath: filter.AttributePath{AttributeName: sub}, Operator: e.Operator, CompareValue: e.CompareValue},
		}
	case *filter.LogicalExpression:
		return &filter.LogicalExpression{Left: valuePaths(e.Left, sc), Right: valuePaths(e.Right, sc), Operator: e.Operator}
	case *filter.NotExpression:
		return &filter.NotExpression{Expression: valuePaths(e.Expression, sc)}
	}
	return e
}

// narrow reads from a filter the eq conditions on userName and externalId
// that every match must meet.
func narrow(e filter.Expression, f *steward.ProvisionedUserFilter) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if !ok || e.Operator != filter.EQ || e.AttributePath.SubAttributeName() != "" || v == "" {
			return
		}
		switch {
		case strings.EqualFold(e.AttributePath.AttributeName, "userName"):
			f.UserName = v
		case strings.EqualFold(e.AttributePath.AttributeName, "externalId"):
			f.ExternalID = v
		}
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			narrow(e.Left, f)
			narrow(e.Right, f)
		}
	}
}

// filterable is a resource as filters see it: its attributes with id,
// externalId and meta.
func filterable(res scim.Resource) map[string]any {
	m := make(map[string]any, len(res.Attributes)+3)
	for k, v := range res.Attributes {
		m[k] = v
	}
	m["id"] = res.ID
	if res.ExternalID.Present() {
		m["externalId"] = res.ExternalID.Value()
	}
	meta := map[string]any{}
	if res.Meta.Created != nil {
		meta["created"] = res.Meta.Created.Format(time.RFC3339)
	}
	if res.Meta.LastModified != nil {
		meta["lastModified"] = res.Meta.LastModified.Format(time.RFC3339)
	}
	m["meta"] = meta
	return m
}

// pageOf cuts the page RFC 7644 §3.4.2.4 asks for out of every match, and
// counts them all in totalResults.
func pageOf(all []scim.Resource, params scim.ListRequestParams) scim.Page {
	start := min(max(params.StartIndex-1, 0), len(all))
	end := min(start+max(params.Count, 0), len(all))
	out := make([]scim.Resource, 0, end-start)
	out = append(out, all[start:end]...)
	return scim.Page{TotalResults: len(all), Resources: out}
}

func (h *scimUsers) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	return h.replace(r, id, userInput(attrs))
}

func (h *scimUsers) replace(r *http.Request, id string, in steward.SCIMUserInput) (scim.Resource, error) {
	u, rev, err := h.s.svc.ReplaceProvisionedUser(r.Context(), h.account, id, in)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return h.resource(u), nil
}

// Patch applies the operations to the user's current state and asks the
// Service for the result, as a PUT of it would.
func (h *scimUsers) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	u, err := h.s.svc.ProvisionedUser(r.Context(), h.account, id)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	cur := filterable(h.resource(u))
	if err := applyPatch(cur, scimUserSchema, ops); err != nil {
		return scim.Resource{}, err
	}
	return h.replace(r, id, userInput(cur))
}

// Delete deactivates the user in its home account.
func (h *scimUsers) Delete(r *http.Request, id string) error {
	rev, err := h.s.svc.DeprovisionUser(r.Context(), h.account, id)
	if err != nil {
		return h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return nil
}

// ---- Groups ----

type scimGroups struct {
	s       *Server
	account string
	base    string
}

func (h *scimGroups) fail(r *http.Request, err error) error { return h.s.scimErrorOf(r, err) }

func (h *scimGroups) resource(g *steward.ProvisionedGroup) scim.Resource {
	members := make([]any, len(g.Members))
	for i, id := range g.Members {
		members[i] = map[string]any{"value": id, "$ref": h.base + "/Users/" + id, "type": "User"}
	}
	res := scim.Resource{ID: g.Role.ID, Attributes: scim.ResourceAttributes{"displayName": g.Role.Name, "members": members}}
	if g.ExternalID != "" {
		res.ExternalID = optional.NewString(g.ExternalID)
	}
	if !g.Role.CreatedAt.IsZero() {
		created, modified := g.Role.CreatedAt, g.Role.UpdatedAt
		res.Meta = scim.Meta{Created: &created, LastModified: &modified}
	}
	return res
}

// shown drops members when the request excludes them (Entra asks so).
func shown(r *http.Request, res scim.Resource) scim.Resource {
	for _, a := range strings.Split(r.URL.Query().Get("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(a), "members") {
			delete(res.Attributes, "members")
		}
	}
	return res
}

// memberIDs reads the user ids of a members list.
func memberIDs(v any) []string {
	list, _ := v.([]any)
	var ids []string
	for _, m := range list {
		if m, ok := m.(map[string]any); ok {
			if id, _ := m["value"].(string); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (h *scimGroups) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	in := steward.SCIMGroupInput{Members: memberIDs(attrs["members"])}
	in.DisplayName, _ = attrs["displayName"].(string)
	in.ExternalID, _ = attrs["externalId"].(string)
	g, rev, err := h.s.svc.CreateProvisionedGroup(r.Context(), h.account, in)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return h.resource(g), nil
}

func (h *scimGroups) Get(r *http.Request, id string) (scim.Resource, error) {
	g, err := h.s.svc.ProvisionedGroup(r.Context(), h.account, id)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	return shown(r, h.resource(g)), nil
}

func (h *scimGroups) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	groups, err := h.s.svc.ProvisionedGroups(r.Context(), h.account)
	if err != nil {
		return scim.Page{}, h.fail(r, err)
	}
	var matched []scim.Resource
	passes := matcher(params.FilterValidator, scimGroupSchema)
	for _, g := range groups {
		res := h.resource(g)
		ok, err := passes(res)
		if err != nil {
			return scim.Page{}, err
		}
		if ok {
			matched = append(matched, shown(r, res))
		}
	}
	return pageOf(matched, params), nil
}

// groupChange is what turns group g into the group attrs describe: its
// name, its externalId, and the members to add and remove. named are the
// members the request itself names to add (every member of a PUT, the
// values of a PATCH's add or replace) and to remove: naming one that is
// already where it is asked to be changes nothing but still needs what the
// change would need (a no-op write is checked like a write).
func groupChange(g *steward.ProvisionedGroup, attrs map[string]any, namedAdd, namedRemove []string) steward.SCIMGroupChange {
	var ch steward.SCIMGroupChange
	if name, ok := attrs["displayName"].(string); ok {
		ch.DisplayName = &name
	}
	ext, _ := attrs["externalId"].(string)
	ch.ExternalID = &ext
	want := memberIDs(attrs["members"])
	had, keep, added := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, id := range g.Members {
		had[id] = true
	}
	for _, id := range want {
		keep[id] = true
	}
	for _, id := range append(want, namedAdd...) {
		if keep[id] && !added[id] && (!had[id] || slices.Contains(namedAdd, id)) {
			ch.Add = append(ch.Add, id)
			added[id] = true
		}
	}
	removed := map[string]bool{}
	for _, id := range append(append([]string{}, g.Members...), namedRemove...) {
		if !keep[id] && !removed[id] {
			ch.Remove = append(ch.Remove, id)
			removed[id] = true
		}
	}
	return ch
}

// namedMembers returns the member ids a PATCH names to add or replace and
// to remove, for groupChange.
func namedMembers(ops []scim.PatchOperation) (add, remove []string) {
	for _, op := range ops {
		var v any
		var p *filter.Path
		switch {
		case op.Path == nil:
			m, _ := op.Value.(map[string]any)
			for k, x := range m {
				if strings.EqualFold(k, "members") {
					v = x
				}
			}
		case strings.EqualFold(op.Path.AttributePath.AttributeName, "members"):
			v, p = op.Value, op.Path
		}
		ids := memberIDs(asList(v))
		if p != nil && p.ValueExpression != nil {
			if id, ok := eqValues(p.ValueExpression)["value"].(string); ok {
				ids = append(ids, id)
			}
		}
		if op.Op == scim.PatchOperationRemove {
			remove = append(remove, ids...)
		} else {
			add = append(add, ids...)
		}
	}
	return add, remove
}

func (h *scimGroups) update(r *http.Request, id string, ch steward.SCIMGroupChange) (scim.Resource, error) {
	g, rev, err := h.s.svc.UpdateProvisionedGroup(r.Context(), h.account, id, ch)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return shown(r, h.resource(g)), nil
}

func (h *scimGroups) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	g, err := h.s.svc.ProvisionedGroup(r.Context(), h.account, id)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	return h.update(r, id, groupChange(g, attrs, memberIDs(attrs["members"]), nil))
}

// Patch applies the operations to the group's current state; the
// difference in members becomes members added and removed.
func (h *scimGroups) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	g, err := h.s.svc.ProvisionedGroup(r.Context(), h.account, id)
	if err != nil {
		return scim.Resource{}, h.fail(r, err)
	}
	cur := filterable(h.resource(g))
	if err := applyPatch(cur, scimGroupSchema, ops); err != nil {
		return scim.Resource{}, err
	}
	add, remove := namedMembers(ops)
	return h.update(r, id, groupChange(g, cur, add, remove))
}

func (h *scimGroups) Delete(r *http.Request, id string) error {
	rev, err := h.s.svc.DeleteProvisionedGroup(r.Context(), h.account, id)
	if err != nil {
		return h.fail(r, err)
	}
	scimStateOf(r.Context()).rev = rev
	return nil
}
