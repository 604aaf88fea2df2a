package steward

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Standing is one account a user can act in now, and how (R-CHECK-2): the
// membership, the chain it hangs on and when the earliest link ends.
type Standing struct {
	Account    *Account    `json:"account"`
	Membership *Membership `json:"membership"`
	// RoleName is the display name of the membership's role.
	RoleName string `json:"role_name"`
	// Partner is the partner account a partner membership comes through.
	Partner *Account `json:"partner,omitempty"`
	// Delegator is the external user a delegate membership comes from.
	Delegator *User `json:"delegator,omitempty"`
	// Chain lists the links the access depends on, the membership first.
	Chain []ChainLink `json:"chain"`
	// EndsAt is the earliest end along the chain.
	EndsAt *time.Time `json:"ends_at,omitempty"`
	// Permissions are the effective ones now.
	Permissions []string `json:"permissions"`
}

// errSignIn is the one answer to an unknown email and a wrong password, so
// that the sign-in page never tells which addresses have users.
func errSignIn() *Error {
	return Errorf(EUNAUTHENTICATED, "sign_in_failed", "The email address or the password is not right.")
}

var (
	decoyOnce sync.Once
	decoyHash string
)

// SignIn returns the user whose email and console password these are. An
// unknown email and a wrong password get the same error, after the same
// work (a hash is verified either way). A user who is deactivated in its
// home account, or whose every membership has ended, cannot sign in.
func (s *Service) SignIn(ctx context.Context, email, password string) (*User, error) {
	if s.Passwords == nil {
		return nil, Errorf(EUNAVAILABLE, "passwords_disabled", "Signing in by password is not configured on this server.")
	}
	addr, ok := NormalizeEmail(email)
	if !ok || password == "" || len(password) > 1024 {
		return nil, Invalid("invalid_sign_in", "Enter your email address and your password.",
			FieldError{"email", "must be an email address such as ada@example.com"})
	}
	u, err := s.Store.FindUserByEmail(ctx, addr)
	if err != nil && ErrorKind(err) != ENOTFOUND {
		return nil, err
	}
	if u == nil || u.PasswordHash == "" {
		decoyOnce.Do(func() { decoyHash, _ = s.Passwords.Hash("decoy password, never matched") })
		s.Passwords.Verify(decoyHash, password)
		return nil, errSignIn()
	}
	if !s.Passwords.Verify(u.PasswordHash, password) {
		return nil, errSignIn()
	}
	if _, err := s.Standings(NewContextWithActor(ctx, &Actor{UserID: u.ID})); err != nil {
		return nil, err
	}
	return u, nil
}

// Standings returns every account the acting user can act in now, home
// account first, each with how (R-CHECK-2). A user deactivated in its home
// account, or whose every membership has ended, gets EFORBIDDEN: the console
// asks on every request, so such a user neither signs in nor keeps a session.
func (s *Service) Standings(ctx context.Context) ([]*Standing, error) {
	a := ActorFromContext(ctx)
	if a == nil || a.UserID == "" {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	}
	u, err := s.Store.FindUserByID(ctx, a.UserID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	} else if err != nil {
		return nil, err
	}
	if u.Status != UserActive {
		return nil, Errorf(EFORBIDDEN, ReasonUserDeactivated, "Your user is deactivated in its home account; ask one of its administrators.")
	}
	ms, err := s.Store.FindUserMemberships(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Standing
	for _, m := range ms {
		ev, err := s.evaluate(ctx, s.Store, m, now)
		if err != nil {
			return nil, err
		}
		if !ev.holds {
			continue
		}
		acc, err := s.Store.FindAccountByID(ctx, m.AccountID)
		if err != nil {
			return nil, err
		}
		st := &Standing{Account: acc, Membership: m, RoleName: m.Role, Chain: ev.chain, EndsAt: ev.endsAt, Permissions: ev.effective}
		if r, err := s.findRole(ctx, s.Store, m.AccountID, m.Role); err == nil {
			st.RoleName = r.Name
		}
		if m.Kind == KindPartner {
			if st.Partner, err = s.Store.FindAccountByID(ctx, m.PartnerID); err != nil {
				return nil, err
			}
		}
		if m.Kind == KindDelegate && len(ev.members) > 1 {
			if st.Delegator, err = s.Store.FindUserByID(ctx, ev.members[1].UserID); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, Errorf(EFORBIDDEN, ReasonMembershipExpired, "None of your memberships holds any more; ask an administrator of your account.")
	}
	slices.SortStableFunc(out, func(x, y *Standing) int {
		switch {
		case x.Account.ID == u.HomeAccountID:
			return -1
		case y.Account.ID == u.HomeAccountID:
			return 1
		}
		return strings.Compare(strings.ToLower(x.Account.Name), strings.ToLower(y.Account.Name))
	})
	return out, nil
}

// InvitationRefusal returns the error AcceptInvitation would answer the
// acting user now, or nil when the user may accept: the invitation page
// says why before anyone clicks (R-EXT-6, R-EXT-7).
func (s *Service) InvitationRefusal(ctx context.Context, token string) error {
	a := ActorFromContext(ctx)
	if a == nil {
		return Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	}
	if a.UserID == "" {
		return Errorf(EFORBIDDEN, "invitee_only", "Only the invited user can accept an invitation; act as that user.")
	}
	inv, err := findInvitationByToken(ctx, s.Store, token)
	if err != nil {
		return err
	}
	t := &txn{Store: s.Store, s: s, ctx: ctx, now: s.now(), actor: a}
	_, err = t.acceptable(inv, a.UserID)
	return err
}

// MemberView is a membership with its user's name, email and status, as
// lists of members show it.
type MemberView struct {
	*Membership
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	UserStatus UserStatus `json:"user_status"`
}

// FindMemberViews is FindMembers with each member's name and email: whoever
// may list an account's members may read who they are.
func (s *Service) FindMemberViews(ctx context.Context, f MembershipFilter) ([]*MemberView, string, error) {
	ms, next, err := s.FindMembers(ctx, f)
	if err != nil {
		return nil, "", err
	}
	out := make([]*MemberView, 0, len(ms))
	for _, m := range ms {
		u, err := s.Store.FindUserByID(ctx, m.UserID)
		if err != nil {
			return nil, "", err
		}
		out = append(out, &MemberView{Membership: m, Email: u.Email, Name: u.Name, UserStatus: u.Status})
	}
	return out, next, nil
}

// FindMemberView returns one member of the account with its name and email.
func (s *Service) FindMemberView(ctx context.Context, accountID, userID string) (*MemberView, error) {
	m, err := s.FindMember(ctx, accountID, userID)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.FindUserByID(ctx, m.UserID)
	if err != nil {
		return nil, err
	}
	return &MemberView{Membership: m, Email: u.Email, Name: u.Name, UserStatus: u.Status}, nil
}

// mailPageLimit bounds the mail page: the newest messages only.
const mailPageLimit = 200

// FindMail returns the newest outgoing mail, for the console's mail page
// when mail goes to the mail folder rather than SMTP: the operator sees
// every message, a user only those addressed to it.
func (s *Service) FindMail(ctx context.Context) ([]*Message, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	}
	msgs, err := s.Store.FindMessages(ctx, mailPageLimit)
	if err != nil || a.IsOperator() {
		return msgs, err
	}
	u, err := s.Store.FindUserByID(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	var out []*Message
	for _, m := range msgs {
		if strings.EqualFold(m.To, u.Email) {
			out = append(out, m)
		}
	}
	return out, nil
}
