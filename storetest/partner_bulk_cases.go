package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
)

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"R-PARTNER-4_AddEmployeesToClients", testRPartner4ManyClients},
		suiteCase{"R-PARTNER-4_AddEmployeesToClientsAllOrNothing", testRPartner4ManyClientsAllOrNothing},
	)
}

// bulkWorld is a partner P with a partner admin in two clients C and C2.
type bulkWorld struct {
	*partnerWorld
	C2     *steward.Account
	C2Own  *steward.User
	admin  *steward.User
	others []*steward.User // employees of P, none a member of C or C2
}

func newBulkWorld(t *testing.T, open Opener, employees int) *bulkWorld {
	w := &bulkWorld{partnerWorld: newPartnerWorld(t, open)}
	w.C2, w.C2Own = w.Account(steward.AccountStandard)
	w.admin = w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	if _, _, err := w.Svc.ApproveAccessLink(w.As(w.C2Own.ID), w.Link(w.P.ID, w.admin.ID, w.admin.ID), w.C2.ID); err != nil {
		t.Fatalf("ApproveAccessLink: %v", err)
	}
	for range employees {
		w.others = append(w.others, w.User(w.P.ID, steward.RoleMember))
	}
	return w
}

func userIDs(us []*steward.User) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func testRPartner4ManyClients(t *testing.T, open Opener) {
	w := newBulkWorld(t, open, 3)
	// The client C narrows the partner admin: no reports.view there.
	narrow := w.Role(w.C.ID, "Narrow partner", steward.Minus(w.Svc.Catalogue.PartnerAdmin(), []string{"reports.view"})...)
	if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, w.admin.ID, narrow.ID); err != nil {
		t.Fatal(err)
	}
	// One employee is a member of C2 already.
	already := w.others[2]
	if _, _, err := w.Svc.AddEmployees(w.As(w.admin.ID), w.P.ID, w.C2.ID, []string{already.ID}, steward.RoleMember); err != nil {
		t.Fatal(err)
	}
	beforeC, beforeC2 := w.countEvents(t, w.C.ID, "partner_member.added"), w.countEvents(t, w.C2.ID, "partner_member.added")
	mailsBefore := len(w.Mails(already.Email))
	clients, users := []string{w.C.ID, w.C2.ID}, userIDs(w.others)

	a, rev, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, clients, users, steward.RolePartnerAdmin)
	if err != nil || rev == 0 {
		t.Fatalf("AddEmployeesToClients: %v (revision %d)", err, rev)
	}
	full := w.Svc.Catalogue.PartnerAdmin()
	t.Run("R-GRANT-1_CappedByWhatTheActorHoldsInEachClient", func(t *testing.T) {
		if a.Added != 5 || len(a.Clients) != 2 || a.Clients[0].ClientID != w.C.ID || a.Clients[1].ClientID != w.C2.ID {
			t.Fatalf("answer = %+v, want 3 added to C and 2 to C2, in the order of the request", a)
		}
		if got := a.Clients[0].NotGranted; !slices.Equal(got, []string{"reports.view"}) {
			t.Errorf("not_granted in C = %v, want [reports.view]", got)
		}
		if len(a.Clients[1].NotGranted) != 0 {
			t.Errorf("not_granted in C2 = %v, want none", a.Clients[1].NotGranted)
		}
		for i, ca := range a.Clients {
			for _, id := range ca.MembershipIDs {
				m, err := w.Store.FindMembershipByID(ctx, ca.ClientID, id)
				if err != nil {
					t.Fatalf("FindMembershipByID(%s): %v", id, err)
				}
				want := full
				if i == 0 {
					want = steward.Minus(full, []string{"reports.view"})
				}
				got := slices.Sorted(slices.Values(m.Permissions))
				if diff := cmp.Diff(slices.Sorted(slices.Values(want)), got); diff != "" || m.Kind != steward.KindPartner ||
					m.PartnerID != w.P.ID || m.ManagedBy != w.P.ID || m.GrantedBy != w.admin.ID || m.Role != steward.RolePartnerAdmin {
					t.Errorf("%s in %s: %+v, permissions (-want +got):\n%s", m.UserID, ca.ClientID, m, diff)
				}
			}
		}
		for _, u := range w.others[:2] {
			if w.Allowed(u.ID, w.C.ID, "reports.view") || !w.Allowed(u.ID, w.C2.ID, "reports.view") || !w.Allowed(u.ID, w.C.ID, "crm.contacts.view") {
				t.Errorf("%s: checks disagree with the grants", u.ID)
			}
		}
	})
	t.Run("MembersAlreadyAreLeftAsTheyAre", func(t *testing.T) {
		if got := a.Clients[1].AlreadyMember; !slices.Equal(got, []string{already.ID}) {
			t.Errorf("already_members in C2 = %v, want [%s]", got, already.ID)
		}
		if m := w.Member(w.C2.ID, already.ID); m.Role != steward.RoleMember {
			t.Errorf("the member of C2 already now has role %s, want member as before", m.Role)
		}
		if len(a.Clients[1].MembershipIDs) != 2 || len(a.Clients[0].MembershipIDs) != 3 {
			t.Errorf("membership ids = %v / %v", a.Clients[0].MembershipIDs, a.Clients[1].MembershipIDs)
		}
	})
	t.Run("OneEventPerMembership", func(t *testing.T) {
		if got := w.countEvents(t, w.C.ID, "partner_member.added") - beforeC; got != 3 {
			t.Errorf("partner_member.added in C = %d, want 3", got)
		}
		if got := w.countEvents(t, w.C2.ID, "partner_member.added") - beforeC2; got != 2 {
			t.Errorf("partner_member.added in C2 = %d, want 2", got)
		}
		e := w.lastEvent(t, w.C.ID, "partner_member.added")
		if e.Actor.UserID != w.admin.ID || !strings.Contains(string(e.Details), `"not_granted":["reports.view"]`) ||
			!strings.Contains(string(e.Details), `"partner_id":"`+w.P.ID+`"`) {
			t.Errorf("event = %+v %s", e.Actor, e.Details)
		}
	})
	t.Run("OneMailPerEmployee", func(t *testing.T) {
		for _, u := range w.others[:2] {
			ms := w.Mails(u.Email)
			if len(ms) != 1 {
				t.Fatalf("%s got %d mails, want 1", u.Email, len(ms))
			}
			if !strings.Contains(ms[0].Text, w.C.Name) || !strings.Contains(ms[0].Text, w.C2.Name) || !strings.Contains(ms[0].Subject, "2 accounts") {
				t.Errorf("mail to %s does not list both clients:\n%s\n%s", u.Email, ms[0].Subject, ms[0].Text)
			}
		}
		ms := w.Mails(already.Email)
		i := slices.IndexFunc(ms, func(m *steward.Message) bool { return strings.Contains(m.Text, w.C.Name) })
		if len(ms) != mailsBefore+1 || i < 0 || strings.Contains(ms[i].Text, w.C2.Name) {
			t.Errorf("mail to the member of C2 already: %d mails, want one more, about C alone", len(ms))
		}
	})
	t.Run("NoOpWhenEveryoneIsAMember", func(t *testing.T) {
		w.noop(t, func() (int64, error) {
			a, rev, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, clients, users, steward.RolePartnerAdmin)
			if err == nil && (a.Added != 0 || len(a.Clients[0].AlreadyMember) != 3) {
				t.Errorf("answer = %+v, want nothing added", a)
			}
			return rev, err
		}, w.C.ID, w.C2.ID)
	})
	t.Run("R-GRANT-5_EndsWithTheActorsAccess", func(t *testing.T) {
		c3, owner := w.Account(steward.AccountStandard)
		if _, _, err := w.Svc.ApproveAccessLink(w.As(owner.ID), w.Link(w.P.ID, w.admin.ID, w.admin.ID), c3.ID); err != nil {
			t.Fatal(err)
		}
		end := w.Now.Add(48 * time.Hour).Truncate(time.Microsecond)
		m := w.Member(c3.ID, w.admin.ID)
		m.EndsAt = &end
		if err := w.Store.UpdateMembership(ctx, m); err != nil {
			t.Fatal(err)
		}
		fresh := w.User(w.P.ID, steward.RoleMember)
		a, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, []string{w.C2.ID, c3.ID}, []string{fresh.ID}, steward.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Member(c3.ID, fresh.ID).EndsAt; got == nil || !got.Equal(end) || a.Clients[1].EndsAt == nil || !a.Clients[1].EndsAt.Equal(end) {
			t.Errorf("ends_at in the client where the actor's access ends = %v (answer %v), want %v", got, a.Clients[1].EndsAt, end)
		}
		if got := w.Member(w.C2.ID, fresh.ID).EndsAt; got != nil || a.Clients[0].EndsAt != nil {
			t.Errorf("ends_at in the client where the actor's access has no end = %v, want none", got)
		}
	})
}

