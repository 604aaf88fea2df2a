package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
)

// Just-in-time elevation (SPEC §6 R-ELEVATE-1..2).
func init() {
	guardCases = append(guardCases,
		suiteCase{"R-ELEVATE-1_EligibilityNeedsWhatTheRoleGives", testRElevate1},
		suiteCase{"R-ELEVATE-2_ActivateApproveHoldUntilTheEnd", testRElevate2Flow},
		suiteCase{"R-ELEVATE-2_Refusals", testRElevate2Refusals},
		suiteCase{"R-ELEVATE-2_EndEarlyAndRemovals", testRElevate2End},
		suiteCase{"R-ELEVATE-2_PendingExpiresAfter7Days", testRElevate2Expiry},
		suiteCase{"R-ELEVATE-2_R-GRANT-5_NothingOutlivesTheElevation", testRElevate2Grant5},
		suiteCase{"R-ELEVATE-1_EveryMembersListIsTheAdmins", testRElevate1All},
	)
}

// elevWorld is an account with an owner, a second super admin, a manager
// who holds account.users.manage but not billing, a billing role, and a
// plain member.
type elevWorld struct {
	*World
	acc                     *steward.Account
	owner, second, manager  *steward.User
	member, other           *steward.User
	billing                 *steward.Role
	managerRole, outsiderIn *steward.Role
}

func newElevWorld(t *testing.T, open Opener) *elevWorld {
	w := NewWorld(t, open(t))
	w.Svc.BaseURL = "https://steward.example.com/"
	e := &elevWorld{World: w}
	e.acc, e.owner = w.Account(steward.AccountStandard)
	e.second = w.User(e.acc.ID, steward.RoleSuperAdmin)
	e.billing = w.Role(e.acc.ID, "Billing", steward.PermBillingManage, "reports.view")
	e.managerRole = w.Role(e.acc.ID, "Managers", steward.PermUsersManage, "crm.contacts.view")
	e.manager = w.User(e.acc.ID, e.managerRole.ID)
	e.member = w.User(e.acc.ID, steward.RoleMember)
	e.other = w.User(e.acc.ID, steward.RoleMember)
	return e
}

func (e *elevWorld) eligible(t *testing.T, as, userID, role string, maxMinutes int, approval bool) *steward.Eligibility {
	t.Helper()
	el, _, err := e.Svc.CreateEligibility(e.As(as), e.acc.ID, steward.NewEligibility{UserID: userID, Role: role, MaxMinutes: maxMinutes, ApprovalRequired: approval})
	if err != nil {
		t.Fatalf("CreateEligibility: %v", err)
	}
	return el
}

func (e *elevWorld) activate(t *testing.T, as, role string, minutes int) *steward.Elevation {
	t.Helper()
	ev, _, err := e.Svc.RequestElevation(e.As(as), e.acc.ID, steward.NewElevation{Role: role, Minutes: minutes, Reason: "Close the quarter"})
	if err != nil {
		t.Fatalf("RequestElevation: %v", err)
	}
	return ev
}

