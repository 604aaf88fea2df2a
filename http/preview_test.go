package http_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// TestRPREVIEW1_DryRunOverHTTP: ?dry_run=true answers what the request would
// change, with 200 and without any event, revision, mail or kept
// Idempotency-Key answer; an error comes as the real request's; routes that
// do not change permissions refuse dry_run.
func TestRPREVIEW1_DryRunOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		acc, _ := e.Account(t, steward.AccountStandard)
		// An actor holding account.users.manage and crm.contacts.view but not reports.view.
		actorRole := e.Role(t, acc, "Managers", steward.PermUsersManage, steward.PermRolesManage, "crm.contacts.view")
		actor := e.User(t, acc, actorRole)
		tok := e.Token(t, actor)
		memberRole := e.Role(t, acc, "Viewers", "reports.view")
		member := e.User(t, acc, memberRole)
		target := e.Role(t, acc, "Contacts", "crm.contacts.view")
		before := e.Member(t, acc, member)

		rev, events, mails := e.Revision(t), e.AuditCount(t, acc), len(e.mustMessages(t))
		var p steward.Preview
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+member+"/role?dry_run=true", tok,
			map[string]string{"role": target}, &p, "Idempotency-Key", "preview-1")
		if !p.DryRun || len(p.Changes) != 1 {
			t.Fatalf("preview = %+v, want one change", p)
		}
		c := p.Changes[0]
		if c.MembershipID != before.ID || c.UserID != member || !slices.Equal(c.Gained, []string{"crm.contacts.view"}) ||
			len(c.Lost) != 0 || !slices.Equal(c.KeptNotHeld, []string{"reports.view"}) {
			t.Fatalf("change = %+v, want crm.contacts.view gained and reports.view kept, not held by the actor", c)
		}
		if e.Revision(t) != rev || e.AuditCount(t, acc) != events || len(e.mustMessages(t)) != mails {
			t.Fatal("a dry run wrote something")
		}
		if got := e.Member(t, acc, member); !slices.Equal(got.Permissions, before.Permissions) || got.Role != before.Role {
			t.Fatalf("member after a dry run = %+v, want unchanged %+v", got, before)
		}
		// The real request does what the preview said.
		var m steward.Membership
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+member+"/role", tok, map[string]string{"role": target}, &m)
		if !slices.Equal(m.Permissions, []string{"crm.contacts.view", "reports.view"}) {
			t.Fatalf("permissions = %v after the real change", m.Permissions)
		}

		// A role create previews nothing to change in memberships, and writes no role.
		e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+acc+"/roles?dry_run=true", tok,
			map[string]any{"name": "Preview only", "permissions": []string{}}, &p)
		if !p.DryRun || len(p.Changes) != 0 {
			t.Fatalf("preview of a role create = %+v", p)
		}
		// The error the real request gets: a permission the actor lacks.
		MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+acc+"/roles?dry_run=true", tok,
			map[string]any{"name": "Too much", "permissions": []string{"reports.view"}}), http.StatusForbidden, "permission_not_held", "")
		// Editing the member's role previews every member holding it.
		e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+acc+"/roles/"+target+"?dry_run=true", operatorToken,
			map[string]any{"permissions": []string{}}, &p)
		if len(p.Changes) != 1 || !slices.Equal(p.Changes[0].Lost, []string{"crm.contacts.view"}) {
			t.Fatalf("preview of a role edit = %+v, want the member losing crm.contacts.view", p)
		}
		// Adding a member previews a new membership.
		e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+acc+"/members?dry_run=true", tok,
			map[string]any{"email": "new.preview@example.com", "name": "New", "role": target}, &p)
		if len(p.Changes) != 1 || !slices.Equal(p.Changes[0].Gained, []string{"crm.contacts.view"}) {
			t.Fatalf("preview of an added member = %+v", p)
		}
		if e.Revision(t) != rev+1 {
			t.Fatal("dry runs wrote a revision")
		}
		// The Idempotency-Key of a dry run keeps no answer: the real request with it changes.
		e.MustOK(t, http.StatusOK, "PUT", "/v1/accounts/"+acc+"/members/"+member+"/role", tok,
			map[string]string{"role": memberRole}, nil, "Idempotency-Key", "preview-1")

		MustProblem(t, e.Do(t, "POST", "/v1/accounts/"+acc+"/members/"+member+"/deactivate?dry_run=true", tok, nil),
			http.StatusBadRequest, "dry_run_not_supported", "query.dry_run")
		MustProblem(t, e.Do(t, "PUT", "/v1/accounts/"+acc+"/members/"+member+"/role?dry_run=maybe", tok, map[string]string{"role": target}),
			http.StatusBadRequest, "invalid_query", "query.dry_run")
	})
}

