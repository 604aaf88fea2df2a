package steward

import (
	"context"
	"time"
)

// R-GRANT-5: nothing outlives its granter. A member whose access ends gives
// nothing that lasts longer, and what it gave ends with it. The check follows
// no granter links: every grant carries an end date no later than its
// granter's, set when it is made and moved earlier whenever the granter's end
// moves earlier, so the check index and the store evaluation read it from the
// membership like any end date (docs/DECISIONS.md, "Nothing outlives its
// granter").

// maxGrantChain bounds how far endOf follows delegate parents.
const maxGrantChain = 16

// endOf returns when m's access ends at the latest, whatever its status: the
// earliest of its end date, a delegate's parents' end dates and delegates'
// end dates, a partner membership's relationship end; the present for a
// membership that has ended already (expired, or left without its parent).
// nil means no end.
func (t *txn) endOf(m *Membership) (*time.Time, error) {
	return t.endBeside(m, "")
}

// endBeside is endOf without the end of the relationship of partner
// beside (when not ""): what a partner's member gives to another member of
// the same partner in the same client hangs on that relationship at check
// time, and is extended with it (R-LIFE-1).
func (t *txn) endBeside(m *Membership, beside string) (*time.Time, error) {
	var end *time.Time
	for depth := 0; depth < maxGrantChain; depth++ {
		end = earliest(end, m.EndsAt)
		if m.Status == StatusExpired {
			end = earliest(end, &t.now)
		}
		if m.Kind == KindPartner && m.PartnerID != beside {
			rel, err := t.FindRelationship(t.ctx, m.PartnerID, m.AccountID)
			switch {
			case ErrorKind(err) == ENOTFOUND:
				end = earliest(end, &t.now)
			case err != nil:
				return nil, err
			case rel.At(t.now).Status == RelationshipEnded:
				end = earliest(end, &t.now)
			default:
				end = earliest(end, rel.EndsAt)
			}
		}
		if m.Kind != KindDelegate {
			return end, nil
		}
		parent, err := t.FindMembershipByID(t.ctx, m.AccountID, m.ParentID)
		if ErrorKind(err) == ENOTFOUND {
			return earliest(end, &t.now), nil
		} else if err != nil {
			return nil, err
		}
		if !parent.AllowRedelegation {
			end = earliest(end, &t.now)
		}
		end = earliest(end, parent.DelegatesEndAt)
		m = parent
	}
	return end, nil
}

// grantEnd returns the latest end of what the actor gives in the account: the
// end of its own access there; nil for the operator and for members whose
// access has no end.
func (t *txn) grantEnd(by *access) (*time.Time, error) {
	if m := by.membership(); m != nil {
		return t.givingEnd(m, "")
	}
	return nil, nil
}

// givingEnd is how long what m's user gives in the account may last: the
// end of its access (without partner beside's relationship, see endBeside),
// and, while it is elevated, the end of its elevation, whose permissions it
// may be using (R-GRANT-5, R-ELEVATE-2).
func (t *txn) givingEnd(m *Membership, beside string) (*time.Time, error) {
	end, err := t.endBeside(m, beside)
	if err != nil {
		return nil, err
	}
	return earliest(end, t.elevatedUntil(m)), nil
}

// granterEnd is grantEnd for a granter named by the id a grant records:
// nil for the operator or a user without membership in the account.
func (t *txn) granterEnd(accountID, granter string) (*time.Time, error) {
	return t.granterEndBeside(accountID, granter, "")
}

// granterEndBeside is granterEnd without the end of partner beside's
// relationship (see endBeside).
func (t *txn) granterEndBeside(accountID, granter, beside string) (*time.Time, error) {
	if granter == "" || granter == "operator" {
		return nil, nil
	}
	m, err := t.FindMembership(t.ctx, accountID, granter)
	if ErrorKind(err) == ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return t.givingEnd(m, beside)
}

// CreateMembership stores a new membership ending no later than its granter's
// access (R-GRANT-5). Every path that creates a membership (adding a user or a
// partner employee, approving an access link, accepting an invitation) goes
// through here, so none can forget it. A delegate is left as it is: it has no
// end of its own and ends with its parent, which the check follows.
func (t *txn) CreateMembership(ctx context.Context, m *Membership) error {
	return t.createMemberships([]*Membership{m})
}

