package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// Durations and renewal (R-LIFE-1, R-LIFE-2). Time passes through the
// World's clock (the Service's Now), never by sleeping.

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"R-LIFE-1_AutoExtendPassesThreeEnds", testRLife1AutoExtend},
		suiteCase{"R-LIFE-1_WithoutAutoExtendItEnds", testRLife1Ends},
		suiteCase{"R-LIFE-1_PolicyMaximumForbidsExtension", testRLife1PolicyMax},
		suiteCase{"R-LIFE-1_PatchRelationship", testRLife1Patch},
		suiteCase{"R-LIFE-1_ExternalUserAutoExtend", testRLife1External},
		suiteCase{"R-LIFE-1_R-GRANT-5_EmployeesFollowTheRelationship", testRLife1Grants},
		suiteCase{"R-LIFE-2_WarningsOnceAcrossNodesAndRestarts", testRLife2Warnings},
		suiteCase{"R-LIFE-2_ChangedEndGetsFreshWarnings", testRLife2ChangedEnd},
	)
}

// lifeWorld is a partner world whose client approved a partner admin with
// options.
type lifeWorld struct {
	*partnerWorld
	admin *steward.User // the partner admin in C
}

func newLifeWorld(t *testing.T, open Opener, opts steward.ApprovalOptions) *lifeWorld {
	pw := newPartnerWorld(t, open)
	lw := &lifeWorld{partnerWorld: pw}
	lw.admin = pw.User(pw.P.ID, steward.RoleMember)
	if _, _, err := pw.Svc.ApproveAccessLinkWith(pw.As(pw.COwner.ID), pw.Link(pw.P.ID, lw.admin.ID, lw.admin.ID), pw.C.ID, opts); err != nil {
		t.Fatalf("ApproveAccessLinkWith: %v", err)
	}
	return lw
}

// runJobs runs the scheduler once at the time at.
func (w *World) runJobs(t *testing.T, at time.Time) {
	t.Helper()
	w.Now = at
	if err := w.Svc.RunDueJobs(ctx); err != nil {
		t.Fatalf("RunDueJobs: %v", err)
	}
}

