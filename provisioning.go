package steward

import (
	"strings"
	"time"
)

// Provisioning (SCIM 2.0, RFC 7643/7644) sees an account's own users (those
// whose home it is) and its roles, which it calls groups. A provisioning
// client names a user by a userName of its own, kept as sent; Steward's email
// is taken from it when it is an email address, else from the client's
// emails (the primary one, else the work one, else the first).

// SCIMEmail is one entry of a provisioned user's emails.
type SCIMEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// SCIMProfile is what a provisioning client keeps about a user beyond
// Steward's user row.
type SCIMProfile struct {
	UserID     string
	AccountID  string
	UserName   string // as the client sent it; unique per account, case-insensitively
	ExternalID string
	GivenName  string
	FamilyName string
	Emails     []SCIMEmail
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ProvisionedUser is one of an account's own users as provisioning sees it.
type ProvisionedUser struct {
	User
	// Role is the user's role in its home account: the group it is in.
	Role string
	// Profile is nil for a user that no provisioning client created or
	// changed; it then shows its email as userName.
	Profile *SCIMProfile
}

// UserName is the user's SCIM userName.
func (p *ProvisionedUser) UserName() string {
	if p.Profile != nil {
		return p.Profile.UserName
	}
	return p.Email
}

// ProvisionedUserFilter narrows FindProvisionedUsers; empty fields match all.
type ProvisionedUserFilter struct {
	UserID     string
	UserName   string // compared case-insensitively; a user without profile matches by email
	ExternalID string
	Role       string
	// Offset skips that many users of the result, and Limit, when above
	// zero, keeps at most that many (SCIM's startIndex and count).
	Offset, Limit int
}

// SCIMUserInput is the whole state a provisioning client asks for a user:
// a create, or a replace (PUT, or PATCH applied to the current state).
type SCIMUserInput struct {
	UserName    string
	ExternalID  string
	GivenName   string
	FamilyName  string
	Formatted   string
	DisplayName string
	Emails      []SCIMEmail
	Active      bool
}

// email picks Steward's email for the input: userName when it is an email
// address, else the primary email, else the work one, else the first.
func (in *SCIMUserInput) email() (string, error) {
	if e, ok := NormalizeEmail(in.UserName); ok {
		return e, nil
	}
	pick := -1
	for i, e := range in.Emails {
		if e.Primary {
			pick = i
			break
		}
		if pick < 0 && strings.EqualFold(e.Type, "work") {
			pick = i
		}
	}
	if pick < 0 && len(in.Emails) > 0 {
		pick = 0
	}
	if pick < 0 {
		return "", Invalid("email_required", "A user needs an email address: userName is not one and emails is empty.",
			FieldError{"emails", "is required when userName is not an email address"})
	}
	e, ok := NormalizeEmail(in.Emails[pick].Value)
	if !ok {
		return "", Invalid("invalid_user", "The user is not valid.", FieldError{"emails", "must hold plain email addresses such as ada@example.com"})
	}
	return e, nil
}

// name is Steward's display name for the input.
func (in *SCIMUserInput) name(email string) string {
	for _, n := range []string{in.DisplayName, in.Formatted, strings.TrimSpace(in.GivenName + " " + in.FamilyName), in.UserName, email} {
		if n = strings.TrimSpace(n); n != "" {
			return n
		}
	}
	return email
}

// validate checks the parts Steward keeps as they are.
func (in *SCIMUserInput) validate() error {
	var bad []FieldError
	in.UserName = strings.TrimSpace(in.UserName)
	if in.UserName == "" || len(in.UserName) > 254 {
		bad = append(bad, FieldError{"userName", "must be 1 to 254 characters"})
	}
	for _, f := range []struct{ name, v string }{{"externalId", in.ExternalID}, {"name.givenName", in.GivenName}, {"name.familyName", in.FamilyName}} {
		if len(f.v) > 254 {
			bad = append(bad, FieldError{f.name, "must be at most 254 characters"})
		}
	}
	if len(in.Emails) > 20 {
		bad = append(bad, FieldError{"emails", "must hold at most 20 addresses"})
	}
	if len(bad) > 0 {
		return Invalid("invalid_user", "The user is not valid.", bad...)
	}
	return nil
}

// profile is the input's profile for user id in account.
func (in *SCIMUserInput) profile(accountID, userID string) *SCIMProfile {
	emails := in.Emails
	if emails == nil {
		emails = []SCIMEmail{}
	}
	return &SCIMProfile{UserID: userID, AccountID: accountID, UserName: in.UserName, ExternalID: in.ExternalID,
		GivenName: in.GivenName, FamilyName: in.FamilyName, Emails: emails}
}

// ProvisionedGroup is one of an account's roles as provisioning sees it.
type ProvisionedGroup struct {
	Role       *Role
	ExternalID string
	// Members are the ids of the account's own users that hold the role.
	Members []string
}

// SCIMGroupInput creates a group (a custom role without permissions).
type SCIMGroupInput struct {
	DisplayName string
	ExternalID  string
	Members     []string
}

// SCIMGroupChange changes a group; nil fields stay. Members, when set, is
// the whole new member list; Add and Remove name members to add or remove.
type SCIMGroupChange struct {
	DisplayName *string
	ExternalID  *string
	Members     *[]string
	Add         []string
	Remove      []string
}
