package storetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

var reviewCases = []suiteCase{
	{"R-REVIEW-1_StartReview", testRReview1},
	{"R-REVIEW-2_ItemsAndDecisions", testRReview2},
	{"R-REVIEW-3_CloseAppliesRemovals", testRReview3},
	{"R-REVIEW-3_SchedulerClosesAtDueDate", testRReview3Scheduler},
	{"R-PREVIEW-1_DryRunWritesNothing", testRPreview1},
	{"R-PREVIEW-1_TakenEmailRefusedInPreviewAndWrite", testTakenEmail},
	{"R-PREVIEW-1_PreviewEqualsRealChange", testRPreview1Property},
	{"R-PREVIEW-1_PolicyPreviewListsClippedRelationships", testRPreview1Relationships},
}

// reviewWorld is a client with an external user who delegated to a
// colleague, an internal member, and a users manager who reviews.
type reviewWorld struct {
	*extWorld
	parent, delegate, internal *steward.Membership
	manager                    *steward.User // holds account.users.manage, not account.super_admins.manage
	outsider                   *steward.User // a member without account.users.manage
}

func newReviewWorld(t *testing.T, open Opener) *reviewWorld {
	x := newExtWorld(t, open)
	r := &reviewWorld{extWorld: x}
	r.parent = x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
	ds, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}})
	if err != nil {
		t.Fatal(err)
	}
	r.delegate = ds[0]
	managers := x.Role(x.client.ID, "Managers", steward.PermUsersManage, "crm.contacts.view", "crm.contacts.edit", "reports.view")
	r.manager = x.User(x.client.ID, managers.ID)
	r.outsider = x.User(x.client.ID, x.editors.ID)
	r.internal = x.Member(x.client.ID, r.outsider.ID)
	// Product activity of the external user, for its item's last activity.
	if _, _, err := x.Svc.ReportActivity(x.Op, x.client.ID, steward.ActivityReport{UserID: x.ext.ID, Action: "contact.updated"}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *reviewWorld) start(as context.Context, in steward.NewReview) *steward.Review {
	r.T.Helper()
	rv, _, err := r.Svc.StartReview(as, r.client.ID, in)
	if err != nil {
		r.T.Fatalf("StartReview: %v", err)
	}
	return rv
}

func (r *reviewWorld) items(rv *steward.Review) map[string]*steward.ReviewItem {
	r.T.Helper()
	its, _, err := r.Svc.FindReviewItems(r.Op, r.client.ID, rv.ID, steward.Page{Limit: 500})
	if err != nil {
		r.T.Fatal(err)
	}
	out := map[string]*steward.ReviewItem{}
	for _, it := range its {
		out[it.UserID] = it
	}
	return out
}

func (r *reviewWorld) memberGone(t *testing.T, userID string) bool {
	t.Helper()
	_, err := r.Store.FindMembership(context.Background(), r.client.ID, userID)
	if err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
		t.Fatal(err)
	}
	return err != nil
}

