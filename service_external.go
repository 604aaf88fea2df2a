package steward

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// External users and re-delegation (R-EXT-1 … R-EXT-10).
//
// Decisions where SPEC is silent:
//   - An external member gets the role's permissions as they are when the
//     invitation is accepted. R-EXT-1 made sure the inviter held every one of
//     them when inviting; a later edit of the role reaches every member of
//     the role anyway (R-GRANT-3), and whoever made it held what it added.
//   - Inviting an address that already has a pending invitation in the
//     account replaces it: the old one is revoked and a new mail goes out.
//   - Turning re-delegation off, or the scheduler passing an end date, marks
//     the delegates expired rather than deleting them: they stay listed with
//     status expired, and turning re-delegation back on does not revive them.
//     An expired external or delegate membership gives way to a new
//     invitation or delegation of the same user.
//   - A delegate has no end date of its own: it ends with its parent's
//     ends_at or delegates_end_at, whichever comes first, which the check
//     reads from the parent at the time it is asked about (R-CHECK-1).

// DefaultInvitationTTL is how long an invitation stays pending (SPEC §5).
const DefaultInvitationTTL = 30 * 24 * time.Hour

// NewInvitations is the input of Invite.
type NewInvitations struct {
	// Emails are addresses separated by commas, or a list (R-EXT-3).
	Emails            EmailList    `json:"emails"`
	Consent           ConsentInput `json:"consent"`
	AllowRedelegation bool         `json:"allow_redelegation"`
	EndsAt            *time.Time   `json:"ends_at,omitempty"`
	DelegatesEndAt    *time.Time   `json:"delegates_end_at,omitempty"`
}

// ExternalUpdate edits an external user's options (R-EXT-8); nil fields stay.
// ClearEndsAt and ClearDelegatesEndAt remove an end date.
type ExternalUpdate struct {
	AllowRedelegation   *bool      `json:"allow_redelegation,omitempty"`
	EndsAt              *time.Time `json:"ends_at,omitempty"`
	DelegatesEndAt      *time.Time `json:"delegates_end_at,omitempty"`
	ClearEndsAt         bool       `json:"clear_ends_at,omitempty"`
	ClearDelegatesEndAt bool       `json:"clear_delegates_end_at,omitempty"`
	// AutoExtend renews the access at its end by its current term (R-LIFE-1).
	AutoExtend *bool `json:"auto_extend,omitempty"`
}

// NewDelegates is the input of AddDelegates: users of the delegating
// external user's own home account, and the permissions they get (default:
// all the parent's).
type NewDelegates struct {
	UserIDs     []string  `json:"user_ids"`
	Permissions *[]string `json:"permissions,omitempty"`
}

// InvitationView is what the holder of an invitation's link sees before
// accepting: who invites, into what, with which options.
type InvitationView struct {
	Invitation
	AccountName  string   `json:"account_name"`
	RoleName     string   `json:"role_name"`
	Permissions  []string `json:"permissions"`
	InviterEmail string   `json:"inviter_email,omitempty"`
}

func (s *Service) invitationTTL() time.Duration {
	if s.InvitationTTL > 0 {
		return s.InvitationTTL
	}
	return DefaultInvitationTTL
}

func (s *Service) redelegationDepth() int {
	if s.RedelegationDepth > 0 {
		return s.RedelegationDepth
	}
	return 1
}

// invitationURL is the link mailed to the invitee; it ends with the token.
func (s *Service) invitationURL(token string) string {
	return strings.TrimRight(s.BaseURL, "/") + "/invitations/" + token
}

