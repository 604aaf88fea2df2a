package steward

import (
	"cmp"
	"context"
	"slices"
)

// NewMember is the input of AddMember: a new internal user of the account.
type NewMember struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
}

// grantableRole resolves roleID in the account and checks that by may put a
// membership of the given kind into it.
func (s *Service) grantableRole(ctx context.Context, st Store, by *access, accountID, roleID string, kind MembershipKind) (*Role, error) {
	r, err := s.findRole(ctx, st, accountID, roleID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, Invalid("unknown_role", "No such role in this account.", FieldError{"role", "no role " + quote(roleID)})
	} else if err != nil {
		return nil, err
	}
	switch r.ID {
	case RoleSuperAdmin:
		// R-SUPER-2: only holders of account.super_admins.manage make super
		// admins; R-GRANT-1: a super admin holds everything, so only someone
		// who holds everything can make one.
		if err := by.require(PermSuperAdminsManage); err != nil {
			return nil, err
		}
		if !by.holdsAll(s.Catalogue) {
			return nil, by.notHeld("role", s.Catalogue.All())
		}
		if kind == KindExternal || kind == KindDelegate {
			return nil, Invalid("role_not_assignable", "External users and delegates cannot be super admins.", FieldError{"role", "super_admin cannot be given to external users"})
		}
	case RolePartnerAdmin:
		if kind != KindPartner {
			return nil, Invalid("role_not_assignable", "Only partner employees can be partner admins.", FieldError{"role", "partner_admin is for partner memberships"})
		}
	}
	return r, nil
}

// findRole returns a built-in or custom role of the account.
func (s *Service) findRole(ctx context.Context, st Store, accountID, id string) (*Role, error) {
	if err := checkText("role", id); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	if r := BuiltinRole(s.Catalogue, accountID, id); r != nil {
		return r, nil
	}
	return st.FindRoleByID(ctx, accountID, id)
}

// countsAsSuperAdmin reports whether m is one of the account's active super
// admins now, the ones R-SUPER-1 counts.
func (t *txn) countsAsSuperAdmin(m *Membership) (bool, error) {
	if m.Role != RoleSuperAdmin || m.Status != StatusActive || m.EndedAt(t.now) {
		return false, nil
	}
	u, err := t.FindUserByID(t.ctx, m.UserID)
	if err != nil {
		return false, err
	}
	return u.Status == UserActive, nil
}

// keepASuperAdmin refuses a change that would take m out of the account's
// active super admins if it is the last one (R-SUPER-1). The account must be
// locked by the transaction, so that two such changes cannot both pass.
func (t *txn) keepASuperAdmin(m *Membership) error {
	counts, err := t.countsAsSuperAdmin(m)
	if err != nil || !counts {
		return err
	}
	n, err := t.CountActiveSuperAdmins(t.ctx, m.AccountID, t.now)
	if err != nil {
		return err
	}
	if n <= 1 {
		return Errorf(ECONFLICT, "last_super_admin", "This is the account's last active super admin; make another member super admin first.")
	}
	return nil
}

// memberFor locks the account, resolves the actor there with the permissions
// it needs and loads the target membership.
func (t *txn) memberFor(accountID, userID string, perms ...string) (*access, *Membership, error) {
	by, err := t.lockedActor(accountID, perms...)
	if err != nil {
		return nil, nil, err
	}
	if err := checkText("user", userID); err != nil { // SPEC §4 "Text"
		return nil, nil, err
	}
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, nil, NotFound("member", userID)
	}
	return by, m, err
}

// AddMember creates an internal user of the account with a role. The user
// gets the role's permissions that the actor holds (R-GRANT-1).
func (s *Service) AddMember(ctx context.Context, accountID string, in NewMember) (*Membership, int64, error) {
	if in.Password != "" {
		// Hashing is costly: only someone who may add members gets it done.
		by, err := s.accessTo(ctx, s.Store, accountID)
		if err != nil {
			return nil, 0, err
		}
		if err := by.require(PermUsersManage); err != nil {
			return nil, 0, err
		}
	}
	hash, err := s.hashPassword(in.Password, "")
	if err != nil {
		return nil, 0, err
	}
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermUsersManage)
		if err != nil {
			return err
		}
		if in.Role == "" {
			return Invalid("invalid_member", "The member is not valid.", FieldError{"role", "is required"})
		}
		_, created, err := t.createUserMember(by, NewUser{Email: in.Email, Name: in.Name, HomeAccountID: accountID, Role: in.Role, Password: in.Password}, hash, "")
		if err != nil {
			return err
		}
		m = t.s.present(t.ctx, t, created)
		t.answer(m)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return m, rev, nil
}