func testRReview1(t *testing.T, open Opener) {
	r := newReviewWorld(t, open)
	due := r.Now.Add(14 * 24 * time.Hour)
	as := r.As(r.manager.ID)
	third, _ := r.Account(steward.AccountStandard)
	foreign := r.User(third.ID, steward.RoleSuperAdmin)
	bad := []struct {
		name       string
		as         context.Context
		in         steward.NewReview
		kind, code string
	}{
		{"ErrNotUsersManager", r.As(r.outsider.ID), steward.NewReview{ReviewerIDs: []string{r.manager.ID}, DueAt: due, DefaultDecision: "keep"}, steward.EFORBIDDEN, "permission_required"},
		{"ErrForeignAccount", r.As(foreign.ID), steward.NewReview{ReviewerIDs: []string{foreign.ID}, DueAt: due, DefaultDecision: "keep"}, steward.ENOTFOUND, "account_not_found"},
		{"ErrReviewerWithoutPermission", as, steward.NewReview{ReviewerIDs: []string{r.outsider.ID}, DueAt: due, DefaultDecision: "keep"}, steward.EINVALID, "invalid_review"},
		{"ErrReviewerOfAnotherAccount", as, steward.NewReview{ReviewerIDs: []string{foreign.ID}, DueAt: due, DefaultDecision: "keep"}, steward.EINVALID, "invalid_review"},
		{"ErrUnknownReviewer", as, steward.NewReview{ReviewerIDs: []string{"usr_nope"}, DueAt: due, DefaultDecision: "keep"}, steward.EINVALID, "invalid_review"},
		{"ErrNoReviewer", as, steward.NewReview{DueAt: due, DefaultDecision: "keep"}, steward.EINVALID, "invalid_review"},
		{"ErrDueInThePast", as, steward.NewReview{ReviewerIDs: []string{r.manager.ID}, DueAt: r.Now.Add(-time.Hour), DefaultDecision: "keep"}, steward.EINVALID, "invalid_review"},
		{"ErrBadDefault", as, steward.NewReview{ReviewerIDs: []string{r.manager.ID}, DueAt: due, DefaultDecision: "maybe"}, steward.EINVALID, "invalid_review"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			events := r.Events(r.client.ID)
			_, _, err := r.Svc.StartReview(tt.as, r.client.ID, tt.in)
			WantCode(t, err, tt.kind, tt.code)
			if r.Events(r.client.ID) != events {
				t.Error("a refused review wrote an event")
			}
			if rs, _, _ := r.Store.FindReviews(context.Background(), r.client.ID, steward.Page{Limit: 10}); len(rs) != 0 {
				t.Errorf("reviews = %d after a refusal", len(rs))
			}
		})
	}
	t.Run("OutsidersOnly", func(t *testing.T) {
		rv := r.start(as, steward.NewReview{ReviewerIDs: []string{r.manager.ID, r.owner.ID}, DueAt: due, DefaultDecision: "keep"})
		if rv.Status != steward.ReviewOpen || rv.CreatedBy != r.manager.ID || len(rv.ReviewerIDs) != 2 || !rv.DueAt.Equal(due) {
			t.Errorf("review = %+v", rv)
		}
		its := r.items(rv)
		if len(its) != 2 || its[r.ext.ID] == nil || its[r.colleague.ID] == nil {
			t.Errorf("items = %v, want the external user and its delegate only", its)
		}
	})
	t.Run("WithInternal", func(t *testing.T) {
		rv := r.start(as, steward.NewReview{IncludeInternal: true, ReviewerIDs: []string{r.manager.ID}, DueAt: due, DefaultDecision: "remove"})
		its := r.items(rv)
		if its[r.outsider.ID] == nil || its[r.owner.ID] == nil || its[r.manager.ID] == nil || len(its) != 5 {
			t.Errorf("items = %d, want every membership", len(its))
		}
	})
}

