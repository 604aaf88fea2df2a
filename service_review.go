package steward

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"time"
)

// Access reviews (SPEC §6, R-REVIEW-1..3): a holder of account.users.manage
// starts a review of who holds what in the account; reviewers decide keep
// or remove per membership; closing applies every removal in one
// transaction.

// MaxReviewers is the most reviewers one review names.
const MaxReviewers = 100

// maxReviewNote is the longest note a reviewer may leave on an item.
const maxReviewNote = 1000

// reviewer resolves the actor in the account for a review: it holds
// account.users.manage there (R-REVIEW-1) and, for an open review's
// decisions and closing, is one of its reviewers or the operator.
func (t *txn) reviewer(accountID string, r *Review) (*access, error) {
	by, err := t.actorIn(accountID, PermUsersManage)
	if err != nil {
		return nil, err
	}
	if by.user != nil && !slices.Contains(r.ReviewerIDs, by.user.ID) {
		return nil, Errorf(EFORBIDDEN, "not_a_reviewer", "Only the review's reviewers decide its items and close it.")
	}
	return by, nil
}

// StartReview starts an access review of the account (R-REVIEW-1): one item
// per partner, external and delegate membership (and internal ones when
// asked), as each stands now (R-REVIEW-2).
func (s *Service) StartReview(ctx context.Context, accountID string, in NewReview) (*Review, int64, error) {
	var r *Review
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermUsersManage) // R-REVIEW-1
		if err != nil {
			return err
		}
		if r, err = t.newReview(by, accountID, in); err != nil {
			return err
		}
		items, err := t.reviewItems(r)
		if err != nil {
			return err
		}
		if err := t.CreateReview(t.ctx, r, items); err != nil {
			return err
		}
		t.record(accountID, by, "review.started", "review", r.ID, map[string]any{
			"reviewer_ids": r.ReviewerIDs, "due_at": r.DueAt, "default_decision": r.DefaultDecision,
			"include_internal": r.IncludeInternal, "items": len(items)})
		t.answer(r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return r, rev, nil
}

// newReview validates a review's request: reviewers are holders of
// account.users.manage in the account (R-REVIEW-1), the due date is ahead.
func (t *txn) newReview(by *access, accountID string, in NewReview) (*Review, error) {
	var bad []FieldError
	if in.DefaultDecision != DecisionKeep && in.DefaultDecision != DecisionRemove {
		bad = append(bad, FieldError{"default_decision", "must be keep or remove"})
	}
	if in.DueAt.IsZero() || !in.DueAt.After(t.now) {
		bad = append(bad, FieldError{"due_at", "must be in the future"})
	}
	if len(in.ReviewerIDs) == 0 || len(in.ReviewerIDs) > MaxReviewers {
		bad = append(bad, FieldError{"reviewer_ids", "must name 1 to 100 reviewers"})
	}
	if err := checkTexts("reviewer_ids", in.ReviewerIDs); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	reviewers := NewSet(in.ReviewerIDs...)
	for _, id := range reviewers {
		ok, err := t.holdsIn(accountID, id, PermUsersManage)
		if err != nil {
			return nil, err
		}
		if !ok {
			// Unknown users, users of other tenants and members without
			// the permission get the same answer.
			bad = append(bad, FieldError{"reviewer_ids", "no member " + quote(id) + " holding account.users.manage in the account"})
		}
	}
	if len(bad) > 0 {
		return nil, Invalid("invalid_review", "The review is not valid.", bad...)
	}
	return &Review{ID: NewID(PrefixReview, t.now), AccountID: accountID, Status: ReviewOpen, IncludeInternal: in.IncludeInternal,
		ReviewerIDs: reviewers, DueAt: in.DueAt.UTC().Truncate(time.Microsecond), DefaultDecision: in.DefaultDecision,
		CreatedBy: by.granter(), CreatedAt: t.now, UpdatedAt: t.now}, nil
}

// holdsIn reports whether the user's membership in the account holds perm now.
func (t *txn) holdsIn(accountID, userID, perm string) (bool, error) {
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	ev, err := t.s.evaluate(t.ctx, t, m, t.now)
	if err != nil {
		return false, err
	}
	return ev.holds && Contains(ev.effective, perm), nil
}