// FindMember returns a membership of the account; any member who holds there may read.
func (s *Service) FindMember(ctx context.Context, accountID, userID string) (*Membership, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, err
	}
	if err := checkText("user", userID); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	m, err := s.Store.FindMembership(ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("member", userID)
	} else if err != nil {
		return nil, err
	}
	return s.present(ctx, s.Store, m), nil
}

// FindMembers pages through the account's memberships.
func (s *Service) FindMembers(ctx context.Context, f MembershipFilter) ([]*Membership, string, error) {
	if _, err := s.accessTo(ctx, s.Store, f.AccountID); err != nil {
		return nil, "", err
	}
	f.Page = f.Page.Normalize()
	ms, next, err := s.Store.FindMemberships(ctx, f)
	if err != nil {
		return nil, "", err
	}
	for i, m := range ms {
		ms[i] = s.present(ctx, s.Store, m)
	}
	return ms, next, nil
}

// present returns m with its effective permissions: everything for a super
// admin, a delegate's capped by its parent's (R-EXT-9).
func (s *Service) present(ctx context.Context, st Store, m *Membership) *Membership {
	never, _ := s.neverDelegable(ctx, st, m.AccountID, m.Kind)
	return s.presentWith(ctx, st, m, never)
}

// presentWith is present with the never-delegable permissions of m's
// account for m's kind already read.
func (s *Service) presentWith(ctx context.Context, st Store, m *Membership, never []string) *Membership {
	out := *m
	// R-GUARD-3: an outsider's never-delegable permissions are not its to
	// use; R-REQUEST-2: grants that hold now are.
	now := s.now()
	out.Permissions = slices.Clone(m.OwnAt(s.Catalogue, never, now))
	for p := m; p.Kind == KindDelegate; {
		parent, err := st.FindMembershipByID(ctx, p.AccountID, p.ParentID)
		if err != nil {
			break
		}
		out.Permissions = Intersect(out.Permissions, parent.OwnAt(s.Catalogue, never, now))
		p = parent
	}
	return &out
}

// ChangeMemberRole applies a role to a member. The result follows R-GRANT-2:
// the actor adds only what it holds and never removes what it does not hold.
// Making or unmaking a super admin needs account.super_admins.manage
// (R-SUPER-2), and the last active super admin stays (R-SUPER-1).
func (s *Service) ChangeMemberRole(ctx context.Context, accountID, userID, roleID string) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, target, err := t.memberFor(accountID, userID, PermUsersManage)
		if err != nil {
			return err
		}
		m, err = t.applyRole(by, target, roleID, "member.role_changed")
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return s.present(ctx, s.Store, m), rev, nil
}

// applyRole puts m into roleID with the R-GRANT-2 arithmetic and records it.
func (t *txn) applyRole(by *access, m *Membership, roleID, action string) (*Membership, error) {
	r, err := t.s.grantableRole(t.ctx, t, by, m.AccountID, roleID, m.Kind)
	if err != nil {
		return nil, err
	}
	if m.Role == RoleSuperAdmin && r.ID != RoleSuperAdmin {
		if err := by.require(PermSuperAdminsManage); err != nil { // R-SUPER-2
			return nil, err
		}
		if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
			return nil, err
		}
	}
	before := m.OwnEffective(t.s.Catalogue)
	offered := r.Permissions
	if Outsider(m.Kind) { // R-GUARD-3: applying a role filters the never-delegable
		p, err := t.FindPolicy(t.ctx, m.AccountID)
		if err != nil {
			return nil, err
		}
		offered = Minus(offered, p.NeverDelegable)
	}
	after := ApplySet(before, offered, by.held) // R-GRANT-2
	t.keptNotHeld(m, before, offered, by.held)  // R-PREVIEW-1
	from := m.Role
	if from == r.ID && slices.Equal(m.Permissions, after) {
		return m, errUnchanged // SPEC §4 "No-op writes": the same role again changes nothing
	}
	if len(Minus(after, before)) > 0 {
		// R-GRANT-5: an actor whose access ends cannot add to access that
		// lasts longer. Only a change that adds is a grant and records its
		// granter (R-GRANT-4), so a narrowing does not tie the member's end
		// to the one who narrowed it.
		if err := t.mayWiden(by, m); err != nil {
			return nil, err
		}
		m.GrantedBy = by.granter()
	}
	m.Role, m.Permissions, m.UpdatedAt = r.ID, after, t.now
	if err := t.UpdateMembership(t.ctx, m); err != nil {
		return nil, err
	}
	t.record(m.AccountID, by, action, "membership", m.ID, map[string]any{
		"user_id": m.UserID, "from_role": from, "to_role": r.ID,
		"added": Minus(after, before), "removed": Minus(before, after),
		"not_granted": Minus(r.Permissions, by.held), "granted_by": m.GrantedBy, // R-GRANT-4
	})
	return m, nil
}

