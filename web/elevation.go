package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// Just-in-time elevation (SPEC §6, R-ELEVATE-1..2). The account's admins
// make members eligible for a role and approve activations at
// /eligibilities; a member activates its own eligibilities, and ends its
// elevations, at /elevation. Who may do what is the Service's decision.

func (s *Server) elevationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/eligibilities", s.inAccount(s.eligibilitiesPage))
	mux.HandleFunc("POST /accounts/{account}/eligibilities", s.inAccount(s.createEligibility))
	mux.HandleFunc("GET /accounts/{account}/eligibilities/{eligibility}/delete", s.inAccount(s.confirmDeleteEligibility))
	mux.HandleFunc("POST /accounts/{account}/eligibilities/{eligibility}/delete", s.inAccount(s.deleteEligibility))
	mux.HandleFunc("GET /accounts/{account}/elevation", s.inAccount(s.myElevationPage))
	mux.HandleFunc("POST /accounts/{account}/elevation", s.inAccount(s.activate))
	mux.HandleFunc("GET /accounts/{account}/elevations/{elevation}/approve", s.inAccount(s.previewElevationApproval))
	mux.HandleFunc("POST /accounts/{account}/elevations/{elevation}/approve", s.inAccount(s.approveElevation))
	mux.HandleFunc("GET /accounts/{account}/elevations/{elevation}/end", s.inAccount(s.confirmEndElevation))
	mux.HandleFunc("POST /accounts/{account}/elevations/{elevation}/end", s.inAccount(s.endElevation))
}

// Elevated lists the elevations active on the membership now, from its
// grants: what the overview shows with its end.
func (p *page) Elevated(st *steward.Standing) []steward.Grant {
	if st == nil || st.Membership == nil {
		return nil
	}
	now := time.Now()
	var out []steward.Grant
	for _, g := range st.Membership.Grants {
		if g.ElevationID != "" && g.HoldsAt(now) {
			out = append(out, g)
		}
	}
	return out
}

// MayBeEligible says whether the user's membership here can hold
// eligibilities (a delegate holds at most its parent's, R-ELEVATE-1): the
// navigation offers its own elevation page to those.
func (p *page) MayBeEligible() bool {
	return p.Current != nil && p.Current.Membership != nil && p.Current.Membership.Kind != steward.KindDelegate
}

// roleNames names the account's roles by id, for lists that show a role;
// a role not found (removed since) is shown by its id.
type roleNames map[string]string

func (s *Server) roleNames(ss *session, accountID string) roleNames {
	out := roleNames{}
	rs, _ := s.roleOptions(ss, accountID)
	for _, r := range rs {
		out[r.ID] = r.Name
	}
	return out
}

// Of names the role id.
func (n roleNames) Of(id string) string {
	if name, ok := n[id]; ok {
		return name
	}
	return id
}

// eligibilityForm is the "Make eligible" form as it was sent.
type eligibilityForm struct {
	UserID, Role, MaxMinutes string
	ApprovalRequired         bool
}

type eligibilitiesData struct {
	Eligibilities []*steward.Eligibility
	Pager         pager
	// Pending are the elevations waiting for approval (the first page).
	Pending []*steward.Elevation
	// Elevations are every elevation of the account, a page at ElvPager.
	Elevations []*steward.Elevation
	ElvPager   pager
	Members    []*steward.MemberView
	Roles      []*steward.Role
	Form       eligibilityForm
	// Preview is set after Preview: what the member would gain while
	// elevated for its maximum.
	Preview   []changeView
	Previewed bool
	Names     *memberNames
	RoleNames roleNames
	Me        string
}

func (s *Server) eligibilitiesPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showEligibilities(w, r, ss, st, http.StatusOK, eligibilitiesData{Form: eligibilityForm{MaxMinutes: "60", ApprovalRequired: true}})
}

func (s *Server) showEligibilities(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, d eligibilitiesData) {
	acc := st.Account.ID
	page := pageFrom(r)
	els, next, err := s.svc.FindEligibilities(ss.ctx, steward.EligibilityFilter{AccountID: acc, All: true, Page: page})
	if err != nil {
		s.hidden(w, r, ss, err) // a member who sees only its own: no such page
		return
	}
	d.Eligibilities, d.Pager = els, pager{Base: accountPath(st, "/eligibilities"), After: page.After, Next: next}
	if d.Pending, _, err = s.svc.FindElevations(ss.ctx, steward.ElevationFilter{AccountID: acc, All: true, Status: steward.ElevationPending, Page: steward.Page{Limit: pageSize}}); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	elvPage := steward.Page{After: r.URL.Query().Get("elv_after"), Limit: pageSize}
	elvs, enext, err := s.svc.FindElevations(ss.ctx, steward.ElevationFilter{AccountID: acc, All: true, Page: elvPage})
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d.Elevations, d.ElvPager = elvs, pager{Base: accountPath(st, "/eligibilities"), After: elvPage.After, Next: enext}
	if d.Members, _, err = s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: acc, Page: steward.Page{Limit: choiceLimit}}); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	if d.Roles, err = s.roleOptions(ss, acc); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d.Names, d.Me, d.RoleNames = s.names(ss, acc), ss.page.User.ID, roleNames{}
	for _, r := range d.Roles {
		d.RoleNames[r.ID] = r.Name
	}
	ss.page.Title = "Elevation"
	ss.page.Data = d
	s.show(w, r, status, "eligibilities", ss.page)
}

