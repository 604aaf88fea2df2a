package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRREVOKE2_RevocationDeletesConsoleSessions: revoking a user deletes
// its console sessions (on every node: they live in the database), not only
// refuses them; a cookie of the session replayed afterwards is refused, and
// sessions of other users stay.
func TestRREVOKE2_RevocationDeletesConsoleSessions(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		var cookies []*http.Cookie
		for range 2 { // two browsers
			c := e.client()
			if res := e.login(c, "sam@brightside.example", demoPassword); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in status %d, want 303", res.StatusCode)
			}
			cookies = append(cookies, sessionCookie(c, e.URL))
		}
		other := e.client()
		e.login(other, "pat@brightside.example", demoPassword)

		rv, _, err := e.svc.RevokeUser(e.as(e.pat), e.sam.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rv.SessionsEnded != 2 {
			t.Errorf("sessions_ended = %d, want the user's two sessions", rv.SessionsEnded)
		}
		u, _ := url.Parse(e.URL)
		for _, ck := range cookies {
			replay := e.client()
			replay.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
			res, _ := e.get(replay, "/")
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("a revoked user's session: status %d Location %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
			}
		}
		if res, _ := e.get(other, "/"); res.StatusCode != http.StatusOK {
			t.Errorf("another user's session after the revocation: status %d, want 200", res.StatusCode)
		}
	})
}
