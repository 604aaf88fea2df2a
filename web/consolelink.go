package web

import (
	"net/http"
	"time"
)

// consoleLink signs in with a console link, the platform's hand-off of a
// user to the console (SPEC §3 "console hand-off"), and lands on the path
// the link names. The service marks the link used; like /login, the session
// id is renewed, so that a session id planted before is worth nothing after.
// A link that cannot be used gets the page that says why and what to do.
func (s *Server) consoleLink(w http.ResponseWriter, r *http.Request) {
	u, next, err := s.svc.RedeemConsoleLink(r.Context(), r.PathValue("token"))
	if err != nil {
		s.linkGone(w, r, &page{}, "console link", err)
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), keyUserID, u.ID)
	s.sessions.Put(r.Context(), keySeen, time.Now().UnixMilli())
	// The service kept only console paths (steward.IsConsolePath); safeNext
	// holds the line here too.
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}
