package steward

import (
	"context"
	"strings"
	"time"
)

// PrefixConsoleLink starts the ids of console links.
const PrefixConsoleLink = "csl_"

// ConsoleLinkRequest is the body of POST /v1/console-links.
type ConsoleLinkRequest struct {
	UserID   string `json:"user_id" doc:"The user the link signs in."`
	ReturnTo string `json:"return_to,omitempty" maxLength:"2048" doc:"A path of the console (starting with one /) to land on once signed in; default /."`
}

// NewConsoleLink is the answer to CreateConsoleLink. The URL holds the
// token and is shown once; a replay of the answer carries it no more.
type NewConsoleLink struct {
	ID             string    `json:"id"`
	URL            string    `json:"url,omitempty" doc:"The single-use link, ending with its token; shown once: only the token's hash is kept."`
	UserID         string    `json:"user_id"`
	ReturnTo       string    `json:"return_to"`
	ExpiresAt      time.Time `json:"expires_at"`
	SecretWithheld bool      `json:"secret_withheld,omitempty" doc:"True in a replay (Idempotency-Key): the URL was shown once, in the first answer, and is not shown again."`
}

// Redacted is the answer without the URL, which holds the token, as a
// replay carries it (SPEC §4 "Secrets are shown once").
func (n *NewConsoleLink) Redacted() any {
	c := *n
	c.URL, c.SecretWithheld = "", true
	return &c
}

// consoleLinkURL is the console page that redeems a link; it ends with the token.
func (s *Service) consoleLinkURL(token string) string {
	return strings.TrimRight(s.BaseURL, "/") + "/console-links/" + token
}

// CreateConsoleLink issues a single-use link, valid ConsoleLinkTTL, that
// signs userID in to the console and lands on req.ReturnTo (SPEC §3
// "console hand-off"). Operator only. The token is random, shown once in
// the URL and kept only as its hash. An unknown user is ENOTFOUND like any
// unknown id; a user who could not sign in now (deactivated or revoked in
// its home account, or without a membership that holds) is ECONFLICT.
// The creation is audited in the user's home account, as the issue of an
// API token is.
func (s *Service) CreateConsoleLink(ctx context.Context, req ConsoleLinkRequest) (*NewConsoleLink, int64, error) {
	// SPEC §3 "console hand-off": the operator's (the platform's) alone.
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	if err := checkText("user_id", req.UserID, "return_to", req.ReturnTo); err != nil {
		return nil, 0, err
	}
	returnTo := req.ReturnTo
	if returnTo == "" {
		returnTo = "/"
	}
	// SPEC §3 "console hand-off": return_to is a path of the console, never
	// another site (the rule sign-in applies to its next page).
	if len(returnTo) > maxConsolePath || !IsConsolePath(returnTo) {
		return nil, 0, Invalid("invalid_console_link", "The console link request is not valid.",
			FieldError{"return_to", "must be a path of the console starting with one /, such as /accounts"})
	}
	secret := NewSecret(ConsoleLinkTokenPrefix)
	var out *NewConsoleLink
	rev, err := s.write(ctx, func(t *txn) error {
		u, err := t.FindUserByID(t.ctx, req.UserID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("user", req.UserID)
		} else if err != nil {
			return err
		}
		// SPEC §3 "console hand-off": the link signs in only a user who may
		// hold a console session, as password sign-in requires.
		if err := s.sessionRefusal(t.ctx, t, u); err != nil {
			switch ErrorCode(err) {
			case ReasonUserDeactivated:
				return Errorf(ECONFLICT, ReasonUserDeactivated, "The user is deactivated in its home account; it cannot sign in to the console.")
			case ReasonMembershipExpired:
				return Errorf(ECONFLICT, "no_live_membership", "None of the user's memberships holds now; it cannot sign in to the console.")
			}
			return err
		}
		l := &ConsoleLink{ID: NewID(PrefixConsoleLink, t.now), TokenHash: HashSecret(secret), UserID: u.ID, ReturnTo: returnTo,
			CreatedAt: t.now, ExpiresAt: t.now.Add(ConsoleLinkTTL)}
		if err := t.CreateConsoleLink(t.ctx, l); err != nil {
			return err
		}
		t.record(u.HomeAccountID, nil, "console_link.created", "user", u.ID,
			map[string]any{"console_link_id": l.ID, "return_to": l.ReturnTo, "expires_at": l.ExpiresAt})
		out = &NewConsoleLink{ID: l.ID, URL: s.consoleLinkURL(secret), UserID: u.ID, ReturnTo: l.ReturnTo, ExpiresAt: l.ExpiresAt}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// RedeemConsoleLink signs in with a console link: it returns the link's
// user and the path to land on, and marks the link used in the same
// transaction (SPEC §3 "console hand-off"). An unknown or malformed token
// is ENOTFOUND, a used link ECONFLICT, an expired one EGONE; a user who may
// not hold a session now gets the refusal SignIn gives, and the link stays
// unused. The redemption is audited in the user's home account.
func (s *Service) RedeemConsoleLink(ctx context.Context, token string) (*User, string, error) {
	errUnknown := &Error{Kind: ENOTFOUND, Code: "console_link_not_found", Message: "No console link has this address."}
	if !WellFormedConsoleLinkToken(token) {
		return nil, "", errUnknown
	}
	var user *User
	var returnTo string
	_, err := s.write(ctx, func(t *txn) error {
		// The token is found by its hash: it is never compared in plain text.
		l, err := t.FindConsoleLinkByHash(t.ctx, HashSecret(token))
		if ErrorKind(err) == ENOTFOUND {
			return errUnknown
		} else if err != nil {
			return err
		}
		// SPEC §3 "console hand-off": single-use and valid 60 s.
		if l.UsedAt != nil {
			return Errorf(ECONFLICT, "console_link_used", "This console link has been used already.")
		}
		if !t.now.Before(l.ExpiresAt) {
			return Errorf(EGONE, "console_link_expired", "This console link has expired.")
		}
		u, err := t.FindUserByID(t.ctx, l.UserID)
		if ErrorKind(err) == ENOTFOUND {
			return errUnknown // the user was removed since
		} else if err != nil {
			return err
		}
		// SPEC §3 Web console: the same checks as password sign-in.
		if err := s.sessionRefusal(t.ctx, t, u); err != nil {
			return err
		}
		if err := t.UseConsoleLink(t.ctx, l.ID, t.now); err != nil {
			return err
		}
		t.record(u.HomeAccountID, nil, "console_link.used", "user", u.ID, map[string]any{"console_link_id": l.ID})
		t.events[len(t.events)-1].Actor = EventActor{UserID: u.ID, Email: u.Email, HomeAccountID: u.HomeAccountID}
		user, returnTo = u, l.ReturnTo
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return user, returnTo, nil
}
