package authz

import (
	"context"
	"time"

	"github.com/steward-iam/steward"
)

// Decision is the outcome of a check, cheap to return: a reason code and
// the membership it rests on.
type Decision struct {
	Allowed bool
	Code    string // a steward.Reason… code
	m       *membership
	capped  bool
	endsAt  int64
	bit     int // the permission asked; -1 for none
}

// Allowed answers whether userID may use perm in accountID at the time at,
// given in microseconds since the epoch. It does not allocate. Unknown users,
// accounts and permissions are simply not allowed; Check reports them.
func (ix *Index) Allowed(userID, accountID, perm string, at int64) bool {
	return ix.decide(userID, accountID, perm, at).Allowed
}

// decide follows the membership of the user in the account and every link it
// depends on at time at, exactly as the store evaluation does (R-CHECK-1): the
// user is active in its home account; the membership is active and unexpired;
// a delegate's parent holds, allows re-delegation, has not passed its
// delegates' end date, and caps the delegate's permissions.
func (ix *Index) decide(userID, accountID, perm string, at int64) Decision {
	bit, ok := ix.bits[perm]
	u := ix.user(userID)
	if !ok || u == nil {
		return Decision{Code: steward.ReasonNoMembership}
	}
	a := ix.account(accountID)
	if a == nil {
		return Decision{Code: steward.ReasonNoMembership}
	}
	return ix.decideIn(u, a.num, bit, at)
}

// decideIn is decide for a known user, account number and permission bit;
// with bit < 0 it asks about no permission, and Allowed then says that the
// membership holds.
func (ix *Index) decideIn(u *user, account uint32, bit int, at int64) Decision {
	m := u.find(account)
	if m == nil {
		return Decision{Code: steward.ReasonNoMembership}
	}
	d := Decision{m: m, endsAt: noEnd, bit: bit}
	has := true
	for depth, cur, cu := 0, m, u; ; depth++ {
		deny := func(code string) Decision {
			if depth > 0 && code != steward.ReasonRedelegationOff && code != steward.ReasonDelegationEnded {
				code = steward.ReasonParentInactive
			}
			d.Code = code
			return d
		}
		d.endsAt = min(d.endsAt, cur.endsAt)
		switch {
		case !cu.active:
			return deny(steward.ReasonUserDeactivated)
		case cur.status == statusDeactivated:
			return deny(steward.ReasonMembershipDeactivated)
		case cur.status == statusSuspended:
			return deny(steward.ReasonMembershipSuspended)
		case cur.status == statusExpired || at >= cur.endsAt:
			return deny(steward.ReasonMembershipExpired)
		}
		if cur.kind == kindPartner { // the relationship P→C is active
			r := ix.rel(cur.partner(), account)
			if r == nil || r.status != steward.RelationshipActive {
				return deny(steward.ReasonRelationshipInactive)
			}
			if r.endsAt != nil { // R-LIFE-1: until its end date, decided here
				end := r.endsAt.UnixMicro()
				if at >= end {
					return deny(steward.ReasonRelationshipInactive)
				}
				d.endsAt = min(d.endsAt, end)
			}
		}
		// R-PARTNER-1: partner.* is held only through an internal membership.
		if bit >= 0 && (!ix.holds(cur, bit, at) || (cur.kind != kindInternal && ix.partnerOnly[bit])) {
			if depth > 0 && has {
				d.capped = true
			}
			has = false
		}
		if cur.kind != kindDelegate {
			break
		}
		pu, parent := ix.parentOf(cur)
		if parent == nil {
			return deny(steward.ReasonParentInactive)
		}
		if !parent.redelegate() {
			return deny(steward.ReasonRedelegationOff)
		}
		if at >= parent.delegatesEndAt {
			d.endsAt = min(d.endsAt, parent.delegatesEndAt)
			return deny(steward.ReasonDelegationEnded)
		}
		d.endsAt = min(d.endsAt, parent.delegatesEndAt)
		cur, cu = parent, pu
	}
	if !has {
		d.Code = steward.ReasonPermissionMissing
		return d
	}
	d.Allowed, d.Code = true, steward.ReasonGranted
	return d
}

// parentOf returns a delegate's parent membership and its user; nil when
// the parent membership is gone (another membership of the same user in
// the account is not the parent).
func (ix *Index) parentOf(m *membership) (*user, *membership) {
	if m.parentUser() == noUser {
		return nil, nil
	}
	pu := ix.user(ix.userNames.get(m.parentUser()))
	parent := pu.find(m.account)
	if parent == nil || parent.id != ix.parentIDs.get(m.parentRef) {
		return nil, nil
	}
	return pu, parent
}

