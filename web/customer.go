package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// The customer side: users, roles and their members, external users,
// partners and the activity log of one account. Every handler parses the
// form, calls the Service, and renders; the Service decides.

// inAccount wraps a page of one account the user can act in; any other
// account is a 404, the same as an unknown one.
func (s *Server) inAccount(h func(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, ss *session) {
		if st := s.current(w, r, ss); st != nil {
			h(w, r, ss, st)
		}
	})
}

func (s *Server) customerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/users", s.inAccount(s.usersPage))
	mux.HandleFunc("POST /accounts/{account}/users", s.inAccount(s.addUser))
	mux.HandleFunc("GET /accounts/{account}/users/{user}", s.inAccount(s.memberPage))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/role", s.inAccount(s.changeRole))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/deactivate", s.inAccount(s.deactivateMember))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/reactivate", s.inAccount(s.reactivateMember))
	mux.HandleFunc("GET /accounts/{account}/users/{user}/remove", s.inAccount(s.confirmRemoveMember))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/remove", s.inAccount(s.removeMember))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/external", s.inAccount(s.updateExternal))
}

// page lists of at most this many rows.
const pageSize = 25

func pageFrom(r *http.Request) steward.Page {
	return steward.Page{After: r.URL.Query().Get("after"), Limit: pageSize}
}

// pager is what a list template needs for its Next and First links.
type pager struct {
	Base  string // the list's path with its filters, without after
	After string
	Next  string
}

func (p pager) NextURL() string  { return withParam(p.Base, "after", p.Next) }
func (p pager) FirstURL() string { return p.Base }

