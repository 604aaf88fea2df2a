package steward

import (
	"net/mail"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// UserStatus is the user's standing in its home account.
type UserStatus string

// User statuses.
const (
	UserActive      UserStatus = "active"
	UserDeactivated UserStatus = "deactivated"
	// UserDeleted marks the tombstone a removed user leaves in the store
	// (SPEC §4 "Removing an internal user"); the store answers no lookup of
	// it, so no service code ever sees this status.
	UserDeleted UserStatus = "deleted"
)

// User is a person with exactly one home account.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	HomeAccountID string     `json:"home_account_id"`
	Status        UserStatus `json:"status"`
	PasswordHash  string     `json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

var (
	regionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// NormalizeEmail validates an address and returns it in its canonical form:
// trimmed, then Unicode NFKC case folded, so that addresses that differ only
// by letter case or by compatibility forms (the Kelvin sign "\u212a" and
// "k", full-width letters and their ASCII) are one address. Emails are
// unique in this form (SPEC §1, SPEC §4 "Verified domains").
func NormalizeEmail(email string) (string, bool) {
	if !ValidText(email) {
		return "", false
	}
	email = FoldEmail(strings.TrimSpace(email))
	if email == "" || len(email) > 254 {
		return "", false
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", false
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || !domainRE.MatchString(domain) {
		return "", false
	}
	return email, true
}

// emailFold is Unicode NFKC case folding (NFKC_Casefold, as in Unicode
// §3.13): fold the case of the compatibility decomposition, then compose.
var emailFold = cases.Fold()

// FoldEmail returns s in the form emails are compared in: NFKC case folded.
func FoldEmail(s string) string {
	return norm.NFKC.String(emailFold.String(norm.NFKD.String(s)))
}

// Validate checks the user's fields and normalises its email.
func (u *User) Validate() error {
	if err := checkText("email", u.Email, "name", u.Name, "home_account_id", u.HomeAccountID); err != nil {
		return err
	}
	var bad []FieldError
	email, ok := NormalizeEmail(u.Email)
	if !ok {
		bad = append(bad, FieldError{"email", "must be a plain email address such as ada@example.com"})
	}
	u.Email = email
	u.Name = strings.TrimSpace(u.Name)
	if u.Name == "" || len(u.Name) > 200 {
		bad = append(bad, FieldError{"name", "must be 1 to 200 characters"})
	}
	if u.HomeAccountID == "" {
		bad = append(bad, FieldError{"home_account_id", "is required"})
	}
	if len(bad) > 0 {
		return Invalid("invalid_user", "The user is not valid.", bad...)
	}
	return nil
}