// DeactivateMember deactivates a membership. Deactivating a user in its home
// account deactivates the user, which ends its access everywhere.
func (s *Service) DeactivateMember(ctx context.Context, accountID, userID string) (*Membership, int64, error) {
	return s.setMemberStatus(ctx, accountID, userID, StatusDeactivated)
}

// ReactivateMember reactivates a deactivated membership.
func (s *Service) ReactivateMember(ctx context.Context, accountID, userID string) (*Membership, int64, error) {
	return s.setMemberStatus(ctx, accountID, userID, StatusActive)
}

func (s *Service) setMemberStatus(ctx context.Context, accountID, userID string, status MembershipStatus) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, target, err := t.memberFor(accountID, userID, PermUsersManage)
		if err != nil {
			return err
		}
		m = target
		if err := t.changeMemberStatus(by, m, status); err != nil {
			return err
		}
		if m, err = t.FindMembership(t.ctx, accountID, userID); err != nil {
			return err
		}
		m = t.s.present(t.ctx, t, m)
		t.answer(m)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return m, rev, nil
}

// mayChangeStatus refuses an actor who may not move m to status, whichever
// interface it comes through (the members API, SCIM).
func (t *txn) mayChangeStatus(by *access, m *Membership, status MembershipStatus) error {
	if m.Role == RoleSuperAdmin {
		// R-SUPER-2: only holders of account.super_admins.manage deactivate
		// or reactivate super admins, through every interface.
		if err := by.require(PermSuperAdminsManage); err != nil {
			return err
		}
	}
	if status == StatusActive {
		return t.mayWiden(by, m) // R-GRANT-5
	}
	return nil
}

// changeMemberStatus deactivates or reactivates m: the user itself when m is
// its home membership, else the membership. It is the one path by which the
// members API and SCIM change a member's status, so that the rules of
// mayChangeStatus and R-SUPER-1 hold for both.
func (t *txn) changeMemberStatus(by *access, m *Membership, status MembershipStatus) error {
	if err := t.mayChangeStatus(by, m, status); err != nil {
		return err
	}
	u, err := t.FindUserByID(t.ctx, m.UserID)
	if err != nil {
		return err
	}
	if m.Kind == KindInternal && u.HomeAccountID == m.AccountID {
		return t.setUserStatus(by, u, status)
	}
	return t.setStatus(by, m, status)
}

// setStatus moves a membership that is not a home membership between active and deactivated.
func (t *txn) setStatus(by *access, m *Membership, status MembershipStatus) error {
	if m.Status == status {
		return Errorf(ECONFLICT, "already_"+string(status), "The membership is already %s.", status)
	}
	if status != StatusActive {
		if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
			return err
		}
	}
	m.Status, m.UpdatedAt = status, t.now
	if err := t.UpdateMembership(t.ctx, m); err != nil {
		return err
	}
	action := "member.deactivated"
	if status == StatusActive {
		action = "member.reactivated"
	}
	t.record(m.AccountID, by, action, "membership", m.ID, map[string]any{"user_id": m.UserID})
	return nil
}

