package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/steward-iam/steward"
)

// Access reviews (SPEC §6, R-REVIEW-1..3): start one, decide each item keep
// or remove with a note, close it after seeing how many removals apply,
// export it as CSV.

func (s *Server) reviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/reviews", s.inAccount(s.reviewsPage))
	mux.HandleFunc("POST /accounts/{account}/reviews", s.inAccount(s.startReview))
	mux.HandleFunc("GET /accounts/{account}/reviews/{review}", s.inAccount(s.reviewPage))
	mux.HandleFunc("POST /accounts/{account}/reviews/{review}/items/{item}", s.inAccount(s.decideItem))
	mux.HandleFunc("GET /accounts/{account}/reviews/{review}/close", s.inAccount(s.confirmCloseReview))
	mux.HandleFunc("POST /accounts/{account}/reviews/{review}/close", s.inAccount(s.closeReview))
	mux.HandleFunc("GET /accounts/{account}/reviews/{review}/export", s.inAccount(s.exportReview))
}

type reviewsData struct {
	Reviews []*steward.Review
	Pager   pager
	// Reviewers are the choices of reviewers: the account's members (the
	// service refuses those without account.users.manage, naming them).
	Reviewers []*steward.MemberView
	Form      reviewForm
}

type reviewForm struct {
	IncludeInternal bool
	Reviewers       map[string]bool
	DueAt           string
	Default         string
}

func (s *Server) reviewsPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showReviews(w, r, ss, st, http.StatusOK, reviewForm{Reviewers: map[string]bool{ss.page.User.ID: true}, Default: string(steward.DecisionKeep)})
}

func (s *Server) showReviews(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form reviewForm) {
	page := pageFrom(r)
	rs, next, err := s.svc.FindReviews(ss.ctx, st.Account.ID, page)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := reviewsData{Reviews: rs, Pager: pager{Base: accountPath(st, "/reviews"), After: page.After, Next: next}, Form: form}
	d.Reviewers, _, _ = s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: st.Account.ID, Page: steward.Page{Limit: choiceLimit}})
	ss.page.Title = "Access reviews"
	ss.page.Data = d
	s.show(w, r, status, "reviews", ss.page)
}

func (s *Server) startReview(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	form := reviewForm{IncludeInternal: r.PostFormValue("include_internal") == "on", Reviewers: map[string]bool{},
		DueAt: r.PostFormValue("due_at"), Default: r.PostFormValue("default_decision")}
	for _, id := range r.PostForm["reviewer_ids"] {
		form.Reviewers[id] = true
	}
	in := steward.NewReview{IncludeInternal: form.IncludeInternal, ReviewerIDs: r.PostForm["reviewer_ids"], DefaultDecision: steward.ReviewDecision(form.Default)}
	var err error
	due, ferr := parseEndDate("due_at", form.DueAt)
	switch {
	case ferr != nil:
		err = ferr
	case due == nil:
		err = steward.Invalid("invalid_review", "The review is not valid.", steward.FieldError{Field: "due_at", Message: "is required"})
	default:
		in.DueAt = *due
		var rv *steward.Review
		if rv, _, err = s.svc.StartReview(ss.ctx, st.Account.ID, in); err == nil {
			s.redirect(w, r, pathTo(st, "reviews", rv.ID), "The review was started.")
			return
		}
	}
	if steward.ErrorKind(err) == steward.ENOTFOUND && len(steward.ErrorFields(err)) == 0 {
		s.hidden(w, r, ss, err)
		return
	}
	ss.page.Error = s.toFormError(r, err)
	s.showReviews(w, r, ss, st, statusOf(err), form)
}

type reviewData struct {
	Review *steward.Review
	Items  []*steward.ReviewItem
	Pager  pager
	Names  *memberNames
	// Removals is the closing's preview: who would lose what.
	Removals []changeView
}

// Open reports whether the review is still open.
func (d reviewData) Open() bool { return d.Review.Status == steward.ReviewOpen }

func (s *Server) reviewPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showReview(w, r, ss, st, http.StatusOK)
}

func (s *Server) showReview(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	id := r.PathValue("review")
	rv, err := s.svc.FindReview(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	page := pageFrom(r)
	items, next, err := s.svc.FindReviewItems(ss.ctx, st.Account.ID, id, page)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	ss.page.Title = "Access review"
	ss.page.Data = reviewData{Review: rv, Items: items, Names: s.names(ss, st.Account.ID),
		Pager: pager{Base: pathTo(st, "reviews", id), After: page.After, Next: next}}
	s.show(w, r, status, "review", ss.page)
}

func (s *Server) decideItem(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	note := r.PostFormValue("note")
	in := steward.ItemDecision{Decision: steward.ReviewDecision(r.PostFormValue("decision")), Note: &note}
	it, _, err := s.svc.DecideReviewItem(ss.ctx, st.Account.ID, r.PathValue("review"), r.PathValue("item"), in)
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showReview(w, r, ss, st, statusOf(err))
		return
	}
	back := pathTo(st, "reviews", r.PathValue("review"))
	if after := r.PostFormValue("after"); after != "" {
		back = withParam(back, "after", after)
	}
	s.redirect(w, r, back, fmt.Sprintf("%s: %s.", it.Email, it.Decision))
}

// confirmCloseReview says, before closing, how many removals will apply:
// the closing's own code run in dry-run mode (R-PREVIEW-1, R-REVIEW-3).
func (s *Server) confirmCloseReview(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	id := r.PathValue("review")
	rv, err := s.svc.FindReview(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := reviewData{Review: rv, Names: s.names(ss, st.Account.ID)}
	changes, err := dryRun(ss.ctx, func(ctx context.Context) error {
		_, _, err := s.svc.CloseReview(ctx, st.Account.ID, id)
		return err
	})
	status := http.StatusOK
	if err != nil {
		ss.page.Error, status = s.toFormError(r, err), statusOf(err)
	}
	for _, c := range s.changeViews(ss, changes) {
		if len(c.Lost) > 0 {
			d.Removals = append(d.Removals, c)
		}
	}
	ss.page.Title = "Close the review?"
	ss.page.Data = d
	s.show(w, r, status, "closereview", ss.page)
}

func (s *Server) closeReview(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	id := r.PathValue("review")
	rv, _, err := s.svc.CloseReview(ss.ctx, st.Account.ID, id)
	if err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showReview(w, r, ss, st, statusOf(err))
		return
	}
	var parts []string
	for _, k := range []string{steward.OutcomeRemoved, steward.OutcomeDeactivated, steward.OutcomeRemovedWithParent, steward.OutcomeKept,
		steward.OutcomeKeptSuperAdmin, steward.OutcomeKeptLastSuperAdmin, steward.OutcomeGone} {
		if n := rv.Outcome[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(k, "_", " ")))
		}
	}
	msg := "The review is closed."
	if len(parts) > 0 {
		msg += " Outcome: " + strings.Join(parts, ", ") + "."
	}
	s.redirect(w, r, pathTo(st, "reviews", id), msg)
}

func (s *Server) exportReview(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	id := r.PathValue("review")
	b, err := s.svc.ExportReview(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.csv"`)
	w.Write(b)
}

// chainText says what an item's access depends on, in words.
func chainText(chain []steward.ChainLink) string {
	parts := make([]string, 0, len(chain))
	for _, l := range chain {
		what := "membership"
		if l.Type == "relationship" {
			what = "partner relationship"
		} else if l.Kind != "" {
			what = l.Kind + " membership"
		}
		parts = append(parts, what+" ("+statusText(l.Status)+")")
	}
	return strings.Join(parts, " → ")
}
