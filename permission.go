package steward

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// System permissions, enforced by Steward itself (SPEC §1).
const (
	PermSuperAdminsManage      = "account.super_admins.manage"
	PermBillingManage          = "account.billing.manage"
	PermUsersManage            = "account.users.manage"
	PermRolesManage            = "account.roles.manage"
	PermExternalUsersInvite    = "account.external_users.invite"
	PermPartnersManage         = "account.partners.manage"
	PermAuditView              = "account.audit.view"
	PermSCIMProvision          = "account.scim.provision"
	PermRegionMigrate          = "account.region.migrate"
	PermWebhooksManage         = "account.webhooks.manage"
	PermPartnerClientsView     = "partner.clients.view"
	PermPartnerEmployeesManage = "partner.employees.manage"
)

// Permission is one key of the catalogue.
type Permission struct {
	Key         string `json:"key"`
	Description string `json:"description"`
	System      bool   `json:"system"`
}

// SystemPermissions returns the system permissions in catalogue order.
func SystemPermissions() []Permission {
	return []Permission{
		{PermSuperAdminsManage, "Add and remove super admins", true},
		{PermBillingManage, "Change billing facts", true},
		{PermUsersManage, "Add, deactivate and remove internal users; change members' permissions", true},
		{PermRolesManage, "Create, edit and delete custom roles", true},
		{PermExternalUsersInvite, "Invite external users as role members", true},
		{PermPartnersManage, "Approve access links, remove partner employees, end partner relationships", true},
		{PermAuditView, "Read the account's audit log", true},
		{PermSCIMProvision, "Provision users through SCIM 2.0", true},
		{PermRegionMigrate, "Move the account to another region", true},
		{PermWebhooksManage, "Register and manage the account's webhook endpoints", true},
		{PermPartnerClientsView, "See the client list in the partner console", true},
		{PermPartnerEmployeesManage, "Deactivate and remove partner employees from client accounts", true},
	}
}

// DefaultProductPermissions is the demo CRM catalogue used when the operator
// declares none (SPEC §4 "Default catalogue").
func DefaultProductPermissions() []Permission {
	return []Permission{
		{Key: "crm.contacts.view", Description: "View contacts"},
		{Key: "crm.contacts.edit", Description: "Create, edit and delete contacts"},
		{Key: "crm.companies.view", Description: "View companies"},
		{Key: "crm.companies.edit", Description: "Create, edit and delete companies"},
		{Key: "crm.deals.view", Description: "View deals"},
		{Key: "crm.deals.edit", Description: "Create, edit and delete deals"},
		{Key: "tickets.view", Description: "View support tickets"},
		{Key: "tickets.edit", Description: "Create, edit and close support tickets"},
		{Key: "marketing.email.send", Description: "Send marketing email"},
		{Key: "workflows.edit", Description: "Create and edit workflows"},
		{Key: "reports.view", Description: "View reports and dashboards"},
		{Key: "reports.edit", Description: "Create and edit reports and dashboards"},
		{Key: "meetings.host", Description: "Host meetings"},
		{Key: "settings.view", Description: "View account settings"},
		{Key: "settings.edit", Description: "Edit account settings"},
	}
}

// partnerAdminExcluded are the permissions a partner admin never holds by
// default (R-PARTNER-1); billing can come back only through R-PARTNER-9.
var partnerAdminExcluded = []string{PermSuperAdminsManage, PermBillingManage, PermSCIMProvision, PermRegionMigrate}

// PartnerConsolePermission reports whether perm is one of the partner
// console's permissions (partner.*), held only through an internal
// membership of the partner account (R-PARTNER-1).
func PartnerConsolePermission(perm string) bool { return strings.HasPrefix(perm, "partner.") }

// withoutPartnerConsole returns set without the partner.* keys.
func withoutPartnerConsole(set []string) []string {
	out := make([]string, 0, len(set))
	for _, k := range set {
		if !PartnerConsolePermission(k) {
			out = append(out, k)
		}
	}
	return out
}

var permissionKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// Catalogue is the set of known permissions: the system ones plus the
// product's. It is immutable once built.
type Catalogue struct {
	perms []Permission
	index map[string]int
	all   []string // sorted keys
}

// NewCatalogue builds a catalogue from the product permissions. Keys must be
// dotted lower-case words, unique, and may not use the system prefixes.
func NewCatalogue(product []Permission) (*Catalogue, error) {
	c := &Catalogue{index: map[string]int{}}
	for _, p := range append(SystemPermissions(), product...) {
		if !permissionKeyRE.MatchString(p.Key) {
			return nil, fmt.Errorf("permission %q: keys are dotted lower-case words such as crm.contacts.edit", p.Key)
		}
		if _, dup := c.index[p.Key]; dup {
			return nil, fmt.Errorf("permission %q is declared twice", p.Key)
		}
		if !p.System && (strings.HasPrefix(p.Key, "account.") || strings.HasPrefix(p.Key, "partner.")) {
			return nil, fmt.Errorf("permission %q: the account. and partner. prefixes are reserved for system permissions", p.Key)
		}
		c.index[p.Key] = len(c.perms)
		c.perms = append(c.perms, p)
		c.all = append(c.all, p.Key)
	}
	slices.Sort(c.all)
	return c, nil
}