func withParam(base, k, v string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

func accountPath(st *steward.Standing, rest string) string {
	return "/accounts/" + url.PathEscape(st.Account.ID) + rest
}

// roleOptions lists the roles of the account for a select.
func (s *Server) roleOptions(ss *session, accountID string) ([]*steward.Role, error) {
	var out []*steward.Role
	page := steward.Page{Limit: steward.MaxPageLimit}
	for {
		rs, next, err := s.svc.FindRoles(ss.ctx, accountID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

type usersData struct {
	Members []*steward.MemberView
	Roles   []*steward.Role
	Pager   pager
	// Form holds what the add-user form sent, to show it again on error.
	Form struct{ Name, Email, Role string }
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showUsers(w, r, ss, st, http.StatusOK, nil)
}

func (s *Server) showUsers(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form *url.Values) {
	page := pageFrom(r)
	ms, next, err := s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: st.Account.ID, Page: page})
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	roles, err := s.roleOptions(ss, st.Account.ID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := usersData{Members: ms, Roles: roles, Pager: pager{Base: accountPath(st, "/users"), After: page.After, Next: next}}
	if form != nil {
		d.Form.Name, d.Form.Email, d.Form.Role = form.Get("name"), form.Get("email"), form.Get("role")
	}
	ss.page.Title = "Users"
	ss.page.Data = d
	s.show(w, r, status, "users", ss.page)
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	in := steward.NewMember{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Role: r.PostFormValue("role")}
	m, _, err := s.svc.AddMember(ss.ctx, st.Account.ID, in)
	if err != nil {
		ss.page.Error = s.toFormError(r, err)
		s.showUsers(w, r, ss, st, statusOf(err), &r.PostForm)
		return
	}
	s.redirect(w, r, accountPath(st, "/users/"+url.PathEscape(m.UserID)), in.Email+" was added.")
}

type memberData struct {
	Member *steward.MemberView
	Roles  []*steward.Role
	Perms  []permissionView
}

func (s *Server) memberPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showMember(w, r, ss, st, http.StatusOK)
}

func (s *Server) showMember(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	m, err := s.svc.FindMemberView(ss.ctx, st.Account.ID, r.PathValue("user"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	roles, err := s.roleOptions(ss, st.Account.ID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	ss.page.Title = m.Name
	ss.page.Data = memberData{Member: m, Roles: roles, Perms: s.permissionViews(m.Permissions)}
	s.show(w, r, status, "member", ss.page)
}

// memberAction runs a change to one member and comes back to the member's
// page: with a flash on success, with the refusal as a message otherwise
// (the last super admin's, say).
func (s *Server) memberAction(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, done string, fn func(userID string) error) {
	userID := r.PathValue("user")
	if err := fn(userID); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.errorPage(w, r, ss.page, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showMember(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/users/"+url.PathEscape(userID)), done)
}

func (s *Server) changeRole(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.memberAction(w, r, ss, st, "The role was changed.", func(userID string) error {
		_, _, err := s.svc.ChangeMemberRole(ss.ctx, st.Account.ID, userID, r.PostFormValue("role"))
		return err
	})
}

func (s *Server) deactivateMember(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.memberAction(w, r, ss, st, "The user was deactivated.", func(userID string) error {
		_, _, err := s.svc.DeactivateMember(ss.ctx, st.Account.ID, userID)
		return err
	})
}

func (s *Server) reactivateMember(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.memberAction(w, r, ss, st, "The user was reactivated.", func(userID string) error {
		_, _, err := s.svc.ReactivateMember(ss.ctx, st.Account.ID, userID)
		return err
	})
}

// confirmData is a confirmation page: what will happen, and the form that does it.
type confirmData struct {
	Message string
	Action  string
	Button  string
	Back    string
}

func (s *Server) confirmRemoveMember(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	m, err := s.svc.FindMemberView(ss.ctx, st.Account.ID, r.PathValue("user"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	ss.page.Title = "Remove " + m.Name + "?"
	ss.page.Data = confirmData{
		Message: m.Name + " (" + m.Email + ") will lose every access to " + st.Account.Name + ", with any delegates. The audit log keeps the record.",
		Action:  accountPath(st, "/users/"+url.PathEscape(m.UserID)+"/remove"), Button: "Remove " + m.Name,
		Back: accountPath(st, "/users/"+url.PathEscape(m.UserID)),
	}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	userID := r.PathValue("user")
	if _, err := s.svc.RemoveMember(ss.ctx, st.Account.ID, userID); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.errorPage(w, r, ss.page, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showMember(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/users"), "The user was removed.")
}

// parseEndDate reads a date input (YYYY-MM-DD) as the end of that day, UTC.
// Empty is nil; a bad date is a field error.
func parseEndDate(field, v string) (*time.Time, *steward.Error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	d, err := time.Parse("2006-01-02", v)
	if err != nil {
		return nil, steward.Invalid("invalid_date", "A date is not valid.", steward.FieldError{Field: field, Message: "must be a date such as 2026-12-31"})
	}
	end := d.AddDate(0, 0, 1).UTC()
	return &end, nil
}

// updateExternal edits an external user's options (R-EXT-8).
func (s *Server) updateExternal(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.memberAction(w, r, ss, st, "The external user's options were saved.", func(userID string) error {
		redelegate, auto := r.PostFormValue("allow_redelegation") == "on", r.PostFormValue("auto_extend") == "on"
		upd := steward.ExternalUpdate{AllowRedelegation: &redelegate, AutoExtend: &auto} // R-LIFE-1
		ends, ferr := parseEndDate("ends_at", r.PostFormValue("ends_at"))
		if ferr != nil {
			return ferr
		}
		dends, ferr := parseEndDate("delegates_end_at", r.PostFormValue("delegates_end_at"))
		if ferr != nil {
			return ferr
		}
		upd.EndsAt, upd.ClearEndsAt = ends, ends == nil
		upd.DelegatesEndAt, upd.ClearDelegatesEndAt = dends, dends == nil
		_, _, err := s.svc.UpdateExternalUser(ss.ctx, st.Account.ID, userID, upd)
		return err
	})
}

// dateValue formats an end date for a date input: the day it ends in.
func dateValue(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Add(-time.Nanosecond).Format("2006-01-02")
}

// permissionGroup is the permissions of one area (the key's first part).
type permissionGroup struct {
	Area  string
	Perms []permissionView
}

var areaNames = map[string]string{"account": "Account administration", "partner": "Partner console", "crm": "CRM", "tickets": "Tickets",
	"marketing": "Marketing", "workflows": "Workflows", "reports": "Reports", "meetings": "Meetings", "settings": "Settings"}

func (s *Server) permissionGroups() []permissionGroup {
	var out []permissionGroup
	for _, p := range s.svc.Catalogue.Permissions() {
		area, _, _ := strings.Cut(p.Key, ".")
		name := areaNames[area]
		if name == "" {
			name = strings.ToUpper(area[:1]) + area[1:]
		}
		if len(out) == 0 || out[len(out)-1].Area != name {
			i := slices.IndexFunc(out, func(g permissionGroup) bool { return g.Area == name })
			if i < 0 {
				out = append(out, permissionGroup{Area: name})
			} else {
				out = append(out, out[i])
				out = slices.Delete(out, i, i+1)
			}
		}
		out[len(out)-1].Perms = append(out[len(out)-1].Perms, permissionView{Key: p.Key, Description: p.Description, System: p.System})
	}
	return out
}

func roleName(roles []*steward.Role, id string) string {
	for _, r := range roles {
		if r.ID == id {
			return r.Name
		}
	}
	return id
}

// RoleName names a role of the account.
func (d usersData) RoleName(id string) string { return roleName(d.Roles, id) }

// RoleName names a role of the account.
func (d memberData) RoleName(id string) string { return roleName(d.Roles, id) }
