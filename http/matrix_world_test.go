package http_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// tenant is one customer's structure, built over the API: a partner agency
// that manages a client, and a consulting firm whose owner is an external
// user of the client and has re-delegated to a colleague.
type tenant struct {
	name string

	partner, client, firm string // accounts

	partnerAdmin string // the partner's owner, partner admin in the client
	employee     string // a partner employee in the client
	superAdmin   string // the client's owner
	member       string // an internal member of the client with the staff role
	external     string // the firm's owner, external user of the client
	delegate     string // the firm's colleague, the external user's delegate

	staffRole, analystRole string // custom roles of the client

	invitation, acceptedInvitation string // invitation ids: pending, accepted
	invitationToken, linkToken     string // pending invitation and access link tokens
	asset                          string // an asset id of the client, of type workflow
	review, reviewItem             string // an open access review of the client and one of its items

	// tokenIDs are the ids of the tokens the users sign in with, and
	// spareTokenIDs of a second token of each, by user id.
	tokenIDs, spareTokenIDs map[string]string
	accessRequest           string // the external user's pending access request in the client
	webhook, delivery       string // a webhook endpoint of the client and one of its deliveries
	eligibility, elevation  string // the member's eligibility for the analyst role, and its pending elevation

	actors []actor // each kind of user with its own token
	actAs  []actor // the same users, as the operator acting on their behalf
}

// actor is a user of one kind with its token, and the headers it sends.
type actor struct {
	kind    string
	self    string
	token   string
	headers []string
}

// accounts are the tenant's account ids.
func (tn *tenant) accounts() []string { return []string{tn.partner, tn.client, tn.firm} }

// users are the tenant's user ids.
func (tn *tenant) users() []string {
	return []string{tn.partnerAdmin, tn.employee, tn.superAdmin, tn.member, tn.external, tn.delegate}
}

// actorOf returns the tenant's actor of the kind.
func (tn *tenant) actorOf(kind string) actor {
	for _, a := range append(slices.Clone(tn.actors), tn.actAs...) {
		if a.kind == kind {
			return a
		}
	}
	panic("no actor of kind " + kind)
}

// serveHandler starts a test server over st like MustServe and also returns
// its handler, for tests that call it in process.
func serveHandler(tb testing.TB, st steward.Store) (*Env, http.Handler) {
	tb.Helper()
	e := &Env{Store: st, Logs: &syncBuffer{}}
	e.Svc = steward.NewService(st, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	e.Svc.BaseURL = e2eBaseURL
	box, err := steward.NewSecretBox(make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	e.Svc.Secrets = box
	e.Svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{matrixHookHost}}
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(operatorToken)}
	logger := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := stewardhttp.NewServer(e.Svc, auth, logger)
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	e.URL = srv.URL
	return e, h
}

// matrixHookHost is the host the matrix's webhooks name; the guard allows
// it, so that no name is looked up.
const matrixHookHost = "hooks.matrix.test"

var (
	invitationTokenRE = regexp.MustCompile(`/invitations/([A-Za-z0-9_]+)`)
	linkTokenRE       = regexp.MustCompile(`/access-links/([A-Za-z0-9_]+)$`)
)

// mailedInvitationToken returns the token of the newest invitation mailed to email.
func mailedInvitationToken(tb testing.TB, e *Env, email string) string {
	tb.Helper()
	msgs, err := e.Store.FindMessages(context.Background(), 10000)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range msgs { // newest first
		if m.To != email {
			continue
		}
		if tok := invitationTokenRE.FindStringSubmatch(m.Text); tok != nil {
			return tok[1]
		}
	}
	tb.Fatalf("no invitation mail to %s", email)
	return ""
}