func testRReview2(t *testing.T, open Opener) {
	r := newReviewWorld(t, open)
	as := r.As(r.manager.ID)
	rv := r.start(as, steward.NewReview{IncludeInternal: true, ReviewerIDs: []string{r.manager.ID}, DueAt: r.Now.Add(time.Hour), DefaultDecision: "keep"})
	its := r.items(rv)
	ext, del := its[r.ext.ID], its[r.colleague.ID]
	if ext.Kind != steward.KindExternal || ext.MembershipID != r.parent.ID || ext.GrantedBy != r.owner.ID || ext.Email != r.ext.Email ||
		!slices.Equal(ext.Permissions, r.parent.Permissions) || len(ext.Chain) != 1 || ext.LastActivityAt == nil || !ext.LastActivityAt.Equal(r.Now) {
		t.Errorf("external item = %+v", ext)
	}
	if del.Kind != steward.KindDelegate || del.GrantedBy != r.ext.ID || len(del.Chain) != 2 || del.Chain[1].ID != r.parent.ID || del.LastActivityAt != nil {
		t.Errorf("delegate item = %+v", del)
	}
	note := "Still works with us."
	t.Run("Decide", func(t *testing.T) {
		it, _, err := r.Svc.DecideReviewItem(as, r.client.ID, rv.ID, ext.ID, steward.ItemDecision{Decision: "keep", Note: &note})
		if err != nil {
			t.Fatal(err)
		}
		if it.Decision != steward.DecisionKeep || it.Note != note || it.DecidedBy != r.manager.ID || it.DecidedAt == nil {
			t.Errorf("item = %+v", it)
		}
		if got := r.items(rv)[r.ext.ID]; got.Decision != steward.DecisionKeep || got.Note != note {
			t.Errorf("stored item = %+v", got)
		}
	})
	long := string(bytes.Repeat([]byte("x"), 1001))
	bad := []struct {
		name       string
		as         context.Context
		item       string
		in         steward.ItemDecision
		kind, code string
	}{
		{"ErrNotAReviewer", r.As(r.owner.ID), del.ID, steward.ItemDecision{Decision: "remove"}, steward.EFORBIDDEN, "not_a_reviewer"},
		{"ErrNoPermission", r.As(r.outsider.ID), del.ID, steward.ItemDecision{Decision: "remove"}, steward.EFORBIDDEN, "permission_required"},
		{"ErrBadDecision", as, del.ID, steward.ItemDecision{Decision: "delete"}, steward.EINVALID, "invalid_decision"},
		{"ErrLongNote", as, del.ID, steward.ItemDecision{Decision: "keep", Note: &long}, steward.EINVALID, "invalid_decision"},
		{"ErrUnknownItem", as, "rvi_nope", steward.ItemDecision{Decision: "keep"}, steward.ENOTFOUND, "review item_not_found"},
		// R-SUPER-2: removing a super admin needs account.super_admins.manage.
		{"ErrSuperAdminNeedsSuperAdminsManage", as, r.items(rv)[r.owner.ID].ID, steward.ItemDecision{Decision: "remove"}, steward.EFORBIDDEN, "permission_required"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			events := r.Events(r.client.ID)
			_, _, err := r.Svc.DecideReviewItem(tt.as, r.client.ID, rv.ID, tt.item, tt.in)
			WantCode(t, err, tt.kind, tt.code)
			if r.Events(r.client.ID) != events {
				t.Error("a refused decision wrote an event")
			}
		})
	}
	t.Run("ErrReviewOfAnotherAccount", func(t *testing.T) {
		other, owner := r.Account(steward.AccountStandard)
		_, _, err := r.Svc.DecideReviewItem(r.As(owner.ID), other.ID, rv.ID, del.ID, steward.ItemDecision{Decision: "remove"})
		WantCode(t, err, steward.ENOTFOUND, "review_not_found")
		_, err = r.Svc.FindReview(r.As(owner.ID), other.ID, rv.ID)
		WantCode(t, err, steward.ENOTFOUND, "review_not_found")
	})
}

