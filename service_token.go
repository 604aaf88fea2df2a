package steward

import (
	"context"
	"fmt"
	"time"
)

// API token lifetimes (SPEC §3 "API tokens"); Service.TokenTTL and
// Service.TokenMaxTTL replace them.
const (
	DefaultTokenTTL    = 90 * 24 * time.Hour
	DefaultTokenMaxTTL = 365 * 24 * time.Hour
)

func (s *Service) tokenTTL() time.Duration {
	if s.TokenTTL > 0 {
		return min(s.TokenTTL, s.tokenMaxTTL())
	}
	return min(DefaultTokenTTL, s.tokenMaxTTL())
}

func (s *Service) tokenMaxTTL() time.Duration {
	if s.TokenMaxTTL > 0 {
		return s.TokenMaxTTL
	}
	return DefaultTokenMaxTTL
}

// TokenRequest is the input of CreateToken.
type TokenRequest struct {
	UserID string `json:"user_id" doc:"The user the token acts as."`
	// ExpiresIn is the token's lifetime in seconds; 0 means the default.
	ExpiresIn int64 `json:"expires_in,omitempty" minimum:"0" doc:"The token's lifetime in seconds; default and maximum are the server's --token-ttl and --token-max-ttl."`
}

// NewToken is the answer to CreateToken. The secret is shown only here; a
// replay of the answer carries it no more (SPEC §4).
type NewToken struct {
	ID             string    `json:"id"`
	Token          string    `json:"token,omitempty" doc:"The secret, shown once: only its hash is kept."`
	UserID         string    `json:"user_id"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	SecretWithheld bool      `json:"secret_withheld,omitempty" doc:"True in a replay (Idempotency-Key): the token was shown once, in the first answer, and is not shown again."`
}

// Redacted is the answer without the secret, as a replay carries it.
func (n *NewToken) Redacted() any {
	c := *n
	c.Token, c.SecretWithheld = "", true
	return &c
}

// CreateToken issues an API token for a user and returns its secret, which is
// shown once and stored only as a hash. It expires after req.ExpiresIn
// seconds, or the default lifetime, never later than the maximum. Operator
// only.
func (s *Service) CreateToken(ctx context.Context, req TokenRequest) (*NewToken, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	ttl, maxTTL := s.tokenTTL(), s.tokenMaxTTL()
	if req.ExpiresIn < 0 || req.ExpiresIn > int64(maxTTL/time.Second) {
		return nil, 0, Invalid("invalid_token_request", "The token request is not valid.",
			FieldError{"expires_in", fmt.Sprintf("must be from 1 to %d seconds", int64(maxTTL/time.Second))})
	}
	if req.ExpiresIn > 0 {
		ttl = time.Duration(req.ExpiresIn) * time.Second
	}
	secret := NewSecret("stw_")
	var out *NewToken
	rev, err := s.write(ctx, func(t *txn) error {
		u, err := t.FindUserByID(t.ctx, req.UserID)
		if err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return Invalid("invalid_token_request", "The token request is not valid.", FieldError{"user_id", "no user " + quote(req.UserID)})
			}
			return err
		}
		tok := &Token{ID: NewID(PrefixToken, t.now), Hash: HashSecret(secret), UserID: u.ID, CreatedAt: t.now, ExpiresAt: t.now.Add(ttl)}
		if err := t.CreateToken(t.ctx, tok); err != nil {
			return err
		}
		t.record(u.HomeAccountID, nil, "token.created", "user", u.ID, map[string]any{"token_id": tok.ID, "expires_at": tok.ExpiresAt})
		out = &NewToken{ID: tok.ID, Token: secret, UserID: u.ID, CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// mayManageTokens reports whether the actor may list and revoke userID's
// tokens: the operator for anyone, a user for itself.
func mayManageTokens(a *Actor, userID string) bool {
	return a.IsOperator() || a.UserID == userID
}

// FindTokens lists a user's API tokens, expired ones included, without
// their secrets. The operator may list anyone's, a user its own; anyone
// else gets the answer an unknown user gets.
func (s *Service) FindTokens(ctx context.Context, userID string, page Page) ([]*Token, string, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return nil, "", Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	if !mayManageTokens(a, userID) {
		return nil, "", NotFound("user", userID)
	}
	if _, err := s.Store.FindUserByID(ctx, userID); err != nil {
		return nil, "", err
	}
	return s.Store.FindTokens(ctx, userID, page.Normalize())
}

// RevokeToken revokes an API token: it stops working at once. The operator
// may revoke anyone's, a user its own; anyone else gets the answer an
// unknown token gets.
func (s *Service) RevokeToken(ctx context.Context, id string) (int64, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return 0, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	return s.write(ctx, func(t *txn) error {
		tok, err := t.FindTokenByID(t.ctx, id)
		if err != nil {
			return err
		}
		if !mayManageTokens(a, tok.UserID) {
			return NotFound("token", id)
		}
		u, err := t.FindUserByID(t.ctx, tok.UserID)
		if err != nil {
			return err
		}
		if err := t.DeleteToken(t.ctx, id); err != nil {
			return err
		}
		t.record(u.HomeAccountID, nil, "token.revoked", "user", u.ID, map[string]any{"token_id": tok.ID})
		return nil
	})
}