// buildTenant builds a tenant over the API of e.
func buildTenant(tb testing.TB, e *Env, name string) *tenant {
	tb.Helper()
	tn := &tenant{name: name}
	var owner string
	tn.partner, tn.partnerAdmin = e.Account(tb, steward.AccountPartner)
	tn.client, tn.superAdmin = e.Account(tb, steward.AccountStandard)
	tn.firm, tn.external = e.Account(tb, steward.AccountStandard)
	tn.employee = e.User(tb, tn.partner, steward.RoleMember)
	tn.staffRole = e.Role(tb, tn.client, "Staff "+name, steward.PermUsersManage, steward.PermRolesManage, steward.PermExternalUsersInvite,
		steward.PermPartnersManage, steward.PermAuditView, "crm.contacts.view", "crm.contacts.edit", "reports.view")
	tn.analystRole = e.Role(tb, tn.client, "Analyst "+name, "crm.contacts.view", "reports.view")
	tn.member = e.User(tb, tn.client, tn.staffRole)
	tn.delegate = e.User(tb, tn.firm, steward.RoleMember)
	owner = tn.superAdmin
	tok := map[string]string{}
	tn.tokenIDs, tn.spareTokenIDs = map[string]string{}, map[string]string{}
	for _, u := range tn.users() {
		for _, ids := range []map[string]string{tn.tokenIDs, tn.spareTokenIDs} {
			var nt stewardhttp.TokenResponse
			e.MustOK(tb, http.StatusCreated, "POST", "/v1/tokens", operatorToken, stewardhttp.TokenRequest{UserID: u}, &nt)
			if nt.ID == "" || nt.Token == "" {
				tb.Fatalf("token of %s = %+v, want its id and secret", u, nt)
			}
			ids[u] = nt.ID
			if tok[u] == "" {
				tok[u] = nt.Token
			}
		}
	}

	// The partner admin's access link, approved by the client's super admin.
	var link steward.NewAccessLink
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/partners/"+tn.partner+"/access-links", tok[tn.partnerAdmin], map[string]any{}, &link)
	m := linkTokenRE.FindStringSubmatch(link.URL)
	if m == nil {
		tb.Fatalf("access link %q ends with no token", link.URL)
	}
	e.MustOK(tb, http.StatusOK, "POST", "/v1/access-links/"+m[1]+"/approve", tok[owner], map[string]any{"account_id": tn.client}, nil)
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/partners/"+tn.partner+"/clients/"+tn.client+"/employees", tok[tn.partnerAdmin],
		map[string]any{"user_ids": []string{tn.employee}, "role": steward.RoleMember}, nil)
	// A pending link of the employee.
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/partners/"+tn.partner+"/access-links", tok[tn.employee], map[string]any{}, &link)
	if m = linkTokenRE.FindStringSubmatch(link.URL); m == nil {
		tb.Fatalf("access link %q ends with no token", link.URL)
	}
	tn.linkToken = m[1]

	// The firm's owner invited as an external analyst who may re-delegate,
	// and its colleague as delegate.
	var consent steward.ConsentAgreement
	e.MustOK(tb, http.StatusOK, "GET", "/v1/consent", tok[owner], nil, &consent)
	invite := func(email string) string {
		var out stewardhttp.InvitationsCreated
		e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/roles/"+tn.analystRole+"/invitations", tok[owner], map[string]any{
			"emails": email, "consent": map[string]any{"accepted": true, "version": consent.Version}, "allow_redelegation": true}, &out)
		if len(out.Items) != 1 {
			tb.Fatalf("invitations = %+v", out.Items)
		}
		return out.Items[0].ID
	}
	externalEmail := userEmail(tb, e, tn.external)
	tn.acceptedInvitation = invite(externalEmail)
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/invitations/"+mailedInvitationToken(tb, e, externalEmail)+"/accept", tok[tn.external], nil, nil)
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/external-users/"+tn.external+"/delegates", tok[tn.external],
		map[string]any{"user_ids": []string{tn.delegate}}, nil)
	var req steward.AccessRequest
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/access-requests", tok[tn.external],
		map[string]any{"user_id": tn.external, "permissions": []string{"settings.edit"}, "reason": "Set up the account"}, &req)
	tn.accessRequest = req.ID
	pending := fmt.Sprintf("pending-%s@example.org", strings.ToLower(name))
	tn.invitation = invite(pending)
	tn.invitationToken = mailedInvitationToken(tb, e, pending)

	// The member is eligible for the analyst role with approval, and has
	// asked for it (R-ELEVATE-1..2).
	var elig steward.Eligibility
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/eligibilities", tok[owner], map[string]any{
		"user_id": tn.member, "role": tn.analystRole, "max_minutes": 60, "approval_required": true}, &elig)
	var elev steward.Elevation
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/elevations", tok[tn.member], map[string]any{
		"role": tn.analystRole, "minutes": 30, "reason": "Quarter close"}, &elev)
	tn.eligibility, tn.elevation = elig.ID, elev.ID

	var review steward.Review
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/reviews", tok[owner], map[string]any{
		"reviewer_ids": []string{owner}, "due_at": time.Now().UTC().Add(30 * 24 * time.Hour), "default_decision": "keep"}, &review)
	var items stewardhttp.List[steward.ReviewItem]
	e.MustOK(tb, http.StatusOK, "GET", "/v1/accounts/"+tn.client+"/reviews/"+review.ID+"/items", tok[owner], nil, &items)
	if len(items.Items) == 0 {
		tb.Fatal("the review has no items")
	}
	tn.review, tn.reviewItem = review.ID, items.Items[0].ID

	tn.asset = "wf-" + strings.ToLower(name)
	e.MustOK(tb, http.StatusOK, "PUT", "/v1/accounts/"+tn.client+"/assets/workflow/"+tn.asset, operatorToken,
		map[string]any{"name": "Campaign " + name, "owner_user_id": tn.employee}, nil)

	var hook steward.NewWebhook
	e.MustOK(tb, http.StatusCreated, "POST", "/v1/accounts/"+tn.client+"/webhooks", tok[owner],
		map[string]any{"url": "https://" + matrixHookHost + "/" + strings.ToLower(name), "event_types": []string{"*"}}, &hook)
	tn.webhook = hook.ID
	var deliveries stewardhttp.List[*steward.WebhookDelivery]
	e.MustOK(tb, http.StatusOK, "GET", "/v1/accounts/"+tn.client+"/webhooks/"+tn.webhook+"/deliveries", tok[owner], nil, &deliveries)
	if len(deliveries.Items) == 0 {
		tb.Fatal("the webhook has no delivery of its own creation")
	}
	tn.delivery = deliveries.Items[0].ID

	for _, a := range []struct{ kind, id string }{
		{"internal super admin", tn.superAdmin}, {"internal member", tn.member}, {"partner admin", tn.partnerAdmin},
		{"partner employee", tn.employee}, {"external user", tn.external}, {"delegate", tn.delegate},
	} {
		tn.actors = append(tn.actors, actor{kind: a.kind, self: a.id, token: tok[a.id]})
		tn.actAs = append(tn.actAs, actor{kind: a.kind + " (operator acting as)", self: a.id, token: operatorToken, headers: []string{"Steward-Act-As", a.id}})
	}
	return tn
}
