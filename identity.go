package steward

import (
	"context"
	"time"
)

// UserIdentity binds an OpenID Connect provider's account, named by its
// issuer and subject, to the Steward user it signs in as (SPEC §3 "Web
// console", optional single sign-on). A user has at most one binding per
// issuer, and a subject names at most one user.
type UserIdentity struct {
	Issuer    string
	Subject   string
	UserID    string
	CreatedAt time.Time
}

// IdentityStore keeps the bindings of single sign-on identities to users.
type IdentityStore interface {
	// CreateUserIdentity stores a binding; ECONFLICT when the issuer's
	// subject, or the user at that issuer, is bound already.
	CreateUserIdentity(ctx context.Context, b *UserIdentity) error
	// FindUserIdentity returns the binding of the issuer's subject, or
	// ENOTFOUND.
	FindUserIdentity(ctx context.Context, issuer, subject string) (*UserIdentity, error)
	// FindUserIdentityOf returns the user's binding at the issuer, or
	// ENOTFOUND.
	FindUserIdentityOf(ctx context.Context, issuer, userID string) (*UserIdentity, error)
	// DeleteUserIdentities deletes every binding of the user and returns
	// how many there were.
	DeleteUserIdentities(ctx context.Context, userID string) (int, error)
}
