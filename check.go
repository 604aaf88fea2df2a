package steward

import (
	"context"
	"fmt"
	"time"
)

// CheckRequest asks whether a user may use a permission in an account at a time.
type CheckRequest struct {
	UserID      string     `json:"user_id"`
	AccountID   string     `json:"account_id"`
	Permission  string     `json:"permission"`
	At          *time.Time `json:"at,omitempty"`
	MinRevision int64      `json:"min_revision,omitempty"`
}

// CheckResult answers a CheckRequest and explains itself (R-CHECK-2).
type CheckResult struct {
	Allowed  bool   `json:"allowed"`
	Reason   Reason `json:"reason"`
	Revision int64  `json:"revision"`
}

// Reason codes of a check.
const (
	ReasonGranted               = "granted"
	ReasonNoMembership          = "no_membership"
	ReasonUserDeactivated       = "user_deactivated"
	ReasonMembershipDeactivated = "membership_deactivated"
	ReasonMembershipSuspended   = "membership_suspended"
	ReasonMembershipExpired     = "membership_expired"
	ReasonRelationshipInactive  = "relationship_inactive"
	ReasonParentInactive        = "parent_inactive"
	ReasonRedelegationOff       = "redelegation_off"
	ReasonDelegationEnded       = "delegation_ended"
	ReasonPermissionMissing     = "permission_missing"
	// ReasonHolds explains an entry of a listing asked without a
	// permission: the membership holds, with the permissions listed beside it.
	ReasonHolds = "holds"
)

// Reason explains a check: which membership, which chain, when it ends.
type Reason struct {
	Code         string         `json:"code"`
	Message      string         `json:"message"`
	MembershipID string         `json:"membership_id,omitempty"`
	Kind         MembershipKind `json:"kind,omitempty"`
	Role         string         `json:"role,omitempty"`
	// Source says where the permission comes from: "super_admin" (holds
	// every permission), "membership" (granted to it), or "capped_by_parent".
	Source string      `json:"source,omitempty"`
	Chain  []ChainLink `json:"chain,omitempty"`
	// EndsAt is the earliest end date along the chain.
	EndsAt *time.Time `json:"ends_at,omitempty"`
	// Elevation names the active elevation the permission comes from, and
	// when it ends, when Source is "elevation" (R-ELEVATE-2).
	Elevation *ReasonElevation `json:"elevation,omitempty"`
}

// ReasonElevation is the elevation a check's permission comes from.
type ReasonElevation struct {
	ID     string    `json:"id" doc:"The elevation (elv_…)."`
	EndsAt time.Time `json:"ends_at" doc:"When it stops holding."`
}