// countEvents counts the account's events of an action.
func (w *World) countEvents(t *testing.T, accountID, action string) int {
	t.Helper()
	n := 0
	if err := w.Store.ScanEvents(ctx, accountID, func(e *steward.Event) error {
		if e.Action == action {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// mailsOfKind counts the outbox messages of a kind to an address.
func (w *World) mailsOfKind(to, kind string) int {
	n := 0
	for _, m := range w.Mails(to) {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

func boolPtr(b bool) *bool { return &b }

func testRLife1AutoExtend(t *testing.T, open Opener) {
	term := days(10)
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	end := start.Add(term)
	w := newLifeWorld(t, open, steward.ApprovalOptions{EndsAt: &end, AutoExtend: boolPtr(true)})
	ix := w.index(t)
	r := w.Relationship(w.P.ID, w.C.ID)
	if !r.AutoExtend || r.EndsAt == nil || !r.EndsAt.Equal(end) {
		t.Fatalf("relationship after approval = %+v, want ends_at %v with auto_extend", r, end)
	}
	// R-CHECK-2: the reason names the end that bounds the access.
	res, err := w.Svc.Check(w.Op, steward.CheckRequest{UserID: w.admin.ID, AccountID: w.C.ID, Permission: "reports.view"})
	if err != nil || !res.Allowed || res.Reason.EndsAt == nil || !res.Reason.EndsAt.Equal(end) {
		t.Fatalf("check = %+v, %v; want allowed until %v", res, err, end)
	}
	for i := 1; i <= 3; i++ {
		// The scheduler runs within AutoExtendLead of the end.
		w.runJobs(t, end.Add(-steward.AutoExtendLead/2))
		next := end.Add(term)
		r := w.Relationship(w.P.ID, w.C.ID)
		if r.EndsAt == nil || !r.EndsAt.Equal(next) || !r.AutoExtend {
			t.Fatalf("extension %d: ends_at = %v, want %v", i, r.EndsAt, next)
		}
		if got := w.countEvents(t, w.C.ID, "relationship.extended"); got != i {
			t.Errorf("extension %d: relationship.extended events in the client = %d", i, got)
		}
		if got := w.countEvents(t, w.P.ID, "relationship.extended"); got != i {
			t.Errorf("extension %d: relationship.extended events in the partner = %d", i, got)
		}
		for _, to := range []string{w.COwner.Email, w.POwner.Email, w.admin.Email} {
			if got := w.mailsOfKind(to, "relationship.extended"); got != i {
				t.Errorf("extension %d: mails to %s = %d", i, to, got)
			}
		}
		// A check just after the old end, before any further job, holds.
		if !w.checkBoth(t, ix, w.admin.ID, w.C.ID, "reports.view", end.Add(time.Second)) {
			t.Fatalf("extension %d: denied just after the old end", i)
		}
		if w.checkBoth(t, ix, w.admin.ID, w.C.ID, "reports.view", next) {
			t.Fatalf("extension %d: allowed at the new end", i)
		}
		// A second run extends nothing more.
		w.runJobs(t, end.Add(-steward.AutoExtendLead/4))
		if got := w.countEvents(t, w.C.ID, "relationship.extended"); got != i {
			t.Errorf("a second run extended again: %d events", got)
		}
		end = next
	}
	ev := w.lastEvent(t, w.C.ID, "relationship.extended")
	var d map[string]any
	if err := json.Unmarshal(ev.Details, &d); err != nil || d["by"] != "scheduler" || d["term_days"] != float64(10) {
		t.Errorf("extended event details = %s", ev.Details)
	}
}

func testRLife1Ends(t *testing.T, open Opener) {
	end := time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC)
	w := newLifeWorld(t, open, steward.ApprovalOptions{EndsAt: &end})
	ix := w.index(t)
	emp := w.Employees(w.P.ID, w.C.ID, w.admin.ID, steward.RoleMember, 1)[0]
	w.runJobs(t, end.Add(-time.Minute))
	if w.countEvents(t, w.C.ID, "relationship.extended") != 0 {
		t.Error("a relationship without auto_extend was extended")
	}
	if !w.checkBoth(t, ix, w.admin.ID, w.C.ID, "reports.view", end.Add(-time.Microsecond)) {
		t.Error("denied just before the end")
	}
	// At the end, before any job: the index and the store deny.
	w.Now = end
	for _, u := range []string{w.admin.ID, emp.ID} {
		if w.checkBoth(t, ix, u, w.C.ID, "reports.view", end) {
			t.Errorf("%s still allowed at the relationship's end", u)
		}
	}
	if got := w.Reason(w.admin.ID, w.C.ID, "reports.view"); got != steward.ReasonRelationshipInactive {
		t.Errorf("reason = %s, want %s", got, steward.ReasonRelationshipInactive)
	}
	if r := w.Relationship(w.P.ID, w.C.ID); r.Status != steward.RelationshipEnded {
		t.Errorf("status at the end = %s, want ended", r.Status)
	}
	w.runJobs(t, end.Add(time.Minute))
	r, err := w.Store.FindRelationship(ctx, w.P.ID, w.C.ID)
	if err != nil || r.Status != steward.RelationshipEnded || r.EndedAt == nil || !r.EndedAt.Equal(end) {
		t.Fatalf("stored relationship after the job = %+v, %v", r, err)
	}
	if n, _ := w.Store.CountPartnerMemberships(ctx, w.P.ID, w.C.ID); n != 0 {
		t.Errorf("partner memberships after the end = %d, want 0", n)
	}
	ev := w.lastEvent(t, w.C.ID, "relationship.ended")
	var d map[string]any
	if err := json.Unmarshal(ev.Details, &d); err != nil || d["reason"] != "ends_at" || d["memberships_ended"] != float64(2) {
		t.Errorf("relationship.ended details = %s", ev.Details)
	}
	before := w.Events(w.C.ID)
	w.runJobs(t, end.Add(time.Hour))
	if got := w.Events(w.C.ID); got != before {
		t.Errorf("a second run wrote %d events", got-before)
	}
	// A new approval starts afresh.
	again := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID)
	if !w.checkBoth(t, ix, again.ID, w.C.ID, "reports.view", w.Now) {
		t.Error("a new approval after the end gives no access")
	}
}

func testRLife1PolicyMax(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	pw.policy(t, pw.COwner.ID, pw.C.ID, steward.PolicyUpdate{MaxPartnerDays: setPolicy(25)})
	start := pw.Now
	end := start.Add(days(10))
	admin := pw.User(pw.P.ID, steward.RoleMember)
	if _, _, err := pw.Svc.ApproveAccessLinkWith(pw.As(pw.COwner.ID), pw.Link(pw.P.ID, admin.ID, admin.ID), pw.C.ID,
		steward.ApprovalOptions{EndsAt: &end, AutoExtend: boolPtr(true)}); err != nil {
		t.Fatal(err)
	}
	ix := pw.index(t)
	// The first extension (to day 20) is within the maximum of 25 days.
	pw.runJobs(t, end.Add(-time.Minute))
	second := start.Add(days(20))
	if r := pw.Relationship(pw.P.ID, pw.C.ID); r.EndsAt == nil || !r.EndsAt.Equal(second) {
		t.Fatalf("first extension: ends_at = %v, want %v", r.EndsAt, second)
	}
	// The next (to day 30) would pass it: not extended, it ends.
	pw.runJobs(t, second.Add(-time.Minute))
	r := pw.Relationship(pw.P.ID, pw.C.ID)
	if r.EndsAt == nil || !r.EndsAt.Equal(second) || r.AutoExtend {
		t.Fatalf("after the refused extension: ends_at = %v, auto_extend = %v; want %v, false", r.EndsAt, r.AutoExtend, second)
	}
	ev := pw.lastEvent(t, pw.C.ID, "relationship.extension_refused")
	var d map[string]any
	if err := json.Unmarshal(ev.Details, &d); err != nil || d["reason"] != "max_partner_days" {
		t.Errorf("extension_refused details = %s", ev.Details)
	}
	if got := pw.mailsOfKind(pw.COwner.Email, "relationship.extension_refused"); got != 1 {
		t.Errorf("refusal mails to the client's admin = %d, want 1", got)
	}
	if pw.checkBoth(t, ix, admin.ID, pw.C.ID, "reports.view", second) {
		t.Error("allowed at the end the policy forbade extending")
	}
	pw.runJobs(t, second.Add(time.Minute))
	if r := pw.Relationship(pw.P.ID, pw.C.ID); r.Status != steward.RelationshipEnded {
		t.Errorf("status = %s, want ended", r.Status)
	}
	if got := pw.countEvents(t, pw.C.ID, "relationship.extension_refused"); got != 1 {
		t.Errorf("extension_refused events = %d, want 1", got)
	}
}

func testRLife1Patch(t *testing.T, open Opener) {
	w := newLifeWorld(t, open, steward.ApprovalOptions{})
	plain := w.User(w.C.ID, steward.RoleMember)
	other, otherOwner := w.Account(steward.AccountPartner)
	_ = otherOwner
	in := w.Now.Add(days(40))
	set := func(e time.Time) steward.Optional[time.Time] { return steward.Optional[time.Time]{Set: true, Value: e} }
	clear := steward.Optional[time.Time]{Set: true, Null: true}
	patch := func(as string, partner string, upd steward.RelationshipUpdate) error {
		_, _, err := w.Svc.UpdatePartner(w.As(as), w.C.ID, partner, upd)
		return err
	}
	t.Run("ErrNeedsPartnersManage", func(t *testing.T) {
		w.refused(t, steward.EFORBIDDEN, "", func() error {
			return patch(plain.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(in)})
		}, w.C.ID, w.P.ID)
	})
	t.Run("ErrUnknownPartner", func(t *testing.T) {
		w.refused(t, steward.ENOTFOUND, "", func() error {
			return patch(w.COwner.ID, other.ID, steward.RelationshipUpdate{EndsAt: set(in)})
		}, w.C.ID, other.ID)
	})
	t.Run("ErrPast", func(t *testing.T) {
		w.refused(t, steward.EINVALID, "invalid_end_dates", func() error {
			return patch(w.COwner.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(w.Now.Add(-time.Hour))})
		}, w.C.ID)
	})
	t.Run("ErrAutoExtendWithoutEnd", func(t *testing.T) {
		w.refused(t, steward.EINVALID, "end_date_required", func() error {
			return patch(w.COwner.ID, w.P.ID, steward.RelationshipUpdate{AutoExtend: boolPtr(true)})
		}, w.C.ID)
	})
	t.Run("SetEndAndAutoExtend", func(t *testing.T) {
		rel, _, err := w.Svc.UpdatePartner(w.As(w.COwner.ID), w.C.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(in), AutoExtend: boolPtr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if rel.EndsAt == nil || !rel.EndsAt.Equal(in) || !rel.AutoExtend || rel.TermStartedAt == nil || !rel.TermStartedAt.Equal(w.Now) {
			t.Errorf("relationship = %+v", rel)
		}
		if w.countEvents(t, w.C.ID, "relationship.updated") != 1 || w.countEvents(t, w.P.ID, "relationship.updated") != 1 {
			t.Error("relationship.updated not recorded on both sides")
		}
		if w.Allowed(w.admin.ID, w.C.ID, "reports.view", in) {
			t.Error("allowed at the new end")
		}
	})
	t.Run("UnchangedRecordsNothing", func(t *testing.T) {
		w.unchanged(t, func() {
			if err := patch(w.COwner.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(in), AutoExtend: boolPtr(true)}); err != nil {
				t.Fatal(err)
			}
		}, w.C.ID, w.P.ID)
	})
	t.Run("R-GUARD-2_ErrBeyondMaximum", func(t *testing.T) {
		w.policy(t, w.COwner.ID, w.C.ID, steward.PolicyUpdate{MaxPartnerDays: setPolicy(60)})
		far := w.Relationship(w.P.ID, w.C.ID).Approved().Add(days(61))
		w.refused(t, steward.EINVALID, "end_date_beyond_policy", func() error {
			return patch(w.COwner.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(far)})
		}, w.C.ID)
		var err error
		w.unchanged(t, func() { err = patch(w.COwner.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: clear}) }, w.C.ID)
		WantCode(t, err, steward.EINVALID, "end_date_required")
		if f := steward.ErrorFields(err); len(f) != 1 || f[0].Field != "ends_at" {
			t.Errorf("fields = %+v, want ends_at", f)
		}
	})
	t.Run("R-GUARD-4_TighteningClipsTheEnd", func(t *testing.T) {
		ch := w.policy(t, w.COwner.ID, w.C.ID, steward.PolicyUpdate{MaxPartnerDays: setPolicy(20)})
		limit := w.Relationship(w.P.ID, w.C.ID).Approved().Add(days(20))
		if r := w.Relationship(w.P.ID, w.C.ID); r.EndsAt == nil || !r.EndsAt.Equal(limit) || len(ch.Relationships) != 1 {
			t.Errorf("ends_at = %v (clipped %v), want %v", r.EndsAt, ch.Relationships, limit)
		}
		if w.Allowed(w.admin.ID, w.C.ID, "reports.view", limit) {
			t.Error("allowed past the new maximum")
		}
	})
	t.Run("ClearEnd", func(t *testing.T) {
		w.policy(t, w.COwner.ID, w.C.ID, steward.PolicyUpdate{MaxPartnerDays: steward.Optional[int]{Set: true, Null: true}})
		rel, _, err := w.Svc.UpdatePartner(w.As(w.COwner.ID), w.C.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: clear})
		if err != nil {
			t.Fatal(err)
		}
		if rel.EndsAt != nil || rel.AutoExtend {
			t.Errorf("after clearing: ends_at = %v, auto_extend = %v", rel.EndsAt, rel.AutoExtend)
		}
		if !w.Allowed(w.admin.ID, w.C.ID, "reports.view", w.Now.Add(days(400))) {
			t.Error("denied after the end date was cleared")
		}
	})
	t.Run("R-SUPER-1_LastLastingSuperAdmin", func(t *testing.T) {
		// A partner employee made super admin, the only one left: the
		// relationship cannot be given an end.
		if _, _, err := w.Svc.ChangeMemberRole(w.As(w.COwner.ID), w.C.ID, w.admin.ID, steward.RoleSuperAdmin); err != nil {
			t.Fatal(err)
		}
		manager := w.User(w.C.ID, w.Role(w.C.ID, "Partner managers", steward.PermPartnersManage).ID)
		if _, _, err := w.Svc.ChangeMemberRole(w.As(w.admin.ID), w.C.ID, w.COwner.ID, steward.RoleMember); err != nil {
			t.Fatal(err)
		}
		w.refused(t, steward.ECONFLICT, "last_super_admin", func() error {
			return patch(manager.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: set(in)})
		}, w.C.ID)
	})
	t.Run("ErrPartnersOwnPeople", func(t *testing.T) {
		// R-LIFE-1: the end date is the client's choice. The partner's own
		// member, though it holds account.partners.manage in the client,
		// neither lengthens nor renews the relationship it acts through.
		if !w.Allowed(w.admin.ID, w.C.ID, steward.PermPartnersManage, w.Now) {
			t.Fatal("the partner's super admin in C lacks account.partners.manage")
		}
		for _, upd := range []steward.RelationshipUpdate{{EndsAt: clear}, {EndsAt: set(w.Now.Add(days(900)))}, {AutoExtend: boolPtr(true)}} {
			w.refused(t, steward.EFORBIDDEN, "own_access", func() error { return patch(w.admin.ID, w.P.ID, upd) }, w.C.ID, w.P.ID)
		}
	})
}

