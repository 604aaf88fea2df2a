package steward

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Guardrails (SPEC §6): an account's policy over outsiders.

// PolicyChange answers a policy update: the policy now, and every
// membership and pending invitation the change affected (R-GUARD-4).
type PolicyChange struct {
	Policy      *AccountPolicy   `json:"policy"`
	Affected    []AffectedMember `json:"affected"`
	Invitations []string         `json:"invitations_clipped"`
	// Relationships are the partner relationships whose end date moved
	// earlier under a new max_partner_days (R-GUARD-4, R-LIFE-1).
	Relationships []string `json:"relationships_clipped,omitempty"`
}

// AffectedMember is one membership a tightened policy changed.
type AffectedMember struct {
	MembershipID string         `json:"membership_id"`
	UserID       string         `json:"user_id"`
	Kind         MembershipKind `json:"kind"`
	// Lost are the permissions that stopped holding (never-delegable now).
	Lost []string `json:"lost,omitempty"`
	// EndsAt is the membership's clipped end date, when it moved earlier.
	EndsAt *time.Time `json:"ends_at,omitempty"`
	// Reason is "never_delegable", "max_days" or "parent_end" (a delegate
	// whose parent's end moved earlier).
	Reason string `json:"reason"`
}

// FindPolicy returns the account's policy. Every member whose access holds
// may read it: outsiders need to know what they cannot ask for.
func (s *Service) FindPolicy(ctx context.Context, accountID string) (*AccountPolicy, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, err
	}
	return s.Store.FindPolicy(ctx, accountID)
}