// reviewItems lists the memberships a review covers, each with its chain,
// effective permissions, granter and last activity (R-REVIEW-2).
func (t *txn) reviewItems(r *Review) ([]*ReviewItem, error) {
	ms, err := t.allMemberships(MembershipFilter{AccountID: r.AccountID})
	if err != nil {
		return nil, err
	}
	items := []*ReviewItem{}
	for _, m := range ms {
		if m.Kind == KindInternal && !r.IncludeInternal {
			continue
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		ev, err := t.s.evaluate(t.ctx, t, m, t.now)
		if err != nil {
			return nil, err
		}
		last, err := t.LastActivity(t.ctx, r.AccountID, m.UserID)
		if err != nil {
			return nil, err
		}
		items = append(items, &ReviewItem{ID: NewID(PrefixReviewItem, t.now), ReviewID: r.ID, AccountID: r.AccountID,
			MembershipID: m.ID, UserID: m.UserID, Email: u.Email, Kind: m.Kind, Role: m.Role, Status: m.Status,
			Chain: ev.chain, Permissions: t.s.present(t.ctx, t, m).Permissions, GrantedBy: m.GrantedBy, LastActivityAt: last})
	}
	return items, nil
}

// readReview resolves the actor for reading a review: a holder of
// account.users.manage in the account.
func (s *Service) readReview(ctx context.Context, accountID, id string) (*Review, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := by.require(PermUsersManage); err != nil {
		return nil, err
	}
	if err := checkText("review", id); err != nil {
		return nil, err
	}
	r, err := s.Store.FindReviewByID(ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("review", id)
	}
	return r, err
}

// FindReview returns a review of the account.
func (s *Service) FindReview(ctx context.Context, accountID, id string) (*Review, error) {
	return s.readReview(ctx, accountID, id)
}

// FindReviews pages through the account's reviews.
func (s *Service) FindReviews(ctx context.Context, accountID string, page Page) ([]*Review, string, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermUsersManage); err != nil {
		return nil, "", err
	}
	return s.Store.FindReviews(ctx, accountID, page.Normalize())
}

// FindReviewItems pages through a review's items (R-REVIEW-2).
func (s *Service) FindReviewItems(ctx context.Context, accountID, reviewID string, page Page) ([]*ReviewItem, string, error) {
	if _, err := s.readReview(ctx, accountID, reviewID); err != nil {
		return nil, "", err
	}
	return s.Store.FindReviewItems(ctx, accountID, reviewID, page.Normalize())
}

// lockedReview locks the account and returns its review, or ENOTFOUND.
func (t *txn) lockedReview(accountID, id string) (*Review, error) {
	if err := t.LockAccount(t.ctx, accountID); err != nil {
		return nil, err
	}
	if err := checkText("review", id); err != nil {
		return nil, err
	}
	r, err := t.FindReviewByID(t.ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("review", id)
	}
	return r, err
}

// errReviewClosed refuses a decision or a closing of a closed review.
var errReviewClosed = Errorf(ECONFLICT, "review_closed", "The review is closed.")

