package steward

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// RelationshipStatus is the state of a partner relationship P→C (R-PARTNER-10, R-PARTNER-11).
type RelationshipStatus string

// Relationship statuses.
const (
	RelationshipActive RelationshipStatus = "active"
	// RelationshipEnding: no partner membership of P remains in C; the
	// relationship ends at EndsAt, the grace after the last partner activity
	// (or the client's end date, when earlier).
	RelationshipEnding RelationshipStatus = "ending"
	RelationshipEnded  RelationshipStatus = "ended"
)

// Relationship says that partner account PartnerID manages client account ClientID.
type Relationship struct {
	ID        string             `json:"id"`
	PartnerID string             `json:"partner_id"`
	ClientID  string             `json:"client_id"`
	Status    RelationshipStatus `json:"status"`
	// Alias is the partner's own name for the client (R-PARTNER-7).
	Alias string `json:"alias"`
	// LastActivityAt is the time of the last action of a partner user in the client.
	LastActivityAt time.Time `json:"last_activity_at"`
	// EndingSince is when the last partner membership left. EndsAt is when
	// the relationship ends: the client's end date of an active one
	// (R-LIFE-1), and for an ending one the grace after the last activity
	// when that comes first.
	EndingSince *time.Time `json:"ending_since,omitempty"`
	EndsAt      *time.Time `json:"ends_at,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	// AutoExtend renews an active relationship at EndsAt by its current
	// term, which began at TermStartedAt (R-LIFE-1). ApprovedAt is the
	// client's last approval, from which max_partner_days counts (R-GUARD-2).
	AutoExtend    bool       `json:"auto_extend"`
	TermStartedAt *time.Time `json:"term_started_at,omitempty"`
	ApprovedAt    *time.Time `json:"approved_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Approved returns when the client approved the relationship last: the
// start from which max_partner_days counts (R-GUARD-2).
func (r *Relationship) Approved() time.Time {
	if r.ApprovedAt != nil {
		return *r.ApprovedAt
	}
	return r.CreatedAt
}

// At returns the relationship as it stands at now: an ending relationship
// whose grace has passed, or one whose end date has passed, is ended,
// whether or not the job that records it has run yet (R-PARTNER-10,
// R-LIFE-1).
func (r *Relationship) At(now time.Time) *Relationship {
	out := *r
	if r.Status != RelationshipEnded && r.EndsAt != nil && !now.Before(*r.EndsAt) {
		out.Status, out.EndedAt = RelationshipEnded, r.EndsAt
	}
	return &out
}

// SharedRelationship is P→C as the client sees it: everything but P's
// alias, which is P's alone (R-PARTNER-7).
type SharedRelationship struct {
	ID             string             `json:"id"`
	PartnerID      string             `json:"partner_id"`
	ClientID       string             `json:"client_id"`
	Status         RelationshipStatus `json:"status"`
	LastActivityAt time.Time          `json:"last_activity_at"`
	EndingSince    *time.Time         `json:"ending_since,omitempty"`
	EndsAt         *time.Time         `json:"ends_at,omitempty"`
	EndedAt        *time.Time         `json:"ended_at,omitempty"`
	AutoExtend     bool               `json:"auto_extend"`
	TermStartedAt  *time.Time         `json:"term_started_at,omitempty"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// Shared returns the relationship as it stands at now, without P's alias:
// what the client side and anyone but P may see of it (R-PARTNER-7).
func (r *Relationship) Shared(now time.Time) *SharedRelationship {
	a := r.At(now)
	return &SharedRelationship{ID: a.ID, PartnerID: a.PartnerID, ClientID: a.ClientID, Status: a.Status, LastActivityAt: a.LastActivityAt,
		EndingSince: a.EndingSince, EndsAt: a.EndsAt, EndedAt: a.EndedAt, AutoExtend: a.AutoExtend, TermStartedAt: a.TermStartedAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// ValidateAlias trims and checks a client alias.
func ValidateAlias(alias string) (string, error) {
	if !ValidText(alias) {
		return "", TextError("alias")
	}
	alias = strings.TrimSpace(alias)
	if alias == "" || len(alias) > 200 {
		return "", Invalid("invalid_alias", "The alias is not valid.", FieldError{"alias", "must be 1 to 200 characters"})
	}
	return alias, nil
}

// AccessLinkStatus is the state of an access link; an expired link is one
// still pending after ExpiresAt.
type AccessLinkStatus string

// Access link statuses.
const (
	AccessLinkPending  AccessLinkStatus = "pending"
	AccessLinkApproved AccessLinkStatus = "approved"
	AccessLinkDeclined AccessLinkStatus = "declined"
	AccessLinkExpired  AccessLinkStatus = "expired" // never stored: pending past ExpiresAt
)

// AccessLinkTokenPrefix starts every access link token.
const AccessLinkTokenPrefix = "stwl_"

var accessLinkTokenRE = regexp.MustCompile(`^stwl_[a-z2-7]{52}$`)

// WellFormedAccessLinkToken reports whether token has the shape NewSecret gives links.
func WellFormedAccessLinkToken(token string) bool { return accessLinkTokenRE.MatchString(token) }

// AccessLink is a personal, single-use, expiring request of a partner user
// for partner-admin access to a client (R-PARTNER-2). Only the hash of its
// token is kept.
type AccessLink struct {
	ID          string           `json:"id"`
	TokenHash   string           `json:"-"`
	PartnerID   string           `json:"partner_id"`
	UserID      string           `json:"user_id"`
	RequestedBy string           `json:"requested_by"`
	Status      AccessLinkStatus `json:"status"`
	// ClientID and DecidedBy are set when a client approves or declines.
	ClientID  string     `json:"client_id,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// Asset is something in an account owned by a user, registered by the
// product so that removals can show and reassign it (R-PARTNER-8).
type Asset struct {
	AccountID   string    `json:"account_id"`
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	OwnerUserID string    `json:"owner_user_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

var (
	assetTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	assetIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$`)
)

// Validate checks the asset's fields.
func (a *Asset) Validate() error {
	var bad []FieldError
	if !assetTypeRE.MatchString(a.Type) {
		bad = append(bad, FieldError{"type", "must be a lower-case word such as contact or workflow (letters, digits, . _ -)"})
	}
	if !assetIDRE.MatchString(a.ID) {
		bad = append(bad, FieldError{"id", "must be 1 to 200 letters, digits or . _ : @ -"})
	}
	if err := checkText("name", a.Name, "owner_user_id", a.OwnerUserID); err != nil {
		return err
	}
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || len(a.Name) > 300 {
		bad = append(bad, FieldError{"name", "must be 1 to 300 characters"})
	}
	if a.OwnerUserID == "" {
		bad = append(bad, FieldError{"owner_user_id", "is required"})
	}
	if len(bad) > 0 {
		return Invalid("invalid_asset", "The asset is not valid.", bad...)
	}
	return nil
}

// ClientFilter selects a partner's clients (R-PARTNER-7).
type ClientFilter struct {
	PartnerID string
	// AccessType is "" (all), "partner_admin" (a partner admin of P is active
	// there), "employees" (partner memberships, but no active partner admin)
	// or "none" (no partner membership left).
	AccessType string
	// Status is "" or a RelationshipStatus, judged at Now.
	Status RelationshipStatus
	// Search matches the alias or, unless the relationship has ended at
	// Now, the client's own name, case-insensitively (R-PARTNER-11).
	Search string
	Now    time.Time
	Page
}

// Client access types of ClientFilter.AccessType.
const (
	AccessTypePartnerAdmin = "partner_admin"
	AccessTypeEmployees    = "employees"
	AccessTypeNone         = "none"
)

// Client is one row of the partner console's client list: P's alias and the
// client's own name, both shown (R-PARTNER-7); once the relationship has
// ended, only the alias (R-PARTNER-11).
type Client struct {
	Relationship
	ClientName string `json:"client_name,omitempty"`
	AccessType string `json:"access_type"`
	// Counts of P's memberships in the client.
	PartnerAdmins int `json:"partner_admins"`
	Employees     int `json:"employees"`
	Active        int `json:"active_employees"`
}

// Partner is one row of the client side's partner list; it never carries
// the partner's alias (R-PARTNER-7).
type Partner struct {
	SharedRelationship
	PartnerName string `json:"partner_name"`
	Employees   int    `json:"employees"`
}

// Employee is one row of the partner console's employee list (R-PARTNER-6).
type Employee struct {
	User
	// Verified says the email's domain is a verified domain of the partner.
	Verified bool `json:"verified"`
	// Clients counts the client accounts in which the employee holds a
	// membership of the partner or managed by it.
	Clients int `json:"clients"`
}

// Suspension marks a membership suspended by a cascade, so that reversing
// the cause restores exactly those (R-PARTNER-12).
type Suspension struct {
	MembershipID string           `json:"membership_id"`
	AccountID    string           `json:"account_id"`
	UserID       string           `json:"user_id"`
	Reason       string           `json:"reason"` // SuspensionOffboarding
	PriorStatus  MembershipStatus `json:"prior_status"`
	CreatedAt    time.Time        `json:"created_at"`
}

// SuspensionOffboarding is the reason of R-PARTNER-12's cascade.
const SuspensionOffboarding = "offboarding"

// RelationshipStore keeps partner relationships, the partner console's
// listings and the cascade markers.
type RelationshipStore interface {
	// CreateRelationship returns ECONFLICT when P→C exists.
	CreateRelationship(ctx context.Context, r *Relationship) error
	// FindRelationship returns P→C or ENOTFOUND.
	FindRelationship(ctx context.Context, partnerID, clientID string) (*Relationship, error)
	UpdateRelationship(ctx context.Context, r *Relationship) error
	// TouchRelationship records partner activity at at in P→C unless it has
	// ended; an ending relationship then ends at endsAt (R-PARTNER-10).
	TouchRelationship(ctx context.Context, partnerID, clientID string, at, endsAt time.Time) error
	// FindClients pages through a partner's clients in relationship id order.
	FindClients(ctx context.Context, f ClientFilter) ([]*Client, string, error)
	// FindPartners pages through a client's partners in relationship id
	// order, each as it stands at now.
	FindPartners(ctx context.Context, clientID string, now time.Time, page Page) ([]*Partner, string, error)
	// FindEndingRelationships returns up to limit ending relationships whose
	// EndsAt is at or before now, then active ones whose end date is (R-LIFE-1).
	FindEndingRelationships(ctx context.Context, now time.Time, limit int) ([]*Relationship, error)
	// CountPartnerMemberships counts the partner memberships of P in C, whatever their status.
	CountPartnerMemberships(ctx context.Context, partnerID, clientID string) (int, error)
	// FindEmployees pages through the users whose home account is the partner, in id order.
	FindEmployees(ctx context.Context, partnerID string, page Page) ([]*Employee, string, error)
	// CreateSuspension returns ECONFLICT when the membership is marked already.
	CreateSuspension(ctx context.Context, s *Suspension) error
	// FindSuspensions returns the markers of a user's memberships.
	FindSuspensions(ctx context.Context, userID string) ([]*Suspension, error)
	DeleteSuspension(ctx context.Context, membershipID string) error
}

// AccessLinkStore keeps access links.
type AccessLinkStore interface {
	CreateAccessLink(ctx context.Context, l *AccessLink) error
	// FindAccessLinkByHash returns ENOTFOUND for an unknown hash.
	FindAccessLinkByHash(ctx context.Context, hash string) (*AccessLink, error)
	// UseAccessLink records the decision on a pending link; it returns
	// ECONFLICT when the link was used already, also by a concurrent
	// transaction, so that a link is used at most once.
	UseAccessLink(ctx context.Context, l *AccessLink) error
}

// AssetFilter selects assets of one account.
type AssetFilter struct {
	AccountID   string
	OwnerUserID string
	// Page.After is a cursor from a previous page.
	Page
}

// AssetStore keeps assets.
type AssetStore interface {
	// PutAsset creates or replaces an asset of the account.
	PutAsset(ctx context.Context, a *Asset) error
	// FindAsset returns ENOTFOUND for an unknown asset.
	FindAsset(ctx context.Context, accountID, typ, id string) (*Asset, error)
	// FindAssets pages through an account's assets in (type, id) order.
	FindAssets(ctx context.Context, f AssetFilter) ([]*Asset, string, error)
	// FindUserAssets returns every asset the user owns, in any account, in
	// (account, type, id) order: what a removed user leaves behind.
	FindUserAssets(ctx context.Context, userID string) ([]*Asset, error)
	// ReassignAssets gives every asset of the account owned by from to to; it returns how many.
	ReassignAssets(ctx context.Context, accountID, from, to string, now time.Time) (int, error)
}
