package steward

import (
	"context"
	"slices"
	"strings"
)

// Emergency revocation (SPEC §6).

// Revocation answers R-REVOKE-1: what one action ended.
type Revocation struct {
	AccountID     string              `json:"account_id"`
	HomeAccountID string              `json:"home_account_id"`
	Relationship  *SharedRelationship `json:"relationship,omitempty"`
	Ended         []EndedMembership   `json:"memberships_ended"`
	// Invitations are the pending invitations of the account addressed to
	// users of the home account, revoked with the rest.
	Invitations []string `json:"invitations_revoked"`
}

// EndedMembership is one membership a revocation ended.
type EndedMembership struct {
	MembershipID string         `json:"membership_id"`
	UserID       string         `json:"user_id"`
	Kind         MembershipKind `json:"kind"`
}

// RevokeHomeAccount ends, in one action, every access to accountID held by
// users of homeAccountID (R-REVOKE-1): the partner relationship with it
// (R-PARTNER-11), and its users' partner, external, delegate and
// managed-credit memberships. It needs account.partners.manage and
// account.users.manage. One audit event per membership ended, one for the
// action. A home account with no access here answers as an unknown one.
func (s *Service) RevokeHomeAccount(ctx context.Context, accountID, homeAccountID string) (*Revocation, int64, error) {
	var out *Revocation
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermPartnersManage, PermUsersManage)
		if err != nil {
			return err
		}
		if err := checkText("home_account_id", homeAccountID); err != nil {
			return err
		}
		switch {
		case homeAccountID == "":
			return Invalid("invalid_revocation", "Name the home account whose users lose access.", FieldError{"home_account_id", "is required"})
		case homeAccountID == accountID:
			return Invalid("invalid_revocation", "An account does not revoke its own users this way; deactivate or remove them.",
				FieldError{"home_account_id", "is this account itself"})
		case by.user != nil && by.user.HomeAccountID == homeAccountID:
			return Invalid("own_home_account", "You cannot revoke your own home account's access: it would end yours.",
				FieldError{"home_account_id", "is your own home account"})
		}
		out = &Revocation{AccountID: accountID, HomeAccountID: homeAccountID, Ended: []EndedMembership{}, Invitations: []string{}}
		// The partner relationship first, so that the memberships leaving
		// below do not make it "ending" instead (R-PARTNER-11).
		rel, err := t.FindRelationship(t.ctx, homeAccountID, accountID)
		if err != nil && ErrorKind(err) != ENOTFOUND {
			return err
		}
		if rel != nil && rel.At(t.now).Status != RelationshipEnded {
			rel.Status, rel.EndedAt, rel.EndsAt, rel.UpdatedAt = RelationshipEnded, &t.now, nil, t.now
			if err := t.UpdateRelationship(t.ctx, rel); err != nil {
				return err
			}
			if err := t.dropManagementCredit(by, homeAccountID, accountID); err != nil {
				return err
			}
			out.Relationship = rel.Shared(t.now)
		}
		ms, err := t.allMemberships(MembershipFilter{AccountID: accountID})
		if err != nil {
			return err
		}
		// Parents before delegates: a delegate goes with its parent.
		slices.SortStableFunc(ms, func(a, b *Membership) int {
			return boolCmp(a.Kind == KindDelegate, b.Kind == KindDelegate)
		})
		gone := map[string]bool{}
		for _, m := range ms {
			if gone[m.ID] || gone[m.ParentID] {
				gone[m.ID] = true
				continue
			}
			u, err := t.FindUserByID(t.ctx, m.UserID)
			if err != nil {
				return err
			}
			if u.HomeAccountID != homeAccountID || m.Kind == KindInternal {
				continue
			}
			if m.Role == RoleSuperAdmin {
				// R-SUPER-2: removing a super admin needs the permission to
				// manage them, whichever action removes it.
				if err := by.require(PermSuperAdminsManage); err != nil {
					return err
				}
			}
			if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
				return err
			}
			if err := t.removeMembership(by, m, "member.revoked"); err != nil {
				return err
			}
			gone[m.ID] = true
			out.Ended = append(out.Ended, EndedMembership{MembershipID: m.ID, UserID: m.UserID, Kind: m.Kind})
		}
		if out.Relationship == nil && len(out.Ended) == 0 {
			// Nothing of it here: as unknown. Its pending invitations alone
			// do not count, else the answer would tell whose users the
			// invitees are.
			return NotFound("account", homeAccountID)
		}
		// R-REVOKE-1: a pending invitation to one of its users would let the
		// user back in on acceptance; so would one to an address of its
		// verified domains that is no user yet (such an address becomes a
		// user of that account only, SPEC §4 "Verified domains").
		if err := t.revokeInvitationsToHome(by, accountID, homeAccountID, out); err != nil {
			return err
		}
		ids := make([]string, len(out.Ended))
		for i, e := range out.Ended {
			ids[i] = e.MembershipID
		}
		details := map[string]any{"home_account_id": homeAccountID, "memberships_ended": ids, "invitations_revoked": out.Invitations}
		if out.Relationship != nil {
			details["relationship_id"] = out.Relationship.ID
			t.record(homeAccountID, by.asUser(), "relationship.ended", "relationship", out.Relationship.ID,
				map[string]any{"partner_id": homeAccountID, "client_id": accountID, "reason": "revocation"})
		}
		t.record(accountID, by, "access.revoked", "account", accountID, details)
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// revokeInvitationsToHome revokes the account's pending invitations
// addressed to users of home, or to addresses of home's verified domains
// that are no user yet (R-REVOKE-1).
func (t *txn) revokeInvitationsToHome(by *access, accountID, homeAccountID string, out *Revocation) error {
	home, err := t.FindAccountByID(t.ctx, homeAccountID)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	var invs []*Invitation
	for page := (Page{Limit: MaxPageLimit}); ; {
		batch, next, err := t.FindInvitations(t.ctx, InvitationFilter{AccountID: accountID, Status: InvitationPending, Page: page})
		if err != nil {
			return err
		}
		invs = append(invs, batch...)
		if next == "" {
			break
		}
		page.After = next
	}
	for _, inv := range invs {
		if inv.ExpiredAt(t.now) {
			continue
		}
		u, err := t.FindUserByEmail(t.ctx, inv.Email)
		switch {
		case err == nil:
			if u.HomeAccountID != homeAccountID {
				continue
			}
		case ErrorKind(err) == ENOTFOUND:
			_, domain, _ := strings.Cut(inv.Email, "@")
			if !slices.Contains(home.VerifiedDomains, strings.ToLower(domain)) {
				continue
			}
		default:
			return err
		}
		if err := t.resolveInvitation(by, inv, InvitationRevoked, "invitation.revoked", map[string]any{"email": inv.Email, "reason": "home_account_revoked", "home_account_id": homeAccountID}); err != nil {
			return err
		}
		out.Invitations = append(out.Invitations, inv.ID)
	}
	return nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// UserRevocation answers R-REVOKE-2.
type UserRevocation struct {
	User          *User `json:"user"`
	TokensRevoked int   `json:"tokens_revoked"`
	// SessionsEnded counts the console sessions deleted.
	SessionsEnded int `json:"sessions_ended"`
	// Invitations are the pending invitations, of any account, addressed to
	// the user or sent by it, revoked with it.
	Invitations []string `json:"invitations_revoked"`
}

// RevokeUser revokes a user everywhere (R-REVOKE-2): a super admin of the
// user's home account, or the operator, deactivates it (which suspends its
// partner access, R-PARTNER-12), deletes every API token, console session
// and single sign-on binding it has, and revokes the pending invitations addressed to it or
// sent by it, in one transaction. The authenticator reads the user and the
// token on every request and the console the user and the session, so
// neither works from the commit on, on any node.
func (s *Service) RevokeUser(ctx context.Context, userID string) (*UserRevocation, int64, error) {
	var out *UserRevocation
	rev, err := s.write(ctx, func(t *txn) error {
		if err := checkText("user", userID); err != nil {
			return err
		}
		u, err := t.FindUserByID(t.ctx, userID)
		if err != nil {
			return err
		}
		by, err := t.lockedActor(u.HomeAccountID)
		if ErrorKind(err) == ENOTFOUND || ErrorKind(err) == EFORBIDDEN && by == nil {
			return NotFound("user", userID) // not its home's member: as unknown
		} else if err != nil {
			return err
		}
		if by.user != nil && (by.membership() == nil || by.membership().Role != RoleSuperAdmin) {
			if by.holds(PermUsersManage) {
				return Errorf(EFORBIDDEN, "super_admin_required", "Only a super admin of the user's home account, or the operator, revokes a user.")
			}
			return NotFound("user", userID)
		}
		// The accounts of its pending invitations are locked, in id order
		// after the home, against a concurrent acceptance.
		invs, err := t.FindPendingInvitationsOf(t.ctx, u.Email, u.ID)
		if err != nil {
			return err
		}
		var locks []string
		for _, inv := range invs {
			if inv.AccountID != u.HomeAccountID {
				locks = append(locks, inv.AccountID)
			}
		}
		slices.Sort(locks)
		for _, id := range slices.Compact(locks) {
			if err := t.LockAccount(t.ctx, id); err != nil {
				return err
			}
		}
		out = &UserRevocation{Invitations: []string{}}
		if u.Status == UserActive {
			if err := t.setUserStatus(by, u, StatusDeactivated); err != nil {
				return err
			}
		}
		for {
			toks, _, err := t.FindTokens(t.ctx, u.ID, Page{Limit: MaxPageLimit})
			if err != nil {
				return err
			}
			for _, tok := range toks {
				if err := t.DeleteToken(t.ctx, tok.ID); err != nil {
					return err
				}
				out.TokensRevoked++
			}
			if len(toks) < MaxPageLimit {
				break
			}
		}
		if out.SessionsEnded, err = t.DeleteUserSessions(t.ctx, u.ID); err != nil {
			return err
		}
		// Its single sign-on bindings go too: the provider's account that
		// signs in as it next, once it is reactivated, binds afresh.
		unbound, err := t.DeleteUserIdentities(t.ctx, u.ID)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			cur, err := t.FindInvitationByID(t.ctx, inv.AccountID, inv.ID) // re-read under the lock
			if err != nil {
				return err
			}
			if cur.Status != InvitationPending || cur.ExpiredAt(t.now) {
				continue
			}
			reason := "invitee_revoked"
			if cur.InvitedBy == u.ID {
				reason = "inviter_revoked"
			}
			if err := t.resolveInvitation(by, cur, InvitationRevoked, "invitation.revoked", map[string]any{"email": cur.Email, "reason": reason}); err != nil {
				return err
			}
			out.Invitations = append(out.Invitations, cur.ID)
		}
		if u.Status == UserDeactivated && out.TokensRevoked == 0 && out.SessionsEnded == 0 && unbound == 0 && len(t.events) == 0 {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		t.record(u.HomeAccountID, by, "user.revoked", "user", u.ID, map[string]any{"email": u.Email, "tokens_revoked": out.TokensRevoked,
			"sessions_ended": out.SessionsEnded, "identities_unbound": unbound, "invitations_revoked": out.Invitations})
		out.User = u
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}