// mailed reports whether a message of the kind went to the address.
func (w *World) mailed(t *testing.T, to, kind string) bool {
	t.Helper()
	msgs, err := w.Store.FindMessages(ctx, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(msgs, func(m *steward.Message) bool { return m.To == to && m.Kind == kind })
}

func testRElevate1(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	new := func(as, userID, role string, max int) func() error {
		return func() error {
			_, _, err := e.Svc.CreateEligibility(e.As(as), e.acc.ID, steward.NewEligibility{UserID: userID, Role: role, MaxMinutes: max})
			return err
		}
	}
	t.Run("ErrGranterLacksARolePermission", func(t *testing.T) {
		// The manager manages members but does not hold billing (R-GRANT-1).
		e.refused(t, steward.EFORBIDDEN, "permission_not_held", new(e.manager.ID, e.member.ID, e.billing.ID, 60), e.acc.ID)
	})
	t.Run("ErrGranterDoesNotManageMembers", func(t *testing.T) {
		e.refused(t, steward.EFORBIDDEN, "permission_required", new(e.other.ID, e.member.ID, steward.RoleMember, 60), e.acc.ID)
	})
	t.Run("ErrSuperAdminNeedsItsManager", func(t *testing.T) {
		e.refused(t, steward.EFORBIDDEN, "", new(e.manager.ID, e.member.ID, steward.RoleSuperAdmin, 60), e.acc.ID)
	})
	t.Run("ErrLongerThan8Hours", func(t *testing.T) {
		for _, n := range []int{0, -1, 481} {
			e.refused(t, steward.EINVALID, "invalid_eligibility", new(e.owner.ID, e.member.ID, e.billing.ID, n), e.acc.ID)
		}
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		elsewhere, _ := e.Account(steward.AccountStandard)
		stranger := e.User(elsewhere.ID, steward.RoleMember)
		e.refused(t, steward.ENOTFOUND, "", new(e.owner.ID, stranger.ID, e.billing.ID, 60), e.acc.ID)
	})
	t.Run("PreviewShowsWhatAnActivationWouldAdd", func(t *testing.T) {
		// R-PREVIEW-1: a dry run writes nothing and answers the gain.
		p := &steward.Preview{}
		ctx := steward.NewContextWithDryRun(e.As(e.owner.ID), p)
		var err error
		e.unchanged(t, func() {
			_, _, err = e.Svc.CreateEligibility(ctx, e.acc.ID, steward.NewEligibility{UserID: e.member.ID, Role: e.billing.ID, MaxMinutes: 60})
		}, e.acc.ID)
		if !steward.IsDryRun(err) || !p.Done() {
			t.Fatalf("dry run err = %v, done %v", err, p.Done())
		}
		if len(p.Changes) != 1 || p.Changes[0].UserID != e.member.ID || !slices.Equal(p.Changes[0].Gained, []string{steward.PermBillingManage, "reports.view"}) {
			t.Fatalf("preview = %+v, want the member gaining the billing role's permissions", p.Changes)
		}
	})
	el := e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 120, false)
	if el.GrantedBy != e.owner.ID || el.MembershipID != e.Member(e.acc.ID, e.member.ID).ID || el.MaxMinutes != 120 {
		t.Errorf("eligibility = %+v", el)
	}
	if ev := e.lastEvent(t, e.acc.ID, "eligibility.created"); ev.Actor.UserID != e.owner.ID || ev.TargetID != el.ID {
		t.Errorf("eligibility.created = %+v", ev)
	}
	if !e.mailed(t, e.member.Email, "eligibility.created") || !e.mailed(t, e.second.Email, "eligibility.created") {
		t.Error("the member and the approvers are not mailed of the eligibility")
	}
	t.Run("ErrTwiceForOneRole", func(t *testing.T) {
		e.refused(t, steward.ECONFLICT, "eligibility_exists", new(e.second.ID, e.member.ID, e.billing.ID, 30), e.acc.ID)
	})
	// A manager makes members eligible for what it holds itself.
	contacts := e.Role(e.acc.ID, "Contacts", "crm.contacts.view")
	e.eligible(t, e.manager.ID, e.member.ID, contacts.ID, 30, false)
	// Lists: all of them to a manager, its own to a member.
	all, _, err := e.Svc.FindEligibilities(e.As(e.manager.ID), steward.EligibilityFilter{AccountID: e.acc.ID})
	if err != nil || len(all) != 2 {
		t.Fatalf("manager lists %d eligibilities (%v), want 2", len(all), err)
	}
	own, _, err := e.Svc.FindEligibilities(e.As(e.other.ID), steward.EligibilityFilter{AccountID: e.acc.ID})
	if err != nil || len(own) != 0 {
		t.Fatalf("another member lists %d eligibilities (%v), want none", len(own), err)
	}
}

