package steward

import (
	"context"
	"time"
)

// PrefixReview and PrefixReviewItem start the ids of access reviews and of
// their items.
const (
	PrefixReview     = "rev_"
	PrefixReviewItem = "rvi_"
)

// ReviewDecision is a reviewer's decision on an item (R-REVIEW-2), and a
// review's default for the items left undecided (R-REVIEW-1).
type ReviewDecision string

// Review decisions.
const (
	DecisionKeep   ReviewDecision = "keep"
	DecisionRemove ReviewDecision = "remove"
)

// ReviewStatus is a review's state: open until closed (R-REVIEW-3).
type ReviewStatus string

// Review statuses.
const (
	ReviewOpen   ReviewStatus = "open"
	ReviewClosed ReviewStatus = "closed"
)

// Outcomes of a review's items, set when it closes (R-REVIEW-3).
const (
	OutcomeKept              = "kept"                // kept, as decided or by default
	OutcomeRemoved           = "removed"             // the membership was removed, with its delegates
	OutcomeDeactivated       = "deactivated"         // the user's home membership: the user was deactivated there
	OutcomeRemovedWithParent = "removed_with_parent" // a delegate whose parent the review removed
	OutcomeGone              = "gone"                // the membership had ended before the review closed
	// OutcomeKeptLastSuperAdmin: removing it would have left the account
	// without an active super admin (R-SUPER-1).
	OutcomeKeptLastSuperAdmin = "kept_last_super_admin"
	// OutcomeKeptSuperAdmin: a super admin left undecided is never removed
	// by default; only a reviewer holding account.super_admins.manage
	// removes one (R-SUPER-2).
	OutcomeKeptSuperAdmin = "kept_super_admin"
)

// NewReview is the request that starts an access review (R-REVIEW-1).
type NewReview struct {
	IncludeInternal bool           `json:"include_internal,omitempty" doc:"Also review the account's internal memberships; partner, external and delegate memberships are always reviewed."`
	ReviewerIDs     []string       `json:"reviewer_ids" doc:"User ids of the reviewers: each must hold account.users.manage in the account." minItems:"1" maxItems:"100"`
	DueAt           time.Time      `json:"due_at" doc:"When the review closes by itself if no reviewer closed it; in the future."`
	DefaultDecision ReviewDecision `json:"default_decision" enum:"keep,remove" doc:"What happens to items left undecided when the review closes."`
}

// Review is an access review of one account (R-REVIEW-1..3).
type Review struct {
	ID              string         `json:"id"`
	AccountID       string         `json:"account_id"`
	Status          ReviewStatus   `json:"status" enum:"open,closed"`
	IncludeInternal bool           `json:"include_internal"`
	ReviewerIDs     []string       `json:"reviewer_ids"`
	DueAt           time.Time      `json:"due_at"`
	DefaultDecision ReviewDecision `json:"default_decision" enum:"keep,remove"`
	CreatedBy       string         `json:"created_by" doc:"The user who started it, or operator."`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	ClosedAt        *time.Time     `json:"closed_at,omitempty"`
	ClosedBy        string         `json:"closed_by,omitempty" doc:"The reviewer who closed it, operator, or scheduler at the due date."`
	// Outcome counts the items by outcome once the review is closed.
	Outcome map[string]int `json:"outcome,omitempty" doc:"Once closed: how many items ended with each outcome (kept, removed, …)."`
}

// ReviewItem is one membership under review, as it stood when the review
// started (R-REVIEW-2), with the reviewer's decision and, once the review
// is closed, what became of it.
type ReviewItem struct {
	ID             string           `json:"id"`
	ReviewID       string           `json:"review_id"`
	AccountID      string           `json:"account_id"`
	MembershipID   string           `json:"membership_id"`
	UserID         string           `json:"user_id"`
	Email          string           `json:"email"`
	Kind           MembershipKind   `json:"kind"`
	Role           string           `json:"role"`
	Status         MembershipStatus `json:"status" doc:"The membership's status when the review started."`
	Chain          []ChainLink      `json:"chain" doc:"The links the access depends on: the membership, a partner's relationship, a delegate's parents."`
	Permissions    []string         `json:"permissions" doc:"Its effective permissions, sorted."`
	GrantedBy      string           `json:"granted_by" doc:"Who granted them (R-GRANT-4): a user id or operator."`
	LastActivityAt *time.Time       `json:"last_activity_at" doc:"The user's last recorded action in the account, if any."`
	Decision       ReviewDecision   `json:"decision,omitempty" enum:"keep,remove"`
	Note           string           `json:"note,omitempty"`
	DecidedBy      string           `json:"decided_by,omitempty"`
	DecidedAt      *time.Time       `json:"decided_at,omitempty"`
	Outcome        string           `json:"outcome,omitempty" doc:"Once the review is closed: kept, removed, deactivated, removed_with_parent, gone, kept_last_super_admin or kept_super_admin."`
}

// ItemDecision is a reviewer's decision on an item (R-REVIEW-2).
type ItemDecision struct {
	Decision ReviewDecision `json:"decision" enum:"keep,remove" doc:"keep or remove."`
	Note     *string        `json:"note,omitempty" maxLength:"1000" doc:"Why, for the record."`
}

// ReviewStore keeps access reviews and their items.
type ReviewStore interface {
	// CreateReview stores a review and its items.
	CreateReview(ctx context.Context, r *Review, items []*ReviewItem) error
	// FindReviewByID returns a review of the account or ENOTFOUND.
	FindReviewByID(ctx context.Context, accountID, id string) (*Review, error)
	// FindReviews pages through the account's reviews in id order.
	FindReviews(ctx context.Context, accountID string, page Page) ([]*Review, string, error)
	// UpdateReview writes the review's status, closing and outcome.
	UpdateReview(ctx context.Context, r *Review) error
	// FindReviewItems pages through a review's items in id order.
	FindReviewItems(ctx context.Context, accountID, reviewID string, page Page) ([]*ReviewItem, string, error)
	// FindReviewItemByID returns an item of the review or ENOTFOUND.
	FindReviewItemByID(ctx context.Context, accountID, reviewID, id string) (*ReviewItem, error)
	// UpdateReviewItem writes the item's decision and outcome.
	UpdateReviewItem(ctx context.Context, it *ReviewItem) error
	// DueReviews returns up to limit open reviews, of any account, whose
	// due date has passed at now, earliest first.
	DueReviews(ctx context.Context, now time.Time, limit int) ([]*Review, error)
	// LastActivity returns the time of the user's last audit event as actor
	// in the account, nil if none.
	LastActivity(ctx context.Context, accountID, userID string) (*time.Time, error)
}
