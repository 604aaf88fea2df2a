package steward

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"time"
)

// PasswordHasher hashes and verifies console passwords.
type PasswordHasher interface {
	Hash(password string) (string, error)
	Verify(hash, password string) bool
}

// NewAccount is the input of CreateAccount.
type NewAccount struct {
	Name             string           `json:"name"`
	Kind             AccountKind      `json:"kind"`
	Region           string           `json:"region,omitempty"`
	Billing          Billing          `json:"billing,omitempty"`
	VerifiedDomains  []string         `json:"verified_domains,omitempty"`
	DelegationPolicy DelegationPolicy `json:"delegation_policy,omitempty"`
	// Owner, if given, becomes the account's first super admin in the same
	// transaction, so that the account starts with one (R-SUPER-1).
	Owner *NewOwner `json:"owner,omitempty"`
}

// NewOwner names the first super admin of a new account.
type NewOwner struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email         string `json:"email"`
	Name          string `json:"name"`
	HomeAccountID string `json:"home_account_id"`
	Role          string `json:"role,omitempty"`
	Password      string `json:"password,omitempty"`
}

func (s *Service) requireOperator(ctx context.Context) error {
	a := ActorFromContext(ctx)
	switch {
	case a == nil:
		return Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	case !a.IsOperator():
		return Errorf(EFORBIDDEN, "operator_only", "Only the operator token may do this.")
	}
	return nil
}

// CreateAccount creates an account, and its first super admin if an owner is
// given. Operator only.
func (s *Service) CreateAccount(ctx context.Context, in NewAccount) (*Account, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	var ownerHash string
	if in.Owner != nil {
		var err error
		if ownerHash, err = s.hashPassword(in.Owner.Password, "owner."); err != nil {
			return nil, 0, err
		}
	}
	var acc *Account
	rev, err := s.write(ctx, func(t *txn) error {
		acc = &Account{
			ID: NewID(PrefixAccount, t.now), Name: in.Name, Kind: in.Kind, Region: in.Region, Billing: in.Billing,
			VerifiedDomains: in.VerifiedDomains, DelegationPolicy: in.DelegationPolicy, CreatedAt: t.now, UpdatedAt: t.now,
		}
		if acc.VerifiedDomains == nil {
			acc.VerifiedDomains = []string{}
		}
		if err := acc.Validate(); err != nil {
			return err
		}
		if err := t.CreateAccount(t.ctx, acc); err != nil {
			return err
		}
		t.record(acc.ID, nil, "account.created", "account", acc.ID, acc)
		if in.Owner != nil {
			owner, err := t.createUser(nil, NewUser{Email: in.Owner.Email, Name: in.Owner.Name, Password: in.Owner.Password, HomeAccountID: acc.ID, Role: RoleSuperAdmin}, ownerHash, "owner.")
			if err != nil {
				return err
			}
			acc.Owner = owner
		}
		t.answer(acc)
		return nil
	})
	return acc, rev, err
}

// FindAccount returns an account the actor can see: the operator sees every
// account, a user the accounts it holds a membership in.
func (s *Service) FindAccount(ctx context.Context, id string) (*Account, error) {
	if _, err := s.accessTo(ctx, s.Store, id); err != nil {
		return nil, err
	}
	return s.Store.FindAccountByID(ctx, id)
}

