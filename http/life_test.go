package http_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestRLIFE1_RelationshipEndOverHTTP sets a relationship's end date and
// auto_extend at approval and with PATCH …/partners/{partner}: problem
// documents for bad input, foreign and unknown partners alike, an
// Idempotency-Key replays the answer, and external users take auto_extend.
func TestRLIFE1_RelationshipEndOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		partner, _ := e.Account(t, steward.AccountPartner)
		client, owner := e.Account(t, steward.AccountStandard)
		other, _ := e.Account(t, steward.AccountPartner)
		ownerTok := e.Token(t, owner)
		agent := e.User(t, partner, steward.RoleMember)
		var link steward.NewAccessLink
		e.MustOK(t, http.StatusCreated, "POST", "/v1/partners/"+partner+"/access-links", e.Token(t, agent), map[string]any{}, &link)
		token := link.URL[strings.LastIndex(link.URL, "/")+1:]
		end := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second)
		var approval steward.Approval
		e.MustOK(t, http.StatusOK, "POST", "/v1/access-links/"+token+"/approve", ownerTok,
			map[string]any{"account_id": client, "ends_at": end, "auto_extend": true}, &approval)
		if r := approval.Relationship; r.EndsAt == nil || !r.EndsAt.Equal(end) || !r.AutoExtend {
			t.Fatalf("relationship after approval = %+v", r)
		}
		var list struct {
			Items []steward.Partner `json:"items"`
		}
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/partners", ownerTok, nil, &list)
		if len(list.Items) != 1 || list.Items[0].EndsAt == nil || !list.Items[0].AutoExtend {
			t.Fatalf("partners = %+v", list.Items)
		}

		path := "/v1/accounts/" + client + "/partners/" + partner
		later := end.Add(10 * 24 * time.Hour)

		// R-PREVIEW-1: a dry run of an earlier end lists the move and
		// writes nothing.
		sooner := end.Add(-10 * 24 * time.Hour)
		quiet := e.AuditCount(t, client)
		var preview steward.Preview
		res := e.MustOK(t, http.StatusOK, "PATCH", path+"?dry_run=true", ownerTok, map[string]any{"ends_at": sooner}, &preview)
		if rs := preview.Relationships; !preview.DryRun || len(rs) != 1 || rs[0].PartnerID != partner ||
			rs[0].End.From == nil || !rs[0].End.From.Equal(end) || rs[0].End.To == nil || !rs[0].End.To.Equal(sooner) {
			t.Fatalf("dry run of an earlier end = %s", res.Body)
		}
		if res.Header.Get("Steward-Revision") != "" || e.AuditCount(t, client) != quiet {
			t.Fatal("the dry run wrote something")
		}
		e.MustOK(t, http.StatusOK, "GET", "/v1/accounts/"+client+"/partners", ownerTok, nil, &list)
		if len(list.Items) != 1 || list.Items[0].EndsAt == nil || !list.Items[0].EndsAt.Equal(end) {
			t.Fatalf("after the dry run, partners = %+v", list.Items)
		}

		var rel steward.SharedRelationship
		first := e.MustOK(t, http.StatusOK, "PATCH", path, ownerTok, map[string]any{"ends_at": later, "auto_extend": false}, &rel, "Idempotency-Key", "life-1")
		if rel.EndsAt == nil || !rel.EndsAt.Equal(later) || rel.AutoExtend || first.Header.Get("Steward-Revision") == "" {
			t.Fatalf("after PATCH: %+v", rel)
		}
		events := e.AuditCount(t, client)
		again := e.MustOK(t, http.StatusOK, "PATCH", path, ownerTok, map[string]any{"ends_at": later, "auto_extend": false}, nil, "Idempotency-Key", "life-1")
		if string(again.Body) != string(first.Body) || e.AuditCount(t, client) != events {
			t.Errorf("replay = %s, want %s and no new event", again.Body, first.Body)
		}
		var cleared steward.SharedRelationship
		e.MustOK(t, http.StatusOK, "PATCH", path, ownerTok, map[string]any{"ends_at": nil}, &cleared)
		if cleared.EndsAt != nil || cleared.AutoExtend {
			t.Fatalf("after clearing: %+v", cleared)
		}

		memberTok := e.Token(t, e.User(t, client, steward.RoleMember))
		before := e.AuditCount(t, client)
		MustProblem(t, e.Do(t, "PATCH", path, ownerTok, map[string]any{"auto_extend": true}), http.StatusUnprocessableEntity, "end_date_required", "auto_extend")
		MustProblem(t, e.Do(t, "PATCH", path, ownerTok, map[string]any{"ends_at": time.Now().UTC().Add(-time.Hour)}), http.StatusUnprocessableEntity, "invalid_end_dates", "ends_at")
		MustProblem(t, e.Do(t, "PATCH", path, memberTok, map[string]any{"ends_at": later}), http.StatusForbidden, "permission_required", "")
		unknownID := steward.NewID(steward.PrefixAccount, time.Now())
		pf := MustProblem(t, e.Do(t, "PATCH", "/v1/accounts/"+client+"/partners/"+other, ownerTok, map[string]any{"ends_at": later}), http.StatusNotFound, "partner_not_found", "")
		pu := MustProblem(t, e.Do(t, "PATCH", "/v1/accounts/"+client+"/partners/"+unknownID, ownerTok, map[string]any{"ends_at": later}), http.StatusNotFound, "partner_not_found", "")
		if strings.Replace(pf.Detail, other, "ID", 1) != strings.Replace(pu.Detail, unknownID, "ID", 1) {
			t.Errorf("foreign %q and unknown %q partners differ", pf.Detail, pu.Detail)
		}
		if e.AuditCount(t, client) != before {
			t.Error("a refused PATCH recorded an event")
		}
		if res := e.Do(t, "PATCH", path, ownerTok, map[string]any{"ends_at": "tomorrow"}); res.Status/100 != 4 {
			t.Errorf("a malformed date: %d %s", res.Status, res.Body)
		}
		e.MustOK(t, http.StatusOK, "PATCH", "/v1/accounts/"+client+"/policy", ownerTok, map[string]any{"max_partner_days": 60}, nil)
		before = e.AuditCount(t, client)
		MustProblem(t, e.Do(t, "PATCH", path, ownerTok, map[string]any{"ends_at": time.Now().UTC().Add(90 * 24 * time.Hour)}),
			http.StatusUnprocessableEntity, "end_date_beyond_policy", "ends_at")
		if e.AuditCount(t, client) != before {
			t.Error("a refused PATCH recorded an event")
		}
	})
}

// TestRLIFE1_OpenAPI: the new route and fields are in the served document.
func TestRLIFE1_OpenAPI(t *testing.T) {
	e := MustServe(t, stores[0].open(t))
	res := e.Do(t, "GET", "/v1/openapi.json", "", nil)
	body := string(res.Body)
	for _, want := range []string{`"update-relationship"`, `"/v1/accounts/{account}/partners/{partner}"`, `"auto_extend"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the OpenAPI document lacks %s", want)
		}
	}
}
