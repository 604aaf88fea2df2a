package steward

import (
	"context"
	"time"
)

// Just-in-time elevation (SPEC §6 R-ELEVATE-1..2): a member is made
// eligible for a role, and activates it for a while, with a reason, when it
// needs it.

// ID prefixes of elevation.
const (
	PrefixEligibility = "elg_"
	PrefixElevation   = "elv_"
)

// Elevation limits (SPEC §5).
const (
	// MaxElevationMinutes bounds an eligibility's max_minutes: an elevation
	// lasts at most 8 hours.
	MaxElevationMinutes = 8 * 60
	// ElevationRequestTTL is how long an elevation waits for its approval.
	ElevationRequestTTL = 7 * 24 * time.Hour
)

// Eligibility lets one member activate a role of the account for at most
// MaxMinutes at a time (R-ELEVATE-1).
type Eligibility struct {
	ID               string    `json:"id" doc:"The eligibility (elg_…)."`
	AccountID        string    `json:"account_id"`
	UserID           string    `json:"user_id" doc:"The eligible user."`
	MembershipID     string    `json:"membership_id" doc:"Its membership in the account."`
	Role             string    `json:"role" doc:"The role it may activate."`
	MaxMinutes       int       `json:"max_minutes" doc:"The longest elevation it may ask for, at most 480."`
	ApprovalRequired bool      `json:"approval_required" doc:"Whether an activation waits for another member's approval."`
	GrantedBy        string    `json:"granted_by" doc:"Who made the member eligible (R-GRANT-4)."`
	CreatedAt        time.Time `json:"created_at"`
}

// NewEligibility is the body of POST /v1/accounts/{account}/eligibilities.
type NewEligibility struct {
	UserID           string `json:"user_id" doc:"The member to make eligible."`
	Role             string `json:"role" doc:"A role id, or super_admin, partner_admin, member."`
	MaxMinutes       int    `json:"max_minutes" doc:"The longest elevation, 1 to 480 minutes."`
	ApprovalRequired bool   `json:"approval_required,omitempty" doc:"Whether each activation needs another member's approval."`
}

// ElevationStatus is where an elevation stands.
type ElevationStatus string

// Elevation statuses (SPEC §3 "elevation").
const (
	ElevationPending ElevationStatus = "pending"
	ElevationActive  ElevationStatus = "active"
	ElevationEnded   ElevationStatus = "ended"
)

// Why an elevation ended.
const (
	EndedTimeUp             = "time_up" // its ends_at passed
	EndedEarly              = "ended"   // the member or an admin ended it
	EndedExpired            = "expired" // pending for 7 days without approval
	EndedMembershipRemoved  = "membership_removed"
	EndedEligibilityRemoved = "eligibility_removed"
)

// Elevation is one activation of an eligibility (R-ELEVATE-2). While
// active, the membership also holds Permissions, in [StartsAt, EndsAt).
type Elevation struct {
	ID            string          `json:"id" doc:"The elevation (elv_…)."`
	AccountID     string          `json:"account_id"`
	UserID        string          `json:"user_id" doc:"The elevated user."`
	MembershipID  string          `json:"membership_id"`
	EligibilityID string          `json:"eligibility_id"`
	Role          string          `json:"role"`
	Minutes       int             `json:"minutes" doc:"How long it was asked for."`
	Reason        string          `json:"reason"`
	Status        ElevationStatus `json:"status" enum:"pending,active,ended"`
	// Permissions are what the elevation adds while active, fixed when it
	// starts.
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty" doc:"A pending elevation's end of waiting for approval."`
	StartsAt    *time.Time `json:"starts_at" doc:"When it started (activation, or approval)."`
	EndsAt      *time.Time `json:"ends_at" doc:"When it stops holding; checks decide at their time."`
	ApprovedBy  string     `json:"approved_by,omitempty"`
	ApprovedAt  *time.Time `json:"approved_at,omitempty"`
	EndedBy     string     `json:"ended_by,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	EndReason   string     `json:"end_reason,omitempty" doc:"time_up, ended, expired, membership_removed or eligibility_removed."`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// NewElevation is the body of POST /v1/accounts/{account}/elevations.
type NewElevation struct {
	Role    string `json:"role" doc:"The role to activate, one the actor is eligible for."`
	Minutes int    `json:"minutes" doc:"How long, up to the eligibility's max_minutes."`
	Reason  string `json:"reason" doc:"Why, 1 to 1000 characters."`
}

// EligibilityFilter selects an account's eligibilities.
type EligibilityFilter struct {
	AccountID    string
	UserID       string
	MembershipID string
	GrantedBy    string
	// All asks for every member's, and is refused (EFORBIDDEN) to one who
	// sees only its own: a page of the account's admins is theirs alone.
	All bool
	Page
}

// ElevationFilter selects an account's elevations.
type ElevationFilter struct {
	AccountID     string
	UserID        string
	MembershipID  string
	EligibilityID string
	// Open keeps the pending and active ones (stored status), whatever
	// their times.
	Open   bool
	Status ElevationStatus
	// All asks for every member's, as EligibilityFilter.All.
	All bool
	Page
}

// ElevationStore keeps eligibilities and elevations.
type ElevationStore interface {
	// CreateEligibility returns ECONFLICT when the membership is already
	// eligible for the role.
	CreateEligibility(ctx context.Context, e *Eligibility) error
	// FindEligibility returns ENOTFOUND for an unknown id or one of another account.
	FindEligibility(ctx context.Context, accountID, id string) (*Eligibility, error)
	// FindEligibilities pages through an account's eligibilities in id order.
	FindEligibilities(ctx context.Context, f EligibilityFilter) ([]*Eligibility, string, error)
	// DeleteEligibility forgets one; ENOTFOUND for an unknown id.
	DeleteEligibility(ctx context.Context, accountID, id string) error
	CreateElevation(ctx context.Context, e *Elevation) error
	// FindElevation returns ENOTFOUND for an unknown id or one of another account.
	FindElevation(ctx context.Context, accountID, id string) (*Elevation, error)
	// FindElevations pages through an account's elevations in id order.
	FindElevations(ctx context.Context, f ElevationFilter) ([]*Elevation, string, error)
	UpdateElevation(ctx context.Context, e *Elevation) error
	// FindDueElevations returns up to limit pending elevations whose
	// expires_at is not after now, reading only those.
	FindDueElevations(ctx context.Context, now time.Time, limit int) ([]*Elevation, error)
}
