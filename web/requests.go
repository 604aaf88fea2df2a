package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/steward-iam/steward"
)

// Access requests (SPEC §6, R-REQUEST-1..2): an outsider asks for the
// permissions it lacks; an approver sees the difference approval would add
// before approving it.

func (s *Server) requestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/access-requests", s.inAccount(s.requestsPage))
	mux.HandleFunc("POST /accounts/{account}/access-requests", s.inAccount(s.createRequest))
	mux.HandleFunc("GET /accounts/{account}/access-requests/{request}", s.inAccount(s.requestPage))
	mux.HandleFunc("GET /accounts/{account}/access-requests/{request}/approve", s.inAccount(s.previewApproval))
	mux.HandleFunc("POST /accounts/{account}/access-requests/{request}/approve", s.inAccount(s.approveRequest))
	mux.HandleFunc("GET /accounts/{account}/access-requests/{request}/decline", s.inAccount(s.confirmDeclineRequest))
	mux.HandleFunc("POST /accounts/{account}/access-requests/{request}/decline", s.inAccount(s.declineRequest))
}

type requestsData struct {
	// MayList says the user sees the account's requests (the service
	// allowed the listing); Pending are the page's pending ones.
	MayList bool
	Pending []*steward.AccessRequest
	Pager   pager
	// Mine are the user's own requests (filed by it or for it), a page
	// of them at MinePager.
	Mine      []*steward.AccessRequest
	MinePager pager
	// Ask: the request form, for outsiders.
	Ask     bool
	Users   []*steward.MemberView
	Groups  []permissionGroup
	Form    requestForm
	Names   *memberNames
	Account *steward.Account
}

type requestForm struct {
	UserID, Reason, EndsAt string
	Permissions            map[string]bool
}

func (s *Server) requestsPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showRequests(w, r, ss, st, http.StatusOK, requestForm{UserID: ss.page.User.ID})
}

func (s *Server) showRequests(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form requestForm) {
	q := r.URL.Query()
	d := requestsData{Form: form, Names: s.names(ss, st.Account.ID), Account: st.Account, Ask: ss.page.Outsider()}
	page := pageFrom(r)
	pending, next, err := s.svc.FindAccessRequests(ss.ctx, steward.AccessRequestFilter{AccountID: st.Account.ID, Status: steward.RequestPending, Page: page})
	switch {
	case err == nil:
		d.MayList = true
		d.Pending, d.Pager = pending, pager{Base: accountPath(st, "/access-requests"), After: page.After, Next: next}
	case steward.ErrorKind(err) == steward.EFORBIDDEN:
		if !d.Ask {
			s.hidden(w, r, ss, err)
			return
		}
	default:
		s.errorPage(w, r, ss.page, err)
		return
	}
	if d.Ask {
		// R-REQUEST-1: the requester's own requests, which it lists
		// without the account's list permissions.
		minePage := steward.Page{After: q.Get("mine_after"), Limit: pageSize}
		mine, mnext, err := s.svc.FindAccessRequests(ss.ctx, steward.AccessRequestFilter{AccountID: st.Account.ID, Mine: true, Page: minePage})
		if err != nil {
			s.errorPage(w, r, ss.page, err)
			return
		}
		d.Mine, d.MinePager = mine, pager{Base: accountPath(st, "/access-requests"), After: minePage.After, Next: mnext}
	}
	if d.Ask {
		d.Groups = s.askableGroups(st)
		if ms, _, err := s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: st.Account.ID, Kind: steward.KindPartner, Page: steward.Page{Limit: choiceLimit}}); err == nil &&
			st.Membership.Kind == steward.KindPartner {
			for _, m := range ms {
				if m.PartnerID == st.Membership.PartnerID {
					d.Users = append(d.Users, m)
				}
			}
		}
	}
	ss.page.Title = "Access requests"
	ss.page.Data = d
	s.show(w, r, status, "requests", ss.page)
}