// ElvNextURL is the next page of the account's elevations.
func (d eligibilitiesData) ElvNextURL() string {
	return withParam(d.ElvPager.Base, "elv_after", d.ElvPager.Next)
}

// createEligibility previews (the Preview button) or makes the member
// eligible. A preview runs the creation's own code in dry-run mode: what
// the member would gain while elevated for its maximum (R-PREVIEW-1).
func (s *Server) createEligibility(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	f := eligibilityForm{UserID: r.PostFormValue("user_id"), Role: r.PostFormValue("role"),
		MaxMinutes: strings.TrimSpace(r.PostFormValue("max_minutes")), ApprovalRequired: r.PostFormValue("approval_required") != ""}
	d := eligibilitiesData{Form: f}
	fail := func(err error) {
		ss.page.Error = s.toFormError(r, err)
		switch steward.ErrorCode(err) { // an unknown member or role: name its field
		case "member_not_found":
			ss.page.Error.Fields["user_id"] = "is not a member of this account"
		case "role_not_found":
			ss.page.Error.Fields["role"] = "is not a role of this account"
		}
		s.showEligibilities(w, r, ss, st, statusOf(err), d)
	}
	n, err := strconv.Atoi(f.MaxMinutes)
	if err != nil {
		fail(steward.Invalid("invalid_eligibility", "The eligibility is not valid.",
			steward.FieldError{Field: "max_minutes", Message: fmt.Sprintf("must be a whole number of minutes, 1 to %d", steward.MaxElevationMinutes)}))
		return
	}
	in := steward.NewEligibility{UserID: f.UserID, Role: f.Role, MaxMinutes: n, ApprovalRequired: f.ApprovalRequired}
	if r.PostFormValue("action") == "preview" {
		changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
			_, _, err := s.svc.CreateEligibility(ctx, st.Account.ID, in)
			return err
		})
		if err != nil {
			fail(err)
			return
		}
		d.Preview, d.Previewed = s.changeViews(ss, changes), true
		s.showEligibilities(w, r, ss, st, http.StatusOK, d)
		return
	}
	e, _, err := s.svc.CreateEligibility(ss.ctx, st.Account.ID, in)
	if err != nil {
		fail(err)
		return
	}
	s.redirect(w, r, accountPath(st, "/eligibilities"), fmt.Sprintf("%s is now eligible for %s, up to %d minutes at a time%s. The member was mailed.",
		s.names(ss, st.Account.ID).Of(e.UserID), s.roleNames(ss, st.Account.ID).Of(e.Role), e.MaxMinutes, map[bool]string{true: ", with approval", false: ""}[e.ApprovalRequired]))
}

func (s *Server) confirmDeleteEligibility(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	e, err := s.svc.FindEligibility(ss.ctx, st.Account.ID, r.PathValue("eligibility"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	ss.page.Title = "Remove the eligibility?"
	ss.page.Data = confirmData{
		Message: s.names(ss, st.Account.ID).Of(e.UserID) + " can no longer activate the role " + s.roleNames(ss, st.Account.ID).Of(e.Role) +
			". Its pending and active elevations end now; the member is mailed.",
		Action: pathTo(st, "eligibilities", e.ID, "delete"), Button: "Remove eligibility", Back: accountPath(st, "/eligibilities"),
	}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) deleteEligibility(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, err := s.svc.DeleteEligibility(ss.ctx, st.Account.ID, r.PathValue("eligibility")); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showEligibilities(w, r, ss, st, statusOf(err), eligibilitiesData{Form: eligibilityForm{MaxMinutes: "60", ApprovalRequired: true}})
		return
	}
	s.redirect(w, r, accountPath(st, "/eligibilities"), "The eligibility was removed; its open elevations ended.")
}

// activateForm is the "Activate" form as it was sent, for the eligibility
// it was sent for.
type activateForm struct {
	EligibilityID, Role, Minutes, Reason string
}

type myElevationData struct {
	Eligibilities []*steward.Eligibility
	Elevations    []*steward.Elevation
	Pager         pager
	Form          activateForm
	Names         *memberNames
	RoleNames     roleNames
}

func (s *Server) myElevationPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showMyElevation(w, r, ss, st, http.StatusOK, activateForm{})
}

func (s *Server) showMyElevation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form activateForm) {
	acc, me := st.Account.ID, ss.page.User.ID
	d := myElevationData{Form: form, Names: s.names(ss, acc), RoleNames: s.roleNames(ss, acc)}
	var err error
	if d.Eligibilities, _, err = s.svc.FindEligibilities(ss.ctx, steward.EligibilityFilter{AccountID: acc, UserID: me, Page: steward.Page{Limit: steward.MaxPageLimit}}); err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	page := pageFrom(r)
	var next string
	if d.Elevations, next, err = s.svc.FindElevations(ss.ctx, steward.ElevationFilter{AccountID: acc, UserID: me, Page: page}); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d.Pager = pager{Base: accountPath(st, "/elevation"), After: page.After, Next: next}
	ss.page.Title = "My elevation"
	ss.page.Data = d
	s.show(w, r, status, "myelevation", ss.page)
}