func testRPartner4ManyClientsAllOrNothing(t *testing.T, open Opener) {
	w := newBulkWorld(t, open, 2)
	users := userIDs(w.others)
	nothingAdded := func(t *testing.T) {
		t.Helper()
		for _, c := range []string{w.C.ID, w.C2.ID} {
			for _, u := range users {
				if _, err := w.Store.FindMembership(ctx, c, u); steward.ErrorKind(err) != steward.ENOTFOUND {
					t.Errorf("%s was added to %s by a refused request", u, c)
				}
			}
		}
		for _, u := range w.others {
			if n := len(w.Mails(u.Email)); n != 0 {
				t.Errorf("%s got %d mails from a refused request", u.Email, n)
			}
		}
	}
	fieldIs := func(t *testing.T, err error, field string) {
		t.Helper()
		if fs := steward.ErrorFields(err); len(fs) == 0 || fs[0].Field != field {
			t.Errorf("Fields = %+v, want %s named", fs, field)
		}
	}
	t.Run("ErrClientWhereNotPartnerAdmin", func(t *testing.T) {
		// C3 has a relationship with P, but the actor is only an employee there.
		c3, owner := w.Account(steward.AccountStandard)
		other := w.PartnerAdmin(w.P.ID, c3.ID, owner.ID)
		if _, _, err := w.Svc.AddEmployees(w.As(other.ID), w.P.ID, c3.ID, []string{w.admin.ID}, steward.RoleMember); err != nil {
			t.Fatal(err)
		}
		w.unchanged(t, func() {
			_, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, []string{w.C.ID, c3.ID, w.C2.ID}, users, steward.RoleMember)
			_, _, one := w.Svc.AddEmployees(w.As(w.admin.ID), w.P.ID, c3.ID, users, steward.RoleMember)
			WantCode(t, err, steward.ErrorKind(one), steward.ErrorCode(one))
			fieldIs(t, err, "client_ids[1]")
		}, w.C.ID, w.C2.ID, c3.ID)
		nothingAdded(t)
	})
	t.Run("ErrForeignClientLooksLikeAnUnknownOne", func(t *testing.T) {
		foreign, _ := w.Account(steward.AccountStandard) // no relationship with P
		var answers []string
		for _, c := range []string{foreign.ID, unknownAccountLike(foreign.ID)} {
			w.unchanged(t, func() {
				_, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, []string{w.C.ID, c}, users, steward.RoleMember)
				_, _, one := w.Svc.AddEmployees(w.As(w.admin.ID), w.P.ID, c, users, steward.RoleMember)
				WantCode(t, err, steward.ErrorKind(one), steward.ErrorCode(one))
				fieldIs(t, err, "client_ids[1]")
				answers = append(answers, strings.ReplaceAll(fmt.Sprintf("%s %s %v", steward.ErrorCode(err), steward.ErrorMessage(err), steward.ErrorFields(err)), c, "ID"))
			}, w.C.ID, w.C2.ID, foreign.ID)
		}
		if answers[0] != answers[1] {
			t.Errorf("a foreign client and an unknown one answer differently:\n\t%s\n\t%s", answers[0], answers[1])
		}
		nothingAdded(t)
	})
	t.Run("ErrUserNotAnEmployee", func(t *testing.T) {
		p2, _ := w.Account(steward.AccountPartner)
		stranger := w.User(p2.ID, steward.RoleMember)
		w.unchanged(t, func() {
			_, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, []string{w.C.ID, w.C2.ID}, []string{users[0], stranger.ID, users[1]}, steward.RoleMember)
			WantCode(t, err, steward.EINVALID, "invalid_employees")
			fieldIs(t, err, "user_ids[1]")
		}, w.C.ID, w.C2.ID)
		nothingAdded(t)
	})
	t.Run("ErrRoleUnknownInOneClient", func(t *testing.T) {
		custom := w.Role(w.C.ID, "Only in C", "crm.contacts.view")
		w.unchanged(t, func() {
			_, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, []string{w.C.ID, w.C2.ID}, users, custom.ID)
			WantCode(t, err, steward.EINVALID, "unknown_role")
			fieldIs(t, err, "client_ids[1]")
		}, w.C.ID, w.C2.ID)
		nothingAdded(t)
	})
	t.Run("ErrOverTheLimits", func(t *testing.T) {
		ids := func(prefix string, n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("%s%d", prefix, i)
			}
			return out
		}
		for _, c := range []struct {
			clients, users []string
			code, field    string
		}{
			{ids("acc_", steward.MaxAssignmentClients+1), users, "invalid_request", "client_ids"},
			{[]string{w.C.ID}, ids("usr_", steward.MaxAssignmentUsers+1), "invalid_request", "user_ids"},
			{ids("acc_", 11), ids("usr_", steward.MaxAssignmentMemberships/10), "too_many_memberships", "user_ids"},
			{[]string{w.C.ID, w.C.ID}, users, "invalid_request", "client_ids[1]"},
			{[]string{}, users, "invalid_request", "client_ids"},
		} {
			w.unchanged(t, func() {
				_, _, err := w.Svc.AddEmployeesToClients(w.As(w.admin.ID), w.P.ID, c.clients, c.users, steward.RoleMember)
				WantCode(t, err, steward.EINVALID, c.code)
				fieldIs(t, err, c.field)
			}, w.C.ID)
		}
		nothingAdded(t)
	})
	t.Run("ErrNotAUserOfThePartner", func(t *testing.T) {
		// The client's super admin is no user of P: P's console is unknown to it.
		_, _, err := w.Svc.AddEmployeesToClients(w.As(w.COwner.ID), w.P.ID, []string{w.C.ID}, users, steward.RoleMember)
		WantCode(t, err, steward.ENOTFOUND, "")
		// P's super admin is not a partner admin in C (R-PARTNER-8).
		_, _, err = w.Svc.AddEmployeesToClients(w.As(w.POwner.ID), w.P.ID, []string{w.C.ID}, users, steward.RoleMember)
		WantCode(t, err, steward.EFORBIDDEN, "partner_admin_required")
		nothingAdded(t)
	})
}

// unknownAccountLike returns an account id nothing holds, of the same
// length as id.
func unknownAccountLike(id string) string {
	return id[:len(id)-6] + "zzzzzz"
}