// DecideReviewItem records a reviewer's keep or remove, with a note, on an
// item of an open review (R-REVIEW-2). Marking a super admin for removal
// needs account.super_admins.manage (R-SUPER-2).
func (s *Service) DecideReviewItem(ctx context.Context, accountID, reviewID, itemID string, in ItemDecision) (*ReviewItem, int64, error) {
	var it *ReviewItem
	rev, err := s.write(ctx, func(t *txn) error {
		if _, err := t.actorIn(accountID, PermUsersManage); err != nil {
			return err
		}
		r, err := t.lockedReview(accountID, reviewID)
		if err != nil {
			return err
		}
		by, err := t.reviewer(accountID, r)
		if err != nil {
			return err
		}
		if err := checkText("item", itemID); err != nil {
			return err
		}
		if it, err = t.FindReviewItemByID(t.ctx, accountID, reviewID, itemID); ErrorKind(err) == ENOTFOUND {
			return NotFound("review item", itemID)
		} else if err != nil {
			return err
		}
		if r.Status != ReviewOpen {
			return errReviewClosed
		}
		var bad []FieldError
		if in.Decision != DecisionKeep && in.Decision != DecisionRemove {
			bad = append(bad, FieldError{"decision", "must be keep or remove"})
		}
		note := ""
		if in.Note != nil {
			note = strings.TrimSpace(*in.Note)
			if err := checkText("note", note); err != nil {
				return err
			}
			if len(note) > maxReviewNote {
				bad = append(bad, FieldError{"note", "must be at most 1000 bytes"})
			}
		}
		if len(bad) > 0 {
			return Invalid("invalid_decision", "The decision is not valid.", bad...)
		}
		if in.Decision == DecisionRemove && it.Role == RoleSuperAdmin {
			if err := by.require(PermSuperAdminsManage); err != nil { // R-SUPER-2
				return err
			}
		}
		if it.Decision == in.Decision && it.Note == note && it.DecidedBy == by.granter() {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		at := t.now
		it.Decision, it.Note, it.DecidedBy, it.DecidedAt = in.Decision, note, by.granter(), &at
		if err := t.UpdateReviewItem(t.ctx, it); err != nil {
			return err
		}
		t.record(accountID, by, "review.item_decided", "review", r.ID, map[string]any{
			"item_id": it.ID, "membership_id": it.MembershipID, "user_id": it.UserID, "decision": it.Decision, "note": it.Note})
		t.answer(it)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return it, rev, nil
}

// CloseReview closes an open review as one of its reviewers (R-REVIEW-3).
func (s *Service) CloseReview(ctx context.Context, accountID, reviewID string) (*Review, int64, error) {
	var r *Review
	rev, err := s.write(ctx, func(t *txn) error {
		if _, err := t.actorIn(accountID, PermUsersManage); err != nil {
			return err
		}
		var err error
		if r, err = t.lockedReview(accountID, reviewID); err != nil {
			return err
		}
		by, err := t.reviewer(accountID, r)
		if err != nil {
			return err
		}
		if r.Status != ReviewOpen {
			return errReviewClosed
		}
		if err := t.closeReview(by, r); err != nil {
			return err
		}
		t.answer(r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return r, rev, nil
}

// CloseDueReviews closes the open reviews whose due date has passed, each in
// its own transaction, applying their decisions and defaults (R-REVIEW-3).
// It reads only the reviews that are due.
func (s *Service) CloseDueReviews(ctx context.Context) error {
	for {
		due, err := s.Store.DueReviews(ctx, s.now(), jobBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		for _, d := range due {
			_, err := s.write(ctx, func(t *txn) error {
				r, err := t.lockedReview(d.AccountID, d.ID)
				if err != nil {
					return err
				}
				if r.Status != ReviewOpen || t.now.Before(r.DueAt) {
					return errNotDue
				}
				return t.closeReview(nil, r)
			})
			if err != nil && !errors.Is(err, errNotDue) {
				return err
			}
		}
		again, err := s.Store.DueReviews(ctx, s.now(), 1)
		if err != nil || len(again) == 0 || again[0].ID == due[0].ID {
			return err
		}
	}
}

// closeReview applies a review's decisions in the write's one transaction
// (R-REVIEW-3): every item decided remove, and every undecided one when the
// default is remove, ends under the usual rules. A removed membership takes
// its delegates with it (R-EXT-9); removing the user's home membership
// deactivates the user there rather than deleting it; a super admin is
// removed only by an explicit decision (R-SUPER-2) and never when it is the
// last active one (R-SUPER-1). by is the closing reviewer, nil for the
// scheduler at the due date.
func (t *txn) closeReview(by *access, r *Review) error {
	var items []*ReviewItem
	for page := (Page{Limit: MaxPageLimit}); ; {
		its, next, err := t.FindReviewItems(t.ctx, r.AccountID, r.ID, page)
		if err != nil {
			return err
		}
		items = append(items, its...)
		if next == "" {
			break
		}
		page.After = next
	}
	removed := map[string]bool{} // membership ids the closing removed
	outcome := map[string]int{}
	// Removals first, so that an item kept below a removed parent is seen
	// to go with it (R-EXT-9).
	decision := func(it *ReviewItem) ReviewDecision {
		if it.Decision != "" {
			return it.Decision
		}
		return r.DefaultDecision
	}
	slices.SortStableFunc(items, func(a, b *ReviewItem) int {
		ra, rb := decision(a) == DecisionRemove, decision(b) == DecisionRemove
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	for _, it := range items {
		o, err := t.applyItem(by, r, it, removed)
		if err != nil {
			return err
		}
		it.Outcome = o
		outcome[o]++
		if err := t.UpdateReviewItem(t.ctx, it); err != nil {
			return err
		}
	}
	at := t.now
	r.Status, r.ClosedAt, r.UpdatedAt, r.Outcome = ReviewClosed, &at, t.now, outcome
	r.ClosedBy = "scheduler"
	if by != nil {
		r.ClosedBy = by.granter()
	}
	if err := t.UpdateReview(t.ctx, r); err != nil {
		return err
	}
	details := map[string]any{"items": len(items), "outcome": outcome}
	if by == nil {
		details = jobDetails(details)
	}
	t.record(r.AccountID, by, "review.closed", "review", r.ID, details)
	return nil
}

// applyItem applies one item's decision and returns its outcome.
func (t *txn) applyItem(by *access, r *Review, it *ReviewItem, removed map[string]bool) (string, error) {
	decision, explicit := it.Decision, it.Decision != ""
	if !explicit {
		decision = r.DefaultDecision
	}
	m, err := t.FindMembershipByID(t.ctx, r.AccountID, it.MembershipID)
	if ErrorKind(err) == ENOTFOUND {
		if ms := t.removedParent(it, removed); ms {
			return OutcomeRemovedWithParent, nil
		}
		return OutcomeGone, nil
	} else if err != nil {
		return "", err
	}
	if decision == DecisionKeep {
		return OutcomeKept, nil
	}
	if m.Role == RoleSuperAdmin {
		if !explicit {
			return OutcomeKeptSuperAdmin, nil // R-SUPER-2: never by default
		}
		if err := t.keepASuperAdmin(m); ErrorCode(err) == "last_super_admin" { // R-SUPER-1
			return OutcomeKeptLastSuperAdmin, nil
		} else if err != nil {
			return "", err
		}
	}
	u, err := t.FindUserByID(t.ctx, m.UserID)
	if err != nil {
		return "", err
	}
	if isHome(m, u) {
		// Removing the home membership would delete the user (SPEC §4); a
		// review ends its access instead, which ends it everywhere.
		if u.Status != UserActive {
			return OutcomeDeactivated, nil
		}
		if err := t.setUserStatus(by, u, StatusDeactivated); ErrorCode(err) == "last_super_admin" { // R-SUPER-1 elsewhere
			return OutcomeKeptLastSuperAdmin, nil
		} else if err != nil {
			return "", err
		}
		return OutcomeDeactivated, nil
	}
	if err := t.markRemoved(r.AccountID, m, removed); err != nil {
		return "", err
	}
	if err := t.removeMembership(by, m, "member.removed_by_review"); err != nil { // delegates follow (R-EXT-9)
		return "", err
	}
	return OutcomeRemoved, nil
}

// markRemoved notes m and every delegate below it as removed by the review.
func (t *txn) markRemoved(accountID string, m *Membership, removed map[string]bool) error {
	removed[m.ID] = true
	ds, err := t.allMemberships(MembershipFilter{AccountID: accountID, ParentID: m.ID})
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := t.markRemoved(accountID, d, removed); err != nil {
			return err
		}
	}
	return nil
}

// removedParent reports whether the item's membership went with a parent
// this closing removed.
func (t *txn) removedParent(it *ReviewItem, removed map[string]bool) bool {
	return removed[it.MembershipID]
}

// ExportReview renders a review's items as CSV (R-REVIEW-3): one row per
// item with what it showed, the decision and, once closed, the outcome.
func (s *Service) ExportReview(ctx context.Context, accountID, reviewID string) ([]byte, error) {
	r, err := s.readReview(ctx, accountID, reviewID)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"review_id", "review_status", "item_id", "membership_id", "user_id", "email", "kind", "role", "status",
		"chain", "permissions", "granted_by", "last_activity_at", "decision", "note", "decided_by", "decided_at", "outcome"})
	for page := (Page{Limit: MaxPageLimit}); ; {
		items, next, err := s.Store.FindReviewItems(ctx, accountID, reviewID, page)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			chain := make([]string, len(it.Chain))
			for i, l := range it.Chain {
				chain[i] = l.Type + ":" + l.ID
			}
			_ = w.Write([]string{r.ID, string(r.Status), it.ID, it.MembershipID, it.UserID, csvSafe(it.Email), string(it.Kind), it.Role,
				string(it.Status), strings.Join(chain, " > "), strings.Join(it.Permissions, " "), it.GrantedBy, timeText(it.LastActivityAt),
				string(it.Decision), csvSafe(it.Note), it.DecidedBy, timeText(it.DecidedAt), it.Outcome})
		}
		if next == "" {
			break
		}
		page.After = next
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
