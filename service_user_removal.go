package steward

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// MemberRemoval is the optional input of removing a member: who receives,
// per account, the assets the removed user owns there (as R-PARTNER-8).
type MemberRemoval struct {
	ReassignTo map[string]string `json:"reassign_to,omitempty" doc:"Per account id, the user id of an active member of that account who stays and receives the assets the removed user owns there."`
}

// MemberRemovalPreview shows what removing a member would take away, before
// anything changes. Removing an internal user from its home account deletes
// the user: then it lists every account the user leaves and every account
// where it owns assets (SPEC §4 "Removing an internal user").
type MemberRemovalPreview struct {
	UserID      string `json:"user_id"`
	Email       string `json:"email"`
	Name        string `json:"name"`
	DeletesUser bool   `json:"deletes_user" doc:"The account is the user's home: the removal deletes the user."`
	// Accounts are in account id order.
	Accounts []*AccountLeft `json:"accounts"`
	// InvitationsRevoked counts the pending invitations, sent to the user's
	// email or by the user, that the deletion revokes.
	InvitationsRevoked int `json:"invitations_revoked"`
	// Blocked names the accounts whose last active super admin the user is:
	// the removal is refused while there are any (R-SUPER-1).
	Blocked []string `json:"blocked_by_last_super_admin"`
}

// AccountLeft is one account of a removal preview.
type AccountLeft struct {
	AccountID   string `json:"account_id"`
	AccountName string `json:"account_name"`
	// MembershipID is empty where the user owns assets but holds no membership.
	MembershipID string           `json:"membership_id,omitempty"`
	Kind         MembershipKind   `json:"kind,omitempty"`
	Role         string           `json:"role,omitempty"`
	Status       MembershipStatus `json:"status,omitempty"`
	// Delegates counts the delegates that end with the membership (R-EXT-9).
	Delegates      int      `json:"delegates"`
	LastSuperAdmin bool     `json:"last_super_admin"`
	Assets         []*Asset `json:"assets"`
	// Reassignable says the actor may give the assets to a member there: the
	// operator, or a holder of account.users.manage in that account.
	Reassignable bool `json:"reassignable"`
	// Candidates are active members who stay, that the assets may go to (at
	// most 100); listed only where Reassignable.
	Candidates []Candidate `json:"candidates"`
	membership *Membership
}

