package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/lease"
)

// Store is what the Sender needs of the store.
type Store interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*steward.WebhookDelivery, error)
	FindWebhookByID(ctx context.Context, accountID, id string) (*steward.Webhook, error)
	UpdateDelivery(ctx context.Context, d *steward.WebhookDelivery) error
	ActiveWebhookAccounts(ctx context.Context) ([]string, error)
	AcquireJobLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	ReleaseJobLease(ctx context.Context, name, holder string) error
}

// Service is what the Sender needs of the rules: the deliveries of the
// events recorded since the last pass, the endpoint's secret, and disabling
// an endpoint (which records it and mails the account's admins).
type Service interface {
	QueueWebhookEvents(ctx context.Context) (int, error)
	WebhookSecret(w *steward.Webhook) (string, error)
	DisableWebhook(ctx context.Context, accountID, id, reason string) error
}

// Config configures a Sender; zero values take the defaults below.
type Config struct {
	// Poll is how often the queue is read without a kick (default 2s).
	Poll time.Duration
	// Batch is how many deliveries one pass reads at most (default 200).
	Batch int
	// Backoff is the wait after the first failure; it doubles after each
	// further one, up to MaxBackoff (defaults 5s and 1h), each wait varied
	// by up to a fifth either way so that endpoints do not retry in step.
	Backoff, MaxBackoff time.Duration
	// RetryFor is how long an endpoint may fail before it is disabled
	// (default steward.WebhookRetryFor, 3 days).
	RetryFor time.Duration
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration
	// Lease is how long the sender's claim on the queue lasts unless
	// renewed (default 10s, at least three polls); see mail.Config.Lease.
	Lease time.Duration
	// TakeOver takes the lease at the first pass whoever holds it (SQLite:
	// one process at a time).
	TakeOver bool
	// Parallel is how many endpoints are delivered to at once (default 8);
	// each endpoint gets one delivery at a time, in order.
	Parallel int
	// Guard decides which addresses may be dialled (R-HOOK-3).
	Guard *steward.WebhookGuard
	// TLSConfig, when set, replaces the system's roots (tests trust their own server).
	TLSConfig *tls.Config
}

// Defaults.
const (
	DefaultPoll       = 2 * time.Second
	DefaultBatch      = 200
	DefaultBackoff    = 5 * time.Second
	DefaultMaxBackoff = time.Hour
	DefaultTimeout    = 10 * time.Second
	DefaultLease      = 10 * time.Second
	DefaultParallel   = 8
)

// leaseName is the job lease that lets one node of several deliver at a time.
const leaseName = "webhook_sender"

// Sender delivers the webhook queue.
type Sender struct {
	store  Store
	svc    Service
	cfg    Config
	logger *slog.Logger
	runner *lease.Runner
	client *http.Client
	// hooked holds the accounts with an active endpoint as of the last
	// pass: a commit in one of them wakes the sender (Wake).
	hooked atomic.Pointer[map[string]bool]
	// Now is the clock and Jitter returns a number in [0, 1); tests replace them.
	Now    func() time.Time
	Jitter func() float64
}

// NewSender returns a Sender over store and svc.
func NewSender(store Store, svc Service, cfg Config, logger *slog.Logger) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = steward.WebhookRetryFor
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Guard == nil {
		cfg.Guard = &steward.WebhookGuard{}
	}
	s := &Sender{store: store, svc: svc, cfg: cfg, logger: logger, Now: time.Now, Jitter: rand.Float64}
	s.runner = lease.New(store, lease.Config{Name: leaseName, HolderPrefix: "whs_", Poll: cfg.Poll, Lease: cfg.Lease,
		TakeOver: cfg.TakeOver, Logger: logger})
	s.runner.Now = func() time.Time { return s.Now() }
	s.client = NewClient(cfg.Guard, cfg.TLSConfig, cfg.Timeout)
	return s
}

// errRefusedAddr is a dial to an address R-HOOK-3 keeps webhooks from.
var errRefusedAddr = errors.New("webhook address refused: loopback, private, link-local or metadata")