// mustMessages returns the mail outbox, newest first.
func (e *Env) mustMessages(tb testing.TB) []*steward.Message {
	tb.Helper()
	msgs, err := e.Store.FindMessages(context.Background(), 10000)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}

// TestRPREVIEW1_PolicyAndApprovalDryRun: a policy change and an access
// request approval accept ?dry_run=true like every other permission-changing
// request: the answer lists what each affected membership would gain or
// lose, and nothing is written.
func TestRPREVIEW1_PolicyAndApprovalDryRun(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		client, owner := e.Account(t, steward.AccountStandard)
		ownerTok := e.Token(t, owner)
		partner, pOwner := e.Account(t, steward.AccountPartner)
		var link steward.NewAccessLink
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", e.Token(t, pOwner), map[string]any{}, &link)
		token := link.URL[strings.LastIndex(link.URL, "/")+1:]
		e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+token+"/approve", ownerTok, map[string]any{"account_id": client}, nil)
		viewers := e.Role(t, client, "Viewers", "crm.contacts.view", "reports.view")
		emp := e.User(t, partner, steward.RoleMember)
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/clients/"+client+"/employees", e.Token(t, pOwner),
			map[string]any{"user_ids": []string{emp}, "role": viewers}, nil)
		pm := e.Member(t, client, emp)

		rev, events := e.Revision(t), e.AuditCount(t, client)
		var p steward.Preview
		e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+client+"/policy?dry_run=true", ownerTok,
			map[string]any{"never_delegable": []string{"reports.view"}, "max_partner_days": 30}, &p)
		if !p.DryRun || len(p.Changes) != 2 {
			t.Fatalf("policy preview = %+v, want the partner admin and its employee", p)
		}
		for _, c := range p.Changes {
			// R-LIFE-1: partner memberships end with their relationship, whose
			// end the tightening moves; their own end stays as it is.
			if !slices.Equal(c.Lost, []string{"reports.view"}) || c.End != nil {
				t.Fatalf("policy preview = %+v, want each losing reports.view, its own end unchanged", p)
			}
		}
		// R-GUARD-4, R-LIFE-1: the relationship's end is what moves; the
		// preview lists it apart.
		if len(p.Relationships) != 1 || p.Relationships[0].PartnerID != partner || p.Relationships[0].ClientID != client ||
			!strings.HasPrefix(p.Relationships[0].RelationshipID, steward.PrefixRelationship) || p.Relationships[0].End.From != nil || p.Relationships[0].End.To == nil {
			t.Fatalf("policy preview relationships = %+v, want %s→%s from no end to the new maximum", p.Relationships, partner, client)
		}
		if e.Revision(t) != rev || e.AuditCount(t, client) != events {
			t.Fatal("a policy dry run wrote something")
		}
		var pol steward.AccountPolicy
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/policy", ownerTok, nil, &pol)
		if len(pol.NeverDelegable) != 0 || pol.MaxPartnerDays != nil {
			t.Fatalf("policy after a dry run = %+v", pol)
		}
		// A refused policy change answers its error.
		MustProblem(t, e.Do(t, "PATCH", "/v1/accounts/"+client+"/policy?dry_run=true", e.Token(t, pOwner),
			map[string]any{"never_delegable": []string{"reports.view"}}), http.StatusForbidden, "permission_required", "")

		var req steward.AccessRequest
		e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+client+"/access-requests", e.Token(t, pOwner),
			map[string]any{"user_id": emp, "permissions": []string{"crm.deals.edit"}, "reason": "Deal review"}, &req)
		rev, events, mails := e.Revision(t), e.AuditCount(t, client), len(e.mustMessages(t))
		e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+client+"/access-requests/"+req.ID+"/approve?dry_run=true", ownerTok, nil, &p)
		if len(p.Changes) != 1 || p.Changes[0].MembershipID != pm.ID || !slices.Equal(p.Changes[0].Gained, []string{"crm.deals.edit"}) || len(p.Changes[0].Lost) != 0 {
			t.Fatalf("approval preview = %+v, want crm.deals.edit gained", p)
		}
		if e.Revision(t) != rev || e.AuditCount(t, client) != events || len(e.mustMessages(t)) != mails {
			t.Fatal("an approval dry run wrote something")
		}
		var got steward.AccessRequest
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/access-requests/"+req.ID, ownerTok, nil, &got)
		if got.Status != steward.RequestPending {
			t.Fatalf("request after a dry run = %s", got.Status)
		}
		e.MustOK(t, http.StatusOK, "POST", "/v1/accounts/"+client+"/access-requests/"+req.ID+"/approve", ownerTok, nil, &got)
		if m := e.Member(t, client, emp); !slices.Contains(m.Permissions, "crm.deals.edit") {
			t.Fatalf("permissions after the approval = %v", m.Permissions)
		}
	})
}
