package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/mail/mailtest"
)

// extClock is a settable clock for the server: tests move it between requests.
type extClock struct{ micros atomic.Int64 }

func (c *extClock) Now() time.Time      { return time.UnixMicro(c.micros.Load()).UTC() }
func (c *extClock) Set(t time.Time)     { c.micros.Store(t.UnixMicro()) }
func (c *extClock) Add(d time.Duration) { c.micros.Add(d.Microseconds()) }

// serveExternal starts the end-to-end server of the external-user tests.
func serveExternal(tb testing.TB, st steward.Store, clock *extClock, smtpURL string, index bool) *Env {
	tb.Helper()
	return serveWithMail(tb, st, clock, smtpURL, index, nil)
}

// invitationLink waits for the invitation mail to email on the SMTP server
// and returns the token its link ends with.
func invitationLink(tb testing.TB, smtp *mailtest.Server, email string) string {
	tb.Helper()
	prefix := e2eBaseURL + "/invitations/"
	deadline := time.Now().Add(10 * time.Second)
	for n := 1; ; n++ {
		ms := smtp.Wait(n, time.Until(deadline))
		for i := len(ms) - 1; i >= 0; i-- { // newest first
			m := ms[i]
			if !slices.Contains(m.To, email) || !strings.HasPrefix(m.Subject, "Invitation to administer") {
				continue
			}
			_, rest, ok := strings.Cut(m.Body, prefix)
			if !ok {
				tb.Fatalf("the invitation mail to %s has no link:\n%s", email, m.Body)
			}
			token, _, _ := strings.Cut(rest, "\n")
			return strings.TrimSpace(token)
		}
		n = len(ms)
	}
}

func userEmail(tb testing.TB, e *Env, id string) string {
	tb.Helper()
	var u steward.User
	e.MustOK(tb, http.StatusOK, "GET", "/v1/users/"+id, operatorToken, nil, &u)
	return u.Email
}

// allowed asks the check API, as the operator, at a time.
func allowed(tb testing.TB, e *Env, userID, accountID, perm string, at time.Time) bool {
	tb.Helper()
	var res steward.CheckResult
	// min_revision: an index-backed check answers only once it has applied every write so far.
	e.MustOK(tb, http.StatusOK, "POST", "/v1/check", operatorToken, steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: perm, At: &at,
		MinRevision: e.Revision(tb)}, &res)
	return res.Allowed
}