// createMemberships is CreateMembership for many memberships at once: the
// end of each granter's access (R-GRANT-5) is read once per account.
func (t *txn) createMemberships(ms []*Membership) error {
	type key struct{ account, granter, beside string }
	ends := map[key]*time.Time{}
	for _, m := range ms {
		if m.Kind != KindDelegate {
			// A partner's employee hangs on its own relationship at check
			// time, and is extended with it (R-LIFE-1): its granter's end is
			// taken without that relationship's.
			k := key{m.AccountID, m.GrantedBy, ""}
			if m.Kind == KindPartner {
				k.beside = m.PartnerID
			}
			end, ok := ends[k]
			if !ok {
				var err error
				if end, err = t.granterEndBeside(m.AccountID, m.GrantedBy, k.beside); err != nil {
					return err
				}
				ends[k] = end
			}
			m.EndsAt = earliest(m.EndsAt, end)
		}
		if err := t.Store.CreateMembership(t.ctx, m); err != nil {
			return err
		}
		t.noteCreated(m) // R-PREVIEW-1
	}
	return nil
}

// mayWiden refuses an actor whose access ends widening (more permissions,
// reactivation) a membership whose access lasts longer than the actor's
// (R-GRANT-5). The actor may narrow it.
func (t *txn) mayWiden(by *access, m *Membership) error {
	end, err := t.grantEnd(by)
	if err != nil || end == nil {
		return err
	}
	mEnd, err := t.endOf(m)
	if err != nil {
		return err
	}
	if mEnd != nil && !mEnd.After(*end) {
		return nil
	}
	return outlivesGranter(*end)
}

// mayWidenRole refuses an actor whose access ends adding permissions to a
// role that a member or a pending invitation holds for longer (R-GRANT-5).
func (t *txn) mayWidenRole(by *access, accountID, roleID string) error {
	end, err := t.grantEnd(by)
	if err != nil || end == nil {
		return err
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Role: roleID, Page: page})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Kind == KindDelegate { // a role edit never widens a delegate
				continue
			}
			mEnd, err := t.endOf(m)
			if err != nil {
				return err
			}
			if mEnd == nil || mEnd.After(*end) {
				return outlivesGranter(*end)
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		invs, next, err := t.FindInvitations(t.ctx, InvitationFilter{AccountID: accountID, Role: roleID, Status: InvitationPending, ValidAt: &t.now, Page: page})
		if err != nil {
			return err
		}
		for _, inv := range invs {
			if inv.EndsAt == nil || inv.EndsAt.After(*end) {
				return outlivesGranter(*end)
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

func outlivesGranter(end time.Time) error {
	return Errorf(EFORBIDDEN, "outlives_granter",
		"Your access to this account ends at %s; you cannot widen access that lasts longer than yours.", end.Format(time.RFC3339))
}

// boundEndDates applies R-GRANT-5 to the end dates an actor asks for when
// it invites or extends an external user: a date later than the actor's own
// end is refused (422 naming the field); no date means the actor's end.
func (t *txn) boundEndDates(by *access, endsAt, delegatesEndAt *time.Time) (*time.Time, error) {
	end, err := t.grantEnd(by)
	if err != nil || end == nil {
		return endsAt, err
	}
	msg := "must not be later than the end of your own access, " + end.Format(time.RFC3339)
	var bad []FieldError
	if endsAt != nil && endsAt.After(*end) {
		bad = append(bad, FieldError{"ends_at", msg})
	}
	if delegatesEndAt != nil && delegatesEndAt.After(*end) {
		bad = append(bad, FieldError{"delegates_end_at", msg})
	}
	if len(bad) > 0 {
		return nil, Invalid("ends_after_granter", "Nothing you give can last longer than your own access.", bad...)
	}
	if endsAt == nil {
		endsAt = end
	}
	return endsAt, nil
}

// clipGrants makes everything granter gave in the account end by end at the
// latest (R-GRANT-5: what it gave ends with it): the memberships it granted
// or last widened, whose own grants are clipped in turn, with the grants of
// their delegates; and its pending invitations, revoked when end has come.
// seen guards against granting cycles.
func (t *txn) clipGrants(by *access, accountID, granter string, end time.Time, seen map[string]bool) error {
	if seen[granter] {
		return nil
	}
	seen[granter] = true
	var clipped []*Membership
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, GrantedBy: granter, Page: page})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Kind == KindDelegate || m.UserID == granter { // delegates follow their parent
				continue
			}
			if m.Kind == KindPartner && seen[samePartnerKey(m.PartnerID)] {
				continue // R-LIFE-1: it hangs on the relationship, and ends or extends with it
			}
			if m.EndsAt != nil && !m.EndsAt.After(end) {
				continue
			}
			if !end.After(t.now) {
				if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
					return err
				}
			}
			from := m.EndsAt
			m.EndsAt, m.UpdatedAt = &end, t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return err
			}
			t.record(accountID, by, "member.end_clipped", "membership", m.ID, map[string]any{
				"user_id": m.UserID, "granted_by": granter, "from_ends_at": from, "ends_at": m.EndsAt, "reason": "granter_access_ends",
			})
			clipped = append(clipped, m)
		}
		if next == "" {
			break
		}
		page.After = next
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		invs, next, err := t.FindInvitations(t.ctx, InvitationFilter{AccountID: accountID, InvitedBy: granter, Status: InvitationPending, Page: page})
		if err != nil {
			return err
		}
		for _, inv := range invs {
			if !end.After(t.now) {
				if err := t.resolveInvitation(by, inv, InvitationRevoked, "invitation.revoked", map[string]any{"email": inv.Email, "reason": "inviter_access_ended"}); err != nil {
					return err
				}
				continue
			}
			if inv.EndsAt != nil && !inv.EndsAt.After(end) {
				continue
			}
			from := inv.EndsAt
			inv.EndsAt, inv.UpdatedAt = &end, t.now
			if inv.DelegatesEndAt != nil && inv.DelegatesEndAt.After(end) {
				inv.DelegatesEndAt = &end
			}
			if err := t.UpdateInvitation(t.ctx, inv); err != nil {
				return err
			}
			t.record(accountID, by, "invitation.end_clipped", "invitation", inv.ID, map[string]any{
				"email": inv.Email, "invited_by": granter, "from_ends_at": from, "ends_at": inv.EndsAt, "reason": "granter_access_ends",
			})
		}
		if next == "" {
			break
		}
		page.After = next
	}
	if err := t.clipRequestGrants(by, accountID, granter, end); err != nil {
		return err
	}
	for _, m := range clipped {
		if err := t.clipGrants(by, accountID, m.UserID, end, seen); err != nil {
			return err
		}
	}
	return t.clipDelegatesGrants(by, accountID, granter, end, seen)
}