// UpdateAccount changes an account. The operator changes anything; a user
// needs account.billing.manage for billing and account.super_admins.manage
// for the name, verified domains and delegation policy. The region moves only
// by region migration (R-RESTRICT-1).
func (s *Service) UpdateAccount(ctx context.Context, id string, upd AccountUpdate) (*Account, int64, error) {
	var acc *Account
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.s.accessTo(t.ctx, t, id)
		if err != nil {
			return err
		}
		if by.user != nil {
			if upd == (AccountUpdate{}) {
				// SPEC §4 "No-op writes": an empty change needs one of the
				// permissions that change something.
				if !by.holds(PermBillingManage) {
					if err := by.require(PermSuperAdminsManage); err != nil {
						return err
					}
				}
			}
			if upd.Billing != nil {
				if err := by.require(PermBillingManage); err != nil {
					return err
				}
			}
			if upd.Name != nil || upd.VerifiedDomains != nil || upd.DelegationPolicy != nil {
				if err := by.require(PermSuperAdminsManage); err != nil {
					return err
				}
			}
			if upd.Region != nil {
				return Errorf(EFORBIDDEN, "region_migration_required", "The region changes only through POST /v1/accounts/{account}/region-migrations.")
			}
		}
		if acc, err = t.FindAccountByID(t.ctx, id); err != nil {
			return err
		}
		before := *acc
		upd.Apply(acc)
		if err := acc.Validate(); err != nil {
			return err
		}
		if sameAccount(&before, acc) { // SPEC §4 "No-op writes"
			return errUnchanged
		}
		acc.UpdatedAt = t.now
		if err := t.UpdateAccount(t.ctx, acc); err != nil {
			return err
		}
		t.record(acc.ID, by, "account.updated", "account", acc.ID, upd)
		return nil
	})
	return acc, rev, err
}

// sameAccount reports whether an update left every field of the account as it was.
func sameAccount(a, b *Account) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.Region == b.Region && a.Billing == b.Billing &&
		slices.Equal(a.VerifiedDomains, b.VerifiedDomains) && a.DelegationPolicy == b.DelegationPolicy
}

// CreateUser creates a user in its home account with a role there (default
// member). Operator only.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*User, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	hash, err := s.hashPassword(in.Password, "")
	if err != nil {
		return nil, 0, err
	}
	var u *User
	rev, err := s.write(ctx, func(t *txn) error {
		if _, err := t.FindAccountByID(t.ctx, in.HomeAccountID); err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return Invalid("invalid_user", "The user is not valid.", FieldError{"home_account_id", "no account " + quote(in.HomeAccountID)})
			}
			return err
		}
		by, err := t.s.accessTo(t.ctx, t, in.HomeAccountID)
		if err != nil {
			return err
		}
		if u, err = t.createUser(by, in, hash, ""); err != nil {
			return err
		}
		t.answer(u)
		return nil
	})
	return u, rev, err
}

// hashPassword checks a new user's password and hashes it ("" for none). It
// runs before the write's transaction opens: argon2id takes tens of
// milliseconds and 64 MiB, and a write transaction holds SQLite's single
// writer (and PostgreSQL's row locks) for as long as it runs, so hashing
// inside one would stall every other tenant's writes.
func (s *Service) hashPassword(password, fieldPrefix string) (string, error) {
	if password == "" {
		return "", nil
	}
	if len(password) < 8 || len(password) > 200 {
		return "", Invalid("invalid_user", "The user is not valid.", FieldError{fieldPrefix + "password", "must be 8 to 200 characters"})
	}
	if s.Passwords == nil {
		return "", Errorf(EINTERNAL, "internal", "no password hasher configured")
	}
	return s.Passwords.Hash(password)
}

// createUser creates a user and its internal membership in the home account
// with the requested role, filtered by what by holds (R-GRANT-1). by is nil
// when the account itself is being created. passwordHash comes from
// hashPassword, run before the transaction.
func (t *txn) createUser(by *access, in NewUser, passwordHash, fieldPrefix string) (*User, error) {
	u, _, err := t.createUserMember(by, in, passwordHash, fieldPrefix)
	return u, err
}

// heldBackUsers is a store that can hold a user's insert back until the
// transaction's next round trip to the database.
type heldBackUsers interface {
	// CreateUserHeldBack is CreateUser, sent later; a unique violation
	// (the email is taken) fails the transaction with taken.
	CreateUserHeldBack(ctx context.Context, u *User, taken error) error
}

