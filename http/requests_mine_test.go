package http_test

import (
	"net/http"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestRREQUEST1_MineOverHTTP: GET …/access-requests?mine=true answers the
// caller's own requests without the list permissions (R-REQUEST-1); the
// account's whole list stays 403 to it, and another tenant's user gets the
// unknown account's answer.
func TestRREQUEST1_MineOverHTTP(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testMineOverHTTP(t, st.open(t)) })
	}
}

func testMineOverHTTP(t *testing.T, store steward.Store) {
	e, _ := serveHandler(t, store)
	tn := buildTenant(t, e, "a")
	other := buildTenant(t, e, "b")
	base := "/v1/accounts/" + tn.client + "/access-requests"
	ext := tn.actorOf("external user")

	var mine stewardhttp.List[steward.AccessRequest]
	e.MustOK(t, http.StatusOK, "GET", base+"?mine=true&limit=1", ext.token, nil, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != tn.accessRequest {
		t.Fatalf("the external user's own requests = %+v", mine.Items)
	}
	MustProblem(t, e.Do(t, "GET", base, ext.token, nil), http.StatusForbidden, "permission_required", "")

	var none stewardhttp.List[steward.AccessRequest]
	e.MustOK(t, http.StatusOK, "GET", base+"?mine=true", tn.actorOf("internal member").token, nil, &none)
	if len(none.Items) != 0 {
		t.Errorf("a member who asked for nothing lists %+v", none.Items)
	}
	foreign := e.Do(t, "GET", base+"?mine=true", other.actorOf("external user").token, nil)
	unknown := e.Do(t, "GET", "/v1/accounts/acc_00000000000000000000000000/access-requests?mine=true", other.actorOf("external user").token, nil)
	if foreign.Status != http.StatusNotFound || foreign.Status != unknown.Status {
		t.Errorf("another tenant's account: %d, an unknown one: %d", foreign.Status, unknown.Status)
	}
}
