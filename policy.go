package steward

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PrefixAccessRequest starts the ids of access requests.
const PrefixAccessRequest = "req_"

// AccessRequestTTL is how long an access request stays pending (SPEC §5).
const AccessRequestTTL = 7 * 24 * time.Hour

// AccountPolicy is an account's guardrails over outsiders (SPEC §6): the
// partners it admits, how long outsiders' access may last, and what no
// outsider holds. The zero value sets nothing.
type AccountPolicy struct {
	// AllowedPartners are partner account ids (acc_…) or email domains
	// (R-GUARD-1); empty admits every partner.
	AllowedPartners []string `json:"allowed_partners"`
	// MaxPartnerDays and MaxExternalDays bound how long a partner
	// relationship or an external user's access lasts (R-GUARD-2).
	MaxPartnerDays  *int `json:"max_partner_days"`
	MaxExternalDays *int `json:"max_external_days"`
	// NeverDelegable are permissions no partner, external or delegate
	// membership holds in the account (R-GUARD-3).
	NeverDelegable []string `json:"never_delegable"`
}

// Empty reports whether the policy sets nothing.
func (p *AccountPolicy) Empty() bool {
	return len(p.AllowedPartners) == 0 && p.MaxPartnerDays == nil && p.MaxExternalDays == nil && len(p.NeverDelegable) == 0
}

// Outsider reports whether a membership of kind k is an outsider's, which the
// account's policy governs (R-GUARD-3): partner, external and delegate ones.
func Outsider(k MembershipKind) bool { return k != KindInternal }

// PolicyUpdate is a partial change of a policy: an absent field stays, a
// field set to null clears it (SPEC §3 "guardrails").
type PolicyUpdate struct {
	AllowedPartners Optional[[]string]
	MaxPartnerDays  Optional[int]
	MaxExternalDays Optional[int]
	NeverDelegable  Optional[[]string]
}

// Optional is a field of a partial update: Set says it was given, Null that
// it was given as null.
type Optional[T any] struct {
	Set, Null bool
	Value     T
}

// apply returns p with u's fields applied, validated against the catalogue.
func (u PolicyUpdate) apply(p AccountPolicy, cat *Catalogue) (AccountPolicy, error) {
	var bad []FieldError
	if u.AllowedPartners.Set {
		p.AllowedPartners = nil
		if !u.AllowedPartners.Null {
			var entries []string
			for i, e := range u.AllowedPartners.Value {
				e = strings.TrimSpace(e)
				switch {
				case !ValidText(e):
					bad = append(bad, FieldError{fmt.Sprintf("allowed_partners[%d]", i), "must be valid UTF-8 text without NUL bytes"})
				case strings.HasPrefix(e, PrefixAccount) && len(e) > len(PrefixAccount):
					entries = append(entries, e)
				case domainRE.MatchString(FoldEmail(e)):
					entries = append(entries, FoldEmail(e))
				default:
					bad = append(bad, FieldError{fmt.Sprintf("allowed_partners[%d]", i), fmt.Sprintf("%q is neither a partner account id (acc_…) nor an email domain", e)})
				}
			}
			p.AllowedPartners = NewSet(entries...)
		}
	}
	days := func(field string, o Optional[int], dst **int) {
		if !o.Set {
			return
		}
		*dst = nil
		if o.Null {
			return
		}
		if o.Value < 1 || o.Value > 36500 {
			bad = append(bad, FieldError{field, "must be a whole number of days from 1 to 36500, or null"})
			return
		}
		v := o.Value
		*dst = &v
	}
	days("max_partner_days", u.MaxPartnerDays, &p.MaxPartnerDays)
	days("max_external_days", u.MaxExternalDays, &p.MaxExternalDays)
	if u.NeverDelegable.Set {
		p.NeverDelegable = nil
		if !u.NeverDelegable.Null {
			keys, err := cat.Validate("never_delegable", u.NeverDelegable.Value)
			if err != nil {
				bad = append(bad, ErrorFields(err)...)
			}
			p.NeverDelegable = keys
		}
	}
	if len(bad) > 0 {
		return p, Invalid("invalid_policy", "The policy is not valid.", bad...)
	}
	if p.AllowedPartners == nil {
		p.AllowedPartners = []string{}
	}
	if p.NeverDelegable == nil {
		p.NeverDelegable = []string{}
	}
	return p, nil
}

// admits reports whether the policy lets partner account a (whose
// verified domains it lists) be approved (R-GUARD-1).
func (p *AccountPolicy) admits(a *Account) bool {
	if len(p.AllowedPartners) == 0 {
		return true
	}
	if Contains(p.AllowedPartners, a.ID) {
		return true
	}
	for _, d := range a.VerifiedDomains {
		if Contains(p.AllowedPartners, d) {
			return true
		}
	}
	return false
}