// testRElevate2Flow: eligible → activate → approved by another member →
// checks allow the elevated permission until the end and deny one second
// after, in the store evaluation, in this node's index and in a second
// node's, which follows the change feed.
func testRElevate2Flow(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	ix := e.index(t)
	// A second node: another Service with its own index over the same
	// database, following the change feed.
	node2 := steward.NewService(e.Store, e.Svc.Catalogue, nil)
	node2.Now = e.Svc.Now
	ix2 := authz.New(e.Store.(authz.Source), e.Svc.Catalogue, nil)
	if err := ix2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	node2.Checker = ix2
	kick := authz.NewKicker()
	e.Svc.OnCommit = func(int64) { kick.Kick() } // the change feed's notification
	follow, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go ix2.Follow(follow, kick, time.Minute) // a long poll: kicks alone must do
	check := func(at time.Time) (bool, steward.Reason) {
		t.Helper()
		allowed := e.checkBoth(t, ix, e.member.ID, e.acc.ID, steward.PermBillingManage, at)
		rev, err := e.Store.CurrentRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// R-CHECK-3: node 2 answers once it has applied node 1's writes.
		res, err := node2.Check(e.Op, steward.CheckRequest{UserID: e.member.ID, AccountID: e.acc.ID, Permission: steward.PermBillingManage, At: &at, MinRevision: rev})
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed != allowed {
			t.Fatalf("node 2 says %v at %s, node 1 %v", res.Allowed, at, allowed)
		}
		return allowed, res.Reason
	}
	el := e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 60, true)
	pending := e.activate(t, e.member.ID, e.billing.ID, 30)
	if pending.Status != steward.ElevationPending || pending.ExpiresAt == nil || !pending.ExpiresAt.Equal(e.Now.Add(7*24*time.Hour)) || pending.EligibilityID != el.ID {
		t.Fatalf("elevation = %+v, want pending for 7 days", pending)
	}
	if !e.mailed(t, e.second.Email, "elevation.requested") {
		t.Error("the approvers are not mailed of the request")
	}
	if ok, _ := check(e.Now); ok {
		t.Fatal("a pending elevation holds")
	}
	e.Now = e.Now.Add(10 * time.Minute)
	approved, _, err := e.Svc.ApproveElevation(e.As(e.second.ID), e.acc.ID, pending.ID)
	if err != nil {
		t.Fatalf("ApproveElevation: %v", err)
	}
	start, end := e.Now, e.Now.Add(30*time.Minute)
	if approved.Status != steward.ElevationActive || !approved.StartsAt.Equal(start) || !approved.EndsAt.Equal(end) || approved.ApprovedBy != e.second.ID {
		t.Fatalf("approved = %+v, want active from %s to %s", approved, start, end)
	}
	if !slices.Equal(approved.Permissions, []string{steward.PermBillingManage, "reports.view"}) {
		t.Errorf("permissions = %v", approved.Permissions)
	}
	if !e.mailed(t, e.member.Email, "elevation.approved") || !e.mailed(t, e.owner.Email, "elevation.approved") {
		t.Error("the member and the approvers are not mailed of the approval")
	}
	if ev := e.lastEvent(t, e.acc.ID, "elevation.approved"); ev.Actor.UserID != e.second.ID || ev.TargetID != pending.ID {
		t.Errorf("elevation.approved = %+v", ev)
	}
	for _, at := range []time.Time{start, end.Add(-time.Second)} {
		ok, reason := check(at)
		if !ok {
			t.Fatalf("the elevated permission does not hold at %s", at)
		}
		// R-CHECK-2: the reason names the elevation and its end.
		if reason.Source != "elevation" || reason.Elevation == nil || reason.Elevation.ID != pending.ID || !reason.Elevation.EndsAt.Equal(end) {
			t.Errorf("reason at %s = %+v, want the elevation %s ending %s", at, reason, pending.ID, end)
		}
	}
	for _, at := range []time.Time{start.Add(-time.Second), end, end.Add(time.Second)} {
		if ok, _ := check(at); ok {
			t.Errorf("the elevated permission holds at %s, outside [%s, %s)", at, start, end)
		}
	}
	// The membership holds the union while active: its own permissions
	// stay, reports.view comes with the role.
	if m := e.Member(e.acc.ID, e.member.ID); !slices.Contains(m.Permissions, "reports.view") {
		t.Errorf("membership permissions while elevated = %v", m.Permissions)
	}
	// One second after the end, with no job run, it has ended everywhere.
	e.Now = end.Add(time.Second)
	if ok, _ := check(e.Now); ok {
		t.Error("the elevated permission holds one second after the end")
	}
	list, _, err := e.Svc.FindElevations(e.As(e.member.ID), steward.ElevationFilter{AccountID: e.acc.ID})
	if err != nil || len(list) != 1 || list[0].Status != steward.ElevationEnded || list[0].EndReason != steward.EndedTimeUp {
		t.Fatalf("elevations after the end = %+v (%v), want one ended by time", list, err)
	}
	// It can be activated again afterwards.
	again := e.activate(t, e.member.ID, e.billing.ID, 15)
	if again.Status != steward.ElevationPending {
		t.Errorf("second activation = %+v", again)
	}
}

