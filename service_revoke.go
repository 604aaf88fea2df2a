package steward

import (
	"context"
	"slices"
)

// Emergency revocation (SPEC §6).

// Revocation answers R-REVOKE-1: what one action ended.
type Revocation struct {
	AccountID     string              `json:"account_id"`
	HomeAccountID string              `json:"home_account_id"`
	Relationship  *SharedRelationship `json:"relationship,omitempty"`
	Ended         []EndedMembership   `json:"memberships_ended"`
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
		out = &Revocation{AccountID: accountID, HomeAccountID: homeAccountID, Ended: []EndedMembership{}}
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
			return NotFound("account", homeAccountID) // nothing of it here: as unknown
		}
		ids := make([]string, len(out.Ended))
		for i, e := range out.Ended {
			ids[i] = e.MembershipID
		}
		details := map[string]any{"home_account_id": homeAccountID, "memberships_ended": ids}
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
}

// RevokeUser revokes a user everywhere (R-REVOKE-2): a super admin of the
// user's home account, or the operator, deactivates it (which suspends its
// partner access, R-PARTNER-12) and deletes every API token it has, in one
// transaction. The authenticator reads the user and the token on every
// request and the console the user, so neither works from the commit on.
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
		out = &UserRevocation{}
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
		if u.Status == UserDeactivated && out.TokensRevoked == 0 && len(t.events) == 0 {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		t.record(u.HomeAccountID, by, "user.revoked", "user", u.ID, map[string]any{"email": u.Email, "tokens_revoked": out.TokensRevoked})
		out.User = u
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}
