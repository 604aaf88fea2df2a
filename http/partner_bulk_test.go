package http_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
)

// TestRPARTNER4_AssignEmployeesOverHTTP: POST
// /v1/partners/{partner}/employees/assignments adds employees to many
// clients in one request: a dry run writes nothing, the request answers
// the new membership ids per client, a retry with its Idempotency-Key
// replays the answer, and a client that is not the partner's refuses the
// whole request naming it.
func TestRPARTNER4_AssignEmployeesOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, pOwner := e.Account(t, steward.AccountPartner)
		pTok := e.Token(t, pOwner)
		var clients []string
		for range 2 {
			client, owner := e.Account(t, steward.AccountStandard)
			var link steward.NewAccessLink
			e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", pTok, map[string]any{}, &link)
			token := link.URL[strings.LastIndex(link.URL, "/")+1:]
			e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+token+"/approve", e.Token(t, owner), map[string]any{"account_id": client}, nil)
			clients = append(clients, client)
		}
		users := []string{e.User(t, partner, steward.RoleMember), e.User(t, partner, steward.RoleMember)}
		path := "/v1/partners/" + partner + "/employees/assignments"
		body := map[string]any{"client_ids": clients, "user_ids": users, "role": steward.RoleMember}

		rev, events, mails := e.Revision(t), e.AuditCount(t, clients[0]), len(e.mustMessages(t))
		var p steward.Preview
		e.MustOK(t, http.StatusOK, "POST", path+"?dry_run=true", pTok, body, &p, "Idempotency-Key", "assign-1")
		if !p.DryRun || len(p.Changes) != 4 {
			t.Fatalf("preview = %+v, want 4 new memberships", p)
		}
		if e.Revision(t) != rev || e.AuditCount(t, clients[0]) != events || len(e.mustMessages(t)) != mails {
			t.Fatal("a dry run wrote something")
		}

		var a steward.Assignment
		first := e.MustOK(t, http.StatusCreated, "POST", path, pTok, body, &a, "Idempotency-Key", "assign-1")
		if a.Added != 4 || len(a.Clients) != 2 || a.Clients[0].ClientID != clients[0] || len(a.Clients[1].MembershipIDs) != 2 {
			t.Fatalf("answer = %s, want 2 memberships in each client", first.Body)
		}
		for i, c := range a.Clients {
			for j, id := range c.MembershipIDs {
				if m := e.Member(t, c.ClientID, users[j]); m.ID != id || m.Kind != steward.KindPartner {
					t.Errorf("clients[%d].membership_ids[%d] = %s, the member is %+v", i, j, id, m)
				}
			}
		}
		if got := e.AuditCount(t, clients[0]); got != events+2 {
			t.Errorf("events in the first client = %d, want %d", got, events+2)
		}
		if got := len(e.mustMessages(t)); got != mails+2 {
			t.Errorf("mails = %d, want one more per employee (%d)", got, mails+2)
		}
		after := e.Revision(t)
		retry := e.MustOK(t, http.StatusCreated, "POST", path, pTok, body, nil, "Idempotency-Key", "assign-1")
		if !bytes.Equal(retry.Body, first.Body) || retry.Header.Get("Idempotent-Replayed") != "true" || e.Revision(t) != after {
			t.Errorf("retry = %s %v, want the replay of %s and no new revision", retry.Body, retry.Header, first.Body)
		}

		// A client that is not the partner's refuses everything, named by its place.
		stranger, _ := e.Account(t, steward.AccountStandard)
		fresh := e.User(t, partner, steward.RoleMember)
		MustProblem(t, e.Do(t, "POST", path, pTok, map[string]any{"client_ids": []string{clients[0], stranger}, "user_ids": []string{fresh}, "role": steward.RoleMember}),
			http.StatusNotFound, "client_not_found", "client_ids[1]")
		MustProblem(t, e.Do(t, "POST", path+"?dry_run=true", pTok, map[string]any{"client_ids": []string{clients[0], stranger}, "user_ids": []string{fresh}, "role": steward.RoleMember}),
			http.StatusNotFound, "client_not_found", "client_ids[1]")
		if _, err := e.Store.FindMembership(context.Background(), clients[0], fresh); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Errorf("a refused request added its employee to the other client: %v", err)
		}
		// Over the limits: 422 naming the field.
		many := make([]string, steward.MaxAssignmentClients+1)
		for i := range many {
			many[i] = fmt.Sprintf("acc_%d", i)
		}
		MustProblem(t, e.Do(t, "POST", path, pTok, map[string]any{"client_ids": many, "user_ids": users, "role": steward.RoleMember}),
			http.StatusUnprocessableEntity, "invalid_request", "client_ids")
	})
}