// activate asks to hold an eligibility's role for a while (R-ELEVATE-2).
func (s *Server) activate(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	f := activateForm{EligibilityID: r.PostFormValue("eligibility_id"), Role: r.PostFormValue("role"),
		Minutes: strings.TrimSpace(r.PostFormValue("minutes")), Reason: r.PostFormValue("reason")}
	var err error
	if n, cerr := strconv.Atoi(f.Minutes); cerr != nil {
		err = steward.Invalid("invalid_elevation", "The elevation is not valid.", steward.FieldError{Field: "minutes", Message: "must be a whole number of minutes"})
	} else {
		var e *steward.Elevation
		if e, _, err = s.svc.RequestElevation(ss.ctx, st.Account.ID, steward.NewElevation{Role: f.Role, Minutes: n, Reason: f.Reason}); err == nil {
			role := s.roleNames(ss, st.Account.ID).Of(e.Role)
			msg := "Your request to hold " + role + " waits for another admin's approval; the approvers were mailed."
			if e.Status == steward.ElevationActive {
				msg = "You hold the role " + role + " until " + formatDate(e.EndsAt) + "."
			}
			s.redirect(w, r, accountPath(st, "/elevation"), msg)
			return
		}
	}
	ss.page.Error = s.toFormError(r, err)
	s.showMyElevation(w, r, ss, st, statusOf(err), f)
}

type elevationApprovalData struct {
	Elevation *steward.Elevation
	Names     *memberNames
	RoleNames roleNames
	// Changes is the approval's preview: what the membership would gain.
	Changes []changeView
	// Refused says the approval's dry run was refused: no button.
	Refused bool
}

// previewElevationApproval shows what approving would add, from the
// approval's own code run in dry-run mode (R-PREVIEW-1), or why it would be
// refused (the requester itself, an approver who could not grant the role).
func (s *Server) previewElevationApproval(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showElevationApproval(w, r, ss, st, http.StatusOK)
}

func (s *Server) showElevationApproval(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	id := r.PathValue("elevation")
	e, err := s.svc.FindElevation(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := elevationApprovalData{Elevation: e, Names: s.names(ss, st.Account.ID), RoleNames: s.roleNames(ss, st.Account.ID)}
	changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
		_, _, err := s.svc.ApproveElevation(ctx, st.Account.ID, id)
		return err
	})
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		d.Refused = true
		if ss.page.Error == nil {
			ss.page.Error, status = s.toFormError(r, err), statusOf(err)
		}
	}
	d.Changes = s.changeViews(ss, changes)
	ss.page.Title = "Approve the elevation?"
	ss.page.Data = d
	s.show(w, r, status, "approveelevation", ss.page)
}

func (s *Server) approveElevation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	e, _, err := s.svc.ApproveElevation(ss.ctx, st.Account.ID, r.PathValue("elevation"))
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showElevationApproval(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/eligibilities"), fmt.Sprintf("The elevation was approved: %s holds %s until %s.",
		s.names(ss, st.Account.ID).Of(e.UserID), s.roleNames(ss, st.Account.ID).Of(e.Role), formatDate(e.EndsAt)))
}

func (s *Server) confirmEndElevation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	e, err := s.svc.FindElevation(ss.ctx, st.Account.ID, r.PathValue("elevation"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	back := s.elevationBack(ss, st, e)
	role := s.roleNames(ss, st.Account.ID).Of(e.Role)
	what := "The role " + role + " stops holding now; checks from now on deny what it added."
	if e.Status == steward.ElevationPending {
		what = "The request to hold " + role + " is withdrawn."
	}
	ss.page.Title = "End the elevation now?"
	ss.page.Data = confirmData{
		Message: s.names(ss, st.Account.ID).Of(e.UserID) + ", " + role + ": " + what + " The member and the approvers are mailed.",
		Action:  pathTo(st, "elevations", e.ID, "end"), Button: "End elevation now", Back: back,
	}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) endElevation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	e, _, err := s.svc.EndElevation(ss.ctx, st.Account.ID, r.PathValue("elevation"))
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showMyElevation(w, r, ss, st, statusOf(err), activateForm{})
		return
	}
	s.redirect(w, r, s.elevationBack(ss, st, e), "The elevation ended: "+s.roleNames(ss, st.Account.ID).Of(e.Role)+" no longer holds.")
}

// elevationBack is the page an elevation's actions return to: the
// member's own page for its own, the admins' page for another's.
func (s *Server) elevationBack(ss *session, st *steward.Standing, e *steward.Elevation) string {
	if e.UserID == ss.page.User.ID {
		return accountPath(st, "/elevation")
	}
	return accountPath(st, "/eligibilities")
}
