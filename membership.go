package steward

import "time"

// MembershipKind says how a user came to stand in an account.
type MembershipKind string

// Membership kinds.
const (
	KindInternal MembershipKind = "internal" // a user of the account itself
	KindPartner  MembershipKind = "partner"  // an employee of a partner account
	KindExternal MembershipKind = "external" // an invited external administrator
	KindDelegate MembershipKind = "delegate" // re-delegated by an external member
)

// MembershipStatus is the membership's own state. Whether it lets its user act
// also depends on the links it hangs on (R-CHECK-1).
type MembershipStatus string

// Membership statuses (SPEC §4 "Memberships").
const (
	StatusActive      MembershipStatus = "active"
	StatusDeactivated MembershipStatus = "deactivated"
	StatusSuspended   MembershipStatus = "suspended" // held by R-PARTNER-12 or a parent delegation
	StatusExpired     MembershipStatus = "expired"
)

// Membership is a user's standing in one account.
type Membership struct {
	ID        string           `json:"id"`
	AccountID string           `json:"account_id"`
	UserID    string           `json:"user_id"`
	Kind      MembershipKind   `json:"kind"`
	Status    MembershipStatus `json:"status"`
	Role      string           `json:"role"`
	// Permissions are the membership's own, as granted. The effective ones
	// (see Effective) add the super admin's "everything" and a delegate's cap.
	Permissions []string   `json:"permissions"`
	EndsAt      *time.Time `json:"ends_at"`
	GrantedBy   string     `json:"granted_by"`
	// PartnerID is the partner account of a partner membership.
	PartnerID string `json:"partner_id,omitempty"`
	// ParentID is the delegating membership of a delegate.
	ParentID          string     `json:"parent_id,omitempty"`
	AllowRedelegation bool       `json:"allow_redelegation"`
	DelegatesEndAt    *time.Time `json:"delegates_end_at,omitempty"`
	// ManagedBy is the partner account credited with managing this membership (R-PARTNER-6).
	ManagedBy string `json:"managed_by,omitempty"`
	// Grants are permissions added beside the membership's own by approved
	// access requests, each with its granter and optional end (R-REQUEST-2).
	Grants []Grant `json:"grants,omitempty"`
	// AutoExtend renews an external user's access at EndsAt by its current
	// term, which began at TermStartedAt (R-LIFE-1).
	AutoExtend    bool       `json:"auto_extend"`
	TermStartedAt *time.Time `json:"term_started_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// OwnEffective returns the membership's permissions before any parent cap: a
// super admin holds every permission (R-GRANT-1). R-PARTNER-1: access is
// never transitive, so the partner console's permissions (partner.*) are
// held only through an internal membership, whatever else holds them.
func (m *Membership) OwnEffective(cat *Catalogue) []string {
	perms := m.Permissions
	if m.Role == RoleSuperAdmin {
		perms = cat.All()
	}
	if m.Kind != KindInternal {
		perms = withoutPartnerConsole(perms)
	}
	return perms
}

// EndedAt reports whether the membership's own end date has passed at t.
func (m *Membership) EndedAt(t time.Time) bool {
	return m.EndsAt != nil && !t.Before(*m.EndsAt)
}