func testRReview3(t *testing.T, open Opener) {
	r := newReviewWorld(t, open)
	as := r.As(r.manager.ID)
	rv := r.start(as, steward.NewReview{IncludeInternal: true, ReviewerIDs: []string{r.manager.ID, r.owner.ID}, DueAt: r.Now.Add(time.Hour), DefaultDecision: "remove"})
	its := r.items(rv)
	decide := func(as context.Context, userID string, d steward.ReviewDecision) {
		t.Helper()
		if _, _, err := r.Svc.DecideReviewItem(as, r.client.ID, rv.ID, its[userID].ID, steward.ItemDecision{Decision: d}); err != nil {
			t.Fatalf("decide %s: %v", userID, err)
		}
	}
	decide(as, r.ext.ID, steward.DecisionRemove)     // takes its delegate with it
	decide(as, r.colleague.ID, steward.DecisionKeep) // but its parent goes
	decide(as, r.manager.ID, steward.DecisionKeep)
	// The owner is the only super admin: its removal is refused by R-SUPER-1 at closing.
	decide(r.As(r.owner.ID), r.owner.ID, steward.DecisionRemove)
	// The outsider is left undecided: the default removes it; as its home
	// membership, the user is deactivated.

	closed, _, err := r.Svc.CloseReview(as, r.client.ID, rv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if closed.Status != steward.ReviewClosed || closed.ClosedBy != r.manager.ID || closed.ClosedAt == nil {
		t.Errorf("closed review = %+v", closed)
	}
	after := r.items(rv)
	want := map[string]string{
		r.ext.ID: steward.OutcomeRemoved, r.colleague.ID: steward.OutcomeRemovedWithParent, r.manager.ID: steward.OutcomeKept,
		r.owner.ID: steward.OutcomeKeptLastSuperAdmin, r.outsider.ID: steward.OutcomeDeactivated,
	}
	for user, o := range want {
		if after[user].Outcome != o {
			t.Errorf("outcome of %s = %q, want %q", user, after[user].Outcome, o)
		}
	}
	if closed.Outcome[steward.OutcomeRemoved] != 1 || closed.Outcome[steward.OutcomeKept] != 1 {
		t.Errorf("outcome = %v", closed.Outcome)
	}
	if !r.memberGone(t, r.ext.ID) || !r.memberGone(t, r.colleague.ID) {
		t.Error("the removed external user or its delegate is still a member")
	}
	if r.Allowed(r.ext.ID, r.client.ID, "crm.contacts.view") || r.Allowed(r.colleague.ID, r.client.ID, "crm.contacts.view") ||
		r.Allowed(r.outsider.ID, r.client.ID, "crm.contacts.view") {
		t.Error("a removed member still holds")
	}
	if !r.Allowed(r.owner.ID, r.client.ID, steward.PermSuperAdminsManage) {
		t.Error("R-SUPER-1: the last super admin lost access")
	}
	t.Run("ErrClosedReview", func(t *testing.T) {
		events := r.Events(r.client.ID)
		_, _, err := r.Svc.DecideReviewItem(as, r.client.ID, rv.ID, its[r.manager.ID].ID, steward.ItemDecision{Decision: "remove"})
		WantCode(t, err, steward.ECONFLICT, "review_closed")
		_, _, err = r.Svc.CloseReview(as, r.client.ID, rv.ID)
		WantCode(t, err, steward.ECONFLICT, "review_closed")
		if r.Events(r.client.ID) != events {
			t.Error("a refused request wrote an event")
		}
	})
	t.Run("Export", func(t *testing.T) {
		b, err := r.Svc.ExportReview(as, r.client.ID, rv.ID)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1+len(its) || rows[0][0] != "review_id" || rows[0][len(rows[0])-1] != "outcome" {
			t.Fatalf("export = %q", rows)
		}
		for _, row := range rows[1:] {
			if row[len(row)-1] == "" || row[1] != "closed" {
				t.Errorf("row = %q, want an outcome", row)
			}
		}
	})
}

func testRReview3Scheduler(t *testing.T, open Opener) {
	r := newReviewWorld(t, open)
	as := r.As(r.manager.ID)
	due := r.Now.Add(24 * time.Hour)
	rv := r.start(as, steward.NewReview{ReviewerIDs: []string{r.manager.ID}, DueAt: due, DefaultDecision: "remove"})
	if err := r.Svc.CloseDueReviews(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Svc.FindReview(as, r.client.ID, rv.ID); got.Status != steward.ReviewOpen {
		t.Fatalf("a review closed before its due date: %+v", got)
	}
	r.Now = due
	if err := r.Svc.RunDueJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := r.Svc.FindReview(as, r.client.ID, rv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != steward.ReviewClosed || got.ClosedBy != "scheduler" {
		t.Errorf("review = %+v, want closed by the scheduler", got)
	}
	if !r.memberGone(t, r.ext.ID) || !r.memberGone(t, r.colleague.ID) {
		t.Error("the default removal did not apply")
	}
	if r.memberGone(t, r.outsider.ID) {
		t.Error("an internal member outside the review's scope was removed")
	}
}