func testRElevate2Refusals(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 60, true)
	req := func(as string, minutes int, reason string) func() error {
		return func() error {
			_, _, err := e.Svc.RequestElevation(e.As(as), e.acc.ID, steward.NewElevation{Role: e.billing.ID, Minutes: minutes, Reason: reason})
			return err
		}
	}
	t.Run("ErrNotEligible", func(t *testing.T) {
		e.refused(t, steward.EFORBIDDEN, "not_eligible", req(e.other.ID, 30, "Audit"), e.acc.ID)
	})
	t.Run("ErrOperatorIsNoMember", func(t *testing.T) {
		e.refused(t, steward.EFORBIDDEN, "not_eligible", func() error {
			_, _, err := e.Svc.RequestElevation(e.Op, e.acc.ID, steward.NewElevation{Role: e.billing.ID, Minutes: 30, Reason: "Audit"})
			return err
		}, e.acc.ID)
	})
	t.Run("ErrLongerThanTheMaximum", func(t *testing.T) {
		e.refused(t, steward.EINVALID, "elevation_too_long", req(e.member.ID, 61, "Audit"), e.acc.ID)
	})
	t.Run("ErrNoReason", func(t *testing.T) {
		e.refused(t, steward.EINVALID, "invalid_elevation", req(e.member.ID, 30, "  "), e.acc.ID)
	})
	pending := e.activate(t, e.member.ID, e.billing.ID, 30)
	t.Run("ErrSecondWhilePending", func(t *testing.T) {
		e.refused(t, steward.ECONFLICT, "elevation_open", req(e.member.ID, 30, "Again"), e.acc.ID)
	})
	approve := func(as string) func() error {
		return func() error {
			_, _, err := e.Svc.ApproveElevation(e.As(as), e.acc.ID, pending.ID)
			return err
		}
	}
	t.Run("ErrApprovedByTheRequester", func(t *testing.T) {
		e.refused(t, steward.EFORBIDDEN, "own_elevation", approve(e.member.ID), e.acc.ID)
	})
	t.Run("ErrApprovedByOneWhoCouldNotGrantIt", func(t *testing.T) {
		// The manager manages members but lacks billing (R-GRANT-1).
		e.refused(t, steward.EFORBIDDEN, "permission_not_held", approve(e.manager.ID), e.acc.ID)
	})
	t.Run("ErrApprovedByAPlainMember", func(t *testing.T) {
		// Another member's elevation is not even visible to it.
		e.refused(t, steward.ENOTFOUND, "", approve(e.other.ID), e.acc.ID)
	})
	t.Run("ErrForeignAccount", func(t *testing.T) {
		elsewhere, owner := e.Account(steward.AccountStandard)
		e.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := e.Svc.ApproveElevation(e.As(owner.ID), elsewhere.ID, pending.ID)
			return err
		}, e.acc.ID, elsewhere.ID)
	})
	if e.Allowed(e.member.ID, e.acc.ID, steward.PermBillingManage) {
		t.Fatal("a refused approval gave the permission")
	}
	if _, _, err := e.Svc.ApproveElevation(e.As(e.owner.ID), e.acc.ID, pending.ID); err != nil {
		t.Fatalf("approval by the owner: %v", err)
	}
	t.Run("ErrApprovedTwice", func(t *testing.T) {
		e.refused(t, steward.ECONFLICT, "elevation_not_pending", approve(e.second.ID), e.acc.ID)
	})
}