// ChainLink is one thing an access depends on.
type ChainLink struct {
	Type      string     `json:"type"` // "membership" or "relationship"
	ID        string     `json:"id"`
	AccountID string     `json:"account_id,omitempty"`
	UserID    string     `json:"user_id,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Status    string     `json:"status"`
	EndsAt    *time.Time `json:"ends_at,omitempty"`
}

var reasonMessages = map[string]string{
	ReasonGranted:               "The membership holds the permission.",
	ReasonNoMembership:          "The user has no membership in the account.",
	ReasonUserDeactivated:       "The user is deactivated in its home account.",
	ReasonMembershipDeactivated: "The membership is deactivated.",
	ReasonMembershipSuspended:   "The membership is suspended.",
	ReasonMembershipExpired:     "The membership has ended.",
	ReasonRelationshipInactive:  "The partner relationship is not active.",
	ReasonParentInactive:        "The delegating membership no longer holds.",
	ReasonRedelegationOff:       "The delegating member may no longer re-delegate.",
	ReasonDelegationEnded:       "The delegation's end date has passed.",
	ReasonPermissionMissing:     "The membership does not hold the permission.",
	ReasonHolds:                 "The membership holds; its permissions are listed with it.",
}

// ReasonMessage returns the sentence that explains a reason code.
func ReasonMessage(code string) string { return reasonMessages[code] }

func earliest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.Before(*a)) {
		return b
	}
	return a
}

// evaluation is the outcome of following a membership's links at a time.
type evaluation struct {
	holds     bool
	denial    string   // reason code when !holds
	effective []string // effective permissions when holds
	capped    bool     // a parent narrowed the membership
	own       []string // what the membership itself holds at the time, before any parent cap
	chain     []ChainLink
	endsAt    *time.Time
	members   []*Membership // the membership, then its parents
	at        time.Time
	never     []string // the account's never-delegable permissions for this membership's kind
}

// evaluate follows m and every link it depends on at time at (R-CHECK-1): the
// user is active in its home account; the membership is active and unexpired;
// a delegate's parent holds, allows re-delegation and caps its permissions.
// This is the straightforward evaluation from the store; the check index must
// agree with it.
func (s *Service) evaluate(ctx context.Context, st Store, m *Membership, at time.Time) (*evaluation, error) {
	ev := &evaluation{at: at}
	// R-GUARD-3, R-GUARD-4: the account's never-delegable permissions stop
	// holding for outsiders as soon as the policy names them.
	never, err := s.neverDelegable(ctx, st, m.AccountID, m.Kind)
	if err != nil {
		return nil, err
	}
	ev.never = never
	for depth := 0; ; depth++ {
		ev.members = append(ev.members, m)
		ev.chain = append(ev.chain, ChainLink{Type: "membership", ID: m.ID, AccountID: m.AccountID, UserID: m.UserID, Kind: string(m.Kind), Status: string(m.Status), EndsAt: m.EndsAt})
		ev.endsAt = earliest(ev.endsAt, m.EndsAt)
		deny := func(code string) (*evaluation, error) {
			if depth > 0 && code != ReasonRedelegationOff && code != ReasonDelegationEnded {
				code = ReasonParentInactive
			}
			ev.holds, ev.denial, ev.effective = false, code, nil
			return ev, nil
		}
		u, err := st.FindUserByID(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		switch {
		case u.Status != UserActive:
			return deny(ReasonUserDeactivated)
		case m.Status == StatusDeactivated:
			return deny(ReasonMembershipDeactivated)
		case m.Status == StatusSuspended:
			return deny(ReasonMembershipSuspended)
		case m.Status == StatusExpired || m.EndedAt(at):
			return deny(ReasonMembershipExpired)
		}
		if m.Kind == KindPartner { // R-CHECK-1: the relationship P→C is active
			rel, err := st.FindRelationship(ctx, m.PartnerID, m.AccountID)
			if err != nil && ErrorKind(err) != ENOTFOUND {
				return nil, err
			}
			if rel == nil {
				return deny(ReasonRelationshipInactive)
			}
			rel = rel.At(at)
			ev.chain = append(ev.chain, ChainLink{Type: "relationship", ID: rel.ID, AccountID: rel.PartnerID, Status: string(rel.Status), EndsAt: rel.EndsAt})
			if rel.Status != RelationshipActive {
				return deny(ReasonRelationshipInactive)
			}
			// R-LIFE-1: the relationship's end date bounds the access.
			ev.endsAt = earliest(ev.endsAt, rel.EndsAt)
		}
		// R-REQUEST-2: grants of approved access requests hold until their own end.
		own := m.OwnAt(s.Catalogue, never, at)
		if depth == 0 {
			ev.effective, ev.own = own, own
		} else {
			capped := Intersect(ev.effective, own)
			ev.capped = ev.capped || len(capped) < len(ev.effective)
			ev.effective = capped
		}
		if m.Kind != KindDelegate {
			ev.holds = true
			return ev, nil
		}
		parent, err := st.FindMembershipByID(ctx, m.AccountID, m.ParentID)
		if err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return deny(ReasonParentInactive)
			}
			return nil, err
		}
		if !parent.AllowRedelegation {
			return deny(ReasonRedelegationOff)
		}
		if parent.DelegatesEndAt != nil && !at.Before(*parent.DelegatesEndAt) {
			ev.endsAt = earliest(ev.endsAt, parent.DelegatesEndAt)
			return deny(ReasonDelegationEnded)
		}
		ev.endsAt = earliest(ev.endsAt, parent.DelegatesEndAt)
		m = parent
	}
}

// neverDelegable returns the never-delegable permissions of the account for
// a membership of kind k: none for an internal one (R-GUARD-3).
func (s *Service) neverDelegable(ctx context.Context, st Store, accountID string, k MembershipKind) ([]string, error) {
	if !Outsider(k) {
		return nil, nil
	}
	p, err := st.FindPolicy(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return p.NeverDelegable, nil
}

// reason turns an evaluation into the explanation of a check for perm.
func (ev *evaluation) reason(perm string) (bool, Reason) {
	m := ev.members[0]
	r := Reason{MembershipID: m.ID, Kind: m.Kind, Role: m.Role, Chain: ev.chain, EndsAt: ev.endsAt}
	allowed := false
	switch {
	case !ev.holds:
		r.Code = ev.denial
	case !Contains(ev.effective, perm):
		r.Code = ReasonPermissionMissing
		if ev.capped && Contains(ev.own, perm) {
			r.Source = "capped_by_parent"
		}
	default:
		allowed, r.Code, r.Source = true, ReasonGranted, "membership"
		if m.Role == RoleSuperAdmin {
			r.Source = RoleSuperAdmin
		} else if g := m.ElevationFor(nil, ev.never, perm, ev.at); g != nil && g.EndsAt != nil {
			// R-ELEVATE-2, R-CHECK-2: the reason names the elevation and its end.
			r.Source, r.Elevation = "elevation", &ReasonElevation{ID: g.ElevationID, EndsAt: *g.EndsAt}
		}
	}
	r.Message = reasonMessages[r.Code]
	return allowed, r
}

// holdsReason explains a membership that holds, asked about no particular
// permission: where its permissions come from.
func (ev *evaluation) holdsReason() Reason {
	m := ev.members[0]
	r := Reason{Code: ReasonHolds, Message: reasonMessages[ReasonHolds], MembershipID: m.ID, Kind: m.Kind, Role: m.Role, Chain: ev.chain, EndsAt: ev.endsAt, Source: "membership"}
	switch {
	case m.Role == RoleSuperAdmin:
		r.Source = RoleSuperAdmin
	case ev.capped:
		r.Source = "capped_by_parent"
	}
	return r
}

// Checker answers checks from memory (package authz). It waits for
// req.MinRevision up to the context's deadline (R-CHECK-3).
type Checker interface {
	Check(ctx context.Context, req CheckRequest, now time.Time) (*CheckResult, error)
}

// DefaultMinRevisionWait bounds how long a check waits for its min_revision.
const DefaultMinRevisionWait = 2 * time.Second

// Check answers whether the user may use the permission in the account at the
// request's time (now if unset) and explains itself (R-CHECK-1, R-CHECK-2).
// With a Checker it answers from memory, after the node has applied
// req.MinRevision (R-CHECK-3); without one, from the store, which is always
// current. Only the operator may ask about any user; a user may ask about itself.
func (s *Service) Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	if err := s.requireCheckCaller(ctx, req.UserID); err != nil {
		return nil, err
	}
	if err := checkText("account_id", req.AccountID); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	if s.Checker != nil {
		if req.MinRevision > 0 { // only a check that may wait needs a deadline
			wait := s.MinRevisionWait
			if wait <= 0 {
				wait = DefaultMinRevisionWait
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, wait)
			defer cancel()
		}
		return hideForeign(ctx, req)(s.Checker.Check(ctx, req, s.now()))
	}
	return hideForeign(ctx, req)(s.checkFromStore(ctx, req))
}

// hideForeign turns, for a user token, a check in an account the user has
// no membership in into the answer for an account that does not exist:
// another tenant's account and an unknown one look alike (SPEC §4 "Unknown
// and foreign look alike"). The operator, who sees every account, keeps
// no_membership.
func hideForeign(ctx context.Context, req CheckRequest) func(*CheckResult, error) (*CheckResult, error) {
	return func(res *CheckResult, err error) (*CheckResult, error) {
		if err != nil {
			return nil, err
		}
		if a := ActorFromContext(ctx); a != nil && !a.IsOperator() && res.Reason.Code == ReasonNoMembership {
			return nil, NotFound("account", req.AccountID)
		}
		return res, nil
	}
}

// CheckFromStore answers a check by evaluating the store directly: the
// straightforward evaluation the check index must agree with.
func (s *Service) CheckFromStore(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	if err := s.requireCheckCaller(ctx, req.UserID); err != nil {
		return nil, err
	}
	return hideForeign(ctx, req)(s.checkFromStore(ctx, req))
}

func (s *Service) checkFromStore(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	if err := checkText("account_id", req.AccountID); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	if !s.Catalogue.Has(req.Permission) {
		return nil, Invalid("unknown_permission", "Unknown permission; GET /v1/permissions lists the catalogue.",
			FieldError{"permission", "unknown permission " + quote(req.Permission)})
	}
	at := s.now()
	if req.At != nil {
		at = req.At.UTC()
	}
	rev, err := s.Store.CurrentRevision(ctx)
	if err != nil {
		return nil, err
	}
	if req.MinRevision > rev {
		return nil, &Error{Kind: EUNAVAILABLE, Code: "revision_not_applied",
			Message: fmt.Sprintf("Revision %d is not committed yet (the latest is %d); retry shortly.", req.MinRevision, rev)}
	}
	if _, err := s.Store.FindUserByID(ctx, req.UserID); err != nil {
		return nil, err
	}
	if _, err := s.Store.FindAccountByID(ctx, req.AccountID); err != nil {
		return nil, err
	}
	res := &CheckResult{Revision: rev}
	m, err := s.Store.FindMembership(ctx, req.AccountID, req.UserID)
	if ErrorKind(err) == ENOTFOUND {
		res.Reason = Reason{Code: ReasonNoMembership, Message: reasonMessages[ReasonNoMembership]}
		return res, nil
	} else if err != nil {
		return nil, err
	}
	ev, err := s.evaluate(ctx, s.Store, m, at)
	if err != nil {
		return nil, err
	}
	res.Allowed, res.Reason = ev.reason(req.Permission)
	return res, nil
}

func (s *Service) requireCheckCaller(ctx context.Context, userID string) error {
	a := ActorFromContext(ctx)
	switch {
	case a == nil:
		return Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	case !ValidText(userID): // SPEC §4 "Text"
		return TextError("user_id")
	case a.IsOperator() || a.UserID == userID:
		return nil
	}
	return Errorf(EFORBIDDEN, "operator_only", "Only the operator token may check another user's access.")
}
