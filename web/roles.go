package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/steward-iam/steward"
)

func (s *Server) roleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/roles", s.inAccount(s.rolesPage))
	mux.HandleFunc("GET /accounts/{account}/roles/new", s.inAccount(s.newRolePage))
	mux.HandleFunc("POST /accounts/{account}/roles", s.inAccount(s.createRole))
	mux.HandleFunc("GET /accounts/{account}/roles/{role}", s.inAccount(s.rolePage))
	mux.HandleFunc("POST /accounts/{account}/roles/{role}", s.inAccount(s.updateRole))
	mux.HandleFunc("GET /accounts/{account}/roles/{role}/delete", s.inAccount(s.confirmDeleteRole))
	mux.HandleFunc("POST /accounts/{account}/roles/{role}/delete", s.inAccount(s.deleteRole))
	mux.HandleFunc("GET /accounts/{account}/roles/{role}/members", s.inAccount(s.roleMembersPage))
	mux.HandleFunc("GET /accounts/{account}/invitations/{invitation}/revoke", s.inAccount(s.confirmRevoke))
	mux.HandleFunc("POST /accounts/{account}/invitations/{invitation}/revoke", s.inAccount(s.revokeInvitation))
	mux.HandleFunc("GET /accounts/{account}/roles/{role}/invite", s.inAccount(s.invitePage))
	mux.HandleFunc("POST /accounts/{account}/roles/{role}/invite", s.inAccount(s.invite))
}

type rolesData struct {
	Roles []*steward.Role
	Pager pager
}

func (s *Server) rolesPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	page := pageFrom(r)
	roles, next, err := s.svc.FindRoles(ss.ctx, st.Account.ID, page)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	ss.page.Title = "Roles"
	ss.page.Data = rolesData{Roles: roles, Pager: pager{Base: accountPath(st, "/roles"), After: page.After, Next: next}}
	s.show(w, r, http.StatusOK, "roles", ss.page)
}

// roleForm is the role editor: the permissions grouped by area, each marked
// checked (in the role), system, and held (by the editor). The editor can
// change only what it holds; the Service refuses the rest if posted anyway.
type roleForm struct {
	Role    *steward.Role // nil for a new role
	Name    string
	Checked map[string]bool
	Held    map[string]bool
	Groups  []permissionGroup
}

func (s *Server) showRoleForm(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, f roleForm) {
	f.Groups = s.permissionGroups()
	f.Held = map[string]bool{}
	for _, p := range st.Permissions {
		f.Held[p] = true
	}
	ss.page.Data = f
	if f.Role == nil {
		ss.page.Title = "New role"
	} else {
		ss.page.Title = "Role " + f.Role.Name
	}
	s.show(w, r, status, "role", ss.page)
}

func (s *Server) newRolePage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showRoleForm(w, r, ss, st, http.StatusOK, roleForm{Checked: map[string]bool{}})
}

func postedRole(r *http.Request) (string, []string, map[string]bool) {
	r.ParseForm()
	perms := steward.NewSet(r.PostForm["permissions"]...)
	checked := map[string]bool{}
	for _, p := range perms {
		checked[p] = true
	}
	return r.PostFormValue("name"), perms, checked
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	name, perms, checked := postedRole(r)
	role, _, err := s.svc.CreateRole(ss.ctx, st.Account.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	if err != nil {
		ss.page.Error = s.toFormError(r, err)
		s.showRoleForm(w, r, ss, st, statusOf(err), roleForm{Name: name, Checked: checked})
		return
	}
	s.redirect(w, r, accountPath(st, "/roles/"+url.PathEscape(role.ID)), "The role "+role.Name+" was created.")
}

func (s *Server) rolePage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	checked := map[string]bool{}
	for _, p := range role.Permissions {
		checked[p] = true
	}
	s.showRoleForm(w, r, ss, st, http.StatusOK, roleForm{Role: role, Name: role.Name, Checked: checked})
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	name, perms, checked := postedRole(r)
	if _, _, err := s.svc.UpdateRole(ss.ctx, st.Account.ID, role.ID, steward.RoleInput{Name: &name, Permissions: &perms}); err != nil {
		ss.page.Error = s.toFormError(r, err)
		s.showRoleForm(w, r, ss, st, statusOf(err), roleForm{Role: role, Name: name, Checked: checked})
		return
	}
	s.redirect(w, r, accountPath(st, "/roles/"+url.PathEscape(role.ID)), "The role was saved; its members have its new permissions.")
}