func testRElevate2End(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	ix := e.index(t)
	holds := func() bool {
		t.Helper()
		return e.checkBoth(t, ix, e.member.ID, e.acc.ID, steward.PermBillingManage, e.Now)
	}
	el := e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 480, false)
	active := e.activate(t, e.member.ID, e.billing.ID, 480)
	if active.Status != steward.ElevationActive || !holds() {
		t.Fatalf("activation without approval = %+v, want active at once", active)
	}
	if !e.mailed(t, e.owner.Email, "elevation.activated") {
		t.Error("the approvers are not mailed of the activation")
	}
	t.Run("ErrEndedByAPlainMember", func(t *testing.T) {
		e.refused(t, steward.ENOTFOUND, "", func() error {
			_, _, err := e.Svc.EndElevation(e.As(e.other.ID), e.acc.ID, active.ID)
			return err
		}, e.acc.ID)
	})
	// An admin ends it early.
	e.Now = e.Now.Add(time.Minute)
	ended, _, err := e.Svc.EndElevation(e.As(e.manager.ID), e.acc.ID, active.ID)
	if err != nil {
		t.Fatalf("EndElevation by an admin: %v", err)
	}
	if ended.Status != steward.ElevationEnded || !ended.EndsAt.Equal(e.Now) || ended.EndedBy != e.manager.ID || ended.EndReason != steward.EndedEarly {
		t.Errorf("ended = %+v", ended)
	}
	if holds() {
		t.Error("an ended elevation holds")
	}
	t.Run("ErrEndedTwice", func(t *testing.T) {
		e.refused(t, steward.ECONFLICT, "elevation_ended", func() error {
			_, _, err := e.Svc.EndElevation(e.As(e.member.ID), e.acc.ID, active.ID)
			return err
		}, e.acc.ID)
	})
	// The member ends its own.
	own := e.activate(t, e.member.ID, e.billing.ID, 60)
	if _, _, err := e.Svc.EndElevation(e.As(e.member.ID), e.acc.ID, own.ID); err != nil {
		t.Fatalf("EndElevation by the member: %v", err)
	}
	if holds() {
		t.Error("an elevation the member ended holds")
	}
	// Removing the eligibility ends what runs under it.
	e.activate(t, e.member.ID, e.billing.ID, 60)
	if _, err := e.Svc.DeleteEligibility(e.As(e.owner.ID), e.acc.ID, el.ID); err != nil {
		t.Fatalf("DeleteEligibility: %v", err)
	}
	if holds() {
		t.Error("an elevation holds after its eligibility was removed")
	}
	e.refused(t, steward.EFORBIDDEN, "not_eligible", func() error {
		_, _, err := e.Svc.RequestElevation(e.As(e.member.ID), e.acc.ID, steward.NewElevation{Role: e.billing.ID, Minutes: 5, Reason: "Again"})
		return err
	}, e.acc.ID)

	// An eligibility is only as good as its granter: a granter who no
	// longer holds the role's permissions lets nobody activate it.
	treasurer := e.User(e.acc.ID, e.Role(e.acc.ID, "Treasurer", steward.PermUsersManage, steward.PermBillingManage, "reports.view").ID)
	e.eligible(t, treasurer.ID, e.member.ID, e.billing.ID, 60, false)
	if _, _, err := e.Svc.ChangeMemberRole(e.As(e.owner.ID), e.acc.ID, treasurer.ID, e.managerRole.ID); err != nil {
		t.Fatal(err)
	}
	e.refused(t, steward.ECONFLICT, "eligibility_void", func() error {
		_, _, err := e.Svc.RequestElevation(e.As(e.member.ID), e.acc.ID, steward.NewElevation{Role: e.billing.ID, Minutes: 5, Reason: "Pay"})
		return err
	}, e.acc.ID)
	// Removing the granter removes what it granted (R-GRANT-5).
	if _, err := e.Svc.RemoveMember(e.As(e.owner.ID), e.acc.ID, treasurer.ID); err != nil {
		t.Fatal(err)
	}
	if els, _, _ := e.Svc.FindEligibilities(e.Op, steward.EligibilityFilter{AccountID: e.acc.ID, UserID: e.member.ID}); len(els) != 0 {
		t.Errorf("eligibilities of a removed granter = %+v", els)
	}
	// Removing the membership ends its elevations and eligibilities.
	e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 60, false)
	last := e.activate(t, e.member.ID, e.billing.ID, 60)
	if !holds() {
		t.Fatal("activation did not hold")
	}
	if _, err := e.Svc.RemoveMember(e.As(e.owner.ID), e.acc.ID, e.member.ID); err != nil {
		t.Fatal(err)
	}
	list, _, err := e.Svc.FindElevations(e.Op, steward.ElevationFilter{AccountID: e.acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list {
		if x.ID == last.ID && (x.Status != steward.ElevationEnded || x.EndReason != steward.EndedMembershipRemoved) {
			t.Errorf("elevation of a removed membership = %+v", x)
		}
	}
	if els, _, _ := e.Svc.FindEligibilities(e.Op, steward.EligibilityFilter{AccountID: e.acc.ID}); len(els) != 0 {
		t.Errorf("eligibilities of a removed membership = %+v", els)
	}
}

func testRElevate2Expiry(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 60, true)
	pending := e.activate(t, e.member.ID, e.billing.ID, 30)
	e.Now = e.Now.Add(7*24*time.Hour - time.Second)
	if err := e.Svc.ExpireElevations(context.Background()); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := e.Svc.FindElevations(e.Op, steward.ElevationFilter{AccountID: e.acc.ID, Status: steward.ElevationPending}); len(list) != 1 {
		t.Fatalf("pending before 7 days = %+v", list)
	}
	e.Now = e.Now.Add(time.Second)
	if err := e.Svc.RunDueJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(t, e.acc.ID, "elevation.expired"); ev.TargetID != pending.ID {
		t.Errorf("elevation.expired = %+v", ev)
	}
	if !e.mailed(t, e.member.Email, "elevation.expired") {
		t.Error("the member is not mailed of the expiry")
	}
	list, _, err := e.Svc.FindElevations(e.Op, steward.ElevationFilter{AccountID: e.acc.ID, Status: steward.ElevationEnded})
	if err != nil || len(list) != 1 || list[0].EndReason != steward.EndedExpired {
		t.Fatalf("ended after 7 days = %+v (%v)", list, err)
	}
	e.refused(t, steward.EGONE, "elevation_expired", func() error {
		_, _, err := e.Svc.ApproveElevation(e.As(e.owner.ID), e.acc.ID, pending.ID)
		return err
	}, e.acc.ID)
	// The job has nothing more to do.
	before := e.Events(e.acc.ID)
	if err := e.Svc.ExpireElevations(context.Background()); err != nil || e.Events(e.acc.ID) != before {
		t.Errorf("a second run recorded %d events (%v)", e.Events(e.acc.ID)-before, err)
	}
}

