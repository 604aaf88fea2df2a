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
	return s.SessionUser(NewContextWithActor(ctx, &Actor{UserID: u.ID}))
}

// SessionUser returns the acting user if it may hold a console session now:
// it is active in its home account and at least one of its memberships
// holds. Otherwise EFORBIDDEN: a deactivated user, or one whose every
// membership ended, neither signs in nor keeps a session. The console asks
// on every request, so a revocation takes effect on the next one; the
// answer stops at the first membership that holds, and comes from the
// check index when the service has one (which applies this node's writes
// before they are answered).
func (s *Service) SessionUser(ctx context.Context) (*User, error) {
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
		return nil, errSessionDeactivated()
	}
	if s.Lister != nil {
		if items, _ := s.Lister.FindUserAccounts(u.ID, "", s.now(), "", 1); len(items) > 0 {
			return u, nil
		}
		return nil, errSessionEnded()
	}
	if err := s.sessionRefusal(ctx, s.Store, u); err != nil {
		return nil, err
	}
	return u, nil
}

// sessionRefusal returns why u may not hold a console session now, reading
// st (a transaction's store, say): deactivated in its home account, or no
// membership that holds; nil when it may.
func (s *Service) sessionRefusal(ctx context.Context, st Store, u *User) error {
	if u.Status != UserActive {
		return errSessionDeactivated()
	}
	now := s.now()
	ms, err := st.FindUserMemberships(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		ev, err := s.evaluate(ctx, st, m, now)
		if err != nil {
			return err
		}
		if ev.holds {
			return nil
		}
	}
	return errSessionEnded()
}

func errSessionDeactivated() *Error {
	return Errorf(EFORBIDDEN, ReasonUserDeactivated, "Your user is deactivated in its home account; ask one of its administrators.")
}

func errSessionEnded() *Error {
	return Errorf(EFORBIDDEN, ReasonMembershipExpired, "None of your memberships holds any more; ask an administrator of your account.")
}

// StandingIn returns the acting user's standing in one account: how it can
// act there now (R-CHECK-2). An account in which no membership of the user
// holds is ENOTFOUND, exactly like an unknown account.
func (s *Service) StandingIn(ctx context.Context, accountID string) (*Standing, error) {
	a := ActorFromContext(ctx)
	if a == nil || a.UserID == "" {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	}
	m, err := s.Store.FindMembership(ctx, accountID, a.UserID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("account", accountID)
	} else if err != nil {
		return nil, err
	}
	st, err := s.standing(ctx, m, s.now())
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, NotFound("account", accountID)
	}
	return st, nil
}

// FindStandings pages through the accounts the acting user can act in now,
// in account id order, each with how (R-CHECK-2). Unlike Standings it reads
// only the page: a partner admin in thousands of clients pays for 50.
func (s *Service) FindStandings(ctx context.Context, page Page) ([]*Standing, string, error) {
	u, err := s.SessionUser(ctx)
	if err != nil {
		return nil, "", err
	}
	page = page.Normalize()
	limit := page.Limit
	now := s.now()
	var ms []*Membership
	var next string
	if s.Lister != nil {
		items, n := s.Lister.FindUserAccounts(u.ID, "", now, page.After, limit)
		for _, it := range items {
			m, err := s.Store.FindMembership(ctx, it.AccountID, u.ID)
			if ErrorKind(err) == ENOTFOUND {
				continue // removed since the index answered
			} else if err != nil {
				return nil, "", err
			}
			ms = append(ms, m)
		}
		next = n
	} else {
		all, err := s.Store.FindUserMemberships(ctx, u.ID)
		if err != nil {
			return nil, "", err
		}
		slices.SortFunc(all, func(x, y *Membership) int { return strings.Compare(x.AccountID, y.AccountID) })
		i, _ := slices.BinarySearchFunc(all, page.After, func(m *Membership, after string) int { return strings.Compare(m.AccountID, after) })
		for ; i < len(all) && page.After != "" && all[i].AccountID == page.After; i++ {
		}
		for ; i < len(all); i++ {
			ev, err := s.evaluate(ctx, s.Store, all[i], now)
			if err != nil {
				return nil, "", err
			}
			if !ev.holds {
				continue
			}
			if len(ms) == limit {
				next = ms[len(ms)-1].AccountID
				break
			}
			ms = append(ms, all[i])
		}
	}
	out := make([]*Standing, 0, len(ms))
	for _, m := range ms {
		st, err := s.standing(ctx, m, now)
		if err != nil {
			return nil, "", err
		}
		if st != nil {
			out = append(out, st)
		}
	}
	return out, next, nil
}