// createUserMember is createUser that also returns the user's membership
// of its home account, as stored.
func (t *txn) createUserMember(by *access, in NewUser, passwordHash, fieldPrefix string) (*User, *Membership, error) {
	u := &User{ID: NewID(PrefixUser, t.now), Email: in.Email, Name: in.Name, HomeAccountID: in.HomeAccountID, Status: UserActive, CreatedAt: t.now, UpdatedAt: t.now}
	if err := u.Validate(); err != nil {
		for i := range err.(*Error).Fields {
			err.(*Error).Fields[i].Field = fieldPrefix + err.(*Error).Fields[i].Field
		}
		return nil, nil, err
	}
	u.PasswordHash = passwordHash
	if by != nil && by.user != nil {
		if err := t.domainFree(u, fieldPrefix); err != nil {
			return nil, nil, err
		}
	}
	role := in.Role
	if role == "" {
		role = RoleMember
	}
	if by == nil {
		by = &access{actor: t.actor, held: t.s.Catalogue.All()}
	}
	r, err := t.s.grantableRole(t.ctx, t, by, u.HomeAccountID, role, KindInternal)
	if err != nil {
		if e, ok := err.(*Error); ok && len(e.Fields) > 0 {
			e.Fields[0].Field = fieldPrefix + "role"
		}
		return nil, nil, err
	}
	taken := &Error{Kind: ECONFLICT, Code: "email_taken", Message: "A user with this email already exists.", Fields: []FieldError{{fieldPrefix + "email", "is taken"}}}
	if hb, ok := t.Store.(heldBackUsers); ok {
		// The insert goes with the transaction's next round trip; a taken
		// email fails the transaction with taken then.
		if err := hb.CreateUserHeldBack(t.ctx, u, taken); err != nil {
			return nil, nil, err
		}
	} else if err := t.CreateUser(t.ctx, u); err != nil {
		if ErrorKind(err) == ECONFLICT {
			return nil, nil, taken
		}
		return nil, nil, err
	}
	m := &Membership{
		ID: NewID(PrefixMembership, t.now), AccountID: u.HomeAccountID, UserID: u.ID, Kind: KindInternal, Status: StatusActive,
		Role: r.ID, Permissions: ApplySet(nil, r.Permissions, by.held), GrantedBy: by.granter(), CreatedAt: t.now, UpdatedAt: t.now,
	}
	if err := t.CreateMembership(t.ctx, m); err != nil {
		return nil, nil, err
	}
	t.record(u.HomeAccountID, by, "user.created", "user", u.ID, map[string]any{"email": u.Email, "name": u.Name})
	t.record(u.HomeAccountID, by, "member.added", "membership", m.ID, map[string]any{"user_id": u.ID, "role": m.Role, "permissions": m.Permissions, "granted_by": m.GrantedBy})
	return u, m, nil
}

// domainFree refuses a new user whose email is in a domain that an account
// other than the user's home account verified (SPEC §4 "Verified domains"):
// such an address becomes a user only with that account as its home, or by
// the operator, who is not asked. Addresses are compared NFKC case folded
// (NormalizeEmail), so look-alike forms of a claimed domain are claimed too.
func (t *txn) domainFree(u *User, fieldPrefix string) error {
	_, domain, _ := strings.Cut(u.Email, "@")
	owners, err := t.FindAccountsByVerifiedDomain(t.ctx, domain)
	if err != nil {
		return err
	}
	if len(owners) == 0 || slices.Contains(owners, u.HomeAccountID) {
		return nil
	}
	return &Error{Kind: ECONFLICT, Code: "domain_claimed",
		Message: "The email's domain is a verified domain of another account; only that account can create users with it.",
		Fields:  []FieldError{{fieldPrefix + "email", "is in a verified domain of another account"}}}
}

