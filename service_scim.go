package steward

import (
	"context"
)

// SCIM provisioning (SCIM 2.0 Users, RFC 7643/7644) creates, lists,
// deactivates and reactivates the internal users of an account. Every call
// needs account.scim.provision there, which partner admins never hold
// (R-RESTRICT-1, R-PARTNER-1). Provisioned users join with the built-in
// member role; roles are given in Steward, not through SCIM.

// ProvisionUser creates an internal user of the account.
func (s *Service) ProvisionUser(ctx context.Context, accountID string, in NewMember) (*User, int64, error) {
	var u *User
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		if u, err = t.createUser(by, NewUser{Email: in.Email, Name: in.Name, HomeAccountID: accountID, Role: RoleMember}, "", ""); err != nil {
			return err
		}
		t.answer(u)
		return nil
	})
	return u, rev, err
}

// ProvisionedUsers pages through the account's own users (those whose home
// it is), optionally the one with an email.
func (s *Service) ProvisionedUsers(ctx context.Context, accountID, email string, page Page) ([]*User, string, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermSCIMProvision); err != nil { // R-RESTRICT-1
		return nil, "", err
	}
	if err := checkText("filter", email); err != nil { // SPEC §4 "Text"
		return nil, "", err
	}
	if email != "" {
		normal, ok := NormalizeEmail(email)
		if !ok {
			return []*User{}, "", nil
		}
		u, err := s.Store.FindUserByEmail(ctx, normal)
		if ErrorKind(err) == ENOTFOUND || (err == nil && u.HomeAccountID != accountID) {
			return []*User{}, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		return []*User{u}, "", nil
	}
	ms, next, err := s.Store.FindMemberships(ctx, MembershipFilter{AccountID: accountID, Kind: KindInternal, Page: page.Normalize()})
	if err != nil {
		return nil, "", err
	}
	users := make([]*User, 0, len(ms))
	for _, m := range ms {
		u, err := s.Store.FindUserByID(ctx, m.UserID)
		if err != nil {
			return nil, "", err
		}
		if u.HomeAccountID == accountID {
			users = append(users, u)
		}
	}
	return users, next, nil
}

// ProvisionedUser returns one of the account's own users.
func (s *Service) ProvisionedUser(ctx context.Context, accountID, userID string) (*User, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := by.require(PermSCIMProvision); err != nil { // R-RESTRICT-1
		return nil, err
	}
	if err := checkText("user", userID); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	u, err := s.Store.FindUserByID(ctx, userID)
	if ErrorKind(err) == ENOTFOUND || (err == nil && u.HomeAccountID != accountID) {
		return nil, NotFound("user", userID)
	}
	return u, err
}

// SetProvisionedActive deactivates or reactivates one of the account's own
// users (SCIM's active attribute, and its DELETE) through the same path as
// the members API, so that R-SUPER-1, R-SUPER-2 and R-GRANT-5 hold alike.
// Asking for the state the user is in changes and records nothing, but
// still needs what the change would need.
func (s *Service) SetProvisionedActive(ctx context.Context, accountID, userID string, active bool) (*User, int64, error) {
	u, err := s.ProvisionedUser(ctx, accountID, userID)
	if err != nil {
		return nil, 0, err
	}
	status := StatusDeactivated
	if active {
		status = StatusActive
	}
	rev, err := s.write(ctx, func(t *txn) error {
		by, m, err := t.memberFor(accountID, userID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		if u, err = t.FindUserByID(t.ctx, userID); err != nil {
			return err
		}
		if (u.Status == UserActive) == active {
			if err := t.mayChangeStatus(by, m, status); err != nil {
				return err
			}
			return errUnchanged
		}
		if err := t.changeMemberStatus(by, m, status); err != nil {
			return err
		}
		if u, err = t.FindUserByID(t.ctx, userID); err != nil {
			return err
		}
		t.answer(u)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return u, rev, nil
}
