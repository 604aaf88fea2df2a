package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/lease"
)

// Outbox is what the Sender needs of the store: the due messages, a place to
// record attempts, and a lease so that one node sends at a time.
type Outbox interface {
	DueMessages(ctx context.Context, now time.Time, limit int) ([]*steward.Message, error)
	UpdateMessage(ctx context.Context, m *steward.Message) error
	AcquireJobLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	ReleaseJobLease(ctx context.Context, name, holder string) error
}

// Config configures a Sender. Zero values take the defaults below.
type Config struct {
	// SMTP is smtp://[user:pass@]host[:port] (plain, STARTTLS when the
	// server offers it; port 25 by default) or smtps://… (TLS from the
	// start; port 465 by default). Empty: write mail into Dir.
	SMTP string
	// Dir is the mail folder used without SMTP (default "steward-mail").
	Dir string
	// From is the sender address (default "Steward <steward@localhost>").
	From string
	// Poll is how often the outbox is read (default 2s).
	Poll time.Duration
	// Batch is how many messages one pass sends at most (default 50).
	Batch int
	// MaxAttempts is how many times a message is tried before giving up (default 10).
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles after each
	// further failure, up to MaxBackoff (defaults 30s and 1h).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one SMTP conversation (default 30s).
	Timeout time.Duration
	// TLSConfig, when set, is used for STARTTLS and smtps (tests trust their own certificate with it).
	TLSConfig *tls.Config
	// Lease is how long the sender's claim on the outbox lasts unless
	// renewed (default 10s, at least three polls). The sender renews it at
	// every pass and, while a message is on its way, on a heartbeat of a
	// third of it; so another node takes over within about a Lease of
	// this one's death, and never while it lives.
	Lease time.Duration
	// TakeOver makes the sender take the lease at its first pass whoever
	// holds it, for a store that one process uses at a time (SQLite): the
	// holder can only be a process that stopped, and a restart should not
	// wait for its lease to lapse. A predecessor still running loses the
	// lease and stops at its next message.
	TakeOver bool
	// MessageIDHost is the right-hand side of each message's Message-ID,
	// <outbox-id@host>, which stays the same on every attempt and every
	// node, so that a receiver can drop a message delivered twice (a node
	// that died between sending and recording it). Default "localhost";
	// the server gives the host of its public base URL.
	MessageIDHost string
	// OnAttempt, when set, is told of each delivery attempt: err is nil
	// when the message went, and gaveUp says a failure was its last try.
	// The server counts them in its metrics.
	OnAttempt func(err error, gaveUp bool)
}

// Defaults.
const (
	DefaultDir         = "steward-mail"
	DefaultFrom        = "Steward <steward@localhost>"
	DefaultPoll        = 2 * time.Second
	DefaultBatch       = 50
	DefaultMaxAttempts = 10
	DefaultBackoff     = 30 * time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultTimeout     = 30 * time.Second
	DefaultLease       = 10 * time.Second
	DefaultMessageHost = "localhost"
)

// leaseName is the job lease that lets one node of several send at a time.
const leaseName = "mail_sender"

// Sender delivers the outbox.
type Sender struct {
	out    Outbox
	cfg    Config
	logger *slog.Logger
	runner *lease.Runner
	// Now is the clock; tests replace it.
	Now func() time.Time

	smtp *SMTPTarget // nil: write into cfg.Dir
}

// SMTPTarget is a parsed SMTP URL.
type SMTPTarget struct {
	Host, User, Password string
	Port                 int
	TLS                  bool // smtps: TLS from the first byte
}

// NewSender returns a Sender over out. It checks the configuration and, for
// the mail folder, creates the folder.
func NewSender(out Outbox, cfg Config, logger *slog.Logger) (*Sender, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MessageIDHost == "" {
		cfg.MessageIDHost = DefaultMessageHost
	}
	s := &Sender{out: out, cfg: cfg, logger: logger, Now: time.Now}
	s.runner = lease.New(out, lease.Config{Name: leaseName, HolderPrefix: "snd_", Poll: cfg.Poll, Lease: cfg.Lease,
		TakeOver: cfg.TakeOver, Logger: logger})
	s.runner.Now = func() time.Time { return s.Now() }
	if cfg.SMTP != "" {
		t, err := ParseSMTP(cfg.SMTP)
		if err != nil {
			return nil, err
		}
		s.smtp = t
	} else if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail folder: %w", err)
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("mail sender address %q: %w", cfg.From, err)
	}
	return s, nil
}

// ParseSMTP reads an smtp:// or smtps:// URL.
func ParseSMTP(raw string) (*SMTPTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp URL: %w", err)
	}
	t := &SMTPTarget{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		t.Port = 25
	case "smtps":
		t.Port, t.TLS = 465, true
	default:
		return nil, fmt.Errorf("smtp URL %q: the scheme must be smtp:// or smtps://", redact(u))
	}
	if t.Host == "" {
		return nil, fmt.Errorf("smtp URL %q: a host is required", redact(u))
	}
	if p := u.Port(); p != "" {
		if t.Port, err = strconv.Atoi(p); err != nil || t.Port <= 0 || t.Port > 65535 {
			return nil, fmt.Errorf("smtp URL %q: bad port", redact(u))
		}
	}
	if u.User != nil {
		t.User = u.User.Username()
		t.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("smtp URL %q: no path or query is allowed", redact(u))
	}
	return t, nil
}

