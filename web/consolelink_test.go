package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// consoleLink asks POST /v1/console-links with the operator token, as the
// platform would, and returns the link's URL.
func (e *env) consoleLink(userID, returnTo string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"user_id": userID, "return_to": returnTo})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/console-links", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.opToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	e.must(err)
	defer res.Body.Close()
	var out struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	e.must(json.NewDecoder(res.Body).Decode(&out))
	if res.StatusCode != http.StatusCreated || out.URL == "" {
		e.t.Fatalf("POST /v1/console-links: status %d, %+v", res.StatusCode, out)
	}
	return out.URL
}

// TestConsoleLinkHandOff: a console link signs its user in, renewing the
// session id (a session signed in before as someone else is replaced), and
// lands on return_to; opened again it is used, and expired, unknown and
// refused links get the page that says so and what to do (SPEC §3 "console
// hand-off").
func TestConsoleLinkHandOff(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		returnTo := "/accounts/" + e.acme.ID + "/roles"
		link := e.consoleLink(e.ada.ID, returnTo)

		c := e.client()
		e.login(c, "bob@acme.example", demoPassword)
		before := sessionCookie(c, e.URL)
		if before == nil {
			t.Fatal("no session after sign-in")
		}
		res, _ := e.get(c, strings.TrimPrefix(link, e.URL))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != returnTo {
			t.Fatalf("console link: status %d to %q, want 303 to %q", res.StatusCode, res.Header.Get("Location"), returnTo)
		}
		if after := sessionCookie(c, e.URL); after == nil || after.Value == before.Value {
			t.Error("the session id was not renewed")
		}
		res, body := e.get(c, returnTo)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Ada Lovelace") || strings.Contains(body, "Bob Smith</strong>") {
			t.Errorf("return_to: status %d, want Ada signed in:\n%s", res.StatusCode, body)
		}

		anon := e.client()
		for _, tt := range []struct {
			name, path string
			status     int
			want       string
		}{
			{"Used", strings.TrimPrefix(link, e.URL), http.StatusConflict, "This console link has been used"},
			{"Unknown", "/console-links/" + steward.NewSecret(steward.ConsoleLinkTokenPrefix), http.StatusNotFound, "This console link is not known"},
			{"Malformed", "/console-links/nonsense", http.StatusNotFound, "This console link is not known"},
		} {
			res, body := e.get(anon, tt.path)
			if res.StatusCode != tt.status || !strings.Contains(body, tt.want) || !strings.Contains(body, "open the console from it again") {
				t.Errorf("%s: status %d, want %d and %q with what to do:\n%s", tt.name, res.StatusCode, tt.status, tt.want, body)
			}
			if sessionCookie(anon, e.URL) != nil && e.signedInAs(anon) != "" {
				t.Errorf("%s: a refused link signed in", tt.name)
			}
		}

		// A deactivated user's link signs no one in.
		refused := e.consoleLink(e.bob.ID, "/")
		_, _, err := e.svc.DeactivateUser(e.op(), e.bob.ID)
		e.must(err)
		res, body = e.get(anon, strings.TrimPrefix(refused, e.URL))
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "This console link cannot be used") || !strings.Contains(body, "deactivated") {
			t.Errorf("deactivated user's link: status %d\n%s", res.StatusCode, body)
		}

		// Valid 60 s.
		late := e.consoleLink(e.ada.ID, "/")
		e.svc.Now = func() time.Time { return time.Now().Add(61 * time.Second) }
		defer func() { e.svc.Now = time.Now }()
		res, body = e.get(anon, strings.TrimPrefix(late, e.URL))
		if res.StatusCode != http.StatusGone || !strings.Contains(body, "This console link has expired") {
			t.Errorf("expired link: status %d\n%s", res.StatusCode, body)
		}
	})
}

// signedInAs returns the name the console greets c's session with, or "".
func (e *env) signedInAs(c *http.Client) string {
	e.t.Helper()
	res, body := e.get(c, "/")
	if res.StatusCode != http.StatusOK {
		return ""
	}
	_, after, ok := strings.Cut(body, "Signed in as <strong>")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, "</strong>")
	return name
}

// TestBrowserConsoleLink follows a console link in a browser that is not
// signed in and lands signed in on return_to; opened again, the link says
// it has been used and what to do.
func TestBrowserConsoleLink(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		link := e.consoleLink(e.ada.ID, "/accounts/"+e.acme.ID+"/roles")
		ada := tab(t, b)
		run(t, ada, chromedp.Navigate(link), waitHeading("Roles"),
			chromedp.WaitVisible(`//header//*[contains(normalize-space(.), "Signed in as Ada Lovelace")]`))
		if got := get(t, ada, chromedp.Evaluate[string](`location.pathname`)); got != "/accounts/"+e.acme.ID+"/roles" {
			t.Errorf("landed on %s, want return_to", got)
		}
		run(t, ada, chromedp.Navigate(link), waitHeading("This console link has been used"), waitText("open the console from it again"))
		checkPage(t, ada, "console-link-used")

		late := e.consoleLink(e.ada.ID, "/")
		e.svc.Now = func() time.Time { return time.Now().Add(61 * time.Second) }
		defer func() { e.svc.Now = time.Now }()
		anon := tab(t, b)
		run(t, anon, chromedp.Navigate(late), waitHeading("This console link has expired"))
		checkPage(t, anon, "console-link-expired")
	})
}