func testRLife1External(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	term := days(10)
	end := x.Now.Add(term)
	m := x.external(x.ext, x.editors.ID, steward.NewInvitations{EndsAt: &end})
	ix := x.index(t)
	t.Run("ErrNotTheUserItself", func(t *testing.T) {
		x.refused(t, steward.EFORBIDDEN, "", func() error {
			_, _, err := x.Svc.UpdateExternalUser(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{AutoExtend: boolPtr(true)})
			return err
		}, x.client.ID)
	})
	got, _, err := x.Svc.UpdateExternalUser(x.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{AutoExtend: boolPtr(true)})
	if err != nil || !got.AutoExtend {
		t.Fatalf("UpdateExternalUser(auto_extend) = %+v, %v", got, err)
	}
	for i := 1; i <= 2; i++ {
		x.runJobs(t, end.Add(-time.Minute))
		next := end.Add(term)
		if mm := x.Member(x.client.ID, x.ext.ID); mm.EndsAt == nil || !mm.EndsAt.Equal(next) || mm.Status != steward.StatusActive {
			t.Fatalf("extension %d: ends_at = %v (%s), want %v", i, mm.EndsAt, mm.Status, next)
		}
		if !x.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", end.Add(time.Second)) {
			t.Fatalf("extension %d: denied just after the old end", i)
		}
		if got := x.mailsOfKind(x.ext.Email, "member.extended"); got != i {
			t.Errorf("extension %d: mails to the external user = %d", i, got)
		}
		if got := x.mailsOfKind(x.owner.Email, "member.extended"); got != i {
			t.Errorf("extension %d: mails to the admin = %d", i, got)
		}
		end = next
	}
	if got := x.countEvents(t, x.client.ID, "member.extended"); got != 2 {
		t.Errorf("member.extended events = %d, want 2", got)
	}
	// R-GUARD-2: a maximum counted from acceptance stops the next one.
	x.policy(t, x.owner.ID, x.client.ID, steward.PolicyUpdate{MaxExternalDays: setPolicy(35)})
	x.runJobs(t, end.Add(-time.Minute))
	if mm := x.Member(x.client.ID, x.ext.ID); mm.EndsAt == nil || !mm.EndsAt.Equal(end) || mm.AutoExtend {
		t.Errorf("under the maximum: ends_at = %v, auto_extend = %v; want %v, false", mm.EndsAt, mm.AutoExtend, end)
	}
	if x.checkBoth(t, ix, x.ext.ID, x.client.ID, "reports.view", end) {
		t.Error("allowed at the end the policy forbade extending")
	}
	_ = m
}