// redact hides the password of a URL for messages and logs.
func redact(u *url.URL) string { return u.Redacted() }

// Describe names where mail goes, without secrets, for the start-up log.
func (s *Sender) Describe() string {
	if s.smtp == nil {
		abs, err := filepath.Abs(s.cfg.Dir)
		if err != nil {
			abs = s.cfg.Dir
		}
		return "mail folder " + abs
	}
	scheme := "smtp"
	if s.smtp.TLS {
		scheme = "smtps"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(s.smtp.Host, strconv.Itoa(s.smtp.Port)))
}

// Kick makes Run look at the outbox now instead of at the next poll; the
// server calls it after a write that queued mail.
func (s *Sender) Kick() { s.runner.Kick() }

// Run sends due messages until ctx ends. A failing pass is logged and the
// next one retries.
func (s *Sender) Run(ctx context.Context) error {
	return s.runner.Run(ctx, func(ctx context.Context) (bool, error) {
		_, err := s.SendDue(ctx)
		return false, err
	})
}

// SendDue makes one pass over the due messages and returns how many were
// delivered. A message that fails is tried again after a backoff that
// doubles with each attempt; after MaxAttempts it is given up on, and its
// last error stays in the outbox for the console to show.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	now := s.Now().UTC()
	if ok, err := s.runner.Acquire(ctx); err != nil || !ok {
		return 0, err
	}
	due, err := s.out.DueMessages(ctx, now, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for i, m := range due {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		// Renew the lease before each message: a node that lost it (it
		// stalled longer than the lease) stops, so no message goes twice.
		if i > 0 {
			if ok, err := s.runner.Acquire(ctx); err != nil || !ok {
				return sent, err
			}
		}
		err := s.deliverBeating(ctx, m)
		now := s.Now().UTC()
		m.Attempts++
		if err == nil {
			m.SentAt, m.LastError = &now, ""
			sent++
			s.logger.Info("mail sent", slog.String("id", m.ID), slog.String("kind", m.Kind), slog.Int("attempts", m.Attempts))
		} else {
			m.LastError = err.Error()
			if m.Attempts >= s.cfg.MaxAttempts || IsPermanent(err) {
				m.NextAttemptAt = GiveUp
				m.LastError = fmt.Sprintf("gave up after %d attempts: %v", m.Attempts, err)
				s.logger.Error("mail given up", slog.String("id", m.ID), slog.String("kind", m.Kind), slog.Any("err", err))
			} else {
				m.NextAttemptAt = now.Add(s.Backoff(m.Attempts))
				s.logger.Warn("mail failed; will retry", slog.String("id", m.ID), slog.String("kind", m.Kind),
					slog.Int("attempts", m.Attempts), slog.Time("next", m.NextAttemptAt), slog.Any("err", err))
			}
		}
		if s.cfg.OnAttempt != nil {
			s.cfg.OnAttempt(err, m.NextAttemptAt.Equal(GiveUp))
		}
		if err := s.out.UpdateMessage(context.WithoutCancel(ctx), m); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// deliverBeating delivers m while renewing the lease on a heartbeat: an
// SMTP conversation may outlast the lease, and another node must not take
// the outbox over from a sender that is alive.
func (s *Sender) deliverBeating(ctx context.Context, m *steward.Message) error {
	defer s.runner.Beat(ctx)()
	return s.deliver(ctx, m)
}

// GiveUp is the next attempt time of a message given up on: never.
var GiveUp = lease.EndOfTime

// Backoff returns the wait after the attempts-th failure: Backoff,
// doubling, at most MaxBackoff.
func (s *Sender) Backoff(attempts int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < attempts && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// Compose builds the RFC 5322 message of an outbox entry.
func (s *Sender) Compose(m *steward.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(m.CreatedAt)
	msg.SetMessageIDWithValue(m.ID + "@" + s.cfg.MessageIDHost)
	msg.SetGenHeader(gomail.Header("X-Steward-Kind"), m.Kind)
	msg.SetGenHeader(gomail.Header("X-Steward-Account"), m.AccountID)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

func (s *Sender) deliver(ctx context.Context, m *steward.Message) error {
	msg, err := s.Compose(m)
	if err != nil {
		return permanent{err}
	}
	if s.smtp == nil {
		return s.writeFile(m, msg)
	}
	opts := []gomail.Option{gomail.WithPort(s.smtp.Port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithHELO(helo())}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.smtp.TLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic)) // STARTTLS only if offered
	}
	if s.smtp.User != "" {
		auth := gomail.SMTPAuthPlain
		if !s.smtp.TLS {
			auth = gomail.SMTPAuthPlainNoEnc // a plain local relay, as configured
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.smtp.User), gomail.WithPassword(s.smtp.Password))
	}
	c, err := gomail.NewClient(s.smtp.Host, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return c.DialAndSendWithContext(ctx, msg)
}

func helo() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// writeFile writes the message into the mail folder as <time>-<id>.eml,
// atomically, so that a reader never sees half a message.
func (s *Sender) writeFile(m *steward.Message, msg *gomail.Msg) error {
	name := fmt.Sprintf("%s-%s.eml", m.CreatedAt.UTC().Format("20060102T150405Z"), m.ID)
	tmp, err := os.CreateTemp(s.cfg.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(s.cfg.Dir, name))
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// IsPermanent reports whether err can never succeed on retry.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