// MustCatalogue is NewCatalogue for declarations known to be valid.
func MustCatalogue(product []Permission) *Catalogue {
	c, err := NewCatalogue(product)
	if err != nil {
		panic(err)
	}
	return c
}

// ParseCatalogue reads product permissions from r: either a JSON array of
// {"key", "description"} objects, or text with one key per line, optionally
// followed by white space and a description; '#' starts a comment.
func ParseCatalogue(r io.Reader) ([]Permission, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(string(data)); strings.HasPrefix(s, "[") {
		var perms []Permission
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&perms); err != nil {
			return nil, fmt.Errorf("permissions file: %w", err)
		}
		return perms, nil
	}
	var perms []Permission
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		key, desc, _ := strings.Cut(strings.TrimSpace(text), " ")
		if key == "" {
			continue
		}
		perms = append(perms, Permission{Key: key, Description: strings.TrimSpace(desc)})
	}
	return perms, sc.Err()
}

// Permissions returns the catalogue in declaration order (system first).
func (c *Catalogue) Permissions() []Permission { return slices.Clone(c.perms) }

// FindPermissions pages through the catalogue in declaration order; the
// cursor is the key of the last permission of the previous page (SPEC §4
// "Listings").
func (c *Catalogue) FindPermissions(page Page) ([]Permission, string) {
	page = page.Normalize()
	start := 0
	if page.After != "" {
		i, ok := c.index[page.After]
		if !ok {
			return nil, ""
		}
		start = i + 1
	}
	end := min(start+page.Limit, len(c.perms))
	out := slices.Clone(c.perms[start:end])
	if end == len(c.perms) {
		return out, ""
	}
	return out, out[len(out)-1].Key
}

// All returns every key, sorted. The slice must not be modified.
func (c *Catalogue) All() []string { return c.all }

// Has reports whether key is in the catalogue.
func (c *Catalogue) Has(key string) bool { _, ok := c.index[key]; return ok }

// Len returns the number of permissions.
func (c *Catalogue) Len() int { return len(c.perms) }

// PartnerAdmin returns the permissions of the built-in partner_admin role
// (R-PARTNER-1): every one but the four excluded and the partner console's,
// which a partner membership never holds.
func (c *Catalogue) PartnerAdmin() []string {
	return withoutPartnerConsole(Minus(c.all, NewSet(partnerAdminExcluded...)))
}

// PartnerAdminWithheld returns what a partner admin does not hold: the
// complement of PartnerAdmin.
func (c *Catalogue) PartnerAdminWithheld() []string { return Minus(c.all, c.PartnerAdmin()) }

// Validate checks that every key is known and returns the keys as a sorted,
// de-duplicated set. Unknown keys are reported by name, one field each.
func (c *Catalogue) Validate(field string, keys []string) ([]string, error) {
	var bad []FieldError
	for i, k := range keys {
		if !c.Has(k) {
			bad = append(bad, FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: fmt.Sprintf("unknown permission %q", k)})
		}
	}
	if len(bad) > 0 {
		return nil, Invalid("unknown_permission", "Unknown permission keys; GET /v1/permissions lists the catalogue.", bad...)
	}
	return NewSet(keys...), nil
}

// Permission sets are sorted, duplicate-free slices of keys. The functions
// below never modify their arguments.

// NewSet returns keys as a set.
func NewSet(keys ...string) []string {
	s := slices.Clone(keys)
	slices.Sort(s)
	return slices.Compact(s)
}

// Contains reports whether set holds key.
func Contains(set []string, key string) bool {
	_, ok := slices.BinarySearch(set, key)
	return ok
}

// Union returns a ∪ b.
func Union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Intersect returns a ∩ b.
func Intersect(a, b []string) []string {
	out := []string{}
	for _, k := range a {
		if Contains(b, k) {
			out = append(out, k)
		}
	}
	return out
}

// Minus returns a − b.
func Minus(a, b []string) []string {
	out := []string{}
	for _, k := range a {
		if !Contains(b, k) {
			out = append(out, k)
		}
	}
	return out
}

// ApplySet is the permission arithmetic of R-GRANT-2: an actor holding held
// applies the set set to a member holding current. The actor adds only what it
// holds and never removes what it does not hold: (current − held) ∪ (set ∩ held).
func ApplySet(current, set, held []string) []string {
	return Union(Minus(current, held), Intersect(set, held))
}