// Grant is permissions added to one membership beside its own, by an
// approved access request (R-REQUEST-2): they have their own granter and,
// optionally, their own end.
type Grant struct {
	Permissions []string   `json:"permissions"`
	GrantedBy   string     `json:"granted_by"`
	EndsAt      *time.Time `json:"ends_at"`
	RequestID   string     `json:"request_id"`
	// ElevationID and StartsAt mark the grant of an active elevation
	// (R-ELEVATE-2): it holds in [StartsAt, EndsAt) only.
	ElevationID string     `json:"elevation_id,omitempty"`
	StartsAt    *time.Time `json:"starts_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// HoldsAt reports whether the grant holds at t: after its start, if it has
// one, and before its end.
func (g *Grant) HoldsAt(t time.Time) bool {
	return (g.StartsAt == nil || !t.Before(*g.StartsAt)) && (g.EndsAt == nil || t.Before(*g.EndsAt))
}

// OwnAt returns what the membership holds of its own at t, before any parent
// cap: its own effective permissions (OwnEffective), the grants that hold at
// t, less the account's never-delegable permissions for an outsider
// (R-GUARD-3).
func (m *Membership) OwnAt(cat *Catalogue, never []string, t time.Time) []string {
	return m.ownAt(cat, never, t, true)
}

// ElevationFor returns the grant of the active elevation that perm comes
// from at t (R-ELEVATE-2, R-CHECK-2): nil when m holds perm otherwise, or
// not at all. Of several, the first in m's grants.
func (m *Membership) ElevationFor(cat *Catalogue, never []string, perm string, t time.Time) *Grant {
	if Contains(m.ownAt(cat, never, t, false), perm) || !Contains(m.OwnAt(cat, never, t), perm) {
		return nil
	}
	for i := range m.Grants {
		if g := &m.Grants[i]; g.ElevationID != "" && g.HoldsAt(t) && Contains(g.Permissions, perm) {
			return g
		}
	}
	return nil
}

func (m *Membership) ownAt(cat *Catalogue, never []string, t time.Time, elevations bool) []string {
	perms := m.OwnEffective(cat)
	for i := range m.Grants {
		if (elevations || m.Grants[i].ElevationID == "") && m.Grants[i].HoldsAt(t) {
			perms = Union(perms, m.Grants[i].Permissions)
		}
	}
	if Outsider(m.Kind) && len(never) > 0 {
		perms = Minus(perms, never)
	}
	if m.Kind != KindInternal {
		perms = withoutPartnerConsole(perms)
	}
	return perms
}

// AccessRequestStatus is where an access request stands.
type AccessRequestStatus string

// Access request statuses (SPEC §3 "access requests").
const (
	RequestPending  AccessRequestStatus = "pending"
	RequestApproved AccessRequestStatus = "approved"
	RequestDeclined AccessRequestStatus = "declined"
	RequestExpired  AccessRequestStatus = "expired"
)

// AccessRequest asks an account for permissions one outsider's membership
// lacks (R-REQUEST-1).
type AccessRequest struct {
	ID           string              `json:"id"`
	AccountID    string              `json:"account_id"`
	UserID       string              `json:"user_id"`
	MembershipID string              `json:"membership_id"`
	RequestedBy  string              `json:"requested_by"`
	Permissions  []string            `json:"permissions"`
	Reason       string              `json:"reason"`
	EndsAt       *time.Time          `json:"ends_at"`
	Status       AccessRequestStatus `json:"status"`
	ExpiresAt    time.Time           `json:"expires_at"`
	DecidedBy    string              `json:"decided_by,omitempty"`
	DecidedAt    *time.Time          `json:"decided_at,omitempty"`
	CreatedAt    time.Time           `json:"created_at"`
	UpdatedAt    time.Time           `json:"updated_at"`
}

// AccessRequestFilter selects an account's access requests.
type AccessRequestFilter struct {
	AccountID string
	Status    AccessRequestStatus
	// Mine keeps the actor's own requests (those for it or filed by it);
	// a requester lists them without the list permissions (R-REQUEST-1).
	// The service sets Party from it.
	Mine bool
	// Party keeps the requests for this user or filed by it.
	Party string
	Page
}

// AccessRequestStore keeps access requests.
type AccessRequestStore interface {
	CreateAccessRequest(ctx context.Context, r *AccessRequest) error
	// FindAccessRequest returns ENOTFOUND for an unknown id or one of another account.
	FindAccessRequest(ctx context.Context, accountID, id string) (*AccessRequest, error)
	// FindAccessRequests pages through an account's requests in id order.
	FindAccessRequests(ctx context.Context, f AccessRequestFilter) ([]*AccessRequest, string, error)
	UpdateAccessRequest(ctx context.Context, r *AccessRequest) error
	// FindDueAccessRequests returns up to limit pending requests whose
	// expires_at is not after now, reading only those.
	FindDueAccessRequests(ctx context.Context, now time.Time, limit int) ([]*AccessRequest, error)
}

// PolicyStore keeps accounts' policies.
type PolicyStore interface {
	// FindPolicy returns the account's policy (zero if none was set); ENOTFOUND for an unknown account.
	FindPolicy(ctx context.Context, accountID string) (*AccountPolicy, error)
	PutPolicy(ctx context.Context, accountID string, p *AccountPolicy) error
	// ScanPolicies calls fn with every account whose policy names
	// never-delegable permissions, for loading the check index.
	ScanPolicies(ctx context.Context, fn func(accountID string, p *AccountPolicy) error) error
}

// UnmarshalJSON records that the field was given, and whether as null.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}