// UpdatePolicy changes the account's policy. It needs
// account.super_admins.manage, is audited, and applies at once to what
// exists (R-GUARD-4): an outsider's end date beyond a new maximum is clipped,
// a new never-delegable permission stops holding, in this transaction, and
// the event lists every membership affected.
func (s *Service) UpdatePolicy(ctx context.Context, accountID string, upd PolicyUpdate) (*PolicyChange, int64, error) {
	var out *PolicyChange
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSuperAdminsManage)
		if err != nil {
			return err
		}
		old, err := t.FindPolicy(t.ctx, accountID)
		if err != nil {
			return err
		}
		p, err := upd.apply(*old, t.s.Catalogue)
		if err != nil {
			return err
		}
		if samePolicy(old, &p) {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		// R-PREVIEW-1: a dry run takes the outsiders' state before the
		// policy reaches them.
		if err := t.captureOutsiders(accountID); err != nil {
			return err
		}
		if err := t.PutPolicy(t.ctx, accountID, &p); err != nil {
			return err
		}
		out = &PolicyChange{Policy: &p, Affected: []AffectedMember{}, Invitations: []string{}}
		if err := t.tighten(by, accountID, old, &p, out); err != nil {
			return err
		}
		// R-SUPER-1: a policy that clips the end of the account's last
		// lasting super admin (a partner employee made super admin, say)
		// would leave the account without one when it ends.
		if n, err := t.CountActiveSuperAdmins(t.ctx, accountID, t.now); err != nil {
			return err
		} else if n == 0 {
			return Errorf(ECONFLICT, "last_super_admin", "This policy would give the account's last super admin an end date; make another member super admin first.")
		}
		// The event's target is the account: the check index reads the
		// account's policy again when it sees it (R-GUARD-4).
		t.record(accountID, by, "policy.updated", "account", accountID, map[string]any{
			"from": old, "to": &p, "affected": out.Affected, "invitations_clipped": out.Invitations, "relationships_clipped": out.Relationships,
		})
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

func samePolicy(a, b *AccountPolicy) bool {
	eqInt := func(x, y *int) bool { return (x == nil && y == nil) || (x != nil && y != nil && *x == *y) }
	return slices.Equal(a.AllowedPartners, b.AllowedPartners) && slices.Equal(a.NeverDelegable, b.NeverDelegable) &&
		eqInt(a.MaxPartnerDays, b.MaxPartnerDays) && eqInt(a.MaxExternalDays, b.MaxExternalDays)
}

// maxDays returns the policy's maximum for a membership kind: partner
// memberships follow max_partner_days, external ones max_external_days;
// delegates end with their parent.
func (p *AccountPolicy) maxDays(k MembershipKind) (*int, string) {
	switch k {
	case KindPartner:
		return p.MaxPartnerDays, "max_partner_days"
	case KindExternal:
		return p.MaxExternalDays, "max_external_days"
	}
	return nil, ""
}

// limitFrom returns the latest end a maximum of days allows for access that
// started at start.
func limitFrom(start time.Time, days int) time.Time {
	return start.Add(time.Duration(days) * 24 * time.Hour)
}

// tighten applies a new policy to the account's outsiders (R-GUARD-4). It
// reads the account's memberships and pending invitations once, and clips
// what a clipped member gave (R-GRANT-5) only for members who gave
// something there or have delegates: for the others there is nothing to
// clip, and asking for each would cost a query per membership.
func (t *txn) tighten(by *access, accountID string, old, p *AccountPolicy, out *PolicyChange) error {
	newlyNever := Minus(p.NeverDelegable, old.NeverDelegable)
	clippedParents := map[string]*time.Time{}
	all, err := t.allMemberships(MembershipFilter{AccountID: accountID})
	if err != nil {
		return err
	}
	pending, err := t.pendingInvitations(accountID)
	if err != nil {
		return err
	}
	gave := givers(all, pending)
	var delegates []*Membership
	for _, m := range all {
		if m.Kind == KindDelegate {
			delegates = append(delegates, m)
		}
		if !Outsider(m.Kind) {
			continue
		}
		if lost := Intersect(m.OwnAt(t.s.Catalogue, nil, t.now), newlyNever); len(lost) > 0 {
			// R-GUARD-3: nothing to write; the check stops counting them
			// from this revision on, in the index and the store alike.
			out.Affected = append(out.Affected, AffectedMember{MembershipID: m.ID, UserID: m.UserID, Kind: m.Kind, Lost: lost, Reason: "never_delegable"})
		}
	}
	// limit returns the end a clipped m gets, or false when m ends within
	// the maximum already.
	limitOf := func(m *Membership) (time.Time, bool, error) {
		days, _ := p.maxDays(m.Kind)
		if days == nil || m.Kind == KindPartner {
			// R-LIFE-1: a partner membership ends with its relationship,
			// whose end clipRelationships keeps within the maximum.
			return time.Time{}, false, nil
		}
		limit := limitFrom(m.CreatedAt, *days)
		if limit.Before(t.now) {
			limit = t.now // what is already past its maximum ends now
		}
		if m.EndsAt != nil && !m.EndsAt.After(limit) {
			return time.Time{}, false, nil
		}
		if !limit.After(t.now) {
			if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
				return time.Time{}, false, err
			}
		}
		return limit, true, nil
	}
	clip := func(m *Membership, limit time.Time) {
		m.EndsAt, m.UpdatedAt = &limit, t.now
		if m.DelegatesEndAt != nil && m.DelegatesEndAt.After(limit) {
			m.DelegatesEndAt = &limit
		}
		out.Affected = append(out.Affected, AffectedMember{MembershipID: m.ID, UserID: m.UserID, Kind: m.Kind, EndsAt: m.EndsAt, Reason: "max_days"})
		clippedParents[m.ID] = m.EndsAt
	}
	// First the members who gave something here: each is written, then what
	// it gave is clipped to its new end (R-GRANT-5), which may move other
	// memberships' ends earlier.
	granted := false
	for _, m := range all {
		if !Outsider(m.Kind) || !(gave[m.UserID] || gave["parent:"+m.ID]) {
			continue
		}
		limit, ok, err := limitOf(m)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		oldEnd, err := t.endOf(m)
		if err != nil {
			return err
		}
		clip(m, limit)
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		newEnd, err := t.endOf(m)
		if err != nil {
			return err
		}
		if err := t.endMovedEarlier(by, m, oldEnd, newEnd); err != nil {
			return err
		}
		granted = true
	}
	if granted { // read again what the clips above changed
		if all, err = t.allMemberships(MembershipFilter{AccountID: accountID}); err != nil {
			return err
		}
	}
	// Then every other outsider, written together: nothing else depends on
	// their ends (they gave nothing here).
	var batch []*Membership
	for _, m := range all {
		if !Outsider(m.Kind) || gave[m.UserID] || gave["parent:"+m.ID] {
			continue
		}
		limit, ok, err := limitOf(m)
		if err != nil {
			return err
		}
		if ok {
			clip(m, limit)
			batch = append(batch, m)
		}
	}
	if err := t.UpdateMembershipEnds(t.ctx, accountID, batch); err != nil {
		return err
	}
	for _, d := range delegates { // delegates end with their parent (R-EXT-9)
		if end, ok := clippedParents[d.ParentID]; ok && (d.EndsAt == nil || d.EndsAt.After(*end)) {
			out.Affected = append(out.Affected, AffectedMember{MembershipID: d.ID, UserID: d.UserID, Kind: d.Kind, EndsAt: end, Reason: "parent_end"})
		}
	}
	// R-LIFE-1: a relationship's end date keeps within the new maximum,
	// counted from its approval.
	if p.MaxPartnerDays != nil {
		if err := t.clipRelationships(by, accountID, *p.MaxPartnerDays, out); err != nil {
			return err
		}
	}
	// Pending invitations will become external memberships: their end dates
	// keep within the new maximum too.
	if p.MaxExternalDays != nil {
		for _, inv := range pending {
			cur, err := t.FindInvitationByID(t.ctx, accountID, inv.ID) // a clip above may have revoked it
			if err != nil {
				return err
			}
			if cur.Status != InvitationPending {
				continue
			}
			limit := limitFrom(t.now, *p.MaxExternalDays)
			if cur.EndsAt != nil && !cur.EndsAt.After(limit) {
				continue
			}
			cur.EndsAt, cur.UpdatedAt = &limit, t.now
			if cur.DelegatesEndAt != nil && cur.DelegatesEndAt.After(limit) {
				cur.DelegatesEndAt = &limit
			}
			if err := t.UpdateInvitation(t.ctx, cur); err != nil {
				return err
			}
			out.Invitations = append(out.Invitations, cur.ID)
		}
	}
	return nil
}