// testRElevate2Grant5: what a member gives while elevated ends with the
// elevation (R-GRANT-5), and an elevation never outlasts the membership.
func testRElevate2Grant5(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	admins := e.Role(e.acc.ID, "Admins", steward.PermUsersManage, "reports.view", "crm.deals.view")
	e.eligible(t, e.owner.ID, e.member.ID, admins.ID, 60, false)
	el := e.activate(t, e.member.ID, admins.ID, 60)
	// Elevated, the member may manage members, but it cannot widen one
	// whose access lasts longer than its elevation.
	deals := e.Role(e.acc.ID, "Deals", "crm.deals.view")
	_, _, err := e.Svc.ChangeMemberRole(e.As(e.member.ID), e.acc.ID, e.other.ID, deals.ID)
	WantCode(t, err, steward.EFORBIDDEN, "outlives_granter")
	if e.Allowed(e.other.ID, e.acc.ID, "crm.deals.view") {
		t.Fatalf("an elevated member widened a lasting membership: %v", err)
	}
	// What it creates ends with its elevation.
	added, _, err := e.Svc.AddMember(e.As(e.member.ID), e.acc.ID, steward.NewMember{Email: "temp@example.com", Name: "Temp", Role: deals.ID})
	if err != nil {
		t.Fatalf("AddMember while elevated: %v", err)
	}
	if added.EndsAt == nil || added.EndsAt.After(*el.EndsAt) {
		t.Errorf("a membership created while elevated ends %v, after the elevation's %v", added.EndsAt, el.EndsAt)
	}
	if e.Allowed(added.UserID, e.acc.ID, "crm.deals.view", el.EndsAt.Add(time.Second)) {
		t.Error("what an elevated member gave outlives the elevation")
	}
}