func testRLife1Grants(t *testing.T, open Opener) {
	end := time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC)
	w := newLifeWorld(t, open, steward.ApprovalOptions{EndsAt: &end, AutoExtend: boolPtr(true)})
	ix := w.index(t)
	// An employee the partner admin adds hangs on the relationship: no end
	// of its own, so it is extended with it...
	emp := w.Employees(w.P.ID, w.C.ID, w.admin.ID, steward.RoleMember, 1)[0]
	if m := w.Member(w.C.ID, emp.ID); m.EndsAt != nil {
		t.Errorf("employee ends_at = %v, want none of its own", m.EndsAt)
	}
	if w.checkBoth(t, ix, emp.ID, w.C.ID, "account.users.manage", end) {
		t.Error("R-GRANT-5: the employee outlives the relationship")
	}
	w.runJobs(t, end.Add(-time.Minute))
	if !w.checkBoth(t, ix, w.admin.ID, w.C.ID, "account.users.manage", end.Add(time.Second)) {
		t.Error("the partner admin lost access at the old end")
	}
	if _, _, err := w.Svc.ChangeEmployeeRole(w.As(w.admin.ID), w.P.ID, w.C.ID, emp.ID, steward.RolePartnerAdmin); err != nil {
		t.Fatal(err)
	}
	if !w.checkBoth(t, ix, emp.ID, w.C.ID, "account.users.manage", end.Add(time.Second)) {
		t.Error("the employee lost access at the old end")
	}
	// ...and when the client moves the end earlier, the employee follows.
	earlier := w.Now.Add(days(2))
	if _, _, err := w.Svc.UpdatePartner(w.As(w.COwner.ID), w.C.ID, w.P.ID,
		steward.RelationshipUpdate{EndsAt: steward.Optional[time.Time]{Set: true, Value: earlier}}); err != nil {
		t.Fatal(err)
	}
	if w.checkBoth(t, ix, emp.ID, w.C.ID, "account.users.manage", earlier) {
		t.Error("R-GRANT-5: the employee outlives the earlier end")
	}
}

