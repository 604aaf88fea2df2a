package steward

import (
	"strings"
	"time"
)

// Built-in roles. They exist in every account, are named by these ids, and
// cannot be edited or deleted. Custom roles have ids with PrefixRole.
const (
	RoleSuperAdmin   = "super_admin"
	RolePartnerAdmin = "partner_admin"
	RoleMember       = "member"
)

// Role is a named permission set inside an account.
type Role struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	Builtin     bool      `json:"builtin"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// IsBuiltinRole reports whether id names a built-in role.
func IsBuiltinRole(id string) bool {
	return id == RoleSuperAdmin || id == RolePartnerAdmin || id == RoleMember
}

// BuiltinRole returns the built-in role id of account as the catalogue makes it.
func BuiltinRole(cat *Catalogue, accountID, id string) *Role {
	r := &Role{ID: id, AccountID: accountID, Builtin: true}
	switch id {
	case RoleSuperAdmin:
		r.Name, r.Permissions = "Super admin", cat.All()
	case RolePartnerAdmin:
		r.Name, r.Permissions = "Partner admin", cat.PartnerAdmin()
	case RoleMember:
		// The built-in member role holds no permission until given one (SPEC §4).
		r.Name, r.Permissions = "Member", []string{}
	default:
		return nil
	}
	return r
}

// ValidateName trims and checks a role name.
func ValidateRoleName(name string) (string, error) {
	if !ValidText(name) {
		return "", TextError("name")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", Invalid("invalid_role", "The role is not valid.", FieldError{"name", "must be 1 to 100 characters"})
	}
	return name, nil
}
