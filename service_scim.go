package steward

import (
	"context"
	"errors"
	"slices"
)

// SCIM provisioning (SCIM 2.0, RFC 7643/7644) manages the internal users
// whose home is the account, and its roles as groups. Every call needs
// account.scim.provision there, which partner admins never hold
// (R-RESTRICT-1, R-PARTNER-1). Provisioned users join with the built-in
// member role; a user's group is its role in its home account, so putting a
// user into a group applies that role (R-GRANT-1/2, as the members API
// does) and taking it out applies member. SCIM has no rule of its own:
// status changes go through changeMemberStatus, role changes through
// applyRole, user creation through createUser.

// provisioner returns the actor's standing in the account, which must
// include account.scim.provision (R-RESTRICT-1).
func (s *Service) provisioner(ctx context.Context, accountID string) (*access, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := by.require(PermSCIMProvision); err != nil { // R-RESTRICT-1
		return nil, err
	}
	return by, nil
}

// ProvisioningAllowed returns nil when the actor may provision the account
// (R-RESTRICT-1); SCIM's discovery endpoints answer only then.
func (s *Service) ProvisioningAllowed(ctx context.Context, accountID string) error {
	_, err := s.provisioner(ctx, accountID)
	return err
}

// ProvisionUser creates an internal user of the account from a SCIM User.
// Steward's email is userName when it is an email address, else the
// primary (or work, or first) of emails; without any, it is refused.
func (s *Service) ProvisionUser(ctx context.Context, accountID string, in SCIMUserInput) (*ProvisionedUser, int64, error) {
	var id string
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		if err := in.validate(); err != nil {
			return err
		}
		email, err := in.email()
		if err != nil {
			return err
		}
		u, err := t.createUser(by, NewUser{Email: email, Name: in.name(email), HomeAccountID: accountID, Role: RoleMember}, "", "")
		if err != nil {
			return err
		}
		id = u.ID
		if err := t.putProfile(by, in.profile(accountID, u.ID), nil); err != nil {
			return err
		}
		if !in.Active {
			m, err := t.FindMembership(t.ctx, accountID, u.ID)
			if err != nil {
				return err
			}
			return t.changeMemberStatus(by, m, StatusDeactivated)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	u, err := s.provisionedUser(ctx, s.Store, accountID, id)
	return u, rev, err
}

// putProfile stores p, the new profile of a user whose profile was before
// (nil if none), and records it.
func (t *txn) putProfile(by *access, p, before *SCIMProfile) error {
	p.CreatedAt, p.UpdatedAt = t.now, t.now
	if before != nil {
		p.CreatedAt = before.CreatedAt
	}
	if err := t.PutSCIMProfile(t.ctx, p); err != nil {
		if ErrorKind(err) == ECONFLICT {
			return &Error{Kind: ECONFLICT, Code: "user_name_taken", Message: "Another user of this account has this userName.", Fields: []FieldError{{"userName", "is taken"}}}
		}
		return err
	}
	t.record(p.AccountID, by, "user.provisioned", "user", p.UserID, map[string]any{
		"user_name": p.UserName, "external_id": p.ExternalID, "given_name": p.GivenName, "family_name": p.FamilyName, "emails": p.Emails,
	})
	return nil
}

// provisionedUser returns one of the account's own users, or ENOTFOUND
// alike for an unknown user and for another account's.
func (s *Service) provisionedUser(ctx context.Context, st Store, accountID, userID string) (*ProvisionedUser, error) {
	us, err := st.FindProvisionedUsers(ctx, accountID, ProvisionedUserFilter{UserID: userID})
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, NotFound("user", userID)
	}
	return us[0], nil
}

// ProvisionedUsers returns the account's own users in id order, narrowed by
// f; SCIM filters and pages them.
func (s *Service) ProvisionedUsers(ctx context.Context, accountID string, f ProvisionedUserFilter) ([]*ProvisionedUser, error) {
	if _, err := s.provisioner(ctx, accountID); err != nil {
		return nil, err
	}
	for _, v := range []struct{ field, s string }{{"filter", f.UserID}, {"filter", f.UserName}, {"filter", f.ExternalID}, {"filter", f.Role}} {
		if err := checkText(v.field, v.s); err != nil { // SPEC §4 "Text"
			return nil, err
		}
	}
	return s.Store.FindProvisionedUsers(ctx, accountID, f)
}

// ProvisionedUserPage returns the account's own users from offset, at most
// limit of them, and how many there are in all: a SCIM list without filter.
func (s *Service) ProvisionedUserPage(ctx context.Context, accountID string, offset, limit int) ([]*ProvisionedUser, int, error) {
	if _, err := s.provisioner(ctx, accountID); err != nil {
		return nil, 0, err
	}
	total, err := s.Store.CountProvisionedUsers(ctx, accountID)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 || offset >= total {
		return []*ProvisionedUser{}, total, nil
	}
	users, err := s.Store.FindProvisionedUsers(ctx, accountID, ProvisionedUserFilter{Offset: offset, Limit: limit})
	return users, total, err
}