// removalPlan gathers what removing the user takes away. With deletes, the
// user leaves every account and loses every asset; otherwise only its
// membership of accountID ends.
func (s *Service) removalPlan(ctx context.Context, st Store, accountID string, u *User, deletes bool) (*MemberRemovalPreview, error) {
	p := &MemberRemovalPreview{UserID: u.ID, Email: u.Email, Name: u.Name, DeletesUser: deletes, Accounts: []*AccountLeft{}, Blocked: []string{}}
	byAccount := map[string]*AccountLeft{}
	left := func(id string) *AccountLeft {
		if a := byAccount[id]; a != nil {
			return a
		}
		a := &AccountLeft{AccountID: id, Assets: []*Asset{}, Candidates: []Candidate{}}
		byAccount[id] = a
		p.Accounts = append(p.Accounts, a)
		return a
	}
	var ms []*Membership
	var assets []*Asset
	if deletes {
		var err error
		if ms, err = st.FindUserMemberships(ctx, u.ID); err != nil {
			return nil, err
		}
		if assets, err = st.FindUserAssets(ctx, u.ID); err != nil {
			return nil, err
		}
		invs, err := st.FindPendingInvitationsOf(ctx, u.Email, u.ID)
		if err != nil {
			return nil, err
		}
		p.InvitationsRevoked = len(invs)
	} else {
		m, err := st.FindMembership(ctx, accountID, u.ID)
		if err != nil {
			return nil, err
		}
		ms = []*Membership{m}
		for page := (Page{Limit: MaxPageLimit}); ; {
			as, next, err := st.FindAssets(ctx, AssetFilter{AccountID: accountID, OwnerUserID: u.ID, Page: page})
			if err != nil {
				return nil, err
			}
			assets = append(assets, as...)
			if next == "" {
				break
			}
			page.After = next
		}
	}
	for _, m := range ms {
		a := left(m.AccountID)
		a.MembershipID, a.Kind, a.Role, a.Status, a.membership = m.ID, m.Kind, m.Role, m.Status, m
		ds, _, err := st.FindMemberships(ctx, MembershipFilter{AccountID: m.AccountID, ParentID: m.ID, Page: Page{Limit: MaxPageLimit}})
		if err != nil {
			return nil, err
		}
		a.Delegates = len(ds)
		if a.LastSuperAdmin, err = s.lastSuperAdmin(ctx, st, m); err != nil {
			return nil, err
		}
		if a.LastSuperAdmin {
			p.Blocked = append(p.Blocked, m.AccountID)
		}
	}
	for _, as := range assets {
		a := left(as.AccountID)
		a.Assets = append(a.Assets, as)
	}
	slices.SortFunc(p.Accounts, func(a, b *AccountLeft) int { return strings.Compare(a.AccountID, b.AccountID) })
	slices.Sort(p.Blocked)
	for _, a := range p.Accounts {
		acc, err := st.FindAccountByID(ctx, a.AccountID)
		if err != nil {
			return nil, err
		}
		a.AccountName = acc.Name
		if a.AccountID == accountID {
			a.Reassignable = true // the actor manages users here
		} else if by, err := s.accessTo(ctx, st, a.AccountID); err == nil {
			a.Reassignable = by.holds(PermUsersManage)
		} else if k := ErrorKind(err); k != ENOTFOUND && k != EFORBIDDEN {
			return nil, err
		}
		if a.Reassignable && len(a.Assets) > 0 {
			if a.Candidates, err = s.candidates(ctx, st, a.AccountID, u.ID); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// lastSuperAdmin reports whether m is the last active super admin of its
// account (R-SUPER-1).
func (s *Service) lastSuperAdmin(ctx context.Context, st Store, m *Membership) (bool, error) {
	if m.Role != RoleSuperAdmin || m.Status != StatusActive || m.EndedAt(s.now()) {
		return false, nil
	}
	u, err := st.FindUserByID(ctx, m.UserID)
	if err != nil || u.Status != UserActive {
		return false, err
	}
	n, err := st.CountActiveSuperAdmins(ctx, m.AccountID, s.now())
	return n <= 1, err
}

// candidates lists up to 100 active members of the account, other than the
// user leaving, that assets may go to.
func (s *Service) candidates(ctx context.Context, st Store, accountID, leaving string) ([]Candidate, error) {
	out := []Candidate{}
	for page := (Page{Limit: MaxPageLimit}); len(out) < 100; {
		ms, next, err := st.FindMemberships(ctx, MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.UserID == leaving || m.Status != StatusActive || m.EndedAt(s.now()) || len(out) == 100 {
				continue
			}
			cu, err := st.FindUserByID(ctx, m.UserID)
			if err != nil {
				return nil, err
			}
			if cu.Status == UserActive {
				out = append(out, Candidate{UserID: cu.ID, Name: cu.Name, Email: cu.Email})
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return out, nil
}

// PreviewMemberRemoval shows what removing the member would take away: per
// account, the membership it leaves and every asset it owns there, who may
// receive them, and whether R-SUPER-1 blocks the removal. In the user's home
// account the removal deletes the user, and the preview spans every account
// (SPEC §4 "Removing an internal user"). It needs account.users.manage in the
// account, or the operator; it changes nothing.
func (s *Service) PreviewMemberRemoval(ctx context.Context, accountID, userID string) (*MemberRemovalPreview, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := by.require(PermUsersManage); err != nil {
		return nil, err
	}
	m, err := s.Store.FindMembership(ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("member", userID)
	} else if err != nil {
		return nil, err
	}
	u, err := s.Store.FindUserByID(ctx, m.UserID)
	if err != nil {
		return nil, err
	}
	return s.removalPlan(ctx, s.Store, accountID, u, isHome(m, u))
}

// isHome reports whether m is the user's membership of its home account.
func isHome(m *Membership, u *User) bool {
	return m.Kind == KindInternal && u.HomeAccountID == m.AccountID
}

// RemoveMemberWith removes a member as RemoveMember does, first giving the
// assets the user owns in each account named by in.ReassignTo to the member
// named there (as R-PARTNER-8). In the user's home account it deletes the
// user (see deleteUser).
func (s *Service) RemoveMemberWith(ctx context.Context, accountID, userID string, in MemberRemoval) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		return t.removeMember(accountID, userID, in, PermUsersManage)
	})
}

// removeMember is RemoveMemberWith for an actor holding perm in the account:
// account.users.manage for the members API, account.scim.provision for SCIM
// (R-RESTRICT-1); every other rule is the same for both.
func (t *txn) removeMember(accountID, userID string, in MemberRemoval, perm string) error {
	{
		by, m, err := t.memberFor(accountID, userID, perm)
		if err != nil {
			return err
		}
		if m.Role == RoleSuperAdmin {
			if err := by.require(PermSuperAdminsManage); err != nil { // R-SUPER-2
				return err
			}
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return err
		}
		home := isHome(m, u)
		if home {
			// Every account the user leaves or owns assets in, and every
			// account with an invitation to revoke, in id order after the
			// home account, so that concurrent removals cannot deadlock
			// beyond what locking the home first allows.
			if err := t.lockAccountsOf(u); err != nil {
				return err
			}
		}
		plan, err := t.s.removalPlan(t.ctx, t, accountID, u, home)
		if err != nil {
			return err
		}
		if err := t.checkReassignment(plan, in.ReassignTo); err != nil {
			return err
		}
		for _, a := range plan.Accounts {
			if a.membership == nil || a.membership.Role != RoleSuperAdmin {
				continue
			}
			if err := t.keepASuperAdmin(a.membership); err != nil { // R-SUPER-1, in every account it leaves
				if ErrorCode(err) == "last_super_admin" && home {
					return &Error{Kind: ECONFLICT, Code: "last_super_admin",
						Message: fmt.Sprintf("The user is the last active super admin of account %s; make another member super admin there first.", a.AccountID)}
				}
				return err
			}
		}
		reassigned := 0
		for _, a := range plan.Accounts {
			to := in.ReassignTo[a.AccountID]
			if to == "" || len(a.Assets) == 0 {
				continue
			}
			n, err := t.ReassignAssets(t.ctx, a.AccountID, u.ID, to, t.now)
			if err != nil {
				return err
			}
			keys := make([]string, len(a.Assets))
			for i, as := range a.Assets {
				keys[i] = as.Type + "/" + as.ID
			}
			t.record(a.AccountID, by, "asset.reassigned", "user", u.ID, map[string]any{"from": u.ID, "to": to, "count": n, "assets": keys})
			reassigned += n
		}
		if !home {
			return t.removeMembership(by, m, "member.removed")
		}
		return t.deleteUser(by, u, plan, reassigned)
	}
}

// lockAccountsOf locks, in id order, every account a user to be deleted is
// a member of, owns assets in, or has pending invitations in.
func (t *txn) lockAccountsOf(u *User) error {
	var ids []string
	ms, err := t.FindUserMemberships(t.ctx, u.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		ids = append(ids, m.AccountID)
	}
	assets, err := t.FindUserAssets(t.ctx, u.ID)
	if err != nil {
		return err
	}
	for _, a := range assets {
		ids = append(ids, a.AccountID)
	}
	invs, err := t.FindPendingInvitationsOf(t.ctx, u.Email, u.ID)
	if err != nil {
		return err
	}
	for _, inv := range invs {
		ids = append(ids, inv.AccountID)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if id == u.HomeAccountID {
			continue // locked already
		}
		if err := t.LockAccount(t.ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// checkReassignment validates reassign_to against a removal plan: each
// account must be one of the plan's where the actor may reassign, and each
// receiver an active member there who stays. Accounts the actor cannot see
// get the same answer as accounts that do not exist.
func (t *txn) checkReassignment(plan *MemberRemovalPreview, to map[string]string) error {
	var bad []FieldError
	for _, acc := range reassignOrder(to) {
		field := "reassign_to." + acc
		i := slices.IndexFunc(plan.Accounts, func(a *AccountLeft) bool { return a.AccountID == acc })
		if i < 0 || !plan.Accounts[i].Reassignable {
			bad = append(bad, FieldError{field, "is not an account of this removal where you may reassign assets"})
			continue
		}
		ok, err := t.activeMember(acc, to[acc])
		if err != nil {
			return err
		}
		if !ok || to[acc] == plan.UserID {
			bad = append(bad, FieldError{field, quote(to[acc]) + " is not an active member of this account who stays"})
		}
	}
	if len(bad) > 0 {
		return Invalid("invalid_reassignment", "Assets can go only to an active member of the same account; nothing was changed.", bad...)
	}
	return nil
}

// deleteUser deletes a user removed from its home account (SPEC §4
// "Removing an internal user"), in the caller's transaction: every
// membership it holds anywhere ends, its delegates with it (R-EXT-9), and the
// audit log of every account it leaves records user.deleted; the pending
// invitations sent to its email or by it are revoked; the store then forgets
// the user and its API tokens, so that its tokens and console sessions stop
// working and its email can be used again. R-SUPER-1 and the reassignment
// were checked on plan already.
func (t *txn) deleteUser(by *access, u *User, plan *MemberRemovalPreview, reassigned int) error {
	invs, err := t.FindPendingInvitationsOf(t.ctx, u.Email, u.ID)
	if err != nil {
		return err
	}
	left := 0
	for _, a := range plan.Accounts {
		if a.membership != nil {
			left++
		}
	}
	for _, a := range plan.Accounts {
		m := a.membership
		if m == nil {
			continue
		}
		delegates, _, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: m.AccountID, ParentID: m.ID, Page: Page{Limit: MaxPageLimit}})
		if err != nil {
			return err
		}
		for _, d := range delegates {
			if err := t.removeMembership(by, d, "delegate.removed"); err != nil {
				return err
			}
		}
		if err := t.DeleteSuspension(t.ctx, m.ID); err != nil {
			return err
		}
		if err := t.DeleteMembership(t.ctx, m.AccountID, m.ID); err != nil {
			return err
		}
		details := map[string]any{"email": u.Email, "name": u.Name, "home_account_id": u.HomeAccountID,
			"membership_id": m.ID, "kind": m.Kind, "role": m.Role, "delegates_removed": len(delegates)}
		if m.AccountID == u.HomeAccountID {
			details["accounts_left"], details["assets_reassigned"], details["invitations_revoked"] = left, reassigned, len(invs)
		}
		t.record(m.AccountID, by, "user.deleted", "user", u.ID, details)
		if m.Kind == KindPartner { // R-PARTNER-10: the last one leaving makes the relationship ending
			if err := t.partnerMembershipLeft(m); err != nil {
				return err
			}
		}
	}
	for _, inv := range invs {
		reason := "invitee_deleted"
		if inv.InvitedBy == u.ID {
			reason = "inviter_deleted"
		}
		if err := t.resolveInvitation(by, inv, InvitationRevoked, "invitation.revoked", map[string]any{"email": inv.Email, "reason": reason}); err != nil {
			return err
		}
	}
	return t.DeleteUser(t.ctx, u.ID, t.now)
}
