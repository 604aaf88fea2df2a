package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/steward-iam/steward"
)

// Emergency revocation (SPEC §6): a customer revokes a home account's
// access (R-REVOKE-1), a home account's super admin revokes a user
// everywhere (R-REVOKE-2). Both show what ends, from the revocation's own
// code run in dry-run mode, before doing it.

func (s *Server) revocationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/revocations", s.inAccount(s.revocationPage))
	mux.HandleFunc("GET /accounts/{account}/revocations/confirm", s.inAccount(s.confirmRevocation))
	mux.HandleFunc("POST /accounts/{account}/revocations", s.inAccount(s.revokeHomeAccount))
	mux.HandleFunc("GET /accounts/{account}/users/{user}/revoke", s.inAccount(s.confirmRevokeUser))
	mux.HandleFunc("POST /accounts/{account}/users/{user}/revoke", s.inAccount(s.revokeUser))
}

type revocationData struct {
	// Partners are the account's partner relationships, for the choice.
	Partners []*steward.Partner
	Form     struct{ HomeAccountID, Other string }
	// Confirm: what would end, on the confirmation page.
	HomeAccountID string
	Relationship  *steward.Partner
	Ended         []changeView
}

func (s *Server) revocationPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showRevocation(w, r, ss, st, http.StatusOK, "", "")
}

func (s *Server) showRevocation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, home, other string) {
	if !ss.page.HoldsAll(steward.PermPartnersManage, steward.PermUsersManage) && ss.page.Error == nil {
		// The service decides at the revocation itself; a page of a control
		// the user cannot use is answered like an unknown one.
		s.hidden(w, r, ss, steward.NotFound("page", "revocations"))
		return
	}
	d := revocationData{}
	d.Form.HomeAccountID, d.Form.Other = home, other
	d.Partners, _ = s.allPartners(ss, st.Account.ID)
	ss.page.Title = "Revoke a home account"
	ss.page.Data = d
	s.show(w, r, status, "revoke", ss.page)
}

// allPartners reads the account's partner relationships that have not ended, for a choice.
func (s *Server) allPartners(ss *session, accountID string) ([]*steward.Partner, error) {
	var out []*steward.Partner
	page := steward.Page{Limit: steward.MaxPageLimit}
	for {
		ps, next, err := s.svc.FindPartners(ss.ctx, accountID, page)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.Status != steward.RelationshipEnded {
				out = append(out, p)
			}
		}
		if next == "" || len(out) >= choiceLimit {
			return out, nil
		}
		page.After = next
	}
}

// homeAccountOf reads the chosen home account: a partner from the list, or
// an id typed in.
func homeAccountOf(q url.Values) (string, string) {
	other := strings.TrimSpace(q.Get("other_home_account_id"))
	if other != "" {
		return other, other
	}
	return strings.TrimSpace(q.Get("home_account_id")), ""
}

// confirmRevocation lists what ends before anything ends: the partner
// relationship and each membership that would lose its access.
func (s *Server) confirmRevocation(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	home, other := homeAccountOf(r.URL.Query())
	changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
		_, _, err := s.svc.RevokeHomeAccount(ctx, st.Account.ID, home)
		return err
	})
	if err != nil {
		if steward.ErrorKind(err) == steward.EFORBIDDEN {
			s.hidden(w, r, ss, err)
			return
		}
		s.revocationRefused(w, r, ss, st, err, home, other)
		return
	}
	d := revocationData{HomeAccountID: home}
	if ps, err := s.allPartners(ss, st.Account.ID); err == nil {
		for _, p := range ps {
			if p.PartnerID == home {
				d.Relationship = p
			}
		}
	}
	for _, c := range s.changeViews(ss, changes) {
		if len(c.Lost) > 0 || len(c.Gained) == 0 {
			d.Ended = append(d.Ended, c)
		}
	}
	ss.page.Title = "Revoke this home account's access?"
	ss.page.Data = d
	s.show(w, r, http.StatusOK, "confirmrevoke", ss.page)
}

func (s *Server) revokeHomeAccount(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	home, other := homeAccountOf(r.PostForm)
	res, _, err := s.svc.RevokeHomeAccount(ss.ctx, st.Account.ID, home)
	if err != nil {
		s.revocationRefused(w, r, ss, st, err, home, other)
		return
	}
	msg := fmt.Sprintf("Revoked: %d memberships ended", len(res.Ended))
	if res.Relationship != nil {
		msg += " and the partner relationship ended"
	}
	s.redirect(w, r, accountPath(st, "/revocations"), msg+".")
}

// revocationRefused shows the revocation form again with the refusal at its field.
func (s *Server) revocationRefused(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, err error, home, other string) {
	ss.page.Error = s.toFormError(r, err)
	if steward.ErrorKind(err) == steward.ENOTFOUND {
		// A home account with no access here answers as an unknown one.
		ss.page.Error = &formError{Message: "No user of this home account has access to " + st.Account.Name + ".",
			Fields: map[string]string{"home_account_id": "has no access here"}}
	}
	s.showRevocation(w, r, ss, st, statusOf(err), home, other)
}

type revokeUserData struct {
	Member   *steward.MemberView
	Accounts int
	Holding  int
	Action   string
	Back     string
}

// confirmRevokeUser shows what revoking a user everywhere ends (R-REVOKE-2):
// the service's own answer in dry-run mode, or its refusal.
func (s *Server) confirmRevokeUser(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	m, err := s.svc.FindMemberView(ss.ctx, st.Account.ID, r.PathValue("user"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
		_, _, err := s.svc.RevokeUser(ctx, m.UserID)
		return err
	})
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := revokeUserData{Member: m, Action: pathTo(st, "users", m.UserID, "revoke"), Back: pathTo(st, "users", m.UserID)}
	accounts := map[string]bool{}
	for _, c := range changes {
		if len(c.Lost) > 0 {
			accounts[c.AccountID] = true
			d.Holding++
		}
	}
	d.Accounts = len(accounts)
	ss.page.Title = "Revoke " + m.Name + " everywhere?"
	ss.page.Data = d
	s.show(w, r, http.StatusOK, "revokeuser", ss.page)
}

func (s *Server) revokeUser(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	userID := r.PathValue("user")
	res, _, err := s.svc.RevokeUser(ss.ctx, userID)
	if err != nil {
		if k := steward.ErrorKind(err); k == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showMember(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, pathTo(st, "users", userID), fmt.Sprintf("%s was revoked everywhere: deactivated, %d API tokens deleted, every console session ended.", res.User.Email, res.TokensRevoked))
}