// testRElevate1All: the account's whole lists of eligibilities and
// elevations (All) are for holders of account.users.manage; a member asking
// for them is refused, while its own stay readable, and another member's
// single eligibility or elevation is as unknown to it.
func testRElevate1All(t *testing.T, open Opener) {
	e := newElevWorld(t, open)
	el := e.eligible(t, e.owner.ID, e.member.ID, e.billing.ID, 60, true)
	ev := e.activate(t, e.member.ID, e.billing.ID, 30)
	for name, fn := range map[string]func(as string) error{
		"Eligibilities": func(as string) error {
			_, _, err := e.Svc.FindEligibilities(e.As(as), steward.EligibilityFilter{AccountID: e.acc.ID, All: true})
			return err
		},
		"Elevations": func(as string) error {
			_, _, err := e.Svc.FindElevations(e.As(as), steward.ElevationFilter{AccountID: e.acc.ID, All: true})
			return err
		},
	} {
		t.Run("Err"+name+"AllToAMember", func(t *testing.T) {
			WantCode(t, fn(e.member.ID), steward.EFORBIDDEN, "permission_required")
		})
		t.Run(name+"AllToTheManager", func(t *testing.T) {
			if err := fn(e.manager.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	if els, _, err := e.Svc.FindEligibilities(e.As(e.member.ID), steward.EligibilityFilter{AccountID: e.acc.ID}); err != nil || len(els) != 1 || els[0].ID != el.ID {
		t.Errorf("the member's own eligibilities: %v, %v", els, err)
	}
	if got, err := e.Svc.FindEligibility(e.As(e.member.ID), e.acc.ID, el.ID); err != nil || got.ID != el.ID {
		t.Errorf("the member's own eligibility: %v", err)
	}
	if got, err := e.Svc.FindElevation(e.As(e.manager.ID), e.acc.ID, ev.ID); err != nil || got.Status != steward.ElevationPending {
		t.Errorf("the manager reads the elevation: %+v, %v", got, err)
	}
	t.Run("ErrAnotherMembersIsUnknown", func(t *testing.T) {
		_, err := e.Svc.FindEligibility(e.As(e.other.ID), e.acc.ID, el.ID)
		_, uerr := e.Svc.FindEligibility(e.As(e.other.ID), e.acc.ID, "elg_00000000000000000000000000")
		WantCode(t, err, steward.ENOTFOUND, "")
		WantCode(t, uerr, steward.ENOTFOUND, "")
		_, err = e.Svc.FindElevation(e.As(e.other.ID), e.acc.ID, ev.ID)
		_, uerr = e.Svc.FindElevation(e.As(e.other.ID), e.acc.ID, "elv_00000000000000000000000000")
		WantCode(t, err, steward.ENOTFOUND, "")
		WantCode(t, uerr, steward.ENOTFOUND, "")
		if steward.ErrorMessage(err) == "" || steward.ErrorCode(err) != steward.ErrorCode(uerr) {
			t.Errorf("another member's elevation (%v) and an unknown one (%v) differ", err, uerr)
		}
	})
}