// SwitchAccounts returns up to limit accounts the acting user can act in
// now, home account first, then by name, and whether there are more: the
// console's account switcher, drawn on every page, reads no more than that.
// The caller has checked the session (SessionUser).
func (s *Service) SwitchAccounts(ctx context.Context, limit int) ([]*Account, bool, error) {
	a := ActorFromContext(ctx)
	if a == nil || a.UserID == "" {
		return nil, false, Errorf(EUNAUTHENTICATED, "unauthenticated", "Sign in first.")
	}
	now := s.now()
	var ids []string
	more := false
	if s.Lister != nil {
		items, next := s.Lister.FindUserAccounts(a.UserID, "", now, "", limit)
		for _, it := range items {
			ids = append(ids, it.AccountID)
		}
		more = next != ""
	} else {
		ms, err := s.Store.FindUserMemberships(ctx, a.UserID)
		if err != nil {
			return nil, false, err
		}
		for _, m := range ms {
			ev, err := s.evaluate(ctx, s.Store, m, now)
			if err != nil {
				return nil, false, err
			}
			if !ev.holds {
				continue
			}
			if len(ids) == limit {
				more = true
				break
			}
			ids = append(ids, m.AccountID)
		}
	}
	u, err := s.Store.FindUserByID(ctx, a.UserID)
	if err != nil {
		return nil, false, err
	}
	out := make([]*Account, 0, len(ids))
	for _, id := range ids {
		acc, err := s.Store.FindAccountByID(ctx, id)
		if ErrorKind(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return nil, false, err
		}
		out = append(out, acc)
	}
	slices.SortStableFunc(out, func(x, y *Account) int {
		switch {
		case x.ID == y.ID:
			return 0
		case x.ID == u.HomeAccountID:
			return -1
		case y.ID == u.HomeAccountID:
			return 1
		}
		return strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name))
	})
	return out, more, nil
}

// standing is how the user of m can act in m's account at now, or nil when
// m does not hold.
func (s *Service) standing(ctx context.Context, m *Membership, now time.Time) (*Standing, error) {
	ev, err := s.evaluate(ctx, s.Store, m, now)
	if err != nil || !ev.holds {
		return nil, err
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
	return st, nil
}

// Standings returns every account the acting user can act in now, home
// account first, each with how (R-CHECK-2). A user deactivated in its home
// account, or whose every membership has ended, gets EFORBIDDEN. It reads
// every membership of the user: pages that need one account ask StandingIn,
// lists ask FindStandings.
func (s *Service) Standings(ctx context.Context) ([]*Standing, error) {
	return s.StandingsWithRole(ctx, "")
}

// StandingsWithRole is Standings restricted to the memberships of one role
// (all with role empty): only those are evaluated.
func (s *Service) StandingsWithRole(ctx context.Context, role string) ([]*Standing, error) {
	u, err := s.SessionUser(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.Store.FindUserMemberships(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Standing
	for _, m := range ms {
		if role != "" && m.Role != role {
			continue
		}
		st, err := s.standing(ctx, m, now)
		if err != nil {
			return nil, err
		}
		if st != nil {
			out = append(out, st)
		}
	}
	if len(out) == 0 && role == "" {
		return nil, errSessionEnded()
	}
	SortStandings(out, u.HomeAccountID)
	return out, nil
}

// SortStandings orders standings home account first, then by account name.
func SortStandings(sts []*Standing, homeAccountID string) {
	slices.SortStableFunc(sts, func(x, y *Standing) int {
		switch {
		case x.Account.ID == y.Account.ID:
			return 0
		case x.Account.ID == homeAccountID:
			return -1
		case y.Account.ID == homeAccountID:
			return 1
		}
		return strings.Compare(strings.ToLower(x.Account.Name), strings.ToLower(y.Account.Name))
	})
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
