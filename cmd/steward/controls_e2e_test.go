package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/mail/mailtest"
)

// ctlNode is one `steward serve` of the controls' end-to-end test, run in
// this process as the binary runs it.
type ctlNode struct {
	name string
	url  string
}

// ctlAnswer is an answer of a node: its status, revision header and body.
type ctlAnswer struct {
	status int
	rev    int64
	body   []byte
}

func (n *ctlNode) do(tb testing.TB, method, path, token string, body any) ctlAnswer {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s %s: %v", n.name, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	rev, _ := strconv.ParseInt(resp.Header.Get("Steward-Revision"), 10, 64)
	return ctlAnswer{status: resp.StatusCode, rev: rev, body: data}
}

// must sends a request, fails the test unless the status is want, and
// decodes the answer into out (when not nil); it returns the revision.
func (n *ctlNode) must(tb testing.TB, want int, method, path, token string, body, out any) int64 {
	tb.Helper()
	a := n.do(tb, method, path, token, body)
	if a.status != want {
		tb.Fatalf("%s %s %s: status %d, want %d: %s", n.name, method, path, a.status, want, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			tb.Fatalf("%s %s %s: %v: %s", n.name, method, path, err, a.body)
		}
	}
	return a.rev
}

// problem sends a request and fails the test unless it answers status with
// the problem code.
func (n *ctlNode) problem(tb testing.TB, status int, code, method, path, token string, body any) {
	tb.Helper()
	a := n.do(tb, method, path, token, body)
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	if a.status != status || p.Code != code {
		tb.Fatalf("%s %s %s: %d %s, want %d %s: %s", n.name, method, path, a.status, p.Code, status, code, a.body)
	}
}

// ctlCheck is one check of the scenario and its expected answer.
type ctlCheck struct {
	user, account, perm string
	at                  *time.Time
	allowed             bool
	endsAt              *time.Time // when set, the reason's end must be this
}

func (c ctlCheck) agrees(res steward.CheckResult) bool {
	if res.Allowed != c.allowed {
		return false
	}
	if c.endsAt != nil {
		return res.Reason.EndsAt != nil && res.Reason.EndsAt.Equal(*c.endsAt)
	}
	return true
}