func (s *Server) confirmDeleteRole(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	base := accountPath(st, "/roles/"+url.PathEscape(role.ID))
	ss.page.Title = "Delete the role " + role.Name + "?"
	ss.page.Data = confirmData{Message: "The role " + role.Name + " will be deleted. A role that still has members cannot be deleted.",
		Action: base + "/delete", Button: "Delete " + role.Name, Back: base}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	id := r.PathValue("role")
	if _, err := s.svc.DeleteRole(ss.ctx, st.Account.ID, id); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.errorPage(w, r, ss.page, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.rolePageWithStatus(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/roles"), "The role was deleted.")
}

func (s *Server) rolePageWithStatus(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	checked := map[string]bool{}
	for _, p := range role.Permissions {
		checked[p] = true
	}
	s.showRoleForm(w, r, ss, st, status, roleForm{Role: role, Name: role.Name, Checked: checked})
}

type roleMembersData struct {
	Role        *steward.Role
	Members     []*steward.MemberView
	Invitations []*steward.Invitation
	Pager       pager
}

// roleMembersPage lists a role's internal, external and delegate members,
// and its pending invitations (R-EXT-5).
func (s *Server) roleMembersPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	page := pageFrom(r)
	ms, next, err := s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: st.Account.ID, Role: role.ID, Page: page})
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := roleMembersData{Role: role, Members: ms, Pager: pager{Base: accountPath(st, "/roles/"+url.PathEscape(role.ID)+"/members"), After: page.After, Next: next}}
	if page.After == "" {
		invs, _, err := s.svc.FindRoleInvitations(ss.ctx, st.Account.ID, role.ID, steward.Page{Limit: steward.MaxPageLimit})
		switch {
		case err == nil:
			for _, inv := range invs {
				if inv.Status == steward.InvitationPending {
					d.Invitations = append(d.Invitations, inv)
				}
			}
		case steward.ErrorKind(err) != steward.EFORBIDDEN: // who may not see invitations sees the members only
			s.errorPage(w, r, ss.page, err)
			return
		}
	}
	ss.page.Title = "Members of " + role.Name
	ss.page.Data = d
	s.show(w, r, http.StatusOK, "rolemembers", ss.page)
}

// confirmRevoke asks before revoking an invitation: its link stops working.
func (s *Server) confirmRevoke(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	back := safeNext(r.URL.Query().Get("back"))
	ss.page.Title = "Revoke the invitation?"
	ss.page.Data = confirmData{Message: "The invitation's link stops working at once; the invitee can be invited again later.",
		Action: accountPath(st, "/invitations/"+url.PathEscape(r.PathValue("invitation"))+"/revoke?back="+url.QueryEscape(back)),
		Button: "Revoke invitation", Back: back}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	back := safeNext(r.URL.Query().Get("back"))
	if _, err := s.svc.RevokeInvitation(ss.ctx, st.Account.ID, r.PathValue("invitation")); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	s.redirect(w, r, back, "The invitation was revoked.")
}

type inviteData struct {
	Role    *steward.Role
	Consent steward.ConsentAgreement
	Perms   []permissionView
	Form    struct {
		Emails, EndsAt, DelegatesEndAt string
		Agreed, AllowRedelegation      bool
	}
}

// invitePage is the invite-external-users flow: the consent agreement first
// (R-EXT-2), then the addresses and options (R-EXT-3, R-EXT-4).
func (s *Server) invitePage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showInvite(w, r, ss, st, http.StatusOK, nil)
}

func (s *Server) showInvite(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form url.Values) {
	role, err := s.svc.FindRole(ss.ctx, st.Account.ID, r.PathValue("role"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := inviteData{Role: role, Consent: s.svc.Consent(), Perms: s.permissionViews(role.Permissions)}
	if form != nil {
		d.Form.Emails, d.Form.EndsAt, d.Form.DelegatesEndAt = form.Get("emails"), form.Get("ends_at"), form.Get("delegates_end_at")
		d.Form.Agreed, d.Form.AllowRedelegation = form.Get("consent") == "on", form.Get("allow_redelegation") == "on"
	}
	ss.page.Title = "Invite external users as " + role.Name
	ss.page.Data = d
	s.show(w, r, status, "invite", ss.page)
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	roleID := r.PathValue("role")
	in := steward.NewInvitations{
		Emails:            steward.EmailList{r.PostFormValue("emails")},
		Consent:           steward.ConsentInput{Accepted: r.PostFormValue("consent") == "on", Version: r.PostFormValue("consent_version")},
		AllowRedelegation: r.PostFormValue("allow_redelegation") == "on",
	}
	fail := func(err error) {
		ss.page.Error = s.toFormError(r, err)
		s.showInvite(w, r, ss, st, statusOf(err), r.PostForm)
	}
	var ferr *steward.Error
	if in.EndsAt, ferr = parseEndDate("ends_at", r.PostFormValue("ends_at")); ferr != nil {
		fail(ferr)
		return
	}
	if in.DelegatesEndAt, ferr = parseEndDate("delegates_end_at", r.PostFormValue("delegates_end_at")); ferr != nil {
		fail(ferr)
		return
	}
	invs, _, err := s.svc.Invite(ss.ctx, st.Account.ID, roleID, in)
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.errorPage(w, r, ss.page, err)
			return
		}
		fail(err)
		return
	}
	emails := make([]string, len(invs))
	for i, inv := range invs {
		emails[i] = inv.Email
	}
	s.redirect(w, r, accountPath(st, "/roles/"+url.PathEscape(roleID)+"/members"), "Invited by email: "+strings.Join(emails, ", ")+".")
}
