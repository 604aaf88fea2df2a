package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// keyOperator marks a session signed in with the operator token.
const keyOperator = "operator"

func (s *Server) mailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /operator", s.operatorPage)
	mux.HandleFunc("POST /operator", s.operatorSignIn)
	mux.HandleFunc("GET /mail", s.mailPage)
}

// operatorPage signs the operator in with its token, for the mail page.
func (s *Server) operatorPage(w http.ResponseWriter, r *http.Request) {
	if s.operatorTokenHash == "" || s.mailDir == "" {
		s.notFound(w, r)
		return
	}
	s.show(w, r, http.StatusOK, "operator", &page{Title: "Operator sign-in", Flash: s.sessions.PopString(r.Context(), keyFlash)})
}

func (s *Server) operatorSignIn(w http.ResponseWriter, r *http.Request) {
	if s.operatorTokenHash == "" || s.mailDir == "" {
		s.notFound(w, r)
		return
	}
	if !s.throttle.Allow("operator", clientIP(r), time.Now()) {
		w.Header().Set("Retry-After", "30")
		s.show(w, r, http.StatusTooManyRequests, "operator", &page{Title: "Operator sign-in",
			Error: &formError{Message: "Too many sign-in attempts. Wait a minute, then try again."}})
		return
	}
	hash := steward.HashSecret(strings.TrimSpace(r.PostFormValue("token")))
	if subtle.ConstantTimeCompare([]byte(hash), []byte(s.operatorTokenHash)) != 1 {
		s.show(w, r, http.StatusUnauthorized, "operator", &page{Title: "Operator sign-in",
			Error: &formError{Message: "That is not the operator token.", Fields: map[string]string{"token": "is not the operator token"}}})
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Remove(r.Context(), keyUserID)
	s.sessions.Put(r.Context(), keyOperator, true)
	s.sessions.Put(r.Context(), keySeen, time.Now().UnixMilli())
	http.Redirect(w, r, "/mail", http.StatusSeeOther)
}

type mailData struct {
	Dir      string
	Operator bool
	Messages []*steward.Message
}

// mailPage shows the mail written to the mail folder (there is no SMTP
// server): every message to the operator, a user's own to a user.
func (s *Server) mailPage(w http.ResponseWriter, r *http.Request) {
	if s.mailDir == "" {
		s.notFound(w, r)
		return
	}
	if s.sessions.GetBool(r.Context(), keyOperator) {
		ctx := steward.NewContextWithActor(r.Context(), &steward.Actor{Operator: true})
		s.renderMail(w, r, &page{Title: "Mail"}, ctx, true)
		return
	}
	s.signedIn(func(w http.ResponseWriter, r *http.Request, ss *session) {
		ss.page.Title = "Your mail"
		s.renderMail(w, r, ss.page, ss.ctx, false)
	})(w, r)
}

func (s *Server) renderMail(w http.ResponseWriter, r *http.Request, p *page, ctx context.Context, operator bool) {
	msgs, err := s.svc.FindMail(ctx)
	if err != nil {
		s.errorPage(w, r, p, err)
		return
	}
	p.Data = mailData{Dir: s.mailDir, Operator: operator, Messages: msgs}
	s.show(w, r, http.StatusOK, "mail", p)
}