// testRLife2Warnings: the 30-, 7- and 1-day warnings of a relationship and of
// an external user are each sent once, also when two nodes run the jobs at
// once over one database and after a restart.
func testRLife2Warnings(t *testing.T, open Opener) {
	end := time.Date(2026, 4, 10, 9, 0, 0, 0, time.UTC) // 40 days ahead
	x := newExtWorld(t, open)
	w := x.World
	p, _ := w.Account(steward.AccountPartner)
	admin := w.User(p.ID, steward.RoleMember)
	if _, _, err := w.Svc.ApproveAccessLinkWith(w.As(x.owner.ID), w.Link(p.ID, admin.ID, admin.ID), x.client.ID, steward.ApprovalOptions{EndsAt: &end}); err != nil {
		t.Fatal(err)
	}
	ext := x.ext
	x.external(ext, x.editors.ID, steward.NewInvitations{EndsAt: &end})
	// node returns another Service over the same database: another node, or
	// this one after a restart.
	node := func() *steward.Service {
		s := steward.NewService(w.Store, w.Svc.Catalogue, nil)
		s.Now = func() time.Time { return w.Now }
		return s
	}
	nodes := []*steward.Service{w.Svc, node()}
	runBoth := func(at time.Time) {
		t.Helper()
		w.Now = at
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for i, s := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.RunDueJobs(ctx) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("RunDueJobs: %v", err)
			}
		}
	}
	want := func(step string, n int) {
		t.Helper()
		for _, to := range []string{admin.Email, ext.Email, x.owner.Email} {
			rel := 0
			if to != ext.Email {
				rel = n // the relationship's warnings
			}
			mem := 0
			if to != admin.Email {
				mem = n // the external user's warnings
			}
			if got := w.mailsOfKind(to, "end_warning"); got != rel+mem {
				t.Errorf("%s: warnings to %s = %d, want %d", step, to, got, rel+mem)
			}
		}
		if got := w.countEvents(t, x.client.ID, "relationship.end_warning_sent"); got != n {
			t.Errorf("%s: relationship warnings recorded = %d, want %d", step, got, n)
		}
		if got := w.countEvents(t, x.client.ID, "member.end_warning_sent"); got != n {
			t.Errorf("%s: member warnings recorded = %d, want %d", step, got, n)
		}
	}
	runBoth(end.Add(-days(31)))
	want("before 30 days", 0)
	runBoth(end.Add(-days(30)))
	runBoth(end.Add(-days(29)))
	want("30 days", 1)
	nodes = []*steward.Service{node()} // a restart
	runBoth(end.Add(-days(20)))
	want("after a restart", 1)
	nodes = append(nodes, node())
	runBoth(end.Add(-days(7) + time.Minute))
	runBoth(end.Add(-days(6)))
	want("7 days", 2)
	nodes = []*steward.Service{node(), node(), w.Svc}
	runBoth(end.Add(-days(1)))
	runBoth(end.Add(-time.Hour))
	want("1 day", 3)
	// The subjects of the mails say which threshold each was.
	var seen []string
	for _, m := range w.Mails(admin.Email) {
		if m.Kind == "end_warning" {
			seen = append(seen, m.Subject)
		}
	}
	if len(seen) != 3 {
		t.Errorf("warnings to the partner admin = %q", seen)
	}
}