// ProvisionedUser returns one of the account's own users.
func (s *Service) ProvisionedUser(ctx context.Context, accountID, userID string) (*ProvisionedUser, error) {
	if _, err := s.provisioner(ctx, accountID); err != nil {
		return nil, err
	}
	return s.provisionedUser(ctx, s.Store, accountID, userID)
}

// ReplaceProvisionedUser sets a provisioned user to the state in (a PUT, or
// a PATCH applied to the current state). Steward's email stays the one the
// user was created with; userName and emails are kept as the client sends
// them. A change of active goes through the members API's path, so
// R-SUPER-1, R-SUPER-2 and R-GRANT-5 hold alike; asking for the state the
// user is in passes the same rules, and a request that changes nothing
// records nothing.
func (s *Service) ReplaceProvisionedUser(ctx context.Context, accountID, userID string, in SCIMUserInput) (*ProvisionedUser, int64, error) {
	rev, err := s.write(ctx, func(t *txn) error {
		by, m, cur, err := t.provisionedMember(accountID, userID)
		if err != nil {
			return err
		}
		if err := in.validate(); err != nil {
			return err
		}
		if _, err := in.email(); err != nil {
			return err
		}
		status := StatusDeactivated
		if in.Active {
			status = StatusActive
		}
		// R-SUPER-2, R-GRANT-5: whatever else the request changes, it needs
		// what a change of status would need.
		if err := t.mayChangeStatus(by, m, status); err != nil {
			return err
		}
		changed := false
		if p := in.profile(accountID, userID); cur.Profile == nil || !sameProfile(p, cur.Profile) {
			if err := t.putProfile(by, p, cur.Profile); err != nil {
				return err
			}
			changed = true
		}
		if name := in.name(cur.Email); name != cur.Name {
			u, err := t.FindUserByID(t.ctx, userID)
			if err != nil {
				return err
			}
			u.Name, u.UpdatedAt = name, t.now
			if err := u.Validate(); err != nil {
				return err
			}
			if err := t.UpdateUser(t.ctx, u); err != nil {
				return err
			}
			t.record(accountID, by, "user.renamed", "user", userID, map[string]any{"from": cur.Name, "to": name})
			changed = true
		}
		if (cur.Status == UserActive) != in.Active {
			if err := t.changeMemberStatus(by, m, status); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, 0, err
	}
	u, ferr := s.provisionedUser(ctx, s.Store, accountID, userID)
	if ferr != nil {
		return nil, 0, ferr
	}
	return u, rev, nil
}

// provisionedMember locks the account, resolves the provisioner there and
// loads one of the account's own users with its home membership; an unknown
// user and another account's are not found alike.
func (t *txn) provisionedMember(accountID, userID string) (*access, *Membership, *ProvisionedUser, error) {
	by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
	if err != nil {
		return nil, nil, nil, err
	}
	cur, err := t.s.provisionedUser(t.ctx, t, accountID, userID)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if err != nil {
		return nil, nil, nil, err
	}
	return by, m, cur, nil
}

func sameProfile(a, b *SCIMProfile) bool {
	return a.UserName == b.UserName && a.ExternalID == b.ExternalID && a.GivenName == b.GivenName &&
		a.FamilyName == b.FamilyName && slices.Equal(a.Emails, b.Emails)
}

// SetProvisionedActive deactivates or reactivates one of the account's own
// users (SCIM's active attribute, and its DELETE) through the same path as
// the members API, so that R-SUPER-1, R-SUPER-2 and R-GRANT-5 hold alike.
// Asking for the state the user is in changes and records nothing, but
// still needs what the change would need.
func (s *Service) SetProvisionedActive(ctx context.Context, accountID, userID string, active bool) (*User, int64, error) {
	status := StatusDeactivated
	if active {
		status = StatusActive
	}
	var u *User
	rev, err := s.write(ctx, func(t *txn) error {
		by, m, cur, err := t.provisionedMember(accountID, userID)
		if err != nil {
			return err
		}
		u = &cur.User
		if (u.Status == UserActive) == active {
			if err := t.mayChangeStatus(by, m, status); err != nil {
				return err
			}
			return errUnchanged
		}
		if err := t.changeMemberStatus(by, m, status); err != nil {
			return err
		}
		u, err = t.FindUserByID(t.ctx, userID)
		return err
	})
	if errors.Is(err, errUnchanged) {
		return u, 0, nil
	} else if err != nil {
		return nil, 0, err
	}
	return u, rev, nil
}

// DeprovisionUser answers SCIM's DELETE of a user: the user is removed
// from its home account, which deletes it (SPEC §4 "Removing an internal
// user"), by the same code as the members API's removal, with
// account.scim.provision in place of account.users.manage (R-RESTRICT-1).
// Only the account's own users can be deleted through it; another's is
// not found.
func (s *Service) DeprovisionUser(ctx context.Context, accountID, userID string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		u, err := t.FindUserByID(t.ctx, userID)
		if ErrorKind(err) == ENOTFOUND || (err == nil && u.HomeAccountID != accountID) {
			return NotFound("user", userID)
		} else if err != nil {
			return err
		}
		return t.removeMember(accountID, userID, MemberRemoval{}, PermSCIMProvision)
	})
}