// askableGroups lists the catalogue's permissions the user does not hold
// here, for its own request: one asks only for what one lacks (the service
// refuses the rest, naming them).
func (s *Server) askableGroups(st *steward.Standing) []permissionGroup {
	var out []permissionGroup
	for _, g := range s.permissionGroups() {
		var ps []permissionView
		for _, p := range g.Perms {
			if !steward.Contains(st.Permissions, p.Key) {
				ps = append(ps, p)
			}
		}
		if len(ps) > 0 {
			out = append(out, permissionGroup{Area: g.Area, Perms: ps})
		}
	}
	return out
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	form := requestForm{UserID: r.PostFormValue("user_id"), Reason: r.PostFormValue("reason"), EndsAt: r.PostFormValue("ends_at"), Permissions: map[string]bool{}}
	for _, k := range r.PostForm["permissions"] {
		form.Permissions[k] = true
	}
	if form.UserID == "" {
		form.UserID = ss.page.User.ID
	}
	in := steward.NewAccessRequest{UserID: form.UserID, Permissions: r.PostForm["permissions"], Reason: form.Reason}
	var err error
	if ends, ferr := parseEndDate("ends_at", form.EndsAt); ferr != nil {
		err = ferr
	} else {
		in.EndsAt = ends
		var req *steward.AccessRequest
		if req, _, err = s.svc.RequestAccess(ss.ctx, st.Account.ID, in); err == nil {
			s.redirect(w, r, pathTo(st, "access-requests", req.ID), "Your request was sent. The account's approvers were mailed.")
			return
		}
	}
	if steward.ErrorKind(err) == steward.ENOTFOUND && form.UserID == ss.page.User.ID {
		s.hidden(w, r, ss, err)
		return
	}
	ss.page.Error = s.toFormError(r, err)
	s.showRequests(w, r, ss, st, statusOf(err), form)
}

type requestData struct {
	Request *steward.AccessRequest
	Names   *memberNames
	// Changes is the approval's preview: what the membership would gain.
	Changes []changeView
	Perms   []permissionView
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	req, err := s.svc.FindAccessRequest(ss.ctx, st.Account.ID, r.PathValue("request"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	ss.page.Title = "Access request"
	ss.page.Data = requestData{Request: req, Names: s.names(ss, st.Account.ID), Perms: s.permissionViews(req.Permissions)}
	s.show(w, r, http.StatusOK, "request", ss.page)
}

// previewApproval shows what approving would add, from the approval's own
// code run in dry-run mode (R-PREVIEW-1), and asks to confirm. A refusal
// (the approver lacks a permission, the request expired) is shown instead.
func (s *Server) previewApproval(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showApproval(w, r, ss, st, http.StatusOK)
}

func (s *Server) showApproval(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	id := r.PathValue("request")
	req, err := s.svc.FindAccessRequest(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := requestData{Request: req, Names: s.names(ss, st.Account.ID), Perms: s.permissionViews(req.Permissions)}
	changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
		_, _, err := s.svc.ApproveAccessRequest(ctx, st.Account.ID, id)
		return err
	})
	if err != nil {
		if k := steward.ErrorKind(err); k == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		if ss.page.Error == nil {
			ss.page.Error, status = s.toFormError(r, err), statusOf(err)
		}
	}
	d.Changes = s.changeViews(ss, changes)
	ss.page.Title = "Approve the access request?"
	ss.page.Data = d
	s.show(w, r, status, "approverequest", ss.page)
}

func (s *Server) approveRequest(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, _, err := s.svc.ApproveAccessRequest(ss.ctx, st.Account.ID, r.PathValue("request")); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showApproval(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/access-requests"), "The request was approved: the member now holds the permissions it lacked.")
}

func (s *Server) confirmDeclineRequest(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	req, err := s.svc.FindAccessRequest(ss.ctx, st.Account.ID, r.PathValue("request"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	base := pathTo(st, "access-requests", req.ID)
	ss.page.Title = "Decline the access request?"
	ss.page.Data = confirmData{
		Message: s.names(ss, st.Account.ID).Of(req.UserID) + " asked for " + strings.Join(req.Permissions, ", ") + ". Declining adds nothing; the requester is mailed.",
		Action:  base + "/decline", Button: "Decline request", Back: accountPath(st, "/access-requests"),
	}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) declineRequest(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, _, err := s.svc.DeclineAccessRequest(ss.ctx, st.Account.ID, r.PathValue("request")); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showRequests(w, r, ss, st, statusOf(err), requestForm{UserID: ss.page.User.ID})
		return
	}
	s.redirect(w, r, accountPath(st, "/access-requests"), "The request was declined.")
}

// MineNextURL is the next page of "my requests".
func (d requestsData) MineNextURL() string {
	return withParam(d.MinePager.Base, "mine_after", d.MinePager.Next)
}