// FindUser returns a user visible to the actor: the operator sees everyone, a
// user itself and, with account.users.manage, the users of its account.
func (s *Service) FindUser(ctx context.Context, id string) (*User, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	if err := checkText("user", id); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	u, err := s.Store.FindUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.IsOperator() || a.UserID == id {
		return u, nil
	}
	if by, err := s.accessTo(ctx, s.Store, u.HomeAccountID); err == nil && by.holds(PermUsersManage) {
		return u, nil
	}
	return nil, NotFound("user", id)
}

// Authenticator resolves bearer tokens to actors.
type Authenticator struct {
	Store Store
	// OperatorTokenHash is the SHA-256 of the operator token.
	OperatorTokenHash string
	// Now is the clock tokens expire by; nil means time.Now.
	Now func() time.Time
	// Cache, when set, keeps resolved tokens and act-as users in memory;
	// it must be told of every change of a user (see TokenCache).
	Cache *TokenCache
}

// Authenticate returns the actor of a bearer token and optional act-as user.
// Unknown tokens are EUNAUTHENTICATED; a deactivated user's token EFORBIDDEN.
func (au *Authenticator) Authenticate(ctx context.Context, token, actAs string) (*Actor, error) {
	if token == "" {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required: Authorization: Bearer <token>.")
	}
	if err := checkText("header.Steward-Act-As", actAs); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	hash := HashSecret(token)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(au.OperatorTokenHash)) == 1 {
		if actAs == "" {
			return &Actor{Operator: true}, nil
		}
		if au.Cache != nil && au.Cache.activeUser(actAs) {
			return &Actor{UserID: actAs, Operator: true}, nil
		}
		var gen uint64
		if au.Cache != nil {
			gen = au.Cache.generation()
		}
		u, err := au.Store.FindUserByID(ctx, actAs)
		if ErrorKind(err) == ENOTFOUND {
			return nil, Errorf(EUNAUTHENTICATED, "act_as_unknown", "Steward-Act-As names no user.")
		} else if err != nil {
			return nil, err
		}
		if au.Cache != nil && u.Status == UserActive {
			au.Cache.putUser(gen, u.ID)
		}
		return activeActor(u, true)
	}
	if actAs != "" {
		return nil, Errorf(EFORBIDDEN, "act_as_forbidden", "Only the operator token may use Steward-Act-As.")
	}
	now := time.Now
	if au.Now != nil {
		now = au.Now
	}
	var gen uint64
	if au.Cache != nil {
		// A cached token belongs to a user that was active when it was
		// read, and nothing of that user changed since (R-REVOKE-2).
		if t, ok := au.Cache.token(hash); ok {
			if !now().Before(t.expiresAt) {
				return nil, tokenExpired()
			}
			return &Actor{UserID: t.userID}, nil
		}
		gen = au.Cache.generation()
	}
	// The lookup is by the hash of the secret, so the comparison that decides
	// happens on a digest the caller cannot steer byte by byte.
	tok, err := au.Store.FindTokenByHash(ctx, hash)
	if ErrorKind(err) == ENOTFOUND { // unknown, or revoked
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "The bearer token is not valid.")
	} else if err != nil {
		return nil, err
	}
	if !now().Before(tok.ExpiresAt) {
		return nil, tokenExpired()
	}
	u, err := au.Store.FindUserByID(ctx, tok.UserID)
	if ErrorKind(err) == ENOTFOUND {
		// A deleted user's token answers as an unknown one (SPEC §4
		// "Removing an internal user").
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "The bearer token is not valid.")
	} else if err != nil {
		return nil, err
	}
	if au.Cache != nil && u.Status == UserActive {
		au.Cache.putToken(gen, hash, tok)
	}
	return activeActor(u, false)
}

func tokenExpired() error {
	return Errorf(EUNAUTHENTICATED, "token_expired", "The bearer token has expired; ask for a new one.")
}

func activeActor(u *User, operator bool) (*Actor, error) {
	if u.Status != UserActive {
		return nil, Errorf(EFORBIDDEN, "user_deactivated", "The user is deactivated in its home account.")
	}
	return &Actor{UserID: u.ID, Operator: operator}, nil
}