// TestRGUARD_RREQUEST_RREVIEW_RREVOKE_RPREVIEW1_ControlsOnTwoNodes walks
// the controls of SPEC §6 over HTTP, on two nodes (two steward serve) of
// one PostgreSQL database, with mail delivered to an SMTP server. After
// every step a check on the node that wrote (with min_revision) and one on
// the other node (without it, polled for at most one second) agree with
// what happened.
func TestRGUARD_RREQUEST_RREVIEW_RREVOKE_RPREVIEW1_ControlsOnTwoNodes(t *testing.T) {
	dsn := pgtest.NewDSN(t) // skips without STEWARD_TEST_POSTGRES_DSN, which CI treats as a failure
	smtp := mailtest.NewServer(t)
	var nodes []*ctlNode
	for _, name := range []string{"node A", "node B"} {
		m := NewMain()
		m.Config.DB = dsn
		m.Config.SMTP = smtp.URL()
		m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
		m.Config.Listen = "127.0.0.1:0"
		m.Config.OperatorToken = testOperatorToken
		m.Stderr = io.Discard
		if err := m.Run(context.Background()); err != nil {
			m.Close()
			t.Fatalf("%s: Run: %v", name, err)
		}
		t.Cleanup(func() { m.Close() })
		nodes = append(nodes, &ctlNode{name: name, url: m.URL()})
	}
	a, b := nodes[0], nodes[1]
	op := testOperatorToken

	// expect checks on the node that wrote, with min_revision, and on the
	// other node without it: the other node must agree within one second
	// (R-CHECK-3's feed between nodes, R-GUARD-4's "next check").
	expect := func(t *testing.T, writer *ctlNode, rev int64, checks ...ctlCheck) {
		t.Helper()
		other := b
		if writer == b {
			other = a
		}
		for _, c := range checks {
			req := steward.CheckRequest{UserID: c.user, AccountID: c.account, Permission: c.perm, At: c.at, MinRevision: rev}
			var res steward.CheckResult
			writer.must(t, http.StatusOK, "POST", "/v1/check", op, req, &res)
			if !c.agrees(res) {
				t.Fatalf("%s (min_revision %d): %s %s %s: allowed=%v ends=%v, want allowed=%v ends=%v (%s)", writer.name, rev, c.user, c.account, c.perm,
					res.Allowed, res.Reason.EndsAt, c.allowed, c.endsAt, res.Reason.Code)
			}
			req.MinRevision = 0
			deadline := time.Now().Add(time.Second)
			for {
				other.must(t, http.StatusOK, "POST", "/v1/check", op, req, &res)
				if c.agrees(res) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not agree within 1 s: %s %s %s: allowed=%v ends=%v at revision %d, want allowed=%v ends=%v", other.name, c.user, c.account, c.perm,
						res.Allowed, res.Reason.EndsAt, res.Revision, c.allowed, c.endsAt)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	waitMail := func(t *testing.T, to, subject string) mailtest.Mail {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n := 1; ; n++ {
			ms := smtp.Wait(n, time.Until(deadline))
			for i := len(ms) - 1; i >= 0; i-- {
				if slices.Contains(ms[i].To, to) && strings.HasPrefix(ms[i].Subject, subject) {
					return ms[i]
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no mail %q to %s; got %d mails", subject, to, len(ms))
			}
			n = len(ms)
		}
	}

	// The world: a client (Acme, Ada its super admin), two partners (the
	// agency with Pat and Sam, another with Quinn), and Eve, an outside
	// consultant.
	account := func(name string, kind steward.AccountKind, owner string) (string, string) {
		var acc steward.Account
		a.must(t, http.StatusCreated, "POST", "/v1/accounts", op, steward.NewAccount{Name: name, Kind: kind,
			Owner: &steward.NewOwner{Email: owner, Name: owner}}, &acc)
		var u steward.User
		a.must(t, http.StatusOK, "GET", "/v1/users/"+acc.Owner.ID, op, nil, &u)
		return acc.ID, u.ID
	}
	user := func(home, email string) string {
		var u steward.User
		a.must(t, http.StatusCreated, "POST", "/v1/users", op, steward.NewUser{Email: email, Name: email, HomeAccountID: home}, &u)
		return u.ID
	}
	token := func(userID string) string {
		var tok struct {
			Token string `json:"token"`
		}
		a.must(t, http.StatusCreated, "POST", "/v1/tokens", op, map[string]string{"user_id": userID}, &tok)
		return tok.Token
	}
	acme, ada := account("Acme", steward.AccountStandard, "ada@acme.example")
	agency, pat := account("Brightside", steward.AccountPartner, "pat@brightside.example")
	other, quinn := account("Elsewhere", steward.AccountPartner, "quinn@elsewhere.example")
	consultancy, carl := account("Carl Consulting", steward.AccountStandard, "carl@consult.example")
	sam, eve := user(agency, "sam@brightside.example"), user(consultancy, "eve@consult.example")
	adaTok, patTok, quinnTok, eveTok := token(ada), token(pat), token(quinn), token(eve)
	const product = "crm.deals.edit" // a product permission of the demo catalogue
	var contacts steward.Role
	a.must(t, http.StatusCreated, "POST", "/v1/accounts/"+acme+"/roles", adaTok,
		map[string]any{"name": "Contacts", "permissions": []string{"crm.contacts.view", "crm.contacts.edit"}}, &contacts)
	policyPath := "/v1/accounts/" + acme + "/policy"
	now := time.Now().UTC()

	t.Run("R-GUARD_PolicySet", func(t *testing.T) {
		rev := a.must(t, http.StatusOK, "PATCH", policyPath, adaTok, map[string]any{
			"allowed_partners": []string{agency}, "max_partner_days": 90, "max_external_days": 90,
			"never_delegable": []string{steward.PermBillingManage, product},
		}, nil)
		var p steward.AccountPolicy
		b.must(t, http.StatusOK, "GET", policyPath, adaTok, nil, &p)
		if !slices.Equal(p.AllowedPartners, []string{agency}) || p.MaxPartnerDays == nil || *p.MaxPartnerDays != 90 {
			t.Fatalf("policy read on %s = %+v", b.name, p)
		}
		expect(t, a, rev, ctlCheck{user: ada, account: acme, perm: product, allowed: true}) // internal members keep it
	})

	linkToken := func(t *testing.T, partner, tok string) string {
		var link steward.NewAccessLink
		a.must(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", tok, map[string]any{}, &link)
		return link.URL[strings.LastIndex(link.URL, "/")+1:]
	}
	t.Run("R-GUARD-1_OtherPartnerRefused", func(t *testing.T) {
		link := linkToken(t, other, quinnTok)
		end := now.Add(30 * 24 * time.Hour)
		b.problem(t, http.StatusForbidden, "partner_not_allowed", "POST", "/v1/access-links/"+link+"/approve", adaTok, map[string]any{"account_id": acme, "ends_at": end})
		expect(t, b, 0, ctlCheck{user: quinn, account: acme, perm: "reports.view", allowed: false})
	})

	partnerEnd := now.Add(80 * 24 * time.Hour).Truncate(time.Second)
	t.Run("R-GUARD-2_R-GUARD-3_AllowedPartnerApproved", func(t *testing.T) {
		link := linkToken(t, agency, patTok)
		a.problem(t, http.StatusUnprocessableEntity, "end_date_required", "POST", "/v1/access-links/"+link+"/approve", adaTok, map[string]any{"account_id": acme})
		rev := a.must(t, http.StatusOK, "POST", "/v1/access-links/"+link+"/approve", adaTok, map[string]any{"account_id": acme, "ends_at": partnerEnd}, nil)
		rev = max(rev, a.must(t, http.StatusCreated, "POST", "/v1/partners/"+agency+"/clients/"+acme+"/employees", patTok,
			map[string]any{"user_ids": []string{sam}, "role": contacts.ID}, nil))
		expect(t, a, rev,
			ctlCheck{user: pat, account: acme, perm: "reports.view", allowed: true, endsAt: &partnerEnd},
			ctlCheck{user: pat, account: acme, perm: product, allowed: false},
			ctlCheck{user: pat, account: acme, perm: steward.PermBillingManage, allowed: false},
			ctlCheck{user: sam, account: acme, perm: "crm.contacts.view", allowed: true, endsAt: &partnerEnd},
			ctlCheck{user: sam, account: acme, perm: "reports.view", allowed: false})
	})

	t.Run("R-REQUEST_R-PREVIEW-1_ApprovalPreviewedThenApproved", func(t *testing.T) {
		base := "/v1/accounts/" + acme + "/access-requests"
		b.problem(t, http.StatusForbidden, "permission_not_delegable", "POST", base, patTok,
			map[string]any{"user_id": sam, "permissions": []string{product}, "reason": "Deals"})
		var req steward.AccessRequest
		b.must(t, http.StatusCreated, "POST", base, patTok, map[string]any{"user_id": sam, "permissions": []string{"reports.view"}, "reason": "Monthly reporting"}, &req)
		waitMail(t, "ada@acme.example", "Access request in Acme")

		ans := a.do(t, "POST", base+"/"+req.ID+"/approve?dry_run=true", adaTok, nil)
		var p steward.Preview
		if err := json.Unmarshal(ans.body, &p); ans.status != http.StatusOK || err != nil || ans.rev != 0 {
			t.Fatalf("dry run: status %d revision %d: %s", ans.status, ans.rev, ans.body)
		}
		if len(p.Changes) != 1 || p.Changes[0].UserID != sam || !slices.Equal(p.Changes[0].Gained, []string{"reports.view"}) || len(p.Changes[0].Lost) != 0 {
			t.Fatalf("approval preview = %+v, want Sam gaining reports.view", p)
		}
		expect(t, a, 0, ctlCheck{user: sam, account: acme, perm: "reports.view", allowed: false}) // the dry run changed nothing
		rev := a.must(t, http.StatusOK, "POST", base+"/"+req.ID+"/approve", adaTok, nil, nil)
		expect(t, a, rev, ctlCheck{user: sam, account: acme, perm: "reports.view", allowed: true})
		waitMail(t, "sam@brightside.example", "Access request approved")
	})

	var eveEnd time.Time
	t.Run("R-GUARD-2_ExternalInvitedWithinMaximum", func(t *testing.T) {
		var consent steward.ConsentAgreement
		a.must(t, http.StatusOK, "GET", "/v1/consent", adaTok, nil, &consent)
		invite := func(days int) map[string]any {
			return map[string]any{"emails": "eve@consult.example", "consent": map[string]any{"accepted": true, "version": consent.Version},
				"ends_at": time.Now().UTC().Add(time.Duration(days) * 24 * time.Hour)}
		}
		path := "/v1/accounts/" + acme + "/roles/" + contacts.ID + "/invitations"
		a.problem(t, http.StatusUnprocessableEntity, "end_date_beyond_policy", "POST", path, adaTok, invite(120))
		a.must(t, http.StatusCreated, "POST", path, adaTok, invite(60), nil)
		msg := waitMail(t, "eve@consult.example", "Invitation to administer")
		_, rest, ok := strings.Cut(msg.Body, "/invitations/")
		if !ok {
			t.Fatalf("the invitation mail has no link:\n%s", msg.Body)
		}
		link, _, _ := strings.Cut(rest, "\n")
		var m steward.Membership
		rev := b.must(t, http.StatusCreated, "POST", "/v1/invitations/"+strings.TrimSpace(link)+"/accept", eveTok, nil, &m)
		if m.EndsAt == nil {
			t.Fatal("the external membership has no end")
		}
		eveEnd = *m.EndsAt
		expect(t, b, rev, ctlCheck{user: eve, account: acme, perm: "crm.contacts.view", allowed: true, endsAt: &eveEnd})
	})

	t.Run("R-GUARD-4_R-PREVIEW-1_TighteningClipsTheEnd", func(t *testing.T) {
		var m steward.Membership
		a.must(t, http.StatusOK, "GET", "/v1/accounts/"+acme+"/members/"+eve, adaTok, nil, &m)
		clipped := m.CreatedAt.Add(30 * 24 * time.Hour)
		var p steward.Preview
		if rev := a.must(t, http.StatusOK, "PATCH", policyPath+"?dry_run=true", adaTok, map[string]any{"max_external_days": 30}, &p); rev != 0 {
			t.Fatalf("a dry run answered revision %d", rev)
		}
		if len(p.Changes) != 1 || p.Changes[0].UserID != eve || p.Changes[0].End == nil || p.Changes[0].End.To == nil || !p.Changes[0].End.To.Equal(clipped) {
			t.Fatalf("policy preview = %+v, want Eve's end moving to %s", p, clipped)
		}
		expect(t, a, 0, ctlCheck{user: eve, account: acme, perm: "crm.contacts.view", allowed: true, endsAt: &eveEnd})
		rev := a.must(t, http.StatusOK, "PATCH", policyPath, adaTok, map[string]any{"max_external_days": 30}, nil)
		after := clipped.Add(time.Minute)
		expect(t, a, rev,
			ctlCheck{user: eve, account: acme, perm: "crm.contacts.view", allowed: true, endsAt: &clipped},
			ctlCheck{user: eve, account: acme, perm: "crm.contacts.view", at: &after, allowed: false})
	})

	t.Run("R-REVIEW_RemovesTheExternalUser", func(t *testing.T) {
		var rv steward.Review
		a.must(t, http.StatusCreated, "POST", "/v1/accounts/"+acme+"/reviews", adaTok, map[string]any{
			"reviewer_ids": []string{ada}, "due_at": time.Now().UTC().Add(14 * 24 * time.Hour), "default_decision": "keep"}, &rv)
		var items struct {
			Items []steward.ReviewItem `json:"items"`
		}
		b.must(t, http.StatusOK, "GET", "/v1/accounts/"+acme+"/reviews/"+rv.ID+"/items", adaTok, nil, &items)
		i := slices.IndexFunc(items.Items, func(it steward.ReviewItem) bool { return it.UserID == eve })
		if i < 0 {
			t.Fatalf("no review item for Eve: %+v", items.Items)
		}
		b.must(t, http.StatusOK, "PUT", "/v1/accounts/"+acme+"/reviews/"+rv.ID+"/items/"+items.Items[i].ID, adaTok, map[string]any{"decision": "remove"}, nil)
		rev := b.must(t, http.StatusOK, "POST", "/v1/accounts/"+acme+"/reviews/"+rv.ID+"/close", adaTok, nil, nil)
		expect(t, b, rev,
			ctlCheck{user: eve, account: acme, perm: "crm.contacts.view", allowed: false},
			ctlCheck{user: sam, account: acme, perm: "reports.view", allowed: true}) // kept by default
	})

	t.Run("R-REVOKE-1_HomeAccountEndsEverything", func(t *testing.T) {
		// A pending invitation to another user of the agency goes with it.
		rita := user(agency, "rita@brightside.example")
		var consent steward.ConsentAgreement
		a.must(t, http.StatusOK, "GET", "/v1/consent", adaTok, nil, &consent)
		a.must(t, http.StatusCreated, "POST", "/v1/accounts/"+acme+"/roles/"+contacts.ID+"/invitations", adaTok, map[string]any{
			"emails": "rita@brightside.example", "consent": map[string]any{"accepted": true, "version": consent.Version},
			"ends_at": time.Now().UTC().Add(20 * 24 * time.Hour)}, nil)
		var rv steward.Revocation
		rev := a.must(t, http.StatusOK, "POST", "/v1/accounts/"+acme+"/revocations", adaTok, map[string]any{"home_account_id": agency}, &rv)
		if rv.Relationship == nil || rv.Relationship.Status != steward.RelationshipEnded || len(rv.Ended) != 2 || len(rv.Invitations) != 1 {
			t.Fatalf("revocation = %+v, want the relationship ended, Pat's and Sam's memberships and Rita's invitation", rv)
		}
		expect(t, a, rev,
			ctlCheck{user: pat, account: acme, perm: "crm.contacts.view", allowed: false},
			ctlCheck{user: sam, account: acme, perm: "reports.view", allowed: false},
			ctlCheck{user: sam, account: acme, perm: "crm.contacts.view", allowed: false},
			ctlCheck{user: ada, account: acme, perm: "reports.view", allowed: true})
		b.problem(t, http.StatusNotFound, "account_not_found", "GET", "/v1/accounts/"+acme+"/members/"+pat, patTok, nil)
		msg := waitMail(t, "rita@brightside.example", "Invitation to administer")
		_, rest, _ := strings.Cut(msg.Body, "/invitations/")
		link, _, _ := strings.Cut(rest, "\n")
		b.problem(t, http.StatusGone, "invitation_revoked", "POST", "/v1/invitations/"+strings.TrimSpace(link)+"/accept", token(rita), nil)
	})

	t.Run("R-REVOKE-2_UserTokenStopsOnEveryNode", func(t *testing.T) {
		b.must(t, http.StatusOK, "GET", "/v1/consent", eveTok, nil, nil)
		var rv steward.UserRevocation
		a.must(t, http.StatusOK, "POST", "/v1/users/"+eve+"/revoke", token(carl), nil, &rv)
		if rv.TokensRevoked != 1 {
			t.Fatalf("revocation = %+v, want Eve's token", rv)
		}
		a.problem(t, http.StatusUnauthorized, "unauthenticated", "GET", "/v1/consent", eveTok, nil)
		deadline := time.Now().Add(time.Second)
		for b.do(t, "GET", "/v1/consent", eveTok, nil).status != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				t.Fatalf("%s still takes the revoked token after 1 s", b.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