// ProvisionedGroups returns the account's roles, built-in ones first, each
// with the account's own users who hold it.
func (s *Service) ProvisionedGroups(ctx context.Context, accountID string) ([]*ProvisionedGroup, error) {
	if _, err := s.provisioner(ctx, accountID); err != nil {
		return nil, err
	}
	var roles []*Role
	for _, id := range []string{RoleSuperAdmin, RolePartnerAdmin, RoleMember} {
		roles = append(roles, BuiltinRole(s.Catalogue, accountID, id))
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		custom, next, err := s.Store.FindRoles(ctx, accountID, page)
		if err != nil {
			return nil, err
		}
		roles = append(roles, custom...)
		if next == "" {
			break
		}
		page.After = next
	}
	ext, err := s.Store.FindSCIMGroups(ctx, accountID)
	if err != nil {
		return nil, err
	}
	users, err := s.Store.FindProvisionedUsers(ctx, accountID, ProvisionedUserFilter{})
	if err != nil {
		return nil, err
	}
	members := map[string][]string{}
	for _, u := range users {
		members[u.Role] = append(members[u.Role], u.ID)
	}
	out := make([]*ProvisionedGroup, len(roles))
	for i, r := range roles {
		out[i] = &ProvisionedGroup{Role: r, ExternalID: ext[r.ID], Members: members[r.ID]}
		if out[i].Members == nil {
			out[i].Members = []string{}
		}
	}
	return out, nil
}

// ProvisionedGroup returns one of the account's roles as a group.
func (s *Service) ProvisionedGroup(ctx context.Context, accountID, roleID string) (*ProvisionedGroup, error) {
	if _, err := s.provisioner(ctx, accountID); err != nil {
		return nil, err
	}
	return s.provisionedGroup(ctx, s.Store, accountID, roleID)
}

func (s *Service) provisionedGroup(ctx context.Context, st Store, accountID, roleID string) (*ProvisionedGroup, error) {
	r, err := s.findRole(ctx, st, accountID, roleID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("group", roleID)
	} else if err != nil {
		return nil, err
	}
	ext, err := st.FindSCIMGroups(ctx, accountID)
	if err != nil {
		return nil, err
	}
	users, err := st.FindProvisionedUsers(ctx, accountID, ProvisionedUserFilter{Role: roleID})
	if err != nil {
		return nil, err
	}
	g := &ProvisionedGroup{Role: r, ExternalID: ext[r.ID], Members: make([]string, len(users))}
	for i, u := range users {
		g.Members[i] = u.ID
	}
	return g, nil
}