// validateEndDates checks the options of R-EXT-4: end dates in the future,
// delegates_end_at not later than ends_at.
func validateEndDates(now time.Time, endsAt, delegatesEndAt *time.Time) error {
	var bad []FieldError
	if endsAt != nil && !endsAt.After(now) {
		bad = append(bad, FieldError{"ends_at", "must be in the future"})
	}
	if delegatesEndAt != nil && !delegatesEndAt.After(now) {
		bad = append(bad, FieldError{"delegates_end_at", "must be in the future"})
	}
	if endsAt != nil && delegatesEndAt != nil && delegatesEndAt.After(*endsAt) {
		bad = append(bad, FieldError{"delegates_end_at", "must not be later than ends_at"})
	}
	if len(bad) > 0 {
		return Invalid("invalid_end_dates", "The end dates are not valid.", bad...)
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// Invite invites external users by email into a role of the account
// (R-EXT-1 … R-EXT-5). The actor needs account.external_users.invite, must
// hold every permission of the role, and must accept the current consent
// agreement. Either every invitation is created and mailed, or none.
func (s *Service) Invite(ctx context.Context, accountID, roleID string, in NewInvitations) ([]*Invitation, int64, error) {
	var out []*Invitation
	rev, err := s.write(ctx, func(t *txn) error {
		out = nil
		by, err := t.lockedActor(accountID, PermExternalUsersInvite)
		if err != nil {
			return err
		}
		if roleID == RoleSuperAdmin { // R-EXT-1, before any permission question
			return Invalid("role_not_assignable", "External users cannot be super admins.", FieldError{"role", "super_admin cannot be given to external users"})
		}
		r, err := t.s.grantableRole(t.ctx, t, by, accountID, roleID, KindExternal)
		if err != nil {
			return err
		}
		if err := t.refuseNeverDelegable(accountID, "role", r.Permissions); err != nil { // R-GUARD-3
			return err
		}
		if err := by.notHeld("role", r.Permissions); err != nil { // R-EXT-1, R-GRANT-1
			return err
		}
		version, err := t.s.checkConsent(in.Consent) // R-EXT-2
		if err != nil {
			return err
		}
		emails, index, err := parseEmails(in.Emails) // R-EXT-3
		if err != nil {
			return err
		}
		endsAt, delegatesEndAt := utcPtr(in.EndsAt), utcPtr(in.DelegatesEndAt)
		if err := validateEndDates(t.now, endsAt, delegatesEndAt); err != nil { // R-EXT-4
			return err
		}
		if endsAt, err = t.boundEndDates(by, endsAt, delegatesEndAt); err != nil { // R-GRANT-5
			return err
		}
		if err := t.checkMaxDays(accountID, KindExternal, t.now, endsAt, "ends_at"); err != nil { // R-GUARD-2
			return err
		}
		var members []FieldError
		for i, email := range emails {
			u, err := t.FindUserByEmail(t.ctx, email)
			if ErrorKind(err) == ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			m, err := t.FindMembership(t.ctx, accountID, u.ID)
			if ErrorKind(err) == ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			if !replaceable(m, t.now) {
				members = append(members, FieldError{fmt.Sprintf("emails[%d]", index[i]), quote(email) + " is already a member of this account"})
			}
		}
		if len(members) > 0 {
			return &Error{Kind: ECONFLICT, Code: "already_member", Message: "Some addresses already belong to members of this account; nothing was sent.", Fields: members}
		}
		consent := Consent{Version: version, AcceptedBy: by.granter(), AcceptedAt: t.now}
		t.record(accountID, by, "consent.accepted", "account", accountID, consent) // R-EXT-2
		acc, err := t.FindAccountByID(t.ctx, accountID)
		if err != nil {
			return err
		}
		for _, email := range emails {
			if err := t.supersedeInvitation(by, accountID, email); err != nil {
				return err
			}
			token := NewSecret("stwi_")
			inv := &Invitation{
				ID: NewID(PrefixInvitation, t.now), AccountID: accountID, Role: r.ID, Email: email, Status: InvitationPending,
				TokenHash: HashSecret(token), ExpiresAt: t.now.Add(t.s.invitationTTL()), InvitedBy: by.granter(), Consent: consent,
				AllowRedelegation: in.AllowRedelegation, EndsAt: endsAt, DelegatesEndAt: delegatesEndAt, CreatedAt: t.now, UpdatedAt: t.now,
			}
			if err := t.CreateInvitation(t.ctx, inv); err != nil {
				return err
			}
			t.record(accountID, by, "invitation.created", "invitation", inv.ID, map[string]any{
				"email": email, "role": r.ID, "expires_at": inv.ExpiresAt, "allow_redelegation": inv.AllowRedelegation,
				"ends_at": inv.EndsAt, "delegates_end_at": inv.DelegatesEndAt, "consent": consent, "invited_by": inv.InvitedBy,
			})
			if err := t.mail(invitationMail(t.s, by, acc, r, inv, token)); err != nil { // R-EXT-5: the token goes only here
				return err
			}
			out = append(out, inv)
		}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

func invitationMail(s *Service, by *access, acc *Account, r *Role, inv *Invitation, token string) *Message {
	inviter := "An administrator"
	if by.user != nil {
		inviter = by.user.Name + " (" + by.user.Email + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s invites you to administer the account %q as %s.\n\n", inviter, acc.Name, r.Name)
	fmt.Fprintf(&b, "Open this link to see what it grants and to accept:\n%s\n\n", s.invitationURL(token))
	fmt.Fprintf(&b, "The invitation expires on %s.\n", inv.ExpiresAt.Format(time.RFC1123))
	if inv.EndsAt != nil {
		fmt.Fprintf(&b, "Your access would end on %s.\n", inv.EndsAt.Format(time.RFC1123))
	}
	if inv.AllowRedelegation {
		b.WriteString("You may hand these permissions to colleagues of your own organisation.\n")
	}
	b.WriteString("\nIf you did not expect this, ignore this message.\n")
	return &Message{To: inv.Email, Subject: "Invitation to administer " + acc.Name, Text: b.String(), AccountID: acc.ID, Kind: "invitation"}
}

// supersedeInvitation revokes the account's pending invitation for email, if
// any, so that the new one replaces it.
func (t *txn) supersedeInvitation(by *access, accountID, email string) error {
	old, _, err := t.FindInvitations(t.ctx, InvitationFilter{AccountID: accountID, Email: email, Status: InvitationPending, Page: Page{Limit: 1}})
	if err != nil || len(old) == 0 {
		return err
	}
	return t.resolveInvitation(by, old[0], InvitationRevoked, "invitation.revoked", map[string]any{"email": email, "reason": "superseded"})
}

func (t *txn) resolveInvitation(by *access, inv *Invitation, status InvitationStatus, action string, details map[string]any) error {
	inv.Status, inv.ResolvedAt, inv.UpdatedAt = status, &t.now, t.now
	if err := t.UpdateInvitation(t.ctx, inv); err != nil {
		return err
	}
	t.record(inv.AccountID, by, action, "invitation", inv.ID, details)
	return nil
}

// replaceable reports whether m is an ended external or delegate membership
// that a new invitation or delegation of its user may take over.
func replaceable(m *Membership, now time.Time) bool {
	return (m.Kind == KindExternal || m.Kind == KindDelegate) && (m.Status == StatusExpired || m.EndedAt(now))
}

// RevokeInvitation revokes a pending invitation; its link stops working.
func (s *Service) RevokeInvitation(ctx context.Context, accountID, id string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermExternalUsersInvite) // against a concurrent acceptance
		if err != nil {
			return err
		}
		inv, err := t.FindInvitationByID(t.ctx, accountID, id)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("invitation", id)
		} else if err != nil {
			return err
		}
		if inv.Status != InvitationPending || inv.ExpiredAt(t.now) {
			return Errorf(ECONFLICT, "invitation_not_pending", "The invitation is %s; only pending invitations can be revoked.", presentInvitation(inv, t.now).Status)
		}
		return t.resolveInvitation(by, inv, InvitationRevoked, "invitation.revoked", map[string]any{"email": inv.Email})
	})
}

// presentInvitation shows a pending invitation whose lifetime has passed as
// expired, whether or not the scheduler has run.
func presentInvitation(inv *Invitation, now time.Time) *Invitation {
	out := *inv
	if out.ExpiredAt(now) {
		out.Status = InvitationExpired
	}
	return &out
}

// FindInvitations pages through the account's invitations. It needs
// account.external_users.invite or account.users.manage. With Status
// pending, lapsed invitations are left out (R-EXT-5).
func (s *Service) FindInvitations(ctx context.Context, f InvitationFilter) ([]*Invitation, string, error) {
	by, err := s.accessTo(ctx, s.Store, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	if !by.holds(PermUsersManage) { // invitees' addresses are for those who manage users
		if err := by.require(PermExternalUsersInvite); err != nil {
			return nil, "", err
		}
	}
	now := s.now()
	if f.Status == InvitationPending {
		f.ValidAt = &now
	}
	f.Page = f.Page.Normalize()
	invs, next, err := s.Store.FindInvitations(ctx, f)
	if err != nil {
		return nil, "", err
	}
	for i, inv := range invs {
		invs[i] = presentInvitation(inv, now)
	}
	return invs, next, nil
}

// FindRoleInvitations pages through the pending invitations into a role: the
// role's members to be (R-EXT-5).
func (s *Service) FindRoleInvitations(ctx context.Context, accountID, roleID string, page Page) ([]*Invitation, string, error) {
	if _, err := s.FindRole(ctx, accountID, roleID); err != nil {
		return nil, "", err
	}
	return s.FindInvitations(ctx, InvitationFilter{AccountID: accountID, Role: roleID, Status: InvitationPending, Page: page})
}

// findInvitationByToken resolves a link's token; an unknown or forged token is
// ENOTFOUND.
func findInvitationByToken(ctx context.Context, st Store, token string) (*Invitation, error) {
	if token == "" {
		return nil, NotFound("invitation", "")
	}
	inv, err := st.FindInvitationByTokenHash(ctx, HashSecret(token))
	if ErrorKind(err) == ENOTFOUND {
		return nil, &Error{Kind: ENOTFOUND, Code: "invitation_not_found", Message: "No invitation has this link."}
	}
	return inv, err
}

// FindInvitationByToken returns what an invitation's link offers. Anyone
// authenticated who holds the link may look; only the invitee may accept.
func (s *Service) FindInvitationByToken(ctx context.Context, token string) (*InvitationView, error) {
	if ActorFromContext(ctx) == nil {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	inv, err := findInvitationByToken(ctx, s.Store, token)
	if err != nil {
		return nil, err
	}
	v := &InvitationView{Invitation: *presentInvitation(inv, s.now())}
	if acc, err := s.Store.FindAccountByID(ctx, inv.AccountID); err == nil {
		v.AccountName = acc.Name
	} else {
		return nil, err
	}
	if r, err := s.findRole(ctx, s.Store, inv.AccountID, inv.Role); err == nil {
		v.RoleName, v.Permissions = r.Name, r.Permissions
	}
	if v.Permissions == nil {
		v.Permissions = []string{}
	}
	if u, err := s.Store.FindUserByID(ctx, inv.InvitedBy); err == nil {
		v.InviterEmail = u.Email
	}
	return v, nil
}

// invitationUsable returns the error for an invitation that cannot be
// accepted now: 409 once used, 410 after expiry or revocation.
func invitationUsable(inv *Invitation, now time.Time) error {
	switch {
	case inv.Status == InvitationAccepted:
		return Errorf(ECONFLICT, "invitation_used", "This invitation has already been accepted.")
	case inv.Status == InvitationRevoked:
		return Errorf(EGONE, "invitation_revoked", "This invitation was revoked; ask for a new one.")
	case inv.ExpiredAt(now):
		return Errorf(EGONE, "invitation_expired", "This invitation has expired; ask for a new one.")
	case inv.EndsAt != nil && !now.Before(*inv.EndsAt):
		return Errorf(EGONE, "invitation_access_ended", "The access this invitation offered ended on %s; ask for a new one.", inv.EndsAt.Format(time.RFC3339))
	}
	return nil
}

// AcceptInvitation makes the acting user an external member of the
// invitation's account with its role and options (R-EXT-6). Only the user
// whose email was invited may accept; the account's policy may require that
// the user's home account has billing information (R-EXT-7).
func (s *Service) AcceptInvitation(ctx context.Context, token string) (*Membership, int64, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return nil, 0, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	if a.UserID == "" {
		return nil, 0, Errorf(EFORBIDDEN, "invitee_only", "Only the invited user can accept an invitation; act as that user.")
	}
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		inv, err := findInvitationByToken(t.ctx, t, token)
		if err != nil {
			return err
		}
		if err := t.LockAccount(t.ctx, inv.AccountID); err != nil {
			return err
		}
		if inv, err = t.FindInvitationByID(t.ctx, inv.AccountID, inv.ID); err != nil { // re-read under the lock: single use
			return err
		}
		u, err := t.acceptable(inv, a.UserID)
		if err != nil {
			return err
		}
		by := &access{actor: a, user: u}
		if err := t.checkMaxDays(inv.AccountID, KindExternal, t.now, inv.EndsAt, "ends_at"); err != nil { // R-GUARD-2, at acceptance
			return err
		}
		if err := t.makeRoom(by, inv.AccountID, u.ID); err != nil {
			return err
		}
		r, err := t.s.findRole(t.ctx, t, inv.AccountID, inv.Role)
		if ErrorKind(err) == ENOTFOUND {
			return Errorf(ECONFLICT, "invitation_role_deleted", "The role of this invitation no longer exists; ask for a new invitation.")
		} else if err != nil {
			return err
		}
		m = &Membership{
			ID: NewID(PrefixMembership, t.now), AccountID: inv.AccountID, UserID: u.ID, Kind: KindExternal, Status: StatusActive,
			Role: r.ID, Permissions: NewSet(r.Permissions...), EndsAt: inv.EndsAt, GrantedBy: inv.InvitedBy,
			AllowRedelegation: inv.AllowRedelegation, DelegatesEndAt: inv.DelegatesEndAt, CreatedAt: t.now, UpdatedAt: t.now,
		}
		if err := t.CreateMembership(t.ctx, m); err != nil {
			return err
		}
		by.eval = &evaluation{members: []*Membership{m}} // the events show the new membership as the actor's chain
		inv.AcceptedByUserID = u.ID
		if err := t.resolveInvitation(by, inv, InvitationAccepted, "invitation.accepted", map[string]any{"email": inv.Email, "user_id": u.ID, "membership_id": m.ID}); err != nil {
			return err
		}
		t.record(inv.AccountID, by, "member.added", "membership", m.ID, map[string]any{
			"user_id": u.ID, "kind": m.Kind, "role": m.Role, "permissions": m.Permissions, "granted_by": m.GrantedBy, // R-GRANT-4
			"home_account_id": u.HomeAccountID, "invitation_id": inv.ID, "ends_at": m.EndsAt,
			"allow_redelegation": m.AllowRedelegation, "delegates_end_at": m.DelegatesEndAt,
		})
		m = t.s.present(t.ctx, t, m)
		t.answer(m)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return m, rev, nil
}

// checkDelegateBilling applies the account's policy of R-EXT-7: when it
// requires delegate billing, the user's home account must have billing
// information.
// acceptable returns the user who may accept inv, or why it cannot: the
// invitation is no longer usable, it is for another email (R-EXT-6), or the
// account admits only users whose home account has billing (R-EXT-7).
func (t *txn) acceptable(inv *Invitation, userID string) (*User, error) {
	if err := invitationUsable(inv, t.now); err != nil {
		return nil, err
	}
	u, err := t.FindUserByID(t.ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Email != inv.Email { // R-EXT-6
		return nil, Errorf(EFORBIDDEN, "invitation_email_mismatch", "This invitation is for another email address; only its addressee can accept it.")
	}
	acc, err := t.FindAccountByID(t.ctx, inv.AccountID)
	if err != nil {
		return nil, err
	}
	if err := t.checkDelegateBilling(acc, u, "invitation"); err != nil { // R-EXT-7
		return nil, err
	}
	return u, nil
}

func (t *txn) checkDelegateBilling(acc *Account, u *User, what string) error {
	if !acc.DelegationPolicy.RequireDelegateBilling {
		return nil
	}
	home, err := t.FindAccountByID(t.ctx, u.HomeAccountID)
	if err != nil {
		return err
	}
	if !home.Billing.HasBillingInfo {
		return Errorf(EFORBIDDEN, "home_account_billing_required",
			"The account %q only admits external administrators whose own account has billing information; %s's account %q has none, so this %s cannot be accepted.",
			acc.Name, u.Email, home.Name, what)
	}
	return nil
}

// makeRoom refuses a user who already is a member of the account, unless the
// membership is an ended external or delegate one, which is removed (with its
// delegates) so that a new one can take its place.
func (t *txn) makeRoom(by *access, accountID, userID string) error {
	old, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if !replaceable(old, t.now) {
		return Errorf(ECONFLICT, "already_member", "This user already is a member of the account.")
	}
	return t.removeMembership(by, old, "member.replaced")
}

// externalMember loads the external member userID of the account.
func (t *txn) externalMember(accountID, userID string) (*Membership, error) {
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND || (err == nil && m.Kind != KindExternal) {
		return nil, &Error{Kind: ENOTFOUND, Code: "external_user_not_found", Message: fmt.Sprintf("No external user %q in this account.", userID)}
	}
	return m, err
}

// UpdateExternalUser edits an external user's options: re-delegation and end
// dates (R-EXT-4, R-EXT-8). It needs account.users.manage and every
// permission of the external user, and is never open to the external user
// itself or its delegates. Turning re-delegation off ends the user's
// delegates at once. Moving ends_at into the future brings an expired
// external user back. Moving an end earlier ends what the user and its
// delegates gave by then (R-GRANT-5).
func (s *Service) UpdateExternalUser(ctx context.Context, accountID, userID string, upd ExternalUpdate) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermUsersManage) // R-EXT-8
		if err != nil {
			return err
		}
		if m, err = t.externalMember(accountID, userID); err != nil {
			return err
		}
		if by.eval != nil {
			for _, link := range by.eval.members {
				if link.ID == m.ID { // R-EXT-8: not the external user itself, nor a delegate below it
					return Errorf(EFORBIDDEN, "own_access", "An external user's options are edited by the account's administrators, never by the external user or its delegates.")
				}
			}
		}
		if err := by.notHeld("permissions", m.OwnEffective(t.s.Catalogue)); err != nil { // R-EXT-8, R-GRANT-1
			return err
		}
		var both []FieldError
		if upd.ClearEndsAt && upd.EndsAt != nil {
			both = append(both, FieldError{"ends_at", "set it or clear it, not both"})
		}
		if upd.ClearDelegatesEndAt && upd.DelegatesEndAt != nil {
			both = append(both, FieldError{"delegates_end_at", "set it or clear it, not both"})
		}
		if len(both) > 0 {
			return Invalid("invalid_update", "An end date cannot be set and cleared at once.", both...)
		}
		before := *m
		endsAt, delegatesEndAt := m.EndsAt, m.DelegatesEndAt
		if upd.EndsAt != nil || upd.ClearEndsAt {
			endsAt = utcPtr(upd.EndsAt)
		}
		if upd.DelegatesEndAt != nil || upd.ClearDelegatesEndAt {
			delegatesEndAt = utcPtr(upd.DelegatesEndAt)
		}
		// Only the dates given are checked for the future; an unchanged past
		// date is not the caller's input. The order always holds.
		var check [2]*time.Time
		if upd.EndsAt != nil {
			check[0] = endsAt
		}
		if upd.DelegatesEndAt != nil {
			check[1] = delegatesEndAt
		}
		if err := validateEndDates(t.now, check[0], check[1]); err != nil {
			return err
		}
		if endsAt != nil && delegatesEndAt != nil && delegatesEndAt.After(*endsAt) {
			return Invalid("invalid_end_dates", "The end dates are not valid.", FieldError{"delegates_end_at", "must not be later than ends_at"})
		}
		if later(m.EndsAt, endsAt) {
			// R-GUARD-2: no extension past the maximum, counted from acceptance.
			if err := t.checkMaxDays(accountID, KindExternal, m.CreatedAt, endsAt, "ends_at"); err != nil {
				return err
			}
		}
		// R-GRANT-5: an editor whose own access ends cannot make this one
		// last longer than its own, nor open re-delegation on access that does.
		widens := later(m.EndsAt, endsAt) || later(m.DelegatesEndAt, delegatesEndAt) || (upd.AllowRedelegation != nil && *upd.AllowRedelegation && !m.AllowRedelegation)
		if end, err := t.grantEnd(by); err != nil {
			return err
		} else if widens && end != nil && (endsAt == nil || endsAt.After(*end)) {
			return Invalid("ends_after_granter", "Nothing you give can last longer than your own access.",
				FieldError{"ends_at", "must not be later than the end of your own access, " + end.Format(time.RFC3339)})
		} else if end != nil && upd.AutoExtend != nil && *upd.AutoExtend && !m.AutoExtend {
			// R-GRANT-5: renewal would outlast an editor whose access ends.
			return Invalid("ends_after_granter", "Nothing you give can last longer than your own access.",
				FieldError{"auto_extend", "your own access ends on " + end.Format(time.RFC3339)})
		}
		oldEnd, err := t.endOf(m)
		if err != nil {
			return err
		}
		oldDelegatesEnd := earliest(oldEnd, m.DelegatesEndAt)
		if upd.AllowRedelegation != nil {
			m.AllowRedelegation = *upd.AllowRedelegation
		}
		if !sameTime(m.EndsAt, endsAt) { // R-LIFE-1: a new end starts a new term
			m.TermStartedAt = nil
			if endsAt != nil {
				m.TermStartedAt = &t.now
			}
		}
		m.EndsAt, m.DelegatesEndAt = endsAt, delegatesEndAt
		if upd.AutoExtend != nil {
			m.AutoExtend = *upd.AutoExtend
		} else if m.EndsAt == nil {
			m.AutoExtend = false // nothing left to renew
		}
		if m.AutoExtend && m.EndsAt == nil {
			return Invalid("end_date_required", "auto_extend renews an end date; this access has none.", FieldError{"auto_extend", "needs ends_at"})
		}
		if m.Status == StatusExpired && !m.EndedAt(t.now) && (upd.EndsAt != nil || upd.ClearEndsAt) {
			m.Status = StatusActive
		}
		if m.AllowRedelegation == before.AllowRedelegation && m.Status == before.Status && m.AutoExtend == before.AutoExtend &&
			sameTime(m.EndsAt, before.EndsAt) && sameTime(m.DelegatesEndAt, before.DelegatesEndAt) {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		m.UpdatedAt = t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		t.record(accountID, by, "external_user.updated", "membership", m.ID, map[string]any{
			"user_id": m.UserID,
			"from": map[string]any{"allow_redelegation": before.AllowRedelegation, "ends_at": before.EndsAt, "delegates_end_at": before.DelegatesEndAt, "status": before.Status,
				"auto_extend": before.AutoExtend},
			"to": map[string]any{"allow_redelegation": m.AllowRedelegation, "ends_at": m.EndsAt, "delegates_end_at": m.DelegatesEndAt, "status": m.Status,
				"auto_extend": m.AutoExtend},
		})
		if before.AllowRedelegation && !m.AllowRedelegation { // R-EXT-8
			if err := t.endDelegates(by, m, "redelegation_off"); err != nil {
				return err
			}
		}
		// R-GRANT-5: what the user and its delegates gave ends with them.
		newEnd, err := t.endOf(m)
		if err != nil {
			return err
		}
		if err := t.endMovedEarlier(by, m, oldEnd, newEnd); err != nil {
			return err
		}
		if d := earliest(newEnd, m.DelegatesEndAt); d != nil && (oldDelegatesEnd == nil || d.Before(*oldDelegatesEnd)) {
			return t.clipDelegatesGrants(by, accountID, m.UserID, *d, map[string]bool{})
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return s.present(ctx, s.Store, m), rev, nil
}

// sameTime reports whether two optional times are both unset or equal.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// later reports whether the end date to is later than from (no end is latest).
func later(from, to *time.Time) bool {
	switch {
	case from == nil:
		return false
	case to == nil:
		return true
	}
	return to.After(*from)
}

// endDelegates marks every active delegate below m expired, depth first,
// recording each.
func (t *txn) endDelegates(by *access, m *Membership, reason string) error {
	for page := (Page{Limit: MaxPageLimit}); ; {
		ds, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: m.AccountID, ParentID: m.ID, Page: page})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := t.endDelegates(by, d, reason); err != nil {
				return err
			}
			if d.Status != StatusActive {
				continue
			}
			d.Status, d.UpdatedAt = StatusExpired, t.now
			if err := t.UpdateMembership(t.ctx, d); err != nil {
				return err
			}
			t.record(d.AccountID, by, "delegate.ended", "membership", d.ID, map[string]any{"user_id": d.UserID, "parent_id": m.ID, "reason": reason})
			if err := t.accessEnded(by, d); err != nil { // R-GRANT-5
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// AddDelegates lets an external user who may re-delegate hand the role's
// permissions, or fewer, to users of its own home account (R-EXT-9). Only the
// external user itself delegates. Each delegate gets at most what the parent
// holds, now and later (the check caps it by the parent), and ends when the
// parent ends. The depth limit is Service.RedelegationDepth.
func (s *Service) AddDelegates(ctx context.Context, accountID, parentUserID string, in NewDelegates) ([]*Membership, int64, error) {
	var out []*Membership
	rev, err := s.write(ctx, func(t *txn) error {
		out = nil
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if by.user == nil || by.user.ID != parentUserID {
			return Errorf(EFORBIDDEN, "delegator_only", "Only the external user itself adds its delegates.")
		}
		parent := by.membership()
		switch {
		case parent.Kind != KindExternal && parent.Kind != KindDelegate:
			return Errorf(EFORBIDDEN, "redelegation_not_allowed", "Only external users re-delegate their access.")
		case len(by.eval.members) > t.s.redelegationDepth(): // the parent is itself len-1 links deep
			return Errorf(EFORBIDDEN, "redelegation_depth_exceeded", "Delegates cannot delegate further: at most %d level(s) of re-delegation.", t.s.redelegationDepth())
		case !parent.AllowRedelegation:
			return Errorf(EFORBIDDEN, "redelegation_not_allowed", "Your access in this account does not allow re-delegation.")
		case parent.DelegatesEndAt != nil && !t.now.Before(*parent.DelegatesEndAt):
			return Errorf(EFORBIDDEN, "redelegation_ended", "The end date for your delegates has passed.")
		}
		perms := by.held // default: all the parent's
		if in.Permissions != nil {
			if perms, err = t.s.Catalogue.Validate("permissions", *in.Permissions); err != nil {
				return err
			}
			if err := t.refuseNeverDelegable(accountID, "permissions", perms); err != nil { // R-GUARD-3
				return err
			}
			if err := by.notHeld("permissions", perms); err != nil { // R-EXT-9: never more than the parent
				return err
			}
		}
		if len(in.UserIDs) == 0 {
			return Invalid("invalid_delegates", "Name the users to delegate to.", FieldError{"user_ids", "is required"})
		}
		acc, err := t.FindAccountByID(t.ctx, accountID)
		if err != nil {
			return err
		}
		var bad []FieldError
		var users []*User
		seen := map[string]bool{}
		for i, id := range in.UserIDs {
			u, err := t.FindUserByID(t.ctx, id)
			switch {
			case err != nil && ErrorKind(err) != ENOTFOUND:
				return err
			case err != nil || u.HomeAccountID != by.user.HomeAccountID: // the same answer for both: ids elsewhere are never confirmed
				bad = append(bad, FieldError{fmt.Sprintf("user_ids[%d]", i), quote(id) + " is not a user of your own account"})
			case u.ID == by.user.ID:
				bad = append(bad, FieldError{fmt.Sprintf("user_ids[%d]", i), "you cannot delegate to yourself"})
			case u.Status != UserActive:
				bad = append(bad, FieldError{fmt.Sprintf("user_ids[%d]", i), quote(id) + " is deactivated"})
			case !seen[u.ID]:
				seen[u.ID] = true
				users = append(users, u)
			}
		}
		if len(bad) > 0 {
			return Invalid("invalid_delegates", "Delegates must be active users of your own account.", bad...)
		}
		for _, u := range users {
			if err := t.checkDelegateBilling(acc, u, "delegation"); err != nil { // R-EXT-7
				return err
			}
			if err := t.makeRoom(by, accountID, u.ID); err != nil {
				return err
			}
			d := &Membership{
				ID: NewID(PrefixMembership, t.now), AccountID: accountID, UserID: u.ID, Kind: KindDelegate, Status: StatusActive,
				Role: parent.Role, Permissions: NewSet(perms...), GrantedBy: by.granter(), ParentID: parent.ID, CreatedAt: t.now, UpdatedAt: t.now,
				// A delegate may delegate further only while the depth limit leaves room.
				AllowRedelegation: len(by.eval.members)+1 <= t.s.redelegationDepth(),
			}
			if err := t.CreateMembership(t.ctx, d); err != nil {
				return err
			}
			t.record(accountID, by, "delegate.added", "membership", d.ID, map[string]any{
				"user_id": u.ID, "parent_id": parent.ID, "role": d.Role, "permissions": d.Permissions, "granted_by": d.GrantedBy,
				"home_account_id": u.HomeAccountID,
			})
			out = append(out, d)
		}
		for i, d := range out {
			out[i] = t.s.present(t.ctx, t, d)
		}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// RemoveDelegate removes a delegate of an external user. The external user
// itself or a holder of account.users.manage may (SPEC §4 "Memberships").
func (s *Service) RemoveDelegate(ctx context.Context, accountID, parentUserID, delegateUserID string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if by.user == nil || by.user.ID != parentUserID {
			if err := by.require(PermUsersManage); err != nil {
				return err
			}
		}
		parent, err := t.FindMembership(t.ctx, accountID, parentUserID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("member", parentUserID)
		} else if err != nil {
			return err
		}
		d, err := t.FindMembership(t.ctx, accountID, delegateUserID)
		if ErrorKind(err) == ENOTFOUND || (err == nil && (d.Kind != KindDelegate || d.ParentID != parent.ID)) {
			return &Error{Kind: ENOTFOUND, Code: "delegate_not_found", Message: fmt.Sprintf("No delegate %q of this user.", delegateUserID)}
		} else if err != nil {
			return err
		}
		return t.removeMembership(by, d, "delegate.removed")
	})
}

// FindDelegates pages through the delegates of a member.
func (s *Service) FindDelegates(ctx context.Context, accountID, parentUserID string, page Page) ([]*Membership, string, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, "", err
	}
	parent, err := s.Store.FindMembership(ctx, accountID, parentUserID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, "", NotFound("member", parentUserID)
	} else if err != nil {
		return nil, "", err
	}
	return s.FindMembers(ctx, MembershipFilter{AccountID: accountID, ParentID: parent.ID, Page: page})
}
