package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/steward-iam/steward"
)

// How explains a standing in a sentence: which membership and through
// what it holds (R-CHECK-2).
func (p *page) How(st *steward.Standing) string {
	m := st.Membership
	switch m.Kind {
	case steward.KindInternal:
		if p.User != nil && st.Account.ID == p.User.HomeAccountID {
			return "Your home account, as " + st.RoleName + "."
		}
		return "Internal user, as " + st.RoleName + "."
	case steward.KindPartner:
		partner := "your partner account"
		if st.Partner != nil {
			partner = st.Partner.Name
		}
		return fmt.Sprintf("Client of %s: you are %s here through the partner relationship.", partner, article(st.RoleName))
	case steward.KindExternal:
		return fmt.Sprintf("External user, invited as %s.", st.RoleName)
	case steward.KindDelegate:
		who := "an external user"
		if st.Delegator != nil {
			who = st.Delegator.Name + " (" + st.Delegator.Email + ")"
		}
		return fmt.Sprintf("Delegate of %s, who holds %s access here.", who, st.RoleName)
	}
	return st.RoleName
}

func article(s string) string {
	if s != "" && strings.ContainsRune("AEIOUaeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

type homeData struct {
	Standings []*steward.Standing
	Pager     pager
}

// home lists the accounts the user can act in, a page at a time.
func (s *Server) home(w http.ResponseWriter, r *http.Request, ss *session) {
	page := pageFrom(r)
	sts, next, err := s.svc.FindStandings(ss.ctx, page)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	steward.SortStandings(sts, ss.page.User.HomeAccountID)
	ss.page.Title = "Your accounts"
	ss.page.Data = homeData{Standings: sts, Pager: pager{Base: "/", After: page.After, Next: next}}
	s.show(w, r, http.StatusOK, "home", ss.page)
}

// switchAccount is the account switcher's target: a plain GET form, so it
// works without JavaScript.
func (s *Server) switchAccount(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.URL.Query().Get("account")
	if id == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if _, err := s.svc.StandingIn(ss.ctx, id); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.errorPage(w, r, ss.page, err)
		return
	}
	http.Redirect(w, r, "/accounts/"+url.PathEscape(id), http.StatusSeeOther)
}

// current resolves the page's account from the path; an account the user
// cannot act in is answered exactly like an unknown one.
func (s *Server) current(w http.ResponseWriter, r *http.Request, ss *session) *steward.Standing {
	st, err := s.svc.StandingIn(ss.ctx, r.PathValue("account"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return nil
	}
	ss.page.Current = st
	if !slices.ContainsFunc(ss.page.Accounts, func(a *steward.Account) bool { return a.ID == st.Account.ID }) {
		// The switcher shows the current account even beyond its limit.
		ss.page.Accounts = append([]*steward.Account{st.Account}, ss.page.Accounts...)
	}
	return st
}

type permissionView struct {
	Key, Description string
	System           bool
}

func (s *Server) permissionViews(keys []string) []permissionView {
	desc := map[string]steward.Permission{}
	for _, p := range s.svc.Catalogue.Permissions() {
		desc[p.Key] = p
	}
	out := make([]permissionView, 0, len(keys))
	for _, k := range keys {
		p := desc[k]
		out = append(out, permissionView{Key: k, Description: p.Description, System: p.System})
	}
	return out
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, ss *session) {
	st := s.current(w, r, ss)
	if st == nil {
		return
	}
	ss.page.Title = st.Account.Name
	ss.page.Data = struct{ Permissions []permissionView }{s.permissionViews(st.Permissions)}
	s.show(w, r, http.StatusOK, "account", ss.page)
}

// linkGone shows an access link or invitation that cannot be used, saying
// why and what to do.
func (s *Server) linkGone(w http.ResponseWriter, r *http.Request, p *page, what string, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		s.serverError(w, r, err)
		return
	}
	var title, advice string
	switch steward.ErrorKind(err) {
	case steward.EGONE:
		title = "This " + what + " has expired"
	case steward.ECONFLICT:
		title = "This " + what + " has been used"
	case steward.ENOTFOUND, steward.EINVALID:
		title, status = "This "+what+" is not known", http.StatusNotFound
	default:
		title = "This " + what + " cannot be used"
	}
	switch what {
	case "access link":
		advice = "Ask the partner who sent it for a new access link; partners get one in their Client Access Manager."
	case "console link":
		// SPEC §3 "console hand-off": a link works once, within a minute.
		advice = "Console links work once, within a minute. Go back to the application that sent you here and open the console from it again for a new link."
	default:
		advice = "Ask the person who invited you for a new invitation."
	}
	p.Title = title
	p.Error = s.toFormError(r, err)
	if steward.ErrorKind(err) == steward.ENOTFOUND || steward.ErrorKind(err) == steward.EINVALID {
		p.Error = &formError{Message: "No " + what + " has this address. Check that you copied the whole link."}
	}
	p.Data = struct{ Advice string }{advice}
	s.show(w, r, status, "gone", p)
}

type accessLinkData struct {
	Token   string
	Link    *steward.AccessLinkView
	Grants  []permissionView
	Clients []*steward.Standing
}

// accessLinkPage shows who asks for access and what approval grants; a super
// admin of an account chooses it and approves or declines (R-PARTNER-3).
func (s *Server) accessLinkPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.showAccessLink(w, r, ss, http.StatusOK)
}

