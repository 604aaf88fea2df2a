package steward

import (
	"context"
	"slices"
)

// RoleInput creates or edits a custom role; nil fields of an edit stay.
type RoleInput struct {
	Name        *string   `json:"name,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
}

// builtinRoleOrder is the order in which the built-in roles lead every
// listing of an account's roles.
var builtinRoleOrder = []string{RoleSuperAdmin, RolePartnerAdmin, RoleMember}

// FindRoles pages through the account's roles in one stable order: the
// built-in roles first, then the custom roles in id order. The cursor is the
// id of the last role of the previous page, built-in or custom (SPEC §4
// "Listings": every list honours limit and cursor, roles included).
func (s *Service) FindRoles(ctx context.Context, accountID string, page Page) ([]*Role, string, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, "", err
	}
	page = page.Normalize()
	start := len(builtinRoleOrder) // a custom role's id: the built-ins are behind
	if page.After == "" {
		start = 0
	} else if i := slices.Index(builtinRoleOrder, page.After); i >= 0 {
		start, page.After = i+1, ""
	}
	var out []*Role
	for _, id := range builtinRoleOrder[start:] {
		if len(out) == page.Limit {
			return out, out[len(out)-1].ID, nil
		}
		out = append(out, BuiltinRole(s.Catalogue, accountID, id))
	}
	rest := page.Limit - len(out)
	if rest == 0 {
		// The page ends on the last built-in role: it has a next page
		// only if the account has a custom role.
		custom, _, err := s.Store.FindRoles(ctx, accountID, Page{Limit: 1})
		if err != nil || len(custom) == 0 {
			return out, "", err
		}
		return out, out[len(out)-1].ID, nil
	}
	custom, next, err := s.Store.FindRoles(ctx, accountID, Page{After: page.After, Limit: rest})
	if err != nil {
		return nil, "", err
	}
	return append(out, custom...), next, nil
}

// FindRole returns a role of the account.
func (s *Service) FindRole(ctx context.Context, accountID, id string) (*Role, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, err
	}
	r, err := s.findRole(ctx, s.Store, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("role", id)
	}
	return r, err
}

// CreateRole creates a custom role. Every permission must be in the catalogue
// (422) and held by the actor (R-GRANT-1: 403 permission_not_held).
func (s *Service) CreateRole(ctx context.Context, accountID string, in RoleInput) (*Role, int64, error) {
	var r *Role
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.actorIn(accountID, PermRolesManage)
		if err != nil {
			return err
		}
		if r, err = t.createRole(by, accountID, in); err != nil {
			return err
		}
		t.answer(r)
		return nil
	})
	return r, rev, err
}

// createRole creates a custom role for by, who may manage roles there.
func (t *txn) createRole(by *access, accountID string, in RoleInput) (*Role, error) {
	if in.Name == nil || in.Permissions == nil {
		var bad []FieldError
		if in.Name == nil {
			bad = append(bad, FieldError{"name", "is required"})
		}
		if in.Permissions == nil {
			bad = append(bad, FieldError{"permissions", "is required (it may be empty)"})
		}
		return nil, Invalid("invalid_role", "The role is not valid.", bad...)
	}
	name, err := ValidateRoleName(*in.Name)
	if err != nil {
		return nil, err
	}
	perms, err := t.s.Catalogue.Validate("permissions", *in.Permissions)
	if err != nil {
		return nil, err
	}
	if err := by.notHeld("permissions", perms); err != nil { // R-GRANT-1
		return nil, err
	}
	r := &Role{ID: NewID(PrefixRole, t.now), AccountID: accountID, Name: name, Permissions: perms, CreatedAt: t.now, UpdatedAt: t.now}
	if err := t.CreateRole(t.ctx, r); err != nil {
		if ErrorKind(err) == ECONFLICT {
			return nil, &Error{Kind: ECONFLICT, Code: "role_name_taken", Message: "The account already has a role of this name.", Fields: []FieldError{{"name", "is taken"}}}
		}
		return nil, err
	}
	t.record(accountID, by, "role.created", "role", r.ID, map[string]any{"name": r.Name, "permissions": r.Permissions})
	return r, nil
}

// UpdateRole renames a custom role or changes its permissions. The
// permissions added or removed must be held by the actor, and the change
// reaches every member holding the role (R-GRANT-3): each member loses the
// removed permissions and gains the added ones.
func (s *Service) UpdateRole(ctx context.Context, accountID, id string, in RoleInput) (*Role, int64, error) {
	var r *Role
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermRolesManage)
		if err != nil {
			return err
		}
		r, err = t.updateRole(by, accountID, id, in)
		return err
	})
	return r, rev, err
}

// updateRole edits a custom role for by, who may manage roles there.
func (t *txn) updateRole(by *access, accountID, id string, in RoleInput) (*Role, error) {
	if IsBuiltinRole(id) {
		return nil, Errorf(EFORBIDDEN, "builtin_role", "Built-in roles cannot be edited; create a custom role.")
	}
	r, err := t.FindRoleByID(t.ctx, accountID, id)
	if err != nil {
		if ErrorKind(err) == ENOTFOUND {
			return nil, NotFound("role", id)
		}
		return nil, err
	}
	details := map[string]any{}
	renamed := false
	if in.Name != nil {
		name, err := ValidateRoleName(*in.Name)
		if err != nil {
			return nil, err
		}
		renamed = name != r.Name
		details["name"], r.Name = name, name
	}
	var added, removed []string
	if in.Permissions != nil {
		perms, err := t.s.Catalogue.Validate("permissions", *in.Permissions)
		if err != nil {
			return nil, err
		}
		added, removed = Minus(perms, r.Permissions), Minus(r.Permissions, perms)
		if err := by.notHeld("permissions", Union(added, removed)); err != nil { // R-GRANT-3
			return nil, err
		}
		if len(added) > 0 {
			if err := t.mayWidenRole(by, accountID, r.ID); err != nil { // R-GRANT-5
				return nil, err
			}
		}
		r.Permissions = perms
		details["added"], details["removed"] = added, removed
	}
	if !renamed && len(added)+len(removed) == 0 { // SPEC §4 "No-op writes"
		return r, errUnchanged
	}
	r.UpdatedAt = t.now
	if err := t.UpdateRole(t.ctx, r); err != nil {
		if ErrorKind(err) == ECONFLICT {
			return nil, &Error{Kind: ECONFLICT, Code: "role_name_taken", Message: "The account already has a role of this name.", Fields: []FieldError{{"name", "is taken"}}}
		}
		return nil, err
	}
	n := 0
	if len(added)+len(removed) > 0 {
		if n, err = t.propagateRole(r.AccountID, r.ID, added, removed); err != nil {
			return nil, err
		}
	}
	details["members_updated"] = n
	t.record(accountID, by, "role.updated", "role", r.ID, details)
	return r, nil
}

// propagateRole applies a role edit to every member holding the role
// (R-GRANT-3); delegates only lose what the role loses.
func (t *txn) propagateRole(accountID, roleID string, added, removed []string) (int, error) {
	n := 0
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Role: roleID, Page: page})
		if err != nil {
			return n, err
		}
		for _, m := range ms {
			gained := added
			if m.Kind == KindDelegate {
				// A delegate holds what its parent handed it (R-EXT-9): a role
				// edit may narrow it, never widen it.
				gained = nil
			}
			m.Permissions, m.UpdatedAt = Union(Minus(m.Permissions, removed), gained), t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return n, err
			}
			t.touch(accountID, "membership", m.ID)
			n++
		}
		if next == "" {
			return n, nil
		}
		page.After = next
	}
}

// DeleteRole deletes a custom role that no member holds.
func (s *Service) DeleteRole(ctx context.Context, accountID, id string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermRolesManage)
		if err != nil {
			return err
		}
		return t.deleteRole(by, accountID, id)
	})
}

// deleteRole deletes a custom role that no member holds, for by, who may
// manage roles there.
func (t *txn) deleteRole(by *access, accountID, id string) error {
	if IsBuiltinRole(id) {
		return Errorf(EFORBIDDEN, "builtin_role", "Built-in roles cannot be deleted.")
	}
	r, err := t.FindRoleByID(t.ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return NotFound("role", id)
	} else if err != nil {
		return err
	}
	ms, _, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Role: id, Page: Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		return Errorf(ECONFLICT, "role_in_use", "Members still hold this role; move them to another role first.")
	}
	if err := t.DeleteRole(t.ctx, accountID, id); err != nil {
		return err
	}
	if err := t.DeleteSCIMGroup(t.ctx, accountID, id); err != nil { // its externalId as a SCIM group
		return err
	}
	t.record(accountID, by, "role.deleted", "role", id, map[string]any{"name": r.Name})
	return nil
}

// FindRoleMembers pages through the members holding a role.
func (s *Service) FindRoleMembers(ctx context.Context, accountID, roleID string, page Page) ([]*Membership, string, error) {
	if _, err := s.FindRole(ctx, accountID, roleID); err != nil {
		return nil, "", err
	}
	return s.FindMembers(ctx, MembershipFilter{AccountID: accountID, Role: roleID, Page: page})
}