// clipDelegatesGrants clips what the delegates below userID's membership in
// the account gave, as their access ends with it.
func (t *txn) clipDelegatesGrants(by *access, accountID, userID string, end time.Time, seen map[string]bool) error {
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		ds, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, ParentID: m.ID, Page: page})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := t.clipGrants(by, accountID, d.UserID, end, seen); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// accessEnded clips what m's user gave in the account to now, when m is an
// external or delegate membership that ends or is removed: its grants end
// with it (R-GRANT-5).
func (t *txn) accessEnded(by *access, m *Membership) error {
	if m.Kind != KindExternal && m.Kind != KindDelegate {
		return nil
	}
	return t.clipGrants(by, m.AccountID, m.UserID, t.now, map[string]bool{})
}

// endMovedEarlier clips what m's user (and its delegates) gave when m's end
// moves from before to after, earlier than it was.
func (t *txn) endMovedEarlier(by *access, m *Membership, before, after *time.Time) error {
	if after == nil || (before != nil && !after.Before(*before)) {
		return nil
	}
	return t.clipGrants(by, m.AccountID, m.UserID, *after, map[string]bool{})
}

// clipRequestGrants makes the grants granter approved through access
// requests in the account end by end at the latest (R-GRANT-5, R-REQUEST-2).
func (t *txn) clipRequestGrants(by *access, accountID, granter string, end time.Time) error {
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, GrantsFrom: granter, Page: page})
		if err != nil {
			return err
		}
		for _, m := range ms {
			var clipped []string
			for i := range m.Grants {
				g := &m.Grants[i]
				if g.GrantedBy != granter || (g.EndsAt != nil && !g.EndsAt.After(end)) {
					continue
				}
				e := end
				g.EndsAt = &e
				if g.ElevationID != "" { // R-ELEVATE-2: the elevation ends with the grant
					if err := t.clipElevation(accountID, g.ElevationID, end); err != nil {
						return err
					}
					clipped = append(clipped, g.ElevationID)
					continue
				}
				clipped = append(clipped, g.RequestID)
			}
			if len(clipped) == 0 {
				continue
			}
			m.UpdatedAt = t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return err
			}
			t.record(accountID, by, "grant.end_clipped", "membership", m.ID, map[string]any{
				"user_id": m.UserID, "granted_by": granter, "request_ids": clipped, "ends_at": end, "reason": "granter_access_ends",
			})
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}
