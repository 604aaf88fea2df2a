package steward

import (
	"fmt"
	"strings"
	"time"
)

// AccountKind is standard or partner; only partner accounts manage clients.
type AccountKind string

// Account kinds.
const (
	AccountStandard AccountKind = "standard"
	AccountPartner  AccountKind = "partner"
)

// DefaultRegion is the region of accounts created without one.
const DefaultRegion = "us"

// Account is a tenant.
type Account struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Kind             AccountKind      `json:"kind"`
	Region           string           `json:"region"`
	Billing          Billing          `json:"billing"`
	VerifiedDomains  []string         `json:"verified_domains"`
	DelegationPolicy DelegationPolicy `json:"delegation_policy"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`
	// Owner is the first super admin, in the answer to a creation that named
	// one; it is not kept with the account.
	Owner *User `json:"owner,omitempty"`
}

// Billing holds the billing facts of an account.
type Billing struct {
	HasBillingInfo bool   `json:"has_billing_info"`
	Plan           string `json:"plan"`
}

// DelegationPolicy is the account's policy for external users (R-EXT-7).
type DelegationPolicy struct {
	RequireDelegateBilling bool `json:"require_delegate_billing"`
}

// AccountUpdate is a partial change of an account; nil fields stay.
type AccountUpdate struct {
	Name             *string           `json:"name,omitempty"`
	Region           *string           `json:"region,omitempty"`
	Billing          *Billing          `json:"billing,omitempty"`
	VerifiedDomains  *[]string         `json:"verified_domains,omitempty"`
	DelegationPolicy *DelegationPolicy `json:"delegation_policy,omitempty"`
}

// Validate checks the account's fields and normalises its domains.
func (a *Account) Validate() error {
	if err := checkText("name", a.Name, "region", a.Region, "billing.plan", a.Billing.Plan); err != nil {
		return err
	}
	if err := checkTexts("verified_domains", a.VerifiedDomains); err != nil {
		return err
	}
	var bad []FieldError
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || len(a.Name) > 200 {
		bad = append(bad, FieldError{"name", "must be 1 to 200 characters"})
	}
	if a.Kind != AccountStandard && a.Kind != AccountPartner {
		bad = append(bad, FieldError{"kind", `must be "standard" or "partner"`})
	}
	if a.Region == "" {
		a.Region = DefaultRegion
	}
	if !regionRE.MatchString(a.Region) {
		bad = append(bad, FieldError{"region", "must be a lower-case region name such as us or eu"})
	}
	if len(a.Billing.Plan) > 100 {
		bad = append(bad, FieldError{"billing.plan", "must be at most 100 characters"})
	}
	domains := make([]string, 0, len(a.VerifiedDomains))
	for i, d := range a.VerifiedDomains {
		d = FoldEmail(strings.TrimSpace(d))
		if !domainRE.MatchString(d) {
			bad = append(bad, FieldError{fmt.Sprintf("verified_domains[%d]", i), fmt.Sprintf("%q is not a domain name", d)})
		}
		domains = append(domains, d)
	}
	a.VerifiedDomains = NewSet(domains...)
	if len(bad) > 0 {
		return Invalid("invalid_account", "The account is not valid.", bad...)
	}
	return nil
}

// Apply sets the non-nil fields of u on a.
func (u AccountUpdate) Apply(a *Account) {
	if u.Name != nil {
		a.Name = *u.Name
	}
	if u.Region != nil {
		a.Region = *u.Region
	}
	if u.Billing != nil {
		a.Billing = *u.Billing
	}
	if u.VerifiedDomains != nil {
		a.VerifiedDomains = *u.VerifiedDomains
	}
	if u.DelegationPolicy != nil {
		a.DelegationPolicy = *u.DelegationPolicy
	}
}

// HasVerifiedDomain reports whether email's domain is one of a's verified domains.
func (a *Account) HasVerifiedDomain(email string) bool {
	_, domain, ok := strings.Cut(email, "@")
	return ok && Contains(a.VerifiedDomains, FoldEmail(domain))
}