// TestExternalUsersEndToEnd is issue 4's walk through external
// administration over HTTP (R-EXT-1 … R-EXT-10).
func TestExternalUsersEndToEnd(t *testing.T) {
	for _, st := range stores {
		for _, checks := range []string{"store", "index"} {
			t.Run(st.name+"/checks_from_"+checks, func(t *testing.T) {
				clock := &extClock{}
				clock.Set(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
				smtp := mailtest.NewServer(t)
				e := serveExternal(t, st.open(t), clock, smtp.URL(), checks == "index")
				testExternalEndToEnd(t, e, clock, smtp)
			})
		}
	}
}

func testExternalEndToEnd(t *testing.T, e *Env, clock *extClock, smtp *mailtest.Server) {
	start := clock.Now()
	client, owner := e.Account(t, steward.AccountStandard)
	home, _ := e.Account(t, steward.AccountStandard)
	ownerTok := e.Token(t, owner)
	editors := e.Role(t, client, "Editors", "crm.contacts.view", "crm.contacts.edit", "reports.view")
	a, b, c, colleague := e.User(t, home, steward.RoleMember), e.User(t, home, steward.RoleMember), e.User(t, home, steward.RoleMember), e.User(t, home, steward.RoleMember)
	aMail, bMail, cMail := userEmail(t, e, a), userEmail(t, e, b), userEmail(t, e, c)
	aTok, bTok, cTok := e.Token(t, a), e.Token(t, b), e.Token(t, c)
	invitePath := "/v1/accounts/" + client + "/roles/" + editors + "/invitations"

	var consent steward.ConsentAgreement
	e.MustOK(t, http.StatusOK, "GET", "/v1/consent", ownerTok, nil, &consent)
	if consent.Version == "" || consent.Text == "" {
		t.Fatalf("consent = %+v", consent)
	}
	accepted := map[string]any{"accepted": true, "version": consent.Version}
	ends, dends := start.Add(60*24*time.Hour), start.Add(20*24*time.Hour)

	pending := func() int {
		t.Helper()
		var l stewardhttp.List[steward.Invitation]
		e.MustOK(t, http.StatusOK, "GET", invitePath, ownerTok, nil, &l)
		return len(l.Items)
	}

	// Three addresses, one malformed: a 422 naming it, nothing created, nothing mailed.
	before := e.AuditCount(t, client)
	res := e.Do(t, "POST", invitePath, ownerTok, map[string]any{
		"emails": aMail + ", not-an-email, " + bMail, "consent": accepted, "allow_redelegation": true,
	})
	p := MustProblem(t, res, http.StatusUnprocessableEntity, "invalid_emails", "emails[1]")
	if !strings.Contains(p.Detail, "not-an-email") {
		t.Errorf("detail %q does not name the bad address", p.Detail)
	}
	if pending() != 0 || e.AuditCount(t, client) != before {
		t.Fatal("a refused invitation created something")
	}
	if msgs, _ := e.Store.FindMessages(context.Background(), 100); len(msgs) != 0 || len(smtp.Mails()) != 0 {
		t.Fatalf("a refused invitation mailed %d messages", len(msgs)+len(smtp.Mails()))
	}

	// Abuse, each a clear 4xx that changes nothing.
	for _, tt := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{"ErrSuperAdmin", "/v1/accounts/" + client + "/roles/super_admin/invitations", map[string]any{"emails": aMail, "consent": accepted}, 422, "role_not_assignable"},
		{"ErrNoConsent", invitePath, map[string]any{"emails": aMail}, 422, "consent_required"},
		{"ErrOldConsent", invitePath, map[string]any{"emails": aMail, "consent": map[string]any{"accepted": true, "version": "1999-01"}}, 409, "consent_outdated"},
		{"ErrDelegatesEndAfterEnds", invitePath, map[string]any{"emails": aMail, "consent": accepted, "ends_at": dends, "delegates_end_at": ends}, 422, "invalid_end_dates"},
		{"ErrEndInPast", invitePath, map[string]any{"emails": aMail, "consent": accepted, "ends_at": start.Add(-time.Hour)}, 422, "invalid_end_dates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			MustProblem(t, e.Do(t, "POST", tt.path, ownerTok, tt.body), tt.status, tt.code, "")
			if pending() != 0 || e.AuditCount(t, client) != before {
				t.Fatal("a refused invitation created something")
			}
		})
	}
	t.Run("ErrRoleWithUnheldPermissions", func(t *testing.T) {
		inviterRole := e.Role(t, client, "Inviters", steward.PermExternalUsersInvite, "crm.contacts.view")
		inviterTok := e.Token(t, e.User(t, client, inviterRole))
		before := e.AuditCount(t, client)
		MustProblem(t, e.Do(t, "POST", invitePath, inviterTok, map[string]any{"emails": aMail, "consent": accepted}), http.StatusForbidden, "permission_not_held", "role")
		if pending() != 0 || e.AuditCount(t, client) != before {
			t.Fatal("a refused invitation created something")
		}
	})

	// Three good addresses, as a list this time: three pending, no token in the answer.
	var created stewardhttp.InvitationsCreated
	res = e.MustOK(t, http.StatusCreated, "POST", invitePath, ownerTok, map[string]any{
		"emails": []string{strings.ToUpper(aMail), " " + bMail + " ", cMail + "," + aMail}, "consent": accepted,
		"allow_redelegation": true, "ends_at": ends, "delegates_end_at": dends,
	}, &created)
	if len(created.Items) != 3 || pending() != 3 {
		t.Fatalf("created %d invitations, %d pending; want 3", len(created.Items), pending())
	}
	for _, inv := range created.Items {
		if inv.Status != steward.InvitationPending || inv.Consent.Version != consent.Version || inv.Consent.AcceptedBy != owner {
			t.Errorf("invitation = %+v", inv)
		}
	}
	aLink, bLink, cLink := invitationLink(t, smtp, aMail), invitationLink(t, smtp, bMail), invitationLink(t, smtp, cMail)
	for _, tok := range []string{aLink, bLink, cLink} {
		if strings.Contains(string(res.Body), tok) {
			t.Fatal("the inviter's answer carries an invitation token")
		}
	}

	// The invitee sees what the link offers.
	var view steward.InvitationView
	e.MustOK(t, http.StatusOK, "GET", "/v1/invitations/"+aLink, aTok, nil, &view)
	if view.RoleName != "Editors" || view.AccountID != client || view.Email != aMail {
		t.Errorf("view = %+v", view)
	}

	// Accepting as another user, or with a forged token, changes nothing.
	before = e.AuditCount(t, client)
	MustProblem(t, e.Do(t, "POST", "/v1/invitations/"+aLink+"/accept", bTok, nil), http.StatusForbidden, "invitation_email_mismatch", "")
	MustProblem(t, e.Do(t, "POST", "/v1/invitations/stwi_forged/accept", aTok, nil), http.StatusNotFound, "invitation_not_found", "")
	if e.AuditCount(t, client) != before {
		t.Fatal("a refused acceptance wrote an event")
	}

	// Two accept from their mail.
	var ma, mb steward.Membership
	e.MustOK(t, http.StatusCreated, "POST", "/v1/invitations/"+aLink+"/accept", aTok, nil, &ma)
	e.MustOK(t, http.StatusCreated, "POST", "/v1/invitations/"+bLink+"/accept", bTok, nil, &mb)
	if ma.Kind != steward.KindExternal || ma.Role != editors || !ma.AllowRedelegation || ma.GrantedBy != owner || !ma.EndsAt.Equal(ends) {
		t.Errorf("a's membership = %+v", ma)
	}
	MustProblem(t, e.Do(t, "POST", "/v1/invitations/"+aLink+"/accept", aTok, nil), http.StatusConflict, "invitation_used", "")
	if pending() != 1 {
		t.Errorf("pending = %d, want 1 (c's)", pending())
	}
	// The role's members: the external users, with the pending invitation.
	var members stewardhttp.RoleMemberList
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/roles/"+editors+"/members", ownerTok, nil, &members)
	kinds := map[string]steward.MembershipKind{}
	for _, m := range members.Items {
		kinds[m.UserID] = m.Kind
	}
	if kinds[a] != steward.KindExternal || kinds[b] != steward.KindExternal || len(members.PendingInvitations) != 1 || members.PendingInvitations[0].Email != cMail {
		t.Errorf("role members = %+v", members)
	}

	// One re-delegates to a colleague of its own account; never to a stranger, never more than it holds.
	stranger := e.User(t, client, steward.RoleMember)
	delegates := "/v1/accounts/" + client + "/external-users/" + a + "/delegates"
	MustProblem(t, e.Do(t, "POST", delegates, aTok, map[string]any{"user_ids": []string{stranger}}), http.StatusUnprocessableEntity, "invalid_delegates", "user_ids[0]")
	MustProblem(t, e.Do(t, "POST", delegates, aTok, map[string]any{"user_ids": []string{colleague}, "permissions": []string{"settings.edit"}}), http.StatusForbidden, "permission_not_held", "permissions")
	var ds stewardhttp.List[steward.Membership]
	e.MustOK(t, http.StatusCreated, "POST", delegates, aTok, map[string]any{"user_ids": []string{colleague}}, &ds)
	if len(ds.Items) != 1 || ds.Items[0].Kind != steward.KindDelegate || ds.Items[0].ParentID != ma.ID {
		t.Fatalf("delegates = %+v", ds.Items)
	}
	colleagueTok := e.Token(t, colleague)
	MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+client+"/external-users/"+colleague+"/delegates", colleagueTok,
		map[string]any{"user_ids": []string{c}}), http.StatusForbidden, "redelegation_depth_exceeded", "")
	MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+client+"/external-users/"+b+"/delegates", bTok,
		map[string]any{"user_ids": []string{c}, "permissions": []string{"crm.contacts.view", "settings.edit"}}), http.StatusForbidden, "permission_not_held", "")

	now := clock.Now()
	if !allowed(t, e, colleague, client, "reports.view", now) {
		t.Fatal("the delegate lacks reports.view")
	}

	// The delegate acts: the audit log shows its home account and chain (R-EXT-10).
	var acts steward.Role
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/roles/"+editors, colleagueTok, nil, &acts)

	// The client narrows the role: the delegate's checks narrow with it.
	e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+client+"/roles/"+editors, ownerTok, map[string]any{"permissions": []string{"crm.contacts.view", "crm.contacts.edit"}}, nil)
	if allowed(t, e, colleague, client, "reports.view", now) || allowed(t, e, a, client, "reports.view", now) {
		t.Error("reports.view survived the narrowing of the role")
	}
	if !allowed(t, e, colleague, client, "crm.contacts.edit", now) {
		t.Error("the delegate lost a permission the role kept")
	}

	// After delegates_end_at: the delegate is denied, its parent still allowed.
	if allowed(t, e, colleague, client, "crm.contacts.view", dends) || !allowed(t, e, a, client, "crm.contacts.view", dends) {
		t.Error("at delegates_end_at the delegate must be denied and the parent allowed")
	}
	// After ends_at: both denied.
	if allowed(t, e, colleague, client, "crm.contacts.view", ends) || allowed(t, e, a, client, "crm.contacts.view", ends) {
		t.Error("at ends_at both must be denied")
	}
	if !allowed(t, e, b, client, "crm.contacts.view", ends.Add(-time.Second)) {
		t.Error("b denied before its end")
	}

	// A week before delegates_end_at the scheduler mails the delegate the
	// 7-day warning, once (R-LIFE-2).
	colleagueMail := userEmail(t, e, colleague)
	reminders := func() int {
		n := 0
		for _, m := range smtp.Mails() {
			if slices.Contains(m.To, colleagueMail) && strings.Contains(m.Subject, "ends in 7 days") {
				n++
			}
		}
		return n
	}
	clock.Set(dends.Add(-7*24*time.Hour + time.Minute))
	for range 2 {
		if err := e.Svc.RunDueJobs(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); reminders() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if reminders() != 1 {
		t.Errorf("reminders to the delegate = %d, want 1", reminders())
	}

	// The unanswered invitation expires: at once for the link, and in the
	// listing once the scheduler has run, which also ends the delegate
	// whose delegates_end_at has passed.
	clock.Set(start.Add(steward.DefaultInvitationTTL))
	MustProblem(t, e.Do(t, "POST", "/v1/invitations/"+cLink+"/accept", cTok, nil), http.StatusGone, "invitation_expired", "")
	if pending() != 0 {
		t.Errorf("pending = %d after the TTL, want 0", pending())
	}
	if err := e.Svc.RunDueJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	var expired stewardhttp.List[steward.Invitation]
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/invitations?status=expired", ownerTok, nil, &expired)
	if len(expired.Items) != 1 || expired.Items[0].Email != cMail {
		t.Errorf("expired invitations = %+v, want c's", expired.Items)
	}
	if m := e.Member(t, client, colleague); m.Status != steward.StatusExpired {
		t.Errorf("delegate status = %s after delegates_end_at and a scheduler run, want expired", m.Status)
	}

	// Options are edited later (R-EXT-8): delegates may come back until
	// ends_at; a new delegation of the same colleague holds; turning
	// re-delegation off ends it at once.
	e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+client+"/external-users/"+a, ownerTok, map[string]any{"delegates_end_at": ends}, nil)
	e.MustOK(t, http.StatusCreated, "POST", delegates, aTok, map[string]any{"user_ids": []string{colleague}}, nil)
	if !allowed(t, e, colleague, client, "crm.contacts.view", clock.Now()) {
		t.Error("the delegate does not hold again after delegates_end_at moved")
	}
	e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+client+"/external-users/"+a, ownerTok, map[string]any{"allow_redelegation": false}, nil)
	if m := e.Member(t, client, colleague); m.Status != steward.StatusExpired {
		t.Errorf("delegate status = %s after re-delegation was turned off, want expired", m.Status)
	}
	if allowed(t, e, colleague, client, "crm.contacts.view", clock.Now()) || !allowed(t, e, a, client, "crm.contacts.view", clock.Now()) {
		t.Error("re-delegation off must deny the delegate and keep the external user")
	}

	// Invitation links went only to the invitees.
	for _, m := range smtp.Mails() {
		if strings.Contains(m.Body, "/invitations/") && !slices.Contains(m.To, aMail) && !slices.Contains(m.To, bMail) && !slices.Contains(m.To, cMail) {
			t.Errorf("an invitation link went to %v", m.To)
		}
	}

	// The audit log tells who acted, from where, through which chain.
	var log stewardhttp.List[steward.Event]
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/audit?action=delegate.added", ownerTok, nil, &log)
	if len(log.Items) != 2 {
		t.Errorf("delegate.added events = %d, want 2", len(log.Items))
	}
	for _, ev := range log.Items {
		if got := ev.Actor; got.UserID != a || got.HomeAccountID != home || got.Kind != steward.KindExternal || !slices.Equal(got.Chain, []string{ma.ID}) {
			t.Errorf("delegate.added actor = %+v, want a from its home account through %s", got, ma.ID)
		}
	}
	var verify steward.VerifyResult
	e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/audit/verify", ownerTok, nil, &verify)
	if !verify.OK {
		t.Errorf("verify = %+v", verify)
	}
	if strings.Contains(e.Logs.String(), aLink) || strings.Contains(e.Logs.String(), cLink) {
		t.Error("an invitation token reached the log")
	}
}