// CreateProvisionedGroup creates a custom role without permissions, named
// by the group's displayName, and puts the members into it.
func (s *Service) CreateProvisionedGroup(ctx context.Context, accountID string, in SCIMGroupInput) (*ProvisionedGroup, int64, error) {
	var id string
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		r, err := t.createRole(by, accountID, RoleInput{Name: &in.DisplayName, Permissions: &[]string{}})
		if err != nil {
			return groupField(err)
		}
		id = r.ID
		if in.ExternalID != "" {
			if err := t.setGroupExternalID(by, accountID, r.ID, in.ExternalID); err != nil {
				return err
			}
		}
		for _, userID := range in.Members {
			if _, err := t.joinRole(by, accountID, userID, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	g, err := s.provisionedGroup(ctx, s.Store, accountID, id)
	return g, rev, err
}

// groupField names a role's field as SCIM names the group's.
func groupField(err error) error {
	var e *Error
	if errors.As(err, &e) {
		for i := range e.Fields {
			if e.Fields[i].Field == "name" {
				e.Fields[i].Field = "displayName"
			}
		}
	}
	return err
}

func (t *txn) setGroupExternalID(by *access, accountID, roleID, externalID string) error {
	if len(externalID) > 254 {
		return Invalid("invalid_group", "The group is not valid.", FieldError{"externalId", "must be at most 254 characters"})
	}
	if err := t.PutSCIMGroup(t.ctx, accountID, roleID, externalID); err != nil {
		return err
	}
	t.record(accountID, by, "role.provisioned", "role", roleID, map[string]any{"external_id": externalID})
	return nil
}

// UpdateProvisionedGroup renames a group (a custom role), sets its
// externalId, and adds and removes members. Adding a user applies the role
// to it and removing one applies member, both with the members API's
// applyRole: the provisioner adds only what it holds and never removes what
// it does not hold (R-GRANT-1/2), and only a holder of
// account.super_admins.manage puts users into or out of super_admin
// (R-SUPER-2), never the last active one out (R-SUPER-1). A request that
// changes nothing records nothing but needs what the change would need.
func (s *Service) UpdateProvisionedGroup(ctx context.Context, accountID, roleID string, ch SCIMGroupChange) (*ProvisionedGroup, int64, error) {
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		g, err := t.s.provisionedGroup(t.ctx, t, accountID, roleID)
		if err != nil {
			return err
		}
		changed := false
		if ch.DisplayName != nil && *ch.DisplayName != g.Role.Name {
			if _, err := t.updateRole(by, accountID, roleID, RoleInput{Name: ch.DisplayName}); err != nil {
				return groupField(err)
			}
			changed = true
		}
		if ch.ExternalID != nil && *ch.ExternalID != g.ExternalID {
			if err := t.setGroupExternalID(by, accountID, roleID, *ch.ExternalID); err != nil {
				return err
			}
			changed = true
		}
		for _, userID := range ch.Add {
			c, err := t.joinRole(by, accountID, userID, roleID)
			if err != nil {
				return err
			}
			changed = changed || c
		}
		for _, userID := range ch.Remove {
			c, err := t.leaveRole(by, accountID, userID, roleID)
			if err != nil {
				return err
			}
			changed = changed || c
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, 0, err
	}
	g, err := s.provisionedGroup(ctx, s.Store, accountID, roleID)
	if err != nil {
		return nil, 0, err
	}
	return g, rev, nil
}

// homeMember returns the home membership of one of the account's own users;
// any other id, of another account's user or of none, is refused alike.
func (t *txn) homeMember(accountID, userID string) (*Membership, error) {
	unknown := Invalid("unknown_member", "No such user in this account.", FieldError{"members", "no user " + quote(userID)})
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, unknown
	} else if err != nil {
		return nil, err
	}
	u, err := t.FindUserByID(t.ctx, userID)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindInternal || u.HomeAccountID != accountID {
		return nil, unknown
	}
	return m, nil
}

// joinRole puts one of the account's own users into roleID, with the
// members API's applyRole (R-GRANT-1/2, R-SUPER-2, R-GRANT-5). It reports
// whether anything changed; a user already in the role changes nothing but
// needs what putting it there would need.
func (t *txn) joinRole(by *access, accountID, userID, roleID string) (bool, error) {
	m, err := t.homeMember(accountID, userID)
	if err != nil {
		return false, err
	}
	if m.Role == roleID {
		_, err := t.s.grantableRole(t.ctx, t, by, accountID, roleID, m.Kind) // R-SUPER-2 for super_admin
		return false, err
	}
	_, err = t.applyRole(by, m, roleID, "member.role_changed")
	return err == nil, err
}

// leaveRole takes one of the account's own users out of roleID by applying
// member, with the members API's applyRole (R-GRANT-2, R-SUPER-1/2). A
// user not in the role changes nothing; every user holds a role, so nobody
// leaves member itself.
func (t *txn) leaveRole(by *access, accountID, userID, roleID string) (bool, error) {
	if roleID == RoleMember {
		return false, Invalid("default_role", "Every user holds a role; put the user into another group instead.", FieldError{"members", "cannot leave the member group"})
	}
	m, err := t.homeMember(accountID, userID)
	if err != nil {
		return false, err
	}
	if m.Role != roleID {
		if roleID == RoleSuperAdmin {
			return false, by.require(PermSuperAdminsManage) // R-SUPER-2
		}
		return false, nil
	}
	_, err = t.applyRole(by, m, RoleMember, "member.role_changed")
	return err == nil, err
}

// DeleteProvisionedGroup deletes a custom role: the account's own users
// holding it move to member first (applyRole, R-GRANT-2); the role must
// then be held by nobody else.
func (s *Service) DeleteProvisionedGroup(ctx context.Context, accountID, roleID string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermSCIMProvision) // R-RESTRICT-1
		if err != nil {
			return err
		}
		g, err := t.s.provisionedGroup(t.ctx, t, accountID, roleID)
		if err != nil {
			return err
		}
		if g.Role.Builtin {
			return Errorf(EFORBIDDEN, "builtin_role", "Built-in roles cannot be deleted.")
		}
		for _, userID := range g.Members {
			if _, err := t.leaveRole(by, accountID, userID, roleID); err != nil {
				return err
			}
		}
		return t.deleteRole(by, accountID, roleID)
	})
}
