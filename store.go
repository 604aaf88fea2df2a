package steward

import (
	"context"
	"time"
)

// Store keeps Steward's state. It holds no rules: the Service enforces them.
// Every query of an account-scoped method filters on the account it is
// given, so one tenant's ids never reach another's results.
//
// Methods return *Error with ENOTFOUND for missing rows and ECONFLICT for
// unique violations; anything else is an internal error.
type Store interface {
	AccountStore
	UserStore
	RoleStore
	MembershipStore
	TokenStore
	AuditStore
	ChangeStore
	IdempotencyStore
	SettingStore
	OutboxStore
	InvitationStore
	JobStore
	RelationshipStore
	AccessLinkStore
	ConsoleLinkStore
	AssetStore
	SCIMStore
	ReviewStore
	PolicyStore
	AccessRequestStore
	WebhookStore
	ElevationStore
	IdentityStore

	// InTx runs fn in one transaction and commits if it returns nil. Writers
	// are serialised per account (see LockAccount); a transaction that loses
	// a race to the database is retried, so fn must be safe to run again.
	InTx(ctx context.Context, fn func(tx Store) error) error
}

// AccountStore keeps accounts.
type AccountStore interface {
	CreateAccount(ctx context.Context, a *Account) error
	// FindAccountByID returns ENOTFOUND for an unknown id.
	FindAccountByID(ctx context.Context, id string) (*Account, error)
	UpdateAccount(ctx context.Context, a *Account) error
	// LockAccount holds the account's row until the transaction ends, so that
	// invariants over its memberships (R-SUPER-1) hold under races.
	LockAccount(ctx context.Context, id string) error
	// FindAccountsByVerifiedDomain returns the ids of the accounts that list
	// domain (lower case, as Account.Validate keeps it) among their verified
	// domains, in id order; none is an empty list.
	FindAccountsByVerifiedDomain(ctx context.Context, domain string) ([]string, error)
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser returns ECONFLICT when the email is taken (case-insensitively).
	CreateUser(ctx context.Context, u *User) error
	FindUserByID(ctx context.Context, id string) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes a user for good and deletes its API tokens,
	// console sessions and single sign-on bindings (UserIdentity): from
	// then on every lookup of it answers ENOTFOUND and its email can be used
	// again. The store may keep a tombstone row for the references of assets
	// and audit events.
	DeleteUser(ctx context.Context, id string, at time.Time) error
}

// SCIMStore keeps what provisioning clients (SCIM) add to users and roles.
type SCIMStore interface {
	// PutSCIMProfile inserts or replaces a user's profile; a userName taken
	// by another user of the account (any case) is ECONFLICT.
	PutSCIMProfile(ctx context.Context, p *SCIMProfile) error
	// FindProvisionedUsers returns the account's own users (home users) with
	// their home role and profile, in id order, narrowed by f.
	FindProvisionedUsers(ctx context.Context, accountID string, f ProvisionedUserFilter) ([]*ProvisionedUser, error)
	// CountProvisionedUsers counts the account's home users.
	CountProvisionedUsers(ctx context.Context, accountID string) (int, error)
	// PutSCIMGroup sets the externalId of a role; DeleteSCIMGroup forgets it.
	PutSCIMGroup(ctx context.Context, accountID, roleID, externalID string) error
	DeleteSCIMGroup(ctx context.Context, accountID, roleID string) error
	// FindSCIMGroups returns the externalIds of the account's roles by role id.
	FindSCIMGroups(ctx context.Context, accountID string) (map[string]string, error)
}

// RoleStore keeps custom roles; built-in roles are not stored.
type RoleStore interface {
	// CreateRole returns ECONFLICT when the account has a role of that name.
	CreateRole(ctx context.Context, r *Role) error
	FindRoleByID(ctx context.Context, accountID, id string) (*Role, error)
	FindRoles(ctx context.Context, accountID string, page Page) ([]*Role, string, error)
	UpdateRole(ctx context.Context, r *Role) error
	DeleteRole(ctx context.Context, accountID, id string) error
}

// MembershipFilter selects memberships of one account.
type MembershipFilter struct {
	AccountID string
	UserID    string
	Role      string
	Kind      MembershipKind
	ParentID  string
	// GrantedBy keeps the memberships whose recorded granter is this user
	// id (or "operator").
	GrantedBy string
	// GrantsFrom keeps the memberships with a grant of an access request
	// approved by this user id (R-REQUEST-2).
	GrantsFrom string
	Page
}

// MembershipStore keeps memberships. A user has at most one membership per account.
type MembershipStore interface {
	// CreateMembership returns ECONFLICT when the user is already a member.
	CreateMembership(ctx context.Context, m *Membership) error
	// FindMembership returns the membership of userID in accountID.
	FindMembership(ctx context.Context, accountID, userID string) (*Membership, error)
	FindMembershipByID(ctx context.Context, accountID, id string) (*Membership, error)
	// FindMemberships pages through an account's memberships in id order.
	FindMemberships(ctx context.Context, f MembershipFilter) ([]*Membership, string, error)
	// FindUserMemberships returns every membership of a user, across accounts.
	FindUserMemberships(ctx context.Context, userID string) ([]*Membership, error)
	UpdateMembership(ctx context.Context, m *Membership) error
	// UpdateMembershipEnds writes the end dates (ends_at, delegates_end_at)
	// and updated_at of many memberships of the account, in few statements.
	UpdateMembershipEnds(ctx context.Context, accountID string, ms []*Membership) error
	DeleteMembership(ctx context.Context, accountID, id string) error
	// CountActiveSuperAdmins counts super admin memberships of the account that
	// are active, have no end date, and whose users are active (R-SUPER-1):
	// a super admin whose access runs out does not keep the account, or the
	// account would be left without one when it ends.
	CountActiveSuperAdmins(ctx context.Context, accountID string, now time.Time) (int, error)
}