// Check answers a check request with its explanation (R-CHECK-2), waiting
// first for req.MinRevision (R-CHECK-3) up to the context's deadline.
func (ix *Index) Check(ctx context.Context, req steward.CheckRequest, now time.Time) (*steward.CheckResult, error) {
	if req.MinRevision > 0 {
		if err := ix.WaitFor(ctx, req.MinRevision); err != nil {
			return nil, err
		}
	}
	if _, ok := ix.bits[req.Permission]; !ok {
		return nil, steward.Invalid("unknown_permission", "Unknown permission; GET /v1/permissions lists the catalogue.",
			steward.FieldError{Field: "permission", Message: "unknown permission " + req.Permission})
	}
	if ix.user(req.UserID) == nil || !ix.hasAccount(req.AccountID) {
		// Perhaps created on another node a moment ago: catch up once before
		// saying it does not exist.
		if err := ix.CatchUp(ctx); err != nil {
			return nil, err
		}
		if ix.user(req.UserID) == nil {
			return nil, steward.NotFound("user", req.UserID)
		}
		if !ix.hasAccount(req.AccountID) {
			return nil, steward.NotFound("account", req.AccountID)
		}
	}
	rev := ix.applied.Load()
	at := now
	if req.At != nil {
		at = *req.At
	}
	d := ix.decide(req.UserID, req.AccountID, req.Permission, at.UnixMicro())
	return &steward.CheckResult{Allowed: d.Allowed, Reason: ix.explain(d, req.UserID, at), Revision: rev}, nil
}

// explain turns a decision into its reason: the membership, the chain it
// hangs on, the permission's source and when it ends.
func (ix *Index) explain(d Decision, userID string, at time.Time) steward.Reason {
	return ix.explainInto(d, userID, at, nil)
}

// explainInto is explain with the chain appended to *links, when not nil,
// so that the items of a page share one array of links.
func (ix *Index) explainInto(d Decision, userID string, at time.Time, links *[]steward.ChainLink) (r steward.Reason) {
	r = steward.Reason{Code: d.Code, Message: steward.ReasonMessage(d.Code)}
	if links != nil && d.m != nil {
		// The chain grows in the free end of the shared array (or, once
		// that is full, in one of its own); the array then keeps it.
		start := len(*links)
		r.Chain = (*links)[start:start]
		defer func() {
			if n := len(r.Chain); n > 0 && start+n <= cap(*links) && &(*links)[:start+n][start] == &r.Chain[0] {
				*links = (*links)[:start+n]
				r.Chain = r.Chain[:n:n]
			}
		}()
	}
	if d.m == nil {
		return r
	}
	r.MembershipID, r.Kind, r.Role = ix.unpackID(d.m.id), kinds[d.m.kind], ix.roleNames.get(d.m.role)
	r.EndsAt = timeOf(d.endsAt)
	for cur, cu := d.m, userID; cur != nil; {
		account := ix.accountNames.get(cur.account)
		id := r.MembershipID // the chain starts with the membership itself
		if cur != d.m {
			id = ix.unpackID(cur.id)
		}
		r.Chain = append(r.Chain, steward.ChainLink{Type: "membership", ID: id, AccountID: account, UserID: cu,
			Kind: string(kinds[cur.kind]), Status: string(statuses[cur.status]), EndsAt: timeOf(cur.endsAt)})
		if cur.kind == kindPartner {
			if rel := ix.rel(cur.partner(), cur.account); rel != nil {
				status := rel.status
				if status != steward.RelationshipEnded && rel.endsAt != nil && !at.Before(*rel.endsAt) {
					status = steward.RelationshipEnded
				}
				r.Chain = append(r.Chain, steward.ChainLink{Type: "relationship", ID: rel.id, AccountID: ix.accountNames.get(cur.partner()), Status: string(status), EndsAt: rel.endsAt})
			}
		}
		if cur.kind != kindDelegate {
			break
		}
		parentUser := cur.parentUser()
		if _, cur = ix.parentOf(cur); cur != nil {
			cu = ix.userNames.get(parentUser)
		}
	}
	switch {
	case d.Allowed && d.m.super():
		r.Source = steward.RoleSuperAdmin
	case d.Allowed:
		r.Source = "membership"
		if g := ix.elevationOf(d.m, d.bit, at.UnixMicro()); g != nil && g.endsAt != noEnd {
			// R-ELEVATE-2, R-CHECK-2: the reason names the elevation and its end.
			r.Source, r.Elevation = "elevation", &steward.ReasonElevation{ID: g.elevation, EndsAt: *timeOf(g.endsAt)}
		}
	case d.capped:
		r.Source = "capped_by_parent"
	}
	return r
}

// timeOf turns microseconds back into a time; nil for no end.
func timeOf(us int64) *time.Time {
	if us == noEnd {
		return nil
	}
	t := time.UnixMicro(us).UTC()
	return &t
}
