// Package lease runs a queue's worker on one node at a time, under a job
// lease in the database: the mail outbox and the webhook deliveries share it.
//
// The worker holds the lease for Lease (default 10 s) from each renewal. It
// renews it at every pass and, while a pass works, on a heartbeat of a
// third of it; so another node takes the queue over within about a Lease
// of the holder's death, and never while it lives. The worker makes a pass
// when woken (Kick, by the commit that filled its queue) and at each Poll
// otherwise, not after every write.
package lease

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/steward-iam/steward"
)

// Store is what a Runner needs of the store.
type Store interface {
	AcquireJobLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	ReleaseJobLease(ctx context.Context, name, holder string) error
}

// Config configures a Runner.
type Config struct {
	// Name is the job lease's name, one per queue.
	Name string
	// HolderPrefix starts the holder's id, e.g. "snd_" (the id adds the
	// host, the process and a unique id).
	HolderPrefix string
	// Poll is how often the queue is read without a kick.
	Poll time.Duration
	// Lease is how long the claim on the queue lasts unless renewed; it is
	// at least three polls.
	Lease time.Duration
	// TakeOver makes the runner take the lease at its first pass whoever
	// holds it, for a store that one process uses at a time (SQLite): the
	// holder can only be a process that stopped, and a restart should not
	// wait for its lease to lapse. A predecessor still running loses the
	// lease and stops at its next renewal.
	TakeOver bool
	// Logger logs failed passes and renewals.
	Logger *slog.Logger
}

// EndOfTime is when every lease has lapsed: the first lease of a TakeOver
// runner is judged as of then.
var EndOfTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Runner holds one queue's lease and runs its passes.
type Runner struct {
	store    Store
	cfg      Config
	holder   string
	kick     chan struct{}
	takeOver atomic.Bool
	// Now is the clock; the senders pass theirs, which tests replace.
	Now func() time.Time
}

// New returns a Runner over store.
func New(store Store, cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Lease = max(cfg.Lease, 3*cfg.Poll)
	host, _ := os.Hostname()
	r := &Runner{store: store, cfg: cfg, kick: make(chan struct{}, 1), Now: time.Now,
		holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), steward.NewID(cfg.HolderPrefix, time.Now()))}
	r.takeOver.Store(cfg.TakeOver)
	return r
}

// Lease is the lease's length, after the defaults.
func (r *Runner) Lease() time.Duration { return r.cfg.Lease }

// Kick makes Run make a pass now instead of at the next poll. It never
// blocks; kicks during a pass make one more pass.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Acquire takes or renews the lease for Lease from now and reports whether
// the runner holds it. The first lease of a TakeOver runner judges the
// holder's lease as of EndOfTime, and so takes it whoever holds it.
func (r *Runner) Acquire(ctx context.Context) (bool, error) {
	now := r.Now().UTC()
	judged := now
	if r.takeOver.Load() {
		judged = EndOfTime
	}
	ok, err := r.store.AcquireJobLease(ctx, r.cfg.Name, r.holder, judged, now.Add(r.cfg.Lease))
	if ok {
		r.takeOver.Store(false)
	}
	return ok, err
}

// Beat renews the lease on a heartbeat of a third of it until stop is
// called, for work that may outlast the lease (an SMTP conversation, a
// pass of deliveries): another node must not take the queue over from a
// runner that is alive. stop waits for the heartbeat to end.
func (r *Runner) Beat(ctx context.Context) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if ok, err := r.Acquire(ctx); (err != nil || !ok) && ctx.Err() == nil {
					r.cfg.Logger.Warn("lease not renewed while working", slog.String("lease", r.cfg.Name), slog.Bool("held", ok), slog.Any("err", err))
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// Run calls pass until ctx ends: again at once while it reports more work,
// otherwise at the next kick or poll. A failing pass is logged and the next
// one retries. The lease is released when Run returns.
func (r *Runner) Run(ctx context.Context, pass func(context.Context) (more bool, err error)) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	defer r.store.ReleaseJobLease(context.WithoutCancel(ctx), r.cfg.Name, r.holder)
	for ctx.Err() == nil {
		more, err := pass(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("pass failed; retrying at the next poll", slog.String("lease", r.cfg.Name), slog.Any("err", err))
		}
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.kick:
		}
	}
	return nil
}