func (s *Server) showAccessLink(w http.ResponseWriter, r *http.Request, ss *session, status int) {
	token := r.PathValue("token")
	v, err := s.svc.FindAccessLink(ss.ctx, token)
	if err != nil {
		s.linkGone(w, r, ss.page, "access link", err)
		return
	}
	d := accessLinkData{Token: token, Link: v, Grants: s.permissionViews(v.Grants.Permissions)}
	// Only a super admin of the client approves; the service decides, the
	// list only spares the user choices that would be refused.
	supers, err := s.svc.StandingsWithRole(ss.ctx, steward.RoleSuperAdmin)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	for _, st := range supers {
		if st.Account.ID != v.Partner.ID {
			d.Clients = append(d.Clients, st)
		}
	}
	ss.page.Title = "Access request from " + v.Partner.Name
	ss.page.Data = d
	s.show(w, r, status, "accesslink", ss.page)
}

func (s *Server) approveAccessLink(w http.ResponseWriter, r *http.Request, ss *session) {
	token, client := r.PathValue("token"), r.PostFormValue("account_id")
	a, _, err := s.svc.ApproveAccessLink(ss.ctx, token, client)
	if err != nil {
		switch steward.ErrorKind(err) {
		case steward.EGONE, steward.ECONFLICT:
			s.linkGone(w, r, ss.page, "access link", err)
		case steward.ENOTFOUND:
			if _, serr := s.svc.StandingIn(ss.ctx, client); client != "" && steward.ErrorKind(serr) == steward.ENOTFOUND {
				ss.page.Error = &formError{Message: "Choose one of your accounts.", Fields: map[string]string{"account_id": "is not one of your accounts"}}
				s.showAccessLink(w, r, ss, http.StatusUnprocessableEntity)
				return
			}
			s.linkGone(w, r, ss.page, "access link", err)
		default:
			ss.page.Error = s.toFormError(r, err)
			s.showAccessLink(w, r, ss, statusOf(err))
		}
		return
	}
	s.redirect(w, r, "/accounts/"+url.PathEscape(a.Relationship.ClientID), "Access approved: the partner's user is now a partner admin in this account.")
}

// confirmDecline asks before declining: a declined link cannot be used again.
func (s *Server) confirmDecline(w http.ResponseWriter, r *http.Request, ss *session) {
	token := r.PathValue("token")
	v, err := s.svc.FindAccessLink(ss.ctx, token)
	if err != nil {
		s.linkGone(w, r, ss.page, "access link", err)
		return
	}
	base := "/access-links/" + url.PathEscape(token)
	ss.page.Title = "Decline the request from " + v.Partner.Name + "?"
	ss.page.Data = confirmData{Message: v.User.Name + " of " + v.Partner.Name + " gets no access, and this link cannot be used again.",
		Action: base + "/decline", Button: "Decline", Back: base}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) declineAccessLink(w http.ResponseWriter, r *http.Request, ss *session) {
	if _, err := s.svc.DeclineAccessLink(ss.ctx, r.PathValue("token")); err != nil {
		if k := steward.ErrorKind(err); k == steward.EGONE || k == steward.ECONFLICT || k == steward.ENOTFOUND || k == steward.EINVALID {
			s.linkGone(w, r, ss.page, "access link", err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showAccessLink(w, r, ss, statusOf(err))
		return
	}
	s.redirect(w, r, "/", "Access declined: the link cannot be used any more.")
}

type invitationData struct {
	Token       string
	Invitation  *steward.InvitationView
	Permissions []permissionView
	// Refusal says why the signed-in user cannot accept; empty when it can.
	Refusal string
}

// invitationPage shows an invitation to whoever holds its link; only the
// invited address's user gets an Accept button, others read why not
// (R-EXT-6, R-EXT-7).
func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.showInvitation(w, r, ss, http.StatusOK)
}

func (s *Server) showInvitation(w http.ResponseWriter, r *http.Request, ss *session, status int) {
	token := r.PathValue("token")
	v, err := s.svc.FindInvitationByToken(ss.ctx, token)
	if err != nil {
		s.linkGone(w, r, ss.page, "invitation", err)
		return
	}
	refusal := s.svc.InvitationRefusal(ss.ctx, token)
	switch steward.ErrorKind(refusal) {
	case steward.EGONE, steward.ECONFLICT:
		s.linkGone(w, r, ss.page, "invitation", refusal)
		return
	}
	d := invitationData{Token: token, Invitation: v, Permissions: s.permissionViews(v.Permissions)}
	if refusal != nil {
		if steward.ErrorKind(refusal) == steward.EINTERNAL {
			s.serverError(w, r, refusal)
			return
		}
		d.Refusal = steward.ErrorMessage(refusal)
		if steward.ErrorCode(refusal) == "invitation_email_mismatch" {
			d.Refusal = fmt.Sprintf("This invitation is for %s, and you are signed in as %s. Only %s can accept it: sign out, then sign in with that address.",
				v.Email, ss.page.User.Email, v.Email)
		}
	}
	ss.page.Title = "Invitation to " + v.AccountName
	ss.page.Data = d
	s.show(w, r, status, "invitation", ss.page)
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, ss *session) {
	m, _, err := s.svc.AcceptInvitation(ss.ctx, r.PathValue("token"))
	if err != nil {
		switch steward.ErrorKind(err) {
		case steward.EGONE, steward.ECONFLICT, steward.ENOTFOUND:
			s.linkGone(w, r, ss.page, "invitation", err)
		default:
			ss.page.Error = s.toFormError(r, err)
			s.showInvitation(w, r, ss, statusOf(err))
		}
		return
	}
	s.redirect(w, r, "/accounts/"+url.PathEscape(m.AccountID), "Invitation accepted: you are now an external user of this account.")
}
