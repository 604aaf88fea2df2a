package steward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Just-in-time elevation (SPEC §6 R-ELEVATE-1..2). An eligibility is a
// standing promise, by a member who could give the role, that another
// member may hold the role for a while. An activation turns it into an
// elevation: a grant of the role's permissions on the membership, with a
// start and an end, which the check index and the store evaluation read
// like any grant, so that the end needs no job and every node sees it at
// the same instant. docs/DECISIONS.md "Just-in-time elevation" says what
// happens when the granter's own standing changes.

// elevationManagers returns what manages a membership of kind k, the way
// its role changes are authorized: account.users.manage, and for a partner
// membership also account.partners.manage (R-ELEVATE-1).
func elevationManagers(k MembershipKind) []string {
	if k == KindPartner {
		return []string{PermUsersManage, PermPartnersManage}
	}
	return []string{PermUsersManage}
}

// couldGrant returns the role when by could make m eligible for it
// (R-ELEVATE-1): by manages m's kind and holds every permission of the
// role (R-GRANT-1), super_admin only by holders of
// account.super_admins.manage (R-SUPER-2), and the role suits m's kind.
func (t *txn) couldGrant(by *access, m *Membership, roleID string) (*Role, error) {
	if err := by.require(elevationManagers(m.Kind)...); err != nil {
		return nil, err
	}
	r, err := t.s.grantableRole(t.ctx, t, by, m.AccountID, roleID, m.Kind)
	if err != nil {
		return nil, err
	}
	if err := by.notHeld("role", r.Permissions); err != nil { // R-GRANT-1
		return nil, err
	}
	return r, nil
}

