package steward

import "context"

// Identity is what an OpenID Connect provider asserts of the person who
// signed in there: a verified ID token's claims.
type Identity struct {
	Issuer, Subject string
	Email           string
	// EmailVerified is the token's email_verified claim.
	EmailVerified bool
}

// errSSOSignIn is the one answer to an identity that matches no user who
// may sign in by it: an unverified email and an unknown one look alike.
func errSSOSignIn() *Error {
	return Errorf(EUNAUTHENTICATED, "sso_sign_in_failed",
		"Single sign-on did not sign you in: no user of this console has the verified email address your provider gave.")
}

// SignInWithIdentity returns the user an identity from the console's
// OpenID Connect provider signs in as (SPEC §3 "Web console", optional
// single sign-on). The provider must have verified the email address; the
// address is matched to a user case-insensitively, as password sign-in
// matches it, and then the same checks as password sign-in apply: a user
// deactivated or revoked in its home account, or whose every membership
// ended, is refused with the same answers SignIn gives.
func (s *Service) SignInWithIdentity(ctx context.Context, id Identity) (*User, error) {
	// SPEC §3 "Web console": only an address the provider verified
	// (email_verified true) names a Steward user.
	if !id.EmailVerified {
		return nil, errSSOSignIn()
	}
	addr, ok := NormalizeEmail(id.Email)
	if !ok {
		return nil, errSSOSignIn()
	}
	u, err := s.Store.FindUserByEmail(ctx, addr)
	if ErrorKind(err) == ENOTFOUND {
		return nil, errSSOSignIn()
	} else if err != nil {
		return nil, err
	}
	// The checks of password sign-in (SignIn): active in its home account,
	// with a membership that holds.
	return s.SessionUser(NewContextWithActor(ctx, &Actor{UserID: u.ID}))
}
