package steward

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// InvitationStatus is where an invitation stands (R-EXT-5).
type InvitationStatus string

// Invitation statuses. Only a pending invitation can be accepted or revoked.
const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
	InvitationExpired  InvitationStatus = "expired"
)

// Consent is the record of the delegated account management agreement that
// the inviter accepted before inviting (R-EXT-2).
type Consent struct {
	Version    string    `json:"version"`
	AcceptedBy string    `json:"accepted_by"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// Invitation invites an external user, by email, into a role of an account
// with re-delegation and end-date options (R-EXT-1, R-EXT-4). Its token is
// random, reaches only the invitee by mail, and is kept only as TokenHash.
type Invitation struct {
	ID        string           `json:"id"`
	AccountID string           `json:"account_id"`
	Role      string           `json:"role"`
	Email     string           `json:"email"`
	Status    InvitationStatus `json:"status"`
	TokenHash string           `json:"-"`
	ExpiresAt time.Time        `json:"expires_at"`
	// InvitedBy is the inviter's user id ("operator" for the operator itself).
	InvitedBy         string     `json:"invited_by"`
	Consent           Consent    `json:"consent"`
	AllowRedelegation bool       `json:"allow_redelegation"`
	EndsAt            *time.Time `json:"ends_at"`
	DelegatesEndAt    *time.Time `json:"delegates_end_at"`
	// AcceptedByUserID is the user who accepted; ResolvedAt is when the
	// invitation stopped being pending (accepted, revoked or expired).
	AcceptedByUserID string     `json:"accepted_by_user_id,omitempty"`
	ResolvedAt       *time.Time `json:"resolved_at,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// ExpiredAt reports whether a pending invitation's lifetime has passed at t,
// whether or not the scheduler has marked it expired yet.
func (inv *Invitation) ExpiredAt(t time.Time) bool {
	return inv.Status == InvitationExpired || (inv.Status == InvitationPending && !t.Before(inv.ExpiresAt))
}

// InvitationFilter selects invitations of one account.
type InvitationFilter struct {
	AccountID string
	Role      string
	Email     string
	Status    InvitationStatus
	// InvitedBy keeps the invitations sent by this user id (or "operator").
	InvitedBy string
	// ValidAt, when set, keeps only invitations whose lifetime has not passed
	// at that time, so a pending listing never shows a lapsed invitation.
	ValidAt *time.Time
	Page
}

// InvitationStore keeps invitations.
type InvitationStore interface {
	// CreateInvitation returns ECONFLICT when the account already has a pending
	// invitation for the email, or the token hash is taken.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	// FindInvitationByID returns ENOTFOUND for an unknown id or another account's.
	FindInvitationByID(ctx context.Context, accountID, id string) (*Invitation, error)
	// FindInvitationByTokenHash returns ENOTFOUND for an unknown hash.
	FindInvitationByTokenHash(ctx context.Context, hash string) (*Invitation, error)
	// FindInvitations pages through an account's invitations in id order.
	FindInvitations(ctx context.Context, f InvitationFilter) ([]*Invitation, string, error)
	// UpdateInvitation writes every field of inv; ENOTFOUND if it is gone.
	UpdateInvitation(ctx context.Context, inv *Invitation) error
	// DueInvitations returns up to limit pending invitations, of any account,
	// whose lifetime has passed at now, oldest first.
	DueInvitations(ctx context.Context, now time.Time, limit int) ([]*Invitation, error)
	// FindPendingInvitationsOf returns the pending invitations, of any
	// account, addressed to email or sent by the user, in id order.
	FindPendingInvitationsOf(ctx context.Context, email, userID string) ([]*Invitation, error)
}

// EmailList is the emails field of an invitation: in JSON either one string
// of addresses separated by commas, or a list of strings (each of which may
// hold several addresses too).
type EmailList []string

// UnmarshalJSON accepts a string or a list of strings.
func (l *EmailList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = EmailList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("emails must be a string of comma-separated addresses or a list of strings")
	}
	*l = many
	return nil
}

// MaxInvitationEmails bounds the addresses of one invitation request.
const MaxInvitationEmails = 100

// ParseEmails splits the given entries at commas, semicolons and line
// breaks, trims them, drops empty pieces, and returns the addresses
// lower-cased with duplicates collapsed, in first-seen order (R-EXT-3). Every
// bad address is named in one EINVALID error, field emails[i] counting the
// non-empty pieces from 0.
func ParseEmails(entries []string) ([]string, error) {
	emails, _, err := parseEmails(entries)
	return emails, err
}

// parseEmails is ParseEmails that also returns, for each address, the index
// of the piece it first came from, so later errors name the same field.
func parseEmails(entries []string) ([]string, []int, error) {
	var pieces []string
	for _, e := range entries {
		for _, p := range strings.FieldsFunc(e, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
			if p = strings.TrimSpace(p); p != "" {
				pieces = append(pieces, p)
			}
		}
	}
	if len(pieces) == 0 {
		return nil, nil, Invalid("invalid_emails", "Give at least one email address.", FieldError{"emails", "is required"})
	}
	if len(pieces) > MaxInvitationEmails {
		return nil, nil, Invalid("invalid_emails", fmt.Sprintf("At most %d addresses per invitation.", MaxInvitationEmails),
			FieldError{"emails", fmt.Sprintf("has %d addresses; at most %d", len(pieces), MaxInvitationEmails)})
	}
	var out, names []string
	var index []int
	var bad []FieldError
	seen := map[string]bool{}
	for i, p := range pieces {
		email, ok := NormalizeEmail(p)
		if !ok {
			bad = append(bad, FieldError{fmt.Sprintf("emails[%d]", i), fmt.Sprintf("%q is not an email address", p)})
			names = append(names, p)
			continue
		}
		if !seen[email] {
			seen[email] = true
			out, index = append(out, email), append(index, i)
		}
	}
	if len(bad) > 0 {
		return nil, nil, Invalid("invalid_emails", "These are not email addresses: "+strings.Join(names, ", ")+". Nothing was sent.", bad...)
	}
	return out, index, nil
}