// testRLife2ChangedEnd: a new end date gets its own warnings.
func testRLife2ChangedEnd(t *testing.T, open Opener) {
	end := time.Date(2026, 3, 21, 9, 0, 0, 0, time.UTC) // 20 days ahead
	w := newLifeWorld(t, open, steward.ApprovalOptions{EndsAt: &end})
	w.runJobs(t, w.Now.Add(time.Hour))
	if got := w.mailsOfKind(w.admin.Email, "end_warning"); got != 1 {
		t.Fatalf("30-day warnings = %d, want 1", got)
	}
	later := end.Add(days(5))
	if _, _, err := w.Svc.UpdatePartner(w.As(w.COwner.ID), w.C.ID, w.P.ID,
		steward.RelationshipUpdate{EndsAt: steward.Optional[time.Time]{Set: true, Value: later}}); err != nil {
		t.Fatal(err)
	}
	w.runJobs(t, w.Now.Add(time.Hour))
	w.runJobs(t, w.Now.Add(time.Hour))
	if got := w.mailsOfKind(w.admin.Email, "end_warning"); got != 2 {
		t.Errorf("warnings after the end moved = %d, want 2 (one per end)", got)
	}
	// No warning for an end only 5 days ahead that was never 30 days ahead:
	// the 7-day one is the first due.
	soon := w.Now.Add(days(5))
	if _, _, err := w.Svc.UpdatePartner(w.As(w.COwner.ID), w.C.ID, w.P.ID,
		steward.RelationshipUpdate{EndsAt: steward.Optional[time.Time]{Set: true, Value: soon}}); err != nil {
		t.Fatal(err)
	}
	w.runJobs(t, w.Now.Add(time.Minute))
	ev := w.lastEvent(t, w.C.ID, "relationship.end_warning_sent")
	var d map[string]any
	if err := json.Unmarshal(ev.Details, &d); err != nil || d["threshold_days"] != float64(7) {
		t.Errorf("warning details = %s, want threshold_days 7", ev.Details)
	}
}