// setUserStatus deactivates or reactivates a user in its home account. A
// deactivated user holds nowhere (R-CHECK-1), so the user may not be the last
// active super admin of any account (R-SUPER-1). by is the actor's standing in
// the home account.
func (t *txn) setUserStatus(by *access, u *User, status MembershipStatus) error {
	userStatus := UserActive
	if status != StatusActive {
		userStatus = UserDeactivated
	}
	if u.Status == userStatus {
		return Errorf(ECONFLICT, "already_"+string(status), "The user is already %s.", status)
	}
	ms, err := t.FindUserMemberships(t.ctx, u.ID)
	if err != nil {
		return err
	}
	slices.SortFunc(ms, func(a, b *Membership) int { return cmp.Compare(a.AccountID, b.AccountID) })
	for _, m := range ms {
		if status == StatusActive || m.Role != RoleSuperAdmin {
			continue
		}
		// Lock in account order so that concurrent deactivations cannot deadlock.
		if err := t.LockAccount(t.ctx, m.AccountID); err != nil {
			return err
		}
		if err := t.keepASuperAdmin(m); err != nil {
			return err
		}
	}
	u.Status, u.UpdatedAt = userStatus, t.now
	if err := t.UpdateUser(t.ctx, u); err != nil {
		return err
	}
	for _, m := range ms {
		if m.AccountID == u.HomeAccountID && m.Kind == KindInternal {
			m.Status, m.UpdatedAt = status, t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return err
			}
		} else {
			t.touch(m.AccountID, "membership", m.ID)
		}
	}
	if err := t.cascadePartnerAccess(by, u, status, ms); err != nil { // R-PARTNER-12
		return err
	}
	action := "user.deactivated"
	if status == StatusActive {
		action = "user.reactivated"
	}
	t.record(u.HomeAccountID, by, action, "user", u.ID, map[string]any{"email": u.Email})
	return nil
}

// DeactivateUser deactivates a user in its home account. Operator only.
func (s *Service) DeactivateUser(ctx context.Context, userID string) (*User, int64, error) {
	return s.setUserStatusByOperator(ctx, userID, StatusDeactivated)
}

// ReactivateUser reactivates a user in its home account. Operator only.
func (s *Service) ReactivateUser(ctx context.Context, userID string) (*User, int64, error) {
	return s.setUserStatusByOperator(ctx, userID, StatusActive)
}

func (s *Service) setUserStatusByOperator(ctx context.Context, userID string, status MembershipStatus) (*User, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	var u *User
	rev, err := s.write(ctx, func(t *txn) error {
		var err error
		if u, err = t.FindUserByID(t.ctx, userID); err != nil {
			return err
		}
		by, err := t.s.accessTo(t.ctx, t, u.HomeAccountID)
		if err != nil {
			return err
		}
		if err := t.setUserStatus(by, u, status); err != nil {
			return err
		}
		t.answer(u)
		return nil
	})
	return u, rev, err
}

// RemoveMember removes a membership; it lives on in the audit log. The
// member's delegates go with it (R-EXT-9). Removing an internal user from its
// home account deletes the user (SPEC §4 "Removing an internal user"; see
// RemoveMemberWith).
func (s *Service) RemoveMember(ctx context.Context, accountID, userID string) (int64, error) {
	return s.RemoveMemberWith(ctx, accountID, userID, MemberRemoval{})
}

// removeMembership deletes m and, first, the delegates that hang on it.
func (t *txn) removeMembership(by *access, m *Membership, action string) error {
	delegates, _, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: m.AccountID, ParentID: m.ID, Page: Page{Limit: MaxPageLimit}})
	if err != nil {
		return err
	}
	for _, d := range delegates {
		if err := t.removeMembership(by, d, "delegate.removed"); err != nil {
			return err
		}
	}
	if err := t.accessEnded(by, m); err != nil { // R-GRANT-5
		return err
	}
	if err := t.DeleteMembership(t.ctx, m.AccountID, m.ID); err != nil {
		return err
	}
	t.record(m.AccountID, by, action, "membership", m.ID, map[string]any{"user_id": m.UserID, "kind": m.Kind, "role": m.Role})
	if m.Kind == KindPartner { // R-PARTNER-10: the last one leaving makes the relationship ending
		if err := t.partnerMembershipLeft(m); err != nil {
			return err
		}
	}
	return nil
}