// clipRelationships moves the end date of the client's relationships that
// have not ended to within days of their approval (R-GUARD-4), and clips
// what their partner members gave with them (R-GRANT-5).
func (t *txn) clipRelationships(by *access, clientID string, days int, out *PolicyChange) error {
	for page := (Page{Limit: MaxPageLimit}); ; {
		ps, next, err := t.FindPartners(t.ctx, clientID, t.now, page)
		if err != nil {
			return err
		}
		for _, pt := range ps {
			if pt.Status != RelationshipActive {
				continue
			}
			r, err := t.FindRelationship(t.ctx, pt.PartnerID, clientID)
			if err != nil {
				return err
			}
			limit := limitFrom(r.Approved(), days)
			if limit.Before(t.now) {
				limit = t.now // what is already past its maximum ends now
			}
			if r.EndsAt != nil && !r.EndsAt.After(limit) {
				continue
			}
			r.EndsAt, r.TermStartedAt, r.UpdatedAt = &limit, &t.now, t.now
			if err := t.UpdateRelationship(t.ctx, r); err != nil {
				return err
			}
			if err := t.relationshipEndMovedEarlier(by, r, limit); err != nil {
				return err
			}
			out.Relationships = append(out.Relationships, r.ID)
			ms, err := t.allMemberships(MembershipFilter{AccountID: clientID, Kind: KindPartner})
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.PartnerID == r.PartnerID && (m.EndsAt == nil || m.EndsAt.After(limit)) {
					out.Affected = append(out.Affected, AffectedMember{MembershipID: m.ID, UserID: m.UserID, Kind: m.Kind, EndsAt: r.EndsAt, Reason: "relationship_end"})
				}
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// givers returns who granted something among an account's memberships and
// pending invitations: the users who granted a membership, a grant or an
// invitation, and, as "parent:<membership id>", the memberships with
// delegates. R-GRANT-5 clipping needs to look only at them.
func givers(all []*Membership, pending []*Invitation) map[string]bool {
	gave := map[string]bool{}
	for _, m := range all {
		gave[m.GrantedBy] = true
		for _, g := range m.Grants {
			gave[g.GrantedBy] = true
		}
		if m.ParentID != "" {
			gave["parent:"+m.ParentID] = true
		}
	}
	for _, inv := range pending {
		gave[inv.InvitedBy] = true
	}
	return gave
}

// pendingInvitations returns the account's pending invitations.
func (t *txn) pendingInvitations(accountID string) ([]*Invitation, error) {
	var out []*Invitation
	for page := (Page{Limit: MaxPageLimit}); ; {
		invs, next, err := t.FindInvitations(t.ctx, InvitationFilter{AccountID: accountID, Status: InvitationPending, Page: page})
		if err != nil {
			return nil, err
		}
		out = append(out, invs...)
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// refuseNeverDelegable refuses giving an outsider (an invitee or a
// delegate) any of the account's never-delegable permissions: 403
// permission_not_delegable naming them (R-GUARD-3).
func (t *txn) refuseNeverDelegable(accountID, field string, perms []string) error {
	p, err := t.FindPolicy(t.ctx, accountID)
	if err != nil {
		return err
	}
	bad := Intersect(perms, p.NeverDelegable)
	if len(bad) == 0 {
		return nil
	}
	fields := make([]FieldError, len(bad))
	for i, k := range bad {
		fields[i] = FieldError{Field: field, Message: quote(k) + " is never delegable in this account"}
	}
	return &Error{Kind: EFORBIDDEN, Code: "permission_not_delegable",
		Message: "The account's policy keeps these permissions from partners, external users and delegates: " + strings.Join(bad, ", ") + ".",
		Fields:  fields}
}

// checkMaxDays enforces R-GUARD-2 on the end date an outsider's access is
// given at start (approval, acceptance, invitation or an extension): when
// the account sets a maximum for kind, end is required and must fall within
// it, else 422 naming field.
func (t *txn) checkMaxDays(accountID string, kind MembershipKind, start time.Time, end *time.Time, field string) error {
	p, err := t.FindPolicy(t.ctx, accountID)
	if err != nil {
		return err
	}
	days, name := p.maxDays(kind)
	if days == nil {
		return nil
	}
	limit := limitFrom(start, *days)
	switch {
	case end == nil:
		return Invalid("end_date_required", fmt.Sprintf("The account's policy (%s: %d) requires an end date.", name, *days),
			FieldError{field, fmt.Sprintf("is required: at most %d days, until %s", *days, limit.Format(time.RFC3339))})
	case end.After(limit):
		return Invalid("end_date_beyond_policy", fmt.Sprintf("The account's policy (%s: %d) allows no later end date.", name, *days),
			FieldError{field, fmt.Sprintf("must not be later than %s (%d days)", limit.Format(time.RFC3339), *days)})
	}
	return nil
}

// policyAdmits enforces R-GUARD-1 when a client approves partner's access link.
func (t *txn) policyAdmits(clientID string, partner *Account) error {
	p, err := t.FindPolicy(t.ctx, clientID)
	if err != nil {
		return err
	}
	if !p.admits(partner) {
		return Errorf(EFORBIDDEN, "partner_not_allowed", "The account's policy does not allow this partner (allowed_partners).")
	}
	return nil
}
