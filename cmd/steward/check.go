package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/steward-iam/steward"
)

type checkCmd struct {
	Server      string `help:"URL of the running server." default:"${server_default}" env:"STEWARD_SERVER" placeholder:"URL"`
	Token       string `help:"Bearer token: the operator token, or a user's token to ask about that user." env:"STEWARD_TOKEN,STEWARD_OPERATOR_TOKEN" placeholder:"TOKEN"`
	At          string `help:"Ask about this time instead of now (RFC 3339, e.g. 2030-01-01T00:00:00Z)." placeholder:"TIME"`
	MinRevision int64  `name:"min-revision" help:"Answer only once the server has applied this revision (from a write's Steward-Revision header)." placeholder:"N"`

	User       string `arg:"" help:"User id (usr_…)."`
	Account    string `arg:"" help:"Account id (acc_…)."`
	Permission string `arg:"" help:"Permission key, e.g. crm.contacts.edit."`
}

// Run prints "allowed" or "denied" and the reason as JSON; the exit code
// says the same (0 allowed, 1 denied, 2 could not tell).
func (c *checkCmd) Run(e *env) error {
	req := steward.CheckRequest{UserID: c.User, AccountID: c.Account, Permission: c.Permission, MinRevision: c.MinRevision}
	if c.At != "" {
		at, err := time.Parse(time.RFC3339, c.At)
		if err != nil {
			return &exitCodeError{code: exitError, err: fmt.Errorf("--at %q is not an RFC 3339 time such as 2030-01-01T00:00:00Z", c.At)}
		}
		at = at.UTC()
		req.At = &at
	}
	cl, err := newClient(c.Server, c.Token)
	if err != nil {
		return &exitCodeError{code: exitError, err: err}
	}
	res, err := cl.Check(e.ctx, req)
	if err != nil {
		return &exitCodeError{code: exitError, err: callError(err)}
	}
	verdict := "denied"
	if res.Allowed {
		verdict = "allowed"
	}
	reason, _ := json.MarshalIndent(res.Reason, "", "  ")
	fmt.Fprintf(e.stdout, "%s\n%s\n", verdict, reason)
	if !res.Allowed {
		return silentExit(exitFailed)
	}
	return nil
}
