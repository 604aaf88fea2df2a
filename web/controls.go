package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/steward-iam/steward"
)

// The controls of SPEC §6 in the console: the account's policy, access
// requests, access reviews, emergency revocation and webhooks. As
// everywhere, the handlers parse, call the Service, map its errors and
// render; what may be done is the Service's decision, and previews come from
// the write's own code run in dry-run mode (R-PREVIEW-1).

func (s *Server) controlRoutes(mux *http.ServeMux) {
	s.policyRoutes(mux)
	s.requestRoutes(mux)
	s.reviewRoutes(mux)
	s.revocationRoutes(mux)
	s.webhookRoutes(mux)
	s.elevationRoutes(mux)
}

// HoldsAny reports whether the signed-in user holds any of perms in the
// page's account, as the check engine answered them for this request: the
// navigation shows a control only to those who may use it.
func (p *page) HoldsAny(perms ...string) bool {
	if p.Current == nil {
		return false
	}
	for _, k := range perms {
		if steward.Contains(p.Current.Permissions, k) {
			return true
		}
	}
	return false
}

// HoldsAll reports whether the user holds every one of perms in the page's account.
func (p *page) HoldsAll(perms ...string) bool {
	if p.Current == nil {
		return false
	}
	for _, k := range perms {
		if !steward.Contains(p.Current.Permissions, k) {
			return false
		}
	}
	return true
}

// Outsider reports whether the user is in the page's account as an
// outsider (partner, external or delegate), who may ask for more access.
func (p *page) Outsider() bool {
	return p.Current != nil && p.Current.Membership != nil && steward.Outsider(p.Current.Membership.Kind)
}

// hidden answers a page the user may not open exactly like one that does
// not exist: the same 404, whatever the reason (an unknown id, another
// account's, or a permission the user lacks).
func (s *Server) hidden(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	switch steward.ErrorKind(err) {
	case steward.ENOTFOUND, steward.EFORBIDDEN:
		ss.page.Title = "Not found"
		ss.page.Error = &formError{Message: "There is no page at this address."}
		ss.page.Data = nil
		s.show(w, r, http.StatusNotFound, "error", ss.page)
	default:
		s.errorPage(w, r, ss.page, err)
	}
}

// dryRun runs write in dry-run mode (R-PREVIEW-1): the service's own code
// in a transaction it rolls back. It returns what each membership would
// gain and lose, or the error the real write would get.
func dryRun(ctx context.Context, write func(ctx context.Context) error) ([]steward.PermissionChange, error) {
	p, err := dryRunPreview(ctx, write)
	if err != nil {
		return nil, err
	}
	return p.Changes, nil
}

// dryRunPreview is dryRun answering the whole preview, with the partner
// relationships whose end the write would move.
func dryRunPreview(ctx context.Context, write func(ctx context.Context) error) (*steward.Preview, error) {
	p := &steward.Preview{}
	err := write(steward.NewContextWithDryRun(ctx, p))
	if p.Done() {
		return p, nil
	}
	if err == nil {
		err = steward.Errorf(steward.EINTERNAL, "internal", "a dry run answered no preview")
	}
	return nil, err
}

// changeView is one membership's change in a preview, with who it is.
type changeView struct {
	steward.PermissionChange
	Name, Email string
	Kind        steward.MembershipKind
}

// Who names the member of a change.
func (c changeView) Who() string {
	switch {
	case c.Name != "" && c.Email != "":
		return c.Name + " (" + c.Email + ")"
	case c.Email != "":
		return c.Email
	}
	return c.UserID
}

// changeViews names the members of a preview's changes, as the user may read
// them; a member the user cannot read is shown by its id.
func (s *Server) changeViews(ss *session, changes []steward.PermissionChange) []changeView {
	out := make([]changeView, 0, len(changes))
	for _, c := range changes {
		v := changeView{PermissionChange: c}
		if m, err := s.svc.FindMemberView(ss.ctx, c.AccountID, c.UserID); err == nil {
			v.Name, v.Email, v.Kind = m.Name, m.Email, m.Kind
		}
		out = append(out, v)
	}
	return out
}

// memberNames returns a lookup of the account's members' names by user id,
// for lists that show who; a member not found is shown by its id.
type memberNames struct {
	s   *Server
	ss  *session
	acc string
	m   map[string]*steward.MemberView
}

func (s *Server) names(ss *session, accountID string) *memberNames {
	return &memberNames{s: s, ss: ss, acc: accountID, m: map[string]*steward.MemberView{}}
}

// Of names the member userID: name and email, or the id.
func (n *memberNames) Of(userID string) string {
	if userID == "" || userID == "operator" || userID == "scheduler" {
		return userID
	}
	mv, ok := n.m[userID]
	if !ok {
		mv, _ = n.s.svc.FindMemberView(n.ss.ctx, n.acc, userID)
		n.m[userID] = mv
	}
	if mv == nil {
		return userID
	}
	return mv.Name + " (" + mv.Email + ")"
}

// splitList reads a list typed in a text field: entries separated by
// commas, spaces or new lines.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func pathTo(st *steward.Standing, parts ...string) string {
	p := ""
	for _, x := range parts {
		p += "/" + url.PathEscape(x)
	}
	return accountPath(st, p)
}
