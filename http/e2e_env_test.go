package http_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/mail"
)

// e2eBaseURL is what links in the end-to-end tests' mail start with.
const e2eBaseURL = "https://steward.example.com"

// serveWithMail starts a server as steward serve runs one: its Service has
// a base URL and the settable clock, a mail sender delivers the outbox to
// the SMTP server at smtpURL, and, with index, checks come from the
// in-memory index that follows the change feed. configure, if given,
// adjusts the Service first.
func serveWithMail(tb testing.TB, st steward.Store, clock *extClock, smtpURL string, index bool, configure func(*steward.Service)) *Env {
	tb.Helper()
	// Every successful POST of these tests is retried with its
	// Idempotency-Key, and must replay.
	e := &Env{Store: st, Logs: &syncBuffer{}, ReplayPOSTs: true}
	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	e.Svc = steward.NewService(st, cat, nil)
	e.Svc.BaseURL, e.Svc.Now = e2eBaseURL, clock.Now
	if configure != nil {
		configure(e.Svc)
	}
	sender, err := mail.NewSender(st, mail.Config{SMTP: smtpURL, Poll: 20 * time.Millisecond, Backoff: 50 * time.Millisecond}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	sender.Now = clock.Now
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { sender.Run(ctx) })
	e.Svc.OnCommit = func(int64) { sender.Kick() }
	if index {
		ix := authz.New(st.(authz.Source), cat, nil)
		if err := ix.Load(context.Background()); err != nil {
			tb.Fatal(err)
		}
		kick := authz.NewKicker()
		e.Svc.Checker, e.Svc.OnCommit = ix, func(int64) { kick.Kick(); sender.Kick() }
		wg.Go(func() { ix.Follow(ctx, kick, 50*time.Millisecond) })
	}
	// Tokens expire by the same clock that issues them.
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(operatorToken), Now: clock.Now}
	logger := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(stewardhttp.NewServer(e.Svc, auth, logger))
	tb.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}