// NewClient returns the HTTP client deliveries use: no proxy, no redirects,
// and a dialer that resolves the host itself and connects only to the
// addresses guard allows, checked again on the socket (R-HOOK-3: DNS can
// change between registration and delivery).
func NewClient(guard *steward.WebhookGuard, tlsConfig *tls.Config, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, err
		}
		addrs, err := guard.Resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		allowed := guard.Allowed(host)
		d := net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
			if allowed {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !steward.PublicAddr(ap.Addr()) { // R-HOOK-3
				return errRefusedAddr
			}
			return nil
		}}
		var last error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(p)).String())
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	tr := &http.Transport{Proxy: nil, DialContext: dial, TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Kick makes Run look at the queue now.
func (s *Sender) Kick() { s.runner.Kick() }

// Wake kicks the sender when a committed write changed an endpoint or
// recorded events in an account that had an active endpoint at the last
// pass; the server calls it after each commit. A commit in an account
// without endpoints costs the sender nothing. (An endpoint that another
// node registered since the last pass gets its deliveries at the next poll.)
func (s *Sender) Wake(q steward.Queued) {
	if q.Webhooks {
		s.Kick()
		return
	}
	hooked := s.hooked.Load()
	if hooked == nil {
		return
	}
	for _, id := range q.Accounts {
		if (*hooked)[id] {
			s.Kick()
			return
		}
	}
}

// Run delivers until ctx ends, a pass at once again while the last
// delivered something (more may wait behind the batch).
func (s *Sender) Run(ctx context.Context) error {
	return s.runner.Run(ctx, func(ctx context.Context) (bool, error) {
		n, err := s.DeliverDue(ctx)
		return n > 0, err
	})
}

// DeliverDue makes one pass over the due deliveries and returns how many
// were delivered. Each endpoint's deliveries go one at a time in order; the
// first failure stops its endpoint until the backoff has passed, and an
// endpoint failing for RetryFor is disabled (R-HOOK-2).
func (s *Sender) DeliverDue(ctx context.Context) (int, error) {
	if ok, err := s.runner.Acquire(ctx); err != nil || !ok {
		return 0, err
	}
	defer s.runner.Beat(ctx)() // the lease holds while the pass works
	accounts, err := s.store.ActiveWebhookAccounts(ctx)
	if err != nil {
		return 0, err
	}
	hooked := make(map[string]bool, len(accounts))
	for _, id := range accounts {
		hooked[id] = true
	}
	s.hooked.Store(&hooked)
	if _, err := s.svc.QueueWebhookEvents(ctx); err != nil { // R-HOOK-2
		return 0, err
	}
	due, err := s.store.DueDeliveries(ctx, s.Now().UTC(), s.cfg.Batch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var groups [][]*steward.WebhookDelivery
	for i, d := range due {
		if i == 0 || d.WebhookID != due[i-1].WebhookID {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], d)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered int
		firstErr  error
	)
	sem := make(chan struct{}, s.cfg.Parallel)
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := s.deliverEndpoint(ctx, g)
			mu.Lock()
			delivered += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return delivered, firstErr
}

func (s *Sender) deliverEndpoint(ctx context.Context, ds []*steward.WebhookDelivery) (int, error) {
	w, err := s.store.FindWebhookByID(ctx, ds[0].AccountID, ds[0].WebhookID)
	if err != nil {
		return 0, err
	}
	secret, err := s.svc.WebhookSecret(w)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		status, err := s.send(ctx, w.URL, secret, d)
		now := s.Now().UTC()
		d.Attempts++
		d.LastStatus = status
		if err == nil {
			d.Status, d.DeliveredAt, d.LastError, d.FailingSince = steward.DeliveryDelivered, &now, "", nil
			if err := s.store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil {
				return n, err
			}
			n++
			continue
		}
		d.LastError = err.Error()
		if d.FailingSince == nil {
			d.FailingSince = &now
		}
		d.NextAttemptAt = now.Add(s.Backoff(d.Attempts))
		if err := s.store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil {
			return n, err
		}
		if now.Sub(*d.FailingSince) >= s.cfg.RetryFor { // R-HOOK-2
			reason := fmt.Sprintf("failing since %s: %s", d.FailingSince.Format(time.RFC3339), d.LastError)
			s.logger.Warn("webhook endpoint disabled", slog.String("webhook", w.ID), slog.String("account", w.AccountID), slog.String("reason", reason))
			return n, s.svc.DisableWebhook(context.WithoutCancel(ctx), w.AccountID, w.ID, reason)
		}
		s.logger.Info("webhook delivery failed; will retry", slog.String("webhook", w.ID), slog.String("delivery", d.ID),
			slog.Int("attempts", d.Attempts), slog.Time("next", d.NextAttemptAt), slog.String("err", d.LastError))
		return n, nil // the endpoint waits: later deliveries stay behind this one
	}
	return n, nil
}

// Backoff returns the wait after the attempts-th failure: Backoff doubling
// up to MaxBackoff, varied by up to a fifth either way.
func (s *Sender) Backoff(attempts int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < attempts && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*s.Jitter()))
}

// send posts one delivery, signed now, and returns the answer's status.
func (s *Sender) send(ctx context.Context, url, secret string, d *steward.WebhookDelivery) (int, error) {
	ts := s.Now().UTC()
	sig, err := steward.SignWebhook(secret, d.MessageID, ts, d.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Steward-Webhooks/1")
	req.Header.Set("webhook-id", d.MessageID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