// userAccess resolves the standing of userID in the account now, as if it
// acted: nil when it has no membership there or its membership does not
// hold (R-CHECK-1). "operator" holds everything.
func (t *txn) userAccess(accountID, userID string) (*access, error) {
	if userID == "operator" {
		return &access{actor: &Actor{Operator: true}, held: t.s.Catalogue.All()}, nil
	}
	u, err := t.FindUserByID(t.ctx, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	ev, err := t.s.evaluate(t.ctx, t, m, t.now)
	if err != nil || !ev.holds {
		return nil, err
	}
	return &access{actor: &Actor{UserID: userID}, user: u, eval: ev, held: ev.effective}, nil
}

// elevatedUntil returns the earliest end of the elevations active on m at
// t's time, nil when none is.
func (t *txn) elevatedUntil(m *Membership) *time.Time {
	var end *time.Time
	for i := range m.Grants {
		if g := &m.Grants[i]; g.ElevationID != "" && g.HoldsAt(t.now) {
			end = earliest(end, g.EndsAt)
		}
	}
	return end
}

// CreateEligibility makes a member eligible for a role (R-ELEVATE-1): the
// actor manages the member's kind and holds every permission of the role;
// max_minutes is 1 to 480; the user is a member of the account (not a
// delegate, who holds at most its parent's). The approvers and the member
// are mailed. A dry run (R-PREVIEW-1) answers what the member would gain
// while elevated for its maximum, from the activation's own code.
func (s *Service) CreateEligibility(ctx context.Context, accountID string, in NewEligibility) (*Eligibility, int64, error) {
	var out *Eligibility
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if err := checkText("user_id", in.UserID, "role", in.Role); err != nil {
			return err
		}
		m, err := t.FindMembership(t.ctx, accountID, in.UserID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("member", in.UserID) // R-ELEVATE-1: a member of the account
		} else if err != nil {
			return err
		}
		if m.Kind == KindDelegate {
			return Invalid("not_eligible", "A delegate holds at most its parent's permissions and cannot be made eligible.", FieldError{"user_id", "is a delegate"})
		}
		if in.MaxMinutes < 1 || in.MaxMinutes > MaxElevationMinutes { // SPEC §5: at most 8 hours
			return Invalid("invalid_eligibility", "The eligibility is not valid.", FieldError{"max_minutes", fmt.Sprintf("must be 1 to %d", MaxElevationMinutes)})
		}
		r, err := t.couldGrant(by, m, in.Role) // R-ELEVATE-1, R-GRANT-1
		if err != nil {
			return err
		}
		e := &Eligibility{ID: NewID(PrefixEligibility, t.now), AccountID: accountID, UserID: m.UserID, MembershipID: m.ID, Role: r.ID,
			MaxMinutes: in.MaxMinutes, ApprovalRequired: in.ApprovalRequired, GrantedBy: by.granter(), CreatedAt: t.now}
		if err := t.CreateEligibility(t.ctx, e); err != nil {
			if ErrorKind(err) == ECONFLICT {
				return Errorf(ECONFLICT, "eligibility_exists", "The member is already eligible for this role; remove that eligibility first.")
			}
			return err
		}
		t.record(accountID, by, "eligibility.created", "eligibility", e.ID, map[string]any{
			"user_id": e.UserID, "membership_id": m.ID, "role": e.Role, "max_minutes": e.MaxMinutes,
			"approval_required": e.ApprovalRequired, "granted_by": e.GrantedBy, // R-GRANT-4
		})
		if t.dry != nil { // R-PREVIEW-1: what an activation for the maximum would add
			ev := &Elevation{ID: NewID(PrefixElevation, t.now), Minutes: e.MaxMinutes}
			if err := t.startElevation(ev, m, r, by); err != nil && ErrorCode(err) != "membership_ends" {
				return err
			}
		}
		if err := t.mailElevation(accountID, m.UserID, true, "eligibility.created", "Eligibility in %s",
			"%s made %s eligible for the role %s in %s, for up to %d minutes at a time%s.\n",
			by.displayName(), t.userLabel(m.UserID), roleLabel(r), "%acc", e.MaxMinutes, approvalNote(e.ApprovalRequired)); err != nil {
			return err
		}
		out = e
		t.answer(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

func approvalNote(required bool) string {
	if required {
		return ", each activation approved by another member who could grant it"
	}
	return ""
}

func roleLabel(r *Role) string {
	if r.Name != "" && r.Name != r.ID {
		return fmt.Sprintf("%q (%s)", r.Name, r.ID)
	}
	return r.ID
}

// userLabel names a user in mail: name and email, or its id if gone.
func (t *txn) userLabel(id string) string {
	u, err := t.FindUserByID(t.ctx, id)
	if err != nil {
		return id
	}
	return fmt.Sprintf("%s (%s)", u.Name, u.Email)
}

// mayManageElevations reports whether the actor sees and manages every
// eligibility and elevation of the account: a holder of
// account.users.manage (partner memberships also need
// account.partners.manage, checked per membership).
func (a *access) mayManageElevations() bool { return a.holds(PermUsersManage) }

// seesElevationsOf reports whether the actor may see a member's
// eligibilities and elevations: an admin who manages them, or the member
// itself. To anyone else they look unknown.
func (a *access) seesElevationsOf(userID string) bool {
	return a.mayManageElevations() || (a.user != nil && a.user.ID == userID)
}

// FindEligibilities lists the account's eligibilities: all of them to a
// holder of account.users.manage, a member's own to the member.
func (s *Service) FindEligibilities(ctx context.Context, f EligibilityFilter) ([]*Eligibility, string, error) {
	by, err := s.accessTo(ctx, s.Store, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	if err := checkText("user_id", f.UserID); err != nil {
		return nil, "", err
	}
	if !by.mayManageElevations() {
		if f.All || by.user == nil || (f.UserID != "" && f.UserID != by.user.ID) {
			return nil, "", by.require(PermUsersManage)
		}
		f.UserID = by.user.ID
	}
	f.Page = f.Page.Normalize()
	return s.Store.FindEligibilities(ctx, f)
}

// FindEligibility returns one eligibility to a holder of
// account.users.manage and to its member; to anyone else it is unknown.
func (s *Service) FindEligibility(ctx context.Context, accountID, id string) (*Eligibility, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := checkText("eligibility", id); err != nil {
		return nil, err
	}
	e, err := s.Store.FindEligibility(ctx, accountID, id)
	if err != nil {
		return nil, err
	}
	if !by.seesElevationsOf(e.UserID) {
		return nil, NotFound("eligibility", id) // another member's: as unknown
	}
	return e, nil
}

// FindElevation returns one elevation, as it stands now, to a holder of
// account.users.manage and to its member; to anyone else it is unknown.
func (s *Service) FindElevation(ctx context.Context, accountID, id string) (*Elevation, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := checkText("elevation", id); err != nil {
		return nil, err
	}
	e, err := s.Store.FindElevation(ctx, accountID, id)
	if err != nil {
		return nil, err
	}
	if !by.seesElevationsOf(e.UserID) {
		return nil, NotFound("elevation", id) // another member's: as unknown
	}
	s.presentElevation(e, s.now())
	return e, nil
}

// DeleteEligibility removes an eligibility; its pending and active
// elevations end with it. The actor manages the member's kind.
func (s *Service) DeleteEligibility(ctx context.Context, accountID, id string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if err := checkText("eligibility", id); err != nil {
			return err
		}
		e, err := t.FindEligibility(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		kind := KindInternal
		if m, err := t.FindMembershipByID(t.ctx, accountID, e.MembershipID); err == nil {
			kind = m.Kind
		} else if ErrorKind(err) != ENOTFOUND {
			return err
		}
		if !by.seesElevationsOf(e.UserID) {
			return NotFound("eligibility", id) // another member's: as unknown
		}
		if err := by.require(elevationManagers(kind)...); err != nil {
			return err
		}
		return t.removeEligibility(by, e, "eligibility.deleted", EndedEligibilityRemoved)
	})
}

// removeEligibility ends the eligibility's open elevations and deletes it.
func (t *txn) removeEligibility(by *access, e *Eligibility, action, reason string) error {
	if err := t.endOpenElevations(by, ElevationFilter{AccountID: e.AccountID, EligibilityID: e.ID}, reason); err != nil {
		return err
	}
	if err := t.Store.DeleteEligibility(t.ctx, e.AccountID, e.ID); err != nil {
		return err
	}
	t.record(e.AccountID, by, action, "eligibility", e.ID, map[string]any{"user_id": e.UserID, "membership_id": e.MembershipID, "role": e.Role, "reason": reason})
	return t.mailElevation(e.AccountID, e.UserID, true, action, "Eligibility removed in %s",
		"%s can no longer activate the role %s in %s (%s).\n", t.userLabel(e.UserID), e.Role, "%acc", strings.ReplaceAll(reason, "_", " "))
}

// endOpenElevations ends every pending or active elevation f selects.
func (t *txn) endOpenElevations(by *access, f ElevationFilter, reason string) error {
	f.Open = true
	for page := (Page{Limit: MaxPageLimit}); ; {
		f.Page = page
		es, next, err := t.FindElevations(t.ctx, f)
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := t.endElevation(by, e, reason); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// RequestElevation activates the actor's eligibility for a role
// (R-ELEVATE-2): only the eligible member, for at most the eligibility's
// max_minutes, with a reason. Without approval it starts at once; with
// approval it is pending until another member who could have granted the
// eligibility approves it, or for 7 days. The approvers are mailed.
func (s *Service) RequestElevation(ctx context.Context, accountID string, in NewElevation) (*Elevation, int64, error) {
	var out *Elevation
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if err := checkText("role", in.Role, "reason", in.Reason); err != nil {
			return err
		}
		m := by.membership()
		if m == nil {
			return Errorf(EFORBIDDEN, "not_eligible", "Only the eligible member activates an elevation; act as that member.")
		}
		var bad []FieldError
		reason := strings.TrimSpace(in.Reason)
		if reason == "" || len(reason) > 1000 {
			bad = append(bad, FieldError{"reason", "must be 1 to 1000 characters"})
		}
		if in.Minutes < 1 {
			bad = append(bad, FieldError{"minutes", "must be at least 1"})
		}
		if in.Role == "" {
			bad = append(bad, FieldError{"role", "name the role to activate"})
		}
		if len(bad) > 0 {
			return Invalid("invalid_elevation", "The elevation is not valid.", bad...)
		}
		elig, err := t.eligibilityOf(m, in.Role)
		if err != nil {
			return err
		}
		if elig == nil { // R-ELEVATE-2: only the eligible member
			return Errorf(EFORBIDDEN, "not_eligible", "You are not eligible for the role %s in this account.", quote(in.Role))
		}
		if in.Minutes > elig.MaxMinutes {
			return Invalid("elevation_too_long", "The elevation is longer than the eligibility allows.",
				FieldError{"minutes", fmt.Sprintf("must be at most %d", elig.MaxMinutes)})
		}
		if err := t.noOpenElevation(elig); err != nil {
			return err
		}
		// The eligibility is only as good as its granter: one who no longer
		// could grant it lets nobody activate it (docs/DECISIONS.md).
		granter, err := t.userAccess(accountID, elig.GrantedBy)
		if err != nil {
			return err
		}
		var r *Role
		if granter != nil {
			if r, err = t.couldGrant(granter, m, elig.Role); err != nil && ErrorKind(err) != EFORBIDDEN && ErrorKind(err) != EINVALID {
				return err
			}
		}
		if granter == nil || r == nil {
			return Errorf(ECONFLICT, "eligibility_void", "Whoever made you eligible can no longer grant this role; ask for a new eligibility.")
		}
		e := &Elevation{ID: NewID(PrefixElevation, t.now), AccountID: accountID, UserID: m.UserID, MembershipID: m.ID, EligibilityID: elig.ID,
			Role: elig.Role, Minutes: in.Minutes, Reason: reason, Permissions: []string{}, CreatedAt: t.now, UpdatedAt: t.now}
		if elig.ApprovalRequired {
			exp := t.now.Add(ElevationRequestTTL)
			e.Status, e.ExpiresAt = ElevationPending, &exp
			if err := t.CreateElevation(t.ctx, e); err != nil {
				return err
			}
			t.record(accountID, by, "elevation.requested", "elevation", e.ID, map[string]any{
				"user_id": e.UserID, "membership_id": m.ID, "role": e.Role, "minutes": e.Minutes, "reason": reason, "expires_at": exp,
			})
			if err := t.mailElevation(accountID, m.UserID, false, "elevation.requested", "Elevation request in %s",
				"%s asks to hold the role %s in %s for %d minutes.\n\nReason: %s\n\nAnother member who could grant the role can approve it until %s:\n%s\n",
				t.userLabel(m.UserID), e.Role, "%acc", e.Minutes, reason, exp.Format(time.RFC1123), t.s.elevationURL(e)); err != nil {
				return err
			}
		} else {
			if err := t.startElevation(e, m, r, granter); err != nil {
				return err
			}
			if err := t.CreateElevation(t.ctx, e); err != nil {
				return err
			}
			t.record(accountID, by, "elevation.activated", "elevation", e.ID, map[string]any{
				"user_id": e.UserID, "membership_id": m.ID, "role": e.Role, "permissions": e.Permissions, "reason": reason,
				"starts_at": e.StartsAt, "ends_at": e.EndsAt, "granted_by": elig.GrantedBy,
			})
			if err := t.mailElevation(accountID, m.UserID, false, "elevation.activated", "Elevation in %s",
				"%s holds the role %s in %s from %s until %s.\n\nReason: %s\n\nThe member or an admin can end it early:\n%s\n",
				t.userLabel(m.UserID), e.Role, "%acc", e.StartsAt.Format(time.RFC1123), e.EndsAt.Format(time.RFC1123), reason, t.s.elevationURL(e)); err != nil {
				return err
			}
		}
		out = e
		t.answer(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// eligibilityOf returns m's eligibility for the role, nil if none.
func (t *txn) eligibilityOf(m *Membership, roleID string) (*Eligibility, error) {
	for page := (Page{Limit: MaxPageLimit}); ; {
		es, next, err := t.FindEligibilities(t.ctx, EligibilityFilter{AccountID: m.AccountID, MembershipID: m.ID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Role == roleID {
				return e, nil
			}
		}
		if next == "" {
			return nil, nil
		}
		page.After = next
	}
}

// noOpenElevation refuses a second activation while one of the same
// eligibility is pending or running.
func (t *txn) noOpenElevation(elig *Eligibility) error {
	es, _, err := t.FindElevations(t.ctx, ElevationFilter{AccountID: elig.AccountID, EligibilityID: elig.ID, Open: true, Page: Page{Limit: MaxPageLimit}})
	if err != nil {
		return err
	}
	for _, e := range es {
		t.s.presentElevation(e, t.now)
		if e.Status != ElevationEnded {
			return Errorf(ECONFLICT, "elevation_open", "Elevation %s of this eligibility is %s; end it first.", e.ID, e.Status)
		}
		if err := t.settle(e); err != nil {
			return err
		}
	}
	return nil
}

// settle stores as ended an elevation whose time ran out (or whose request
// expired) before anything recorded it, so that the open ones stay few.
// An end of time records no event (the activation recorded ends_at and
// checks decided it); an expiry records the one the scheduler would have.
func (t *txn) settle(e *Elevation) error {
	if e.Status != ElevationEnded || e.EndedAt != nil {
		return nil
	}
	end := e.EndsAt
	if end == nil {
		end = e.ExpiresAt
	}
	e.EndedAt, e.UpdatedAt = end, t.now
	if err := t.UpdateElevation(t.ctx, e); err != nil {
		return err
	}
	if e.EndReason == EndedExpired { // as the scheduler would have recorded it
		t.record(e.AccountID, nil, "elevation.expired", "elevation", e.ID,
			map[string]any{"user_id": e.UserID, "role": e.Role, "expires_at": e.ExpiresAt, "reason": "unanswered for 7 days"})
	}
	return nil
}

// startElevation makes e active on m from now: the membership gains a grant
// of the role's permissions (for an outsider, less the account's
// never-delegable ones, R-GUARD-3, which the check also takes out when the
// policy changes later) from now until the asked minutes have passed, but
// never past the membership's own end nor past the end of the access of
// whoever gives it (R-GRANT-5): the granter, or the approver.
func (t *txn) startElevation(e *Elevation, m *Membership, r *Role, giver *access) error {
	perms := r.Permissions
	if Outsider(m.Kind) {
		p, err := t.FindPolicy(t.ctx, m.AccountID)
		if err != nil {
			return err
		}
		perms = Minus(perms, p.NeverDelegable) // R-GUARD-3
	}
	if m.Kind != KindInternal {
		perms = withoutPartnerConsole(perms) // R-PARTNER-1
	}
	perms = Intersect(perms, giver.held) // R-GRANT-1: never more than the giver holds
	end := t.now.Add(time.Duration(e.Minutes) * time.Minute)
	mEnd, err := t.endOf(m)
	if err != nil {
		return err
	}
	gEnd, err := t.grantEnd(giver)
	if err != nil {
		return err
	}
	until := earliest(earliest(&end, mEnd), gEnd) // R-GRANT-5
	if !until.After(t.now) {
		return Errorf(ECONFLICT, "membership_ends", "The membership's access, or its granter's, ends now; nothing can be activated.")
	}
	start := t.now
	e.Status, e.StartsAt, e.EndsAt, e.ExpiresAt, e.Permissions, e.UpdatedAt = ElevationActive, &start, until, nil, sortedSet(perms), t.now
	// Grants of elevations that have run out go, so the membership stays small.
	m.Grants = slices.DeleteFunc(m.Grants, func(g Grant) bool { return g.ElevationID != "" && g.EndsAt != nil && !t.now.Before(*g.EndsAt) })
	m.Grants = append(m.Grants, Grant{Permissions: e.Permissions, GrantedBy: giver.granter(), StartsAt: &start, EndsAt: until, ElevationID: e.ID, CreatedAt: t.now})
	m.UpdatedAt = t.now
	return t.UpdateMembership(t.ctx, m)
}

func (s *Service) elevationURL(e *Elevation) string {
	return strings.TrimSuffix(s.BaseURL, "/") + "/v1/accounts/" + e.AccountID + "/elevations?user_id=" + e.UserID
}

// ApproveElevation approves a pending elevation (R-ELEVATE-2): the approver
// is another member than the requester and could have granted the
// eligibility (R-ELEVATE-1). The elevation starts now, for the minutes
// asked, within the approver's own time (R-GRANT-5).
func (s *Service) ApproveElevation(ctx context.Context, accountID, id string) (*Elevation, int64, error) {
	var out *Elevation
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		e, m, err := t.elevationFor(by, accountID, id)
		if err != nil {
			return err
		}
		if by.user != nil && by.user.ID == e.UserID { // R-ELEVATE-2: another member approves
			return Errorf(EFORBIDDEN, "own_elevation", "An elevation is approved by another member than the one it elevates.")
		}
		if m == nil {
			return Errorf(ECONFLICT, "membership_gone", "The membership this elevation was for no longer exists.")
		}
		r, err := t.couldGrant(by, m, e.Role) // R-ELEVATE-2: one who could have granted it
		if err != nil {
			return err
		}
		s.presentElevation(e, t.now)
		switch {
		case e.Status == ElevationPending:
		case e.EndReason == EndedExpired:
			return Errorf(EGONE, "elevation_expired", "The elevation request expired unanswered; ask again.")
		default:
			return Errorf(ECONFLICT, "elevation_not_pending", "The elevation is already %s.", e.Status)
		}
		if _, err := t.FindEligibility(t.ctx, accountID, e.EligibilityID); ErrorKind(err) == ENOTFOUND {
			return Errorf(ECONFLICT, "eligibility_gone", "The eligibility of this elevation was removed.")
		} else if err != nil {
			return err
		}
		if err := t.startElevation(e, m, r, by); err != nil {
			return err
		}
		e.ApprovedBy, e.ApprovedAt = by.granter(), e.StartsAt
		if err := t.UpdateElevation(t.ctx, e); err != nil {
			return err
		}
		t.record(accountID, by, "elevation.approved", "elevation", e.ID, map[string]any{
			"user_id": e.UserID, "membership_id": m.ID, "role": e.Role, "permissions": e.Permissions,
			"starts_at": e.StartsAt, "ends_at": e.EndsAt, "granted_by": e.ApprovedBy, // R-GRANT-4
		})
		if err := t.mailElevation(accountID, e.UserID, true, "elevation.approved", "Elevation approved in %s",
			"%s approved the elevation of %s to the role %s in %s: it holds from %s until %s.\n",
			by.displayName(), t.userLabel(e.UserID), e.Role, "%acc", e.StartsAt.Format(time.RFC1123), e.EndsAt.Format(time.RFC1123)); err != nil {
			return err
		}
		out = e
		t.answer(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// elevationFor loads an elevation the actor may see, and its membership
// (nil when it is gone). Another member's elevation is unknown to a member
// who does not manage them.
func (t *txn) elevationFor(by *access, accountID, id string) (*Elevation, *Membership, error) {
	if err := checkText("elevation", id); err != nil {
		return nil, nil, err
	}
	e, err := t.FindElevation(t.ctx, accountID, id)
	if err != nil {
		return nil, nil, err
	}
	if !by.seesElevationsOf(e.UserID) {
		return nil, nil, NotFound("elevation", id)
	}
	m, err := t.FindMembershipByID(t.ctx, accountID, e.MembershipID)
	if ErrorKind(err) == ENOTFOUND {
		return e, nil, nil
	}
	return e, m, err
}

// EndElevation ends a pending or active elevation early (R-ELEVATE-2): the
// member itself, or an admin who manages the member's kind.
func (s *Service) EndElevation(ctx context.Context, accountID, id string) (*Elevation, int64, error) {
	var out *Elevation
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		e, m, err := t.elevationFor(by, accountID, id)
		if err != nil {
			return err
		}
		if by.user == nil || by.user.ID != e.UserID {
			kind := KindInternal
			if m != nil {
				kind = m.Kind
			}
			if err := by.require(elevationManagers(kind)...); err != nil {
				return err
			}
		}
		s.presentElevation(e, t.now)
		if e.Status == ElevationEnded {
			return Errorf(ECONFLICT, "elevation_ended", "The elevation has ended already (%s).", e.EndReason)
		}
		if err := t.endElevation(by, e, EndedEarly); err != nil {
			return err
		}
		out = e
		t.answer(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// endElevation ends e now for reason: its grant leaves the membership, so
// checks from now on deny what it added; it is recorded and mailed.
func (t *txn) endElevation(by *access, e *Elevation, reason string) error {
	t.s.presentElevation(e, t.now)
	if e.Status == ElevationEnded { // ran out or expired before: nothing holds any more
		return t.settle(e)
	}
	m, err := t.FindMembershipByID(t.ctx, e.AccountID, e.MembershipID)
	if err != nil && ErrorKind(err) != ENOTFOUND {
		return err
	}
	if m != nil {
		n := len(m.Grants)
		m.Grants = slices.DeleteFunc(m.Grants, func(g Grant) bool { return g.ElevationID == e.ID })
		if len(m.Grants) != n {
			m.UpdatedAt = t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return err
			}
		}
	}
	if e.Status == ElevationActive && e.EndsAt != nil && e.EndsAt.After(t.now) {
		e.EndsAt = &t.now
	}
	e.Status, e.EndedAt, e.EndReason, e.UpdatedAt = ElevationEnded, &t.now, reason, t.now
	if by != nil {
		e.EndedBy = by.granter()
	}
	if err := t.UpdateElevation(t.ctx, e); err != nil {
		return err
	}
	t.record(e.AccountID, by, "elevation.ended", "elevation", e.ID, map[string]any{
		"user_id": e.UserID, "membership_id": e.MembershipID, "role": e.Role, "ends_at": e.EndsAt, "reason": reason,
	})
	return t.mailElevation(e.AccountID, e.UserID, true, "elevation.ended", "Elevation ended in %s",
		"The elevation of %s to the role %s in %s has ended (%s).\n", t.userLabel(e.UserID), e.Role, "%acc", strings.ReplaceAll(reason, "_", " "))
}

// FindElevations lists the account's elevations, optionally of one status:
// all of them to a holder of account.users.manage, a member's own to the
// member.
func (s *Service) FindElevations(ctx context.Context, f ElevationFilter) ([]*Elevation, string, error) {
	by, err := s.accessTo(ctx, s.Store, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	if err := checkText("user_id", f.UserID); err != nil {
		return nil, "", err
	}
	switch f.Status {
	case "", ElevationPending, ElevationActive, ElevationEnded:
	default:
		return nil, "", Invalid("invalid_status", "Unknown status.", FieldError{"status", "must be pending, active or ended"})
	}
	if !by.mayManageElevations() {
		if f.All || by.user == nil || (f.UserID != "" && f.UserID != by.user.ID) {
			return nil, "", by.require(PermUsersManage)
		}
		f.UserID = by.user.ID
	}
	now := s.now()
	want := f.Status
	f.Status, f.Open, f.Page = "", false, f.Page.Normalize()
	if want != "" && want != ElevationEnded {
		f.Open = true // pending and active are stored so; their times decide
	}
	var out []*Elevation
	for {
		es, next, err := s.Store.FindElevations(ctx, f)
		if err != nil {
			return nil, "", err
		}
		for _, e := range es {
			s.presentElevation(e, now)
			if want == "" || e.Status == want {
				out = append(out, e)
			}
		}
		if next == "" || len(out) > 0 {
			if out == nil {
				out = []*Elevation{}
			}
			return out, next, nil
		}
		f.After = next
	}
}

// presentElevation shows an elevation as it stands at now: an active one
// past its end and a pending one past its expiry have ended, whether or
// not anything has recorded it yet (the check decides at its own time).
func (s *Service) presentElevation(e *Elevation, now time.Time) {
	switch {
	case e.Status == ElevationActive && e.EndsAt != nil && !now.Before(*e.EndsAt):
		e.Status = ElevationEnded
		if e.EndReason == "" {
			e.EndReason = EndedTimeUp
		}
	case e.Status == ElevationPending && e.ExpiresAt != nil && !now.Before(*e.ExpiresAt):
		e.Status = ElevationEnded
		if e.EndReason == "" {
			e.EndReason = EndedExpired
		}
	}
}

// ExpireElevations ends pending elevations unanswered for 7 days, each with
// its audit event and mail; it reads only those that are due.
func (s *Service) ExpireElevations(ctx context.Context) error {
	for {
		due, err := s.Store.FindDueElevations(ctx, s.now(), jobBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		done := 0
		for _, e := range due {
			_, err := s.write(ctx, func(t *txn) error {
				if err := t.LockAccount(t.ctx, e.AccountID); err != nil { // against a concurrent approval
					return err
				}
				cur, err := t.FindElevation(t.ctx, e.AccountID, e.ID)
				if err != nil {
					return err
				}
				if cur.Status != ElevationPending || cur.ExpiresAt == nil || t.now.Before(*cur.ExpiresAt) {
					return errNotDue
				}
				cur.Status, cur.EndedAt, cur.EndReason, cur.UpdatedAt = ElevationEnded, &t.now, EndedExpired, t.now
				if err := t.UpdateElevation(t.ctx, cur); err != nil {
					return err
				}
				t.record(cur.AccountID, nil, "elevation.expired", "elevation", cur.ID,
					jobDetails(map[string]any{"user_id": cur.UserID, "role": cur.Role, "expires_at": cur.ExpiresAt}))
				return t.mailElevation(cur.AccountID, cur.UserID, true, "elevation.expired", "Elevation request expired in %s",
					"Nobody approved the elevation of %s to the role %s in %s within 7 days; it has expired.\n", t.userLabel(cur.UserID), cur.Role, "%acc")
			})
			if err != nil && !errors.Is(err, errNotDue) {
				return err
			}
			done++
		}
		if done == 0 {
			return nil
		}
	}
}

// membershipLeaves keeps eligibilities and elevations consistent when a
// membership is removed: its own eligibilities go and their elevations
// end; so do the eligibilities its user granted in the account, since
// nothing outlives its granter (R-GRANT-5).
func (t *txn) membershipLeaves(accountID, id string) error {
	m, err := t.Store.FindMembershipByID(t.ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	for _, f := range []EligibilityFilter{{AccountID: accountID, MembershipID: m.ID}, {AccountID: accountID, GrantedBy: m.UserID}} {
		for {
			f.Page = Page{Limit: MaxPageLimit}
			es, _, err := t.FindEligibilities(t.ctx, f)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				reason := EndedMembershipRemoved
				if e.MembershipID != m.ID {
					reason = "granter_left"
				}
				if err := t.removeEligibility(nil, e, "eligibility.deleted", reason); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// mailElevation mails a step of an elevation to the account's approvers
// (its active internal super admins) and, when toMember, to the member.
// In format, "%acc" stands for the account's name.
func (t *txn) mailElevation(accountID, memberID string, toMember bool, kind, subject, format string, args ...any) error {
	acc, err := t.FindAccountByID(t.ctx, accountID)
	if err != nil {
		return err
	}
	for i, a := range args {
		if a == "%acc" {
			args[i] = acc.Name
		}
	}
	text := fmt.Sprintf(format, args...)
	subject = fmt.Sprintf(subject, acc.Name)
	sent := map[string]bool{}
	send := func(u *User) error {
		if sent[u.ID] || u.Status != UserActive {
			return nil
		}
		sent[u.ID] = true
		return t.mail(&Message{To: u.Email, Subject: subject, Text: text, AccountID: accountID, Kind: kind})
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Role: RoleSuperAdmin, Kind: KindInternal, Page: page})
		if err != nil {
			return err
		}
		for _, admin := range ms {
			if admin.Status != StatusActive || admin.UserID == memberID {
				continue
			}
			u, err := t.FindUserByID(t.ctx, admin.UserID)
			if ErrorKind(err) == ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			if err := send(u); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	if !toMember {
		return nil
	}
	u, err := t.FindUserByID(t.ctx, memberID)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	return send(u)
}

// clipElevation moves an elevation's end to end, when its grant was
// clipped because its giver's access ends (R-GRANT-5).
func (t *txn) clipElevation(accountID, id string, end time.Time) error {
	e, err := t.FindElevation(t.ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if e.EndsAt != nil && !e.EndsAt.After(end) {
		return nil
	}
	e.EndsAt, e.UpdatedAt = &end, t.now
	return t.UpdateElevation(t.ctx, e)
}