func TestExternalOpenAPI(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	e.MustOK(t, http.StatusOK, "GET", "/v1/openapi.json", "", nil, &doc)
	for path, methods := range map[string][]string{
		"/v1/consent": {"get"},
		"/v1/accounts/{account}/roles/{role}/invitations":                   {"post", "get"},
		"/v1/accounts/{account}/invitations":                                {"get"},
		"/v1/accounts/{account}/invitations/{invitation}":                   {"delete"},
		"/v1/invitations/{token}":                                           {"get"},
		"/v1/invitations/{token}/accept":                                    {"post"},
		"/v1/accounts/{account}/external-users/{user}":                      {"patch"},
		"/v1/accounts/{account}/external-users/{user}/delegates":            {"post", "get"},
		"/v1/accounts/{account}/external-users/{user}/delegates/{delegate}": {"delete"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi.json lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}
}

// TestExternalBadInput: malformed invitation and delegation requests are
// clear 4xx answers that change nothing.
func TestExternalBadInput(t *testing.T) {
	e := MustServe(t, MustOpenSQLite(t))
	client, owner := e.Account(t, steward.AccountStandard)
	ownerTok := e.Token(t, owner)
	path := "/v1/accounts/" + client + "/roles/member/invitations"
	consent := map[string]any{"accepted": true, "version": steward.DefaultConsentVersion}
	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"ErrEmailsNumber", map[string]any{"emails": 42, "consent": consent}, 400, "wrong_type"},
		{"ErrEmailsListOfNumbers", map[string]any{"emails": []int{1}, "consent": consent}, 400, "wrong_type"},
		{"ErrEmailsMissing", map[string]any{"consent": consent}, 422, ""},
		{"ErrUnknownField", map[string]any{"emails": "a@example.com", "consent": consent, "admin": true}, 400, "unknown_field"},
		{"ErrConsentWrongType", map[string]any{"emails": "a@example.com", "consent": "yes"}, 400, "wrong_type"},
		{"ErrMalformedJSON", `{"emails": `, 400, "malformed_json"},
		{"ErrAllBad", map[string]any{"emails": []string{"x", "y@"}, "consent": consent}, 422, "invalid_emails"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.AuditCount(t, client)
			res := e.Do(t, "POST", path, ownerTok, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", res.Status, tt.status, res.Body)
			}
			if tt.code != "" {
				MustProblem(t, res, tt.status, tt.code, "")
			}
			if e.AuditCount(t, client) != before {
				t.Error("a refused request wrote an event")
			}
		})
	}
	MustProblem(t, e.Do(t, "GET", "/v1/invitations/stwi_nope", ownerTok, nil), http.StatusNotFound, "invitation_not_found", "")
	MustProblem(t, e.Do(t, "POST", "/v1/invitations/stwi_nope/accept", "", nil), http.StatusUnauthorized, "unauthenticated", "")
	MustProblem(t, e.Do(t, "DELETE", "/v1/accounts/"+client+"/invitations/inv_nope", ownerTok, nil), http.StatusNotFound, "invitation_not_found", "")
}
