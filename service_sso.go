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
// may sign in by it: an unverified email, an unknown one and one whose user
// is bound to another identity of the provider look alike.
func errSSOSignIn() *Error {
	return Errorf(EUNAUTHENTICATED, "sso_sign_in_failed",
		"Single sign-on did not sign you in: no user of this console has the verified email address your provider gave.")
}

// SignInWithIdentity returns the user an identity from the console's
// OpenID Connect provider signs in as (SPEC §3 "Web console", optional
// single sign-on).
//
// A user is bound to the provider's account that first signed in as it:
// the (issuer, subject) pair, recorded with the sign-in (UserIdentity,
// audited as user.identity_bound in the user's home account). A bound
// subject signs in as its user whatever email it asserts now, verified or
// not: the subject is the provider's stable name of the account, the email
// is not. An
// unbound subject is matched by its email, which the provider must have
// verified, case-insensitively as password sign-in matches it; if that user
// is bound to another subject of the same issuer, the sign-in is refused
// with the answer an unknown email gets and audited as
// user.identity_refused, so that an address reassigned at the provider, or
// given to a second account there, does not sign in as the user. The
// checks of password sign-in apply to a bound subject's user, and to a
// matched user before it is bound: a user deactivated or revoked in its home
// account, or whose every membership ended, is refused with the answers
// SignIn gives, and is not bound. Removing or revoking the user deletes its
// bindings.
func (s *Service) SignInWithIdentity(ctx context.Context, id Identity) (*User, error) {
	if id.Issuer == "" || id.Subject == "" || checkText("issuer", id.Issuer, "subject", id.Subject) != nil {
		return nil, errSSOSignIn()
	}
	b, err := s.Store.FindUserIdentity(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		// The bound user, whatever the email says now.
		return s.ssoSessionUser(ctx, b.UserID)
	case ErrorKind(err) != ENOTFOUND:
		return nil, err
	}
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
	other, err := s.Store.FindUserIdentityOf(ctx, id.Issuer, u.ID)
	if err != nil && ErrorKind(err) != ENOTFOUND {
		return nil, err
	}
	switch {
	case other != nil && other.Subject == id.Subject:
		// Bound to this subject since it was looked up.
		return s.ssoSessionUser(ctx, u.ID)
	case other != nil:
		// Bound to another subject: refused, and audited.
		if err := s.bindIdentity(ctx, id, u.ID, true); err != nil {
			return nil, err
		}
		return s.ssoSessionUser(ctx, u.ID) // this subject was bound meanwhile
	}
	// The checks of password sign-in come before the binding: only a
	// sign-in that succeeds binds.
	su, err := s.ssoSessionUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if err := s.bindIdentity(ctx, id, u.ID, false); err != nil {
		return nil, err
	}
	return su, nil
}

// ssoSessionUser applies the checks of password sign-in (SessionUser) to
// the user an identity names; a user gone since answers as an unknown one.
func (s *Service) ssoSessionUser(ctx context.Context, userID string) (*User, error) {
	u, err := s.SessionUser(NewContextWithActor(ctx, &Actor{UserID: userID}))
	if ErrorCode(err) == "unauthenticated" {
		return nil, errSSOSignIn()
	}
	return u, err
}

// bindIdentity binds the identity to the user its verified email matched,
// in a write of the user's home account that records user.identity_bound;
// or, when the user is bound to another subject of the issuer, records
// user.identity_refused and answers errSSOSignIn once that is committed.
// refuse says the caller found such a binding: the write then only
// refuses, and a binding gone meanwhile binds nothing (the person signs in
// again). The account's lock orders concurrent first sign-ins of one user;
// a subject bound meanwhile to this user needs nothing more (nil).
func (s *Service) bindIdentity(ctx context.Context, id Identity, userID string, refuse bool) error {
	refused := false
	_, err := s.write(ctx, func(t *txn) error {
		refused = false // a retried transaction starts again
		u, err := t.FindUserByID(t.ctx, userID)
		if ErrorKind(err) == ENOTFOUND {
			return errSSOSignIn() // removed since
		} else if err != nil {
			return err
		}
		if err := t.LockAccount(t.ctx, u.HomeAccountID); err != nil {
			return err
		}
		if b, err := t.FindUserIdentity(t.ctx, id.Issuer, id.Subject); err == nil {
			if b.UserID == u.ID {
				return errUnchanged // a concurrent sign-in bound it
			}
			return errSSOSignIn()
		} else if ErrorKind(err) != ENOTFOUND {
			return err
		}
		other, err := t.FindUserIdentityOf(t.ctx, id.Issuer, u.ID)
		switch {
		case err == nil:
			// Another account of the provider signed in as the user first:
			// this one has the user's email now, but it is not the user's.
			refused = true
			t.record(u.HomeAccountID, nil, "user.identity_refused", "user", u.ID,
				map[string]any{"issuer": id.Issuer, "subject": id.Subject, "bound_subject": other.Subject, "email": u.Email})
			t.events[len(t.events)-1].Actor = EventActor{} // not the user
			return nil
		case ErrorKind(err) != ENOTFOUND:
			return err
		case refuse:
			return errSSOSignIn()
		}
		if err := t.CreateUserIdentity(t.ctx, &UserIdentity{Issuer: id.Issuer, Subject: id.Subject, UserID: u.ID, CreatedAt: t.now}); err != nil {
			if ErrorKind(err) == ECONFLICT {
				return errSSOSignIn() // bound meanwhile
			}
			return err
		}
		t.record(u.HomeAccountID, nil, "user.identity_bound", "user", u.ID,
			map[string]any{"issuer": id.Issuer, "subject": id.Subject, "email": u.Email})
		t.events[len(t.events)-1].Actor = EventActor{UserID: u.ID, Email: u.Email, HomeAccountID: u.HomeAccountID}
		return nil
	})
	if err != nil {
		return err
	}
	if refused {
		return errSSOSignIn()
	}
	return nil
}