// Token is a user's API token. Only the hash of the secret is kept; a
// token stops working at ExpiresAt.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"-"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenStore keeps API tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns ENOTFOUND for an unknown hash.
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	// FindTokenByID returns ENOTFOUND for an unknown id.
	FindTokenByID(ctx context.Context, id string) (*Token, error)
	// FindTokens pages through a user's tokens in id order.
	FindTokens(ctx context.Context, userID string, page Page) ([]*Token, string, error)
	// DeleteToken forgets a token; ENOTFOUND for an unknown id.
	DeleteToken(ctx context.Context, id string) error
	// DeleteUserSessions deletes every console session signed in as the
	// user and returns how many there were.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AppendEvent numbers e after the last event of its account, seals it into
	// the account's hash chain and stores it. It must run inside InTx.
	AppendEvent(ctx context.Context, e *Event) error
	FindEvents(ctx context.Context, f AuditFilter) ([]*Event, string, error)
	// ScanEvents calls fn with every event of the account in sequence order.
	ScanEvents(ctx context.Context, accountID string, fn func(*Event) error) error
}

// Change is one entry of the change feed: something the check index must
// reload. Revisions are gap-free and commit in order.
type Change struct {
	Revision  int64     `json:"revision"`
	AccountID string    `json:"account_id"`
	Entity    string    `json:"entity"` // "account", "user", "role", "membership", …
	EntityID  string    `json:"entity_id"`
	Time      time.Time `json:"time"`
}

// Change entities the check index follows. The store itself records a
// ChangeUser entry for every user row and a ChangeMember entry for every
// membership row a transaction writes.
const (
	ChangeUser         = "user"         // EntityID is a user id: reload its status and memberships
	ChangeMember       = "member"       // AccountID, and EntityID a user id: reload that user's membership there
	ChangeRelationship = "relationship" // AccountID is the client, EntityID the partner
	ChangePolicy       = "account"      // AccountID's policy changed: read it again (R-GUARD-4)
	ChangeMembers      = "members"      // many of AccountID's memberships were written at once: reload them all
)

// ChangeStore keeps the change feed.
type ChangeStore interface {
	// AppendChanges gives the transaction's changes the next revision and
	// stores them; it must run inside InTx, last. It returns the revision.
	AppendChanges(ctx context.Context, changes []Change) (int64, error)
	// ChangesSince returns the changes of revisions rev+1 … rev+n, in order.
	ChangesSince(ctx context.Context, rev int64, n int) ([]Change, error)
	// CurrentRevision returns the last committed revision.
	CurrentRevision(ctx context.Context) (int64, error)
	// PruneChanges deletes the changes committed before before, except the
	// last revision's; it returns how many it deleted.
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}

// IdempotentResponse is the first answer to a POST with an Idempotency-Key,
// kept with the change it answers (see IdempotencyKey).
type IdempotentResponse struct {
	Key         string
	Scope       string // who sent it: a retry from someone else is another request
	RequestHash string // method, path and body: the same key with another request is refused
	Status      int
	Header      map[string]string
	Body        []byte // without the secrets the first answer carried (SPEC §4)
	CreatedAt   time.Time
}

// IdempotencyStore keeps the answers to POSTs with an Idempotency-Key.
type IdempotencyStore interface {
	// FindIdempotentResponse returns the answer kept for scope and key, or
	// ENOTFOUND.
	FindIdempotentResponse(ctx context.Context, scope, key string) (*IdempotentResponse, error)
	// LockIdempotencyKey holds scope and key until the transaction ends; it
	// must run inside InTx. It returns the answer kept for them, if another
	// transaction committed one, and ECONFLICT idempotency_in_progress at
	// once, without waiting, while another transaction holds them.
	LockIdempotencyKey(ctx context.Context, scope, key string) (*IdempotentResponse, error)
	// SaveIdempotentResponse keeps r; it must run inside InTx, in the
	// transaction of the change r answers. ECONFLICT if the key is kept.
	SaveIdempotentResponse(ctx context.Context, r *IdempotentResponse) error
	// PruneIdempotencyKeys forgets the keys created before before.
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int, error)
}

// SettingStore keeps small named values of the installation.
type SettingStore interface {
	// GetSetting returns ENOTFOUND for an unknown name.
	GetSetting(ctx context.Context, name string) (string, error)
	// PutSettingIfAbsent stores value unless name exists; it reports whether it did.
	PutSettingIfAbsent(ctx context.Context, name, value string) (bool, error)
}

// Page is a cursor page request: items after the id After, at most Limit.
type Page struct {
	After string
	Limit int
}

// Page size limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Normalize clamps the limit into [1, MaxPageLimit].
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit > MaxPageLimit {
		p.Limit = MaxPageLimit
	}
	return p
}
