package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/steward-iam/steward"
)

type webhooksCmd struct {
	Verify webhooksVerifyCmd `cmd:"" help:"Check a webhook message's Standard Webhooks signature by hand: the body on standard input (or --body-file), the headers as flags. Exit code 0 valid, 1 not."`
}

type webhooksVerifyCmd struct {
	Secret    string        `help:"The endpoint's secret (whsec_…), as shown when it was registered." env:"STEWARD_WEBHOOK_SECRET" required:""`
	ID        string        `name:"id" help:"The webhook-id header." required:""`
	Timestamp string        `help:"The webhook-timestamp header (seconds since 1970)." required:""`
	Signature string        `help:"The webhook-signature header (one or more space-separated v1,… signatures)." required:""`
	BodyFile  string        `name:"body-file" help:"Read the body from this file instead of standard input." placeholder:"FILE"`
	Tolerance time.Duration `help:"How far the timestamp may be from now; 0 accepts any time (a message saved earlier)." default:"0s"`
}

// Run verifies the signature and says whether it holds.
func (c *webhooksVerifyCmd) Run(e *env) error {
	var in io.Reader = os.Stdin
	if c.BodyFile != "" {
		f, err := os.Open(c.BodyFile)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	body, err := io.ReadAll(io.LimitReader(in, 16<<20))
	if err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	if err := steward.VerifyWebhook(c.Secret, c.ID, c.Timestamp, c.Signature, body, time.Now(), c.Tolerance); err != nil {
		fmt.Fprintf(e.stdout, "invalid: %v\n", err)
		return silentExit(exitFailed)
	}
	fmt.Fprintln(e.stdout, "valid")
	return nil
}
